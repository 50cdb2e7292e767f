"""fetch(): the real download code against a local http.server (good, corrupted, 404, cut)."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reelrank.data import fetch as fetch_module
from reelrank.data.fetch import DownloadError, fetch
from reelrank.data.movielens import bundled_path, load
from reelrank.errors import ChecksumError, ConfigError


class _Server:
    """Serves ``routes``: path -> (body, mode); mode "ok" or "cut" (stops half-way)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                if self.path not in routes:
                    self.send_error(404, "Not Found")
                    return
                body, mode = routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "stall":  # half the body, then nothing for a long while
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    time.sleep(30)
                    return
                if mode == "trickle":  # 1 kB every 0.1 s
                    for start in range(0, len(body), 1024):
                        self.wfile.write(body[start : start + 1024])
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                if mode == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.daemon_threads = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def publish(self, name: str, body: bytes, *, md5: str | None = None, mode: str = "ok") -> None:
        digest = md5 or hashlib.md5(body).hexdigest()
        self.routes[f"/files/{name}"] = (body, mode)
        self.routes[f"/files/{name}.md5"] = (f"MD5 ({name}) = {digest}\n".encode(), "ok")


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def zip_folder(folder: Path, top: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{top}/{f.name}")
    return buf.getvalue()


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_good_download_extracts_and_loads(tmp_path, server, writers) -> None:
    server.publish("ml-100k.zip", zip_folder(writers["ml-100k"](tmp_path / "src"), "ml-100k"))
    cache = tmp_path / "cache"
    path = fetch("ml-100k", cache_dir=cache, base_url=server.url, progress=False)
    assert path == cache / "ml-100k"
    assert (path / "u.data").exists() and (path / "u.item").exists()
    assert leftovers(cache) == ["ml-100k"]  # no temp files left
    ds = load("ml-100k", cache_dir=cache)
    assert ds.layout == "ml-100k" and ds.n_interactions == 5
    # cached: a second call does not download again; force does
    n = len(server.hits)
    fetch("ml-100k", cache_dir=cache, base_url=server.url, progress=False)
    assert len(server.hits) == n
    fetch("ml-100k", cache_dir=cache, base_url=server.url, progress=False, force=True)
    assert len(server.hits) == n + 2


def test_corrupted_download_is_deleted(tmp_path, server, writers) -> None:
    body = zip_folder(writers["ml-1m"](tmp_path / "src"), "ml-1m")
    server.publish("ml-1m.zip", body, md5="0" * 32)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError) as info:
        fetch("ml-1m", cache_dir=cache, base_url=server.url, progress=False)
    text = str(info.value)
    assert "ml-1m.zip" in text and "0" * 32 in text
    assert hashlib.md5(body).hexdigest() in text
    assert leftovers(cache) == []


def test_404(tmp_path, server) -> None:
    with pytest.raises(DownloadError, match="404"):
        fetch("ml-25m", cache_dir=tmp_path / "cache", base_url=server.url, progress=False)
    assert leftovers(tmp_path / "cache") == []


def test_interrupted_connection_leaves_nothing(tmp_path, server, writers) -> None:
    body = zip_folder(writers["ml-10m"](tmp_path / "src"), "ml-10M100K")
    server.publish("ml-10m.zip", body, mode="cut")
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match=r"ml-10m\.zip"):
        fetch("ml-10m", cache_dir=cache, base_url=server.url, progress=False)
    assert leftovers(cache) == []


def test_pinned_per_file_checksums(tmp_path, server) -> None:
    # the real ml-latest-small files pass the pinned sha256 values from MANIFEST.md
    server.publish("ml-latest-small.zip", zip_folder(bundled_path(), "ml-latest-small"))
    cache = tmp_path / "cache"
    path = fetch("ml-latest-small", cache_dir=cache, base_url=server.url, progress=False)
    assert load(path).n_interactions == 100_836
    # a tampered ratings.csv inside a zip whose MD5 is consistent still fails, by file
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for f in bundled_path().iterdir():
        (tampered / f.name).write_bytes(f.read_bytes())
    with open(tampered / "ratings.csv", "ab") as f:
        f.write(b"1,1,4.0,964982703\r\n")
    server.publish("ml-latest-small.zip", zip_folder(tampered, "ml-latest-small"))
    with pytest.raises(ChecksumError) as info:
        fetch("ml-latest-small", cache_dir=cache, base_url=server.url, progress=False, force=True)
    text = str(info.value)
    assert "ratings.csv" in text and "sha256" in text
    assert fetch_module.ML_LATEST_SMALL_SHA256["ratings.csv"] in text
    # the previous good copy is untouched
    assert leftovers(cache) == ["ml-latest-small"]
    assert load(path).n_interactions == 100_836


