"""The documentation site: generated references cover everything; the strict build passes."""

from __future__ import annotations

import importlib.util
import os
import re
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
    expected = {e for e in expected if e != "reelrank.cli" and not e.startswith("reelrank.cli.")}
    assert set(names) == expected
    assert "reelrank.spark" in names and "reelrank.models._linalg" not in names
    assert not any(n.startswith("reelrank.cli") for n in names)  # internals left out


def test_python_reference_is_grouped_by_layer() -> None:
    hooks = _load("hooks")
    groups = hooks.grouped_modules(hooks.public_modules())
    assert list(groups)[:5] == ["Data", "Features", "Models", "Evaluate", "Serving"]
    assert "reelrank.data.dataset" in groups["Data"]
    assert "reelrank.models.als" in groups["Models"]
    assert "reelrank.spark.als" in groups["Spark"]
    assert set(groups["Core"]) <= {"reelrank", "reelrank.errors", "reelrank.provenance"}
    config = hooks.on_config({"nav": [{"Reference": [{"Python API": []}]}]})
    sections = config["nav"][0]["Reference"][0]["Python API"]
    assert [next(iter(e)) for e in sections][:3] == ["Overview", "Data", "Features"]


def _griffe_ext() -> ModuleType:
    return _load("griffe_ext")


def test_sphinx_roles_become_cross_references() -> None:
    import griffe

    ext = _griffe_ext()
    loader = griffe.GriffeLoader(search_paths=[str(ROOT / "src")])
    pkg = loader.load("reelrank")
    obj = pkg["models.als.ALS"]
    text = ext.convert_roles(
        ":class:`~reelrank.data.dataset.Dataset`, :func:`reelrank.models.base.create_model`, "
        ":meth:`fold_in`, :class:`numpy.ndarray`, :mod:`~._nothere`",
        obj,
        loader,
    )
    assert text == (
        '<autoref identifier="reelrank.data.dataset.Dataset" optional><code>Dataset</code>'
        "</autoref>, "
        '<autoref identifier="reelrank.models.base.create_model" optional>'
        "<code>reelrank.models.base.create_model()</code></autoref>, "
        '<autoref identifier="reelrank.models.als.ALS.fold_in" optional>'
        "<code>fold_in()</code></autoref>, "
        "<code>numpy.ndarray</code>, <code>_nothere</code>"
    )


def test_combined_numpydoc_entries_get_their_own_defaults() -> None:
    import griffe

    ext = _griffe_ext()
    loader = griffe.GriffeLoader(
        search_paths=[str(ROOT / "src")],
        extensions=griffe.load_extensions(ext.SphinxDocstrings),
        docstring_parser=griffe.Parser.numpy,
    )
    split = loader.load("reelrank")["data.split_time.temporal_split"]
    (params,) = [s for s in split.docstring.parsed if s.kind.value == "parameters"]
    defaults = {p.name: p.default for p in params.value}
    assert defaults["test_ratio"] == "0.2" and defaults["val_ratio"] == "0.0"
    text = "Parameters\n----------\na, b : int\n    Two of them.\nc\n    One.\n"
    assert ext.split_combined_entries(text) == (
        "Parameters\n----------\na : int\n    Two of them.\nb : int\n    Two of them.\n"
        "c\n    One.\n"
    )


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
    # no raw Sphinx roles anywhere; cross-references are links
    role = re.compile(r":(class|meth|func|mod|data|attr|exc):`?<code>|:(class|meth|func):`")
    pages = sorted((tmp_path / "reference" / "python").rglob("index.html"))
    raw = [p.parent.name for p in pages if role.search(p.read_text())]
    assert raw == []
    als = (tmp_path / "reference/python/reelrank.models.als/index.html").read_text()
    assert 'class="autorefs autorefs-internal"' in als
    assert not (tmp_path / "reference/python/reelrank.cli").exists()
    # each combined numpydoc entry shows its own default (val_ratio is 0.0, not 0.2)
    split = (tmp_path / "reference/python/reelrank.data.split_time/index.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", split).split())
    assert re.search(r"val_ratio float Fractions of each user's ratings\. 0\.0", text)
