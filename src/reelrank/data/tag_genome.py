"""Tag Genome 2021 JSON lines (``metadata_updated.json``, ``reviews.json``, ``tags.json``),
joined to a MovieLens catalogue by movie id."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from reelrank.data._source import _Source
from reelrank.data._tables import _read_json_lines
from reelrank.data.dataset import IdMap

logger = logging.getLogger(__name__)


def _find_tag_genome(src: _Source) -> _Source | None:
    if src.has("metadata_updated.json"):
        return src
    for sub in src.subdirs():
        if sub.has("metadata_updated.json"):
            return sub
        for sub2 in sub.subdirs():
            if sub2.has("metadata_updated.json"):
                return sub2
    return None


def _split_names(values: pd.Series, item_idx: np.ndarray, role: str) -> pd.DataFrame:
    """Comma-separated names -> one row per (item_idx, name), vectorised with explode."""
    s = pd.Series(values.to_numpy(dtype=object), index=item_idx).dropna()
    s = s.astype(str).str.split(",").explode().str.strip()
    s = s[s.str.len() > 0]
    return pd.DataFrame(
        {
            "item_idx": s.index.to_numpy(dtype=np.int64),
            "role": role,
            "name": s.to_numpy(dtype=object),
        }
    )


def _join_tag_genome(
    tg: _Source, movies: pd.DataFrame, items: IdMap, info: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Add Tag Genome 2021 metadata columns; return (movies, people, reviews)."""
    meta = _read_json_lines(
        tg,
        "metadata_updated.json",
        pa.schema(
            [
                ("item_id", pa.int64()),
                ("title", pa.string()),
                ("directedBy", pa.string()),
                ("starring", pa.string()),
                ("avgRating", pa.float64()),
                ("imdbId", pa.int64()),
            ]
        ),
    ).to_pandas()
    meta = meta.dropna(subset=["item_id"])
    known = items.contains(meta["item_id"].to_numpy())
    if not known.all():
        logger.info("tag genome: %d movies not in the catalogue ignored", int((~known).sum()))
    meta = meta[known]
    item_idx = items.index(meta["item_id"].to_numpy())
    movies = movies.copy()
    n = len(movies)

    def column(values: pd.Series, dtype: str) -> pd.Series:
        out = pd.Series(pd.array([None] * n, dtype=dtype))
        out.iloc[item_idx] = pd.array(values.to_numpy(), dtype=dtype)
        return out

    movies["directed_by"] = column(meta["directedBy"], "str")
    movies["starring"] = column(meta["starring"], "str")
    movies["avg_rating"] = column(meta["avgRating"], "Float64")
    imdb = column(meta["imdbId"], "Int64")
    if "imdb_id" in movies.columns:
        movies["imdb_id"] = movies["imdb_id"].fillna(imdb)
    else:
        movies["imdb_id"] = imdb
    people = pd.concat(
        [
            _split_names(meta["directedBy"], item_idx, "director"),
            _split_names(meta["starring"], item_idx, "cast"),
        ],
        ignore_index=True,
    )
    reviews = None
    if tg.has("reviews.json"):
        rev = _read_json_lines(
            tg, "reviews.json", pa.schema([("item_id", pa.int64()), ("txt", pa.string())])
        ).to_pandas()
        rev = rev.dropna()
        rev_known = items.contains(rev["item_id"].to_numpy())
        rev = rev[rev_known]
        reviews = pd.DataFrame(
            {
                "item_idx": items.index(rev["item_id"].to_numpy()),
                "text": rev["txt"].to_numpy(dtype=object),
            }
        )
    if tg.has("tags.json"):
        tags = _read_json_lines(
            tg, "tags.json", pa.schema([("id", pa.int64()), ("tag", pa.string())])
        )
        info["tag_genome_tags"] = int(tags.num_rows)
    info["tag_genome_path"] = tg.display("")
    return movies, people, reviews
