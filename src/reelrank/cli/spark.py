"""``reelrank recommend-all``: top-N recommendations for every user, written to Parquet.

``--engine local`` (the default) trains reelrank's single-machine ``als`` and scores users
in batches; ``--engine spark`` trains and scores inside Apache Spark (``local[*]`` or a
cluster URL). Both use the ``als`` model's hyper-parameter defaults unless given.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import typer

from reelrank.cli.common import StageLog, print_json, source_argument
from reelrank.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["prepare_spark_environment", "register", "train_als_on_spark"]

ENGINES = ("local", "spark")


def prepare_spark_environment(master: str) -> None:
    """Environment Spark needs on one machine: bind the driver to loopback for local masters.

    Only sets ``SPARK_LOCAL_IP`` when it is unset and the master is ``local[...]``, so a
    cluster's own settings are left alone.
    """
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def _als_params(**given: Any) -> dict[str, Any]:
    """The ``als`` hyper-parameters: the given ones over the model's own defaults."""
    from reelrank.models.als import ALS

    cfg = ALS(**{k: v for k, v in given.items() if v is not None}).config  # validates
    return {
        "factors": cfg.factors,
        "regularization": cfg.regularization,
        "alpha": cfg.alpha,
        "iterations": cfg.iterations,
        "random_state": cfg.random_state,
    }


def _recommend_all_local(
    source: str | None, out: Path, *, n: int, params: dict[str, Any], stage: StageLog
) -> Path:
    """Single-machine path: reelrank's ``als``, users scored in batches, one Parquet file."""
    import numpy as np
    import pandas as pd

    from reelrank.data import load
    from reelrank.models import create_model

    stage("loading data")
    data = load(source)
    stage(f"fitting als on {data.n_interactions:,} ratings")
    model = create_model("als", **params).fit(data)
    users = data.active_users()
    stage(f"scoring {len(users):,} users")
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
        engine: str = typer.Option(
            "local", "--engine", help="'local' (one machine) or 'spark' (Apache Spark)."
        ),
        master: str = typer.Option(
            "local[*]",
            "--master",
            help="Spark master URL with --engine spark (local[*], spark://host:7077, yarn).",
        ),
        n: int = typer.Option(10, "-n", "--n", min=1, help="Recommendations per user."),
        factors: int | None = typer.Option(
            None, "--factors", min=1, help="ALS rank. Default: the als model's (32)."
        ),
        reg: float | None = typer.Option(
            None, "--reg", min=0.0, help="ALS regularisation. Default: the als model's (10.0)."
        ),
        alpha: float | None = typer.Option(
            None, "--alpha", help="Confidence scaling (> 0). Default: the als model's (1.0)."
        ),
        iterations: int | None = typer.Option(
            None, "--iterations", min=1, help="ALS sweeps. Default: the als model's (15)."
        ),
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

        Example: reelrank recommend-all -n 10 --out recs.parquet

        Example: reelrank recommend-all --engine spark --master 'local[2]' --out recs.parquet
        """
        if engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if alpha is not None and alpha <= 0:
            raise ConfigError("--alpha must be > 0")
        try:
            params = _als_params(
                factors=factors,
                regularization=reg,
                alpha=alpha,
                iterations=iterations,
                random_state=seed,
            )
        except ValueError as e:
            raise ConfigError(str(e)) from None
        start = time.perf_counter()
        stage = StageLog(quiet=as_json)
        if engine == "spark":
            from reelrank.spark import recommend_all_spark

            prepare_spark_environment(master)
            stage(f"training and scoring on Spark ({master})")
            path = recommend_all_spark(
                source,
                out,
                n=n,
                master=master,
                factors=params["factors"],
                reg=params["regularization"],
                alpha=params["alpha"],
                iterations=params["iterations"],
                seed=params["random_state"],
                parquet_dir=parquet_dir,
            )
        else:
            path = _recommend_all_local(source, out, n=n, params=params, stage=stage)
        import pandas as pd

        frame = pd.read_parquet(path, columns=["user_id"])
        summary = {
            "engine": engine,
            "out": str(path),
            "als": params,
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
