"""Shared fixtures: a tiny synthetic dataset and the bundled ml-latest-small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reelrank.data.dataset import Dataset, IdMap, empty_tags


def make_dataset(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    rating: np.ndarray | None = None,
    timestamp: np.ndarray | None = None,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    genres: list[list[str]] | None = None,
) -> Dataset:
    """Build a small Dataset from index arrays (user ids 1..U, movie ids 1..I)."""
    user_idx = np.asarray(user_idx)
    item_idx = np.asarray(item_idx)
    n_users = int(n_users if n_users is not None else user_idx.max() + 1)
    n_items = int(n_items if n_items is not None else item_idx.max() + 1)
    if rating is None:
        rating = np.full(len(user_idx), 4.0, dtype=np.float32)
    if timestamp is None:
        timestamp = np.arange(len(user_idx), dtype=np.int64) * 3600 + 1_000_000_000
    users = IdMap(np.arange(1, n_users + 1), name="user")
    items = IdMap(np.arange(1, n_items + 1), name="movie")
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_items + 1),
            "title": [f"Movie {i}" for i in range(1, n_items + 1)],
            "year": pd.array([1990 + i % 30 for i in range(n_items)], dtype="Int32"),
            "genres": genres if genres is not None else [["Drama"] for _ in range(n_items)],
        }
    )
    return Dataset.from_arrays(
        user_idx,
        item_idx,
        rating,
        timestamp,
        users=users,
        items=items,
        movies=movies,
        tags=empty_tags(),
        layout="synthetic",
        name="synthetic",
    )


@pytest.fixture
def checkerboard() -> Dataset:
    """8 users x 8 items in two blocks; user u rated every item of its block except item u.

    Collaborative models must rank item u first for user u.
    """
    rows, cols = [], []
    for u in range(8):
        block = range(0, 4) if u < 4 else range(4, 8)
        for i in block:
            if i != u:
                rows.append(u)
                cols.append(i)
    return make_dataset(np.array(rows), np.array(cols), n_users=8, n_items=8)


@pytest.fixture
def tiny() -> Dataset:
    """A random 30 users x 40 items dataset with ratings 1..5 and genres (seeded)."""
    rng = np.random.default_rng(0)
    pairs = {
        (int(u), int(i))
        for u, i in zip(rng.integers(0, 30, 400), rng.integers(0, 40, 400), strict=True)
    }
    u, i = np.array(sorted(pairs)).T
    r = rng.integers(1, 6, len(u)).astype(np.float32)
    genres = [
        ["Comedy"] if k % 3 == 0 else ["Drama", "Romance"] if k % 3 == 1 else [] for k in range(40)
    ]
    return make_dataset(u, i, r, n_users=30, n_items=40, genres=genres)


@pytest.fixture(scope="session")
def bundled() -> Dataset:
    """The bundled ml-latest-small (loaded once per test session)."""
    from reelrank.data import load

    return load()
