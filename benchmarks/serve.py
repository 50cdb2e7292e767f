"""Serving latency / throughput and ANN recall.

Starts ``reelrank serve`` (uvicorn) in a subprocess on 127.0.0.1 and drives it with a pool
of concurrent keep-alive clients (``http.client`` in threads), for

* the bundled ml-latest-small (an ALS artifact trained here), and
* an ML-32M-shaped catalogue: 87,585 movies with synthetic ALS factors (clustered, 64-d),
  20,000 users with ~100 ratings each.

For each it reports p50 / p99 latency and requests/s of ``GET /recommendations/{id}``
(known users) and ``POST /recommendations`` (anonymous user, 5 ratings by movie id), and
for the big catalogue the HNSW index's recall@10 against exact inner-product search.

Targets (2-core machine): p99 <= 20 ms and >= 300 requests/s for the known-user call at 87k
movies. Usage::

    python benchmarks/serve.py [--requests 3000] [--concurrency 8] [--only bundled|large]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads OpenBLAS

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset, IdMap
from reelrank.models import create_model
from reelrank.serving.ann import FactorIndex, recall_at_k
from reelrank.serving.artifact import save_artifact

ML32M_ITEMS = 87_585


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bundled_artifact(out: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """Train ALS on the bundled data; return (artifact, user ids, movie ids)."""
    from reelrank.data import load
    from reelrank.features import build_item_features

    data = load()
    features = build_item_features(data)
    model = create_model("als").fit(data, features)
    save_artifact(out, model, data, features)
    return out, data.users.values, data.items.values[data.item_counts() > 20]


def synthetic_artifact(
    out: Path, n_items: int = ML32M_ITEMS, n_users: int = 20_000, dim: int = 64, seed: int = 0
) -> tuple[Path, np.ndarray, np.ndarray, object]:
    """An ALS artifact with clustered synthetic factors over an ML-32M-sized catalogue."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    item_f = centres[rng.integers(0, 200, n_items)] + 0.6 * rng.normal(size=(n_items, dim))
    pop = rng.pareto(1.2, n_items).astype(np.float32)
    item_f *= (0.3 + np.log1p(pop))[:, None] / 4
    user_f = centres[rng.integers(0, 200, n_users)] + 0.8 * rng.normal(size=(n_users, dim))
    item_f, user_f = item_f.astype(np.float32), user_f.astype(np.float32)
    # ~100 ratings per user, drawn by popularity
    per_user = rng.integers(20, 180, n_users)
    p = (pop + 1e-3) / (pop + 1e-3).sum()
    cols = rng.choice(n_items, size=int(per_user.sum()), p=p)
    rows = np.repeat(np.arange(n_users), per_user)
    pairs = np.unique(rows.astype(np.int64) * n_items + cols)
    rows, cols = pairs // n_items, pairs % n_items
    ratings = rng.integers(1, 11, len(rows)).astype(np.float32) / 2
    items = IdMap(np.arange(1, n_items + 1), name="movie")
    users = IdMap(np.arange(1, n_users + 1), name="user")
    genres_pool = ["Action", "Comedy", "Drama", "Thriller", "Romance", "Sci-Fi", "Horror"]
    movies = pd.DataFrame(
        {
            "movie_id": items.values,
            "title": [f"Synthetic Movie {i}" for i in range(1, n_items + 1)],
            "year": pd.array(rng.integers(1920, 2024, n_items), dtype="Int32"),
            "genres": [[genres_pool[k % 7], genres_pool[(k * 3 + 1) % 7]] for k in range(n_items)],
        }
    )
    data = Dataset.from_arrays(
        rows, cols, ratings, np.zeros(len(rows), np.int64),
        users=users, items=items, movies=movies, layout="synthetic", name="ml-32m-shaped",
    )  # fmt: skip
    model = create_model("als", factors=dim)
    model.seen_ = data.binary()
    model.n_items_ = n_items
    model.user_factors_ = user_f
    model.item_factors_ = item_f
    model.item_scale_ = np.ones(n_items, np.float32)
    save_artifact(out, model, data)
    return out, users.values, items.values[np.argsort(-pop)[:5000]], model


