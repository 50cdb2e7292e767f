"""Training pieces of the two-stage hybrid: labelled pairs and the second-stage ranker.

:func:`build_pair_frame` turns an :class:`~reelrank.models.hybrid_labels.InnerSplit` into
labelled (user, candidate) pairs: the first stage's candidates (the generators' union, or
every item of a small restricted catalogue), the held-out items no generator proposed
(``include_missed_positives``) and a few random negatives, with the generator and pair
features. :class:`RankerModel` wraps the LightGBM ranking booster (``rank_xendcg`` or
``lambdarank``) or the logistic regression, and :func:`train_ranker` fits it on training
groups (a fixed number of rounds, or early-stopped on other groups' NDCG@10).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from reelrank.errors import ConfigError
from reelrank.models.base import NotFittedError
from reelrank.models.candidates import CandidateGenerator, first_stage
from reelrank.models.hybrid_labels import InnerSplit, grade_labels, random_negatives
from reelrank.models.pair_features import PairFeaturizer, UserHistory

logger = logging.getLogger(__name__)

__all__ = ["PAIR_META_COLUMNS", "RankerModel", "build_pair_frame", "train_ranker"]

#: columns of a pair frame that are not ranker features
PAIR_META_COLUMNS = (
    "user_idx",
    "item_idx",
    "label",
    "relevant",
    "n_relevant",
    "group",
    "in_candidates",
)


def build_pair_frame(
    cfg: Any,
    gen: CandidateGenerator,
    featurizer: PairFeaturizer,
    split: InnerSplit,
) -> pd.DataFrame:
    """Labelled pairs of every label user of ``split`` (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        :data:`PAIR_META_COLUMNS` then the feature columns. ``label`` is the graded label,
        ``relevant`` whether the pair is relevant by the protocol's rule, ``n_relevant`` the
        user's relevant held-out items (all of them, also those not among the pairs),
        ``group`` a 0-based number per user (pairs contiguous), ``in_candidates`` whether
        the first stage proposed the item.
    """
    rng = np.random.default_rng(cfg.seed)
    hist = UserHistory.from_dataset(split.history)
    seen = split.excluded
    lab = split.labels.interactions
    grades = grade_labels(lab, cfg.positive_threshold, cfg.graded_labels)
    top = 1.0 if cfg.positive_threshold is None or not cfg.graded_labels else 2.0
    relevant = sp.csr_matrix(
        ((grades.data >= top).astype(np.float32), grades.indices.copy(), grades.indptr.copy()),
        shape=grades.shape,
    )  # copies: eliminate_zeros works in place and the arrays are shared with the labels
    relevant.eliminate_zeros()
    n_rel_user = np.diff(relevant.indptr)
    users = np.flatnonzero(np.diff(lab.indptr) > 0)
    n_items = split.history.n_items
    restrict = split.restrict
    restrict_all = restrict is not None and len(restrict) <= cfg.max_restricted_candidates
    frames = []
    for start in tqdm(
        range(0, len(users), cfg.featurize_batch),
        desc="hybrid pairs",
        disable=len(users) < 2000,
        leave=False,
    ):
        batch = users[start : start + cfg.featurize_batch]
        seen_b = seen[batch]
        lab_b = lab[batch]
        extra_r, extra_i = [], []
        if cfg.include_missed_positives:
            extra_r.append(np.repeat(np.arange(len(batch)), np.diff(lab_b.indptr)))
            extra_i.append(lab_b.indices.astype(np.int64))
        if cfg.n_random_negatives:
            r, i = random_negatives(
                rng, seen_b + lab_b, n_items, cfg.n_random_negatives, pool=restrict
            )
            extra_r.append(r)
            extra_i.append(i)
        extra = (np.concatenate(extra_r), np.concatenate(extra_i)) if extra_r else None
        fs = first_stage(
            {g: _known_scorer(m, batch) for g, m in gen.models_.items()},
            gen.n_,
            len(batch),
            n_items,
            seen=seen_b,
            restrict=restrict,
            extra=extra,
            restrict_all=restrict_all,
        )
        feats = featurizer.transform(hist.rows(batch), fs.row, fs.item_idx, reference=fs.in_union)
        meta = pd.DataFrame(
            {
                "user_idx": batch[fs.row],
                "item_idx": fs.item_idx,
                "label": np.asarray(grades[batch][fs.row, fs.item_idx]).ravel(),
                "relevant": np.asarray(relevant[batch][fs.row, fs.item_idx]).ravel() > 0,
                "n_relevant": n_rel_user[batch][fs.row],
                "in_candidates": fs.in_union,
            }
        )
        meta["label"] = meta["label"].astype(np.float32)
        frames.append(pd.concat([meta, pd.DataFrame(fs.gen_features), pd.DataFrame(feats)], axis=1))
    pairs = pd.concat(frames, ignore_index=True)
    pairs["group"] = pd.factorize(pairs["user_idx"])[0].astype(np.int64)
    front = list(PAIR_META_COLUMNS)
    return pairs[front + [c for c in pairs.columns if c not in front]]


def _known_scorer(model: Any, users: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: model._score_users(users)


@dataclass
class RankerModel:
    """The second stage: LightGBM boosters (averaged) or logistic-regression coefficients.

    Attributes
    ----------
    booster, best_iteration
        The (first) LightGBM booster and the rounds it uses.
    bag
        More ``(booster, rounds)`` members: the score is the mean over ``booster`` and these
        (the cross-fitting folds' rankers, a bagged ensemble).
    """

    booster: Any = None
    best_iteration: int = 0
    logistic: dict[str, np.ndarray] | None = None
    n_jobs: int = 1
    info: dict[str, Any] = field(default_factory=dict)
    bag: list[tuple[Any, int]] = field(default_factory=list)

    def members(self) -> list[tuple[Any, int]]:
        """Every ``(booster, rounds)`` of the ensemble (empty for the logistic ranker)."""
        if self.booster is None:
            return []
        return [(self.booster, self.best_iteration), *self.bag]

    @classmethod
    def bagged(cls, rankers: list[RankerModel]) -> RankerModel:
        """One ranker averaging the boosters of ``rankers`` (LightGBM ones)."""
        first = rankers[0]
        out = cls(booster=first.booster, best_iteration=first.best_iteration, n_jobs=first.n_jobs)
        out.bag = [(r.booster, r.best_iteration) for r in rankers[1:]]
        out.info = {"n_trees": first.best_iteration, "n_bagged": len(rankers)}
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Ranker scores (margins) of the rows of ``x``."""
        if self.booster is not None:
            # One thread for small batches (serving one user: ~200 rows): LightGBM's OpenMP
            # pool costs ~10x the prediction itself there, worse on a busy machine.
            threads = 1 if len(x) < 20_000 else self.n_jobs
            out = np.zeros(len(x), np.float64)
            members = self.members()
            for booster, rounds in members:
                out += booster.predict(x, num_iteration=rounds, num_threads=threads)
            return (out / len(members)).astype(np.float32)
        if self.logistic is None:
            raise NotFittedError("hybrid: the ranker is not fitted")
        lg = self.logistic
        xs = (np.where(np.isnan(x), lg["mean"], x) - lg["mean"]) / lg["std"]
        return (xs @ lg["coef"] + lg["intercept"][0]).astype(np.float32)

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Per-feature contributions of one row and the bias (they sum to the score)."""
        if self.booster is not None:
            members = self.members()
            contrib = sum(
                np.asarray(b.predict(x, num_iteration=r, pred_contrib=True, num_threads=1))[0]
                for b, r in members
            ) / len(members)
            return contrib[:-1], float(contrib[-1])
        assert self.logistic is not None
        lg = self.logistic
        xs = (np.where(np.isnan(x), lg["mean"], x) - lg["mean"]) / lg["std"]
        return (xs * lg["coef"])[0], float(lg["intercept"][0])


def _subsample_negatives(
    frame: pd.DataFrame, max_negatives: int | None, rng: np.random.Generator
) -> pd.DataFrame:
    """Keep every labelled pair and at most ``max_negatives`` random unlabelled ones per group.

    LambdaRank's gradient costs grow with the square of the group size; most of a group's
    few hundred candidates are easy negatives, so a sample of them trains about as well.
    """
    if max_negatives is None:
        return frame
    label = frame["label"].to_numpy()
    group = frame["group"].to_numpy()
    key = rng.random(len(frame))
    key[label > 0] = -1.0  # positives first, always kept
    order = np.lexsort((key, group))
    g = group[order]
    starts = np.searchsorted(g, np.unique(g))
    first = np.repeat(starts, np.diff(np.append(starts, len(g))))
    rank = np.arange(len(order)) - first
    n_pos = np.bincount(group, weights=(label > 0).astype(float), minlength=group.max() + 1)
    keep = order[rank < n_pos[g] + max_negatives]
    return frame.iloc[np.sort(keep)]


def train_ranker(
    cfg: Any,
    train: pd.DataFrame,
    val: pd.DataFrame | None,
    feature_names: list[str],
    labels_for_training: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    *,
    rounds: int | None = None,
) -> RankerModel:
    """Fit the ranker on ``train`` pairs, early-stopped on NDCG@10 of ``val`` pairs.

    With ``val=None`` (or ``early_stopping_rounds=None``) the ranker trains
    ``n_estimators`` rounds (``rounds`` when given) without early stopping.

    Parameters
    ----------
    rounds
        Train exactly this many boosting rounds instead (no early stopping; ``val`` is
        then only reported): the refit on every label user once the count is known.
    labels_for_training
        ``(labels, rng) -> labels`` applied to the training labels (identity normally; the
        safety-net test shuffles them).
    """
    rng = np.random.default_rng(cfg.seed + 11)
    tr = _subsample_negatives(train, cfg.max_negatives_per_user, rng)
    x_tr = tr[feature_names].to_numpy(np.float32)
    g_tr = np.bincount(pd.factorize(tr["group"])[0])
    y_tr = labels_for_training(tr["label"].to_numpy(), rng)
    if len(g_tr) < 1 or (val is not None and val.empty):
        raise ConfigError("hybrid: too few users with held-out labels to train the ranker")
    stop = val is not None and rounds is None and cfg.early_stopping_rounds is not None
    out = RankerModel(n_jobs=cfg.n_jobs)
    if cfg.ranker == "lgbm":
        import lightgbm as lgb

        model = lgb.LGBMRanker(
            objective=cfg.objective,
            n_estimators=rounds if rounds is not None else cfg.n_estimators,
            learning_rate=cfg.learning_rate,
            num_leaves=cfg.num_leaves,
            min_child_samples=cfg.min_child_samples,
            colsample_bytree=cfg.colsample_bytree,
            random_state=cfg.seed,
            n_jobs=cfg.n_jobs,
            deterministic=True,
            force_row_wise=True,
            max_bin=cfg.max_bin,
            lambdarank_truncation_level=cfg.lambdarank_truncation_level,
            verbose=-1,
        )
        evaluation: dict[str, Any] = {}
        if stop:
            assert val is not None
            evaluation = {
                "eval_X": (val[feature_names].to_numpy(np.float32),),
                "eval_y": (val["label"].to_numpy().astype(np.int32),),
                "eval_group": [np.bincount(pd.factorize(val["group"])[0])],
                "eval_at": [10],
                "callbacks": [lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
            }
        model.fit(x_tr, y_tr.astype(np.int32), group=g_tr, feature_name=feature_names, **evaluation)
        out.booster = model.booster_
        if rounds is not None:
            out.best_iteration = rounds
        elif stop:
            out.best_iteration = int(model.best_iteration_ or cfg.n_estimators)
        else:
            out.best_iteration = cfg.n_estimators
        out.info["n_trees"] = out.best_iteration
    else:
        from sklearn.linear_model import LogisticRegression

        mean = np.nanmean(x_tr, axis=0)
        mean = np.where(np.isnan(mean), 0.0, mean)
        xs = np.where(np.isnan(x_tr), mean, x_tr)
        std = xs.std(axis=0)
        std[std == 0] = 1.0
        xs = (xs - mean) / std
        y = (y_tr == y_tr.max()).astype(np.int32)
        if len(np.unique(y)) < 2:
            raise ConfigError("hybrid: the logistic ranker needs positive and negative pairs")
        clf = LogisticRegression(C=cfg.logistic_c, max_iter=2000, random_state=cfg.seed)
        clf.fit(xs, y)
        out.logistic = {
            "mean": mean.astype(np.float64),
            "std": std.astype(np.float64),
            "coef": clf.coef_.ravel().astype(np.float64),
            "intercept": np.asarray(clf.intercept_, np.float64),
        }
    out.info["n_train_pairs"] = len(tr)
    logger.info("hybrid ranker: %s", out.info)
    return out
