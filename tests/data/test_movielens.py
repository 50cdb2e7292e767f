"""Readers: every layout from tiny files in its exact format, plus the bundled known counts."""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reelrank.data.movielens import (
    bundled_path,
    detect_layout,
    load,
    read_predefined_split,
    split_title,
)
from reelrank.errors import DataFormatError


def rating_of(ds, user_id: int, movie_id: int) -> float:
    u = int(ds.users.index(user_id))
    i = int(ds.items.index(movie_id))
    return float(ds.interactions[u, i])


# ---------------------------------------------------------------------------- bundled
def test_bundled_known_counts(bundled) -> None:
    s = bundled.summary()
    assert s["n_ratings"] == 100_836
    assert s["n_users"] == 610
    assert s["n_items"] == 9_742
    assert s["n_rated_items"] == 9_724
    assert s["n_tags"] == 3_683
    assert bundled.layout == "ml-latest-small"
    assert (s["rating_min"], s["rating_max"]) == (0.5, 5.0)
    assert bundled.info["duplicates_dropped"] == 0
    assert bundled.info["source_path"] == str(bundled_path().resolve())


def test_bundled_movie_table(bundled) -> None:
    movies = bundled.movies
    toy = movies.iloc[int(bundled.items.index(1))]
    assert toy["title"] == "Toy Story"
    assert toy["year"] == 1995
    assert toy["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert toy["imdb_id"] == 114709 and toy["tmdb_id"] == 862
    assert movies["year"].dtype == "Int32"
    # "(no genres listed)" means no genre at all
    assert not any("(no genres listed)" in g for g in movies["genres"])
    assert (movies["genres"].str.len() == 0).sum() == 34
    # 8 tmdbId values are empty in the original links.csv
    assert int(movies["tmdb_id"].isna().sum()) == 8
    # the catalogue is sorted by movie id and aligned with the map
    assert np.array_equal(movies["movie_id"].to_numpy(), bundled.items.values)


def test_bundled_ratings_match_the_file(bundled) -> None:
    raw = pd.read_csv(bundled_path() / "ratings.csv")
    row = raw.iloc[12345]
    assert rating_of(bundled, int(row.userId), int(row.movieId)) == pytest.approx(row.rating)
    assert bundled.timestamps.dtype == np.int64
    assert bundled.interactions.dtype == np.float32


def test_split_title() -> None:
    t, y = split_title(pd.Series(["Heat (1995)", "Babylon 5", "Show (2001-2003)", " X (1999) "]))
    assert t.tolist() == ["Heat", "Babylon 5", "Show", "X"]
    assert y.tolist()[0] == 1995 and pd.isna(y.tolist()[1]) and y.tolist()[2] == 2001
    assert str(y.dtype) == "Int32"


# ---------------------------------------------------------------------------- layouts
def test_ml100k(tmp_path, writers) -> None:
    folder = writers["ml-100k"](tmp_path)
    ds = load(folder)
    assert ds.layout == "ml-100k" and detect_layout(folder) == "ml-100k"
    assert ds.rating_scale == (1.0, 5.0)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (3, 4, 5)
    assert rating_of(ds, 2, 2) == 2.0
    m = ds.movies.set_index("movie_id")
    assert m.loc[2, "title"] == "Misérables, Les"  # latin-1 decoded
    assert m.loc[3, "title"] == "Café au lait" and m.loc[3, "year"] == 1994
    assert m.loc[1, "genres"] == ["Animation", "Children's", "Comedy"]
    assert m.loc[2, "genres"] == ["Drama", "Romance"]
    assert m.loc[4, "genres"] == [] and pd.isna(m.loc[4, "year"])
    assert ds.user_info is not None
    assert ds.user_info["occupation"].tolist() == ["technician", "other", "writer"]
    assert ds.user_info["age"].tolist() == [24, 53, 23]


def test_ml100k_predefined_split(tmp_path, writers) -> None:
    folder = writers["ml-100k"](tmp_path)
    base, test = read_predefined_split(folder, "u1")
    assert list(base.columns) == ["user_id", "movie_id", "rating", "timestamp"]
    assert len(base) == 3 and len(test) == 2
    assert test.iloc[0].tolist() == [3, 3, 1.0, 889237455]
    with pytest.raises(DataFormatError, match=r"u2\.base"):
        read_predefined_split(folder, "u2")
    with pytest.raises(ValueError, match="unknown ml-100k split"):
        read_predefined_split(folder, "u9")


def test_ml1m(tmp_path, writers) -> None:
    ds = load(writers["ml-1m"](tmp_path))
    assert ds.layout == "ml-1m" and ds.rating_scale == (1.0, 5.0)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (2, 4, 4)
    m = ds.movies.set_index("movie_id")
    assert m.loc[1193, "title"] == "Star Wars: Episode IV - A New Hope"
    assert m.loc[661, "title"] == "Misérables, Les"
    assert m.loc[2000, "title"] == "Café Society"
    assert m.loc[661, "genres"] == ["Drama", "Musical"]
    assert ds.user_info["gender"].tolist() == ["F", "M"]
    assert ds.user_info["zip_code"].tolist() == ["48067", "70072"]
    assert rating_of(ds, 2, 3) == 2.0


def test_ml10m(tmp_path, writers) -> None:
    ds = load(writers["ml-10m"](tmp_path))
    assert ds.layout == "ml-10m" and ds.rating_scale == (0.5, 5.0)
    assert rating_of(ds, 1, 185) == 4.5
    m = ds.movies.set_index("movie_id")
    assert m.loc[8, "title"] == "Amélie (Fabuleux destin d'Amélie Poulain, Le)"
    assert m.loc[8, "year"] == 2001
    assert m.loc[300, "genres"] == []
    assert ds.tags["tag"].tolist() == ["excellent!", "time: travel"]
    assert ds.items.ids(ds.tags["item_idx"].to_numpy()).tolist() == [8, 185]
    assert ds.tags["user_id"].tolist() == [15, 20]


@pytest.mark.parametrize("name", ["ml-20m", "ml-25m", "ml-32m", "ml-latest", "ml-latest-small"])
def test_csv_layout_named_by_folder(tmp_path, writers, name) -> None:
    folder = writers["csv"](tmp_path, name, genome=False)
    assert detect_layout(folder) == name
    assert load(folder).layout == name


def test_csv_layout(tmp_path, writers) -> None:
    ds = load(writers["csv"](tmp_path, "ml-25m"))
    assert ds.layout == "ml-25m"
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (3, 5, 5)
    assert ds.summary()["n_rated_items"] == 4
    m = ds.movies.set_index("movie_id")
    assert m.loc[3, "title"] == "American President, The"
    assert m.loc[11, "title"] == '"Great Performances" Cats'
    assert m.loc[200, "title"] == "Babylon 5" and pd.isna(m.loc[200, "year"])
    assert m.loc[200, "genres"] == []
    assert m.loc[201, "year"] == 2001
    assert m.loc[1, "imdb_id"] == 114709 and m.loc[1, "tmdb_id"] == 862
    assert pd.isna(m.loc[11, "tmdb_id"]) and pd.isna(m.loc[201, "imdb_id"])
    assert ds.tags["tag"].tolist() == ["funny", "Highly quotable, funny"]
    # genome: 2 movies x 3 tags, relevance (m*10+t)/1000
    g = ds.genome
    assert g is not None and g.relevance.shape == (2, 3)
    assert ds.items.ids(g.item_idx).tolist() == [1, 3]
    assert g.tags.tolist() == ["007", "007 (series)", "18th century"]
    assert g.relevance[1, 2] == pytest.approx(0.033)
    dense = g.dense_for(ds.n_items)
    assert dense[int(ds.items.index(11))].sum() == 0


def test_kaggle_layout(tmp_path, writers) -> None:
    ds = load(writers["kaggle"](tmp_path))
    assert ds.layout == "kaggle-ml-20m"
    # ISO datetimes become integer seconds UTC
    u, i = int(ds.users.index(1)), int(ds.items.index(2))
    entry = ds.interactions.indptr[u] + np.searchsorted(
        ds.interactions.indices[ds.interactions.indptr[u] : ds.interactions.indptr[u + 1]], i
    )
    assert ds.timestamps[entry] == 1112486027
    assert ds.timestamps.min() == 10
    assert ds.tags["timestamp"].tolist() == [1240597180]
    m = ds.movies.set_index("movie_id")
    assert m.loc[29, "title"] == "City of Lost Children, The (Cité des enfants perdus, La)"
    assert m.loc[2, "imdb_id"] == 113497
    assert ds.genome is not None and ds.genome.relevance[1, 0] == pytest.approx(0.75)


def test_tag_genome_2021_joined(tmp_path, writers) -> None:
    folder = writers["csv"](tmp_path, "ml-25m", genome=False)
    writers["tag-genome"](folder)
    ds = load(folder)
    m = ds.movies.set_index("movie_id")
    assert m.loc[1, "directed_by"] == "John Lasseter"
    assert m.loc[1, "avg_rating"] == pytest.approx(3.89146)
    assert pd.isna(m.loc[11, "directed_by"])
    people = ds.people
    toy = int(ds.items.index(1))
    cast = people[(people.item_idx == toy) & (people.role == "cast")]["name"].tolist()
    assert cast == ["Tim Allen", "Tom Hanks", "Don Rickles"]
    assert people[people.role == "director"]["name"].tolist() == ["John Lasseter", "Rob Reiner"]
    assert len(ds.reviews) == 3
    assert ds.reviews[ds.reviews.item_idx == toy]["text"].tolist()[1] == "Café scenes are charming."
    assert ds.info["tag_genome_tags"] == 2
    assert ds.summary()["has_people"] and ds.summary()["has_reviews"]


def test_zip_source_and_parent_folder(tmp_path, writers) -> None:
    folder = writers["ml-1m"](tmp_path / "src")
    archive = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"ml-1m/{f.name}")
    ds = load(archive)
    assert ds.layout == "ml-1m" and ds.n_interactions == 4
    assert ds.info["source_path"] == str(archive.resolve())
    # a parent folder with one data folder inside is accepted too
    assert load(tmp_path / "src").n_interactions == 4


