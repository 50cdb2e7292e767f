"""A small ml-100k folder in the exact file layout, with u1..u5 and ua/ub split files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
N_USERS, N_ITEMS = 60, 40


def _write(path: Path, lines: list[str], encoding: str = "ascii") -> None:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def _lines(frame: pd.DataFrame) -> list[str]:
    cols = [
        frame[c].astype(int).astype(str) for c in ("user_id", "movie_id", "rating", "timestamp")
    ]
    return (cols[0] + "\t" + cols[1] + "\t" + cols[2] + "\t" + cols[3]).tolist()


def make_ml100k(root: Path, seed: int = 3) -> Path:
    """Two taste groups (Comedy / Drama movies); users rate mostly their group's movies high.

    Every user has >= 15 ratings, so ua/ub (10 test ratings per user in the real files, 3
    here) and u1..u5 (5 folds over u.data) are well defined.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, N_USERS + 1):
        group = u % 2
        own = np.arange(1 + group, N_ITEMS + 1, 2)  # odd movies group 0, even group 1
        other = np.arange(2 - group, N_ITEMS + 1, 2)
        items = np.r_[rng.choice(own, 12, replace=False), rng.choice(other, 4, replace=False)]
        ratings = np.r_[rng.integers(4, 6, 12), rng.integers(1, 3, 4)]
        ts = (
            880_000_000 + rng.permutation(10**4)[: len(items)] * 1000
        )  # liked and disliked interleaved
        rows.append(
            pd.DataFrame({"user_id": u, "movie_id": items, "rating": ratings, "timestamp": ts})
        )
    data = pd.concat(rows, ignore_index=True)
    data = data.iloc[rng.permutation(len(data))].reset_index(drop=True)  # file order is random
    folder = root / "ml-100k"
    folder.mkdir(parents=True)
    _write(folder / "u.data", _lines(data))
    items = []
    for m in range(1, N_ITEMS + 1):
        flags = ["0"] * 19
        flags[GENRES.index("Comedy" if m % 2 else "Drama")] = "1"
        title = "Café Society (1995)" if m == 3 else f"Film {m} (19{50 + m})"
        items.append(f"{m}|{title}|01-Jan-1995||http://us.imdb.com/M/x{m}|" + "|".join(flags))
    _write(folder / "u.item", items, encoding="latin-1")
    _write(folder / "u.genre", [f"{g}|{k}" for k, g in enumerate(GENRES)] + [""])
    _write(
        folder / "u.user", [f"{u}|{20 + u % 40}|M|writer|0{u:04d}" for u in range(1, N_USERS + 1)]
    )
    fold = np.arange(len(data)) % 5
    for i in range(5):
        for suffix, part in (("base", data[fold != i]), ("test", data[fold == i])):
            _write(folder / f"u{i + 1}.{suffix}", _lines(part.sort_values(["user_id", "movie_id"])))
    pos = data.groupby("user_id").cumcount()
    for name, mask in (("ua", pos < 3), ("ub", (pos >= 3) & (pos < 6))):
        for suffix, part in (("base", data[~mask]), ("test", data[mask])):
            _write(folder / f"{name}.{suffix}", _lines(part.sort_values(["user_id", "movie_id"])))
    return folder


@pytest.fixture(scope="session")
def ml100k_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the generated ml-100k folder (shared by the session)."""
    return make_ml100k(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def ml100k(ml100k_dir: Path):
    """The generated ml-100k folder, loaded."""
    from reelrank.data import load

    return load(ml100k_dir)
