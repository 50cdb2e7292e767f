"""Leaderboards and report files for an :class:`~reelrank.evaluate.runner.EvaluationResult`.

:func:`leaderboard_table` builds a rich table (models sorted by the protocol's primary
metric, mean +/- SEM); :func:`write_report` writes ``result.json``, ``leaderboard.md`` and PNG
plots (matplotlib, Agg backend): each metric against k with SEM error bars, LightFM with vs
without item features (when both were evaluated), the rating distribution and the
ratings-per-movie histogram of the dataset.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from reelrank._fs import atomic_directory
from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.evaluate.protocols import parse_metric
from reelrank.evaluate.results import EvaluationResult, ModelResult

logger = logging.getLogger(__name__)

__all__ = [
    "data_histograms",
    "leaderboard_columns",
    "leaderboard_markdown",
    "leaderboard_table",
    "write_report",
]


def data_histograms(ds: Dataset) -> dict[str, Any]:
    """Plot data of the dataset: rating distribution and ratings per movie (log bins)."""
    values, counts = np.unique(ds.ratings, return_counts=True)
    per_movie = ds.item_counts()
    rated = per_movie[per_movie > 0]
    top = max(2, int(rated.max()) + 1) if len(rated) else 2
    edges = np.unique(np.round(np.logspace(0, np.log10(top), 30)).astype(int))
    hist, edges = np.histogram(rated, bins=edges)
    return {
        "rating_values": values.astype(float).tolist(),
        "rating_counts": counts.astype(int).tolist(),
        "ratings_per_movie_edges": edges.astype(int).tolist(),
        "ratings_per_movie_counts": hist.astype(int).tolist(),
    }


def _validation_cells(r: ModelResult) -> list[str]:
    """``[default, tuned]`` validation scores of a tuned model (``-`` when not tuned)."""
    v = r.validation_scores
    return ["-", "-"] if v is None else [_fmt(v[0]), _fmt(v[1])]


def leaderboard_columns(result: EvaluationResult) -> list[str]:
    """Metric columns of the leaderboard: the protocol's metrics, in the protocol's order."""
    proto = result.info.get("protocol", {})
    cols = list(proto.get("metrics", [])) if isinstance(proto, dict) else []
    present = {m for r in result.results for m in r.metrics}
    return [c for c in cols if c in present] or sorted(present)[:6]


def _sorted(result: EvaluationResult) -> list[ModelResult]:
    primary = result.primary_metric()
    lower = bool(result.info.get("primary_lower_is_better", False))

    def key(r: ModelResult) -> tuple[int, float]:
        v = r.metrics.get(primary, math.nan)
        if r.error or math.isnan(v):
            return (1, 0.0)
        return (0, v if lower else -v)

    return sorted(result.results, key=key)


def _fmt(value: float | None, sem: float | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if sem is None or (isinstance(sem, float) and math.isnan(sem)):
        return f"{value:.4f}"
    return f"{value:.4f} ± {sem:.4f}"


def leaderboard_table(result: EvaluationResult) -> Table:
    """A rich table: one row per model, best first, mean ± SEM per metric, times."""
    cols = leaderboard_columns(result)
    table = Table(
        title=f"{result.protocol} on {result.dataset} "
        f"({result.info.get('n_users_evaluated', '?')} users)"
    )
    table.add_column("model", style="bold")
    for c in cols:
        table.add_column(c, justify="right")
    tuned = bool(result.info.get("tuned"))
    primary = result.primary_metric()
    if tuned:
        table.add_column(f"val {primary} default", justify="right")
        table.add_column(f"val {primary} tuned", justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("eval s", justify="right")
    for r in _sorted(result):
        val = _validation_cells(r) if tuned else []
        if r.error:
            table.add_row(r.model, *(["-"] * (len(cols) + len(val))), "-", "-")
            continue
        table.add_row(
            r.model,
            *(_fmt(r.metrics.get(c), r.metrics_sem.get(c)) for c in cols),
            *val,
            f"{r.fit_seconds:.1f}",
            f"{r.eval_seconds:.1f}",
        )
    return table


def leaderboard_markdown(result: EvaluationResult) -> str:
    """The leaderboard as a Markdown document (with tuned parameters and notes)."""
    cols = leaderboard_columns(result)
    info = result.info
    lines = [
        f"# {result.protocol} on {result.dataset}",
        "",
        f"{info.get('protocol', {}).get('description', '')}",
        "",
        f"Users evaluated: {info.get('n_users_evaluated')}; test users without a relevant item "
        f"(excluded from ranking metrics): {info.get('n_test_users_without_relevant')}; "
        f"candidates per user: {info.get('n_candidates')} minus the user's training items. "
        f"Tuned on validation: {info.get('tuned')}. Values are mean ± SEM over users.",
        "",
    ]
    tuned = bool(info.get("tuned"))
    primary = result.primary_metric()
    val_cols = [f"val {primary} default", f"val {primary} tuned"] if tuned else []
    if tuned:
        lines[-1:-1] = [
            f"Validation columns: {primary} of the default configuration (trial 0) and of "
            "the chosen one on the validation part (Optuna TPE).",
            "",
        ]
    head = [*cols, *val_cols, "fit s", "eval s"]
    lines += [
        "| model | " + " | ".join(head) + " | params | notes |",
        "|---|" + "---:|" * len(head) + "---|---|",
    ]
    for r in _sorted(result):
        val = _validation_cells(r) if tuned else []
        if r.error:
            dashes = " | ".join("-" for _ in head)
            lines.append(f"| {r.model} | {dashes} | | {r.error} |")
            continue
        params = ", ".join(f"{k}={_fmt_param(v)}" for k, v in r.params.items())
        notes = _fit_notes(r)
        lines.append(
            f"| {r.model} | "
            + " | ".join([*(_fmt(r.metrics.get(c), r.metrics_sem.get(c)) for c in cols), *val])
            + f" | {r.fit_seconds:.1f} | {r.eval_seconds:.1f} | {params} | {notes} |"
        )
    return "\n".join(lines) + "\n"


def _fmt_param(value: Any) -> str:
    """A parameter for the table: floats to 4 significant digits (tuned values are long)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_fmt_param(v) for v in value) + ")"
    return str(value)


