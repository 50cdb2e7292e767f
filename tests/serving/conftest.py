"""Serving fixtures: one ALS artifact trained on the bundled data, shared by the session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reelrank.serving.artifact import Artifact, load_artifact, save_artifact
from reelrank.serving.service import RecommenderService

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def artifact_dir(bundled, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ALS (32 factors) + item features on the bundled data, saved as an artifact."""
    from reelrank.features import build_item_features
    from reelrank.models import create_model

    features = build_item_features(bundled)
    model = create_model("als", factors=32, iterations=8, random_state=7).fit(bundled, features)
    out = tmp_path_factory.mktemp("artifact") / "als"
    metrics = {  # the shape of `reelrank evaluate`'s result.json
        "protocol": "temporal",
        "dataset": "ml-latest-small",
        "results": [
            {"model": "pop", "metrics": {"ndcg@10": 0.1, "recall@10": 0.05}, "fit_seconds": 0.1},
            {"model": "als", "metrics": {"ndcg@10": 0.2, "recall@10": 0.09}, "fit_seconds": 1.2},
        ],
    }
    return save_artifact(out, model, bundled, features, metrics=metrics)


@pytest.fixture(scope="session")
def artifact(artifact_dir: Path) -> Artifact:
    """The loaded artifact."""
    return load_artifact(artifact_dir)


@pytest.fixture(scope="session")
def service(artifact: Artifact) -> RecommenderService:
    """A service without a user database."""
    return RecommenderService(artifact)
