"""Readers of the ``::``-separated layouts: ml-1m (latin-1: ``ratings.dat``, ``movies.dat``,
``users.dat``) and ml-10m (UTF-8: ``ratings.dat``, ``movies.dat``, ``tags.dat``)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from reelrank.data._source import _Source
from reelrank.data._tables import (
    _check_ids,
    _check_timestamps,
    _check_unique_movies,
    _genre_lists,
    _movie_frame,
    _read_double_colon,
    _read_table,
    _Spec,
    _to_numeric,
)


def _dat_ratings_spec(encoding: str) -> _Spec:
    # '::' is read as ':' with empty filler columns between the fields (ratings have no ':')
    return _Spec(
        columns={
            "user_id": pa.int32(),
            "movie_id": pa.int32(),
            "rating": pa.float32(),
            "timestamp": pa.int64(),
        },
        delimiter=":",
        header=False,
        names=("user_id", None, "movie_id", None, "rating", None, "timestamp"),
        encoding=encoding,
        quoted=False,
        sep_label="'::'",
    )


def _read_movies_dat(src: _Source, encoding: str) -> pd.DataFrame:
    frame = _read_double_colon(src, "movies.dat", ("movie_id", "title", "genres"), 1, encoding)
    movie_id = _to_numeric(frame, "movie_id", "int64")
    _check_unique_movies(movie_id, src.display("movies.dat"), 0, frame.attrs["line_no"])
    genres = _genre_lists(pa.array(frame["genres"].astype(object), type=pa.string()), len(frame))
    return _movie_frame(movie_id, frame["title"], genres)


def _read_user_info_1m(src: _Source) -> pd.DataFrame | None:
    """``users.dat`` of ml-1m (gender, age, occupation, zip code), when present."""
    if src.has("users.dat"):
        spec = _Spec(
            columns={
                "user_id": pa.int64(),
                "gender": pa.string(),
                "age": pa.int32(),
                "occupation": pa.int32(),
                "zip_code": pa.string(),
            },
            delimiter=":",
            header=False,
            names=("user_id", None, "gender", None, "age", None, "occupation", None, "zip_code"),
            encoding="latin-1",
            quoted=False,
            sep_label="'::'",
        )
        return _read_table(src, "users.dat", spec).to_pandas()
    return None


def _read_tags_dat(src: _Source) -> tuple[pd.DataFrame, str] | None:
    """Raw tags of ml-10m's ``tags.dat`` and its path (``None`` without the file)."""
    if not src.has("tags.dat"):
        return None
    frame = _read_double_colon(
        src, "tags.dat", ("user_id", "movie_id", "tag", "timestamp"), 2, "utf8"
    )
    shown, lines = src.display("tags.dat"), frame.attrs["line_no"]
    user_id = _to_numeric(frame, "user_id", "int64")
    timestamp = _to_numeric(frame, "timestamp", "int64")
    _check_ids(user_id, shown, "user id", 0, lines)
    _check_timestamps(timestamp, shown, 0, lines)
    return (
        pd.DataFrame(
            {
                "user_id": user_id,
                "movie_id": _to_numeric(frame, "movie_id", "int64"),
                "tag": frame["tag"].astype(object).to_numpy(),
                "timestamp": timestamp,
            }
        ),
        shown,
    )
