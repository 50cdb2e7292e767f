"""Issue 11: protocol-aware labels, the safety net, cold items, readable scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from reelrank.models import create_model, load_model
from reelrank.models.base import TrainingHint
from reelrank.models.calibration import PlattCalibrator
from reelrank.models.candidates import first_stage
from reelrank.models.hybrid_labels import holdout_mask, inner_split, random_holdout_mask
from reelrank.models.hybrid_select import choose_serving, group_ndcg, tune_blend
from reelrank.models.rerank import HybridRanker


def _fav_genre(ds) -> np.ndarray:
    """Favourite genre of each planted user (the genre of the movies rated 5)."""
    fr = ds.to_frame()
    liked = fr[fr["rating"] == 5.0]
    fav = np.full(ds.n_users, -1)
    fav[liked["user_idx"].to_numpy()] = liked["item_idx"].to_numpy() % 5
    return fav


# ---------------------------------------------------------------------------- item 1
@pytest.mark.parametrize(
    ("kind", "threshold", "split"),
    [
        ("temporal", 4.0, "temporal"),
        ("random", None, "random"),
        ("stratified", None, "stratified"),
        ("cold-items", 4.0, "items"),
        ("cold-users", 4.0, "random"),
    ],
)
def test_for_protocol_sets_label_split_and_relevance(kind, threshold, split, small_hybrid):
    model = create_model("hybrid", **small_hybrid)
    adapted = model.for_protocol(TrainingHint(kind, threshold))
    assert adapted is not model and isinstance(adapted, HybridRanker)
    assert adapted.config.label_split == split
    assert adapted.config.positive_threshold == threshold
    assert adapted.config.generators == model.config.generators  # the rest unchanged
    assert model.config.label_split == "temporal"  # the original is not modified
    assert adapted.seen_ is None  # unfitted


def test_serving_default_is_documented_temporal_4():
    cfg = HybridRanker().config
    assert (cfg.label_split, cfg.positive_threshold) == ("temporal", 4.0)
    with pytest.raises(Exception, match="label_split"):
        create_model("hybrid", label_split="by-genre")


def test_random_holdout_same_counts_as_temporal_but_not_the_latest(planted):
    rand = random_holdout_mask(planted, 0.25, 5, seed=0)
    temp = holdout_mask(planted, 0.25, 5)
    users = planted.user_index_of_entries()
    np.testing.assert_array_equal(np.bincount(users[rand]), np.bincount(users[temp]))
    assert (rand != temp).sum() > 0.5 * temp.sum()  # mostly other ratings than the latest
    np.testing.assert_array_equal(rand, random_holdout_mask(planted, 0.25, 5, seed=0))


def test_stratified_holdout_takes_a_share_of_every_item(planted):
    mask = random_holdout_mask(planted, 0.25, 2, seed=0, by="item")
    counts = planted.item_counts()
    held = np.bincount(planted.interactions.indices[mask], minlength=planted.n_items)
    np.testing.assert_array_equal(held, np.where(counts >= 2, np.ceil(counts * 0.25), 0))
    split = inner_split(planted, "stratified", ratio=0.25, min_user_interactions=5, seed=0)
    assert (split.history.item_counts() > 0).all()  # no item goes cold


def test_items_split_holds_out_whole_items_and_restricts_candidates(planted, small_hybrid):
    split = inner_split(planted, "items", ratio=0.2, min_user_interactions=5, seed=3)
    cold = split.restrict
    assert cold is not None and len(cold) == round(planted.n_items * 0.2)
    assert split.history.item_counts()[cold].sum() == 0  # no collaborative signal left
    np.testing.assert_array_equal(np.unique(split.labels.interactions.indices), cold)
    assert split.labels.n_interactions == planted.item_counts()[cold].sum()
    model = create_model("hybrid", **small_hybrid, label_split="items")
    pairs = model.build_pairs(planted)
    assert np.isin(pairs["item_idx"], model._inner_split(planted).restrict).all()
    # held-out ratings >= 4 are the relevant ones (rating 5 in the planted data)
    assert (pairs["relevant"] == (pairs["label"] == 2)).all()


def test_every_held_out_rating_is_relevant_without_threshold(planted, small_hybrid):
    model = create_model("hybrid", **small_hybrid, label_split="random", positive_threshold=None)
    pairs = model.build_pairs(planted)
    held = pairs["label"] > 0
    assert set(np.unique(pairs["label"])) == {0.0, 1.0}
    assert (pairs["relevant"] == held).all()
    # the planted 1-star ratings are relevant too under "every rating relevant"
    assert held.sum() > pairs[pairs["label"] > 0]["user_idx"].nunique()


def test_simulated_cold_items_leave_the_history_but_stay_excluded(planted):
    split = inner_split(
        planted, "temporal", ratio=0.2, min_user_interactions=5, cold_item_share=0.1, seed=0
    )
    cold = split.cold_items
    assert len(cold) == 15
    assert split.history.item_counts()[cold].sum() == 0
    # their past ratings are still never proposed (excluded), their held-out ones are labels
    dropped = planted.binary()[:, cold].sum() - split.labels.binary()[:, cold].sum()
    assert split.excluded[:, cold].sum() == dropped > 0


# ---------------------------------------------------------------------------- item 2
def test_group_ndcg_known_values():
    # group 0: positives at ranks 1 and 3, 2 relevant in all -> (1 + 1/2) / (1 + 1/log2(3))
    scores = np.array([3.0, 2.0, 1.0, 5.0, 4.0])
    group = np.array([0, 0, 0, 1, 1])
    positive = np.array([True, False, True, False, False])
    n_pos = np.array([2, 3])  # group 1 has 3 relevant items, none among its pairs
    expected0 = (1 + 0.5) / (1 + 1 / np.log2(3))
    assert group_ndcg(scores, group, positive, n_pos) == pytest.approx((expected0 + 0) / 2)
    assert group_ndcg(scores, group, positive, np.array([2, 0])) == pytest.approx(expected0)


def test_tune_blend_finds_the_informative_generator():
    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(50), 20)
    positive = rng.random(1000) < 0.1
    z = {"noise": rng.normal(size=1000), "signal": positive * 2.0 + rng.normal(size=1000) * 0.1}
    weights, _ = tune_blend(z, group, positive, np.bincount(group, weights=positive).astype(int))
    assert weights["signal"] > weights["noise"]


def test_choose_serving_keeps_a_ranker_only_when_it_wins():
    group = np.repeat(np.arange(10), 5)
    positive = np.tile([True, False, False, False, False], 10)
    n_pos = np.ones(10, dtype=int)
    good = positive.astype(float)
    g = (group, positive, n_pos)
    z = {"a": np.roll(good, 1), "b": -good}  # "a" ranks each positive second, "b" last
    win = choose_serving(good, z, z, z, z, g, g)
    assert win.mode == "ranker" and win.weights == {}
    lose = choose_serving(-good, z, z, z, z, g, g)
    assert lose.mode in ("generator:a", "blend") and lose.weights.get("a", 0) > 0
    assert lose.validation["ranker"] == pytest.approx(1 / np.log2(6))
    assert lose.validation["generator:a"] == pytest.approx(1 / np.log2(3))


def test_the_alternative_is_chosen_on_other_users_than_the_comparison():
    group = np.repeat(np.arange(10), 5)
    positive = np.tile([True, False, False, False, False], 10)
    g = (group, positive, np.ones(10, dtype=int))
    good, bad = positive.astype(float), -positive.astype(float)
    # on the other users "a" is perfect and "b" useless, so the alternative is "a" (or a
    # blend led by it); on the validation users "b" happens to be perfect and "a" ranks the
    # positives third. A ranker between the two there beats the alternative and is kept.
    fit = {"a": good, "b": bad}
    val = {"a": np.roll(good, 2) * 2.0, "b": good}
    ranker = np.where(group < 5, good, np.roll(good, 1))
    choice = choose_serving(ranker, fit, val, fit, val, g, g)
    figures = choice.validation
    assert figures["alternative"] in ("generator:a", "blend")
    assert figures["generator:b"] > figures["ranker"] > figures[figures["alternative"]]
    assert choice.mode == "ranker"


class _ShuffledLabels(HybridRanker):
    """A hybrid whose ranker learns from shuffled labels (known answer: it must fall back)."""

    def _training_labels(self, labels, rng):
        return rng.permutation(labels)


def test_ranker_trained_on_shuffled_labels_falls_back(planted, small_hybrid, tmp_path):
    params = {**small_hybrid, "generators": "itemknn:40,pop:40", "n_random_negatives": 0}
    model = _ShuffledLabels(**params).fit(planted)
    info = model.fit_info_
    assert info["serving"] != "ranker", info["validation_ndcg@10"]
    figures = info["validation_ndcg@10"]
    assert figures[figures["alternative"]] >= figures["ranker"]
    # the fallback is what is served, and save/load restores it
    users = np.arange(15)
    recs, scores = model.recommend(users, 10)
    path = model.save(tmp_path / "fallback")
    manifest = json.loads((path / "model.json").read_text())
    assert manifest["fit_info"]["serving"] == info["serving"]
    loaded = load_model(path)
    assert loaded.serving_.mode == info["serving"]
    r2, s2 = loaded.recommend(users, 10)
    np.testing.assert_array_equal(recs, r2)
    np.testing.assert_allclose(scores, s2, rtol=1e-6)
    # explanations of a blend sum to its score too
    item = int(recs[0, 0])
    parts = loaded.explain_features(0, item)
    assert sum(v for _, v in parts) == pytest.approx(float(scores[0, 0]), abs=1e-4)


def test_a_ranker_that_learns_the_planted_signal_is_kept(planted, small_hybrid):
    # only the genre profile reveals the taste: popularity alone is far worse
    model = create_model("hybrid", **{**small_hybrid, "generators": "pop:150"}).fit(planted)
    info = model.fit_info_
    assert info["serving"] == "ranker", info["validation_ndcg@10"]
    assert info["validation_ndcg@10"]["ranker"] > info["validation_ndcg@10"]["generator:pop"]
    # kept: served as the average of the cross-fitting folds' rankers ...
    assert info["n_bagged"] == model.config.n_folds == len(model.ranker_.members())
    assert not info["refit_on_all_label_users"]
    # ... or, without bagging, retrained on every label user with the folds' round count
    refit = create_model(
        "hybrid", **{**small_hybrid, "generators": "pop:150", "ranker_bagging": False}
    ).fit(planted)
    assert refit.fit_info_["serving"] == "ranker"
    assert refit.fit_info_["refit_on_all_label_users"]
    assert refit.ranker_.best_iteration == refit.fit_info_["n_trees"]
    assert len(refit.ranker_.members()) == 1


# ---------------------------------------------------------------------------- item 3
def test_first_stage_ranks_a_small_restricted_catalogue_whole():
    n_items = 40
    restrict = np.arange(10, 20)
    zeros = {"cf": lambda: np.zeros((2, n_items), np.float32)}  # no signal for cold items
    seen = sp.csr_matrix(([1.0], ([0], [12])), shape=(2, n_items))
    fs = first_stage(zeros, {"cf": 3}, 2, n_items, seen=seen, restrict=restrict)
    assert np.bincount(fs.row).tolist() == [3, 3]  # top-3 of arbitrary ties
    fs = first_stage(zeros, {"cf": 3}, 2, n_items, seen=seen, restrict=restrict, restrict_all=True)
    assert fs.item_idx[fs.row == 0].tolist() == [i for i in restrict if i != 12]
    assert fs.item_idx[fs.row == 1].tolist() == restrict.tolist()


def test_cold_items_are_ranked_by_content_when_candidates_are_restricted(planted, small_hybrid):
    cold = np.arange(30)  # 6 movies of each genre lose every rating
    train = planted.with_interactions(~np.isin(planted.interactions.indices, cold))
    assert train.item_counts()[cold].sum() == 0
    model = create_model(
        "hybrid", **{**small_hybrid, "generators": "itemknn:30,pop:30"}
    ).for_protocol(TrainingHint("cold-items", 4.0))
    model.fit(train)
    users = np.arange(40)
    recs, _ = model.recommend(users, 5, candidates=cold)
    assert (recs >= 0).all()  # the collaborative generators alone would propose nothing useful
    assert np.isin(recs, cold).all()
    fav = _fav_genre(planted)
    hit = (recs % 5) == fav[users][:, None]
    assert hit.mean() >= 0.8, hit.mean()  # chance is 0.2


# ---------------------------------------------------------------------------- item 6
def test_platt_calibration_recovers_a_known_logistic():
    rng = np.random.default_rng(1)
    s = rng.normal(size=20_000)
    y = rng.random(20_000) < 1 / (1 + np.exp(-(2.0 * s - 1.0)))
    cal = PlattCalibrator().fit(s, y)
    assert cal.slope == pytest.approx(2.0, rel=0.1)
    assert cal.intercept == pytest.approx(-1.0, abs=0.1)
    # anti-correlated scores still give an order-preserving map
    anti = PlattCalibrator().fit(-s, y)
    assert anti.slope > 0
    p = anti.transform(np.array([-1.0, 0.0, 1.0]))
    assert (np.diff(p) >= 0).all()


def test_display_scores_are_probabilities_in_the_same_order(planted, small_hybrid, tmp_path):
    model = create_model("hybrid", **small_hybrid).fit(planted)
    _, raw = model.recommend(np.arange(20), 10)
    shown = model.display_scores(raw)
    assert shown is not None and shown.shape == raw.shape
    assert ((shown >= 0) & (shown <= 1)).all()
    ok = np.isfinite(raw)
    order_raw = np.argsort(-raw[ok], kind="stable")
    assert (np.diff(shown[ok][order_raw]) <= 1e-12).all()
    assert model.display_scores(np.array([-np.inf]))[0] == 0.0
    loaded = load_model(model.save(tmp_path / "h"))
    np.testing.assert_allclose(loaded.display_scores(raw), shown)
    assert "calibration" in model.fit_info_


def test_the_ranker_never_trains_on_positives_no_generator_proposed(
    planted, small_hybrid, monkeypatch
):
    import reelrank.models.rerank as rerank

    seen = []
    real = rerank.train_ranker

    def spy(cfg, train, val, names, labels, **kw):
        seen.append(train)
        return real(cfg, train, val, names, labels, **kw)

    monkeypatch.setattr(rerank, "train_ranker", spy)
    model = create_model("hybrid", **{**small_hybrid, "generators": "pop:10"})
    pairs = model.build_pairs(planted)
    assert ((pairs["label"] > 0) & ~pairs["in_candidates"]).any()  # exported for analysis
    model.fit(planted)
    for frame in seen:  # training (and the refit on every label user)
        assert not ((frame["label"] > 0) & ~frame["in_candidates"]).any()
        assert (~frame["in_candidates"]).any()  # random negatives stay


@pytest.mark.parametrize(
    ("threshold", "feedback", "graded"), [(None, "binary", False), (4.0, "auto", True)]
)
def test_generators_follow_the_protocols_relevance_rule(
    threshold, feedback, graded, planted, small_hybrid
):
    """Where every rating is relevant the implicit generators learn from binary feedback,
    exactly as each of them does when it is evaluated alone (``Recommender.for_protocol``)."""
    params = {**small_hybrid, "generators": "als:20,pop:10", "use_embeddings": False}
    model = create_model("hybrid", **params).for_protocol(TrainingHint("stratified", threshold))
    model.fit(planted)
    als = model.generator_.models_["als"]
    alone = create_model("als").for_protocol(TrainingHint("stratified", threshold))
    assert als.config.feedback == alone.config.feedback == feedback
    assert als.preference_.graded is graded
