"""Weighted hybrid (``blend``) of per-user normalised scores from two or more models."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from reelrank.data.dataset import Dataset
from reelrank.errors import ArtifactError, ConfigError
from reelrank.models.base import (
    ModelConfig,
    Recommender,
    create_model,
    load_model,
    register,
    topk,
)

logger = logging.getLogger(__name__)

__all__ = ["Blend", "normalise_scores"]

_NORMALISERS = ("zscore", "minmax", "rank")


def normalise_scores(scores: np.ndarray, how: str) -> np.ndarray:
    """Normalise each row of a score block so that different models become comparable.

    Parameters
    ----------
    scores
        (U, m) scores; non-finite entries are ignored by the statistics and become 0.
    how
        ``"zscore"`` (mean 0, std 1), ``"minmax"`` (to [0, 1]) or ``"rank"`` (average rank
        scaled to [0, 1], best = 1).

    Returns
    -------
    numpy.ndarray
        (U, m) ``float32``; constant rows become all zeros.
    """
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    s = np.where(finite, s, np.nan)
    if how == "zscore":
        mean = np.nanmean(s, axis=1, keepdims=True)
        std = np.nanstd(s, axis=1, keepdims=True)
        out = (s - mean) / np.where(std > 0, std, 1.0)
        out = np.where(std > 0, out, 0.0)
    elif how == "minmax":
        lo = np.nanmin(s, axis=1, keepdims=True)
        hi = np.nanmax(s, axis=1, keepdims=True)
        span = hi - lo
        out = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 0.0)
    elif how == "rank":
        m = s.shape[1]
        filled = np.where(finite, s, -np.inf)
        out = (rankdata(filled, method="average", axis=1) - 1.0) / max(m - 1, 1)
    else:
        raise ValueError(f"normalise must be one of {_NORMALISERS}, got {how!r}")
    return np.where(finite, out, 0.0).astype(np.float32)


@register("blend")
class Blend(Recommender):
    """Weighted sum of per-user normalised scores of component models (a score-level hybrid).

    Each component (any registered model: collaborative, content...) is fitted on the same
    training data; for a batch of users each component's scores are normalised per user
    (:func:`normalise_scores`) and combined with ``weights``. :meth:`component_scores`
    exposes the normalised blocks so weights can be tuned on validation without refitting
    (:meth:`tune_weights` does a grid search on NDCG@k). Components are saved into
    subdirectories ``component_<i>`` of the artifact.
    """

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`Blend`.

        Attributes
        ----------
        components
            Names of registered models (at least two).
        weights
            One weight per component; empty means equal weights.
        component_params
            One dict of hyper-parameters per component; empty means defaults.
        normalise
            ``"zscore"``, ``"minmax"`` or ``"rank"``.
        """

        components: tuple[str, ...] = ("als", "content")
        weights: tuple[float, ...] = ()
        component_params: tuple[dict[str, Any], ...] = ()
        normalise: str = "zscore"

        def validate(self) -> None:
            """Check the values."""
            if len(self.components) < 2:
                raise ValueError("blend needs at least two components")
            if "blend" in self.components:
                raise ValueError("a blend cannot contain a blend")
            from reelrank.models.base import get_model_class

            for name in self.components:
                get_model_class(name)  # ConfigError (a ValueError) naming the known models
            if self.weights and len(self.weights) != len(self.components):
                raise ValueError(
                    f"weights has {len(self.weights)} entries for {len(self.components)} components"
                )
            if any(w < 0 for w in self.weights) or (self.weights and sum(self.weights) <= 0):
                raise ValueError("weights must be >= 0 with a positive sum")
            if self.component_params and len(self.component_params) != len(self.components):
                raise ValueError("component_params needs one dict per component")
            if self.normalise not in _NORMALISERS:
                raise ValueError(f"normalise must be one of {_NORMALISERS}")

        def resolved_weights(self) -> np.ndarray:
            """The weights as an array (equal weights when none are given)."""
            if not self.weights:
                return np.full(len(self.components), 1.0 / len(self.components))
            return np.asarray(self.weights, dtype=np.float64)

    config: Config
    components_: list[Recommender]

    def _make_components(self) -> list[Recommender]:
        cfg = self.config
        params = cfg.component_params or tuple({} for _ in cfg.components)
        return [
            create_model(name, **dict(p)) for name, p in zip(cfg.components, params, strict=True)
        ]

    def feature_blocks(self) -> set[str]:
        """Union of the blocks the components need."""
        return set().union(*(c.feature_blocks() for c in self._make_components()))

    def _fit(self, train: Dataset, features: Any | None) -> None:
        self.components_ = []
        for model in self._make_components():
            logger.info("blend: fitting component %s", model.name)
            self.components_.append(model.fit(train, features))

    # ------------------------------------------------------------------ scoring
    def _normalised(self, blocks: list[np.ndarray]) -> np.ndarray:
        return np.stack([normalise_scores(b, self.config.normalise) for b in blocks])

    def component_scores(self, user_idx: np.ndarray) -> np.ndarray:
        """Normalised scores of every component for known users.

        Returns
        -------
        numpy.ndarray
            (n_components, len(user_idx), n_items) ``float32``; the blend's score is
            ``np.tensordot(weights, component_scores, 1)``.
        """
        self._check_fitted()
        users = self._validate_users(user_idx)
        return self._normalised([c._score_users(users) for c in self.components_])

    def _combine(self, normalised: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = self.config.resolved_weights() if weights is None else np.asarray(weights)
        return np.tensordot(w.astype(np.float32), normalised, axes=1)

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return self._combine(self._normalised([c._score_users(user_idx) for c in self.components_]))

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        return self._combine(
            self._normalised([c._score_ratings(ratings) for c in self.components_])
        )

    # ------------------------------------------------------------------ tuning
    def tune_weights(
        self,
        validation: Dataset,
        grid: Sequence[Sequence[float]] | None = None,
        k: int = 10,
        relevance_threshold: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Pick the weights that maximise mean NDCG@k on a validation split (no refitting).

        Parameters
        ----------
        validation
            Held-out interactions (same id maps as the training data).
        grid
            Weight vectors to try; default: every vector on a simplex grid of step 0.1
            (two components) or 0.25 (more).
        k
            Cut-off of NDCG.
        relevance_threshold
            Validation ratings >= this are relevant (None: every interaction).
        progress
            Optional callback ``(done_batches, total_batches)``.

        Returns
        -------
        dict
            ``{"weights": best tuple, "ndcg": best value, "results": [(weights, ndcg), ...]}``;
            the model's config is updated to the best weights.
        """
        self._check_fitted()
        rel = validation.binary(relevance_threshold)
        if rel.shape[0] != self.n_users_ or rel.shape[1] != self.n_items_:
            raise ConfigError("blend.tune_weights: validation must share the training id maps")
        users = np.flatnonzero(np.diff(rel.indptr) > 0)
        if len(users) == 0:
            raise ConfigError("blend.tune_weights: no relevant validation interactions")
        grid_arr = np.asarray(grid if grid is not None else self._default_grid(), dtype=np.float64)
        if grid_arr.ndim != 2 or grid_arr.shape[1] != len(self.components_):
            raise ConfigError("blend.tune_weights: each grid entry needs one weight per component")
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        totals = np.zeros(len(grid_arr))
        assert self.seen_ is not None
        batches = list(range(0, len(users), self.batch_size))
        for b, start in enumerate(batches):
            batch = users[start : start + self.batch_size]
            comp = self.component_scores(batch)
            seen = self.seen_[batch]
            seen_rows = np.repeat(np.arange(len(batch)), np.diff(seen.indptr))
            truth = rel[batch]
            n_rel = np.diff(truth.indptr)
            ideal = np.cumsum(discounts)[np.minimum(n_rel, k) - 1]
            for g, w in enumerate(grid_arr):
                block = self._combine(comp, w)
                block[seen_rows, seen.indices] = -np.inf
                top, _ = topk(block, k)
                hits = np.asarray(
                    truth[np.arange(len(batch))[:, None], np.clip(top, 0, None)].todense()
                )
                hits = (hits != 0) & (top >= 0)
                totals[g] += float(((hits * discounts).sum(axis=1) / ideal).sum())
            if progress is not None:
                progress(b + 1, len(batches))
        means = totals / len(users)
        best = int(np.argmax(means))
        weights = tuple(float(x) for x in grid_arr[best])
        self.config = dataclasses.replace(self.config, weights=weights)
        logger.info("blend: tuned weights %s (ndcg@%d=%.4f)", weights, k, means[best])
        return {
            "weights": weights,
            "ndcg": float(means[best]),
            "results": [
                (tuple(map(float, w)), float(m)) for w, m in zip(grid_arr, means, strict=True)
            ],
        }

    def _default_grid(self) -> list[tuple[float, ...]]:
        c = len(self.components_)
        step = 0.1 if c == 2 else 0.25
        ticks = np.round(np.arange(0, 1 + 1e-9, step), 6)
        return [
            w for w in itertools.product(ticks, repeat=c) if abs(sum(w) - 1) < 1e-6 and max(w) > 0
        ]

    # ------------------------------------------------------------------ persistence
    def _save_extra(self, path: Path) -> None:
        for i, model in enumerate(self.components_):
            model.save(path / f"component_{i}")

    def _load_extra(self, path: Path) -> None:
        self.components_ = []
        for i, name in enumerate(self.config.components):
            model = load_model(path / f"component_{i}")
            if model.name != name:
                raise ArtifactError(
                    f"{path}/component_{i}: holds {model.name!r}, expected {name!r}"
                )
            self.components_.append(model)
