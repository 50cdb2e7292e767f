"""Trained-model artifacts: one directory that holds everything serving needs.

Layout (written atomically with :class:`reelrank.models.base.atomic_directory`)::

    manifest.json      format version, reelrank version, model name + config, dataset info
    model/             the model (``Recommender.save``: model.json, state.npz, seen.npz)
    movies.parquet     the movie table (movie_id, title, year, genres as a list)
    users.parquet      user id map (idx, id)
    items.parquet      item id map (idx, id)
    ratings.npz        the training ratings (CSR users x items) for explanations
    item_tags.parquet  tag counts per movie (item_idx, tag, count)
    features/          ItemFeatures.save output (optional)
    metrics.json       evaluation report (optional)

Nothing is ever unpickled: arrays are read with ``allow_pickle=False`` and tables from Parquet.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from reelrank import __version__
from reelrank.data.dataset import Dataset, IdMap
from reelrank.errors import ArtifactError, ReelrankError
from reelrank.features.item_features import ItemFeatures
from reelrank.models.base import Recommender, atomic_directory, load_model

logger = logging.getLogger(__name__)

__all__ = ["ARTIFACT_FORMAT_VERSION", "Artifact", "load_artifact", "save_artifact"]

#: bump when the directory layout changes incompatibly
ARTIFACT_FORMAT_VERSION = 1

_REQUIRED = ("model", "movies.parquet", "users.parquet", "items.parquet", "ratings.npz")


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: the fitted model plus the tables serving needs.

    Attributes
    ----------
    path
        Directory it was loaded from.
    manifest
        The parsed ``manifest.json``.
    model
        The fitted :class:`~reelrank.models.base.Recommender`.
    movies
        Movie table indexed by item index: ``movie_id``, ``title``, ``year``, ``genres``.
    users, items
        Id maps of the training data.
    ratings
        Training ratings (users x items CSR, ``float32``).
    item_tags
        Columns ``item_idx``, ``tag`` (lower-case), ``count``.
    features
        Item features, when saved.
    metrics
        Evaluation report, when saved.
    """

    path: Path
    manifest: dict[str, Any]
    model: Recommender
    movies: pd.DataFrame
    users: IdMap
    items: IdMap
    ratings: sp.csr_matrix
    item_tags: pd.DataFrame
    features: ItemFeatures | None = None
    metrics: dict[str, Any] | None = field(default=None)

    @property
    def model_name(self) -> str:
        """Registry name of the model."""
        return str(self.manifest["model"]["name"])

    @property
    def rating_scale(self) -> tuple[float, float]:
        """(min, max) rating of the training data's layout."""
        lo, hi = self.manifest["dataset"]["rating_scale"]
        return float(lo), float(hi)

    @property
    def n_items(self) -> int:
        """Number of movies in the catalogue."""
        return len(self.items)


def _item_tags(dataset: Dataset) -> pd.DataFrame:
    tags = dataset.tags
    if tags is None or len(tags) == 0:
        return pd.DataFrame(
            {
                "item_idx": pd.Series([], dtype=np.int64),
                "tag": pd.Series([], dtype=str),
                "count": pd.Series([], dtype=np.int64),
            }
        )
    frame = pd.DataFrame(
        {
            "item_idx": tags["item_idx"].to_numpy(np.int64),
            "tag": tags["tag"].astype(str).str.strip().str.lower(),
        }
    )
    frame = frame[frame["tag"] != ""]
    counts = frame.groupby(["item_idx", "tag"], sort=True).size().rename("count").reset_index()
    counts["count"] = counts["count"].astype(np.int64)
    return counts


def _movie_table(dataset: Dataset) -> pd.DataFrame:
    m = dataset.movies
    out = pd.DataFrame(
        {
            "movie_id": np.asarray(dataset.items.values),
            "title": m["title"].astype(str).to_numpy(),
            "year": pd.array(m["year"], dtype="Int32"),
            "genres": [list(g) if g is not None else [] for g in m["genres"].tolist()],
        }
    )
    return out


def save_artifact(
    out_dir: str | os.PathLike[str],
    model: Recommender,
    dataset: Dataset,
    features: ItemFeatures | None = None,
    *,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write a fitted model and what serving needs into directory ``out_dir``.

    Parameters
    ----------
    out_dir
        Target directory; replaced atomically if it exists.
    model
        A fitted model (trained on ``dataset``).
    dataset
        The data the model was trained on (its id maps and movie table are saved).
    features
        Item features built from ``dataset`` (saved under ``features/``), optional.
    metrics
        An evaluation report to save as ``metrics.json``, optional.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    out = Path(out_dir)
    if model.n_items_ is None:
        raise ArtifactError("cannot save an unfitted model; call fit() first")
    if model.n_items_ != dataset.n_items:
        raise ArtifactError(
            f"model has {model.n_items_} items but the dataset has {dataset.n_items}"
        )
    with atomic_directory(out) as tmp:
        model.save(tmp / "model")
        _movie_table(dataset).to_parquet(tmp / "movies.parquet", index=False)
        dataset.users.to_frame().to_parquet(tmp / "users.parquet", index=False)
        dataset.items.to_frame().to_parquet(tmp / "items.parquet", index=False)
        r = dataset.interactions
        np.savez(
            tmp / "ratings.npz",
            data=r.data.astype(np.float32),
            indices=r.indices.astype(np.int32),
            indptr=r.indptr.astype(np.int64),
            shape=np.asarray(r.shape, dtype=np.int64),
        )
        _item_tags(dataset).to_parquet(tmp / "item_tags.parquet", index=False)
        if features is not None:
            features.save(tmp / "features")
        if metrics is not None:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        manifest = {
            "format_version": ARTIFACT_FORMAT_VERSION,
            "reelrank_version": __version__,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model": {"name": model.name, "config": model.config.to_dict()},
            "dataset": {
                "name": dataset.name,
                "layout": dataset.layout,
                "fingerprint": dataset.fingerprint(),
                "n_users": dataset.n_users,
                "n_items": dataset.n_items,
                "n_ratings": dataset.n_interactions,
                "rating_scale": [float(x) for x in dataset.rating_scale],
            },
            "has_features": features is not None,
            "has_metrics": metrics is not None,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=_json_default))
    logger.info("wrote artifact %s (model %s)", out, model.name)
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple | set):
        return list(o)
    return str(o)


