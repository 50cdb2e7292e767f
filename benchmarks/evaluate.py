"""Full-ranking evaluation of ALS on an ML-32M-shaped dataset: time and peak memory.

Generates a synthetic dataset in memory (vectorised: power-law movie popularity and user
activity, 200,948 users x 87,585 movies x 32M ratings by default), splits it with the
``temporal`` protocol, fits ALS on train + validation and scores every test user against the
whole catalogue (training items excluded, ``argpartition`` top-k in user batches), then prints
the figures. Targets: <= 3 min and <= 6 GB peak RSS for the evaluation.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/evaluate.py                 # full size
    OPENBLAS_NUM_THREADS=1 python benchmarks/evaluate.py --ratings 2000000   # quick run

``--ratings`` below 32M scales the number of users down with it (160 ratings per user, as in
ML-32M) unless ``--users`` is given; the catalogue keeps its 87,585 movies.

``--tuning`` instead runs ``evaluate(..., tune=True)`` on the bundled ml-latest-small under
every protocol that accepts it and prints, per protocol and model, the default
configuration's validation score, the tuned one's, and the tuned model's test score (the
tuned score is never below the default's: the default is Optuna's first trial)::

    OPENBLAS_NUM_THREADS=1 python benchmarks/evaluate.py --tuning --models pop,itemknn,ease
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset, IdMap, empty_tags
from reelrank.evaluate.runner import evaluate

ML32M_USERS, ML32M_ITEMS, ML32M_RATINGS = 200_948, 87_585, 32_000_204


def synthesize_in_memory(n_users: int, n_items: int, n_ratings: int, seed: int = 0) -> Dataset:
    """A MovieLens-shaped dataset built without files (vectorised, no per-row Python)."""
    rng = np.random.default_rng(seed)
    item_p = 1.0 / np.arange(1, n_items + 1) ** 0.9  # Zipf-like popularity
    item_p /= item_p.sum()
    activity = rng.pareto(1.5, n_users) + 1.0
    per_user = np.maximum(20, np.round(activity / activity.sum() * n_ratings)).astype(np.int64)
    per_user = np.minimum(per_user, n_items // 2)
    user_idx = np.repeat(np.arange(n_users, dtype=np.int64), per_user)
    item_idx = rng.choice(n_items, size=len(user_idx), p=item_p).astype(np.int64)
    # deduplicate (user, item) pairs
    keys = np.unique(user_idx * n_items + item_idx)
    user_idx, item_idx = keys // n_items, keys % n_items
    n = len(keys)
    rating = (np.clip(np.round(rng.normal(3.6, 1.0, n) * 2) / 2, 0.5, 5.0)).astype(np.float32)
    timestamp = 1_000_000_000 + rng.integers(0, 600_000_000, n)
    users = IdMap(np.arange(1, n_users + 1), name="user")
    items = IdMap(np.arange(1, n_items + 1), name="movie")
    genres = np.array(["Drama", "Comedy", "Action", "Thriller", "Romance"], dtype=object)
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_items + 1),
            "title": pd.array([f"Movie {i}" for i in range(1, n_items + 1)], dtype="string"),
            "year": pd.array(1950 + np.arange(n_items) % 70, dtype="Int32"),
            "genres": [[genres[i % 5]] for i in range(n_items)],
        }
    )
    return Dataset.from_arrays(
        user_idx, item_idx, rating, timestamp, users=users, items=items, movies=movies,
        tags=empty_tags(), layout="synthetic", name="synthetic-ml32m",
    )  # fmt: skip


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures (JSON with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ratings", type=int, default=ML32M_RATINGS)
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--items", type=int, default=ML32M_ITEMS)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--tuning", action="store_true", help="tuned vs default on bundled data")
    ap.add_argument("--models", default="pop,itemknn,als,ease")
    ap.add_argument("--trials", type=int, default=None, help="trials per model (--tuning)")
    args = ap.parse_args(argv)
    if args.tuning:
        return tuning_check(args.models.split(","), args.trials, as_json=args.json)
    n_users = args.users or max(1000, round(ML32M_USERS * args.ratings / ML32M_RATINGS))

    t0 = time.perf_counter()
    ds = synthesize_in_memory(n_users, args.items, args.ratings)
    t_gen = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = evaluate(
        ds, "temporal", ["als"], ks=[10, 20], progress=sys.stderr.isatty(),
        params={"als": {"factors": args.factors, "iterations": args.iterations}},
    )  # fmt: skip
    total = time.perf_counter() - t1
    r = result.results[0]
    if r.error:
        print(f"ALS failed: {r.error}", file=sys.stderr)
        return 1
    figures = {
        "users": n_users,
        "items": args.items,
        "ratings": ds.n_interactions,
        "generate_seconds": round(t_gen, 1),
        "split_seconds": result.info["split_seconds"],
        "fit_seconds": round(r.fit_seconds, 1),
        "eval_seconds": round(r.eval_seconds, 1),
        "evaluate_total_seconds": round(total, 1),
        "users_scored": result.info["n_users_evaluated"],
        "users_per_second": round(result.info["n_users_evaluated"] / max(r.eval_seconds, 1e-9)),
        "peak_rss_gb": round(_peak_rss_gb(), 2),
        "ndcg@10": round(r.metrics["ndcg@10"], 4),
        "recall@20": round(r.metrics["recall@20"], 4),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:>24}: {v}")
    return 0


def tuning_check(models: list[str], trials: int | None, *, as_json: bool) -> int:
    """Default vs tuned validation scores on every protocol the bundled data fits."""
    from reelrank.data import load
    from reelrank.errors import ConfigError
    from reelrank.evaluate.protocols import PROTOCOLS

    ds = load()
    rows = []
    for name, proto in PROTOCOLS.items():
        try:
            proto.check_dataset(ds)
        except ConfigError:
            continue
        t0 = time.perf_counter()
        result = evaluate(ds, name, models, tune=True, progress=False, tune_trials=trials)
        seconds = time.perf_counter() - t0
        for r in result.results:
            if r.error or r.validation_scores is None:
                rows.append({"protocol": name, "model": r.model, "error": r.error})
                continue
            default, best = r.validation_scores
            rows.append(
                {
                    "protocol": name, "model": r.model, "metric": result.primary_metric(),
                    "val_default": round(default, 4), "val_tuned": round(best, 4),
                    "test_tuned": round(r.metrics.get(result.primary_metric(), float("nan")), 4),
                    "trials": r.tuning["n_trials"], "run_seconds": round(seconds, 1),
                }
            )  # fmt: skip
    bad = [r for r in rows if "val_tuned" in r and r["val_tuned"] < r["val_default"]]
    if as_json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(" ".join(f"{k}={v}" for k, v in r.items()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
