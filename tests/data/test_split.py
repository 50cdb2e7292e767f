"""Splitters: invariants, known answers (Microsoft Recommenders, cornac), leakage rules."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from reelrank.data.dataset import Dataset, IdMap
from reelrank.data.split import (
    METHODS,
    Split,
    cold_item_split,
    cold_user_split,
    kfold,
    leave_last_k_out,
    leave_one_out,
    random_split,
    split,
    temporal_split,
    time_cutoff_split,
)
from reelrank.errors import ConfigError, ReelrankError

T0 = 1_000_000_000


def build(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    timestamp: np.ndarray,
    *,
    n_users: int,
    n_items: int,
    rating: np.ndarray | None = None,
    tags: pd.DataFrame | None = None,
) -> Dataset:
    """A dataset with user ids 101.. and movie ids 1001.. (so ids differ from indices)."""
    users = IdMap(np.arange(101, 101 + n_users), name="user")
    items = IdMap(np.arange(1001, 1001 + n_items), name="movie")
    movies = pd.DataFrame(
        {
            "movie_id": items.values,
            "title": [f"Movie {i}" for i in range(n_items)],
            "year": pd.array([2000] * n_items, dtype="Int32"),
            "genres": [["Drama"]] * n_items,
        }
    )
    if rating is None:
        rating = np.full(len(user_idx), 4.0, dtype=np.float32)
    kwargs = {"tags": tags} if tags is not None else {}
    return Dataset.from_arrays(
        user_idx, item_idx, rating, timestamp, users=users, items=items, movies=movies,
        layout="synthetic", name="synthetic", **kwargs,
    )  # fmt: skip


@pytest.fixture
def ds() -> Dataset:
    """40 users x 60 items, 5..30 ratings per user, random timestamps (with ties)."""
    rng = np.random.default_rng(7)
    rows, cols = [], []
    for u in range(40):
        n = int(rng.integers(5, 31))
        rows.append(np.full(n, u))
        cols.append(rng.choice(60, n, replace=False))
    u, i = np.concatenate(rows), np.concatenate(cols)
    ts = T0 + rng.integers(0, 50, len(u)) * 86400  # few distinct days: many ties
    r = rng.integers(1, 6, len(u)).astype(np.float32)
    return build(u, i, ts, n_users=40, n_items=60, rating=r)


def keys(part: Dataset) -> np.ndarray:
    return part.user_index_of_entries() * part.n_items + part.interactions.indices


ALL_METHODS = {
    "random": {"val_ratio": 0.1},
    "stratified-user": {"val_ratio": 0.1},
    "stratified-item": {},
    "temporal": {"val_ratio": 0.1},
    "leave-last-k": {"k": 2, "val_k": 1},
    "leave-one-out": {"val": True},
    "time-cutoff": {"test_start": 0.8, "val_start": 0.7},
    "kfold": {"k": 4, "fold": 1},
    "cold-items": {"val_ratio": 0.1},
    "cold-users": {"val_ratio": 0.1},
}


def test_every_method_is_covered() -> None:
    assert set(ALL_METHODS) | {"predefined"} == set(METHODS)


@pytest.mark.parametrize("method", sorted(ALL_METHODS))
def test_partition_and_shared_maps(ds: Dataset, method: str) -> None:
    s = split(ds, method, **ALL_METHODS[method])
    assert s.method == method
    all_keys = np.concatenate([keys(p) for p in s.parts().values()])
    # every rating in exactly one part, none invented
    assert len(all_keys) == ds.n_interactions
    assert np.array_equal(np.sort(all_keys), np.sort(keys(ds)))
    assert len(s.train.interactions.data) > 0 and s.test.n_interactions > 0
    for part in s.parts().values():
        assert part.users is ds.users and part.items is ds.items and part.movies is ds.movies
        # ratings and timestamps travel with their (user, item) pair
        frame = part.to_frame().merge(ds.to_frame(), on=["user_idx", "item_idx"])
        assert (frame["rating_x"] == frame["rating_y"]).all()
        assert (frame["timestamp_x"] == frame["timestamp_y"]).all()
    assert np.array_equal(s.test_users(), np.flatnonzero(s.test.user_counts() > 0))
    json.dumps(s.params)  # params are JSON-serialisable


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("random", {}),
        ("stratified-user", {}),
        ("stratified-item", {}),
        ("kfold", {"fold": 0}),
        ("cold-items", {}),
        ("cold-users", {}),
    ],
)
def test_seeded(ds: Dataset, method: str, params: dict) -> None:
    a = split(ds, method, seed=1, **params)
    b = split(ds, method, seed=1, **params)
    c = split(ds, method, seed=2, **params)
    assert np.array_equal(keys(a.test), keys(b.test))
    assert not np.array_equal(keys(a.test), keys(c.test))


# ---------------------------------------------------------------------------- random
def msrec_reference(frame: pd.DataFrame, ratio: float | list, by: str, seed: int) -> list:
    """Microsoft Recommenders' ``_do_stratification`` (is_random=True), as they wrote it."""
    if isinstance(ratio, list):
        if math.fsum(ratio) != 1.0:
            ratio = [x / math.fsum(ratio) for x in ratio]
    else:
        ratio = [ratio, 1 - ratio]
    data = frame.copy()
    np.random.seed(seed)  # noqa: NPY002 - reproducing their legacy global-state draws
    data["random"] = np.random.rand(data.shape[0])  # noqa: NPY002
    data = data.sort_values([by, "random"])
    groups = data.groupby(by)
    data["count"] = groups[by].transform("count")
    data["rank"] = (groups.cumcount() + 1) / data["count"]
    out, prev = [], None
    for threshold in np.cumsum(ratio):
        cond = data["rank"] <= threshold
        if prev is not None:
            cond &= data["rank"] > prev
        out.append(data[cond])
        prev = threshold
    return out