def _version_tuple(v: str) -> tuple[int, ...]:
    parts: list[int] = []
    for p in str(v).split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ArtifactError(f"{path}: no such artifact directory")
    if not path.is_dir():
        raise ArtifactError(f"{path}: not a directory (an artifact is a directory)")
    mf = path / "manifest.json"
    if not mf.is_file():
        raise ArtifactError(f"{path}: missing manifest.json (not a reelrank artifact?)")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{mf}: corrupted JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{mf}: expected a JSON object")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise ArtifactError(f"{mf}: no valid format_version")
    if version > ARTIFACT_FORMAT_VERSION:
        raise ArtifactError(
            f"{mf}: artifact format version {version} is newer than this reelrank "
            f"({__version__}) reads ({ARTIFACT_FORMAT_VERSION}); upgrade reelrank"
        )
    saved = str(manifest.get("reelrank_version", "0"))
    if _version_tuple(saved)[:1] != _version_tuple(__version__)[:1]:
        raise ArtifactError(
            f"{mf}: written by reelrank {saved}, incompatible with the installed {__version__}"
            " (different major version); retrain with `reelrank train`"
        )
    if _version_tuple(saved) > _version_tuple(__version__):
        logger.warning("%s was written by a newer reelrank (%s > %s)", mf, saved, __version__)
    for key in ("model", "dataset"):
        if not isinstance(manifest.get(key), dict):
            raise ArtifactError(f"{mf}: missing {key!r} section")
    return manifest


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: missing file {path.name}") from None
    except (pa.ArrowException, OSError, ValueError) as e:
        raise ArtifactError(f"{path}: corrupted Parquet file ({e})") from None


def _read_csr(path: Path) -> sp.csr_matrix:
    try:
        with np.load(path, allow_pickle=False) as f:
            m = sp.csr_matrix(
                (f["data"], f["indices"], f["indptr"]),
                shape=tuple(int(x) for x in f["shape"]),
            )
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: missing file {path.name}") from None
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ArtifactError(f"{path}: corrupted array file ({e})") from None
    return m


def load_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Load an artifact directory written by :func:`save_artifact`.

    Raises
    ------
    ArtifactError
        The directory or a file is missing, the format is newer than this reelrank reads,
        the package major version differs, or a file is corrupted or inconsistent.
    """
    path = Path(path)
    manifest = _read_manifest(path)
    for name in _REQUIRED:
        if not (path / name).exists():
            raise ArtifactError(f"{path}: missing {name}")
    try:
        model = load_model(path / "model")
    except ArtifactError:
        raise
    except ReelrankError as e:  # e.g. the model name is not registered in this install
        raise ArtifactError(f"{path / 'model'}: {e}") from None
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as e:
        raise ArtifactError(f"{path / 'model'}: corrupted model files ({e})") from None
    movies = _read_parquet(path / "movies.parquet")
    users = _read_parquet(path / "users.parquet")
    items = _read_parquet(path / "items.parquet")
    missing = {"movie_id", "title", "year", "genres"} - set(movies.columns)
    if missing:
        raise ArtifactError(f"{path / 'movies.parquet'}: missing columns {sorted(missing)}")
    movies = movies.copy()
    movies["genres"] = [list(g) if g is not None else [] for g in movies["genres"].tolist()]
    movies["year"] = pd.array(movies["year"], dtype="Int32")
    ratings = _read_csr(path / "ratings.npz")
    tags_path = path / "item_tags.parquet"
    item_tags = (
        _read_parquet(tags_path)
        if tags_path.exists()
        else pd.DataFrame({"item_idx": [], "tag": [], "count": []})
    )
    user_map = IdMap(users.sort_values("idx")["id"].to_numpy(), name="user")
    item_map = IdMap(items.sort_values("idx")["id"].to_numpy(), name="movie")
    n_items = len(item_map)
    if len(movies) != n_items or model.n_items_ != n_items or ratings.shape[1] != n_items:
        raise ArtifactError(
            f"{path}: inconsistent item counts (items {n_items}, movies {len(movies)}, "
            f"model {model.n_items_}, ratings {ratings.shape[1]})"
        )
    if ratings.shape[0] != len(user_map):
        raise ArtifactError(f"{path}: ratings rows {ratings.shape[0]} != users {len(user_map)}")
    features = None
    if (path / "features").is_dir():
        features = ItemFeatures.load(path / "features")
        if features.n_items != n_items:
            raise ArtifactError(f"{path / 'features'}: {features.n_items} rows != {n_items}")
    metrics = None
    if (path / "metrics.json").is_file():
        try:
            metrics = json.loads((path / "metrics.json").read_text())
        except json.JSONDecodeError as e:
            raise ArtifactError(f"{path / 'metrics.json'}: corrupted JSON ({e})") from None
    logger.info("loaded artifact %s (model %s, %d movies)", path, manifest["model"], n_items)
    return Artifact(
        path=path,
        manifest=manifest,
        model=model,
        movies=movies,
        users=user_map,
        items=item_map,
        ratings=ratings,
        item_tags=item_tags,
        features=features,
        metrics=metrics,
    )
