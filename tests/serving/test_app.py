"""Streamlit app: fast AppTest unit tests, the comparison data, and SIGTERM to `reelrank app`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import reelrank.serving.app as app_module
from reelrank.serving.app import comparison_frame, stars

APP = str(Path(app_module.__file__))


@pytest.fixture
def app(artifact_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", [APP, str(artifact_dir)])
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _cards(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown if m.value.startswith("**")]


def test_starts_with_prompt_and_no_recommendations(app: AppTest) -> None:
    assert app.title[0].value == "reelrank"
    assert any("Rate a few movies" in i.value for i in app.info)


def test_rating_widgets_offer_the_data_scale_and_name_their_movie(app: AppTest) -> None:
    app.text_input(key="search").input("toy story").run()
    widget = app.select_slider(key="rate_1")
    assert widget.label == "Your rating of Toy Story (1995)"
    half_stars = [0.5 * k for k in range(1, 11)]  # ml-latest-small: 0.5 .. 5 in halves
    assert widget.options == ["not rated", *(f"{stars(v)} {v:g}" for v in half_stars)]
    assert widget.value == "not rated"
    widget.set_value(0.5).run()  # half a star: a rating, not a like
    assert not app.exception
    assert app.session_state["ratings"] == {1: 0.5}
    assert any("½ (0.5) Toy Story" in m.value for m in app.markdown)


def test_search_rate_and_recommend(app: AppTest) -> None:
    app.text_input(key="search").input("toy story").run()
    assert any("Toy Story (1995)" in w.label for w in app.select_slider)
    app.select_slider(key="rate_1").set_value(5.0).run()
    assert not app.exception
    cards = _cards(app)
    assert len(cards) == 10
    before = list(cards)
    app.session_state["ratings"] = {1: 5.0, 2571: 5.0, 260: 5.0}
    app.run()
    after = _cards(app)
    assert after != before
    assert any("Your ratings" in s.value for s in app.subheader)


def test_low_rating_is_not_called_liked(app: AppTest) -> None:
    app.session_state["ratings"] = {1: 5.0, 6: 0.5}  # Toy Story 5, Heat 0.5
    app.run()
    why = " ".join(m.value for m in app.markdown if m.value.startswith("Why:"))
    assert "because you liked Toy Story (1995)" in why and "Heat" not in why


def test_similar_tab_lists_movies(app: AppTest) -> None:
    app.text_input(key="similar_query").input("Toy Story").run()
    assert not app.exception
    titles = _cards(app)
    assert any("Toy Story 2" in t for t in titles)


def test_comparison_tab_reads_metrics(app: AppTest) -> None:
    assert len(app.dataframe) == 1
    frame = app.dataframe[0].value
    assert set(frame["model"]) == {"pop", "als"}
    assert frame.set_index("model").loc["als", "ndcg@10"] == 0.2


def test_comparison_frame_primary_metric_sorted_with_intervals() -> None:
    report = {
        "info": {"primary_metric": "recall@20", "primary_lower_is_better": False},
        "results": [
            {"model": "pop", "metrics": {"recall@20": 0.10, "ndcg@10": 0.3},
             "metrics_sem": {"recall@20": 0.01}},
            {"model": "ease", "metrics": {"recall@20": 0.20, "ndcg@10": 0.1},
             "metrics_ci95": {"recall@20": [0.18, 0.23]}},
            {"model": "als", "metrics": {"recall@20": 0.15}},
        ],
    }  # fmt: skip
    frame, metric, lower = comparison_frame(report)  # type: ignore[misc]
    assert metric == "recall@20" and lower is False
    assert frame["model"].tolist() == ["ease", "als", "pop"]
    ease, als, pop = frame.to_dict("records")
    assert (ease["low"], ease["high"]) == (0.18, 0.23)
    assert (als["low"], als["high"]) == (0.15, 0.15)
    assert pop["low"] == pytest.approx(0.10 - 1.96 * 0.01)
    assert pop["high"] == pytest.approx(0.10 + 1.96 * 0.01)
    report["info"] = {"primary_metric": "rmse", "primary_lower_is_better": True}
    for r, v in zip(report["results"], (0.9, 0.8, 1.0), strict=True):
        r["metrics"]["rmse"] = v
    frame, _, lower = comparison_frame(report)  # type: ignore[misc]
    assert lower and frame["model"].tolist() == ["ease", "pop", "als"]
    assert comparison_frame({"results": [{"model": "x"}]}) is None


def test_stars() -> None:
    assert stars(3.5) == "★★★½" and stars(5) == "★★★★★" and stars(0.5) == "½"


def _port_answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_sigterm_to_reelrank_app_stops_streamlit(artifact_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    exe = Path(sys.executable).parent / "reelrank"
    log = (tmp_path / "app.log").open("w")
    proc = subprocess.Popen(
        [str(exe), "app", str(artifact_dir), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while not _port_answers(port):
            assert proc.poll() is None, (tmp_path / "app.log").read_text()
            assert time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while _port_answers(port):  # the Streamlit child is gone too
            assert time.monotonic() < deadline, "port still answers after SIGTERM"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
