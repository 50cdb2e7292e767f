"""Cold-start splitters: whole movies held out (item cold start) or whole users held out with
a fold-in part (strong generalisation, Mult-VAE / EASE).
"""

from __future__ import annotations

import numpy as np

from reelrank.data.dataset import Dataset
from reelrank.data.split_base import (
    _EPS,
    _FOLD_IN,
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

__all__ = ["cold_item_split", "cold_user_split"]


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
