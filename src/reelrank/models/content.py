"""Content-based recommender (``content``): a user profile over item content vectors."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.models._linalg import row_normalise
from reelrank.models.base import ModelConfig, Recommender, register

logger = logging.getLogger(__name__)

__all__ = ["ContentModel", "profile_weights"]


def profile_weights(ratings: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """Per-entry weights of a user's rated items for building a content profile.

    Parameters
    ----------
    ratings
        (n_users, n_items) CSR of ratings.
    weighting
        ``"binary"`` (every rated item 1), ``"rating"`` (the rating) or ``"centered"``
        (rating minus the user's mean rating, so disliked items push the profile away;
        users whose ratings are all equal fall back to ``binary``).

    Returns
    -------
    scipy.sparse.csr_matrix
        Same sparsity pattern as ``ratings`` (explicit zeros may remain), ``float32``.
    """
    w = sp.csr_matrix(ratings, dtype=np.float32, copy=True)
    if weighting == "binary":
        w.data = np.ones_like(w.data)
    elif weighting == "centered":
        counts = np.diff(w.indptr)
        sums = np.add.reduceat(w.data, w.indptr[:-1][counts > 0]) if w.nnz else np.zeros(0)
        means = np.zeros(w.shape[0], dtype=np.float32)
        means[counts > 0] = sums / counts[counts > 0]
        row_of = np.repeat(np.arange(w.shape[0]), counts)
        centred = w.data - means[row_of]
        flat = np.zeros(w.shape[0], dtype=bool)
        if w.nnz:
            abs_sum = np.zeros(w.shape[0], dtype=np.float32)
            np.add.at(abs_sum, row_of, np.abs(centred))
            flat = abs_sum[row_of] < 1e-6
        w.data = np.where(flat, 1.0, centred).astype(np.float32)
    elif weighting != "rating":  # pragma: no cover - validated in the config
        raise ValueError(f"unknown weighting {weighting!r}")
    return w


@register("content")
class ContentModel(Recommender):
    """Content-based filtering: cosine between a user profile and every item's content vector.

    Item vectors come from :meth:`ItemFeatures.content_matrix` (``kind``: ``tfidf``,
    ``tokens``, ``embedding`` or ``genome``), L2-normalised. A user's profile is the weighted
    mean of the vectors of the items they rated (weights per :func:`profile_weights`); the
    score of an item is the cosine between profile and item. New users are folded in by the
    same formula; :meth:`similar_items` uses the content vectors, so it works for items nobody
    has rated (cold start).
    """

    requires_features = True

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`ContentModel`.

        Attributes
        ----------
        kind
            Which item vectors: ``"tfidf"``, ``"tokens"``, ``"embedding"`` or ``"genome"``.
        weighting
            ``"centered"``, ``"rating"`` or ``"binary"`` (see :func:`profile_weights`).
        """

        kind: str = "tfidf"
        weighting: str = "centered"

        def validate(self) -> None:
            """Check the values."""
            if not self.kind:
                raise ValueError("kind must name a feature block")
            if self.weighting not in ("centered", "rating", "binary"):
                raise ValueError("weighting must be 'centered', 'rating' or 'binary'")

    config: Config

    def feature_blocks(self) -> set[str]:
        """``{"embedding"}`` / ``{"genome"}`` when the configured kind needs that block."""
        return {self.config.kind} if self.config.kind in ("embedding", "genome") else set()

    def _fit(self, train: Dataset, features: Any | None) -> None:
        from reelrank.errors import ConfigError

        try:
            vectors = features.content_matrix(self.config.kind)
        except ValueError as e:
            raise ConfigError(f"content: {e}") from None
        if vectors.shape[0] != train.n_items:
            raise ConfigError(
                f"content: features have {vectors.shape[0]} items, the dataset {train.n_items}"
            )
        self.item_vectors_ = row_normalise(vectors)
        self.ratings_ = sp.csr_matrix(train.interactions, dtype=np.float32)

    def user_profiles(self, ratings: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        """L2-normalised profiles (one row per ratings row) in the item-vector space."""
        w = profile_weights(ratings, self.config.weighting)
        return row_normalise(w @ self.item_vectors_)

    def _score_rows(self, ratings: sp.csr_matrix) -> np.ndarray:
        profiles = self.user_profiles(ratings)
        s = profiles @ self.item_vectors_.T
        s = s.toarray() if sp.issparse(s) else np.asarray(s)
        return s.astype(np.float32)

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return self._score_rows(self.ratings_[user_idx])

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        return self._score_rows(ratings)

    def _item_vectors(self) -> np.ndarray | sp.csr_matrix:
        return self.item_vectors_

    def _get_state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {
            "r_data": self.ratings_.data,
            "r_indices": self.ratings_.indices,
            "r_indptr": self.ratings_.indptr,
            "r_shape": np.asarray(self.ratings_.shape),
        }
        v = self.item_vectors_
        if sp.issparse(v):
            state.update(
                v_data=v.data, v_indices=v.indices, v_indptr=v.indptr, v_shape=np.asarray(v.shape)
            )
        else:
            state["v_dense"] = np.asarray(v)
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.ratings_ = sp.csr_matrix(
            (state["r_data"], state["r_indices"], state["r_indptr"]),
            shape=tuple(int(x) for x in state["r_shape"]),
        )
        if "v_dense" in state:
            self.item_vectors_ = state["v_dense"]
        else:
            self.item_vectors_ = sp.csr_matrix(
                (state["v_data"], state["v_indices"], state["v_indptr"]),
                shape=tuple(int(x) for x in state["v_shape"]),
            )
