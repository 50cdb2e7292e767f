"""Runner, protocols, tuning and report, end to end on small data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from reelrank.data.split import temporal_split
from reelrank.errors import ConfigError
from reelrank.evaluate import metrics as M
from reelrank.evaluate import runner as R
from reelrank.evaluate.protocols import PROTOCOLS, get_protocol, parse_metric
from reelrank.evaluate.report import leaderboard_markdown, write_report
from reelrank.models import get_model_class

PROTOCOL_MODELS = {
    "temporal": ["pop", "itemknn"],
    "stratified": ["pop", "itemknn"],
    "msrec-100k": ["pop", "itemknn"],
    "cornac-100k": ["pop", "bias"],
    "lightfm-ua": ["pop", "itemknn"],
    "surprise-5fold": ["bias", "pop"],
    "cold-items": ["content", "random"],
    "cold-items-tags": ["content", "random"],
    "strong-generalization": ["itemknn", "pop"],
}


def _check_shape(out: dict, protocol: str) -> None:
    assert set(out) >= {"protocol", "dataset", "results", "info"}
    assert out["protocol"] == protocol
    for r in out["results"]:
        assert set(r) >= {
            "model",
            "params",
            "metrics",
            "metrics_sem",
            "fit_seconds",
            "eval_seconds",
        }
        for name in r["metrics"]:
            parse_metric(name)
            assert name == name.lower()
    json.dumps(out, allow_nan=False)  # strict JSON: NaN became null


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_protocol_end_to_end(ml100k, name: str) -> None:
    result = R.evaluate(ml100k, name, PROTOCOL_MODELS[name], progress=False)
    out = result.to_json()
    _check_shape(out, name)
    proto = get_protocol(name)
    ok = [r for r in result.results if r.error is None]
    assert ok, [r.error for r in result.results]
    for r in ok:
        rating_model = get_model_class(r.model).predicts_ratings
        for metric in proto.metrics:
            if parse_metric(metric)[0] in ("rmse", "mae") and not rating_model:
                assert metric not in r.metrics  # rating error only for rating models
                continue
            assert metric in r.metrics, (r.model, metric)
            v = r.metrics[metric]
            assert math.isfinite(v)
            if parse_metric(metric)[0] not in ("rmse", "mae"):
                assert 0.0 <= v <= 1.0
    if name == "surprise-5fold":
        assert result.get("pop").error is not None  # pop predicts no ratings
        assert result.info["n_folds"] == 5
    else:
        assert result.info["n_users_evaluated"] > 0


def test_planted_signal_is_found(ml100k) -> None:
    # taste groups are planted: item-kNN must beat popularity and random clearly
    result = R.evaluate(ml100k, "msrec-100k", ["random", "pop", "itemknn"], progress=False)
    ndcg = {r.model: r.metrics["ndcg@10"] for r in result.results}
    assert ndcg["itemknn"] > ndcg["pop"] > 0
    assert ndcg["itemknn"] > 1.3 * ndcg["random"]


def test_runner_matches_metrics_by_hand(tiny) -> None:
    # the runner's numbers equal the metric functions applied to the model's own lists
    result = R.evaluate(tiny, "temporal", ["pop"], ks=[5], progress=False)
    split = temporal_split(tiny, 0.2, 0.1)
    full = R._union(split.train, split.validation)
    from reelrank.models import create_model

    model = create_model("pop").fit(full)
    rel = split.test.binary(4.0)
    rel.eliminate_zeros()
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    recs, _ = model.recommend(users, n=20, exclude_seen=True)
    expected = np.nanmean(M.ndcg_at_k(recs, rel[users], 10))
    assert result.get("pop").metrics["ndcg@10"] == pytest.approx(expected)
    assert result.info["n_users_evaluated"] == len(users)
    assert result.info["n_test_users_without_relevant"] == len(split.test.active_users()) - len(
        users
    )
    assert result.get("pop").metrics["recall@5"] == pytest.approx(
        np.nanmean(M.recall_at_k(recs, rel[users], 5))
    )


def test_tuning_sees_only_train_and_validation(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    from reelrank.models.knn import ItemKNN

    fitted: list = []
    real_fit = ItemKNN.fit

    def spy(self, train, features=None):
        fitted.append(train)
        return real_fit(self, train, features)

    monkeypatch.setattr(ItemKNN, "fit", spy)
    result = R.evaluate(
        tiny, "temporal", ["itemknn"], tune=True, progress=False, tune_trials=4, tune_timeout=None
    )
    split = temporal_split(tiny, 0.2, 0.1)

    def pairs(ds):
        f = ds.to_frame()
        return set(zip(f["user_idx"], f["item_idx"], strict=True))

    test_pairs = pairs(split.test)
    *trial_fits, final_fit = fitted
    assert len(trial_fits) == 4
    for train in trial_fits:  # every trial fits on the train part only
        assert pairs(train) == pairs(split.train)
    assert pairs(final_fit) == pairs(split.train) | pairs(split.validation)
    assert not pairs(final_fit) & test_pairs
    tuning = result.get("itemknn").tuning
    assert tuning is not None and tuning["n_trials"] == 4
    assert tuning["best_score"] >= tuning["default_score"]
    assert result.get("itemknn").params["k"] == tuning["best_params"]["k"]


def test_layout_and_name_errors(tiny) -> None:
    with pytest.raises(ConfigError, match="ml-100k"):
        R.evaluate(tiny, "lightfm-ua", ["pop"], progress=False)
    with pytest.raises(ConfigError, match="unknown protocol"):
        R.evaluate(tiny, "nope", ["pop"], progress=False)
    with pytest.raises(ConfigError, match="unknown model"):
        R.evaluate(tiny, "temporal", ["nope"], progress=False)
    with pytest.raises(ConfigError):
        parse_metric("ndcg")


def test_report_files(tiny, tmp_path: Path) -> None:
    result = R.evaluate(tiny, "temporal", ["pop", "itemknn"], progress=False)
    out = write_report(result, tmp_path / "rep")
    names = {p.name for p in out.iterdir()}
    assert {"result.json", "leaderboard.md", "ndcg_at_k.png", "recall_at_k.png"} <= names
    assert {"rating_distribution.png", "ratings_per_movie.png"} <= names
    assert json.loads((out / "result.json").read_text())["protocol"] == "temporal"
    assert "| itemknn |" in leaderboard_markdown(result)
    write_report(result, out)  # an existing report is replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not an evaluation report"):
        write_report(result, other)


def test_protocol_hint_reaches_every_fit(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    # the runner calls for_protocol(protocol.hint) before every fit, tuning trials included,
    # and puts the fitted model's fit_info_ into the result JSON
    from reelrank.models.base import TrainingHint
    from reelrank.models.popularity import Popularity

    hints: list[TrainingHint] = []
    real_fit = Popularity.fit

    def for_protocol(self, hint):
        hints.append(hint)
        return self

    def fit(self, train, features=None):
        out = real_fit(self, train, features)
        self.fit_info_ = {"chosen": "itself", "n_hints": len(hints)}
        return out

    monkeypatch.setattr(Popularity, "for_protocol", for_protocol)
    monkeypatch.setattr(Popularity, "fit", fit)
    result = R.evaluate(
        tiny, "temporal", ["pop"], tune=True, progress=False, tune_trials=3, tune_timeout=None
    )
    assert hints == [TrainingHint("temporal", 4.0)] * 4  # 3 trials + the final fit
    assert result.to_json()["results"][0]["fit_info"] == {"chosen": "itself", "n_hints": 4}
    assert get_protocol("stratified").hint == TrainingHint("stratified", None)
    assert get_protocol("cold-items-tags").hint == TrainingHint("cold-items", 4.0)


def test_every_protocol_names_its_split_kind_and_peer() -> None:
    from reelrank.models.base import SPLIT_KINDS

    for proto in PROTOCOLS.values():
        assert proto.split_kind in SPLIT_KINDS
        assert proto.reference
    for name in ("cornac-100k", "msrec-100k", "stratified", "lightfm-ua"):
        assert any(v in PROTOCOLS[name].reference for v in ("3.0.1", "1.2", "1.17"))


TUNE_MODELS = {
    "surprise-5fold": ["bias"],
    "cold-items": ["content"],
    "cold-items-tags": ["content"],
}


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_tuned_never_below_default_on_validation(ml100k, name: str) -> None:
    # the default configuration is trial 0, so the chosen one scores at least as well on the
    # protocol's validation part; the leaderboard shows both validation scores
    models = TUNE_MODELS.get(name, ["itemknn"])
    result = R.evaluate(
        ml100k, name, models, tune=True, progress=False, tune_trials=3, tune_timeout=None,
        params={"content": {"kind": "tfidf"}},  # no sentence embeddings in a fast test
    )  # fmt: skip
    for r in result.results:
        assert r.error is None, r.error
        tuning = r.tuning
        assert tuning["n_trials"] == 3
        default, best = r.validation_scores
        lower = result.info["primary_lower_is_better"]
        assert (best <= default) if lower else (best >= default)
        assert tuning["sampler"] == "TPE(seed=42)"
    text = leaderboard_markdown(result)
    assert f"val {result.primary_metric()} default" in text
    assert f"val {result.primary_metric()} tuned" in text


def test_default_configuration_is_the_first_trial(tiny) -> None:
    from reelrank.evaluate.tuning import space_for
    from reelrank.models.knn import ItemKNN

    result = R.evaluate(
        tiny, "temporal", ["itemknn", "bpr"], tune=True, progress=False, tune_trials=2,
        tune_timeout=None,
    )  # fmt: skip
    knn = result.get("itemknn").tuning
    defaults = ItemKNN.Config()
    assert knn["trials"][0]["params"] == {
        "k": defaults.k, "shrinkage": defaults.shrinkage, "use_ratings": defaults.use_ratings
    }  # fmt: skip
    assert knn["default_score"] == knn["trials"][0]["score"]
    space, _ = space_for("bpr", get_model_class("bpr"), {})
    assert space["learning_rate"].high >= 0.1 and space["iterations"].high >= 500
    assert space["factors"].high >= 256
    # a fixed parameter is never searched, and a range always contains the default
    space, point = space_for("als", get_model_class("als"), {"factors": 7})
    assert "factors" not in space
    reg = space["regularization"]
    assert reg.low <= point["regularization"] <= reg.high


def test_result_records_provenance_and_flat_views(tiny) -> None:
    import numpy
    import scipy

    result = R.evaluate(tiny, "temporal", ["pop"], progress=False)
    prov = result.to_json()["info"]["provenance"]
    assert prov["versions"]["numpy"] == numpy.__version__
    assert prov["versions"]["scipy"] == scipy.__version__
    assert {"reelrank", "implicit", "lightfm", "lightgbm", "torch", "faiss"} <= set(
        prov["versions"]
    )
    assert "git_commit" in prov
    flat = result.flat_metrics()
    assert flat["pop.ndcg_10"] == result.get("pop").metrics["ndcg@10"]  # tracker-safe keys
    assert result.flat_params()["protocol"] == "temporal"


def test_tuning_the_hybrid_tunes_its_generators_first(tiny, monkeypatch) -> None:
    # the hybrid's collaborative generators are tuned alone (or their tuning in the same run
    # is reused), and the hybrid is fitted with those values
    fitted: list[dict] = []
    real_fit = R._fit

    def spy(ctx, model, train):
        if model.name == "hybrid":
            fitted.append(dict(model.config.generator_params))
        return real_fit(ctx, model, train)

    monkeypatch.setattr(R, "_fit", spy)
    small = {
        "generators": "itemknn:30,pop:30",
        "use_embeddings": False,
        "n_estimators": 10,
        "min_child_samples": 5,
        "num_leaves": 7,
        "n_random_negatives": 5,
        "min_user_interactions": 3,
        "n_folds": 2,
    }
    out = R.evaluate(
        tiny, "temporal", ["itemknn", "hybrid"], tune=True, progress=False, tune_trials=3,
        tune_timeout=None, params={"hybrid": small},
    )  # fmt: skip
    knn, hybrid = out.results
    assert hybrid.error is None, hybrid.error
    tuned_knn = {k: v for k, v in knn.tuning["best_params"].items() if k != "seed"}
    assert hybrid.tuning["generators"]["itemknn"]["params"] == tuned_knn
    assert fitted and all(p["itemknn"] == tuned_knn for p in fitted)
    assert hybrid.params["generator_params"]["itemknn"] == tuned_knn
