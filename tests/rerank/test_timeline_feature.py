"""Known answers for the timeline co-occurrence and the hybrid's ``timeline_sim`` feature."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from tests.rerank.conftest import build

from reelrank.models.hybrid_config import HybridConfig
from reelrank.models.pair_features import PairFeaturizer, UserHistory
from reelrank.models.timeline import timeline_cooccurrence, top_per_row

T0 = 1_000_000_000


def _timelines(seqs: list[list[int]], n_items: int, *, shuffle_storage: bool = False):
    """Each user rates the movies of their list in that order, one hour apart."""
    rows, items, ts = [], [], []
    for u, seq in enumerate(seqs):
        for k, i in enumerate(seq):
            rows.append(u), items.append(i), ts.append(T0 + u * 86_400 + k * 3600)
    u, i, t = (np.asarray(x, dtype=np.int64) for x in (rows, items, ts))
    if shuffle_storage:  # the stored order is by movie, not by time
        order = np.lexsort((-i, u))
        u, i, t = u[order], i[order], t[order]
    r = np.full(len(u), 4.0, np.float32)
    return build(u, i, r, t, len(seqs), n_items, [["Drama"]] * n_items)


def _counts(m: sp.csr_matrix, counts: np.ndarray, shrinkage: float = 10.0) -> np.ndarray:
    """Undo the normalisation: the raw pair counts."""
    dense = m.toarray().astype(np.float64)
    return np.rint(dense * (np.sqrt(np.outer(counts, counts)) + shrinkage)).astype(int)


def test_pairs_are_counted_in_rating_time_order_within_the_window():
    # user 0 rates 0, 3, 1, 2 in that order (stored by movie index: 0, 1, 2, 3)
    ds = _timelines([[0, 3, 1, 2], [0, 3]], 4, shuffle_storage=True)
    m = timeline_cooccurrence(ds, window=1)
    c = _counts(m, ds.item_counts())
    want = np.zeros((4, 4), int)
    for a, b, n in ((0, 3, 2), (3, 1, 1), (1, 2, 1)):
        want[a, b] = want[b, a] = n
    np.testing.assert_array_equal(c, want)
    # window 2 adds the pairs two positions apart: (0, 1) and (3, 2)
    c2 = _counts(timeline_cooccurrence(ds, window=2), ds.item_counts())
    assert c2[0, 1] == c2[1, 0] == 1 and c2[3, 2] == 1 and c2[0, 2] == 0
    assert (np.diag(c2) == 0).all()
    assert m.dtype == np.float32


def test_shrinkage_divides_by_the_popularity_of_both_movies():
    ds = _timelines([[0, 1], [0, 1], [0, 2]], 3)
    m = timeline_cooccurrence(ds, window=1, shrinkage=10.0).toarray()
    # movie 0 rated 3 times, movie 1 twice: 2 / (sqrt(6) + 10)
    assert m[0, 1] == pytest.approx(2 / (np.sqrt(6) + 10), rel=1e-6)
    assert m[0, 2] == pytest.approx(1 / (np.sqrt(3) + 10), rel=1e-6)
    np.testing.assert_allclose(m, m.T)


def test_chunked_counting_gives_the_same_matrix():
    rng = np.random.default_rng(3)
    seqs = [list(rng.choice(30, size=12, replace=False)) for _ in range(40)]
    ds = _timelines(seqs, 30)
    whole = timeline_cooccurrence(ds, window=4)
    chunked = timeline_cooccurrence(ds, window=4, chunk_pairs=7)
    assert (whole != chunked).nnz == 0


def test_the_cap_keeps_each_movies_strongest_neighbours():
    rng = np.random.default_rng(4)
    seqs = [list(rng.choice(20, size=10, replace=False)) for _ in range(60)]
    ds = _timelines(seqs, 20)
    full = timeline_cooccurrence(ds, window=3)
    capped = timeline_cooccurrence(ds, window=3, max_entries=20 * 4)
    assert capped.nnz <= 20 * 4
    for i in range(20):
        row = full.getrow(i).toarray().ravel()
        kept = capped.getrow(i)
        assert kept.nnz == min(4, (row > 0).sum())
        # every kept value is at least every dropped one
        dropped = np.setdiff1d(np.flatnonzero(row), kept.indices)
        if len(dropped):
            assert kept.data.min() >= row[dropped].max()
        np.testing.assert_allclose(kept.data, row[kept.indices])


def test_top_per_row_breaks_ties_by_column():
    m = sp.csr_matrix(np.asarray([[0, 2, 2, 2, 1], [5, 0, 0, 0, 0]], np.float32))
    top = top_per_row(m, 2).toarray()
    np.testing.assert_array_equal(top, [[0, 2, 2, 0, 0], [5, 0, 0, 0, 0]])


def _history_dataset():
    """Users 0-5 rate movie 0 right before movie 1 and, much later, movie 2.

    Movies 1 and 2 co-occur with movie 0 in the same users' profiles, but only movie 1 sits
    next to it in their timelines. User 6 rated only movie 0.
    """
    seqs = [[0, 1, 3, 4, 5, 6, 7, 8, 2] for _ in range(6)] + [[0]]
    return _timelines(seqs, 9)


def test_the_feature_ranks_the_movie_rated_next_to_the_users_movie_first():
    ds = _history_dataset()
    pf = PairFeaturizer(seq_neighbours=5, timeline_window=1).fit(ds, None)
    hist = UserHistory.from_dataset(ds).rows(np.asarray([6]))
    f = pf.transform(hist, np.zeros(2, np.int64), np.asarray([1, 2]))
    assert f["timeline_sim"][0] > 0 and f["timeline_sim"][1] == 0
    assert "timeline_sim" in pf.names() and "timeline_sim_urel" in pf.names()
    assert f["timeline_sim_urel"][0] > f["timeline_sim_urel"][1]
    # window 0 turns it off
    off = PairFeaturizer(seq_neighbours=5, timeline_window=0).fit(ds, None)
    assert off.timeline_sim_ is None and "timeline_sim" not in off.names()


def test_a_new_users_disliked_movie_does_not_pull_its_timeline_neighbours_up():
    ds = _history_dataset()
    pf = PairFeaturizer(seq_neighbours=5, timeline_window=1).fit(ds, None)
    # fold-in (no timestamps): disliked movie 0, liked movie 5
    ratings = sp.csr_matrix(
        (np.asarray([1.0, 5.0], np.float32), np.asarray([0, 5]), np.asarray([0, 2])),
        shape=(1, 9),
    )
    before = ratings.copy()
    hist = UserHistory(ratings=ratings, recency=None, last_ts=np.full(1, np.nan))
    f = pf.transform(hist, np.zeros(2, np.int64), np.asarray([1, 6]))
    assert f["timeline_sim"][0] == 0  # movie 1 is the disliked movie's neighbour
    assert f["timeline_sim"][1] > 0  # movie 6 follows the liked movie 5
    # the user's ratings are left as they were
    assert (ratings != before).nnz == 0 and ratings.nnz == 2


def test_state_round_trip_and_older_states_without_the_timeline():
    ds = _history_dataset()
    pf = PairFeaturizer(seq_neighbours=5, timeline_window=2).fit(ds, None)
    hist = UserHistory.from_dataset(ds)
    row, items = np.arange(7), np.arange(7) % 9
    want = pf.transform(hist, row, items)
    state = pf.state()
    assert "pf_timeline_indptr" in state
    again = PairFeaturizer()
    again.restore(state, None)
    got = again.transform(hist, row, items)
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    # an artifact written before the timeline feature: it is simply not computed
    legacy = PairFeaturizer()
    legacy.restore({k: v for k, v in state.items() if not k.startswith("pf_timeline")}, None)
    assert "timeline_sim" not in legacy.names() and "seq_sim_3" in legacy.names()
    assert set(legacy.transform(hist, row, items)) == set(legacy.names())


def test_big_catalogues_leave_the_timeline_out_and_the_config_checks_the_window():
    ds = _history_dataset()
    pf = PairFeaturizer(seq_max_items=5).fit(ds, None)  # 9 movies > 5
    assert pf.timeline_sim_ is None and "timeline_sim" not in pf.names()
    with pytest.raises(ValueError, match="timeline_window"):
        HybridConfig(timeline_window=-1).validate()
    with pytest.raises(ValueError, match="window"):
        timeline_cooccurrence(ds, window=0)


def test_pair_values_of_a_product_are_the_same_in_row_blocks():
    from reelrank.models.pair_features import _product_at

    rng = np.random.default_rng(5)
    left = sp.random(23, 17, density=0.3, format="csr", random_state=1, dtype=np.float32)
    right = sp.random(17, 19, density=0.3, format="csr", random_state=2, dtype=np.float32)
    row, item = rng.integers(0, 23, 200), rng.integers(0, 19, 200)
    want = (left @ right).toarray()[row, item]
    np.testing.assert_array_equal(_product_at(left, right, row, item), want)
    # blocks of 2 rows (38 cells)
    np.testing.assert_array_equal(_product_at(left, right, row, item, max_cells=38), want)
