"""The Streamlit app in a real headless browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def app_url(artifact_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The app as a user starts it: ``reelrank app ARTIFACT --port P`` (stopped by SIGTERM)."""
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("w")
    exe = Path(sys.executable).parent / "reelrank"
    proc = subprocess.Popen(
        [str(exe), "app", str(artifact_dir), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail(f"reelrank app exited: {(tmp_path / 'streamlit.log').read_text()}")
        time.sleep(0.3)
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    log.close()


def _rec_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "[class*='st-key-rec_']",
        "els => els.map(e => [...e.classList].find(c => c.startsWith('st-key-rec_')))",
    )


def _search_and_rate(page: Any, query: str, label: str, keys: list[str]) -> None:
    """Search, then rate with the keyboard on the slider a screen reader names by movie."""
    box = page.get_by_label("Search a movie")
    box.fill(query)
    box.press("Enter")
    slider = page.get_by_role("slider", name=f"Your rating of {label}")
    slider.wait_for(timeout=30_000)
    slider.focus()
    for key in keys:
        slider.press(key)


def _save(page: Any, tmp_path: Path, name: str) -> Path:
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=30_000)
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    out_dir = os.environ.get("REELRANK_SCREENSHOT_DIR")
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(out_dir) / name)
    return shot


def test_search_rate_three_movies_and_see_recommendations_change(
    app_url: str, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(app_url)
        page.get_by_text("Rate a few movies").wait_for(timeout=60_000)
        assert _rec_ids(page) == []
        # `reelrank app` runs Streamlit with client.toolbarMode=viewer: no Deploy button
        assert page.locator("[data-testid='stAppDeployButton']").count() == 0
        assert page.get_by_role("button", name="Deploy").count() == 0

        _search_and_rate(page, "toy story", "Toy Story (1995)", ["End"])  # 5 stars
        page.get_by_text("based on 1 rating(s)").wait_for(timeout=30_000)
        page.wait_for_function(
            "document.querySelectorAll(\"[class*='st-key-rec_']\").length == 10", timeout=30_000
        )
        first = _rec_ids(page)
        assert len(first) == 10

        _search_and_rate(page, "matrix", "Matrix, The (1999)", ["End"])
        page.get_by_text("based on 2 rating(s)").wait_for(timeout=30_000)
        # half a star (the data's own scale): rated, but never "liked"
        _search_and_rate(page, "heat 1995", "Heat (1995)", ["ArrowRight"])
        page.get_by_text("based on 3 rating(s)").wait_for(timeout=30_000)
        page.get_by_text("½ (0.5) Heat (1995)").wait_for(timeout=30_000)
        page.wait_for_function(
            "document.querySelectorAll(\"[class*='st-key-rec_']\").length == 10", timeout=30_000
        )
        last = _rec_ids(page)
        assert len(last) == 10 and last != first
        assert "st-key-rec_1" not in last and "st-key-rec_2571" not in last
        page.get_by_text("Why:").first.wait_for(timeout=10_000)
        why = " ".join(page.locator("text=/^Why:/").all_inner_texts())
        assert "because you liked" in why and "Heat" not in why
        _save(page, tmp_path, "app-screenshot.png")

        page.get_by_role("tab", name="Model comparison").click()
        chart = page.locator(
            "[data-testid='stVegaLiteChart'], [data-testid='stArrowVegaLiteChart']"
        )
        chart.first.wait_for(timeout=30_000)
        page.get_by_text("Sorted by ndcg@10, highest first").wait_for(timeout=10_000)
        _save(page, tmp_path, "app-comparison.png")
        browser.close()
