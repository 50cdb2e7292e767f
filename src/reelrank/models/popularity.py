"""Non-personalised baselines: ``pop`` (most popular) and ``random`` (seeded uniform scores)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.models.base import ModelConfig, Recommender, register

logger = logging.getLogger(__name__)

__all__ = ["Popularity", "RandomModel"]

_DAY = 86_400


@register("pop")
class Popularity(Recommender):
    """Most popular items, by rating count or by a damped mean rating.

    ``by="count"`` scores an item by its number of training ratings; ``by="rating"`` by the
    Bayesian-damped mean rating ``(sum r + damping * mu) / (n + damping)`` where ``mu`` is the
    global mean, so items with few ratings are pulled toward the average. With
    ``window_days`` only the last N days of the *training* data count (trending items).
    Every user gets the same scores, so fold-in is trivial.
    """

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`Popularity`.

        Attributes
        ----------
        by
            ``"count"`` or ``"rating"``.
        damping
            Prior weight (in ratings) of the global mean for ``by="rating"``.
        window_days
            Only count interactions in the last ``window_days`` days of training (None: all).
        """

        by: str = "count"
        damping: float = 10.0
        window_days: float | None = None

        def validate(self) -> None:
            """Check the values."""
            if self.by not in ("count", "rating"):
                raise ValueError(f"by must be 'count' or 'rating', got {self.by!r}")
            if self.damping < 0:
                raise ValueError("damping must be >= 0")
            if self.window_days is not None and self.window_days <= 0:
                raise ValueError("window_days must be > 0")

    config: Config

    def _fit(self, train: Dataset, features: Any | None) -> None:
        cfg = self.config
        items = train.interactions.indices
        ratings = train.interactions.data.astype(np.float64)
        if cfg.window_days is not None and train.n_interactions:
            keep = train.timestamps >= train.timestamps.max() - cfg.window_days * _DAY
            items, ratings = items[keep], ratings[keep]
        counts = np.bincount(items, minlength=train.n_items).astype(np.float64)
        if cfg.by == "count":
            scores = counts
        else:
            mu = float(ratings.mean()) if len(ratings) else 0.0
            sums = np.bincount(items, weights=ratings, minlength=train.n_items)
            denom = counts + cfg.damping
            scores = np.where(denom > 0, (sums + cfg.damping * mu) / np.maximum(denom, 1e-12), mu)
            # never-rated items rank below every rated one
            scores = np.where(counts > 0, scores, -1.0)
        self.item_scores_ = scores.astype(np.float32)
        logger.debug("pop: %d items with a score", int((counts > 0).sum()))

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(user_idx), len(self.item_scores_))).copy()

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        return self._score_users(np.arange(ratings.shape[0]))

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_scores_ = state["item_scores"]


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fast, well-mixed 64-bit hash (SplitMix64 finaliser), vectorised."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@register("random")
class RandomModel(Recommender):
    """Uniform random scores: the baseline that every model must beat.

    The score of (user, item) is a hash of ``(seed, user, item)`` mapped to [0, 1), so a user
    gets the same ranking whatever batch it is scored in and whatever the call order. New
    users (fold-in rows) are scored as users ``n_users + row``.
    """

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`RandomModel`.

        Attributes
        ----------
        seed
            Seed of the hash.
        """

        seed: int = 42

        def validate(self) -> None:
            """Check the values."""
            if self.seed < 0:
                raise ValueError("seed must be >= 0")

    config: Config

    def _fit(self, train: Dataset, features: Any | None) -> None:
        pass

    def _hash_scores(self, users: np.ndarray) -> np.ndarray:
        assert self.n_items_ is not None
        n = np.uint64(self.n_items_)
        key = users.astype(np.uint64)[:, None] * n + np.arange(self.n_items_, dtype=np.uint64)
        seed = _splitmix64(np.asarray([self.config.seed], dtype=np.uint64))
        h = _splitmix64(key ^ seed)
        return ((h >> np.uint64(40)).astype(np.float64) / float(1 << 24)).astype(np.float32)

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return self._hash_scores(np.asarray(user_idx, dtype=np.int64))

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        return self._hash_scores(self.n_users_ + np.arange(ratings.shape[0], dtype=np.int64))
