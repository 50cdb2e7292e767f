"""Synthetic MovieLens-shaped data with a planted structure (ML-32M layout).

:func:`synthesize` writes ``ratings.csv``, ``movies.csv`` and ``tags.csv`` exactly as the
ml-32m release does (CRLF, same headers, ratings ``0.5``..``5.0`` in halves) with:

* long-tailed movie popularity (Zipf-like) and user activity (log-normal, every user at
  least 20 ratings when ``n_ratings >= 20 * n_users``);
* a planted latent taste structure: users and movies have ``k``-dimensional factors; users
  belong to taste clusters whose members pick movies close to the cluster's taste more often
  (so *which* movies a user rates carries signal, as top-N recommenders need) and rate them
  from the latent affinity plus noise (so the rating values carry signal too);
* genres derived from the movie factors (so content and collaborative signals agree);
* timestamps spread over years, each user active over a window of their own.

Everything is vectorised with numpy and written in chunks with :mod:`pyarrow.csv`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

__all__ = ["GENRES", "synthesize"]

#: the MovieLens genre vocabulary used for synthetic movies
GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

_TAG_WORDS = (
    "atmospheric",
    "funny",
    "dark",
    "twist ending",
    "visually appealing",
    "thought-provoking",
    "based on a book",
    "classic",
    "slow",
    "great soundtrack",
    "violent",
    "feel-good",
    "quirky",
    "philosophical",
    "romantic",
    "cult film",
)

_MIN_PER_USER = 20
_N_FACTORS = 8
_N_CLUSTERS = 24
_FIRST_TS = 820_454_400  # 1996-01-01
_LAST_TS = 1_697_155_200  # 2023-10-13
_CHUNK = 2_000_000
_TASTE_STRENGTH = 3.0  # how strongly taste tilts which movies a user picks (logit scale)
_RATING_LABELS = pa.array([f"{v / 2:.1f}" for v in range(11)], type=pa.string())


def _user_counts(rng: np.random.Generator, n_users: int, n_items: int, n_ratings: int):
    """Ratings per user: log-normal activity, >= 20 when possible, capped, summing exactly."""
    cap = max(1, min(n_items, int(0.6 * n_items)))
    if n_ratings > n_users * cap:
        raise ValueError(
            f"n_ratings={n_ratings} too large: at most {cap} distinct movies per user "
            f"({n_users * cap} ratings in all)"
        )
    floor = min(_MIN_PER_USER, n_ratings // n_users, cap)
    weights = rng.lognormal(mean=0.0, sigma=1.3, size=n_users)
    counts = np.full(n_users, floor, dtype=np.int64)
    extra = n_ratings - floor * n_users
    while extra > 0:  # spread `extra` by weight under the cap (largest remainder method)
        room = cap - counts
        w = np.where(room > 0, weights, 0.0)
        exact = extra * w / w.sum()
        share = np.minimum(np.floor(exact).astype(np.int64), room)
        left = extra - int(share.sum())
        if left > 0:
            frac = np.where(room - share > 0, exact - np.floor(exact), -1.0)
            top = np.argsort(-frac, kind="stable")[:left]
            top = top[frac[top] >= 0]
            share[top] += 1
        counts += share
        extra -= int(share.sum())
    return counts


def _item_distributions(
    rng: np.random.Generator, item_factors: np.ndarray, centers: np.ndarray
) -> np.ndarray:
    """Per-cluster cumulative item distributions: Zipf popularity x exp(taste affinity)."""
    n_items = len(item_factors)
    ranks = rng.permutation(n_items) + 1
    popularity = 1.0 / ranks.astype(np.float64) ** 1.05
    affinity = centers @ item_factors.T  # (clusters, items)
    logits = np.log(popularity)[None, :] + _TASTE_STRENGTH * affinity
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return np.cumsum(p, axis=1)


def _sorted_union(sorted_keys: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Sorted unique union; ``sorted_keys`` must already be sorted and unique.

    A stable sort (timsort) of two concatenated sorted runs is a linear merge, far cheaper
    than ``np.union1d`` re-sorting (or hashing) everything each round.
    """
    merged = np.concatenate([sorted_keys, np.sort(new)])
    merged.sort(kind="stable")
    keep = np.ones(len(merged), dtype=bool)
    keep[1:] = merged[1:] != merged[:-1]
    return merged[keep]


