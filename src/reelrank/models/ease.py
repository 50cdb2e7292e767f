"""EASE: embarrassingly shallow autoencoder (Steck 2019), closed form."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.models.base import ModelConfig, Recommender, register

logger = logging.getLogger(__name__)

__all__ = ["EASE", "ease_weights"]


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """EASE item-item weights from a Gram matrix ``G = X^T X``.

    ``P = (G + lam I)^-1``, ``B = I - P / diag(P)`` (column-wise), i.e. ``B_ij = -P_ij / P_jj``
    off the diagonal and ``B_ii = 0``.

    Parameters
    ----------
    gram
        (m, m) ``X^T X`` of the binary users x items matrix.
    lam
        L2 regularisation ``lambda``.

    Returns
    -------
    numpy.ndarray
        (m, m) ``float32`` weights with a zero diagonal.
    """
    from scipy.linalg import lapack

    g = np.array(gram, dtype=np.float32, copy=True, order="F")
    g[np.diag_indices_from(g)] += np.float32(lam)
    # (G + lam I) is symmetric positive definite: invert through its Cholesky factor
    # (potrf + potri), several times faster than a general LU inverse
    chol, info = lapack.spotrf(g, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky factorisation failed (info={info})")
    p, info = lapack.spotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (info={info})")
    p = np.triu(p) + np.triu(p, 1).T
    b = p / (-np.diag(p))[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


@register("ease")
class EASE(Recommender):
    """EASE^R: ``B = I - P / diag(P)`` with ``P = (X^T X + lambda I)^-1`` on the binary matrix.

    Only items with at least one training interaction enter the dense solve (the others
    would have zero weights anyway), which keeps it small; scores are mapped back to the
    whole catalogue (unrated items score 0). Above ``max_items`` active items the model
    refuses with a :class:`~reelrank.errors.ConfigError` that says how much memory the dense
    solve would take and suggests ``itemknn`` or ``als``. Fold-in is ``ratings row @ B``.
    """

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`EASE`.

        Attributes
        ----------
        lam
            L2 regularisation lambda (Steck used 200-1000 on MovieLens).
        max_items
            Largest number of active items for the dense item x item solve.
        """

        lam: float = 500.0
        max_items: int = 30_000

        def validate(self) -> None:
            """Check the values."""
            if self.lam <= 0:
                raise ValueError("lam must be > 0")
            if self.max_items < 1:
                raise ValueError("max_items must be >= 1")

    config: Config

    def _fit(self, train: Dataset, features: Any | None) -> None:
        binary = train.binary()
        active = np.flatnonzero(train.item_counts() > 0)
        m = len(active)
        if m > self.config.max_items:
            gib = 3 * m * m * 4 / 2**30
            raise ConfigError(
                f"ease: the catalogue has {m:,} rated items, above max_items="
                f"{self.config.max_items:,}; the dense item x item solve would need about "
                f"{gib:.1f} GiB of memory. Use itemknn or als for catalogues this large "
                "(or raise max_items if you have the memory)."
            )
        x = sp.csr_matrix(binary[:, active], dtype=np.float32)
        gram = (x.T @ x).toarray()
        with threadpool_limits(1, "blas"):
            self.weights_ = ease_weights(gram, self.config.lam)
        self.active_items_ = active.astype(np.int64)
        logger.debug("ease: solved for %d active items", m)

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        assert self.n_items_ is not None
        sub = sp.csr_matrix(rows[:, self.active_items_], dtype=np.float32)
        out = np.zeros((rows.shape[0], self.n_items_), dtype=np.float32)
        out[:, self.active_items_] = sub @ self.weights_
        return out

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        assert self.seen_ is not None
        return self._score_rows(self.seen_[user_idx])

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        rows = ratings.copy()
        rows.data = np.ones_like(rows.data)
        return self._score_rows(rows)

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, "active_items": self.active_items_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.weights_ = state["weights"]
        self.active_items_ = state["active_items"]
