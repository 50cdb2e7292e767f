"""The documentation site: generated references cover everything; the strict build passes."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_lists_every_command() -> None:
    import typer

    from reelrank.cli import app

    page = _load("gen_cli").render_cli_markdown()
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="reelrank")
    for name in root.list_commands(ctx):
        assert f"`reelrank {name}`" in page, name
        sub = root.get_command(ctx, name)
        if hasattr(sub, "list_commands"):
            for child in sub.list_commands(ctx):
                assert f"`reelrank {name} {child}`" in page, (name, child)
    assert "| `--engine` | text | `local` |" in page  # options rendered as a table


def test_http_reference_lists_every_endpoint() -> None:
    gen = _load("gen_openapi")
    schema = gen.openapi_schema()
    page = gen.render_openapi_markdown(schema)
    for path, methods in schema["paths"].items():
        for method in methods:
            assert f"## `{method.upper()} {path}`" in page
    for required in ("/recommendations/{user_id}", "/movies/search", "/health"):
        assert required in schema["paths"]
    assert "### RecommendationsOut" in page


def test_python_reference_covers_every_public_module() -> None:
    hooks = _load("hooks")
    names = hooks.public_modules()
    src = ROOT / "src" / "reelrank"
    expected = {"reelrank"} | {
        "reelrank." + ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for p in src.rglob("*.py")
        if not any(part.startswith("_") for part in p.relative_to(src).with_suffix("").parts)
        or p.name == "__init__.py"
    }
    expected = {e for e in expected if not any(x.startswith("_") for x in e.split(".")[1:])}
    assert set(names) == expected
    assert "reelrank.spark" in names and "reelrank.models._linalg" not in names


@pytest.mark.slow
def test_mkdocs_strict_build(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs not installed (pip install 'reelrank[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [mkdocs, "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for page in (
        "index.html",
        "concepts/index.html",
        "guides/spark/index.html",
        "guides/scaling/index.html",
        "reference/cli/index.html",
        "reference/http-api/index.html",
        "reference/openapi.json",
        "reference/python/reelrank.spark/index.html",
    ):
        assert (tmp_path / page).is_file(), page
    api = (tmp_path / "reference/python/reelrank.spark/index.html").read_text()
    assert "train_als_spark" in api and "recommend_all_spark" in api
