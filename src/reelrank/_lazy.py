"""Lazy package exports: a public name is imported from its module on first use.

Packages whose modules pull heavy libraries (``reelrank.features``, ``reelrank.serving``)
keep ``import reelrank.<package>`` cheap this way (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose ``exports`` map name -> module.

    The first access imports ``package.<module>``, caches the value in ``namespace`` (the
    package's ``globals()``), and later accesses never come back here.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *exports])

    return __getattr__, __dir__
