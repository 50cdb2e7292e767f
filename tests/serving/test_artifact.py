"""Artifacts: round trip, and clear errors for missing files, newer formats, corruption."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
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
    with pytest.raises(ArtifactError, match="Python objects"):
        load_artifact(copy)


def test_save_refuses_unfitted_model(bundled, tmp_path: Path) -> None:
    from reelrank.models import create_model

    with pytest.raises(ArtifactError, match="unfitted"):
        save_artifact(tmp_path / "x", create_model("als"), bundled)
    assert not (tmp_path / "x").exists()


def test_manifest_records_provenance(artifact) -> None:
    prov = artifact.manifest["provenance"]
    assert prov["versions"]["reelrank"] and prov["versions"]["numpy"] == np.__version__
    assert set(prov["versions"]) >= {"scipy", "implicit", "lightfm", "lightgbm", "torch", "faiss"}
    assert "git_commit" in prov
    model_json = json.loads((artifact.path / "model" / "model.json").read_text())
    assert model_json["provenance"]["versions"] == prov["versions"]


# ---------------------------------------------------------------------------- corruption
def _edit_npz(path: Path, **changes: Callable[[np.ndarray], np.ndarray]) -> None:
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    for key, change in changes.items():
        arrays[key] = change(arrays[key])
    np.savez(path, **arrays)


def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _nan_factor(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[3, 0] = np.nan
    return a


def _npy_claiming_huge_array(path: Path) -> None:
    """A state.npz whose item_factors header claims 10^9 x 32 floats (but holds 16 bytes)."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 32)}
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("item_factors.npy", header.getvalue() + b"\0" * 16)
        zf.writestr("user_factors.npy", header.getvalue() + b"\0" * 16)


def _deep_json(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def _replace_with_dir(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _loop(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.name)


def _set(section: str | None, key: str, value: object) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        (d[section] if section else d)[key] = value

    return change


def _drop(section: str, key: str) -> Callable[[dict], None]:
    return lambda d: d[section].pop(key)


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "nan factor": (
        lambda a: _edit_npz(a / "model/state.npz", item_factors=_nan_factor),
        "NaN or infinite",
    ),
    "factor rows != items": (
        lambda a: _edit_npz(a / "model/state.npz", item_factors=lambda x: x[:-1]),
        "n_items",
    ),
    "factor widths differ": (
        lambda a: _edit_npz(a / "model/state.npz", user_factors=lambda x: x[:, :-1]),
        r"\(k\)",
    ),
    "seen index >= n_items": (
        lambda a: _edit_npz(a / "model/seen.npz", indices=lambda x: x + 10**6),
        "column indices outside",
    ),
    "seen shape huge": (
        lambda a: _edit_npz(a / "model/seen.npz", shape=lambda x: np.array([10**9, x[1]])),
        "expected",
    ),
    "ratings indptr short": (
        lambda a: _edit_npz(a / "ratings.npz", indptr=lambda x: x[:-2]),
        "indptr has",
    ),
    "ratings data as text": (
        lambda a: _edit_npz(a / "ratings.npz", data=lambda x: x.astype(str)),
        "numeric",
    ),
    "header claims 128 GB": (
        lambda a: _npy_claiming_huge_array(a / "model/state.npz"),
        "declares",
    ),
    "format_version a string": (
        lambda a: _edit_json(a / "manifest.json", _set(None, "format_version", "1")),
        "format_version",
    ),
    "format_version a bool": (
        lambda a: _edit_json(a / "model/model.json", _set(None, "format_version", True)),
        "format_version",
    ),
    "rating_scale one number": (
        lambda a: _edit_json(a / "manifest.json", _set("dataset", "rating_scale", [5])),
        "rating_scale",
    ),
    "rating_scale text": (
        lambda a: _edit_json(a / "manifest.json", _set("dataset", "rating_scale", ["a", "b"])),
        "rating_scale",
    ),
    "rating_scale reversed": (
        lambda a: _edit_json(a / "manifest.json", _set("dataset", "rating_scale", [5, 0.5])),
        "rating_scale",
    ),
    "model.name missing": (
        lambda a: _edit_json(a / "manifest.json", _drop("model", "name")),
        "model.name",
    ),
    "model.name unknown": (
        lambda a: _edit_json(a / "manifest.json", _set("model", "name", "nosuchmodel")),
        "unknown model",
    ),
    "model.name differs from model.json": (
        lambda a: _edit_json(a / "manifest.json", _set("model", "name", "pop")),
        "model/model.json holds 'als'",
    ),
    "n_items not an int": (
        lambda a: _edit_json(a / "model/model.json", _set(None, "n_items", "many")),
        "n_items",
    ),
    "model config not an object": (
        lambda a: _edit_json(a / "model/model.json", _set(None, "config", [1, 2])),
        "config",
    ),
    "deeply nested manifest": (lambda a: _deep_json(a / "manifest.json"), "nested"),
    "NaN in manifest": (
        lambda a: (a / "manifest.json").write_text('{"format_version": NaN}'),
        "non-finite",
    ),
    "directory for movies.parquet": (
        lambda a: _replace_with_dir(a / "movies.parquet"),
        "found a directory",
    ),
    "symlink loop for state.npz": (lambda a: _loop(a / "model/state.npz"), "cannot read"),
    "truncated features.npz": (
        lambda a: (a / "features/features.npz").write_bytes(
            (a / "features/features.npz").read_bytes()[:5000]
        ),
        "corrupted array file",
    ),
    "NaN in a dense feature block": (
        lambda a: _edit_npz(a / "features/features.npz", sparse_data=lambda x: x * np.nan),
        "NaN",
    ),
    "duplicated user idx": (
        lambda a: (
            __import__("pandas")
            .DataFrame({"idx": [0] * 610, "id": range(610)})
            .to_parquet(a / "users.parquet")
        ),
        "idx",
    ),
    "movie ids differ from items": (
        lambda a: (
            __import__("pandas")
            .read_parquet(a / "movies.parquet")
            .assign(movie_id=lambda m: m["movie_id"] + 1)
            .to_parquet(a / "movies.parquet")
        ),
        "movie ids differ",
    ),
    "tag item_idx out of range": (
        lambda a: (
            __import__("pandas")
            .DataFrame({"item_idx": [10**8], "tag": ["x"], "count": [1]})
            .to_parquet(a / "item_tags.parquet")
        ),
        "item_idx outside",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corruption_fails_at_load_with_artifact_error(copy: Path, case: str) -> None:
    corrupt, message = CORRUPTIONS[case]
    corrupt(copy)
    with pytest.raises(ArtifactError, match=message):
        load_artifact(copy)


@pytest.mark.parametrize("name", ["ratings.npz", "model/state.npz", "metrics.json"])
def test_fifo_is_refused_without_blocking(copy: Path, name: str) -> None:
    target = copy / name
    target.unlink()
    os.mkfifo(target)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            load_artifact(copy)
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():  # unblock the reader so the test process can finish
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail(f"load_artifact blocked on a FIFO at {name}")
    assert isinstance(outcome[0], ArtifactError), outcome
    assert "FIFO" in str(outcome[0])


def test_corrupted_artifact_exits_2_in_the_cli(copy: Path, capsys) -> None:
    from reelrank.cli import main

    _edit_npz(copy / "model/state.npz", item_factors=_nan_factor)
    assert main(["recommend", str(copy), "--user", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NaN" in err[0] and "Traceback" not in err[0]
