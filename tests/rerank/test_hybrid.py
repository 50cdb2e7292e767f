"""The hybrid re-ranker: planted-signal known answer, protocol behaviour, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from reelrank.data.split import temporal_split
from reelrank.errors import ArtifactError
from reelrank.models import create_model, load_model


def _ndcg10(model, train, test) -> float:
    rel = test.binary(4.0)
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    recs, _ = model.recommend(users, 10)
    disc = 1.0 / np.log2(np.arange(2, 12))
    out = []
    for row, u in enumerate(users):
        pos = set(rel.indices[rel.indptr[u] : rel.indptr[u + 1]].tolist())
        gains = np.array([r in pos for r in recs[row]], dtype=float)
        ideal = disc[: min(len(pos), 10)].sum()
        out.append((gains * disc).sum() / ideal)
    return float(np.mean(out))


@pytest.mark.parametrize("ranker", ["lgbm", "logistic"])
def test_ranker_beats_first_stage_on_planted_content_signal(planted, small_hybrid, ranker):
    split = temporal_split(planted, test_ratio=0.2, val_ratio=0.0)
    params = {**small_hybrid, "generators": "pop:150", "ranker": ranker}
    hybrid = create_model("hybrid", **params).fit(split.train)
    pop = create_model("pop").fit(split.train)
    h, p = _ndcg10(hybrid, split.train, split.test), _ndcg10(pop, split.train, split.test)
    # only the genre profile reveals the taste: the re-ranker must find it
    assert h > 2 * p, (h, p)
    top = hybrid.feature_importances()["feature"].iloc[:3].tolist()
    # the genre profile's features (or their values relative to the user's candidates)
    assert {t.removesuffix("_urel") for t in top} & {"genre_cos", "genre_weight"}, top


@pytest.fixture
def fitted(planted, small_hybrid):
    return create_model("hybrid", **small_hybrid).fit(planted)


def test_recommend_excludes_seen_and_respects_candidates(fitted, planted):
    users = np.arange(10)
    recs, scores = fitted.recommend(users, 10)
    seen = planted.binary()
    for row, u in enumerate(users):
        assert not set(recs[row]) & set(seen.indices[seen.indptr[u] : seen.indptr[u + 1]])
    assert (np.diff(scores, axis=1) <= 0).all()
    cand = np.arange(0, 150, 3)
    recs, _ = fitted.recommend(users, 5, candidates=cand)
    assert np.isin(recs[recs >= 0], cand).all()


def test_batch_equals_single_and_score_matches(fitted):
    users = np.arange(12)
    batch_i, batch_s = fitted.recommend(users, 8)
    for row, u in enumerate(users[:4]):
        i, s = fitted.recommend(np.array([u]), 8)
        np.testing.assert_array_equal(i[0], batch_i[row])
        np.testing.assert_allclose(s[0], batch_s[row], rtol=1e-6)
    ok = batch_i >= 0
    pair_scores = fitted.score(np.repeat(users, 8)[ok.ravel()], batch_i[ok])
    np.testing.assert_allclose(pair_scores, batch_s[ok], rtol=1e-5, atol=1e-6)


def test_explain_sums_to_score(fitted):
    item = int(fitted.recommend(np.array([3]), 1)[0][0, 0])
    parts = fitted.explain_features(3, item)
    assert parts[-1][0] == "bias"
    total = sum(v for _, v in parts)
    assert total == pytest.approx(float(fitted.score(np.array([3]), np.array([item]))[0]), abs=1e-4)


def test_save_load_identical_scores(fitted, tmp_path):
    path = fitted.save(tmp_path / "hybrid")
    assert (path / "ranker.txt").is_file()
    assert (path / "generators" / "itemknn" / "model.json").is_file()
    loaded = load_model(path)
    users = np.arange(20)
    a = fitted.recommend(users, 10)
    b = loaded.recommend(users, 10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    # a bagged ranker keeps every member
    n = len(fitted.ranker_.members())
    assert len(loaded.ranker_.members()) == n
    if n > 1:
        (path / f"ranker-{n - 1}.txt").unlink()
        with pytest.raises(ArtifactError, match=f"ranker-{n - 1}.txt"):
            load_model(path)


def test_same_seed_same_output(planted, small_hybrid):
    a = create_model("hybrid", **small_hybrid).fit(planted).recommend(np.arange(10), 10)
    b = create_model("hybrid", **small_hybrid).fit(planted).recommend(np.arange(10), 10)
    np.testing.assert_array_equal(a[0], b[0])


def test_fold_in_new_user_likes_their_genre(planted, small_hybrid):
    params = {**small_hybrid, "generators": "pop:150"}
    model = create_model("hybrid", **params).fit(planted)
    # a new user who loved three G2 movies and hated two G0 movies
    row = np.zeros((1, planted.n_items), np.float32)
    row[0, [2, 7, 12]] = 5.0
    row[0, [0, 5]] = 1.0
    import scipy.sparse as sp

    recs, _ = model.recommend_for_ratings(sp.csr_matrix(row), 5)
    assert not np.isin(recs, [2, 7, 12, 0, 5]).any()
    assert (recs[0] % 5 == 2).mean() >= 0.8


def test_bad_config_is_a_clear_error():
    from reelrank.errors import ConfigError

    with pytest.raises(ConfigError, match="ranker"):
        create_model("hybrid", ranker="xgboost")
    with pytest.raises(ConfigError, match="listed twice"):
        create_model("hybrid", generators="pop:5,pop:6")
