"""CLI: reelrank train / recommend / similar / explain and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reelrank.cli import main
from reelrank.cli.serving import parse_rated


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    cfg = root / "als.toml"
    cfg.write_text("factors = 16\niterations = 5\nrandom_state = 1\n")
    out = root / "model"
    assert main(["train", "--model", "als", "--config", str(cfg), "--out", str(out), "--json"]) == 0
    return out


def test_train_writes_artifact_with_config(trained: Path) -> None:
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["model"]["name"] == "als"
    assert manifest["model"]["config"]["factors"] == 16
    assert manifest["dataset"]["n_ratings"] == 100836  # all data by default


def test_train_temporal_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pop"
    assert (
        main(["train", "--model", "pop", "--split", "temporal", "--out", str(out), "--json"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["split"] == "temporal" and summary["n_ratings"] < 100836


ITEM_KEYS = {"movie_id", "title", "year", "genres", "score", "reasons"}
SHAPE_KEYS = {"query", "matched", "unmatched", "fallback", "items"}


def test_recommend_user_json(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", str(trained), "--user", "1", "-n", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == SHAPE_KEYS
    assert out["query"]["user_id"] == 1 and out["query"]["n"] == 4
    assert out["fallback"] is None and out["matched"] == [] and len(out["items"]) == 4
    assert all(set(item) == ITEM_KEYS for item in out["items"])  # als: no display scores


def test_recommend_rated(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recommend", str(trained), "--rated", "Toy Story=5", "--rated", "Heat (1995)=4"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == SHAPE_KEYS and out["fallback"] is None
    assert [m["movie_id"] for m in out["matched"]] == [1, 6]
    assert [m["how"] for m in out["matched"]] == ["exact title", "exact title; year 1995"]
    assert out["query"]["ratings"] == [
        {"input": "Toy Story", "rating": 5.0},
        {"input": "Heat (1995)", "rating": 4.0},
    ]
    assert len(out["items"]) == 10 and all(set(i) == ITEM_KEYS for i in out["items"])
    assert main(args) == 0
    assert "Toy Story (1995)" in capsys.readouterr().out


def test_fuzzy_matches_say_what_they_did(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recommend", str(trained), "--rated", "toy stroy=5", "--rated", "The Matrix=4"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "'toy stroy' -> Toy Story (1995) (close spelling (score 89))" in out
    assert "'The Matrix' -> Matrix, The (1999) (same title ignoring case" in out


@pytest.mark.parametrize(
    "args",
    [
        ["recommend", "{art}", "--rated", "Heat=4"],
        ["explain", "{art}", "--user", "1", "--movie", "Heat"],
        ["similar", "{art}", "Heat"],
    ],
)
def test_ambiguous_title_names_the_candidates_everywhere(
    trained: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    argv = [a.format(art=trained) for a in args]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "matches 2 movies" in err, err
    assert "Heat (1995)" in err and "Heat, The (2013)" in err
    assert captured.out == ""  # nothing was guessed
    assert main([*argv, "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["error"] == "ambiguous title" and out["query"] == "Heat"
    assert [c["movie_id"] for c in out["candidates"]] == [6, 103372]


def test_similar_and_explain(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["similar", str(trained), "Toy Story", "-n", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == SHAPE_KEYS and out["query"]["movie"] == "Toy Story"
    assert out["matched"][0]["movie_id"] == 1
    sims = out["items"]
    assert len(sims) == 5 and 1 not in {s["movie_id"] for s in sims}
    assert ITEM_KEYS | {"collaborative", "content"} == set(sims[0])
    assert main(["similar", str(trained), "Star Wars", "-n", "3"]) == 2
    err = capsys.readouterr().err
    assert "Star Wars: Episode IV - A New Hope (1977)" in err and "Episode V" in err
    assert main(["explain", str(trained), "--user", "1", "--movie", "Die Hard"]) == 0
    assert "Die Hard (1988)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recommend", "{art}", "--user", "99999"], "unknown user id: 99999"),
        (["recommend", "{art}", "--rated", "qqqzzzxx=5"], "no rated title matched"),
        (["recommend", "{art}", "--rated", "Toy Story"], "expected TITLE=RATING"),
        (["recommend", "{art}"], "either --user"),
        (["similar", "{art}", "qqqzzzxx"], "no movie matches"),
        (["explain", "{art}", "--user", "1", "--movie", "qqqzzzxx"], "no movie matches"),
        (["recommend", "/nonexistent/x", "--user", "1"], "no such artifact"),
        (["app", "/nonexistent/x"], "no such artifact"),
        (["serve", "/nonexistent/x"], "no such artifact"),
        (["train", "--model", "nosuchmodel", "--out", "{tmp}/x"], "unknown model"),
        (["train", "--model", "als", "--split", "weird", "--out", "{tmp}/x"], "--split"),
    ],
)
def test_errors_exit_2_with_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = [a.format(art=trained, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_bad_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("factors = [\n")
    assert (
        main(["train", "--model", "als", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    )
    assert "invalid TOML" in capsys.readouterr().err
    cfg.write_text("nosuchparam = 3\n")
    assert (
        main(["train", "--model", "als", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    )
    assert "unknown parameter" in capsys.readouterr().err


def test_parse_rated() -> None:
    assert parse_rated(["Toy Story=5", "260=4.5", "Se7en=3", "Heat (1995) = 4"]) == {
        "Toy Story": 5.0, 260: 4.5, "Se7en": 3.0, "Heat (1995)": 4.0,
    }  # fmt: skip


@pytest.mark.slow
def test_serve_answers_http(trained: Path, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "reelrank"
    db = tmp_path / "users.db"
    proc = subprocess.Popen([str(exe), "serve", str(trained), "--port", str(port), "--db", str(db)])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.3)
        assert r.json()["model"] == "als"
        r = httpx.post(
            f"http://127.0.0.1:{port}/recommendations",
            json={"ratings": [{"title": "Toy Story", "rating": 5}], "n": 3},
        )
        assert r.status_code == 200 and len(r.json()["items"]) == 3
        user = httpx.post(f"http://127.0.0.1:{port}/users", json={"name": "a"}).json()
    finally:
        proc.terminate()
        proc.wait(10)
    from reelrank.serving.store import UserStore

    assert UserStore(db).get_user(user["user_id"]) is not None  # the database file persists
