"""Hybrid fit cost against its generators, and (``--evaluate``) hybrid / neural figures.

Default: on the bundled data (all of it, sentence embeddings from ``--cache-dir``), fits each
of the default hybrid's generators alone with the settings the hybrid gives them, then the
hybrid itself, and prints the ratio *hybrid fit / sum of the generators' fits* (issue 11's
target: at most 3) with the hybrid's own breakdown (inner generators, pairs, ranker, safety
net, serving refit). ``--label-split`` picks the inner hold-out (``temporal`` as ``reelrank
train``; ``random`` / ``items`` as the stratified / cold-item protocols).

``--evaluate`` also prints NDCG@10 of the hybrid and the single models under the runner
(``--tune``: each tuned on the validation part only) and RMSE of the neural model (rating
mode) against the bias baseline on the temporal split's test part.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/hybrid.py [--evaluate [--tune]]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def fit_ratio(cache_dir: str, label_split: str, repeats: int) -> None:
    """Print generators' fit times, the hybrid's fit time and their ratio."""
    from reelrank.data import load
    from reelrank.features import build_item_features
    from reelrank.models import create_model

    dataset = load()
    hybrid = create_model("hybrid", label_split=label_split)
    t0 = time.perf_counter()
    features = build_item_features(
        dataset, blocks=hybrid.feature_blocks(), cache_dir=Path(cache_dir), progress=False
    )
    print(f"features {time.perf_counter() - t0:.1f}s (embeddings cached in {cache_dir})")
    gen = hybrid._generator()
    ratios = []
    for rep in range(repeats):
        alone = {}
        for name, _ in gen.resolved(dataset.n_items, features):
            model = create_model(name, **gen._params_for(name, features))
            t = time.perf_counter()
            model.fit(dataset, features)
            alone[name] = time.perf_counter() - t
        total = sum(alone.values())
        model = create_model("hybrid", label_split=label_split)
        t = time.perf_counter()
        model.fit(dataset, features)
        fit = time.perf_counter() - t
        info = model.fit_info_
        ratios.append(fit / total)
        print(
            f"[{rep + 1}] generators alone: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in alone.items())
            + f" = {total:.1f}s"
        )
        print(
            f"[{rep + 1}] hybrid fit {fit:.1f}s: pairs (inner generators + features) "
            f"{info['pairs_seconds']:.1f}s, ranker {info['ranker_seconds']:.1f}s, safety net "
            f"{info['safety_net_seconds']:.1f}s, serving refit {info['refit_seconds']:.1f}s; "
            f"serving {info['serving']}"
        )
        print(f"[{rep + 1}] hybrid fit / generators' fit = {fit / total:.2f} (target <= 3)")
    print(
        f"ratio min {min(ratios):.2f} max {max(ratios):.2f} over {repeats} run(s) "
        "(2 shared CPU cores: figures move with the other load)"
    )


def evaluate_models(cache_dir: str, models: str, tune: bool) -> None:
    """The runner's figures on the temporal protocol and the neural RMSE check."""
    import numpy as np

    from reelrank.data import load
    from reelrank.data.split import temporal_split
    from reelrank.evaluate.runner import evaluate
    from reelrank.models import create_model

    dataset = load()
    result = evaluate(
        dataset, "temporal", models.split(","), tune=tune, progress=False, cache_dir=cache_dir
    )
    for r in result.results:
        d = r.to_dict()
        m = d["metrics"]
        print(
            f"{r.model:10s} ndcg@10={m.get('ndcg@10', float('nan')):.4f} "
            f"recall@20={m.get('recall@20', float('nan')):.4f} fit_s={d['fit_seconds']:.1f} "
            f"params={d['params']}"
        )
    split = temporal_split(dataset, 0.2, 0.1)
    test = split.test.to_frame()
    for name, params in (("bias", {}), ("neural", {"mode": "rating", "use_text": False})):
        model = create_model(name, **params).fit(split.train)
        pred = model.score(test["user_idx"].to_numpy(), test["item_idx"].to_numpy())
        rmse = float(np.sqrt(np.mean((pred - test["rating"].to_numpy()) ** 2)))
        print(f"{name:10s} rmse={rmse:.4f} (fit on temporal train, scored on its test)")


def main() -> None:
    """Parse the options and run the measurements."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache-dir", default=".reelrank-cache")
    parser.add_argument(
        "--label-split", default="temporal", choices=("temporal", "random", "items")
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--evaluate", action="store_true")
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--models", default="als,ease,lightfm,hybrid")
    args = parser.parse_args()
    t0 = time.perf_counter()
    fit_ratio(args.cache_dir, args.label_split, args.repeats)
    if args.evaluate:
        evaluate_models(args.cache_dir, args.models, args.tune)
    print(f"total {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