def file_frame(ds: Dataset, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """The ratings in a shuffled 'file order', and row_order for :func:`random_split`."""
    order = np.random.default_rng(seed).permutation(ds.n_interactions)
    frame = ds.to_frame().iloc[order].reset_index(drop=True)
    return frame, order  # file line j holds CSR entry order[j]


def pair_set(frame: pd.DataFrame) -> set:
    return set(zip(frame["user_idx"].tolist(), frame["item_idx"].tolist(), strict=True))


def part_set(part: Dataset) -> set:
    return pair_set(part.to_frame())


@pytest.mark.parametrize("by", ["user", "item"])
def test_stratified_matches_microsoft_recommenders(ds: Dataset, by: str) -> None:
    frame, order = file_frame(ds)
    ref_train, ref_test = msrec_reference(frame, 0.75, f"{by}_idx", seed=42)
    s = random_split(ds, test_ratio=0.25, stratify=by, seed=42, row_order=order)
    assert part_set(s.train) == pair_set(ref_train)
    assert part_set(s.test) == pair_set(ref_test)
    # with validation: their ratio list [train, val, test]
    ref = msrec_reference(frame, [0.7, 0.1, 0.2], f"{by}_idx", seed=5)
    s = random_split(ds, test_ratio=0.2, val_ratio=0.1, stratify=by, seed=5, row_order=order)
    assert s.validation is not None
    assert [part_set(s.train), part_set(s.validation), part_set(s.test)] == [
        pair_set(r) for r in ref
    ]


def test_stratified_ratio_holds_per_user(ds: Dataset) -> None:
    s = random_split(ds, test_ratio=0.25, stratify="user", seed=0)
    n = ds.user_counts()
    # rank k/n <= 0.75 is train: floor(0.75 n) train ratings per user (e.g. 4 -> 3 + 1)
    assert np.array_equal(s.train.user_counts(), np.floor(0.75 * n).astype(int))
    assert np.array_equal(s.test.user_counts(), n - np.floor(0.75 * n).astype(int))
    s = random_split(ds, test_ratio=0.25, stratify="item", seed=0)
    m = ds.item_counts()
    assert np.array_equal(s.train.item_counts(), np.floor(0.75 * m + 1e-9).astype(int))


def test_global_random_matches_cornac_ratio_split(ds: Dataset) -> None:
    frame, order = file_frame(ds)
    n = len(frame)
    s = random_split(ds, test_ratio=0.2, val_ratio=0.1, seed=123, row_order=order)
    # cornac RatioSplit: sizes by ceil, permutation of file rows, test = the last ones
    perm = np.random.RandomState(123).permutation(n)
    n_test, n_val = math.ceil(0.2 * n), math.ceil(0.1 * n)
    n_train = n - n_test - n_val
    assert part_set(s.train) == pair_set(frame.iloc[perm[:n_train]])
    assert part_set(s.test) == pair_set(frame.iloc[perm[-n_test:]])
    assert s.validation is not None
    assert part_set(s.validation) == pair_set(frame.iloc[perm[n_train:-n_test]])


def test_random_bad_input(ds: Dataset) -> None:
    with pytest.raises(ConfigError, match="test_ratio"):
        random_split(ds, test_ratio=1.2)
    with pytest.raises(ConfigError, match="below 1"):
        random_split(ds, test_ratio=0.6, val_ratio=0.5)
    with pytest.raises(ConfigError, match="stratify"):
        random_split(ds, stratify="genre")
    with pytest.raises(ConfigError, match="permutation"):
        random_split(ds, row_order=np.zeros(ds.n_interactions, dtype=int))


# ---------------------------------------------------------------------------- time
def per_user_bounds(part: Dataset, how: str) -> np.ndarray:
    frame = part.to_frame()
    agg = frame.groupby("user_idx")["timestamp"].agg(how)
    return agg.reindex(range(part.n_users)).to_numpy(dtype=float)


def test_temporal_order_and_counts(ds: Dataset) -> None:
    s = temporal_split(ds, test_ratio=0.2, val_ratio=0.1)
    assert s.validation is not None
    train_max = per_user_bounds(s.train, "max")
    val_min, val_max = per_user_bounds(s.validation, "min"), per_user_bounds(s.validation, "max")
    test_min = per_user_bounds(s.test, "min")
    assert not (train_max > val_min).any()
    assert not (val_max > test_min).any()
    assert not (train_max > test_min).any()
    n = ds.user_counts()
    assert np.array_equal(s.test.user_counts(), np.floor(n * 0.2 + 0.5 + 1e-9).astype(int))
    assert np.array_equal(s.validation.user_counts(), np.floor(n * 0.1 + 0.5 + 1e-9).astype(int))


def test_temporal_known_answer_and_ties() -> None:
    # user 0: 5 ratings, items 4 and 1 share the latest time -> higher item index is "later"
    # user 1: a single rating stays in train
    u = np.array([0, 0, 0, 0, 0, 1])
    i = np.array([0, 1, 2, 3, 4, 0])
    ts = np.array([10, 50, 30, 20, 50, 99]) + T0
    d = build(u, i, ts, n_users=2, n_items=5)
    s = temporal_split(d, test_ratio=0.2)
    assert part_set(s.test) == {(0, 4)}
    s = temporal_split(d, test_ratio=0.4, val_ratio=0.2)
    assert s.validation is not None
    assert part_set(s.test) == {(0, 4), (0, 1)}
    assert part_set(s.validation) == {(0, 2)}
    assert part_set(s.train) == {(0, 0), (0, 3), (1, 0)}


def test_leave_last_k_and_one_out(ds: Dataset) -> None:
    s = leave_last_k_out(ds, k=2, val_k=1)
    n = ds.user_counts()
    assert np.array_equal(s.test.user_counts(), np.where(n > 3, 2, 0))
    assert s.validation is not None
    assert np.array_equal(s.validation.user_counts(), np.where(n > 3, 1, 0))
    assert not (per_user_bounds(s.train, "max") > per_user_bounds(s.test, "min")).any()

    u = np.array([0, 0, 0, 1])
    d = build(u, np.array([0, 1, 2, 0]), T0 + np.array([3, 1, 2, 0]), n_users=2, n_items=3)
    s = leave_one_out(d)
    assert s.method == "leave-one-out" and s.validation is None
    assert part_set(s.test) == {(0, 0)}  # user 1 has one rating: train only
    s = leave_one_out(d, val=True)
    assert s.validation is not None and part_set(s.validation) == {(0, 2)}
    with pytest.raises(ConfigError):
        leave_last_k_out(d, k=0)


def test_time_cutoff(ds: Dataset) -> None:
    cut = T0 + 30 * 86400
    s = time_cutoff_split(ds, test_start=cut, val_start=T0 + 20 * 86400)
    assert s.validation is not None
    assert (s.test.timestamps >= cut).all() and (s.train.timestamps < T0 + 20 * 86400).all()
    assert s.test.n_interactions == int((ds.timestamps >= cut).sum())
    # quantile fraction and ISO date
    q = time_cutoff_split(ds, test_start=0.8)
    assert q.params["test_start"] == int(np.quantile(ds.timestamps, 0.8, method="lower"))
    assert abs(q.test.n_interactions / ds.n_interactions - 0.2) < 0.05
    iso = time_cutoff_split(ds, test_start="2001-10-09T01:46:40")  # == T0 + 30 days, UTC
    assert iso.params["test_start"] == cut
    assert np.array_equal(keys(iso.test), keys(s.test))
    with pytest.raises(ConfigError, match="no training"):
        time_cutoff_split(ds, test_start=T0)
    with pytest.raises(ConfigError, match="later"):
        time_cutoff_split(ds, test_start=0.5, val_start=0.9)
    with pytest.raises(ConfigError, match="cannot read"):
        time_cutoff_split(ds, test_start="next tuesday")


# ---------------------------------------------------------------------------- k-fold
def test_kfold_covers_everything_once(ds: Dataset) -> None:
    folds = list(kfold(ds, k=4, seed=9))
    assert [f.params["fold"] for f in folds] == [0, 1, 2, 3]
    tests = [keys(f.test) for f in folds]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.sort(keys(ds)))
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1
    for f in folds:
        assert f.train.n_interactions + f.test.n_interactions == ds.n_interactions
    one = split(ds, "kfold", k=4, seed=9, fold=2)
    assert np.array_equal(keys(one.test), tests[2])
    with pytest.raises(ConfigError, match="fold"):
        split(ds, "kfold", k=4, fold=4)
    with pytest.raises(ConfigError, match="k must"):
        list(kfold(ds, k=1))


