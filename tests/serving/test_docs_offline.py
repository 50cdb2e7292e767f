"""API docs work offline (issue 14, item 5): /docs and /redoc load every asset from the
server itself, and render in a real headless browser with all other hosts blocked."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from reelrank.serving.api import create_app
from reelrank.serving.service import RecommenderService

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def client(service: RecommenderService) -> TestClient:
    return TestClient(create_app(service, api_key="docs-key-0123456789abcdef"))


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""url\s*:\s*['"]([^'"]+)['"]""", html
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_local_assets(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "cdn.jsdelivr.net" not in r.text and "fonts.googleapis.com" not in r.text
    urls = _asset_urls(r.text)
    assert urls, r.text
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from another host"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1_000 or url.endswith("openapi.json"), url


def test_docs_assets_are_the_real_bundles(client: TestClient) -> None:
    js = client.get("/docs-static/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert b"SwaggerUIBundle" in js.content[:5_000] and len(js.content) > 500_000
    assert b"Redoc" in client.get("/docs-static/redoc.standalone.js").content[:5_000]
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/docs-static/../api.py").status_code == 404


# ---------------------------------------------------------------------------- in a browser
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_url(service: RecommenderService) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_docs_render_offline_in_a_browser(live_url: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    blocked: list[str] = []

    def offline(route) -> None:  # only the server itself is reachable: as without internet
        if route.request.url.startswith(live_url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.route("**/*", offline)
        page.goto(f"{live_url}/docs")
        page.locator(".opblock").first.wait_for(timeout=30_000)
        summaries = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/recommendations/{user_id}" in [s.replace("\u200b", "") for s in summaries]
        assert page.locator(".opblock").count() >= 10
        page.screenshot(path=str(tmp_path / "swagger.png"))

        page.goto(f"{live_url}/redoc")
        page.get_by_text("Top-n movies for a known user").first.wait_for(timeout=30_000)
        assert page.locator("[data-section-id^='tag/'], [data-section-id^='operation/']").count()
        page.screenshot(path=str(tmp_path / "redoc.png"))
        browser.close()
    assert blocked == [], f"the docs asked other hosts for {blocked}"
    out_dir = os.environ.get("REELRANK_SCREENSHOT_DIR")
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for name in ("swagger.png", "redoc.png"):
            shutil.copy(tmp_path / name, Path(out_dir) / f"api-docs-{name}")
