"""The model registry (names -> classes, built-in models imported on first use) and loading
a saved model by the name in its ``model.json``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reelrank._fs import is_int, read_versioned_manifest
from reelrank.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    from reelrank.models.base import Recommender

__all__ = [
    "MODEL_FORMAT_VERSION",
    "available_models",
    "create_model",
    "get_model_class",
    "load_model",
    "register",
]

#: bump when the layout of a saved model changes incompatibly
MODEL_FORMAT_VERSION = 1

_REGISTRY: dict[str, type[Recommender]] = {}

R = TypeVar("R", bound="type[Recommender]")


def register(name: str) -> Callable[[R], R]:
    """Class decorator: register a model class under ``name`` (used by the CLI and configs)."""

    def deco(cls: R) -> R:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _import_builtin_models(name: str | None = None) -> None:
    # built-in models register on first use by name, so heavy libraries load only when needed
    from reelrank.models import import_builtin

    import_builtin(name)


def available_models() -> list[str]:
    """Names of all registered models (built-in ones without importing them)."""
    from reelrank.models import BUILTIN_MODELS

    return sorted(set(_REGISTRY) | set(BUILTIN_MODELS))


def get_model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``.

    Raises
    ------
    ConfigError
        If no model has that name (the message lists the known names).
    """
    _import_builtin_models(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; available: {', '.join(available_models())}"
        ) from None


def create_model(name: str, **params: Any) -> Recommender:
    """Instantiate a registered model with hyper-parameters ``params``."""
    cls = get_model_class(name)
    return cls(**params)


def load_model(path: str | os.PathLike[str]) -> Recommender:
    """Load any saved model from its directory (the class is read from the manifest)."""
    path = Path(path)
    manifest = _read_manifest(path)
    cls = get_model_class(manifest["model"])
    return cls.load(path)


def _read_manifest(path: Path) -> dict[str, Any]:
    """``model.json`` of a saved model, with every field's type checked."""
    mf = path / "model.json"
    if not path.is_dir():
        raise ArtifactError(f"{path}: not a model directory")
    try:
        manifest = read_versioned_manifest(
            mf,
            label="model",
            supported=MODEL_FORMAT_VERSION,
            required=("format_version", "model", "config", "n_items"),
        )
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing model.json") from None
    if not isinstance(manifest["model"], str):
        raise ArtifactError(f"{mf}: 'model' must be a model name, not {manifest['model']!r}")
    if manifest["model"] not in available_models():
        raise ArtifactError(
            f"{mf}: unknown model {manifest['model']!r}; this reelrank has "
            f"{', '.join(available_models())}"
        )
    if not isinstance(manifest["config"], dict):
        raise ArtifactError(f"{mf}: 'config' must be a JSON object")
    for key in ("n_items", "n_users"):
        value = manifest.get(key)
        if (key == "n_items" or value is not None) and (not is_int(value) or value < 0):
            raise ArtifactError(f"{mf}: {key!r} must be a non-negative integer, not {value!r}")
    return manifest