# ---------------------------------------------------------------------------- cold start
def test_cold_items(ds: Dataset) -> None:
    s = cold_item_split(ds, item_ratio=0.2, min_ratings=5, val_ratio=0.1, seed=0)
    cold = np.array(s.params["cold_item_idx"])
    val_items = np.array(s.params["val_item_idx"])
    eligible = np.flatnonzero(ds.item_counts() >= 5)
    assert len(cold) == round(0.2 * len(eligible)) and len(set(cold) & set(val_items)) == 0
    assert set(cold) <= set(eligible) and set(val_items) <= set(eligible)
    assert (s.train.item_counts()[np.r_[cold, val_items]] == 0).all()
    assert set(np.unique(s.test.interactions.indices)) == set(cold)
    # every rating of a cold item is in test
    assert np.array_equal(s.test.item_counts()[cold], ds.item_counts()[cold])
    assert s.validation is not None
    assert set(np.unique(s.validation.interactions.indices)) == set(val_items)
    with pytest.raises(ConfigError, match="too few"):
        cold_item_split(ds, min_ratings=1000)


def test_cold_users(ds: Dataset) -> None:
    s = cold_user_split(ds, user_ratio=0.25, fold_in_ratio=0.8, val_ratio=0.1, seed=0)
    test_users = np.array(s.params["test_user_idx"])
    val_users = np.array(s.params["val_user_idx"])
    assert len(test_users) == 10 and len(val_users) == 4
    held = np.r_[test_users, val_users]
    assert (s.train.user_counts()[held] == 0).all()
    assert s.fold_in is not None and s.validation is not None
    counts = ds.user_counts()
    # fold_in + scored part = the whole held-out profile; scored = floor(0.2 n)
    assert set(s.test_users()) <= set(test_users)
    assert np.array_equal(
        s.fold_in.user_counts()[held] + s.test.user_counts()[held]
        + s.validation.user_counts()[held],
        counts[held],
    )  # fmt: skip
    assert np.array_equal(
        s.test.user_counts()[test_users], np.floor(counts[test_users] * 0.2 + 1e-9).astype(int)
    )
    assert (s.validation.user_counts()[test_users] == 0).all()
    others = np.setdiff1d(np.arange(ds.n_users), held)
    assert np.array_equal(s.train.user_counts()[others], counts[others])


