"""Item-item similarity for serving: the model's item vectors blended with content.

Collaborative similarity is the cosine of the model's item vectors (the protocol's
``_item_vectors`` hook); content similarity is the cosine of the artifact's TF-IDF rows
(already L2-normalised, field-weighted so tags, genres and people dominate title words; see
:func:`reelrank.features.content.field_tfidf_matrix`). ``weight`` goes to the collaborative
part and ``1 - weight`` to content.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reelrank.models.base import FoldInNotSupported, Recommender

__all__ = ["ItemSimilarity"]


def _l2_rows(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


class ItemSimilarity:
    """Blended collaborative + content similarity between items.

    Parameters
    ----------
    model
        The fitted model (its item vectors, when it has them).
    tfidf
        ``(n_items, vocab)`` L2-normalised TF-IDF, or None.
    """

    def __init__(self, model: Recommender, tfidf: sp.spmatrix | None) -> None:
        self.cf: np.ndarray | None = None
        try:
            vectors = model._item_vectors()  # the protocol's similarity hook
        except (NotImplementedError, FoldInNotSupported, AttributeError):
            vectors = None
        if vectors is not None:
            dense = vectors.toarray() if sp.issparse(vectors) else np.asarray(vectors)
            self.cf = _l2_rows(dense)
        self.tfidf = None if tfidf is None else sp.csr_matrix(tfidf, dtype=np.float32)
        self.model_name = getattr(model, "name", type(model).__name__)

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
        if self.tfidf is not None and (weight < 1 or self.cf is None):
            right_t = self.tfidf if others is None else self.tfidf[others]
            content = (self.tfidf[items] @ right_t.T).toarray().astype(np.float32)
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