def test_name_resolves_to_cache(tmp_path, writers) -> None:
    writers["ml-100k"](tmp_path / "cache")
    ds = load("ml-100k", cache_dir=tmp_path / "cache")
    assert ds.layout == "ml-100k"
    with pytest.raises(DataFormatError, match="reelrank data fetch ml-1m"):
        load("ml-1m", cache_dir=tmp_path / "cache")


def test_duplicates_keep_latest(tmp_path, writers, caplog) -> None:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    writers["write"](
        folder / "ratings.csv",
        [
            "userId,movieId,rating,timestamp",
            "1,1,2.0,200",
            "1,1,5.0,100",  # older: dropped
            "2,3,1.0,50",
            "2,3,3.0,50",  # same time, later in file: kept
            "2,1,4.0,10",
        ],
        eol="\r\n",
    )
    with caplog.at_level(logging.WARNING):
        ds = load(folder)
    assert ds.info["duplicates_dropped"] == 2
    assert "2 duplicated" in caplog.text
    assert rating_of(ds, 1, 1) == 2.0
    assert rating_of(ds, 2, 3) == 3.0
    assert ds.n_interactions == 3


def test_rated_movie_missing_from_table_is_added(tmp_path, writers, caplog) -> None:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    with open(folder / "ratings.csv", "ab") as f:
        f.write(b"4,999,3.0,1000\r\n")
    with caplog.at_level(logging.WARNING):
        ds = load(folder)
    assert ds.n_items == 6 and ds.info["movies_added"] == 1
    assert ds.items.values[-1] == 999
    assert ds.movies.iloc[-1]["genres"] == []
    assert "missing from the movie table" in caplog.text


