"""Evaluation metrics as pure functions returning per-user arrays.

Every ranking metric takes

``recs``
    ``(U, K)`` integer array of recommended item indices, best first; ``-1`` marks an empty
    slot (fewer eligible items than ``K``).
``relevant``
    ``(U, n_items)`` CSR matrix whose stored entries are the relevant items of each row (the
    stored value is the gain: 1 for binary relevance, or a graded gain such as the rating).

and returns a ``float64`` array of length ``U`` (one value per user), so that means, standard
errors and confidence intervals come from :func:`aggregate`. Rows without any relevant item
get ``NaN`` for accuracy metrics (the metric is undefined for them); :func:`aggregate` skips
NaN and reports how many users were counted.

Definitions follow the references named in each docstring:

* precision, recall, NDCG, hit rate: identical in Microsoft Recommenders'
  ``recommenders/evaluation/python_evaluation.py`` and in cornac's ``metrics/ranking.py``
  (precision divides by ``k`` even when fewer than ``k`` items were recommended; NDCG uses
  binary gains and the ideal list of ``min(|rel|, k)`` items; the log base cancels).
* MAP: ``map_at_k(..., denominator="min")`` is the usual AP@k normalised by
  ``min(|rel|, k)`` (Spark MLlib's ``meanAveragePrecisionAt`` and Recommenders' current
  ``map_at_k``); ``denominator="relevant"`` normalises by ``|rel|`` (Recommenders' ``map``, which
  older Recommenders releases and their MovieLens benchmark table call ``map_at_k``).
  :func:`average_precision` is cornac's ``MAP``: AP over the full ranking, not truncated.
* AUC: per-user Mann-Whitney statistic over the candidate items (positives = relevant,
  negatives = all other candidates), as cornac's ``AUC`` and LightFM's ``auc_score`` do per
  user. :func:`auc` counts ties one half; :func:`full_ranking_auc_ap` (what the runner uses)
  follows the peer's own tie rule: cornac counts a tie as a loss, LightFM as a win.
  :func:`full_ranking_auc_ap` also gives cornac's ``MAP`` with its tie rule
  (``rankdata(-scores, "max")``), so a popularity model with many tied counts scores
  exactly as in cornac.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats

logger = logging.getLogger(__name__)

__all__ = [
    "Aggregate",
    "aggregate",
    "auc",
    "auc_from_ranks",
    "average_precision",
    "coverage_at_k",
    "full_ranking_auc_ap",
    "hit_rate_at_k",
    "hits",
    "intra_list_diversity",
    "mae",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "popularity_bias",
    "precision_at_k",
    "recall_at_k",
    "rmse",
]


# ---------------------------------------------------------------------------- helpers
def _check(
    recs: np.ndarray, relevant: sp.csr_matrix, k: int | None = None
) -> tuple[np.ndarray, sp.csr_matrix]:
    recs = np.asarray(recs)
    if recs.ndim != 2:
        raise ValueError(f"recs must be 2-D (users x K), got shape {recs.shape}")
    relevant = sp.csr_matrix(relevant)
    if relevant.shape[0] != recs.shape[0]:
        raise ValueError(f"recs has {recs.shape[0]} rows but relevant has {relevant.shape[0]}")
    if k is not None and k < 1:
        raise ValueError("k must be >= 1")
    if recs.size and recs.max() >= relevant.shape[1]:
        raise ValueError(f"recommended item index {recs.max()} >= n_items {relevant.shape[1]}")
    return recs.astype(np.int64, copy=False), relevant


def gains(recs: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Gain of each recommended slot: the stored value in ``relevant``, 0 where not relevant.

    Parameters
    ----------
    recs
        ``(U, K)`` recommended item indices (``-1`` = empty slot).
    relevant
        ``(U, n_items)`` CSR of relevant items (value = gain).

    Returns
    -------
    numpy.ndarray
        ``(U, K)`` ``float64`` gains.
    """
    recs, relevant = _check(recs, relevant)
    rel = relevant.tocsr()
    rel.sum_duplicates()
    n_items = np.int64(rel.shape[1])
    rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    keys = rows * n_items + rel.indices.astype(np.int64)  # sorted: CSR row order, sorted cols
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], rel.data[order].astype(np.float64)
    q = np.arange(recs.shape[0], dtype=np.int64)[:, None] * n_items + recs
    pos = np.searchsorted(keys, q)
    pos_c = np.minimum(pos, max(len(keys) - 1, 0))
    found = (len(keys) > 0) & (recs >= 0)
    if len(keys):
        found &= keys[pos_c] == q
    out = np.zeros(recs.shape, dtype=np.float64)
    if len(keys):
        out[found] = vals[pos_c[found]]
    return out


