"""The served catalogue: movie metadata, genre and tag matrices, titles and rating inputs.

:class:`Catalogue` holds what the service needs to describe movies and to turn user input
into item indices: per-movie arrays (ids, titles, years, genres, rating counts and means),
sparse items x genres and items x tags matrices, the rating scale, the
:class:`~reelrank.serving.titles.TitleMatcher`, candidate filters (genres, years), and the
resolution of ``{title or movie_id: rating}`` inputs under reelrank's one title rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import cached_property
from itertools import chain

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.data.dataset import IdMap
from reelrank.errors import UnknownIdError
from reelrank.serving.results import BadRequestError, MatchedInput, MovieInfo, UnmatchedInput
from reelrank.serving.titles import TitleMatcher

logger = logging.getLogger(__name__)

__all__ = ["Catalogue", "rating_steps", "row_of"]


def _year(v: object) -> int | None:
    if v is None or pd.isna(v):  # type: ignore[arg-type]
        return None
    y = int(v)  # type: ignore[call-overload]
    return None if y < 0 else y


def row_of(matrix: sp.csr_matrix, i: int) -> sp.csr_matrix:
    """Row ``i`` of a CSR matrix as a 1 x n CSR, without scipy's fancy-indexing overhead."""
    lo, hi = int(matrix.indptr[i]), int(matrix.indptr[i + 1])
    return sp.csr_matrix(
        (matrix.data[lo:hi], matrix.indices[lo:hi], np.array([0, hi - lo])),
        shape=(1, matrix.shape[1]),
    )


def rating_steps(values: np.ndarray, scale: tuple[float, float]) -> list[float]:
    """The rating values a person can give, from the ratings seen in training.

    Parameters
    ----------
    values
        Training ratings (any order).
    scale
        ``(min, max)`` of the data's layout.

    Returns
    -------
    list of float
        Every step from ``min`` to ``max``: half stars (``0.5, 1.0, ..., 5.0``) when any
        rating is a half, whole stars otherwise; for a data set with more than 20 distinct
        steps (continuous scores) eleven evenly spaced values.

    Examples
    --------
    >>> rating_steps(np.array([0.5, 3.0, 4.5]), (0.5, 5.0))[:3]
    [0.5, 1.0, 1.5]
    >>> rating_steps(np.array([1.0, 5.0]), (1.0, 5.0))
    [1.0, 2.0, 3.0, 4.0, 5.0]
    """
    lo, hi = float(scale[0]), float(scale[1])
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if hi <= lo:
        return [hi]
    if len(v) == 0 or np.allclose(v, np.round(v)):
        step = 1.0
    elif np.allclose(v * 2, np.round(v * 2)):
        step = 0.5
    else:
        return [round(float(x), 3) for x in np.linspace(lo, hi, 11)]
    n = round((hi - lo) / step) + 1
    if n > 21:
        return [round(float(x), 3) for x in np.linspace(lo, hi, 11)]
    return [round(lo + k * step, 3) for k in range(n)]


