"""Training pairs of the hybrid: time hold-out, labels, negatives, group sizes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reelrank.data.split import temporal_split
from reelrank.models import create_model
from reelrank.models.candidates import parse_generators
from reelrank.models.rerank import _random_negatives, holdout_mask


def _codes(u: np.ndarray, i: np.ndarray, n_items: int) -> np.ndarray:
    return np.asarray(u, np.int64) * n_items + np.asarray(i, np.int64)


def test_holdout_mask_takes_each_users_latest(planted):
    mask = holdout_mask(planted, 0.25, 5)
    frame = planted.to_frame()
    frame["hold"] = mask
    for _, g in frame.groupby("user_idx"):
        n_hold = int(np.ceil(len(g) * 0.25))
        assert g["hold"].sum() == n_hold
        # every held-out rating is later than every kept one
        assert g.loc[g["hold"], "timestamp"].min() > g.loc[~g["hold"], "timestamp"].max()


def test_holdout_mask_skips_short_histories(planted):
    mask = holdout_mask(planted, 0.25, 10_000)
    assert not mask.any()


def test_parse_generators():
    assert parse_generators("als:200, pop:5") == [("als", 200), ("pop", 5)]


def test_random_negatives_distinct_and_excluded():
    rng = np.random.default_rng(0)
    exclude = sp.random(20, 50, density=0.5, format="csr", random_state=1)
    rows, items = _random_negatives(rng, exclude, 50, 7)
    assert np.bincount(rows, minlength=20).tolist() == [7] * 20
    codes = _codes(rows, items, 50)
    assert len(np.unique(codes)) == len(codes)
    ex = exclude.tocoo()
    assert not np.isin(codes, _codes(ex.row, ex.col, 50)).any()


def test_pairs_labels_come_only_from_the_train_holdout(planted, small_hybrid):
    split = temporal_split(planted, test_ratio=0.2, val_ratio=0.1)
    train, test, val = split.train, split.test, split.validation
    model = create_model("hybrid", **small_hybrid)
    pairs = model.build_pairs(train, None)
    n = planted.n_items
    codes = _codes(pairs["user_idx"], pairs["item_idx"], n)
    tf = test.to_frame()
    vf = val.to_frame()
    held_out_codes = np.concatenate(
        [_codes(tf.user_idx, tf.item_idx, n), _codes(vf.user_idx, vf.item_idx, n)]
    )
    # nothing from validation or test is a labelled positive
    assert not np.isin(codes[pairs["label"].to_numpy() > 0], held_out_codes).any()

    # labels are exactly the inner hold-out of train
    mask = holdout_mask(train, model.config.holdout_ratio, model.config.min_user_interactions)
    fr = train.to_frame()
    lab_codes = _codes(fr.user_idx[mask], fr.item_idx[mask], n)
    hist_codes = _codes(fr.user_idx[~mask], fr.item_idx[~mask], n)
    is_lab = np.isin(codes, lab_codes)
    assert ((pairs["label"].to_numpy() > 0) == is_lab).all()
    # negatives are never positives, and history items are never candidates
    assert not np.isin(codes, hist_codes).any()
    # graded labels: 2 for liked held-out items, 1 for the others
    liked = _codes(fr.user_idx[mask & (fr.rating >= 4)], fr.item_idx[mask & (fr.rating >= 4)], n)
    assert ((pairs["label"].to_numpy() == 2) == np.isin(codes, liked)).all()
    # every held-out item is in the pairs (include_missed_positives)
    assert np.isin(lab_codes, codes).all()


def test_pairs_groups_are_contiguous_users(planted, small_hybrid):
    model = create_model("hybrid", **small_hybrid)
    pairs = model.build_pairs(planted, None)
    grp = pairs["group"].to_numpy()
    assert (np.diff(grp) >= 0).all()
    # one group per user, group sizes = pairs per user
    per_user = pairs.groupby("user_idx").size().to_numpy()
    assert np.bincount(grp).tolist() == per_user.tolist()
    assert pairs.groupby("group")["user_idx"].nunique().max() == 1
    # each user: union of generator candidates (<= 30 + 30) + held-out + 5 random negatives
    n_hold = np.ceil(planted.user_counts() * 0.2)
    assert (per_user <= 60 + n_hold + 5).all()
    random_negs = pairs[~pairs["in_candidates"] & (pairs["label"] == 0)]
    assert random_negs.groupby("user_idx").size().max() <= 5
    # documented feature columns are present
    for col in (
        "itemknn_score",
        "itemknn_rank",
        "pop_z",
        "genre_cos",
        "genre_weight",
        "item_log_count",
        "days_since_last",
        "last_doy_cos",
        "movie_age",
    ):
        assert col in pairs.columns
