"""stratified / msrec-100k against Microsoft Recommenders' own definitions.

The split is pinned row for row against a re-implementation of Recommenders 1.2's
``recommenders.datasets.python_splitters.python_stratified_split(data, ratio=0.75,
filter_by="item", seed=42)`` (``_do_stratification``: ``np.random.seed(seed)``, one
``np.random.rand`` draw per row in the frame's order, ``sort_values([item, random])``,
``rank = (cumcount + 1) / count`` per item, train when ``rank <= 0.75``). The metrics are
checked on hand-computed lists against ``recommenders.evaluation.python_evaluation``:
``precision_at_k`` (hits / k), ``recall_at_k`` (hits / |rel|), ``ndcg_at_k`` (binary
gains, ideal DCG over ``min(|rel|, k)`` items) and ``map`` (AP@k over ``|rel|``, unlike
``map_at_k`` which divides by ``min(|rel|, k)``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reelrank.data import load
from reelrank.evaluate import metrics as M
from reelrank.evaluate import runner as R
from reelrank.evaluate.protocols import get_protocol


def recommenders_stratified_split(
    data: pd.DataFrame, ratio: float = 0.75, filter_by: str = "item", seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recommenders' ``python_stratified_split`` for one float ratio, step by step."""
    data = data.copy()
    split_by = "itemID" if filter_by == "item" else "userID"
    np.random.seed(seed)  # noqa: NPY002 (their legacy global-state draws, on purpose)
    data["random"] = np.random.rand(data.shape[0])  # noqa: NPY002
    data = data.sort_values([split_by, "random"])
    groups = data.groupby(split_by)
    data["count"] = groups[split_by].transform("count")
    data["rank"] = (groups.cumcount() + 1) / data["count"]
    thresholds = np.cumsum([ratio, 1 - ratio])
    train = data[data["rank"] <= thresholds[0]]
    test = data[(data["rank"] > thresholds[0]) & (data["rank"] <= thresholds[1])]
    return train.drop(columns=["random", "count", "rank"]), test.drop(
        columns=["random", "count", "rank"]
    )


def _pairs(frame: pd.DataFrame, user: str, item: str) -> set[tuple[int, int]]:
    return set(zip(frame[user].astype(int), frame[item].astype(int), strict=True))


def _our_pairs(part) -> set[tuple[int, int]]:
    return _pairs(part.to_frame(raw_ids=True), "user_id", "movie_id")


@pytest.mark.parametrize("protocol", ["stratified", "msrec-100k"])
def test_split_row_for_row_bundled(protocol: str) -> None:
    ds = load()
    frame = pd.read_csv(Path(ds.info["source_path"]) / "ratings.csv")
    frame = frame.rename(columns={"userId": "userID", "movieId": "itemID"})
    train, test = recommenders_stratified_split(frame)
    split = get_protocol(protocol).make_splits(ds)[0]
    assert len(train) + len(test) == len(frame)
    assert _our_pairs(split.train) == _pairs(train, "userID", "itemID")
    assert _our_pairs(split.test) == _pairs(test, "userID", "itemID")
    assert split.validation is None


def test_split_row_for_row_ml100k_file_order(ml100k_dir: Path, ml100k) -> None:
    # ml-100k: the draws follow u.data's line order (shuffled in the fixture, as in the real file)
    frame = pd.read_csv(
        ml100k_dir / "u.data", sep="\t", names=["userID", "itemID", "rating", "timestamp"]
    )
    train, test = recommenders_stratified_split(frame)
    split = get_protocol("msrec-100k").make_splits(ml100k)[0]
    assert _our_pairs(split.train) == _pairs(train, "userID", "itemID")
    assert _our_pairs(split.test) == _pairs(test, "userID", "itemID")


def test_candidates_are_train_items_minus_the_users() -> None:
    ds = load()
    proto = get_protocol("stratified")
    fold = R._prepare_fold(proto, proto.make_splits(ds)[0])
    known = np.flatnonzero(fold.fit_train.item_counts() > 0)
    assert np.array_equal(fold.target.candidates, known)
    assert fold.target.exclude is None  # the model's exclude_seen removes all train items
    assert len(known) < ds.n_items  # movies rated once are test-only: never candidates


def _rel(rows: list[list[int]], n_items: int = 30) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


def test_metrics_match_recommenders_definitions_by_hand() -> None:
    k = 10
    # user 0: 3 relevant, hits at ranks 1 and 3; user 1: 12 relevant (more than k), hits at
    # ranks 2, 4, 5; user 2: 1 relevant, missed
    recs = np.array(
        [
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            [0, 11, 1, 12, 13, 2, 3, 4, 5, 6],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        ]
    )
    rel = _rel([[1, 3, 20], [11, 12, 13, *range(14, 23)], [29]])
    # Recommenders: precision = hits / k
    np.testing.assert_allclose(M.precision_at_k(recs, rel, k), [2 / 10, 3 / 10, 0.0])
    # recall = hits / |rel|
    np.testing.assert_allclose(M.recall_at_k(recs, rel, k), [2 / 3, 3 / 12, 0.0])
    # map: sum of precision@rank over hits, divided by |rel| (not min(|rel|, k))
    ap0 = (1 / 1 + 2 / 3) / 3
    ap1 = (1 / 2 + 2 / 4 + 3 / 5) / 12
    np.testing.assert_allclose(M.map_at_k(recs, rel, k, denominator="relevant"), [ap0, ap1, 0])
    # map_at_k divides by min(|rel|, k): differs for user 1 only
    np.testing.assert_allclose(
        M.map_at_k(recs, rel, k, denominator="min"), [ap0, ap1 * 12 / 10, 0.0]
    )

    # ndcg_at_k(score_type="binary", discfun_type="loge"): the log base cancels
    def dcg(ranks: list[int]) -> float:
        return sum(1 / math.log(1 + r) for r in ranks)

    expected = [dcg([1, 3]) / dcg([1, 2, 3]), dcg([2, 4, 5]) / dcg(list(range(1, 11))), 0.0]
    np.testing.assert_allclose(M.ndcg_at_k(recs, rel, k), expected)


def test_stratified_runner_uses_recommenders_map() -> None:
    proto = get_protocol("stratified")
    assert proto.relevance_threshold is None and proto.map_denominator == "relevant"
    assert proto.candidates == "known" and proto.metrics[0] == "ndcg@10"
    assert get_protocol("msrec-100k").metrics[0] == "map@10"
