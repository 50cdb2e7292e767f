"""Fixtures for the Spark backend tests: one local[2] session per test session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local[2] SparkSession (skips when pyspark or Java is missing)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java 17")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from reelrank.spark import spark_session

    session = spark_session("local[2]", shuffle_partitions=4)
    yield session
    session.stop()


@pytest.fixture
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A small ml-latest-small-layout folder (40 users, 60 movies), for fast CLI runs."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("tiny-ml")
    pairs = {
        (int(u), int(i))
        for u, i in zip(rng.integers(1, 41, 600), rng.integers(1, 61, 600), strict=True)
    }
    u, i = np.array(sorted(pairs)).T
    pd.DataFrame(
        {
            "userId": u,
            "movieId": i,
            "rating": rng.integers(1, 11, len(u)) / 2.0,
            "timestamp": 1_000_000_000 + np.arange(len(u)) * 60,
        }
    ).to_csv(folder / "ratings.csv", index=False)
    pd.DataFrame(
        {
            "movieId": np.arange(1, 61),
            "title": [f"Film {k} (2001)" for k in range(1, 61)],
            "genres": ["Drama|Comedy" if k % 2 else "Action" for k in range(1, 61)],
        }
    ).to_csv(folder / "movies.csv", index=False)
    return folder
