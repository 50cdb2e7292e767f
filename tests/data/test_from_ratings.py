"""Dataset.from_ratings: your own ratings DataFrame, MovieLens or reelrank column names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError


def _frame(**cols: list) -> pd.DataFrame:
    base = {"userId": [7, 7, 3, 3], "movieId": [30, 10, 10, 20], "rating": [4.0, 2.5, 5.0, 1.0]}
    base.update(cols)
    return pd.DataFrame(base)


def test_movielens_columns_known_answer() -> None:
    ds = Dataset.from_ratings(_frame(timestamp=[4, 3, 2, 1]))
    assert ds.users.values.tolist() == [3, 7] and ds.items.values.tolist() == [10, 20, 30]
    dense = ds.interactions.toarray()
    np.testing.assert_array_equal(dense, [[5.0, 1.0, 0.0], [2.5, 0.0, 4.0]])
    # timestamps follow their ratings through the sort
    assert ds.to_frame(raw_ids=True).set_index(["user_id", "movie_id"])["timestamp"].to_dict() == {
        (3, 10): 2, (3, 20): 1, (7, 10): 3, (7, 30): 4,
    }  # fmt: skip
    assert ds.rating_scale == (1.0, 5.0) and ds.movies["title"].tolist()[0] == "movie 10"


def test_reelrank_columns_string_ids_and_datetimes() -> None:
    df = pd.DataFrame(
        {
            "user_id": ["ann", "bob"],
            "item_id": ["m1", "m2"],
            "rating": [3, 4],
            "timestamp": pd.to_datetime(["1970-01-01 00:00:10", "1970-01-01 00:01:00"]),
        }
    )
    ds = Dataset.from_ratings(df, rating_scale=(1, 5))
    assert ds.users.index(["bob"]).tolist() == [1]
    assert sorted(ds.timestamps.tolist()) == [10, 60]


def test_movie_table_titles_years_genres_and_unrated_movies() -> None:
    movies = pd.DataFrame(
        {
            "movieId": [10, 20, 99],
            "title": ["Heat (1995)", "Up (2009)", "Nobody Rated This (2001)"],
            "genres": ["Action|Crime", "(no genres listed)", ["Drama"]],
        }
    )
    ds = Dataset.from_ratings(_frame(), movies)
    m = ds.movies.set_index("movie_id")
    assert m.loc[10, "title"] == "Heat" and m.loc[10, "year"] == 1995
    assert m.loc[10, "genres"] == ["Action", "Crime"] and m.loc[20, "genres"] == []
    assert m.loc[99, "genres"] == ["Drama"] and ds.item_counts()[ds.items.index(99)] == 0
    assert m.loc[30, "title"] == "movie 30"  # rated but not in the table


def test_duplicates_keep_the_latest() -> None:
    df = _frame(userId=[1, 1, 1, 2], movieId=[5, 5, 6, 5], timestamp=[9, 2, 1, 1])
    ds = Dataset.from_ratings(df)
    assert ds.info["duplicates_dropped"] == 1
    assert ds.interactions[ds.users.index(1), ds.items.index(5)] == 4.0


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"user": [1], "film": [2], "rating": [3]}), "no movie id column"),
        (pd.DataFrame({"userId": [1], "movieId": [2]}), "no rating column"),
        (_frame(rating=[4.0, np.nan, 1, 2]), "row 1"),
        (_frame(rating=[4.0, 0, 1, 2]), "non-zero"),
        (_frame(userId=[1.0, 1.5, 2.0, 3.0]), "not an id"),
        (_frame(movieId=[1, None, 2, 3]), "missing 'movieId'"),
        (_frame(timestamp=["x", 1, 2, 3]), "whole seconds"),
        (_frame(user_id=[1, 2, 3, 4]), "both"),
        (_frame().iloc[:0], "empty"),
    ],
)
def test_clear_errors(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Dataset.from_ratings(frame)


def test_rating_outside_the_given_scale() -> None:
    with pytest.raises(ConfigError, match=r"outside 1\.\.4"):
        Dataset.from_ratings(_frame(), rating_scale=(1, 4))


def test_a_model_trains_on_it() -> None:
    from reelrank.models import create_model

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "userId": rng.integers(1, 40, 600),
            "movieId": rng.integers(1, 60, 600) * 1000,
            "rating": rng.integers(1, 11, 600) / 2,
        }
    )
    ds = Dataset.from_ratings(df)
    items, _ = create_model("pop").fit(ds).recommend(0, n=5)
    assert set(ds.items.ids(items[0])) <= set(df["movieId"])
