"""Readers of the CSV layouts: ml-20m / 25m / 32m / latest(-small) (``ratings.csv``,
``movies.csv``, ``tags.csv``, ``links.csv``, ``genome-*.csv``) and Kaggle's ml-20m
(``rating.csv``, ``movie.csv``... with ISO datetime timestamps)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reelrank.data._source import _Source
from reelrank.data._tables import (
    _check_ids,
    _check_timestamps,
    _check_unique_movies,
    _genre_lists,
    _index_ids,
    _movie_frame,
    _nullable_int,
    _read_table,
    _Spec,
)
from reelrank.data.dataset import Genome, IdMap
from reelrank.errors import DataFormatError

logger = logging.getLogger(__name__)

_CSV_RATINGS = _Spec(
    columns={
        "userId": pa.int32(),
        "movieId": pa.int32(),
        "rating": pa.float32(),
        "timestamp": pa.int64(),
    },
    quoted=False,
)


_KAGGLE_RATINGS = _Spec(
    columns={
        "userId": pa.int32(),
        "movieId": pa.int32(),
        "rating": pa.float32(),
        "timestamp": pa.timestamp("s"),
    },
    quoted=False,
)


def _read_movies_csv(src: _Source, name: str) -> pd.DataFrame:
    spec = _Spec(columns={"movieId": pa.int64(), "title": pa.string(), "genres": pa.string()})
    table = _read_table(src, name, spec, allow_empty=True)
    movie_id = table.column("movieId").to_numpy()
    _check_unique_movies(movie_id, src.display(name), 1)
    titles = table.column("title").to_pandas()
    return _movie_frame(movie_id, titles, _genre_lists(table.column("genres"), len(movie_id)))


def _read_links(src: _Source, name: str) -> pd.DataFrame | None:
    if not src.has(name):
        return None
    spec = _Spec(
        # float64: Kaggle's link.csv writes tmdbId as "8844.0"
        columns={"movieId": pa.int64(), "imdbId": pa.float64()},
        optional={"tmdbId": pa.float64()},
    )
    # tmdbId is empty for a few movies: let it be null (only the required ones are checked)
    table = _read_table(src, name, spec, allow_empty=True)
    out = pd.DataFrame(
        {
            "movie_id": table.column("movieId").to_numpy(),
            "imdb_id": _nullable_int(table.column("imdbId")),
        }
    )
    if "tmdbId" in table.column_names:
        out["tmdb_id"] = _nullable_int(table.column("tmdbId"))
    return out


def _read_tags_csv(src: _Source, layout: str) -> tuple[pd.DataFrame, str] | None:
    """Raw tags of ``tags.csv`` (Kaggle: ``tag.csv``) and its path (``None`` without)."""
    name = "tag.csv" if layout == "kaggle-ml-20m" else "tags.csv"
    if not src.has(name):
        return None
    ts_type = pa.timestamp("s") if layout == "kaggle-ml-20m" else pa.int64()
    spec = _Spec(
        columns={
            "userId": pa.int64(),
            "movieId": pa.int64(),
            "tag": pa.string(),
            "timestamp": ts_type,
        }
    )
    table = _read_table(src, name, spec, allow_empty=True)
    ts = table.column("timestamp")
    if pa.types.is_timestamp(ts.type):
        ts = pc.cast(ts, pa.int64())
    _check_ids(table.column("userId").to_numpy(), src.display(name), "user id", 1)
    _check_timestamps(ts.to_numpy(), src.display(name), 1)
    return (
        pd.DataFrame(
            {
                "user_id": table.column("userId").to_numpy(),
                "movie_id": table.column("movieId").to_numpy(),
                "tag": np.asarray(table.column("tag").to_pylist(), dtype=object),
                "timestamp": ts.to_numpy(),
            }
        ),
        src.display(name),
    )


def _read_genome(src: _Source, layout: str, items: IdMap) -> Genome | None:
    scores_name, tags_name = (
        ("genome_scores.csv", "genome_tags.csv")
        if layout == "kaggle-ml-20m"
        else ("genome-scores.csv", "genome-tags.csv")
    )
    if not (src.has(scores_name) and src.has(tags_name)):
        return None
    tags = _read_table(src, tags_name, _Spec(columns={"tagId": pa.int64(), "tag": pa.string()}))
    scores = _read_table(
        src,
        scores_name,
        _Spec(
            columns={"movieId": pa.int64(), "tagId": pa.int64(), "relevance": pa.float32()},
            quoted=False,
        ),
    )
    tag_ids, tag_pos = _index_ids(
        scores.column("tagId").to_numpy(), np.sort(tags.column("tagId").to_numpy())
    )
    if (tag_pos < 0).any():
        row = int(np.flatnonzero(tag_pos < 0)[0])
        raise DataFormatError(
            src.display(scores_name),
            f"tag id {int(scores.column('tagId').to_numpy()[row])} not in {tags_name}",
            row + 2,
        )
    order = np.argsort(tags.column("tagId").to_numpy())
    tag_names = np.asarray(tags.column("tag").to_pylist(), dtype=object)[order]
    movie_id = scores.column("movieId").to_numpy()
    known = items.contains(movie_id)
    if not known.all():
        logger.warning("%d genome scores for unknown movies dropped", int((~known).sum()))
    item_idx_all = items.index(movie_id[known])
    genome_items, row_pos = np.unique(item_idx_all, return_inverse=True)
    relevance = np.zeros((len(genome_items), len(tag_ids)), dtype=np.float32)
    relevance[row_pos, tag_pos[known]] = scores.column("relevance").to_numpy()[known]
    return Genome(item_idx=genome_items.astype(np.int64), relevance=relevance, tags=tag_names)