def _sample_pairs(
    rng: np.random.Generator,
    counts: np.ndarray,
    cluster: np.ndarray,
    cdf: np.ndarray,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Unique (user, item) pairs, ``counts[u]`` per user, sorted by user then item."""
    n_users, n_items = len(counts), cdf.shape[1]
    n_clusters = cdf.shape[0]
    flat_cdf = (cdf + np.arange(n_clusters)[:, None]).ravel()  # one sorted array
    keys = np.empty(0, dtype=np.int64)
    need = counts.copy()
    bar = tqdm(total=int(counts.sum()), desc="sampling pairs", disable=not progress)
    for round_ in range(12):
        users = np.repeat(np.arange(n_users, dtype=np.int64), need)
        if len(users) == 0:
            break
        if round_ < 6:  # taste- and popularity-weighted draws
            draws = cluster[users] + rng.random(len(users))
            items = np.searchsorted(flat_cdf, draws) - cluster[users] * n_items
            items = np.clip(items, 0, n_items - 1)
        else:  # heavy users exhaust the head: fill the rest uniformly
            items = rng.integers(0, n_items, len(users))
        before = len(keys)
        keys = _sorted_union(keys, users * n_items + items)
        bar.update(len(keys) - before)
        have = np.bincount(keys // n_items, minlength=n_users)
        need = counts - have
    if need.any():  # deterministic top-up for the few users still short
        extra = []
        for u in np.flatnonzero(need):
            own = keys[(keys // n_items) == u] % n_items
            free = np.setdiff1d(np.arange(n_items), own)[: need[u]]
            extra.append(u * n_items + free)
        keys = _sorted_union(keys, np.concatenate(extra))
        bar.update(int(sum(len(e) for e in extra)))
    bar.close()
    return keys // n_items, keys % n_items


def _genres(rng: np.random.Generator, item_factors: np.ndarray) -> list[str]:
    """``"A|B"`` genre strings driven by the item factors (1-3 genres each)."""
    n_items, k = item_factors.shape
    directions = rng.normal(size=(len(GENRES), k))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    scores = item_factors @ directions.T + 0.3 * rng.normal(size=(n_items, len(GENRES)))
    order = np.argsort(-scores, axis=1)[:, :3]
    top = np.take_along_axis(scores, order, axis=1)
    keep = np.ones_like(top, dtype=bool)
    keep[:, 1:] = top[:, 1:] > 0.6 * np.abs(top[:, :1])
    names = np.asarray(GENRES, dtype=object)[order]
    names[~keep] = ""
    joined = pc.binary_join_element_wise(
        *(pa.array(names[:, j].tolist(), type=pa.string()) for j in range(3)), "|"
    )
    return pc.replace_substring_regex(
        pc.replace_substring_regex(joined, r"\|+$", ""), r"\|\|+", "|"
    ).to_pylist()


def _write_header(path: Path, header: str) -> None:
    path.write_bytes((header + "\r\n").encode())


def _append_csv(path: Path, table: pa.Table) -> None:
    with open(path, "ab") as f:
        pacsv.write_csv(
            table,
            f,
            write_options=pacsv.WriteOptions(
                include_header=False, eol="\r\n", batch_size=65536, quoting_style="none"
            ),
        )


def synthesize(
    out_dir: str | Path,
    *,
    n_users: int,
    n_items: int,
    n_ratings: int,
    n_tags: int = 0,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Write a synthetic dataset in the ml-32m layout.

    Parameters
    ----------
    out_dir
        Folder to write ``ratings.csv``, ``movies.csv`` and ``tags.csv`` into (created).
    n_users, n_items, n_ratings
        Sizes. Every user rates at least 20 movies when ``n_ratings >= 20 * n_users``; some
        movies may end up unrated, as in MovieLens.
    n_tags
        Number of tag applications (on rated pairs).
    seed
        Random seed; the same seed writes byte-identical files.
    progress
        Show progress bars.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    ValueError
        If the sizes are not positive or more ratings are asked than distinct pairs allow.

    Examples
    --------
    >>> import tempfile
    >>> from reelrank.data.movielens import load
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ds = load(synthesize(d, n_users=50, n_items=80, n_ratings=1500, progress=False))
    >>> ds.n_interactions
    1500
    """
    if min(n_users, n_items, n_ratings) <= 0 or n_tags < 0:
        raise ValueError("n_users, n_items and n_ratings must be positive, n_tags >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    counts = _user_counts(rng, n_users, n_items, n_ratings)
    centers = rng.normal(size=(_N_CLUSTERS, _N_FACTORS)) / np.sqrt(_N_FACTORS)
    cluster = rng.integers(0, _N_CLUSTERS, n_users)
    user_factors = centers[cluster] + 0.5 * rng.normal(size=(n_users, _N_FACTORS)) / np.sqrt(
        _N_FACTORS
    )
    item_factors = rng.normal(size=(n_items, _N_FACTORS)) / np.sqrt(_N_FACTORS) * 1.5
    user_bias = rng.normal(0.0, 0.35, n_users)
    item_bias = rng.normal(0.0, 0.4, n_items)
    # sparse movie ids, like MovieLens (ids grow over time and have gaps)
    movie_ids = np.sort(rng.choice(max(n_items, int(n_items * 3.3)), n_items, replace=False)) + 1
    year_span = np.clip(rng.beta(5.0, 1.6, n_items) * 104 + 1920, 1920, 2023).astype(np.int64)
    cdf = _item_distributions(rng, item_factors, centers)
    user_idx, item_idx = _sample_pairs(rng, counts, cluster, cdf, progress)
    logger.info("sampled %d unique pairs", len(user_idx))

    # movies.csv
    titles = pc.binary_join_element_wise(
        "Synthetic Movie ",
        pa.array(movie_ids.astype(str).tolist()),
        " (",
        pa.array(year_span.astype(str).tolist()),
        ")",
        "",
    )
    movies = pa.table(
        {
            "movieId": pa.array(movie_ids, pa.int64()),
            "title": titles,
            "genres": _genres(rng, item_factors),
        }
    )
    _write_header(out / "movies.csv", "movieId,title,genres")
    _append_csv(out / "movies.csv", movies)

    # ratings.csv, in chunks (sorted by user then movie, like MovieLens)
    start = rng.integers(_FIRST_TS, _LAST_TS - 86_400, n_users)
    span = np.minimum(rng.exponential(2 * 365 * 86_400, n_users), _LAST_TS - start).astype(np.int64)
    ratings_path = out / "ratings.csv"
    _write_header(ratings_path, "userId,movieId,rating,timestamp")
    bar = tqdm(total=len(user_idx), desc="writing ratings.csv", disable=not progress)
    ts_all = np.empty(len(user_idx), dtype=np.int64)
    for lo in range(0, len(user_idx), _CHUNK):
        u = user_idx[lo : lo + _CHUNK]
        i = item_idx[lo : lo + _CHUNK]
        affinity = np.einsum("nk,nk->n", user_factors[u], item_factors[i])
        score = 3.5 + user_bias[u] + item_bias[i] + 1.2 * affinity + rng.normal(0, 0.5, len(u))
        halves = np.clip(np.rint(score * 2), 1, 10).astype(np.int32)
        ts = start[u] + (rng.random(len(u)) * (span[u] + 1)).astype(np.int64)
        ts_all[lo : lo + len(u)] = ts
        rating = pc.cast(
            pa.DictionaryArray.from_arrays(pa.array(halves), _RATING_LABELS), pa.string()
        )
        chunk = pa.table(
            {
                "userId": pa.array(u + 1, pa.int64()),
                "movieId": pa.array(movie_ids[i], pa.int64()),
                "rating": rating,
                "timestamp": pa.array(ts, pa.int64()),
            }
        )
        _append_csv(ratings_path, chunk)
        bar.update(len(u))
    bar.close()

    # tags.csv: tag applications on rated pairs, words tied to the movie's strongest factor
    _write_header(out / "tags.csv", "userId,movieId,tag,timestamp")
    if n_tags:
        pick = rng.integers(0, len(user_idx), n_tags)
        pick.sort()
        strongest = np.argmax(item_factors[item_idx[pick]], axis=1)
        word = (strongest * 2 + rng.integers(0, 2, n_tags)) % len(_TAG_WORDS)
        tags = pa.table(
            {
                "userId": pa.array(user_idx[pick] + 1, pa.int64()),
                "movieId": pa.array(movie_ids[item_idx[pick]], pa.int64()),
                "tag": pa.array(np.asarray(_TAG_WORDS, dtype=object)[word].tolist(), pa.string()),
                "timestamp": pa.array(ts_all[pick] + rng.integers(0, 3600, n_tags), pa.int64()),
            }
        )
        _append_csv(out / "tags.csv", tags)
    logger.info(
        "synthesized %d users, %d movies, %d ratings, %d tags in %s",
        n_users,
        n_items,
        len(user_idx),
        n_tags,
        out,
    )
    return out
