"""The evaluation runner: fit models on a protocol's train part, score the test part.

:func:`evaluate` splits the dataset with the protocol, builds item features from the
training data only (with the blocks the models need), fits each model, asks it for
recommendations in user batches (``recommend(exclude_seen=True)``; only the cold movies as
candidates for ``cold-items``; ``recommend_for_ratings`` on the fold-in ratings for
``strong-generalization``), and computes per-user metrics, aggregated with their standard
error and a 95% interval. With ``tune=True`` each model is first grid-searched on the
validation part (:mod:`reelrank.evaluate.tuning`), then refitted with the best parameters on
the full training data (train + validation) and scored on the test part once. Without tuning
the models are also fitted on train + validation, so the two modes see the same data.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from reelrank.data.dataset import Dataset
from reelrank.data.split import Split
from reelrank.errors import ConfigError, ReelrankError
from reelrank.evaluate import metrics as M
from reelrank.evaluate.protocols import Protocol, get_protocol, parse_metric
from reelrank.evaluate.tuning import TuningResult, grid_for, tune_model
from reelrank.models.base import FoldInNotSupported, Recommender, get_model_class

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_KS",
    "MODEL_VARIANTS",
    "EvaluationResult",
    "ModelResult",
    "evaluate",
    "expand_models",
    "resolve_model",
]

#: cut-offs at which every k-metric of the protocol is also reported (for the k plots)
DEFAULT_KS: tuple[int, ...] = (5, 10, 20)

#: display name -> (registry name, fixed parameters): variants evaluated side by side
MODEL_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "lightfm-nofeat": ("lightfm", {"use_item_features": False}),
}

#: beyond-accuracy metrics always reported at every k
_EXTRA_METRICS = ("coverage", "novelty", "diversity", "popularity")

_USER_BATCH = 1024


# ---------------------------------------------------------------------------- results
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
        The validation grid search, when ``tune=True``.
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
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (NaN becomes None)."""
        out = {
            "model": self.model,
            "params": self.params,
            "metrics": _clean(self.metrics),
            "metrics_sem": _clean(self.metrics_sem),
            "metrics_ci95": {k: _clean(v) for k, v in self.metrics_ci95.items()},
            "n_users": self.n_users,
            "fit_seconds": round(self.fit_seconds, 3),
            "eval_seconds": round(self.eval_seconds, 3),
        }
        if self.tuning is not None:
            out["tuning"] = _clean(self.tuning)
        if self.error is not None:
            out["error"] = self.error
        return out


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
        items, the cut-offs, the seed, histograms of the data for the report.
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
            "info": _clean(self.info),
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


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


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


def _relevant(target: Dataset, threshold: float | None) -> sp.csr_matrix:
    rel = target.binary(threshold)
    rel.eliminate_zeros()
    return rel


def _genre_vectors(ds: Dataset) -> sp.csr_matrix:
    """One-hot genres per item (content vectors for intra-list diversity)."""
    genres = ds.movies["genres"]
    lengths = genres.map(len).to_numpy()
    flat = pd.Series([g for gs in genres for g in gs], dtype="string")
    codes, names = pd.factorize(flat)
    rows = np.repeat(np.arange(len(genres)), lengths)
    return sp.csr_matrix(
        (np.ones(len(codes), np.float32), (rows, codes)), shape=(len(genres), max(1, len(names)))
    )


@dataclass
class _Target:
    """What one scoring pass needs: users, their relevant items, seen items, candidates."""

    users: np.ndarray  # rows to score (user indices, or fold-in row positions)
    relevant: sp.csr_matrix  # (len(users), n_items)
    ratings_part: Dataset  # the held-out part (for RMSE)
    fold_in: sp.csr_matrix | None  # (len(users), n_items) fold-in ratings
    candidates: np.ndarray | None
    n_without_relevant: int
    n_dropped_unknown: int


