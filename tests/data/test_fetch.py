"""fetch(): the real download code against a local http.server (good, corrupted, 404, cut)."""

from __future__ import annotations

import hashlib
import io
import threading
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
                if mode == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

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
