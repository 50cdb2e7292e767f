"""Render reelrank's HTTP API (the OpenAPI schema of ``create_app``) as Markdown.

The schema is taken from the real application: a tiny synthetic artifact is trained and
loaded, :func:`reelrank.serving.api.create_app` builds the FastAPI app, and its
``openapi()`` document is rendered. Used by the mkdocs hook at build time; runnable by hand:
``python docs/gen_openapi.py > http-api.md``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def _tiny_service() -> Any:
    import numpy as np
    import pandas as pd

    from reelrank.data.dataset import Dataset, IdMap, empty_tags
    from reelrank.models import create_model
    from reelrank.serving.artifact import load_artifact, save_artifact
    from reelrank.serving.service import RecommenderService

    rng = np.random.default_rng(0)
    n_users, n_items = 6, 8
    pairs = np.array(sorted({(int(u), int(i)) for u, i in rng.integers(0, [6, 8], (30, 2))}))
    users = IdMap(np.arange(1, n_users + 1), name="user")
    items = IdMap(np.arange(1, n_items + 1), name="movie")
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_items + 1),
            "title": [f"Movie {i}" for i in range(1, n_items + 1)],
            "year": pd.array([2000 + i for i in range(n_items)], dtype="Int32"),
            "genres": [["Drama"] for _ in range(n_items)],
        }
    )
    data = Dataset.from_arrays(
        pairs[:, 0],
        pairs[:, 1],
        np.full(len(pairs), 4.0),
        np.arange(len(pairs)),
        users=users,
        items=items,
        movies=movies,
        tags=empty_tags(),
        name="openapi-docs",
    )
    model = create_model("pop").fit(data)
    tmp = Path(tempfile.mkdtemp(prefix="reelrank-openapi-"))
    save_artifact(tmp / "artifact", model, data)
    return RecommenderService(load_artifact(tmp / "artifact"))


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI document of the real FastAPI app (built over a tiny artifact)."""
    from reelrank.serving.api import create_app

    return create_app(_tiny_service()).openapi()


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "object"))


def _cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def render_openapi_markdown(schema: dict[str, Any]) -> str:
    """Markdown for every path, method, parameter, body, response and schema."""
    info = schema.get("info", {})
    out = [
        "# HTTP API\n",
        f"{info.get('description', '')}\n",
        "Generated at documentation build time from the OpenAPI document of "
        "`reelrank.serving.api.create_app` (version "
        f"{info.get('version', '?')}); download it as [openapi.json](openapi.json). "
        "A running server (`reelrank serve DIR`) also serves it at `/openapi.json` and "
        "interactive docs at `/docs`. Errors answer with a JSON body "
        '`{"detail": ...}`: 401 without the API key or user token where one is needed, '
        "404 for unknown ids, 409 for an ambiguous title (with its candidates), 413 for a "
        "body over the size limit, 415 for a write that is not JSON, 422 for invalid input "
        "(never echoing large inputs). See the serving guide for authentication.\n",
    ]
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            out.append(f"## `{method.upper()} {path}`\n")
            if op.get("summary"):
                out.append(f"**{op['summary']}**\n")
            if op.get("description"):
                out.append(f"{op['description']}\n")
            params = op.get("parameters", [])
            if params:
                out += [
                    "| parameter | in | type | required | description |",
                    "|---|---|---|---|---|",
                ]
                for p in params:
                    out.append(
                        f"| `{p['name']}` | {p['in']} | {_cell(_type(p.get('schema', {})))} | "
                        f"{'yes' if p.get('required') else 'no'} | {_cell(p.get('description'))} |"
                    )
                out.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                out.append(f"Request body (JSON): {_type(body.get('schema', {}))}\n")
            out += ["| status | meaning | body |", "|---|---|---|"]
            for code, resp in op.get("responses", {}).items():
                content = resp.get("content", {}).get("application/json", {})
                out.append(
                    f"| {code} | {_cell(resp.get('description'))} | "
                    f"{_cell(_type(content.get('schema', {})) if content else '')} |"
                )
            out.append("")
    out.append("## Schemas\n")
    for name, sch in schema.get("components", {}).get("schemas", {}).items():
        out.append(f"### {name}\n")
        if sch.get("description"):
            out.append(f"{sch['description']}\n")
        props = sch.get("properties", {})
        if props:
            required = set(sch.get("required", []))
            out += ["| field | type | required | description |", "|---|---|---|---|"]
            for field, p in props.items():
                out.append(
                    f"| `{field}` | {_cell(_type(p))} | {'yes' if field in required else 'no'} | "
                    f"{_cell(p.get('description') or p.get('title'))} |"
                )
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    doc = openapi_schema()
    if sys.argv[1:] == ["--json"]:
        sys.stdout.write(json.dumps(doc, indent=2))
    else:
        sys.stdout.write(render_openapi_markdown(doc))
