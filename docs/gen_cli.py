"""Render the ``reelrank`` command line (every command's help and options) as Markdown.

Used by the mkdocs hook (``docs/hooks.py``) at build time, so the CLI reference never goes
stale; also runnable by hand: ``python docs/gen_cli.py > cli.md``.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import typer


def _type_name(param: Any) -> str:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    name = getattr(annotation, "__name__", None) or str(annotation or "text")
    return {"str": "text", "Path": "path", "float": "number", "int": "integer"}.get(name, name)


# typer vendors its own click, so commands and parameters are duck-typed here
def _rows(command: Any, ctx: Any) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            name = f"`{(param.metavar or param.name).upper()}`"
            kind = "argument"
        else:
            name = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            kind = "flag" if getattr(param, "is_flag", False) else _type_name(param)
        text = (getattr(param, "help", None) or "").replace("|", "\\|").replace("\n", " ")
        default = param.default
        shown = "" if default in (None, (), False) or callable(default) else f"`{default}`"
        if param.required:
            shown = "required"
        rows.append(f"| {name} | {kind} | {shown} | {text} |")
    return rows


def _render(command: Any, path: list[str], out: list[str]) -> None:
    ctx = command.context_class(command, info_name=" ".join(path))
    if path[1:]:
        level = "#" * min(len(path), 4)
        out.append(f"{level} `{' '.join(path)}`\n")
    help_text = inspect.cleandoc(command.help or "")
    if help_text:
        out.append(help_text.replace("\b\n", "") + "\n")
    pieces = " ".join(command.collect_usage_pieces(ctx))
    out.append(f"```text\n{' '.join(path)} {pieces}\n```\n")
    rows = _rows(command, ctx)
    if rows:
        out += ["| parameter | type | default | description |", "|---|---|---|---|", *rows, ""]
    if hasattr(command, "list_commands"):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                _render(sub, [*path, name], out)


def render_cli_markdown() -> str:
    """The CLI reference page: one section per command, generated from the typer app."""
    from reelrank.cli import app

    command = typer.main.get_command(app)
    out = [
        "# CLI reference\n",
        "Generated from the `reelrank` command line at documentation build time. Exit "
        "statuses: 0 on success, and for `reelrank` or a group (`reelrank data`) without a "
        "sub-command, which print their help; 2 on a user error (unknown command or option, "
        "a bad or missing value, bad input data), with one line on stderr and no traceback; "
        "130 when interrupted. Long commands name each stage on stderr (quiet with "
        "`--json`); `-v` turns on debug logging.\n",
    ]
    _render(command, ["reelrank"], out)
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render_cli_markdown())
