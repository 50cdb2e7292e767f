"""`reelrank data info|fetch|synth` through the real entry point."""

from __future__ import annotations

import json

import pytest

from reelrank.cli import main

KEYS = {
    "layout",
    "n_ratings",
    "n_users",
    "n_items",
    "n_rated_items",
    "n_tags",
    "rating_min",
    "rating_max",
    "first_timestamp",
    "last_timestamp",
}


def test_info_bundled_json(capsys) -> None:
    assert main(["data", "info", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert KEYS <= set(out)
    assert out["n_ratings"] == 100_836 and out["n_users"] == 610 and out["n_items"] == 9_742
    assert out["n_rated_items"] == 9_724 and out["n_tags"] == 3_683
    assert out["layout"] == "ml-latest-small"


def test_info_text(capsys, tmp_path, writers) -> None:
    folder = writers["ml-1m"](tmp_path)
    assert main(["data", "info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "ml-1m" in out and "1..5" in out


def test_broken_file_exits_2_with_one_line(capsys, tmp_path, writers) -> None:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    writers["write"](
        folder / "ratings.csv", ["userId,movieId,rating,timestamp", "1,1,7.0,1"], eol="\r\n"
    )
    assert main(["data", "info", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "ratings.csv" in err and "line 2" in err and "Traceback" not in err


def test_fetch_uses_env_cache_and_reports_errors(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REELRANK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REELRANK_BASE_URL", "http://127.0.0.1:9/")  # nothing listens there
    assert main(["data", "fetch", "ml-100k"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "127.0.0.1:9" in err
    assert main(["data", "fetch", "ml-3m"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_synth_then_info(capsys, tmp_path, monkeypatch) -> None:
    out = tmp_path / "syn"
    args = ["data", "synth", "--users", "40", "--items", "60", "--ratings", "1000"]
    assert main([*args, "--tags", "10", "--out", str(out), "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_ratings"] == 1000 and info["n_tags"] == 10 and info["n_users"] == 40
    assert main([*args[:-1], "999999", "--out", str(out)]) == 2
    assert "too large" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["info", "fetch", "synth"])
def test_help_has_example(capsys, cmd) -> None:
    assert main(["data", cmd, "--help"]) == 0
    assert "Example: reelrank data" in capsys.readouterr().out
