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

The splitters live in one module per family: :mod:`~reelrank.data.split_random`,
:mod:`~reelrank.data.split_time`, :mod:`~reelrank.data.split_cold`,
:mod:`~reelrank.data.split_ml100k` (ml-100k's own files), with the shared :class:`Split`
and leakage rule in :mod:`~reelrank.data.split_base`; this module re-exports them and holds
the :func:`split` dispatcher.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from reelrank.data.dataset import Dataset
from reelrank.data.split_base import PREDEFINED_SPLITS, Split
from reelrank.data.split_cold import cold_item_split, cold_user_split
from reelrank.data.split_ml100k import predefined_split, source_row_order
from reelrank.data.split_random import _kfold_split, kfold, random_split
from reelrank.data.split_time import (
    leave_last_k_out,
    leave_one_out,
    temporal_split,
    time_cutoff_split,
)
from reelrank.errors import ConfigError

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
