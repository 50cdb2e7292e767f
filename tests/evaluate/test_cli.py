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
    lines = capsys.readouterr().err.strip().splitlines()
    # one error line (after the stage lines of the work done before the error, if any)
    assert message in lines[-1] and lines[-1].startswith("error: ")
    assert all(" s  " in line for line in lines[:-1]) and "Traceback" not in "".join(lines)


def test_evaluate_names_each_stage_on_stderr(
    ml100k_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["evaluate", str(ml100k_dir), "--protocol", "msrec-100k", "--models", "pop,itemknn"])
    assert rc == 0
    err = capsys.readouterr().err
    for stage in (
        "loading ",
        "splitting ml-100k (msrec-100k protocol)",
        "fitting and scoring pop (1/2)",
        "fitting and scoring itemknn (2/2)",
    ):
        assert stage in err, err
    # in order, each line with its elapsed seconds
    lines = [line for line in err.splitlines() if " s  " in line]
    assert [line.split(" s  ", 1)[1] for line in lines][:2] == [
        f"loading {ml100k_dir}",
        "splitting ml-100k (msrec-100k protocol)",
    ]


def test_evaluate_json_keeps_stderr_quiet(
    ml100k_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        ["evaluate", str(ml100k_dir), "--protocol", "msrec-100k", "--models", "pop", "--json"]
    )
    assert rc == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["results"][0]["model"] == "pop"
    assert "fitting" not in captured.err and "splitting" not in captured.err


def test_evaluate_mlflow_missing_is_exit_2_before_any_work(
    ml100k_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    rc = main(["evaluate", str(ml100k_dir), "--models", "pop", "--mlflow", "sqlite:///x.db"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: MLflow tracking needs mlflow: pip install 'reelrank[mlflow]'"]


def test_evaluate_mlflow_plain_folder_is_refused(
    ml100k_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mlflow")
    rc = main(["evaluate", str(ml100k_dir), "--models", "pop", "--mlflow", str(tmp_path / "runs")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "sqlite:///" in err and "loading" not in err  # refused before loading the data


@pytest.mark.slow
def test_evaluate_logs_a_run_to_mlflow(
    ml100k_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real MLflow store (SQLite): params, metrics equal to result.json, the report files."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow puts the run's artifacts under ./mlruns
    report = tmp_path / "report"
    rc = main(
        [
            "evaluate", str(ml100k_dir), "--protocol", "msrec-100k", "--models", "pop,itemknn",
            "--report", str(report), "--mlflow", uri, "--experiment", "unit-test",
        ]
    )  # fmt: skip
    assert rc == 0
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("unit-test")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    result = json.loads((report / "result.json").read_text())
    assert run.data.params["protocol"] == "msrec-100k"
    for key, value in result["results"][1]["params"].items():
        assert run.data.params[f"itemknn.{key}"] == str(value)
    for r in result["results"]:
        assert run.data.metrics[f"{r['model']}.ndcg_10"] == pytest.approx(r["metrics"]["ndcg@10"])
    assert run.data.tags["version.reelrank"] == result["info"]["provenance"]["versions"]["reelrank"]
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report/result.json", "report/leaderboard.md"} <= logged
    assert run.info.status == "FINISHED"


def test_protocol_help_names_every_registered_protocol() -> None:
    from reelrank.cli.models import PROTOCOL_NAMES
    from reelrank.evaluate.protocols import PROTOCOLS

    assert sorted(PROTOCOL_NAMES) == sorted(PROTOCOLS)
