"""ALS trained inside Spark, returned as a fitted reelrank ``als`` model."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.models._linalg import weight_matrix
from reelrank.models.als import ALS
from reelrank.spark.session import _as_dataset, _parquet_location, _session, write_ratings_parquet

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

__all__ = ["SparkALSResult", "train_als_spark"]


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
    factors: int | None = None,
    reg: float | None = None,
    alpha: float | None = None,
    iterations: int | None = None,
    seed: int | None = None,
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
        ``None`` (the default): the value of reelrank's ``als`` config, the same defaults as
        ``reelrank train --model als`` and ``reelrank recommend-all``.
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
        given = {
            "factors": factors,
            "regularization": reg,
            "alpha": alpha,
            "iterations": iterations,
            "random_state": seed,
        }
        model = ALS(**{k: v for k, v in given.items() if v is not None}, **als_params)
    except (ConfigError, ValueError, TypeError) as e:
        raise ConfigError(f"spark als: {e}") from None
    cfg = model.config
    weights = _spark_ratings(model, train)
    with _parquet_location(parquet_dir) as where, _session(spark, master) as session:
        write_ratings_parquet(weights, where)
        logger.info(
            "training Spark ALS on %s (%d ratings, rank %d)", master, weights.nnz, cfg.factors
        )
        _, result = _fit_spark_als(
            session,
            where,
            train.n_users,
            train.n_items,
            factors=cfg.factors,
            reg=cfg.regularization,
            alpha=cfg.alpha,
            iterations=cfg.iterations,
            seed=cfg.random_state,
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
