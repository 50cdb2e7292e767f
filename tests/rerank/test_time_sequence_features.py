"""Known answers for the hybrid's time and sequence pair features."""

from __future__ import annotations

import numpy as np
import pytest
from tests.rerank.conftest import build

from reelrank.models.pair_features import PairFeaturizer, UserHistory, _most_recent

DAY = 86_400
T2000 = 946_684_800  # 2000-01-01
T2010 = 1_262_304_000  # 2010-01-01


def _dataset():
    """Users 0-4 rate in 2000 (movies 0-2), users 5-9 in 2010 (movies 3-5).

    User 10 rated movies 0, 1 in 2000 and, last, movie 3 in 2010: movie 4 co-occurs with
    movie 3 (users 5-9 rated 3 and 4 together), movie 2 with movies 0 and 1.
    """
    rows, items, ts = [], [], []
    for u in range(5):
        for k, i in enumerate((0, 1, 2)):
            rows.append(u), items.append(i), ts.append(T2000 + u * DAY + k * 3600)
    for u in range(5, 10):
        for k, i in enumerate((3, 4, 5)):
            rows.append(u), items.append(i), ts.append(T2010 + u * DAY + k * 3600)
    for k, (i, t) in enumerate(((0, T2000), (1, T2000 + DAY), (3, T2010 + 20 * DAY))):
        rows.append(10), items.append(i), ts.append(t + k)
    u, i, t = (np.asarray(x, dtype=np.int64) for x in (rows, items, ts))
    r = np.full(len(u), 4.0, np.float32)
    genres = [["Drama"]] * 6
    return build(u, i, r, t, 11, 6, genres)


def _features(ds, users, items):
    pf = PairFeaturizer(seq_neighbours=5).fit(ds, None)
    hist = UserHistory.from_dataset(ds).rows(np.asarray(users))
    row = np.arange(len(users))
    return pf, pf.transform(hist, row, np.asarray(items))


def test_movies_rated_when_the_user_was_active_have_the_larger_share():
    ds = _dataset()
    # user 0 (active in 2000): movie 2 (rated in 2000) vs movie 5 (first rated in 2010)
    _, f = _features(ds, [0, 0], [2, 5])
    assert f["item_share_365d"][0] > 0 and f["item_share_365d"][1] == 0
    assert f["item_share_weeks"][0] > f["item_share_weeks"][1]
    assert f["item_share_span"][0] > f["item_share_span"][1]
    # movie 5 appeared about ten years after user 0's last rating
    assert f["item_first_gap"][1] == pytest.approx(3653 + 5, abs=2)
    assert f["item_first_gap"][0] < 0


def test_sequence_features_follow_the_latest_movies():
    ds = _dataset()
    # user 10's latest movie is 3: its co-rated movie 4 beats movie 2 on the last one ...
    _, f = _features(ds, [10, 10], [4, 2])
    assert f["seq_sim_3"][0] > 0
    # ... but over the last three, movie 2 (co-rated with 0 and 1) counts too
    assert f["seq_sim_3"][1] > 0
    pf = PairFeaturizer(seq_neighbours=5).fit(ds, None)
    hist = UserHistory.from_dataset(ds).rows(np.asarray([10]))
    assert _most_recent(hist, 1).indices.tolist() == [3]
    one = (_most_recent(hist, 1) @ pf.seq_sim_).toarray()[0]
    assert one[4] > 0 and one[2] == 0


def test_new_users_without_timestamps_act_at_the_end_of_the_data():
    ds = _dataset()
    pf = PairFeaturizer(seq_neighbours=5).fit(ds, None)
    ratings = ds.interactions[[10]].tocsr()
    hist = UserHistory(ratings=ratings, recency=None, last_ts=np.full(1, np.nan))
    f = pf.transform(hist, np.zeros(2, np.int64), np.asarray([4, 2]))
    for name, values in f.items():
        if name.startswith(("item_share", "item_first", "seq_sim")):
            assert np.isfinite(values).all(), name
    # "now" is 2010: the 2010 movie is the one people were rating
    assert f["item_share_365d"][0] > f["item_share_365d"][1]


def test_state_round_trip_and_older_states_without_the_new_features():
    ds = _dataset()
    pf = PairFeaturizer(seq_neighbours=5).fit(ds, None)
    hist = UserHistory.from_dataset(ds)
    row, items = np.arange(11), np.arange(11) % 6
    want = pf.transform(hist, row, items)
    state = pf.state()
    assert all(np.isfinite(v).all() for v in state.values() if v.dtype.kind == "f")
    again = PairFeaturizer(seq_neighbours=5)
    again.restore(state, None)
    got = again.transform(hist, row, items)
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, equal_nan=True)
    # an artifact written before these features: they are simply not computed
    old = {k: v for k, v in state.items() if not k.startswith(("pf_time", "pf_seq", "pf_week"))}
    old = {k: v for k, v in old.items() if k not in ("pf_item_first_day", "pf_day0", "pf_day_cum")}
    legacy = PairFeaturizer()
    legacy.restore(old, None)
    names = legacy.names()
    assert "seq_sim_3" not in names and "item_share_30d" not in names
    assert set(legacy.transform(hist, row, items)) == set(names)


def test_a_new_users_disliked_movie_does_not_pull_its_neighbours_up():
    ds = _dataset()
    pf = PairFeaturizer(seq_neighbours=5).fit(ds, None)
    ratings = ds.interactions[[10]].tocsr().astype(np.float32)
    ratings.data[:] = [5.0, 5.0, 1.0]  # liked movies 0 and 1, disliked movie 3
    hist = UserHistory(ratings=ratings, recency=None, last_ts=np.full(1, np.nan))
    f = pf.transform(hist, np.zeros(2, np.int64), np.asarray([4, 2]))
    assert f["seq_sim_10"][0] == 0  # movie 4 is only movie 3's neighbour
    assert f["seq_sim_10"][1] > 0  # movie 2 is the liked movies' neighbour


def test_big_catalogues_leave_the_sequence_features_out():
    ds = _dataset()
    pf = PairFeaturizer(seq_max_items=5).fit(ds, None)  # 6 movies > 5
    assert pf.seq_sim_ is None
    assert not any(n.startswith("seq_sim") for n in pf.names())
    assert "item_share_weeks" in pf.names()
