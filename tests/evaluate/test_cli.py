"""``reelrank evaluate`` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reelrank.cli import main


def test_evaluate_json(ml100k_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "evaluate",
            str(ml100k_dir),
            "--protocol",
            "msrec-100k",
            "--models",
            "pop,itemknn",
            "--k",
            "5,10",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "msrec-100k" and out["dataset"] == "ml-100k"
    assert [r["model"] for r in out["results"]] == ["pop", "itemknn"]
    assert {"map@10", "ndcg@10", "precision@10", "recall@10", "ndcg@5"} <= set(
        out["results"][0]["metrics"]
    )
    assert set(out["results"][0]["metrics_sem"]) == set(out["results"][0]["metrics"])


def test_evaluate_table_and_report(
    ml100k_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["evaluate", str(ml100k_dir), "--models", "pop", "--report", str(tmp_path / "rep")])
    assert rc == 0
    assert "pop" in capsys.readouterr().out
    assert (tmp_path / "rep" / "leaderboard.md").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "pop,nope"], "unknown model 'nope'"),
        (["--protocol", "nope"], "unknown protocol 'nope'"),
        (["--protocol", "lightfm-ua", "--models", "pop"], "needs a ml-100k folder"),
        (["--k", "0"], "--k"),
    ],
)
def test_evaluate_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
