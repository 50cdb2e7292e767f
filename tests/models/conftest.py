"""Fixtures of the model tests: item features built directly from a dataset's genres."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.features.item_features import ItemFeatures


def genre_features(ds: Dataset, dim: int = 16, seed: int = 0) -> ItemFeatures:
    """ItemFeatures from genres and decades only (no dependency on the feature builders).

    ``sparse``: one-hot ``genre:*`` and ``decade:*`` tokens; ``tfidf``: the same tokens
    idf-weighted and L2-normalised; ``dense["embedding"]``: a seeded random projection of
    the tokens plus a small item-specific noise (so every item has a distinct vector).
    """
    movies = ds.movies
    genres = movies["genres"].map(lambda g: "|".join(f"genre:{x}" for x in g))
    decades = movies["year"].astype("Int64") // 10 * 10
    decade_tok = ("decade:" + decades.astype("string")).fillna("")
    tokens = (genres.astype("string") + "|" + decade_tok).str.strip("|")
    dummies = tokens.str.get_dummies("|")
    names = np.asarray(dummies.columns, dtype=str)
    sparse = sp.csr_matrix(dummies.to_numpy(dtype=np.float32))
    df = np.asarray((sparse > 0).sum(axis=0)).ravel()
    idf = np.log((1 + sparse.shape[0]) / (1 + df)) + 1.0
    tfidf = sp.csr_matrix(sparse.multiply(idf[None, :]), dtype=np.float32)
    norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    tfidf = sp.csr_matrix(sp.diags(1 / norms) @ tfidf, dtype=np.float32)
    rng = np.random.default_rng(seed)
    proj = rng.normal(size=(len(names), dim)).astype(np.float32)
    emb = sparse @ proj + 0.1 * rng.normal(size=(sparse.shape[0], dim)).astype(np.float32)
    return ItemFeatures(
        sparse=sparse,
        names=names,
        tfidf=tfidf,
        tfidf_terms=names,
        dense={"embedding": np.asarray(emb, dtype=np.float32)},
        meta={"source": "tests"},
    )


@pytest.fixture
def tiny_features(tiny: Dataset) -> ItemFeatures:
    """Genre/decade features of the ``tiny`` fixture."""
    return genre_features(tiny)


@pytest.fixture
def checkerboard_features(checkerboard: Dataset) -> ItemFeatures:
    """Features for the checkerboard: genre ``A`` for block 0 items, ``B`` for block 1."""
    genres = [["A"] if i < 4 else ["B"] for i in range(checkerboard.n_items)]
    movies = checkerboard.movies.copy()
    movies["genres"] = pd.Series(genres, index=movies.index)
    from dataclasses import replace

    return genre_features(replace(checkerboard, movies=movies))


def _build(
    user_idx: list[int] | np.ndarray,
    item_idx: list[int] | np.ndarray,
    rating: list[float] | np.ndarray | None = None,
    timestamp: list[int] | np.ndarray | None = None,
    n_users: int | None = None,
    n_items: int | None = None,
) -> Dataset:
    from reelrank.data.dataset import IdMap, empty_tags

    u, i = np.asarray(user_idx), np.asarray(item_idx)
    n_users = int(n_users if n_users is not None else u.max() + 1)
    n_items = int(n_items if n_items is not None else i.max() + 1)
    r = np.full(len(u), 4.0, np.float32) if rating is None else np.asarray(rating, np.float32)
    t = np.arange(len(u)) * 86_400 + 1_000_000_000 if timestamp is None else np.asarray(timestamp)
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_items + 1),
            "title": [f"Movie {k}" for k in range(1, n_items + 1)],
            "year": pd.array([1990] * n_items, dtype="Int32"),
            "genres": [["Drama"] for _ in range(n_items)],
        }
    )
    return Dataset.from_arrays(
        u, i, r, t,
        users=IdMap(np.arange(1, n_users + 1), name="user"),
        items=IdMap(np.arange(1, n_items + 1), name="movie"),
        movies=movies, tags=empty_tags(), layout="synthetic", name="synthetic",
    )  # fmt: skip


@pytest.fixture
def build():
    """``build(user_idx, item_idx, rating=None, timestamp=None, n_users=None, n_items=None)``."""
    return _build
