"""Item-item similarity for serving: the model's item vectors blended with content.

Collaborative similarity is the cosine of the model's item vectors (the protocol's
``_item_vectors`` hook); content similarity is the cosine of
:func:`reelrank.features.content.similarity_vectors` (a field-weighted TF-IDF of titles,
genres and tags where title words weigh a quarter, so genres and tags dominate), built from
the artifact's movie and tag tables on first use. ``weight`` goes to the collaborative part
and ``1 - weight`` to content.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.models.base import FoldInNotSupported, Recommender

__all__ = ["ItemSimilarity", "content_vectors"]


def _l2_rows(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


def content_vectors(movies: pd.DataFrame, item_tags: pd.DataFrame) -> sp.csr_matrix | None:
    """Content vectors of a catalogue for similar movies (None when it has no text at all)."""
    from reelrank.features.content import similarity_vectors

    try:
        return similarity_vectors(movies, item_tags)
    except ValueError:  # no titles, genres or tags
        return None


class ItemSimilarity:
    """Blended collaborative + content similarity between items.

    Parameters
    ----------
    model
        The fitted model (its item vectors, when it has them).
    content
        ``(n_items, vocab)`` L2-normalised content vectors, a function that builds them on
        first use (it may return None), or None.
    """

    def __init__(
        self,
        model: Recommender,
        content: sp.spmatrix | Callable[[], sp.spmatrix | None] | None,
    ) -> None:
        self.cf: np.ndarray | None = None
        try:
            vectors = model._item_vectors()  # the protocol's similarity hook
        except (NotImplementedError, FoldInNotSupported, AttributeError):
            vectors = None
        if vectors is not None:
            dense = vectors.toarray() if sp.issparse(vectors) else np.asarray(vectors)
            self.cf = _l2_rows(dense)
        self._content = content
        self._built: sp.csr_matrix | None = None
        self.model_name = getattr(model, "name", type(model).__name__)

    @property
    def tfidf(self) -> sp.csr_matrix | None:
        """The content vectors (built on first use)."""
        if self._built is None and self._content is not None:
            made = self._content() if callable(self._content) else self._content
            self._content = None
            if made is not None:
                self._built = sp.csr_matrix(made, dtype=np.float32)
        return self._built

    @property
    def has_cf(self) -> bool:
        """Whether the model has item vectors."""
        return self.cf is not None

    def block(
        self, items: np.ndarray, others: np.ndarray | None, weight: float
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Blended similarity of ``items`` (rows) to ``others`` (columns; None = all).

        Returns
        -------
        (blend, collaborative, content)
            Dense ``float32`` blocks; a part is None when it is not available or weighted 0.

        Raises
        ------
        FoldInNotSupported
            Neither item vectors nor TF-IDF features are available.
        """
        cf = content = None
        if self.cf is not None and weight > 0:
            right = self.cf if others is None else self.cf[others]
            cf = self.cf[items] @ right.T
        vectors = self.tfidf if (weight < 1 or self.cf is None) else None
        if vectors is not None:
            right_t = vectors if others is None else vectors[others]
            content = (vectors[items] @ right_t.T).toarray().astype(np.float32)
        if cf is not None and content is not None:
            blend = weight * cf + (1.0 - weight) * content
        elif cf is not None:
            blend = cf
        elif content is not None:
            blend = content
        else:
            raise FoldInNotSupported(
                f"{self.model_name} has no item vectors and the artifact has no TF-IDF features"
            )
        return blend.astype(np.float32), cf, content
