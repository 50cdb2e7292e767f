"""Build a :class:`~reelrank.data.dataset.Dataset` from your own ratings table.

:meth:`Dataset.from_ratings <reelrank.data.dataset.Dataset.from_ratings>` (like Surprise's
``Dataset.load_from_df``) accepts a pandas DataFrame with MovieLens column names
(``userId``, ``movieId``, ``rating``, ``timestamp``) or reelrank's (``user_id``,
``item_id`` / ``movie_id``, ``rating``, ``timestamp``), and optionally a movie table.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reelrank.errors import ConfigError

if TYPE_CHECKING:
    from reelrank.data.dataset import Dataset

logger = logging.getLogger(__name__)

__all__ = ["dataset_from_ratings"]

_USER = ("userId", "user_id", "user")
_ITEM = ("movieId", "movie_id", "item_id", "itemId", "item")
_RATING = ("rating",)
_TIME = ("timestamp",)


def _pick(frame: pd.DataFrame, names: tuple[str, ...], what: str, required: bool) -> str | None:
    found = [n for n in names if n in frame.columns]
    if len(found) > 1:
        raise ConfigError(f"ratings: both {found[0]!r} and {found[1]!r} given for the {what}")
    if not found and required:
        raise ConfigError(
            f"ratings: no {what} column; expected one of {list(names)}, got "
            f"{[str(c) for c in frame.columns]}"
        )
    return found[0] if found else None


def _ids(values: pd.Series, column: str) -> np.ndarray:
    """Raw ids: integers (also integral floats) or strings; never missing."""
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ConfigError(f"ratings: missing {column!r} in row {row}")
    arr = values.to_numpy()
    if arr.dtype.kind == "f":
        if (arr % 1 != 0).any():
            row = int(np.flatnonzero(arr % 1 != 0)[0])
            raise ConfigError(f"ratings: {column!r} {arr[row]!r} in row {row} is not an id")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "u":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "i":
        arr = values.astype(str).to_numpy(dtype=object)
    return arr


def _timestamps(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.zeros(len(frame), dtype=np.int64)
    ts = frame[column]
    if pd.api.types.is_datetime64_any_dtype(ts):
        if ts.isna().any():
            raise ConfigError(f"ratings: missing {column!r} values")
        ts = ts.dt.tz_convert("UTC") if ts.dt.tz is not None else ts
        return (ts.astype("datetime64[s]").astype(np.int64)).to_numpy()
    numeric = pd.to_numeric(ts, errors="coerce")
    bad = numeric.isna().to_numpy() | (numeric.to_numpy(dtype=np.float64) % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"ratings: {column!r} {ts.iloc[row]!r} in row {row} is not whole seconds since "
            "the epoch (or use a datetime column)"
        )
    return numeric.to_numpy(dtype=np.int64)


def _genre_list(value: Any) -> list[str]:
    """``"A|B"`` or a list of genres -> a list (MovieLens' ``(no genres listed)`` dropped)."""
    if isinstance(value, str):
        parts = (g.strip() for g in value.split("|"))
        return [g for g in parts if g and g != "(no genres listed)"]
    if isinstance(value, list | tuple | np.ndarray):
        return [str(g) for g in value]
    return []


def _movie_table(movies: pd.DataFrame | None, rated: np.ndarray) -> pd.DataFrame:
    """``movie_id, title, year, genres`` covering the table's movies and every rated one."""
    from reelrank.data.movielens import split_title

    if movies is None:
        frame = pd.DataFrame({"movie_id": pd.Series([], dtype=rated.dtype)})
    else:
        if not isinstance(movies, pd.DataFrame):
            raise ConfigError(f"movies must be a pandas DataFrame, not {type(movies).__name__}")
        id_col = _pick(movies, _ITEM, "movie id", required=True)
        assert id_col is not None
        frame = movies.rename(columns={id_col: "movie_id"}).copy()
        frame["movie_id"] = _ids(frame["movie_id"], id_col)
        dup = frame["movie_id"].duplicated()
        if dup.any():
            raise ConfigError(f"movies: duplicated movie id {frame['movie_id'][dup].iloc[0]!r}")
    extra = np.setdiff1d(rated, frame["movie_id"].to_numpy(), assume_unique=False)
    if len(extra):
        frame = pd.concat([frame, pd.DataFrame({"movie_id": extra})], ignore_index=True)
    titles = frame["title"] if "title" in frame else pd.Series([None] * len(frame))
    titles = titles.reset_index(drop=True)
    fallback = "movie " + frame["movie_id"].astype(str).reset_index(drop=True)
    titles = titles.where(titles.notna() & (titles.astype(str).str.len() > 0), fallback)
    title, year = split_title(titles.astype(str))
    if "year" in frame:
        given = pd.to_numeric(frame["year"], errors="coerce").reset_index(drop=True)
        year = given.round().astype("Int32").fillna(year)
    raw_genres = frame["genres"].tolist() if "genres" in frame else [None] * len(frame)
    genres = [_genre_list(g) for g in raw_genres]  # one entry per movie (small table)
    out = pd.DataFrame(
        {
            "movie_id": frame["movie_id"].to_numpy(),
            "title": title.to_numpy(dtype=object),
            "year": year.astype("Int32").to_numpy(),
            "genres": pd.Series(genres, dtype=object),
        }
    )
    out["year"] = out["year"].astype("Int32")
    return out


def dataset_from_ratings(
    ratings: pd.DataFrame,
    movies: pd.DataFrame | None = None,
    *,
    name: str = "ratings",
    rating_scale: tuple[float, float] | None = None,
) -> Dataset:
    """A :class:`~reelrank.data.dataset.Dataset` from a ratings DataFrame.

    See :meth:`reelrank.data.dataset.Dataset.from_ratings` for the parameters.
    """
    from reelrank.data.dataset import Dataset, IdMap

    if not isinstance(ratings, pd.DataFrame):
        raise ConfigError(f"ratings must be a pandas DataFrame, not {type(ratings).__name__}")
    user_col = _pick(ratings, _USER, "user id", required=True)
    item_col = _pick(ratings, _ITEM, "movie id", required=True)
    rating_col = _pick(ratings, _RATING, "rating", required=True)
    time_col = _pick(ratings, _TIME, "timestamp", required=False)
    assert user_col and item_col and rating_col
    if len(ratings) == 0:
        raise ConfigError("ratings: the table is empty")
    user_id = _ids(ratings[user_col], user_col)
    movie_id = _ids(ratings[item_col], item_col)
    rating = pd.to_numeric(ratings[rating_col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(rating) | (rating == 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"ratings: rating {ratings[rating_col].iloc[row]!r} in row {row} is not a "
            "non-zero finite number (0 would read as 'not rated'; shift the scale)"
        )
    timestamp = _timestamps(ratings, time_col)
    if rating_scale is None:
        rating_scale = (float(rating.min()), float(rating.max()))
    lo, hi = (float(x) for x in rating_scale)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ConfigError(f"rating_scale must be (min, max) finite numbers, not {rating_scale}")
    outside = (rating < lo) | (rating > hi)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise ConfigError(f"ratings: rating {rating[row]:g} in row {row} is outside {lo:g}..{hi:g}")

    table = _movie_table(movies, np.unique(movie_id))
    items = IdMap(table["movie_id"].to_numpy(), name="movie")
    users = IdMap.from_values(user_id, name="user")
    user_idx = users.index(user_id)
    item_idx = items.index(movie_id)
    # duplicated (user, movie) pairs: keep the latest rating (then the last row)
    key = user_idx * len(items) + item_idx
    order = np.lexsort((np.arange(len(key)), timestamp, key))
    ks = key[order]
    last = np.ones(len(ks), dtype=bool)
    last[:-1] = ks[1:] != ks[:-1]
    keep = order[last]
    dropped = int(len(key) - len(keep))
    if dropped:
        logger.warning(
            "ratings: %d duplicated (user, movie) ratings dropped (kept the latest)", dropped
        )
    info: dict[str, Any] = {"duplicates_dropped": dropped, "source": "DataFrame"}
    if time_col is None:
        info["timestamps"] = "missing (all 0)"
    return Dataset.from_arrays(
        user_idx[keep],
        item_idx[keep],
        rating[keep].astype(np.float32),
        timestamp[keep],
        users=users,
        items=items,
        movies=table,
        rating_scale=(lo, hi),
        layout="dataframe",
        name=name,
        info=info,
    )
