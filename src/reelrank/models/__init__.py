"""Models behind one :class:`~reelrank.models.base.Recommender` protocol.

Importing this package registers every built-in model.
"""

from importlib import import_module

from reelrank.models.base import (
    Recommender,
    available_models,
    create_model,
    get_model_class,
    load_model,
    register,
)

# importing a module registers its models; modules owned by other engineers that do not
# exist yet are skipped (a missing third-party dependency inside one is still an error)
for _module in (
    "popularity",
    "knn",
    "als",
    "lightfm",
    "ease",
    "content",
    "faiss_knn",
    "blend",
    "rating",
    "rerank",
    "neural",
):
    try:
        import_module(f"reelrank.models.{_module}")
    except ModuleNotFoundError as _e:
        if _e.name != f"reelrank.models.{_module}":
            raise

__all__ = [
    "Recommender",
    "available_models",
    "create_model",
    "get_model_class",
    "load_model",
    "register",
]
