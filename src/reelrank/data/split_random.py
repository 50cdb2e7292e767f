"""Random splitters: global ratio (cornac's ``RatioSplit``), stratified per user or per item
(Microsoft Recommenders' ``python_stratified_split``) and k-fold.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from reelrank.data.dataset import Dataset
from reelrank.data.split_base import (
    _TEST,
    _TRAIN,
    _VAL,
    Split,
    _build,
    _check_not_empty,
    _check_ratio,
)
from reelrank.data.split_ml100k import source_row_order
from reelrank.errors import ConfigError

__all__ = ["kfold", "random_split"]


# ---------------------------------------------------------------------------- random
def random_split(
    ds: Dataset,
    test_ratio: float = 0.2,
    val_ratio: float = 0.0,
    *,
    stratify: str | None = None,
    seed: int = 42,
    row_order: np.ndarray | str | None = None,
) -> Split:
    """Random ratio split, global or stratified per user / per item.

    Global (``stratify=None``) follows cornac's ``RatioSplit``: a
    ``RandomState(seed).permutation`` of the rows; ``ceil(test_ratio * n)`` rows go to
    test, ``ceil(val_ratio * n)`` to validation, the rest to train.

    Stratified follows Microsoft Recommenders' ``python_stratified_split`` exactly: one
    ``np.random.seed(seed); np.random.rand(n)`` draw per row, rows sorted by group then
    draw, ``rank = (cumcount + 1) / count`` within each user (or item) group; a row is train
    when ``rank <= r_train``, validation when ``r_train < rank <= r_train + r_val``, test
    otherwise, with the ratios normalised with ``math.fsum`` as they do.

    Parameters
    ----------
    ds
        The dataset to split.
    test_ratio, val_ratio
        Fractions of ratings (of each group's ratings when stratified).
    stratify
        ``None``, ``"user"`` or ``"item"``.
    seed
        Random seed.
    row_order
        Order in which the random draws are assigned to the CSR entries (a permutation of
        ``range(n_ratings)``; default: CSR order). Use :func:`source_row_order` to assign
        them in source-file order, which reproduces the other libraries' splits exactly;
        the string ``"source"`` calls it for you (ml-100k only).

    Returns
    -------
    Split
        ``method`` is ``random``, ``stratified-user`` or ``stratified-item``.
    """
    _check_not_empty(ds)
    test_ratio = _check_ratio("test_ratio", test_ratio, allow_zero=False)
    val_ratio = _check_ratio("val_ratio", val_ratio)
    if test_ratio + val_ratio >= 1:
        raise ConfigError("test_ratio + val_ratio must be below 1")
    n = ds.n_interactions
    row_order_arg = row_order
    custom_order = row_order is not None
    if isinstance(row_order, str):
        if row_order != "source":
            raise ConfigError(f"row_order must be an array or 'source', got {row_order!r}")
        row_order = source_row_order(ds)
    elif row_order is None:
        row_order = np.arange(n, dtype=np.int64)
    else:
        row_order = np.asarray(row_order, dtype=np.int64)
        if len(row_order) != n or not np.array_equal(np.sort(row_order), np.arange(n)):
            raise ConfigError("row_order must be a permutation of range(n_ratings)")
    part = np.full(n, _TRAIN, dtype=np.int8)
    if stratify is None:
        method = "random"
        n_test = math.ceil(test_ratio * n)
        n_val = math.ceil(val_ratio * n)
        if n_test + n_val >= n:
            raise ConfigError(f"too few ratings ({n}) for these ratios")
        perm = np.random.RandomState(seed).permutation(n)  # positions in row order
        rows = row_order[perm]
        part[rows[n - n_test :]] = _TEST
        part[rows[n - n_test - n_val : n - n_test]] = _VAL
    elif stratify in ("user", "item"):
        method = f"stratified-{stratify}"
        # rounded so that 1 - 0.2 - 0.1 is the 0.7 a user would pass to their splitter
        train_ratio = round(1.0 - test_ratio - val_ratio, 12)
        ratios = [train_ratio, val_ratio, test_ratio] if val_ratio > 0 else [train_ratio]
        if len(ratios) > 1 and math.fsum(ratios) != 1.0:
            ratios = [r / math.fsum(ratios) for r in ratios]
        thresholds = np.cumsum(ratios) if len(ratios) > 1 else np.array([train_ratio, 1.0])
        draw = np.empty(n, dtype=np.float64)
        draw[row_order] = np.random.RandomState(seed).rand(n)
        group = ds.user_index_of_entries() if stratify == "user" else ds.interactions.indices
        group = np.asarray(group, dtype=np.int64)
        order = np.lexsort((draw, group))
        sorted_group = group[order]
        starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
        counts = np.diff(np.r_[starts, n])
        cumcount = np.arange(n) - np.repeat(starts, counts)
        rank = np.empty(n, dtype=np.float64)
        rank[order] = (cumcount + 1) / np.repeat(counts, counts)
        part[rank > thresholds[0]] = _VAL if val_ratio > 0 else _TEST
        if val_ratio > 0:
            part[rank > thresholds[1]] = _TEST
    else:
        raise ConfigError(f"stratify must be None, 'user' or 'item', got {stratify!r}")
    params = {"test_ratio": test_ratio, "val_ratio": val_ratio, "seed": seed}
    if custom_order:
        params["row_order"] = "source" if isinstance(row_order_arg, str) else "custom"
    return _build(ds, part, method, params)


# ---------------------------------------------------------------------------- k-fold
def _fold_of(ds: Dataset, k: int, seed: int) -> np.ndarray:
    n = ds.n_interactions
    if not 2 <= k <= n:
        raise ConfigError(f"k must be between 2 and the number of ratings ({n}), got {k}")
    perm = np.random.RandomState(seed).permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[perm] = np.arange(n, dtype=np.int64) * k // n  # contiguous chunks of the permutation
    return fold


def _kfold_one(ds: Dataset, fold: np.ndarray, i: int, k: int, seed: int) -> Split:
    part = np.where(fold == i, _TEST, _TRAIN).astype(np.int8)
    return _build(ds, part, "kfold", {"k": k, "seed": seed, "fold": i})


def kfold(ds: Dataset, k: int = 5, seed: int = 42) -> Iterator[Split]:
    """K-fold cross-validation over ratings: every rating is in exactly one test fold.

    Ratings are shuffled with ``RandomState(seed).permutation`` and cut into ``k``
    contiguous chunks whose sizes differ by at most one.

    Yields
    ------
    Split
        Fold ``i`` (``params["fold"]``), ``i = 0 .. k-1``.
    """
    _check_not_empty(ds)
    k = int(k)
    fold = _fold_of(ds, k, seed)
    for i in range(k):
        yield _kfold_one(ds, fold, i, k, seed)


def _kfold_split(ds: Dataset, k: int = 5, seed: int = 42, fold: int = 0) -> Split:
    """Fold ``fold`` of :func:`kfold` (for the :func:`split` dispatcher)."""
    _check_not_empty(ds)
    k = int(k)
    if not 0 <= int(fold) < k:
        raise ConfigError(f"fold must be in 0..{k - 1}, got {fold}")
    return _kfold_one(ds, _fold_of(ds, k, seed), int(fold), k, seed)
