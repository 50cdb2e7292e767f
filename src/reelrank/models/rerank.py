"""The flagship two-stage hybrid: candidate generators + a learning-to-rank re-ranker.

Stage 1 (:mod:`reelrank.models.candidates`): ALS, EASE (item-kNN on big catalogues), the
content model and popularity each propose their top-``N`` unseen movies; the union is the
candidate set. Stage 2: a LightGBM LambdaRank model (or a logistic regression) re-scores
every candidate from the pair features documented in :mod:`reelrank.models.candidates`.

Training (inside :meth:`HybridRanker.fit`, so evaluation protocols never leak):

1. ``train`` is split by time per user: each user's last ``holdout_ratio`` of ratings (users
   with at least ``min_user_interactions``) are the *label* part, the rest the *history*.
2. The generators and the item statistics are fitted on the history only.
3. For each label user, pairs = union of the generators' candidates + the held-out items
   (``include_missed_positives``) + ``n_random_negatives`` random unseen items. Labels:
   2 for held-out ratings >= ``positive_threshold``, 1 for other held-out ratings (0/1 with
   ``graded_labels=False``), 0 for every other pair (negatives are never held-out items).
4. The ranker is trained grouped by user with early stopping on NDCG@10 of a user-level
   inner validation hold-out of the groups.
5. The generators and the statistics are refitted on the whole ``train`` for serving.

Persistence: ``model.json`` / ``state.npz`` / ``seen.npz`` (base class), ``hybrid.json``
(feature names, generators, ranker meta), ``generators/<name>/`` (each generator's own
artifact), ``features/`` (the item features used), ``ranker.txt`` (LightGBM text model) or
the logistic coefficients in ``state.npz``. No pickles.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from reelrank.data.dataset import Dataset
from reelrank.errors import ArtifactError, ConfigError
from reelrank.features.item_features import ItemFeatures
from reelrank.models.base import (
    ModelConfig,
    NotFittedError,
    Recommender,
    load_model,
    register,
)
from reelrank.models.candidates import (
    CandidateGenerator,
    FirstStage,
    PairFeaturizer,
    UserHistory,
    first_stage,
    parse_generators,
)

logger = logging.getLogger(__name__)

__all__ = ["HybridRanker", "holdout_mask", "ndcg_at_k_groups"]


def holdout_mask(ds: Dataset, ratio: float, min_interactions: int) -> np.ndarray:
    """Boolean mask (aligned with CSR data) of each user's last ``ratio`` of interactions.

    Users with fewer than ``min_interactions`` keep everything in the history. At least one
    interaction is held out per eligible user; ties in time are broken by item index.
    """
    users = ds.user_index_of_entries()
    order = np.lexsort((ds.interactions.indices, ds.timestamps, users))
    counts = ds.user_counts()
    starts = ds.interactions.indptr[:-1]
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order)) - starts[users[order]]
    n_hold = np.ceil(counts * ratio).astype(np.int64)
    n_hold[counts < max(min_interactions, 2)] = 0
    return pos >= (counts - n_hold)[users]


def ndcg_at_k_groups(
    scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int = 10
) -> float:
    """Mean NDCG@k over groups (exponential gain), groups given as sizes in order."""
    out = []
    start = 0
    for g in groups:
        s, y = scores[start : start + g], labels[start : start + g]
        start += g
        if y.max(initial=0) <= 0:
            continue
        top = np.argsort(-s, kind="stable")[:k]
        disc = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = ((2.0 ** y[top] - 1) * disc[: len(top)]).sum()
        ideal = np.sort(y)[::-1][:k]
        idcg = ((2.0**ideal - 1) * disc[: len(ideal)]).sum()
        out.append(dcg / idcg)
    return float(np.mean(out)) if out else float("nan")


@register("hybrid")
class HybridRanker(Recommender):
    """Two-stage hybrid: union of generator candidates re-ranked by LightGBM LambdaRank."""

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`HybridRanker`.

        Attributes
        ----------
        generators
            ``"name:N,..."``: registered first-stage models and their top-N.
        generator_params
            Per-generator hyper-parameters ``{name: {param: value}}``.
        content_kind
            Item vectors of the ``content`` generator: ``"auto"``, ``"embedding"``, ``"tfidf"``.
        use_embeddings
            Ask for sentence embeddings (feature block ``"embedding"``) in ``fit``.
        ease_max_items
            Catalogue size above which ``itemknn`` replaces ``ease``.
        holdout_ratio
            Share of each user's latest training ratings used as ranker labels.
        min_user_interactions
            Users with fewer training ratings give no label groups.
        max_label_users
            When set, only a random sample (seeded) of this many eligible users gives label
            groups (the others keep all their ratings in the history): bounds the pair
            count, and so the ranker's training time and memory, on big data.
        positive_threshold
            Held-out ratings at or above this get the top label (None: all held-out items).
        graded_labels
            Label 2 / 1 / 0 (liked held-out / other held-out / rest) instead of 1 / 0.
        n_random_negatives
            Random unseen non-held-out items added per label user.
        include_missed_positives
            Add held-out items that no generator proposed to the training pairs.
        like_threshold, max_liked
            Which rated movies count as liked for the content features.
        ranker
            ``"lgbm"`` (LambdaRank) or ``"logistic"``.
        n_estimators, learning_rate, num_leaves, min_child_samples, colsample_bytree
            LightGBM settings.
        early_stopping_rounds
            Stop when inner-validation NDCG@10 has not improved for this many rounds.
        inner_val_fraction
            Share of label users held out for early stopping.
        logistic_c
            Inverse regularisation strength of the logistic ranker.
        n_jobs
            LightGBM threads.
        featurize_batch
            Users per featurisation block.
        seed
            Seeds the generators, negatives, inner split and LightGBM.
        """

        generators: str = "als:200,ease:200,content:100,pop:50"
        generator_params: dict[str, dict[str, Any]] = field(default_factory=dict)
        content_kind: str = "auto"
        use_embeddings: bool = True
        ease_max_items: int = 20_000
        holdout_ratio: float = 0.2
        min_user_interactions: int = 5
        max_label_users: int | None = None
        positive_threshold: float | None = 4.0
        graded_labels: bool = True
        n_random_negatives: int = 20
        include_missed_positives: bool = True
        like_threshold: float = 4.0
        max_liked: int = 100
        ranker: str = "lgbm"
        n_estimators: int = 400
        learning_rate: float = 0.05
        num_leaves: int = 31
        min_child_samples: int = 20
        colsample_bytree: float = 0.8
        early_stopping_rounds: int = 40
        inner_val_fraction: float = 0.2
        logistic_c: float = 1.0
        n_jobs: int = 2
        featurize_batch: int = 128
        seed: int = 42

        def validate(self) -> None:
            """Check the values."""
            parse_generators(self.generators)
            if not isinstance(self.generator_params, dict):
                raise ValueError("generator_params must be a mapping name -> params")
            if self.content_kind not in ("auto", "embedding", "tfidf"):
                raise ValueError("content_kind must be 'auto', 'embedding' or 'tfidf'")
            if not 0 < self.holdout_ratio < 1:
                raise ValueError("holdout_ratio must be in (0, 1)")
            if not 0 < self.inner_val_fraction < 1:
                raise ValueError("inner_val_fraction must be in (0, 1)")
            if self.ranker not in ("lgbm", "logistic"):
                raise ValueError("ranker must be 'lgbm' or 'logistic'")
            for name in ("n_random_negatives", "min_user_interactions"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0")
            for name in (
                "n_estimators",
                "num_leaves",
                "max_liked",
                "featurize_batch",
                "early_stopping_rounds",
                "n_jobs",
                "min_child_samples",
            ):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be >= 1")
            if self.max_label_users is not None and self.max_label_users < 2:
                raise ValueError("max_label_users must be >= 2 (or None for every user)")
            if self.learning_rate <= 0 or self.logistic_c <= 0:
                raise ValueError("learning_rate and logistic_c must be > 0")

    config: Config
    batch_size = 128

    def feature_blocks(self) -> set[str]:
        """Sentence embeddings when ``use_embeddings``."""
        return {"embedding"} if self.config.use_embeddings else set()

    # ------------------------------------------------------------------ pieces
    def _generator(self) -> CandidateGenerator:
        cfg = self.config
        return CandidateGenerator(
            parse_generators(cfg.generators),
            cfg.generator_params,
            content_kind=cfg.content_kind,
            ease_max_items=cfg.ease_max_items,
            seed=cfg.seed,
        )

    def _featurizer(self) -> PairFeaturizer:
        return PairFeaturizer(
            like_threshold=self.config.like_threshold, max_liked=self.config.max_liked
        )

    # ------------------------------------------------------------------ training pairs
    def build_pairs(self, train: Dataset, features: ItemFeatures | None = None) -> pd.DataFrame:
        """Labelled (user, candidate) pairs from a time hold-out inside ``train``.

        Returns
        -------
        pandas.DataFrame
            Columns ``user_idx``, ``item_idx``, ``label``, ``group`` (0-based group number,
            one per user, pairs contiguous), ``in_candidates`` and the feature columns.
        """
        cfg = self.config
        label_mask = holdout_mask(train, cfg.holdout_ratio, cfg.min_user_interactions)
        if not label_mask.any():
            raise ConfigError(
                f"hybrid: no user has >= {cfg.min_user_interactions} training ratings to "
                "hold out labels from; lower min_user_interactions"
            )
        if cfg.max_label_users is not None:
            label_mask = _sample_label_users(train, label_mask, cfg.max_label_users, cfg.seed)
        history = train.with_interactions(~label_mask)
        labels = train.with_interactions(label_mask)
        gen = self._generator().fit(history, features)
        featurizer = self._featurizer().fit(history, features)
        return self._pairs_from(gen, featurizer, history, labels)

    def _pairs_from(
        self, gen: CandidateGenerator, featurizer: PairFeaturizer, history: Dataset, labels: Dataset
    ) -> pd.DataFrame:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        hist = UserHistory.from_dataset(history)
        seen = history.binary()
        lab = labels.interactions
        if cfg.positive_threshold is None:
            grade = np.ones(lab.nnz, np.float32)
        elif cfg.graded_labels:
            grade = np.where(lab.data >= cfg.positive_threshold, 2.0, 1.0).astype(np.float32)
        else:
            grade = (lab.data >= cfg.positive_threshold).astype(np.float32)
        grades = sp.csr_matrix((grade, lab.indices, lab.indptr), shape=lab.shape)
        users = np.flatnonzero(np.diff(lab.indptr) > 0)
        n_items = history.n_items
        frames = []
        for start in tqdm(
            range(0, len(users), cfg.featurize_batch),
            desc="hybrid pairs",
            disable=len(users) < 2000,
            leave=False,
        ):
            batch = users[start : start + cfg.featurize_batch]
            seen_b = seen[batch]
            grades_b = grades[batch]
            lab_b = lab[batch]
            extra_r, extra_i = [], []
            if cfg.include_missed_positives:
                extra_r.append(np.repeat(np.arange(len(batch)), np.diff(lab_b.indptr)))
                extra_i.append(lab_b.indices.astype(np.int64))
            if cfg.n_random_negatives:
                r, i = _random_negatives(rng, seen_b + lab_b, n_items, cfg.n_random_negatives)
                extra_r.append(r)
                extra_i.append(i)
            extra = None
            if extra_r:
                extra = (np.concatenate(extra_r), np.concatenate(extra_i))
            fs = first_stage(
                {g: _known_scorer(m, batch) for g, m in gen.models_.items()},
                gen.n_,
                len(batch),
                n_items,
                seen=seen_b,
                extra=extra,
            )
            feats = featurizer.transform(hist.rows(batch), fs.row, fs.item_idx)
            label = np.asarray(grades_b[fs.row, fs.item_idx]).ravel().astype(np.float32)
            frame = pd.DataFrame(
                {
                    "user_idx": batch[fs.row],
                    "item_idx": fs.item_idx,
                    "label": label,
                    "in_candidates": fs.in_union,
                }
            )
            frame = pd.concat([frame, pd.DataFrame(fs.gen_features), pd.DataFrame(feats)], axis=1)
            frames.append(frame)
        pairs = pd.concat(frames, ignore_index=True)
        pairs["group"] = pd.factorize(pairs["user_idx"])[0].astype(np.int64)
        front = ["user_idx", "item_idx", "label", "group", "in_candidates"]
        return pairs[front + [c for c in pairs.columns if c not in front]]

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset, features: ItemFeatures | None) -> None:
        t0 = time.perf_counter()
        pairs = self.build_pairs(train, features)
        feature_names = [
            c
            for c in pairs.columns
            if c not in ("user_idx", "item_idx", "label", "group", "in_candidates")
        ]
        t1 = time.perf_counter()
        self._train_ranker(pairs, feature_names)
        t2 = time.perf_counter()
        self.generator_ = self._generator().fit(train, features)
        self.featurizer_ = self._featurizer().fit(train, features)
        self.history_ = UserHistory.from_dataset(train)
        self.features_ = features
        self.feature_names_ = feature_names
        self.fit_info_.update(
            {
                "n_pairs": len(pairs),
                "n_groups": int(pairs["group"].nunique()),
                "positive_share": float((pairs["label"] > 0).mean()),
                "pairs_seconds": t1 - t0,
                "ranker_seconds": t2 - t1,
                "refit_seconds": time.perf_counter() - t2,
            }
        )
        logger.info("hybrid fitted: %s", self.fit_info_)

    def _train_ranker(self, pairs: pd.DataFrame, feature_names: list[str]) -> None:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed + 1)
        has_pos = pairs.groupby("group", sort=True)["label"].transform("max") > 0
        usable = pairs[has_pos.to_numpy()]
        groups = np.unique(usable["group"].to_numpy())
        if len(groups) < 2:
            raise ConfigError("hybrid: fewer than 2 users with held-out positives to train on")
        n_val = max(1, round(len(groups) * cfg.inner_val_fraction))
        val_groups = rng.choice(groups, size=n_val, replace=False)
        is_val = np.isin(usable["group"].to_numpy(), val_groups)
        tr, va = usable[~is_val], usable[is_val]
        x_tr = tr[feature_names].to_numpy(np.float32)
        x_va = va[feature_names].to_numpy(np.float32)
        g_tr = np.bincount(pd.factorize(tr["group"])[0])
        g_va = np.bincount(pd.factorize(va["group"])[0])
        y_tr, y_va = tr["label"].to_numpy(), va["label"].to_numpy()
        self.fit_info_: dict[str, Any] = {}
        self.booster_ = None
        self.logistic_: dict[str, np.ndarray] | None = None
        if cfg.ranker == "lgbm":
            import lightgbm as lgb

            model = lgb.LGBMRanker(
                objective="lambdarank",
                n_estimators=cfg.n_estimators,
                learning_rate=cfg.learning_rate,
                num_leaves=cfg.num_leaves,
                min_child_samples=cfg.min_child_samples,
                colsample_bytree=cfg.colsample_bytree,
                random_state=cfg.seed,
                n_jobs=cfg.n_jobs,
                deterministic=True,
                force_row_wise=True,
                verbose=-1,
            )
            model.fit(
                x_tr,
                y_tr.astype(np.int32),
                group=g_tr,
                eval_X=(x_va,),
                eval_y=(y_va.astype(np.int32),),
                eval_group=[g_va],
                eval_at=[10],
                feature_name=feature_names,
                callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
            )
            self.booster_ = model.booster_
            best = int(model.best_iteration_ or cfg.n_estimators)
            self.best_iteration_ = best
            self.fit_info_["inner_val_ndcg@10"] = (
                float(model.best_score_["valid_0"]["ndcg@10"])
                if model.best_score_
                else float("nan")
            )
        else:
            from sklearn.linear_model import LogisticRegression

            mean = np.nanmean(x_tr, axis=0)
            mean = np.where(np.isnan(mean), 0.0, mean)
            xs = np.where(np.isnan(x_tr), mean, x_tr)
            std = xs.std(axis=0)
            std[std == 0] = 1.0
            xs = (xs - mean) / std
            y = (y_tr == y_tr.max()).astype(np.int32)
            clf = LogisticRegression(C=cfg.logistic_c, max_iter=2000, random_state=cfg.seed)
            clf.fit(xs, y)
            self.logistic_ = {
                "mean": mean.astype(np.float64),
                "std": std.astype(np.float64),
                "coef": clf.coef_.ravel().astype(np.float64),
                "intercept": np.asarray(clf.intercept_, np.float64),
            }
            self.best_iteration_ = 0
            self.feature_names_ = feature_names
            self.fit_info_["inner_val_ndcg@10"] = ndcg_at_k_groups(self._predict(x_va), y_va, g_va)
        self.feature_names_ = feature_names

    # ------------------------------------------------------------------ scoring
    def _threads(self, n_rows: int) -> int:
        # One thread for small batches (serving one user: ~200 rows): LightGBM's default
        # OpenMP pool costs ~10x the prediction itself there, worse on a busy machine.
        return 1 if n_rows < 20_000 else self.config.n_jobs

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self.booster_ is not None:
            return np.asarray(
                self.booster_.predict(
                    x, num_iteration=self.best_iteration_, num_threads=self._threads(len(x))
                ),
                dtype=np.float32,
            )
        if self.logistic_ is None:
            raise NotFittedError("hybrid: the ranker is not fitted")
        lg = self.logistic_
        xs = (np.where(np.isnan(x), lg["mean"], x) - lg["mean"]) / lg["std"]
        return (xs @ lg["coef"] + lg["intercept"][0]).astype(np.float32)

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
    ) -> tuple[FirstStage, np.ndarray]:
        """Candidates + ranker scores for a batch of known users or of new ratings rows."""
        if users is not None:
            seen = self.seen_[users]
            hist = self.history_.rows(users)
            scorers = {g: _known_scorer(m, users) for g, m in self.generator_.models_.items()}
            n_rows = len(users)
        else:
            assert ratings is not None
            seen = (ratings != 0).astype(np.float32).tocsr()
            hist = UserHistory(
                ratings=ratings, recency=None, last_ts=np.full(ratings.shape[0], np.nan)
            )
            scorers = {g: _new_scorer(m, ratings) for g, m in self.generator_.models_.items()}
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
        fs = first_stage(
            scorers,
            self.generator_.n_,
            n_rows,
            self.n_items_,
            seen=seen,
            restrict=restrict,
            extra=extra,
            union=union,
        )
        feats = self.featurizer_.transform(hist, fs.row, fs.item_idx)
        scores = self._predict(self._matrix(fs, feats)) if len(fs.row) else np.empty(0, np.float32)
        return fs, scores

    def _dense(self, n_rows: int, fs: FirstStage, scores: np.ndarray) -> np.ndarray:
        assert self.n_items_ is not None
        block = np.full((n_rows, self.n_items_), -np.inf, dtype=np.float32)
        block[fs.row, fs.item_idx] = scores
        return block

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        fs, s = self._stage(user_idx, None, restrict=None, extra=None, union=True, add_seen=False)
        return self._dense(len(user_idx), fs, s)

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        fs, s = self._stage(None, ratings, restrict=None, extra=None, union=True, add_seen=False)
        return self._dense(ratings.shape[0], fs, s)

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(user_idx), dtype=np.float32)
        uniq, inv = np.unique(user_idx, return_inverse=True)
        for start in range(0, len(uniq), self.batch_size):
            sel = np.flatnonzero((inv >= start) & (inv < start + self.batch_size))
            batch = uniq[start : start + self.batch_size]
            fs, s = self._stage(
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
        generators propose from that set only. With ``exclude_seen=False`` the user's seen
        items are re-scored too.
        """
        self._check_fitted()
        users = self._validate_users(user_idx)
        restrict = self._restrict(candidates)

        def scorer(batch: np.ndarray) -> np.ndarray:
            fs, s = self._stage(
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
            fs, s = self._stage(
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
        """Importance of each feature: LightGBM gain and split counts, or |coef| (logistic).

        Returns
        -------
        pandas.DataFrame
            Columns ``feature``, ``gain``, ``split`` (LightGBM) or ``coef``, ``abs_coef``;
            sorted by decreasing importance.
        """
        self._check_fitted()
        if self.booster_ is not None:
            frame = pd.DataFrame(
                {
                    "feature": self.feature_names_,
                    "gain": self.booster_.feature_importance(
                        "gain", iteration=self.best_iteration_
                    ),
                    "split": self.booster_.feature_importance(
                        "split", iteration=self.best_iteration_
                    ),
                }
            )
            return frame.sort_values("gain", ascending=False, ignore_index=True)
        assert self.logistic_ is not None
        coef = self.logistic_["coef"]
        frame = pd.DataFrame(
            {"feature": self.feature_names_, "coef": coef, "abs_coef": np.abs(coef)}
        )
        return frame.sort_values("abs_coef", ascending=False, ignore_index=True)

    def explain_features(self, user_idx: int, item_idx: int) -> list[tuple[str, float]]:
        """Per-feature contributions to the ranker score of one (user, item) pair.

        LightGBM: SHAP values (``pred_contrib=True``); logistic: coefficient x standardised
        value. The last entry is ``("bias", ...)``; the contributions sum to the score.
        Sorted by decreasing absolute contribution (bias last).
        """
        self._check_fitted()
        users = self._validate_users(user_idx)
        items = np.atleast_1d(np.asarray(item_idx, dtype=np.int64))
        self._validate_items(items)
        fs, _ = self._stage(
            users[:1],
            None,
            restrict=None,
            extra=(np.zeros(1, np.int64), items[:1]),
            union=False,
            add_seen=False,
        )
        feats = self.featurizer_.transform(self.history_.rows(users[:1]), fs.row, fs.item_idx)
        x = self._matrix(fs, feats)
        if self.booster_ is not None:
            contrib = np.asarray(
                self.booster_.predict(
                    x, num_iteration=self.best_iteration_, pred_contrib=True, num_threads=1
                )
            )[0]
            parts, bias = contrib[:-1], float(contrib[-1])
        else:
            assert self.logistic_ is not None
            lg = self.logistic_
            xs = (np.where(np.isnan(x), lg["mean"], x) - lg["mean"]) / lg["std"]
            parts, bias = (xs * lg["coef"])[0], float(lg["intercept"][0])
        ranked = sorted(
            zip(self.feature_names_, parts.tolist(), strict=True), key=lambda t: -abs(t[1])
        )
        return [*ranked, ("bias", bias)]

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, np.ndarray]:
        h = self.history_
        state = {
            **self.featurizer_.state(),
            "hist_data": h.ratings.data,
            "hist_indices": h.ratings.indices,
            "hist_indptr": h.ratings.indptr,
            "hist_shape": np.asarray(h.ratings.shape),
            "hist_ts": (
                h.recency.data if h.recency is not None else np.zeros(h.ratings.nnz)
            ).astype(np.float64),
            "hist_last_ts": h.last_ts,
        }
        if self.logistic_ is not None:
            state.update({f"logistic_{k}": v for k, v in self.logistic_.items()})
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self._pending_state = state

    def _save_extra(self, path: Path) -> None:
        meta = {
            "feature_names": self.feature_names_,
            "generators": [[g, int(self.generator_.n_[g])] for g in self.generator_.names],
            "ranker": "lgbm" if self.booster_ is not None else "logistic",
            "best_iteration": int(self.best_iteration_),
            "fit_info": self.fit_info_,
            "has_features": self.features_ is not None,
        }
        (path / "hybrid.json").write_text(json.dumps(meta, indent=2))
        for g, model in self.generator_.models_.items():
            model.save(path / "generators" / g)
        if self.features_ is not None:
            self.features_.save(path / "features")
        if self.booster_ is not None:
            self.booster_.save_model(str(path / "ranker.txt"))

    def _load_extra(self, path: Path) -> None:
        try:
            meta = json.loads((path / "hybrid.json").read_text())
        except FileNotFoundError:
            raise ArtifactError(f"{path}: missing hybrid.json") from None
        state = self._pending_state
        del self._pending_state
        self.feature_names_ = list(meta["feature_names"])
        self.best_iteration_ = int(meta["best_iteration"])
        self.fit_info_ = dict(meta.get("fit_info", {}))
        gen = self._generator()
        for g, n in meta["generators"]:
            gen.models_[g] = load_model(path / "generators" / g)
            gen.n_[g] = int(n)
        self.generator_ = gen
        self.features_ = ItemFeatures.load(path / "features") if meta["has_features"] else None
        self.booster_ = None
        self.logistic_ = None
        if meta["ranker"] == "lgbm":
            import lightgbm as lgb

            if not (path / "ranker.txt").is_file():
                raise ArtifactError(f"{path}: missing ranker.txt")
            self.booster_ = lgb.Booster(model_file=str(path / "ranker.txt"))
        else:
            self.logistic_ = {
                k: state[f"logistic_{k}"] for k in ("mean", "std", "coef", "intercept")
            }
        self.featurizer_ = self._featurizer()
        self.featurizer_.restore(state, self.features_)
        shape = tuple(int(x) for x in state["hist_shape"])
        ratings = sp.csr_matrix(
            (state["hist_data"], state["hist_indices"], state["hist_indptr"]), shape=shape
        )
        recency = sp.csr_matrix(
            (state["hist_ts"], state["hist_indices"], state["hist_indptr"]), shape=shape
        )
        self.history_ = UserHistory(ratings=ratings, recency=recency, last_ts=state["hist_last_ts"])


def _sample_label_users(
    train: Dataset, label_mask: np.ndarray, max_users: int, seed: int
) -> np.ndarray:
    """``label_mask`` restricted to a seeded random sample of at most ``max_users`` users."""
    entry_user = train.user_index_of_entries()
    users = np.unique(entry_user[label_mask])
    if len(users) <= max_users:
        return label_mask
    keep = np.zeros(train.n_users, dtype=bool)
    keep[np.random.default_rng(seed + 2).choice(users, size=max_users, replace=False)] = True
    logger.info("hybrid: label pairs from %d of %d users", max_users, len(users))
    return label_mask & keep[entry_user]


def _known_scorer(model: Recommender, users: np.ndarray) -> Any:
    return lambda: model._score_users(users)


def _new_scorer(model: Recommender, ratings: sp.csr_matrix) -> Any:
    return lambda: model.score_ratings(ratings)


def _random_negatives(
    rng: np.random.Generator, exclude: sp.csr_matrix, n_items: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` distinct random items per row of ``exclude`` that are not stored in it."""
    n_rows = exclude.shape[0]
    draws = rng.integers(0, n_items, size=(n_rows, 3 * k + 10))
    rows = np.repeat(np.arange(n_rows), draws.shape[1])
    items = draws.ravel()
    codes = rows * n_items + items
    ex = exclude.tocsr()
    ex_codes = np.repeat(np.arange(n_rows), np.diff(ex.indptr)) * n_items + ex.indices
    ok = ~np.isin(codes, ex_codes)
    _, first = np.unique(codes, return_index=True)
    uniq = np.zeros(len(codes), dtype=bool)
    uniq[first] = True
    keep = np.flatnonzero(ok & uniq)  # in draw order, per row
    r = rows[keep]
    starts = np.searchsorted(r, np.arange(n_rows))
    pos = np.arange(len(keep)) - starts[r]
    keep = keep[pos < k]
    return rows[keep], items[keep].astype(np.int64)
