"""Serving commands: ``train``, ``recommend``, ``similar``, ``explain``, ``serve``, ``app``.

Thin wrappers: parse, call :mod:`reelrank.serving`, print. Errors from the library
(:class:`~reelrank.errors.ReelrankError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from reelrank.cli.common import console, print_json, source_argument
from reelrank.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["json_errors", "parse_rated", "register", "run_child", "train_artifact"]


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
    from reelrank.cli.common import StageLog

    model = create_model(model_name, **(params or {}))  # a bad name or param fails first
    stage = StageLog(quiet=not progress)  # one stderr line as each stage starts
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    stage(f"loading {source or 'the bundled ml-latest-small'}")
    data = load(source)
    seconds["load"] = time.perf_counter() - t
    train = data
    if split == "temporal":
        from reelrank.data.split import temporal_split

        stage("splitting (temporal, train part only)")
        train = temporal_split(data).train
    t = time.perf_counter()
    if model.feature_blocks():
        stage(f"item features ({', '.join(sorted(model.feature_blocks()))})")
    features = build_item_features(train, blocks=model.feature_blocks(), progress=progress)
    seconds["features"] = time.perf_counter() - t
    t = time.perf_counter()
    where = f" on Spark ({master})" if engine == "spark" else ""
    stage(f"fitting {model_name} on {train.n_interactions:,} ratings{where}")
    if engine == "spark":
        from reelrank.cli.spark import train_als_on_spark

        model = train_als_on_spark(train, model_name, master, params or {})
    else:
        model.fit(train, features)
    seconds["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    stage(f"writing the artifact to {out}")
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


def _print_recs(recs: Any, title: str) -> None:
    """A table of recommendations (``raw_score`` column when the model has display scores)."""
    from rich.table import Table

    items = list(recs)
    with_raw = any(getattr(r, "raw_score", None) is not None for r in items)
    table = Table(title=title)
    cols = ["#", "movie_id", "title", "year", "genres", "score"]
    for col in [*cols, "raw score"] if with_raw else cols:
        table.add_column(col)
    table.add_column("why")
    for k, r in enumerate(items, 1):
        cells = [
            str(k),
            str(r.movie_id),
            r.title,
            "" if r.year is None else str(r.year),
            ", ".join(r.genres),
            f"{r.score:.3f}",
        ]
        if with_raw:
            cells.append("" if r.raw_score is None else f"{r.raw_score:.3f}")
        table.add_row(*cells, "; ".join(r.reasons))
    console.print(table)


def _print_inputs(result: Any) -> None:
    """How each input matched (and the popularity fallback flag), before the list."""
    for m in result.matched:
        if m.how != "movie id":
            console.print(f"matched {m.input!r} -> {m.title} ({m.how})", highlight=False)
    for u in result.unmatched:
        near = "; ".join(f"{c.title} ({c.year})" for c in u.candidates[:3])
        hint = f" (closest: {near})" if near else ""
        console.print(f"[yellow]not used[/] {u.input!r}: {u.reason}{hint}", highlight=False)
    if result.fallback == "popular":
        console.print("[yellow]fallback:[/] no usable rating; showing the most popular movies")


def _no_match_error(result: Any) -> ConfigError:
    parts = []
    for u in result.unmatched:
        near = "; ".join(f"{c.title} ({c.year})" for c in u.candidates[:3])
        parts.append(f"{u.input!r} ({u.reason}{f'; closest: {near}' if near else ''})")
    return ConfigError("no rated title matched a movie: " + ", ".join(parts))


@contextmanager
def json_errors(as_json: bool) -> Iterator[None]:
    """Under ``--json``, also print a user error as JSON on stdout (then exit 2 as usual).

    An ambiguous title gives ``{"error": "ambiguous title", "query": ..., "candidates":
    [{"movie_id", "title", "year"}, ...]}``, so scripts can pick a candidate.
    """
    from reelrank.errors import AmbiguousTitleError, ReelrankError

    try:
        yield
    except AmbiguousTitleError as e:
        if as_json:
            print_json({"error": "ambiguous title", "query": e.query, "candidates": e.candidates})
        raise
    except ReelrankError as e:
        if as_json:
            print_json({"error": str(e)})
        raise


def run_child(cmd: list[str], *, grace_s: float = 10.0) -> int:
    """Run ``cmd`` in its own process group until it exits or we are told to stop.

    SIGTERM, SIGINT and SIGHUP sent to this process are passed on to the child's whole
    process group (Streamlit and anything it started), which gets ``grace_s`` seconds to
    exit before SIGKILL. Without this, killing ``reelrank app`` left Streamlit serving.

    Returns
    -------
    int
        The child's exit status, or ``128 + signal`` when a signal stopped it.
    """
    proc = subprocess.Popen(cmd, env={**os.environ}, start_new_session=True)
    received: list[int] = []

    def _forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, _forward) for s in handled}
    try:
        while True:
            try:
                code = proc.wait(timeout=grace_s if received else None)
                break
            except subprocess.TimeoutExpired:  # did not stop within the grace period
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    return 128 + received[0] if received else int(code)


def register(app: typer.Typer) -> None:
    """Attach the serving commands to the root ``reelrank`` app."""

    @app.command("train")
    def train_cmd(
        source: str | None = source_argument(),
        model: str = typer.Option(
            ...,
            "--model",
            "-m",
            metavar="MODEL",
            help="Registered model name (see `reelrank models`), e.g. als or hybrid.",
        ),
        out: Path = typer.Option(
            ..., "--out", "-o", metavar="DIR", help="Artifact directory to write."
        ),
        config: Path | None = typer.Option(
            None, "--config", metavar="FILE", help="TOML file of model parameters."
        ),
        split: str = typer.Option(
            "none",
            "--split",
            metavar="SPLIT",
            help="'none' (all data) or 'temporal' (the train part of an 80/20 split only).",
        ),
        as_json: bool = typer.Option(False, "--json", metavar="", help="Print a JSON summary."),
        engine: str = typer.Option(
            "local",
            "--engine",
            metavar="ENGINE",
            help="'local', or 'spark' (model als only; pip install 'reelrank[spark]').",
        ),
        master: str = typer.Option(
            "local[*]", "--master", metavar="URL", help="Spark master URL with --engine spark."
        ),
        force: bool = typer.Option(
            False,
            "--force",
            metavar="",
            help="Replace --out even when it is not a reelrank artifact.",
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
        artifact: Path = typer.Argument(
            ..., metavar="ARTIFACT", help="Artifact directory written by `reelrank train`."
        ),
        user: int | None = typer.Option(
            None, "--user", "-u", metavar="USER_ID", help="A user id of the training data."
        ),
        rated: list[str] = typer.Option(
            [],
            "--rated",
            "-r",
            metavar="TITLE=RATING",
            help="A movie you rated, as 'TITLE=RATING' or 'MOVIE_ID=RATING' (repeatable; "
            "the rating on the data's own scale, e.g. 0.5..5).",
        ),
        n: int = typer.Option(10, "-n", metavar="N", help="How many recommendations."),
        db: str | None = typer.Option(
            None, "--db", metavar="URL", help="User database (SQLAlchemy URL or SQLite path)."
        ),
        as_json: bool = typer.Option(
            False, "--json", metavar="", help="Print JSON (query, matched, items)."
        ),
    ) -> None:
        """Recommend for a known user (--user) or from a few ratings (--rated).

        Example: reelrank recommend model/ --rated "Toy Story=5" --rated "Heat (1995)=4"
        """
        if (user is None) == (not rated):
            raise ConfigError("give either --user ID or one or more --rated 'TITLE=RATING'")
        service = _service(artifact, db)
        if user is not None:
            result = service.recommend(user, n)
        else:
            with json_errors(as_json):
                result = service.recommend_for_ratings(parse_rated(rated), n)
                if not result.matched:
                    raise _no_match_error(result)
        if as_json:
            print_json(result.to_dict())
            return
        _print_inputs(result)
        who = f"user {user}" if user is not None else "you"
        _print_recs(result, f"Top {n} for {who}")

    @app.command("similar")
    def similar_cmd(
        artifact: Path = typer.Argument(
            ..., metavar="ARTIFACT", help="Artifact directory written by `reelrank train`."
        ),
        movie: str = typer.Argument(
            ..., metavar="TITLE", help="Movie title (fuzzy; add the year if several match) or id."
        ),
        n: int = typer.Option(10, "-n", metavar="N", help="How many similar movies."),
        weight: float | None = typer.Option(
            None,
            "--weight",
            metavar="W",
            help="Weight 0..1 of the collaborative similarity (the rest: content). Default 0.5.",
        ),
        as_json: bool = typer.Option(
            False, "--json", metavar="", help="Print JSON (query, matched, items)."
        ),
    ) -> None:
        """Movies similar to a title (collaborative + content similarity).

        Example: reelrank similar model/ "Star Wars: Episode IV" -n 5
        """
        service = _service(artifact)
        key: int | str = int(movie) if movie.isdigit() else movie
        with json_errors(as_json):
            result = service.similar(key, n, weight)
        if as_json:
            print_json(result.to_dict())
            return
        _print_inputs(result)
        for k, s in enumerate(result, 1):
            year = f" ({s.year})" if s.year is not None else ""
            console.print(
                f"{k:2d}. {s.title}{year}  {s.score:.3f}  {', '.join(s.genres)}", highlight=False
            )

    @app.command("explain")
    def explain_cmd(
        artifact: Path = typer.Argument(
            ..., metavar="ARTIFACT", help="Artifact directory written by `reelrank train`."
        ),
        user: int = typer.Option(
            ..., "--user", "-u", metavar="USER_ID", help="A training or database user id."
        ),
        movie: str = typer.Option(
            ..., "--movie", metavar="TITLE", help="Movie title (fuzzy) or id to explain."
        ),
        db: str | None = typer.Option(
            None, "--db", metavar="URL", help="User database (SQLAlchemy URL or SQLite path)."
        ),
        as_json: bool = typer.Option(False, "--json", metavar="", help="Print JSON."),
    ) -> None:
        """Explain why a movie suits a user.

        Example: reelrank explain model/ --user 1 --movie "Heat (1995)"
        """
        service = _service(artifact, db)
        key: int | str = int(movie) if movie.isdigit() else movie
        with json_errors(as_json):
            e = service.explain(user, key)
        if as_json:
            print_json(asdict(e))
            return
        m = e.movie
        rank = f", rank {e.rank}" if e.rank is not None else ""
        score = f"score {e.score:.3f}{rank}" if e.score is not None else "no score"
        year = f" ({m.year})" if m.year is not None else ""
        console.print(f"[bold]{m.title}{year}[/] for user {user}: {score}")
        for r in e.reasons or ["no strong reason found"]:
            console.print(f"  - {r}", highlight=False)

    @app.command("serve")
    def serve_cmd(
        artifact: Path = typer.Argument(
            ..., metavar="ARTIFACT", help="Artifact directory written by `reelrank train`."
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
        artifact: Path = typer.Argument(
            ..., metavar="ARTIFACT", help="Artifact directory written by `reelrank train`."
        ),
        port: int = typer.Option(8501, "--port", metavar="PORT", help="Port to listen on."),
        host: str = typer.Option(
            "127.0.0.1", "--host", metavar="HOST", help="Address to bind (0.0.0.0: all)."
        ),
        report: Path | None = typer.Option(
            None,
            "--report",
            metavar="FILE",
            help="Evaluation report (result.json of `reelrank evaluate`) for the comparison "
            "tab; default: the artifact's own metrics.",
        ),
    ) -> None:
        """Run the Streamlit web app on an artifact (Ctrl-C or SIGTERM stops it).

        Example: reelrank app model/ --port 8501
        """
        from importlib.util import find_spec

        from reelrank.serving.artifact import load_artifact

        load_artifact(artifact)  # fail early, with a one-line error, on a bad artifact
        if report is not None and not report.is_file():
            raise ConfigError(f"{report}: report file not found")
        spec = find_spec("reelrank.serving.app")  # its path, without importing streamlit here
        assert spec is not None and spec.origin is not None
        cmd = [
            sys.executable, "-m", "streamlit", "run", spec.origin,
            "--server.port", str(port), "--server.address", host,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer",
            "--", str(artifact),
        ]  # fmt: skip
        if report is not None:
            cmd += ["--report", str(report)]
        console.print(f"reelrank app on http://{host}:{port} (Ctrl-C to stop)", highlight=False)
        raise typer.Exit(run_child(cmd))