def _fit_notes(r: ModelResult) -> str:
    """A short note from the model's ``fit_info`` (e.g. the hybrid's safety-net choice)."""
    if not r.fit_info:
        return ""
    parts = []
    for key, value in r.fit_info.items():
        if isinstance(value, str | int | float | bool) and len(parts) < 4:
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            parts.append(f"{key}={shown}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------- plots
def _metric_families(result: EvaluationResult) -> dict[str, list[int]]:
    fam: dict[str, set[int]] = {}
    for r in result.results:
        for name in r.metrics:
            base, k = parse_metric(name)
            if k is not None:
                fam.setdefault(base, set()).add(k)
    return {b: sorted(ks) for b, ks in fam.items() if len(ks) >= 2}


def _plot_metric_vs_k(result: EvaluationResult, base: str, ks: list[int], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    for r in result.results:
        if r.error:
            continue
        xs = [k for k in ks if f"{base}@{k}" in r.metrics]
        ys = [r.metrics[f"{base}@{k}"] for k in xs]
        err = [r.metrics_sem.get(f"{base}@{k}", math.nan) for k in xs]
        err = [0.0 if (e is None or math.isnan(e)) else e for e in err]
        if xs:
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=r.model)
    ax.set_xlabel("k (list length)")
    ax.set_ylabel(f"{base}@k (mean ± SEM)")
    ax.set_title(f"{base}@k: {result.protocol} on {result.dataset}")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_lightfm(result: EvaluationResult, path: Path) -> bool:
    try:
        with_f, without = result.get("lightfm"), result.get("lightfm-nofeat")
    except KeyError:
        return False
    if with_f.error or without.error:
        return False
    import matplotlib.pyplot as plt

    names = [m for m in leaderboard_columns(result) if m in with_f.metrics and m in without.metrics]
    names = [m for m in names if not m.startswith("coverage")] or names
    if not names:
        return False
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for off, r, label in ((-0.2, with_f, "with item features"), (0.2, without, "without")):
        ys = [r.metrics[m] for m in names]
        err = [r.metrics_sem.get(m, 0.0) or 0.0 for m in names]
        err = [0.0 if math.isnan(e) else e for e in err]
        ax.bar(x + off, ys, width=0.4, yerr=err, capsize=3, label=label)
    ax.set_xticks(x, names)
    ax.set_ylabel("metric value (mean ± SEM)")
    ax.set_title(f"LightFM with vs without item features ({result.protocol})")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_histograms(result: EvaluationResult, out: Path) -> list[str]:
    import matplotlib.pyplot as plt

    h = result.info.get("histograms")
    if not h:
        return []
    written = []
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    values = np.asarray(h["rating_values"], dtype=float)
    width = 0.8 * (np.min(np.diff(values)) if len(values) > 1 else 1.0)
    ax.bar(values, h["rating_counts"], width=width)
    ax.set_xlabel("rating")
    ax.set_ylabel("number of ratings")
    ax.set_title(f"Rating distribution: {result.dataset}")
    ax.set_xticks(values)
    fig.tight_layout()
    fig.savefig(out / "rating_distribution.png", dpi=110)
    plt.close(fig)
    written.append("rating_distribution.png")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    edges = np.asarray(h["ratings_per_movie_edges"], dtype=float)
    ax.stairs(h["ratings_per_movie_counts"], edges, fill=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ratings per movie (log scale)")
    ax.set_ylabel("number of movies (log scale)")
    ax.set_title(f"Ratings per movie: {result.dataset}")
    fig.tight_layout()
    fig.savefig(out / "ratings_per_movie.png", dpi=110)
    plt.close(fig)
    written.append("ratings_per_movie.png")
    return written


def write_report(result: EvaluationResult, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``result.json``, ``leaderboard.md`` and PNG plots into ``out_dir`` atomically.

    An existing report folder is replaced; any other non-empty folder is refused.

    Returns
    -------
    pathlib.Path
        The report folder.
    """
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / "result.json").exists())
    ):
        # the folder is replaced as a whole: never clobber something that is not a report
        raise ConfigError(f"{out_dir} exists and is not an evaluation report; choose a new folder")
    with atomic_directory(out_dir) as tmp:
        data: dict[str, Any] = result.to_json()
        (tmp / "result.json").write_text(json.dumps(data, indent=2))
        (tmp / "leaderboard.md").write_text(leaderboard_markdown(result))
        plots: list[str] = []
        for base, ks in _metric_families(result).items():
            name = f"{base}_at_k.png"
            _plot_metric_vs_k(result, base, ks, tmp / name)
            plots.append(name)
        if _plot_lightfm(result, tmp / "lightfm_features.png"):
            plots.append("lightfm_features.png")
        plots += _plot_histograms(result, tmp)
        logger.info("report plots: %s", plots)
    return out_dir
