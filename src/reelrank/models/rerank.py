"""The flagship two-stage hybrid: candidate generators + a learning-to-rank re-ranker.

Stage 1 (:mod:`reelrank.models.candidates`): ALS, EASE (item-kNN on big catalogues), the
content model, a content-only LightFM (item features, no identity features: it scores cold
movies) and popularity each propose their top-``N`` unseen movies; the union is the
candidate set. Stage 2: a LightGBM ranking model (``rank_xendcg`` by default, or
LambdaRank, or a logistic regression) re-scores
every candidate from the pair features documented in :mod:`reelrank.models.pair_features`.

Training (inside :meth:`HybridRanker.fit`, so evaluation protocols never leak):

1. An inner label hold-out is cut from ``train`` the way the protocol cuts its test part
   (``label_split``, :mod:`reelrank.models.hybrid_labels`): per-user latest ratings
   (``"temporal"``), random ratings per user (``"random"``) or whole items (``"items"``);
   ``cold_item_share`` more items can lose their history (simulated cold items, DropoutNet).
   :meth:`HybridRanker.for_protocol` picks the cut and the relevance rule from the
   protocol's :class:`~reelrank.models.base.TrainingHint`.
2. The generators and the item statistics are fitted on the history part only.
3. For each label user, pairs = the first stage's candidates + the held-out items
   (``include_missed_positives``) + ``n_random_negatives`` random unseen items, labelled by
   the relevance rule (``positive_threshold``; :func:`~reelrank.models.hybrid_labels.grade_labels`).
4. Cross-fitting: the label users are split into ``n_folds`` folds; for each fold a ranker
   trained (grouped by user) on the other folds scores its users' pairs.
5. Safety net (:mod:`reelrank.models.hybrid_select`): over every label user, those
   out-of-fold ranker scores are compared with the best alternative made of the generators
   (each alone, or a tuned blend), cross-fitted the same way; if the ranker does not win,
   the alternative is served instead (``fit_info_["serving"]``). A kept ranker is served
   as the average of the folds' rankers (``ranker_bagging``; else retrained on every label
   user), plus the share of the blend picked on the out-of-fold scores.
6. A Platt calibration of the served out-of-fold scores gives
   :meth:`HybridRanker.display_scores` (probabilities in [0, 1], same order).
7. The generators and the statistics are refitted on the whole ``train`` for serving
   (``refit_generators``; without it the history-fitted generators score users from their
   whole training ratings: fold-in for ALS / LightFM, directly for the item-based ones).

Persistence: ``model.json`` / ``state.npz`` / ``seen.npz`` (base class), ``hybrid.json``
(feature names, generators, ranker meta, serving mode, calibration), ``generators/<name>/``
(each generator's own artifact), ``features/`` (the item features used), ``ranker.txt``
(LightGBM text model) or the logistic coefficients in ``state.npz``. No pickles.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ArtifactError, ConfigError
from reelrank.features.item_features import ItemFeatures
from reelrank.models.base import Recommender, TrainingHint, register
from reelrank.models.calibration import PlattCalibrator
from reelrank.models.candidates import (
    CandidateGenerator,
    FirstStage,
    PairFeaturizer,
    UserHistory,
    first_stage,
    parse_generators,
)
from reelrank.models.hybrid_config import HybridConfig
from reelrank.models.hybrid_io import hybrid_state, load_hybrid_files, save_hybrid_files
from reelrank.models.hybrid_labels import (
    InnerSplit,
    holdout_mask,
    inner_split,
)
from reelrank.models.hybrid_labels import random_negatives as _random_negatives
from reelrank.models.hybrid_labels import sample_label_users as _sample_label_users
from reelrank.models.hybrid_select import (
    ServingChoice,
    blend_scores,
    choose_serving_cross_fitted,
    group_ndcg,
    ndcg_at_k_groups,
)
from reelrank.models.hybrid_train import (
    PAIR_META_COLUMNS,
    RankerModel,
    build_pair_frame,
    train_ranker,
)

logger = logging.getLogger(__name__)

__all__ = ["HybridRanker", "holdout_mask", "ndcg_at_k_groups"]

# kept importable from here (older callers and tests)
_ = (_random_negatives, _sample_label_users)

#: label split used for each protocol split kind (see HybridRanker.for_protocol)
LABEL_SPLIT_FOR_KIND = {
    "temporal": "temporal",
    "random": "random",
    "stratified": "stratified",
    "cold-items": "items",
    "cold-users": "random",
}

#: the protocol split kind a label split stands for (the hint given to the generators)
KIND_FOR_LABEL_SPLIT = {
    "temporal": "temporal",
    "random": "random",
    "stratified": "stratified",
    "items": "cold-items",
}

#: hyper-parameters the hybrid gives its generators unless ``generator_params`` says otherwise
DEFAULT_GENERATOR_PARAMS: dict[str, dict[str, Any]] = {"lightfm": {"item_identity": False}}


@register("hybrid")
class HybridRanker(Recommender):
    """Two-stage hybrid: union of generator candidates re-ranked by a LightGBM ranker."""

    Config = HybridConfig
    config: Config
    batch_size = 128

    def feature_blocks(self) -> set[str]:
        """Sentence embeddings when ``use_embeddings``."""
        return {"embedding"} if self.config.use_embeddings else set()

    def for_protocol(self, hint: TrainingHint) -> HybridRanker:
        """A new, unfitted hybrid whose inner hold-out and labels follow the protocol.

        ``random`` splits give ``label_split="random"``, ``stratified`` (per item) gives
        ``"stratified"``, ``temporal`` gives
        ``"temporal"``, ``cold-items`` gives ``"items"`` (whole items held out, their
        candidates restricted to them) and ``cold-users`` gives ``"random"`` (held-out users
        are scored from a random part of their profile, so a random per-user hold-out is
        what their fold-in looks like). ``positive_threshold`` is the protocol's relevance
        rule (``None``: every rating relevant).
        """
        cfg = dataclasses.replace(
            self.config,
            label_split=LABEL_SPLIT_FOR_KIND[hint.split_kind],
            positive_threshold=hint.positive_threshold,
        )
        return type(self)(cfg)

    # ------------------------------------------------------------------ pieces
    def _generator(self) -> CandidateGenerator:
        cfg = self.config
        params = {k: dict(v) for k, v in DEFAULT_GENERATOR_PARAMS.items()}
        for name, p in cfg.generator_params.items():
            params[name] = {**params.get(name, {}), **p}
        return CandidateGenerator(
            parse_generators(cfg.generators),
            params,
            content_kind=cfg.content_kind,
            ease_max_items=cfg.ease_max_items,
            seed=cfg.seed,
            hint=TrainingHint(
                split_kind=KIND_FOR_LABEL_SPLIT.get(cfg.label_split, "temporal"),
                positive_threshold=cfg.positive_threshold,
            ),
        )

    def _featurizer(self) -> PairFeaturizer:
        return PairFeaturizer(
            like_threshold=self.config.like_threshold,
            max_liked=self.config.max_liked,
            seq_max_items=self.config.sequence_max_items,
            timeline_window=self.config.timeline_window,
        )

    def _inner_split(self, train: Dataset) -> InnerSplit:
        cfg = self.config
        return inner_split(
            train,
            cfg.label_split,
            ratio=cfg.holdout_ratio,
            min_user_interactions=cfg.min_user_interactions,
            min_item_ratings=cfg.min_item_ratings,
            cold_item_share=cfg.cold_item_share,
            max_label_users=cfg.max_label_users,
            seed=cfg.seed,
        )

    # ------------------------------------------------------------------ training pairs
    def build_pairs(self, train: Dataset, features: ItemFeatures | None = None) -> pd.DataFrame:
        """Labelled (user, candidate) pairs from the inner hold-out of ``train``.

        Returns
        -------
        pandas.DataFrame
            Columns ``user_idx``, ``item_idx``, ``label``, ``relevant``, ``n_relevant``,
            ``group`` (0-based group number, one per user, pairs contiguous),
            ``in_candidates`` and the feature columns
            (see :func:`reelrank.models.hybrid_train.build_pair_frame`).
        """
        pairs, _, _ = self._build(train, features)
        return pairs

    def _build(
        self, train: Dataset, features: ItemFeatures | None
    ) -> tuple[pd.DataFrame, CandidateGenerator, InnerSplit]:
        split = self._inner_split(train)
        gen = self._generator().fit(split.history, features)
        featurizer = self._featurizer().fit(split.history, features)
        return build_pair_frame(self.config, gen, featurizer, split), gen, split

    def _training_labels(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Labels the ranker trains on (the true ones; a test overrides to shuffle them)."""
        return labels

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset, features: ItemFeatures | None) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        pairs, gen, split = self._build(train, features)
        feature_names = [c for c in pairs.columns if c not in PAIR_META_COLUMNS]
        self.feature_names_ = feature_names
        t1 = time.perf_counter()
        has_pos = pairs.groupby("group", sort=True)["label"].transform("max").to_numpy() > 0
        usable = pairs[has_pos].reset_index(drop=True)
        groups = np.unique(usable["group"].to_numpy())
        if len(groups) < 2 * cfg.n_folds:
            raise ConfigError(
                f"hybrid: {len(groups)} users with held-out positives are too few to "
                f"cross-fit the ranker on {cfg.n_folds} folds"
            )
        # user-level folds: every label user is judged by a ranker that never saw it
        fold_of = np.zeros(pairs["group"].max() + 1, dtype=np.int64)
        fold_of[np.random.default_rng(cfg.seed + 1).permutation(groups)] = (
            np.arange(len(groups)) % cfg.n_folds
        )
        fold = fold_of[usable["group"].to_numpy()]
        cand = usable["in_candidates"].to_numpy()
        # The ranker never trains on held-out items that no generator proposed (missed
        # positives, kept in ``build_pairs`` for recall analysis): when ``candidates``
        # restricts the catalogue, items outside every generator's top-N reach the ranker
        # (all ranks N + 1), and they must not look like the positives they were in training.
        trainable = cand | (usable["label"].to_numpy() == 0)
        # judging uses what serving ranks: the first-stage candidates
        judged = usable[cand].reset_index(drop=True)
        jfold = fold[cand]
        x_judged = judged[feature_names].to_numpy(np.float32)
        oof = np.zeros(len(judged), np.float32)
        # the folds' rankers are independent: trained side by side (LightGBM releases the
        # GIL; each booster keeps its single thread, so results do not depend on the count)
        workers = cfg.fold_workers or min(cfg.n_folds, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            fold_rankers = list(
                pool.map(
                    lambda k: self._train_fold(usable[(fold != k) & trainable]),
                    range(cfg.n_folds),
                )
            )
        for k, ranker in enumerate(fold_rankers):
            oof[jfold == k] = ranker.predict(x_judged[jfold == k])
        t2 = time.perf_counter()
        choice, served_oof = self._choose(judged, oof, jfold, gen.names)
        rounds = [r.best_iteration for r in fold_rankers]
        if choice.mode == "ranker" and cfg.ranker_bagging and fold_rankers[0].booster is not None:
            # the folds' rankers, averaged: each saw 1 - 1/n_folds of the label users
            self.ranker_ = RankerModel.bagged(fold_rankers)
            self.ranker_.info["refit_on_all_label_users"] = False
        elif choice.mode == "ranker" and cfg.refit_ranker:
            # every label user to learn from; the round count is the folds' (median)
            n_rounds = max(1, int(np.median(rounds)))
            self.ranker_ = train_ranker(
                cfg, usable[trainable], None, feature_names, self._training_labels,
                rounds=n_rounds,
            )  # fmt: skip
            self.ranker_.info["refit_on_all_label_users"] = True
        else:
            # not served (or not refitted): the first fold's ranker still explains itself
            self.ranker_ = fold_rankers[0]
            self.ranker_.info["refit_on_all_label_users"] = False
        self.ranker_.info["fold_rounds"] = rounds
        self.serving_ = choice
        self.calibrator_ = PlattCalibrator().fit(served_oof, judged["relevant"].to_numpy())
        t3 = time.perf_counter()
        if cfg.refit_generators:
            self.generator_ = self._generator().fit(train, features)
        else:
            self.generator_ = gen
        self.featurizer_ = self._featurizer().fit(train, features)
        self.history_ = UserHistory.from_dataset(train)
        self.features_ = features
        self.fit_info_ = {
            "label_split": cfg.label_split,
            "positive_threshold": cfg.positive_threshold,
            "serving": choice.mode,
            "serving_weights": choice.weights,
            "validation_ndcg@10": choice.validation,
            "n_validation_users": len(groups),
            "n_folds": cfg.n_folds,
            "calibration": self.calibrator_.to_dict(),
            "n_pairs": len(pairs),
            "n_groups": int(pairs["group"].nunique()),
            "positive_share": float(pairs["relevant"].mean()),
            "n_cold_items_simulated": len(split.cold_items),
            **self.ranker_.info,
            "generator_fit_seconds": self._fit_seconds(gen),
            "pairs_seconds": t1 - t0,
            "ranker_seconds": t2 - t1,
            "safety_net_seconds": t3 - t2,
            "refit_seconds": time.perf_counter() - t3,
        }
        logger.info("hybrid fitted: serving %s; %s", choice.mode, choice.validation)

    def _train_fold(self, frame: pd.DataFrame) -> RankerModel:
        """The ranker of one cross-fitting fold (early-stopped on some of its users if set)."""
        cfg = self.config
        if cfg.early_stopping_rounds is None:
            return train_ranker(cfg, frame, None, self.feature_names_, self._training_labels)
        groups = np.unique(frame["group"].to_numpy())
        rng = np.random.default_rng(cfg.seed + 3)
        n_es = min(len(groups) - 1, max(1, round(len(groups) * cfg.early_stopping_fraction)))
        es_groups = rng.choice(groups, size=n_es, replace=False)
        is_es = np.isin(frame["group"].to_numpy(), es_groups)
        es = frame[is_es & frame["in_candidates"].to_numpy()]
        return train_ranker(cfg, frame[~is_es], es, self.feature_names_, self._training_labels)

    def _fit_seconds(self, gen: CandidateGenerator) -> dict[str, float]:
        out = {f"history:{g}": s for g, s in gen.fit_seconds_.items()}
        if self.generator_ is not gen:
            out.update({f"serving:{g}": s for g, s in self.generator_.fit_seconds_.items()})
        return out

    def _choose(
        self, judged: pd.DataFrame, oof: np.ndarray, fold: np.ndarray, names: list[str]
    ) -> tuple[ServingChoice, np.ndarray]:
        """Safety net over every label user (cross-fitted); the served out-of-fold scores."""
        g = pd.factorize(judged["group"])[0]
        n_rel = judged.groupby(g, sort=True)["n_relevant"].first().to_numpy()
        groups = (g, judged["relevant"].to_numpy(), n_rel)
        if not self.config.safety_net:
            return ServingChoice("ranker", {}, {"ranker": group_ndcg(oof, *groups)}), oof
        return choose_serving_cross_fitted(
            oof,
            {n: judged[f"{n}_z"].to_numpy() for n in names},
            {n: judged[f"{n}_score"].to_numpy() for n in names},
            groups,
            fold,
        )

    # ------------------------------------------------------------------ scoring
    def display_scores(self, scores: np.ndarray) -> np.ndarray | None:
        """Calibrated probability that the movie is relevant, in [0, 1], same order.

        Platt scaling of the served score (ranker margin or blend), fitted on the inner
        validation pairs with the protocol's relevance rule; ``-inf`` (no candidate) is 0.
        """
        calibrator = getattr(self, "calibrator_", None)
        if calibrator is None:
            return None
        p = calibrator.transform(np.asarray(scores, dtype=np.float64))
        return np.clip(np.nan_to_num(p, nan=0.0), 0.0, 1.0)

    def _uses_ranker(self) -> bool:
        return self.serving_.mode == "ranker"

    def _matrix(self, fs: FirstStage, feats: dict[str, np.ndarray]) -> np.ndarray:
        cols = {**fs.gen_features, **feats}
        missing = [c for c in self.feature_names_ if c not in cols]
        if missing:
            raise ArtifactError(f"hybrid: features {missing} cannot be computed here")
        return np.column_stack([cols[c] for c in self.feature_names_]).astype(np.float32)

    def _stage(
        self,
        users: np.ndarray | None,
        ratings: sp.csr_matrix | None,
        *,
        restrict: np.ndarray | None,
        extra: tuple[np.ndarray, np.ndarray] | None,
        union: bool,
        add_seen: bool,
    ) -> tuple[FirstStage, np.ndarray, np.ndarray | None]:
        """Candidates, served scores and the ranker's feature matrix (None for a blend).

        For a batch of known users (``users``) or of new ratings rows (``ratings``).
        Features relative to a user's other candidates (``*_urel``) always take their
        statistics from the whole first-stage union, so a pair scores the same whether it
        is ranked among the user's candidates or asked for alone (``union=False``).
        """
        models = self.generator_.models_
        if users is not None:
            seen = self.seen_[users]
            hist = self.history_.rows(users)
            if self.config.refit_generators:
                scorers = {g: _known_scorer(m, users) for g, m in models.items()}
            else:  # history-fitted generators: score from all the training ratings
                scorers = {g: _new_scorer(m, hist.ratings) for g, m in models.items()}
            n_rows = len(users)
        else:
            assert ratings is not None
            seen = (ratings != 0).astype(np.float32).tocsr()
            hist = UserHistory(
                ratings=ratings, recency=None, last_ts=np.full(ratings.shape[0], np.nan)
            )
            scorers = {g: _new_scorer(m, ratings) for g, m in models.items()}
            n_rows = ratings.shape[0]
        if add_seen:
            sr = np.repeat(np.arange(n_rows), np.diff(seen.indptr))
            si = seen.indices.astype(np.int64)
            if restrict is not None:
                keep = np.isin(si, restrict)
                sr, si = sr[keep], si[keep]
            extra = (
                (sr, si)
                if extra is None
                else (np.concatenate([extra[0], sr]), np.concatenate([extra[1], si]))
            )
        relative = self._uses_ranker() and any(n.endswith("_urel") for n in self.feature_names_)
        fs = first_stage(
            scorers,
            self.generator_.n_,
            n_rows,
            self.n_items_,
            seen=seen,
            restrict=restrict,
            extra=extra,
            union=union or relative,
            restrict_all=restrict is not None
            and len(restrict) <= self.config.max_restricted_candidates,
        )
        if not len(fs.row):
            return fs, np.empty(0, np.float32), None
        z = {g: fs.gen_features[f"{g}_z"] for g in self.serving_.weights}
        if not self._uses_ranker():
            return fs, blend_scores(z, self.serving_.weights).astype(np.float32), None
        feats = self.featurizer_.transform(hist, fs.row, fs.item_idx, reference=fs.in_union)
        matrix = self._matrix(fs, feats)
        served = self.ranker_.predict(matrix)
        coef = self.serving_.blend_coef
        if coef:
            served = served + coef * blend_scores(z, self.serving_.weights).astype(np.float32)
        if relative and not union:
            assert extra is not None and self.n_items_ is not None
            keep = np.isin(
                fs.row * self.n_items_ + fs.item_idx, extra[0] * self.n_items_ + extra[1]
            )
            fs = FirstStage(
                row=fs.row[keep],
                item_idx=fs.item_idx[keep],
                in_union=fs.in_union[keep],
                gen_features={k: v[keep] for k, v in fs.gen_features.items()},
            )
            served, matrix = served[keep], matrix[keep]
        return fs, served, matrix

    def _dense(self, n_rows: int, fs: FirstStage, scores: np.ndarray) -> np.ndarray:
        assert self.n_items_ is not None
        block = np.full((n_rows, self.n_items_), -np.inf, dtype=np.float32)
        block[fs.row, fs.item_idx] = scores
        return block

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        fs, s, _ = self._stage(
            user_idx, None, restrict=None, extra=None, union=True, add_seen=False
        )
        return self._dense(len(user_idx), fs, s)

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        fs, s, _ = self._stage(None, ratings, restrict=None, extra=None, union=True, add_seen=False)
        return self._dense(ratings.shape[0], fs, s)

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(user_idx), dtype=np.float32)
        uniq, inv = np.unique(user_idx, return_inverse=True)
        for start in range(0, len(uniq), self.batch_size):
            sel = np.flatnonzero((inv >= start) & (inv < start + self.batch_size))
            batch = uniq[start : start + self.batch_size]
            fs, s, _ = self._stage(
                batch,
                None,
                restrict=None,
                extra=(inv[sel] - start, item_idx[sel]),
                union=False,
                add_seen=False,
            )
            # first_stage returns unique (row, item) pairs sorted; map back
            key = fs.row * self.n_items_ + fs.item_idx
            want = (inv[sel] - start) * self.n_items_ + item_idx[sel]
            out[sel] = s[np.searchsorted(key, want)]
        return out

    def recommend(
        self,
        user_idx: np.ndarray | int,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` re-ranked candidates for known users (see :meth:`Recommender.recommend`).

        Only the union of the generators' top-``N`` is ranked; with ``candidates`` the
        generators propose from that set only (and a set of at most
        ``max_restricted_candidates`` items is ranked whole). With ``exclude_seen=False``
        the user's seen items are re-scored too.
        """
        self._check_fitted()
        users = self._validate_users(user_idx)
        restrict = self._restrict(candidates)

        def scorer(batch: np.ndarray) -> np.ndarray:
            fs, s, _ = self._stage(
                batch, None, restrict=restrict, extra=None, union=True, add_seen=not exclude_seen
            )
            return self._dense(len(batch), fs, s)

        seen = self.seen_ if exclude_seen else None
        return self._rank(scorer, users, n, seen, users, restrict)

    def recommend_for_ratings(
        self,
        ratings: sp.csr_matrix,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` for new users: the generators' fold-in, then the same features + ranker."""
        self._check_fitted()
        ratings = self._validate_ratings(ratings)
        restrict = self._restrict(candidates)
        rows = np.arange(ratings.shape[0])

        def scorer(r: np.ndarray) -> np.ndarray:
            fs, s, _ = self._stage(
                None,
                ratings[r],
                restrict=restrict,
                extra=None,
                union=True,
                add_seen=not exclude_seen,
            )
            return self._dense(len(r), fs, s)

        seen = (ratings != 0).astype(np.float32).tocsr() if exclude_seen else None
        return self._rank(scorer, rows, n, seen, rows, restrict)

    def _restrict(self, candidates: np.ndarray | None) -> np.ndarray | None:
        if candidates is None:
            return None
        cand = np.unique(np.asarray(candidates, dtype=np.int64))
        self._validate_items(cand)
        return cand

    def _item_vectors(self) -> np.ndarray | sp.csr_matrix | None:
        for model in self.generator_.models_.values():
            vec = model._item_vectors()
            if vec is not None:
                return vec
        return None

    def similar_items(
        self, item_idx: np.ndarray | int, n: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """Similar items from the first generator with item vectors (ALS by default)."""
        self._check_fitted()
        for model in self.generator_.models_.values():
            if model._item_vectors() is not None:
                return model.similar_items(item_idx, n)
        return super().similar_items(item_idx, n)

    # ------------------------------------------------------------------ explanations
    def feature_importances(self) -> pd.DataFrame:
        """Importance of each ranker feature: LightGBM gain and split counts, or |coef|.

        Returns
        -------
        pandas.DataFrame
            Columns ``feature``, ``gain``, ``split`` (LightGBM) or ``coef``, ``abs_coef``;
            sorted by decreasing importance.
        """
        self._check_fitted()
        rk = self.ranker_
        if rk.booster is not None:
            frame = pd.DataFrame(
                {
                    "feature": self.feature_names_,
                    "gain": sum(b.feature_importance("gain", iteration=r) for b, r in rk.members()),
                    "split": sum(
                        b.feature_importance("split", iteration=r) for b, r in rk.members()
                    ),
                }
            )
            return frame.sort_values("gain", ascending=False, ignore_index=True)
        assert rk.logistic is not None
        coef = rk.logistic["coef"]
        frame = pd.DataFrame(
            {"feature": self.feature_names_, "coef": coef, "abs_coef": np.abs(coef)}
        )
        return frame.sort_values("abs_coef", ascending=False, ignore_index=True)

    def explain_features(self, user_idx: int, item_idx: int) -> list[tuple[str, float]]:
        """Per-feature contributions to the served score of one (user, item) pair.

        Ranker: SHAP values (LightGBM ``pred_contrib=True``) or coefficient x standardised
        value (logistic), plus ``blend:<gen>_z`` parts when the served score mixes the blend
        in. Blend / single generator (safety net): weight x z-score of each generator. The
        last entry is ``("bias", ...)``; the contributions sum to the score. Sorted by
        decreasing absolute contribution (bias last).
        """
        self._check_fitted()
        users = self._validate_users(user_idx)
        items = np.atleast_1d(np.asarray(item_idx, dtype=np.int64))
        self._validate_items(items)
        fs, served, matrix = self._stage(
            users[:1],
            None,
            restrict=None,
            extra=(np.zeros(1, np.int64), items[:1]),
            union=False,
            add_seen=False,
        )
        w = self.serving_.weights

        def blend_parts(scale: float) -> np.ndarray:
            return np.array(
                [
                    scale * float(blend_scores({g: fs.gen_features[f"{g}_z"]}, {g: w[g]})[0])
                    for g in w
                ]
            )

        if self._uses_ranker():
            assert matrix is not None
            parts, bias = self.ranker_.contributions(matrix[:1])
            names = list(self.feature_names_)
            coef = self.serving_.blend_coef
            if coef:  # the blend mixed into the ranker's score: one part per generator
                names += [f"blend:{g}_z" for g in w]
                parts = np.concatenate([parts, blend_parts(coef)])
        else:
            names = [f"{g}_z" for g in w]
            parts = blend_parts(1.0)
            bias = float(served[0]) - float(parts.sum())
        ranked = sorted(zip(names, parts.tolist(), strict=True), key=lambda t: -abs(t[1]))
        return [*ranked, ("bias", bias)]

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, np.ndarray]:
        return hybrid_state(self)

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self._pending_state = state

    def _save_extra(self, path: Path) -> None:
        save_hybrid_files(self, path)

    def _load_extra(self, path: Path) -> None:
        state = self._pending_state
        del self._pending_state
        load_hybrid_files(self, path, state)


def _known_scorer(model: Recommender, users: np.ndarray) -> Any:
    return lambda: model._score_users(users)


def _new_scorer(model: Recommender, ratings: sp.csr_matrix) -> Any:
    return lambda: model.score_ratings(ratings)
