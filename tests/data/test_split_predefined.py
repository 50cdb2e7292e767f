"""ml-100k's own split files and the source-order random splits, on a tiny ml-100k folder."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reelrank.data import load
from reelrank.data.split import predefined_split, random_split, source_row_order, split
from reelrank.errors import ConfigError, DataFormatError

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
N_USERS, N_ITEMS = 12, 15


def _write(path: Path, lines: list[str], encoding: str = "ascii") -> None:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def _ratings_lines(frame: pd.DataFrame) -> list[str]:
    cols = [
        frame[c].astype(int).astype(str) for c in ("user_id", "movie_id", "rating", "timestamp")
    ]
    return (cols[0] + "\t" + cols[1] + "\t" + cols[2] + "\t" + cols[3]).tolist()


@pytest.fixture
def ml100k(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A ml-100k folder in the exact format; returns it and u.data in file order."""
    rng = np.random.default_rng(11)
    pairs = rng.choice(N_USERS * N_ITEMS, 110, replace=False)
    data = pd.DataFrame(
        {
            "user_id": pairs // N_ITEMS + 1,
            "movie_id": pairs % N_ITEMS + 1,
            "rating": rng.integers(1, 6, len(pairs)),
            "timestamp": 874_965_758 + rng.integers(0, 10**6, len(pairs)),
        }
    )  # already in random (file) order, like the real u.data
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    _write(folder / "u.data", _ratings_lines(data))
    items = []
    for m in range(1, N_ITEMS + 1):
        flags = ["0"] * 19
        flags[m % 19] = "1"
        title = "Café Society (1995)" if m == 3 else f"Film {m} (19{80 + m})"
        items.append(f"{m}|{title}|01-Jan-1995||http://us.imdb.com/M/x{m}|" + "|".join(flags))
    _write(folder / "u.item", items, encoding="latin-1")
    _write(folder / "u.genre", [f"{g}|{k}" for k, g in enumerate(GENRES)] + [""])
    _write(folder / "u.user", [f"{u}|{20 + u}|M|writer|0{u}000" for u in range(1, N_USERS + 1)])
    # u1: every 5th line of u.data is test (files sorted by user, item like the real ones)
    is_test = np.arange(len(data)) % 5 == 0
    for name, mask in (("u1", is_test), ("ua", np.arange(len(data)) % 3 == 0)):
        for suffix, part in (("base", data[~mask]), ("test", data[mask])):
            part = part.sort_values(["user_id", "movie_id"])
            _write(folder / f"{name}.{suffix}", _ratings_lines(part))
    return folder, data


def _pairs_of(part) -> set:
    frame = part.to_frame(raw_ids=True)
    return set(zip(frame["user_id"].tolist(), frame["movie_id"].tolist(), strict=True))


def _file_pairs(path: Path) -> set:
    frame = pd.read_csv(path, sep="\t", header=None, names=["u", "m", "r", "t"])
    return set(zip(frame["u"].tolist(), frame["m"].tolist(), strict=True))


@pytest.mark.parametrize("name", ["u1", "ua"])
def test_predefined_matches_files(ml100k, name: str) -> None:
    folder, _ = ml100k
    ds = load(folder)
    assert ds.layout == "ml-100k"
    s = split(ds, "predefined", name=name)
    assert s.method == "predefined" and s.params == {"name": name}
    assert _pairs_of(s.train) == _file_pairs(folder / f"{name}.base")
    assert _pairs_of(s.test) == _file_pairs(folder / f"{name}.test")
    assert s.train.n_interactions + s.test.n_interactions == ds.n_interactions
    assert s.train.items is ds.items and s.test.users is ds.users


def test_predefined_from_zip(ml100k, tmp_path: Path) -> None:
    folder, _ = ml100k
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"ml-100k/{f.name}")
    ds = load(archive)
    s = predefined_split(ds, "u1")
    assert _pairs_of(s.test) == _file_pairs(folder / "u1.test")
    assert len(source_row_order(ds)) == ds.n_interactions


def test_predefined_errors(ml100k, bundled) -> None:
    folder, _ = ml100k
    ds = load(folder)
    with pytest.raises(DataFormatError, match=r"u2\.base"):
        predefined_split(ds, "u2")  # files missing
    with pytest.raises(ConfigError, match="only for ml-100k"):
        predefined_split(bundled, "u1")
    # a test file naming a rating that u.data does not have: file and line in the message
    lines = (folder / "u1.test").read_text().splitlines()
    lines.insert(2, f"{N_USERS + 5}\t1\t3\t874965758")
    (folder / "u1.test").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=rf"u1\.test, line 3: rating of user {N_USERS + 5}"):
        predefined_split(ds, "u1")
    # a rating listed in both base and test
    lines[2] = (folder / "u1.base").read_text().splitlines()[0]
    (folder / "u1.test").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"u1\.test, line 3: rating listed twice"):
        predefined_split(ds, "u1")


def test_source_row_order_reproduces_file_order(ml100k) -> None:
    folder, data = ml100k
    ds = load(folder)
    order = source_row_order(ds)
    frame = ds.to_frame(raw_ids=True).iloc[order]
    assert frame["user_id"].tolist() == data["user_id"].tolist()
    assert frame["movie_id"].tolist() == data["movie_id"].tolist()


def test_stratified_item_with_source_order_matches_microsoft(ml100k) -> None:
    """The msrec-100k split: python_stratified_split(data, 0.75, filter_by='item', seed=42)."""
    folder, data = ml100k
    ds = load(folder)
    s = random_split(ds, test_ratio=0.25, stratify="item", seed=42, row_order="source")
    assert s.params["row_order"] == "source"
    # their algorithm on u.data in file order
    frame = data.copy()
    frame["random"] = np.random.RandomState(42).rand(len(frame))
    frame = frame.sort_values(["movie_id", "random"])
    groups = frame.groupby("movie_id")
    rank = (groups.cumcount() + 1) / groups["movie_id"].transform("count")
    train = frame[rank <= 0.75]
    expected = set(zip(train["user_id"].tolist(), train["movie_id"].tolist(), strict=True))
    assert _pairs_of(s.train) == expected
    # and differs from drawing in CSR order (so the row order really matters here)
    csr = random_split(ds, test_ratio=0.25, stratify="item", seed=42)
    assert _pairs_of(csr.train) != expected
    # cornac's global RatioSplit, also in file order
    g = random_split(ds, test_ratio=0.2, seed=123, row_order="source")
    perm = np.random.RandomState(123).permutation(len(data))
    test = data.iloc[perm[-math.ceil(0.2 * len(data)) :]]
    assert _pairs_of(g.test) == set(zip(test["user_id"], test["movie_id"], strict=True))


def test_source_row_order_needs_ml100k(bundled) -> None:
    with pytest.raises(ConfigError, match="ml-100k"):
        source_row_order(bundled)
    with pytest.raises(ConfigError, match="row_order"):
        random_split(bundled, row_order="file")
