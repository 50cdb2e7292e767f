"""Experiment tracking: log an evaluation to MLflow (the optional ``[mlflow]`` extra).

One evaluation becomes one MLflow run: the protocol, dataset, seed and every model's final
parameters as params (:meth:`~reelrank.evaluate.results.EvaluationResult.flat_params`), each
model's test metrics, validation scores and timings as metrics
(:meth:`~reelrank.evaluate.results.EvaluationResult.flat_metrics`), the package versions
and git commit as tags, and the report folder (``result.json``, ``leaderboard.md``, plots)
as artifacts. MLflow is imported only here, when tracking is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelrank.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from reelrank.evaluate.results import EvaluationResult

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_EXPERIMENT", "log_to_mlflow", "require_mlflow"]

#: the MLflow experiment runs go to unless told otherwise
DEFAULT_EXPERIMENT = "reelrank"

_INSTALL_HINT = "pip install 'reelrank[mlflow]'"


def require_mlflow() -> Any:
    """Import MLflow, or raise a :class:`~reelrank.errors.ConfigError` saying how to get it."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(f"MLflow tracking needs mlflow: {_INSTALL_HINT}") from None
    return mlflow


def _tags(result: EvaluationResult) -> dict[str, str]:
    tags = {"reelrank.protocol": result.protocol, "reelrank.dataset": result.dataset}
    prov = result.info.get("provenance") or {}
    for name, version in (prov.get("versions") or {}).items():
        tags[f"version.{name}"] = str(version)
    if prov.get("git_commit"):
        tags["mlflow.source.git.commit"] = str(prov["git_commit"])
    return tags


def log_to_mlflow(
    result: EvaluationResult,
    tracking_uri: str,
    *,
    report_dir: str | os.PathLike[str] | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
) -> str:
    """Log ``result`` as one MLflow run and return the run id.

    Parameters
    ----------
    result
        The evaluation (:func:`reelrank.evaluate.runner.evaluate`).
    tracking_uri
        Where MLflow stores runs: ``http://host:5000``, ``sqlite:///mlflow.db``,
        ``databricks``... (MLflow 3 refuses plain folders unless ``MLFLOW_ALLOW_FILE_STORE``
        is set in the environment).
    report_dir
        A report folder (:func:`reelrank.evaluate.report.write_report`) logged as the run's
        ``report/`` artifacts; ``None``: only ``result.json`` is logged.
    experiment
        MLflow experiment name (created if missing).
    run_name
        Default: ``<protocol>-<dataset>``.

    Returns
    -------
    str
        The MLflow run id.

    Raises
    ------
    ConfigError
        MLflow is not installed, or the tracking server or store refused the run.
    """
    require_mlflow()
    import time

    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id if found is not None else client.create_experiment(experiment)
        )
        run = client.create_run(
            experiment_id, run_name=run_name or f"{result.protocol}-{result.dataset}"
        )
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        params = [Param(k, v[:6000]) for k, v in result.flat_params().items()]
        metrics = [Metric(k, v, now, 0) for k, v in result.flat_metrics().items()]
        tags = [RunTag(k, v) for k, v in _tags(result).items()]
        for start in range(0, len(params), 100):  # MLflow's limit per batch
            client.log_batch(run_id, params=params[start : start + 100])
        for start in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[start : start + 1000])
        client.log_batch(run_id, tags=tags)
        if report_dir is not None:
            client.log_artifacts(run_id, str(report_dir), artifact_path="report")
        else:
            with tempfile.TemporaryDirectory(prefix="reelrank-mlflow-") as tmp:
                path = Path(tmp) / "result.json"
                path.write_text(json.dumps(result.to_json(), indent=2))
                client.log_artifact(run_id, str(path))
        client.set_terminated(run_id)
    except MlflowException as e:
        first = str(e.message if hasattr(e, "message") else e).strip().splitlines()[0]
        raise ConfigError(f"MLflow at {tracking_uri!r}: {first}") from None
    logger.info("logged run %s to %s (experiment %r)", run_id, tracking_uri, experiment)
    return run_id
