"""``reelrank data split``: split a dataset and write the parts as Parquet.

The data command group (``cli/data.py``) calls :func:`add_split_command` to attach it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from reelrank.cli.common import console, print_json, source_argument
from reelrank.errors import ConfigError

__all__ = ["METHOD_NAMES", "add_split_command"]

#: the keys of :data:`reelrank.data.split.METHODS`, spelled out so that ``--help`` does not
#: import the data layer (a test keeps the two equal)
METHOD_NAMES = (
    "random",
    "stratified-user",
    "stratified-item",
    "temporal",
    "leave-last-k",
    "leave-one-out",
    "time-cutoff",
    "kfold",
    "cold-items",
    "cold-users",
    "predefined",
)

_EXAMPLES = """
Examples:

  reelrank data split --method temporal --test-ratio 0.2 --val-ratio 0.1 --out splits/temporal

  reelrank data split ml-100k --method predefined --name ua --out splits/ua

  reelrank data split --method kfold --k 5 --out splits/kfold   (one folder per fold)
"""


def add_split_command(data_app: typer.Typer) -> None:
    """Attach the ``split`` command to the ``reelrank data`` group.

    Parameters
    ----------
    data_app
        The typer app of the ``data`` group.
    """
    methods = ", ".join(METHOD_NAMES)

    @data_app.command("split", epilog=_EXAMPLES)
    def split_command(
        source: str | None = source_argument(),
        method: str = typer.Option(..., "--method", "-m", help=f"One of: {methods}."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (replaced)."),
        test_ratio: float | None = typer.Option(
            None,
            "--test-ratio",
            help="Fraction held out for test (random, stratified-*, temporal).",
        ),
        val_ratio: float | None = typer.Option(
            None, "--val-ratio", help="Fraction for validation (ratios, cold-items/-users)."
        ),
        k: int | None = typer.Option(
            None, "--k", help="Ratings per user held out (leave-last-k) or number of folds."
        ),
        val_k: int | None = typer.Option(None, "--val-k", help="leave-last-k: validation k."),
        fold: int | None = typer.Option(
            None, "--fold", help="kfold: write only this fold (0-based); default every fold."
        ),
        seed: int | None = typer.Option(None, "--seed", help="Random seed (default 42)."),
        name: str | None = typer.Option(
            None, "--name", help="predefined: ml-100k split name (u1..u5, ua, ub)."
        ),
        test_start: str | None = typer.Option(
            None, "--test-start", help="time-cutoff: epoch seconds, ISO date or quantile."
        ),
        val_start: str | None = typer.Option(
            None, "--val-start", help="time-cutoff: start of validation (same forms)."
        ),
        item_ratio: float | None = typer.Option(
            None, "--item-ratio", help="cold-items: fraction of movies held out."
        ),
        min_ratings: int | None = typer.Option(
            None, "--min-ratings", help="cold-items: only movies with this many ratings."
        ),
        user_ratio: float | None = typer.Option(
            None, "--user-ratio", help="cold-users: fraction of users held out."
        ),
        fold_in_ratio: float | None = typer.Option(
            None, "--fold-in-ratio", help="cold-users: fraction of a profile folded in."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        force: bool = typer.Option(
            False, "--force", help="Replace --out even when it is not a reelrank split."
        ),
    ) -> None:
        """Split a dataset into train / validation / test (/ fold-in) Parquet files.

        Each part is written as <part>.parquet (user_id, movie_id, rating, timestamp) with a
        split.json describing the method, parameters and sizes.
        """
        given = {
            "test_ratio": test_ratio,
            "val_ratio": val_ratio,
            "k": k,
            "val_k": val_k,
            "fold": fold,
            "seed": seed,
            "name": name,
            "test_start": test_start,
            "val_start": val_start,
            "item_ratio": item_ratio,
            "min_ratings": min_ratings,
            "user_ratio": user_ratio,
            "fold_in_ratio": fold_in_ratio,
        }
        from reelrank._fs import allow_replace, check_output_dir

        check_output_dir(out, None, force=force)  # refuse a foreign folder before the work
        with allow_replace(force):
            result = run_split(
                source, method, out, {k_: v for k_, v in given.items() if v is not None}
            )
        if as_json:
            print_json(result)
            return
        _print_table(result)


def run_split(source: str | None, method: str, out: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Load ``source``, split it and save the parts under ``out``.

    Returns
    -------
    dict
        ``{"method", "dataset", "out", "parts", "folds": [{"fold", "out", "parts"}]}``:
        one ``folds`` entry per written folder (several for ``kfold`` without ``--fold``,
        which writes ``DIR/fold-<i>``); ``parts`` (sizes per part) when one folder is written.
    """
    from reelrank.data import load
    from reelrank.data.split import kfold, method_params, split

    accepted = method_params(method)
    flags = sorted(f"--{p.replace('_', '-')}" for p in set(params) - set(accepted))
    if flags:
        raise ConfigError(f"method {method} does not take {', '.join(flags)}")
    if method == "predefined" and "name" not in params:
        raise ConfigError("method predefined needs --name (u1..u5, ua or ub)")
    if method == "time-cutoff" and "test_start" not in params:
        raise ConfigError("method time-cutoff needs --test-start")
    ds = load(source)
    written = []
    if method == "kfold" and "fold" not in params:
        for part in kfold(ds, **params):
            fold_dir = out / f"fold-{part.params['fold']}"
            part.save(fold_dir)
            written.append(
                {"fold": part.params["fold"], "out": str(fold_dir), "parts": part.sizes()}
            )
    else:
        result = split(ds, method, **params)
        result.save(out)
        written.append({"fold": params.get("fold"), "out": str(out), "parts": result.sizes()})
    summary: dict[str, Any] = {"method": method, "dataset": ds.name, "out": str(out)}
    if len(written) == 1:
        summary["parts"] = written[0]["parts"]
    summary["folds"] = written
    return summary


def _print_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    for entry in result["folds"]:
        title = f"{result['dataset']}: {result['method']} split -> {entry['out']}"
        table = Table(title=title)
        for col in ("part", "ratings", "users", "movies", "tags"):
            table.add_column(col, justify="left" if col == "part" else "right")
        for part, size in entry["parts"].items():
            table.add_row(
                part,
                f"{size['n_ratings']:,}",
                f"{size['n_users']:,}",
                f"{size['n_items']:,}",
                f"{size['n_tags']:,}",
            )
        console.print(table)
