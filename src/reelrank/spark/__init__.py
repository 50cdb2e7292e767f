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

Modules: :mod:`reelrank.spark.session` (session, Parquet), :mod:`reelrank.spark.als`
(training) and :mod:`reelrank.spark.batch` (scoring every user). The command line is
``reelrank recommend-all`` and ``reelrank train --engine spark`` (``cli/spark.py``).
"""

from reelrank.spark.als import SparkALSResult, train_als_spark
from reelrank.spark.batch import recommend_all_spark
from reelrank.spark.session import SparkUnavailableError, spark_session, write_ratings_parquet

__all__ = [
    "SparkALSResult",
    "SparkUnavailableError",
    "recommend_all_spark",
    "spark_session",
    "train_als_spark",
    "write_ratings_parquet",
]
