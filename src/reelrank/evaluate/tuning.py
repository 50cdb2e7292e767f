"""Small, documented hyper-parameter grids searched on the validation part only.

:func:`tune_model` fits every grid point on the tuning train part (train minus validation)
and scores it on the validation part with the protocol's primary metric; the runner then
refits the best point on the full training data and scores the test part once. Test data
never reaches this module: its functions receive only the train and validation datasets.

Grids (kept small so that ``reelrank evaluate --tune`` with eight models runs in minutes on
two cores):

========  =================================================================================
model     grid
========  =================================================================================
pop       by {count, rating}
itemknn   k {50, 200} x shrinkage {0, 10} x use_ratings {False, True}
als       factors {32, 64, 128} x regularization {0.01, 0.1} x alpha {1, 10}
bpr       factors {32, 64} x learning_rate {0.01, 0.05} x regularization {0.001, 0.01}
lightfm   no_components {32, 64} x loss {warp, bpr} x epochs {20, 40}
ease      lam {100, 500, 2000}
content   kind {tfidf, tokens, embedding} x weighting {centered, binary}
blend     components {(als, content), (ease, content)} x weights on the simplex (step 0.1);
          each component set is fitted once and the weights vary over its component scores
bias      reg_user {5, 15} x reg_item {5, 10}
mf        factors {20, 50} x regularization {0.02, 0.05}
neural    mode=ranking x dim/hidden {32/(64,), 64/(128,)}, and mode=rating (the one point
          a rating protocol can score; a ranking protocol scores it too and it loses)
hybrid    generators {als:200,ease:200,content:100,pop:50 with sentence embeddings,
          als:100,ease:100,content:100,pop:50 on tf-idf without them}
========  =================================================================================

Grid keys a model's config does not have are dropped (with a debug message), so a grid stays
valid when a model renames an optional parameter.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reelrank.data.dataset import Dataset
from reelrank.models.base import Recommender, get_model_class

logger = logging.getLogger(__name__)

__all__ = ["GRIDS", "TuningResult", "grid_for", "tune_model"]


def _product(**axes: list[Any]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def _simplex(
    n: int, steps: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
) -> list[tuple[float, ...]]:
    """Weight vectors of length ``n`` on a coarse grid that sum to 1 (at least 2 non-zero)."""
    out = []
    for w in itertools.product(steps, repeat=n):
        if math.isclose(sum(w), 1.0) and sum(x > 0 for x in w) >= 2:
            out.append(tuple(float(x) for x in w))
    return out


#: component sets searched for ``blend`` (each fitted once; weights vary without refitting)
BLEND_COMPONENTS: list[tuple[str, ...]] = [("als", "content"), ("ease", "content")]
_BLEND_STEPS = {2: tuple(x / 10 for x in range(11)), 3: (0.0, 0.25, 0.5, 0.75, 1.0)}

#: model name -> list of parameter dicts (each a grid point)
GRIDS: dict[str, list[dict[str, Any]]] = {
    "pop": _product(by=["count", "rating"]),
    "itemknn": _product(k=[50, 200], shrinkage=[0.0, 10.0], use_ratings=[False, True]),
    "als": _product(factors=[32, 64, 128], regularization=[0.01, 0.1], alpha=[1.0, 10.0]),
    "bpr": _product(factors=[32, 64], learning_rate=[0.01, 0.05], regularization=[0.001, 0.01]),
    "lightfm": _product(no_components=[32, 64], loss=["warp", "bpr"], epochs=[20, 40]),
    "lightfm-nofeat": _product(no_components=[32, 64], loss=["warp", "bpr"], epochs=[20, 40]),
    "ease": _product(lam=[100.0, 500.0, 2000.0]),
    "content": _product(kind=["tfidf", "tokens", "embedding"], weighting=["centered", "binary"]),
    "bias": _product(reg_user=[5.0, 15.0], reg_item=[5.0, 10.0]),
    "mf": _product(factors=[20, 50], regularization=[0.02, 0.05]),
    "neural": [
        {"mode": "ranking", "dim": 32, "hidden": (64,)},
        {"mode": "ranking", "dim": 64, "hidden": (128,)},
        {"mode": "rating"},
    ],
    "hybrid": [
        {"generators": "als:200,ease:200,content:100,pop:50", "use_embeddings": True},
        {"generators": "als:100,ease:100,content:100,pop:50", "use_embeddings": False},
    ],
}


def grid_for(
    name: str, model_cls: type[Recommender], base_params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The grid points for model ``name``, restricted to its config fields.

    ``blend`` is special: its grid is every component set of :data:`BLEND_COMPONENTS` (or the
    fixed ``components``) times weight vectors on the simplex with at least two non-zero
    weights (a real hybrid). Fixed parameters in ``base_params`` override grid values.
    """
    fields = {f.name for f in dataclasses.fields(model_cls.Config)}
    if model_cls.name == "blend":
        if "components" in base_params:
            sets = [tuple(base_params["components"])]
        else:
            sets = BLEND_COMPONENTS
        points = []
        for comps in sets:
            for w in _simplex(len(comps), _BLEND_STEPS[min(len(comps), 3)]):
                points.append({"components": comps, "weights": w})
        return points
    grid = GRIDS.get(name, GRIDS.get(model_cls.name, [{}]))
    out: list[dict[str, Any]] = []
    for point in grid:
        kept = {k: v for k, v in point.items() if k in fields and k not in base_params}
        dropped = set(point) - set(kept) - set(base_params)
        if dropped:
            logger.debug("%s: grid keys %s not in its config; dropped", name, sorted(dropped))
        if kept not in out:
            out.append(kept)
    return out or [{}]


