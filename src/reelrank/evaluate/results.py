"""Result objects of an evaluation run (what ``reelrank evaluate --json`` prints).

:class:`EvaluationResult` holds one :class:`ModelResult` per model plus the run's ``info``
(protocol, split sizes, provenance...). Besides the nested JSON of :meth:`to_json`, the flat
views :meth:`EvaluationResult.flat_metrics` and :meth:`EvaluationResult.flat_params` are
ready for experiment trackers (``mlflow.log_metrics`` / ``log_params`` take them as they are).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["EvaluationResult", "ModelResult", "clean_json"]


def clean_json(obj: Any) -> Any:
    """``obj`` with numpy values as Python ones and NaN / inf as ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, np.ndarray):
        return clean_json(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass
class ModelResult:
    """One model's scores under a protocol.

    Attributes
    ----------
    model
        Display name (``als``, ``lightfm-nofeat``...).
    params
        The parameters it was finally fitted with.
    metrics, metrics_sem, metrics_ci95
        Metric name -> mean, standard error, ``[low, high]`` 95% interval.
    n_users
        Users counted by the ranking metrics.
    fit_seconds, eval_seconds
        Wall time of the final fit and of scoring the test part.
    tuning
        The validation search (``default_score``, ``best_score``, ``best_params``,
        ``trials``...), when ``tune=True``.
    fit_info
        What the model's final fit decided and why (its ``fit_info_``: the hybrid's
        safety-net choice and validation figures), when it records any.
    error
        Why the model could not be evaluated (e.g. it cannot fold in new users), else None.
    """

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_sem: dict[str, float] = field(default_factory=dict)
    metrics_ci95: dict[str, list[float]] = field(default_factory=dict)
    n_users: int = 0
    fit_seconds: float = 0.0
    eval_seconds: float = 0.0
    tuning: dict[str, Any] | None = None
    fit_info: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (NaN becomes None)."""
        out = {
            "model": self.model,
            "params": clean_json(self.params),
            "metrics": clean_json(self.metrics),
            "metrics_sem": clean_json(self.metrics_sem),
            "metrics_ci95": {k: clean_json(v) for k, v in self.metrics_ci95.items()},
            "n_users": self.n_users,
            "fit_seconds": round(self.fit_seconds, 3),
            "eval_seconds": round(self.eval_seconds, 3),
        }
        if self.tuning is not None:
            out["tuning"] = clean_json(self.tuning)
        if self.fit_info:
            out["fit_info"] = clean_json(self.fit_info)
        if self.error is not None:
            out["error"] = self.error
        return out

    @property
    def validation_scores(self) -> tuple[float, float] | None:
        """``(default, best)`` validation scores of the tuning, or None when not tuned."""
        if not self.tuning:
            return None
        d, b = self.tuning.get("default_score"), self.tuning.get("best_score")
        return (math.nan if d is None else float(d), math.nan if b is None else float(b))


_TRACKER_KEY = re.compile(r"[^0-9A-Za-z_\-. /]")


@dataclass
class EvaluationResult:
    """Results of several models under one protocol on one dataset.

    Attributes
    ----------
    protocol
        Protocol name.
    dataset
        Dataset name.
    results
        One :class:`ModelResult` per model, in the order given.
    info
        Protocol description, split sizes, users evaluated and users without relevant test
        items, the cut-offs, the seed, provenance (package versions, git commit), histograms
        of the data for the report.
    """

    protocol: str
    dataset: str
    results: list[ModelResult]
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"protocol", "dataset", "results": [...], "info"}`` (JSON-serialisable)."""
        return {
            "protocol": self.protocol,
            "dataset": self.dataset,
            "results": [r.to_dict() for r in self.results],
            "info": clean_json(self.info),
        }

    def primary_metric(self) -> str:
        """The metric the leaderboard is sorted by (the protocol's first)."""
        return str(self.info.get("primary_metric", ""))

    def get(self, model: str) -> ModelResult:
        """The result of the model with display name ``model``."""
        for r in self.results:
            if r.model == model:
                return r
        raise KeyError(model)

    def flat_metrics(self) -> dict[str, float]:
        """``{"<model>.<metric>": mean}`` plus ``<model>.val_default`` / ``val_best`` when
        tuned, and fit / eval seconds; finite values only (for experiment trackers)."""
        out: dict[str, float] = {}
        for r in self.results:
            if r.error:
                continue
            name = _TRACKER_KEY.sub("_", r.model)
            for metric, value in r.metrics.items():
                out[f"{name}.{_TRACKER_KEY.sub('_', metric)}"] = value
            if r.validation_scores is not None:
                out[f"{name}.val_default"], out[f"{name}.val_best"] = r.validation_scores
            out[f"{name}.fit_seconds"] = r.fit_seconds
            out[f"{name}.eval_seconds"] = r.eval_seconds
        return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(v)}

    def flat_params(self) -> dict[str, str]:
        """``{"protocol", "dataset", "seed", "<model>.<param>": value}`` as strings."""
        out = {"protocol": self.protocol, "dataset": self.dataset}
        out["seed"] = str(self.info.get("seed"))
        out["tuned"] = str(self.info.get("tuned"))
        for r in self.results:
            name = _TRACKER_KEY.sub("_", r.model)
            for key, value in r.params.items():
                out[f"{name}.{key}"] = str(value)
        return out
