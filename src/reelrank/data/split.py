"""Splitters: train / validation / test (and fold-in) parts of a :class:`Dataset`.

Every splitter returns a :class:`Split` whose parts are :class:`Dataset` objects built with
:meth:`Dataset.with_interactions`, so they share the *same* ``users`` and ``items``
:class:`~reelrank.data.dataset.IdMap` objects and movie table as the input: an index means
the same user or movie in every part, and nothing ever mutates a map.

Splitters are vectorised (argsort / group-rank tricks over the CSR arrays, no per-user Python
loops) and deterministic: the random ones take a ``seed``; ties in time are broken by item
index.

Tag leakage rule
----------------
User tags are interactions too, so the **train** part's ``tags`` are filtered; the
validation, test and fold-in parts keep the input's tags unchanged (a model never trains on
them):

* every split drops from train the tags a user applied to a movie whose rating that user
  has in a held-out part (validation, test or fold-in);
* time-based splits (``temporal``, ``leave-last-k``, ``leave-one-out``, ``time-cutoff``)
  also drop every tag whose timestamp is later than the latest train interaction;
* ``cold-items`` drops every tag on a cold movie (unless ``keep_tags=True``: then the
  cold movies' tags stay as catalogue metadata) and ``cold-users`` every tag of a held-out
  user, so neither leaks into training through the tag vocabulary.

Methods (see :data:`METHODS` and :func:`split`): ``random``, ``stratified-user``,
``stratified-item``, ``temporal``, ``leave-last-k``, ``leave-one-out``, ``time-cutoff``,
``kfold``, ``cold-items``, ``cold-users``, ``predefined``.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

__all__ = [
    "METHODS",
    "PREDEFINED_SPLITS",
    "Split",
    "cold_item_split",
    "cold_user_split",
    "kfold",
    "leave_last_k_out",
    "leave_one_out",
    "predefined_split",
    "random_split",
    "source_row_order",
    "split",
    "temporal_split",
    "time_cutoff_split",
]

#: the split files shipped with ml-100k
PREDEFINED_SPLITS: tuple[str, ...] = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")

# part codes used internally while assigning ratings
_TRAIN, _VAL, _TEST, _FOLD_IN = 0, 1, 2, 3
_EPS = 1e-9  # guards floor/round of n * ratio against float error (5 * 0.2 = 0.999...)


# ---------------------------------------------------------------------------- Split
@dataclass(frozen=True)
class Split:
    """The parts of a split, all sharing the input's id maps and movie table.

    Attributes
    ----------
    train
        Ratings a model may train on (tags filtered by the leakage rule, see the module doc).
    test
        Ratings that are scored.
    validation
        Ratings for tuning, when the splitter was asked for them.
    fold_in
        Held-out users' ratings given to the model at scoring time (``cold-users`` only).
    method
        Name of the splitter (a key of :data:`METHODS`).
    params
        The splitter's parameters (JSON-serialisable), plus what it chose, e.g. the cold
        item indices.
    """

    train: Dataset
    test: Dataset
    validation: Dataset | None = None
    fold_in: Dataset | None = None
    method: str = "custom"
    params: dict[str, Any] = field(default_factory=dict)

    def parts(self) -> dict[str, Dataset]:
        """The parts that exist, in the order train, validation, test, fold_in."""
        named = {
            "train": self.train,
            "validation": self.validation,
            "test": self.test,
            "fold_in": self.fold_in,
        }
        return {name: part for name, part in named.items() if part is not None}

    def test_users(self) -> np.ndarray:
        """Indices of the users that have at least one test rating."""
        return self.test.active_users()

    def sizes(self) -> dict[str, dict[str, int]]:
        """Ratings, users and movies with at least one rating, per part."""
        return {
            name: {
                "n_ratings": part.n_interactions,
                "n_users": int((part.user_counts() > 0).sum()),
                "n_items": int((part.item_counts() > 0).sum()),
                "n_tags": len(part.tags),
            }
            for name, part in self.parts().items()
        }

    def save(self, path: str | Path) -> Path:
        """Write the parts as Parquet files plus ``split.json``, atomically.

        Each part becomes ``<part>.parquet`` with columns ``user_id``, ``movie_id``,
        ``rating``, ``timestamp`` (raw ids). ``split.json`` holds the method, the parameters,
        the part sizes, the dataset's name and layout, and each part's fingerprint.

        Parameters
        ----------
        path
            Output directory; replaced if it exists.

        Returns
        -------
        pathlib.Path
            The directory written.
        """
        from reelrank._fs import atomic_directory

        path = Path(path)
        with atomic_directory(path) as tmp:
            for name, part in self.parts().items():
                frame = part.to_frame(raw_ids=True)
                frame[["user_id", "movie_id", "rating", "timestamp"]].to_parquet(
                    tmp / f"{name}.parquet", index=False
                )
            meta = {
                "method": self.method,
                "params": self.params,
                "parts": self.sizes(),
                "dataset": {
                    "name": self.train.name,
                    "layout": self.train.layout,
                },
                "fingerprints": {name: part.fingerprint() for name, part in self.parts().items()},
            }
            (tmp / "split.json").write_text(json.dumps(meta, indent=2, default=_json_default))
        logger.info("wrote %s split to %s", self.method, path)
        return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ---------------------------------------------------------------------------- helpers
def _check_ratio(name: str, value: float, *, allow_zero: bool = True) -> float:
    value = float(value)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        bound = "[0, 1)" if allow_zero else "(0, 1)"
        raise ConfigError(f"{name} must be in {bound}, got {value}")
    return value


def _check_not_empty(ds: Dataset) -> None:
    if ds.n_interactions == 0:
        raise ConfigError(f"cannot split {ds.name!r}: it has no ratings")


def _pair_keys(ds: Dataset, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
    return np.asarray(user_idx, dtype=np.int64) * ds.n_items + np.asarray(item_idx, np.int64)


def _entry_keys(ds: Dataset) -> np.ndarray:
    return _pair_keys(ds, ds.user_index_of_entries(), ds.interactions.indices)


def _in_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_keys)`` for an ascending ``sorted_keys`` (binary search)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[pos] == values


def _train_tags(
    ds: Dataset,
    part: np.ndarray,
    *,
    time_based: bool,
    drop_item_idx: np.ndarray | None = None,
    drop_user_idx: np.ndarray | None = None,
    keep_item_idx: np.ndarray | None = None,
) -> pd.DataFrame:
    """Apply the leakage rule of the module doc to the input's tags (see there).

    Tags on ``keep_item_idx`` are kept whatever the other rules say (catalogue metadata of
    cold movies, the ``cold-items-tags`` protocol).
    """
    tags = ds.tags
    if len(tags) == 0:
        return tags
    keep = np.ones(len(tags), dtype=bool)
    tag_user_idx = ds.users.index(tags["user_id"].to_numpy(), missing="mask")
    tag_item_idx = tags["item_idx"].to_numpy(dtype=np.int64)
    held = part != _TRAIN
    if held.any():
        held_keys = _entry_keys(ds)[held]  # ascending: CSR order is (user, item) order
        tag_keys = _pair_keys(ds, tag_user_idx, tag_item_idx)
        keep &= ~((tag_user_idx >= 0) & _in_sorted(tag_keys, held_keys))
    if time_based:
        train_ts = ds.timestamps[part == _TRAIN]
        latest = train_ts.max() if len(train_ts) else np.iinfo(np.int64).min
        keep &= tags["timestamp"].to_numpy(dtype=np.int64) <= latest
    if drop_item_idx is not None and len(drop_item_idx):
        keep &= ~np.isin(tag_item_idx, drop_item_idx)
    if drop_user_idx is not None and len(drop_user_idx):
        keep &= ~np.isin(tag_user_idx, drop_user_idx)
    if keep_item_idx is not None and len(keep_item_idx):
        keep |= np.isin(tag_item_idx, keep_item_idx)
    return tags.loc[keep].reset_index(drop=True)


def _build(
    ds: Dataset,
    part: np.ndarray,
    method: str,
    params: dict[str, Any],
    *,
    time_based: bool = False,
    drop_item_idx: np.ndarray | None = None,
    drop_user_idx: np.ndarray | None = None,
    keep_item_idx: np.ndarray | None = None,
) -> Split:
    """Turn a per-entry part code array (aligned with the CSR data) into a :class:`Split`.

    Entries with a code outside the known parts (``-1``) are left out of every part.
    """
    tags = _train_tags(
        ds, part, time_based=time_based, drop_item_idx=drop_item_idx,
        drop_user_idx=drop_user_idx, keep_item_idx=keep_item_idx,
    )  # fmt: skip
    train = ds.with_interactions(part == _TRAIN, tags=tags)
    test = ds.with_interactions(part == _TEST)
    validation = ds.with_interactions(part == _VAL) if (part == _VAL).any() else None
    fold_in = ds.with_interactions(part == _FOLD_IN) if (part == _FOLD_IN).any() else None
    result = Split(
        train=train, test=test, validation=validation, fold_in=fold_in, method=method,
        params=params,
    )  # fmt: skip
    if logger.isEnabledFor(logging.INFO):
        sizes = {name: part.n_interactions for name, part in result.parts().items()}
        logger.info("%s split: %s", method, sizes)
    return result


def _user_key_order(user_idx: np.ndarray, key: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
    """``np.lexsort((item_idx, key, user_idx))`` for entries in CSR order.

    Integer keys spanning less than 2**32 (timestamps) are packed with the user into one
    int64 and sorted once, stably: CSR order already has the items ascending within a
    row, so ties stay in item order. That is several times faster than a three-key
    lexsort on tens of millions of ratings.
    """
    if key.dtype.kind in "iu" and len(key) and len(user_idx):
        lo = int(key.min())
        if int(key.max()) - lo < 2**32 and int(user_idx.max()) < 2**31:
            packed = (user_idx.astype(np.int64) << 32) | (key.astype(np.int64) - lo)
            return np.argsort(packed, kind="stable")
    return np.lexsort((item_idx, key, user_idx))


def _rank_within_user(ds: Dataset, sort_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each entry within its user's row when the row is sorted by ``sort_key``.

    Returns
    -------
    (position, count)
        ``position`` (0-based, ascending ``sort_key``, ties by item index) and the user's
        number of ratings, both aligned with the CSR data.
    """
    user_idx = ds.user_index_of_entries()
    # rows are contiguous in CSR order; sort within them by key then item index
    order = _user_key_order(user_idx, np.asarray(sort_key), ds.interactions.indices)
    indptr = ds.interactions.indptr
    position = np.empty(ds.n_interactions, dtype=np.int64)
    position[order] = np.arange(ds.n_interactions, dtype=np.int64) - indptr[user_idx[order]]
    count = np.diff(indptr)[user_idx]
    return position, count


