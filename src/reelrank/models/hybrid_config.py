"""Hyper-parameters of the two-stage hybrid (:class:`HybridConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reelrank.models.base import ModelConfig
from reelrank.models.candidates import parse_generators
from reelrank.models.hybrid_labels import LABEL_SPLITS

__all__ = ["HybridConfig"]


@dataclass(frozen=True)
class HybridConfig(ModelConfig):
    """Hyper-parameters of :class:`~reelrank.models.rerank.HybridRanker`.

    Attributes
    ----------
    generators
        ``"name:N,..."``: registered first-stage models and their top-N. ``lightfm`` is
        content-only (``item_identity=False``) unless ``generator_params`` says otherwise.
    generator_params
        Per-generator hyper-parameters ``{name: {param: value}}``.
    content_kind
        Item vectors of the ``content`` generator: ``"auto"``, ``"embedding"``, ``"tfidf"``.
    use_embeddings
        Ask for sentence embeddings (feature block ``"embedding"``) in ``fit``.
    ease_max_items
        Catalogue size above which ``itemknn`` replaces ``ease``.
    sequence_max_items
        Catalogue size above which the ``seq_sim`` pair features (co-occurrence with the
        user's latest movies: an item x item product) and the ``timeline_sim`` one are
        left out.
    timeline_window
        Two ratings of a user co-occur for the ``timeline_sim`` pair feature when they are
        at most this many positions apart in the user's rating-time order (0: no
        ``timeline_sim``). 10 was picked on the validation part of the ``stratified`` and
        ``temporal`` protocols (5, 10, 20 and 50 tried).
    label_split
        How the inner label hold-out is cut from ``train``: ``"temporal"`` (default: each
        user's latest ratings, as ``reelrank train`` serves future ratings and as the
        ``temporal`` protocol judges), ``"random"`` (random ratings per user: random
        splits, fold-in users), ``"stratified"`` (random ratings per item, as the
        ``stratified`` protocol) or ``"items"`` (whole items: cold-item protocols).
        Evaluation sets it from the protocol
        (:meth:`~reelrank.models.rerank.HybridRanker.for_protocol`).
    holdout_ratio
        Share of each user's training ratings (``temporal`` / ``random``), or of the
        items with ``min_item_ratings`` ratings (``items``), held out as labels.
    min_user_interactions
        Users with fewer training ratings give no label groups.
    min_item_ratings
        Only items with at least this many ratings are held out as (simulated) cold.
    cold_item_share
        Share of the other items whose ratings leave the history (simulated cold items,
        DropoutNet): the ranker also sees positives without collaborative features.
    max_label_users
        When set, only a random sample (seeded) of this many eligible users gives label
        groups (the others keep all their ratings in the history): bounds the pair
        count, and so the ranker's training time and memory, on big data.
    positive_threshold
        The relevance rule of the labels: held-out ratings at or above this are relevant
        (default 4.0, as ``temporal`` judges); ``None``: every held-out rating is.
    graded_labels
        Label 2 / 1 / 0 (relevant held-out / other held-out / rest) instead of 1 / 0.
    n_random_negatives
        Random unseen non-held-out items added per label user.
    include_missed_positives
        Add held-out items that no generator proposed to the pairs of :meth:`build_pairs`
        (candidate-recall analysis; the ranker itself never trains on them).
    max_negatives_per_user
        Unlabelled pairs kept per training group (random sample; None: all). LambdaRank
        costs grow with the square of the group size.
    max_restricted_candidates
        When ``recommend(candidates=...)`` restricts the catalogue to at most this many
        items (a cold-item catalogue), every one of them is ranked, not only the
        generators' top-``N`` among them.
    like_threshold, max_liked
        Which rated movies count as liked for the content features.
    ranker
        ``"lgbm"`` (LightGBM learning to rank) or ``"logistic"``.
    objective
        LightGBM ranking objective: ``"rank_xendcg"`` (default: the cross-entropy NDCG
        surrogate of Bruch et al. 2019, which generalised better than ``"lambdarank"`` from
        the few hundred label users of the bundled data on the inner validation users of
        both the temporal and the stratified protocol) or ``"lambdarank"``.
    n_estimators, learning_rate, num_leaves, min_child_samples, colsample_bytree, max_bin
        LightGBM settings.
    lambdarank_truncation_level
        LambdaRank pairs are formed with the top this-many of each group only.
    early_stopping_rounds
        Stop when inner-validation NDCG@10 has not improved for this many rounds (None:
        always ``n_estimators`` rounds).
    n_folds
        Cross-fitting folds of the label users: for each fold a ranker trained on the other
        folds scores its users, so the safety net and the score calibration judge the ranker
        on every label user, each by a ranker that never saw it.
    fold_workers
        Folds' rankers trained at the same time (threads; default: one per CPU core, at
        most ``n_folds``). Each keeps ``n_jobs`` LightGBM threads; results do not depend
        on it.
    inner_val_fraction
        Unused since cross-fitting (kept so older configurations load).
    early_stopping_fraction
        Share of a fold's training users held out for the ranker's early stopping (only
        when ``early_stopping_rounds`` is set).
    safety_net
        Serve the best generator or a blend of them when the ranker does not beat them
        on the inner validation users.
    refit_ranker
        Once the ranker is kept, retrain it on every label user (training, early-stopping
        and validation users) with the early-stopped number of rounds.
    ranker_bagging
        Serve the average of the cross-fitting folds' LightGBM rankers (a bagged ensemble)
        instead of one ranker retrained on every label user (``refit_ranker``).
    refit_generators
        Refit the generators on the whole ``train`` for serving (else the history-fitted
        ones score users from all their training ratings; faster, a little weaker).
    logistic_c
        Inverse regularisation strength of the logistic ranker.
    n_jobs
        LightGBM threads (1 by default: on a shared or busy machine LightGBM's OpenMP
        threads wait on each other, measured 7x slower with 2 threads on 2 busy cores).
    featurize_batch
        Users per featurisation block.
    seed
        Seeds the generators, negatives, inner split and LightGBM.
    """

    generators: str = "als:200,ease:200,content:100,lightfm:100,pop:50"
    generator_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    content_kind: str = "auto"
    use_embeddings: bool = True
    ease_max_items: int = 20_000
    sequence_max_items: int = 20_000
    timeline_window: int = 10
    label_split: str = "temporal"
    holdout_ratio: float = 0.2
    min_user_interactions: int = 5
    min_item_ratings: int = 5
    cold_item_share: float = 0.0
    max_label_users: int | None = None
    positive_threshold: float | None = 4.0
    graded_labels: bool = True
    n_random_negatives: int = 20
    include_missed_positives: bool = True
    max_negatives_per_user: int | None = 150
    max_restricted_candidates: int = 2000
    like_threshold: float = 4.0
    max_liked: int = 100
    ranker: str = "lgbm"
    objective: str = "rank_xendcg"
    n_estimators: int = 150
    learning_rate: float = 0.04
    num_leaves: int = 15
    min_child_samples: int = 100
    colsample_bytree: float = 0.8
    max_bin: int = 63
    lambdarank_truncation_level: int = 30
    early_stopping_rounds: int | None = None
    n_folds: int = 5
    fold_workers: int | None = None
    inner_val_fraction: float = 0.2
    early_stopping_fraction: float = 0.1
    safety_net: bool = True
    refit_ranker: bool = True
    ranker_bagging: bool = True
    refit_generators: bool = True
    logistic_c: float = 1.0
    n_jobs: int = 1
    featurize_batch: int = 128
    seed: int = 42

    def validate(self) -> None:
        """Check the values."""
        parse_generators(self.generators)
        if not isinstance(self.generator_params, dict):
            raise ValueError("generator_params must be a mapping name -> params")
        if self.content_kind not in ("auto", "embedding", "tfidf"):
            raise ValueError("content_kind must be 'auto', 'embedding' or 'tfidf'")
        if self.label_split not in LABEL_SPLITS:
            raise ValueError(f"label_split must be one of {LABEL_SPLITS}")
        if not 0 < self.holdout_ratio < 1:
            raise ValueError("holdout_ratio must be in (0, 1)")
        if not 0 <= self.cold_item_share < 1:
            raise ValueError("cold_item_share must be in [0, 1)")
        if not 0 < self.inner_val_fraction < 1 or not 0 < self.early_stopping_fraction < 1:
            raise ValueError("inner_val_fraction and early_stopping_fraction must be in (0, 1)")
        if self.inner_val_fraction + self.early_stopping_fraction >= 0.9:
            raise ValueError("inner_val_fraction + early_stopping_fraction must be < 0.9")
        if self.ranker not in ("lgbm", "logistic"):
            raise ValueError("ranker must be 'lgbm' or 'logistic'")
        if self.objective not in ("rank_xendcg", "lambdarank"):
            raise ValueError("objective must be 'rank_xendcg' or 'lambdarank'")
        for name in (
            "n_random_negatives",
            "min_user_interactions",
            "min_item_ratings",
            "timeline_window",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in (
            "n_estimators",
            "num_leaves",
            "max_liked",
            "featurize_batch",
            "n_jobs",
            "min_child_samples",
            "max_bin",
            "lambdarank_truncation_level",
            "max_restricted_candidates",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_negatives_per_user is not None and self.max_negatives_per_user < 1:
            raise ValueError("max_negatives_per_user must be >= 1 (or None for all)")
        if self.n_folds < 2:
            raise ValueError("n_folds must be >= 2")
        if self.fold_workers is not None and self.fold_workers < 1:
            raise ValueError("fold_workers must be >= 1 (or None: one per CPU core)")
        if self.early_stopping_rounds is not None and self.early_stopping_rounds < 1:
            raise ValueError("early_stopping_rounds must be >= 1 (or None: n_estimators rounds)")
        if self.max_label_users is not None and self.max_label_users < 2:
            raise ValueError("max_label_users must be >= 2 (or None for every user)")
        if self.learning_rate <= 0 or self.logistic_c <= 0:
            raise ValueError("learning_rate and logistic_c must be > 0")
