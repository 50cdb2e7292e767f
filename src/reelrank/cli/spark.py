"""``reelrank recommend-all``: top-N recommendations for every user, written to Parquet.

``--engine spark`` trains and scores inside Apache Spark (``local[*]`` or a cluster URL);
``--engine local`` does the same with reelrank's single-machine ``als``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import typer

from reelrank.cli.common import print_json, source_argument
from reelrank.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["prepare_spark_environment", "register", "train_als_on_spark"]

ENGINES = ("spark", "local")


def prepare_spark_environment(master: str) -> None:
    """Environment Spark needs on one machine: bind the driver to loopback for local masters.

    Only sets ``SPARK_LOCAL_IP`` when it is unset and the master is ``local[...]``, so a
    cluster's own settings are left alone.
    """
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def _recommend_all_local(
    source: str | None,
    out: Path,
    *,
    n: int,
    factors: int,
    reg: float,
    alpha: float,
    iterations: int,
    seed: int,
) -> Path:
    """Single-machine path: reelrank's ``als``, users scored in batches, one Parquet file."""
    import numpy as np
    import pandas as pd

    from reelrank.data import load
    from reelrank.models import create_model

    data = load(source)
    model = create_model(
        "als",
        factors=factors,
        regularization=reg,
        alpha=alpha,
        iterations=iterations,
        random_state=seed,
    ).fit(data)
    users = data.active_users()
    item_idx, scores = model.recommend(users, n=n)
    k = item_idx.shape[1]
    valid = item_idx >= 0
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(data.users.ids(users), k).reshape(-1, k)[valid],
            "rank": np.broadcast_to(np.arange(1, k + 1, dtype=np.int32), item_idx.shape)[valid],
            "movie_id": data.items.ids(item_idx[valid]),
            "score": scores[valid],
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    return out


def register(app: typer.Typer) -> None:
    """Attach ``recommend-all`` to the root app."""

    @app.command("recommend-all")
    def recommend_all(
        source: str | None = source_argument(),
        out: Path = typer.Option(..., "--out", help="Output Parquet path."),
        engine: str = typer.Option("spark", "--engine", help="'spark' or 'local'."),
        master: str = typer.Option(
            "local[*]", "--master", help="Spark master URL (local[*], spark://host:7077, yarn)."
        ),
        n: int = typer.Option(10, "-n", "--n", min=1, help="Recommendations per user."),
        factors: int = typer.Option(64, "--factors", min=1, help="ALS rank."),
        reg: float = typer.Option(0.05, "--reg", min=0.0, help="ALS regularisation."),
        alpha: float = typer.Option(10.0, "--alpha", help="Confidence scaling (> 0)."),
        iterations: int = typer.Option(15, "--iterations", min=1, help="ALS sweeps."),
        seed: int = typer.Option(42, "--seed", help="Random seed."),
        parquet_dir: Path | None = typer.Option(
            None,
            "--parquet-dir",
            help="Where Spark reads the ratings Parquet from (a shared path on a cluster; "
            "default: a temporary directory).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Train ALS and write the top-N unseen movies of every user to Parquet
        (columns user_id, rank, movie_id, score).

        Example: reelrank recommend-all --engine spark --master 'local[2]' -n 10
        --out recs.parquet
        """
        if engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if alpha <= 0:
            raise ConfigError("--alpha must be > 0")
        start = time.perf_counter()
        if engine == "spark":
            from reelrank.spark import recommend_all_spark

            prepare_spark_environment(master)
            path = recommend_all_spark(
                source,
                out,
                n=n,
                master=master,
                factors=factors,
                reg=reg,
                alpha=alpha,
                iterations=iterations,
                seed=seed,
                parquet_dir=parquet_dir,
            )
        else:
            path = _recommend_all_local(
                source,
                out,
                n=n,
                factors=factors,
                reg=reg,
                alpha=alpha,
                iterations=iterations,
                seed=seed,
            )
        import pandas as pd

        frame = pd.read_parquet(path, columns=["user_id"])
        summary = {
            "engine": engine,
            "out": str(path),
            "n_users": int(frame["user_id"].nunique()),
            "n_rows": len(frame),
            "seconds": round(time.perf_counter() - start, 2),
        }
        if as_json:
            print_json(summary)
        else:
            typer.echo(
                f"wrote {summary['n_rows']} recommendations for {summary['n_users']} users "
                f"to {path} ({engine}, {summary['seconds']} s)"
            )


def train_als_on_spark(train: Any, model_name: str, master: str, params: dict[str, Any]) -> Any:
    """``reelrank train --engine spark``: train ``als`` on Spark with its config's parameters.

    Parameters
    ----------
    train
        The training :class:`~reelrank.data.dataset.Dataset`.
    model_name
        Must be ``"als"`` (the only model with a Spark backend).
    master
        Spark master URL.
    params
        ``als`` hyper-parameters (``factors``, ``regularization``, ``alpha``, ``iterations``,
        ``weighting``, ``random_state``); defaults are the ``als`` defaults.

    Returns
    -------
    reelrank.models.als.ALS
        The fitted model, factors from Spark.
    """
    if model_name != "als":
        raise ConfigError(f"--engine spark trains model 'als' only, not {model_name!r}")
    from reelrank.models.als import ALS
    from reelrank.spark import train_als_spark

    cfg = ALS(**params).config  # validates names and values
    prepare_spark_environment(master)
    return train_als_spark(
        train,
        master=master,
        factors=cfg.factors,
        reg=cfg.regularization,
        alpha=cfg.alpha,
        iterations=cfg.iterations,
        seed=cfg.random_state,
        weighting=cfg.weighting,
    )