def _read_u_data_ids(source: Path) -> tuple[pd.DataFrame, Path | str]:
    """User and movie ids of ml-100k's ``u.data`` in file order (folder, sub-folder or zip)."""
    kwargs: dict[str, Any] = {
        "sep": "\t", "header": None, "usecols": [0, 1], "names": ["user_id", "movie_id"],
        "dtype": np.int64,
    }  # fmt: skip
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            members = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "u.data"]
            if not members:
                raise DataFormatError(source, "no u.data inside the archive")
            with archive.open(members[0]) as handle:
                return pd.read_csv(handle, **kwargs), f"{source}:{members[0]}"
    candidates = [source / "u.data", *sorted(source.glob("*/u.data"))]
    found = [c for c in candidates if c.is_file()]
    if not found:
        raise DataFormatError(source / "u.data", "file not found (needed for the row order)")
    return pd.read_csv(found[0], **kwargs), found[0]


def source_row_order(ds: Dataset) -> np.ndarray:
    """The ratings in source-file order: entry ``j`` is the CSR index of ``u.data``'s line ``j``.

    Splitters that copy another library's random draws (Microsoft Recommenders'
    ``python_stratified_split``, cornac's ``RatioSplit``) draw one number per row *in file
    order*; pass this as ``row_order`` to :func:`random_split` to reproduce their split
    exactly.

    Raises
    ------
    ReelrankError
        If the dataset is not a ml-100k folder or ``u.data`` does not match it.
    """
    source = ds.info.get("source_path")
    if ds.layout != "ml-100k" or source is None:
        raise ConfigError(
            f"file row order is only available for ml-100k folders, not {ds.layout!r}"
        )
    raw, path = _read_u_data_ids(Path(source))
    keys = _pair_keys(
        ds,
        ds.users.index(raw["user_id"].to_numpy()),
        ds.items.index(raw["movie_id"].to_numpy()),
    )
    entry = _entry_keys(ds)
    # CSR keys are sorted ascending and unique: searchsorted maps file lines to entries
    where = np.searchsorted(entry, keys)
    ok = (where < len(entry)) & (entry[np.minimum(where, len(entry) - 1)] == keys)
    if not ok.all() or len(keys) != len(entry):
        raise DataFormatError(path, "does not match the loaded ratings (duplicates dropped?)")
    return where.astype(np.int64)


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


