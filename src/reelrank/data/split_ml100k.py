"""Splitters that follow ml-100k's own files: ``u.data``'s line order and the shipped splits.

:func:`source_row_order` maps ``u.data``'s lines to the loaded ratings, so that random
splitters can draw in file order as other libraries do; :func:`predefined_split` reads the
``u1`` .. ``u5`` and ``ua`` / ``ub`` split files.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset
from reelrank.data.split_base import (
    _TEST,
    _TRAIN,
    PREDEFINED_SPLITS,
    Split,
    _build,
    _entry_keys,
    _pair_keys,
)
from reelrank.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

__all__ = ["predefined_split", "source_row_order"]


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
