"""Data exploration: PNG plots of a MovieLens dataset and one self-contained HTML page.

:func:`explore` draws, for any :class:`~reelrank.data.dataset.Dataset`:

* the rating distribution, ratings per movie and per user (log scales), ratings over time,
  genre counts and tags per movie (:mod:`reelrank.evaluate.explore_plots`);
* for a quickly trained ALS model, the distribution of user and item factor norms;
* a TF-IDF heatmap of the top terms of a chosen set of movies (default: titles containing
  "Star Wars");
* a clustered heatmap of hybrid item similarity (ALS factor cosine blended with TF-IDF
  cosine, rows and columns in scipy's hierarchical-clustering leaf order) for those movies
  plus a seeded random sample of popular movies;
* given an evaluation report (``reelrank evaluate --json``), metric-versus-k curves.

All plots use matplotlib's ``Agg`` backend; the HTML page embeds every image as base64, so
the page is one file that can be mailed or archived. Exploration is descriptive: it looks at
the whole dataset it is given (nothing here is used for model selection).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError, DataFormatError, UnknownIdError
from reelrank.evaluate.explore_plots import (
    _DPI,
    _save,
    plot_genre_counts,
    plot_rating_distribution,
    plot_ratings_over_time,
    plot_ratings_per_movie,
    plot_ratings_per_user,
    plot_tags_per_movie,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ExploreResult",
    "explore",
    "hybrid_similarity",
    "plot_factor_norms",
    "plot_genre_counts",
    "plot_hybrid_similarity",
    "plot_metric_curves",
    "plot_rating_distribution",
    "plot_ratings_over_time",
    "plot_ratings_per_movie",
    "plot_ratings_per_user",
    "plot_tags_per_movie",
    "plot_tfidf_heatmap",
    "read_report",
    "select_movies",
]

_METRIC = re.compile(r"^(?P<name>[a-z_]+)@(?P<k>\d+)$")


@dataclass(frozen=True)
class ExploreResult:
    """What :func:`explore` wrote.

    Attributes
    ----------
    plots
        Plot name -> PNG path, in page order.
    html
        The HTML page.
    facts
        Numbers the plots show (counts, medians...), also printed on the page.
    """

    plots: dict[str, Path]
    html: Path
    facts: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- helpers
def _label(movies: pd.DataFrame, item_idx: np.ndarray, width: int = 50) -> list[str]:
    title = movies["title"].astype(str).to_numpy()[item_idx]
    year = pd.array(movies["year"], dtype="Int32")[item_idx]
    out = []
    for t, y in zip(title, year, strict=True):
        t = t if len(t) <= width else t[: width - 1] + "…"
        out.append(f"{t} ({y})" if y is not pd.NA else t)
    return out


def select_movies(dataset: Dataset, queries: Sequence[str], limit: int = 25) -> np.ndarray:
    """Item indices of movies whose title contains any of ``queries`` (case-insensitive).

    Parameters
    ----------
    dataset
        The catalogue.
    queries
        Substrings to look for, e.g. ``["Star Wars"]``.
    limit
        At most this many movies, the most-rated first.

    Returns
    -------
    numpy.ndarray
        Item indices, ordered by title.

    Raises
    ------
    UnknownIdError
        If a query matches no title.
    """
    titles = dataset.movies["title"].astype(str).str.lower()
    chosen = np.zeros(dataset.n_items, dtype=bool)
    for q in queries:
        hit = titles.str.contains(q.lower(), regex=False).to_numpy(dtype=bool)
        if not hit.any():
            raise UnknownIdError(f"no movie title contains {q!r}")
        chosen |= hit
    idx = np.flatnonzero(chosen)
    counts = dataset.item_counts()[idx]
    idx = idx[np.argsort(-counts, kind="stable")[:limit]]
    return idx[np.argsort(titles.to_numpy()[idx], kind="stable")]


# ---------------------------------------------------------------------------- model plots
def plot_factor_norms(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_counts: np.ndarray,
    path: Path,
) -> Path:
    """Histograms of user and item factor norms, and item norm against popularity."""
    user_norms = np.linalg.norm(user_factors, axis=1)
    item_norms = np.linalg.norm(item_factors, axis=1)
    rated = item_counts > 0
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].hist(user_norms[user_norms > 0], bins=40, color="#00798c")
    axes[0].set_title("ALS user factor norms")
    axes[0].set_xlabel("L2 norm")
    axes[0].set_ylabel("number of users")
    axes[1].hist(item_norms[rated], bins=40, color="#d1495b")
    axes[1].set_title("ALS item factor norms (rated movies)")
    axes[1].set_xlabel("L2 norm")
    axes[1].set_ylabel("number of movies")
    axes[2].scatter(item_counts[rated], item_norms[rated], s=4, alpha=0.4, color="#3b6ea5")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("ratings per movie (log scale)")
    axes[2].set_ylabel("item factor norm")
    rho = pd.Series(item_counts[rated]).corr(pd.Series(item_norms[rated]), method="spearman")
    axes[2].set_title(f"Item norm vs popularity (Spearman {rho:.2f})")
    for ax in axes:
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_tfidf_heatmap(
    tfidf: Any,
    terms: np.ndarray,
    labels: Sequence[str],
    item_idx: np.ndarray,
    path: Path,
    *,
    terms_per_movie: int = 4,
    max_terms: int = 30,
) -> Path:
    """Heatmap of TF-IDF weights: chosen movies x the union of their top terms."""
    rows = tfidf[item_idx].toarray()
    chosen: list[int] = []
    for r in rows:
        for j in np.argsort(-r, kind="stable")[:terms_per_movie]:
            if r[j] > 0 and j not in chosen:
                chosen.append(int(j))
    chosen = chosen[:max_terms]
    if not chosen:
        raise ConfigError("the chosen movies have no TF-IDF terms")
    block = rows[:, chosen]
    fig, ax = plt.subplots(figsize=(max(7, 0.35 * len(chosen) + 4), max(3, 0.35 * len(labels) + 2)))
    im = ax.imshow(block, aspect="auto", cmap="viridis")
    ax.set_xticks(np.arange(len(chosen)))
    ax.set_xticklabels(np.asarray(terms)[chosen], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("term")
    ax.set_ylabel("movie")
    ax.set_title("TF-IDF weight of each movie's top terms (title + genres + tags)")
    fig.colorbar(im, ax=ax, label="TF-IDF weight")
    return _save(fig, path)


def hybrid_similarity(
    item_factors: np.ndarray, tfidf: Any, item_idx: np.ndarray, weight: float = 0.5
) -> np.ndarray:
    """``weight * cosine(ALS factors) + (1 - weight) * cosine(TF-IDF)`` for a set of items.

    Parameters
    ----------
    item_factors
        ``(n_items, f)`` collaborative item vectors.
    tfidf
        ``(n_items, vocab)`` L2-normalised TF-IDF (sparse).
    item_idx
        The items to compare (``m`` of them).
    weight
        Share of the collaborative similarity, in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``(m, m)`` symmetric similarity with ones on the diagonal for non-empty items.
    """
    if not 0.0 <= weight <= 1.0:
        raise ConfigError("similarity weight must be in [0, 1]")
    v = np.asarray(item_factors[item_idx], dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = v / np.where(norms == 0, 1.0, norms)
    cf = v @ v.T
    t = tfidf[item_idx]
    content = np.asarray((t @ t.T).toarray(), dtype=np.float64)
    return weight * cf + (1.0 - weight) * content


def plot_hybrid_similarity(
    similarity: np.ndarray,
    labels: Sequence[str],
    highlight: np.ndarray,
    path: Path,
    *,
    weight: float,
) -> Path:
    """Clustered heatmap (average linkage on ``1 - similarity``) with a dendrogram on top."""
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import squareform

    dist = np.clip(1.0 - similarity, 0.0, None)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average")
    m = len(labels)
    fig = plt.figure(figsize=(max(8, 0.3 * m + 5), max(8, 0.3 * m + 4)))
    ax_d = fig.add_axes((0.3, 0.8, 0.55, 0.12))
    order = dendrogram(tree, ax=ax_d, no_labels=True, color_threshold=0)["leaves"]
    ax_d.set_axis_off()
    ax = fig.add_axes((0.3, 0.22, 0.55, 0.57))
    im = ax.imshow(similarity[np.ix_(order, order)], cmap="magma", vmin=0, vmax=1)
    ordered = [labels[i] for i in order]
    ax.set_xticks(np.arange(m))
    ax.set_xticklabels(ordered, rotation=75, ha="right", fontsize=7)
    ax.set_yticks(np.arange(m))
    ax.set_yticklabels(ordered, fontsize=7)
    for tick_x, tick_y, i in zip(ax.get_xticklabels(), ax.get_yticklabels(), order, strict=True):
        if highlight[i]:
            for tick in (tick_x, tick_y):
                tick.set_color("#d1495b")
                tick.set_fontweight("bold")
    ax.set_xlabel("movie (chosen movies in red, clustered order)")
    ax.set_ylabel("movie")
    cax = fig.add_axes((0.87, 0.22, 0.02, 0.57))
    fig.colorbar(im, cax=cax, label="similarity")
    fig.suptitle(
        f"Hybrid item similarity: {weight:g} x ALS cosine + {1 - weight:g} x TF-IDF cosine",
        y=0.97,
    )
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- reports
def read_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check an evaluation report (``reelrank evaluate --json``).

    Raises
    ------
    DataFormatError
        Not JSON, or missing ``results`` / ``model`` / ``metrics``.
    """
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(path, "report file not found") from None
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"not valid JSON ({e.msg})", line=e.lineno) from None
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise DataFormatError(path, "expected an object with a 'results' list")
    for i, r in enumerate(report["results"]):
        if not isinstance(r, dict) or "model" not in r or not isinstance(r.get("metrics"), dict):
            raise DataFormatError(path, f"results[{i}] needs 'model' and a 'metrics' object")
    return report