# ---------------------------------------------------------------------------- cold start
def cold_item_split(
    ds: Dataset,
    item_ratio: float = 0.2,
    min_ratings: int = 5,
    val_ratio: float = 0.0,
    seed: int = 42,
    keep_tags: bool = False,
) -> Split:
    """Cold items: a fraction of movies is held out with *all* their ratings.

    Among the movies with at least ``min_ratings`` ratings, ``round(item_ratio * m)`` chosen
    at random (``RandomState(seed)``) are test movies and the next ``round(val_ratio * m)``
    validation movies. Train never contains a rating of a cold movie; test holds only the
    test movies' ratings.

    ``keep_tags=False`` (protocol ``cold-items``): train has no tag on a cold movie either,
    so a cold movie is known by its title, year and genres only. ``keep_tags=True``
    (protocol ``cold-items-tags``): every tag on a cold movie stays in train as catalogue
    metadata (a new movie arriving with editorial / crowd tags), so tag features describe
    it; its ratings are still all held out.

    Returns
    -------
    Split
        ``params["cold_item_idx"]`` and ``params["val_item_idx"]`` list the held-out items.
    """
    _check_not_empty(ds)
    item_ratio = _check_ratio("item_ratio", item_ratio, allow_zero=False)
    val_ratio = _check_ratio("val_ratio", val_ratio)
    if item_ratio + val_ratio >= 1:
        raise ConfigError("item_ratio + val_ratio must be below 1")
    eligible = np.flatnonzero(ds.item_counts() >= int(min_ratings))
    n_test = int(np.floor(item_ratio * len(eligible) + 0.5 + _EPS))
    n_val = int(np.floor(val_ratio * len(eligible) + 0.5 + _EPS))
    if n_test == 0 or n_test + n_val >= len(eligible):
        raise ConfigError(
            f"{len(eligible)} movies have >= {min_ratings} ratings: too few to hold out "
            f"{item_ratio:.0%} of them"
        )
    chosen = np.random.RandomState(seed).permutation(eligible)
    cold = np.sort(chosen[:n_test])
    val_items = np.sort(chosen[n_test : n_test + n_val])
    item_idx = ds.interactions.indices
    part = np.full(ds.n_interactions, _TRAIN, dtype=np.int8)
    part[np.isin(item_idx, cold)] = _TEST
    part[np.isin(item_idx, val_items)] = _VAL
    params = {
        "item_ratio": item_ratio, "min_ratings": int(min_ratings), "val_ratio": val_ratio,
        "seed": seed, "keep_tags": bool(keep_tags), "cold_item_idx": cold.tolist(),
        "val_item_idx": val_items.tolist(),
    }  # fmt: skip
    held_items = np.r_[cold, val_items]
    if keep_tags:
        return _build(ds, part, "cold-items", params, keep_item_idx=held_items)
    return _build(ds, part, "cold-items", params, drop_item_idx=held_items)


