"""lightfm-ua against LightFM's own evaluation code (rectools-lightfm 1.17.3).

A LightFM model is fitted with LightFM's own API on the ``ua.base`` interactions of the
ml-100k fixture; ``lightfm.evaluation.precision_at_k(k=10)`` and ``auc_score`` (train
interactions excluded, the LightFM examples' setup) are compared with reelrank's
``lightfm-ua`` protocol scoring *the same model's* predictions through its evaluator.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from reelrank.evaluate import runner as R
from reelrank.evaluate.protocols import get_protocol
from reelrank.models.base import ModelConfig, Recommender

lightfm = pytest.importorskip("lightfm")


class _LightFMScores(Recommender):
    """reelrank's view of a fitted ``lightfm.LightFM``: scores from ``model.predict``."""

    name = "lightfm-native"
    Config = ModelConfig

    def __init__(self, model, n_items: int) -> None:
        super().__init__()
        self._model = model
        self._n = n_items

    def _fit(self, train, features) -> None:
        pass

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        users = np.repeat(np.asarray(user_idx, dtype=np.int32), self._n)
        items = np.tile(np.arange(self._n, dtype=np.int32), len(user_idx))
        return self._model.predict(users, items).reshape(len(user_idx), self._n)


def test_precision_and_auc_equal_lightfm_evaluation(ml100k) -> None:
    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k

    split = get_protocol("lightfm-ua").make_splits(ml100k)[0]
    train = sp.coo_matrix(split.train.binary(), dtype=np.float32)
    test = sp.coo_matrix(split.test.binary(), dtype=np.float32)
    model = LightFM(no_components=8, loss="warp", random_state=np.random.RandomState(0))
    model.fit(train, epochs=10, num_threads=1)
    theirs_p = precision_at_k(model, test, train_interactions=train, k=10).mean()
    theirs_auc = auc_score(model, test, train_interactions=train).mean()
    result = R.evaluate(
        ml100k, "lightfm-ua", [_LightFMScores(model, ml100k.n_items)], ks=[10], progress=False
    )
    ours = result.get("lightfm-native").metrics
    assert result.info["n_users_evaluated"] == int((test.getnnz(axis=1) > 0).sum())
    assert ours["precision@10"] == pytest.approx(float(theirs_p), abs=1e-6)
    assert ours["auc"] == pytest.approx(float(theirs_auc), abs=1e-5)
    assert 0.5 < ours["auc"] < 1.0  # a real, non-trivial model