def hits(recs: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean ``(U, K)`` array: is the item in each slot relevant (stored and non-zero)?"""
    return gains(recs, relevant) != 0


def _n_relevant(relevant: sp.csr_matrix) -> np.ndarray:
    rel = sp.csr_matrix(relevant)
    rows = np.repeat(np.arange(rel.shape[0]), np.diff(rel.indptr))
    return np.bincount(rows[rel.data != 0], minlength=rel.shape[0]).astype(np.float64)


def _undefined(values: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    values[n_rel == 0] = np.nan
    return values


# ---------------------------------------------------------------------------- accuracy @k
def precision_at_k(recs: np.ndarray, relevant: sp.csr_matrix, k: int) -> np.ndarray:
    """Precision@k: relevant items among the first ``k`` slots, divided by ``k``.

    Divides by ``k`` even when fewer than ``k`` items were recommended (Recommenders,
    cornac, Spark). NaN for users without relevant items.
    """
    recs, relevant = _check(recs, relevant, k)
    h = hits(recs[:, :k], relevant)
    return _undefined(h.sum(axis=1) / k, _n_relevant(relevant))


def recall_at_k(recs: np.ndarray, relevant: sp.csr_matrix, k: int) -> np.ndarray:
    """Recall@k: relevant items among the first ``k`` slots over ``|relevant|``.

    Recommenders' ``recall_at_k`` and cornac's ``Recall`` (the denominator is ``|relevant|``,
    not ``min(|relevant|, k)``). NaN for users without relevant items.
    """
    recs, relevant = _check(recs, relevant, k)
    n_rel = _n_relevant(relevant)
    h = hits(recs[:, :k], relevant).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _undefined(h / n_rel, n_rel)


def hit_rate_at_k(recs: np.ndarray, relevant: sp.csr_matrix, k: int) -> np.ndarray:
    """Hit rate@k: 1 if any of the first ``k`` slots is relevant, else 0 (NaN: no relevant)."""
    recs, relevant = _check(recs, relevant, k)
    h = hits(recs[:, :k], relevant).any(axis=1)
    return _undefined(h.astype(np.float64), _n_relevant(relevant))


def mrr_at_k(recs: np.ndarray, relevant: sp.csr_matrix, k: int) -> np.ndarray:
    """Reciprocal rank of the first relevant item within the first ``k`` slots (0 if none)."""
    recs, relevant = _check(recs, relevant, k)
    h = hits(recs[:, :k], relevant)
    first = np.argmax(h, axis=1)
    rr = np.where(h.any(axis=1), 1.0 / (first + 1), 0.0)
    return _undefined(rr, _n_relevant(relevant))


def ndcg_at_k(
    recs: np.ndarray, relevant: sp.csr_matrix, k: int, *, graded: bool = False
) -> np.ndarray:
    """NDCG@k with discount ``1 / log2(rank + 1)``.

    With ``graded=False`` (default) every relevant item has gain 1: Recommenders'
    ``ndcg_at_k(score_type="binary")`` (natural-log discount; the base cancels in the ratio) and
    cornac's ``NDCG``. The ideal DCG places ``min(|rel|, k)`` relevant items first. With
    ``graded=True`` the stored values of ``relevant`` are the gains (Recommenders'
    ``score_type="raw"``) and the ideal list sorts them in decreasing order.
    """
    recs, relevant = _check(recs, relevant, k)
    g = gains(recs[:, :k], relevant)
    if not graded:
        g = (g != 0).astype(np.float64)
    width = g.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = (g * discounts[:width]).sum(axis=1)
    rel = sp.csr_matrix(relevant, dtype=np.float64)
    n_rel = _n_relevant(rel)
    if graded:
        idcg = np.zeros(rel.shape[0])
        # ideal gains: per row, the k largest stored values, sorted decreasingly
        lengths = np.diff(rel.indptr)
        rows = np.repeat(np.arange(rel.shape[0]), lengths)
        order = np.lexsort((-rel.data, rows))
        vals = rel.data[order]
        rank_in_row = np.arange(len(vals)) - np.repeat(rel.indptr[:-1], lengths)
        keep = rank_in_row < k
        np.add.at(idcg, rows[keep], vals[keep] * discounts[rank_in_row[keep]])
    else:
        cum = np.concatenate([[0.0], np.cumsum(discounts)])
        idcg = cum[np.minimum(n_rel, k).astype(np.int64)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return _undefined(dcg / idcg, n_rel)


def map_at_k(
    recs: np.ndarray, relevant: sp.csr_matrix, k: int, *, denominator: str = "min"
) -> np.ndarray:
    """Average precision at ``k`` per user (mean over users gives MAP@k).

    ``AP@k = sum_{i <= k, slot i relevant} precision@i / D``, where ``D`` is

    * ``"min"``: ``min(|rel|, k)`` (Spark MLlib ``meanAveragePrecisionAt``, Recommenders'
      current ``map_at_k``);
    * ``"relevant"``: ``|rel|`` (Recommenders' ``map``, the "MAP" of their MovieLens benchmark
      table; older releases called this ``map_at_k``).
    """
    if denominator not in ("min", "relevant"):
        raise ValueError("denominator must be 'min' or 'relevant'")
    recs, relevant = _check(recs, relevant, k)
    h = hits(recs[:, :k], relevant).astype(np.float64)
    prec_at_i = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
    n_rel = _n_relevant(relevant)
    denom = np.minimum(n_rel, k) if denominator == "min" else n_rel
    with np.errstate(invalid="ignore", divide="ignore"):
        return _undefined((prec_at_i * h).sum(axis=1) / denom, n_rel)


def average_precision(pos_ranks: sp.csr_matrix) -> np.ndarray:
    """Untruncated average precision from the ranks of the relevant items (cornac's ``MAP``).

    Parameters
    ----------
    pos_ranks
        ``(U, n_items)`` CSR whose stored values are the 1-based ranks of each relevant item in
        the user's full ranking of the candidates.

    Returns
    -------
    numpy.ndarray
        ``AP = mean_j (j / rank_j)`` over the relevant items sorted by rank (``j`` 1-based);
        NaN for users without relevant items.
    """
    m = sp.csr_matrix(pos_ranks, dtype=np.float64)
    lengths = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), lengths)
    order = np.lexsort((m.data, rows))
    ranks = m.data[order]
    j = np.arange(len(ranks)) - np.repeat(m.indptr[:-1], lengths) + 1
    out = np.zeros(m.shape[0])
    np.add.at(out, rows, j / ranks)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _undefined(out / lengths, lengths.astype(np.float64))


# ---------------------------------------------------------------------------- AUC
def auc(
    scores: np.ndarray, relevant: sp.csr_matrix, candidates: np.ndarray | sp.csr_matrix
) -> np.ndarray:
    """Per-user ROC AUC over the candidate items, from a dense block of full scores.

    Parameters
    ----------
    scores
        ``(U, n_items)`` scores (higher is better).
    relevant
        ``(U, n_items)`` CSR of relevant items (positives). Relevant items that are not
        candidates are ignored.
    candidates
        Boolean ``(U, n_items)`` mask (dense or sparse) or ``(n_items,)`` mask shared by all
        rows: the items the user ranks (typically everything not in the user's training data).

    Returns
    -------
    numpy.ndarray
        ``P(score(pos) > score(neg))`` with ties counting 1/2; NaN where a user has no
        positive or no negative candidate.
    """
    scores = np.asarray(scores, dtype=np.float64)
    cand = candidates.toarray() if sp.issparse(candidates) else np.asarray(candidates)
    cand = np.broadcast_to(cand.astype(bool), scores.shape)
    pos = (sp.csr_matrix(relevant) != 0).toarray() & cand
    finite_floor = np.finfo(np.float64).min
    s = np.where(cand, np.nan_to_num(scores, nan=finite_floor, neginf=finite_floor), -np.inf)
    ranks = stats.rankdata(s, method="average", axis=1)  # ascending: 1 = worst
    n_excl = (~cand).sum(axis=1)
    n_pos = pos.sum(axis=1).astype(np.float64)
    n_neg = cand.sum(axis=1) - n_pos
    u_stat = np.where(pos, ranks, 0.0).sum(axis=1) - n_pos * n_excl - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        out = u_stat / (n_pos * n_neg)
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return out


def auc_from_ranks(pos_ranks: sp.csr_matrix, n_candidates: np.ndarray) -> np.ndarray:
    """Per-user AUC from the 1-based ranks of the positives in a strict full ranking.

    Parameters
    ----------
    pos_ranks
        ``(U, n_items)`` CSR whose stored values are the ranks (1 = best) of each relevant item
        among the user's ``n_candidates`` candidates (no ties).
    n_candidates
        ``(U,)`` number of ranked candidates per user.

    Returns
    -------
    numpy.ndarray
        The share of (positive, negative) pairs ordered correctly; NaN without positives or
        negatives. Equals :func:`auc` when scores have no ties.
    """
    m = sp.csr_matrix(pos_ranks, dtype=np.float64)
    lengths = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), lengths)
    order = np.lexsort((m.data, rows))
    ranks = m.data[order]
    j = np.arange(len(ranks)) - np.repeat(m.indptr[:-1], lengths)  # positives ranked above
    n_pos = lengths.astype(np.float64)
    n_neg = np.asarray(n_candidates, dtype=np.float64) - n_pos
    negatives_above = ranks - 1 - j
    correct = np.zeros(m.shape[0])
    np.add.at(correct, rows, n_neg[rows] - negatives_above)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = correct / (n_pos * n_neg)
    out[(n_pos == 0) | (n_neg <= 0)] = np.nan
    return out


def full_ranking_auc_ap(
    recs: np.ndarray, scores: np.ndarray, relevant: sp.csr_matrix, *, ties: str = "loss"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user AUC and untruncated AP from a full ranking with its scores, ties included.

    Parameters
    ----------
    recs
        ``(U, K)`` every candidate of each user, best first (``-1`` pads shorter rows).
    scores
        ``(U, K)`` the scores of ``recs`` (non-increasing along each row).
    relevant
        ``(U, n_items)`` CSR of the positives; positives that are not candidates are
        ignored (as cornac's ``gt_pos`` masked by ``item_indices``).
    ties
        How AUC counts a (positive, negative) pair with equal scores: ``"loss"`` (cornac's
        ``AUC``: ``pos_score > neg_score`` strictly) or ``"win"`` (LightFM's ``auc_score``,
        whose ``predict_rank`` counts only the items scored strictly higher).

    Returns
    -------
    (auc, ap)
        ``auc``: share of (positive, negative candidate) pairs ordered correctly. ``ap``:
        cornac's ``MAP`` term, ``mean_pos(L / R)`` with ``R`` the item's rank among all
        candidates and ``L`` among the positives, both with ``rankdata(-s, "max")`` (a tie
        ranks every tied item last). NaN without positives (AUC: or without negatives).
    """
    if ties not in ("loss", "win"):
        raise ValueError("ties must be 'loss' or 'win'")
    recs = np.asarray(recs, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != recs.shape:
        raise ValueError(f"scores have shape {s.shape}, recs {recs.shape}")
    valid = recs >= 0
    pos = hits(recs, relevant) & valid
    n_rows, width = recs.shape
    cols = np.arange(width)
    if width == 0:
        nan = np.full(n_rows, np.nan)
        return nan, nan.copy()
    # tie groups of equal scores along each (sorted) row; padding never ties with a score
    nxt_differs = np.ones((n_rows, width), dtype=bool)
    nxt_differs[:, :-1] = (s[:, 1:] != s[:, :-1]) | ~valid[:, 1:]
    first_differs = np.ones((n_rows, width), dtype=bool)
    first_differs[:, 1:] = nxt_differs[:, :-1]
    # R (max rank, 1-based) = index of the tie group's last member + 1
    last = np.where(nxt_differs, cols, width)
    last = np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1]
    first = np.where(first_differs, cols, -1)
    first = np.maximum.accumulate(first, axis=1)
    cum_pos = np.cumsum(pos, axis=1)
    rows = np.arange(n_rows)[:, None]
    pos_upto_last = cum_pos[rows, last]  # positives scored >= s (L, max ties)
    pos_before_first = np.where(first > 0, cum_pos[rows, np.maximum(first - 1, 0)], 0)
    n_pos = pos.sum(axis=1).astype(np.float64)
    n_neg = valid.sum(axis=1) - n_pos
    if ties == "loss":
        neg_not_below = (last + 1) - pos_upto_last  # negatives scored >= s
    else:
        neg_not_below = first - pos_before_first  # negatives scored > s
    correct = np.where(pos, n_neg[:, None] - neg_not_below, 0.0).sum(axis=1)
    ap = np.where(pos, pos_upto_last / (last + 1.0), 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc_values = correct / (n_pos * n_neg)
        ap = ap / n_pos
    auc_values[(n_pos == 0) | (n_neg <= 0)] = np.nan
    ap[n_pos == 0] = np.nan
    return auc_values, ap


# ---------------------------------------------------------------------------- beyond accuracy
def coverage_at_k(recs: np.ndarray, n_items: int, k: int) -> float:
    """Catalogue coverage@k: share of the ``n_items`` catalogue appearing in any top-``k`` list."""
    if n_items < 1:
        raise ValueError("n_items must be >= 1")
    top = np.asarray(recs)[:, :k]
    return float(np.unique(top[top >= 0]).size / n_items)


def _slot_values(recs: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    top = np.asarray(recs, dtype=np.int64)[:, :k]
    v = np.asarray(values, dtype=np.float64)[np.clip(top, 0, None)]
    v[top < 0] = np.nan
    with np.errstate(invalid="ignore"):
        filled = (top >= 0).sum(axis=1)
        out = np.nansum(v, axis=1) / filled
    out[filled == 0] = np.nan
    return out


def novelty(
    recs: np.ndarray, train_item_counts: np.ndarray, n_train_users: int, k: int
) -> np.ndarray:
    """Mean self-information ``-log2 p(i)`` of the top-``k`` items, per user.

    ``p(i) = n_i / n_train_users`` is the share of training users who rated item ``i``
    (Zhou et al. 2010; training data only). Items nobody rated in training (cold items) get
    ``n_i = 1`` so their novelty is finite (``log2 n_train_users``, the maximum).
    """
    if n_train_users < 1:
        raise ValueError("n_train_users must be >= 1")
    counts = np.maximum(np.asarray(train_item_counts, dtype=np.float64), 1.0)
    info = -np.log2(np.minimum(counts / n_train_users, 1.0))
    return _slot_values(recs, info, k)


def popularity_bias(recs: np.ndarray, train_item_counts: np.ndarray, k: int) -> np.ndarray:
    """Mean training popularity (number of training ratings) of the top-``k`` items, per user."""
    return _slot_values(recs, train_item_counts, k)


def intra_list_diversity(
    recs: np.ndarray, item_vectors: np.ndarray | sp.spmatrix, k: int
) -> np.ndarray:
    """Mean pairwise cosine distance ``1 - cos(i, j)`` between the top-``k`` items, per user.

    Parameters
    ----------
    recs
        ``(U, K)`` recommended item indices.
    item_vectors
        ``(n_items, d)`` content vectors (dense, or sparse such as TF-IDF). Zero vectors have
        distance 1 to everything.
    k
        List length.

    Returns
    -------
    numpy.ndarray
        NaN for lists with fewer than two items.
    """
    top = np.asarray(recs, dtype=np.int64)[:, :k]
    valid = top >= 0
    safe = np.clip(top, 0, None)
    out = np.full(top.shape[0], np.nan)
    for start in range(0, top.shape[0], 256):
        sl = slice(start, start + 256)
        flat = safe[sl].reshape(-1)
        vec = item_vectors[flat]
        vec = vec.toarray() if sp.issparse(vec) else np.asarray(vec, dtype=np.float64)
        norms = np.linalg.norm(vec, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        v = (vec / norms).reshape(top[sl].shape[0], top.shape[1], -1)
        sim = np.einsum("ukd,umd->ukm", v, v)
        mask = valid[sl][:, :, None] & valid[sl][:, None, :]
        mask &= ~np.eye(top.shape[1], dtype=bool)[None]
        n_pairs = mask.sum(axis=(1, 2))
        dist = np.where(mask, 1.0 - sim, 0.0).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sl] = np.where(n_pairs > 0, dist / n_pairs, np.nan)
    return out


# ---------------------------------------------------------------------------- rating error
def _rating_arrays(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("no predictions to score")
    return t, p


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error over all (user, item) predictions (Recommenders, cornac)."""
    t, p = _rating_arrays(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error over all (user, item) predictions."""
    t, p = _rating_arrays(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


# ---------------------------------------------------------------------------- aggregation
@dataclass(frozen=True)
class Aggregate:
    """Mean of a per-user metric with its standard error and a 95% t-interval.

    Attributes
    ----------
    mean, sem, ci95_low, ci95_high
        NaN when ``n == 0``; ``sem`` and the interval are NaN when ``n == 1``.
    n
        Number of users counted (NaN values skipped).
    """

    mean: float
    sem: float
    ci95_low: float
    ci95_high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict (JSON-serialisable)."""
        return {
            "mean": self.mean,
            "sem": self.sem,
            "ci95_low": self.ci95_low,
            "ci95_high": self.ci95_high,
            "n": self.n,
        }


def aggregate(per_user: np.ndarray | float) -> Aggregate:
    """Mean, SEM (``std(ddof=1) / sqrt(n)``) and Student-t 95% interval of per-user values.

    NaN values (users for whom the metric is undefined) are skipped. A scalar (such as
    coverage) gives ``n = 1`` and NaN spread.
    """
    v = np.atleast_1d(np.asarray(per_user, dtype=np.float64))
    v = v[~np.isnan(v)]
    n = int(v.size)
    if n == 0:
        return Aggregate(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if n == 1:
        return Aggregate(mean, math.nan, math.nan, math.nan, 1)
    sem = float(v.std(ddof=1) / math.sqrt(n))
    half = float(stats.t.ppf(0.975, n - 1)) * sem
    return Aggregate(mean, sem, mean - half, mean + half, n)