def cold_user_split(
    ds: Dataset,
    user_ratio: float = 0.2,
    fold_in_ratio: float = 0.8,
    val_ratio: float = 0.0,
    seed: int = 42,
) -> Split:
    """Strong generalisation (Mult-VAE / EASE): whole users are held out.

    ``round(user_ratio * u)`` of the ``u`` users with ratings are test users and the next
    ``round(val_ratio * u)`` validation users (``RandomState(seed)``). Each held-out profile
    of ``n`` ratings is split at random: ``floor(n * (1 - fold_in_ratio))`` ratings are
    scored (test, or validation for validation users), the rest go to ``fold_in`` (as in
    Mult-VAE's ``split_train_test_proportion``). Train has only the other users.

    Returns
    -------
    Split
        ``fold_in`` holds the fold-in ratings of both test and validation users (they are
        different users); ``params["test_user_idx"]`` / ``["val_user_idx"]`` list them.
    """
    _check_not_empty(ds)
    user_ratio = _check_ratio("user_ratio", user_ratio, allow_zero=False)
    fold_in_ratio = _check_ratio("fold_in_ratio", fold_in_ratio, allow_zero=False)
    val_ratio = _check_ratio("val_ratio", val_ratio)
    if user_ratio + val_ratio >= 1:
        raise ConfigError("user_ratio + val_ratio must be below 1")
    active = ds.active_users()
    n_test = int(np.floor(user_ratio * len(active) + 0.5 + _EPS))
    n_val = int(np.floor(val_ratio * len(active) + 0.5 + _EPS))
    if n_test == 0 or n_test + n_val >= len(active):
        raise ConfigError(f"{len(active)} users: too few to hold out {user_ratio:.0%} of them")
    rng = np.random.RandomState(seed)
    chosen = rng.permutation(active)
    test_users = np.sort(chosen[:n_test])
    val_users = np.sort(chosen[n_test : n_test + n_val])
    # random position within each profile; the first floor(n * (1 - fold_in)) are scored
    position, count = _rank_within_user(ds, rng.rand(ds.n_interactions))
    n_scored = np.floor(count * (1.0 - fold_in_ratio) + _EPS).astype(np.int64)
    scored = position < n_scored
    user_idx = ds.user_index_of_entries()
    in_test, in_val = np.isin(user_idx, test_users), np.isin(user_idx, val_users)
    part = np.full(ds.n_interactions, _TRAIN, dtype=np.int8)
    part[in_test | in_val] = _FOLD_IN
    part[in_test & scored] = _TEST
    part[in_val & scored] = _VAL
    params = {
        "user_ratio": user_ratio, "fold_in_ratio": fold_in_ratio, "val_ratio": val_ratio,
        "seed": seed, "test_user_idx": test_users.tolist(), "val_user_idx": val_users.tolist(),
    }  # fmt: skip
    return _build(ds, part, "cold-users", params, drop_user_idx=np.r_[test_users, val_users])


