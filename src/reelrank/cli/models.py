"""``reelrank evaluate``: compare models under a named protocol (a thin CLI wrapper)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer

from reelrank.cli.common import StageLog, console, err_console, print_json, source_argument
from reelrank.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_MODELS = "pop,itemknn,als,ease,content"
#: the registered protocol names, spelled out so that --help does not import the evaluation
#: stack (tests/evaluate/test_cli.py keeps it equal to ``reelrank.evaluate.PROTOCOLS``)
PROTOCOL_NAMES = (
    "temporal",
    "stratified",
    "msrec-100k",
    "cornac-100k",
    "lightfm-ua",
    "surprise-5fold",
    "cold-items",
    "cold-items-tags",
    "strong-generalization",
)


def _parse_ks(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise ConfigError(f"--k values must be >= 1, got {text!r}")
    return ks


def evaluate_command(
    source: str | None = source_argument(),
    protocol: str = typer.Option(
        "temporal",
        "--protocol",
        "-p",
        help="Protocol: " + ", ".join(PROTOCOL_NAMES) + ".",
    ),
    models: str = typer.Option(
        DEFAULT_MODELS,
        "--models",
        "-m",
        help="Comma-separated model names (lightfm also "
        "evaluates lightfm-nofeat, without item features).",
    ),
    k: str | None = typer.Option(None, "--k", help="Extra cut-offs, e.g. 5,10,20."),
    tune: bool = typer.Option(
        False,
        "--tune",
        help="Tune each model with Optuna (TPE, seeded) on the protocol's validation part; "
        "the default configuration is the first trial.",
    ),
    tune_trials: int | None = typer.Option(
        None, "--tune-trials", min=1, help="Trials per model (default: each model's own budget)."
    ),
    tune_timeout: float | None = typer.Option(
        None,
        "--tune-timeout",
        min=1.0,
        metavar="SECONDS",
        help="Time budget of the whole tuning run, shared by the models (default 300).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    report: Path | None = typer.Option(
        None, "--report", help="Write JSON, Markdown, PNG plots here."
    ),
    seed: int = typer.Option(42, "--seed", help="Seed for the models' random state."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Embedding cache folder."),
    mlflow: str | None = typer.Option(
        None,
        "--mlflow",
        metavar="URI",
        help="Also log params, metrics and the report to this MLflow tracking URI "
        "(http://host:5000, sqlite:///mlflow.db); needs pip install 'reelrank[mlflow]'.",
    ),
    experiment: str = typer.Option(
        "reelrank", "--experiment", help="MLflow experiment name (with --mlflow)."
    ),
) -> None:
    """Fit models on a protocol's train part and print a leaderboard of test metrics.

    Each stage (splitting, item features, fitting and scoring each model) is named on
    stderr as it starts; --json keeps stderr quiet.

    Example: reelrank evaluate --protocol temporal --models pop,als,lightfm --tune --report out/

    Example: reelrank evaluate --models pop,als --mlflow sqlite:///mlflow.db
    """
    from reelrank.data.movielens import load
    from reelrank.evaluate.protocols import get_protocol
    from reelrank.evaluate.report import leaderboard_table, write_report
    from reelrank.evaluate.runner import evaluate, expand_models, resolve_model

    proto = get_protocol(protocol)  # unknown names fail before loading data
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise ConfigError("--models is empty")
    for name in names:
        resolve_model(name)
    ks = _parse_ks(k)
    if mlflow is not None:  # fail before the work, not after it
        from reelrank.evaluate.tracking import require_mlflow

        require_mlflow()
        scheme = mlflow.split("://", 1)[0] if "://" in mlflow else ""
        if scheme in ("", "file") and not os.environ.get("MLFLOW_ALLOW_FILE_STORE"):
            raise ConfigError(
                f"--mlflow {mlflow}: MLflow 3 does not track into a plain folder; use a "
                "database (sqlite:///mlflow.db) or a server URL (http://host:5000)"
            )
    from reelrank.cli.data import cache_dir_from_env

    stage = StageLog(quiet=as_json)
    stage(f"loading {source or 'the bundled ml-latest-small'}")
    dataset = load(source, cache_dir=cache_dir_from_env())
    proto.check_dataset(dataset)
    result = evaluate(
        dataset, proto, expand_models(names), ks=ks, tune=tune, progress=not as_json,
        seed=seed, cache_dir=cache_dir, on_stage=stage, tune_trials=tune_trials,
        **({} if tune_timeout is None else {"tune_timeout": tune_timeout}),
    )  # fmt: skip
    if report is not None:
        stage(f"writing the report to {report}")
        write_report(result, report)
    if mlflow is not None:
        from reelrank.evaluate.tracking import log_to_mlflow

        stage(f"logging to MLflow at {mlflow}")
        run_id = log_to_mlflow(result, mlflow, report_dir=report, experiment=experiment)
        if not as_json:
            err_console.print(f"MLflow run {run_id} (experiment {experiment!r})", highlight=False)
    if as_json:
        print_json(result.to_json())
        return
    console.print(leaderboard_table(result))
    for r in result.results:
        if r.error:
            err_console.print(f"{r.model}: {r.error}")


def register(app: typer.Typer) -> None:
    """Attach ``evaluate`` to the top-level app."""
    app.command("evaluate")(evaluate_command)
