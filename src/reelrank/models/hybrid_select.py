"""The hybrid's safety net: is the trained ranker better than its own generators?

After the ranker is trained, :func:`choose_serving` compares it on the inner validation
users (label groups the ranker was neither trained nor early-stopped on) with the best of
every generator alone and a blend of the generators (chosen, and the blend weights tuned, on
the other label users), by NDCG@10 with the protocol's relevance rule. Only the first-stage
candidates (the union of the generators' top-``N``, or the restricted catalogue) are
ranked, as when serving; the ideal DCG counts *every* held-out relevant item of the user,
so a generator's figure is its real NDCG@10 over the catalogue (its top 10 always lies
inside the union).

The winner is served: ``"ranker"``, ``"blend"`` (a weighted sum of the generators' per-user
z-scores) or ``"generator:<name>"`` (one generator alone, a blend with one weight).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "ServingChoice",
    "blend_scores",
    "choose_serving",
    "choose_serving_cross_fitted",
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
    s = np.asarray(scores, np.float64)
    finite = np.isfinite(s)
    if not finite.any():
        s = np.zeros(len(s))
        finite[:] = True
    lo, hi = s[finite].min(), s[finite].max()
    # one argsort of group - (score scaled to [0, 1]) sorts by group, then score descending
    # (non-finite scores last); about twice as fast as a lexsort on the two keys
    unit = np.where(finite, (s - lo) / (hi - lo if hi > lo else 1.0), -1.0)
    order = np.argsort(np.asarray(group, np.float64) * 4.0 - unit)
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


def tune_blend(
    z: dict[str, np.ndarray],
    group: np.ndarray,
    positive: np.ndarray,
    n_positive: np.ndarray,
    *,
    shares: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5),
    min_gain: float = 0.005,
) -> tuple[dict[str, float], float]:
    """Blend weights by greedy forward selection, maximising :func:`group_ndcg`.

    Start from the best generator alone; then, in decreasing order of their own figure,
    mix each other generator in with a share from ``shares`` (the other weights scaled by
    ``1 - share``) when that improves the figure by more than ``min_gain`` (relative). A
    weak generator thus only enters with a large weight when the data clearly say so; a
    coarse grid would hand it half the weight for a tie-breaking gain.
    """
    names = list(z)
    alone = {g: group_ndcg(z[g], group, positive, n_positive) for g in names}
    order = sorted(names, key=lambda g: -np.nan_to_num(alone[g], nan=-1.0))
    weights = {g: 0.0 for g in names}
    weights[order[0]] = 1.0
    best = float(np.nan_to_num(alone[order[0]], nan=-1.0))
    for g in order[1:]:
        trial_best, trial_w = best, None
        for share in shares:
            w = {k: v * (1 - share) for k, v in weights.items()}
            w[g] += share
            v = group_ndcg(blend_scores(z, w), group, positive, n_positive)
            if v > trial_best:
                trial_best, trial_w = v, w
        if trial_w is not None and trial_best > best * (1 + min_gain):
            best, weights = trial_best, trial_w
    return {k: round(v, 6) for k, v in weights.items()}, best


@dataclass
class ServingChoice:
    """What the hybrid serves and why.

    Attributes
    ----------
    mode
        ``"ranker"``, ``"blend"`` or ``"generator:<name>"``.
    weights
        Blend weights over generators (one-hot for a single generator). With the ranker:
        the blend that ``blend_coef`` mixes into its score (empty when it is not mixed).
    blend_coef
        ``"ranker"`` only: the served score is the ranker margin plus ``blend_coef`` times
        the blend of ``weights`` (0: the ranker alone).
    validation
        NDCG@10 of every contender on the inner validation users (and how the alternative
        to the ranker was chosen).
    """

    mode: str
    weights: dict[str, float] = field(default_factory=dict)
    validation: dict[str, float | str] = field(default_factory=dict)
    blend_coef: float = 0.0


def choose_serving(
    ranker_val: np.ndarray,
    z_fit: dict[str, np.ndarray],
    z_val: dict[str, np.ndarray],
    score_fit: dict[str, np.ndarray],
    score_val: dict[str, np.ndarray],
    fit_groups: tuple[np.ndarray, np.ndarray, np.ndarray],
    val_groups: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    min_gain: float = 0.0,
) -> ServingChoice:
    """Keep the ranker only if it beats the best alternative on the validation users.

    The alternative is chosen first, on the *other* label users (``fit``): each generator
    alone, and the blend whose weights are tuned there. The generators never saw any label,
    so every label user judges them fairly; only the ranker needs users it was neither
    trained nor early-stopped on. Then the ranker and that one alternative are compared on
    the same validation users (a paired comparison: picking the best of many noisy figures
    on those few users would favour whichever contender got lucky).

    Parameters
    ----------
    ranker_val
        Ranker scores of the validation pairs.
    z_fit, z_val
        Per-generator z-scores of the other / validation pairs (blend inputs).
    score_fit, score_val
        Per-generator raw scores of the other / validation pairs (a generator alone).
    fit_groups, val_groups
        ``(group, positive, n_positive)`` of the other / validation pairs.
    min_gain
        The ranker is kept only if it beats the alternative by more than this.

    Returns
    -------
    ServingChoice
        ``validation`` holds every contender's NDCG@10 on the validation users and, under
        ``"<name>@fit"``, the figures the alternative was chosen by.
    """
    vg, vp, vn = val_groups
    alt, weights, fit_fig = _pick_alternative(z_fit, score_fit, fit_groups)
    figures = {"ranker": group_ndcg(ranker_val, vg, vp, vn)}
    for name, s in score_val.items():
        figures[f"generator:{name}"] = group_ndcg(s, vg, vp, vn)
    if "blend" in fit_fig:
        figures["blend"] = group_ndcg(blend_scores(z_val, weights), vg, vp, vn)
    figures.update({f"{k}@fit": v for k, v in fit_fig.items()})
    figures["alternative"] = alt  # type: ignore[assignment]
    ranker = np.nan_to_num(figures["ranker"], nan=-1.0)
    if ranker > np.nan_to_num(figures[alt], nan=-1.0) + min_gain:
        return ServingChoice("ranker", {}, figures)
    w = _weights_of(alt, weights)
    logger.warning(
        "hybrid: the ranker (inner-validation NDCG@10 %.4f) does not beat %s (%.4f); "
        "serving %s instead",
        figures["ranker"],
        alt,
        figures[alt],
        alt,
    )
    return ServingChoice(alt, w, figures)


def _subset(
    groups: tuple[np.ndarray, np.ndarray, np.ndarray], mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(group, positive, n_positive)`` of the pairs in ``mask``, groups renumbered."""
    group, positive, n_positive = groups
    kept, g = np.unique(group[mask], return_inverse=True)
    return g, positive[mask], n_positive[kept]