def _metric_table(report: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for r in report["results"]:
        for key, value in r["metrics"].items():
            m = _METRIC.match(str(key).lower())
            if m is None or not isinstance(value, int | float):
                continue
            rows.append((str(r["model"]), m["name"], int(m["k"]), float(value)))
    return pd.DataFrame(rows, columns=["model", "metric", "k", "value"])


def plot_metric_curves(report: dict[str, Any], path: Path) -> Path:
    """One panel per metric: its value against k, one line per model."""
    table = _metric_table(report)
    if table.empty:
        raise ConfigError("the report has no 'metric@k' values to plot")
    metrics = sorted(table["metric"].unique())
    cols = min(3, len(metrics))
    rows = int(np.ceil(len(metrics) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        sub = table[table["metric"] == metric].sort_values("k")
        for model, part in sub.groupby("model", sort=True):
            ax.plot(part["k"], part["value"], marker="o", label=str(model))
        ks = np.sort(sub["k"].unique())
        ax.set_xticks(ks)
        ax.set_xlabel("k (list length)")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric}@k")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_axis_off()
    title = f"Metrics vs k: {report.get('protocol', '?')} on {report.get('dataset', '?')}"
    fig.suptitle(title)
    return _save(fig, path)


# ---------------------------------------------------------------------------- page
_CAPTIONS = {
    "rating_distribution": "How often each rating value is given.",
    "ratings_per_movie": "A few blockbusters get most ratings; most movies have very few.",
    "ratings_per_user": "User activity is long-tailed too.",
    "ratings_over_time": "When the ratings were made, and the average rating each month.",
    "genre_counts": "Genres by number of movies and by ratings received.",
    "tags_per_movie": "Free-text tags: how many each movie received.",
    "factor_norms": "ALS factor norms; popular movies get larger item vectors.",
    "tfidf_heatmap": "The terms that characterise the chosen movies.",
    "hybrid_similarity": "Chosen movies plus a random sample, clustered by hybrid similarity.",
    "metric_curves": "Evaluation metrics against the list length k.",
}


def _write_html(
    path: Path, dataset: Dataset, plots: dict[str, Path], facts: dict[str, Any]
) -> Path:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>reelrank explore: {html.escape(dataset.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style>",
        "</head><body>",
        f"<h1>Exploring {html.escape(dataset.name)}</h1>",
        "<table>",
    ]
    for key, value in facts.items():
        parts.append(f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>")
    parts.append("</table>")
    for name, png in plots.items():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        heading = name.replace("_", " ").capitalize()
        parts += [
            f'<section id="{name}"><h2>{html.escape(heading)}</h2>',
            f"<p>{html.escape(_CAPTIONS.get(name, ''))}</p>",
            f'<img alt="{name}" data-file="{png.name}" src="data:image/png;base64,{data}">',
            "</section>",
        ]
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- entry point
def explore(
    dataset: Dataset,
    out_dir: str | os.PathLike[str],
    *,
    movies: Sequence[str] = ("Star Wars",),
    report: str | os.PathLike[str] | dict[str, Any] | None = None,
    n_random: int = 20,
    min_ratings: int = 20,
    similarity_weight: float = 0.5,
    als_params: dict[str, Any] | None = None,
    seed: int = 42,
    on_stage: Callable[[str], None] | None = None,
) -> ExploreResult:
    """Draw every exploration plot of ``dataset`` into ``out_dir`` plus ``index.html``.

    Parameters
    ----------
    dataset
        The data to look at.
    out_dir
        Output folder (created; existing files with the same names are replaced).
    movies
        Title substrings selecting the movies of the TF-IDF and similarity heatmaps.
    report
        An evaluation report (path or parsed dict) for the metric-versus-k plot; optional.
    n_random
        Random movies (with at least ``min_ratings`` ratings, seeded) added to the chosen
        ones in the similarity heatmap.
    min_ratings
        Popularity floor of the random sample.
    similarity_weight
        Weight of the ALS cosine in the hybrid similarity (the rest is TF-IDF cosine).
    als_params
        Hyper-parameters of the quick ALS (default 32 factors, 10 iterations).
    seed
        Seed of the ALS and of the random sample.
    on_stage
        Called with a short description as each stage starts (for progress lines).

    Returns
    -------
    ExploreResult
        The plot paths, the HTML page and the numbers shown.
    """
    from reelrank.features.builder import build_item_features
    from reelrank.models import create_model

    if dataset.n_interactions == 0:
        raise ConfigError("the dataset has no ratings to explore")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parsed_report = (
        read_report(report) if report is not None and not isinstance(report, dict) else report
    )
    chosen = select_movies(dataset, movies)
    stage = on_stage or (lambda message: None)

    plots: dict[str, Path] = {}
    stage("plotting ratings, users, time, genres and tags")
    steps: list[tuple[str, Callable[[Path], Path]]] = [
        ("rating_distribution", lambda p: plot_rating_distribution(dataset, p)),
        ("ratings_per_movie", lambda p: plot_ratings_per_movie(dataset, p)),
        ("ratings_per_user", lambda p: plot_ratings_per_user(dataset, p)),
        ("ratings_over_time", lambda p: plot_ratings_over_time(dataset, p)),
        ("genre_counts", lambda p: plot_genre_counts(dataset, p)),
        ("tags_per_movie", lambda p: plot_tags_per_movie(dataset, p)),
    ]
    for name, draw in steps:
        plots[name] = draw(out / f"{name}.png")
        logger.debug("drew %s", name)

    params = {"factors": 32, "iterations": 10, "random_state": seed, **(als_params or {})}
    stage(f"fitting a quick als ({params['factors']} factors) for the factor and similarity plots")
    als = create_model("als", **params).fit(dataset)
    user_f, item_f = als.user_factors_, als.item_factors_  # type: ignore[attr-defined]
    counts = dataset.item_counts()
    plots["factor_norms"] = plot_factor_norms(user_f, item_f, counts, out / "factor_norms.png")

    stage("item features and the TF-IDF heatmap")
    features = build_item_features(dataset)
    if features.tfidf is None or features.tfidf_terms is None:  # pragma: no cover
        raise ConfigError("the item features have no TF-IDF block")
    labels = _label(dataset.movies, chosen)
    plots["tfidf_heatmap"] = plot_tfidf_heatmap(
        features.tfidf, features.tfidf_terms, labels, chosen, out / "tfidf_heatmap.png"
    )

    stage("hybrid similarity heatmap")
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.flatnonzero(counts >= min_ratings), chosen)
    sample = np.sort(rng.choice(pool, size=min(n_random, len(pool)), replace=False))
    both = np.concatenate([chosen, sample])
    sim = hybrid_similarity(item_f, features.tfidf, both, weight=similarity_weight)
    highlight = np.arange(len(both)) < len(chosen)
    plots["hybrid_similarity"] = plot_hybrid_similarity(
        sim,
        _label(dataset.movies, both),
        highlight,
        out / "hybrid_similarity.png",
        weight=similarity_weight,
    )
    if parsed_report is not None:
        plots["metric_curves"] = plot_metric_curves(parsed_report, out / "metric_curves.png")

    summary = dataset.summary()
    first = dt.datetime.fromtimestamp(summary["first_timestamp"], dt.UTC)
    last = dt.datetime.fromtimestamp(summary["last_timestamp"], dt.UTC)
    facts: dict[str, Any] = {
        "dataset": summary["name"],
        "ratings": summary["n_ratings"],
        "users": summary["n_users"],
        "movies (rated / catalogue)": f"{summary['n_rated_items']} / {summary['n_items']}",
        "tag applications": summary["n_tags"],
        "time span": f"{first:%Y-%m-%d} to {last:%Y-%m-%d}",
        "density": f"{summary['density']:.4%}",
        "mean rating": round(float(dataset.ratings.mean()), 3),
        "median ratings per movie (rated)": float(np.median(counts[counts > 0])),
        "median ratings per user": float(np.median(dataset.user_counts()[dataset.active_users()])),
        "chosen movies": ", ".join(labels),
    }
    page = _write_html(out / "index.html", dataset, plots, facts)
    logger.info("wrote %d plots and %s", len(plots), page)
    return ExploreResult(plots=plots, html=page, facts=facts)