def test_bundled_copy_as_zip(tmp_path) -> None:
    target = tmp_path / "ml-latest-small"
    shutil.copytree(bundled_path(), target)
    archive = Path(
        shutil.make_archive(str(tmp_path / "ml-latest-small"), "zip", tmp_path, "ml-latest-small")
    )
    ds = load(archive)
    assert ds.layout == "ml-latest-small" and ds.n_interactions == 100_836


def test_unsorted_file_gives_the_same_dataset(tmp_path, writers) -> None:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    lines = (folder / "ratings.csv").read_bytes().split(b"\r\n")
    header, rows = lines[0], [r for r in lines[1:] if r]
    sorted_ds = load(folder)
    (folder / "ratings.csv").write_bytes(b"\r\n".join([header, *rows[::-1]]) + b"\r\n")
    shuffled = load(folder)
    assert (sorted_ds.interactions != shuffled.interactions).nnz == 0
    assert np.array_equal(sorted_ds.timestamps, shuffled.timestamps)
    assert shuffled.info["duplicates_dropped"] == 0


def test_from_arrays_presorted_is_checked(bundled) -> None:
    from reelrank.data.dataset import Dataset

    frame = bundled.to_frame()
    args = [frame[c].to_numpy() for c in ("user_idx", "item_idx", "rating", "timestamp")]
    kw = {"users": bundled.users, "items": bundled.items, "movies": bundled.movies}
    fast = Dataset.from_arrays(*args, presorted=True, **kw)
    assert (fast.interactions != bundled.interactions).nnz == 0
    with pytest.raises(ValueError, match="not strictly increasing"):
        Dataset.from_arrays(*(a[::-1] for a in args), presorted=True, **kw)
