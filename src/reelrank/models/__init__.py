"""Models behind one :class:`~reelrank.models.base.Recommender` protocol.

The built-in models are registered lazily: :data:`BUILTIN_MODELS` maps every model name to
the module that defines it, and that module is imported the first time the name is used
(:func:`create_model`, :func:`get_model_class`, :func:`load_model`). Loading an ``als``
artifact therefore never imports torch, LightGBM or sentence-transformers.
"""

from __future__ import annotations

from importlib import import_module

from reelrank.models.base import (
    Recommender,
    available_models,
    create_model,
    get_model_class,
    load_model,
    register,
)

#: model name -> module of ``reelrank.models`` that registers it (imported on first use)
BUILTIN_MODELS: dict[str, str] = {
    "als": "als",
    "bpr": "als",
    "bias": "rating",
    "mf": "rating",
    "blend": "blend",
    "content": "content",
    "ease": "ease",
    "faiss-knn": "faiss_knn",
    "hybrid": "rerank",
    "itemknn": "knn",
    "lightfm": "lightfm",
    "neural": "neural",
    "pop": "popularity",
    "random": "popularity",
}


def import_builtin(name: str | None = None) -> None:
    """Import the module that registers the built-in model ``name`` (every one if ``None``).

    Unknown names are left to the registry, which raises a
    :class:`~reelrank.errors.ConfigError` listing the known ones.
    """
    if name is None:
        modules = sorted(set(BUILTIN_MODELS.values()))
    elif name in BUILTIN_MODELS:
        modules = [BUILTIN_MODELS[name]]
    else:
        return
    for module in modules:
        import_module(f"reelrank.models.{module}")


__all__ = [
    "BUILTIN_MODELS",
    "Recommender",
    "available_models",
    "create_model",
    "get_model_class",
    "import_builtin",
    "load_model",
    "register",
]
