"""mkdocs hooks: generate the CLI, HTTP API and Python API reference pages at build time.

* ``reference/cli.md`` from the typer app (:mod:`gen_cli`);
* ``reference/http-api.md`` and ``reference/openapi.json`` from the FastAPI app's OpenAPI
  document (:mod:`gen_openapi`);
* ``reference/python/<module>.md``: one mkdocstrings page (``::: reelrank.x``) per public
  module of the package, found by walking it, and the matching navigation entries.

Nothing here is written to the source tree; the pages exist only in the built site, so they
can never go stale.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

from mkdocs.structure.files import File, Files

logger = logging.getLogger("mkdocs.hooks.reelrank")

_DOCS = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    """Import ``docs/<name>.py`` by path (the docs folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"reelrank_docs_{name}", _DOCS / f"{name}.py")
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(f"cannot load {name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def public_modules() -> list[str]:
    """Dotted names of every public module of ``reelrank`` (no ``_private`` parts), sorted."""
    import reelrank

    names = ["reelrank"]
    for info in pkgutil.walk_packages(reelrank.__path__, prefix="reelrank."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


def _module_page(name: str) -> str:
    return f"# `{name}`\n\n::: {name}\n"


def _python_index(names: list[str]) -> str:
    lines = [
        "# Python API\n",
        "Generated from the docstrings of every public module (numpydoc style). Data flows "
        "one way: `data` -> `features` -> `models` -> `evaluate` / `serving`.\n",
    ]
    lines += [f"- [`{n}`]({n}.md)" for n in names]
    return "\n".join(lines) + "\n"


def on_config(config: Any) -> Any:
    """Fill the "Python API" navigation section with one page per public module."""
    names = public_modules()
    entries: list[Any] = [{"Overview": "reference/python/index.md"}]
    entries += [{n: f"reference/python/{n}.md"} for n in names]
    for item in config["nav"] or []:
        if isinstance(item, dict) and "Reference" in item:
            for sub in item["Reference"]:
                if isinstance(sub, dict) and "Python API" in sub:
                    sub["Python API"] = entries
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add the generated reference pages to the build."""
    gen_cli, gen_openapi = _load("gen_cli"), _load("gen_openapi")

    def add(path: str, content: str) -> None:
        files.append(File.generated(config, path, content=content))

    add("reference/cli.md", gen_cli.render_cli_markdown())
    schema = gen_openapi.openapi_schema()
    add("reference/http-api.md", gen_openapi.render_openapi_markdown(schema))
    add("reference/openapi.json", json.dumps(schema, indent=2))
    names = public_modules()
    add("reference/python/index.md", _python_index(names))
    for name in names:
        add(f"reference/python/{name}.md", _module_page(name))
    logger.info("generated CLI, HTTP API and %d Python API pages", len(names))
    return files
