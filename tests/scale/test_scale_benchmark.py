"""Smoke test of benchmarks/scale.py: every stage at 20k ratings, in process and as children."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("reelrank_bench_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_scaled_sizes_known_answers(scale):
    full = scale.scaled_sizes(32_000_204)
    assert full == {"ratings": 32_000_204, "users": 200_948, "items": 87_585, "tags": 2_000_072}
    small = scale.scaled_sizes(1_000_000, items=500)
    assert small["users"] == round(200_948 / 32.000204) and small["items"] == 500
    with pytest.raises(ValueError):
        scale.scaled_sizes(0)


@pytest.mark.slow
def test_every_stage_runs_at_20k(scale, tmp_path):
    sizes = scale.scaled_sizes(20_000, users=300, items=400, tags=2_000)
    opts = {"seed": 1, "hybrid_users": 100, "n_known": 20, "n_new": 5}
    out = {}
    for stage in scale.STAGES:
        out[stage] = scale.STAGE_FUNCS[stage](tmp_path, sizes, opts)
    assert out["ingest"]["n_ratings"] == 20_000
    assert out["ingest"]["n_users"] == 300
    assert out["features"]["n_features"] > 0
    # the planted structure makes ALS beat popularity
    assert out["evaluate"]["als"]["ndcg@10"] > out["evaluate"]["pop"]["ndcg@10"]
    assert out["hybrid"]["n_groups"] <= 100
    assert out["serve"]["known"]["p99_ms"] >= out["serve"]["known"]["p50_ms"] > 0


def test_dataset_round_trip(scale, tiny, tmp_path):
    scale.save_dataset(tiny, tmp_path / "ds")
    back = scale.load_dataset(tmp_path / "ds")
    assert (back.interactions != tiny.interactions).nnz == 0
    np.testing.assert_array_equal(back.timestamps, tiny.timestamps)
    np.testing.assert_array_equal(back.users.values, tiny.users.values)
    np.testing.assert_array_equal(back.items.values, tiny.items.values)
    assert back.movies["genres"].tolist() == tiny.movies["genres"].tolist()
    assert back.fingerprint() == tiny.fingerprint()


def test_child_process_reports_time_and_rss(scale, tmp_path):
    sizes = scale.scaled_sizes(3_000, users=100, items=150, tags=100)
    row = scale.run_stage_child("synth", tmp_path, sizes, {"seed": 0})
    assert row["stage"] == "synth" and row["seconds"] > 0
    assert 20 < row["peak_rss_mb"] < 4000  # a Python process with numpy loaded
    assert (tmp_path / "data" / "ratings.csv").exists()
    assert json.loads((tmp_path / "stage-synth.json").read_text())["bytes"] > 0


def test_hybrid_max_label_users_samples_users(tiny):
    from reelrank.models.rerank import _sample_label_users, holdout_mask

    mask = holdout_mask(tiny, 0.2, 5)
    users = tiny.user_index_of_entries()
    eligible = np.unique(users[mask])
    sampled = _sample_label_users(tiny, mask, 7, seed=3)
    kept = np.unique(users[sampled])
    assert len(kept) == 7 and set(kept) <= set(eligible)
    # every held-out rating of a sampled user stays held out; nothing new is added
    assert not (sampled & ~mask).any()
    assert (sampled == (mask & np.isin(users, kept))).all()
    np.testing.assert_array_equal(sampled, _sample_label_users(tiny, mask, 7, seed=3))
    assert _sample_label_users(tiny, mask, len(eligible), seed=3) is mask


def test_hybrid_config_rejects_tiny_sample():
    from reelrank.models.base import create_model

    with pytest.raises(ValueError, match="max_label_users"):
        create_model("hybrid", max_label_users=1)
