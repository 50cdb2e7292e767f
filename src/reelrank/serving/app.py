"""Streamlit web app: rate a few movies, get recommendations at once.

Run with ``reelrank app DIR`` (which calls ``streamlit run`` on this file with the artifact
directory as its argument)::

    streamlit run app.py -- ARTIFACT_DIR [--report REPORT.json]

Tabs: *Rate & discover* (search titles, rate them with stars; recommendation cards with
title, year, genres and why update after every rating), *Similar movies* (for any title),
*Model comparison* (the evaluation report of ``metrics.json`` or ``--report``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from reelrank.serving.artifact import load_artifact
from reelrank.serving.service import RecommenderService

logger = logging.getLogger(__name__)


@st.cache_resource(show_spinner="Loading the model…")
def _service(path: str) -> RecommenderService:
    return RecommenderService(load_artifact(path))


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="reelrank app")
    parser.add_argument("artifact")
    parser.add_argument("--report", default=None)
    return parser.parse_args(argv)


def _report(service: RecommenderService, path: str | None) -> dict[str, Any] | None:
    if path:
        try:
            return json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            st.error(f"cannot read report {path}: {e}")
            return None
    return service.artifact.metrics


def _report_table(report: dict[str, Any]) -> pd.DataFrame | None:
    """A models x metrics table from common report shapes."""
    rows = report.get("results") or report.get("leaderboard") or report.get("models")
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        if isinstance(rows[0].get("metrics"), dict):  # `reelrank evaluate` result.json
            return pd.DataFrame(
                [
                    {"model": r.get("model"), **r["metrics"], "fit_seconds": r.get("fit_seconds")}
                    for r in rows
                ]
            )
        return pd.DataFrame(rows)
    if isinstance(rows, dict):
        return pd.DataFrame.from_dict(rows, orient="index")
    flat = {k: v for k, v in report.items() if isinstance(v, int | float)}
    return pd.DataFrame([flat]) if flat else None


def _card(
    key: str, title: str, year: int | None, genres: list[str], score: float, why: list[str]
) -> None:
    with st.container(border=True, key=key):
        st.markdown(f"**{title}** ({year if year is not None else '?'})")
        st.caption(", ".join(genres) or "no genres")
        if why:
            st.write("Why: " + "; ".join(why))
        st.caption(f"score {score:.3f}")


def _rate_tab(service: RecommenderService) -> None:
    ratings: dict[int, float] = st.session_state.setdefault("ratings", {})
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Rate movies")
        query = st.text_input("Search a movie", key="search", placeholder="e.g. Toy Story")
        if query.strip():
            for movie, _score in service.search(query, limit=6):
                label = f"{movie.title} ({movie.year})" if movie.year else movie.title
                st.markdown(label)
                stars = st.feedback("stars", key=f"stars_{movie.movie_id}")
                if stars is not None:
                    ratings[movie.movie_id] = float(stars + 1)
        if ratings:
            st.subheader("Your ratings")
            for movie_id, r in ratings.items():
                m = service.movie(movie_id)
                st.write(f"{'★' * int(r)} {m.title} ({m.year})")
            if st.button("Clear ratings"):
                ratings.clear()
                st.rerun()
    with right:
        st.subheader("Recommended for you")
        if not ratings:
            st.info("Rate a few movies to get recommendations.")
            return
        result = service.recommend_for_ratings(dict(ratings), n=10)
        st.caption(f"based on {len(ratings)} rating(s)")
        for r in result.recommendations:
            _card(f"rec_{r.movie_id}", r.title, r.year, r.genres, r.score, r.reasons)


def _similar_tab(service: RecommenderService) -> None:
    query = st.text_input("Movie title", key="similar_query", placeholder="e.g. Star Wars")
    weight = st.slider("Collaborative weight (rest: content)", 0.0, 1.0, 0.5, 0.1)
    if not query.strip():
        return
    hits = service.search(query, limit=8)
    if not hits:
        st.warning("No movie matches that title.")
        return
    options = {f"{m.title} ({m.year})": m.movie_id for m, _ in hits}
    choice = st.selectbox("Which movie?", list(options))
    for s in service.similar(options[choice], n=10, weight=weight):
        why = [f"collaborative {s.collaborative}", f"content {s.content}"]
        _card(f"sim_{s.movie_id}", s.title, s.year, s.genres, s.score, why)


def _compare_tab(report: dict[str, Any] | None) -> None:
    if not report:
        st.info("No evaluation report: train with metrics or pass --report REPORT.json.")
        return
    table = _report_table(report)
    if table is None:
        st.json(report)
        return
    if report.get("protocol"):
        st.caption(f"protocol: {report['protocol']} · dataset: {report.get('dataset', '?')}")
    st.dataframe(table, width="stretch")
    numeric = table.select_dtypes("number")
    if "model" in table.columns and not numeric.empty:
        st.bar_chart(numeric.set_index(table["model"]))


def main(argv: list[str] | None = None) -> None:
    """Render the app (Streamlit re-runs this on every interaction)."""
    args = _args(sys.argv[1:] if argv is None else argv)
    st.set_page_config(page_title="reelrank", layout="wide")
    service = _service(args.artifact)
    st.title("reelrank")
    st.caption(f"model: {service.model_name} · {service.n_items:,} movies")
    rate, similar, compare = st.tabs(["Rate & discover", "Similar movies", "Model comparison"])
    with rate:
        _rate_tab(service)
    with similar:
        _similar_tab(service)
    with compare:
        _compare_tab(_report(service, args.report))


if __name__ == "__main__":
    main()
