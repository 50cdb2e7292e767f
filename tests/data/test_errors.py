"""Broken inputs: every error names the file and the line."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from reelrank.data.movielens import load
from reelrank.errors import DataFormatError, ReelrankError

HEADER = "userId,movieId,rating,timestamp"


def broken_csv(tmp_path: Path, writers, ratings: list[str] | bytes) -> Path:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    if isinstance(ratings, bytes):
        (folder / "ratings.csv").write_bytes(ratings)
    else:
        writers["write"](folder / "ratings.csv", ratings, eol="\r\n")
    return folder


def expect(folder: Path | str, file: str, line: int | None, *words: str) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        load(folder)
    err = info.value
    assert isinstance(err, ReelrankError)
    assert err.path.endswith(file), err
    assert err.line == line, err
    text = str(err)
    assert file in text and (line is None or f"line {line}" in text)
    for w in words:
        assert w in text, text
    return err


@pytest.mark.parametrize(
    ("rows", "line", "words"),
    [
        # rating outside the scale
        ([HEADER, "1,1,4.0,1", "1,3,5.5,2"], 3, ("5.5", "outside", "0.5..5")),
        ([HEADER, "1,1,0.0,1"], 2, ("outside",)),
        ([HEADER, "1,1,4.0,1", "2,1,3.3,2"], 3, ("half stars",)),
        # non-numeric ids / values
        ([HEADER, "1,1,4.0,1", "abc,1,4.0,2"], 3, ("'abc'", "userId")),
        ([HEADER, "1,x1,4.0,1"], 2, ("'x1'", "movieId")),
        ([HEADER, "1,1,4.0,1", "1,3,4.0,soon"], 3, ("timestamp", "'soon'")),
        # truncated lines and missing values
        ([HEADER, "1,1,4.0,1", "1,3,4.0,2", "2,11,2.5"], 4, ("truncated", "expected 4", "3")),
        ([HEADER, "1,1,4.0,1", "1,3,,2"], 3, ("missing value", "rating")),
        ([HEADER, "1,1,4.0,1,7"], 2, ("too many fields",)),
        # missing column / wrong separator (detected on the header)
        (["userId,movieId,timestamp", "1,1,1"], 1, ("missing column", "rating")),
        (["userId;movieId;rating;timestamp", "1;1;4.0;1"], 1, ("wrong separator",)),
        # header only
        ([HEADER], 2, ("no data rows",)),
    ],
)
def test_broken_ratings_csv(tmp_path, writers, rows, line, words) -> None:
    expect(broken_csv(tmp_path, writers, rows), "ratings.csv", line, *words)


def test_empty_file(tmp_path, writers) -> None:
    expect(broken_csv(tmp_path, writers, b""), "ratings.csv", 1, "empty file")


def test_integer_scale_layouts(tmp_path, writers) -> None:
    folder = writers["ml-100k"](tmp_path, u_data=["1\t1\t5\t874965758", "1\t2\t6\t876893171"])
    expect(folder, "u.data", 2, "6", "ml-100k scale 1..5")
    folder = writers["ml-100k"](tmp_path / "b", u_data=["1\t1\t3.5\t1"])
    expect(folder, "u.data", 1, "whole stars")


def test_ml100k_wrong_separator(tmp_path, writers) -> None:
    folder = writers["ml-100k"](tmp_path, u_data=["1,1,5,874965758"])
    expect(folder, "u.data", 1, "wrong separator", "tab")


def test_dat_truncated_and_non_numeric(tmp_path, writers) -> None:
    folder = writers["ml-1m"](tmp_path)
    writers["write"](folder / "ratings.dat", ["1::1193::5::978300760", "1::661::3"])
    expect(folder, "ratings.dat", 2, "truncated", "'::'")
    writers["write"](folder / "ratings.dat", ["1::1193::5::978300760", "x::661::3::1"])
    expect(folder, "ratings.dat", 2, "'x'")
    writers["write"](folder / "ratings.dat", ["1\t1193\t5\t978300760"])
    expect(folder, "ratings.dat", 1, "wrong separator")


def test_movies_dat_errors(tmp_path, writers) -> None:
    folder = writers["ml-10m"](tmp_path)
    writers["write"](
        folder / "movies.dat",
        ["8::Amélie (2001)::Comedy", "122::Boomerang (1992)::Comedy", "185::Net, The (1995)"],
    )
    expect(folder, "movies.dat", 3, "truncated", "expected 3")
    writers["write"](folder / "movies.dat", ["8::Amélie (2001)::Comedy", "x::Boomerang::Comedy"])
    expect(folder, "movies.dat", 2, "'x'", "movie_id")


def test_movies_csv_errors(tmp_path, writers) -> None:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    writers["write"](
        folder / "movies.csv",
        ["movieId,title,genres", "1,Toy Story (1995),Comedy", "three,Heat (1995),Action"],
        eol="\r\n",
    )
    expect(folder, "movies.csv", 3, "'three'")
    writers["write"](
        folder / "movies.csv",
        ["movieId,title,genres", "1,Toy Story (1995),Comedy", "1,Heat (1995),Action"],
        eol="\r\n",
    )
    expect(folder, "movies.csv", 3, "duplicated movie id 1")
    writers["write"](folder / "movies.csv", ["movieId,title", "1,Toy Story (1995)"], eol="\r\n")
    expect(folder, "movies.csv", 1, "missing column", "genres")


def test_kaggle_bad_datetime(tmp_path, writers) -> None:
    folder = writers["kaggle"](tmp_path)
    writers["write"](
        folder / "rating.csv",
        [HEADER, "1,2,3.5,2005-04-02 23:53:47", "1,29,3.5,2005-13-45 99:00:00"],
    )
    expect(folder, "rating.csv", 3, "timestamp", "2005-13-45")


def test_tag_genome_bad_json_line(tmp_path, writers) -> None:
    folder = writers["csv"](tmp_path, "ml-25m", genome=False)
    tg = writers["tag-genome"](folder)
    with open(tg / "reviews.json", "a") as f:
        f.write('{"item_id": 3, "txt": "unterminated\n')
    expect(folder, "reviews.json", 4, "invalid JSON")


def test_errors_inside_zip_name_the_member(tmp_path, writers) -> None:
    folder = broken_csv(tmp_path / "src", writers, [HEADER, "1,1,4.0,1", "1,3,9.0,2"])
    archive = tmp_path / "broken.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"ml-latest/{f.name}")
    err = expect(archive, "ml-latest/ratings.csv", 3, "outside")
    assert "broken.zip" in err.path


def test_not_movielens(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataFormatError, match="no MovieLens layout"):
        load(tmp_path)
    with pytest.raises(DataFormatError, match="no such file or folder"):
        load(tmp_path / "missing" / "folder")
