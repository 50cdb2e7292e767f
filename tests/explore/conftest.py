"""Fixtures for the exploration tests: one explore run on the bundled data, shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reelrank.data.dataset import Dataset
from reelrank.evaluate.explore import ExploreResult, explore

REPORT = {
    "protocol": "temporal",
    "dataset": "ml-latest-small",
    "results": [
        {
            "model": "pop",
            "params": {},
            "metrics": {"ndcg@5": 0.05, "ndcg@10": 0.06, "recall@10": 0.03, "recall@20": 0.05},
        },
        {
            "model": "als",
            "params": {"factors": 64},
            "metrics": {"ndcg@5": 0.08, "ndcg@10": 0.09, "recall@10": 0.05, "recall@20": 0.09},
        },
    ],
}


@pytest.fixture(scope="session")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "result.json"
    path.write_text(json.dumps(REPORT))
    return path


@pytest.fixture(scope="session")
def explored(
    bundled: Dataset, report_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> ExploreResult:
    out = tmp_path_factory.mktemp("explore")
    return explore(
        bundled, out, report=report_file, n_random=10, als_params={"factors": 16, "iterations": 4}
    )
