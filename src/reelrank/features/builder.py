"""Build :class:`~reelrank.features.item_features.ItemFeatures` from a training dataset.

Leakage rule: only ``train``'s own tags are read (a temporal splitter has already dropped
tags applied after its cutoff); titles, years, genres, people and reviews are catalogue
metadata. The TF-IDF vocabulary and IDF weights are fitted on the text built from these.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.features.content import (
    TagWeighting,
    clean_tags,
    decade_matrix,
    people_matrix,
    tag_matrix,
    tfidf_matrix,
)
from reelrank.features.item_features import ItemFeatures
from reelrank.features.profiles import genre_matrix

logger = logging.getLogger(__name__)

__all__ = ["EMBEDDING_FIELDS", "FeatureConfig", "build_item_features", "tfidf_documents"]

#: per-field embedding blocks (``"embedding:<field>"``) built when ``"embedding:all"`` is asked
EMBEDDING_FIELDS = ("title", "genres", "tags", "people", "reviews")
_KNOWN_BLOCKS = {"embedding", "embedding:all", "genome"} | {
    f"embedding:{f}" for f in EMBEDDING_FIELDS
}


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of :func:`build_item_features` (stored in ``ItemFeatures.meta``).

    Attributes
    ----------
    min_tag_count
        Drop tags applied fewer times than this over the training tags.
    max_tags_per_movie
        Keep at most this many distinct tags per movie (the most applied).
    tfidf_max_features
        TF-IDF vocabulary cap.
    tag_weighting
        Token weight of ``tag:`` columns: ``"binary"``, ``"count"`` or ``"log"`` (see
        :func:`reelrank.features.content.tag_matrix`).
    include_decades
        Add ``decade:1990s`` tokens.
    include_people
        Add ``person:`` tokens when the dataset has people.
    min_person_count
        Keep people credited on at least this many movies.
    max_reviews_per_movie, max_review_chars
        Caps of the per-movie review text (reviews embedding).
    embedding_batch_size
        Texts per forward pass of the sentence model.
    embedding_model
        Sentence-transformer model name (or local folder).
    """

    min_tag_count: int = 2
    max_tags_per_movie: int = 20
    tfidf_max_features: int = 20_000
    tag_weighting: TagWeighting = "log"
    include_decades: bool = True
    include_people: bool = True
    min_person_count: int = 1
    max_reviews_per_movie: int = 5
    max_review_chars: int = 500
    embedding_batch_size: int = 128
    embedding_model: str = "all-MiniLM-L6-v2"

    def __post_init__(self) -> None:
        for name in (
            "min_tag_count",
            "max_tags_per_movie",
            "tfidf_max_features",
            "min_person_count",
            "max_reviews_per_movie",
            "max_review_chars",
            "embedding_batch_size",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"FeatureConfig.{name} must be >= 1")
        if self.tag_weighting not in ("binary", "count", "log"):
            raise ConfigError("FeatureConfig.tag_weighting must be 'binary', 'count' or 'log'")


def _join_by_item(item_idx: np.ndarray, texts: np.ndarray, n: int) -> np.ndarray:
    """Space-joined ``texts`` per item (input order kept within an item); ``""`` if none.

    A stable sort and one ``str.join`` per item: pandas' ``groupby().agg(" ".join)`` runs
    a Python-level aggregation with per-group Series overhead (7 s of a 14 s feature build
    at 11k movies).
    """
    out = np.full(n, "", dtype=object)
    if len(item_idx) == 0:
        return out
    order = np.argsort(item_idx, kind="stable")
    keys = item_idx[order]
    values = texts[order].tolist()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    out[keys[starts]] = [" ".join(values[a:b]) for a, b in zip(starts, ends, strict=True)]
    return out


def tfidf_documents(movies: pd.DataFrame, tags: pd.DataFrame) -> list[str]:
    """One document per movie: title, genres and its (cleaned) tags.

    Parameters
    ----------
    movies
        The movie table (``title``, ``genres``), one row per item index.
    tags
        A :func:`~reelrank.features.content.clean_tags` table.
    """
    n = len(movies)
    title = pd.Series(movies["title"], dtype="string").fillna("").to_numpy(dtype=object)
    genres = pd.Series(movies["genres"]).reset_index(drop=True).explode().dropna().astype(str)
    genre_text = _join_by_item(genres.index.to_numpy(np.int64), genres.to_numpy(object), n)
    tag_text = np.full(n, "", dtype=object)
    if len(tags):
        tag_text = _join_by_item(
            tags["item_idx"].to_numpy(np.int64), tags["tag"].to_numpy(dtype=object), n
        )
    docs = pd.Series(title) + " " + pd.Series(genre_text) + " " + pd.Series(tag_text)
    return docs.str.strip().tolist()


def _check_blocks(blocks: Iterable[str]) -> set[str]:
    blocks = set(blocks)
    unknown = sorted(blocks - _KNOWN_BLOCKS)
    if unknown:
        raise ConfigError(f"unknown feature block(s) {unknown}; known: {sorted(_KNOWN_BLOCKS)}")
    return blocks


