"""Spark backend: ALS trained on Spark matches the single-machine ALS; recommend-all output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.data.split import temporal_split
from reelrank.evaluate.metrics import ndcg_at_k
from reelrank.models import create_model, load_model
from reelrank.spark import recommend_all_spark, train_als_spark, write_ratings_parquet
from reelrank.spark.als import _spark_ratings

pytestmark = pytest.mark.spark

PARAMS: dict[str, Any] = {"factors": 32, "reg": 0.05, "alpha": 10.0, "iterations": 10, "seed": 7}


def _relevant(test: Dataset) -> sp.csr_matrix:
    rel = test.interactions.copy()
    rel.data = (rel.data >= 4.0).astype(np.float32)
    rel.eliminate_zeros()
    return rel


def _mean_ndcg(model: Any, test: Dataset) -> float:
    rel = _relevant(test)
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    recs, _ = model.recommend(users, n=10)
    return float(np.nanmean(ndcg_at_k(recs, rel[users], 10)))


def test_spark_ratings_reproduce_implicit_confidence(tiny: Dataset) -> None:
    als = create_model("als", alpha=4.0)
    r = _spark_ratings(als, tiny)
    # Spark's confidence 1 + alpha * r equals implicit's alpha * w (w = 1 for binary input)
    np.testing.assert_allclose(1.0 + 4.0 * r.data, 4.0, rtol=1e-6)
    assert r.nnz == tiny.n_interactions


def test_write_ratings_parquet_roundtrip(tiny: Dataset, tmp_path: Path) -> None:
    path = write_ratings_parquet(tiny.interactions, tmp_path / "r.parquet")
    frame = pd.read_parquet(path)
    assert len(frame) == tiny.n_interactions
    back = sp.csr_matrix(
        (frame["rating"], (frame["user_idx"], frame["item_idx"])), shape=tiny.interactions.shape
    )
    assert abs(back - tiny.interactions).max() == 0


def test_spark_als_matches_single_machine_ndcg(
    bundled: Dataset, spark: Any, tmp_path: Path
) -> None:
    split = temporal_split(bundled, test_ratio=0.2)
    local = create_model(
        "als",
        factors=PARAMS["factors"],
        regularization=PARAMS["reg"],
        alpha=PARAMS["alpha"],
        iterations=PARAMS["iterations"],
        random_state=PARAMS["seed"],
        feedback="binary",  # the Spark backend trains on binary feedback
    ).fit(split.train)
    on_spark = train_als_spark(split.train, spark=spark, parquet_dir=tmp_path / "r", **PARAMS)

    assert on_spark.user_factors_.shape == (bundled.n_users, PARAMS["factors"])
    assert on_spark.item_factors_.shape == (bundled.n_items, PARAMS["factors"])
    unrated = split.train.item_counts() == 0
    assert unrated.any()
    assert not on_spark.item_factors_[unrated].any()  # unseen items -> zero vectors
    assert on_spark.item_factors_[~unrated].any(axis=1).all()

    ndcg_local = _mean_ndcg(local, split.test)
    ndcg_spark = _mean_ndcg(on_spark, split.test)
    assert ndcg_local > 0.03  # far above random (~0.001) on this split
    assert abs(ndcg_spark - ndcg_local) <= 0.10 * ndcg_local, (ndcg_spark, ndcg_local)

    # the same artifact format as the single-machine model: save, load, same scores
    on_spark.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    users = np.arange(5)
    np.testing.assert_array_equal(loaded.recommend(users)[0], on_spark.recommend(users)[0])


def test_recommend_all_spark(tiny: Dataset, spark: Any, tmp_path: Path) -> None:
    model = create_model("als", factors=8, iterations=5).fit(tiny)
    out = recommend_all_spark(tiny, tmp_path / "recs.parquet", n=5, model=model, spark=spark)
    recs = pd.read_parquet(out).sort_values(["user_id", "rank"])
    active = tiny.active_users()
    assert recs["user_id"].nunique() == len(active)
    assert (recs.groupby("user_id").size() == 5).all()
    # same lists as the model's own exclude-seen ranking (raw ids)
    item_idx, scores = model.recommend(active, n=5)
    expected_ids = tiny.items.ids(item_idx.reshape(-1))
    np.testing.assert_array_equal(recs["movie_id"].to_numpy(), expected_ids)
    np.testing.assert_allclose(recs["score"].to_numpy(), scores.reshape(-1), rtol=1e-4)
    seen = set(zip(*tiny.interactions.nonzero(), strict=True))
    pairs = zip(
        tiny.users.index(recs["user_id"].to_numpy()),
        tiny.items.index(recs["movie_id"].to_numpy()),
        strict=True,
    )
    assert not any(p in seen for p in pairs)


def test_cli_recommend_all_spark(spark: Any, tiny_source: Path, tmp_path: Path) -> None:
    from reelrank.cli import main

    out = tmp_path / "recs.parquet"
    code = main(
        [
            "recommend-all",
            str(tiny_source),
            "--engine",
            "spark",
            "--master",
            "local[2]",
            "-n",
            "3",
            "--factors",
            "8",
            "--iterations",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    recs = pd.read_parquet(out)
    assert recs.groupby("user_id").size().eq(3).all()
    assert recs["user_id"].nunique() == 40
    assert spark.sparkContext._jsc is not None  # the shared session was not stopped


def test_cli_train_engine_spark_writes_a_servable_artifact(
    spark: Any, tiny_source: Path, tmp_path: Path
) -> None:
    from reelrank.cli import main
    from reelrank.serving.artifact import load_artifact
    from reelrank.serving.service import RecommenderService

    config = tmp_path / "als.toml"
    config.write_text("factors = 8\niterations = 3\n")
    out = tmp_path / "model"
    code = main(
        [
            "train",
            str(tiny_source),
            "--model",
            "als",
            "--engine",
            "spark",
            "--master",
            "local[2]",
            "--config",
            str(config),
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    artifact = load_artifact(out)
    assert artifact.model.item_factors_.shape == (60, 8)
    recs = RecommenderService(artifact).recommend(1, n=5)
    assert len(recs) == 5


def test_cli_train_engine_spark_rejects_other_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reelrank.cli import main

    code = main(["train", "--model", "pop", "--engine", "spark", "--out", str(tmp_path / "m")])
    assert code == 2
    assert "--engine spark trains model 'als' only" in capsys.readouterr().err
