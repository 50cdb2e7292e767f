"""Streamlit web app: rate a few movies, get recommendations at once.

Run with ``reelrank app DIR`` (which calls ``streamlit run`` on this file with the artifact
directory as its argument, hides Streamlit's Deploy button with
``--client.toolbarMode viewer``, and stops Streamlit when it gets SIGTERM)::

    streamlit run app.py -- ARTIFACT_DIR [--report REPORT.json]

Tabs: *Rate & discover* (search titles, rate them on the data's own scale, half stars
0.5..5 on MovieLens; recommendation cards with title, year, genres and why update after
every rating), *Similar movies* (for any title), *Model comparison* (the primary metric of
each model with its 95% interval, from ``metrics.json`` or ``--report``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from reelrank.serving.artifact import load_artifact
from reelrank.serving.service import RecommenderService

logger = logging.getLogger(__name__)

#: the "no rating" position of a rating slider
NOT_RATED = "not rated"


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


def stars(rating: float) -> str:
    """``★★★½`` for 3.5 (whole stars, then a half)."""
    whole = math.floor(rating + 1e-9)
    return "★" * whole + ("½" if rating - whole >= 0.25 else "")


def _rating_label(value: Any) -> str:
    return NOT_RATED if value == NOT_RATED else f"{stars(float(value))} {float(value):g}"


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
        frame = pd.DataFrame.from_dict(rows, orient="index")
        return frame.rename_axis("model").reset_index()
    flat = {k: v for k, v in report.items() if isinstance(v, int | float)}
    return pd.DataFrame([flat]) if flat else None


def comparison_frame(report: dict[str, Any]) -> tuple[pd.DataFrame, str, bool] | None:
    """The primary metric per model with its 95% interval, best model first.

    The primary metric is the report's ``info.primary_metric`` (``reelrank evaluate``), else
    ``ndcg@10`` or the first metric. The interval is the report's ``metrics_ci95`` when
    present, else ``value ± 1.96 SEM`` from ``metrics_sem``, else the value itself.

    Returns
    -------
    (frame, metric, lower_is_better) or None
        ``frame`` has columns ``model``, ``value``, ``low``, ``high``; None when the report
        has no per-model metrics.
    """
    rows = report.get("results")
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return None
    if not all(isinstance(r.get("metrics"), dict) for r in rows):
        return None
    info = report.get("info") if isinstance(report.get("info"), dict) else {}
    names = [k for r in rows for k in r["metrics"]]
    metric = str(info.get("primary_metric") or ("ndcg@10" if "ndcg@10" in names else ""))
    if not metric and names:
        metric = names[0]
    lower = bool(info.get("primary_lower_is_better", False))
    records = []
    for r in rows:
        value = r["metrics"].get(metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        ci = (r.get("metrics_ci95") or {}).get(metric)
        sem = (r.get("metrics_sem") or {}).get(metric)
        if isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci:
            low, high = float(ci[0]), float(ci[1])
        elif isinstance(sem, int | float) and math.isfinite(sem):
            low, high = value - 1.96 * sem, value + 1.96 * sem
        else:
            low = high = float(value)
        records.append(
            {"model": str(r.get("model")), "value": float(value), "low": low, "high": high}
        )
    if not records:
        return None
    frame = pd.DataFrame(records).sort_values("value", ascending=lower, kind="stable")
    return frame.reset_index(drop=True), metric, lower


def _comparison_chart(frame: pd.DataFrame, metric: str) -> Any:
    """Horizontal bars of ``metric`` per model (best on top) with 95% error bars."""
    import altair as alt

    order = frame["model"].tolist()
    y = alt.Y("model:N", sort=order, title=None)
    base = alt.Chart(frame).encode(y=y)
    bars = base.mark_bar().encode(
        x=alt.X("value:Q", title=metric),
        tooltip=[
            "model",
            alt.Tooltip("value:Q", format=".4f"),
            alt.Tooltip("low:Q", format=".4f", title="95% low"),
            alt.Tooltip("high:Q", format=".4f", title="95% high"),
        ],
    )
    errors = base.mark_rule(color="black", strokeWidth=2).encode(x="low:Q", x2="high:Q")
    return (bars + errors).properties(title=f"{metric} per model (95% interval)")


def _card(
    key: str, title: str, year: int | None, genres: list[str], score: float, why: list[str]
) -> None:
    with st.container(border=True, key=key):
        st.markdown(f"**{title}** ({year if year is not None else '?'})")
        st.caption(", ".join(genres) or "no genres")
        if why:
            st.write("Why: " + "; ".join(why))
        st.caption(f"score {score:.3f}")


def _rate_widget(service: RecommenderService, ratings: dict[int, float], movie: Any) -> None:
    """A rating slider on the data's own scale, labelled with its movie (screen readers)."""
    label = f"{movie.title} ({movie.year})" if movie.year else movie.title
    options: list[Any] = [NOT_RATED, *service.rating_values]
    current = ratings.get(movie.movie_id, NOT_RATED)
    value = st.select_slider(
        f"Your rating of {label}",
        options=options,
        value=current if current in options else NOT_RATED,
        format_func=_rating_label,
        key=f"rate_{movie.movie_id}",
    )
    if value == NOT_RATED:
        ratings.pop(movie.movie_id, None)
    else:
        ratings[movie.movie_id] = float(value)


def _rate_tab(service: RecommenderService) -> None:
    ratings: dict[int, float] = st.session_state.setdefault("ratings", {})
    left, right = st.columns([2, 3])
    lo, hi = service.rating_scale
    with left:
        st.subheader("Rate movies")
        query = st.text_input("Search a movie", key="search", placeholder="e.g. Toy Story")
        st.caption(
            f"Ratings from {lo:g} to {hi:g} stars; {service.like_threshold:g} and above "
            "count as liked."
        )
        if query.strip():
            for movie, _score in service.search(query, limit=6):
                _rate_widget(service, ratings, movie)
        if ratings:
            st.subheader("Your ratings")
            for movie_id, r in ratings.items():
                m = service.movie(movie_id)
                st.write(f"{stars(r)} ({r:g}) {m.title} ({m.year})")
            if st.button("Clear ratings"):
                ratings.clear()
                for key in [k for k in st.session_state if str(k).startswith("rate_")]:
                    del st.session_state[key]
                st.rerun()
    with right:
        st.subheader("Recommended for you")
        if not ratings:
            st.info("Rate a few movies to get recommendations.")
            return
        result = service.recommend_for_ratings(dict(ratings), n=10)
        st.caption(f"based on {len(ratings)} rating(s)")
        if result.fallback == "popular":
            st.warning("None of your ratings could be used: showing the most popular movies.")
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
        protocol = report["protocol"]
        name = protocol.get("name", "?") if isinstance(protocol, dict) else protocol
        st.caption(f"protocol: {name} · dataset: {report.get('dataset', '?')}")
    compared = comparison_frame(report)
    if compared is not None:
        frame, metric, lower = compared
        st.altair_chart(_comparison_chart(frame, metric), width="stretch")
        best = "lowest" if lower else "highest"
        st.caption(f"Sorted by {metric}, {best} first; bars show 95% intervals over users.")
        if "model" in table.columns:  # the table in the chart's order
            rank = {m: k for k, m in enumerate(frame["model"])}
            table = table.sort_values("model", key=lambda c: c.map(rank), kind="stable")
    st.dataframe(table, width="stretch", hide_index=True)


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
