"""Synthetic datasets for the hybrid / neural tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reelrank.data.dataset import Dataset, IdMap, empty_tags


def build(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    rating: np.ndarray,
    timestamp: np.ndarray,
    n_users: int,
    n_items: int,
    genres: list[list[str]],
) -> Dataset:
    """A Dataset with user ids 1..U and movie ids 1..I."""
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_items + 1),
            "title": [f"Movie {i}" for i in range(1, n_items + 1)],
            "year": pd.array([1980 + i % 40 for i in range(n_items)], dtype="Int32"),
            "genres": genres,
        }
    )
    return Dataset.from_arrays(
        user_idx, item_idx, rating, timestamp,
        users=IdMap(np.arange(1, n_users + 1), name="user"),
        items=IdMap(np.arange(1, n_items + 1), name="movie"),
        movies=movies, tags=empty_tags(), layout="synthetic", name="planted",
    )  # fmt: skip


def planted_genre_dataset(
    n_users: int = 80, n_items: int = 150, n_genres: int = 5, per_user: int = 40, seed: int = 0
) -> Dataset:
    """Users like (5 stars) movies of one favourite genre and dislike (1 star) the others.

    Which movies a user rates is drawn uniformly at random, so popularity and co-occurrence
    carry no signal about the rating; only the genre taste profile tells which unseen movies
    a user will like.
    """
    rng = np.random.default_rng(seed)
    item_genre = np.arange(n_items) % n_genres
    fav = rng.integers(0, n_genres, n_users)
    rows, cols = [], []
    for u in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False)
        rows.append(np.full(per_user, u))
        cols.append(items)
    u = np.concatenate(rows)
    i = np.concatenate(cols)
    r = np.where(item_genre[i] == fav[u], 5.0, 1.0).astype(np.float32)
    ts = 1_000_000_000 + rng.permutation(len(u)).astype(np.int64) * 3600
    genres = [[f"G{g}"] for g in item_genre]
    return build(u, i, r, ts, n_users, n_items, genres)


@pytest.fixture
def planted() -> Dataset:
    """The planted-genre dataset (80 users x 150 movies, 3,200 ratings)."""
    return planted_genre_dataset()


#: small, fast hybrid settings for unit tests
SMALL_HYBRID = {
    "generators": "itemknn:30,pop:30",
    "use_embeddings": False,
    "n_estimators": 60,
    "early_stopping_rounds": 20,
    "min_child_samples": 5,
    "num_leaves": 7,
    "n_random_negatives": 5,
    "n_jobs": 1,
}


@pytest.fixture
def small_hybrid() -> dict[str, object]:
    """Hybrid parameters small enough for unit tests."""
    return dict(SMALL_HYBRID)
