"""Readers for every MovieLens layout, detected automatically from a folder or a ``.zip``.

Supported layouts (:func:`detect_layout` names them):

``ml-100k``
    ``u.data`` (tab: user item rating timestamp), ``u.item`` (``|``, latin-1, 19 genre
    flags), ``u.genre``, ``u.user``; plus the predefined splits ``u1..u5`` / ``ua`` / ``ub``
    (:func:`read_predefined_split`).
``ml-1m``
    ``ratings.dat``, ``movies.dat``, ``users.dat`` (``::``-separated, latin-1).
``ml-10m``
    ``ratings.dat``, ``movies.dat``, ``tags.dat`` (``::``-separated, UTF-8).
``ml-20m``, ``ml-25m``, ``ml-32m``, ``ml-latest``, ``ml-latest-small``
    ``ratings.csv``, ``movies.csv``, ``tags.csv``, ``links.csv`` and, when present,
    ``genome-scores.csv`` / ``genome-tags.csv`` (CRLF, quoted titles). A CSV folder whose
    name is none of these is reported as ``movielens-csv``.
``kaggle-ml-20m``
    ``rating.csv``, ``movie.csv``, ``tag.csv``, ``link.csv``, ``genome_scores.csv``,
    ``genome_tags.csv`` with ISO datetime timestamps.

Tag Genome 2021 JSON lines (``metadata_updated.json``, ``reviews.json``, ``tags.json``) are
joined by movie id when found in the folder or in a sub-folder.

The readers live beside this module, one per layout family (``readers_100k``, ``readers_dat``,
``readers_csv``, ``tag_genome``), on the shared CSV machinery of ``_tables`` and the
defensive file access of ``_source``; this module detects the layout and assembles the
:class:`~reelrank.data.dataset.Dataset`. Bad input raises
:class:`~reelrank.errors.DataFormatError` naming the file and the line.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from reelrank.data._source import _open_source, _Source
from reelrank.data._tables import (
    _INTEGER_SCALE,
    _check_scale,
    _index_ids,
    _Ratings,
    _ratings_from_table,
    _read_table,
    split_title,
)
from reelrank.data.dataset import Dataset, IdMap, empty_tags
from reelrank.data.readers_100k import (
    _ml100k_ratings_spec,
    _read_movies_100k,
    _read_user_info_100k,
    read_predefined_split,
)
from reelrank.data.readers_csv import (
    _CSV_RATINGS,
    _KAGGLE_RATINGS,
    _read_genome,
    _read_links,
    _read_movies_csv,
    _read_tags_csv,
)
from reelrank.data.readers_dat import (
    _dat_ratings_spec,
    _read_movies_dat,
    _read_tags_dat,
    _read_user_info_1m,
)
from reelrank.data.tag_genome import _find_tag_genome, _join_tag_genome
from reelrank.errors import DataFormatError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "KNOWN_LAYOUTS",
    "bundled_path",
    "detect_layout",
    "load",
    "read_predefined_split",
    "split_title",
]


DEFAULT_CACHE_DIR = Path("~/.cache/reelrank")


KNOWN_LAYOUTS = (
    "ml-100k",
    "ml-1m",
    "ml-10m",
    "ml-20m",
    "ml-25m",
    "ml-32m",
    "ml-latest",
    "ml-latest-small",
    "kaggle-ml-20m",
    "movielens-csv",
)


_FETCHABLE = (
    "ml-100k",
    "ml-1m",
    "ml-10m",
    "ml-20m",
    "ml-25m",
    "ml-32m",
    "ml-latest-small",
    "ml-latest",
)


_CSV_NAMES = ("ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest")


def bundled_path() -> Path:
    """Folder of the ml-latest-small copy shipped inside the package."""
    return Path(str(resources.files("reelrank.data") / "bundled" / "ml-latest-small"))


def _layout_of(src: _Source) -> str:
    names = src.names()
    folder = src.folder_name.lower()
    if "u.data" in names:
        return "ml-100k"
    if "ratings.dat" in names:
        if "users.dat" in names or folder == "ml-1m":
            return "ml-1m"
        return "ml-10m"
    if "rating.csv" in names and "ratings.csv" not in names:
        return "kaggle-ml-20m"
    if "ratings.csv" in names:
        for name in _CSV_NAMES:
            if folder == name:
                return name
        return "movielens-csv"
    raise DataFormatError(src.display(""), "no MovieLens layout detected")


def detect_layout(path: str | Path) -> str:
    """Name of the MovieLens layout found at ``path`` (a folder or a ``.zip``).

    Parameters
    ----------
    path
        Folder (or a parent of a single data folder) or ``.zip`` archive.

    Returns
    -------
    str
        One of :data:`KNOWN_LAYOUTS`.

    Raises
    ------
    DataFormatError
        If no MovieLens files are found.
    """
    with _open_source(Path(path)) as src:
        return _layout_of(src)


def resolve_source(source: str | Path | None, cache_dir: str | Path | None = None) -> Path:
    """The path that ``source`` designates.

    ``None`` is the bundled ml-latest-small; an existing path is itself; otherwise a name
    such as ``"ml-100k"`` designates its folder in the download cache.

    Raises
    ------
    DataFormatError
        If ``source`` is neither an existing path nor a fetched dataset name.
    """
    if source is None:
        return bundled_path()
    path = Path(source).expanduser()
    if path.exists():
        return path
    cache = Path(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR).expanduser()
    cached = cache / str(source)
    if "/" not in str(source) and cached.is_dir():
        return cached
    if str(source) in _FETCHABLE:
        msg = f"dataset not fetched yet into {cache} (run `reelrank data fetch {source}`)"
    else:
        msg = "no such file or folder"
    raise DataFormatError(path, msg)


def _read_ratings(src: _Source, layout: str) -> _Ratings:
    if layout == "ml-100k":
        name, spec, cols = "u.data", _ml100k_ratings_spec(), None
    elif layout in ("ml-1m", "ml-10m"):
        encoding = "latin-1" if layout == "ml-1m" else "utf8"
        name, spec, cols = "ratings.dat", _dat_ratings_spec(encoding), None
    elif layout == "kaggle-ml-20m":
        name, spec = "rating.csv", _KAGGLE_RATINGS
        cols = ("userId", "movieId", "rating", "timestamp")
    else:
        name, spec = "ratings.csv", _CSV_RATINGS
        cols = ("userId", "movieId", "rating", "timestamp")
    table = _read_table(src, name, spec)
    cols = cols or ("user_id", "movie_id", "rating", "timestamp")
    return _ratings_from_table(table, cols, src.display(name), 1 if spec.header else 0)


def _read_user_info(src: _Source, layout: str) -> pd.DataFrame | None:
    if layout == "ml-100k":
        return _read_user_info_100k(src)
    if layout == "ml-1m":
        return _read_user_info_1m(src)
    return None


def _read_tags(src: _Source, layout: str) -> tuple[pd.DataFrame, str] | None:
    """Raw tags (user_id, movie_id, tag, timestamp) and the file they came from."""
    if layout == "ml-10m":
        return _read_tags_dat(src)
    if layout in ("ml-100k", "ml-1m"):
        return None
    return _read_tags_csv(src, layout)


def _sort_and_deduplicate(
    user_idx: np.ndarray, item_idx: np.ndarray, timestamp: np.ndarray, n_items: int
) -> tuple[np.ndarray | None, int]:
    """Order putting pairs in (user, item) order, keeping each pair's latest rating.

    The latest is the highest timestamp; among equal timestamps, the last in the file.
    Returns ``(None, 0)`` when the input is already strictly sorted (MovieLens files are
    sorted by user then movie): one O(n) check, no sort. Otherwise ``(order, n_dropped)``.
    """
    key = user_idx.astype(np.int64) * n_items + item_idx
    if len(key) < 2 or bool(np.all(key[1:] > key[:-1])):
        return None, 0
    order = np.argsort(key, kind="stable")
    ks = key[order]
    if not bool((ks[1:] == ks[:-1]).any()):
        return order, 0
    # duplicates: order by (key, timestamp, file position) and keep each key's last
    order = np.lexsort((np.arange(len(key)), timestamp, key))
    ks = key[order]
    last = np.ones(len(ks), dtype=bool)
    last[:-1] = ks[1:] != ks[:-1]
    return order[last], int(len(key) - last.sum())


def load(
    source: str | Path | None = None,
    *,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """Load any MovieLens dataset into a :class:`~reelrank.data.dataset.Dataset`.

    Parameters
    ----------
    source
        A folder (or the parent of a single data folder), a ``.zip`` archive, or the name of
        a dataset fetched into the cache (``"ml-100k"``). ``None``: the bundled
        ml-latest-small.
    progress
        Show a progress bar over the loading stages.
    cache_dir
        Download cache used to resolve dataset names (default ``~/.cache/reelrank``).

    Returns
    -------
    Dataset
        The ratings as a users x items CSR matrix, the whole movie catalogue, tags, and
        whatever metadata the layout has (genome, people, reviews, user info).
        ``info`` holds ``source_path`` and ``duplicates_dropped``.

    Raises
    ------
    DataFormatError
        If a file is malformed (the message names the file and the line), if ``source``
        does not exist, or if it holds no MovieLens layout.

    Examples
    --------
    >>> ds = load()
    >>> ds.n_interactions
    100836
    """
    path = resolve_source(source, cache_dir)
    with _open_source(path) as src:
        layout = _layout_of(src)
        return _load_from(src, path, layout, progress)


def _load_from(src: _Source, path: Path, layout: str, progress: bool) -> Dataset:
    scale = (1.0, 5.0) if layout in _INTEGER_SCALE else (0.5, 5.0)
    info: dict[str, Any] = {"source_path": str(path.resolve())}
    bar = tqdm(total=5, desc=f"loading {layout}", disable=not progress, unit="step")

    # 1. ratings (the big file)
    r = _read_ratings(src, layout)
    _check_scale(r, layout, scale)
    bar.update()

    # 2. movie catalogue
    if layout == "ml-100k":
        movies = _read_movies_100k(src)
    elif layout in ("ml-1m", "ml-10m"):
        movies = _read_movies_dat(src, "latin-1" if layout == "ml-1m" else "utf8")
    else:
        name = "movie.csv" if layout == "kaggle-ml-20m" else "movies.csv"
        if not src.has(name):
            raise DataFormatError(src.display(name), "movie table not found")
        movies = _read_movies_csv(src, name)
    links = _read_links(src, "link.csv" if layout == "kaggle-ml-20m" else "links.csv")
    if links is not None:
        movies = movies.merge(links, on="movie_id", how="left")
    bar.update()

    # 3. ids -> indices; rated movies missing from the table join the catalogue
    catalogue = np.sort(movies["movie_id"].to_numpy(dtype=np.int64))
    movie_ids, item_idx = _index_ids(r.movie_id, catalogue)
    if (item_idx < 0).any():
        extra = np.unique(r.movie_id[item_idx < 0]).astype(np.int64)
        logger.warning(
            "%d rated movie id(s) missing from the movie table (e.g. %s); added untitled",
            len(extra),
            extra[:5].tolist(),
        )
        info["movies_added"] = len(extra)
        movies = pd.concat(
            [
                movies,
                pd.DataFrame(
                    {
                        "movie_id": extra,
                        "title": [f"Unknown movie {m}" for m in extra.tolist()],
                        "year": pd.array([None] * len(extra), dtype="Int32"),
                        "genres": pd.Series([[] for _ in range(len(extra))], dtype=object),
                    }
                ),
            ],
            ignore_index=True,
        )
        catalogue = np.sort(movies["movie_id"].to_numpy(dtype=np.int64))
        movie_ids, item_idx = _index_ids(r.movie_id, catalogue)
    movies = movies.set_index("movie_id").loc[movie_ids].reset_index()
    movies["year"] = movies["year"].astype("Int32")
    items = IdMap(movie_ids, name="movie")
    user_ids, user_idx = _index_ids(r.user_id)
    users = IdMap(user_ids, name="user")
    bar.update()

    # 4. duplicates, then the CSR
    order, dropped = _sort_and_deduplicate(user_idx, item_idx, r.timestamp, len(items))
    rating, timestamp = r.rating, r.timestamp
    info["duplicates_dropped"] = dropped
    if dropped:
        logger.warning("%s: %d duplicated (user, movie) ratings dropped", r.path, dropped)
    if order is not None:
        user_idx, item_idx = user_idx[order], item_idx[order]
        rating, timestamp = rating[order], timestamp[order]
        del order
    del r

    # 5. metadata
    tags = empty_tags()
    raw_tags = _read_tags(src, layout)
    if raw_tags is not None:
        frame, tag_path = raw_tags
        known = items.contains(frame["movie_id"].to_numpy())
        if not known.all():
            logger.warning("%s: %d tags on unknown movies dropped", tag_path, (~known).sum())
            info["tags_dropped"] = int((~known).sum())
        frame = frame[known]
        tags = pd.DataFrame(
            {
                "user_id": frame["user_id"].to_numpy(dtype=np.int64),
                "item_idx": items.index(frame["movie_id"].to_numpy()),
                "tag": pd.Series(frame["tag"].to_numpy(dtype=object), dtype=object),
                "timestamp": frame["timestamp"].to_numpy(dtype=np.int64),
            }
        )
    genome = _read_genome(src, layout, items)
    user_info = _read_user_info(src, layout)
    if user_info is not None:
        user_info = (
            user_info.drop_duplicates("user_id")
            .set_index("user_id")
            .reindex(users.values)
            .reset_index()
        )
    people = reviews = None
    tg = _find_tag_genome(src)
    if tg is not None:
        movies, people, reviews = _join_tag_genome(tg, movies, items, info)
    bar.update()

    dataset = Dataset.from_arrays(
        user_idx,
        item_idx,
        rating,
        timestamp,
        users=users,
        items=items,
        movies=movies,
        tags=tags,
        genome=genome,
        people=people,
        reviews=reviews,
        user_info=user_info,
        rating_scale=scale,
        layout=layout,
        name=src.folder_name or path.name,
        info=info,
        presorted=True,
    )
    bar.update()
    bar.close()
    logger.info("loaded %r from %s", dataset, path)
    return dataset
