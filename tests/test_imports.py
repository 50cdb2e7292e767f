"""Importing the CLI or the serving layer must not import the heavy libraries.

``reelrank recommend`` on an ``als`` artifact answers in milliseconds; paying seconds for
torch or LightGBM at import time would make every command slow. Each check runs in a fresh
interpreter (``sys.modules`` of this test process is already full).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "lightgbm", "pyspark", "streamlit", "sentence_transformers", "sklearn")


def _imported_after(code: str) -> set[str]:
    probe = (
        f"import sys, json\n{code}\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import reelrank.cli",
        "import reelrank.serving",
        "from reelrank.serving import RecommenderService, load_artifact",
        "from reelrank.models import create_model; create_model('als')",
        "from reelrank.features import ItemFeatures",
    ],
)
def test_no_heavy_imports(code: str) -> None:
    assert _imported_after(code) == set()


def test_lazy_registry_imports_the_model_on_first_use() -> None:
    code = (
        "from reelrank.models import available_models, get_model_class\n"
        "assert 'neural' in available_models() and 'hybrid' in available_models()\n"
        "get_model_class('neural')"
    )
    assert "torch" in _imported_after(code)


def test_every_builtin_name_registers_its_class() -> None:
    from reelrank.models import BUILTIN_MODELS, get_model_class

    for name in BUILTIN_MODELS:
        assert get_model_class(name).name == name


def test_unknown_model_lists_builtins_without_importing_them() -> None:
    from reelrank.errors import ConfigError
    from reelrank.models import get_model_class

    with pytest.raises(ConfigError, match=r"available: .*hybrid"):
        get_model_class("nosuch")


def test_split_help_names_match_the_splitters() -> None:
    from reelrank.cli.data_split import METHOD_NAMES
    from reelrank.data.split import METHODS

    assert tuple(METHODS) == METHOD_NAMES


def test_help_does_not_import_numpy_or_pandas() -> None:
    """``reelrank --help`` builds every command's help without the scientific stack."""
    probe = (
        "import sys, reelrank.cli\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_recommend_on_an_als_artifact_imports_nothing_heavy(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The whole ``reelrank recommend ARTIFACT --user 1`` path, in a fresh interpreter."""
    from reelrank.cli import main

    artifact = tmp_path_factory.mktemp("als") / "model"
    assert main(["train", "--model", "als", "--out", str(artifact), "--json"]) == 0
    heavy = [*HEAVY, "faiss", "implicit", "matplotlib", "sqlalchemy", "optuna", "lightfm"]
    probe = (
        "import sys, contextlib, io\n"
        "from reelrank.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['recommend', {str(artifact)!r}, '--user', '1'])\n"
        f"print(code, sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "0 []"