def test_unknown_name(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset"):
        fetch("ml-7m", cache_dir=tmp_path)


# ---------------------------------------------------------------------------- hardening
def _big_zip(tmp_path, writers) -> bytes:
    folder = writers["csv"](tmp_path / "src", "ml-latest-small", genome=False)
    rows = ["userId,movieId,rating,timestamp"] + [f"{u},1,4.0,{u}" for u in range(1, 40_000)]
    writers["write"](folder / "ratings.csv", rows)
    return zip_folder(folder, "ml-latest-small")


def test_stall_timeout_reports_the_bytes_received(tmp_path, server, writers, monkeypatch) -> None:
    monkeypatch.setitem(fetch_module.PINNED_CHECKSUMS, "ml-latest-small", {})
    body = _big_zip(tmp_path, writers)
    server.publish("ml-latest-small.zip", body, mode="stall")
    cache = tmp_path / "cache"
    t = time.monotonic()
    with pytest.raises(DownloadError, match=r"stalled.*\d bytes received") as info:
        fetch("ml-latest-small", cache_dir=cache, base_url=server.url, progress=False, timeout=1)
    assert time.monotonic() - t < 15
    assert f"{len(body) // 2:,}" in str(info.value)
    assert leftovers(cache) == []


def test_overall_deadline(tmp_path, server, writers, monkeypatch) -> None:
    monkeypatch.setitem(fetch_module.PINNED_CHECKSUMS, "ml-latest-small", {})
    server.publish("ml-latest-small.zip", _big_zip(tmp_path, writers), mode="trickle")
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match=r"deadline \([\d,]+ of [\d,]+ bytes received\)"):
        fetch("ml-latest-small", cache_dir=cache, base_url=server.url, progress=False, deadline=1)
    assert leftovers(cache) == []


def test_killed_fetch_leftovers_are_cleaned_on_the_next_run(tmp_path, server, writers) -> None:
    body = zip_folder(writers["ml-100k"](tmp_path / "src"), "ml-100k")
    server.publish("ml-100k.zip", body, mode="stall")
    cache = tmp_path / "cache"
    script = (
        "from reelrank.data.fetch import fetch; "
        f"fetch('ml-100k', cache_dir={str(cache)!r}, base_url={server.url!r}, progress=False)"
    )
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen([sys.executable, "-c", script])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(
            cache.glob(f".ml-100k.tmp-{proc.pid}-*/*.part")
        ):
            time.sleep(0.05)
        os.kill(proc.pid, sig)
        proc.wait(30)
        # what this kill left, and only that: the run cleaned the previous kill's leftovers
        parts = list(cache.glob(".ml-100k.tmp-*/*.part"))
        assert [p.parent.name.split(".tmp-")[1].split("-")[0] for p in parts] == [str(proc.pid)]
    legacy = cache / ".ml-100k-abcd1234"  # the naming of earlier versions
    legacy.mkdir()
    os.utime(legacy, (time.time() - 7200, time.time() - 7200))
    server.publish("ml-100k.zip", body)
    fetch("ml-100k", cache_dir=cache, base_url=server.url, progress=False)
    assert leftovers(cache) == ["ml-100k"]


def test_zip_without_a_movielens_layout_is_not_installed(tmp_path, server) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-1m/README.txt", "not the data you are looking for")
        zf.writestr("ml-1m/notes.csv", "a,b\n1,2\n")
    server.publish("ml-1m.zip", buf.getvalue())
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="no MovieLens layout"):
        fetch("ml-1m", cache_dir=cache, base_url=server.url, progress=False)
    assert leftovers(cache) == []


def test_archive_of_another_dataset_is_not_installed(tmp_path, server, writers) -> None:
    server.publish("ml-1m.zip", zip_folder(writers["ml-100k"](tmp_path / "src"), "ml-1m"))
    with pytest.raises(DownloadError, match="ml-100k layout, not ml-1m"):
        fetch("ml-1m", cache_dir=tmp_path / "cache", base_url=server.url, progress=False)


def test_symlink_member_is_refused_with_exit_2(tmp_path, server, writers, capsys) -> None:
    from reelrank.cli import main

    buf = io.BytesIO(zip_folder(writers["ml-100k"](tmp_path / "src"), "ml-100k"))
    with zipfile.ZipFile(buf, "a") as zf:
        link = zipfile.ZipInfo("ml-100k/u.occupation")  # a link to ~/.bashrc
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../../.bashrc")
    server.publish("ml-100k.zip", buf.getvalue())
    cache = tmp_path / "cache"
    args = ["data", "fetch", "ml-100k", "--dir", str(cache), "--base-url", server.url]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and "Traceback" not in err
    assert leftovers(cache) == []


def test_extracted_size_is_capped(tmp_path, server, writers, monkeypatch) -> None:
    server.publish("ml-100k.zip", zip_folder(writers["ml-100k"](tmp_path / "src"), "ml-100k"))
    monkeypatch.setattr(fetch_module, "MAX_EXTRACTED_BYTES", 100)
    with pytest.raises(DownloadError, match="would extract"):
        fetch("ml-100k", cache_dir=tmp_path / "cache", base_url=server.url, progress=False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/u.data", b"\0" * (80 << 20))  # 80 MB of zeros: ~80 kB zipped
    server.publish("ml-100k.zip", buf.getvalue())
    monkeypatch.setattr(fetch_module, "MAX_EXTRACTED_BYTES", 1 << 40)
    with pytest.raises(DownloadError, match="would expand"):
        fetch("ml-100k", cache_dir=tmp_path / "cache", base_url=server.url, progress=False)
