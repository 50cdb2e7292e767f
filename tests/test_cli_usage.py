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


# ---------------------------------------------------------------------------- help text
def _commands() -> list[tuple[list[str], object]]:
    from reelrank.cli import cli_command

    out: list[tuple[list[str], object]] = []

    def walk(cmd: object, path: list[str]) -> None:
        out.append((path, cmd))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(cli_command(), [])
    return out


def test_every_option_and_argument_has_help() -> None:
    missing = []
    for path, cmd in _commands():
        ctx = cmd.context_class(cmd, info_name="reelrank")  # type: ignore[attr-defined]
        for param in cmd.get_params(ctx):  # type: ignore[attr-defined]
            if param.name != "help" and not (getattr(param, "help", None) or "").strip():
                missing.append(f"reelrank {' '.join(path)} {param.name}")
    assert missing == []


@pytest.mark.parametrize("argv", [[], ["recommend"], ["train"], ["recommend-all"], ["data"]])
def test_help_has_no_type_placeholders(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = _run(capsys, *argv, "--help")
    assert code == 0
    for placeholder in ("<bool>", "<int>", "<str>", "<path>", "<float>"):
        assert placeholder not in out
    if argv == ["recommend"]:
        assert "Usage: reelrank recommend [OPTIONS] {ARTIFACT}" in out


def test_square_brackets_in_help_survive_rich_markup(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = _run(capsys, "train", "--help")
    assert "pip install 'reelrank[spark]'" in out


def test_command_summaries_are_one_paragraph(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = _run(capsys, "--help")
    line = next(x for x in out.splitlines() if "recommend-all" in x)
    assert "(columns user_id, rank, movie_id, score)" in line  # not cut at a docstring break


def test_recommend_all_defaults_to_the_local_engine_and_als_defaults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    from reelrank.models.als import ALS

    out = tmp_path / "recs.parquet"
    code = main(["recommend-all", "-n", "3", "--iterations", "2", "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    cfg = ALS().config
    assert summary["engine"] == "local"
    assert summary["als"] == {
        "factors": cfg.factors,
        "regularization": cfg.regularization,
        "alpha": cfg.alpha,
        "iterations": 2,
        "random_state": 42,
    }
    assert out.is_file() and summary["n_rows"] == 3 * summary["n_users"]


def test_train_names_its_stages_and_json_is_quiet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["train", "--model", "pop", "--out", str(tmp_path / "m")])
    assert code == 0
    err = capsys.readouterr().err
    stages = [line.split(" s  ", 1)[1] for line in err.splitlines() if " s  " in line]
    assert stages == [
        "loading the bundled ml-latest-small",
        "fitting pop on 100,836 ratings",
        f"writing the artifact to {tmp_path / 'm'}",
    ]
    code = main(["train", "--model", "pop", "--out", str(tmp_path / "m2"), "--json"])
    assert code == 0 and capsys.readouterr().err == ""
