"""API-key and per-user-token authentication of the HTTP API (issue 12, item 2)."""

from __future__ import annotations

import hmac

import pytest
from fastapi.testclient import TestClient

from reelrank.serving import api_security
from reelrank.serving.api import create_app
from reelrank.serving.service import RecommenderService
from reelrank.serving.store import UserStore

KEY = "test-key-0123456789abcdef"
RATINGS = {"ratings": [{"movie_id": 1, "rating": 5}, {"movie_id": 3114, "rating": 4}]}


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def service(artifact, tmp_path_factory: pytest.TempPathFactory) -> RecommenderService:
    return RecommenderService(artifact, UserStore(tmp_path_factory.mktemp("db") / "u.db"))


@pytest.fixture(scope="module")
def client(service: RecommenderService) -> TestClient:
    return TestClient(create_app(service, api_key=KEY))


@pytest.fixture(scope="module")
def user(client: TestClient) -> dict:
    """A stored user with two ratings, created with the API key."""
    r = client.post("/users", json={"name": "ann"}, headers=_bearer(KEY))
    assert r.status_code == 201, r.text
    made = r.json()
    r = client.post(f"/users/{made['user_id']}/ratings", json=RATINGS, headers=_bearer(KEY))
    assert r.status_code == 200, r.text
    return made


def _assert_401(r) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [{}, _bearer("wrong-key-0123456789abcdef"), {"Authorization": f"Basic {KEY}"}, _bearer("")],
)
def test_writes_need_the_key(client: TestClient, user: dict, headers: dict) -> None:
    _assert_401(client.post("/users", json={"name": "mallory"}, headers=headers))
    _assert_401(client.post(f"/users/{user['user_id']}/ratings", json=RATINGS, headers=headers))


def test_anonymous_write_changes_nothing(
    client: TestClient, service: RecommenderService, user: dict
) -> None:
    before = service.store.n_users(), service.store.n_ratings()
    overwrite = {"ratings": [{"movie_id": 1, "rating": 0.5}]}
    _assert_401(client.post(f"/users/{user['user_id']}/ratings", json=overwrite))
    _assert_401(client.post("/users", json={}))
    assert (service.store.n_users(), service.store.n_ratings()) == before
    assert service.store.ratings(user["user_id"])["rating"].tolist() == [5.0, 4.0]


def test_stored_users_reads_need_credentials(client: TestClient, user: dict) -> None:
    uid = user["user_id"]
    _assert_401(client.get(f"/recommendations/{uid}"))
    _assert_401(client.get("/explain", params={"user_id": uid, "movie_id": 78499}))
    _assert_401(client.get(f"/users/{uid}/ratings"))
    # an id no one has: 401 too (anonymous clients cannot probe which profiles exist)
    _assert_401(client.get("/recommendations/99999999"))
    for secret in (KEY, user["token"]):
        headers = _bearer(secret)
        assert client.get(f"/recommendations/{uid}", headers=headers).status_code == 200
        r = client.get("/explain", params={"user_id": uid, "movie_id": 78499}, headers=headers)
        assert r.status_code == 200 and r.json()["liked"]
        assert len(client.get(f"/users/{uid}/ratings", headers=headers).json()) == 2
    assert client.get("/recommendations/99999999", headers=_bearer(KEY)).status_code == 404


def test_training_users_and_catalogue_stay_public(client: TestClient) -> None:
    assert client.get("/health").json()["auth"] == "api-key"
    assert client.get("/recommendations/1").status_code == 200
    assert client.get("/explain", params={"user_id": 1, "movie_id": 1036}).status_code == 200
    assert client.get("/movies/1").status_code == 200
    assert client.get("/movies/search", params={"q": "heat"}).status_code == 200
    r = client.post("/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}]})
    assert r.status_code == 200  # anonymous ratings are not stored: no credentials needed


def test_user_token_is_scoped_to_its_user(client: TestClient, user: dict) -> None:
    other = client.post("/users", json={"name": "bob"}, headers=_bearer(KEY)).json()
    assert other["token"] != user["token"]
    # the user's own writes with its own token
    mine = {"ratings": [{"movie_id": 2571, "rating": 4.5}]}
    r = client.post(f"/users/{user['user_id']}/ratings", json=mine, headers=_bearer(user["token"]))
    assert r.status_code == 200 and r.json()["stored"] == 1
    # but not another user's, and a user token cannot create users
    _assert_401(
        client.post(f"/users/{other['user_id']}/ratings", json=mine, headers=_bearer(user["token"]))
    )
    _assert_401(client.get(f"/users/{other['user_id']}/ratings", headers=_bearer(user["token"])))
    _assert_401(client.post("/users", json={}, headers=_bearer(user["token"])))
    # a token with one character changed is refused
    forged = user["token"][:-1] + ("A" if user["token"][-1] != "A" else "B")
    _assert_401(client.get(f"/users/{user['user_id']}/ratings", headers=_bearer(forged)))


def test_only_a_hash_of_the_token_is_stored(service: RecommenderService, user: dict) -> None:
    stored = service.store.token_hash(user["user_id"])
    assert stored is not None and user["token"] not in stored
    assert stored == api_security.hash_token(user["token"])


def test_secrets_are_compared_in_constant_time(
    client: TestClient, user: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_security.hmac, "compare_digest", spy)
    client.post("/users", json={}, headers=_bearer("x" * 30))
    client.get(f"/users/{user['user_id']}/ratings", headers=_bearer(user["token"]))
    assert (b"x" * 30, KEY.encode()) in calls
    assert any(a == api_security.hash_token(user["token"]).encode() for a, _ in calls)


def test_openapi_declares_the_bearer_scheme(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"]["/users"]["post"]["security"] == [{"bearer": []}]


def test_without_a_key_nothing_is_checked(artifact, tmp_path) -> None:
    open_client = TestClient(
        create_app(RecommenderService(artifact, UserStore(tmp_path / "open.db")))
    )
    assert open_client.get("/health").json()["auth"] == "open"
    made = open_client.post("/users", json={})
    assert made.status_code == 201
    uid = made.json()["user_id"]
    assert open_client.post(f"/users/{uid}/ratings", json=RATINGS).status_code == 200
    assert open_client.get(f"/recommendations/{uid}").status_code == 200


@pytest.mark.parametrize("key", ["", "short", 12345])
def test_weak_keys_are_refused(service: RecommenderService, key: object) -> None:
    with pytest.raises(ValueError, match="at least 16"):
        create_app(service, api_key=key)  # type: ignore[arg-type]
