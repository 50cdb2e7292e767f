"""One machine, ML-32M-shaped data end to end: wall time and peak RSS of every stage.

Usage::

    python benchmarks/scale.py [--ratings 32000204] [--users U] [--items I] [--tags T]
                               [--work DIR] [--stages synth,ingest,...] [--json]

Defaults are the ML-32M shape (200,948 users, 87,585 movies, 32,000,204 ratings, ~2M
tags); a smaller ``--ratings`` scales users, items and tags proportionally unless given.

Stages (each runs in a fresh child process, so its peak RSS is the child's own
``ru_maxrss`` from :func:`os.wait4`; they exchange data only through the work dir):

``synth``
    :func:`reelrank.data.synth.synthesize` writes ``data/`` in the ml-32m layout (not
    counted in the pipeline total).
``ingest``
    :func:`reelrank.data.load` (CSV -> CSR :class:`Dataset`), saved to ``dataset/`` as npz +
    Parquet for the later stages.
``features``
    :func:`reelrank.features.build_item_features` (genres, tags, TF-IDF; no embeddings),
    saved to ``features/``.
``als``
    ``create_model("als")`` fitted on all ratings, saved to ``als/``.
``evaluate``
    :func:`reelrank.evaluate.runner.evaluate` of ``pop`` and ``als`` under ``temporal``
    (full ranking over the catalogue, features fitted on train only).
``hybrid``
    ``create_model("hybrid")`` with big-data settings (ALS + TF-IDF content + popularity
    generators, ranker pairs from at most ``--hybrid-users`` users), saved to ``hybrid/``.
``artifact``
    :func:`reelrank.serving.artifact.save_artifact` of the hybrid model to ``artifact/``.
``serve``
    :func:`reelrank.serving.artifact.load_artifact` + :class:`RecommenderService`, then 200
    known-user ``recommend`` calls and 50 new-user ``recommend_for_ratings`` fold-ins
    (p50 / p99 latency each).

The table shows each stage's wall time (as measured by the parent, child start-up included)
and peak RSS; the total is the sum over the pipeline stages (``synth`` excluded).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

logger = logging.getLogger("reelrank.benchmarks.scale")

#: the ML-32M shape
ML32M = {"users": 200_948, "items": 87_585, "ratings": 32_000_204, "tags": 2_000_072}

STAGES: tuple[str, ...] = (
    "synth",
    "ingest",
    "features",
    "als",
    "evaluate",
    "hybrid",
    "artifact",
    "serve",
)
PIPELINE: tuple[str, ...] = STAGES[1:]

#: hybrid settings for big data: item-kNN over 87k items and the pairs of every user are
#: what does not scale, so the generators are ALS + TF-IDF content + popularity and the
#: ranker trains on a user sample
HYBRID_BIG: dict[str, Any] = {
    "generators": "als:100,content:50,pop:20",
    "use_embeddings": False,
    "content_kind": "tfidf",
    "n_random_negatives": 10,
    "n_estimators": 200,
    "early_stopping_rounds": 20,
    "featurize_batch": 512,
    # one LightGBM thread: with 2 cores shared by other processes, OpenMP threads spin and
    # wait on each other (measured: 484 s with 2 threads vs far less with 1 at 1M ratings)
    "n_jobs": 1,
}


# ---------------------------------------------------------------------------- sizes
def scaled_sizes(
    ratings: int, users: int | None = None, items: int | None = None, tags: int | None = None
) -> dict[str, int]:
    """Users, items and tags for ``ratings`` ratings, scaled from the ML-32M shape.

    Parameters
    ----------
    ratings
        Number of ratings.
    users, items, tags
        Explicit sizes; the ones left None scale with ``ratings / 32,000,204``.

    Returns
    -------
    dict
        Keys ``ratings``, ``users``, ``items``, ``tags``.

    Examples
    --------
    >>> scaled_sizes(32_000_204)["users"]
    200948
    >>> scaled_sizes(1_000_000)["items"]
    2737
    """
    if ratings < 1:
        raise ValueError("ratings must be >= 1")
    f = ratings / ML32M["ratings"]

    def pick(given: int | None, key: str, floor: int) -> int:
        return int(given) if given is not None else max(floor, round(ML32M[key] * f))

    return {
        "ratings": int(ratings),
        "users": pick(users, "users", 10),
        "items": pick(items, "items", 20),
        "tags": pick(tags, "tags", 0),
    }


# ---------------------------------------------------------------------------- dataset i/o
def save_dataset(ds: Any, path: Path) -> None:
    """Write a :class:`~reelrank.data.dataset.Dataset` as npz (CSR, ids) + Parquet (tables)."""
    from reelrank._fs import atomic_directory

    m = ds.interactions
    with atomic_directory(path) as tmp:
        np.savez(
            tmp / "ratings.npz",
            indptr=m.indptr,
            indices=m.indices,
            data=m.data,
            timestamps=ds.timestamps,
            user_ids=ds.users.values,
            item_ids=ds.items.values,
        )
        ds.movies.to_parquet(tmp / "movies.parquet", index=False)
        ds.tags.to_parquet(tmp / "tags.parquet", index=False)
        meta = {
            "layout": ds.layout,
            "name": ds.name,
            "rating_scale": list(ds.rating_scale),
            "shape": list(m.shape),
        }
        (tmp / "dataset.json").write_text(json.dumps(meta))


def load_dataset(path: Path) -> Any:
    """Read a dataset written by :func:`save_dataset`."""
    from reelrank.data.dataset import Dataset, IdMap

    meta = json.loads((path / "dataset.json").read_text())
    with np.load(path / "ratings.npz", allow_pickle=False) as f:
        a = {k: f[k] for k in f.files}
    matrix = sp.csr_matrix((a["data"], a["indices"], a["indptr"]), shape=tuple(meta["shape"]))
    matrix.has_sorted_indices = True
    movies = pd.read_parquet(path / "movies.parquet")
    movies["genres"] = [list(g) for g in movies["genres"].tolist()]
    movies["year"] = movies["year"].astype("Int32")
    tags = pd.read_parquet(path / "tags.parquet")
    tags["tag"] = tags["tag"].astype(object)
    return Dataset(
        interactions=matrix,
        timestamps=a["timestamps"],
        users=IdMap(a["user_ids"], name="user"),
        items=IdMap(a["item_ids"], name="movie"),
        movies=movies,
        tags=tags,
        rating_scale=tuple(meta["rating_scale"]),
        layout=meta["layout"],
        name=meta["name"],
    )


# ---------------------------------------------------------------------------- stages
def stage_synth(work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> dict[str, Any]:
    """Write the synthetic ml-32m-layout folder ``work/data``."""
    from reelrank.data.synth import synthesize

    synthesize(
        work / "data",
        n_users=sizes["users"],
        n_items=sizes["items"],
        n_ratings=sizes["ratings"],
        n_tags=sizes["tags"],
        seed=opts.get("seed", 0),
        progress=opts.get("progress", False),
    )
    return {"bytes": sum(p.stat().st_size for p in (work / "data").iterdir())}


def stage_ingest(work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> dict[str, Any]:
    """Load the CSV folder into a Dataset (timed alone) and save it for later stages."""
    from reelrank.data import load

    t0 = time.perf_counter()
    ds = load(work / "data")
    load_s = time.perf_counter() - t0
    save_dataset(ds, work / "dataset")
    return {
        "load_seconds": round(load_s, 2),
        "n_ratings": ds.n_interactions,
        "n_users": ds.n_users,
        "n_items": ds.n_items,
        "n_tags": len(ds.tags),
    }


def stage_features(work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> dict[str, Any]:
    """Genres, tags and TF-IDF of the whole catalogue (the serving features)."""
    from reelrank.features import build_item_features

    ds = load_dataset(work / "dataset")
    t0 = time.perf_counter()
    feats = build_item_features(ds)
    build_s = time.perf_counter() - t0
    feats.save(work / "features")
    return {"build_seconds": round(build_s, 2), "n_features": int(feats.sparse.shape[1])}


def stage_als(work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> dict[str, Any]:
    """ALS fitted on every rating."""
    from reelrank.models.base import create_model

    ds = load_dataset(work / "dataset")
    model = create_model("als", random_state=opts.get("seed", 0))
    t0 = time.perf_counter()
    model.fit(ds)
    fit_s = time.perf_counter() - t0
    model.save(work / "als")
    return {"fit_seconds": round(fit_s, 2)}


def stage_evaluate(work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> dict[str, Any]:
    """``temporal`` evaluation of ``pop`` and ``als`` (full ranking)."""
    from reelrank.evaluate.runner import evaluate

    ds = load_dataset(work / "dataset")
    result = evaluate(ds, "temporal", ["pop", "als"], progress=False, seed=opts.get("seed", 0))
    out: dict[str, Any] = {
        "split_seconds": result.info["split_seconds"],
        "n_users_evaluated": result.info["n_users_evaluated"],
    }
    for r in result.results:
        if r.error:
            raise RuntimeError(f"{r.model}: {r.error}")
        out[r.model] = {
            "ndcg@10": round(r.metrics["ndcg@10"], 4),
            "recall@20": round(r.metrics["recall@20"], 4),
            "fit_seconds": round(r.fit_seconds, 2),
            "eval_seconds": round(r.eval_seconds, 2),
        }
    return out


def stage_hybrid(work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> dict[str, Any]:
    """The two-stage hybrid with big-data settings, fitted on every rating."""
    from reelrank.features.item_features import ItemFeatures
    from reelrank.models.base import create_model

    ds = load_dataset(work / "dataset")
    feats = ItemFeatures.load(work / "features")
    params = {**HYBRID_BIG, "seed": opts.get("seed", 0)}
    if opts.get("hybrid_users"):
        params["max_label_users"] = int(opts["hybrid_users"])
    model = create_model("hybrid", **params)
    t0 = time.perf_counter()
    model.fit(ds, feats)
    fit_s = time.perf_counter() - t0
    model.save(work / "hybrid")
    info = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in model.fit_info_.items()}
    return {"fit_seconds": round(fit_s, 2), **info}


def stage_artifact(work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> dict[str, Any]:
    """Save the hybrid as a serving artifact (model, id maps, movies, features)."""
    from reelrank.features.item_features import ItemFeatures
    from reelrank.models.base import load_model
    from reelrank.serving.artifact import save_artifact

    ds = load_dataset(work / "dataset")
    feats = ItemFeatures.load(work / "features")
    model = load_model(work / "hybrid")
    t0 = time.perf_counter()
    save_artifact(work / "artifact", model, ds, feats)
    save_s = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in (work / "artifact").rglob("*") if p.is_file())
    return {"save_seconds": round(save_s, 2), "artifact_mb": round(size / 2**20, 1)}


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}  # fmt: skip


def stage_serve(work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> dict[str, Any]:
    """Load the artifact, then time known-user and new-user recommendations."""
    from reelrank.serving.artifact import load_artifact
    from reelrank.serving.service import RecommenderService

    t0 = time.perf_counter()
    service = RecommenderService(load_artifact(work / "artifact"))
    load_s = time.perf_counter() - t0
    art = service.artifact
    rng = np.random.default_rng(opts.get("seed", 0))
    n_known, n_new = opts.get("n_known", 200), opts.get("n_new", 50)
    user_ids = art.users.ids(rng.choice(len(art.users), size=n_known, replace=False))
    service.recommend(int(user_ids[0]), 10)  # warm-up (lazy indexes, first LightGBM call)
    known = []
    for uid in user_ids:
        t = time.perf_counter()
        recs = service.recommend(int(uid), 10)
        known.append(time.perf_counter() - t)
        if len(recs) != 10:
            raise RuntimeError(f"user {uid}: {len(recs)} recommendations instead of 10")
    # new users: 5-20 ratings on movies drawn by popularity, half by id, half by title
    counts = np.bincount(art.ratings.indices, minlength=len(art.items)).astype(np.float64)
    p = counts / counts.sum()
    new = []
    for _ in range(n_new):
        k = int(rng.integers(5, 21))
        picks = rng.choice(len(art.items), size=k, replace=False, p=p)
        ratings = {int(m): float(rng.integers(1, 11) / 2) for m in art.items.ids(picks)}
        t = time.perf_counter()
        out = service.recommend_for_ratings(ratings, 10)
        new.append(time.perf_counter() - t)
        if len(out.recommendations) != 10:
            raise RuntimeError("new user: fewer than 10 recommendations")
    return {
        "load_seconds": round(load_s, 2),
        "known": _percentiles(known),
        "new": _percentiles(new),
    }


STAGE_FUNCS: dict[str, Callable[[Path, dict[str, int], dict[str, Any]], dict[str, Any]]] = {
    "synth": stage_synth,
    "ingest": stage_ingest,
    "features": stage_features,
    "als": stage_als,
    "evaluate": stage_evaluate,
    "hybrid": stage_hybrid,
    "artifact": stage_artifact,
    "serve": stage_serve,
}


# ---------------------------------------------------------------------------- driver
def run_stage_child(
    stage: str, work: Path, sizes: dict[str, int], opts: dict[str, Any]
) -> dict[str, Any]:
    """Run one stage in a fresh Python process; wall time and the child's own peak RSS.

    Returns
    -------
    dict
        ``stage``, ``seconds``, ``peak_rss_mb``, ``details`` (what the stage returned).
    """
    out_file = work / f"stage-{stage}.json"
    out_file.unlink(missing_ok=True)
    cmd = [
        sys.executable, __file__, "--child", stage, "--work", str(work),
        "--sizes", json.dumps(sizes), "--opts", json.dumps(opts),
    ]  # fmt: skip
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {stage} failed with exit status {proc.returncode}")
    details = json.loads(out_file.read_text())
    return {
        "stage": stage,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "details": details,
    }


def _child(stage: str, work: Path, sizes: dict[str, int], opts: dict[str, Any]) -> None:
    details = STAGE_FUNCS[stage](work, sizes, opts)
    (work / f"stage-{stage}.json").write_text(json.dumps(details, default=str))


def format_table(report: dict[str, Any]) -> str:
    """The per-stage table and the pipeline total as text."""
    lines = [f"{'stage':<10} {'wall s':>9} {'peak RSS MB':>12}  details"]
    for row in report["stages"]:
        det = json.dumps(row["details"], default=str)
        lines.append(
            f"{row['stage']:<10} {row['seconds']:>9.1f} {row['peak_rss_mb']:>12.0f}  {det}"
        )
    lines.append(
        f"{'total':<10} {report['total_seconds']:>9.1f} {report['max_peak_rss_mb']:>12.0f}"
        "  (pipeline stages, synth excluded; RSS = max over stages)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratings", type=int, default=ML32M["ratings"])
    ap.add_argument("--users", type=int)
    ap.add_argument("--items", type=int)
    ap.add_argument("--tags", type=int)
    ap.add_argument("--work", type=Path, default=None, help="work dir (default ./scale-work-R)")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hybrid-users", type=int, default=5_000,
                    help="max users whose held-out ratings label the ranker's pairs")  # fmt: skip
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", help=argparse.SUPPRESS)
    ap.add_argument("--opts", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.child:
        _child(args.child, args.work, json.loads(args.sizes), json.loads(args.opts))
        return 0
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGE_FUNCS]
    if unknown:
        ap.error(f"unknown stage(s) {unknown}; choose from {', '.join(STAGES)}")
    sizes = scaled_sizes(args.ratings, args.users, args.items, args.tags)
    work = args.work or Path(f"scale-work-{args.ratings}")
    work.mkdir(parents=True, exist_ok=True)
    opts = {"seed": args.seed, "hybrid_users": args.hybrid_users}
    rows = []
    for stage in stages:
        row = run_stage_child(stage, work.resolve(), sizes, opts)
        rows.append(row)
        if not args.json:
            print(f"{stage}: {row['seconds']:.1f} s, {row['peak_rss_mb']:.0f} MB", file=sys.stderr)
    pipeline = [r for r in rows if r["stage"] in PIPELINE]
    report = {
        "sizes": sizes,
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "stages": rows,
        "total_seconds": round(sum(r["seconds"] for r in pipeline), 2),
        "max_peak_rss_mb": max((r["peak_rss_mb"] for r in rows), default=0.0),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"sizes: {sizes}; load average at the end: {report['load_average']}")
        print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