# ---------------------------------------------------------------------------- predefined
def predefined_split(ds: Dataset, name: str = "u1") -> Split:
    """ml-100k's own split files: ``u1`` .. ``u5`` (5-fold) and ``ua`` / ``ub``.

    Reads ``<name>.base`` (train) and ``<name>.test`` from the folder the dataset was loaded
    from (``ds.info["source_path"]``) with
    :func:`reelrank.data.movielens.read_predefined_split`.

    Raises
    ------
    ReelrankError
        If the dataset is not ml-100k, the files are missing, or they list ratings that the
        dataset does not have.
    """
    if name not in PREDEFINED_SPLITS:
        raise ConfigError(f"unknown predefined split {name!r}; use one of {PREDEFINED_SPLITS}")
    if ds.layout != "ml-100k":
        raise ConfigError(f"predefined splits exist only for ml-100k; {ds.name!r} is {ds.layout!r}")
    source = ds.info.get("source_path")
    if source is None:
        raise ConfigError(f"{ds.name!r} does not record the folder it was loaded from")
    from reelrank.data import movielens

    base, test = movielens.read_predefined_split(Path(source), name)
    entry = _entry_keys(ds)
    part = np.full(ds.n_interactions, -1, dtype=np.int8)
    for frame, code, suffix in ((base, _TRAIN, "base"), (test, _TEST, "test")):
        path = Path(source) / f"{name}.{suffix}"
        user_idx = ds.users.index(frame["user_id"].to_numpy(), missing="mask")
        item_idx = ds.items.index(frame["movie_id"].to_numpy(), missing="mask")
        keys = _pair_keys(ds, user_idx, item_idx)
        where = np.searchsorted(entry, keys)
        found = (where < len(entry)) & (entry[np.minimum(where, len(entry) - 1)] == keys)
        found &= (user_idx >= 0) & (item_idx >= 0)
        if not found.all():
            bad = int(np.flatnonzero(~found)[0])
            row = frame.iloc[bad]
            raise DataFormatError(
                path,
                f"rating of user {row['user_id']} on movie {row['movie_id']} is not in u.data",
                line=bad + 1,
            )
        if (part[where] != -1).any():
            line = int(np.flatnonzero(part[where] != -1)[0]) + 1
            raise DataFormatError(path, "rating listed twice (in base and test?)", line=line)
        part[where] = code
    unassigned = int((part == -1).sum())
    if unassigned:
        # u1..u5 and ua/ub each cover u.data exactly; anything else means mixed folders
        logger.warning("%d ratings are in neither %s.base nor %s.test", unassigned, name, name)
    return _build(ds, part, "predefined", {"name": name})


