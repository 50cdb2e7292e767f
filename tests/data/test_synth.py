"""synthesize(): shape, determinism, long tails and a planted structure models can find."""

from __future__ import annotations

import numpy as np
import pytest

from reelrank.data.movielens import load
from reelrank.data.synth import synthesize


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return synthesize(
        out, n_users=400, n_items=2000, n_ratings=24_000, n_tags=200, seed=3, progress=False
    )


def test_layout_and_counts(synth_dir) -> None:
    ds = load(synth_dir)
    assert ds.n_interactions == 24_000 and ds.n_users == 400 and ds.n_items == 2000
    assert len(ds.tags) == 200
    assert ds.user_counts().min() >= 20
    assert ds.info["duplicates_dropped"] == 0  # unique (user, movie) pairs
    halves = ds.ratings * 2
    assert np.array_equal(halves, np.round(halves))
    assert ds.ratings.min() >= 0.5 and ds.ratings.max() <= 5.0
    span_years = (ds.timestamps.max() - ds.timestamps.min()) / (365 * 86400)
    assert span_years > 10
    raw = (synth_dir / "ratings.csv").read_bytes()
    assert raw.startswith(b"userId,movieId,rating,timestamp\r\n")
    first = raw.split(b"\r\n")[1].split(b",")
    assert b"." in first[2]  # ratings written "4.0" like MovieLens
    title = ds.movies["title"].iloc[0]
    assert title.startswith("Synthetic Movie ") and ds.movies["year"].notna().all()
    assert ds.movies["genres"].str.len().min() >= 1


def test_long_tails(synth_dir) -> None:
    ds = load(synth_dir)
    items = np.sort(ds.item_counts())[::-1]
    top10 = items[: len(items) // 10].sum() / items.sum()
    assert top10 > 0.3  # the head 10% of movies gets a large share of the ratings
    users = np.sort(ds.user_counts())[::-1]
    assert users[0] > 5 * np.median(users)


def test_same_seed_same_bytes(tmp_path, synth_dir) -> None:
    again = synthesize(
        tmp_path, n_users=400, n_items=2000, n_ratings=24_000, n_tags=200, seed=3, progress=False
    )
    for name in ("ratings.csv", "movies.csv", "tags.csv"):
        assert (again / name).read_bytes() == (synth_dir / name).read_bytes()
    other = synthesize(
        tmp_path / "o", n_users=400, n_items=2000, n_ratings=24_000, seed=4, progress=False
    )
    assert (other / "ratings.csv").read_bytes() != (synth_dir / "ratings.csv").read_bytes()


def test_planted_structure_beats_popularity(synth_dir) -> None:
    """Item-item co-occurrence predicts held-out movies better than popularity alone."""
    ds = load(synth_dir)
    x = ds.binary().tocsr()
    rng = np.random.default_rng(0)
    hits_cf = hits_pop = 0
    rows = x.tolil().rows
    pop = np.asarray(x.sum(axis=0)).ravel()
    for u in range(ds.n_users):
        items = np.array(rows[u])
        held = rng.choice(items)
        known = items[items != held]
        train_row = np.zeros(ds.n_items)
        train_row[known] = 1
        co = x[:, known].sum(axis=1).A.ravel()  # users who share movies with u
        scores_cf = (x.T @ (co * (co > 0))) / np.maximum(pop, 1) ** 0.5
        scores_cf[known] = -np.inf
        scores_pop = pop.astype(float) - np.where(train_row > 0, np.inf, 0)
        scores_pop[held] = pop[held] - 1  # do not count the held-out rating itself
        hits_cf += held in np.argsort(-scores_cf)[:20]
        hits_pop += held in np.argsort(-scores_pop)[:20]
    assert hits_cf > 1.2 * hits_pop, (hits_cf, hits_pop)


def test_rejects_impossible_sizes(tmp_path) -> None:
    with pytest.raises(ValueError, match="too large"):
        synthesize(tmp_path, n_users=2, n_items=10, n_ratings=100, progress=False)
    with pytest.raises(ValueError):
        synthesize(tmp_path, n_users=0, n_items=10, n_ratings=10, progress=False)
