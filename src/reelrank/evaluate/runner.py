"""The evaluation runner: fit models on a protocol's train part, score the test part once.

:func:`evaluate` splits the dataset with the protocol, builds item features from the
training data only (with the blocks the models need), configures each model for the
protocol (:meth:`~reelrank.models.base.Recommender.for_protocol` with
:attr:`Protocol.hint <reelrank.evaluate.protocols.Protocol.hint>`, before *every* fit,
tuning trials included), fits it, and scores it with :mod:`reelrank.evaluate.scoring`
(per-user metrics, aggregated with their standard error and a 95% interval).

With ``tune=True`` each model is first searched with Optuna on the validation part
(:mod:`reelrank.evaluate.tuning`; the default configuration is the first trial), then
refitted with the best parameters on the full training data (train + validation) and scored
on the test part once. The validation part is the split's own when it has one (temporal,
cold items, cold users); otherwise the protocol's kind of split is cut from train
(:func:`inner_split`: a random split for random protocols, a per-item stratified one for
stratified protocols). Without tuning the models are also fitted on train + validation, so
the two modes see the same data.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.data.split import (
    Split,
    cold_item_split,
    cold_user_split,
    random_split,
    temporal_split,
)
from reelrank.errors import ConfigError, ReelrankError
from reelrank.evaluate import metrics as M
from reelrank.evaluate.protocols import Protocol, get_protocol, parse_metric
from reelrank.evaluate.report import data_histograms
from reelrank.evaluate.results import EvaluationResult, ModelResult
from reelrank.evaluate.scoring import Target, genre_vectors, make_target, score_model
from reelrank.evaluate.tuning import Cat, TuningResult, space_for, tune_model
from reelrank.models.base import FoldInNotSupported, Recommender, get_model_class

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_TUNE_TIMEOUT",
    "INNER_SEED",
    "MODEL_VARIANTS",
    "EvaluationResult",
    "ModelResult",
    "evaluate",
    "expand_models",
    "inner_split",
    "resolve_model",
]

#: cut-offs at which every k-metric of the protocol is also reported (for the k plots)
DEFAULT_KS: tuple[int, ...] = (5, 10, 20)

#: seconds of tuning per run (shared by the models; the default trial always runs)
DEFAULT_TUNE_TIMEOUT = 300.0

#: seed of the validation split cut from train when the protocol's split has none
INNER_SEED = 7

#: display name -> (registry name, fixed parameters): variants evaluated side by side
MODEL_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "lightfm-nofeat": ("lightfm", {"use_item_features": False}),
    # item features only, no identity features: every movie, rated or cold, is the sum of
    # its content tokens (the strong LightFM baseline of item cold start)
    "lightfm-content": ("lightfm", {"use_item_features": True, "item_identity": False}),
}

#: beyond-accuracy metrics always reported at every k
_EXTRA_METRICS = ("coverage", "novelty", "diversity", "popularity")


# ---------------------------------------------------------------------------- model specs
def resolve_model(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``(display name, registry name, fixed params)`` for a model name or variant.

    Raises
    ------
    ConfigError
        For an unknown model (the message lists the available ones).
    """
    spec = spec.strip()
    if spec in MODEL_VARIANTS:
        base, params = MODEL_VARIANTS[spec]
        cls = get_model_class(base)
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        return spec, base, {k: v for k, v in params.items() if k in fields}
    get_model_class(spec)  # raises ConfigError for unknown names
    return spec, spec, {}


def expand_models(names: Sequence[str]) -> list[str]:
    """Add ``lightfm-nofeat`` right after ``lightfm`` (with vs without item features)."""
    out: list[str] = []
    for n in names:
        out.append(n)
        if n == "lightfm" and "lightfm-nofeat" not in names:
            out.append("lightfm-nofeat")
    return out


# ---------------------------------------------------------------------------- data helpers
def _union(a: Dataset, b: Dataset | None) -> Dataset:
    """``a`` plus the interactions of ``b`` (same maps); metadata and tags from ``a``."""
    if b is None or b.n_interactions == 0:
        return a
    merged = Dataset.from_arrays(
        np.concatenate([a.user_index_of_entries(), b.user_index_of_entries()]),
        np.concatenate([a.interactions.indices, b.interactions.indices]),
        np.concatenate([a.ratings, b.ratings]),
        np.concatenate([a.timestamps, b.timestamps]),
        users=a.users,
        items=a.items,
        movies=a.movies,
    )
    return replace(a, interactions=merged.interactions, timestamps=merged.timestamps)


