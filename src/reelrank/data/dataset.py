"""Core data types: :class:`IdMap` and :class:`Dataset`.

Raw ids are called ``*_id`` (MovieLens ``userId`` / ``movieId``); internal 0-based positions
are called ``*_idx``. An :class:`IdMap` converts between them, vectorised. A :class:`Dataset`
holds the users x items interaction matrix in CSR form plus the movie table and metadata.
Splits produce new datasets that share the catalogue's id maps, so item ``idx`` means the
same movie in train, validation and test.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.errors import UnknownIdError

logger = logging.getLogger(__name__)

__all__ = ["Dataset", "Genome", "IdMap"]


class IdMap:
    """Immutable, vectorised mapping between raw ids and 0-based indices.

    Parameters
    ----------
    ids
        The raw ids, in index order. Must be unique.
    name
        What the ids are ("user", "item"); used in error messages.

    Examples
    --------
    >>> m = IdMap([10, 20, 30], name="item")
    >>> m.index([30, 10]).tolist()
    [2, 0]
    >>> m.ids([1]).tolist()
    [20]
    """

    __slots__ = ("_index", "name")

    def __init__(self, ids: Iterable[Any] | np.ndarray | pd.Index, name: str = "id") -> None:
        index = pd.Index(np.asarray(ids) if not isinstance(ids, pd.Index) else ids)
        if not index.is_unique:
            dup = index[index.duplicated()][:5].tolist()
            raise ValueError(f"{name} ids must be unique; duplicated: {dup}")
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "name", name)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("IdMap is immutable")

    @classmethod
    def from_values(cls, values: Iterable[Any] | np.ndarray, name: str = "id") -> IdMap:
        """Build a map from the sorted unique values of ``values``."""
        return cls(np.unique(np.asarray(values)), name=name)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"IdMap({self.name}, n={len(self)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdMap):
            return NotImplemented
        return self is other or self._index.equals(other._index)

    def __hash__(self) -> int:
        return hash((self.name, len(self)))

    @property
    def values(self) -> np.ndarray:
        """All raw ids, in index order (a read-only view)."""
        arr = self._index.to_numpy()
        arr.flags.writeable = False
        return arr

    def contains(self, ids: Iterable[Any] | np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``ids`` are known."""
        return self._index.get_indexer(np.asarray(ids)) >= 0

    def index(self, ids: Iterable[Any] | np.ndarray | Any, *, missing: str = "raise") -> np.ndarray:
        """Convert raw ids to indices.

        Parameters
        ----------
        ids
            Raw ids (a scalar or an array).
        missing
            ``"raise"`` (default) raises :class:`~reelrank.errors.UnknownIdError` naming the
            unknown ids; ``"mask"`` returns ``-1`` for them.

        Returns
        -------
        numpy.ndarray
            ``int64`` indices, same shape as ``ids``.
        """
        arr = np.asarray(ids)
        scalar = arr.ndim == 0
        flat = arr.reshape(-1)
        idx = self._index.get_indexer(flat)
        if missing == "raise" and (idx < 0).any():
            unknown = flat[idx < 0][:5].tolist()
            raise UnknownIdError(f"unknown {self.name} id(s): {unknown}")
        if missing not in ("raise", "mask"):
            raise ValueError("missing must be 'raise' or 'mask'")
        idx = idx.astype(np.int64)
        return idx.reshape(()) if scalar else idx.reshape(arr.shape)

    def ids(self, idx: Iterable[int] | np.ndarray | int) -> np.ndarray:
        """Convert indices to raw ids.

        Raises
        ------
        UnknownIdError
            If an index is out of range.
        """
        arr = np.asarray(idx, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise UnknownIdError(f"{self.name} index out of range 0..{len(self) - 1}")
        return self._index.to_numpy()[arr]

    def to_frame(self) -> pd.DataFrame:
        """The map as a DataFrame with columns ``idx`` and ``id`` (for Parquet)."""
        return pd.DataFrame({"idx": np.arange(len(self), dtype=np.int64), "id": self._index})


@dataclass(frozen=True)
class Genome:
    """Tag-genome relevance scores.

    Attributes
    ----------
    item_idx
        Items that have genome scores, shape (m,).
    relevance
        ``float32`` array of shape (m, n_tags), values in [0, 1].
    tags
        Tag names, shape (n_tags,).
    """

    item_idx: np.ndarray
    relevance: np.ndarray
    tags: np.ndarray

    def dense_for(self, n_items: int) -> np.ndarray:
        """Relevance as an (n_items, n_tags) array; items without scores are zero rows."""
        out = np.zeros((n_items, self.relevance.shape[1]), dtype=np.float32)
        out[self.item_idx] = self.relevance
        return out


@dataclass(frozen=True)
class Dataset:
    """Ratings of users on movies, plus the movie catalogue and metadata.

    Attributes
    ----------
    interactions
        ``users x items`` CSR matrix (``float32``) whose stored values are the ratings.
        Indices are sorted within rows and there are no duplicate entries. Ratings are never
        zero in MovieLens (the scale starts at 0.5 or 1), so every stored entry is an
        interaction; never call ``eliminate_zeros`` on it.
    timestamps
        ``int64`` seconds since the epoch (UTC), aligned with ``interactions.data``.
    users, items
        Id maps. ``items`` covers the whole catalogue (every movie in the movie table),
        including movies nobody rated.
    movies
        One row per item index (``0..n_items-1``, in order) with at least the columns
        ``movie_id``, ``title``, ``year`` (nullable ``Int32``) and ``genres`` (a list of str).
        Optional columns: ``imdb_id``, ``tmdb_id``, ``directed_by``, ``starring``,
        ``avg_rating``.
    tags
        Columns ``user_id``, ``item_idx``, ``tag`` (raw text), ``timestamp``.
    genome
        Tag-genome scores when the source has them.
    people
        Optional, columns ``item_idx``, ``role`` (``"director"``/``"cast"``), ``name``.
    reviews
        Optional, columns ``item_idx``, ``text``.
    user_info
        Optional demographic table indexed by user index (ml-100k ``u.user``, ml-1m
        ``users.dat``).
    rating_scale
        ``(min, max)`` of the layout's rating scale.
    layout
        Detected layout name (``"ml-latest-small"``, ``"ml-100k"``, ...).
    name
        Human-readable name of the source.
    info
        Loader notes, e.g. ``{"duplicates_dropped": 3}``.
    """

    interactions: sp.csr_matrix
    timestamps: np.ndarray
    users: IdMap
    items: IdMap
    movies: pd.DataFrame
    tags: pd.DataFrame = field(default_factory=lambda: _empty_tags())
    genome: Genome | None = None
    people: pd.DataFrame | None = None
    reviews: pd.DataFrame | None = None
    user_info: pd.DataFrame | None = None
    rating_scale: tuple[float, float] = (0.5, 5.0)
    layout: str = "unknown"
    name: str = "dataset"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.users), len(self.items))
        if self.interactions.shape != shape:
            raise ValueError(f"interactions shape {self.interactions.shape} != {shape}")
        if len(self.timestamps) != self.interactions.nnz:
            raise ValueError("timestamps must align with interactions.data")
        if len(self.movies) != len(self.items):
            raise ValueError("movies must have one row per item index")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_ratings(
        cls,
        ratings: pd.DataFrame,
        movies: pd.DataFrame | None = None,
        *,
        name: str = "ratings",
        rating_scale: tuple[float, float] | None = None,
    ) -> Dataset:
        """A dataset from your own ratings table (like Surprise's ``load_from_df``).

        Parameters
        ----------
        ratings
            One row per rating. Columns: the user id (``userId`` or ``user_id``), the movie
            id (``movieId``, ``movie_id`` or ``item_id``), ``rating`` (non-zero numbers) and
            optionally ``timestamp`` (seconds since the epoch, or a datetime column; without
            it every timestamp is 0, so temporal splits are not meaningful). Ids may be
            integers or strings. A duplicated (user, movie) pair keeps its latest rating.
        movies
            Optional movie table: the movie id column plus any of ``title`` (``"Heat
            (1995)"`` gives title and year), ``year``, ``genres`` (``"A|B"`` or a list).
            Movies nobody rated join the catalogue; rated movies missing from it are added
            with the title ``"movie <id>"``.
        name
            Name of the dataset (shown in reports).
        rating_scale
            ``(min, max)`` of the scale; default the ratings' own range.

        Returns
        -------
        Dataset
            Users and movies indexed ``0..n-1`` in increasing id order: use
            ``ds.users.index(ids)`` / ``ds.items.ids(idx)`` to convert; indices are not ids.

        Raises
        ------
        ConfigError
            A required column is missing (the message lists the accepted names), an id is
            missing or not an id, a rating is not a non-zero finite number or lies outside
            ``rating_scale``, or a timestamp is not whole seconds.

        Examples
        --------
        >>> df = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 20, 10],
        ...                    "rating": [4.0, 3.5, 5.0]})
        >>> ds = Dataset.from_ratings(df)
        >>> ds.n_users, ds.n_items, ds.n_interactions
        (2, 2, 3)
        """
        from reelrank.data.frames import dataset_from_ratings

        return dataset_from_ratings(ratings, movies, name=name, rating_scale=rating_scale)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        users: IdMap,
        items: IdMap,
        movies: pd.DataFrame,
        **kwargs: Any,
    ) -> Dataset:
        """Build a dataset from long-format interactions indexed by the given maps.

        Parameters
        ----------
        frame
            Columns ``user_idx``, ``item_idx``, ``rating``, ``timestamp``. Must not contain
            duplicate (user, item) pairs.
        users, items
            The id maps (shared with other splits of the same catalogue).
        movies
            The movie table (one row per item index).
        **kwargs
            Other :class:`Dataset` fields (``tags``, ``genome``, ``layout``...).
        """
        return cls.from_arrays(
            frame["user_idx"].to_numpy(),
            frame["item_idx"].to_numpy(),
            frame["rating"].to_numpy(),
            frame["timestamp"].to_numpy(),
            users=users,
            items=items,
            movies=movies,
            **kwargs,
        )

    @classmethod
    def from_arrays(
        cls,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        rating: np.ndarray,
        timestamp: np.ndarray,
        *,
        users: IdMap,
        items: IdMap,
        movies: pd.DataFrame,
        presorted: bool = False,
        **kwargs: Any,
    ) -> Dataset:
        """Build a dataset from aligned index arrays (no duplicate pairs allowed).

        ``presorted=True`` promises the pairs are strictly increasing by (user, item): the
        sort is skipped (checked in O(n)), which matters for tens of millions of ratings.
        """
        user_idx = np.asarray(user_idx, dtype=np.int64)
        item_idx = np.asarray(item_idx, dtype=np.int64)
        n_users, n_items = len(users), len(items)
        order: np.ndarray | slice
        if presorted:
            order = slice(None)
            u, i = user_idx, item_idx
            if len(u) > 1:
                du = u[1:] - u[:-1]
                if not ((du > 0) | ((du == 0) & (i[1:] > i[:-1]))).all():
                    raise ValueError("presorted=True but pairs are not strictly increasing")
        else:
            order = np.lexsort((item_idx, user_idx))
            u, i = user_idx[order], item_idx[order]
            if len(u) > 1:
                same = (u[1:] == u[:-1]) & (i[1:] == i[:-1])
                if same.any():
                    raise ValueError("duplicate (user, item) pairs; deduplicate before building")
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=n_users), out=indptr[1:])
        matrix = sp.csr_matrix(
            (np.asarray(rating, dtype=np.float32)[order], i.astype(np.int32), indptr),
            shape=(n_users, n_items),
        )
        matrix.has_sorted_indices = True
        return cls(
            interactions=matrix,
            timestamps=np.asarray(timestamp, dtype=np.int64)[order],
            users=users,
            items=items,
            movies=movies,
            **kwargs,
        )

    def with_interactions(self, mask: np.ndarray, **changes: Any) -> Dataset:
        """A dataset keeping only the interactions where ``mask`` (aligned with CSR data) is True.

        Shares the id maps, the movie table and the metadata with ``self``.
        """
        mask = np.asarray(mask, dtype=bool)
        coo_rows = self.user_index_of_entries()
        keep_rows = coo_rows[mask]
        indptr = np.zeros(len(self.users) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keep_rows, minlength=len(self.users)), out=indptr[1:])
        matrix = sp.csr_matrix(
            (self.interactions.data[mask], self.interactions.indices[mask], indptr),
            shape=self.interactions.shape,
        )
        matrix.has_sorted_indices = True
        return replace(self, interactions=matrix, timestamps=self.timestamps[mask], **changes)

    # ------------------------------------------------------------------ views
    @property
    def n_users(self) -> int:
        """Number of users in the id map (some may have no interactions in a split)."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of movies in the catalogue."""
        return len(self.items)

    @property
    def n_interactions(self) -> int:
        """Number of stored ratings."""
        return int(self.interactions.nnz)

    @property
    def ratings(self) -> np.ndarray:
        """Rating values aligned with ``interactions.data`` (same array)."""
        return self.interactions.data

    def user_index_of_entries(self) -> np.ndarray:
        """The user index of each stored entry (row of each CSR value), ``int64``."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(self.interactions.indptr))

    def to_frame(self, *, raw_ids: bool = False) -> pd.DataFrame:
        """Long-format interactions, in CSR order.

        Parameters
        ----------
        raw_ids
            Also add ``user_id`` and ``movie_id`` columns.

        Returns
        -------
        pandas.DataFrame
            Columns ``user_idx``, ``item_idx``, ``rating``, ``timestamp``.
        """
        frame = pd.DataFrame(
            {
                "user_idx": self.user_index_of_entries(),
                "item_idx": self.interactions.indices.astype(np.int64),
                "rating": self.interactions.data,
                "timestamp": self.timestamps,
            }
        )
        if raw_ids:
            frame["user_id"] = self.users.ids(frame["user_idx"].to_numpy())
            frame["movie_id"] = self.items.ids(frame["item_idx"].to_numpy())
        return frame

    def binary(self, threshold: float | None = None) -> sp.csr_matrix:
        """Implicit-feedback view: 1.0 where rated (and rating >= ``threshold`` if given)."""
        m = self.interactions.copy()
        if threshold is None:
            m.data = np.ones_like(m.data)
        else:
            m.data = (m.data >= threshold).astype(np.float32)
            m.eliminate_zeros()
        return m

    def active_users(self) -> np.ndarray:
        """Indices of users with at least one interaction."""
        return np.flatnonzero(np.diff(self.interactions.indptr) > 0)

    def item_counts(self) -> np.ndarray:
        """Number of ratings per item (``int64``, length ``n_items``)."""
        return np.bincount(self.interactions.indices, minlength=self.n_items).astype(np.int64)

    def user_counts(self) -> np.ndarray:
        """Number of ratings per user (``int64``, length ``n_users``)."""
        return np.diff(self.interactions.indptr).astype(np.int64)

    def fingerprint(self) -> str:
        """A short stable hash of the interactions and id maps (for artifact manifests)."""
        h = hashlib.sha256()
        h.update(np.asarray(self.interactions.shape, dtype=np.int64).tobytes())
        h.update(self.interactions.indptr.astype(np.int64).tobytes())
        h.update(self.interactions.indices.astype(np.int32).tobytes())
        h.update(self.interactions.data.astype(np.float32).tobytes())
        h.update(pd.util.hash_array(self.items.values.astype(str)).tobytes())
        return h.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """Counts and ranges, as reported by ``reelrank data info``."""
        has = self.n_interactions > 0
        ts = self.timestamps
        return {
            "name": self.name,
            "layout": self.layout,
            "n_ratings": self.n_interactions,
            "n_users": int((self.user_counts() > 0).sum()),
            "n_items": self.n_items,
            "n_rated_items": int((self.item_counts() > 0).sum()),
            "n_tags": len(self.tags),
            "rating_min": float(self.ratings.min()) if has else None,
            "rating_max": float(self.ratings.max()) if has else None,
            "scale_min": float(self.rating_scale[0]),
            "scale_max": float(self.rating_scale[1]),
            "first_timestamp": int(ts.min()) if has else None,
            "last_timestamp": int(ts.max()) if has else None,
            "density": self.n_interactions / max(1, self.n_users * self.n_items),
            "has_genome": self.genome is not None,
            "has_people": self.people is not None,
            "has_reviews": self.reviews is not None,
            **{k: v for k, v in self.info.items() if isinstance(v, int | float | str)},
        }

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, layout={self.layout!r}, users={self.n_users}, "
            f"items={self.n_items}, ratings={self.n_interactions})"
        )


def _empty_tags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": pd.Series([], dtype=np.int64),
            "item_idx": pd.Series([], dtype=np.int64),
            "tag": pd.Series([], dtype=object),
            "timestamp": pd.Series([], dtype=np.int64),
        }
    )


def empty_tags() -> pd.DataFrame:
    """An empty tags table with the standard columns and dtypes."""
    return _empty_tags()
