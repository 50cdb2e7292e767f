"""Named evaluation protocols: split + relevance rule + candidate rule + metrics.

A :class:`Protocol` fixes everything that makes two evaluations comparable: how the data is
split, which test ratings count as relevant, which items a user ranks, and which metrics at
which cut-offs are reported. Ranking is always over the full candidate set with the user's
training items excluded; negatives are never sampled. Users without any relevant test item
cannot be scored by ranking metrics; the runner counts and reports them
(``n_users_without_relevant``) instead of silently dropping them.

Metric names are lower-case ``name@k`` (``ndcg@10``, ``recall@20``, ``map@10``,
``precision@10``, ``coverage@10``...) or plain names for untruncated metrics (``auc``,
``map``, ``rmse``, ``mae``).

Protocols (``PROTOCOLS``)
-------------------------
``temporal`` (default, any dataset)
    Per user, the last 20% of ratings by time are test and the 10% before them validation;
    relevant when rating >= 4; NDCG@10, Recall@20, MAP@10, coverage@10.
``msrec-100k``
    Microsoft Recommenders' MovieLens benchmark: ml-100k, ``python_stratified_split`` per item
    75/25 with seed 42 (reproduced draw for draw from the file order), every test rating
    relevant, k=10; MAP (Recommenders' ``map``: AP@10 over ``|rel|``), NDCG@10, Precision@10,
    Recall@10.
``cornac-100k``
    cornac's ``RatioSplit(test_size=0.2, seed=123, exclude_unknowns=True)`` on ml-100k;
    relevant when rating >= 4; test ratings of users or items unknown to train dropped, and
    only items known to train are ranked; AUC, MAP (untruncated), NDCG@10, Precision@10,
    Recall@10, RMSE (rating models).
``lightfm-ua``
    ml-100k's ``ua.base`` / ``ua.test``; every test rating positive; Precision@10 and AUC
    (LightFM's ``precision_at_k`` / ``auc_score`` with train interactions excluded).
``surprise-5fold``
    ml-100k's ``u1`` .. ``u5`` folds; RMSE and MAE averaged over folds (rating models).
``cold-items``
    20% of the movies with >= 5 ratings held out with all their ratings (seed 42), 10% more
    for validation; every test user ranks only the cold movies; relevant when rating >= 4;
    Recall@20, NDCG@20.
``strong-generalization``
    Mult-VAE / EASE: 20% of users held out (10% more for validation, seed 42); 80% of each
    held-out profile is folded in, 20% scored; relevant when rating >= 4 (on half-star data
    that is rating > 3.5); Recall@20, Recall@50, NDCG@100.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

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

__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "Protocol",
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
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.metrics:
            parse_metric(m)
        if self.candidates not in ("all", "known", "cold"):
            raise ValueError(f"bad candidate rule {self.candidates!r}")
        if self.mode not in ("known-users", "fold-in"):
            raise ValueError(f"bad mode {self.mode!r}")

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
            "metrics": list(self.metrics),
            "mode": self.mode,
            "reference": self.reference,
        }


# ---------------------------------------------------------------------------- splitters
def _temporal(ds: Dataset, seed: int | None) -> list[Split]:
    return [temporal_split(ds, test_ratio=0.2, val_ratio=0.1)]


def _msrec(ds: Dataset, seed: int | None) -> list[Split]:
    return [
        random_split(
            ds,
            test_ratio=0.25,
            stratify="item",
            seed=42 if seed is None else seed,
            row_order=source_row_order(ds),
        )
    ]


def _cornac(ds: Dataset, seed: int | None) -> list[Split]:
    return [
        random_split(
            ds, test_ratio=0.2, seed=123 if seed is None else seed, row_order=source_row_order(ds)
        )
    ]


def _ua(ds: Dataset, seed: int | None) -> list[Split]:
    return [predefined_split(ds, "ua")]


def _surprise(ds: Dataset, seed: int | None) -> list[Split]:
    return [predefined_split(ds, f"u{i}") for i in range(1, 6)]


def _cold_items(ds: Dataset, seed: int | None) -> list[Split]:
    return [
        cold_item_split(
            ds, item_ratio=0.2, min_ratings=5, val_ratio=0.1, seed=42 if seed is None else seed
        )
    ]


def _strong(ds: Dataset, seed: int | None) -> list[Split]:
    return [
        cold_user_split(
            ds, user_ratio=0.2, fold_in_ratio=0.8, val_ratio=0.1, seed=42 if seed is None else seed
        )
    ]


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
        ),
        Protocol(
            name="msrec-100k",
            description="ml-100k stratified per item 75/25 seed 42, every test item relevant",
            split=_msrec,
            relevance_threshold=None,
            candidates="all",
            metrics=("map@10", "ndcg@10", "precision@10", "recall@10"),
            map_denominator="relevant",
            layout="ml-100k",
            reference=(
                "Microsoft Recommenders examples/06_benchmarks/movielens (python_stratified_split,"
                " python_evaluation.map / ndcg_at_k / precision_at_k / recall_at_k, k=10)"
            ),
        ),
        Protocol(
            name="cornac-100k",
            description="ml-100k random 80/20 seed 123, rating >= 4, unknowns excluded",
            split=_cornac,
            relevance_threshold=4.0,
            candidates="known",
            metrics=("auc", "map", "ndcg@10", "precision@10", "recall@10", "rmse"),
            exclude_unknown=True,
            layout="ml-100k",
            reference=(
                "cornac RatioSplit(test_size=0.2, rating_threshold=4.0, exclude_unknowns=True,"
                " seed=123) with cornac.metrics AUC, MAP, NDCG, Precision, Recall, RMSE"
            ),
        ),
        Protocol(
            name="lightfm-ua",
            description="ml-100k ua.base/ua.test, every rating positive",
            split=_ua,
            relevance_threshold=None,
            candidates="all",
            metrics=("precision@10", "auc"),
            layout="ml-100k",
            reference="LightFM quickstart / examples (fetch_movielens ua split, min_rating=0)",
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
        ),
        Protocol(
            name="cold-items",
            description="20% of movies with >= 5 ratings held out; rank only cold movies",
            split=_cold_items,
            relevance_threshold=4.0,
            candidates="cold",
            metrics=("recall@20", "ndcg@20"),
            reference="item cold-start (content-aware models vs random ranking)",
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
