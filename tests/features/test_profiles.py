"""Genre multi-hot, taste profiles and cosine: values checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reelrank.data.dataset import Dataset, IdMap
from reelrank.features.profiles import (
    cosine_to_items,
    genre_matrix,
    pairwise_cosine,
    user_profiles,
)

GENRES = [["Comedy"], ["Comedy", "Romance"], ["Drama"], ["Comedy"], []]


def _dataset(rows: list[tuple[int, int, float]], n_users: int = 3) -> Dataset:
    u, i, r = (np.array(c) for c in zip(*rows, strict=True))
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, 6),
            "title": [f"M{k}" for k in range(5)],
            "year": pd.array([2000] * 5, dtype="Int32"),
            "genres": GENRES,
        }
    )
    return Dataset.from_arrays(
        u,
        i,
        r,
        np.arange(len(u)),
        users=IdMap(np.arange(n_users), name="user"),
        items=IdMap(np.arange(1, 6), name="movie"),
        movies=movies,
    )


def test_genre_matrix_multi_hot():
    m, names = genre_matrix(pd.DataFrame({"genres": GENRES}))
    assert names.tolist() == ["Comedy", "Drama", "Romance"]
    assert sp.isspmatrix_csr(m) and m.dtype == np.float32
    np.testing.assert_array_equal(
        m.toarray(), [[1, 0, 0], [1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0]]
    )


def test_genre_matrix_from_pipe_strings():
    frame = pd.DataFrame({"genres": ["Comedy|Drama", "(no genres listed)", None, "Drama|Drama"]})
    m, names = genre_matrix(frame)
    assert names.tolist() == ["Comedy", "Drama"]
    np.testing.assert_array_equal(m.toarray(), [[1, 1], [0, 0], [0, 0], [0, 1]])


def test_comedy_only_user_has_pure_comedy_profile():
    ds = _dataset([(0, 0, 5.0), (0, 3, 2.0), (1, 1, 4.0), (1, 2, 2.0)])
    genres, _ = genre_matrix(ds.movies)
    for weighting in ("rating", "mean"):
        prof = user_profiles(ds, genres, weighting=weighting).toarray()
        np.testing.assert_allclose(prof[0], [1.0, 0.0, 0.0])
        np.testing.assert_array_equal(prof[2], [0, 0, 0])  # no ratings: zero row
    # user 1: (4*[1,0,1] + 2*[0,1,0]) / 6
    prof = user_profiles(ds, genres).toarray()
    np.testing.assert_allclose(prof[1], [4 / 6, 2 / 6, 4 / 6], rtol=1e-6)
    mean = user_profiles(ds, genres, weighting="mean").toarray()
    np.testing.assert_allclose(mean[1], [0.5, 0.5, 0.5], rtol=1e-6)
    # centered: mean 3 -> weights +1, -1, normalised by 2
    centered = user_profiles(ds, genres, weighting="centered").toarray()
    np.testing.assert_allclose(centered[1], [0.5, -0.5, 0.5], rtol=1e-6)


def test_profiles_dense_items_and_bad_input():
    ds = _dataset([(0, 0, 5.0), (0, 2, 1.0)])
    items = np.arange(10, dtype=np.float32).reshape(5, 2)
    prof = user_profiles(ds, items)
    assert isinstance(prof, np.ndarray)
    np.testing.assert_allclose(prof[0], (5 * items[0] + 1 * items[2]) / 6, rtol=1e-6)
    with pytest.raises(ValueError, match="weighting"):
        user_profiles(ds, items, weighting="median")
    with pytest.raises(ValueError, match="rows"):
        user_profiles(ds, items[:3])


def test_pairwise_cosine_by_hand():
    users = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    items = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    u = np.array([0, 0, 1, 1, 2, 1])
    i = np.array([0, 2, 1, 2, 0, 0])
    expected = [1 / np.sqrt(2), 1.0, 1 / np.sqrt(2), 1 / np.sqrt(2), 0.0, 0.5]
    for conv in (np.asarray, sp.csr_matrix):
        got = pairwise_cosine(conv(users), conv(items), u, i, chunk_size=4)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    block = cosine_to_items(users[:2], items)
    np.testing.assert_allclose(block[0], [1 / np.sqrt(2), 0, 1], rtol=1e-6)
    np.testing.assert_allclose(block[1], [0.5, 1 / np.sqrt(2), 1 / np.sqrt(2)], rtol=1e-6)
    with pytest.raises(ValueError):
        pairwise_cosine(users, items, u, i[:2])


def test_pairwise_matches_cosine_to_items_random():
    rng = np.random.default_rng(0)
    users = sp.random(20, 30, density=0.2, random_state=1, format="csr")
    items = sp.random(40, 30, density=0.2, random_state=2, format="csr")
    u, i = rng.integers(0, 20, 500), rng.integers(0, 40, 500)
    full = cosine_to_items(users, items)
    np.testing.assert_allclose(pairwise_cosine(users, items, u, i), full[u, i], atol=1e-6)
