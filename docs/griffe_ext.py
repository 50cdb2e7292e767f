"""Griffe extension for the Python API reference: docstrings as the site should show them.

reelrank's docstrings are numpydoc with Sphinx cross-reference roles (``:class:`~x.Y```),
which mkdocstrings would print as raw text. Before the docstrings are parsed this extension

* turns every role into a cross-reference: ``<autoref identifier="reelrank.x.Y" optional>``
  around the code-formatted name (``Y`` for ``~x.Y``, ``f()`` for functions and methods),
  which mkdocs-autorefs links to the object's page and anchor. The target is resolved like
  Sphinx does (absolute, relative to the module with a leading dot, or by name in the
  object's scope); a target that is not a reelrank object (``numpy.ndarray``) or cannot be
  found stays plain code, so the strict build never meets a dangling link;
* splits combined numpydoc entries (``test_ratio, val_ratio`` under Parameters) into one
  entry per name, so that each shows its own default from the signature (griffe gives every
  name of a combined entry the first one's default).

Configured in ``mkdocs.yml`` (``extensions: [docs/griffe_ext.py:SphinxDocstrings]``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?P<role>class|meth|func|mod|data|attr|exc|obj):`(?P<target>[^`]+)`")

#: numpydoc sections whose entries are names
_NAMED_SECTIONS = ("Parameters", "Other Parameters", "Attributes", "Keyword Arguments")
_SECTION = re.compile(r"^(?P<title>[A-Z][A-Za-z ]+)\n-{3,}\s*$", re.M)
_COMBINED = re.compile(
    r"^(?P<names>[A-Za-z_*][\w*]*(?:\s*,\s*[A-Za-z_*][\w*]*)+)(?P<rest>\s*:.*)?$"
)


def _exists(loader: Any, path: str) -> bool:
    try:
        loader.modules_collection[path]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    return True


def _resolve(obj: griffe.Object, target: str, loader: Any) -> str | None:
    """The full path of ``target`` as seen from ``obj``, or None when it is not found."""
    module = obj if obj.is_module else obj.module
    candidates: list[str] = []
    if target.startswith("."):
        package = module.path if module.is_package else module.path.rsplit(".", 1)[0]
        candidates += [package + target, module.path + target]
    elif target.split(".")[0] == "reelrank":
        candidates.append(target)
    else:
        head, _, rest = target.partition(".")
        scope: griffe.Object | None = obj
        while scope is not None:  # the object, its class, its module, outer packages
            try:
                resolved = scope.resolve(head)
            except (griffe.NameResolutionError, AttributeError, KeyError):
                resolved = None
            if resolved:
                candidates.append(resolved + ("." + rest if rest else ""))
                break
            scope = scope.parent
        candidates.append(f"{module.path}.{target}")
        if obj.parent is not None and obj.parent.is_class:
            candidates.append(f"{obj.parent.path}.{target}")
    for path in candidates:
        if path.split(".")[0] == "reelrank" and _exists(loader, path):
            return path
    return None


def convert_roles(text: str, obj: griffe.Object, loader: Any) -> str:
    """Replace the Sphinx roles in ``text`` by optional autorefs (or plain code)."""

    def one(match: re.Match[str]) -> str:
        role, target = match["role"], match["target"].strip()
        explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", target)
        if explicit:  # :class:`title <x.Y>`
            title, target = explicit["title"], explicit["target"]
        else:
            short = target.startswith("~")
            target = target.lstrip("~")
            title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
            if role in ("func", "meth") and not title.endswith(")"):
                title += "()"
        code = f"<code>{title}</code>"
        path = _resolve(obj, target, loader)
        if path is None:
            return code
        return f'<autoref identifier="{path}" optional>{code}</autoref>'

    return ROLE.sub(one, text)


def split_combined_entries(text: str) -> str:
    """``a, b : type`` + description under Parameters -> one entry per name."""
    out: list[str] = []
    section: str | None = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and _SECTION.match(f"{line}\n{lines[i + 1]}"):
            section = line.strip()
            out += [line, lines[i + 1]]
            i += 2
            continue
        match = _COMBINED.match(line) if section in _NAMED_SECTIONS else None
        if match is None:
            out.append(line)
            i += 1
            continue
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j][:1].isspace()):
            j += 1
        body = lines[i + 1 : j]
        while body and not body[-1].strip():  # blank lines stay between the entries
            body.pop()
        rest = match["rest"] or ""
        for name in (n.strip() for n in match["names"].split(",")):
            out += [f"{name}{rest}", *body]
        out += [""] * (j - i - 1 - len(body))
        i = j
    return "\n".join(out)


class SphinxDocstrings(griffe.Extension):
    """Rewrite every docstring once the object tree is complete (see the module docs)."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None or not docstring.value:
            return
        value = split_combined_entries(docstring.value)
        value = convert_roles(value, obj, loader)
        if value != docstring.value:
            docstring.value = value
            docstring.__dict__.pop("parsed", None)  # parsed lazily (cached property)