def _pick_alternative(
    z: dict[str, np.ndarray],
    score: dict[str, np.ndarray],
    groups: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[str, dict[str, float], dict[str, float]]:
    """Best of every generator alone and the tuned blend on these groups.

    Returns the winner (``"blend"`` or ``"generator:<name>"``), the tuned blend weights
    (empty with one generator) and every contender's figure.
    """
    fig = {f"generator:{g}": group_ndcg(s, *groups) for g, s in score.items()}
    weights: dict[str, float] = {}
    if len(z) > 1:
        weights, fig["blend"] = tune_blend(z, *groups)
    alt = max(fig, key=lambda k: (np.nan_to_num(fig[k], nan=-1.0), k == "blend"))
    return alt, weights, fig


def _weights_of(alt: str, blend_weights: dict[str, float]) -> dict[str, float]:
    """Blend weights serving ``alt``: the blend's, or one-hot for a generator alone."""
    return blend_weights if alt == "blend" else {alt.split(":", 1)[1]: 1.0}


def choose_serving_cross_fitted(
    ranker_oof: np.ndarray,
    z: dict[str, np.ndarray],
    score: dict[str, np.ndarray],
    groups: tuple[np.ndarray, np.ndarray, np.ndarray],
    fold: np.ndarray,
    *,
    min_gain: float = 0.0,
    mix_shares: tuple[float, ...] = (0.2, 0.35, 0.5, 0.65, 0.8),
) -> tuple[ServingChoice, np.ndarray]:
    """Keep the ranker only if it beats the alternative, judged on every label user.

    Cross-fitting: ``ranker_oof`` holds, for the pairs of each fold's users, the scores of a
    ranker trained on the other folds. The alternative is cross-fitted the same way: for
    each fold, the best of every generator alone and the tuned blend is picked (and the
    blend weights tuned) on the other folds' users, then scored on this fold's. Ranker and
    alternative are compared on the same users (all label users, a paired comparison; far
    less noisy than one small validation part). The alternative served when the ranker
    loses is picked, and its weights tuned, on every label user.

    The ranker must beat every generator alone; then its figure is that of its best mix
    with the alternative: the margin plus a
    share of the (spread-matched) alternative's score, the share picked from ``mix_shares``
    (or 0: the ranker alone) on the out-of-fold scores. On random splits a learned ranker
    and a linear blend of strong generators make different errors, and their mix ranks
    better than either.

    Parameters
    ----------
    ranker_oof
        Out-of-fold ranker score of every pair.
    z, score
        Per-generator z-scores (blend inputs) and raw scores of every pair.
    groups
        ``(group, positive, n_positive)`` of the pairs (groups numbered from 0).
    fold
        Fold number of every pair (all pairs of a user in one fold).
    min_gain
        The ranker is kept only if it beats the alternative by more than this.
    mix_shares
        Shares of the alternative tried in the ranker's mix.

    Returns
    -------
    (ServingChoice, numpy.ndarray)
        The choice (``validation``: the ranker's and the cross-fitted alternative's
        NDCG@10 over every label user, each generator alone and the blend tuned on every
        label user) and the out-of-fold scores of what is served (for the calibration).
    """
    alt_oof = np.zeros(len(ranker_oof), np.float64)
    picks: list[str] = []
    for k in np.unique(fold):
        inside = fold == k
        rest = ~inside
        alt, blend_w, _ = _pick_alternative(
            {g: v[rest] for g, v in z.items()},
            {g: v[rest] for g, v in score.items()},
            _subset(groups, rest),
        )
        picks.append(alt)
        zin = {g: v[inside] for g, v in z.items()}
        # a z-score blend ranks like the generator's raw score when it has one weight
        alt_oof[inside] = blend_scores(zin, _weights_of(alt, blend_w))
    alt, blend_w, fig = _pick_alternative(z, score, groups)
    weights = _weights_of(alt, blend_w)
    figures: dict[str, float | str] = {
        "ranker": group_ndcg(ranker_oof, *groups),
        "alternative_cross_fitted": group_ndcg(alt_oof, *groups),
        **fig,
        "alternative": alt,
        "alternative_per_fold": ",".join(picks),
    }
    # the ranker mixed with the alternative: margin + share / (1 - share) * scale * blend,
    # ``scale`` matching the two spreads; share 0 is the ranker alone
    scale = float(np.std(ranker_oof) / max(float(np.std(alt_oof)), 1e-12))
    best_share, best_fig, best_scores = 0.0, figures["ranker"], ranker_oof
    for share in mix_shares:
        mixed = ranker_oof + share / (1.0 - share) * scale * alt_oof
        v = group_ndcg(mixed, *groups)
        if np.nan_to_num(v, nan=-1.0) > np.nan_to_num(best_fig, nan=-1.0):
            best_share, best_fig, best_scores = share, v, mixed
    figures["ranker_mixed"] = best_fig
    figures["ranker_mix_share"] = best_share
    best_generator = max(np.nan_to_num(fig[f"generator:{g}"], nan=-1.0) for g in score)
    # the ranker alone must beat every generator alone (a mix mostly made of the blend
    # must not pass off a ranker that learned nothing), and its best mix the alternative
    alone_wins = np.nan_to_num(figures["ranker"], nan=-1.0) > best_generator
    ranker = np.nan_to_num(best_fig, nan=-1.0)
    if (
        alone_wins
        and ranker > np.nan_to_num(figures["alternative_cross_fitted"], nan=-1.0) + min_gain
    ):
        coef = best_share / (1.0 - best_share) * scale
        return (
            ServingChoice("ranker", weights if coef else {}, figures, blend_coef=coef),
            best_scores,
        )
    logger.warning(
        "hybrid: the ranker (cross-fitted NDCG@10 %.4f over the label users) does not beat "
        "its generators' best alternative (%.4f); serving %s instead",
        figures["ranker"],
        figures["alternative_cross_fitted"],
        alt,
    )
    return ServingChoice(alt, weights, figures), alt_oof


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
