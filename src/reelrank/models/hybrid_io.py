"""Persistence of the two-stage hybrid (no pickles).

Besides the base class's ``model.json`` / ``state.npz`` / ``seen.npz``: ``hybrid.json``
(feature names, generators, ranker meta, the safety net's serving mode and blend weights,
its validation figures, the display-score calibration), ``generators/<name>/`` (each
generator's own artifact), ``features/`` (the item features used) and ``ranker.txt`` (the
LightGBM text model) or the logistic coefficients in ``state.npz``. Artifacts written before
the safety net existed load as ``serving="ranker"`` without a calibration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from reelrank.errors import ArtifactError
from reelrank.features.item_features import ItemFeatures
from reelrank.models.base import load_model
from reelrank.models.calibration import PlattCalibrator
from reelrank.models.hybrid_select import ServingChoice
from reelrank.models.hybrid_train import RankerModel
from reelrank.models.pair_features import UserHistory

if TYPE_CHECKING:
    from reelrank.models.rerank import HybridRanker

__all__ = ["hybrid_state", "load_hybrid_files", "save_hybrid_files"]


def hybrid_state(self: HybridRanker) -> dict[str, np.ndarray]:
    """The hybrid's learned arrays for ``state.npz``."""
    h = self.history_
    state = {
        **self.featurizer_.state(),
        "hist_data": h.ratings.data,
        "hist_indices": h.ratings.indices,
        "hist_indptr": h.ratings.indptr,
        "hist_shape": np.asarray(h.ratings.shape),
        "hist_ts": (h.recency.data if h.recency is not None else np.zeros(h.ratings.nnz)).astype(
            np.float64
        ),
        "hist_last_ts": h.last_ts,
    }
    if self.ranker_.logistic is not None:
        state.update({f"logistic_{k}": v for k, v in self.ranker_.logistic.items()})
    return state


def save_hybrid_files(self: HybridRanker, path: Path) -> None:
    """Write ``hybrid.json``, the generators, the features and the LightGBM model."""
    rk = self.ranker_
    meta = {
        "feature_names": self.feature_names_,
        "generators": [[g, int(self.generator_.n_[g])] for g in self.generator_.names],
        "ranker": "lgbm" if rk.booster is not None else "logistic",
        "best_iteration": int(rk.best_iteration),
        "bag_iterations": [int(r) for _, r in rk.bag],
        "serving": {
            "mode": self.serving_.mode,
            "weights": self.serving_.weights,
            "blend_coef": self.serving_.blend_coef,
        },
        "validation": self.serving_.validation,
        "calibration": self.calibrator_.to_dict(),
        "fit_info": self.fit_info_,
        "has_features": self.features_ is not None,
    }
    (path / "hybrid.json").write_text(json.dumps(meta, indent=2))
    for g, model in self.generator_.models_.items():
        model.save(path / "generators" / g)
    if self.features_ is not None:
        self.features_.save(path / "features")
    for k, (booster, _) in enumerate(rk.members()):
        booster.save_model(str(path / ("ranker.txt" if k == 0 else f"ranker-{k}.txt")))


def load_hybrid_files(self: HybridRanker, path: Path, state: dict[str, np.ndarray]) -> None:
    """Inverse of :func:`save_hybrid_files` (and of :func:`hybrid_state`)."""
    try:
        meta = json.loads((path / "hybrid.json").read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing hybrid.json") from None
    self.feature_names_ = list(meta["feature_names"])
    self.fit_info_ = dict(meta.get("fit_info", {}))
    gen = self._generator()
    for g, n in meta["generators"]:
        gen.models_[g] = load_model(path / "generators" / g)
        gen.n_[g] = int(n)
    self.generator_ = gen
    serving = meta.get("serving", {"mode": "ranker", "weights": {}})
    unknown = set(serving["weights"]) - set(gen.models_)
    if unknown:
        raise ArtifactError(
            f"{path}/hybrid.json: blend weights of unknown generators {sorted(unknown)}"
        )
    self.serving_ = ServingChoice(
        str(serving["mode"]),
        {str(k): float(v) for k, v in serving["weights"].items()},
        dict(meta.get("validation", {})),
        blend_coef=_finite_float(serving.get("blend_coef", 0.0), path),
    )
    cal = meta.get("calibration")
    self.calibrator_ = PlattCalibrator.from_dict(cal) if cal else None
    self.features_ = ItemFeatures.load(path / "features") if meta["has_features"] else None
    rk = RankerModel(best_iteration=int(meta["best_iteration"]), n_jobs=self.config.n_jobs)
    if meta["ranker"] == "lgbm":
        import lightgbm as lgb

        if not (path / "ranker.txt").is_file():
            raise ArtifactError(f"{path}: missing ranker.txt")
        rk.booster = lgb.Booster(model_file=str(path / "ranker.txt"))
        bag = meta.get("bag_iterations", [])
        if not isinstance(bag, list) or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in bag
        ):
            raise ArtifactError(f"{path}/hybrid.json: bag_iterations must be a list of rounds")
        for k, rounds in enumerate(bag, start=1):
            member = path / f"ranker-{k}.txt"
            if not member.is_file():
                raise ArtifactError(f"{path}: missing {member.name}")
            rk.bag.append((lgb.Booster(model_file=str(member)), int(rounds)))
    else:
        rk.logistic = {k: state[f"logistic_{k}"] for k in ("mean", "std", "coef", "intercept")}
    self.ranker_ = rk
    self.featurizer_ = self._featurizer()
    self.featurizer_.restore(state, self.features_)
    shape = tuple(int(x) for x in state["hist_shape"])
    ratings = sp.csr_matrix(
        (state["hist_data"], state["hist_indices"], state["hist_indptr"]), shape=shape
    )
    recency = sp.csr_matrix(
        (state["hist_ts"], state["hist_indices"], state["hist_indptr"]), shape=shape
    )
    self.history_ = UserHistory(ratings=ratings, recency=recency, last_ts=state["hist_last_ts"])


def _finite_float(value: object, path: Path) -> float:
    """A finite number from ``hybrid.json`` (ArtifactError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ArtifactError(f"{path}/hybrid.json: blend_coef must be a finite number")
    return float(value)
