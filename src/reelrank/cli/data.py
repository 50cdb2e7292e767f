"""``reelrank data ...``: inspect, download and synthesize MovieLens data.

The environment variables ``REELRANK_CACHE`` (download cache) and ``REELRANK_BASE_URL``
(download location) are read here, in the CLI only; the library takes parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

import typer

from reelrank.cli.common import console, print_json, source_argument

logger = logging.getLogger(__name__)

CACHE_ENV = "REELRANK_CACHE"
BASE_URL_ENV = "REELRANK_BASE_URL"

data_app = typer.Typer(
    name="data",
    help="Inspect, download and synthesize MovieLens data.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def cache_dir_from_env(flag: Path | None = None) -> Path | None:
    """The cache folder: the ``--dir`` flag, else ``$REELRANK_CACHE``, else the default."""
    if flag is not None:
        return flag
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else None


def _when(ts: int | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d")


@data_app.command("info")
def info(
    source: str | None = source_argument(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Counts, rating scale, time span, density and the layout detected.

    Example: reelrank data info ml-100k --json
    """
    from reelrank.data.movielens import load

    dataset = load(source, progress=False, cache_dir=cache_dir_from_env())
    summary: dict[str, Any] = dataset.summary()
    if as_json:
        print_json(summary)
        return
    rows = [
        ("source", summary.get("source_path", summary["name"])),
        ("layout", summary["layout"]),
        ("ratings", f"{summary['n_ratings']:,}"),
        ("users", f"{summary['n_users']:,}"),
        ("movies", f"{summary['n_items']:,} ({summary['n_rated_items']:,} rated)"),
        ("tags", f"{summary['n_tags']:,}"),
        ("rating scale", f"{summary['scale_min']:g}..{summary['scale_max']:g}"),
        (
            "ratings seen",
            "-"
            if summary["rating_min"] is None
            else f"{summary['rating_min']:g}..{summary['rating_max']:g}",
        ),
        (
            "time span",
            f"{_when(summary['first_timestamp'])} .. {_when(summary['last_timestamp'])}",
        ),
        ("density", f"{summary['density']:.4%}"),
        ("duplicates dropped", f"{summary.get('duplicates_dropped', 0):,}"),
        (
            "genome / people / reviews",
            "{has_genome} / {has_people} / {has_reviews}".format(**summary),
        ),
    ]
    for key, value in rows:
        console.print(f"[bold]{key:>26}[/bold]  {value}", highlight=False)


@data_app.command("fetch")
def fetch_cmd(
    name: str = typer.Argument(
        ...,
        help="ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-32m, ml-latest-small or ml-latest.",
        show_default=False,
    ),
    directory: Path | None = typer.Option(
        None, "--dir", help=f"Cache folder (default ${CACHE_ENV} or ~/.cache/reelrank)."
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help=f"Download location (default ${BASE_URL_ENV} or the official GroupLens one).",
    ),
    force: bool = typer.Option(False, "--force", help="Download again if already cached."),
) -> None:
    """Download an official MovieLens zip, verify its checksums and extract it.

    Example: reelrank data fetch ml-100k --dir ~/data/movielens
    """
    from reelrank.data.fetch import fetch

    path = fetch(
        name,
        cache_dir=cache_dir_from_env(directory),
        base_url=base_url or os.environ.get(BASE_URL_ENV) or None,
        force=force,
        progress=True,
    )
    typer.echo(str(path))


@data_app.command("synth")
def synth_cmd(
    users: int = typer.Option(..., "--users", min=1, help="Number of users."),
    items: int = typer.Option(..., "--items", min=1, help="Number of movies."),
    ratings: int = typer.Option(..., "--ratings", min=1, help="Number of ratings."),
    tags: int = typer.Option(0, "--tags", min=0, help="Number of tag applications."),
    out: Path = typer.Option(..., "--out", help="Output folder (ml-32m layout)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Write a synthetic dataset in the ml-32m layout with a planted taste structure.

    Example: reelrank data synth --users 2000 --items 3000 --ratings 200000 --tags 1000 --out synth
    """
    from reelrank.data.synth import synthesize
    from reelrank.errors import ConfigError

    try:
        path = synthesize(
            out, n_users=users, n_items=items, n_ratings=ratings, n_tags=tags, seed=seed
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Attach the ``data`` group to the root ``reelrank`` app."""
    # --- hook for the splitter engineer: `reelrank data split` lives in cli/data_split.py ---
    try:
        from reelrank.cli.data_split import add_split_command
    except ModuleNotFoundError as e:
        if e.name != "reelrank.cli.data_split":
            raise
    else:
        add_split_command(data_app)
    app.add_typer(data_app, name="data")
