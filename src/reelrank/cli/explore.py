"""``reelrank explore``: PNG plots of a dataset and one self-contained HTML page."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from reelrank.cli.common import StageLog, print_json, source_argument

logger = logging.getLogger(__name__)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Attach ``explore`` to the root app."""

    @app.command("explore")
    def explore_command(
        source: str | None = source_argument(),
        out: Path = typer.Option(..., "--out", help="Output folder for the PNGs and index.html."),
        movies: list[str] | None = typer.Option(
            None,
            "--movies",
            help="Title substring choosing the movies of the TF-IDF and similarity heatmaps "
            "(repeatable; default: 'Star Wars').",
        ),
        report: Path | None = typer.Option(
            None, "--report", help="Evaluation report JSON (reelrank evaluate --json) to plot."
        ),
        n_random: int = typer.Option(
            20, "--random", min=0, help="Random popular movies added to the similarity map."
        ),
        weight: float = typer.Option(
            0.5, "--weight", min=0.0, max=1.0, help="Weight of ALS cosine vs TF-IDF cosine."
        ),
        seed: int = typer.Option(42, "--seed", help="Seed of the ALS and the random sample."),
        as_json: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
    ) -> None:
        """Draw exploration plots (ratings, users, time, genres, tags, ALS factor norms,
        TF-IDF and hybrid-similarity heatmaps, metric curves) and an HTML page.

        Example: reelrank explore --out explore/ --movies "Star Wars" --report result.json
        """
        from reelrank.data import load
        from reelrank.evaluate.explore import explore

        stage = StageLog(quiet=as_json)  # stages start once the input has been checked
        result = explore(
            load(source),
            out,
            movies=movies or ["Star Wars"],
            report=report,
            n_random=n_random,
            similarity_weight=weight,
            seed=seed,
            on_stage=stage,
        )
        if as_json:
            print_json(
                {
                    "html": str(result.html),
                    "plots": {k: str(v) for k, v in result.plots.items()},
                    "facts": result.facts,
                }
            )
        else:
            typer.echo(f"wrote {len(result.plots)} plots and {result.html}")
