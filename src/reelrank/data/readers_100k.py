"""Readers of the ml-100k layout: ``u.data``, ``u.item``, ``u.genre``, ``u.user`` and the
predefined splits ``u1..u5`` / ``ua`` / ``ub`` (tab and ``|`` separated, latin-1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from reelrank.data._source import _open_source, _Source
from reelrank.data._tables import (
    _check_scale,
    _check_unique_movies,
    _lists_from_pairs,
    _movie_frame,
    _ratings_from_table,
    _read_table,
    _Spec,
)
from reelrank.errors import DataFormatError

_ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


#: genre flag columns of u.item
_N_GENRE_FLAGS = 19
_PREDEFINED_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


def _ml100k_ratings_spec() -> _Spec:
    return _Spec(
        columns={
            "user_id": pa.int32(),
            "movie_id": pa.int32(),
            "rating": pa.float32(),
            "timestamp": pa.int64(),
        },
        delimiter="\t",
        header=False,
        names=("user_id", "movie_id", "rating", "timestamp"),
        quoted=False,
        sep_label="tab",
    )


def read_predefined_split(path: str | Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one of ml-100k's predefined splits (``u1``..``u5``, ``ua``, ``ub``).

    Parameters
    ----------
    path
        The ml-100k folder or ``.zip``.
    name
        Split name: ``"u1"`` .. ``"u5"``, ``"ua"`` or ``"ub"``.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(base, test)``, each with columns ``user_id`` (int64), ``movie_id`` (int64),
        ``rating`` (float32), ``timestamp`` (int64), in file order.

    Raises
    ------
    DataFormatError
        If the split files are missing or malformed.
    ValueError
        If ``name`` is not a predefined split.
    """
    if name not in _PREDEFINED_SPLITS:
        raise ValueError(f"unknown ml-100k split {name!r}; choose from {_PREDEFINED_SPLITS}")
    parts = []
    with _open_source(Path(path)) as src:
        for suffix in ("base", "test"):
            fname = f"{name}.{suffix}"
            if not src.has(fname):
                raise DataFormatError(src.display(fname), "split file not found")
            r = _ratings_from_table(
                _read_table(src, fname, _ml100k_ratings_spec()),
                ("user_id", "movie_id", "rating", "timestamp"),
                src.display(fname),
                0,
            )
            _check_scale(r, "ml-100k", (1.0, 5.0))
            parts.append(
                pd.DataFrame(
                    {
                        "user_id": r.user_id.astype(np.int64),
                        "movie_id": r.movie_id.astype(np.int64),
                        "rating": r.rating.astype(np.float32),
                        "timestamp": r.timestamp.astype(np.int64),
                    }
                )
            )
    return parts[0], parts[1]


def _read_movies_100k(src: _Source) -> pd.DataFrame:
    names: tuple[str | None, ...] = (
        "movie_id",
        "title",
        "release_date",
        "video_release_date",
        "imdb_url",
        *(f"g{k}" for k in range(_N_GENRE_FLAGS)),
    )
    columns: dict[str, pa.DataType] = {"movie_id": pa.int64(), "title": pa.string()}
    columns.update({"release_date": pa.string()})
    columns.update({f"g{k}": pa.int8() for k in range(_N_GENRE_FLAGS)})
    spec = _Spec(
        columns=columns,
        delimiter="|",
        header=False,
        names=names,
        encoding="latin-1",
        quoted=False,
        sep_label="'|'",
    )
    table = _read_table(src, "u.item", spec)
    movie_id = table.column("movie_id").to_numpy()
    _check_unique_movies(movie_id, src.display("u.item"), 0)
    genre_names = np.array(_read_genre_names(src), dtype=object)
    flags = np.column_stack([table.column(f"g{k}").to_numpy() for k in range(_N_GENRE_FLAGS)])
    rows, cols = np.nonzero(flags[:, : len(genre_names)])
    values = genre_names[cols]
    values = values[values != "unknown"] if len(values) else values
    rows = rows[genre_names[cols] != "unknown"] if len(cols) else rows
    genres = _lists_from_pairs(rows, pa.array(values.tolist(), type=pa.string()), len(movie_id))
    release = table.column("release_date").to_pandas()
    return _movie_frame(
        movie_id,
        table.column("title").to_pandas(),
        genres,
        release_date=release.where(release.str.len() > 0, None),
    )


def _read_genre_names(src: _Source) -> list[str]:
    """Genre names by flag position, from ``u.genre`` when present."""
    if not src.has("u.genre"):
        return list(_ML100K_GENRES)
    spec = _Spec(
        columns={"genre": pa.string(), "index": pa.int32()},
        delimiter="|",
        header=False,
        names=("genre", "index"),
        encoding="latin-1",
        quoted=False,
        sep_label="'|'",
    )
    table = _read_table(src, "u.genre", spec)
    index = table.column("index").to_numpy()
    names = np.asarray(table.column("genre").to_pylist(), dtype=object)
    # u.item has exactly one flag column per genre: an index outside them is corrupted
    outside = (index < 0) | (index >= _N_GENRE_FLAGS)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataFormatError(
            src.display("u.genre"),
            f"genre index {int(index[row])} outside 0..{_N_GENRE_FLAGS - 1} (u.item has "
            f"{_N_GENRE_FLAGS} genre flags)",
            row + 1,
        )
    out = [""] * (int(index.max()) + 1)
    for i, g in zip(index.tolist(), names.tolist(), strict=True):  # at most 19 rows
        out[i] = g
    return out


def _read_user_info_100k(src: _Source) -> pd.DataFrame | None:
    """``u.user`` (age, gender, occupation, zip code), when present."""
    if src.has("u.user"):
        spec = _Spec(
            columns={
                "user_id": pa.int64(),
                "age": pa.int32(),
                "gender": pa.string(),
                "occupation": pa.string(),
                "zip_code": pa.string(),
            },
            delimiter="|",
            header=False,
            names=("user_id", "age", "gender", "occupation", "zip_code"),
            encoding="latin-1",
            quoted=False,
            sep_label="'|'",
        )
        return _read_table(src, "u.user", spec).to_pandas()
    return None
