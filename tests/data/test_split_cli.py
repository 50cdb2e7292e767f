"""``reelrank data split`` through the real CLI entry point and on a bare typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from reelrank.cli import main
from reelrank.cli.data_split import add_split_command
from reelrank.errors import ConfigError


def test_split_json_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "temporal"
    argv = ["data", "split", "--method", "temporal", "--val-ratio", "0.1", "--out", str(out)]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "temporal" and result["dataset"] == "ml-latest-small"
    parts = result["parts"]
    assert set(parts) == {"train", "validation", "test"}
    assert sum(p["n_ratings"] for p in parts.values()) == 100_836
    for name, size in parts.items():
        frame = pd.read_parquet(out / f"{name}.parquet")
        assert len(frame) == size["n_ratings"]
        assert list(frame.columns) == ["user_id", "movie_id", "rating", "timestamp"]
    meta = json.loads((out / "split.json").read_text())
    assert meta["method"] == "temporal" and meta["params"]["val_ratio"] == 0.1


def test_kfold_writes_one_folder_per_fold(tmp_path: Path, capsys) -> None:
    out = tmp_path / "kf"
    assert main(["data", "split", "--method", "kfold", "--k", "3", "--out", str(out)]) == 0
    assert "kfold split" in capsys.readouterr().out
    tests = [pd.read_parquet(out / f"fold-{i}" / "test.parquet") for i in range(3)]
    assert sum(len(t) for t in tests) == 100_836
    both = pd.concat(tests)
    assert not both.duplicated(["user_id", "movie_id"]).any()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "bogus"], "unknown split method"),
        (["--method", "temporal", "--seed", "1"], "does not take --seed"),
        (["--method", "predefined"], "needs --name"),
        (["--method", "predefined", "--name", "u1"], "only for ml-100k"),
        (["--method", "random", "--test-ratio", "1.5"], "test_ratio"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(["data", "split", *argv, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.strip().count("\n") == 0
    assert not (tmp_path / "x").exists()


def test_add_split_command_on_a_fresh_app(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """A group, so that `split` stays a sub-command."""

    add_split_command(app)
    out = tmp_path / "cold"
    runner = CliRunner()
    args = ["split", "--method", "cold-items", "--item-ratio", "0.1", "--seed", "3"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "split.json").read_text())
    assert meta["params"]["seed"] == 3 and meta["params"]["item_ratio"] == 0.1
    train = pd.read_parquet(out / "train.parquet")
    test = pd.read_parquet(out / "test.parquet")
    assert not set(train["movie_id"]) & set(test["movie_id"])
    result = runner.invoke(app, ["split", "--method", "temporal", "--k", "2", "--out", "y"])
    assert isinstance(result.exception, ConfigError)
