"""Trained-model artifacts: one directory that holds everything serving needs.

Layout (written atomically with :class:`reelrank._fs.atomic_directory`)::

    manifest.json      format version, reelrank version, model name + config, dataset info,
                       provenance (package versions, git commit)
    model/             the model (``Recommender.save``: model.json, state.npz, seen.npz)
    movies.parquet     the movie table (movie_id, title, year, genres as a list)
    users.parquet      user id map (idx, id)
    items.parquet      item id map (idx, id)
    ratings.npz        the training ratings (CSR users x items) for explanations
    item_tags.parquet  tag counts per movie (item_idx, tag, count)
    features/          ItemFeatures.save output (optional)
    metrics.json       evaluation report (optional)

Nothing is ever unpickled: arrays are read with ``allow_pickle=False`` and tables from Parquet.
Loading validates everything before anything is used: the manifest's field types, that every
file is a regular file (a FIFO is never opened), every array's dtype, shape and index range
against the manifest's counts, and that ids, movies and features agree; a corrupted artifact
fails at load with :class:`~reelrank.errors.ArtifactError`, never later.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from reelrank import __version__
from reelrank._fs import (
    atomic_directory,
    check_regular_file,
    is_int,
    read_json_file,
    read_versioned_manifest,
)
from reelrank.data.dataset import Dataset, IdMap
from reelrank.errors import ArtifactError, ReelrankError
from reelrank.features.item_features import ItemFeatures
from reelrank.models.base import Recommender, load_model
from reelrank.models.state import CsrSpec, check_tree, load_npz, validate_csr

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
    force: bool | None = None,
) -> Path:
    """Write a fitted model and what serving needs into directory ``out_dir``.

    Parameters
    ----------
    out_dir
        Target directory; replaced atomically if it is an artifact already (any other
        existing folder is refused unless ``force``).
    model
        A fitted model (trained on ``dataset``).
    dataset
        The data the model was trained on (its id maps and movie table are saved).
    features
        Item features built from ``dataset`` (saved under ``features/``), optional.
    metrics
        An evaluation report to save as ``metrics.json``, optional.
    force
        Replace whatever ``out_dir`` holds (``None``: as :func:`reelrank._fs.allow_replace`
        says; default no).

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
    from reelrank.provenance import provenance

    with atomic_directory(out, kind="artifact", force=force) as tmp:
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
            "provenance": provenance(),
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


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _read_manifest(path: Path) -> dict[str, Any]:
    """``manifest.json`` with the type of every field serving relies on checked."""
    if not path.exists():
        raise ArtifactError(f"{path}: no such artifact directory")
    if not path.is_dir():
        raise ArtifactError(f"{path}: not a directory (an artifact is a directory)")
    mf = path / "manifest.json"
    try:
        manifest = read_versioned_manifest(mf, label="artifact", supported=ARTIFACT_FORMAT_VERSION)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing manifest.json (not a reelrank artifact?)") from None
    saved = manifest.get("reelrank_version", "0")
    if not isinstance(saved, str):
        raise ArtifactError(f"{mf}: reelrank_version must be a string, not {saved!r}")
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
    model, dataset = manifest["model"], manifest["dataset"]
    name = model.get("name")
    if not isinstance(name, str) or not name:
        raise ArtifactError(f"{mf}: model.name must be a model name, not {name!r}")
    from reelrank.models.base import available_models

    if name not in available_models():
        raise ArtifactError(
            f"{mf}: unknown model {name!r}; this reelrank has {', '.join(available_models())}"
        )
    if not isinstance(model.get("config", {}), dict):
        raise ArtifactError(f"{mf}: model.config must be a JSON object")
    scale = dataset.get("rating_scale")
    if not (
        isinstance(scale, list)
        and len(scale) == 2
        and all(_is_number(x) for x in scale)
        and scale[0] < scale[1]
    ):
        raise ArtifactError(
            f"{mf}: dataset.rating_scale must be two finite numbers [min, max], not {scale!r}"
        )
    for key in ("n_users", "n_items", "n_ratings"):
        value = dataset.get(key)
        if value is not None and (not is_int(value) or value < 0):
            raise ArtifactError(f"{mf}: dataset.{key} must be a non-negative integer")
    for key in ("name", "layout"):
        if not isinstance(dataset.get(key, ""), str):
            raise ArtifactError(f"{mf}: dataset.{key} must be a string")
    return manifest


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        check_regular_file(path)
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: missing file {path.name}") from None
    except (pa.ArrowException, OSError, ValueError, TypeError) as e:
        raise ArtifactError(f"{path}: corrupted Parquet file ({e})") from None


def _read_csr(path: Path, shape: tuple[int | None, int | None] = (None, None)) -> sp.csr_matrix:
    m = validate_csr(load_npz(path), "", CsrSpec(shape=shape), {}, where=str(path))
    return sp.csr_matrix(m, dtype=np.float32)


