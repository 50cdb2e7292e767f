"""Genre multi-hot vectors, user taste profiles and vectorised cosine similarity.

The reference notebooks built one-hot genres with ``apply`` and computed the user-movie
genre similarity row by row. Here everything is sparse/dense linear algebra: a profile is
``D^-1 W X`` (``W`` the users x items weight matrix, ``X`` the item vectors) and the cosine
of many aligned (user, item) pairs is a row-wise dot product of L2-normalised rows.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.data.dataset import Dataset

logger = logging.getLogger(__name__)

__all__ = [
    "cosine_to_items",
    "genre_matrix",
    "l2_normalise_rows",
    "pairwise_cosine",
    "user_profiles",
]

Matrix = np.ndarray | sp.spmatrix | sp.sparray


def _genre_lists(genres: pd.Series) -> pd.Series:
    """Genres as lists of str; also accepts a column of MovieLens ``"A|B"`` strings."""
    if pd.api.types.infer_dtype(genres, skipna=True) in ("string", "empty"):
        return genres.str.split("|")
    return genres


def genre_matrix(movies: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray]:
    """Multi-hot genre matrix of a movie table.

    Parameters
    ----------
    movies
        Movie table with a ``genres`` column holding lists of genre names (the
        :class:`~reelrank.data.dataset.Dataset` convention) or ``"A|B"`` strings. Missing
        values, empty lists and ``"(no genres listed)"`` give zero rows.

    Returns
    -------
    (matrix, genres)
        ``(n_movies, n_genres)`` CSR ``float32`` of ones, and the sorted genre names.

    Examples
    --------
    >>> m, names = genre_matrix(pd.DataFrame({"genres": [["Comedy"], [], ["Drama", "Comedy"]]}))
    >>> names.tolist()
    ['Comedy', 'Drama']
    >>> m.toarray().tolist()
    [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    """
    n = len(movies)
    exploded = _genre_lists(movies["genres"].reset_index(drop=True)).explode()
    values = exploded.astype(object)
    keep = values.notna().to_numpy()
    rows = exploded.index.to_numpy()[keep].astype(np.int64)
    names = pd.Series(values[keep], dtype=object).astype(str).str.strip().to_numpy(dtype=object)
    valid = (names != "") & (names != "(no genres listed)")
    rows, names = rows[valid], names[valid]
    uniq, codes = np.unique(names.astype(str), return_inverse=True)
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, codes.astype(np.int64))),
        shape=(n, len(uniq)),
    )
    m.sum_duplicates()
    m.data[:] = 1.0  # a genre listed twice is still one
    return m, uniq.astype(str)


def user_profiles(
    train: Dataset,
    item_matrix: Matrix,
    *,
    weighting: Literal["rating", "mean", "centered"] = "rating",
) -> np.ndarray | sp.csr_matrix:
    """Taste profile of every user: a weighted mean of the item vectors they rated.

    Parameters
    ----------
    train
        Training data (only its interactions are used).
    item_matrix
        ``(n_items, d)`` item vectors (sparse or dense), e.g. :func:`genre_matrix`.
    weighting
        ``"rating"`` (default): weights are the ratings, so a 5-star movie counts ten times a
        half-star one. ``"mean"``: plain mean over rated movies (the reference notebook).
        ``"centered"``: weights are ratings minus the user's mean rating, normalised by the
        sum of their absolute values, so disliked movies pull the profile away.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        ``(n_users, d)`` ``float32``; sparse when ``item_matrix`` is sparse. Users without
        training ratings get zero rows.
    """
    if item_matrix.shape[0] != train.n_items:
        raise ValueError(f"item_matrix has {item_matrix.shape[0]} rows, expected {train.n_items}")
    w = train.interactions.astype(np.float32, copy=True)
    counts = np.diff(w.indptr)
    if weighting == "mean":
        w.data = np.ones_like(w.data)
    elif weighting == "centered":
        rows = np.repeat(np.arange(w.shape[0]), counts)
        sums = np.bincount(rows, weights=w.data, minlength=w.shape[0])
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        w.data = (w.data - means[rows]).astype(np.float32)
    elif weighting != "rating":
        raise ValueError(f"weighting must be 'rating', 'mean' or 'centered', not {weighting!r}")
    denom = np.asarray(abs(w).sum(axis=1)).ravel()
    inv = np.divide(1.0, denom, out=np.zeros_like(denom, dtype=np.float64), where=denom > 0)
    w = sp.diags(inv.astype(np.float32)) @ w
    if sp.issparse(item_matrix):
        return sp.csr_matrix(w @ sp.csr_matrix(item_matrix, dtype=np.float32), dtype=np.float32)
    return np.asarray(w @ np.asarray(item_matrix, dtype=np.float32), dtype=np.float32)


def l2_normalise_rows(m: Matrix) -> np.ndarray | sp.csr_matrix:
    """Rows scaled to unit L2 norm (zero rows stay zero); ``float32``."""
    if sp.issparse(m):
        m = sp.csr_matrix(m, dtype=np.float32)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return sp.csr_matrix(sp.diags(inv.astype(np.float32)) @ m, dtype=np.float32)
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def pairwise_cosine(
    user_vectors: Matrix,
    item_vectors: Matrix,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    *,
    chunk_size: int = 200_000,
) -> np.ndarray:
    """Cosine similarity of many aligned (user, item) pairs at once.

    Parameters
    ----------
    user_vectors, item_vectors
        ``(n_users, d)`` and ``(n_items, d)`` vectors (sparse or dense, same ``d``).
    user_idx, item_idx
        Aligned 1-D index arrays: pair ``j`` is ``(user_idx[j], item_idx[j])``.
    chunk_size
        Pairs processed per chunk (bounds memory for dense vectors).

    Returns
    -------
    numpy.ndarray
        ``float32`` cosines, 0 where either vector is zero.
    """
    user_idx = np.asarray(user_idx, dtype=np.int64).reshape(-1)
    item_idx = np.asarray(item_idx, dtype=np.int64).reshape(-1)
    if user_idx.shape != item_idx.shape:
        raise ValueError("user_idx and item_idx must have the same length")
    if user_vectors.shape[1] != item_vectors.shape[1]:
        raise ValueError("user and item vectors must have the same dimension")
    un = l2_normalise_rows(user_vectors)
    vn = l2_normalise_rows(item_vectors)
    out = np.empty(len(user_idx), dtype=np.float32)
    for start in range(0, len(user_idx), chunk_size):
        sl = slice(start, start + chunk_size)
        a, b = un[user_idx[sl]], vn[item_idx[sl]]
        if sp.issparse(a) or sp.issparse(b):
            a = sp.csr_matrix(a)
            out[sl] = np.asarray(a.multiply(b).sum(axis=1)).ravel()
        else:
            out[sl] = np.einsum("ij,ij->i", a, b)
    return out


def cosine_to_items(user_vectors: Matrix, item_vectors: Matrix) -> np.ndarray:
    """Dense ``(n_users_batch, n_items)`` cosine of a batch of user vectors to every item.

    Call it on a batch of users (a few hundred rows), never on all users at once.
    """
    if user_vectors.shape[1] != item_vectors.shape[1]:
        raise ValueError("user and item vectors must have the same dimension")
    prod = l2_normalise_rows(user_vectors) @ l2_normalise_rows(item_vectors).T
    if sp.issparse(prod):
        prod = prod.toarray()
    return np.asarray(prod, dtype=np.float32)