def build_item_features(
    train: Dataset,
    config: FeatureConfig | None = None,
    *,
    blocks: Iterable[str] = frozenset(),
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> ItemFeatures:
    """Build the item features of a catalogue from training data.

    Parameters
    ----------
    train
        The training dataset. Its tags are the only tags used; ratings are not used here.
    config
        Settings (default :class:`FeatureConfig`).
    blocks
        Extra dense blocks: ``"embedding"`` (combined movie text), ``"embedding:all"``
        (combined plus one block per field: ``embedding:title``, ``embedding:genres``,
        ``embedding:tags``, and ``embedding:people`` / ``embedding:reviews`` when the dataset
        has them), or single ``"embedding:<field>"`` blocks. ``"genome"`` is added whenever
        ``train.genome`` exists.
    cache_dir
        Embedding cache folder (default ``~/.cache/reelrank/embeddings``).
    progress
        Show progress bars while embedding.

    Returns
    -------
    ItemFeatures
        Sparse tokens ``genre:``, ``decade:``, ``tag:``, ``person:``; L2-normalised TF-IDF;
        the requested dense blocks. ``meta`` records counts per family, vocabulary sizes,
        seconds per stage and the settings.
    """
    cfg = config if config is not None else FeatureConfig()
    wanted = _check_blocks(blocks)
    n = train.n_items
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()

    t0 = time.perf_counter()
    parts: list[tuple[str, sp.csr_matrix, np.ndarray]] = []
    genres, genre_names = genre_matrix(train.movies)
    parts.append(("genre", genres, genre_names))
    if cfg.include_decades:
        decades, decade_names = decade_matrix(train.movies["year"])
        parts.append(("decade", decades, decade_names))
    seconds["genres"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tags = clean_tags(train.tags, min_count=cfg.min_tag_count, max_per_movie=cfg.max_tags_per_movie)
    tag_m, tag_names = tag_matrix(tags, n, weighting=cfg.tag_weighting)
    parts.append(("tag", tag_m, tag_names))
    seconds["tags"] = time.perf_counter() - t0

    has_people = train.people is not None and len(train.people) > 0
    if cfg.include_people and has_people:
        t0 = time.perf_counter()
        assert train.people is not None
        person_m, person_names = people_matrix(train.people, n, min_count=cfg.min_person_count)
        parts.append(("person", person_m, person_names))
        seconds["people"] = time.perf_counter() - t0

    sparse = sp.hstack([m for _, m, _ in parts], format="csr", dtype=np.float32)
    names = np.concatenate(
        [np.char.add(f"{prefix}:", np.asarray(v, dtype=str)) for prefix, _, v in parts]
        or [np.empty(0, dtype=str)]
    ).astype(str)

    t0 = time.perf_counter()
    docs = tfidf_documents(train.movies, tags)
    tfidf = terms = None
    if any(docs):
        tfidf, terms, _ = tfidf_matrix(docs, max_features=cfg.tfidf_max_features)
    seconds["tfidf"] = time.perf_counter() - t0

    dense: dict[str, np.ndarray] = {}
    if train.genome is not None:
        t0 = time.perf_counter()
        dense["genome"] = train.genome.dense_for(n)
        seconds["genome"] = time.perf_counter() - t0
    elif "genome" in wanted:
        logger.warning("no tag genome in %s; skipping the genome block", train.name)

    fields = _embedding_fields(wanted, train)
    if fields:
        from reelrank.features.text import embed_texts, movie_texts

        t0 = time.perf_counter()
        texts = movie_texts(
            train,
            tags,
            max_reviews_per_movie=cfg.max_reviews_per_movie,
            max_review_chars=cfg.max_review_chars,
        )
        for field in fields:
            block = "embedding" if field == "combined" else f"embedding:{field}"
            dense[block] = embed_texts(
                texts[field],
                batch_size=cfg.embedding_batch_size,
                cache_dir=cache_dir,
                progress=progress,
                model_name=cfg.embedding_model,
            )
        seconds["embeddings"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_all

    families = {prefix: int(m.shape[1]) for prefix, m, _ in parts}
    meta: dict[str, Any] = {
        "n_items": n,
        "dataset": train.name,
        "layout": train.layout,
        "train_fingerprint": train.fingerprint(),
        "families": families,
        "nonzeros": {prefix: int(m.nnz) for prefix, m, _ in parts},
        "items_with": {prefix: int((m.getnnz(axis=1) > 0).sum()) for prefix, m, _ in parts},
        "n_tag_rows": len(train.tags),
        "n_tag_assignments": len(tags),
        "tfidf_vocabulary": 0 if terms is None else len(terms),
        "dense_blocks": {k: list(v.shape) for k, v in dense.items()},
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "config": dataclasses.asdict(cfg),
        "blocks": sorted(wanted),
    }
    logger.info(
        "built item features: %s tokens %s, tf-idf %d terms, dense %s in %.1fs",
        n,
        families,
        meta["tfidf_vocabulary"],
        sorted(dense),
        seconds["total"],
    )
    return ItemFeatures(
        sparse=sparse, names=names, tfidf=tfidf, tfidf_terms=terms, dense=dense, meta=meta
    )


def _embedding_fields(wanted: set[str], train: Dataset) -> list[str]:
    """Text fields to embed, ``"combined"`` first."""
    fields: list[str] = []
    if "embedding" in wanted or "embedding:all" in wanted:
        fields.append("combined")
    has = {
        "people": train.people is not None and len(train.people) > 0,
        "reviews": train.reviews is not None and len(train.reviews) > 0,
    }
    for f in EMBEDDING_FIELDS:
        explicit = f"embedding:{f}" in wanted
        if not (explicit or "embedding:all" in wanted):
            continue
        if not has.get(f, True):
            if explicit:
                raise ConfigError(f"block embedding:{f} asked for, but {train.name} has no {f}")
            continue
        fields.append(f)
    return fields
