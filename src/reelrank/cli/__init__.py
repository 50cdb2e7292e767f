"""The ``reelrank`` command line: thin wrappers over the library.

Sub-command groups live in their own modules (``cli/data.py``, ``cli/features.py``...) and
are attached here. User errors (:class:`~reelrank.errors.ReelrankError`) print one line on
stderr and exit with status 2; ``-v`` turns on debug logging.
"""

from __future__ import annotations

import logging
import sys
from importlib import import_module

import click
import typer

from reelrank import __version__
from reelrank.errors import ReelrankError

app = typer.Typer(
    name="reelrank",
    help="reelrank: a hybrid movie recommender (collaborative filtering + content).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# (module, function): each module's function adds its commands to the root app
_GROUPS: list[tuple[str, str]] = [
    ("reelrank.cli.data", "register"),
    ("reelrank.cli.features", "register"),
    ("reelrank.cli.models", "register"),
    ("reelrank.cli.rank", "register"),
    ("reelrank.cli.serving", "register"),
    ("reelrank.cli.explore", "register"),
    ("reelrank.cli.spark", "register"),
    ("reelrank.cli.demo", "register"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reelrank {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Debug logging on stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """reelrank: a hybrid movie recommender (collaborative filtering + content)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _attach() -> None:
    for module_name, attr in _GROUPS:
        getattr(import_module(module_name), attr)(app)


_attach()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reelrank`` console script."""
    try:
        app(args=argv, standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code or 0)
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return 2
    except ReelrankError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except FileNotFoundError as e:
        typer.echo(f"error: file not found: {e.filename or e}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


def run() -> None:
    """Console-script wrapper that exits with :func:`main`'s status."""
    sys.exit(main())
