"""One scoring pass: who is scored, against what, over which candidates, with which metrics.

:func:`make_target` turns a held-out part into a :class:`Target` under a protocol's rules
(unknown users / items dropped, relevance threshold, candidate and exclusion rules);
:func:`score_model` asks a fitted model for rankings in user batches and computes per-user
metrics with :mod:`reelrank.evaluate.metrics`. The runner and the tuner both use it, so a
validation score means exactly what the test score means.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.evaluate import metrics as M
from reelrank.evaluate.protocols import RATING_METRICS, Protocol, parse_metric
from reelrank.models.base import Recommender

logger = logging.getLogger(__name__)

__all__ = ["Target", "genre_vectors", "make_target", "score_model"]

_USER_BATCH = 1024
#: most (user, item) cells one batch of a full ranking holds (AUC / untruncated MAP)
_MAX_BATCH_CELLS = 4_000_000


@dataclass
class Target:
    """What one scoring pass needs.

    Attributes
    ----------
    users
        Rows to score (user indices, or fold-in row positions).
    relevant
        ``(len(users), n_items)`` relevant held-out items.
    ratings_part
        The held-out part (for RMSE / MAE).
    fold_in
        ``(len(users), n_items)`` fold-in ratings (``fold-in`` protocols), else None.
    candidates
        Items every user ranks, or None for the whole catalogue.
    exclude
        ``(len(users), n_items)`` items removed from each user's candidates when the protocol
        removes only some training items (cornac's rule), else None (all training items are
        removed by the model's ``exclude_seen``).
    n_without_relevant, n_dropped_unknown
        Test users without a relevant item; test ratings dropped as unknown to train.
    """

    users: np.ndarray
    relevant: sp.csr_matrix
    ratings_part: Dataset
    fold_in: sp.csr_matrix | None
    candidates: np.ndarray | None
    exclude: sp.csr_matrix | None
    n_without_relevant: int
    n_dropped_unknown: int


def make_target(
    protocol: Protocol,
    fit_train: Dataset,
    part: Dataset,
    *,
    fold_in: Dataset | None,
    cold_items: np.ndarray | None,
) -> Target:
    """The :class:`Target` of scoring ``part`` for models fitted on ``fit_train``."""
    n_dropped = 0
    if protocol.exclude_unknown:
        known_users = fit_train.user_counts() > 0
        known_items = fit_train.item_counts() > 0
        keep = known_users[part.user_index_of_entries()] & known_items[part.interactions.indices]
        n_dropped = int((~keep).sum())
        part = part.with_interactions(keep)
    rel = part.binary(protocol.relevance_threshold)
    rel.eliminate_zeros()
    test_users = part.active_users()
    n_rel = np.diff(rel.indptr)[test_users]
    users = test_users[n_rel > 0]
    candidates: np.ndarray | None = None
    if protocol.candidates == "known":
        candidates = np.flatnonzero(fit_train.item_counts() > 0)
    elif protocol.candidates == "cold":
        if cold_items is None:
            raise ConfigError(f"protocol {protocol.name!r} needs the cold items of the split")
        candidates = np.asarray(cold_items, dtype=np.int64)
    exclude = None
    if protocol.exclude == "train-relevant":
        liked = fit_train.binary(protocol.relevance_threshold)
        liked.eliminate_zeros()
        exclude = sp.csr_matrix(liked[users])
    fold_rows = None
    if protocol.mode == "fold-in":
        if fold_in is None:
            raise ConfigError(f"protocol {protocol.name!r} needs fold-in ratings")
        fold_rows = fold_in.interactions[users]
    return Target(
        users=users,
        relevant=rel[users],
        ratings_part=part,
        fold_in=fold_rows,
        candidates=candidates,
        exclude=exclude,
        n_without_relevant=int((n_rel == 0).sum()),
        n_dropped_unknown=n_dropped,
    )


def genre_vectors(ds: Dataset) -> sp.csr_matrix:
    """One-hot genres per item (content vectors for intra-list diversity)."""
    genres = ds.movies["genres"]
    lengths = genres.map(len).to_numpy()
    flat = pd.Series([g for gs in genres for g in gs], dtype="string")
    codes, names = pd.factorize(flat)
    rows = np.repeat(np.arange(len(genres)), lengths)
    return sp.csr_matrix(
        (np.ones(len(codes), np.float32), (rows, codes)), shape=(len(genres), max(1, len(names)))
    )


# ---------------------------------------------------------------------------- ranking
def _drop_excluded(
    items: np.ndarray, scores: np.ndarray, exclude: sp.csr_matrix, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's excluded items, keeping the order of the others (first ``n``)."""
    drop = M.hits(items, exclude) | (items < 0)
    order = np.argsort(drop, axis=1, kind="stable")  # kept entries first, in rank order
    items = np.take_along_axis(items, order, axis=1)[:, :n]
    scores = np.take_along_axis(scores, order, axis=1)[:, :n]
    dropped = np.take_along_axis(drop, order, axis=1)[:, :n]
    items = np.where(dropped, -1, items)
    scores = np.where(dropped, -np.inf, scores)
    return items, scores


def _recommend_batch(
    model: Recommender, target: Target, sl: slice, n: int, n_cand: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` lists (``-1`` padded) and their scores for the users ``target.users[sl]``."""
    if target.exclude is not None:
        # only some training items leave the candidates: rank them all, drop the others
        extra = int(np.diff(target.exclude.indptr)[sl].max(initial=0))
        depth = min(n + extra, max(n_cand, 1))
        items, scores = model.recommend(
            target.users[sl], n=depth, exclude_seen=False, candidates=target.candidates
        )
        items, scores = _drop_excluded(items, scores, target.exclude[sl], n)
    elif target.fold_in is not None:
        items, scores = model.recommend_for_ratings(
            target.fold_in[sl], n=n, exclude_seen=True, candidates=target.candidates
        )
    else:
        items, scores = model.recommend(
            target.users[sl], n=n, exclude_seen=True, candidates=target.candidates
        )
    out = np.full((sl.stop - sl.start, n), -1, dtype=np.int64)
    out_scores = np.full(out.shape, -np.inf, dtype=np.float64)
    width = min(items.shape[1], n)
    out[:, :width] = items[:, :width]
    out_scores[:, :width] = scores[:, :width]
    return out, out_scores


def _ranking_metrics(
    model: Recommender,
    protocol: Protocol,
    target: Target,
    fit_train: Dataset,
    metric_names: Sequence[str],
    *,
    progress: bool,
    desc: str,
    genres: sp.csr_matrix | None,
) -> dict[str, np.ndarray | float]:
    parsed = [parse_metric(m) for m in metric_names]
    ks = [k for _, k in parsed if k is not None]
    full = any(b in ("auc", "map") and k is None for b, k in parsed)
    n_items = fit_train.n_items
    n_cand = n_items if target.candidates is None else len(target.candidates)
    depth = max([n_cand, *ks]) if full else (max(ks) if ks else 10)
    counts = fit_train.item_counts()
    n_train_users = max(1, int((fit_train.user_counts() > 0).sum()))
    # users are scored in batches, so a full ranking never needs users x items at once
    batch = max(1, min(_USER_BATCH, _MAX_BATCH_CELLS // max(depth, 1)))
    n_users = len(target.users)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in metric_names}
    in_top = {k: np.zeros(n_items, dtype=bool) for b, k in parsed if b == "coverage"}
    starts = range(0, n_users, batch)
    for start in tqdm(starts, desc=desc, disable=not progress or n_users <= batch, leave=False):
        sl = slice(start, min(n_users, start + batch))
        recs, scores = _recommend_batch(model, target, sl, depth, n_cand)
        rel = target.relevant[sl]
        full_values: tuple[np.ndarray, np.ndarray] | None = None
        for name, (base, k) in zip(metric_names, parsed, strict=True):
            value: np.ndarray | None = None
            if base == "precision":
                value = M.precision_at_k(recs, rel, k)
            elif base == "recall":
                value = M.recall_at_k(recs, rel, k)
            elif base == "ndcg":
                value = M.ndcg_at_k(recs, rel, k)
            elif base == "map" and k is not None:
                value = M.map_at_k(recs, rel, k, denominator=protocol.map_denominator)
            elif base == "mrr":
                value = M.mrr_at_k(recs, rel, k)
            elif base == "hit":
                value = M.hit_rate_at_k(recs, rel, k)
            elif base == "coverage":
                top = recs[:, :k]
                in_top[k][top[top >= 0]] = True
            elif base == "novelty":
                value = M.novelty(recs, counts, n_train_users, k)
            elif base == "popularity":
                value = M.popularity_bias(recs, counts, k)
            elif base == "diversity" and genres is not None:
                value = M.intra_list_diversity(recs, genres, k)
            elif base in ("auc", "map"):
                if full_values is None:
                    full_values = M.full_ranking_auc_ap(recs, scores, rel, ties=protocol.auc_ties)
                value = full_values[0] if base == "auc" else full_values[1]
            if value is not None:
                parts[name].append(value)
    out: dict[str, np.ndarray | float] = {}
    for name, (base, k) in zip(metric_names, parsed, strict=True):
        if base == "coverage":
            out[name] = float(in_top[k].sum() / max(n_cand, 1))
        elif parts[name]:
            out[name] = np.concatenate(parts[name])
        elif n_users == 0 and not (base == "diversity" and genres is None):
            out[name] = np.zeros(0)
    return out


def _rating_metrics(
    model: Recommender,
    protocol: Protocol,
    fit_train: Dataset,
    target: Target,
    metric_names: Sequence[str],
) -> dict[str, np.ndarray | float]:
    part = target.ratings_part
    user_idx = part.user_index_of_entries()
    pred = model.score(user_idx, part.interactions.indices.astype(np.int64)).astype(np.float64)
    if protocol.clip_ratings and fit_train.n_interactions:
        pred = np.clip(pred, float(fit_train.ratings.min()), float(fit_train.ratings.max()))
    err = pred - part.ratings.astype(np.float64)
    out: dict[str, np.ndarray | float] = {}
    for name in metric_names:
        base, _ = parse_metric(name)
        loss = err**2 if base == "rmse" else np.abs(err)
        if protocol.rating_average == "users":  # per user, then the mean over users
            _, inverse = np.unique(user_idx, return_inverse=True)
            per_user = np.bincount(inverse, loss) / np.bincount(inverse)
            out[name] = np.sqrt(per_user) if base == "rmse" else per_user
        else:
            out[name] = float(np.sqrt(loss.mean())) if base == "rmse" else float(loss.mean())
    return out


def score_model(
    model: Recommender,
    protocol: Protocol,
    fit_train: Dataset,
    target: Target,
    names: Sequence[str],
    *,
    progress: bool = False,
    desc: str = "scoring",
    genres: sp.csr_matrix | None = None,
) -> dict[str, np.ndarray | float]:
    """Per-user values (or one float for RMSE / MAE / coverage) of each metric in ``names``.

    Parameters
    ----------
    model
        A model fitted on ``fit_train``.
    protocol
        Its relevance, exclusion, MAP and AUC-tie rules apply.
    fit_train
        The training data (item popularity for novelty, catalogue size).
    target
        From :func:`make_target`.
    names
        Metric names (``ndcg@10``, ``auc``, ``rmse``...).
    progress, desc
        Progress bar over user batches.
    genres
        Item content vectors for intra-list diversity (skipped when None).
    """
    out: dict[str, np.ndarray | float] = {}
    ranking = [m for m in names if parse_metric(m)[0] not in RATING_METRICS]
    rating = [m for m in names if parse_metric(m)[0] in RATING_METRICS]
    if ranking:
        out.update(
            _ranking_metrics(
                model, protocol, target, fit_train, ranking, progress=progress, desc=desc,
                genres=genres,
            )
        )  # fmt: skip
    if rating and model.predicts_ratings and target.ratings_part.n_interactions:
        out.update(_rating_metrics(model, protocol, fit_train, target, rating))
    return out
