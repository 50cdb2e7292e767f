"""The contract every registered model must satisfy (one parametrised test suite)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import UnknownIdError
from reelrank.features.item_features import ItemFeatures
from reelrank.models import available_models, create_model, load_model
from reelrank.models.base import FoldInNotSupported, Recommender

#: small, fast hyper-parameters per model (defaults for models not listed)
PARAMS: dict[str, dict[str, Any]] = {
    "als": {"factors": 8, "iterations": 10, "regularization": 0.01, "alpha": 10.0},
    "bpr": {"factors": 8, "iterations": 200, "learning_rate": 0.05},
    "lightfm": {"no_components": 8, "epochs": 30},
    "ease": {"lam": 1.0},
    "itemknn": {"k": 10, "shrinkage": 0.0},
    "faiss-knn": {"factors": 8, "iterations": 10, "regularization": 0.01, "alpha": 10.0},
    "blend": {
        "components": ("als", "content"),
        "component_params": ({"factors": 8, "iterations": 10, "alpha": 10.0}, {}),
        "weights": (0.7, 0.3),
    },
    "mf": {"factors": 4, "epochs": 10},
    "hybrid": {
        "generators": "als:10,itemknn:10,pop:10",
        "use_embeddings": False,
        "n_estimators": 20,
        "min_user_interactions": 2,
        "n_jobs": 1,
    },
    "neural": {"max_epochs": 2, "dim": 8, "hidden": (8,), "use_text": False, "fold_in_steps": 5},
}

#: collaborative models that must rank item u first for user u on the checkerboard (the
#: rating models are not in it: every checkerboard rating is 4.0, so there is no signal
#: in the ratings, only in which items were rated)
CHECKERBOARD = {"als", "bpr", "lightfm", "ease", "itemknn", "faiss-knn", "blend"}
_SMALL_ALS = {"factors": 4, "iterations": 15, "regularization": 0.1, "alpha": 10.0}
CHECKERBOARD_PARAMS: dict[str, dict[str, Any]] = {
    "als": _SMALL_ALS,
    "faiss-knn": _SMALL_ALS,
    "blend": {"component_params": (_SMALL_ALS, {})},
    "lightfm": {"no_components": 8, "epochs": 50, "use_item_features": False},
}
#: models that only rank a candidate set of their own
TWO_STAGE = {"hybrid"}
#: every registered model, including the other engineers' ``hybrid`` and ``neural``
MODELS = available_models()


def _fit(name: str, ds: Dataset, features: ItemFeatures, **extra: Any) -> Recommender:
    params = {**PARAMS.get(name, {}), **extra}
    return create_model(name, **params).fit(ds, features)


@pytest.fixture(params=MODELS)
def fitted(request: pytest.FixtureRequest, tiny: Dataset, tiny_features: ItemFeatures):
    name = request.param
    return name, _fit(name, tiny, tiny_features), tiny, tiny_features


def test_shapes_and_no_seen_items(fitted) -> None:
    name, model, ds, _ = fitted
    users = np.arange(ds.n_users)
    items, scores = model.recommend(users, n=5)
    assert items.shape == (ds.n_users, 5) and scores.shape == (ds.n_users, 5)
    assert items.dtype == np.int64 and scores.dtype == np.float32
    seen = ds.binary()
    for u in users:
        rec = items[u][items[u] >= 0]
        assert not set(rec) & set(seen[u].indices), f"{name} returned a seen item"
        assert len(set(rec)) == len(rec)
        assert np.all(np.diff(scores[u][items[u] >= 0]) <= 1e-6), "not sorted"
    # a user with fewer unseen items than n gets -1 padding, never a seen item (two-stage
    # models may pad more: they only rank their candidates)
    busy = int(np.argmax(np.diff(seen.indptr)))
    items_all, _ = model.recommend([busy], n=ds.n_items)
    assert (items_all[0] == -1).sum() >= seen[busy].nnz
    if name not in TWO_STAGE:
        assert (items_all[0] == -1).sum() == seen[busy].nnz


def test_batch_equals_single_user(fitted) -> None:
    _, model, _ds, _ = fitted
    users = np.array([3, 0, 17, 3, 29])
    items, scores = model.recommend(users, n=7)
    for row, u in enumerate(users):
        i1, s1 = model.recommend(int(u), n=7)
        np.testing.assert_array_equal(i1[0], items[row])
        np.testing.assert_allclose(s1[0], scores[row], rtol=1e-5, atol=1e-6)


def test_score_matches_recommend(fitted) -> None:
    _, model, ds, _ = fitted
    items, scores = model.recommend(np.arange(ds.n_users), n=3)
    users = np.repeat(np.arange(ds.n_users), 3)
    pair_scores = model.score(users, items.ravel())
    np.testing.assert_allclose(pair_scores, scores.ravel(), rtol=1e-4, atol=1e-5)


def test_same_seed_same_output(fitted) -> None:
    name, model, ds, features = fitted
    again = _fit(name, ds, features)
    a = model.recommend(np.arange(ds.n_users), n=5)
    b = again.recommend(np.arange(ds.n_users), n=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-6)


def test_save_load_round_trip(fitted, tmp_path) -> None:
    _name, model, ds, _ = fitted
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config == model.config
    users = np.arange(ds.n_users)
    a, b = model.recommend(users, n=6), loaded.recommend(users, n=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    pairs_u, pairs_i = np.arange(ds.n_users), np.arange(ds.n_users) % ds.n_items
    np.testing.assert_array_equal(model.score(pairs_u, pairs_i), loaded.score(pairs_u, pairs_i))
    rows = sp.csr_matrix(ds.interactions[:4])
    try:
        expected = model.recommend_for_ratings(rows, n=5)
    except FoldInNotSupported:
        return
    got = loaded.recommend_for_ratings(rows, n=5)
    np.testing.assert_array_equal(expected[0], got[0])
    np.testing.assert_allclose(expected[1], got[1], rtol=1e-5, atol=1e-6)


def test_candidates_respected(fitted) -> None:
    name, model, ds, _ = fitted
    cand = np.array([1, 5, 9, 13, 22, 30, 39])
    items, _scores = model.recommend(np.arange(ds.n_users), n=4, candidates=cand)
    valid = items[items >= 0]
    assert np.isin(valid, cand).all()
    if name in TWO_STAGE:
        return  # its full ranking covers only its own candidates
    # the same order as a full ranking restricted to the candidates
    u = 4
    full_i, _ = model.recommend(u, n=ds.n_items, exclude_seen=True)
    expected = [i for i in full_i[0] if i in set(cand)][:4]
    assert list(items[u][items[u] >= 0]) == expected


def test_unknown_user_raises(fitted) -> None:
    _, model, ds, _ = fitted
    with pytest.raises(UnknownIdError):
        model.recommend([ds.n_users], n=3)
    with pytest.raises(UnknownIdError):
        model.recommend([-1], n=3)
    with pytest.raises(UnknownIdError):
        model.score(np.array([0]), np.array([ds.n_items]))


def test_fold_in_of_training_rows(fitted) -> None:
    """New users given training rows get valid, unseen recommendations (where supported)."""
    _, model, ds, _ = fitted
    rows = sp.csr_matrix(ds.interactions[:6])
    try:
        items, _scores = model.recommend_for_ratings(rows, n=5)
    except FoldInNotSupported:
        pytest.skip("model has no fold-in")
    assert items.shape == (6, 5)
    for r in range(6):
        assert not set(items[r]) & set(rows[r].indices)


@pytest.mark.parametrize("name", sorted(CHECKERBOARD & set(available_models())))
def test_checkerboard_top_item(
    name: str, checkerboard: Dataset, checkerboard_features: ItemFeatures
) -> None:
    params = CHECKERBOARD_PARAMS.get(name, {})
    model = _fit(name, checkerboard, checkerboard_features, **params)
    items, _ = model.recommend(np.arange(8), n=1)
    np.testing.assert_array_equal(items[:, 0], np.arange(8))


#: models whose fold-in must also rank item u first for a new user with user u's ratings
FOLD_IN_CHECKERBOARD = {"als", "bpr", "lightfm", "ease", "itemknn", "faiss-knn", "blend"}


@pytest.mark.parametrize("name", sorted(FOLD_IN_CHECKERBOARD & set(available_models())))
def test_checkerboard_fold_in(
    name: str, checkerboard: Dataset, checkerboard_features: ItemFeatures
) -> None:
    params = CHECKERBOARD_PARAMS.get(name, {})
    model = _fit(name, checkerboard, checkerboard_features, **params)
    items, _ = model.recommend_for_ratings(checkerboard.interactions, n=1)
    np.testing.assert_array_equal(items[:, 0], np.arange(8))
