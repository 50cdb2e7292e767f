"""The shared machinery of the splitters: the :class:`Split` result, the per-entry part codes
and the tag leakage rule (see :mod:`reelrank.data.split` for the rule and the methods).

Every splitter builds a per-entry part-code array aligned with the dataset's CSR data and
hands it to :func:`_build`, which applies the tag leakage rule and makes the parts with
:meth:`Dataset.with_interactions` (so they share the input's id maps and movie table).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["PREDEFINED_SPLITS", "Split"]


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
