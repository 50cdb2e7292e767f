"""Ingest benchmark: ML-32M-shaped ratings.csv -> Dataset, reelrank's loader vs pandas.read_csv.

Writes a synthetic dataset with :func:`reelrank.data.synth.synthesize` (200,948 users,
87,585 movies, 32,000,204 ratings by default), then measures each loader in a fresh child
process (so peak RSS is that loader's alone, read from ``resource.getrusage``).

    python benchmarks/ingest.py                   # full ML-32M size (writes ~0.9 GB)
    python benchmarks/ingest.py --ratings 2000000 # smaller, users/movies scaled down
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FULL = {"users": 200_948, "items": 87_585, "ratings": 32_000_204}

_CHILD = r"""
import json, resource, sys, time
path, which = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if which == "reelrank":
    from reelrank.data.movielens import load
    ds = load(path)
    rows = ds.n_interactions
else:
    import numpy as np, pandas as pd
    frame = pd.read_csv(path + "/ratings.csv")
    rows = len(frame)
seconds = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mib": peak_kib / 1024}))
"""


def measure(folder: Path, which: str) -> dict[str, float]:
    """Run one loader in a child process; return rows, seconds and peak RSS (MiB)."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), which],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=FULL["ratings"])
    parser.add_argument("--users", type=int, default=None, help="default: scaled from ML-32M")
    parser.add_argument("--items", type=int, default=None, help="default: scaled from ML-32M")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "reelrank-bench")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    scale = args.ratings / FULL["ratings"]
    users = args.users or max(50, round(FULL["users"] * scale))
    items = args.items or max(100, round(FULL["items"] * min(1.0, scale**0.5)))
    folder = args.dir / f"synth-{users}u-{items}i-{args.ratings}r-s{args.seed}"
    if not (folder / "ratings.csv").exists():
        from reelrank.data.synth import synthesize

        t0 = time.perf_counter()
        synthesize(folder, n_users=users, n_items=items, n_ratings=args.ratings, seed=args.seed)
        print(f"synthesized {args.ratings:,} ratings in {time.perf_counter() - t0:.1f} s")
    size_mib = (folder / "ratings.csv").stat().st_size / 2**20
    print(f"data: {folder} ({users:,} users, {items:,} movies, ratings.csv {size_mib:,.0f} MiB)")
    print(f"{'loader':<28}{'rows':>14}{'seconds':>10}{'rows/s':>14}{'peak RSS MiB':>14}")
    loaders = ["reelrank"] + ([] if args.skip_pandas else ["pandas"])
    labels = {"reelrank": "reelrank.load -> Dataset", "pandas": "pandas.read_csv (frame only)"}
    for which in loaders:
        r = measure(folder, which)
        print(
            f"{labels[which]:<28}{r['rows']:>14,}{r['seconds']:>10.1f}"
            f"{r['rows'] / r['seconds']:>14,.0f}{r['peak_rss_mib']:>14,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