def _rows_of(ds: Dataset, users: np.ndarray) -> Dataset:
    """``ds`` restricted to the rows of ``users``."""
    mask = np.isin(ds.user_index_of_entries(), users)
    return ds.with_interactions(mask)


# ---------------------------------------------------------------------------- fitting
@dataclass
class _Context:
    protocol: Protocol
    ranking_names: list[str]
    rating_names: list[str]
    progress: bool
    cache_dir: Path | None
    feature_blocks: set[str]
    features_cache: dict[int, Any] = field(default_factory=dict)
    #: tuning results of plain single models (display name == registry name, no fixed
    #: parameters) in this run, reused for the hybrid's generators
    tuned: dict[str, TuningResult] = field(default_factory=dict)


def _features_for(ctx: _Context, train: Dataset) -> Any:
    key = id(train)
    if key not in ctx.features_cache:
        from reelrank.features import build_item_features

        t0 = time.perf_counter()
        ctx.features_cache[key] = build_item_features(
            train, blocks=ctx.feature_blocks, cache_dir=ctx.cache_dir, progress=ctx.progress
        )
        logger.info("item features built in %.1fs", time.perf_counter() - t0)
    return ctx.features_cache[key]


def _fit(ctx: _Context, model: Recommender, train: Dataset) -> Recommender:
    """Configure ``model`` for the protocol (``for_protocol``), fit it, return the fitted one."""
    model = model.for_protocol(ctx.protocol.hint)
    model.fit(train, _features_for(ctx, train))
    return model


def _primary(protocol: Protocol) -> tuple[str, bool]:
    if protocol.ranking_metrics:
        first = next(
            (m for m in protocol.ranking_metrics if parse_metric(m)[0] not in ("coverage",)),
            protocol.ranking_metrics[0],
        )
        return first, False
    return protocol.rating_metrics[0], True


