"""Top-N recommendations for every user, scored inside Spark and written as Parquet."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.models.base import Recommender, topk
from reelrank.spark.als import train_als_spark
from reelrank.spark.session import _as_dataset, _session

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

__all__ = ["recommend_all_spark"]


def recommend_all_spark(
    dataset_or_source: Dataset | str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    n: int = 10,
    model: Recommender | None = None,
    master: str = "local[*]",
    factors: int | None = None,
    reg: float | None = None,
    alpha: float | None = None,
    iterations: int | None = None,
    seed: int | None = None,
    exclude_seen: bool = True,
    parquet_dir: str | os.PathLike[str] | None = None,
    spark: SparkSession | None = None,
) -> Path:
    """Write the top-``n`` recommendations of every user with ratings, scored inside Spark.

    Parameters
    ----------
    dataset_or_source
        Dataset or MovieLens source whose users get recommendations (and whose ratings train
        the model when ``model`` is None).
    out
        Output Parquet path (a Spark output directory: ``part-*.parquet`` files), with
        columns ``user_id``, ``rank`` (1-based), ``movie_id``, ``score``.
    n
        Recommendations per user.
    model
        An already trained reelrank ``als`` model (e.g. from :func:`train_als_spark`) on the
        same catalogue; default: train one with Spark using the hyper-parameters below.
    master, factors, reg, alpha, iterations, seed, parquet_dir
        As in :func:`~reelrank.spark.als.train_als_spark` (``None``: the ``als`` defaults).
    exclude_seen
        Leave out items the user rated.
    spark
        An existing session to use (left running).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    if n < 1:
        raise ConfigError("n must be >= 1")
    data = _as_dataset(dataset_or_source)
    out = Path(out)
    with _session(spark, master) as session:
        if model is None:
            model = train_als_spark(
                data,
                factors=factors,
                reg=reg,
                alpha=alpha,
                iterations=iterations,
                seed=seed,
                parquet_dir=parquet_dir,
                spark=session,
            )
        user_factors, item_factors = _factors_of(model)
        if item_factors.shape[0] != data.n_items or user_factors.shape[0] != data.n_users:
            raise ConfigError(
                f"model factors {user_factors.shape[0]}x{item_factors.shape[0]} do not match "
                f"the dataset's {data.n_users} users x {data.n_items} items"
            )
        _score_in_spark(
            session, data, user_factors, item_factors, out, n=n, exclude_seen=exclude_seen
        )
    return out


def _factors_of(model: Recommender) -> tuple[np.ndarray, np.ndarray]:
    users = getattr(model, "user_factors_", None)
    items = getattr(model, "item_factors_", None)
    if users is None or items is None:
        raise ConfigError(f"{model.name} has no user/item factors; use an 'als' model")
    return np.asarray(users, dtype=np.float32), np.asarray(items, dtype=np.float32)


def _score_in_spark(
    spark: SparkSession,
    data: Dataset,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    out: Path,
    *,
    n: int,
    exclude_seen: bool,
    users_per_task: int = 2048,
) -> None:
    """Score users in Spark tasks: each task gets user vectors + seen lists, items broadcast."""
    from pyspark.sql.types import (
        FloatType,
        IntegerType,
        LongType,
        StructField,
        StructType,
    )

    active = data.active_users()
    indptr = data.interactions.indptr
    if exclude_seen:
        per_user = np.split(data.interactions.indices.astype(np.int32), indptr[1:-1])
        seen_lists = [per_user[u] for u in active]
    else:
        seen_lists = [np.empty(0, dtype=np.int32)] * len(active)
    users_pdf = pd.DataFrame(
        {
            "user_idx": active.astype(np.int32),
            "factors": list(user_factors[active]),
            "seen": seen_lists,
        }
    )
    n_tasks = max(1, int(np.ceil(len(active) / users_per_task)))
    users_df = spark.createDataFrame(users_pdf).repartition(n_tasks)
    sc = spark.sparkContext
    b_items = sc.broadcast(item_factors)
    b_user_ids = sc.broadcast(np.asarray(data.users.values))
    b_item_ids = sc.broadcast(np.asarray(data.items.values))
    k = int(min(n, data.n_items))

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        items = b_items.value
        for pdf in batches:
            if pdf.empty:
                continue
            u = np.stack(pdf["factors"].to_numpy()).astype(np.float32)
            scores = u @ items.T
            rows = np.repeat(np.arange(len(pdf)), [len(s) for s in pdf["seen"]])
            if len(rows):
                cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in pdf["seen"]])
                scores[rows, cols] = -np.inf
            idx, vals = topk(scores, k)
            valid = idx >= 0
            user_idx = np.repeat(pdf["user_idx"].to_numpy(np.int64), k).reshape(-1, k)
            ranks = np.broadcast_to(np.arange(1, k + 1), idx.shape)
            yield pd.DataFrame(
                {
                    "user_id": b_user_ids.value[user_idx[valid]].astype(np.int64),
                    "rank": ranks[valid].astype(np.int32),
                    "movie_id": b_item_ids.value[idx[valid]].astype(np.int64),
                    "score": vals[valid].astype(np.float32),
                }
            )

    schema = StructType(
        [
            StructField("user_id", LongType(), False),
            StructField("rank", IntegerType(), False),
            StructField("movie_id", LongType(), False),
            StructField("score", FloatType(), False),
        ]
    )
    recs = users_df.mapInPandas(score_partition, schema=schema)
    recs.write.mode("overwrite").parquet(str(out))
    logger.info("wrote top-%d recommendations for %d users to %s", k, len(active), out)
