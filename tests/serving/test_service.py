"""RecommenderService: fold-in through the service, filters, similarity, explanations, ANN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelrank.errors import UnknownIdError
from reelrank.models import create_model
from reelrank.serving.ann import FactorIndex, factor_arrays, recall_at_k
from reelrank.serving.artifact import load_artifact, save_artifact
from reelrank.serving.service import (
    AmbiguousTitleError,
    BadRequestError,
    RecommenderService,
)
from reelrank.serving.store import UserStore


def _ratings_of(artifact, user_idx: int) -> dict[int | str, float]:
    row = artifact.ratings[user_idx]
    ids = artifact.items.ids(row.indices)
    return {int(i): float(r) for i, r in zip(ids, row.data, strict=True)}


def test_fold_in_of_a_training_user_reproduces_its_recommendations(service, artifact) -> None:
    # ALS ends with an exact user half-step, so folding in a training user's own ratings
    # must give the same ranking as the trained user
    for user_id in (1, 15, 414):
        uidx = int(artifact.users.index(user_id))
        known = service.recommend(user_id, 20)
        folded = service.recommend_for_ratings(_ratings_of(artifact, uidx), 20)
        assert [r.movie_id for r in known] == [r.movie_id for r in folded.recommendations]
        np.testing.assert_allclose(
            [r.score for r in known], [r.score for r in folded.recommendations], rtol=1e-3
        )


@pytest.mark.slow
def test_fold_in_equals_refit_within_tolerance(bundled, tmp_path: Path) -> None:
    """A user left out of training, folded in, scores like a refit that includes them."""
    params = {"factors": 32, "iterations": 10, "random_state": 3}
    for uidx in (0, 5, 99):
        without = bundled.with_interactions(bundled.user_index_of_entries() != uidx)
        model = create_model("als", **params).fit(without)
        svc = RecommenderService(load_artifact(save_artifact(tmp_path / str(uidx), model, without)))
        refit = create_model("als", **params).fit(bundled)
        # the service gets the left-out user's real ratings (from the full data)
        row = bundled.interactions[uidx]
        ids = bundled.items.ids(row.indices)
        ratings = {int(i): float(r) for i, r in zip(ids, row.data, strict=True)}
        folded = svc.recommend_for_ratings(ratings, 20)
        assert len(folded.matched) == row.nnz
        refit_items, _ = refit.recommend(uidx, 20)
        got = {r.movie_id for r in folded.recommendations}
        want = set(bundled.items.ids(refit_items[0]).tolist())
        assert len(got & want) >= 8, (uidx, len(got & want))
        s_fold = svc.model.score_ratings(row)[0]
        s_refit = refit.score(np.full(bundled.n_items, uidx), np.arange(bundled.n_items))
        assert np.corrcoef(s_fold, s_refit)[0, 1] > 0.9


def test_titles_and_ids_resolve_the_same(service) -> None:
    a = service.recommend_for_ratings({"Toy Story": 5, "matrix": 4}, 10)
    b = service.recommend_for_ratings({1: 5, 2571: 4}, 10)
    assert [r.movie_id for r in a.recommendations] == [r.movie_id for r in b.recommendations]
    assert [m.movie_id for m in a.matched] == [1, 2571]


def test_no_match_falls_back_to_popular(service, artifact) -> None:
    out = service.recommend_for_ratings({"qqqzzzxx": 5}, 5)
    assert out.unmatched[0].reason == "no matching title"
    counts = np.bincount(artifact.ratings.indices, minlength=artifact.n_items)
    top = artifact.items.ids(np.argsort(-counts, kind="stable")[:5]).tolist()
    assert [r.movie_id for r in out.recommendations] == top


def test_rating_out_of_scale(service) -> None:
    with pytest.raises(BadRequestError, match=r"0\.5\.\.5\.0"):
        service.recommend_for_ratings({"Toy Story": 6}, 5)


def test_filters(service) -> None:
    recs = service.recommend(1, 10, genres=["horror"], years=(1980, 1989))
    assert len(recs) == 10
    assert all("Horror" in r.genres and 1980 <= r.year <= 1989 for r in recs)
    recs = service.recommend(1, 10, genres=["Film-Noir"], years=(1940, 1941))
    assert all(1940 <= r.year <= 1941 for r in recs)
    with pytest.raises(BadRequestError, match="unknown genre"):
        service.recommend(1, 5, genres=["Cartoons"])


def test_unknown_user(service) -> None:
    with pytest.raises(UnknownIdError, match="unknown user id: 123456"):
        service.recommend(123456)


def test_similar_blend(service) -> None:
    sims = service.similar("Toy Story", 10)
    assert {"Toy Story 2", "Toy Story 3"} <= {s.title for s in sims}
    for s in sims:
        assert s.score == pytest.approx(0.5 * s.collaborative + 0.5 * s.content, abs=1e-3)
    cf_only = service.similar(1, 5, weight=1.0)
    assert [s.score for s in cf_only] == pytest.approx([s.collaborative for s in cf_only], abs=1e-3)
    with pytest.raises(AmbiguousTitleError, match="Star Wars"):
        service.similar("Star Wars")
    with pytest.raises(UnknownIdError):
        service.similar("qqqzzzxx")


def test_explain(service) -> None:
    e = service.explain(1, "Die Hard")
    assert e.movie.movie_id == 1036
    assert e.liked and all(c.rating >= 4.0 for c in e.liked)
    sims = [c.similarity for c in e.liked]
    assert sims == sorted(sims, reverse=True)
    assert "Action" in e.shared_genres
    assert e.rank is not None and e.rank >= 1
    assert any("because you liked" in r for r in e.reasons)
    rated = service.explain(1, 1)  # user 1 rated Toy Story
    assert rated.reasons[0].startswith("you already rated it")


def test_explain_calls_hybrid_feature_hook(artifact) -> None:
    class WithFeatures(RecommenderService):
        pass

    svc = WithFeatures(artifact)
    calls = []

    def explain_features(user_idx: int, item_idx: int) -> dict[str, float]:
        calls.append((user_idx, item_idx))
        return {"genre_cosine": 0.4, "als_score": -0.9, "popularity": 0.1}

    svc.model = type("M", (), {})()  # a stand-in exposing only the hook and scorer
    svc.model.explain_features = explain_features  # type: ignore[attr-defined]
    svc.model._score_users = artifact.model._score_users  # type: ignore[attr-defined]
    svc.model.score_ratings = artifact.model.score_ratings  # type: ignore[attr-defined]
    e = svc.explain(1, 1036)
    assert calls == [(0, int(artifact.items.index(1036)))]
    assert [name for name, _ in e.features] == ["als_score", "genre_cosine", "popularity"]
    assert any("als_score lowered" in r for r in e.reasons)


def test_stored_user_is_folded_in(artifact, tmp_path: Path) -> None:
    svc = RecommenderService(artifact, UserStore(tmp_path / "u.db"))
    user = svc.create_user("ann")
    assert user.user_id == int(artifact.users.values.max()) + 1
    svc.add_ratings(user.user_id, {"Toy Story": 5, 3114: 5})
    recs = svc.recommend(user.user_id, 10)
    direct = svc.recommend_for_ratings({1: 5, 3114: 5}, 10)
    assert [r.movie_id for r in recs] == [r.movie_id for r in direct.recommendations]
    assert [m.title for m, _ in svc.user_ratings(user.user_id)] == ["Toy Story", "Toy Story 2"]


@pytest.mark.slow
def test_hnsw_index_recall_and_service_path(artifact) -> None:
    users, _ = factor_arrays(artifact.model)  # type: ignore[misc]
    svc = RecommenderService(artifact, ann_threshold=0)
    assert svc.uses_ann
    index = svc._index
    assert isinstance(index, FactorIndex)
    q = users[:200]
    seen = artifact.model.seen_[:200]
    approx, _ = index.search(q, 10, seen)
    exact, _ = index.exact(q, 10, seen)
    assert recall_at_k(approx, exact) >= 0.95
    assert not np.isin(approx[0], seen[0].indices).any()
    got = [r.movie_id for r in svc.recommend(1, 10)]
    want = artifact.items.ids(artifact.model.recommend(0, 10)[0][0]).tolist()
    assert len(set(got) & set(want)) >= 9


def test_factor_arrays_rejects_non_factor_models(bundled) -> None:
    pop = create_model("pop").fit(bundled)
    assert factor_arrays(pop) is None


def test_search_and_movie(service) -> None:
    hits = service.search("jumanjii", 3)
    assert hits[0][0].movie_id == 2
    m = service.movie(1)
    assert m.title == "Toy Story" and m.n_ratings == 215 and 3.5 < (m.mean_rating or 0) < 4.5
    with pytest.raises(UnknownIdError):
        service.movie(-5)
    with pytest.raises(BadRequestError):
        service.search("  ")
