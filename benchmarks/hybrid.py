"""Hybrid and neural figures on the bundled data (temporal protocol).

Prints NDCG@10 of the hybrid and the single models under the runner (``--tune``: each
tuned on the validation part only), RMSE of the neural model (rating mode) against the bias
baseline on the temporal split's test part, and the end-to-end fit time of the default
hybrid on all the data (features cached in ``--cache-dir``).
Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/hybrid.py [--tune]``.
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
    for name, params in (("bias", {}), ("neural", {"mode": "rating", "use_text": False})):
        model = create_model(name, **params).fit(split.train)
        pred = model.score(test["user_idx"].to_numpy(), test["item_idx"].to_numpy())
        rmse = float(np.sqrt(np.mean((pred - test["rating"].to_numpy()) ** 2)))
        print(f"{name:10s} rmse={rmse:.4f} (fit on temporal train, scored on its test)")
    # end to end: features (embeddings from the cache) + hybrid fit on all the data
    from pathlib import Path

    from reelrank.features import build_item_features

    t1 = time.perf_counter()
    hybrid = create_model("hybrid")
    features = build_item_features(
        dataset, blocks=hybrid.feature_blocks(), cache_dir=Path(args.cache_dir), progress=False
    )
    t2 = time.perf_counter()
    hybrid.fit(dataset, features)
    t3 = time.perf_counter()
    print(
        f"hybrid     all-data fit {t3 - t1:.1f}s end to end (features {t2 - t1:.1f}s, "
        f"fit {t3 - t2:.1f}s; default config {hybrid.config.to_dict()['generators']}, "
        f"use_embeddings={hybrid.config.use_embeddings})"
    )
    print(f"total {time.perf_counter() - t0:.0f}s (2 shared CPU cores, measured under contention)")


if __name__ == "__main__":
    main()
