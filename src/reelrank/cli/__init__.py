"""The ``reelrank`` command line: thin wrappers over the library.

Sub-command groups live in their own modules (``cli/data.py``, ``cli/features.py``...) and
are attached here. Exit statuses:

* 0: success; also ``reelrank`` or a group such as ``reelrank data`` without a sub-command,
  which print their help;
* 2: a user error: a usage error (unknown command or option, a bad or missing value) or a
  :class:`~reelrank.errors.ReelrankError` (bad data, unknown model, missing file). One line
  on stderr, never a traceback (``-v`` turns on debug logging);
* 130: interrupted.

The heavy libraries are imported inside the commands, so ``reelrank --help`` stays fast.
"""

from __future__ import annotations

import inspect
import logging
import sys
from importlib import import_module
from typing import Any

import typer

# typer >= 0.29 vendors its own click and raises that copy's exceptions (which are not
# subclasses of the ``click`` package's), so they are imported from where typer gets them
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

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


#: typer's type labels (``<int>``) -> the metavars shown in help (``INTEGER``)
_METAVARS = {
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "FLOAT",
    "float range": "FLOAT",
    "str": "TEXT",
    "list[str]": "TEXT",
    "list[int]": "INTEGER",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIR",
    "bool": "",
}


def _reflow(text: str) -> str:
    """Join the lines of each prose paragraph; indented blocks and lists stay as written."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.splitlines()
        keep = para.startswith("\b") or any(
            line[:1].isspace() or line.lstrip().startswith(("- ", "* ")) for line in lines
        )
        out.append(para if keep else " ".join(para.split()))
    return "\n\n".join(out)


def _no_type(ctx: Any) -> None:
    return None


def _polish(command: Any) -> Any:
    """Help that reads like a Unix tool's, applied to the whole command tree.

    Flags show no ``<bool>`` placeholder, arguments are named in capitals (``ARTIFACT``),
    option values by kind (``INTEGER``, ``PATH``), and square brackets in help texts
    (``pip install 'reelrank[spark]'``) are escaped so that rich markup does not eat them.
    """
    from rich.markup import escape

    rich_markup = getattr(command, "rich_markup_mode", None) == "rich"
    if command.help:  # rich mode keeps a docstring's line breaks: reflow its paragraphs
        command.help = _reflow(command.help)
    if rich_markup:
        command.help = escape(command.help) if command.help else command.help
        command.epilog = escape(command.epilog) if command.epilog else command.epilog
    ctx = command.context_class(command, info_name=command.name)
    for param in command.get_params(ctx):
        if rich_markup and getattr(param, "help", None):
            param.help = escape(param.help)
        if param.param_type_name == "argument":
            param.metavar = param.metavar or param.name.upper()
            param.display_type_rich = _no_type  # the capitalised name says enough
            continue
        if param.metavar is not None:
            continue
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif hasattr(param, "display_type"):
            label = param.display_type(ctx).strip("<>")
            param.metavar = _METAVARS.get(label, label.upper() if "|" not in label else label)
    for sub in getattr(command, "commands", {}).values():
        _polish(sub)
    return command


def cli_command() -> Any:
    """The click command tree of :data:`app`, with the polished help (see :func:`_polish`)."""
    return _polish(typer.main.get_command(app))


def _usage_line(e: UsageError) -> str:
    """One line for a usage error: the message and where to find the command's help."""
    message = " ".join(e.format_message().split())
    ctx = e.ctx
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        return f"error: {message} (try '{ctx.command_path} --help')"
    return f"error: {message}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reelrank`` console script; returns the exit status."""
    try:
        status = cli_command().main(args=argv, prog_name="reelrank", standalone_mode=False)
        if isinstance(status, int) and not isinstance(status, bool):
            return status  # a command's `raise typer.Exit(code)`: click returns the code
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except NoArgsIsHelpError as e:  # ``reelrank`` / ``reelrank data``: the help, status 0
        help_text = e.format_message()
        if help_text.strip():  # rich help is printed while it is built; plain help is not
            typer.echo(help_text)
        return 0
    except UsageError as e:
        typer.echo(_usage_line(e), err=True)
        return 2
    except ClickException as e:
        typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)
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
