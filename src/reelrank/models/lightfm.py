"""LightFM hybrid factorisation (``lightfm``), with or without item / user features."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.models._linalg import cached_item_gram, ranking_fold_in, row_normalise
from reelrank.models._preference import PreferenceConfig, PreferenceRecommender, confidences
from reelrank.models.base import _load_csr, _save_csr, register

logger = logging.getLogger(__name__)

__all__ = ["LightFMModel", "user_feature_matrix"]

_LOSSES = ("warp", "bpr", "logistic", "warp-kos")


def user_feature_matrix(user_info: pd.DataFrame | None, n_users: int) -> sp.csr_matrix:
    """Identity + one-hot demographic features of users, row-normalised (L1).

    Uses the columns ``gender``, ``occupation`` and ``age`` (bucketed by decade) of
    :attr:`Dataset.user_info` when present (ml-100k, ml-1m); only the identity otherwise.
    """
    blocks = [sp.identity(n_users, dtype=np.float32, format="csr")]
    if user_info is not None and len(user_info) == n_users:
        for col in ("gender", "occupation", "age"):
            if col not in user_info.columns:
                continue
            values = user_info[col]
            if col == "age":
                values = (pd.to_numeric(values, errors="coerce") // 10 * 10).astype("Int64")
            codes, _ = pd.factorize(values.astype("string"), use_na_sentinel=True)
            ok = codes >= 0
            blocks.append(
                sp.csr_matrix(
                    (np.ones(ok.sum(), np.float32), (np.flatnonzero(ok), codes[ok])),
                    shape=(n_users, max(codes.max() + 1, 1)),
                )
            )
    return sp.csr_matrix(row_normalise(sp.hstack(blocks).tocsr(), norm="l1"))


@register("lightfm")
class LightFMModel(PreferenceRecommender):
    """LightFM (Kula 2015): users and items as sums of feature embeddings.

    With ``use_item_features`` an item's features are its identity plus the named token
    columns of :class:`~reelrank.features.ItemFeatures` (genres, tags, decades, people...),
    row-normalised (L1), so items nobody rated still get a representation from their
    content. With ``item_identity=False`` the identity columns are left out (LightFM's
    "item features only" mode, Kula 2015 section 4): every item is *only* the sum of its
    content-token embeddings, so a cold item is represented exactly as well as a warm one
    with the same tokens (the better choice for item cold start; an item with no token at
    all keeps its identity column so it is not the zero vector). ``use_user_features`` adds
    demographic one-hots (ml-100k/ml-1m) to the user identity. Scores are
    ``u . v_i + b_u + b_i`` from the learned representations.

    Ratings become preference first (:mod:`reelrank.models._preference`): the WARP / BPR
    losses learn from the likes, each weighted (``sample_weight``) by how much it was liked;
    the logistic loss also gets the dislikes as negative labels; WARP-kOS (no sample weights)
    gets the likes unweighted.

    Fold-in for a new user (no retraining): the user vector is the weighted least-squares fit
    of :func:`reelrank.models._linalg.ranking_fold_in` on the same transform (target 1 on
    the liked items with confidence ``fold_in_alpha * w``, target 0 on disliked ones with
    confidence ``1 + fold_in_alpha * d`` and elsewhere with confidence 1, item biases on the
    target side) over the item representations; the user bias, constant per user, is
    irrelevant to ranking and set to 0.
    """

    @dataclass(frozen=True)
    class Config(PreferenceConfig):
        """Hyper-parameters of :class:`LightFMModel`.

        Defaults and their sources. LightFM 1.17 defaults to no_components 10,
        learning_rate 0.05 (adagrad), loss ``"logistic"``; its quickstart for implicit
        feedback uses loss ``"warp"`` and 30 epochs. reelrank uses WARP, learning rate 0.05,
        30 epochs and 64 components (the top of the usual 10-64 range). On the validation
        part of the bundled ``temporal`` protocol (graded feedback, item features) NDCG@10
        is 0.0913 with these defaults, 0.0881 with 32 components, 0.0860 with 15 epochs,
        0.0963 with 60 epochs (twice the fit time; the tuner explores epochs) and 0.0724
        with learning rate 0.01.

        Attributes
        ----------
        loss
            ``"warp"``, ``"bpr"``, ``"logistic"`` or ``"warp-kos"``.
        no_components
            Embedding dimension.
        epochs
            Training epochs.
        learning_rate
            Adagrad learning rate.
        item_alpha, user_alpha
            L2 penalties on item / user feature embeddings.
        use_item_features
            Use the token features of ``ItemFeatures`` besides the item identity.
        item_identity
            Keep one identity feature per item (LightFM's default). ``False`` (with
            ``use_item_features``) represents items by their content tokens only, for
            cold-start items; items without any token keep their identity.
        use_user_features
            Use demographic user features when the dataset has them.
        random_state
            Seed (LightFM is deterministic with one thread).
        fold_in_alpha, fold_in_regularization
            Confidence and penalty of the fold-in solve.
        feedback, like_threshold, dislikes, rating_gain
            How ratings become preference (:class:`~._preference.PreferenceConfig`).
        """

        loss: str = "warp"
        no_components: int = 64
        epochs: int = 30
        learning_rate: float = 0.05
        item_alpha: float = 1e-6
        user_alpha: float = 1e-6
        use_item_features: bool = True
        item_identity: bool = True
        use_user_features: bool = False
        random_state: int = 42
        fold_in_alpha: float = 10.0
        fold_in_regularization: float = 1.0

        def validate(self) -> None:
            """Check the values."""
            super().validate()
            if self.loss not in _LOSSES:
                raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
            if self.no_components < 1 or self.epochs < 1:
                raise ValueError("no_components and epochs must be >= 1")
            if self.learning_rate <= 0:
                raise ValueError("learning_rate must be > 0")
            if min(self.item_alpha, self.user_alpha, self.fold_in_regularization) < 0:
                raise ValueError("penalties must be >= 0")
            if self.fold_in_alpha <= 0:
                raise ValueError("fold_in_alpha must be > 0")
            if not self.item_identity and not self.use_item_features:
                raise ValueError("item_identity=False needs use_item_features=True")

    config: Config

    def _item_feature_matrix(self, train: Dataset, features: Any | None) -> sp.csr_matrix:
        identity = sp.identity(train.n_items, dtype=np.float32, format="csr")
        if not self.config.use_item_features:
            return identity
        if features is None:
            raise ConfigError("lightfm: use_item_features=True needs item features")
        if features.n_items != train.n_items:
            raise ConfigError(
                f"lightfm: features have {features.n_items} items, the dataset {train.n_items}"
            )
        tokens = sp.csr_matrix(features.sparse, dtype=np.float32)
        tokens.data = np.abs(tokens.data)
        tokens.eliminate_zeros()
        if not self.config.item_identity:
            # content only; an item without any token keeps its identity (not a zero row)
            bare = np.diff(tokens.indptr) == 0
            keep = sp.diags(bare.astype(np.float32), format="csr")
            identity = sp.csr_matrix(keep @ identity)
        both = sp.hstack([identity, tokens]).tocsr()
        return sp.csr_matrix(row_normalise(both, norm="l1"))

    def _fit(self, train: Dataset, features: Any | None) -> None:
        from lightfm import LightFM

        cfg = self.config
        self.item_features_ = self._item_feature_matrix(train, features)
        self.user_features_ = (
            user_feature_matrix(train.user_info, train.n_users)
            if cfg.use_user_features
            else sp.identity(train.n_users, dtype=np.float32, format="csr")
        )
        model = LightFM(
            no_components=cfg.no_components,
            loss=cfg.loss,
            learning_rate=cfg.learning_rate,
            item_alpha=cfg.item_alpha,
            user_alpha=cfg.user_alpha,
            random_state=np.random.RandomState(cfg.random_state),
        )
        weights = self._fit_preference(train).apply(train.interactions)
        if cfg.loss != "logistic":
            weights.data = np.where(weights.data > 0, weights.data, 0.0).astype(np.float32)
            weights.eliminate_zeros()
        labels = weights.tocoo()
        sample_weight = None
        if cfg.loss != "warp-kos":  # k-OS has no sample weights
            sample_weight = sp.coo_matrix(
                (np.abs(labels.data), (labels.row, labels.col)), shape=labels.shape
            )
        labels.data = np.sign(labels.data).astype(np.float32)
        model.fit(
            labels,
            user_features=self.user_features_,
            item_features=self.item_features_,
            sample_weight=sample_weight,
            epochs=cfg.epochs,
            num_threads=1,
        )
        self.item_embeddings_ = model.item_embeddings.astype(np.float32)
        self.item_biases_ = model.item_biases.astype(np.float32)
        self.user_embeddings_ = model.user_embeddings.astype(np.float32)
        self.user_biases_ = model.user_biases.astype(np.float32)
        self._representations()

    def _representations(self) -> None:
        """Item / user vectors and biases as feature-weighted sums of the embeddings."""
        self.item_vectors_ = np.asarray(self.item_features_ @ self.item_embeddings_, np.float32)
        self.item_bias_ = np.asarray(self.item_features_ @ self.item_biases_, np.float32)
        self.user_vectors_ = np.asarray(self.user_features_ @ self.user_embeddings_, np.float32)
        self.user_bias_ = np.asarray(self.user_features_ @ self.user_biases_, np.float32)

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return (
            self.user_vectors_[user_idx] @ self.item_vectors_.T
            + self.user_bias_[user_idx, None]
            + self.item_bias_[None, :]
        )

    def fold_in(self, ratings: sp.csr_matrix) -> np.ndarray:
        """New users' vectors in the item-representation space (no retraining)."""
        self._check_fitted()
        rows = self._validate_ratings(ratings)
        cfg = self.config
        gram = cached_item_gram(self, self.item_vectors_, self.item_vectors_, self.item_bias_)
        return ranking_fold_in(
            confidences(self.preference.apply(rows), cfg.fold_in_alpha),
            self.item_vectors_,
            self.item_bias_,
            cfg.fold_in_regularization,
            gram=gram,
        )

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        return self.fold_in(ratings) @ self.item_vectors_.T + self.item_bias_[None, :]

    def _item_vectors(self) -> np.ndarray:
        return self.item_vectors_

    def _get_state(self) -> dict[str, np.ndarray]:
        return {
            "item_embeddings": self.item_embeddings_,
            "item_biases": self.item_biases_,
            "user_embeddings": self.user_embeddings_,
            "user_biases": self.user_biases_,
            **self._preference_state(),
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_embeddings_ = state["item_embeddings"]
        self.item_biases_ = state["item_biases"]
        self.user_embeddings_ = state["user_embeddings"]
        self.user_biases_ = state["user_biases"]
        self._set_preference_state(state)

    def _save_extra(self, path: Path) -> None:
        _save_csr(path / "item_features.npz", self.item_features_)
        _save_csr(path / "user_features.npz", self.user_features_)

    def _load_extra(self, path: Path) -> None:
        from reelrank.errors import ArtifactError

        try:
            self.item_features_ = _load_csr(path / "item_features.npz")
            self.user_features_ = _load_csr(path / "user_features.npz")
        except FileNotFoundError as e:
            raise ArtifactError(f"{path}: missing file {Path(e.filename).name}") from None
        self._representations()
