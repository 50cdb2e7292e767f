"""Rating-prediction models for RMSE/MAE: ``bias`` baseline and biased MF (``mf``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from reelrank.data.dataset import Dataset
from reelrank.models.base import ModelConfig, Recommender, register

logger = logging.getLogger(__name__)

__all__ = ["BiasModel", "BiasedMF"]


class _RatingModel(Recommender):
    """Shared parts: rating scale clipping, ``predict`` and ranking by predicted rating."""

    predicts_ratings = True
    global_mean_: float
    user_bias_: np.ndarray
    item_bias_: np.ndarray
    rating_scale_: np.ndarray

    def _raw_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self.global_mean_ + self.user_bias_[user_idx] + self.item_bias_[item_idx]

    def predict(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """Predicted ratings of aligned (user, item) pairs, clipped to the rating scale.

        Users or items without training ratings fall back to the biases they have (zero for
        the missing side), i.e. to the global mean at worst.
        """
        self._check_fitted()
        users = self._validate_users(user_idx)
        items = np.asarray(item_idx, dtype=np.int64).reshape(-1)
        if users.shape != items.shape:
            raise ValueError("user_idx and item_idx must have the same length")
        self._validate_items(items)
        raw = self._raw_pairs(users, items)
        lo, hi = self.rating_scale_
        return np.clip(raw, lo, hi).astype(np.float32)

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self.predict(user_idx, item_idx)

    def _fit_scale(self, train: Dataset) -> None:
        self.rating_scale_ = np.asarray(train.rating_scale, dtype=np.float32)
        self.global_mean_ = float(train.ratings.mean()) if train.n_interactions else 0.0

    def _get_state(self) -> dict[str, np.ndarray]:
        return {
            "global_mean": np.asarray(self.global_mean_, dtype=np.float64),
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "rating_scale": self.rating_scale_,
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.global_mean_ = float(state["global_mean"])
        self.user_bias_ = state["user_bias"]
        self.item_bias_ = state["item_bias"]
        self.rating_scale_ = state["rating_scale"]

    def _clip(self, block: np.ndarray) -> np.ndarray:
        lo, hi = self.rating_scale_
        return np.clip(block, lo, hi).astype(np.float32)


def _bias_sweeps(
    users: np.ndarray,
    items: np.ndarray,
    residual: np.ndarray,
    n_users: int,
    n_items: int,
    reg_user: float,
    reg_item: float,
    sweeps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Alternating closed-form updates of regularised user and item biases (Surprise's ALS).

    Each sweep sets ``b_u = sum_i (r - b_i) / (reg_user + n_u)`` and then
    ``b_i = sum_u (r - b_u) / (reg_item + n_i)``, where ``r`` is the residual after the
    global mean.
    """
    n_u = np.bincount(users, minlength=n_users).astype(np.float64)
    n_i = np.bincount(items, minlength=n_items).astype(np.float64)
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    den_u, den_i = reg_user + n_u, reg_item + n_i
    for _ in range(sweeps):
        num_u = np.bincount(users, weights=residual - bi[items], minlength=n_users)
        bu = np.divide(num_u, den_u, out=np.zeros(n_users), where=den_u > 0)
        num_i = np.bincount(items, weights=residual - bu[users], minlength=n_items)
        bi = np.divide(num_i, den_i, out=np.zeros(n_items), where=den_i > 0)
    return bu, bi


@register("bias")
class BiasModel(_RatingModel):
    """Regularised baseline ``r_ui = mu + b_u + b_i`` (Koren 2008; Surprise's BaselineOnly).

    Biases are fitted by ``sweeps`` alternating closed-form sweeps (vectorised with
    ``bincount``). Ranks items by predicted rating. Fold-in solves a new user's bias in
    closed form given the item biases.
    """

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`BiasModel`.

        Attributes
        ----------
        reg_user, reg_item
            Regularisation (in pseudo-ratings) of user and item biases.
        sweeps
            Alternating sweeps.
        """

        reg_user: float = 15.0
        reg_item: float = 10.0
        sweeps: int = 10

        def validate(self) -> None:
            """Check the values."""
            if self.reg_user < 0 or self.reg_item < 0:
                raise ValueError("regularisation must be >= 0")
            if self.sweeps < 1:
                raise ValueError("sweeps must be >= 1")

    config: Config

    def _fit(self, train: Dataset, features: Any | None) -> None:
        self._fit_scale(train)
        users = train.user_index_of_entries()
        items = train.interactions.indices.astype(np.int64)
        residual = train.ratings.astype(np.float64) - self.global_mean_
        cfg = self.config
        bu, bi = _bias_sweeps(
            users, items, residual, train.n_users, train.n_items,
            cfg.reg_user, cfg.reg_item, cfg.sweeps,
        )  # fmt: skip
        self.user_bias_ = bu.astype(np.float32)
        self.item_bias_ = bi.astype(np.float32)

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        raw = self.global_mean_ + self.user_bias_[user_idx, None] + self.item_bias_[None, :]
        return self._clip(raw)

    def fold_in(self, ratings: sp.csr_matrix) -> np.ndarray:
        """New users' biases ``sum_i (r - mu - b_i) / (reg_user + n)``, shape (n_rows,)."""
        self._check_fitted()
        rows = self._validate_ratings(ratings)
        counts = np.diff(rows.indptr)
        row_of = np.repeat(np.arange(rows.shape[0]), counts)
        resid = rows.data - self.global_mean_ - self.item_bias_[rows.indices]
        sums = np.bincount(row_of, weights=resid, minlength=rows.shape[0])
        den = self.config.reg_user + counts
        return np.divide(sums, den, out=np.zeros(len(den)), where=den > 0).astype(np.float32)

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        bu = self.fold_in(ratings)
        return self._clip(self.global_mean_ + bu[:, None] + self.item_bias_[None, :])


