"""Spark plumbing: the session, the optional pyspark import, ratings as Parquet."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ReelrankError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

__all__ = ["SparkUnavailableError", "spark_session", "write_ratings_parquet"]


class SparkUnavailableError(ReelrankError):
    """pyspark (or Java) is not available, or the Spark session could not start."""


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
