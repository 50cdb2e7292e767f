"""Models behind one :class:`~reelrank.models.base.Recommender` protocol.

Importing this package registers every built-in model.
"""

# importing the modules registers their models
from reelrank.models import (  # noqa: F401
    als,
    blend,
    content,
    ease,
    faiss_knn,
    knn,
    lightfm,
    neural,
    popularity,
    rating,
    rerank,
)
from reelrank.models.base import (
    Recommender,
    available_models,
    create_model,
    get_model_class,
    load_model,
    register,
)

__all__ = [
    "Recommender",
    "available_models",
    "create_model",
    "get_model_class",
    "load_model",
    "register",
]