def _make_target(
    protocol: Protocol,
    fit_train: Dataset,
    part: Dataset,
    *,
    fold_in: Dataset | None,
    cold_items: np.ndarray | None,
) -> _Target:
    n_dropped = 0
    if protocol.exclude_unknown:
        known_users = fit_train.user_counts() > 0
        known_items = fit_train.item_counts() > 0
        keep = known_users[part.user_index_of_entries()] & known_items[part.interactions.indices]
        n_dropped = int((~keep).sum())
        part = part.with_interactions(keep)
    rel = _relevant(part, protocol.relevance_threshold)
    test_users = part.active_users()
    n_rel = np.diff(rel.indptr)[test_users]
    users = test_users[n_rel > 0]
    candidates: np.ndarray | None = None
    if protocol.candidates == "known":
        candidates = np.flatnonzero(fit_train.item_counts() > 0)
    elif protocol.candidates == "cold":
        if cold_items is None:
            raise ConfigError(f"protocol {protocol.name!r} needs the cold items of the split")
        candidates = np.asarray(cold_items, dtype=np.int64)
    fold_rows = None
    if protocol.mode == "fold-in":
        if fold_in is None:
            raise ConfigError(f"protocol {protocol.name!r} needs fold-in ratings")
        fold_rows = fold_in.interactions[users]
    return _Target(
        users=users,
        relevant=rel[users],
        ratings_part=part,
        fold_in=fold_rows,
        candidates=candidates,
        n_without_relevant=int((n_rel == 0).sum()),
        n_dropped_unknown=n_dropped,
    )


# ---------------------------------------------------------------------------- scoring
def _recommend(
    model: Recommender, target: _Target, n: int, *, progress: bool, desc: str
) -> np.ndarray:
    n_users = len(target.users)
    out = np.full((n_users, n), -1, dtype=np.int64)
    starts = range(0, n_users, _USER_BATCH)
    for start in tqdm(
        starts, desc=desc, disable=not progress or n_users <= _USER_BATCH, leave=False
    ):
        sl = slice(start, min(n_users, start + _USER_BATCH))
        if target.fold_in is not None:
            items, _ = model.recommend_for_ratings(
                target.fold_in[sl], n=n, exclude_seen=True, candidates=target.candidates
            )
        else:
            items, _ = model.recommend(
                target.users[sl], n=n, exclude_seen=True, candidates=target.candidates
            )
        out[sl, : items.shape[1]] = items
    return out


def _pos_ranks(recs: np.ndarray, relevant: sp.csr_matrix) -> sp.csr_matrix:
    """1-based rank of each relevant item found in ``recs`` (a full ranking), as CSR."""
    hit = M.hits(recs, relevant)
    r, c = np.nonzero(hit)
    return sp.csr_matrix(((c + 1).astype(np.float64), (r, recs[r, c])), shape=relevant.shape)


def _ranking_metrics(
    model: Recommender,
    protocol: Protocol,
    target: _Target,
    fit_train: Dataset,
    metric_names: Sequence[str],
    *,
    progress: bool,
    desc: str,
    genre_vectors: sp.csr_matrix | None,
) -> dict[str, np.ndarray | float]:
    parsed = [parse_metric(m) for m in metric_names]
    ks = [k for _, k in parsed if k is not None]
    full = any(b in ("auc", "map") and k is None for b, k in parsed)
    n_items = fit_train.n_items
    if full:
        n_cand = n_items if target.candidates is None else len(target.candidates)
        depth = max([n_cand, *ks])
    else:
        depth = max(ks) if ks else 10
    recs = _recommend(model, target, depth, progress=progress, desc=desc)
    rel = target.relevant
    counts = fit_train.item_counts()
    n_train_users = max(1, int((fit_train.user_counts() > 0).sum()))
    out: dict[str, np.ndarray | float] = {}
    for name, (base, k) in zip(metric_names, parsed, strict=True):
        if base == "precision":
            out[name] = M.precision_at_k(recs, rel, k)
        elif base == "recall":
            out[name] = M.recall_at_k(recs, rel, k)
        elif base == "ndcg":
            out[name] = M.ndcg_at_k(recs, rel, k)
        elif base == "map" and k is not None:
            out[name] = M.map_at_k(recs, rel, k, denominator=protocol.map_denominator)
        elif base == "mrr":
            out[name] = M.mrr_at_k(recs, rel, k)
        elif base == "hit":
            out[name] = M.hit_rate_at_k(recs, rel, k)
        elif base == "coverage":
            catalogue = n_items if target.candidates is None else len(target.candidates)
            out[name] = M.coverage_at_k(recs, catalogue, k)
        elif base == "novelty":
            out[name] = M.novelty(recs, counts, n_train_users, k)
        elif base == "popularity":
            out[name] = M.popularity_bias(recs, counts, k)
        elif base == "diversity" and genre_vectors is not None:
            out[name] = M.intra_list_diversity(recs, genre_vectors, k)
        elif base in ("auc", "map"):
            ranks = _pos_ranks(recs, rel)
            if base == "auc":
                n_ranked = (recs >= 0).sum(axis=1)
                out[name] = M.auc_from_ranks(ranks, n_ranked)
            else:
                out[name] = M.average_precision(ranks)
    return out


