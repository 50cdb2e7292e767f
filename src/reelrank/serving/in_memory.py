"""Artifacts in memory: what saving and loading a fitted model would give, without files.

:meth:`RecommenderService.from_model <reelrank.serving.service.RecommenderService.from_model>`
serves a model fitted in this process (a notebook, a script) straight away.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.errors import ArtifactError
from reelrank.serving.artifact import Artifact, _item_tags, _movie_table

if TYPE_CHECKING:
    from reelrank.data.dataset import Dataset
    from reelrank.features.item_features import ItemFeatures
    from reelrank.models.base import Recommender

__all__ = ["in_memory_artifact"]


def in_memory_artifact(
    model: Recommender,
    dataset: Dataset,
    features: ItemFeatures | None,
    metrics: dict[str, Any] | None,
) -> Artifact:
    """The :class:`Artifact` that saving and loading ``model`` would give, without files."""
    if model.n_items_ is None:
        raise ArtifactError("the model is not fitted; call fit() first")
    if model.n_items_ != dataset.n_items:
        raise ArtifactError(
            f"model has {model.n_items_} items but the dataset has {dataset.n_items}"
        )
    if features is not None and features.n_items != dataset.n_items:
        raise ArtifactError(
            f"features have {features.n_items} rows but the dataset has {dataset.n_items}"
        )
    movies = _movie_table(dataset)
    movies["year"] = pd.array(movies["year"], dtype="Int32")
    manifest = {
        "model": {"name": model.name, "config": model.config.to_dict()},
        "dataset": {
            "name": dataset.name,
            "layout": dataset.layout,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_ratings": dataset.n_interactions,
            "rating_scale": [float(x) for x in dataset.rating_scale],
        },
        "has_features": features is not None,
        "has_metrics": metrics is not None,
        "in_memory": True,
    }
    return Artifact(
        path=Path(f"<in memory: {model.name} on {dataset.name}>"),
        manifest=manifest,
        model=model,
        movies=movies,
        users=dataset.users,
        items=dataset.items,
        ratings=sp.csr_matrix(dataset.interactions, dtype=np.float32),
        item_tags=_item_tags(dataset),
        features=features,
        metrics=metrics,
    )
