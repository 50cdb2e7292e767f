"""Wall time of the everyday commands, as a user meets them (a new process each time).

Measures ``reelrank --help`` and ``reelrank recommend ARTIFACT --user 1`` on an ``als``
artifact (trained first with ``reelrank train --model als --out ARTIFACT`` when missing),
each run in a fresh subprocess with the installed console script, and prints the median,
min and max of several runs together with the targets (<= 1 s and <= 2 s).

Usage::

    python benchmarks/cli_speed.py                      # artifact /tmp/e-als, 7 runs each
    python benchmarks/cli_speed.py --artifact model/ --runs 11 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGETS = {"help": 1.0, "recommend": 2.0}


def _reelrank() -> list[str]:
    script = shutil.which("reelrank", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from reelrank.cli import run; run()"]


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(cmd: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    """Median / min / max wall seconds of ``runs`` runs (after one warm-up run).

    The CPU seconds (user + system) of the same runs are reported too: on a machine shared
    with other work the wall time grows with the load, the CPU time much less, and on an idle
    machine the two are close (the commands are single-threaded).
    """
    _time(cmd, env)  # warm the OS file cache, as for a user's second call
    walls, cpus = zip(*(_time(cmd, env) for _ in range(runs)), strict=True)
    return {
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "cpu_median_s": round(statistics.median(cpus), 3),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, default=Path("/tmp/e-als"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()

    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    reelrank = _reelrank()
    if not (args.artifact / "model.json").exists() and not args.artifact.is_dir():
        print(f"training an als artifact into {args.artifact} ...", file=sys.stderr)
        subprocess.run(
            [*reelrank, "train", "--model", "als", "--out", str(args.artifact)], env=env, check=True
        )
    commands = {
        "help": [*reelrank, "--help"],
        "recommend": [*reelrank, "recommend", str(args.artifact), "--user", "1"],
    }
    results = {name: measure(cmd, args.runs, env) for name, cmd in commands.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if args.json:
        print(json.dumps({"results": results, "targets_s": TARGETS, "load_1min": load}, indent=2))
        return
    for name, r in results.items():
        shown = " ".join(commands[name][-4:] if name == "recommend" else commands[name][-1:])
        ok = "ok" if r["median_s"] <= TARGETS[name] else "OVER TARGET"
        print(
            f"reelrank {shown:<40} median {r['median_s']:.2f} s wall, "
            f"{r['cpu_median_s']:.2f} s CPU  (wall min {r['min_s']:.2f}, max {r['max_s']:.2f}, "
            f"{r['runs']} runs; target <= {TARGETS[name]:g} s: {ok})"
        )
    if load is not None:
        print(f"1-minute load average during the runs: {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
