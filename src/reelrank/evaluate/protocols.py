"""Named evaluation protocols: split + relevance rule + candidate rule + metrics.

A :class:`Protocol` fixes everything that makes two evaluations comparable: how the data is
split, which test ratings count as relevant, which items a user ranks, and which metrics at
which cut-offs are reported. Ranking is always over the full candidate set (the user's
training items excluded, or only the liked ones for cornac's rule); negatives are never
sampled. Users without any relevant test item cannot be scored by ranking metrics; the runner
counts and reports them (``n_test_users_without_relevant``) instead of silently dropping
them.

Metric names are lower-case ``name@k`` (``ndcg@10``, ``recall@20``, ``map@10``,
``precision@10``, ``coverage@10``...) or plain names for untruncated metrics (``auc``,
``map``, ``rmse``, ``mae``).

Protocols (``PROTOCOLS``)
-------------------------
Each names its split kind (``Protocol.split_kind``) and the peer code it reproduces
(``Protocol.reference``); the conformance tests in ``tests/evaluate/test_conformance_*.py``
check the peers' own code on the bundled data.

``temporal`` (default, any dataset; temporal)
    Per user, the last 20% of ratings by time are test and the 10% before them validation;
    relevant when rating >= 4; NDCG@10, Recall@20, MAP@10, coverage@10.
``stratified`` (any dataset; stratified)
    Microsoft Recommenders 1.2 ``python_stratified_split(ratio=0.75, filter_by="item",
    seed=42)`` reproduced draw for draw (draws in file order, see :func:`file_row_order`);
    every test rating relevant; candidates are the movies with a training rating minus the
    user's; NDCG@10, MAP@10 (Recommenders' ``map``: AP@10 over ``|rel|``), Precision@10,
    Recall@10.
``msrec-100k`` (any dataset; stratified)
    The same protocol with MAP@10 first, as in Recommenders' MovieLens benchmark table
    (``examples/06_benchmarks``), meant for ml-100k.
``cornac-100k`` (any dataset; random)
    cornac 3.0.1 ``RatioSplit(test_size=0.2, rating_threshold=4.0, exclude_unknowns=True,
    seed=123)`` scored as ``eval_methods.base_method.ranking_eval`` does: relevant when
    rating >= 4; test ratings of users or items unknown to train dropped; candidates are the
    items known to train minus the user's training items *rated >= 4* (lower-rated training
    items stay candidates and count as negatives); AUC (ties lose), MAP (untruncated,
    ``rankdata(-s, "max")`` ties), NDCG@10, Precision@10, Recall@10, RMSE (rating models;
    predictions clipped to the training range, averaged per user as cornac's default
    ``Experiment(user_based=True)``).
``lightfm-ua`` (ml-100k; random)
    ml-100k's ``ua.base`` / ``ua.test``; every test rating positive; Precision@10 and AUC as
    LightFM 1.17's ``lightfm.evaluation.precision_at_k`` / ``auc_score`` with train
    interactions excluded (ties win, as in ``predict_rank``).
``surprise-5fold`` (ml-100k; random)
    ml-100k's ``u1`` .. ``u5`` folds; RMSE and MAE averaged over folds (rating models).
``cold-items`` (any dataset; cold-items)
    20% of the movies with >= 5 ratings held out with all their ratings *and tags* (seed 42),
    10% more for validation; every test user ranks only the cold movies; relevant when
    rating >= 4; Recall@20, NDCG@20.
``cold-items-tags`` (any dataset; cold-items)
    The same held-out movies, but their tags stay in train as catalogue metadata (a new
    movie that arrives with its tags); ratings are held out as in ``cold-items``.
``strong-generalization`` (any dataset; cold-users)
    Mult-VAE / EASE: 20% of users held out (10% more for validation, seed 42); 80% of each
    held-out profile is folded in, 20% scored; relevant when rating >= 4 (on half-star data
    that is rating > 3.5); Recall@20, Recall@50, NDCG@100.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from reelrank.data.dataset import Dataset
from reelrank.data.split import (
    Split,
    cold_item_split,
    cold_user_split,
    predefined_split,
    random_split,
    source_row_order,
    temporal_split,
)
from reelrank.errors import ConfigError
from reelrank.models.base import SPLIT_KINDS, TrainingHint

__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "Protocol",
    "file_row_order",
    "get_protocol",
    "parse_metric",
]

#: metrics that take a cut-off k
K_METRICS = frozenset(
    {
        "precision",
        "recall",
        "ndcg",
        "map",
        "mrr",
        "hit",
        "coverage",
        "novelty",
        "diversity",
        "popularity",
    }
)
#: metrics over the full ranking or over rating predictions
PLAIN_METRICS = frozenset({"auc", "map", "rmse", "mae"})
RATING_METRICS = frozenset({"rmse", "mae"})

_METRIC = re.compile(r"^([a-z]+)(?:@(\d+))?$")


def parse_metric(name: str) -> tuple[str, int | None]:
    """Split ``"ndcg@10"`` into ``("ndcg", 10)``; ``"auc"`` gives ``("auc", None)``.

    Raises
    ------
    ConfigError
        For an unknown metric or a missing / spurious cut-off.
    """
    m = _METRIC.match(name.strip().lower())
    if not m:
        raise ConfigError(f"bad metric name {name!r}; use name@k such as ndcg@10")
    base, k = m.group(1), m.group(2)
    if k is None:
        if base not in PLAIN_METRICS:
            raise ConfigError(f"metric {base!r} needs a cut-off, e.g. {base}@10")
        return base, None
    if base not in K_METRICS:
        raise ConfigError(f"unknown metric {name!r}; known: {sorted(K_METRICS | PLAIN_METRICS)}")
    if int(k) < 1:
        raise ConfigError(f"{name}: k must be >= 1")
    return base, int(k)


@dataclass(frozen=True)
class Protocol:
    """A reproducible evaluation setup.

    Attributes
    ----------
    name, description
        Registry name and one-line summary.
    split
        ``split(dataset, seed) -> list[Split]``: the train/test parts (several for
        cross-validation protocols, whose metrics are averaged over folds). ``seed`` is
        ``None`` for the protocol's published seed.
    relevance_threshold
        Test ratings ``>= threshold`` are relevant; ``None``: every test rating is relevant.
    candidates
        ``"all"`` (the whole catalogue minus the user's training items), ``"known"`` (items
        with a training rating, minus the user's), or ``"cold"`` (only the held-out cold items).
    metrics
        Metric names (``ndcg@10``...) reported by the protocol.
    mode
        ``"known-users"`` (users were trained on) or ``"fold-in"`` (held-out users are
        scored from their fold-in ratings with ``recommend_for_ratings``).
    map_denominator
        ``"min"`` (AP@k over ``min(|rel|, k)``) or ``"relevant"`` (over ``|rel|``, Recommenders).
    exclude_unknown
        Drop test ratings of users or items absent from train (cornac's ``exclude_unknowns``).
    layout
        Dataset layout the protocol needs (``"ml-100k"``), or ``None`` for any.
    reference
        The published table or code the protocol reproduces.
    split_kind
        How the test part is cut (one of :data:`reelrank.models.base.SPLIT_KINDS`):
        ``"random"``, ``"stratified"``, ``"temporal"``, ``"cold-items"`` or
        ``"cold-users"``. Models that cut their own inner label hold-out (the hybrid) cut it
        the same way (see :attr:`hint`), and tuning builds its validation split of this kind.
    exclude
        Which of a user's training items are removed from the user's candidates:
        ``"train"`` (all of them, the usual rule) or ``"train-relevant"`` (only those rated
        at or above the relevance threshold, cornac's ``ranking_eval``: lower-rated training
        items stay candidates and count as negatives).
    auc_ties
        How AUC counts a tied (positive, negative) pair: ``"loss"`` (cornac) or ``"win"``
        (LightFM's ``predict_rank``); see :func:`reelrank.evaluate.metrics.full_ranking_auc_ap`.
    rating_average
        RMSE / MAE over all test ratings (``"ratings"``) or per user, then averaged over
        users (``"users"``: cornac's ``Experiment(user_based=True)``, its default).
    clip_ratings
        Clip predicted ratings to the training ratings' range before RMSE / MAE (cornac's
        ``Recommender.rate(clipping=True)``).
    """

    name: str
    description: str
    split: Callable[[Dataset, int | None], list[Split]]
    relevance_threshold: float | None
    candidates: str
    metrics: tuple[str, ...]
    mode: str = "known-users"
    map_denominator: str = "min"
    exclude_unknown: bool = False
    layout: str | None = None
    reference: str = ""
    split_kind: str = "random"
    exclude: str = "train"
    auc_ties: str = "loss"
    rating_average: str = "ratings"
    clip_ratings: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.metrics:
            parse_metric(m)
        if self.split_kind not in SPLIT_KINDS:
            raise ValueError(f"split_kind must be one of {SPLIT_KINDS}, not {self.split_kind!r}")
        if self.exclude not in ("train", "train-relevant"):
            raise ValueError(f"bad exclusion rule {self.exclude!r}")
        if self.auc_ties not in ("loss", "win"):
            raise ValueError(f"bad AUC tie rule {self.auc_ties!r}")
        if self.rating_average not in ("ratings", "users"):
            raise ValueError(f"bad rating average {self.rating_average!r}")
        if self.candidates not in ("all", "known", "cold"):
            raise ValueError(f"bad candidate rule {self.candidates!r}")
        if self.mode not in ("known-users", "fold-in"):
            raise ValueError(f"bad mode {self.mode!r}")

    @property
    def hint(self) -> TrainingHint:
        """How models are judged here: the split kind and the relevance threshold.

        The runner passes it to :meth:`reelrank.models.base.Recommender.for_protocol` before
        every fit (tuning trials included).
        """
        return TrainingHint(split_kind=self.split_kind, positive_threshold=self.relevance_threshold)

    @property
    def ranking_metrics(self) -> tuple[str, ...]:
        """The protocol's metrics that rank items (everything but RMSE / MAE)."""
        return tuple(m for m in self.metrics if parse_metric(m)[0] not in RATING_METRICS)

    @property
    def rating_metrics(self) -> tuple[str, ...]:
        """The protocol's rating-prediction metrics (RMSE / MAE)."""
        return tuple(m for m in self.metrics if parse_metric(m)[0] in RATING_METRICS)

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise :class:`ConfigError` when the dataset does not fit the protocol."""
        if self.layout is not None and dataset.layout != self.layout:
            raise ConfigError(
                f"protocol {self.name!r} needs a {self.layout} folder (with its split files); "
                f"{dataset.name!r} is {dataset.layout!r}. Use --protocol temporal for any dataset."
            )

    def make_splits(self, dataset: Dataset, seed: int | None = None) -> list[Split]:
        """Check the dataset and split it (one :class:`Split` per fold)."""
        self.check_dataset(dataset)
        return self.split(dataset, seed)

    def describe(self) -> dict[str, object]:
        """JSON-serialisable summary for reports."""
        return {
            "name": self.name,
            "description": self.description,
            "relevance": (
                "every test rating"
                if self.relevance_threshold is None
                else f"rating >= {self.relevance_threshold:g}"
            ),
            "candidates": self.candidates,
            "exclude": self.exclude,
            "split_kind": self.split_kind,
            "metrics": list(self.metrics),
            "mode": self.mode,
            "reference": self.reference,
        }


# ---------------------------------------------------------------------------- splitters
def file_row_order(ds: Dataset) -> np.ndarray | None:
    """The order in which the peers' splitters see the ratings (their file order).

    ml-100k: ``u.data``'s line order (:func:`reelrank.data.split.source_row_order`). Other
    layouts: ``None``, i.e. reelrank's CSR order (user id, then movie id), which is the line
    order of ``ratings.csv`` in ml-latest-small, ml-20m, ml-25m and ml-32m.
    """
    if ds.layout == "ml-100k" and ds.info.get("source_path") is not None:
        return source_row_order(ds)
    return None


def _temporal(ds: Dataset, seed: int | None) -> list[Split]:
    return [temporal_split(ds, test_ratio=0.2, val_ratio=0.1)]


def _stratified(ds: Dataset, seed: int | None) -> list[Split]:
    return [
        random_split(
            ds,
            test_ratio=0.25,
            stratify="item",
            seed=42 if seed is None else seed,
            row_order=file_row_order(ds),
        )
    ]


def _cornac(ds: Dataset, seed: int | None) -> list[Split]:
    return [
        random_split(
            ds, test_ratio=0.2, seed=123 if seed is None else seed, row_order=file_row_order(ds)
        )
    ]


def _ua(ds: Dataset, seed: int | None) -> list[Split]:
    return [predefined_split(ds, "ua")]


def _surprise(ds: Dataset, seed: int | None) -> list[Split]:
    return [predefined_split(ds, f"u{i}") for i in range(1, 6)]


def _cold_items(ds: Dataset, seed: int | None, *, keep_tags: bool = False) -> list[Split]:
    return [
        cold_item_split(
            ds, item_ratio=0.2, min_ratings=5, val_ratio=0.1, seed=42 if seed is None else seed,
            keep_tags=keep_tags,
        )
    ]  # fmt: skip


def _cold_items_tags(ds: Dataset, seed: int | None) -> list[Split]:
    return _cold_items(ds, seed, keep_tags=True)


def _strong(ds: Dataset, seed: int | None) -> list[Split]:
    return [
        cold_user_split(
            ds, user_ratio=0.2, fold_in_ratio=0.8, val_ratio=0.1, seed=42 if seed is None else seed
        )
    ]


_MSREC_REF = (
    "Microsoft Recommenders 1.2 (recommenders.datasets.python_splitters."
    "python_stratified_split(ratio=0.75, filter_by='item', seed=42); recommenders.evaluation."
    "python_evaluation map / ndcg_at_k / precision_at_k / recall_at_k, k=10), "
    "examples/06_benchmarks/movielens"
)

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in [
        Protocol(
            name="temporal",
            description="per-user last 20% by time test, 10% before validation; rating >= 4",
            split=_temporal,
            relevance_threshold=4.0,
            candidates="all",
            metrics=("ndcg@10", "recall@20", "map@10", "coverage@10"),
            reference="reelrank default (time-aware leave-last-out, any MovieLens layout)",
            split_kind="temporal",
        ),
        Protocol(
            name="stratified",
            description="random 75/25 stratified per movie, seed 42, every test rating relevant",
            split=_stratified,
            relevance_threshold=None,
            candidates="known",
            metrics=("ndcg@10", "map@10", "precision@10", "recall@10"),
            map_denominator="relevant",
            reference=_MSREC_REF + " on any MovieLens layout",
            split_kind="stratified",
        ),
        Protocol(
            name="msrec-100k",
            description="stratified per item 75/25 seed 42, every test item relevant (MS Recs)",
            split=_stratified,
            relevance_threshold=None,
            candidates="known",
            metrics=("map@10", "ndcg@10", "precision@10", "recall@10"),
            map_denominator="relevant",
            reference=_MSREC_REF,
            split_kind="stratified",
        ),
        Protocol(
            name="cornac-100k",
            description="random 80/20 seed 123, rating >= 4, unknowns excluded (cornac)",
            split=_cornac,
            relevance_threshold=4.0,
            candidates="known",
            metrics=("auc", "map", "ndcg@10", "precision@10", "recall@10", "rmse"),
            exclude_unknown=True,
            exclude="train-relevant",
            rating_average="users",
            clip_ratings=True,
            reference=(
                "cornac 3.0.1 cornac.eval_methods.RatioSplit(test_size=0.2, rating_threshold=4.0,"
                " exclude_unknowns=True, seed=123) scored by cornac.eval_methods.base_method."
                "ranking_eval with cornac.metrics AUC, MAP, NDCG(k=10), Precision(k=10),"
                " Recall(k=10), RMSE"
            ),
            split_kind="random",
        ),
        Protocol(
            name="lightfm-ua",
            description="ml-100k ua.base/ua.test, every rating positive",
            split=_ua,
            relevance_threshold=None,
            candidates="all",
            metrics=("precision@10", "auc"),
            layout="ml-100k",
            auc_ties="win",
            reference=(
                "LightFM 1.17 (rectools-lightfm 1.17.3) lightfm.evaluation.precision_at_k(k=10)"
                " and auc_score with train_interactions excluded, on fetch_movielens' ua split"
                " (min_rating=0)"
            ),
            split_kind="random",
        ),
        Protocol(
            name="surprise-5fold",
            description="ml-100k u1..u5 folds, RMSE and MAE averaged (rating models)",
            split=_surprise,
            relevance_threshold=None,
            candidates="all",
            metrics=("rmse", "mae"),
            layout="ml-100k",
            reference="Surprise benchmark table (ml-100k, 5-fold cross-validation)",
            split_kind="random",
        ),
        Protocol(
            name="cold-items",
            description="20% of movies (>= 5 ratings) held out with their tags; rank cold only",
            split=_cold_items,
            relevance_threshold=4.0,
            candidates="cold",
            metrics=("recall@20", "ndcg@20"),
            reference="item cold start: cold movies known by title, year and genres only",
            split_kind="cold-items",
        ),
        Protocol(
            name="cold-items-tags",
            description="as cold-items, but the cold movies keep their tags as catalogue data",
            split=_cold_items_tags,
            relevance_threshold=4.0,
            candidates="cold",
            metrics=("recall@20", "ndcg@20"),
            reference="item cold start with catalogue tags (a new movie arrives with its tags)",
            split_kind="cold-items",
        ),
        Protocol(
            name="strong-generalization",
            description="held-out users, 80% of each profile folded in, 20% scored; rating >= 4",
            split=_strong,
            relevance_threshold=4.0,
            candidates="all",
            metrics=("recall@20", "recall@50", "ndcg@100"),
            mode="fold-in",
            reference="Liang et al. 2018 (Mult-VAE) and Steck 2019 (EASE) strong generalization",
            split_kind="cold-users",
        ),
    ]
}

DEFAULT_PROTOCOL = "temporal"


def get_protocol(name: str | Protocol) -> Protocol:
    """The protocol registered under ``name`` (a :class:`Protocol` is returned unchanged).

    Raises
    ------
    ConfigError
        If no protocol has that name (the message lists them).
    """
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r}; available: {', '.join(PROTOCOLS)}") from None
