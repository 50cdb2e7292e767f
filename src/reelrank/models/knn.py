"""Item-item nearest neighbours (``itemknn``): cosine with shrinkage, top-k kept sparse."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from reelrank.data.dataset import Dataset
from reelrank.models._preference import PreferenceConfig, PreferenceRecommender
from reelrank.models.base import _save_csr, register

logger = logging.getLogger(__name__)

__all__ = ["ItemKNN", "item_cosine_topk"]


def item_cosine_topk(
    user_items: sp.csr_matrix,
    k: int,
    shrinkage: float = 0.0,
    batch_size: int = 1024,
    progress: bool = False,
) -> sp.csr_matrix:
    """Sparse item x item cosine similarity with shrinkage, keeping the top ``k`` per row.

    ``s(i, j) = (x_i . x_j) / (||x_i|| ||x_j|| + shrinkage)`` over the item columns of
    ``user_items``; the diagonal is zero. Computed in item batches (a sparse product per
    batch then ``argpartition``), so memory stays O(batch x items + items x k).

    Parameters
    ----------
    user_items
        (n_users, n_items) CSR (binary or weighted).
    k
        Neighbours kept per item.
    shrinkage
        Added to the denominator; damps similarities supported by few co-raters.
    batch_size
        Items per batch.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    scipy.sparse.csr_matrix
        (n_items, n_items) ``float32``; row ``i`` holds the neighbours of item ``i``.
    """
    x = sp.csc_matrix(user_items, dtype=np.float32)
    n_items = x.shape[1]
    xt = sp.csr_matrix(x.T)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel()).astype(np.float32)
    k = max(0, min(k, n_items - 1))
    rows, cols, vals = [], [], []
    starts = range(0, n_items, batch_size)
    for start in tqdm(starts, desc="itemknn", disable=not progress, leave=False):
        stop = min(n_items, start + batch_size)
        block = (xt[start:stop] @ x).toarray()
        denom = norms[start:stop, None] * norms[None, :] + shrinkage
        np.divide(block, denom, out=block, where=denom > 0)
        block[denom <= 0] = 0.0
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if k == 0:
            continue
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        v = np.take_along_axis(block, part, axis=1)
        keep = v > 0
        rows.append(np.repeat(np.arange(start, stop), k)[keep.ravel()])
        cols.append(part[keep])
        vals.append(v[keep])
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    sim = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    sim.sort_indices()
    return sim


@register("itemknn")
class ItemKNN(PreferenceRecommender):
    """Item-based collaborative filtering (Sarwar et al. 2001; implicit's ``ItemItemRecommender``).

    The ratings first become signed preference weights (:mod:`reelrank.models._preference`;
    ``feedback="binary"``: all 1). Similarities are cosine over that users x items matrix
    with shrinkage (positive similarities only), each item keeping its ``k`` nearest
    neighbours; a user's score for item ``j`` is ``sum_i x_ui s(i, j)`` (``user row @ S``)
    over the same weights: liked items pull their neighbours up, disliked ones push them
    down. Fold-in is the same product on the new row, through the same transform.
    """

    @dataclass(frozen=True)
    class Config(PreferenceConfig):
        """Hyper-parameters of :class:`ItemKNN`.

        Defaults and their sources. implicit 0.7.3's ``ItemItemRecommender`` /
        ``CosineRecommender`` and cornac 3.0.1's ``ItemKNN`` keep K=20 neighbours, without
        shrinkage. On the validation part of the bundled ``temporal`` protocol (graded
        feedback) NDCG@10 is 0.0996 with k 20, 0.0967 with 50, 0.0954 with reelrank's 100,
        0.0981 with 200 (all within one standard error, about 0.006), and 0.0935 with k 100
        and no shrinkage: the shrinkage of 10 helps, and the differences between the k
        values are noise, so k stays at 100 (the tuner searches it).

        Attributes
        ----------
        k
            Neighbours kept per item.
        shrinkage
            Cosine shrinkage term.
        use_ratings
            Weight the user row by the raw ratings instead of the preference weights
            (scoring only).
        feedback, like_threshold, dislikes, rating_gain
            How ratings become preference (:class:`~._preference.PreferenceConfig`).
        """

        k: int = 100
        shrinkage: float = 10.0
        use_ratings: bool = False

        def validate(self) -> None:
            """Check the values."""
            super().validate()
            if self.k < 1:
                raise ValueError("k must be >= 1")
            if self.shrinkage < 0:
                raise ValueError("shrinkage must be >= 0")

    config: Config

    def _fit(self, train: Dataset, features: Any | None) -> None:
        binary = train.binary()
        weights = self._fit_preference(train).apply(train.interactions)
        # a progress bar only where the similarity build takes minutes
        self.similarity_ = item_cosine_topk(
            weights,
            self.config.k,
            self.config.shrinkage,
            progress=train.n_items > 50_000,
        )
        self.user_rows_ = self._user_rows(train.interactions)
        self.item_users_ = sp.csr_matrix(binary.T, dtype=np.float32)

    def _user_rows(self, ratings: sp.csr_matrix) -> sp.csr_matrix:
        """Ratings rows as the scoring weights: raw ratings or preference weights."""
        if self.config.use_ratings:
            return sp.csr_matrix(ratings, dtype=np.float32, copy=True)
        return self.preference.apply(ratings)

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray((rows @ self.similarity_).toarray(), dtype=np.float32)

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return self._score_rows(self.user_rows_[user_idx])

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        return self._score_rows(self._user_rows(ratings))

    def _item_vectors(self) -> sp.csr_matrix:
        return self.item_users_

    def _get_state(self) -> dict[str, np.ndarray]:
        return self._preference_state()

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self._set_preference_state(state)

    def _save_extra(self, path: Any) -> None:
        _save_csr(path / "similarity.npz", self.similarity_)
        _save_csr(path / "user_rows.npz", self.user_rows_)

    def _load_extra(self, path: Any) -> None:
        from reelrank.errors import ArtifactError
        from reelrank.models.base import _load_csr

        try:
            self.similarity_ = _load_csr(path / "similarity.npz")
            self.user_rows_ = _load_csr(path / "user_rows.npz")
        except FileNotFoundError as e:
            raise ArtifactError(f"{path}: missing file {e.filename}") from None
        assert self.seen_ is not None
        self.item_users_ = sp.csr_matrix(self.seen_.T, dtype=np.float32)
