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


def test_recommend_user_json(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", str(trained), "--user", "1", "-n", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["user_id"] == 1 and len(out["recommendations"]) == 4


def test_recommend_rated(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recommend", str(trained), "--rated", "Toy Story=5", "--rated", "Heat (1995)=4"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [m["movie_id"] for m in out["matched"]] == [1, 6]
    assert len(out["recommendations"]) == 10
    assert main(args) == 0
    assert "Toy Story (1995)" in capsys.readouterr().out


def test_similar_and_explain(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["similar", str(trained), "Toy Story", "-n", "5", "--json"]) == 0
    sims = json.loads(capsys.readouterr().out)
    assert len(sims) == 5 and 1 not in {s["movie_id"] for s in sims}
    assert main(["similar", str(trained), "Star Wars", "-n", "3"]) == 0
    captured = capsys.readouterr()
    assert "ambiguous" in captured.err and "Star Wars" in captured.out
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
        assert r.status_code == 200 and len(r.json()["recommendations"]) == 3
        user = httpx.post(f"http://127.0.0.1:{port}/users", json={"name": "a"}).json()
    finally:
        proc.terminate()
        proc.wait(10)
    from reelrank.serving.store import UserStore

    assert UserStore(db).get_user(user["user_id"]) is not None  # the database file persists
