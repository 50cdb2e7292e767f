"""Hyper-parameter search with Optuna on the validation part only.

:func:`tune_model` runs an Optuna study (TPE sampler, seeded) over the model's documented
search space (:data:`SPACES`). The model's **default configuration is always the first
trial** (``study.enqueue_trial``; a space is widened where needed so that it contains the
default), so the chosen configuration never scores below the default on validation: the
tuner picks the best trial, and the default is one of them. Each model has a trial budget
(:data:`TRIALS`, or ``n_trials``) and a time budget (``timeout``); the runner splits a
per-run time budget over the models. Test data never reaches this module: the runner hands
it a fit function (on the tuning train part) and a score function (on the validation part
of the protocol's own kind).

Search spaces
-------------

========  =================================================================================
model     space (log: sampled on a log scale)
========  =================================================================================
pop       by {count, rating} x damping [0, 100] x window_days {None, 180, 365, 730}
itemknn   k [10, 1000] log x shrinkage [0, 100] x use_ratings {False, True}
als       factors [16, 256] log x regularization [1e-3, 100] log x alpha [0.1, 50] log x
          iterations [10, 50] x weighting {none, bm25, tfidf}
bpr       factors [16, 256] log x learning_rate [1e-3, 0.1] log x regularization
          [1e-4, 0.1] log x iterations [50, 500] log (reaches implicit's good region:
          learning rate up to 0.1, hundreds of iterations, more factors)
lightfm   no_components [16, 128] log x loss {warp, bpr, warp-kos} x epochs [10, 60] x
          learning_rate [0.01, 0.1] log x item_alpha, user_alpha [1e-8, 1e-4] log
ease      lam [10, 5000] log
content   kind {tfidf, tokens, embedding} x weighting {centered, rating, binary}
blend     components {als+content, ease+content} x weight of the first [0, 1] x normalise
          {zscore, rank}; each component set is fitted once, the weights vary over its
          component scores without refitting
bias      reg_user [1, 50] x reg_item [1, 50]
mf        factors [10, 128] log x regularization [0.005, 0.2] log
neural    mode {ranking, rating} x dim {32, 64}
hybrid    generators {als:200,ease:200,content:100,pop:50, als:100,ease:100,content:100,pop:50}
          x use_embeddings {True, False} (2 trials: the hybrid is expensive); before that,
          the runner tunes its als / ease / itemknn generators alone in their own spaces
          (or reuses their tuning in the same run) and fixes them as generator_params
========  =================================================================================

Space keys a model's config does not have are dropped (with a debug message), so a space
stays valid when a model renames an optional parameter; fixed parameters (``--param``) are
never searched.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from reelrank.models.base import Recommender, get_model_class

logger = logging.getLogger(__name__)

__all__ = [
    "SPACES",
    "TRIALS",
    "Cat",
    "Float",
    "Int",
    "TuningResult",
    "space_for",
    "tune_model",
]


# ---------------------------------------------------------------------------- space specs
@dataclass(frozen=True)
class Int:
    """An integer range (inclusive); ``log`` samples it on a log scale."""

    low: int
    high: int
    log: bool = False

    def widened(self, default: Any) -> Int:
        """The range stretched to contain ``default`` (an int)."""
        if not isinstance(default, int) or isinstance(default, bool):
            return self
        return Int(min(self.low, default), max(self.high, default), self.log)

    def suggest(self, trial: Any, name: str) -> int:
        """Optuna suggestion."""
        return trial.suggest_int(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Float:
    """A float range; ``log`` samples it on a log scale."""

    low: float
    high: float
    log: bool = False

    def widened(self, default: Any) -> Float:
        """The range stretched to contain ``default`` (a positive number for log ranges)."""
        if not isinstance(default, int | float) or isinstance(default, bool):
            return self
        if self.log and default <= 0:
            return self
        return Float(min(self.low, float(default)), max(self.high, float(default)), self.log)

    def suggest(self, trial: Any, name: str) -> float:
        """Optuna suggestion."""
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Cat:
    """A categorical choice."""

    choices: tuple[Any, ...]

    def widened(self, default: Any) -> Cat:
        """The choices with ``default`` added when missing."""
        return self if default in self.choices else Cat((*self.choices, default))

    def suggest(self, trial: Any, name: str) -> Any:
        """Optuna suggestion."""
        return trial.suggest_categorical(name, list(self.choices))


Spec = Int | Float | Cat

_LIGHTFM = {
    "no_components": Int(16, 128, log=True),
    "loss": Cat(("warp", "bpr", "warp-kos")),
    "epochs": Int(10, 60),
    "learning_rate": Float(0.01, 0.1, log=True),
    "item_alpha": Float(1e-8, 1e-4, log=True),
    "user_alpha": Float(1e-8, 1e-4, log=True),
}

#: model name -> parameter name -> range (see the module doc)
SPACES: dict[str, dict[str, Spec]] = {
    "pop": {
        "by": Cat(("count", "rating")),
        "damping": Float(0.0, 100.0),
        "window_days": Cat((None, 180.0, 365.0, 730.0)),
    },
    "itemknn": {
        "k": Int(10, 1000, log=True),
        "shrinkage": Float(0.0, 100.0),
        "use_ratings": Cat((False, True)),
    },
    "als": {
        "factors": Int(16, 256, log=True),
        "regularization": Float(1e-3, 100.0, log=True),
        "alpha": Float(0.1, 50.0, log=True),
        "iterations": Int(10, 50),
        "weighting": Cat(("none", "bm25", "tfidf")),
    },
    "bpr": {
        "factors": Int(16, 256, log=True),
        "learning_rate": Float(1e-3, 0.1, log=True),
        "regularization": Float(1e-4, 0.1, log=True),
        "iterations": Int(50, 500, log=True),
    },
    "lightfm": _LIGHTFM,
    "lightfm-nofeat": _LIGHTFM,
    "ease": {"lam": Float(10.0, 5000.0, log=True)},
    "content": {
        "kind": Cat(("tfidf", "tokens", "embedding")),
        "weighting": Cat(("centered", "rating", "binary")),
    },
    "blend": {
        "components": Cat(("als,content", "ease,content")),
        "first_weight": Float(0.0, 1.0),
        "normalise": Cat(("zscore", "rank")),
    },
    "bias": {"reg_user": Float(1.0, 50.0), "reg_item": Float(1.0, 50.0)},
    "mf": {"factors": Int(10, 128, log=True), "regularization": Float(0.005, 0.2, log=True)},
    "neural": {"mode": Cat(("ranking", "rating")), "dim": Cat((32, 64))},
    "hybrid": {
        "generators": Cat(
            ("als:200,ease:200,content:100,pop:50", "als:100,ease:100,content:100,pop:50")
        ),
        "use_embeddings": Cat((True, False)),
    },
}

#: trials per model (the default configuration included); others get ``DEFAULT_TRIALS``
TRIALS: dict[str, int] = {
    "pop": 6, "itemknn": 16, "als": 20, "bpr": 16, "lightfm": 10, "lightfm-nofeat": 10,
    "ease": 8, "content": 6, "blend": 16, "bias": 8, "mf": 8, "neural": 3, "hybrid": 2,
}  # fmt: skip
DEFAULT_TRIALS = 10

#: blend parameters used only when scoring (varied without refitting the components)
_BLEND_SCORING_KEYS = ("weights", "normalise")


# ---------------------------------------------------------------------------- spaces
def _config_defaults(cls: type[Recommender]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls.Config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _blend_space_value(defaults: dict[str, Any]) -> dict[str, Any]:
    comps = tuple(defaults.get("components", ()))
    weights = tuple(defaults.get("weights", ()))
    first = weights[0] / sum(weights) if weights and sum(weights) > 0 else 1.0 / max(1, len(comps))
    return {"components": ",".join(comps), "first_weight": float(first)}


def space_for(
    name: str, model_cls: type[Recommender], fixed: dict[str, Any]
) -> tuple[dict[str, Spec], dict[str, Any]]:
    """The search space of model ``name`` and its default point in that space.

    Parameters not in the model's config and fixed parameters are left out; every range is
    widened to contain the default (the model's config default, or the fixed value).

    Returns
    -------
    (space, default_point)
    """
    fields = {f.name for f in dataclasses.fields(model_cls.Config)}
    defaults = {**_config_defaults(model_cls), **fixed}
    raw = SPACES.get(name, SPACES.get(model_cls.name, {}))
    if model_cls.name == "blend":
        point = _blend_space_value(defaults)
        space: dict[str, Spec] = {}
        for key, spec in raw.items():
            if key in ("components", "first_weight"):
                if "components" in fixed and key == "components":
                    continue
                if "weights" in fixed and key == "first_weight":
                    continue
                if key == "first_weight" and len(defaults.get("components", ())) != 2:
                    continue
                space[key] = spec.widened(point[key])
            elif key in fields and key not in fixed:
                space[key] = spec.widened(defaults.get(key))
                point[key] = defaults.get(key)
        return space, {k: point[k] for k in space}
    space = {}
    point: dict[str, Any] = {}
    for key, spec in raw.items():
        if key not in fields:
            logger.debug("%s: search key %s not in its config; dropped", name, key)
            continue
        if key in fixed:
            continue
        default = defaults.get(key)
        space[key] = spec.widened(default)
        point[key] = default
    return space, point


def _to_params(model_cls: type[Recommender], values: dict[str, Any]) -> dict[str, Any]:
    """Config parameters of a point in the space (blend: components and weights)."""
    if model_cls.name != "blend":
        return dict(values)
    out = {k: v for k, v in values.items() if k not in ("components", "first_weight")}
    if "components" in values:
        out["components"] = tuple(values["components"].split(","))
    if "first_weight" in values:
        w = float(values["first_weight"])
        out["weights"] = (w, 1.0 - w)
    return out


# ---------------------------------------------------------------------------- result
@dataclass
class TuningResult:
    """The outcome of a search on validation.

    Attributes
    ----------
    best_params
        The best trial's configuration (merged with the fixed parameters).
    metric
        The metric that was optimised (``ndcg@10``, ``rmse``...).
    best_score
        Its validation value (never worse than ``default_score``).
    default_params, default_score
        The default configuration (trial 0) and its validation value.
    trials
        One dict per trial: ``number``, ``params``, ``score`` (NaN when it failed),
        ``seconds``, ``error`` when it failed.
    sampler, seconds
        The sampler (``TPE(seed=...)``) and the wall time of the search.
    """

    best_params: dict[str, Any]
    metric: str
    best_score: float
    default_params: dict[str, Any] = field(default_factory=dict)
    default_score: float = math.nan
    trials: list[dict[str, Any]] = field(default_factory=list)
    sampler: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "metric": self.metric,
            "default_params": self.default_params,
            "default_score": self.default_score,
            "best_params": self.best_params,
            "best_score": self.best_score,
            "n_trials": len(self.trials),
            "sampler": self.sampler,
            "seconds": round(self.seconds, 3),
            "trials": self.trials,
        }


# ---------------------------------------------------------------------------- search
def tune_model(
    name: str,
    base_params: dict[str, Any],
    fit: Callable[[Recommender], Recommender],
    score: Callable[[Recommender], float],
    *,
    metric: str,
    lower_is_better: bool = False,
    n_trials: int | None = None,
    timeout: float | None = None,
    seed: int = 42,
    progress: bool = False,
) -> TuningResult:
    """Search one model's space on a validation part with Optuna's TPE sampler.

    Parameters
    ----------
    name
        Display name (a variant such as ``lightfm-nofeat`` picks its own space); the key
        ``"__model__"`` of ``base_params``, when present, is the registry name to build.
    base_params
        Fixed parameters (always applied, never searched).
    fit
        ``fit(model) -> fitted model`` on the tuning train part (the runner applies the
        protocol hint, which may return a new instance).
    score
        ``score(fitted model) -> float`` on the validation part.
    metric, lower_is_better
        The metric's name (for the report) and its direction.
    n_trials
        Trials including the default one (default: :data:`TRIALS`).
    timeout
        Seconds after which no new trial starts (the default trial always runs).
    seed
        Seed of the TPE sampler.
    progress
        Show a progress bar over the trials.

    Returns
    -------
    TuningResult
    """
    import optuna

    params = dict(base_params)
    cls = get_model_class(params.pop("__model__", name))
    space, default_point = space_for(name, cls, params)
    budget = max(1, int(n_trials if n_trials is not None else TRIALS.get(name, DEFAULT_TRIALS)))
    if not space:
        budget = 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(
        direction="minimize" if lower_is_better else "maximize", sampler=sampler
    )
    study.enqueue_trial(default_point)
    trials: list[dict[str, Any]] = []
    scores: dict[str, float] = {}
    fitted_blends: dict[str, Recommender] = {}
    bar = tqdm(total=budget, desc=f"tune {name}", disable=not progress, leave=False)

    def objective(trial: Any) -> float:
        values = {key: spec.suggest(trial, key) for key, spec in space.items()}
        merged = {**params, **_to_params(cls, values)}
        key = repr(sorted(merged.items()))
        t0 = time.perf_counter()
        record: dict[str, Any] = {"number": trial.number, "params": values}
        try:
            if key in scores:  # TPE proposed a point it already tried (categorical spaces)
                value = scores[key]
            else:
                if cls.name == "blend":
                    # weights and normalisation act on fitted component scores: fit each
                    # component set once, then only swap the scoring settings
                    late = {k: merged[k] for k in _BLEND_SCORING_KEYS if k in merged}
                    fit_key = repr(sorted((k, v) for k, v in merged.items() if k not in late))
                    if fit_key not in fitted_blends:
                        fitted_blends[fit_key] = fit(cls(**merged))
                    model = fitted_blends[fit_key]
                    late.setdefault("weights", ())
                    model.config = dataclasses.replace(model.config, **late)
                else:
                    model = fit(cls(**merged))
                value = float(score(model))
                scores[key] = value
        except Exception as e:  # a failing trial must not end the search
            logger.warning("%s %s failed during tuning: %s", name, values, e)
            record.update(score=math.nan, error=f"{type(e).__name__}: {e}")
            trials.append(record | {"seconds": round(time.perf_counter() - t0, 3)})
            bar.update()
            raise optuna.TrialPruned() from None
        record.update(score=value, seconds=round(time.perf_counter() - t0, 3))
        trials.append(record)
        logger.info("tune %s #%d %s: %s=%.5f", name, trial.number, values, metric, value)
        bar.update()
        if math.isnan(value):
            raise optuna.TrialPruned()
        return value

    t_start = time.perf_counter()
    try:
        # the default trial runs whatever the time budget; the others share it
        study.optimize(objective, n_trials=1)
        if budget > 1:
            spent = time.perf_counter() - t_start
            remaining = None if timeout is None else max(0.0, timeout - spent)
            if remaining is None or remaining > 0:
                study.optimize(objective, n_trials=budget - 1, timeout=remaining)
    finally:
        bar.close()
    seconds = time.perf_counter() - t_start
    default_score = trials[0]["score"] if trials else math.nan
    default_params = {**params, **_to_params(cls, default_point)}
    done = [t for t in trials if not math.isnan(t["score"])]
    if not done:
        best_params, best_score = default_params, math.nan
    else:
        sign = -1.0 if lower_is_better else 1.0
        # max over trials; the earliest wins ties, so the default is kept unless beaten
        best = max(done, key=lambda t: (sign * t["score"], -t["number"]))
        best_params = {**params, **_to_params(cls, best["params"])}
        best_score = best["score"]
    return TuningResult(
        best_params=best_params,
        metric=metric,
        best_score=best_score,
        default_params=default_params,
        default_score=default_score,
        trials=trials,
        sampler=f"TPE(seed={seed})",
        seconds=seconds,
    )