@dataclass
class TuningResult:
    """The outcome of a grid search on validation.

    Attributes
    ----------
    best_params
        The grid point with the best validation score (merged with the fixed parameters).
    metric
        The metric that was optimised (``ndcg@10``, ``rmse``...).
    best_score
        Its validation value.
    trials
        One dict per grid point: ``params``, ``score`` (NaN when the fit failed), ``seconds``,
        and ``error`` when it failed.
    """

    best_params: dict[str, Any]
    metric: str
    best_score: float
    trials: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "best_params": self.best_params,
            "metric": self.metric,
            "best_score": self.best_score,
            "trials": self.trials,
        }


def tune_model(
    name: str,
    base_params: dict[str, Any],
    train: Dataset,
    validation: Dataset,
    score: Callable[[Recommender, Dataset, Dataset], float],
    *,
    metric: str,
    lower_is_better: bool = False,
    fit: Callable[[Recommender, Dataset], None] | None = None,
    max_points: int | None = None,
) -> TuningResult:
    """Grid-search one model on a validation part.

    Parameters
    ----------
    name
        Registry name (or a variant such as ``lightfm-nofeat``, resolved by the caller into
        ``model_cls`` through ``base_params["__model__"]``).
    base_params
        Fixed parameters (always applied; grid keys present here are not searched). The key
        ``"__model__"``, when present, is the registry name of the class to instantiate.
    train, validation
        Tuning train part and validation part. The test part is never given to the tuner.
    score
        ``score(model, train, validation) -> float``: the metric of a fitted model on
        validation (higher is better unless ``lower_is_better``).
    metric
        The metric's name (for the report).
    lower_is_better
        Minimise instead of maximise (RMSE).
    fit
        ``fit(model, train)``; default ``model.fit(train)``.
    max_points
        Evaluate at most this many grid points (in grid order).

    Returns
    -------
    TuningResult
    """
    params = dict(base_params)
    cls_name = params.pop("__model__", name)
    cls = get_model_class(cls_name)
    grid = grid_for(name, cls, params)
    if max_points is not None:
        grid = grid[:max_points]
    trials: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any]] | None = None
    fitted: dict[str, Recommender] = {}
    for point in grid:
        merged = {**params, **point}
        t0 = time.perf_counter()
        try:
            if cls.name == "blend":
                # weights act on the fitted components' scores: fit each component set once
                key = repr(sorted((k, v) for k, v in merged.items() if k != "weights"))
                if key not in fitted:
                    fitted[key] = cls(**merged)
                    (fit or (lambda m, d: m.fit(d)))(fitted[key], train)
                model = fitted[key]
                model.config = dataclasses.replace(model.config, weights=tuple(merged["weights"]))
            else:
                model = cls(**merged)
                (fit or (lambda m, d: m.fit(d)))(model, train)
            value = float(score(model, train, validation))
            error = None
        except Exception as e:  # a failing grid point must not end the search
            logger.warning("%s %s failed during tuning: %s", name, point, e)
            value, error = math.nan, f"{type(e).__name__}: {e}"
        trial: dict[str, Any] = {
            "params": point,
            "score": value,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if error:
            trial["error"] = error
        trials.append(trial)
        logger.info("tune %s %s: %s=%.5f", name, point, metric, value)
        if math.isnan(value):
            continue
        key = -value if lower_is_better else value
        if best is None or key > best[0]:
            best = (key, merged)
    if best is None:
        return TuningResult(best_params=params, metric=metric, best_score=math.nan, trials=trials)
    best_score = -best[0] if lower_is_better else best[0]
    return TuningResult(best_params=best[1], metric=metric, best_score=best_score, trials=trials)
