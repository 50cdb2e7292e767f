"""Readers for MovieLens layouts (PROVISIONAL: ml-latest-small style only; being generalised)."""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset, IdMap, empty_tags
from reelrank.errors import DataFormatError

logger = logging.getLogger(__name__)

_YEAR = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


def bundled_path() -> Path:
    """Folder of the ml-latest-small copy shipped inside the package."""
    return Path(str(resources.files("reelrank.data") / "bundled" / "ml-latest-small"))


def detect_layout(path: str | Path) -> str:
    """Name of the MovieLens layout found at ``path``."""
    path = Path(path)
    if (path / "ratings.csv").exists():
        return "ml-latest-small"
    raise DataFormatError(path, "no MovieLens layout detected")


def split_title(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split 'Title (1995)' into title and nullable Int32 year, vectorised."""
    t = titles.fillna("").astype(str).str.strip()
    year = t.str.extract(_YEAR, expand=False)
    clean = t.str.replace(_YEAR, "", regex=True).str.strip()
    return clean, pd.to_numeric(year, errors="coerce").astype("Int32")


def load(source: str | Path | None = None) -> Dataset:
    """Load a MovieLens dataset (``None``: the bundled ml-latest-small)."""
    path = Path(source) if source is not None else bundled_path()
    ratings = pd.read_csv(path / "ratings.csv", dtype={"userId": np.int64, "movieId": np.int64})
    movies = pd.read_csv(path / "movies.csv")
    tags = pd.read_csv(path / "tags.csv") if (path / "tags.csv").exists() else None
    items = IdMap(np.sort(movies["movieId"].to_numpy()), name="movie")
    movies = movies.set_index("movieId").loc[items.values].reset_index()
    title, year = split_title(movies["title"])
    genres = movies["genres"].fillna("").str.split("|")
    genres = genres.map(lambda g: [x for x in g if x and x != "(no genres listed)"])
    movie_table = pd.DataFrame(
        {"movie_id": movies["movieId"], "title": title, "year": year, "genres": genres}
    )
    users = IdMap(np.unique(ratings["userId"].to_numpy()), name="user")
    frame = pd.DataFrame(
        {
            "user_idx": users.index(ratings["userId"].to_numpy()),
            "item_idx": items.index(ratings["movieId"].to_numpy()),
            "rating": ratings["rating"].to_numpy(np.float32),
            "timestamp": ratings["timestamp"].to_numpy(np.int64),
        }
    )
    tag_table = empty_tags()
    if tags is not None:
        tag_table = pd.DataFrame(
            {
                "user_id": tags["userId"].to_numpy(np.int64),
                "item_idx": items.index(tags["movieId"].to_numpy()),
                "tag": tags["tag"].astype(str),
                "timestamp": tags["timestamp"].to_numpy(np.int64),
            }
        )
    return Dataset.from_frame(
        frame, users, items, movie_table, tags=tag_table, layout="ml-latest-small",
        name=path.name, rating_scale=(0.5, 5.0),
    )