# ---------------------------------------------------------------------------- dispatcher
#: split method names -> splitter functions (all take the dataset first)
METHODS: dict[str, Callable[..., Split]] = {
    "random": lambda ds, **kw: random_split(ds, **kw),
    "stratified-user": lambda ds, **kw: random_split(ds, stratify="user", **kw),
    "stratified-item": lambda ds, **kw: random_split(ds, stratify="item", **kw),
    "temporal": temporal_split,
    "leave-last-k": leave_last_k_out,
    "leave-one-out": leave_one_out,
    "time-cutoff": time_cutoff_split,
    "kfold": _kfold_split,
    "cold-items": cold_item_split,
    "cold-users": cold_user_split,
    "predefined": predefined_split,
}

_SIGNATURE_OF: dict[str, Callable[..., Any]] = {
    "random": random_split,
    "stratified-user": random_split,
    "stratified-item": random_split,
}


def method_params(method: str) -> list[str]:
    """Names of the parameters the split ``method`` accepts (besides the dataset)."""
    if method not in METHODS:
        raise ConfigError(f"unknown split method {method!r}; choose from {', '.join(METHODS)}")
    func = _SIGNATURE_OF.get(method, METHODS[method])
    names = list(inspect.signature(func).parameters)[1:]
    return [n for n in names if not (method.startswith("stratified") and n == "stratify")]


def split(ds: Dataset, method: str, **params: Any) -> Split:
    """Split ``ds`` with the named method.

    Parameters
    ----------
    ds
        The dataset to split.
    method
        A key of :data:`METHODS`; ``kfold`` takes ``fold`` (0-based) besides ``k`` / ``seed``.
    **params
        The method's parameters.

    Raises
    ------
    ConfigError
        For an unknown method or a parameter the method does not take.
    """
    accepted = method_params(method)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"split method {method!r} does not take {', '.join(unknown)} "
            f"(it takes: {', '.join(accepted) or 'nothing'})"
        )
    return METHODS[method](ds, **params)