@register("mf")
class BiasedMF(_RatingModel):
    """Biased matrix factorisation (Funk SVD / Surprise's SVD): ``mu + b_u + b_i + p_u . q_i``.

    Trained by shuffled mini-batch SGD on the explicit ratings, vectorised with numpy
    (gradients of a batch accumulated with ``np.add.at``), seeded. Users or items without
    training ratings keep zero factors and biases, so predictions fall back to the biases
    they have. Fold-in solves a new user's ``[p_u, b_u]`` by ridge regression on the residual
    ``r - mu - b_i`` against the fixed ``[q_i, 1]``.
    """

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`BiasedMF`.

        Attributes
        ----------
        factors
            Latent dimensions.
        epochs
            Passes over the ratings.
        learning_rate
            SGD step.
        regularization
            L2 penalty on factors and biases.
        init_std
            Standard deviation of the factor initialisation.
        batch_size
            Ratings per SGD step.
        random_state
            Seed of initialisation and shuffling.
        """

        factors: int = 50
        epochs: int = 30
        learning_rate: float = 0.01
        regularization: float = 0.05
        init_std: float = 0.1
        batch_size: int = 128
        random_state: int = 42

        def validate(self) -> None:
            """Check the values."""
            if self.factors < 1 or self.epochs < 1 or self.batch_size < 1:
                raise ValueError("factors, epochs and batch_size must be >= 1")
            if self.learning_rate <= 0:
                raise ValueError("learning_rate must be > 0")
            if self.regularization < 0 or self.init_std < 0:
                raise ValueError("regularization and init_std must be >= 0")

    config: Config
    user_factors_: np.ndarray
    item_factors_: np.ndarray

    def _fit(self, train: Dataset, features: Any | None) -> None:
        cfg = self.config
        self._fit_scale(train)
        rng = np.random.default_rng(cfg.random_state)
        users = train.user_index_of_entries()
        items = train.interactions.indices.astype(np.int64)
        ratings = train.ratings.astype(np.float32)
        mu = np.float32(self.global_mean_)
        p = rng.normal(0, cfg.init_std, (train.n_users, cfg.factors)).astype(np.float32)
        q = rng.normal(0, cfg.init_std, (train.n_items, cfg.factors)).astype(np.float32)
        bu = np.zeros(train.n_users, dtype=np.float32)
        bi = np.zeros(train.n_items, dtype=np.float32)
        lr, reg = np.float32(cfg.learning_rate), np.float32(cfg.regularization)
        n = len(ratings)
        for _ in tqdm(range(cfg.epochs), desc="mf", disable=n < 1_000_000, leave=False):
            order = rng.permutation(n)
            for start in range(0, n, cfg.batch_size):
                sel = order[start : start + cfg.batch_size]
                u, i, r = users[sel], items[sel], ratings[sel]
                pu, qi = p[u], q[i]
                err = r - (mu + bu[u] + bi[i] + np.einsum("ij,ij->i", pu, qi))
                np.add.at(bu, u, lr * (err - reg * bu[u]))
                np.add.at(bi, i, lr * (err - reg * bi[i]))
                np.add.at(p, u, lr * (err[:, None] * qi - reg * pu))
                np.add.at(q, i, lr * (err[:, None] * pu - reg * qi))
        # entities never trained fall back to "no information": zero factors and bias
        p[train.user_counts() == 0] = 0.0
        q[train.item_counts() == 0] = 0.0
        self.user_factors_, self.item_factors_ = p, q
        self.user_bias_, self.item_bias_ = bu, bi

    def _raw_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        dot = np.einsum("ij,ij->i", self.user_factors_[user_idx], self.item_factors_[item_idx])
        return super()._raw_pairs(user_idx, item_idx) + dot

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        raw = (
            self.global_mean_
            + self.user_bias_[user_idx, None]
            + self.item_bias_[None, :]
            + self.user_factors_[user_idx] @ self.item_factors_.T
        )
        return self._clip(raw)

    def fold_in(self, ratings: sp.csr_matrix) -> np.ndarray:
        """New users' ``[p_u, b_u]`` by ridge regression (shape (n_rows, factors + 1))."""
        self._check_fitted()
        rows = self._validate_ratings(ratings)
        f = self.item_factors_.shape[1]
        out = np.zeros((rows.shape[0], f + 1), dtype=np.float32)
        reg = self.config.regularization
        for row in range(rows.shape[0]):
            lo, hi = rows.indptr[row], rows.indptr[row + 1]
            if lo == hi:
                continue
            idx = rows.indices[lo:hi]
            x = np.hstack([self.item_factors_[idx], np.ones((hi - lo, 1), np.float32)])
            y = rows.data[lo:hi] - self.global_mean_ - self.item_bias_[idx]
            # regularisation in rating units: a user with few ratings stays near zero
            a = x.T.astype(np.float64) @ x + reg * len(idx) * np.eye(f + 1) + np.eye(f + 1)
            out[row] = np.linalg.solve(a, x.T.astype(np.float64) @ y)
        return out

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        v = self.fold_in(ratings)
        raw = (
            self.global_mean_
            + v[:, -1:]
            + self.item_bias_[None, :]
            + v[:, :-1] @ self.item_factors_.T
        )
        return self._clip(raw)

    def _get_state(self) -> dict[str, np.ndarray]:
        return {
            **super()._get_state(),
            "user_factors": self.user_factors_,
            "item_factors": self.item_factors_,
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        super()._set_state(state)
        self.user_factors_ = state["user_factors"]
        self.item_factors_ = state["item_factors"]
