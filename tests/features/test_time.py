"""Cyclic time features and movie age: known values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reelrank.features.time import dataset_time_features, interaction_time_features


def test_cyclic_values():
    # 1970-01-01 00:00, 06:00 and 1970-07-02 12:00 (day 182 + 0.5) UTC
    ts = np.array([0, 6 * 3600, (182 * 24 + 12) * 3600])
    f = interaction_time_features(ts)
    assert list(f.columns) == ["hour_sin", "hour_cos", "doy_sin", "doy_cos"]
    np.testing.assert_allclose(f["hour_sin"], [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(f["hour_cos"], [1, 0, -1], atol=1e-6)
    angle = 2 * np.pi * 182.5 / 365.25
    np.testing.assert_allclose(
        f["doy_sin"], [0, np.sin(2 * np.pi * 0.25 / 365.25), np.sin(angle)], atol=1e-6
    )
    np.testing.assert_allclose(f["doy_cos"].iloc[2], np.cos(angle), atol=1e-6)
    assert all(f[c].dtype == np.float32 for c in f.columns)


def test_movie_age_fill_and_flag():
    dates = pd.to_datetime(["2000-01-01", "2010-01-01", "2005-01-01"], utc=True)
    ts = pd.Series((dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1))
    years = pd.array([1990, None, 2004], dtype="Int32")
    f = interaction_time_features(ts.to_numpy(), years)
    np.testing.assert_allclose(f["movie_age_years"].iloc[[0, 2]], [10.0, 1.0], atol=1e-6)
    assert f["movie_age_years"].iloc[1] == pytest.approx(5.5)  # median of known ages
    np.testing.assert_array_equal(f["movie_age_missing"], [0, 1, 0])
    zero = interaction_time_features(ts.to_numpy(), years, fill="zero")
    assert zero["movie_age_years"].iloc[1] == 0
    assert not f.isna().any().any()
    with pytest.raises(ValueError):
        interaction_time_features(ts.to_numpy(), years[:2])


def test_dataset_time_features_aligned(tagged):
    f = dataset_time_features(tagged)
    assert len(f) == tagged.n_interactions
    # movie 5 (no year) is rated twice; they are flagged
    missing = tagged.interactions.indices == 5
    np.testing.assert_array_equal(f["movie_age_missing"].to_numpy() == 1, missing)
    assert not f.isna().any().any()
