"""FAISS nearest-neighbour recommender (``faiss-knn``): user vector against item vectors.

The reference design built a FAISS index over item vectors and queried it with a user
vector, but looked users up by movie index; here user and item indices are kept apart:
the query for user ``u`` is built only from the items in row ``u`` of the training matrix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.models._linalg import row_normalise
from reelrank.models.base import ModelConfig, Recommender, register
from reelrank.models.content import profile_weights

logger = logging.getLogger(__name__)

__all__ = ["FaissKNN"]


@register("faiss-knn")
class FaissKNN(Recommender):
    """Recommend the items nearest to a user's taste vector in a FAISS inner-product index.

    Item vectors are either ALS item factors trained internally (``source="als"``) or a
    content block of :class:`~reelrank.features.ItemFeatures` (``source="content"``, e.g. the
    sentence embeddings), L2-normalised and stored in a ``faiss.IndexFlatIP`` (exact), or an
    HNSW index when the catalogue has at least ``hnsw_min_items`` items. A user's vector is
    the L2-normalised weighted mean of the normalised vectors of the items they rated, so
    scores are cosines. :meth:`recommend` asks the index for ``n`` plus the number of seen
    items and drops the seen ones, so results equal brute force for the flat index.
    """

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`FaissKNN`.

        Attributes
        ----------
        source
            ``"als"`` (collaborative item factors) or ``"content"`` (a feature block).
        kind
            Feature block for ``source="content"`` (``embedding``, ``tfidf``, ``genome``...).
        weighting
            User-vector weights: ``"binary"``, ``"rating"`` or ``"centered"``.
        factors, regularization, alpha, iterations, random_state
            ALS settings for ``source="als"``.
        hnsw_min_items
            Catalogue size from which an approximate HNSW index replaces the flat one.
        hnsw_m, ef_search
            HNSW graph degree and search breadth.
        """

        source: str = "als"
        kind: str = "embedding"
        weighting: str = "binary"
        factors: int = 32
        regularization: float = 10.0
        alpha: float = 1.0
        iterations: int = 15
        random_state: int = 42
        hnsw_min_items: int = 200_000
        hnsw_m: int = 32
        ef_search: int = 128

        def validate(self) -> None:
            """Check the values."""
            if self.source not in ("als", "content"):
                raise ValueError("source must be 'als' or 'content'")
            if self.weighting not in ("binary", "rating", "centered"):
                raise ValueError("weighting must be 'binary', 'rating' or 'centered'")
            if min(self.factors, self.iterations, self.hnsw_m, self.ef_search) < 1:
                raise ValueError("factors, iterations, hnsw_m and ef_search must be >= 1")
            if self.hnsw_min_items < 1:
                raise ValueError("hnsw_min_items must be >= 1")

    config: Config

    def feature_blocks(self) -> set[str]:
        """The content block needed when ``source="content"`` uses a dense block."""
        cfg = self.config
        if cfg.source == "content" and cfg.kind in ("embedding", "genome"):
            return {cfg.kind}
        return set()

    def _fit(self, train: Dataset, features: Any | None) -> None:
        cfg = self.config
        if cfg.source == "als":
            from reelrank.models.als import ALS

            als = ALS(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                iterations=cfg.iterations,
                random_state=cfg.random_state,
            ).fit(train)
            vectors = als.item_factors_
        else:
            if features is None:
                raise ConfigError("faiss-knn: source='content' needs item features")
            try:
                vectors = features.content_matrix(cfg.kind)
            except ValueError as e:
                raise ConfigError(f"faiss-knn: {e}") from None
            if sp.issparse(vectors):
                vectors = vectors.toarray()
        self.item_vectors_ = np.ascontiguousarray(row_normalise(np.asarray(vectors)), np.float32)
        self.ratings_ = sp.csr_matrix(train.interactions, dtype=np.float32)
        self._build_index()

    def _build_index(self) -> None:
        import faiss

        cfg = self.config
        n, d = self.item_vectors_.shape
        if n >= cfg.hnsw_min_items:
            index = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = cfg.ef_search
        else:
            index = faiss.IndexFlatIP(d)
        index.add(self.item_vectors_)
        self.index_ = index

    def user_vectors(self, ratings: sp.csr_matrix) -> np.ndarray:
        """L2-normalised weighted means of the rated items' vectors (one row per ratings row)."""
        w = profile_weights(ratings, self.config.weighting)
        return np.ascontiguousarray(row_normalise(np.asarray(w @ self.item_vectors_)), np.float32)

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return self.user_vectors(self.ratings_[user_idx]) @ self.item_vectors_.T

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        return self.user_vectors(ratings) @ self.item_vectors_.T

    def fold_in(self, ratings: sp.csr_matrix) -> np.ndarray:
        """New users' taste vectors (no retraining)."""
        self._check_fitted()
        return self.user_vectors(self._validate_ratings(ratings))

    def _item_vectors(self) -> np.ndarray:
        return self.item_vectors_

    def _search(
        self, queries: np.ndarray, seen: sp.csr_matrix | None, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` unseen items per query through the index."""
        assert self.n_items_ is not None
        n_seen = np.diff(seen.indptr) if seen is not None else np.zeros(len(queries), np.int64)
        out_i = np.full((len(queries), n), -1, dtype=np.int64)
        out_s = np.full((len(queries), n), -np.inf, dtype=np.float32)
        for start in range(0, len(queries), self.batch_size):
            stop = min(len(queries), start + self.batch_size)
            k = int(min(self.n_items_, n + (n_seen[start:stop].max() if stop > start else 0)))
            scores, items = self.index_.search(queries[start:stop], k)
            if seen is not None:
                # vectorised membership test: look each returned (row, item) up in the CSR
                sub = seen[start:stop]
                rows = np.repeat(np.arange(stop - start), items.shape[1])
                hit = np.asarray(sub[rows, np.clip(items, 0, None).ravel()]).reshape(items.shape)
                items = np.where((hit != 0) | (items < 0), -1, items)
            valid = items >= 0
            # stable: keep the index's order, move dropped entries to the end
            order = np.argsort(~valid, axis=1, kind="stable")[:, :n]
            items = np.take_along_axis(items, order, axis=1)
            scores = np.take_along_axis(scores, order, axis=1)
            ok = items >= 0
            w = items.shape[1]
            out_i[start:stop, :w] = np.where(ok, items, -1)
            out_s[start:stop, :w] = np.where(ok, scores, -np.inf)
        return out_i, out_s

    def recommend(
        self,
        user_idx: np.ndarray | int,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items via the FAISS index (brute force when ``candidates`` are given)."""
        if candidates is not None:
            return super().recommend(user_idx, n, exclude_seen=exclude_seen, candidates=candidates)
        self._check_fitted()
        if n < 1:
            raise ValueError("n must be >= 1")
        users = self._validate_users(user_idx)
        assert self.seen_ is not None
        queries = self.user_vectors(self.ratings_[users])
        return self._search(queries, self.seen_[users] if exclude_seen else None, n)

    def recommend_for_ratings(
        self,
        ratings: sp.csr_matrix,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for new users via the index (brute force with ``candidates``)."""
        if candidates is not None:
            return super().recommend_for_ratings(
                ratings, n, exclude_seen=exclude_seen, candidates=candidates
            )
        self._check_fitted()
        if n < 1:
            raise ValueError("n must be >= 1")
        rows = self._validate_ratings(ratings)
        seen = (rows != 0).astype(np.float32).tocsr() if exclude_seen else None
        return self._search(self.user_vectors(rows), seen, n)

    def _get_state(self) -> dict[str, np.ndarray]:
        return {
            "item_vectors": self.item_vectors_,
            "r_data": self.ratings_.data,
            "r_indices": self.ratings_.indices,
            "r_indptr": self.ratings_.indptr,
            "r_shape": np.asarray(self.ratings_.shape),
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_vectors_ = np.ascontiguousarray(state["item_vectors"], dtype=np.float32)
        self.ratings_ = sp.csr_matrix(
            (state["r_data"], state["r_indices"], state["r_indptr"]),
            shape=tuple(int(x) for x in state["r_shape"]),
        )
        self._build_index()
