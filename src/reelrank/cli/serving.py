"""Serving commands: ``train``, ``recommend``, ``similar``, ``explain``, ``serve``, ``app``.

Thin wrappers: parse, call :mod:`reelrank.serving`, print. Errors from the library
(:class:`~reelrank.errors.ReelrankError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from reelrank.cli.common import console, print_json, source_argument
from reelrank.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["parse_rated", "register", "train_artifact"]


def _read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from None
    # accept either top-level params or a [model] / [params] table
    for key in ("params", "model"):
        if isinstance(data.get(key), dict):
            return dict(data[key])
    return data


def train_artifact(
    source: str | None,
    model_name: str,
    out: Path,
    *,
    params: dict[str, Any] | None = None,
    split: str = "none",
    progress: bool = False,
    engine: str = "local",
    master: str = "local[*]",
    force: bool = False,
) -> dict[str, Any]:
    """Fit a registered model (on all data, or a temporal split's train part) and save it.

    ``engine="spark"`` trains ``als`` on Apache Spark at ``master`` (see
    :mod:`reelrank.spark`); the artifact is the same. ``out`` is checked first: an existing
    folder that is not an artifact is refused unless ``force``.

    Returns
    -------
    dict
        Summary: model, output path, counts, seconds per stage.
    """
    from reelrank.data import load
    from reelrank.features import build_item_features
    from reelrank.models import create_model
    from reelrank.serving.artifact import save_artifact

    if split not in ("none", "temporal"):
        raise ConfigError(f"--split must be 'none' or 'temporal', got {split!r}")
    from reelrank._fs import check_output_dir

    check_output_dir(out, "artifact", force=force)  # before the work, not after
    if engine not in ("local", "spark"):
        raise ConfigError(f"--engine must be 'local' or 'spark', got {engine!r}")
    if engine == "spark" and model_name != "als":
        raise ConfigError(f"--engine spark trains model 'als' only, not {model_name!r}")
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    data = load(source)
    seconds["load"] = time.perf_counter() - t
    model = create_model(model_name, **(params or {}))
    train = data
    if split == "temporal":
        from reelrank.data.split import temporal_split

        train = temporal_split(data).train
    t = time.perf_counter()
    features = build_item_features(train, blocks=model.feature_blocks(), progress=progress)
    seconds["features"] = time.perf_counter() - t
    t = time.perf_counter()
    if engine == "spark":
        from reelrank.cli.spark import train_als_on_spark

        model = train_als_on_spark(train, model_name, master, params or {})
    else:
        model.fit(train, features)
    seconds["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    save_artifact(out, model, train, features, force=force)
    seconds["save"] = time.perf_counter() - t
    return {
        "model": model_name,
        "config": model.config.to_dict(),
        "out": str(out),
        "split": split,
        "n_users": train.n_users,
        "n_items": train.n_items,
        "n_ratings": train.n_interactions,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def parse_rated(values: list[str]) -> dict[int | str, float]:
    """Parse ``--rated "Toy Story=5"`` options (a numeric key is a movie id)."""
    out: dict[int | str, float] = {}
    for v in values:
        key, sep, rating = v.rpartition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--rated {v!r}: expected TITLE=RATING, e.g. 'Toy Story=5'")
        try:
            value = float(rating)
        except ValueError:
            raise ConfigError(f"--rated {v!r}: rating {rating!r} is not a number") from None
        out[int(key) if key.isdigit() and not key.startswith("0") else key] = value
    return out


def _service(artifact_dir: Path, db: str | None = None) -> Any:
    from reelrank.serving.artifact import load_artifact
    from reelrank.serving.service import RecommenderService

    store = None
    if db:  # SQLAlchemy is imported only when a user database is used
        from reelrank.serving.store import UserStore

        store = UserStore(db)
    return RecommenderService(load_artifact(artifact_dir), store)


def _print_recs(recs: list[Any], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("#", "movie_id", "title", "year", "genres", "score", "why"):
        table.add_column(col)
    for k, r in enumerate(recs, 1):
        table.add_row(
            str(k),
            str(r.movie_id),
            r.title,
            "" if r.year is None else str(r.year),
            ", ".join(r.genres),
            f"{r.score:.3f}",
            "; ".join(r.reasons),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Attach the serving commands to the root ``reelrank`` app."""

    @app.command("train")
    def train_cmd(
        source: str | None = source_argument(),
        model: str = typer.Option(..., "--model", "-m", help="Registered model name."),
        out: Path = typer.Option(..., "--out", "-o", help="Artifact directory to write."),
        config: Path | None = typer.Option(None, "--config", help="TOML file of model params."),
        split: str = typer.Option(
            "none", "--split", help="'none' (all data) or 'temporal' (train part only)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
        engine: str = typer.Option(
            "local",
            "--engine",
            help="'local', or 'spark' (model als only; pip install 'reelrank[spark]').",
        ),
        master: str = typer.Option(
            "local[*]", "--master", help="Spark master URL with --engine spark."
        ),
        force: bool = typer.Option(
            False, "--force", help="Replace --out even when it is not a reelrank artifact."
        ),
    ) -> None:
        """Train a model and write a servable artifact directory.

        Example: reelrank train --model hybrid --out model/
        """
        summary = train_artifact(
            source,
            model,
            out,
            params=_read_config(config),
            split=split,
            progress=not as_json,
            engine=engine,
            master=master,
            force=force,
        )
        if as_json:
            print_json(summary)
        else:
            console.print(
                f"trained [bold]{model}[/] on {summary['n_ratings']:,} ratings "
                f"({summary['seconds']['fit']:.1f} s fit) -> {out}"
            )

    @app.command("recommend")
    def recommend_cmd(
        artifact: Path = typer.Argument(..., help="Artifact directory (reelrank train)."),
        user: int | None = typer.Option(None, "--user", "-u", help="A known user id."),
        rated: list[str] = typer.Option(
            [], "--rated", "-r", help="'TITLE=RATING' or 'MOVIE_ID=RATING' (repeatable)."
        ),
        n: int = typer.Option(10, "-n", help="How many recommendations."),
        db: str | None = typer.Option(None, "--db", help="User database URL or SQLite path."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Recommend for a known user (--user) or from a few ratings (--rated).

        Example: reelrank recommend model/ --rated "Toy Story=5" --rated "Heat (1995)=4"
        """
        if (user is None) == (not rated):
            raise ConfigError("give either --user ID or one or more --rated 'TITLE=RATING'")
        service = _service(artifact, db)
        if user is not None:
            recs = service.recommend(user, n)
            if as_json:
                print_json({"user_id": user, "recommendations": [asdict(r) for r in recs]})
            else:
                _print_recs(recs, f"Top {n} for user {user}")
            return
        result = service.recommend_for_ratings(parse_rated(rated), n)
        if not result.matched:
            parts = [f"{u.input!r} ({u.reason})" for u in result.unmatched]
            raise ConfigError("no rated title matched a movie: " + ", ".join(parts))
        if as_json:
            print_json(asdict(result))
            return
        for m in result.matched:
            console.print(f"matched {m.input!r} -> {m.title} (score {m.score:.0f})")
        for u in result.unmatched:
            shown = "; ".join(f"{c.title} ({c.year})" for c in u.candidates[:5])
            console.print(f"[yellow]not used[/] {u.input!r}: {u.reason} {shown}")
        _print_recs(result.recommendations, f"Top {n} for you")

    @app.command("similar")
    def similar_cmd(
        artifact: Path = typer.Argument(..., help="Artifact directory."),
        movie: str = typer.Argument(..., help="Movie title (or id)."),
        n: int = typer.Option(10, "-n", help="How many."),
        weight: float | None = typer.Option(
            None, "--weight", help="Collaborative weight 0..1 (rest: TF-IDF content)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Movies similar to a title (collaborative + content similarity).

        Example: reelrank similar model/ "Star Wars" -n 5
        """
        service = _service(artifact)
        key: int | str = int(movie) if movie.isdigit() else movie
        from reelrank.serving.service import AmbiguousTitleError

        try:
            sims = service.similar(key, n, weight)
        except AmbiguousTitleError as e:
            # several films match (e.g. "Star Wars"): take the most-rated one and say so
            best = service.matcher.match(str(key)).candidates[0]
            typer.echo(f"note: {e.query!r} is ambiguous; using {best.label}", err=True)
            sims = service.similar(best.movie_id, n, weight)
        if as_json:
            print_json([asdict(s) for s in sims])
            return
        for k, s in enumerate(sims, 1):
            console.print(f"{k:2d}. {s.title} ({s.year})  {s.score:.3f}  {', '.join(s.genres)}")

    @app.command("explain")
    def explain_cmd(
        artifact: Path = typer.Argument(..., help="Artifact directory."),
        user: int = typer.Option(..., "--user", "-u", help="User id."),
        movie: str = typer.Option(..., "--movie", help="Movie title (or id)."),
        db: str | None = typer.Option(None, "--db", help="User database URL or SQLite path."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Explain why a movie suits a user.

        Example: reelrank explain model/ --user 1 --movie "Heat (1995)"
        """
        service = _service(artifact, db)
        key: int | str = int(movie) if movie.isdigit() else movie
        e = service.explain(user, key)
        if as_json:
            print_json(asdict(e))
            return
        m = e.movie
        rank = f", rank {e.rank}" if e.rank is not None else ""
        score = f"score {e.score:.3f}{rank}" if e.score is not None else "no score"
        console.print(f"[bold]{m.title} ({m.year})[/] for user {user}: {score}")
        for r in e.reasons or ["no strong reason found"]:
            console.print(f"  - {r}")

    @app.command("serve")
    def serve_cmd(
        artifact: Path = typer.Argument(
            ..., metavar="ARTIFACT", help="Artifact directory (reelrank train)."
        ),
        host: str = typer.Option(
            "127.0.0.1",
            "--host",
            help="Address to listen on; a non-loopback address needs an API key.",
        ),
        port: int = typer.Option(8000, "--port", help="TCP port to listen on."),
        db: str = typer.Option(
            "reelrank-users.db", "--db", help="User database: SQLAlchemy URL or SQLite path."
        ),
        ann_threshold: int = typer.Option(
            50_000, "--ann-threshold", help="Catalogue size from which HNSW top-k is used."
        ),
        api_key_file: Path | None = typer.Option(
            None,
            "--api-key-file",
            metavar="FILE",
            help="File holding the API key (default: the REELRANK_API_KEY environment "
            "variable). With a key, writes and stored users' data need "
            "'Authorization: Bearer KEY'.",
        ),
        log_level: str = typer.Option(
            "warning",
            "--log-level",
            help="Server log level: critical, error, warning, info, debug or trace.",
        ),
    ) -> None:
        """Serve the HTTP API (interactive docs at /docs and /redoc, offline).

        With an API key (REELRANK_API_KEY or --api-key-file, at least 16 characters)
        writes and stored users' data need 'Authorization: Bearer KEY'; without one the
        server listens on loopback only and writes are open.

        Example: REELRANK_API_KEY="$(cat api.key)" reelrank serve model/ --host 0.0.0.0
        """
        import ipaddress

        from reelrank.serving.api_security import MIN_API_KEY_LENGTH

        levels = ("critical", "error", "warning", "info", "debug", "trace")
        if log_level not in levels:
            raise ConfigError(f"--log-level must be one of {', '.join(levels)}, not {log_level!r}")
        if api_key_file is not None:
            if not api_key_file.is_file():  # also refuses a FIFO, which would block
                raise ConfigError(f"{api_key_file}: API key file not found (or not a file)")
            try:
                key: str | None = api_key_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"{api_key_file}: cannot read the API key ({e})") from None
            origin = str(api_key_file)
        else:
            key = os.environ.get("REELRANK_API_KEY", "").strip()
            origin = "REELRANK_API_KEY"
        key = key or None
        if api_key_file is not None and key is None:
            raise ConfigError(f"{api_key_file}: the API key file is empty")
        if key is not None and len(key) < MIN_API_KEY_LENGTH:
            raise ConfigError(
                f"the API key from {origin} has {len(key)} characters; use at least "
                f"{MIN_API_KEY_LENGTH}, e.g. the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe())'"
            )
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if key is None and not loopback:
            raise ConfigError(
                f"--host {host} is not a loopback address and no API key is set: anyone "
                "could write profiles. Set REELRANK_API_KEY or --api-key-file, or use "
                "--host 127.0.0.1"
            )

        import uvicorn

        from reelrank.serving.api import create_app
        from reelrank.serving.artifact import load_artifact
        from reelrank.serving.service import RecommenderService
        from reelrank.serving.store import UserStore

        service = RecommenderService(
            load_artifact(artifact), UserStore(db), ann_threshold=ann_threshold
        )
        api = create_app(service, api_key=key)
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        if key is None:
            logger.warning(
                "no API key (REELRANK_API_KEY or --api-key-file): writes and stored users' "
                "data are open to every local client; listening on loopback only"
            )
            auth = "open (no API key; loopback only)"
        else:
            auth = f"API key from {origin} (writes and stored users need a Bearer token)"
        typer.echo(f"reelrank API on {url}", err=True)
        typer.echo(f"API docs: {url}/docs (ReDoc: {url}/redoc)", err=True)
        typer.echo(f"auth: {auth}", err=True)
        uvicorn.run(api, host=host, port=port, log_level=log_level, access_log=False)

    @app.command("app")
    def app_cmd(
        artifact: Path = typer.Argument(..., help="Artifact directory."),
        port: int = typer.Option(8501, "--port"),
        host: str = typer.Option("127.0.0.1", "--host"),
        report: Path | None = typer.Option(None, "--report", help="Evaluation report JSON."),
    ) -> None:
        """Run the Streamlit web app on an artifact.

        Example: reelrank app model/ --port 8501
        """
        from reelrank.serving.artifact import load_artifact

        load_artifact(artifact)  # fail early, with a one-line error, on a bad artifact
        if report is not None and not report.is_file():
            raise ConfigError(f"{report}: report file not found")
        from reelrank.serving import app as app_module

        cmd = [
            sys.executable, "-m", "streamlit", "run", str(app_module.__file__),
            "--server.port", str(port), "--server.address", host,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--", str(artifact),
        ]  # fmt: skip
        if report is not None:
            cmd += ["--report", str(report)]
        raise typer.Exit(subprocess.call(cmd, env={**os.environ}))
