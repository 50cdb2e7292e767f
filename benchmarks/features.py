"""Feature-building speed: bundled data (embeddings cold and warm) and an ML-32M-shaped catalogue.

Usage::

    python benchmarks/features.py [--skip-bundled] [--skip-large] [--all-embeddings]

Targets (issue 3): bundled full build with embeddings not cached <= 90 s, warm cache <= 5 s;
87,585 movies with 2 million tag rows, genres + tags + TF-IDF <= 60 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np
import pandas as pd

from reelrank.data import load
from reelrank.data.dataset import Dataset, IdMap
from reelrank.features import build_item_features

GENRES = np.array(
    "Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir "
    "Horror IMAX Musical Mystery Romance Sci-Fi Thriller War Western".split()
)


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 10, n)
    chars = letters[rng.integers(0, 26, lengths.sum())]
    cuts = np.cumsum(lengths)[:-1]
    return np.array(["".join(w) for w in np.split(chars, cuts)], dtype=object)


def synthetic_catalogue(
    n_movies: int = 87_585, n_tag_rows: int = 2_000_000, seed: int = 0
) -> Dataset:
    """An ML-32M-shaped catalogue: titles, years, 1-4 genres, Zipf-distributed user tags."""
    rng = np.random.default_rng(seed)
    vocab = _words(rng, 20_000)
    n_words = rng.integers(1, 5, n_movies)
    word_idx = rng.integers(0, len(vocab), n_words.sum())
    owner = np.repeat(np.arange(n_movies), n_words)
    titles = pd.Series(vocab[word_idx]).groupby(owner).agg(" ".join).str.title()
    n_genres = rng.integers(0, 5, n_movies)
    genre_owner = np.repeat(np.arange(n_movies), n_genres)
    genre_names = pd.Series(GENRES[rng.integers(0, len(GENRES), n_genres.sum())])
    per_movie = genre_names.groupby(genre_owner).agg(lambda s: sorted(set(s)))
    genres = pd.Series([[] for _ in range(n_movies)], dtype=object)
    genres.iloc[per_movie.index.to_numpy()] = per_movie.to_numpy()
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_movies + 1),
            "title": titles.to_numpy(dtype=object),
            "year": pd.array(rng.integers(1900, 2024, n_movies), dtype="Int32"),
            "genres": genres,
        }
    )
    tag_vocab = np.array(
        [" ".join(p) for p in zip(vocab[:60_000:2], vocab[1:60_000:2], strict=False)]
    )
    tag_vocab = np.concatenate([vocab[:40_000], tag_vocab]).astype(object)
    variants = np.stack(
        [tag_vocab, pd.Series(tag_vocab).str.title().to_numpy(), tag_vocab + " ", "  " + tag_vocab]
    )
    tag_code = np.minimum(rng.zipf(1.3, n_tag_rows) - 1, len(tag_vocab) - 1)
    variant = rng.integers(0, 4, n_tag_rows)
    item_idx = np.minimum(rng.zipf(1.2, n_tag_rows) - 1, n_movies - 1)
    item_idx = rng.permutation(n_movies)[item_idx]
    tags = pd.DataFrame(
        {
            "user_id": rng.integers(1, 25_000, n_tag_rows).astype(np.int64),
            "item_idx": item_idx.astype(np.int64),
            "tag": variants[variant, tag_code],
            "timestamp": rng.integers(1_100_000_000, 1_700_000_000, n_tag_rows),
        }
    )
    items = IdMap(movies["movie_id"].to_numpy(), name="movie")
    users = IdMap(np.array([1]), name="user")
    return Dataset.from_arrays(
        np.array([0]), np.array([0]), np.array([4.0]), np.array([1_500_000_000]),
        users=users, items=items, movies=movies, tags=tags, name="ml-32m-shaped",
    )  # fmt: skip


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def bench_bundled(all_embeddings: bool) -> None:
    ds = load()
    blocks = {"embedding:all"} if all_embeddings else {"embedding"}
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        f = build_item_features(ds, blocks=blocks, cache_dir=cache)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_item_features(ds, blocks=blocks, cache_dir=cache)
        warm = time.perf_counter() - t0
    print(f"bundled ({ds.n_items} movies, blocks {sorted(blocks)}):")
    print(f"  families {f.families()}, tf-idf {f.meta['tfidf_vocabulary']} terms")
    print(f"  dense {f.meta['dense_blocks']}")
    print(f"  stages (cold) {f.meta['seconds']}")
    print(f"  cold cache: {cold:6.1f} s   (target <= 90 s)")
    print(f"  warm cache: {warm:6.2f} s   (target <= 5 s)")


def bench_large() -> None:
    t0 = time.perf_counter()
    ds = synthetic_catalogue()
    print(f"ml-32m-shaped: generated {ds.n_items} movies, {len(ds.tags)} tag rows "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    t0 = time.perf_counter()
    f = build_item_features(ds)
    took = time.perf_counter() - t0
    print(f"  families {f.families()}, tf-idf {f.meta['tfidf_vocabulary']} terms, "
          f"{f.meta['n_tag_assignments']} (movie, tag) pairs")  # fmt: skip
    print(f"  stages {f.meta['seconds']}")
    print(
        f"  genres + tags + TF-IDF: {took:6.1f} s   (target <= 60 s); peak RSS {_rss_gb():.2f} GB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-bundled", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--all-embeddings", action="store_true")
    args = parser.parse_args()
    print(f"cpus visible: {os.cpu_count()} (shared machine: figures include contention)")
    if not args.skip_bundled:
        bench_bundled(args.all_embeddings)
    if not args.skip_large:
        bench_large()


if __name__ == "__main__":
    main()
