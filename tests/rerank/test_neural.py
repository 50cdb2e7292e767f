"""Neural hybrid: early stopping restores the best epoch, determinism, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

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
        "neural", **SMALL, lr=0.05, dropout=0.0, weight_decay=0.0, refit_full=False
    ).fit(planted)
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
    model = create_model("neural", **SMALL, seed=1).fit(planted)
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
