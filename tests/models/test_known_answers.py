"""Model-specific known answers, computed by hand or by an independent method."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.features.item_features import ItemFeatures
from reelrank.models import create_model, load_model
from reelrank.models.base import Recommender
from reelrank.models.blend import normalise_scores

THIRD = 1.0 / 3.0


# ------------------------------------------------------------------------------ ALS
@pytest.mark.parametrize("weighting", ["none", "bm25", "tfidf"])
def test_als_fold_in_equals_trained_user_factors(tiny: Dataset, weighting: str) -> None:
    model = create_model("als", factors=6, iterations=8, weighting=weighting).fit(tiny)
    folded = model.fold_in(tiny.interactions)
    active = tiny.active_users()
    np.testing.assert_allclose(folded[active], model.user_factors_[active], rtol=1e-3, atol=1e-4)
    # and the scores of a new user equal those of the identical trained user
    np.testing.assert_allclose(
        model.score_ratings(tiny.interactions[[5]])[0],
        model._score_users(np.array([5]))[0],
        rtol=1e-3,
        atol=1e-4,
    )


def test_als_fold_in_matches_implicit_recalculate_user(tiny: Dataset) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    model = create_model("als", factors=5, iterations=5, alpha=4.0, feedback="binary").fit(tiny)
    ref = AlternatingLeastSquares(factors=5, regularization=model.config.regularization, alpha=4.0)
    ref.item_factors = model.item_factors_.copy()
    ref.user_factors = model.user_factors_.copy()
    rows = sp.csr_matrix(tiny.interactions[:3])
    rows.data[:] = 1.0
    expected = ref.recalculate_user(np.arange(3), rows)
    np.testing.assert_allclose(model.fold_in(rows), expected, rtol=1e-3, atol=1e-4)


def test_als_graded_confidences_by_hand_and_dislikes_as_implicit_negatives(
    tiny: Dataset,
) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    model = create_model("als", factors=5, iterations=5, alpha=4.0).fit(tiny)
    # scale 0.5..5, threshold 3.5, gain 1: 5 -> 2, 3.5 -> 1, 0.5 -> -1, 2 -> -0.5
    row = sp.csr_matrix(np.array([[5.0, 3.5, 0.5, 2.0] + [0.0] * 36], np.float32))
    conf = model._confidence(row)
    np.testing.assert_allclose(conf.data, [4 * 2.0, 4 * 1.0, -(1 + 4 * 1.0), -(1 + 4 * 0.5)])
    # implicit reads a negative entry as preference 0 with confidence |c|: same solve
    ref = AlternatingLeastSquares(factors=5, regularization=model.config.regularization, alpha=1.0)
    ref.item_factors = model.item_factors_.copy()
    ref.user_factors = model.user_factors_.copy()
    expected = ref.recalculate_user(np.arange(1), conf)
    np.testing.assert_allclose(model.fold_in(row), expected, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------------ EASE
def _ease_3x3(build) -> Dataset:
    # users: {0,1}, {1,2}, {0}, {2}  ->  X^T X = [[2,1,0],[1,2,1],[0,1,2]]
    return build([0, 0, 1, 1, 2, 3], [0, 1, 1, 2, 0, 2])


def test_ease_closed_form_by_hand(build) -> None:
    model = create_model("ease", lam=1.0).fit(_ease_3x3(build))
    # (G + I)^-1 = [[8,-3,1],[-3,9,-3],[1,-3,8]] / 21;  B_ij = -P_ij / P_jj, B_ii = 0
    expected = np.array(
        [[0.0, THIRD, -1 / 8], [3 / 8, 0.0, 3 / 8], [-1 / 8, THIRD, 0.0]], dtype=np.float32
    )
    np.testing.assert_allclose(model.weights_, expected, atol=1e-5)
    # user 2 rated item 0 only: scores = e_0 @ B
    np.testing.assert_allclose(model._score_users(np.array([2]))[0], expected[0], atol=1e-5)
    # fold-in is the same row product
    np.testing.assert_allclose(
        model.score_ratings(sp.csr_matrix(np.array([[5.0, 0, 0]])))[0], expected[0], atol=1e-5
    )


def test_ease_skips_unrated_items(build) -> None:
    ds = build([0, 0, 1, 1, 2, 3], [0, 1, 1, 3, 0, 3], n_items=5)  # items 2 and 4 unrated
    model = create_model("ease", lam=1.0).fit(ds)
    assert model.weights_.shape == (3, 3)
    np.testing.assert_array_equal(model.active_items_, [0, 1, 3])
    scores = model._score_users(np.arange(4))
    assert np.all(scores[:, [2, 4]] == 0)
    # same weights as the 3-item problem on the active columns
    small = create_model("ease", lam=1.0).fit(_ease_3x3(build))
    np.testing.assert_allclose(model.weights_, small.weights_, atol=1e-6)


def test_ease_refuses_large_catalogue(build) -> None:
    model = create_model("ease", max_items=2)
    with pytest.raises(ConfigError) as err:
        model.fit(_ease_3x3(build))
    msg = str(err.value)
    assert "3 rated items" in msg and "max_items=2" in msg
    assert "GiB" in msg and "itemknn" in msg and "als" in msg


# ------------------------------------------------------------------------------ itemknn
def test_itemknn_similarity_by_hand(build) -> None:
    # u0: {0,1}, u1: {0,1,2}, u2: {1}; norms sqrt2, sqrt3, 1; dots 01=2, 02=1, 12=1
    ds = build([0, 0, 1, 1, 1, 2], [0, 1, 0, 1, 2, 1])
    model = create_model("itemknn", k=2, shrinkage=1.0).fit(ds)
    s = model.similarity_.toarray()
    s01, s02, s12 = 2 / (np.sqrt(6) + 1), 1 / (np.sqrt(2) + 1), 1 / (np.sqrt(3) + 1)
    expected = np.array([[0, s01, s02], [s01, 0, s12], [s02, s12, 0]])
    np.testing.assert_allclose(s, expected, rtol=1e-6)
    # k=1 keeps only the best neighbour of each row (s02 = 0.414 > s12 = 0.366)
    top1 = create_model("itemknn", k=1, shrinkage=1.0).fit(ds).similarity_.toarray()
    np.testing.assert_allclose(top1, [[0, s01, 0], [s01, 0, 0], [s02, 0, 0]], rtol=1e-6)
    # user 2 rated item 1: scores = row @ S
    np.testing.assert_allclose(model._score_users(np.array([2]))[0], expected[1], rtol=1e-6)


# ------------------------------------------------------------------------------ pop / random
def test_popularity_by_hand(build) -> None:
    day = 86_400
    ds = build(
        [0, 1, 2, 0, 1, 2],
        [0, 0, 0, 1, 1, 2],
        rating=[1, 1, 1, 5, 5, 5],
        timestamp=[0, 0, 0, 9 * day, 10 * day, 10 * day],
        n_items=4,
    )
    count = create_model("pop").fit(ds)
    np.testing.assert_array_equal(count.item_scores_, [3, 2, 1, 0])
    # damped mean with mu = 3, damping 1: item0 (3+3)/4, item1 (10+3)/3, item2 (5+3)/2
    rating = create_model("pop", by="rating", damping=1.0).fit(ds)
    np.testing.assert_allclose(rating.item_scores_[:3], [1.5, 13 / 3, 4.0], rtol=1e-6)
    assert rating.item_scores_[3] < rating.item_scores_.min(initial=0, where=[1, 1, 1, 0]) + 1e-9
    # a 2-day window keeps only the last three interactions
    window = create_model("pop", window_days=2).fit(ds)
    np.testing.assert_array_equal(window.item_scores_, [0, 2, 1, 0])


def test_random_is_uniform_and_seeded(tiny: Dataset) -> None:
    a = create_model("random", seed=1).fit(tiny)._score_users(np.arange(30))
    b = create_model("random", seed=1).fit(tiny)._score_users(np.arange(30))
    c = create_model("random", seed=2).fit(tiny)._score_users(np.arange(30))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0 <= a.min() and a.max() < 1 and abs(a.mean() - 0.5) < 0.05


# ------------------------------------------------------------------------------ rating models
def test_bias_model_one_sweep_by_hand(build) -> None:
    # r(u0,i0)=5, r(u0,i1)=4, r(u1,i0)=3; mu = 4; reg_user = reg_item = 1
    ds = build([0, 0, 1], [0, 1, 0], rating=[5, 4, 3])
    model = create_model("bias", reg_user=1.0, reg_item=1.0, sweeps=1).fit(ds)
    # b_u0 = (1 + 0) / 3, b_u1 = -1 / 2
    np.testing.assert_allclose(model.user_bias_, [THIRD, -0.5], rtol=1e-6)
    # b_i0 = ((1 - 1/3) + (-1 + 1/2)) / 3 = 1/18, b_i1 = (0 - 1/3) / 2 = -1/6
    np.testing.assert_allclose(model.item_bias_, [1 / 18, -1 / 6], rtol=1e-6)
    np.testing.assert_allclose(model.predict([0, 1], [0, 1]), [4 + THIRD + 1 / 18, 4 - 0.5 - 1 / 6])
    # fold-in of a new user who rated item 1 with 5: b = (5 - 4 + 1/6) / (1 + 1)
    np.testing.assert_allclose(model.fold_in(sp.csr_matrix([[0, 5.0]])), [7 / 12], rtol=1e-6)


def test_rating_predictions_clipped_and_fall_back(build) -> None:
    ds = build([0, 0, 1, 2], [0, 1, 0, 1], rating=[5, 5, 5, 0.5], n_users=4, n_items=3)
    for name in ("bias", "mf"):
        model = create_model(name, **({"reg_user": 0, "reg_item": 0} if name == "bias" else {}))
        model.fit(ds)
        pred = model.predict(np.repeat(np.arange(4), 3), np.tile(np.arange(3), 4))
        assert pred.min() >= 0.5 and pred.max() <= 5.0
        # user 3 and item 2 have no ratings: predictions fall back to mu + the other bias
        mu = model.global_mean_
        np.testing.assert_allclose(model.predict([3], [2]), [mu], rtol=1e-6)
        np.testing.assert_allclose(
            model.predict([3], [0]), np.clip([mu + model.item_bias_[0]], 0.5, 5), rtol=1e-6
        )


def test_mf_beats_bias_on_planted_low_rank() -> None:
    import pandas as pd

    from reelrank.data.dataset import IdMap

    rng = np.random.default_rng(0)
    n_u, n_i = 60, 50
    p, q = rng.normal(size=(n_u, 2)), rng.normal(size=(n_i, 2))
    full = np.clip(3 + p @ q.T, 1, 5)
    mask = rng.random((n_u, n_i)) < 0.5
    u, i = np.nonzero(mask)
    test_u, test_i = np.nonzero(~mask)
    movies = pd.DataFrame(
        {"movie_id": np.arange(n_i), "title": "x", "year": pd.array([1990] * n_i, "Int32"),
         "genres": [[] for _ in range(n_i)]}
    )  # fmt: skip
    ds = Dataset.from_arrays(
        u, i, full[u, i], np.zeros(len(u), np.int64), users=IdMap(np.arange(n_u)),
        items=IdMap(np.arange(n_i)), movies=movies, rating_scale=(1.0, 5.0),
    )  # fmt: skip
    truth = full[test_u, test_i]
    rmse = {}
    for name, params in [("bias", {}), ("mf", {"factors": 4, "epochs": 60})]:
        model = create_model(name, **params).fit(ds)
        rmse[name] = float(np.sqrt(np.mean((model.predict(test_u, test_i) - truth) ** 2)))
    assert rmse["mf"] < 0.8 * rmse["bias"], rmse


# ------------------------------------------------------------------------------ content
def test_content_cosine_by_hand(build) -> None:
    # items: 0 = [1,0], 1 = [1,1]/sqrt2, 2 = [0,1]; user 0 rated item 0 only
    ds = build([0, 1, 1], [0, 1, 2], rating=[4, 5, 3])
    tokens = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32))
    features = ItemFeatures(sparse=tokens, names=np.array(["genre:a", "genre:b"]))
    model = create_model("content", kind="tokens").fit(ds, features)
    np.testing.assert_allclose(model._score_users(np.array([0]))[0], [1, 2**-0.5, 0], atol=1e-6)
    # user 1 centred weights: +1 on item 1, -1 on item 2 -> profile [1,1]/sqrt2 - [0,1]
    prof = np.array([2**-0.5, 2**-0.5 - 1])
    prof /= np.linalg.norm(prof)
    items = np.array([[1, 0], [2**-0.5, 2**-0.5], [0, 1]])
    np.testing.assert_allclose(model._score_users(np.array([1]))[0], items @ prof, atol=1e-6)
    assert model.feature_blocks() == set()
    assert create_model("content", kind="embedding").feature_blocks() == {"embedding"}


# ------------------------------------------------------------------------------ faiss-knn
@pytest.mark.parametrize(
    "params",
    [
        {"source": "content", "kind": "embedding", "weighting": "rating"},
        {"source": "als", "factors": 6, "iterations": 5, "regularization": 0.01, "alpha": 10.0},
        {"source": "content", "kind": "embedding", "hnsw_min_items": 10, "ef_search": 64},
    ],
)
def test_faiss_knn_equals_brute_force(
    tiny: Dataset, tiny_features: ItemFeatures, params: dict
) -> None:
    model = create_model("faiss-knn", **params).fit(tiny, tiny_features)
    users = np.arange(tiny.n_users)
    got_i, got_s = model.recommend(users, n=8)
    exp_i, exp_s = Recommender.recommend(model, users, n=8)  # brute force via the base class
    np.testing.assert_allclose(got_s, exp_s, atol=1e-5)
    np.testing.assert_array_equal(got_i, exp_i)
    # brute force by hand for one user: cosine to the normalised mean of rated items
    v = model.item_vectors_
    row = tiny.interactions[3]
    w = row.data if params.get("weighting") == "rating" else np.ones(row.nnz)
    q = (w[:, None] * v[row.indices]).sum(0)
    s = v @ (q / np.linalg.norm(q))
    s[row.indices] = -np.inf
    np.testing.assert_array_equal(got_i[3], np.argsort(-s, kind="stable")[:8])
    # fold-in through the index equals brute-force fold-in
    rows = sp.csr_matrix(tiny.interactions[:5])
    np.testing.assert_array_equal(
        model.recommend_for_ratings(rows, n=6)[0],
        Recommender.recommend_for_ratings(model, rows, n=6)[0],
    )


# ------------------------------------------------------------------------------ blend
def test_normalise_scores_known_values() -> None:
    s = np.array([[1.0, 2.0, 3.0, -np.inf], [5.0, 5.0, 5.0, 5.0]])
    np.testing.assert_allclose(normalise_scores(s, "minmax"), [[0, 0.5, 1, 0], [0, 0, 0, 0]])
    z = np.sqrt(1.5)
    np.testing.assert_allclose(
        normalise_scores(s, "zscore"), [[-z, 0, z, 0], [0, 0, 0, 0]], rtol=1e-6
    )
    np.testing.assert_allclose(
        normalise_scores(np.array([[3.0, 1.0, 2.0]]), "rank"), [[1.0, 0.0, 0.5]]
    )


def test_blend_combines_and_tunes(checkerboard: Dataset, build, tmp_path) -> None:
    # train without item u for user u; validation = item u: itemknn is perfect, random is not
    model = create_model(
        "blend", components=("itemknn", "random"), weights=(0.5, 0.5), normalise="minmax"
    ).fit(checkerboard)
    comp = model.component_scores(np.arange(8))
    assert comp.shape == (2, 8, 8)
    np.testing.assert_allclose(
        model._score_users(np.arange(8)), 0.5 * comp[0] + 0.5 * comp[1], rtol=1e-6
    )
    validation = build(np.arange(8), np.arange(8), n_users=8, n_items=8)
    result = model.tune_weights(validation, grid=[(0.0, 1.0), (0.9, 0.1), (0.2, 0.8)], k=1)
    scores = dict(result["results"])
    assert scores[(0.9, 0.1)] == pytest.approx(1.0)
    assert scores[(0.0, 1.0)] < 1.0
    assert result["weights"] == (0.9, 0.1) and model.config.weights == (0.9, 0.1)
    # the tuned weights survive save/load
    model.save(tmp_path / "b")
    loaded = load_model(tmp_path / "b")
    assert loaded.config.weights == (0.9, 0.1)
    assert [c.name for c in loaded.components_] == ["itemknn", "random"]


def test_blend_rejects_bad_config() -> None:
    with pytest.raises(ConfigError, match="at least two"):
        create_model("blend", components=("als",))
    with pytest.raises(ConfigError, match="weights"):
        create_model("blend", components=("als", "pop"), weights=(1.0,))
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("blend", components=("als", "nope"))


# ------------------------------------------------------------------------------ lightfm
def test_lightfm_user_features(tiny: Dataset, tiny_features: ItemFeatures) -> None:
    from dataclasses import replace

    import pandas as pd

    from reelrank.models.lightfm import user_feature_matrix

    info = pd.DataFrame(
        {
            "user_id": np.arange(1, 31),
            "gender": ["M", "F"] * 15,
            "occupation": ["a", "b", "c"] * 10,
            "age": [18, 25, 35, 47, 52, None] * 5,
        }
    )
    feats = user_feature_matrix(info, 30)
    # identity (30) + gender (2) + occupation (3) + age decades 10..50 (5); rows sum to 1
    assert feats.shape == (30, 40)
    np.testing.assert_allclose(np.asarray(feats.sum(axis=1)).ravel(), 1.0, rtol=1e-6)
    assert feats[5].nnz == 3  # unknown age: identity + gender + occupation only
    assert user_feature_matrix(None, 30).shape == (30, 30)
    ds = replace(tiny, user_info=info)
    model = create_model("lightfm", no_components=4, epochs=3, use_user_features=True)
    model.fit(ds, tiny_features)
    assert model.user_embeddings_.shape == (40, 4)
    # items get identity + token features
    assert model.item_features_.shape == (40, 40 + len(tiny_features.names))


def test_lightfm_cold_item_scored_from_its_features(
    checkerboard: Dataset, checkerboard_features: ItemFeatures
) -> None:
    # drop every rating of item 3: with item features it stays close to its genre block
    ds = checkerboard.with_interactions(checkerboard.interactions.indices != 3)
    model = create_model("lightfm", no_components=8, epochs=50).fit(ds, checkerboard_features)
    items, _ = model.recommend([0, 1, 2], n=1, candidates=np.array([3, 4, 5, 6, 7]))
    np.testing.assert_array_equal(items[:, 0], [3, 3, 3])


def test_lightfm_content_only_cold_item_equals_its_warm_twin(
    checkerboard: Dataset, checkerboard_features: ItemFeatures
) -> None:
    # item_identity=False: items 0..3 share the tokens (genre A, same decade), so item 3,
    # which nobody rated, gets exactly the representation of its rated twins 0..2
    ds = checkerboard.with_interactions(checkerboard.interactions.indices != 3)
    model = create_model("lightfm", no_components=8, epochs=50, item_identity=False)
    model.fit(ds, checkerboard_features)
    n_tokens = len(checkerboard_features.names)
    assert model.item_features_.shape == (8, 8 + n_tokens)
    assert model.item_features_[:, :8].nnz == 0  # no identity column for items with tokens
    np.testing.assert_allclose(model.item_vectors_[3], model.item_vectors_[0], atol=1e-6)
    np.testing.assert_allclose(model.item_bias_[3], model.item_bias_[0], atol=1e-6)
    # block A users rank the cold item above every block B item, block B users below theirs
    items, _ = model.recommend([0, 1, 2], n=1, candidates=np.array([3, 4, 5, 6, 7]))
    np.testing.assert_array_equal(items[:, 0], [3, 3, 3])
    items, _ = model.recommend([4, 5], n=1, candidates=np.array([3, 4, 5]))
    np.testing.assert_array_equal(items[:, 0], [4, 5])
    # an item without any token keeps its identity (no zero row)
    from dataclasses import replace

    bare = replace(checkerboard_features, sparse=sp.csr_matrix(
        checkerboard_features.sparse.multiply(
            (np.arange(8) != 7).astype(np.float32)[:, None])))  # fmt: skip
    model2 = create_model("lightfm", no_components=4, epochs=2, item_identity=False)
    model2.fit(ds, bare)
    assert model2.item_features_[7, 7] == 1.0 and model2.item_features_[7].nnz == 1


def test_lightfm_item_identity_needs_item_features() -> None:
    with pytest.raises(ValueError, match="item_identity=False needs use_item_features"):
        create_model("lightfm", item_identity=False, use_item_features=False)


def test_content_similar_items_for_unrated_item(
    checkerboard: Dataset, checkerboard_features: ItemFeatures
) -> None:
    ds = checkerboard.with_interactions(checkerboard.interactions.indices != 3)
    model = create_model("content").fit(ds, checkerboard_features)
    items, _ = model.similar_items(3, n=3)
    assert set(items[0]) == {0, 1, 2}  # the same genre block


@pytest.mark.parametrize("loss", ["warp", "bpr", "logistic", "warp-kos"])
def test_lightfm_losses_fit(loss: str, tiny: Dataset, tiny_features: ItemFeatures) -> None:
    model = create_model("lightfm", loss=loss, no_components=4, epochs=2).fit(tiny, tiny_features)
    items, scores = model.recommend(np.arange(3), n=4)
    assert (items >= 0).all() and np.isfinite(scores).all()


# ------------------------------------------------------------------------------ config errors
@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("content", {}, "needs item features"),
        ("lightfm", {}, "use_item_features=True needs item features"),
        ("faiss-knn", {"source": "content"}, "source='content' needs item features"),
    ],
)
def test_missing_features_is_a_clear_error(
    name: str, params: dict, message: str, tiny: Dataset
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_model(name, **params).fit(tiny)


def test_missing_feature_block_is_a_clear_error(tiny: Dataset) -> None:
    features = ItemFeatures(
        sparse=sp.csr_matrix((tiny.n_items, 1), dtype=np.float32), names=np.array(["genre:x"])
    )
    with pytest.raises(ConfigError, match="no feature block 'embedding'"):
        create_model("content", kind="embedding").fit(tiny, features)
    with pytest.raises(ConfigError, match="no TF-IDF block"):
        create_model("content").fit(tiny, features)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("pop", {"by": "votes"}),
        ("itemknn", {"k": 0}),
        ("als", {"weighting": "idf"}),
        ("bpr", {"learning_rate": 0}),
        ("lightfm", {"loss": "hinge"}),
        ("ease", {"lam": 0}),
        ("content", {"weighting": "max"}),
        ("faiss-knn", {"source": "svd"}),
        ("blend", {"normalise": "softmax"}),
        ("bias", {"sweeps": 0}),
        ("mf", {"learning_rate": -1}),
        ("random", {"seed": -1}),
    ],
)
def test_invalid_hyper_parameters(name: str, params: dict) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        create_model(name, **params)


# ------------------------------------------------------------------------------ preference
def _three_blocks(build) -> Dataset:
    # 30 users in three taste blocks of 4 films (0-3, 4-7, 8-11); each user rates the 4
    # films of its block, 4 or 5 stars
    users, items, ratings = [], [], []
    for u in range(30):
        for j in range(4):
            users.append(u)
            items.append(4 * (u % 3) + j)
            ratings.append(5.0 if (u + j) % 2 else 4.0)
    return build(users, items, ratings, n_users=30, n_items=12)


_PREFERENCE_MODELS = [
    ("als", {"factors": 4, "iterations": 10, "regularization": 0.1}),
    ("bpr", {"factors": 4, "iterations": 200, "learning_rate": 0.05}),
    ("lightfm", {"no_components": 4, "epochs": 30, "use_item_features": False}),
    ("itemknn", {"k": 11, "shrinkage": 0.0}),
    ("ease", {"lam": 10.0}),
]


def _row(ratings: dict[int, float], n_items: int = 12) -> sp.csr_matrix:
    return sp.csr_matrix(
        (list(ratings.values()), ([0] * len(ratings), list(ratings))),
        shape=(1, n_items), dtype=np.float32,
    )  # fmt: skip


def _ranks(model: Recommender, ratings: dict[int, float], n_items: int = 12) -> np.ndarray:
    items, _ = model.recommend_for_ratings(_row(ratings, n_items), n=n_items - len(ratings))
    ranks = np.full(n_items, -1)
    ranks[items[0][items[0] >= 0]] = np.arange(int((items[0] >= 0).sum()))
    return ranks


@pytest.mark.parametrize(("name", "params"), _PREFERENCE_MODELS)
def test_low_rating_pushes_its_neighbours_down(build, name: str, params: dict) -> None:
    ds = _three_blocks(build)
    model = create_model(name, **params).fit(ds)
    assert model.preference.graded
    both_liked, b_hated = {0: 5.0, 4: 5.0}, {0: 5.0, 4: 0.5}  # A = film 0, B = film 4
    liked, hated = _ranks(model, both_liked), _ranks(model, b_hated)
    assert not np.array_equal(np.argsort(liked)[2:8], np.argsort(hated)[2:8])  # another top 6
    b_neighbours, neutral = [5, 6, 7], [8, 9, 10, 11]
    # liked B: its block ranks above the films of the third block
    assert liked[b_neighbours].max() < liked[neutral].min()
    # hated B: every neighbour of B scores lower (below 0) and ranks lower on average,
    # and A's block fills the top three
    s_liked = model.score_ratings(_row(both_liked))[0]
    s_hated = model.score_ratings(_row(b_hated))[0]
    assert (s_hated[b_neighbours] < s_liked[b_neighbours]).all()
    assert (s_hated[b_neighbours] < 0).all()
    assert hated[b_neighbours].mean() > liked[b_neighbours].mean()
    assert sorted(hated[[1, 2, 3]]) == [0, 1, 2]
    if name in ("itemknn", "ease"):  # linear in the weights: the films of the third
        # block score 0, B's neighbours below them
        assert hated[b_neighbours].min() > hated[neutral].max()


@pytest.mark.parametrize(("name", "params"), _PREFERENCE_MODELS)
def test_binary_feedback_ignores_the_rating(build, name: str, params: dict) -> None:
    ds = _three_blocks(build)
    model = create_model(name, feedback="binary", **params).fit(ds)
    assert not model.preference.graded
    np.testing.assert_array_equal(_ranks(model, {0: 5.0, 4: 5.0}), _ranks(model, {0: 5.0, 4: 0.5}))


def test_preference_weights_by_hand() -> None:
    from reelrank.models._preference import Preference

    pref = Preference(graded=True, like_threshold=3.5, rating_gain=1.0, scale=(0.5, 5.0))
    r = np.array([5.0, 4.25, 3.5, 3.0, 0.5])
    np.testing.assert_allclose(pref.weights(r), [2.0, 1.5, 1.0, -1 / 6, -1.0], rtol=1e-6)
    excl = Preference(graded=True, dislikes="exclude", scale=(0.5, 5.0))
    m = excl.apply(sp.csr_matrix(r[None, :].astype(np.float32)))
    np.testing.assert_array_equal(m.indices, [0, 1, 2])  # dislikes carry no evidence
    # one distinct rating value (clicks): binary whatever the setting
    from reelrank.models._preference import PreferenceConfig

    assert not Preference.fit(PreferenceConfig(), np.ones(5), (0.5, 5.0)).graded
    assert Preference.fit(PreferenceConfig(), r, (0.5, 5.0)).graded
    assert not Preference.fit(PreferenceConfig(feedback="binary"), r, (0.5, 5.0)).graded


@pytest.mark.parametrize("name", ["als", "bpr", "itemknn", "ease"])
def test_preference_survives_save_load_and_old_artifacts_stay_binary(
    tiny: Dataset, name: str, tmp_path
) -> None:
    model = create_model(name, **({"iterations": 3} if name in ("als", "bpr") else {}))
    model.fit(tiny)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.preference == model.preference and loaded.preference.graded
    rows = tiny.interactions[:4]
    np.testing.assert_allclose(loaded.score_ratings(rows), model.score_ratings(rows), atol=1e-5)
    # an artifact written before the transform existed has no "preference" array
    state = dict(np.load(tmp_path / "m" / "state.npz"))
    state.pop("preference")
    np.savez(tmp_path / "m" / "state.npz", **state)
    assert not load_model(tmp_path / "m").preference.graded


def test_invalid_preference_options() -> None:
    for params in ({"feedback": "stars"}, {"dislikes": "ignore"}, {"rating_gain": -1.0}):
        with pytest.raises(ConfigError):
            create_model("als", **params)


@pytest.mark.parametrize("name", ["als", "bpr", "lightfm", "itemknn", "ease"])
def test_every_rating_relevant_protocol_gets_binary_feedback(name: str) -> None:
    from reelrank.models.base import TrainingHint

    model = create_model(name)
    assert model.config.feedback == "auto"
    every = model.for_protocol(TrainingHint("stratified", positive_threshold=None))
    assert every is not model and every.config.feedback == "binary"
    assert model.for_protocol(TrainingHint("temporal", positive_threshold=4.0)) is model
    explicit = create_model(name, feedback="graded")
    assert explicit.for_protocol(TrainingHint("stratified", positive_threshold=None)) is explicit


def test_fit_info_records_the_preference(tiny: Dataset) -> None:
    model = create_model("als", iterations=2).fit(tiny)
    assert model.fit_info_["preference"] == {
        "graded": True, "like_threshold": 3.5, "dislikes": "negative", "rating_gain": 1.0,
        "scale": [0.5, 5.0],
    }  # fmt: skip
