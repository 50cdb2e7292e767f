"""Helpers shared by the CLI command modules: JSON output, source loading, rich console."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

#: the standard SOURCE argument: a folder or .zip of any MovieLens layout; default bundled
SOURCE_HELP = (
    "MovieLens folder or .zip (any layout), or a name fetched with `reelrank data fetch`. "
    "Default: the bundled ml-latest-small."
)


def source_argument() -> Any:
    """The optional SOURCE positional argument used by every data-consuming command."""
    return typer.Argument(None, help=SOURCE_HELP, show_default=False)


def _default(o: Any) -> Any:
    import numpy as np  # imported here: --help must not pay for numpy

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, set | tuple):
        return list(o)
    return str(o)


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (numpy values converted)."""
    sys.stdout.write(json.dumps(obj, default=_default, indent=2) + "\n")
    sys.stdout.flush()


class StageLog:
    """Named stage lines on stderr (``  3.2 s  fitting ease (2/3)``), silent when quiet.

    Long commands name each stage as it starts, so a user always knows what is running;
    ``--json`` runs pass ``quiet=True`` and keep stderr clean. An instance is a
    ``Callable[[str], None]``, the shape of the library's ``on_stage`` callbacks.
    """

    def __init__(self, *, quiet: bool = False) -> None:
        import time

        self.quiet = quiet
        self._clock = time.perf_counter
        self._start = self._clock()

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        elapsed = self._clock() - self._start
        from rich.markup import escape  # messages may hold brackets: "local[2]", "[spark]"

        err_console.print(
            f"[dim]{elapsed:6.1f} s[/dim]  {escape(message)}", highlight=False, soft_wrap=True
        )
