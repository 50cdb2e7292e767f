"""HTTP API: every endpoint and error path, plus property-based bad input."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelrank.serving.api import create_app
from reelrank.serving.service import RecommenderService
from reelrank.serving.store import UserStore

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(artifact, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    store = UserStore(tmp_path_factory.mktemp("db") / "users.db")
    return TestClient(create_app(RecommenderService(artifact, store)))


@pytest.fixture(scope="module")
def client_no_db(service: RecommenderService) -> TestClient:
    return TestClient(create_app(service))


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["model"] == "als" and body["database"] is True
    assert body["n_movies"] == 9742


def test_docs_and_openapi(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ["/recommendations/{user_id}", "/recommendations", "/movies/search",
              "/movies/{movie_id}", "/movies/{movie_id}/similar", "/explain", "/users",
              "/users/{user_id}/ratings", "/health"]:  # fmt: skip
        assert p in paths


def test_recommendations_known_user(client: TestClient, artifact) -> None:
    r = client.get("/recommendations/1", params={"n": 7})
    assert r.status_code == 200
    body = r.json()
    assert body["query"]["user_id"] == 1 and body["query"]["n"] == 7
    assert body["fallback"] is None and body["matched"] == [] and body["unmatched"] == []
    recs = body["items"]
    assert len(recs) == 7
    assert {"movie_id", "title", "year", "genres", "score", "reasons"} <= set(recs[0])
    seen = set(artifact.items.ids(artifact.ratings[0].indices).tolist())
    assert not seen & {x["movie_id"] for x in recs}
    scores = [x["score"] for x in recs]
    assert scores == sorted(scores, reverse=True)


def test_recommendations_with_filters(client: TestClient) -> None:
    r = client.get(
        "/recommendations/1",
        params={"n": 5, "genres": ["Comedy"], "year_min": 1990, "year_max": 1999},
    )
    assert r.status_code == 200
    for rec in r.json()["items"]:
        assert "Comedy" in rec["genres"] and 1990 <= rec["year"] <= 1999
    r = client.get("/recommendations/1", params={"genres": ["NoSuchGenre"]})
    assert r.status_code == 422 and "unknown genre" in r.json()["detail"]
    r = client.get("/recommendations/1", params={"year_min": 2000, "year_max": 1990})
    assert r.status_code == 422


@pytest.mark.parametrize("n", [0, -1, 101, "ten"])
def test_n_is_bounded(client: TestClient, n: object) -> None:
    r = client.get("/recommendations/1", params={"n": n})
    assert r.status_code == 422
    assert "detail" in r.json()


def test_unknown_user_is_404(client: TestClient) -> None:
    r = client.get("/recommendations/99999999")
    assert r.status_code == 404 and "unknown user" in r.json()["detail"]
    assert client.get("/recommendations/abc").status_code == 422


def test_post_recommendations(client: TestClient) -> None:
    body = {
        "ratings": [
            {"title": "Toy Story", "rating": 5},
            {"movie_id": 260, "rating": 4},
            {"title": "qqqxxzz", "rating": 3},
            {"movie_id": 987654321, "rating": 4},
        ],
        "n": 10,
    }
    r = client.post("/recommendations", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["items"]) == 10 and out["fallback"] is None
    assert [q["input"] for q in out["query"]["ratings"]] == ["Toy Story", "260", "qqqxxzz",
                                                             "987654321"]  # fmt: skip
    assert {m["movie_id"] for m in out["matched"]} == {1, 260}
    first = out["matched"][0]
    assert (first["input"], first["movie_id"], first["title"], first["score"]) == (
        "Toy Story", 1, "Toy Story (1995)", 100.0,
    )  # fmt: skip
    reasons = {u["input"]: u for u in out["unmatched"]}
    assert reasons["qqqxxzz"]["reason"] == "no matching title"
    assert reasons["987654321"]["reason"] == "unknown movie id"
    rec_ids = {x["movie_id"] for x in out["items"]}
    assert not rec_ids & {1, 260}


def test_post_recommendations_ambiguous_title_is_409_with_candidates(client: TestClient) -> None:
    r = client.post("/recommendations", json={"ratings": [{"title": "Star Wars", "rating": 5}]})
    assert r.status_code == 409, r.text
    out = r.json()
    assert out["query"] == "Star Wars" and "Star Wars" in out["detail"]
    assert len(out["candidates"]) >= 3
    assert {"movie_id", "title", "year"} <= set(out["candidates"][0])
    assert 260 in {c["movie_id"] for c in out["candidates"]}
    # with the year it is one movie
    r = client.post(
        "/recommendations", json={"ratings": [{"title": "Star Wars (1977)", "rating": 5}]}
    )
    assert r.status_code == 200 and r.json()["matched"][0]["movie_id"] == 260


def test_post_recommendations_only_unknown_titles_is_flagged_popular(client: TestClient) -> None:
    body = {"ratings": [{"title": "qqqxxzz", "rating": 4}, {"movie_id": 987654321, "rating": 4}]}
    r = client.post("/recommendations", json={**body, "n": 5})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["fallback"] == "popular" and out["matched"] == [] and len(out["unmatched"]) == 2
    assert len(out["items"]) == 5
    assert out["items"][0]["movie_id"] == 356  # Forrest Gump, the most rated film


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ratings": []},
        {"ratings": [{"rating": 5}]},
        {"ratings": [{"title": "Toy Story", "movie_id": 1, "rating": 5}]},
        {"ratings": [{"title": "Toy Story"}]},
        {"ratings": [{"title": "", "rating": 5}]},
        {"ratings": [{"title": "Toy Story", "rating": "five"}]},
        {"ratings": [{"title": "Toy Story", "rating": 5}], "n": 0},
        {"ratings": [{"title": "Toy Story", "rating": 5}], "n": 1000},
        {"ratings": [{"title": "Toy Story", "rating": 5}], "extra": 1},
        {"ratings": [{"title": "Toy Story", "rating": 7}]},
        {"ratings": [{"title": "Toy Story", "rating": -1}]},
        {"ratings": [{"title": "Toy Story", "rating": 1}, {"title": "Toy Story", "rating": 5}]},
        {"ratings": [{"movie_id": 1, "rating": 0}, {"movie_id": 1, "rating": 4}]},
    ],
)
def test_post_recommendations_bad_input_is_422(client: TestClient, body: dict) -> None:
    r = client.post("/recommendations", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_post_recommendations_not_json(client: TestClient) -> None:
    r = client.post(
        "/recommendations", content=b"{broken", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422


def test_search(client: TestClient) -> None:
    r = client.get("/movies/search", params={"q": "matrix", "limit": 3})
    assert r.status_code == 200
    hits = r.json()
    assert hits[0]["movie_id"] == 2571 and hits[0]["score"] == 100.0
    assert len(hits) == 3
    assert client.get("/movies/search", params={"q": ""}).status_code == 422
    assert client.get("/movies/search").status_code == 422
    assert client.get("/movies/search", params={"q": "   "}).status_code == 422


def test_movie(client: TestClient) -> None:
    r = client.get("/movies/1")
    assert r.status_code == 200
    m = r.json()
    assert m["title"] == "Toy Story" and m["year"] == 1995 and "Animation" in m["genres"]
    assert m["n_ratings"] == 215
    assert client.get("/movies/424242424").status_code == 404
    assert client.get("/movies/toy").status_code == 422


def test_similar(client: TestClient) -> None:
    r = client.get("/movies/1/similar", params={"n": 5})
    assert r.status_code == 200
    sims = r.json()["items"]
    assert len(sims) == 5 and 1 not in {s["movie_id"] for s in sims}
    assert {3114, 78499} & {s["movie_id"] for s in sims}  # Toy Story 2 or 3
    content_only = client.get("/movies/1/similar", params={"n": 3, "weight": 0}).json()["items"]
    assert all(s["score"] == pytest.approx(s["content"], abs=1e-3) for s in content_only)
    assert client.get("/movies/1/similar", params={"weight": 2}).status_code == 422
    assert client.get("/movies/424242424/similar").status_code == 404


def test_explain(client: TestClient) -> None:
    r = client.get("/explain", params={"user_id": 1, "movie_id": 1036})
    assert r.status_code == 200
    e = r.json()
    assert e["movie"]["movie_id"] == 1036 and e["liked"] and e["reasons"]
    assert "Action" in e["shared_genres"]
    assert e["rank"] >= 1
    assert client.get("/explain", params={"user_id": 99999999, "movie_id": 1}).status_code == 404
    assert client.get("/explain", params={"user_id": 1, "movie_id": 424242424}).status_code == 404
    assert client.get("/explain", params={"user_id": 1}).status_code == 422


def test_users_flow(client: TestClient) -> None:
    r = client.post("/users", json={"name": "newbie"})
    assert r.status_code == 201
    user_id = r.json()["user_id"]
    assert user_id > 610  # above every training user id
    assert r.json()["token"].startswith("rru_")
    # no ratings yet: popular movies, flagged
    r = client.get(f"/recommendations/{user_id}", params={"n": 3})
    assert r.status_code == 200 and len(r.json()["items"]) == 3
    assert r.json()["fallback"] == "popular"
    body = {"ratings": [{"title": "Toy Story", "rating": 5}, {"movie_id": 3114, "rating": 4.5},
                        {"title": "zzqqxx", "rating": 4}]}  # fmt: skip
    r = client.post(f"/users/{user_id}/ratings", json=body)
    assert r.status_code == 200
    assert r.json()["stored"] == 2 and r.json()["unmatched"][0]["input"] == "zzqqxx"
    recs = client.get(f"/recommendations/{user_id}", params={"n": 10}).json()["items"]
    assert not {1, 3114} & {x["movie_id"] for x in recs}
    stored = client.get(f"/users/{user_id}/ratings").json()
    assert [(x["movie"]["movie_id"], x["rating"]) for x in stored] == [(1, 5.0), (3114, 4.5)]
    e = client.get("/explain", params={"user_id": user_id, "movie_id": 78499}).json()
    assert e["liked"][0]["movie_id"] in {1, 3114}


def test_users_errors(client: TestClient, client_no_db: TestClient) -> None:
    assert client.post("/users", json={"name": "x" * 500}).status_code == 422
    body = {"ratings": [{"movie_id": 1, "rating": 4}]}
    assert client.post("/users/99999999/ratings", json=body).status_code == 404
    assert client.post("/users/1/ratings", json=body).status_code == 422  # a training user
    bad = {"ratings": [{"movie_id": 1, "rating": 9}]}
    uid = client.post("/users", json={}).json()["user_id"]
    assert client.post(f"/users/{uid}/ratings", json=bad).status_code == 422
    r = client_no_db.post("/users", json={"name": "x"})
    assert r.status_code == 503 and "database" in r.json()["detail"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=30),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=10,
    )
)
def test_post_recommendations_fuzz(client: TestClient, body: object) -> None:
    r = client.post("/recommendations", content=json.dumps(body), headers=JSON)
    assert r.status_code in (200, 409, 422)
    assert isinstance(r.json(), dict)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"title": st.text(min_size=1, max_size=40),
             "rating": st.floats(min_value=-10, max_value=10, allow_nan=False)}
        ),
        min_size=1, max_size=4,
    ),
    st.integers(-5, 200),
)  # fmt: skip
def test_post_recommendations_fuzz_wellformed(client: TestClient, ratings: list, n: int) -> None:
    r = client.post("/recommendations", json={"ratings": ratings, "n": n})
    distinct = len({x["title"] for x in ratings}) == len(ratings)
    ok = 1 <= n <= 100 and all(0.5 <= x["rating"] <= 5 for x in ratings) and distinct
    if ok:
        assert r.status_code in (200, 409), r.text  # 409: an ambiguous title
    else:
        assert r.status_code == 422, r.text
    if r.status_code == 200:
        out = r.json()
        assert len(out["matched"]) + len(out["unmatched"]) >= 1
        assert len(out["items"]) <= n
    elif r.status_code == 409:
        assert len(r.json()["candidates"]) >= 2


def test_app_has_no_shared_state(artifact) -> None:
    a = create_app(RecommenderService(artifact))
    b = create_app(RecommenderService(artifact))
    assert a is not b and a.state.service is not b.state.service
