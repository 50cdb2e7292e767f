"""Neural hybrid: early stopping restores the best epoch, determinism, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reelrank.data.dataset import Dataset, IdMap, empty_tags
from reelrank.errors import ConfigError
from reelrank.models import create_model, load_model

pytestmark = pytest.mark.slow  # torch training on a shared CPU: ~10-20 s per test

SMALL = {
    "dim": 8,
    "hidden": (16,),
    "batch_size": 256,
    "max_epochs": 30,
    "patience": 2,
    "use_text": False,
    "fold_in_steps": 10,
}


def test_early_stopping_guards_against_overfitting(planted):
    # no regularisation, large learning rate: validation loss turns up quickly
    model = create_model(
        "neural", **SMALL, mode="rating", lr=0.05, dropout=0.0, weight_decay=0.0,
        refit_full=False,
    ).fit(planted)  # fmt: skip
    h = model.history_
    best = h["best_epoch"]
    assert h["val_loss"][best] == min(h["val_loss"])
    # stopped within `patience` epochs after the best one, before max_epochs
    assert h["epochs_run"] == best + 1 + SMALL["patience"]
    assert h["epochs_run"] < SMALL["max_epochs"]
    # training loss kept falling while validation rose: the guard was needed
    assert h["train_loss"][-1] < h["train_loss"][best]
    assert h["val_loss"][-1] > h["val_loss"][best]


def test_rating_mode_predicts_within_scale_and_learns_taste(planted):
    model = create_model("neural", **SMALL, mode="rating", seed=1).fit(planted)
    assert model.predicts_ratings
    users = np.arange(planted.n_users)
    items = np.arange(planted.n_items)
    s = model.score(np.repeat(users, len(items)), np.tile(items, len(users)))
    assert s.min() >= 0.5 and s.max() <= 5.0


def test_deterministic_and_save_load(planted, tmp_path):
    a = create_model("neural", **SMALL, mode="ranking").fit(planted)
    b = create_model("neural", **SMALL, mode="ranking").fit(planted)
    ra, sa = a.recommend(np.arange(10), 10)
    rb, _ = b.recommend(np.arange(10), 10)
    np.testing.assert_array_equal(ra, rb)
    loaded = load_model(a.save(tmp_path / "n"))
    rl, sl = loaded.recommend(np.arange(10), 10)
    np.testing.assert_array_equal(ra, rl)
    np.testing.assert_allclose(sa, sl, rtol=1e-5)
    row = sp.csr_matrix(planted.interactions[3])
    i1, _ = a.recommend_for_ratings(row, 5)
    i2, _ = loaded.recommend_for_ratings(row, 5)
    np.testing.assert_array_equal(i1, i2)


def test_rating_mode_ranks_the_favourite_genre_first(planted):
    params = {**SMALL, "lr": 0.02, "patience": 5, "max_epochs": 60}
    model = create_model("neural", **params, mode="rating", seed=1).fit(planted)
    frame = planted.to_frame()
    genre = np.arange(planted.n_items) % 5  # planted_genre_dataset's item genres
    liked = frame[frame["rating"] == 5.0]
    fav = liked.groupby("user_idx")["item_idx"].first().map(lambda i: genre[i])
    users = fav.index.to_numpy()
    items = np.arange(planted.n_items)
    s = model.score(np.repeat(users, len(items)), np.tile(items, len(users)))
    s = s.reshape(len(users), len(items))
    in_fav = genre[None, :] == fav.to_numpy()[:, None]
    gap = (np.where(in_fav, s, 0).sum(1) / in_fav.sum(1)) - (
        np.where(~in_fav, s, 0).sum(1) / (~in_fav).sum(1)
    )
    # every user's favourite genre gets higher predicted ratings, by a wide margin on average
    assert (gap > 0).mean() >= 0.95
    assert gap.mean() > 1.0


def _two_groups(seed: int = 0) -> Dataset:
    """60 users in two groups; each rates 12 of its group's 20 movies; one genre for all.

    Popularity and content are flat, so only co-occurrence tells a user's group.
    """
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(60), 12)
    i = np.concatenate([(k % 2) * 20 + rng.choice(20, size=12, replace=False) for k in range(60)])
    ts = 1_000_000_000 + rng.permutation(len(u)).astype(np.int64) * 60
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, 41),
            "title": [f"Movie {k}" for k in range(1, 41)],
            "year": pd.array([1990] * 40, dtype="Int32"),
            "genres": [["Drama"]] * 40,
        }
    )
    return Dataset.from_arrays(
        u, i, np.full(len(u), 4.0, np.float32), ts,
        users=IdMap(np.arange(1, 61), name="user"), items=IdMap(np.arange(1, 41), name="movie"),
        movies=movies, tags=empty_tags(), layout="synthetic", name="two-groups",
    )  # fmt: skip


@pytest.mark.parametrize("params", [{"n_negatives": 8}, {"n_negatives": 100}])
def test_ranking_mode_learns_co_occurrence(params):
    ds = _two_groups()
    model = create_model(
        "neural", **{**SMALL, "max_epochs": 60, "patience": 5, "batch_size": 64},
        mode="ranking", lr=0.02, **params,
    ).fit(ds)  # fmt: skip
    assert not model.predicts_ratings
    items, _ = model.recommend(np.arange(60), 5)
    same_group = (items // 20) == (np.arange(60) % 2)[:, None]
    assert same_group.mean() >= 0.9
    h = model.history_
    assert h["val_ndcg"][h["best_epoch"]] == max(h["val_ndcg"])


def test_log_q_is_the_expected_candidate_count(planted):
    model = create_model("neural", **{**SMALL, "batch_size": 100}, n_negatives=30)
    counts = planted.item_counts().astype(np.float64)
    expected = 100 * counts / counts.sum() + 30 / planted.n_items
    np.testing.assert_allclose(np.exp(model._log_q(planted).numpy()), expected, rtol=1e-5)


def test_bad_parameters_raise_config_error():
    with pytest.raises(ConfigError, match="loss"):
        create_model("neural", loss="hinge")
    with pytest.raises(ConfigError, match="n_negatives"):
        create_model("neural", n_negatives=-1)