def _rating_metrics(
    model: Recommender, target: _Target, metric_names: Sequence[str]
) -> dict[str, np.ndarray | float]:
    part = target.ratings_part
    users = part.user_index_of_entries()
    items = part.interactions.indices.astype(np.int64)
    pred = model.score(users, items)
    err = pred.astype(np.float64) - part.ratings.astype(np.float64)
    out: dict[str, np.ndarray | float] = {}
    for name in metric_names:
        base, _ = parse_metric(name)
        out[name] = float(np.sqrt(np.mean(err**2))) if base == "rmse" else float(np.abs(err).mean())
    return out


# ---------------------------------------------------------------------------- one model
@dataclass
class _Context:
    protocol: Protocol
    ranking_names: list[str]
    rating_names: list[str]
    progress: bool
    cache_dir: Path | None
    feature_blocks: set[str]
    features_cache: dict[int, Any] = field(default_factory=dict)


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


def _fit(ctx: _Context, model: Recommender, train: Dataset) -> None:
    model.fit(train, _features_for(ctx, train))


def _score_on(
    ctx: _Context,
    model: Recommender,
    fit_train: Dataset,
    target: _Target,
    *,
    names: Sequence[str],
    desc: str,
    genre_vectors: sp.csr_matrix | None,
) -> dict[str, np.ndarray | float]:
    out: dict[str, np.ndarray | float] = {}
    ranking = [m for m in names if parse_metric(m)[0] not in ("rmse", "mae")]
    rating = [m for m in names if parse_metric(m)[0] in ("rmse", "mae")]
    if ranking:
        out.update(
            _ranking_metrics(
                model, ctx.protocol, target, fit_train, ranking, progress=ctx.progress,
                desc=desc, genre_vectors=genre_vectors,
            )
        )  # fmt: skip
    if rating and model.predicts_ratings and target.ratings_part.n_interactions:
        out.update(_rating_metrics(model, target, rating))
    return out


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
        Grid-search each named model on the validation part first (see
        :mod:`reelrank.evaluate.tuning`).
    progress
        Show progress bars.
    cache_dir
        Embedding cache folder for item features.
    seed
        Seed given to models with a ``random_state`` / ``seed`` parameter (unless set in
        ``params``). The split uses the protocol's published seed.
    params
        Fixed parameters per model display name, e.g. ``{"als": {"factors": 128}}``.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ConfigError
        Unknown protocol or model, or a dataset the protocol cannot use.
    """
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
    ranking_names = list(dict.fromkeys(names))
    rating_names = list(proto.rating_metrics)
    blocks: set[str] = set()
    for display, base, fixed, inst in specs:
        model = inst if inst is not None else get_model_class(base)(**fixed)  # type: ignore[arg-type]
        blocks |= set(model.feature_blocks())
        if tune and base is not None:  # grid points may need more blocks (content kind=embedding)
            cls = get_model_class(base)
            for point in grid_for(display, cls, fixed):
                try:
                    blocks |= set(cls(**{**fixed, **point}).feature_blocks())
                except ReelrankError:
                    continue
    ctx = _Context(
        protocol=proto, ranking_names=ranking_names, rating_names=rating_names,
        progress=progress, cache_dir=Path(cache_dir) if cache_dir else None, feature_blocks=blocks,
    )  # fmt: skip
    genre_vectors = _genre_vectors(dataset)
    primary, lower = _primary(proto)

    # per fold: full train (train + validation), target, and tuning parts
    folds = [_prepare_fold(proto, s) for s in splits]

    results: list[ModelResult] = []
    for display, base, fixed, inst in specs:
        results.append(
            _evaluate_one(
                ctx, display, base, fixed, inst, folds, tune=tune, seed=seed,
                primary=primary, lower=lower, genre_vectors=genre_vectors,
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
        "dataset_summary": {
            k: v for k, v in dataset.summary().items() if isinstance(v, int | float | str)
        },
        "histograms": _histograms(dataset),
    }
    return EvaluationResult(protocol=proto.name, dataset=dataset.name, results=results, info=info)


@dataclass
class _Fold:
    fit_train: Dataset  # train (+ validation when the split has one)
    target: _Target  # test part
    tune_train: Dataset
    tune_target: _Target


def _prepare_fold(proto: Protocol, s: Split) -> _Fold:
    cold_test = s.params.get("cold_item_idx")
    cold_val = s.params.get("val_item_idx")
    if s.validation is not None:
        tune_train = s.train
        tune_part = s.validation
        tune_fold_in = s.fold_in
        extra = s.validation
        if proto.mode == "fold-in" and s.fold_in is not None:
            # validation users' fold-in ratings join the final training data too
            val_users = np.asarray(s.params.get("val_user_idx", []), dtype=np.int64)
            extra = _union(s.validation, _rows_of(s.fold_in, val_users))
        fit_train = _union(s.train, extra)
    else:
        # no validation in the published split: hold out 10% of each user's train ratings
        from reelrank.data.split import random_split

        inner = random_split(s.train, test_ratio=0.1, stratify="user", seed=7)
        tune_train, tune_part, tune_fold_in = inner.train, inner.test, None
        fit_train = s.train
        cold_val = cold_test
    target = _make_target(proto, fit_train, s.test, fold_in=s.fold_in, cold_items=cold_test)
    tune_target = _make_target(
        proto, tune_train, tune_part, fold_in=tune_fold_in, cold_items=cold_val
    )
    return _Fold(fit_train=fit_train, target=target, tune_train=tune_train, tune_target=tune_target)


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
    genre_vectors: sp.csr_matrix,
) -> ModelResult:
    result = ModelResult(model=display)
    names = ctx.ranking_names + ctx.rating_names
    try:
        params = dict(fixed)
        tuning: TuningResult | None = None
        if base is not None:
            cls = get_model_class(base)
            params = _seeded(cls, params, seed)
            if not ctx.ranking_names and not cls.predicts_ratings:
                result.error = (
                    f"{display} does not predict ratings ({ctx.protocol.name} scores RMSE/MAE)"
                )
                return result
            if tune:
                fold = folds[0]

                def score(model: Recommender, train: Dataset, validation: Dataset) -> float:
                    # ``validation`` is fold.tune_target.ratings_part: the tuner sees no test data
                    values = _score_on(
                        ctx, model, train, fold.tune_target, names=[primary],
                        desc=f"{display} validation", genre_vectors=None,
                    )  # fmt: skip
                    return float(np.nanmean(values[primary])) if primary in values else math.nan

                tuning = tune_model(
                    display, {**params, "__model__": base}, fold.tune_train,
                    fold.tune_target.ratings_part, score, metric=primary, lower_is_better=lower,
                    fit=lambda m, d: _fit(ctx, m, d),
                )  # fmt: skip
                params = tuning.best_params
                result.tuning = tuning.to_dict()
        per_fold: list[dict[str, np.ndarray | float]] = []
        fit_s = eval_s = 0.0
        for i, fold in enumerate(folds):
            model = inst if inst is not None else get_model_class(base)(**params)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            _fit(ctx, model, fold.fit_train)
            t1 = time.perf_counter()
            values = _score_on(
                ctx, model, fold.fit_train, fold.target, names=names,
                desc=f"{display} test" + (f" fold {i + 1}" if len(folds) > 1 else ""),
                genre_vectors=genre_vectors,
            )  # fmt: skip
            t2 = time.perf_counter()
            fit_s += t1 - t0
            eval_s += t2 - t1
            per_fold.append(values)
        if inst is not None:
            params = inst.config.to_dict()
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


def _histograms(ds: Dataset) -> dict[str, Any]:
    values, counts = np.unique(ds.ratings, return_counts=True)
    per_movie = ds.item_counts()
    rated = per_movie[per_movie > 0]
    edges = np.unique(np.round(np.logspace(0, np.log10(max(2, rated.max() + 1)), 30)).astype(int))
    hist, edges = np.histogram(rated, bins=edges)
    return {
        "rating_values": values.astype(float).tolist(),
        "rating_counts": counts.astype(int).tolist(),
        "ratings_per_movie_edges": edges.astype(int).tolist(),
        "ratings_per_movie_counts": hist.astype(int).tolist(),
    }
