"""Spark backend: train ALS on a Spark cluster, write recommendations for every user.

reelrank runs on one machine up to ML-32M-sized data. Past that, this module hands the
collaborative part to Apache Spark (:class:`pyspark.ml.recommendation.ALS`) instead of a
home-made distributed engine:

* :func:`train_als_spark` writes the ratings as Parquet, trains Spark's implicit-feedback ALS
  with the same confidence scaling as reelrank's ``als`` model,
  collects the factors into numpy arrays aligned with the dataset's id maps and returns a
  fitted reelrank ``als`` model. Saving it (or passing it to
  :func:`reelrank.serving.artifact.save_artifact`) writes the usual artifact, so
  ``reelrank serve`` serves it unchanged.
* :func:`recommend_all_spark` scores every user inside Spark (item factors broadcast to the
  executors, users scored in blocks with ``argpartition``, training items excluded) and writes
  the top-N per user as Parquet.

pyspark is an optional dependency (``pip install reelrank[spark]``) and is imported lazily.
Spark also needs Java 17; on a single machine set ``SPARK_LOCAL_IP=127.0.0.1`` in the
environment (the CLI does it, this library module never touches the environment).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError, ReelrankError
from reelrank.models._linalg import weight_matrix
from reelrank.models.als import ALS
from reelrank.models.base import Recommender, topk

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

__all__ = [
    "SparkALSResult",
    "SparkUnavailableError",
    "recommend_all_spark",
    "spark_session",
    "train_als_spark",
    "write_ratings_parquet",
]


class SparkUnavailableError(ReelrankError):
    """pyspark (or Java) is not available, or the Spark session could not start."""


@dataclass(frozen=True)
class SparkALSResult:
    """Factors learned by Spark, aligned with a dataset's id maps.

    Attributes
    ----------
    user_factors
        ``(n_users, factors)`` ``float32``; users Spark did not see are zero rows.
    item_factors
        ``(n_items, factors)`` ``float32``; items nobody rated in training are zero rows.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray


# ---------------------------------------------------------------------------- helpers
def _as_dataset(dataset_or_source: Dataset | str | os.PathLike[str] | None) -> Dataset:
    if isinstance(dataset_or_source, Dataset):
        return dataset_or_source
    from reelrank.data import load

    return load(dataset_or_source)


def _import_pyspark() -> Any:
    try:
        import pyspark
    except ImportError:  # pragma: no cover - depends on the installation
        raise SparkUnavailableError(
            "the Spark backend needs pyspark: pip install 'reelrank[spark]' (and Java 17)"
        ) from None
    return pyspark


def _spark_ratings(model: ALS, train: Dataset) -> sp.csr_matrix:
    """Ratings to give Spark so that its confidences equal those of reelrank's ``als``.

    reelrank's ``als`` (implicit) uses confidence ``c = alpha * w`` on observed entries, where
    ``w`` is the (optionally BM25/TF-IDF weighted) binary interaction; Spark uses
    ``c = 1 + alpha * r``. Sending ``r = w - 1 / alpha`` makes the two equal. Entries whose
    confidence would drop below 1 (``alpha * w < 1``) are clipped to a tiny positive rating so
    they remain positives.
    """
    cfg = model.config
    weighted = weight_matrix(train.binary(), cfg.weighting).tocsr()
    out = weighted.copy()
    out.data = np.maximum(weighted.data - 1.0 / cfg.alpha, 1e-6).astype(np.float32)
    return out


