"""Readable hybrid scores: Platt scaling of ranker margins into probabilities.

LambdaRank margins (and blended z-scores) order candidates well but mean nothing to a
person. :class:`PlattCalibrator` fits ``p = sigmoid(a * s + b)`` (Platt 1999) on the
hybrid's inner validation pairs, where the label is whether the held-out rating is relevant
by the protocol's rule. The slope is kept strictly positive, so the probabilities order the
candidates exactly like the raw scores (ties stay ties).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["PlattCalibrator"]

_MIN_SLOPE = 1e-6


@dataclass
class PlattCalibrator:
    """``p = sigmoid(slope * score + intercept)`` with ``slope > 0``.

    Attributes
    ----------
    slope, intercept
        The fitted parameters (identity-like ``1, 0`` before :meth:`fit`).
    """

    slope: float = 1.0
    intercept: float = 0.0

    def fit(self, scores: np.ndarray, positive: np.ndarray) -> PlattCalibrator:
        """Fit on raw scores and binary outcomes (maximum likelihood, Platt's targets).

        Platt's smoothed targets ``(n+ + 1) / (n+ + 2)`` and ``1 / (n- + 2)`` avoid
        infinite slopes on separable data. Non-finite scores are ignored.
        """
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(positive, dtype=bool)
        ok = np.isfinite(s)
        s, y = s[ok], y[ok]
        n_pos, n_neg = int(y.sum()), int((~y).sum())
        if n_pos == 0 or n_neg == 0:
            logger.info("calibration: one class only; keeping sigmoid(score)")
            self.slope, self.intercept = 1.0, 0.0
            return self
        t = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
        scale = float(s.std()) or 1.0
        x = (s - s.mean()) / scale
        a, b = 1.0, float(np.log(t.mean() / (1 - t.mean())))
        # Newton's method on the (convex) cross-entropy in (a, b)
        for _ in range(50):
            p = 1.0 / (1.0 + np.exp(-(a * x + b)))
            w = np.maximum(p * (1 - p), 1e-12)
            g = np.array([np.dot(p - t, x), np.sum(p - t)])
            h = np.array([[np.dot(w, x * x), np.dot(w, x)], [np.dot(w, x), w.sum()]])
            h += np.eye(2) * 1e-9
            step = np.linalg.solve(h, g)
            a, b = a - step[0], b - step[1]
            if np.abs(step).max() < 1e-9:
                break
        slope = a / scale
        self.intercept = float(b - a * s.mean() / scale)
        if not slope > _MIN_SLOPE:
            logger.warning(
                "calibration: scores do not rank relevant pairs higher (slope %.3g); "
                "using a minimal positive slope so the order is kept",
                slope,
            )
            slope = _MIN_SLOPE
            self.intercept = float(np.log(t.mean() / (1 - t.mean())))
        self.slope = float(slope)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities in [0, 1], same order as ``scores`` (``-inf`` gives 0, NaN stays)."""
        s = np.asarray(scores, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            p = 1.0 / (1.0 + np.exp(-(self.slope * s + self.intercept)))
        return p

    def to_dict(self) -> dict[str, float]:
        """JSON-able parameters."""
        return {"slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> PlattCalibrator:
        """Inverse of :meth:`to_dict`."""
        return cls(slope=float(d["slope"]), intercept=float(d["intercept"]))
