"""Fast top-k for factor models: exact inner product or a faiss HNSW index.

Factor models (``als``, ``bpr``, ``mf``...) score ``user_vector @ item_factors.T``. For a
small catalogue an exact product plus ``argpartition`` takes well under a millisecond; above
``threshold`` items a faiss HNSW index (inner-product metric) answers in sub-millisecond time
with a recall@10 close to 1 (measured by ``benchmarks/serve.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from reelrank.models.base import Recommender, topk

logger = logging.getLogger(__name__)

__all__ = ["FactorIndex", "factor_arrays", "recall_at_k"]


def factor_arrays(model: Recommender) -> tuple[np.ndarray, np.ndarray] | None:
    """``(user_factors, item_factors)`` when the model scores by their inner product.

    Checked on a few (user, item) pairs against :meth:`Recommender.score`, so a model that
    merely has such attributes but scores differently is not served through the index.
    """
    users = getattr(model, "user_factors_", None)
    items = getattr(model, "item_factors_", None)
    if not isinstance(users, np.ndarray) or not isinstance(items, np.ndarray):
        return None
    if users.ndim != 2 or items.ndim != 2 or users.shape[1] != items.shape[1] or not len(users):
        return None
    rng = np.random.default_rng(0)
    u = rng.integers(0, users.shape[0], 8)
    i = rng.integers(0, items.shape[0], 8)
    try:
        expected = model.score(u, i)
    except Exception:  # any failure means "not a plain factor model"
        return None
    dots = np.einsum("ij,ij->i", users[u], items[i])
    if not np.allclose(expected, dots, rtol=1e-3, atol=1e-4):
        return None
    return users, items


@dataclass
class FactorIndex:
    """Top-k by inner product over item factors, exact or through faiss HNSW.

    Parameters
    ----------
    item_factors
        ``(n_items, d)`` array.
    threshold
        Use HNSW when the catalogue has at least this many items.
    m, ef_construction, ef_search
        HNSW parameters (graph degree, build and search breadth).
    """

    item_factors: np.ndarray
    threshold: int = 50_000
    m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    threads: int = 1

    def __post_init__(self) -> None:
        self.item_factors = np.ascontiguousarray(self.item_factors, dtype=np.float32)
        self._index = None
        if len(self.item_factors) >= self.threshold:
            self._build()

    @property
    def uses_ann(self) -> bool:
        """Whether queries go through the HNSW index."""
        return self._index is not None

    def _build(self) -> None:
        import faiss

        d = self.item_factors.shape[1]
        index = faiss.IndexHNSWFlat(d, self.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.add(self.item_factors)
        index.hnsw.efSearch = self.ef_search
        self._index = index
        logger.info("built HNSW index over %d items (d=%d)", len(self.item_factors), d)

    def exact(
        self, user_vectors: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``n`` (rows of ``exclude`` mark items to drop)."""
        scores = np.asarray(user_vectors, np.float32) @ self.item_factors.T
        if exclude is not None:
            rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
            scores[rows, exclude.indices] = -np.inf
        return topk(scores, n)

    def search(
        self, user_vectors: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items per user vector, best first; HNSW when built, else exact.

        Excluded items are dropped after the ANN search, which asks for ``n`` plus the
        number of excluded items; a row left short falls back to the exact search.
        """
        q = np.ascontiguousarray(np.atleast_2d(user_vectors), dtype=np.float32)
        if self._index is None:
            return self.exact(q, n, exclude)
        n_items = len(self.item_factors)
        n_excl = np.zeros(len(q), np.int64) if exclude is None else np.diff(exclude.indptr)
        k = int(min(n_items, n + int(n_excl.max(initial=0))))
        self._index.hnsw.efSearch = max(self.ef_search, k)
        import faiss

        if faiss.omp_get_max_threads() != self.threads:
            faiss.omp_set_num_threads(self.threads)
        dist, ids = self._index.search(q, k)
        out_i = np.full((len(q), n), -1, np.int64)
        out_s = np.full((len(q), n), -np.inf, np.float32)
        for r in range(len(q)):
            cand, sc = ids[r], dist[r]
            keep = cand >= 0
            if exclude is not None and n_excl[r]:
                seen = exclude.indices[exclude.indptr[r] : exclude.indptr[r + 1]]
                keep &= ~np.isin(cand, seen)
            cand, sc = cand[keep][:n], sc[keep][:n]
            if len(cand) < min(n, n_items - n_excl[r]):
                sub = None if exclude is None else exclude[r]
                ei, es = self.exact(q[r : r + 1], n, sub)
                out_i[r], out_s[r] = ei[0], es[0]
                continue
            out_i[r, : len(cand)] = cand
            out_s[r, : len(cand)] = sc
        return out_i, out_s


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k found by the approximate top-k (rows are queries)."""
    hits = [
        len(np.intersect1d(a[a >= 0], e[e >= 0])) / max(1, (e >= 0).sum())
        for a, e in zip(approx, exact, strict=True)
    ]
    return float(np.mean(hits)) if hits else 0.0
