"""Small linear-algebra helpers shared by the factor models (fold-in solves, weighting)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "ItemGram",
    "cached_item_gram",
    "implicit_user_solve",
    "ranking_fold_in",
    "row_normalise",
    "weight_matrix",
]


class ItemGram:
    """Catalogue-wide products ``Y^T Y`` and ``Y^T b`` of fixed item vectors (float64).

    Every fold-in solve needs them, and they cost O(n_items f^2); a model computes them once
    per set of item vectors (:func:`cached_item_gram`) instead of once per new user.

    Parameters
    ----------
    source
        The array the products were derived from (identity marks staleness).
    vectors
        (n_items, f) item vectors ``Y``.
    bias
        Optional (n_items,) item biases ``b``.
    """

    def __init__(
        self, source: np.ndarray, vectors: np.ndarray, bias: np.ndarray | None = None
    ) -> None:
        y = np.asarray(vectors, dtype=np.float64)
        self.source = source
        self.yty = y.T @ y
        self.ytb = None if bias is None else y.T @ np.asarray(bias, dtype=np.float64)


def cached_item_gram(
    owner: object, source: np.ndarray, vectors: np.ndarray, bias: np.ndarray | None = None
) -> ItemGram:
    """The :class:`ItemGram` of ``vectors``, cached on ``owner`` while ``source`` is unchanged.

    ``source`` is the model attribute the vectors come from (e.g. ``item_factors_``); a fit
    or load that replaces it invalidates the cache.
    """
    cached = getattr(owner, "_item_gram", None)
    if cached is None or cached.source is not source:
        cached = ItemGram(source, vectors, bias)
        owner._item_gram = cached  # type: ignore[attr-defined]
    return cached


def implicit_user_solve(
    confidence: sp.csr_matrix,
    item_factors: np.ndarray,
    regularization: float,
    gram: np.ndarray | None = None,
) -> np.ndarray:
    """Exact implicit-ALS user factors for given item factors (Hu, Koren & Volinsky 2008).

    For each row ``u`` with confidences ``c_ui`` (preference 1 where ``c_ui > 0``) solves

    ``(Y^T Y + Y^T (C_u - I) Y + reg I) x_u = Y^T C_u p_u``

    which is the closed form implicit's ALS uses for its user half-step (Cholesky path),
    so folding in a training user's row reproduces its trained factors.

    Parameters
    ----------
    confidence
        (n_rows, n_items) CSR of confidences (already scaled by alpha / weighting).
    item_factors
        (n_items, f) item factors ``Y``.
    regularization
        The L2 penalty ``reg``.
    gram
        Precomputed ``Y^T Y`` (computed when None).

    Returns
    -------
    numpy.ndarray
        (n_rows, f) ``float32`` user factors (zero rows for empty input rows).
    """
    y = np.asarray(item_factors)
    f = y.shape[1]
    if gram is None:
        y64 = y.astype(np.float64)
        gram = y64.T @ y64
    base = np.asarray(gram, dtype=np.float64) + regularization * np.eye(f)
    conf = sp.csr_matrix(confidence)
    out = np.zeros((conf.shape[0], f), dtype=np.float32)
    for row in range(conf.shape[0]):
        lo, hi = conf.indptr[row], conf.indptr[row + 1]
        if lo == hi:
            continue
        idx = conf.indices[lo:hi]
        c = conf.data[lo:hi].astype(np.float64)
        yu = y[idx].astype(np.float64)  # only the rated items' rows, not the whole matrix
        a = base + yu.T @ ((np.abs(c) - 1.0)[:, None] * yu)
        b = yu.T @ np.where(c > 0, c, 0.0)
        out[row] = np.linalg.solve(a, b)
    return out


def weight_matrix(matrix: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """Re-weight a users x items matrix: ``"none"``, ``"bm25"`` or ``"tfidf"``.

    Uses :func:`implicit.nearest_neighbours.bm25_weight` / ``tfidf_weight`` with items as
    documents' terms (the weighting is applied to the items x users transpose, as implicit's
    examples do), returning a users x items CSR ``float32``.
    """
    m = sp.csr_matrix(matrix, dtype=np.float32)
    if weighting == "none":
        return m
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    if weighting == "bm25":
        w = bm25_weight(m.T.tocoo(), K1=100, B=0.8)
    elif weighting == "tfidf":
        w = tfidf_weight(m.T.tocoo())
    else:  # pragma: no cover - validated in configs
        raise ValueError(f"unknown weighting {weighting!r}")
    out = sp.csr_matrix(w.T, dtype=np.float32)
    # idf is log(n_items) - log1p(n_ratings of the user): keep confidences positive even
    # for users who rated (almost) everything, so they are never read as dislikes
    out.data = np.maximum(out.data, 1e-6)
    return out


def row_normalise(matrix: np.ndarray | sp.spmatrix, norm: str = "l2") -> np.ndarray | sp.csr_matrix:
    """Rows scaled to unit ``l2`` or ``l1`` norm (zero rows stay zero)."""
    if sp.issparse(matrix):
        m = sp.csr_matrix(matrix, dtype=np.float32)
        if norm == "l2":
            norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        else:
            norms = np.asarray(abs(m).sum(axis=1)).ravel()
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms).astype(np.float32) @ m)
    d = np.asarray(matrix, dtype=np.float32)
    ord_ = 2 if norm == "l2" else 1
    norms = np.linalg.norm(d, ord=ord_, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return d / norms


def ranking_fold_in(
    confidence: sp.csr_matrix,
    item_vectors: np.ndarray,
    item_bias: np.ndarray,
    regularization: float,
    gram: ItemGram | None = None,
) -> np.ndarray:
    """Fold a new user into a fixed ranking factor model by weighted least squares.

    Solves, for each row ``u``,

    ``min_x sum_i c_ui (p_ui - b_i - x . y_i)^2 + reg |x|^2``

    with the signed confidences of :func:`reelrank.models._preference.confidences`: a
    stored entry ``c > 0`` is a like (``p_ui = 1``, confidence ``c``), a stored ``c < 0`` a
    dislike (``p_ui = 0``, confidence ``|c|``) and every other item has ``p_ui = 0``,
    ``c_ui = 1``: the implicit-ALS closed form on the model's item vectors ``y_i`` and
    biases ``b_i``. Used by models trained with a ranking loss (BPR, LightFM) whose own
    training has no closed-form user step.

    ``gram`` holds precomputed ``Y^T Y`` and ``Y^T b`` (computed here when None).

    Returns
    -------
    numpy.ndarray
        (n_rows, f) ``float32`` user vectors (zero for empty rows).
    """
    y = np.asarray(item_vectors)
    b = np.asarray(item_bias, dtype=np.float64)
    f = y.shape[1]
    if gram is None or gram.ytb is None:
        gram = ItemGram(y, y, b)
    base = gram.yty + regularization * np.eye(f)
    ytb = gram.ytb
    conf = sp.csr_matrix(confidence)
    out = np.zeros((conf.shape[0], f), dtype=np.float32)
    for row in range(conf.shape[0]):
        lo, hi = conf.indptr[row], conf.indptr[row + 1]
        if lo == hi:
            continue
        idx = conf.indices[lo:hi]
        c_signed = conf.data[lo:hi].astype(np.float64)
        c = np.abs(c_signed)
        p = (c_signed > 0).astype(np.float64)
        yu = y[idx].astype(np.float64)  # only the rated items' rows, not the whole matrix
        bu = b[idx]
        a = base + yu.T @ ((c - 1.0)[:, None] * yu)
        # sum_i c_i (p_i - b_i) y_i over all items, unobserved ones with c = 1, p = 0
        rhs = yu.T @ (c * (p - bu) + bu) - ytb
        out[row] = np.linalg.solve(a, rhs)
    return out
