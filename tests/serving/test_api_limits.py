"""Bounded work per request (issue 12, items 3 and 9): body size, caps, JSON-only writes,
small error bodies, and a server that keeps answering while the heaviest request runs."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from reelrank.serving.api import create_app
from reelrank.serving.api_schemas import MAX_RATINGS, MAX_TITLE_CHARS
from reelrank.serving.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit, parse_json_strict
from reelrank.serving.service import RecommenderService
from reelrank.serving.store import UserStore

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def service(artifact, tmp_path_factory: pytest.TempPathFactory) -> RecommenderService:
    return RecommenderService(artifact, UserStore(tmp_path_factory.mktemp("db") / "u.db"))


@pytest.fixture(scope="module")
def client(service: RecommenderService) -> TestClient:
    return TestClient(create_app(service))


# ---------------------------------------------------------------------------- body size
def test_body_over_the_limit_is_413_json_and_not_echoed(client: TestClient) -> None:
    huge = json.dumps({"ratings": [{"title": "x" * 1000, "rating": 4}] * 24_000}).encode()
    assert len(huge) > 24_000_000
    r = client.post("/recommendations", content=huge, headers=JSON)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/json"
    assert "larger than" in r.json()["detail"]
    assert len(r.content) < 200


def test_streamed_body_is_counted_as_it_arrives(service: RecommenderService) -> None:
    small = TestClient(create_app(service, max_body_bytes=1000))

    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # 100 x 100 bytes, chunked: no Content-Length
            yield b" " * 100

    r = small.post("/recommendations", content=chunks(), headers=JSON)
    assert r.status_code == 413 and r.json()["detail"]
    ok = small.post("/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}]})
    assert ok.status_code == 200


async def _run_asgi(app, body_chunks: list[bytes], headers: list[tuple[bytes, bytes]]):
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in body_chunks]
    messages[-1]["more_body"] = False
    received: list[int] = []
    sent: list[dict] = []

    async def receive() -> dict:
        received.append(1)
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    await app(scope, receive, send)
    return received, sent


def test_body_limit_middleware_stops_reading_at_the_limit() -> None:
    import anyio

    calls: list[bytes] = []

    async def app(scope, receive, send) -> None:  # reads the whole body, like FastAPI
        while True:
            message = await receive()
            calls.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raise AssertionError("the middleware should have stopped the body")

    limited = BodySizeLimit(app, max_bytes=250)
    received, sent = anyio.run(_run_asgi, limited, [b"a" * 100] * 10, [])
    assert len(received) == 3  # the third chunk crossed 250 bytes: nothing more was read
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"].startswith("request body larger than 250")
    # a declared Content-Length over the limit is refused before the app runs
    calls.clear()
    received, sent = anyio.run(_run_asgi, limited, [b"a" * 10], [(b"content-length", b"999999")])
    assert calls == [] and sent[0]["status"] == 413
    received, sent = anyio.run(_run_asgi, limited, [b"a"], [(b"content-length", b"zz")])
    assert sent[0]["status"] == 400


# ---------------------------------------------------------------------------- caps
def test_ratings_per_request_are_capped(client: TestClient, service: RecommenderService) -> None:
    ids = service.artifact.items.ids(range(MAX_RATINGS + 1)).tolist()
    body = {"ratings": [{"movie_id": i, "rating": 4} for i in ids], "n": 5}
    r = client.post("/recommendations", json=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "ratings"]
    assert len(r.content) < 5_000  # the 501 ratings are not echoed back
    body["ratings"] = body["ratings"][:MAX_RATINGS]
    assert client.post("/recommendations", json=body).status_code == 200


def test_title_and_search_length_are_capped(client: TestClient) -> None:
    long = "Toy Story " * 40
    assert len(long) > MAX_TITLE_CHARS
    r = client.post("/recommendations", json={"ratings": [{"title": long, "rating": 4}]})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "string_too_long"
    echoed = r.json()["detail"][0]["input"]
    assert len(echoed) < 150 and "characters" in echoed
    assert client.get("/movies/search", params={"q": long}).status_code == 422


def test_large_valid_json_is_not_echoed_in_the_422(client: TestClient) -> None:
    body = {"ratings": [{"title": "Heat", "rating": 4}], "genres": ["g" * 900_000]}
    r = client.post("/recommendations", json=body)
    assert r.status_code == 422
    assert len(r.content) < 2_000


def test_default_body_limit_fits_the_largest_valid_request() -> None:
    worst = {
        "ratings": [{"title": "\U0001f600" * MAX_TITLE_CHARS, "rating": 4.5}] * MAX_RATINGS,
        "n": 100,
    }
    size = len(json.dumps(worst, ensure_ascii=False).encode())
    assert size < DEFAULT_MAX_BODY_BYTES
    assert parse_json_strict(json.dumps(worst).encode()) == worst


# ---------------------------------------------------------------------------- JSON only
@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"", {"content-type": "application/x-www-form-urlencoded"}),
        (b"name=eve", {"content-type": "application/x-www-form-urlencoded"}),
        (b"--b--\r\n", {"content-type": "multipart/form-data; boundary=b"}),
        (b'{"name": "eve"}', {"content-type": "text/plain"}),
        (b'{"name": "eve"}', {}),
        (b"", {}),
    ],
)
def test_writes_accept_only_json(
    client: TestClient, service: RecommenderService, content: bytes, headers: dict
) -> None:
    before = service.store.n_users()
    r = client.post("/users", content=content, headers=headers)
    assert r.status_code == 415, r.text
    assert "application/json" in r.json()["detail"]
    r = client.post("/users/611/ratings", content=content, headers=headers)
    assert r.status_code == 415
    r = client.post("/recommendations", content=content, headers=headers)
    assert r.status_code == 415
    assert service.store.n_users() == before  # an empty form creates no user


def test_json_with_parameters_is_accepted(client: TestClient) -> None:
    r = client.post(
        "/users",
        content=b'{"name": "joe"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201 and r.json()["name"] == "joe"
    r = client.post("/users", content=b"", headers=JSON)  # no body at all: say what to send
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "missing"
    assert client.post("/users", content=b"{}", headers=JSON).status_code == 201


# ---------------------------------------------------------------------------- no freezing
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_url(service: RecommenderService) -> Iterator[str]:
    """The app on a real uvicorn server (in a thread of this process)."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(service), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _heaviest_body(service: RecommenderService) -> dict:
    """The most expensive request the limits allow: 500 distinct titles that match no
    movie (each is fuzzy-matched against the whole catalogue, then searched for near ones)."""
    rng = random.Random(5)
    words = sorted({w for t in service.artifact.movies["title"] for w in str(t).split()})
    titles = [" ".join(rng.choice(words) for _ in range(4)) + f" q{i}" for i in range(MAX_RATINGS)]
    return {"ratings": [{"title": t, "rating": 3} for t in titles], "n": 100}


@pytest.mark.slow
def test_health_answers_while_the_heaviest_request_runs(
    live_url: str, service: RecommenderService
) -> None:
    body = _heaviest_body(service)
    done: dict[str, float] = {}

    def heavy() -> None:
        t = time.perf_counter()
        r = httpx.post(f"{live_url}/recommendations", json=body, timeout=120)
        done["status"] = r.status_code
        done["seconds"] = time.perf_counter() - t
        done["end"] = time.perf_counter()

    with httpx.Client(base_url=live_url, timeout=10) as c:
        assert c.get("/health").status_code == 200  # warm connection
        worker = threading.Thread(target=heavy)
        worker.start()
        time.sleep(0.5)
        latencies = []
        for _ in range(10):
            t = time.perf_counter()
            assert c.get("/health").status_code == 200
            latencies.append(time.perf_counter() - t)
            time.sleep(0.1)
        last_health = time.perf_counter()
        worker.join(120)
    assert done.get("status") in (200, 409), done
    assert max(latencies) < 0.5, (
        f"/health latencies {latencies} during a {done['seconds']:.1f} s request"
    )
    assert done["end"] > last_health, f"the heavy request ended too soon to test ({done})"
