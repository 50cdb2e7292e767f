"""Models behind one :class:`~reelrank.models.base.Recommender` protocol.

Importing this package registers every built-in model.
"""

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
