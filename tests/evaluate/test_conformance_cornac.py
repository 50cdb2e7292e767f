"""cornac-100k against cornac's own code (cornac 3.0.1) on the bundled ml-latest-small.

cornac's ``RatioSplit`` + ``Experiment`` run MostPop and a seeded BPR on the bundled
ratings (as triplets in ``ratings.csv`` order). reelrank's ``cornac-100k`` protocol must
give the same split, the same MostPop metrics and, scoring cornac's own BPR scores through
reelrank's evaluator, the same BPR row: AUC and MAP exactly (both follow cornac's tie rules),
NDCG@10, Precision@10 and Recall@10 to 4 decimals (cornac orders tied scores inside the
top 10 by ``np.argpartition``'s internal order, reelrank by item index; on this data that
moves five users' MostPop lists, by 1e-5 on the means).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from reelrank.data import load
from reelrank.evaluate import runner as R
from reelrank.evaluate.protocols import get_protocol
from reelrank.models.base import ModelConfig, Recommender

cornac = pytest.importorskip("cornac")

pytestmark = pytest.mark.slow

METRICS = {
    "AUC": "auc",
    "MAP": "map",
    "NDCG@10": "ndcg@10",
    "Precision@10": "precision@10",
    "Recall@10": "recall@10",
}
EXACT = {"auc", "map"}


class _FixedScores(Recommender):
    """A reelrank model whose scores are a given (users x items) array (cornac's BPR)."""

    name = "cornac-scores"
    Config = ModelConfig

    def __init__(self, scores: np.ndarray, *, ratings: bool = False) -> None:
        super().__init__()
        self._scores = scores
        self.predicts_ratings = ratings  # type: ignore[misc]

    def _fit(self, train, features) -> None:
        pass

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return self._scores[user_idx].copy()


@pytest.fixture(scope="module")
def cornac_run(tmp_path_factory: pytest.TempPathFactory):
    # cornac's Experiment writes a CornacExp-*.log into the working directory
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cornac"))
    try:
        yield _run_cornac()
    finally:
        os.chdir(cwd)


def _run_cornac():
    from cornac.eval_methods import RatioSplit
    from cornac.metrics import AUC, MAP, NDCG, RMSE, Precision, Recall
    from cornac.models import BPR, MF, MostPop

    ds = load()
    frame = pd.read_csv(f"{ds.info['source_path']}/ratings.csv")
    data = list(
        zip(
            frame["userId"].astype(str),
            frame["movieId"].astype(str),
            frame["rating"].astype(float),
            strict=True,
        )
    )
    split = RatioSplit(
        data=data, test_size=0.2, rating_threshold=4.0, exclude_unknowns=True, seed=123
    )
    bpr = BPR(k=10, max_iter=50, learning_rate=0.01, lambda_reg=0.01, seed=123)
    mf = MF(k=10, max_iter=20, seed=123)
    exp = cornac.Experiment(
        eval_method=split,
        models=[MostPop(), bpr],
        metrics=[AUC(), MAP(), NDCG(k=10), Precision(k=10), Recall(k=10)],
        user_based=True,
    )
    exp.run()
    rows = {r.model_name: r.metric_avg_results for r in exp.result}
    # a rating model for RMSE only (cornac's ranking loop is the slow part of this module)
    rating_exp = cornac.Experiment(eval_method=split, models=[mf], metrics=[RMSE()])
    rating_exp.run()
    rows.update({r.model_name: r.metric_avg_results for r in rating_exp.result})
    return ds, split, {"BPR": bpr, "MF": mf}, rows


def test_same_split(cornac_run) -> None:
    ds, split, _, _ = cornac_run
    ours = get_protocol("cornac-100k").make_splits(ds)[0]

    def our_pairs(part) -> set[tuple[str, str]]:
        f = part.to_frame(raw_ids=True)
        return set(zip(f["user_id"].astype(str), f["movie_id"].astype(str), strict=True))

    train = list(zip(*[split.train_set.uir_tuple[k] for k in range(3)], strict=True))
    inv_u = {v: k for k, v in split.global_uid_map.items()}
    inv_i = {v: k for k, v in split.global_iid_map.items()}
    cornac_train = {(inv_u[u], inv_i[i]) for u, i, _ in train}
    assert cornac_train == our_pairs(ours.train)
    test = list(zip(*[split.test_set.uir_tuple[k] for k in range(3)], strict=True))
    cornac_test = {(inv_u[u], inv_i[i]) for u, i, _ in test}
    # cornac's test set is built with exclude_unknowns: reelrank drops the same ratings
    fold = R._prepare_fold(get_protocol("cornac-100k"), ours)
    assert cornac_test == our_pairs(fold.target.ratings_part)


def _check_row(ours: dict[str, float], theirs: dict[str, float]) -> None:
    for cornac_name, name in METRICS.items():
        tol = 1e-9 if name in EXACT else 5e-5
        assert ours[name] == pytest.approx(theirs[cornac_name], abs=tol), name


def test_mostpop_row(cornac_run) -> None:
    ds, _, _, rows = cornac_run
    result = R.evaluate(ds, "cornac-100k", ["pop"], progress=False)
    _check_row(result.get("pop").metrics, rows["MostPop"])


def _cornac_scores(ds, split, model) -> np.ndarray:
    """A cornac model's scores laid out on reelrank's user and item indices."""
    scores = np.full((ds.n_users, ds.n_items), -np.inf, dtype=np.float32)
    train_items = split.train_set.num_items
    raw_items = np.array([k for k, v in sorted(split.global_iid_map.items(), key=lambda x: x[1])])
    item_idx = ds.items.index(raw_items[:train_items].astype(np.int64))
    for raw_user, u in split.train_set.uid_map.items():
        scores[ds.users.index([int(raw_user)])[0], item_idx] = model.score(u)
    return scores


def test_cornac_bpr_scores_give_cornac_bpr_row(cornac_run) -> None:
    ds, split, models, rows = cornac_run
    scores = _cornac_scores(ds, split, models["BPR"])
    result = R.evaluate(ds, "cornac-100k", [_FixedScores(scores)], progress=False)
    _check_row(result.get("cornac-scores").metrics, rows["BPR"])


def test_cornac_mf_predictions_give_cornac_rmse(cornac_run) -> None:
    # RMSE: predictions clipped to the training range, averaged per user (user_based=True)
    ds, split, models, rows = cornac_run
    scores = _cornac_scores(ds, split, models["MF"])
    result = R.evaluate(ds, "cornac-100k", [_FixedScores(scores, ratings=True)], progress=False)
    ours = result.get("cornac-scores").metrics
    assert ours["rmse"] == pytest.approx(rows["MF"]["RMSE"], abs=1e-5)
