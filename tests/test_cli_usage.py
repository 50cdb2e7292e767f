"""Usage errors: one line on stderr, exit status 2, never a traceback.

typer >= 0.29 raises its bundled click's exceptions; these tests run the real entry point
(:func:`reelrank.cli.main`, and once the installed console script) on every kind of usage
error a new user makes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reelrank.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["recomend"], "No such command 'recomend'. Did you mean 'recommend'"),  # unknown command
        (["data", "nosuch"], "No such command 'nosuch'"),  # unknown sub-command of a group
        (["recommend", "model", "--usr", "1"], "No such option: --usr"),  # unknown option
        (["recommend", "model", "--user", "abc"], "Invalid value for '--user'"),  # bad value
        (["train", "--out", "x"], "Missing option '--model'"),  # missing option
        (["recommend"], "Missing argument 'ARTIFACT'"),  # missing argument
        (["evaluate", "--k"], "'--k' requires an argument"),  # option without its value
    ],
)
def test_usage_error_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in err


def test_usage_error_names_the_commands_help(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = _run(capsys, "recommend", "model", "--usr", "1")
    assert "(try 'reelrank recommend --help')" in err


@pytest.mark.parametrize("argv", [[], ["data"], ["features"], ["rank"]])
def test_no_arguments_prints_help_exit_0(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 0
    assert "Usage: reelrank" in out and "Commands" in out
    assert "Traceback" not in err and "error" not in err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "recommend" in out
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and out.startswith("reelrank ")


def test_reelrank_error_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, "recommend", str(tmp_path / "missing"), "--user", "1")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_console_script_exit_status() -> None:
    """The installed ``reelrank`` script (a separate process) exits 2 with one line."""
    script = shutil.which("reelrank", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the reelrank console script is not installed next to this python")
    result = subprocess.run(
        [script, "recomend"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "No such command" in result.stderr
