"""Time-based splitters: per-user temporal ratio, leave-last-k-out, leave-one-out and a global
time cut-off. Ties in time are broken by item index; train tags later than the latest train
interaction are dropped (the tag leakage rule of :mod:`reelrank.data.split`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset
from reelrank.data.split_base import (
    _EPS,
    _TEST,
    _TRAIN,
    _VAL,
    Split,
    _build,
    _check_not_empty,
    _check_ratio,
    _rank_within_user,
)
from reelrank.errors import ConfigError

__all__ = ["leave_last_k_out", "leave_one_out", "temporal_split", "time_cutoff_split"]


# ---------------------------------------------------------------------------- time
def _last_per_user(ds: Dataset, n_test: np.ndarray, n_val: np.ndarray) -> np.ndarray:
    """Part codes: each user's last ``n_test`` ratings by time are test, ``n_val`` before val."""
    position, count = _rank_within_user(ds, ds.timestamps)
    user_idx = ds.user_index_of_entries()
    from_end = count - 1 - position  # 0 = the user's latest rating
    t, v = n_test[user_idx], n_val[user_idx]
    part = np.full(ds.n_interactions, _TRAIN, dtype=np.int8)
    part[from_end < t] = _TEST
    part[(from_end >= t) & (from_end < t + v)] = _VAL
    return part


def temporal_split(ds: Dataset, test_ratio: float = 0.2, val_ratio: float = 0.0) -> Split:
    """Per-user temporal split: each user's last ratings by time are test.

    A user with ``n`` ratings gets ``round(n * test_ratio)`` test ratings (halves rounded
    up), and the ``round(n * val_ratio)`` ratings before those go to validation; at least
    one rating always stays in train, so users with very few ratings may get fewer held-out
    ratings (a user with a single rating is train only). Ties in time are broken by item
    index, so the split is deterministic.

    Parameters
    ----------
    ds
        The dataset to split.
    test_ratio, val_ratio
        Fractions of each user's ratings.

    Returns
    -------
    Split
        Per user, every train timestamp is ``<=`` every validation timestamp, which is
        ``<=`` every test timestamp.
    """
    _check_not_empty(ds)
    test_ratio = _check_ratio("test_ratio", test_ratio, allow_zero=False)
    val_ratio = _check_ratio("val_ratio", val_ratio)
    if test_ratio + val_ratio >= 1:
        raise ConfigError("test_ratio + val_ratio must be below 1")
    counts = ds.user_counts()
    n_test = np.floor(counts * test_ratio + 0.5 + _EPS).astype(np.int64)
    n_val = np.floor(counts * val_ratio + 0.5 + _EPS).astype(np.int64)
    # keep at least one training rating per user: shrink validation first, then test
    over = np.maximum(n_test + n_val - (counts - 1), 0)
    cut_val = np.minimum(over, n_val)
    n_val -= cut_val
    n_test -= np.minimum(over - cut_val, n_test)
    part = _last_per_user(ds, n_test, n_val)
    params = {"test_ratio": test_ratio, "val_ratio": val_ratio}
    return _build(ds, part, "temporal", params, time_based=True)


def leave_last_k_out(ds: Dataset, k: int = 1, val_k: int = 0) -> Split:
    """Each user's last ``k`` ratings by time are test, the ``val_k`` before them validation.

    Users with ``k + val_k`` ratings or fewer stay entirely in train (they have nothing
    left to learn from otherwise). Ties in time are broken by item index.
    """
    _check_not_empty(ds)
    if int(k) < 1 or int(val_k) < 0:
        raise ConfigError(f"k must be >= 1 and val_k >= 0, got k={k}, val_k={val_k}")
    k, val_k = int(k), int(val_k)
    counts = ds.user_counts()
    eligible = counts > k + val_k
    n_test = np.where(eligible, k, 0).astype(np.int64)
    n_val = np.where(eligible, val_k, 0).astype(np.int64)
    part = _last_per_user(ds, n_test, n_val)
    return _build(ds, part, "leave-last-k", {"k": k, "val_k": val_k}, time_based=True)


def leave_one_out(ds: Dataset, val: bool = False) -> Split:
    """Each user's latest rating is test (and the one before it validation if ``val``).

    Same as :func:`leave_last_k_out` with ``k=1, val_k=int(val)``.
    """
    result = leave_last_k_out(ds, k=1, val_k=1 if val else 0)
    return Split(
        train=result.train, test=result.test, validation=result.validation,
        method="leave-one-out", params={"val": bool(val)},
    )  # fmt: skip


def _to_timestamp(ds: Dataset, value: float | int | str, name: str) -> int:
    """A cutoff: epoch seconds, a quantile fraction in (0, 1), or an ISO date string."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                stamp = pd.Timestamp(text)
            except ValueError as e:
                raise ConfigError(f"{name}: cannot read {value!r} as a date or number") from e
            if stamp.tzinfo is None:
                stamp = stamp.tz_localize("UTC")
            return int(stamp.timestamp())
        value = number
    value = float(value)
    if 0 < value < 1:
        return int(np.quantile(ds.timestamps, value, method="lower"))
    if value < 0 or not math.isfinite(value):
        raise ConfigError(f"{name} must be a timestamp, a date or a fraction in (0, 1)")
    return int(value)


def time_cutoff_split(
    ds: Dataset,
    test_start: float | int | str,
    val_start: float | int | str | None = None,
) -> Split:
    """Global time cutoff: ratings at or after ``test_start`` are test.

    Parameters
    ----------
    ds
        The dataset to split.
    test_start
        Epoch seconds, an ISO date (``"2015-01-01"``, UTC) or a quantile fraction in
        (0, 1) of the rating timestamps (``0.8``: the last ~20% of ratings are test).
    val_start
        Same forms; ratings in ``[val_start, test_start)`` go to validation.

    Returns
    -------
    Split
        ``params`` holds the resolved cutoffs in epoch seconds.
    """
    _check_not_empty(ds)
    test_ts = _to_timestamp(ds, test_start, "test_start")
    val_ts = _to_timestamp(ds, val_start, "val_start") if val_start is not None else None
    if val_ts is not None and val_ts > test_ts:
        raise ConfigError("val_start must not be later than test_start")
    ts = ds.timestamps
    part = np.full(ds.n_interactions, _TRAIN, dtype=np.int8)
    if val_ts is not None:
        part[ts >= val_ts] = _VAL
    part[ts >= test_ts] = _TEST
    if not (part == _TRAIN).any():
        raise ConfigError("the cutoff leaves no training ratings")
    params: dict[str, Any] = {"test_start": test_ts, "val_start": val_ts}
    return _build(ds, part, "time-cutoff", params, time_based=True)
