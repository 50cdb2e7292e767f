"""Row-wise top-k of dense score blocks (``argpartition`` with a blocked pre-selection)."""

from __future__ import annotations

import numpy as np

__all__ = ["topk"]

#: columns per block in the blocked top-k pre-selection
_TOPK_BLOCK = 64


def topk(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-``n`` of a dense score block using ``argpartition``.

    For wide blocks a cheap pre-selection runs first: the columns are cut into blocks of
    64, and only the blocks whose maximum reaches the ``n``-th largest block maximum can
    hold a top-``n`` entry (the ``n`` largest block maxima are ``n`` distinct entries, so
    that threshold is at most the ``n``-th largest score). The exact selection then runs on
    those few candidates, several times faster than partitioning whole rows. Both paths
    give the same, exact answer.

    Parameters
    ----------
    scores
        (U, m) scores; ``-inf`` marks excluded entries.
    n
        How many to keep per row (clipped to ``m``).

    Returns
    -------
    (indices, values)
        Both (U, n), sorted by decreasing score; ties broken by lower column index (also
        at the cut-off). Excluded entries that had to be returned (fewer than ``n`` valid)
        get index -1.
    """
    scores = np.asarray(scores)
    n_rows, m = scores.shape
    n = min(n, m)
    if n <= 0 or n_rows == 0:
        return np.empty((n_rows, max(n, 0)), np.int64), np.empty((n_rows, max(n, 0)), np.float32)
    cand = _block_candidates(scores, n)
    if cand is not None:
        sub = np.take_along_axis(scores, cand, axis=1)
        # candidates are in increasing column order: a stable sort breaks ties by column
        order = np.argsort(-sub, axis=1, kind="stable")[:, :n]
        idx = np.take_along_axis(cand, order, axis=1).astype(np.int64)
        vals = np.take_along_axis(sub, order, axis=1).astype(np.float32)
    else:
        idx, vals = _topk_partition(scores, n)
    idx[~np.isfinite(vals) & (vals < 0)] = -1
    return idx, vals


def _block_candidates(scores: np.ndarray, n: int) -> np.ndarray | None:
    """Sorted candidate columns per row that surely contain the top ``n`` (None: not worth it).

    The ``n`` largest maxima of the full blocks are ``n`` distinct entries, so the ``n``-th
    of them is at most the ``n``-th largest score: every entry that can make the top ``n``
    (ties included) lies in a block whose maximum reaches it, or in the short tail.
    """
    n_rows, m = scores.shape
    b = _TOPK_BLOCK
    n_blocks = m // b
    if n_blocks < 4 * n or scores.dtype.kind != "f":
        return None
    full = n_blocks * b
    block_max = scores[:, :full].reshape(n_rows, n_blocks, b).max(axis=2)
    kth = -np.partition(-block_max, n - 1, axis=1)[:, n - 1 : n]
    chosen = block_max >= kth
    width = int(chosen.sum(axis=1).max())
    if width * b * 4 > m:
        return None  # too many ties among block maxima: partition whole rows instead
    # the first `width` blocks by (chosen first, then block order), back in block order;
    # rows with fewer chosen blocks just get a few extra (harmless) candidates
    blocks = np.sort(np.argsort(~chosen, axis=1, kind="stable")[:, :width], axis=1)
    cols = (blocks[:, :, None] * b + np.arange(b)[None, None, :]).reshape(n_rows, -1)
    if full < m:  # the tail columns come last, so the columns stay increasing
        tail = np.broadcast_to(np.arange(full, m), (n_rows, m - full))
        cols = np.concatenate([cols, tail], axis=1)
    return cols


def _topk_partition(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``n`` by ``argpartition`` on whole rows, ties at the cut-off by column."""
    n_rows, m = scores.shape
    if n < m:
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    else:
        part = np.broadcast_to(np.arange(m), (n_rows, m)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    if n < m:
        # argpartition picks arbitrary entries among ties at the cut-off: make them the
        # lowest columns (rows where ties spill over the cut-off are rare)
        cut = vals.min(axis=1)
        spill = np.flatnonzero(
            np.isfinite(cut)
            & ((scores == cut[:, None]).sum(axis=1) > (vals == cut[:, None]).sum(axis=1))
        )
        for r in spill:
            above = part[r][vals[r] > cut[r]]
            ties = np.flatnonzero(scores[r] == cut[r])[: n - len(above)]
            part[r] = np.concatenate([above, ties])
            vals[r] = scores[r, part[r]]
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    vals = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    return idx, vals
