"""The hybrid's inner label hold-out: cut from ``train`` the way the protocol cuts its test.

:class:`~reelrank.models.rerank.HybridRanker` learns its ranker from labels it holds out of
its own training data. How it holds them out decides what the ranker learns, so the cut
follows the protocol the model will be judged by (:class:`~reelrank.models.base.TrainingHint`):

``"temporal"``
    Each user's latest ``ratio`` of ratings (users with at least ``min_interactions``): the
    ranker learns what a user rates *next* (recency, trends).
``"random"``
    A random ``ratio`` of each eligible user's ratings (stratified per user, seeded): for
    random splits where test ratings are not the latest ones, and for fold-in users.
``"stratified"``
    A random ``ratio`` of each item's ratings (stratified per item, items with at least two
    ratings, seeded), as the ``stratified`` protocol cuts its test part.
``"items"``
    Whole items held out: a random ``ratio`` of the items with at least ``min_item_ratings``
    ratings lose every rating, which all become labels; the ranker then ranks those cold
    items only (as a cold-item protocol does), from content features alone.

Besides, ``cold_item_share`` of the other items can be made *simulated cold* (DropoutNet,
Volkovs et al. 2017): their ratings leave the history (the generators and item statistics
never see them) but stay excluded from the candidates, and their held-out ratings stay
labels, so the ranker sees positives whose collaborative features are absent.

Labels follow the protocol's relevance rule: with ``positive_threshold=None`` every held-out
rating is relevant (label 1); otherwise held-out ratings ``>= positive_threshold`` get the top
label (2 with graded labels, the other held-out ratings 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "LABEL_SPLITS",
    "InnerSplit",
    "cold_item_mask",
    "grade_labels",
    "holdout_mask",
    "inner_split",
    "random_holdout_mask",
    "random_negatives",
    "sample_label_users",
]

#: inner hold-out kinds of the hybrid
LABEL_SPLITS = ("temporal", "random", "stratified", "items")


def holdout_mask(ds: Dataset, ratio: float, min_interactions: int) -> np.ndarray:
    """Boolean mask (aligned with CSR data) of each user's last ``ratio`` of interactions.

    Users with fewer than ``min_interactions`` keep everything in the history. At least one
    interaction is held out per eligible user; ties in time are broken by item index.
    """
    users = ds.user_index_of_entries()
    order = np.lexsort((ds.interactions.indices, ds.timestamps, users))
    return _last_of_each_user(ds, users, order, ratio, min_interactions)


def random_holdout_mask(
    ds: Dataset, ratio: float, min_interactions: int, seed: int, *, by: str = "user"
) -> np.ndarray:
    """Boolean mask of a random ``ratio`` of each eligible user's (or item's) interactions.

    With ``by="user"`` the same per-user counts as :func:`holdout_mask`, but the held-out
    ratings are drawn at random (seeded) instead of being the latest. With ``by="item"``
    ``ceil(ratio * count)`` random ratings of every item with at least ``min_interactions``
    (and 2) ratings.
    """
    rng = np.random.default_rng(seed)
    if by == "user":
        users = ds.user_index_of_entries()
        order = np.lexsort((rng.random(len(users)), users))
        return _last_of_each_user(ds, users, order, ratio, min_interactions)
    if by != "item":
        raise ValueError("by must be 'user' or 'item'")
    items = ds.interactions.indices.astype(np.int64)
    order = np.lexsort((rng.random(len(items)), items))
    counts = ds.item_counts()
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order)) - starts[items[order]]
    n_hold = np.ceil(counts * ratio).astype(np.int64)
    n_hold[counts < max(min_interactions, 2)] = 0
    return pos < n_hold[items]


def _last_of_each_user(
    ds: Dataset, users: np.ndarray, order: np.ndarray, ratio: float, min_interactions: int
) -> np.ndarray:
    counts = ds.user_counts()
    starts = ds.interactions.indptr[:-1]
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order)) - starts[users[order]]
    n_hold = np.ceil(counts * ratio).astype(np.int64)
    n_hold[counts < max(min_interactions, 2)] = 0
    return pos >= (counts - n_hold)[users]


def cold_item_mask(
    ds: Dataset, share: float, min_ratings: int, seed: int, *, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Entries of a random ``share`` of the items with at least ``min_ratings`` ratings.

    Parameters
    ----------
    exclude
        Optional boolean item mask of items that may not be drawn.

    Returns
    -------
    (mask, item_idx)
        Boolean mask aligned with the CSR data (every rating of the drawn items) and the
        drawn items, sorted.
    """
    eligible = ds.item_counts() >= max(min_ratings, 1)
    if exclude is not None:
        eligible &= ~exclude
    pool = np.flatnonzero(eligible)
    n = round(len(pool) * share)
    if share > 0 and n == 0 and len(pool):
        n = 1
    rng = np.random.default_rng(seed)
    items = np.sort(rng.choice(pool, size=n, replace=False)) if n else np.empty(0, np.int64)
    drawn = np.zeros(ds.n_items, dtype=bool)
    drawn[items] = True
    return drawn[ds.interactions.indices], items.astype(np.int64)


def grade_labels(
    labels: sp.csr_matrix, positive_threshold: float | None, graded: bool
) -> sp.csr_matrix:
    """Labels of held-out ratings (same sparsity as ``labels``) by the relevance rule."""
    lab = labels.tocsr()
    if positive_threshold is None:
        grade = np.ones(lab.nnz, np.float32)
    elif graded:
        grade = np.where(lab.data >= positive_threshold, 2.0, 1.0).astype(np.float32)
    else:
        grade = (lab.data >= positive_threshold).astype(np.float32)
    return sp.csr_matrix((grade, lab.indices, lab.indptr), shape=lab.shape)