class Catalogue:
    """Movie metadata and input resolution for one served catalogue.

    Parameters
    ----------
    movies
        Movie table indexed by item index: ``movie_id``, ``title``, ``year``, ``genres``.
    items
        The item id map.
    ratings
        Training ratings (users x items CSR) for counts, means and the rating steps.
    item_tags
        Columns ``item_idx``, ``tag``, ``count``.
    rating_scale
        ``(min, max)`` rating.
    """

    def __init__(
        self,
        movies: pd.DataFrame,
        items: IdMap,
        ratings: sp.csr_matrix,
        item_tags: pd.DataFrame,
        rating_scale: tuple[float, float],
    ) -> None:
        self.items = items
        self.rating_scale = (float(rating_scale[0]), float(rating_scale[1]))
        self.movie_id = movies["movie_id"].to_numpy(np.int64)
        self.title = movies["title"].astype(str).to_numpy()
        years = pd.array(movies["year"], dtype="Int32")
        self.year = np.asarray(years.fillna(-1).to_numpy(np.int64))
        self.genres: list[list[str]] = [
            g if isinstance(g, list) else list(g) for g in movies["genres"].tolist()
        ]
        n = len(self.movie_id)
        self.n_ratings = np.bincount(ratings.indices, minlength=n)
        sums = np.bincount(ratings.indices, weights=ratings.data, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean_rating = np.where(self.n_ratings > 0, sums / self.n_ratings, np.nan)
        self.popular = np.argsort(-self.n_ratings, kind="stable")
        self.rating_values = rating_steps(ratings.data, self.rating_scale)
        self._movies = movies  # the title matcher is built on first use (see `matcher`)
        self.genre_matrix, self.genre_names = self._build_genres()
        # dense items x genres (uint8, ~20 columns) for fast per-request genre counts
        self._genre_dense = self.genre_matrix.toarray().astype(np.uint8)
        self.tag_matrix, self.tag_names = self._build_tags(item_tags)

    def __len__(self) -> int:
        return len(self.movie_id)

    @cached_property
    def matcher(self) -> TitleMatcher:
        """The title matcher, built on first use (a known-user request never needs it)."""
        return TitleMatcher(self._movies, popularity=self.n_ratings)

    # ------------------------------------------------------------------ matrices
    def _build_genres(self) -> tuple[sp.csr_matrix, np.ndarray]:
        n = len(self.genres)
        lengths = np.fromiter((len(g) for g in self.genres), np.int64, n)
        flat = np.fromiter(chain.from_iterable(self.genres), dtype=object, count=lengths.sum())
        codes, names = pd.factorize(flat.astype(str), sort=True)
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        m = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, codes.astype(np.int64))),
            shape=(n, len(names)),
        )
        return m, np.asarray(names, dtype=object)

    def _build_tags(self, item_tags: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray]:
        n = len(self.movie_id)
        if len(item_tags) == 0:
            return sp.csr_matrix((n, 0), dtype=np.float32), np.array([], dtype=object)
        codes, names = pd.factorize(item_tags["tag"].astype(str), sort=True)
        m = sp.csr_matrix(
            (
                item_tags["count"].to_numpy(np.float32),
                (item_tags["item_idx"].to_numpy(np.int64), codes),
            ),
            shape=(n, len(names)),
        )
        return m, np.asarray(names, dtype=object)

    # ------------------------------------------------------------------ describing
    def year_of(self, idx: int) -> int | None:
        """Release year of item ``idx`` (None when unknown)."""
        return _year(self.year[idx])

    def label(self, idx: int) -> str:
        """``"Title (year)"`` of item ``idx``."""
        y = self.year_of(idx)
        return f"{self.title[idx]} ({y})" if y is not None else str(self.title[idx])

    def info(self, idx: int) -> MovieInfo:
        """A :class:`MovieInfo` of item ``idx`` (counts, mean rating, top five tags)."""
        mean = self.mean_rating[idx]
        lo, hi = int(self.tag_matrix.indptr[idx]), int(self.tag_matrix.indptr[idx + 1])
        tag_idx, tag_w = self.tag_matrix.indices[lo:hi], self.tag_matrix.data[lo:hi]
        order = np.argsort(-tag_w, kind="stable")[:5]
        return MovieInfo(
            movie_id=int(self.movie_id[idx]),
            title=str(self.title[idx]),
            year=self.year_of(idx),
            genres=list(self.genres[idx]),
            n_ratings=int(self.n_ratings[idx]),
            mean_rating=None if np.isnan(mean) else round(float(mean), 3),
            top_tags=[str(self.tag_names[i]) for i in tag_idx[order]],
        )

    def genre_counts(self, items: np.ndarray) -> dict[str, int]:
        """How many of ``items`` have each genre (genres with a zero count left out)."""
        counts = self._genre_dense[items].sum(axis=0, dtype=np.int64)
        return {str(self.genre_names[k]): int(counts[k]) for k in np.flatnonzero(counts)}

    # ------------------------------------------------------------------ filters
    def candidates(
        self, genres: Iterable[str] | None, years: tuple[int | None, int | None] | None
    ) -> np.ndarray | None:
        """Item indices passing the genre and year filters (None: no filter)."""
        mask: np.ndarray | None = None
        if genres:
            wanted = [str(g) for g in genres]
            lookup = {g.lower(): k for k, g in enumerate(self.genre_names.tolist())}
            unknown = [g for g in wanted if g.lower() not in lookup]
            if unknown:
                known = ", ".join(str(g) for g in self.genre_names)
                raise BadRequestError(f"unknown genre(s) {unknown}; known: {known}")
            cols = [lookup[g.lower()] for g in wanted]
            mask = np.asarray(self.genre_matrix[:, cols].sum(axis=1)).ravel() > 0
        if years is not None and (years[0] is not None or years[1] is not None):
            lo = -(10**9) if years[0] is None else int(years[0])
            hi = 10**9 if years[1] is None else int(years[1])
            if lo > hi:
                raise BadRequestError(f"empty year range {lo}..{hi}")
            in_range = (self.year >= lo) & (self.year <= hi) & (self.year >= 0)
            mask = in_range if mask is None else mask & in_range
        return None if mask is None else np.flatnonzero(mask)

    # ------------------------------------------------------------------ inputs
    def resolve(self, movie: int | str) -> tuple[int, MatchedInput]:
        """Item index of a movie given by id (int) or title (str), and how it matched.

        Raises
        ------
        UnknownIdError
            Unknown id, or no title matches.
        AmbiguousTitleError
            Several movies match the title equally well (they are named).
        """
        if isinstance(movie, int | np.integer) and not isinstance(movie, bool):
            idx = int(self.items.index(int(movie)))
            return idx, MatchedInput(str(movie), int(movie), self.label(idx), 100.0, "movie id")
        hit = self.matcher.resolve(str(movie))
        return hit.item_idx, MatchedInput(str(movie), hit.movie_id, hit.label, hit.score, hit.how)

    def check_rating(self, key: object, value: object) -> float:
        """``value`` as a float within the rating scale, or a :class:`BadRequestError`."""
        lo, hi = self.rating_scale
        try:
            rating = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadRequestError(f"rating for {key!r} is not a number: {value!r}") from None
        if not np.isfinite(rating) or rating < lo or rating > hi:
            raise BadRequestError(f"rating for {key!r} must be within {lo}..{hi}, got {value}")
        return rating

    def resolve_ratings(
        self, ratings: Mapping[int | str, float]
    ) -> tuple[dict[int, float], list[MatchedInput], list[UnmatchedInput]]:
        """Resolve ``{title or movie_id: rating}`` under the one title rule.

        Integer keys are movie ids; string keys are titles. Unknown ids and titles are
        returned as ``unmatched`` (with the closest titles as candidates) and not used.

        Raises
        ------
        AmbiguousTitleError
            A title matches several movies equally well (the first such title; nothing is
            guessed for the user).
        BadRequestError
            A rating outside the rating scale.
        """
        resolved: dict[int, float] = {}
        matched: list[MatchedInput] = []
        unmatched: list[UnmatchedInput] = []
        # every rating is checked before any title is resolved: a bad value is a 422 whatever
        # the titles are (an ambiguous title must not hide it)
        checked = {key: self.check_rating(key, value) for key, value in ratings.items()}
        for key, rating in checked.items():
            if isinstance(key, int | np.integer) and not isinstance(key, bool):
                idx = self.items.index([int(key)], missing="mask")[0]
                if idx < 0:
                    unmatched.append(UnmatchedInput(str(key), "unknown movie id"))
                    continue
                resolved[int(idx)] = rating
                matched.append(
                    MatchedInput(str(key), int(key), self.label(int(idx)), 100.0, "movie id")
                )
                continue
            try:
                idx, how = self.resolve(str(key))
            except UnknownIdError:
                hits = self.matcher.search(str(key), 3) if str(key).strip() else []
                near = [self.info(h.item_idx) for h in hits if h.score >= 50.0]
                unmatched.append(UnmatchedInput(str(key), "no matching title", near))
                continue
            resolved[idx] = rating
            matched.append(how)
        return resolved, matched, unmatched

    def ratings_row(self, resolved: Mapping[int, float]) -> sp.csr_matrix:
        """A 1 x n_items CSR row of ``{item_idx: rating}`` (sorted indices)."""
        cols = np.fromiter(resolved.keys(), np.int64, len(resolved))
        vals = np.fromiter(resolved.values(), np.float32, len(resolved))
        row = sp.csr_matrix((vals, (np.zeros(len(cols), np.int64), cols)), shape=(1, len(self)))
        row.sort_indices()
        return row

    def ids_row(self, movie_id: np.ndarray, rating: np.ndarray) -> sp.csr_matrix:
        """A 1 x n_items CSR row from raw movie ids (ids not in the catalogue are dropped)."""
        idx = self.items.index(np.asarray(movie_id, np.int64), missing="mask")
        keep = idx >= 0
        if (~keep).any():
            logger.warning("ignoring %d ratings of movies not in the catalogue", (~keep).sum())
        cols = idx[keep]
        vals = np.asarray(rating, np.float32)[keep]
        return sp.csr_matrix((vals, (np.zeros(len(cols), np.int64), cols)), shape=(1, len(self)))
