"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from reelrank.evaluate import metrics as M


def _rel(
    rows: list[list[int]], n_items: int = 10, values: list[list[float]] | None = None
) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    v = [x for vals in values for x in vals] if values else [1.0] * len(c)
    return sp.csr_matrix((v, (r, c)), shape=(len(rows), n_items))


@pytest.fixture
def case() -> tuple[np.ndarray, sp.csr_matrix]:
    # user 0: hits at ranks 2 and 5, 3 relevant; user 1: one slot filled, a hit;
    # user 2: nothing relevant (metrics undefined)
    recs = np.array([[1, 2, 3, 4, 5], [0, -1, -1, -1, -1], [1, 2, 3, 4, 5]])
    relevant = _rel([[2, 5, 9], [0], []])
    return recs, relevant


def test_precision_recall_hit_mrr(case: tuple[np.ndarray, sp.csr_matrix]) -> None:
    recs, rel = case
    np.testing.assert_allclose(M.precision_at_k(recs, rel, 5), [0.4, 0.2, np.nan])
    np.testing.assert_allclose(M.precision_at_k(recs, rel, 2), [0.5, 0.5, np.nan])
    np.testing.assert_allclose(M.recall_at_k(recs, rel, 5), [2 / 3, 1.0, np.nan])
    np.testing.assert_allclose(M.hit_rate_at_k(recs, rel, 1), [0.0, 1.0, np.nan])
    np.testing.assert_allclose(M.hit_rate_at_k(recs, rel, 2), [1.0, 1.0, np.nan])
    np.testing.assert_allclose(M.mrr_at_k(recs, rel, 5), [0.5, 1.0, np.nan])
    np.testing.assert_allclose(M.mrr_at_k(recs, rel, 1), [0.0, 1.0, np.nan])


def test_ndcg_binary_and_graded(case: tuple[np.ndarray, sp.csr_matrix]) -> None:
    recs, rel = case
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    np.testing.assert_allclose(M.ndcg_at_k(recs, rel, 5), [dcg / idcg, 1.0, np.nan])
    graded = _rel([[1, 2]], values=[[3.0, 5.0]])
    expected = (3 + 5 / math.log2(3)) / (5 + 3 / math.log2(3))
    np.testing.assert_allclose(M.ndcg_at_k(np.array([[1, 2]]), graded, 2, graded=True), [expected])
    # binary gains ignore the stored values
    np.testing.assert_allclose(M.ndcg_at_k(np.array([[1, 2]]), graded, 2), [1.0])


def test_map_variants(case: tuple[np.ndarray, sp.csr_matrix]) -> None:
    recs, rel = case
    # AP@5 = (1/2 + 2/5) / 3 under both denominators (3 < 5)
    np.testing.assert_allclose(M.map_at_k(recs, rel, 5), [0.3, 1.0, np.nan])
    np.testing.assert_allclose(M.map_at_k(recs, rel, 5, denominator="relevant"), [0.3, 1.0, np.nan])
    # AP@2: one hit at rank 2 -> (1/2)/min(3,2) vs (1/2)/3 (Recommenders' `map`)
    np.testing.assert_allclose(M.map_at_k(recs, rel, 2), [0.25, 1.0, np.nan])
    np.testing.assert_allclose(
        M.map_at_k(recs, rel, 2, denominator="relevant"), [0.5 / 3, 1.0, np.nan]
    )
    with pytest.raises(ValueError):
        M.map_at_k(recs, rel, 2, denominator="k")


def test_average_precision_and_auc() -> None:
    # item 0 seen (not a candidate); positives 1 (score .1) and 4 (.7); negatives 2 (.5), 3 (.3)
    scores = np.array([[0.9, 0.1, 0.5, 0.3, 0.7]])
    rel = _rel([[1, 4]], n_items=5)
    cand = np.array([False, True, True, True, True])
    np.testing.assert_allclose(M.auc(scores, rel, cand), [0.5])
    # a tie between positive 1 and negative 2 counts one half: (2 + 0.5 + 1) / 4
    tied = np.array([[0.9, 0.5, 0.5, 0.3, 0.7]])
    np.testing.assert_allclose(M.auc(tied, rel, cand), [0.875])
    # ranks among the 4 candidates: 4 -> 1, 2 -> 2, 3 -> 3, 1 -> 4
    ranks = sp.csr_matrix(([4.0, 1.0], ([0, 0], [1, 4])), shape=(1, 5))
    np.testing.assert_allclose(M.auc_from_ranks(ranks, np.array([4])), [0.5])
    np.testing.assert_allclose(M.average_precision(ranks), [(1 / 1 + 2 / 4) / 2])
    # perfect ranking, and no positives -> NaN
    np.testing.assert_allclose(
        M.auc(np.array([[0.0, 1.0, 0.0]]), _rel([[1]], 3), np.ones(3, bool)), [1.0]
    )
    assert np.isnan(M.auc(np.array([[0.0, 1.0]]), _rel([[]], 2), np.ones(2, bool))[0])


