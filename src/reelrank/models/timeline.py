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
    buffer: list[tuple[np.ndarray, np.ndarray]] = []
    buffered = 0

    def flush() -> None:
        nonlocal upper, buffered
        if buffer:
            lo = np.concatenate([b[0] for b in buffer])
            hi = np.concatenate([b[1] for b in buffer])
            # duplicates are summed: the count of each pair
            upper = upper + sp.csr_matrix(
                (np.ones(len(lo), np.float32), (lo, hi)), shape=(n_items, n_items)
            )
        buffer.clear()
        buffered = 0

    step = max(1, int(chunk_pairs))
    for d in range(1, min(window, max(n - 1, 0)) + 1):
        for start in range(0, n - d, step):
            stop = min(n - d, start + step)
            same = owner[start:stop] == owner[start + d : stop + d]
            a, b = seq[start:stop][same], seq[start + d : stop + d][same]
            keep = a != b
            a, b = a[keep], b[keep]
            if buffered + len(a) > step:
                flush()
            buffer.append((np.minimum(a, b).astype(np.int32), np.maximum(a, b).astype(np.int32)))
            buffered += len(a)
    flush()
    counts = data.item_counts().astype(np.float64)
    upper.sort_indices()
    rows = np.repeat(np.arange(n_items), np.diff(upper.indptr))
    vals = upper.data.astype(np.float64) / (
        np.sqrt(counts[rows] * counts[upper.indices]) + shrinkage
    )
    upper.data = vals.astype(np.float32)
    full = (upper + upper.T).tocsr()
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


def top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """The ``k`` largest entries of each row of ``m`` (ties: smaller column first).

    Only rows with more than ``k`` entries are touched, each by one ``np.partition``
    (linear in its length), so the cost stays far below a sort of every entry.
    """
    m = sp.csr_matrix(m, copy=True)
    m.sum_duplicates()  # also sorts each row's columns
    if k < 1:
        return sp.csr_matrix(m.shape, dtype=m.dtype)
    keep = np.ones(m.nnz, dtype=bool)
    lengths = np.diff(m.indptr)
    for r in np.flatnonzero(lengths > k):
        a, b = int(m.indptr[r]), int(m.indptr[r + 1])
        d = m.data[a:b]
        kth = np.partition(d, len(d) - k)[len(d) - k]
        mask = d > kth
        ties = np.flatnonzero(d == kth)[: k - int(mask.sum())]
        mask[ties] = True
        keep[a:b] = mask
    rows = np.repeat(np.arange(m.shape[0]), lengths)[keep]
    out = sp.csr_matrix((m.data[keep], (rows, m.indices[keep])), shape=m.shape)
    out.sort_indices()
    return out
