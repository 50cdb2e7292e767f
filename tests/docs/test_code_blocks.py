"""Every Python code block of the documentation (docs/ and the README) runs as written.

Each block runs in a fresh interpreter, in a scratch folder that holds what the page has
the reader make before it: ``mydata/`` (a MovieLens folder: the bundled ml-latest-small
files) and ``model/`` (an artifact, as ``reelrank train ... --out model/`` writes). A block
that needs Spark runs where pyspark and Java are installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python\n(?P<code>.*?)^```", re.M | re.S)


def python_blocks() -> list[tuple[str, str]]:
    """``(page:line, code)`` of every fenced Python block in docs/**.md and README.md."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    blocks = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{page.relative_to(ROOT)}:{line}", match["code"]))
    return blocks


BLOCKS = python_blocks()


def _needs_spark(code: str) -> bool:
    return "reelrank.spark" in code


def test_the_docs_have_python_blocks() -> None:
    pages = {where.split(":")[0] for where, _ in BLOCKS}
    assert {"README.md", "docs/guides/evaluate.md", "docs/guides/spark.md"} <= pages
    assert not any(where.startswith("site/") for where in pages)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder with ``mydata/`` and ``model/`` as the guides have them made."""
    from reelrank.data import bundled_path, load
    from reelrank.models import create_model
    from reelrank.serving.artifact import save_artifact

    root = tmp_path_factory.mktemp("docs-blocks")
    shutil.copytree(bundled_path(), root / "mydata")
    data = load()
    save_artifact(root / "model", create_model("pop").fit(data), data)
    return root


@pytest.mark.slow
@pytest.mark.parametrize(
    ("where", "code"),
    [pytest.param(w, c, marks=pytest.mark.spark) if _needs_spark(c) else (w, c) for w, c in BLOCKS],
    ids=[w for w, _ in BLOCKS],
)
def test_python_block_runs_as_written(workdir: Path, where: str, code: str) -> None:
    if _needs_spark(code):  # marked `spark` too
        pytest.importorskip("pyspark")
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            pytest.skip("Spark needs Java 17")
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "MPLBACKEND": "Agg",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr[-3000:]}"
