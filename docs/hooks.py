"""mkdocs hooks: generate the CLI, HTTP API and Python API reference pages at build time.

* ``reference/cli.md`` from the typer app (:mod:`gen_cli`);
* ``reference/http-api.md`` and ``reference/openapi.json`` from the FastAPI app's OpenAPI
  document (:mod:`gen_openapi`);
* ``reference/python/<module>.md``: one mkdocstrings page (``::: reelrank.x``) per public
  module of the package, found by walking it, and the navigation grouped by layer (data,
  features, models, evaluate, serving, spark); the ``reelrank.cli`` internals are left out
  (the CLI has its own page). Sphinx roles in the docstrings become cross-references
  (``docs/griffe_ext.py``).

Nothing here is written to the source tree; the pages exist only in the built site, so they
can never go stale.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import pkgutil
import re
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


#: the reference's sections: (title, package), in the order data flows
LAYERS: list[tuple[str, str]] = [
    ("Data", "reelrank.data"),
    ("Features", "reelrank.features"),
    ("Models", "reelrank.models"),
    ("Evaluate", "reelrank.evaluate"),
    ("Serving", "reelrank.serving"),
    ("Spark", "reelrank.spark"),
]

#: packages left out of the Python reference: the command line is documented on its own
#: page (reference/cli.md), its modules are thin wrappers, not an API
INTERNAL = ("reelrank.cli",)


def public_modules() -> list[str]:
    """Dotted names of every public module of ``reelrank``, sorted.

    Private modules (a ``_part`` anywhere in the name) and the :data:`INTERNAL` packages
    are left out.
    """
    import reelrank

    names = ["reelrank"]
    for info in pkgutil.walk_packages(reelrank.__path__, prefix="reelrank."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if any(info.name == p or info.name.startswith(p + ".") for p in INTERNAL):
            continue
        names.append(info.name)
    return sorted(names)


def layer_of(name: str) -> str:
    """The reference section of module ``name`` (``"Core"`` for the top-level modules)."""
    for title, package in LAYERS:
        if name == package or name.startswith(package + "."):
            return title
    return "Core"


def grouped_modules(names: list[str]) -> dict[str, list[str]]:
    """Section title -> its modules (the layer's package first), in :data:`LAYERS` order."""
    groups: dict[str, list[str]] = {title: [] for title, _ in LAYERS}
    groups["Core"] = []
    for name in names:
        groups[layer_of(name)].append(name)
    return {title: mods for title, mods in groups.items() if mods}


def _module_page(name: str) -> str:
    return f"# `{name}`\n\n::: {name}\n"


def _python_index(names: list[str]) -> str:
    lines = [
        "# Python API\n",
        "Generated from the docstrings of every public module (numpydoc style), grouped by "
        "layer. Data flows one way: `data` -> `features` -> `models` -> `evaluate` / "
        "`serving`; `spark` runs the collaborative part on a cluster. The command line has "
        "its own [reference](../cli.md).\n",
    ]
    for title, mods in grouped_modules(names).items():
        lines.append(f"\n## {title}\n")
        lines += [f"- [`{n}`]({n}.md){_summary(n)}" for n in mods]
    return "\n".join(lines) + "\n"


def _summary(name: str) -> str:
    """``: <first paragraph of the module docstring>`` (read from the source, not imported)."""
    import ast

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return ""
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    first = doc.strip().split("\n\n", 1)[0].replace("\n", " ").strip()
    first = re.sub(r":[a-z]+:`~?\.?([^`]+)`", r"`\1`", first).replace("``", "`")
    return f": {first}" if first else ""


def on_config(config: Any) -> Any:
    """Fill the "Python API" navigation section: an overview, then one section per layer."""
    groups = grouped_modules(public_modules())
    entries: list[Any] = [{"Overview": "reference/python/index.md"}]
    for title, mods in groups.items():
        entries.append({title: [{n: f"reference/python/{n}.md"} for n in mods]})
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