def ann_recall(model: object, n_queries: int = 1000) -> dict[str, float]:
    """HNSW recall@10 and per-query milliseconds vs exact search (known users, seen excluded)."""
    users_f = model.user_factors_  # type: ignore[attr-defined]
    items_f = model.item_factors_  # type: ignore[attr-defined]
    seen = model.seen_  # type: ignore[attr-defined]
    t = time.perf_counter()
    index = FactorIndex(items_f, threshold=0)
    build = time.perf_counter() - t
    rng = np.random.default_rng(1)
    q = rng.choice(len(users_f), n_queries, replace=False)
    t = time.perf_counter()
    approx = np.vstack([index.search(users_f[u], 10, seen[u])[0] for u in q])
    t_ann = (time.perf_counter() - t) / n_queries
    t = time.perf_counter()
    exact = np.vstack([index.exact(users_f[u : u + 1], 10, seen[u])[0] for u in q])
    t_exact = (time.perf_counter() - t) / n_queries
    return {
        "recall@10": round(recall_at_k(approx, exact), 4),
        "hnsw_build_s": round(build, 2),
        "hnsw_ms_per_query": round(1000 * t_ann, 3),
        "exact_ms_per_query": round(1000 * t_exact, 3),
    }


class Server:
    """``reelrank serve`` in a subprocess."""

    def __init__(self, artifact: Path, db: Path, ann_threshold: int = 50_000) -> None:
        self.port = _free_port()
        exe = Path(sys.executable).parent / "reelrank"  # the console script of this venv
        cmd = [
            str(exe), "serve", str(artifact), "--port", str(self.port),
            "--db", str(db), "--ann-threshold", str(ann_threshold),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.5)
            if self.proc.poll() is not None:
                raise RuntimeError("server exited")
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def drive(
    port: int, make_request: Callable[[int], tuple[str, str, bytes | None]], n: int, conc: int
) -> dict[str, float]:
    """Run ``n`` requests over ``conc`` keep-alive connections; latency stats in ms."""
    lat = np.zeros(n)
    counter = iter(range(n))
    lock = threading.Lock()
    errors = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"content-type": "application/json"}
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                break
            method, path, body = make_request(k)
            t = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            lat[k] = time.perf_counter() - t
            if resp.status != 200:
                errors[0] += 1
        conn.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(conc) as pool:
        for f in [pool.submit(worker) for _ in range(conc)]:
            f.result()
    wall = time.perf_counter() - t0
    ms = lat * 1000
    return {
        "requests": n,
        "concurrency": conc,
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "req_per_s": round(n / wall, 1),
        "errors": errors[0],
    }


def bench(
    name: str, artifact: Path, user_ids: np.ndarray, movie_ids: np.ndarray, args: argparse.Namespace
) -> dict[str, object]:
    rng = np.random.default_rng(2)
    users = rng.choice(user_ids, args.requests)
    # five distinct movies per request (the API refuses a movie rated twice in one request)
    picks = np.stack([rng.choice(movie_ids, 5, replace=False) for _ in range(args.requests)])
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(artifact, Path(tmp) / "users.db")
        try:
            get = lambda k: ("GET", f"/recommendations/{int(users[k])}?n=10", None)  # noqa: E731

            def post(k: int) -> tuple[str, str, bytes]:
                ratings = [{"movie_id": int(m), "rating": 4.5} for m in picks[k]]
                return (
                    "POST",
                    "/recommendations",
                    json.dumps({"ratings": ratings, "n": 10}).encode(),
                )

            drive(server.port, get, min(200, args.requests), args.concurrency)  # warm-up
            out: dict[str, object] = {"catalogue": name}
            health = lambda k: ("GET", "/health", None)  # noqa: E731
            out["GET /health (HTTP floor)"] = drive(
                server.port, health, args.requests, args.concurrency
            )
            out["GET /recommendations/{id}"] = drive(
                server.port, get, args.requests, args.concurrency
            )
            out["POST /recommendations"] = drive(server.port, post, args.requests, args.concurrency)
            conn = http.client.HTTPConnection("127.0.0.1", server.port)
            conn.request("GET", "/health")
            out["health"] = json.loads(conn.getresponse().read())
        finally:
            server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--only", choices=["bundled", "large"], default=None)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "bundled"):
            art, users, movies = bundled_artifact(Path(tmp) / "bundled")
            results.append(
                bench("bundled ml-latest-small (9,742 movies)", art, users, movies, args)
            )
        if args.only in (None, "large"):
            art, users, movies, model = synthetic_artifact(Path(tmp) / "large")
            res = bench(
                f"ML-32M-shaped ({ML32M_ITEMS:,} movies, synthetic)", art, users, movies, args
            )
            res["ann"] = ann_recall(model)
            results.append(res)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