def _seeded(cls: type[Recommender], params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    if seed is None:
        return params
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    for key in ("random_state", "seed"):
        if key in fields and key not in params:
            return {**params, key: seed}
    return params


# ---------------------------------------------------------------------------- folds
def inner_split(protocol: Protocol, train: Dataset, seed: int = INNER_SEED) -> Split:
    """A validation split of the protocol's own kind, cut from ``train`` only.

    Used when the protocol's split has no validation part: ``stratified`` protocols hold out
    25% of each movie's ratings (as their test part), ``random`` ones 20% of the ratings
    (10% of each user's for ``lightfm-ua``, whose test part is a fixed number per user),
    ``temporal`` ones each user's last 20%, cold-item ones 20% of the movies and cold-user
    ones 20% of the users.
    """
    kind = protocol.split_kind
    if kind == "stratified":
        return random_split(train, test_ratio=0.25, stratify="item", seed=seed)
    if kind == "temporal":
        return temporal_split(train, test_ratio=0.2)
    if kind == "cold-items":
        keep = bool(protocol.name.endswith("-tags"))
        return cold_item_split(train, item_ratio=0.2, min_ratings=5, seed=seed, keep_tags=keep)
    if kind == "cold-users":
        return cold_user_split(train, user_ratio=0.2, fold_in_ratio=0.8, seed=seed)
    if protocol.name == "lightfm-ua":
        return random_split(train, test_ratio=0.1, stratify="user", seed=seed)
    return random_split(train, test_ratio=0.2, seed=seed)


@dataclass
class _Fold:
    fit_train: Dataset  # train (+ validation when the split has one)
    target: Target  # test part
    tune_train: Dataset
    tune_target: Target


def _prepare_fold(proto: Protocol, s: Split) -> _Fold:
    cold_test = s.params.get("cold_item_idx")
    if s.validation is not None:
        tune_train, tune_part, tune_fold_in = s.train, s.validation, s.fold_in
        cold_val = s.params.get("val_item_idx")
        extra = s.validation
        if proto.mode == "fold-in" and s.fold_in is not None:
            # validation users' fold-in ratings join the final training data too
            val_users = np.asarray(s.params.get("val_user_idx", []), dtype=np.int64)
            extra = _union(s.validation, _rows_of(s.fold_in, val_users))
        fit_train = _union(s.train, extra)
    else:
        inner = inner_split(proto, s.train)
        tune_train, tune_part, tune_fold_in = inner.train, inner.test, inner.fold_in
        cold_val = inner.params.get("cold_item_idx")
        fit_train = s.train
    target = make_target(proto, fit_train, s.test, fold_in=s.fold_in, cold_items=cold_test)
    tune_target = make_target(
        proto, tune_train, tune_part, fold_in=tune_fold_in, cold_items=cold_val
    )
    return _Fold(fit_train=fit_train, target=target, tune_train=tune_train, tune_target=tune_target)


# ---------------------------------------------------------------------------- public entry
def evaluate(
    dataset: Dataset,
    protocol: str | Protocol = "temporal",
    models: Sequence[str | Recommender] = ("pop", "als"),
    *,
    ks: Sequence[int] | None = None,
    tune: bool = False,
    progress: bool = True,
    cache_dir: str | Path | None = None,
    seed: int | None = 42,
    params: dict[str, dict[str, Any]] | None = None,
    tune_trials: int | dict[str, int] | None = None,
    tune_timeout: float | None = DEFAULT_TUNE_TIMEOUT,
    on_stage: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Evaluate models under a named protocol.

    Parameters
    ----------
    dataset
        The whole dataset (the protocol splits it).
    protocol
        A protocol name (see :data:`reelrank.evaluate.protocols.PROTOCOLS`) or object.
    models
        Registry names, variants (``lightfm-nofeat``) or unfitted :class:`Recommender`
        instances (evaluated with their own configuration; not tuned).
    ks
        Cut-offs at which every k-metric of the protocol (and coverage, novelty,
        intra-list diversity, popularity bias) is reported, besides the protocol's own.
        Default :data:`DEFAULT_KS`.
    tune
        Search each named model on the validation part first (Optuna TPE, the default
        configuration as the first trial; see :mod:`reelrank.evaluate.tuning`).
    progress
        Show progress bars.
    cache_dir
        Embedding cache folder for item features.
    seed
        Seed given to models with a ``random_state`` / ``seed`` parameter (unless set in
        ``params``) and to the tuner's sampler. The split uses the protocol's published seed.
    params
        Fixed parameters per model display name, e.g. ``{"als": {"factors": 128}}``.
    tune_trials
        Trials per model (an int for all, or per display name); default
        :data:`reelrank.evaluate.tuning.TRIALS`.
    tune_timeout
        Seconds of tuning for the whole run, shared by the models still to tune (``None``:
        no limit). Each model's default trial runs whatever is left.
    on_stage
        Called with a short description as each stage starts (``"splitting"``, ``"item
        features"``, ``"fitting ease (2/3)"``), for progress lines; ``None``: silent.

    Returns
    -------
    EvaluationResult
        ``info["provenance"]`` records the versions of reelrank and its key dependencies
        and the git commit.

    Raises
    ------
    ConfigError
        Unknown protocol or model, or a dataset the protocol cannot use.
    """
    from reelrank.provenance import provenance

    proto = get_protocol(protocol)
    ks = tuple(sorted(set(ks if ks is not None else DEFAULT_KS)))
    if any(k < 1 for k in ks):
        raise ConfigError("every k must be >= 1")
    params = params or {}
    specs: list[tuple[str, str | None, dict[str, Any], Recommender | None]] = []
    for m in models:
        if isinstance(m, Recommender):
            specs.append((m.name, None, {}, m))
        else:
            display, base, fixed = resolve_model(m)
            specs.append((display, base, {**fixed, **params.get(display, {})}, None))
    stage = on_stage or (lambda message: None)
    stage(f"splitting {dataset.name} ({proto.name} protocol)")
    t_split = time.perf_counter()
    splits = proto.make_splits(dataset, None)
    split_seconds = time.perf_counter() - t_split

    # metric names: the protocol's, each k-metric also at every k, plus beyond-accuracy ones
    names: list[str] = []
    for m in proto.ranking_metrics:
        base, k = parse_metric(m)
        names.append(m)
        if k is not None:
            names += [f"{base}@{kk}" for kk in ks]
    if proto.ranking_metrics:
        names += [f"{b}@{kk}" for b in _EXTRA_METRICS for kk in ks]
    ctx = _Context(
        protocol=proto, ranking_names=list(dict.fromkeys(names)),
        rating_names=list(proto.rating_metrics), progress=progress,
        cache_dir=Path(cache_dir) if cache_dir else None,
        feature_blocks=_feature_blocks(specs, tune),
    )  # fmt: skip
    genres = genre_vectors(dataset)
    primary, lower = _primary(proto)
    folds = [_prepare_fold(proto, s) for s in splits]
    if ctx.feature_blocks:
        stage(f"item features ({', '.join(sorted(ctx.feature_blocks))})")
        _features_for(ctx, folds[0].fit_train)  # cached: the first fit reuses it

    results: list[ModelResult] = []
    t_tune_start = time.perf_counter()
    n_tuned = sum(1 for _, base, _, _ in specs if base is not None)
    for j, (display, base, fixed, inst) in enumerate(specs, start=1):
        what = "tuning, fitting and scoring" if tune and base is not None else "fitting and scoring"
        stage(f"{what} {display} ({j}/{len(specs)})")
        timeout = None
        if tune and tune_timeout is not None and base is not None:
            left = tune_timeout - (time.perf_counter() - t_tune_start)
            timeout = max(0.0, left) / max(1, n_tuned)
            n_tuned -= 1
        trials = tune_trials.get(display) if isinstance(tune_trials, dict) else tune_trials
        results.append(
            _evaluate_one(
                ctx, display, base, fixed, inst, folds, tune=tune, seed=seed, primary=primary,
                lower=lower, genres=genres, n_trials=trials, timeout=timeout,
            )
        )  # fmt: skip

    f0 = folds[0]
    info: dict[str, Any] = {
        "protocol": proto.describe(),
        "primary_metric": primary,
        "primary_lower_is_better": lower,
        "ks": list(ks),
        "seed": seed,
        "tuned": tune,
        "n_folds": len(folds),
        "split": splits[0].sizes(),
        "split_seconds": round(split_seconds, 3),
        "n_users_evaluated": len(f0.target.users),
        "n_test_users_without_relevant": f0.target.n_without_relevant,
        "n_test_ratings_unknown_dropped": f0.target.n_dropped_unknown,
        "n_candidates": (
            dataset.n_items if f0.target.candidates is None else len(f0.target.candidates)
        ),
        "validation": {
            "source": "split" if splits[0].validation is not None else "inner split of train",
            "n_ratings": f0.tune_target.ratings_part.n_interactions,
            "n_users": len(f0.tune_target.users),
        },
        "dataset_summary": {
            k: v for k, v in dataset.summary().items() if isinstance(v, int | float | str)
        },
        "provenance": provenance(),
        "histograms": data_histograms(dataset),
    }
    return EvaluationResult(protocol=proto.name, dataset=dataset.name, results=results, info=info)


def _feature_blocks(
    specs: Sequence[tuple[str, str | None, dict[str, Any], Recommender | None]], tune: bool
) -> set[str]:
    """Item-feature blocks every model (and, when tuning, every categorical choice) needs."""
    blocks: set[str] = set()
    for display, base, fixed, inst in specs:
        model = inst if inst is not None else get_model_class(base)(**fixed)  # type: ignore[arg-type]
        blocks |= set(model.feature_blocks())
        if tune and base is not None:  # trials may need more blocks (content kind=embedding)
            cls = get_model_class(base)
            space, _ = space_for(display, cls, fixed)
            for key, spec in space.items():
                if not isinstance(spec, Cat) or cls.name == "blend":
                    continue
                for choice in spec.choices:
                    try:
                        blocks |= set(cls(**{**fixed, key: choice}).feature_blocks())
                    except ReelrankError:
                        continue
    return blocks


def _evaluate_one(
    ctx: _Context,
    display: str,
    base: str | None,
    fixed: dict[str, Any],
    inst: Recommender | None,
    folds: list[_Fold],
    *,
    tune: bool,
    seed: int | None,
    primary: str,
    lower: bool,
    genres: sp.csr_matrix,
    n_trials: int | None,
    timeout: float | None,
) -> ModelResult:
    result = ModelResult(model=display)
    names = ctx.ranking_names + ctx.rating_names
    try:
        params = dict(fixed)
        if base is not None:
            cls = get_model_class(base)
            params = _seeded(cls, params, seed)
            if not ctx.ranking_names and not cls.predicts_ratings:
                result.error = (
                    f"{display} does not predict ratings ({ctx.protocol.name} scores RMSE/MAE)"
                )
                return result
            if tune:
                generators: dict[str, Any] = {}
                # collaborative generators score no cold movie: nothing to tune them on there
                if base == "hybrid" and ctx.protocol.split_kind != "cold-items":
                    params, generators = _tune_generators(
                        ctx, params, folds[0], primary, lower, seed, timeout=timeout
                    )
                tuning = _tune(ctx, display, base, params, folds[0], primary, lower, seed,
                               n_trials=n_trials, timeout=timeout)  # fmt: skip
                if display == base and not fixed:
                    ctx.tuned[display] = tuning
                params = tuning.best_params
                result.tuning = tuning.to_dict()
                if generators:
                    result.tuning["generators"] = generators
        per_fold: list[dict[str, np.ndarray | float]] = []
        fit_s = eval_s = 0.0
        model: Recommender | None = None
        for i, fold in enumerate(folds):
            model = inst if inst is not None else get_model_class(base)(**params)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            model = _fit(ctx, model, fold.fit_train)
            t1 = time.perf_counter()
            values = score_model(
                model, ctx.protocol, fold.fit_train, fold.target, names, progress=ctx.progress,
                desc=f"{display} test" + (f" fold {i + 1}" if len(folds) > 1 else ""),
                genres=genres,
            )  # fmt: skip
            fit_s += t1 - t0
            eval_s += time.perf_counter() - t1
            per_fold.append(values)
        if inst is not None:
            params = inst.config.to_dict()
        info = getattr(model, "fit_info_", None)
        result.fit_info = dict(info) if isinstance(info, dict) and info else None
        result.params = {k: v for k, v in params.items() if not k.startswith("__")}
        result.fit_seconds = fit_s
        result.eval_seconds = eval_s
        result.n_users = len(folds[0].target.users)
        _aggregate_into(result, per_fold)
    except FoldInNotSupported as e:
        result.error = f"not supported: {e}"
        logger.warning("%s: %s", display, result.error)
    except ReelrankError as e:
        result.error = str(e)
        logger.warning("%s failed: %s", display, e)
    return result


def _tune(
    ctx: _Context,
    display: str,
    base: str,
    params: dict[str, Any],
    fold: _Fold,
    primary: str,
    lower: bool,
    seed: int | None,
    *,
    n_trials: int | None,
    timeout: float | None,
) -> TuningResult:
    """Optuna search on the fold's validation target (the tuner never sees test data)."""

    def score(model: Recommender) -> float:
        values = score_model(
            model, ctx.protocol, fold.tune_train, fold.tune_target, [primary],
            desc=f"{display} validation",
        )  # fmt: skip
        return float(np.nanmean(values[primary])) if primary in values else math.nan

    return tune_model(
        display, {**params, "__model__": base}, lambda m: _fit(ctx, m, fold.tune_train), score,
        metric=primary, lower_is_better=lower, n_trials=n_trials, timeout=timeout,
        seed=42 if seed is None else seed, progress=ctx.progress,
    )  # fmt: skip


#: the hybrid's generators that ``--tune`` tunes first, each alone (their single-model space)
HYBRID_TUNED_GENERATORS = ("als", "ease", "itemknn")


def _tune_generators(
    ctx: _Context,
    params: dict[str, Any],
    fold: _Fold,
    primary: str,
    lower: bool,
    seed: int | None,
    *,
    timeout: float | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tune the hybrid's collaborative generators alone on the validation part.

    Each of the hybrid's generators in :data:`HYBRID_TUNED_GENERATORS` is tuned as the
    single model would be (same space, same validation part, the protocol's hint), or the
    result of its tuning earlier in this run is reused; the best values become the hybrid's
    ``generator_params`` (values the caller fixed in ``generator_params`` win). The hybrid's
    own search then runs with them.

    Returns
    -------
    (params, summary)
        The hybrid's parameters with ``generator_params`` filled in, and per generator its
        tuned values and default / best validation figures (for ``result.tuning``).
    """
    from reelrank.models.candidates import parse_generators

    spec = params.get("generators", get_model_class("hybrid").Config().generators)
    given = {k: dict(v) for k, v in (params.get("generator_params") or {}).items()}
    gp = {k: dict(v) for k, v in given.items()}
    summary: dict[str, Any] = {}
    for name, _ in parse_generators(spec):
        if name not in HYBRID_TUNED_GENERATORS or given.get(name):
            continue
        result = ctx.tuned.get(name)
        if result is None:
            cls = get_model_class(name)
            result = _tune(ctx, name, name, _seeded(cls, {}, seed), fold, primary, lower,
                           seed, n_trials=None, timeout=timeout)  # fmt: skip
            ctx.tuned[name] = result
        best = {k: v for k, v in result.best_params.items() if k not in ("seed", "random_state")}
        gp[name] = best
        summary[name] = {
            "params": best,
            "default_score": result.default_score,
            "best_score": result.best_score,
        }
    return {**params, "generator_params": gp}, summary


def _aggregate_into(result: ModelResult, per_fold: list[dict[str, np.ndarray | float]]) -> None:
    for name in per_fold[0]:
        values = [f[name] for f in per_fold if name in f]
        if len(values) == 1:
            agg = M.aggregate(values[0])
        else:  # several folds: mean of fold means, spread across folds
            means = [float(np.nanmean(v)) for v in values]
            agg = M.aggregate(np.asarray(means))
        result.metrics[name] = agg.mean
        result.metrics_sem[name] = agg.sem
        result.metrics_ci95[name] = [agg.ci95_low, agg.ci95_high]