# ---------------------------------------------------------------------------- tags
def test_tag_leakage_rule() -> None:
    # user 0 rates items 0 (t=1), 1 (t=2), 2 (t=3); user 1 rates item 0 (t=1) and 2 (t=5)
    u = np.array([0, 0, 0, 1, 1])
    i = np.array([0, 1, 2, 0, 2])
    ts = T0 + np.array([1, 2, 3, 1, 5])
    tags = pd.DataFrame(
        {
            "user_id": np.array([101, 101, 102, 102, 999], dtype=np.int64),
            "item_idx": np.array([0, 2, 1, 2, 0], dtype=np.int64),
            "tag": pd.array(["early", "held", "before", "late", "nouser"], dtype=object),
            "timestamp": T0 + np.array([1, 2, 3, 9, 2], dtype=np.int64),
        }
    )
    d = build(u, i, ts, n_users=2, n_items=3, tags=tags)
    s = leave_one_out(d)  # test: (0, 2) and (1, 2); latest train interaction t=2
    assert s.train.tags["tag"].tolist() == ["early", "nouser"]
    # 'held': rating held out; 'before': t=3 > latest train t=2; 'late': both
    assert s.test.tags.equals(d.tags)
    # non-time-based split: only the held-out-pair rule applies
    cold = cold_user_split(d, user_ratio=0.5, fold_in_ratio=0.5, seed=0)
    dropped_user = d.users.ids(cold.params["test_user_idx"])[0]
    assert dropped_user not in set(cold.train.tags["user_id"])
    assert set(cold.train.tags["user_id"]) == {101, 102, 999} - {dropped_user}


