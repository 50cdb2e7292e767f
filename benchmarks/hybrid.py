"""Hybrid and neural figures on the bundled data (temporal protocol).

Prints fit time of the hybrid end to end (features cached in ``--cache-dir``), NDCG@10 of
the hybrid and its first-stage models, and RMSE of the neural model against the bias
baseline. Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/hybrid.py [--tune]``.
"""

from __future__ import annotations

import argparse
import time

from reelrank.data import load
from reelrank.evaluate.runner import evaluate


def main() -> None:
    """Run the measurements and print one line per model."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--cache-dir", default=".reelrank-cache")
    parser.add_argument("--models", default="als,ease,lightfm,hybrid")
    args = parser.parse_args()
    dataset = load()
    t0 = time.perf_counter()
    result = evaluate(
        dataset, "temporal", args.models.split(","), tune=args.tune, progress=False,
        cache_dir=args.cache_dir,
    )  # fmt: skip
    for r in result.results:
        d = r.to_dict()
        m = d["metrics"]
        print(
            f"{r.model:10s} ndcg@10={m.get('ndcg@10', float('nan')):.4f} "
            f"recall@20={m.get('recall@20', float('nan')):.4f} fit_s={d['fit_seconds']:.1f} "
            f"params={d['params']}"
        )
    # RMSE on the temporal split's test part (the temporal protocol itself has no RMSE)
    import numpy as np

    from reelrank.data.split import temporal_split
    from reelrank.models import create_model

    split = temporal_split(dataset, 0.2, 0.1)
    test = split.test.to_frame()
    for name, params in (("bias", {}), ("neural", {"use_text": False})):
        model = create_model(name, **params).fit(split.train)
        pred = model.score(test["user_idx"].to_numpy(), test["item_idx"].to_numpy())
        rmse = float(np.sqrt(np.mean((pred - test["rating"].to_numpy()) ** 2)))
        print(f"{name:10s} rmse={rmse:.4f} (fit on temporal train, scored on its test)")
    print(f"total {time.perf_counter() - t0:.0f}s (2 shared CPU cores, measured under contention)")


if __name__ == "__main__":
    main()