def write_ratings_parquet(weights: sp.csr_matrix, path: str | os.PathLike[str]) -> Path:
    """Write a users x items weight matrix as a Parquet file of ``(user_idx, item_idx, rating)``.

    Parameters
    ----------
    weights
        CSR matrix; every stored entry becomes one row (``int32`` indices, ``float32`` value).
    path
        Directory to create (a single ``part-0.parquet`` is written inside it).

    Returns
    -------
    pathlib.Path
        The directory (what ``spark.read.parquet`` reads).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    coo = weights.tocoo()
    keep = coo.data != 0
    table = pa.table(
        {
            "user_idx": pa.array(coo.row[keep].astype(np.int32)),
            "item_idx": pa.array(coo.col[keep].astype(np.int32)),
            "rating": pa.array(coo.data[keep].astype(np.float32)),
        }
    )
    pq.write_table(table, path / "part-0.parquet")
    logger.debug("wrote %d ratings to %s", table.num_rows, path)
    return path


def spark_session(
    master: str = "local[*]",
    *,
    app_name: str = "reelrank",
    driver_memory: str = "1g",
    shuffle_partitions: int = 8,
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    """Start (or reuse) a SparkSession with conservative settings.

    Parameters
    ----------
    master
        Spark master URL: ``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``...
    app_name
        Application name shown by the cluster manager.
    driver_memory
        Driver heap; only effective when this call starts the JVM.
    shuffle_partitions
        ``spark.sql.shuffle.partitions`` (the default 200 is far too many for one machine).
    extra_conf
        Further ``spark.*`` settings.

    Returns
    -------
    pyspark.sql.SparkSession
        The UI is disabled and executors run this interpreter's Python.
    """
    _import_pyspark()
    from pyspark.sql import SparkSession

    # Python workers must run this interpreter (the one reelrank is installed in). In local
    # mode Spark reads PYSPARK_PYTHON when it forks workers and ignores spark.pyspark.python,
    # so a bare `python3` from PATH (without reelrank) would be used otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
    )
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # Java missing, port in use, bad master URL...
        raise SparkUnavailableError(f"could not start Spark on {master!r}: {e}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def _session(spark: SparkSession | None, master: str) -> Iterator[SparkSession]:
    """Use ``spark`` or the active session if any (left running), else start one and stop it.

    pyspark 4.x warns on every pandas conversion that pandas 3 is not fully supported; the
    conversions used here (numeric columns and float arrays) are tested, so that warning is
    silenced while the session is in use.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        if spark is None:
            from pyspark.sql import SparkSession

            spark = SparkSession.getActiveSession()  # e.g. under spark-submit
        if spark is not None:
            yield spark
            return
        own = spark_session(master)
        try:
            yield own
        finally:
            own.stop()


@contextmanager
def _parquet_location(parquet_dir: str | os.PathLike[str] | None) -> Iterator[Path]:
    if parquet_dir is not None:
        yield Path(parquet_dir)
        return
    tmp = Path(tempfile.mkdtemp(prefix="reelrank-spark-"))
    try:
        yield tmp / "ratings.parquet"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _collect_factors(frame: Any, n_rows: int, rank: int) -> np.ndarray:
    """Spark ``(id, features)`` factors DataFrame -> dense ``(n_rows, rank)`` array."""
    pdf = frame.toPandas()
    out = np.zeros((n_rows, rank), dtype=np.float32)
    if len(pdf):
        idx = pdf["id"].to_numpy(np.int64)
        out[idx] = np.asarray(np.stack(pdf["features"].to_numpy()), dtype=np.float32)
    return out


def _fit_spark_als(
    spark: SparkSession,
    parquet_path: Path,
    n_users: int,
    n_items: int,
    *,
    factors: int,
    reg: float,
    alpha: float,
    iterations: int,
    seed: int,
) -> tuple[Any, SparkALSResult]:
    from pyspark.ml.recommendation import ALS

    ratings = spark.read.parquet(str(parquet_path))
    als = ALS(
        rank=factors,
        maxIter=iterations,
        regParam=reg,
        alpha=alpha,
        implicitPrefs=True,
        userCol="user_idx",
        itemCol="item_idx",
        ratingCol="rating",
        coldStartStrategy="drop",
        nonnegative=False,
        seed=seed,
    )
    fitted = als.fit(ratings)
    result = SparkALSResult(
        user_factors=_collect_factors(fitted.userFactors, n_users, factors),
        item_factors=_collect_factors(fitted.itemFactors, n_items, factors),
    )
    return fitted, result