def test_cold_items_keep_tags_or_drop_them(bundled: Dataset) -> None:
    # cold-items drops every tag on a held-out movie; cold-items-tags keeps them all (as
    # catalogue metadata) while still holding out every rating of those movies
    dropped = cold_item_split(bundled, item_ratio=0.2, min_ratings=5, val_ratio=0.1, seed=42)
    kept = cold_item_split(
        bundled, item_ratio=0.2, min_ratings=5, val_ratio=0.1, seed=42, keep_tags=True
    )
    held = np.r_[dropped.params["cold_item_idx"], dropped.params["val_item_idx"]]
    assert kept.params["cold_item_idx"] == dropped.params["cold_item_idx"]
    on_held = np.isin(bundled.tags["item_idx"], held)
    assert on_held.sum() > 50  # the bundled data has tags on held-out movies
    assert not np.isin(dropped.train.tags["item_idx"], held).any()
    assert np.isin(kept.train.tags["item_idx"], held).sum() == on_held.sum()
    assert kept.train.n_interactions == dropped.train.n_interactions
    assert not np.isin(kept.train.interactions.indices, held).any()
    # tags on other movies follow the usual rule in both variants
    other_kept = kept.train.tags[~np.isin(kept.train.tags["item_idx"], held)]
    assert other_kept.reset_index(drop=True).equals(dropped.train.tags.reset_index(drop=True))


