"""``reelrank serve``: where the API key comes from, loopback-only without one, and what it
prints on start (issue 12 item 2, issue 14 item 5)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from reelrank.cli import main

KEY = "serve-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REELRANK_API_KEY", raising=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])
def test_non_loopback_host_without_a_key_is_refused(
    artifact_dir: Path, host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(artifact_dir), "--host", host]) == 2
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "REELRANK_API_KEY" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_key_sources_exit_2(
    artifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    art = str(artifact_dir)
    assert main(["serve", art, "--api-key-file", str(tmp_path / "missing")]) == 2
    assert "API key file not found" in capsys.readouterr().err
    (tmp_path / "empty").write_text("  \n")
    assert main(["serve", art, "--api-key-file", str(tmp_path / "empty")]) == 2
    assert "is empty" in capsys.readouterr().err
    (tmp_path / "short").write_text("abc\n")
    assert main(["serve", art, "--api-key-file", str(tmp_path / "short")]) == 2
    assert "at least 16" in capsys.readouterr().err
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert main(["serve", art, "--api-key-file", str(fifo)]) == 2  # refused, not blocking
    monkeypatch.setenv("REELRANK_API_KEY", "tiny")
    assert main(["serve", art, "--host", "0.0.0.0"]) == 2
    assert "REELRANK_API_KEY has 4 characters" in capsys.readouterr().err
    assert main(["serve", art, "--log-level", "loud"]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    exe = Path(sys.executable).parent / "reelrank"
    port = _free_port()
    handle = log.open("w")
    proc = subprocess.Popen(
        [str(exe), "serve", *args, "--port", str(port)], stderr=handle, stdout=handle, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{url}/health", timeout=2)
            return proc, url
        except httpx.TransportError:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)


@pytest.mark.slow
def test_serve_with_a_key_file_prints_url_docs_and_auth(artifact_dir: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "api.key"
    key_file.write_text(KEY + "\n")
    env = {k: v for k, v in os.environ.items() if k != "REELRANK_API_KEY"}
    log = tmp_path / "serve.log"
    args = [str(artifact_dir), "--api-key-file", str(key_file), "--db", str(tmp_path / "u.db")]
    proc, url = _start(args, env, log)
    try:
        assert httpx.post(f"{url}/users", json={}).status_code == 401
        made = httpx.post(f"{url}/users", json={}, headers={"Authorization": f"Bearer {KEY}"})
        assert made.status_code == 201 and made.json()["token"]
        assert httpx.get(f"{url}/health").json()["auth"] == "api-key"
        assert httpx.get(f"{url}/docs").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    out = log.read_text()
    assert f"reelrank API on {url}" in out
    assert f"API docs: {url}/docs" in out
    assert f"auth: API key from {key_file}" in out
    assert KEY not in out  # the key itself is never printed


@pytest.mark.slow
def test_serve_without_a_key_warns_that_writes_are_open(artifact_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REELRANK_API_KEY"}
    log = tmp_path / "serve.log"
    proc, url = _start([str(artifact_dir), "--db", str(tmp_path / "u.db")], env, log)
    try:
        assert httpx.post(f"{url}/users", json={}).status_code == 201
    finally:
        proc.terminate()
        proc.wait(10)
    out = log.read_text()
    assert "auth: open" in out and "writes and stored users' data are open" in out
