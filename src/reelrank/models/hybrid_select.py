"""The hybrid's safety net: is the trained ranker better than its own generators?

After the ranker is trained, :func:`choose_serving` compares it on the inner validation
users (label groups the ranker was not trained on) with every generator alone and with a
blend of the generators (weights tuned on the ranker's training groups), by NDCG@10 with the
protocol's relevance rule. Only the first-stage candidates (the union of the generators'
top-``N``, or the restricted catalogue) are ranked, as when serving; the ideal DCG counts
*every* held-out relevant item of the user, so a generator's figure is its real NDCG@10 over
the catalogue (its top 10 always lies inside the union).

The winner is served: ``"ranker"``, ``"blend"`` (a weighted sum of the generators' per-user
z-scores) or ``"generator:<name>"`` (one generator alone, a blend with one weight).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "ServingChoice",
    "blend_scores",
    "choose_serving",
    "group_ndcg",
    "ndcg_at_k_groups",
    "tune_blend",
]

#: z-score given to candidates a generator cannot score (below any real one)
_MISSING_Z = -10.0


def group_ndcg(
    scores: np.ndarray,
    group: np.ndarray,
    positive: np.ndarray,
    n_positive: np.ndarray,
    k: int = 10,
) -> float:
    """Mean binary NDCG@k over groups, vectorised.

    Parameters
    ----------
    scores
        Score of each pair (NaN ranks last).
    group
        Group number of each pair, in ``0 .. n_groups - 1``.
    positive
        Whether each pair is relevant.
    n_positive
        Relevant items per group (may exceed those among the pairs: the ideal DCG counts
        them all). Groups with none are left out of the mean.
    k
        Cut-off.
    """
    s = np.where(np.isnan(scores), -np.inf, np.asarray(scores, np.float64))
    order = np.lexsort((-s, group))
    g = group[order]
    starts = np.searchsorted(g, np.arange(len(n_positive)))
    rank = np.arange(len(order)) - starts[g]
    disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    top = rank < k
    hit = top & positive[order]
    dcg = np.bincount(g[hit], weights=disc[rank[hit]], minlength=len(n_positive))
    cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = cum[np.minimum(n_positive, k)]
    ok = n_positive > 0
    if not ok.any():
        return float("nan")
    return float(np.mean(dcg[ok] / idcg[ok]))


def blend_scores(z: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """``sum_g w_g * z_g`` with missing z-scores (NaN) counted as far below the rest."""
    out = None
    for name, w in weights.items():
        if w == 0:
            continue
        col = np.nan_to_num(np.asarray(z[name], np.float64), nan=_MISSING_Z) * w
        out = col if out is None else out + col
    if out is None:
        return np.zeros(len(next(iter(z.values()))))
    return out


def _simplex(n: int, steps: int) -> list[tuple[float, ...]]:
    pts = []
    for c in itertools.product(range(steps + 1), repeat=n):
        if sum(c) == steps:
            pts.append(tuple(x / steps for x in c))
    return pts


def tune_blend(
    z: dict[str, np.ndarray],
    group: np.ndarray,
    positive: np.ndarray,
    n_positive: np.ndarray,
    *,
    steps: int = 4,
) -> tuple[dict[str, float], float]:
    """Blend weights on the simplex (grid of ``1/steps``) maximising :func:`group_ndcg`."""
    names = list(z)
    if len(names) > 3:  # keep the grid small: C(n + steps - 1, steps) points
        steps = min(steps, 2)
    best_w: dict[str, float] = {names[0]: 1.0}
    best = -1.0
    for pt in _simplex(len(names), steps):
        w = dict(zip(names, pt, strict=True))
        v = group_ndcg(blend_scores(z, w), group, positive, n_positive)
        if v > best + 1e-12:
            best, best_w = v, w
    return best_w, best


@dataclass
class ServingChoice:
    """What the hybrid serves and why.

    Attributes
    ----------
    mode
        ``"ranker"``, ``"blend"`` or ``"generator:<name>"``.
    weights
        Blend weights over generators (one-hot for a single generator; empty for the ranker).
    validation
        NDCG@10 of every contender on the inner validation users.
    """

    mode: str
    weights: dict[str, float] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)


def choose_serving(
    ranker_val: np.ndarray,
    z_train: dict[str, np.ndarray],
    z_val: dict[str, np.ndarray],
    score_val: dict[str, np.ndarray],
    train_groups: tuple[np.ndarray, np.ndarray, np.ndarray],
    val_groups: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    min_gain: float = 0.0,
) -> ServingChoice:
    """Pick the best of the ranker, each generator alone and the tuned blend.

    Parameters
    ----------
    ranker_val
        Ranker scores of the validation pairs.
    z_train, z_val
        Per-generator z-scores of the training / validation pairs (blend inputs).
    score_val
        Per-generator raw scores of the validation pairs (a generator alone).
    train_groups, val_groups
        ``(group, positive, n_positive)`` of the training / validation pairs.
    min_gain
        The ranker is kept only if it beats the best alternative by more than this.
    """
    vg, vp, vn = val_groups
    figures = {"ranker": group_ndcg(ranker_val, vg, vp, vn)}
    for name, s in score_val.items():
        figures[f"generator:{name}"] = group_ndcg(s, vg, vp, vn)
    weights: dict[str, float] = {}
    if len(z_train) > 1:
        weights, train_fig = tune_blend(z_train, *train_groups)
        figures["blend"] = group_ndcg(blend_scores(z_val, weights), vg, vp, vn)
        figures["blend_train"] = train_fig
    contenders = {k: v for k, v in figures.items() if k not in ("ranker", "blend_train")}
    alt = max(contenders, key=lambda k: (np.nan_to_num(contenders[k], nan=-1.0), k == "blend"))
    ranker = np.nan_to_num(figures["ranker"], nan=-1.0)
    if ranker > np.nan_to_num(contenders[alt], nan=-1.0) + min_gain:
        return ServingChoice("ranker", {}, figures)
    if alt == "blend":
        w = weights
    else:
        w = {alt.split(":", 1)[1]: 1.0}
    logger.warning(
        "hybrid: the ranker (inner-validation NDCG@10 %.4f) does not beat %s (%.4f); "
        "serving %s instead",
        figures["ranker"],
        alt,
        contenders[alt],
        alt,
    )
    return ServingChoice(alt, w, figures)


def ndcg_at_k_groups(
    scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int = 10
) -> float:
    """Mean NDCG@k over groups (exponential gain), groups given as sizes in order."""
    out = []
    start = 0
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    for g in groups:
        s, y = scores[start : start + g], labels[start : start + g]
        start += g
        if y.max(initial=0) <= 0:
            continue
        top = np.argsort(-s, kind="stable")[:k]
        dcg = ((2.0 ** y[top] - 1) * disc[: len(top)]).sum()
        ideal = np.sort(y)[::-1][:k]
        idcg = ((2.0**ideal - 1) * disc[: len(ideal)]).sum()
        out.append(dcg / idcg)
    return float(np.mean(out)) if out else float("nan")
