"""RecommenderService: fold-in through the service, filters, similarity, explanations, ANN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelrank.errors import ArtifactError, UnknownIdError
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


def test_no_match_falls_back_to_popular_and_says_so(service, artifact) -> None:
    out = service.recommend_for_ratings({"qqqzzzxx": 5}, 5)
    assert out.unmatched[0].reason == "no matching title"
    assert out.fallback == "popular" and out.to_dict()["fallback"] == "popular"
    counts = np.bincount(artifact.ratings.indices, minlength=artifact.n_items)
    top = artifact.items.ids(np.argsort(-counts, kind="stable")[:5]).tolist()
    assert [r.movie_id for r in out.recommendations] == top
    personal = service.recommend_for_ratings({"Toy Story": 5}, 5)
    assert personal.fallback is None


def test_ambiguous_rating_title_names_the_candidates(service) -> None:
    with pytest.raises(AmbiguousTitleError) as info:
        service.recommend_for_ratings({"Toy Story": 5, "Heat": 4}, 5)
    assert info.value.query == "Heat"
    assert info.value.candidates == [
        {"movie_id": 6, "title": "Heat", "year": 1995},
        {"movie_id": 103372, "title": "Heat, The", "year": 2013},
    ]
    assert "Heat (1995); Heat, The (2013)" in str(info.value)
    out = service.recommend_for_ratings({"Heat (1995)": 4}, 5)
    assert [(m.movie_id, m.how) for m in out.matched] == [(6, "exact title; year 1995")]


def test_rating_outside_the_scale_is_reported_before_an_ambiguous_title(service) -> None:
    """A bad value is the client's error whatever the titles are (API: 422, not 409)."""
    from reelrank.serving.results import BadRequestError

    with pytest.raises(BadRequestError, match=r"Toy Story.*within 0\.5\.\.5\.0"):
        service.recommend_for_ratings({"Heat": 4, "Toy Story": 0.0}, 5)


def test_one_shape_for_users_ratings_and_similar(service) -> None:
    keys = {"query", "matched", "unmatched", "fallback", "items"}
    item_keys = {"movie_id", "title", "year", "genres", "score", "reasons"}
    user = service.recommend(1, 3).to_dict()
    rated = service.recommend_for_ratings({"toy stroy": 5, 2571: 4}, 3).to_dict()
    similar = service.similar("Toy Story", 3).to_dict()
    for out in (user, rated, similar):
        assert set(out) == keys and len(out["items"]) == 3
        assert all(item_keys <= set(i) for i in out["items"])
    assert user["query"] == {
        "user_id": 1, "n": 3, "exclude_seen": True, "genres": None, "years": None,
    }  # fmt: skip
    assert rated["query"]["ratings"] == [
        {"input": "toy stroy", "rating": 5.0},
        {"input": "2571", "rating": 4.0},
    ]
    assert [m["how"] for m in rated["matched"]] == ["close spelling (score 89)", "movie id"]
    assert similar["query"]["movie"] == "Toy Story" and similar["matched"][0]["movie_id"] == 1
    assert "raw_score" not in user["items"][0]  # als shows its raw scores


def test_display_scores_become_score_and_raw_score_is_kept(artifact) -> None:
    svc = RecommenderService(artifact)
    raw = svc.recommend(1, 5)
    svc.model = type(artifact.model)()  # same class, a stand-in with a display mapping
    svc.model.__dict__.update(artifact.model.__dict__)
    svc.model.display_scores = lambda s: 1 / (1 + np.exp(-np.asarray(s)))  # type: ignore
    shown = svc.recommend(1, 5)
    assert [r.movie_id for r in shown] == [r.movie_id for r in raw]
    assert [r.raw_score for r in shown] == [r.score for r in raw]
    assert all(0 <= r.score <= 1 for r in shown)
    assert shown[0].to_dict()["raw_score"] == raw[0].score
    e = svc.explain(1, 1036)
    assert e.raw_score is not None
    assert e.score == pytest.approx(1 / (1 + np.exp(-e.raw_score)), abs=1e-4)


def test_low_ratings_are_never_called_liked(service) -> None:
    assert service.like_threshold == 4.0
    low = service.recommend_for_ratings({"Toy Story": 5, "Heat (1995)": 0.5}, 10)
    reasons = " ".join(r for rec in low for r in rec.reasons)
    assert "Heat" not in reasons
    assert "because you liked Toy Story (1995) (you rated it 5)" in reasons
    only_low = service.recommend_for_ratings({"Heat (1995)": 0.5, "Jumanji": 2}, 10)
    assert only_low.fallback is None
    assert not any("liked" in r or "you like" in r for rec in only_low for r in rec.reasons)


def test_explain_uses_only_liked_movies(artifact, tmp_path: Path) -> None:
    svc = RecommenderService(artifact, UserStore(tmp_path / "u.db"))
    user = svc.create_user("low")
    svc.add_ratings(user.user_id, {"Heat (1995)": 0.5, "Toy Story": 4.5})
    e = svc.explain(user.user_id, "Toy Story 2")
    assert [c.movie_id for c in e.liked] == [1] and e.like_threshold == 4.0
    assert not any("Heat" in r for r in e.reasons)
    svc.add_ratings(user.user_id, {"Toy Story": 1})
    e = svc.explain(user.user_id, "Toy Story 2")
    assert e.liked == [] and "like threshold" in e.reasons[-1]


def test_rating_values_follow_the_data_scale(service) -> None:
    assert service.rating_scale == (0.5, 5.0)
    assert service.rating_values == [0.5 * k for k in range(1, 11)]


def test_from_model_serves_without_files_and_recommend_table(bundled, artifact) -> None:
    svc = RecommenderService.from_model(artifact.model, bundled, artifact.features)
    assert "in memory" in str(svc.artifact.path)
    loaded = RecommenderService(artifact)
    assert [r.movie_id for r in svc.recommend(1, 10)] == [
        r.movie_id for r in loaded.recommend(1, 10)
    ]
    assert [s.movie_id for s in svc.similar("Toy Story", 5)] == [
        s.movie_id for s in loaded.similar("Toy Story", 5)
    ]
    table = svc.recommend_table([414, 1], n=3)
    assert table.columns.tolist() == ["user_id", "rank", "movie_id", "title", "score"]
    assert table["user_id"].tolist() == [414, 414, 414, 1, 1, 1]
    assert table["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    assert table[table.user_id == 1]["movie_id"].tolist() == [
        r.movie_id for r in loaded.recommend(1, 3)
    ]
    with pytest.raises(UnknownIdError):
        svc.recommend_table([123456])
    unfitted = create_model("pop")
    with pytest.raises(ArtifactError, match="not fitted"):
        RecommenderService.from_model(unfitted, bundled)


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
    with pytest.raises(AmbiguousTitleError, match="Heat"):
        service.explain(1, "Heat")
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