@dataclass(frozen=True)
class InnerSplit:
    """The hybrid's inner hold-out of ``train``.

    Attributes
    ----------
    history
        What the generators and item statistics are fitted on.
    labels
        The held-out ratings that give the labels.
    excluded
        (n_users, n_items) binary CSR of items never proposed to a user: the history plus
        the ratings of simulated-cold items that left it.
    restrict
        The items label users rank (the held-out cold items of ``"items"``), or None (all).
    cold_items
        Items whose ratings all left the history (held-out and simulated cold items).
    """

    history: Dataset
    labels: Dataset
    excluded: sp.csr_matrix
    restrict: np.ndarray | None
    cold_items: np.ndarray


def inner_split(
    train: Dataset,
    kind: str,
    *,
    ratio: float,
    min_user_interactions: int,
    min_item_ratings: int = 5,
    cold_item_share: float = 0.0,
    max_label_users: int | None = None,
    seed: int = 42,
) -> InnerSplit:
    """Cut the hybrid's label hold-out from ``train`` (see the module docstring).

    Raises
    ------
    ConfigError
        When nothing can be held out (too few ratings per user or per item).
    """
    if kind not in LABEL_SPLITS:
        raise ConfigError(f"label_split must be one of {LABEL_SPLITS}, not {kind!r}")
    restrict = None
    if kind == "items":
        label_mask, restrict = cold_item_mask(train, ratio, min_item_ratings, seed + 3)
        if not label_mask.any():
            raise ConfigError(
                f"hybrid: no item has >= {min_item_ratings} training ratings to hold out as "
                "cold items; use label_split='temporal' or 'random'"
            )
    elif kind == "temporal":
        label_mask = holdout_mask(train, ratio, min_user_interactions)
    elif kind == "stratified":
        label_mask = random_holdout_mask(train, ratio, 2, seed + 5, by="item")
    else:
        label_mask = random_holdout_mask(train, ratio, min_user_interactions, seed + 5)
    if not label_mask.any():
        raise ConfigError(
            f"hybrid: no user has >= {min_user_interactions} training ratings to hold out "
            "labels from; lower min_user_interactions"
        )
    if max_label_users is not None:
        label_mask = sample_label_users(train, label_mask, max_label_users, seed)
    dropped = np.zeros_like(label_mask)
    cold = restrict if restrict is not None else np.empty(0, np.int64)
    if cold_item_share > 0:
        taken = np.zeros(train.n_items, dtype=bool)
        taken[cold] = True
        sim_mask, sim_items = cold_item_mask(
            train, cold_item_share, min_item_ratings, seed + 7, exclude=taken
        )
        dropped = sim_mask & ~label_mask
        cold = np.union1d(cold, sim_items)
        logger.info("hybrid: %d simulated cold items (DropoutNet)", len(sim_items))
    history = train.with_interactions(~label_mask & ~dropped)
    labels = train.with_interactions(label_mask)
    excluded = train.with_interactions(~label_mask).binary()
    return InnerSplit(
        history=history,
        labels=labels,
        excluded=excluded,
        restrict=restrict,
        cold_items=cold.astype(np.int64),
    )


def sample_label_users(
    train: Dataset, label_mask: np.ndarray, max_users: int, seed: int
) -> np.ndarray:
    """``label_mask`` restricted to a seeded random sample of at most ``max_users`` users."""
    entry_user = train.user_index_of_entries()
    users = np.unique(entry_user[label_mask])
    if len(users) <= max_users:
        return label_mask
    keep = np.zeros(train.n_users, dtype=bool)
    keep[np.random.default_rng(seed + 2).choice(users, size=max_users, replace=False)] = True
    logger.info("hybrid: label pairs from %d of %d users", max_users, len(users))
    return label_mask & keep[entry_user]


def random_negatives(
    rng: np.random.Generator,
    exclude: sp.csr_matrix,
    n_items: int,
    k: int,
    pool: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` distinct random items per row of ``exclude`` that are not stored in it.

    Parameters
    ----------
    pool
        Draw from these items only (default: the whole catalogue).
    """
    n_rows = exclude.shape[0]
    size = n_items if pool is None else len(pool)
    if size == 0 or k == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    draws = rng.integers(0, size, size=(n_rows, 3 * k + 10))
    if pool is not None:
        draws = np.asarray(pool, dtype=np.int64)[draws]
    rows = np.repeat(np.arange(n_rows), draws.shape[1])
    items = draws.ravel()
    codes = rows * n_items + items
    ex = exclude.tocsr()
    ex_codes = np.repeat(np.arange(n_rows), np.diff(ex.indptr)) * n_items + ex.indices
    ok = ~np.isin(codes, ex_codes)
    _, first = np.unique(codes, return_index=True)
    uniq = np.zeros(len(codes), dtype=bool)
    uniq[first] = True
    keep = np.flatnonzero(ok & uniq)  # in draw order, per row
    r = rows[keep]
    starts = np.searchsorted(r, np.arange(n_rows))
    pos = np.arange(len(keep)) - starts[r]
    keep = keep[pos < k]
    return rows[keep], items[keep].astype(np.int64)
