"""What produced a result: package versions and the git commit, for manifests and reports.

Versions are read with :mod:`importlib.metadata`, so recording them never imports the heavy
libraries themselves (torch, faiss...): a manifest written by ``reelrank train --model pop``
costs no torch import.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["KEY_PACKAGES", "git_commit", "package_versions", "provenance"]

#: import name -> distribution names that provide it (the first installed one is reported)
KEY_PACKAGES: dict[str, tuple[str, ...]] = {
    "reelrank": ("reelrank",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "pandas": ("pandas",),
    "implicit": ("implicit",),
    "lightfm": ("rectools-lightfm", "lightfm"),
    "lightgbm": ("lightgbm",),
    "torch": ("torch",),
    "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
}


def package_versions() -> dict[str, str | None]:
    """Installed versions of reelrank and its key dependencies (``None``: not installed)."""
    out: dict[str, str | None] = {}
    for name, dists in KEY_PACKAGES.items():
        out[name] = None
        for dist in dists:
            try:
                out[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the reelrank source checkout, when running from one (else ``None``).

    Only the checkout that holds this package is asked (never the current directory), with
    a short timeout; ``-dirty`` is appended when tracked files have uncommitted changes.
    """
    here = Path(__file__).resolve().parent
    root = next((p for p in (here, *here.parents) if (p / ".git").exists()), None)
    if root is None:
        return None
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            env=env,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            env=env,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        logger.debug("no git commit recorded: %s", e)
        return None
    if len(commit) != 40:
        return None
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict[str, Any]:
    """``{"versions": {...}, "git_commit": str | None}`` to record in manifests."""
    return {"versions": package_versions(), "git_commit": git_commit()}
