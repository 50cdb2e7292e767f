"""Hybrid variants compared on a protocol's validation part (never its test part).

Cuts the protocol's split of the bundled data as ``reelrank evaluate`` does, takes the
validation part that tuning uses (``tune_train`` / ``tune_target``), fits the hybrid once
per variant and seed on ``tune_train`` and prints the protocol's primary metric on
``tune_target`` (NDCG@10 for ``temporal`` / ``stratified``, Recall@20 for the cold-item
protocols), per seed and averaged. This is how a new hybrid feature or setting is chosen
before the test part is measured once.

Run, e.g. the ``timeline_sim`` feature on and off with the generators' tuned values::

    OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/hybrid_ablation.py \\
        --protocol stratified --seeds 42,43,44 \\
        --generator-params '{"als": {"regularization": 56.7, "alpha": 9.45}, \\
                             "ease": {"lam": 413}}' \\
        --variant timeline_window=0 --variant timeline_window=10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def _value(text: str) -> Any:
    """``key=value`` values are JSON (numbers, true/false, null) or plain strings."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _variant(spec: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in filter(None, spec.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise SystemExit(f"--variant {spec!r}: expected key=value[,key=value]")
        out[key.strip()] = _value(value.strip())
    return out


def main() -> None:
    """Parse the options, fit every variant and print the validation figures."""
    import numpy as np

    from reelrank.data import load
    from reelrank.evaluate.protocols import get_protocol
    from reelrank.evaluate.runner import _prepare_fold, _primary
    from reelrank.evaluate.scoring import score_model
    from reelrank.features import build_item_features
    from reelrank.models import create_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", default="stratified")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--cache-dir", default=".reelrank-cache")
    parser.add_argument("--generator-params", default="{}", help="JSON {name: {param: value}}")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="hybrid parameters key=value[,key=value] (repeat; none: the defaults)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [_variant(v) for v in args.variant] or [{}]
    generator_params = json.loads(args.generator_params)

    proto = get_protocol(args.protocol)
    dataset = load()
    fold = _prepare_fold(proto, proto.make_splits(dataset)[0])
    primary, _ = _primary(proto)
    probe = create_model("hybrid")
    features = build_item_features(
        fold.tune_train,
        blocks=set(probe.feature_blocks()),
        cache_dir=Path(args.cache_dir),
        progress=False,
    )
    print(
        f"{proto.name}: validation part of {len(fold.tune_target.users)} users, "
        f"metric {primary}, seeds {seeds}"
    )
    for variant in variants:
        figures = []
        for seed in seeds:
            params = {"generator_params": generator_params, "seed": seed, **variant}
            model = create_model("hybrid", **params).for_protocol(proto.hint)
            t0 = time.perf_counter()
            model.fit(fold.tune_train, features)
            fit_s = time.perf_counter() - t0
            values = score_model(model, proto, fold.tune_train, fold.tune_target, [primary])
            figures.append(float(np.nanmean(values[primary])))
            print(f"  {variant or 'defaults'} seed {seed}: {figures[-1]:.4f} (fit {fit_s:.0f}s)")
        print(f"{variant or 'defaults'}: mean {primary} {np.mean(figures):.4f}")


if __name__ == "__main__":
    main()