def _read_id_map(path: Path, name: str, expected: int | None) -> IdMap:
    """An id map from ``users.parquet`` / ``items.parquet``: ``idx`` exactly 0..n-1."""
    frame = _read_parquet(path)
    if not {"idx", "id"} <= set(frame.columns):
        raise ArtifactError(f"{path}: expected columns 'idx' and 'id', got {list(frame.columns)}")
    idx = frame["idx"].to_numpy()
    if idx.dtype.kind not in "iu" or not np.array_equal(np.sort(idx), np.arange(len(idx))):
        raise ArtifactError(f"{path}: column 'idx' must hold 0..{len(idx) - 1} exactly once")
    if expected is not None and len(frame) != expected:
        raise ArtifactError(f"{path}: {len(frame)} rows, the manifest says {expected}")
    ids = frame["id"].to_numpy()[np.argsort(idx)]
    if ids.dtype.kind not in "iuUSO":
        raise ArtifactError(f"{path}: column 'id' has dtype {ids.dtype}")
    try:
        return IdMap(ids, name=name)
    except (ValueError, TypeError) as e:
        raise ArtifactError(f"{path}: {e}") from None


def _load_features(path: Path, n_items: int) -> ItemFeatures:
    """``features/`` with its arrays checked (a truncated ``features.npz`` is an ArtifactError)."""
    check_tree(path)
    arrays = load_npz(path / "features.npz")  # the archive checked member by member
    meta = read_json_file(path / "features.json")
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path / 'features.json'}: expected a JSON object")
    for prefix in ("sparse", "tfidf"):
        if f"{prefix}_indptr" in arrays:
            validate_csr(arrays, prefix, CsrSpec(shape=(n_items, None)), {}, where=str(path))
    for key, value in arrays.items():
        if key.startswith("dense__"):
            if value.ndim != 2 or value.shape[0] != n_items or value.dtype.kind != "f":
                raise ArtifactError(f"{path}: dense block {key[7:]!r} is not {n_items} x d")
            if not np.isfinite(value).all():
                raise ArtifactError(f"{path}: dense block {key[7:]!r} holds NaN or infinity")
    features = ItemFeatures.from_arrays(arrays, meta, where=str(path))  # read once, above
    if features.n_items != n_items:
        raise ArtifactError(f"{path}: {features.n_items} rows != {n_items}")
    return features


def load_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Load an artifact directory written by :func:`save_artifact`.

    Raises
    ------
    ArtifactError
        The directory or a file is missing, the format is newer than this reelrank reads,
        the package major version differs, or a file is corrupted or inconsistent (checked
        here, before anything is used).
    """
    path = Path(path)
    manifest = _read_manifest(path)
    check_tree(path)
    for name in _REQUIRED:
        if not (path / name).exists():
            raise ArtifactError(f"{path}: missing {name}")
    declared = manifest["dataset"]
    try:
        model = load_model(path / "model")
    except ArtifactError:
        raise
    except ReelrankError as e:  # e.g. the model name is not registered in this install
        raise ArtifactError(f"{path / 'model'}: {e}") from None
    if model.name != manifest["model"]["name"]:
        raise ArtifactError(
            f"{path}: manifest.json names model {manifest['model']['name']!r} but "
            f"model/model.json holds {model.name!r}"
        )
    user_map = _read_id_map(path / "users.parquet", "user", declared.get("n_users"))
    item_map = _read_id_map(path / "items.parquet", "movie", declared.get("n_items"))
    n_items, n_users = len(item_map), len(user_map)
    movies = _read_parquet(path / "movies.parquet")
    missing = {"movie_id", "title", "year", "genres"} - set(movies.columns)
    if missing:
        raise ArtifactError(f"{path / 'movies.parquet'}: missing columns {sorted(missing)}")
    if len(movies) != n_items:
        raise ArtifactError(f"{path / 'movies.parquet'}: {len(movies)} rows != {n_items} items")
    if not np.array_equal(movies["movie_id"].to_numpy(), item_map.values):
        raise ArtifactError(f"{path / 'movies.parquet'}: movie ids differ from items.parquet")
    movies = movies.copy()
    try:
        movies["genres"] = [list(g) if g is not None else [] for g in movies["genres"].tolist()]
        movies["year"] = pd.array(movies["year"], dtype="Int32")
        movies["title"] = movies["title"].astype(str)
    except (TypeError, ValueError) as e:
        raise ArtifactError(f"{path / 'movies.parquet'}: invalid column ({e})") from None
    ratings = _read_csr(path / "ratings.npz", (n_users, n_items))
    if model.n_items_ != n_items or model.n_users_ != n_users:
        raise ArtifactError(
            f"{path}: the model has {model.n_users_} users x {model.n_items_} items, the "
            f"id maps {n_users} x {n_items}"
        )
    tags_path = path / "item_tags.parquet"
    if os.path.lexists(tags_path):
        item_tags = _read_parquet(tags_path)
        if not {"item_idx", "tag", "count"} <= set(item_tags.columns):
            raise ArtifactError(f"{tags_path}: expected columns item_idx, tag, count")
        tag_idx = item_tags["item_idx"].to_numpy()
        if len(tag_idx) and (
            tag_idx.dtype.kind not in "iu" or tag_idx.min() < 0 or tag_idx.max() >= n_items
        ):
            raise ArtifactError(f"{tags_path}: item_idx outside 0..{n_items - 1}")
    else:
        item_tags = pd.DataFrame({"item_idx": [], "tag": [], "count": []})
    features = None
    if (path / "features").is_dir():
        features = _load_features(path / "features", n_items)
    metrics = None
    if os.path.lexists(path / "metrics.json"):
        metrics = read_json_file(path / "metrics.json")
        if not isinstance(metrics, dict):
            raise ArtifactError(f"{path / 'metrics.json'}: expected a JSON object")
    logger.info("loaded artifact %s (model %s, %d movies)", path, model.name, n_items)
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
