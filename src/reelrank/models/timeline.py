"""Timeline co-occurrence: movies that people rate close to each other in time.

People rate in sittings that the site shapes (a page of suggestions, a list, a genre
browse), so the movies a user rates next to each other in time are related in a way that
plain co-occurrence over the whole profile (item-kNN, the ``seq_sim`` pair features) does
not see. :func:`timeline_cooccurrence` counts, for every pair of movies, the users who rated
them within ``window`` positions of each other in their own rating-time order.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from reelrank.data.dataset import Dataset

logger = logging.getLogger(__name__)

__all__ = ["timeline_cooccurrence", "top_per_row"]


def timeline_cooccurrence(
    data: Dataset,
    window: int = 10,
    *,
    shrinkage: float = 10.0,
    max_entries: int = 10_000_000,
    chunk_pairs: int = 20_000_000,
) -> sp.csr_matrix:
    """Item x item co-occurrence within ``window`` positions of each user's rating timeline.

    ``T[i, j] = c(i, j) / (sqrt(n_i n_j) + shrinkage)`` where ``c(i, j)`` is the number of
    users who rated ``i`` and ``j`` at most ``window`` positions apart in their own order
    by timestamp (ties broken by movie index) and ``n_i`` is the number of ratings of ``i``.

    Each pair is counted once (smaller movie first) in chunks of at most ``chunk_pairs``
    pairs, so memory stays bounded whatever the data size. When the symmetric matrix has
    more than ``max_entries`` entries, each movie keeps only its ``max_entries // n_items``
    strongest neighbours (row ``i`` then holds the neighbours of ``i``).

    Parameters
    ----------
    data
        The fit data (only it is counted).
    window
        Positions apart within which two ratings co-occur (>= 1).
    shrinkage
        Added to the denominator; damps pairs of rarely rated movies.
    max_entries
        Cap on the stored entries (see above).
    chunk_pairs
        Pairs counted at a time.

    Returns
    -------
    scipy.sparse.csr_matrix
        (n_items, n_items) ``float32`` with a zero diagonal.
    """
    if window < 1:
        raise ValueError("window must be >= 1")
    n_items = data.n_items
    r = data.interactions.tocsr()
    users = np.repeat(np.arange(r.shape[0], dtype=np.int64), np.diff(r.indptr))
    items = r.indices.astype(np.int64)
    # each user's movies in rating-time order (ties by movie index: a fixed order)
    order = np.lexsort((items, np.asarray(data.timestamps), users))
    seq, owner = items[order], users[order]
    n = len(seq)
    # counts in float32: exact up to 2**24 users per pair
    upper = sp.csr_matrix((n_items, n_items), dtype=np.float32)
    step = max(1, int(chunk_pairs))
    for d in range(1, min(window, max(n - 1, 0)) + 1):
        for start in range(0, n - d, step):
            stop = min(n - d, start + step)
            same = owner[start:stop] == owner[start + d : stop + d]
            a, b = seq[start:stop][same], seq[start + d : stop + d][same]
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            keep = lo != hi
            upper = upper + sp.csr_matrix(
                (np.ones(int(keep.sum()), np.float32), (lo[keep], hi[keep])),
                shape=(n_items, n_items),
            )
    upper = upper.tocoo()
    counts = data.item_counts().astype(np.float64)
    vals = upper.data.astype(np.float64) / (
        np.sqrt(counts[upper.row] * counts[upper.col]) + shrinkage
    )
    full = sp.csr_matrix(
        (
            np.concatenate([vals, vals]).astype(np.float32),
            (np.concatenate([upper.row, upper.col]), np.concatenate([upper.col, upper.row])),
        ),
        shape=(n_items, n_items),
    )
    full.sort_indices()
    if full.nnz > max_entries and n_items:
        k = max(1, max_entries // n_items)
        logger.info(
            "timeline co-occurrence has %d entries > %d: keeping %d neighbours per movie",
            full.nnz,
            max_entries,
            k,
        )
        full = top_per_row(full, k)
    return full


def top_per_row(m: sp.csr_matrix, k: int, *, block_rows: int = 4096) -> sp.csr_matrix:
    """The ``k`` largest entries of each row of ``m`` (ties: smaller column first).

    Sorted one block of rows at a time, so the extra memory is that of one block.
    """
    m = sp.csr_matrix(m)
    n_rows = m.shape[0]
    parts: list[sp.csr_matrix] = []
    for start in range(0, n_rows, block_rows):
        sub = m[start : start + block_rows].tocsr()
        sub.sort_indices()
        lengths = np.diff(sub.indptr)
        rows = np.repeat(np.arange(sub.shape[0]), lengths)
        order = np.lexsort((sub.indices, -sub.data, rows))
        pos = np.arange(len(order)) - sub.indptr[rows[order]]
        kept = np.sort(order[pos < k])
        parts.append(
            sp.csr_matrix((sub.data[kept], (rows[kept], sub.indices[kept])), shape=sub.shape)
        )
    if not parts:
        return m.copy()
    out = sp.vstack(parts, format="csr")
    out.sort_indices()
    return out.astype(m.dtype)
