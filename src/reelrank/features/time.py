"""Per-interaction time features: cyclic time of day / day of year and the movie's age."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset

logger = logging.getLogger(__name__)

__all__ = ["dataset_time_features", "interaction_time_features"]

_DAY = 86_400.0
_YEAR_DAYS = 365.25


def interaction_time_features(
    timestamps: np.ndarray,
    movie_year: np.ndarray | pd.Series | None = None,
    *,
    fill: str = "median",
) -> pd.DataFrame:
    """Cyclic calendar features and movie age for interactions.

    Parameters
    ----------
    timestamps
        Seconds since the epoch (UTC), one per interaction.
    movie_year
        Release year of the rated movie, aligned with ``timestamps`` (nullable: missing
        years are allowed). ``None`` omits the age columns.
    fill
        How unknown ages are filled: ``"median"`` (median of the known ages, 0 if none) or
        ``"zero"``. The column ``movie_age_missing`` flags them either way.

    Returns
    -------
    pandas.DataFrame
        ``float32`` columns ``hour_sin``, ``hour_cos`` (time of day, UTC), ``doy_sin``,
        ``doy_cos`` (day of year over a 365.25-day cycle), and when ``movie_year`` is given
        ``movie_age_years`` (fractional rating year minus release year, NaN-free) and
        ``movie_age_missing`` (1.0 where the year was unknown).
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    if fill not in ("median", "zero"):
        raise ValueError("fill must be 'median' or 'zero'")
    seconds_of_day = np.mod(ts, int(_DAY)).astype(np.float64)
    day_angle = 2 * np.pi * seconds_of_day / _DAY
    dt = pd.to_datetime(ts, unit="s", utc=True)
    day_of_year = (dt.dayofyear.to_numpy() - 1).astype(np.float64) + seconds_of_day / _DAY
    year_angle = 2 * np.pi * day_of_year / _YEAR_DAYS
    out = pd.DataFrame(
        {
            "hour_sin": np.sin(day_angle).astype(np.float32),
            "hour_cos": np.cos(day_angle).astype(np.float32),
            "doy_sin": np.sin(year_angle).astype(np.float32),
            "doy_cos": np.cos(year_angle).astype(np.float32),
        }
    )
    if movie_year is not None:
        years = pd.array(movie_year, dtype="Float64")
        if len(years) != len(ts):
            raise ValueError("movie_year must align with timestamps")
        known = ~np.asarray(pd.isna(years))
        rating_year = dt.year.to_numpy().astype(np.float64) + day_of_year / _YEAR_DAYS
        age = np.full(len(ts), np.nan)
        age[known] = rating_year[known] - np.asarray(years[known], dtype=np.float64)
        if (~known).any():
            filler = float(np.median(age[known])) if fill == "median" and known.any() else 0.0
            age[~known] = filler
        out["movie_age_years"] = age.astype(np.float32)
        out["movie_age_missing"] = (~known).astype(np.float32)
    return out


def dataset_time_features(ds: Dataset, *, fill: str = "median") -> pd.DataFrame:
    """:func:`interaction_time_features` for every interaction of ``ds``, in CSR order.

    Row ``j`` describes the interaction stored at ``ds.interactions.data[j]``.
    """
    years = pd.array(ds.movies["year"], dtype="Float64")
    item_year = years[ds.interactions.indices.astype(np.int64)]
    return interaction_time_features(ds.timestamps, item_year, fill=fill)