def test_beyond_accuracy() -> None:
    recs = np.array([[0, 1], [2, -1]])
    assert M.coverage_at_k(recs, 10, 2) == pytest.approx(0.3)
    assert M.coverage_at_k(recs, 10, 1) == pytest.approx(0.2)
    counts = np.array([10, 5, 1, 0])
    np.testing.assert_allclose(M.novelty(recs, counts, 10, 2), [0.5, math.log2(10)])
    np.testing.assert_allclose(M.popularity_bias(recs, counts, 2), [7.5, 1.0])
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    d = 1 - 1 / math.sqrt(2)
    np.testing.assert_allclose(
        M.intra_list_diversity(np.array([[0, 1, 2], [0, -1, -1]]), vectors, 3),
        [(1 + 2 * d) / 3, np.nan],
    )
    np.testing.assert_allclose(
        M.intra_list_diversity(np.array([[0, 1, 2]]), sp.csr_matrix(vectors), 3), [(1 + 2 * d) / 3]
    )


def test_rating_errors_and_aggregate() -> None:
    assert M.rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert M.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.rmse([1, 2], [1])
    a = M.aggregate(np.array([1.0, 2.0, 3.0, np.nan]))
    assert a.n == 3 and a.mean == pytest.approx(2.0)
    assert a.sem == pytest.approx(1 / math.sqrt(3))
    assert a.ci95_high - a.mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert M.aggregate(np.array([np.nan])).n == 0
    assert math.isnan(M.aggregate(0.5).sem)


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="rows"):
        M.precision_at_k(np.zeros((2, 3), int), _rel([[1]]), 2)
    with pytest.raises(ValueError, match="k must"):
        M.recall_at_k(np.zeros((1, 3), int), _rel([[1]]), 0)


def test_full_ranking_auc_ap_with_ties_by_hand() -> None:
    # one user, 6 candidates sorted by score with ties; positives: items 11 and 14
    recs = np.array([[10, 11, 12, 13, 14, 15, -1]])
    scores = np.array([[5.0, 4.0, 4.0, 3.0, 3.0, 1.0, -np.inf]])
    rel = _rel([[11, 14]], n_items=20)
    auc_loss, ap = M.full_ranking_auc_ap(recs, scores, rel, ties="loss")
    auc_win, _ = M.full_ranking_auc_ap(recs, scores, rel, ties="win")
    # negatives 10 (5.0), 12 (4.0), 13 (3.0), 15 (1.0): pairs (pos, neg) with pos > neg
    # 11 (4.0): beats 13, 15 -> 2 (ties with 12 lose); 14 (3.0): beats 15 -> 1 (ties with 13)
    assert auc_loss[0] == pytest.approx(3 / 8)
    # ties win: 11 also beats 12, 14 also beats 13 -> 5 of 8
    assert auc_win[0] == pytest.approx(5 / 8)
    # cornac's AP: R = rankdata(-s, "max") = 3 for item 11, 5 for item 14; L among positives
    # = 1 and 2 -> (1/3 + 2/5) / 2
    assert ap[0] == pytest.approx((1 / 3 + 2 / 5) / 2)


def test_full_ranking_auc_ap_equals_cornacs_formulas() -> None:
    from scipy.stats import rankdata

    rng = np.random.default_rng(3)
    n_users, n_items = 7, 30
    scores = rng.integers(0, 6, size=(n_users, n_items)).astype(np.float64)  # many ties
    recs = np.argsort(-scores, axis=1, kind="stable")
    sorted_scores = np.take_along_axis(scores, recs, axis=1)
    rows = [sorted(rng.choice(n_items, size=int(rng.integers(1, 6)), replace=False))
            for _ in range(n_users)]  # fmt: skip
    rel = _rel([list(r) for r in rows], n_items=n_items)
    auc_values, ap = M.full_ranking_auc_ap(recs, sorted_scores, rel, ties="loss")
    for u in range(n_users):
        pos = np.isin(np.arange(n_items), rows[u])
        ps, ns = scores[u, pos], scores[u, ~pos]
        expected_auc = (ps[:, None] > ns[None, :]).sum() / (len(ps) * len(ns))
        rank = rankdata(-scores[u], "max")[pos]
        lower = rankdata(-scores[u, pos], "max")
        assert auc_values[u] == pytest.approx(expected_auc)
        assert ap[u] == pytest.approx((lower / rank).mean())
