"""Interactive API docs (Swagger UI at ``/docs``, ReDoc at ``/redoc``) that work offline.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so they are blank on a
machine without internet. Here the JavaScript and CSS come from the ``fastapi-offline``
package (which ships Swagger UI and ReDoc's standalone bundle) and are served by the app
itself under ``/docs-static``, following FastAPI's self-hosting recipe (``docs_url=None``,
then :func:`~fastapi.openapi.docs.get_swagger_ui_html` with local URLs). No page asks any
other host for anything: no fonts, no favicon, and a ``Content-Security-Policy`` that
allows only this server (ReDoc's sidebar would otherwise fetch its vendor's logo).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_URL", "add_offline_docs", "docs_assets_dir"]

STATIC_URL = "/docs-static"
"""Where the Swagger UI and ReDoc files are served."""

#: the pages may load only from this server (inline scripts and styles are the pages' own;
#: ReDoc runs its search in a worker from a blob: URL)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'self'"
)

_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def docs_assets_dir() -> Path:
    """The folder holding ``swagger-ui-bundle.js``, ``swagger-ui.css`` and ``redoc.standalone.js``.

    Raises
    ------
    FileNotFoundError
        If the ``fastapi-offline`` package is missing or incomplete.
    """
    folder = Path(str(resources.files("fastapi_offline") / "static"))
    missing = [name for name in _ASSETS if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"API docs assets missing from {folder}: {', '.join(missing)}")
    return folder


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def add_offline_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url`` from local files.

    The application must be created with ``docs_url=None, redoc_url=None``.
    """
    app.mount(STATIC_URL, StaticFiles(directory=docs_assets_dir()), name="docs-static")
    openapi_url = str(app.openapi_url)
    oauth2_redirect_url = f"{docs_url}/oauth2-redirect"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return _local_only(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - API docs",
                oauth2_redirect_url=root + oauth2_redirect_url,
                swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _local_only(get_swagger_ui_oauth2_redirect_html())

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return _local_only(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - API reference",
                redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
