"""The base class machinery: top-k, registry, artifact errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reelrank.data.dataset import Dataset
from reelrank.errors import ArtifactError, ConfigError
from reelrank.models import create_model, load_model
from reelrank.models.base import MODEL_FORMAT_VERSION, topk


def test_topk_sorted_ties_and_exclusions() -> None:
    scores = np.array([[0.1, 0.5, 0.5, -np.inf], [-np.inf, -np.inf, 2.0, 1.0]], np.float32)
    idx, vals = topk(scores, 3)
    np.testing.assert_array_equal(idx, [[1, 2, 0], [2, 3, -1]])
    np.testing.assert_allclose(vals[0], [0.5, 0.5, 0.1])
    assert vals[1, 2] == -np.inf


def _reference_topk(s: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(n, s.shape[1])
    cols = np.arange(s.shape[1])
    idx = np.array([np.lexsort((cols, -row))[:n] for row in s], dtype=np.int64)
    vals = np.take_along_axis(s, idx, 1).astype(np.float32)
    idx[~np.isfinite(vals) & (vals < 0)] = -1
    return idx, vals


@pytest.mark.parametrize("kind", ["continuous", "few_values", "mostly_excluded", "sparse_ones"])
def test_topk_exact_against_full_sort(kind: str) -> None:
    """Blocked pre-selection and whole-row partition both equal a full stable sort."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        m, u, n = int(rng.integers(1, 2500)), int(rng.integers(1, 5)), int(rng.integers(1, 50))
        if kind == "continuous":
            s = rng.random((u, m)).astype(np.float32)
        elif kind == "few_values":
            s = rng.integers(0, 5, (u, m)).astype(np.float32)
        elif kind == "mostly_excluded":
            s = rng.integers(0, 50, (u, m)).astype(np.float32)
            s[rng.random((u, m)) < 0.7] = -np.inf
        else:
            s = np.zeros((u, m), np.float32)
            s[:, rng.integers(0, m, 3)] = 1
        got, expected = topk(s, n), _reference_topk(s, n)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


def test_registry_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'nope'; available: .*als"):
        create_model("nope")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['factor'\]"):
        create_model("als", factor=3)
    with pytest.raises(ConfigError, match="als: factors must be >= 1"):
        create_model("als", factors=0)


def test_artifact_errors(tiny: Dataset, tmp_path) -> None:
    path = create_model("pop").fit(tiny).save(tmp_path / "m")
    manifest = json.loads((path / "model.json").read_text())
    manifest["format_version"] = MODEL_FORMAT_VERSION + 1
    (path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="newer"):
        load_model(path)
    (path / "model.json").write_text(json.dumps({"model": "pop"}))
    with pytest.raises(ArtifactError, match="missing key"):
        load_model(path)
    path = create_model("pop").fit(tiny).save(tmp_path / "m")
    (path / "state.npz").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="corrupted"):
        load_model(path)
    path = create_model("itemknn").fit(tiny).save(tmp_path / "k")
    (path / "similarity.npz").unlink()
    with pytest.raises(ArtifactError, match=r"similarity\.npz"):
        load_model(path)


def test_similar_items_excludes_query(tiny: Dataset) -> None:
    model = create_model("als", factors=4, iterations=3, regularization=0.01, alpha=10.0)
    model.fit(tiny)
    items, _ = model.similar_items([0, 7], n=5)
    assert items.shape == (2, 5)
    assert 0 not in items[0] and 7 not in items[1]
    v = model.item_factors_ / np.linalg.norm(model.item_factors_, axis=1, keepdims=True)
    expected = v @ v[0]
    expected[0] = -np.inf
    np.testing.assert_array_equal(items[0], np.argsort(-expected, kind="stable")[:5])