# ---------------------------------------------------------------------------- dispatcher
def test_dispatcher_errors(ds: Dataset) -> None:
    with pytest.raises(ConfigError, match="unknown split method"):
        split(ds, "bogus")
    with pytest.raises(ConfigError, match="does not take seed"):
        split(ds, "temporal", seed=3)
    with pytest.raises(ReelrankError, match="only for ml-100k"):
        split(ds, "predefined", name="u1")
    with pytest.raises(ConfigError, match="unknown predefined split"):
        split(ds, "predefined", name="u9")
    empty = ds.with_interactions(np.zeros(ds.n_interactions, dtype=bool))
    with pytest.raises(ConfigError, match="no ratings"):
        split(empty, "random")


def test_save_round_trip(ds: Dataset, tmp_path) -> None:
    s = split(ds, "cold-users", val_ratio=0.1, seed=0)
    out = s.save(tmp_path / "out")
    meta = json.loads((out / "split.json").read_text())
    assert meta["method"] == "cold-users"
    assert meta["params"]["test_user_idx"] == s.params["test_user_idx"]
    assert set(meta["parts"]) == {"train", "validation", "test", "fold_in"}
    for name, part in s.parts().items():
        frame = pd.read_parquet(out / f"{name}.parquet")
        assert list(frame.columns) == ["user_id", "movie_id", "rating", "timestamp"]
        expected = part.to_frame(raw_ids=True)
        assert frame["user_id"].tolist() == expected["user_id"].tolist()
        assert frame["movie_id"].tolist() == expected["movie_id"].tolist()
        assert np.array_equal(frame["rating"].to_numpy(), expected["rating"].to_numpy())
        assert meta["parts"][name]["n_ratings"] == len(frame)
    assert not list(tmp_path.glob(".out*"))  # no temp dirs left behind


def test_split_is_frozen(ds: Dataset) -> None:
    s = split(ds, "random")
    assert isinstance(s, Split)
    with pytest.raises(AttributeError):
        s.method = "x"  # type: ignore[misc]


# ---------------------------------------------------------------------------- real data
def test_bundled_temporal(bundled: Dataset) -> None:
    s = temporal_split(bundled, test_ratio=0.2, val_ratio=0.1)
    assert s.train.n_interactions + s.test.n_interactions + s.validation.n_interactions == 100_836
    assert (s.train.user_counts() > 0).sum() == 610  # every user keeps training ratings
    assert abs(s.test.n_interactions / 100_836 - 0.2) < 0.01
    assert not (per_user_bounds(s.train, "max") > per_user_bounds(s.test, "min")).any()
    assert len(s.train.tags) < len(bundled.tags) and s.test.tags is bundled.tags
    latest_train = s.train.timestamps.max()
    assert (s.train.tags["timestamp"] <= latest_train).all()


@pytest.mark.slow
def test_temporal_split_speed_1m() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, n = 10_000, 5_000, 1_000_000
    keys_ = np.unique(rng.integers(0, n_users * n_items, int(n * 1.01)))[:n]
    d = build(
        keys_ // n_items, keys_ % n_items, T0 + rng.integers(0, 10**8, len(keys_)),
        n_users=n_users, n_items=n_items,
    )  # fmt: skip
    start = time.perf_counter()
    s = temporal_split(d, test_ratio=0.2, val_ratio=0.1)
    elapsed = time.perf_counter() - start
    assert s.train.n_interactions + s.test.n_interactions > 0.85 * len(keys_)
    assert elapsed < 10, f"temporal split of 1M ratings took {elapsed:.1f}s"
