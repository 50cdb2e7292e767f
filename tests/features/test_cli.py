"""``reelrank features build`` / ``show`` on the bundled data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from reelrank.cli import main
from reelrank.cli.features import find_movie
from reelrank.errors import AmbiguousTitleError, UnknownIdError
from reelrank.features import ItemFeatures


def test_find_movie_is_the_one_title_matcher():
    movies = pd.DataFrame(
        {
            "movie_id": [1, 3114, 858, 6, 103372],
            "title": ["Toy Story", "Toy Story 2", "Godfather, The", "Heat", "Heat, The"],
            "year": pd.array([1995, 1999, 1972, None, 2013], dtype="Int32"),
            "genres": [[], [], [], [], []],
        }
    )
    assert find_movie(movies, "toy story").item_idx == 0
    assert find_movie(movies, "Toy  Story 2 (1999)").movie_id == 3114
    hit = find_movie(movies, "the godfather")
    assert hit.item_idx == 2 and "articles" in hit.how
    hit = find_movie(movies, "godfathr")
    assert hit.item_idx == 2 and hit.how.startswith("close spelling")
    with pytest.raises(AmbiguousTitleError) as info:
        find_movie(movies, "heat")
    assert [c["movie_id"] for c in info.value.candidates] == [6, 103372]
    with pytest.raises(UnknownIdError, match="no movie matches title"):
        find_movie(movies, "zzzqqq xx")


@pytest.mark.slow
def test_build_and_show(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REELRANK_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "feat"
    assert main(["features", "build", "--split", "temporal", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["families"]["genre"] == 19
    assert summary["split"] == "temporal"
    f = ItemFeatures.load(out)
    assert f.n_items == 9742
    nb = pd.read_parquet(out / "neighbours.parquet")
    assert (nb["item_idx"] != nb["neighbour_idx"]).all()
    assert nb.groupby("item_idx").size().max() == 20

    assert main(["features", "show", "toy story", "--features", str(out), "--json", "-n", "5"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["movie_id"] == 1
    assert "Animation" in shown["genres"]
    assert shown["matched"] == {"movie_id": 1, "title": "Toy Story (1995)", "how": "exact title"}
    assert any(t["term"] == "pixar" for t in shown["tfidf_terms"])
    titles = [n["title"] for n in shown["neighbours"]]
    assert "Toy Story 2" in titles and len(titles) == 5
    assert np.all(np.diff([n["score"] for n in shown["neighbours"]]) <= 0)


def test_cli_errors(capsys):
    assert main(["features", "build", "--split", "random", "--out", "/tmp/x-unused"]) == 2
    assert "--split" in capsys.readouterr().err
    assert main(["features", "show", "zzzqqq xx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no movie matches title" in err[0]
    assert main(["features", "show", "Heat", "--json"]) == 2  # ambiguous: both are named
    captured = capsys.readouterr()
    assert "Heat (1995); Heat, The (2013)" in captured.err
    assert [c["movie_id"] for c in json.loads(captured.out)["candidates"]] == [6, 103372]
