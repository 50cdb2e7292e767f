"""Artifacts: round trip, and clear errors for missing files, newer formats, corruption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from reelrank.errors import ArtifactError
from reelrank.serving.artifact import ARTIFACT_FORMAT_VERSION, load_artifact, save_artifact


@pytest.fixture
def copy(artifact_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "art"
    shutil.copytree(artifact_dir, dst)
    return dst


def test_round_trip_gives_identical_scores(artifact, bundled) -> None:
    assert artifact.manifest["format_version"] == ARTIFACT_FORMAT_VERSION
    assert artifact.manifest["model"]["name"] == "als"
    assert artifact.manifest["dataset"]["fingerprint"] == bundled.fingerprint()
    assert artifact.users == bundled.users and artifact.items == bundled.items
    assert artifact.movies["title"].tolist() == bundled.movies["title"].astype(str).tolist()
    assert artifact.movies.loc[0, "genres"] == list(bundled.movies.loc[0, "genres"])
    assert (artifact.ratings != bundled.interactions).nnz == 0
    assert artifact.features is not None and artifact.features.tfidf is not None
    assert artifact.metrics is not None and artifact.metrics["protocol"] == "temporal"
    assert set(artifact.item_tags.columns) == {"item_idx", "tag", "count"}
    users = np.arange(5)
    a, _ = artifact.model.recommend(users, 10)
    b, _ = load_artifact(artifact.path).model.recommend(users, 10)
    np.testing.assert_array_equal(a, b)


def test_no_pickles_in_artifact(artifact_dir: Path) -> None:
    for f in artifact_dir.rglob("*.npz"):
        with np.load(f, allow_pickle=False) as z:
            for k in z.files:
                assert z[k].dtype != object


def test_missing_directory() -> None:
    with pytest.raises(ArtifactError, match="no such artifact directory"):
        load_artifact("/nonexistent/artifact")


@pytest.mark.parametrize("name", ["manifest.json", "movies.parquet", "ratings.npz", "model"])
def test_missing_file(copy: Path, name: str) -> None:
    target = copy / name
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(ArtifactError, match=name.split(".")[0]):
        load_artifact(copy)


def test_newer_format_is_refused(copy: Path) -> None:
    mf = copy / "manifest.json"
    data = json.loads(mf.read_text())
    data["format_version"] = ARTIFACT_FORMAT_VERSION + 1
    mf.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="newer than this reelrank"):
        load_artifact(copy)


def test_other_major_version_is_refused(copy: Path) -> None:
    mf = copy / "manifest.json"
    data = json.loads(mf.read_text())
    data["reelrank_version"] = "99.0.0"
    mf.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"reelrank 99\.0\.0"):
        load_artifact(copy)


def test_corrupted_manifest(copy: Path) -> None:
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupted JSON"):
        load_artifact(copy)


@pytest.mark.parametrize("name", ["ratings.npz", "model/state.npz"])
def test_corrupted_npz(copy: Path, name: str) -> None:
    path = copy / name
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="corrupted"):
        load_artifact(copy)


def test_corrupted_parquet(copy: Path) -> None:
    (copy / "movies.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(ArtifactError, match="corrupted Parquet"):
        load_artifact(copy)


def test_pickled_npz_is_refused(copy: Path) -> None:
    np.savez(copy / "ratings.npz", data=np.array([object()], dtype=object))
    with pytest.raises(ArtifactError, match="corrupted"):
        load_artifact(copy)


def test_save_refuses_unfitted_model(bundled, tmp_path: Path) -> None:
    from reelrank.models import create_model

    with pytest.raises(ArtifactError, match="unfitted"):
        save_artifact(tmp_path / "x", create_model("als"), bundled)
    assert not (tmp_path / "x").exists()
