"""Plots that describe a dataset: ratings, users, movies, time, genres and tags.

Each function draws one PNG with matplotlib's ``Agg`` backend and returns its path;
:func:`reelrank.evaluate.explore.explore` puts them on the exploration page.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError

__all__ = [
    "plot_genre_counts",
    "plot_rating_distribution",
    "plot_ratings_over_time",
    "plot_ratings_per_movie",
    "plot_ratings_per_user",
    "plot_tags_per_movie",
]

_DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def plot_rating_distribution(dataset: Dataset, path: Path) -> Path:
    """Bar chart: number of ratings per rating value."""
    values, counts = np.unique(dataset.ratings, return_counts=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    step = float(np.min(np.diff(values))) if len(values) > 1 else 0.5
    ax.bar(values, counts, width=0.8 * step, color="#3b6ea5", edgecolor="black", linewidth=0.4)
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.set_xlabel("rating")
    ax.set_ylabel("number of ratings")
    mean = float(dataset.ratings.mean())
    ax.set_title(f"Rating distribution ({dataset.n_interactions:,} ratings, mean {mean:.2f})")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _log_hist(counts: np.ndarray, path: Path, *, what: str, per: str, color: str) -> Path:
    counts = counts[counts > 0]
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.unique(np.logspace(0, np.log10(max(counts.max(), 2)) + 0.01, 40).astype(int))
    ax.hist(counts, bins=bins, color=color, edgecolor="black", linewidth=0.3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"ratings per {per} (log scale)")
    ax.set_ylabel(f"number of {what} (log scale)")
    ax.set_title(
        f"Ratings per {per}: {len(counts):,} {what}, median {np.median(counts):g}, "
        f"max {counts.max():,}"
    )
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_ratings_per_movie(dataset: Dataset, path: Path) -> Path:
    """Histogram of the number of ratings per rated movie, log-log (the long tail)."""
    return _log_hist(dataset.item_counts(), path, what="movies", per="movie", color="#d1495b")


def plot_ratings_per_user(dataset: Dataset, path: Path) -> Path:
    """Histogram of the number of ratings per user, log-log."""
    return _log_hist(dataset.user_counts(), path, what="users", per="user", color="#00798c")


def plot_ratings_over_time(dataset: Dataset, path: Path) -> Path:
    """Ratings per month, with the monthly mean rating on a second axis."""
    ts = pd.to_datetime(dataset.timestamps, unit="s")
    frame = pd.DataFrame({"month": ts.to_period("M").to_timestamp(), "rating": dataset.ratings})
    monthly = frame.groupby("month")["rating"].agg(["size", "mean"])
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.fill_between(monthly.index, monthly["size"], step="mid", color="#3b6ea5", alpha=0.6)
    ax.set_yscale("log")
    ax.set_xlabel("month")
    ax.set_ylabel("ratings per month (log scale)", color="#3b6ea5")
    ax2 = ax.twinx()
    ax2.plot(monthly.index, monthly["mean"], color="#edae49", linewidth=1.0)
    ax2.set_ylabel("mean rating that month", color="#b07d1a")
    ax2.set_ylim(dataset.rating_scale[0], dataset.rating_scale[1])
    first, last = ts.min(), ts.max()
    ax.set_title(f"Ratings over time ({first:%Y-%m} to {last:%Y-%m})")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_genre_counts(dataset: Dataset, path: Path) -> Path:
    """Horizontal bars: movies per genre and ratings received by movies of each genre."""
    genres = pd.Series(dataset.movies["genres"]).reset_index(drop=True).explode().dropna()
    genres = genres.astype(str)
    if genres.empty:
        raise ConfigError("the dataset has no genres to plot")
    item_counts = dataset.item_counts()
    frame = pd.DataFrame(
        {"genre": genres.to_numpy(), "ratings": item_counts[genres.index.to_numpy()]}
    )
    table = frame.groupby("genre")["ratings"].agg(movies="size", ratings="sum")
    table = table.sort_values("movies")
    fig, axes = plt.subplots(1, 2, figsize=(11, max(4, 0.3 * len(table))), sharey=True)
    axes[0].barh(table.index, table["movies"], color="#3b6ea5")
    axes[0].set_xlabel("number of movies")
    axes[0].set_title("Movies per genre")
    axes[1].barh(table.index, table["ratings"], color="#d1495b")
    axes[1].set_xlabel("number of ratings")
    axes[1].set_title("Ratings per genre")
    axes[0].set_ylabel("genre")
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_tags_per_movie(dataset: Dataset, path: Path) -> Path:
    """Histogram of tag applications per tagged movie (log y), with the untagged share."""
    tags = dataset.tags
    per_movie = np.bincount(tags["item_idx"].to_numpy(np.int64), minlength=dataset.n_items)
    tagged = per_movie[per_movie > 0]
    fig, ax = plt.subplots(figsize=(7, 4))
    if len(tagged):
        bins = np.unique(np.logspace(0, np.log10(max(tagged.max(), 2)) + 0.01, 30).astype(int))
        ax.hist(tagged, bins=bins, color="#66a182", edgecolor="black", linewidth=0.3)
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no tags in this dataset", ha="center", va="center")
    ax.set_xlabel("tag applications per movie (log scale)")
    ax.set_ylabel("number of movies (log scale)")
    share = 1.0 - len(tagged) / max(dataset.n_items, 1)
    ax.set_title(f"Tags per movie: {len(tagged):,} movies tagged, {share:.0%} have no tag")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
