"""``reelrank explore``: every plot exists, is a real non-blank PNG; the page embeds them."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import scipy.sparse as sp

from reelrank.cli import main
from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError, DataFormatError, UnknownIdError
from reelrank.evaluate.explore import (
    ExploreResult,
    hybrid_similarity,
    plot_metric_curves,
    plot_rating_distribution,
    plot_ratings_per_movie,
    read_report,
    select_movies,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED = {
    "rating_distribution",
    "ratings_per_movie",
    "ratings_per_user",
    "ratings_over_time",
    "genre_counts",
    "tags_per_movie",
    "factor_norms",
    "tfidf_heatmap",
    "hybrid_similarity",
    "metric_curves",
}


def _check_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert 300 <= w <= 4000 and 250 <= h <= 4000, (path, img.shape)
    gray = img[..., :3].mean(axis=2)
    assert gray.var() > 1e-3, f"{path.name} looks blank"
    assert (gray < 0.5).mean() > 0.005, f"{path.name} has almost no ink"


# ---------------------------------------------------------------------------- fast units
def test_select_movies_star_wars(bundled: Dataset) -> None:
    idx = select_movies(bundled, ["Star Wars"])
    titles = bundled.movies["title"].to_numpy()[idx]
    assert "Star Wars: Episode IV - A New Hope" in titles
    assert all("star wars" in t.lower() for t in titles)
    assert len(idx) == len(set(idx.tolist()))


def test_select_movies_unknown_title(bundled: Dataset) -> None:
    with pytest.raises(UnknownIdError, match="no movie title contains 'Zzzqx'"):
        select_movies(bundled, ["Zzzqx"])


def test_hybrid_similarity_known_answer() -> None:
    factors = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], dtype=np.float32)
    tfidf = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    sim = hybrid_similarity(factors, tfidf, np.array([0, 1, 2]), weight=0.25)
    # cf cosine: 0-2 = 1, 0-1 = 0; content: 0-1 = 1, 0-2 = 0
    expected = np.array([[1.0, 0.75, 0.25], [0.75, 1.0, 0.0], [0.25, 0.0, 1.0]])
    np.testing.assert_allclose(sim, expected, atol=1e-6)
    with pytest.raises(ConfigError):
        hybrid_similarity(factors, tfidf, np.array([0]), weight=1.5)


def test_read_report_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": [\n  {"model": "pop", }\n]}')
    with pytest.raises(DataFormatError, match=r"bad\.json, line 2"):
        read_report(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"results": [{"model": "pop"}]}))
    with pytest.raises(DataFormatError, match=r"results\[0\]"):
        read_report(wrong)


def test_small_plots_on_tiny(tiny: Dataset, tmp_path: Path) -> None:
    _check_png(plot_rating_distribution(tiny, tmp_path / "r.png"))
    _check_png(plot_ratings_per_movie(tiny, tmp_path / "m.png"))
    report = {"results": [{"model": "a", "metrics": {"ndcg@5": 0.1, "ndcg@10": 0.2}}]}
    _check_png(plot_metric_curves(report, tmp_path / "k.png"))
    with pytest.raises(ConfigError, match="metric@k"):
        plot_metric_curves({"results": [{"model": "a", "metrics": {"rmse": 1}}]}, tmp_path / "x")


# ---------------------------------------------------------------------------- full run
@pytest.mark.slow
def test_every_plot_is_a_real_png(explored: ExploreResult) -> None:
    assert set(explored.plots) == EXPECTED
    for path in explored.plots.values():
        _check_png(path)


@pytest.mark.slow
def test_html_embeds_every_plot(explored: ExploreResult) -> None:
    page = explored.html.read_text(encoding="utf-8")
    embedded = re.findall(r'data-file="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    by_file = dict(embedded)
    for path in explored.plots.values():
        assert path.name in by_file
        assert base64.b64decode(by_file[path.name]) == path.read_bytes()
    assert 'src="http' not in page  # self-contained


@pytest.mark.slow
def test_facts_match_the_bundled_counts(explored: ExploreResult) -> None:
    assert explored.facts["ratings"] == 100_836
    assert explored.facts["users"] == 610
    assert explored.facts["movies (rated / catalogue)"] == "9724 / 9742"
    assert "Star Wars: Episode IV - A New Hope (1977)" in explored.facts["chosen movies"]


@pytest.mark.slow
def test_cli_explore(tmp_path: Path, report_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "explore",
            "--out",
            str(tmp_path),
            "--movies",
            "Toy Story",
            "--random",
            "5",
            "--report",
            str(report_file),
            "--json",
        ]
    )
    assert code == 0
    written = json.loads(capsys.readouterr().out)
    assert set(written["plots"]) == EXPECTED
    assert "Toy Story" in written["facts"]["chosen movies"]


def test_cli_explore_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explore", "--out", str(tmp_path), "--movies", "Zzzqx"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no movie title contains 'Zzzqx'"]
    missing = tmp_path / "nope.json"
    assert main(["explore", "--out", str(tmp_path), "--report", str(missing)]) == 2
    assert "nope.json: report file not found" in capsys.readouterr().err
