"""Streamlit app: fast AppTest unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import reelrank.serving.app as app_module

APP = str(Path(app_module.__file__))


@pytest.fixture
def app(artifact_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", [APP, str(artifact_dir)])
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_starts_with_prompt_and_no_recommendations(app: AppTest) -> None:
    assert app.title[0].value == "reelrank"
    assert any("Rate a few movies" in i.value for i in app.info)


def test_search_rate_and_recommend(app: AppTest) -> None:
    app.text_input(key="search").input("toy story").run()
    assert any("Toy Story (1995)" in m.value for m in app.markdown)
    # simulate a 5-star rating through the session state the app reads
    app.session_state["ratings"] = {1: 5.0}
    app.run()
    assert not app.exception
    cards = [m.value for m in app.markdown if m.value.startswith("**")]
    assert len(cards) == 10
    before = list(cards)
    app.session_state["ratings"] = {1: 5.0, 2571: 5.0, 260: 5.0}
    app.run()
    after = [m.value for m in app.markdown if m.value.startswith("**")]
    assert after != before
    assert any("Your ratings" in s.value for s in app.subheader)


def test_similar_tab_lists_movies(app: AppTest) -> None:
    app.text_input(key="similar_query").input("Toy Story").run()
    assert not app.exception
    titles = [m.value for m in app.markdown if m.value.startswith("**")]
    assert any("Toy Story 2" in t for t in titles)


def test_comparison_tab_reads_metrics(app: AppTest) -> None:
    assert len(app.dataframe) == 1
    frame = app.dataframe[0].value
    assert set(frame["model"]) == {"pop", "als"}
    assert frame.set_index("model").loc["als", "ndcg@10"] == 0.2