# ---------------------------------------------------------------------------- public API
def train_als_spark(
    dataset_or_source: Dataset | str | os.PathLike[str] | None = None,
    *,
    master: str = "local[*]",
    factors: int = 64,
    reg: float = 0.05,
    alpha: float = 10.0,
    iterations: int = 15,
    seed: int = 42,
    parquet_dir: str | os.PathLike[str] | None = None,
    spark: SparkSession | None = None,
    **als_params: Any,
) -> ALS:
    """Train implicit-feedback ALS on Spark and return a fitted reelrank ``als`` model.

    Parameters
    ----------
    dataset_or_source
        A training :class:`~reelrank.data.dataset.Dataset`, or a MovieLens source for
        :func:`reelrank.data.load` (``None``: the bundled data).
    master
        Spark master URL (ignored when ``spark`` is given).
    factors, reg, alpha, iterations, seed
        Rank, ``regParam``, confidence scaling, ``maxIter`` and seed. ``alpha`` has the same
        meaning as in reelrank's ``als`` (confidence ``alpha * w`` on observed entries; the
        ratings sent to Spark are shifted so that Spark's ``1 + alpha * r`` is equal). Spark
        scales ``regParam`` by each user's (item's) number of interactions (ALS-WR), while
        implicit's solver does not, so the best ``reg`` can differ between engines.
    parquet_dir
        Where to write the ratings Parquet. On a cluster this must be a path every executor
        can read (a shared file system); default: a temporary directory removed afterwards.
    spark
        An existing session to use (it is left running); default: start one on ``master``
        and stop it afterwards.
    **als_params
        Other parameters of reelrank's ``als`` config (``weighting``), which decide the
        interaction weights sent to Spark.

    Returns
    -------
    reelrank.models.als.ALS
        A fitted ``als`` model whose factors come from Spark; users or items Spark never saw
        have zero vectors. ``model.save(dir)`` writes the standard artifact.

    Raises
    ------
    SparkUnavailableError
        pyspark or Java is missing, or the session could not start.
    ConfigError
        Invalid hyper-parameters.
    """
    train = _as_dataset(dataset_or_source)
    if train.n_interactions == 0:
        raise ConfigError("the training data has no ratings")
    try:
        model = ALS(
            factors=factors,
            regularization=reg,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
            **als_params,
        )
    except ConfigError as e:
        raise ConfigError(f"spark als: {e}") from None
    weights = _spark_ratings(model, train)
    with _parquet_location(parquet_dir) as where, _session(spark, master) as session:
        write_ratings_parquet(weights, where)
        logger.info("training Spark ALS on %s (%d ratings, rank %d)", master, weights.nnz, factors)
        _, result = _fit_spark_als(
            session,
            where,
            train.n_users,
            train.n_items,
            factors=factors,
            reg=reg,
            alpha=alpha,
            iterations=iterations,
            seed=seed,
        )
    return _install_factors(model, train, result)


def _install_factors(model: ALS, train: Dataset, result: SparkALSResult) -> ALS:
    """Make ``model`` a fitted ``als`` whose learned state is Spark's factors."""
    model.seen_ = train.binary().astype(np.float32)
    model.n_items_ = train.n_items
    cfg = model.config
    if cfg.weighting == "bm25":  # same item part as ALS._fit, for weighting fold-in rows
        counts = train.item_counts().astype(np.float64)
        length_norm = 0.2 + 0.8 * counts / max(counts.mean(), 1e-12)
        item_scale = (101.0 / (100.0 * length_norm + 1.0)).astype(np.float32)
    else:
        item_scale = np.ones(train.n_items, dtype=np.float32)
    model._set_state(
        {
            "user_factors": np.ascontiguousarray(result.user_factors, dtype=np.float32),
            "item_factors": np.ascontiguousarray(result.item_factors, dtype=np.float32),
            "item_scale": item_scale,
        }
    )
    return model


def recommend_all_spark(
    dataset_or_source: Dataset | str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    n: int = 10,
    model: Recommender | None = None,
    master: str = "local[*]",
    factors: int = 64,
    reg: float = 0.05,
    alpha: float = 10.0,
    iterations: int = 15,
    seed: int = 42,
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
        As in :func:`train_als_spark`.
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
