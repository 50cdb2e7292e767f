"""No HTTP 500 on bad input (issue 12, item 4).

Regression tests for the classes found (ids outside int64, non-finite numbers, lone
surrogates), and a schema-driven fuzz test: requests for every operation of the app's own
OpenAPI document, built from its parameter and body schemas with hostile values mixed in
(out-of-range and huge integers, NaN/Infinity/1e400, lone surrogates, NUL, over-long
strings, wrong types, extra keys, deep nesting, wrong content types and credentials). No
answer may be a 5xx, and every answer is JSON.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reelrank.serving.api import create_app
from reelrank.serving.service import RecommenderService
from reelrank.serving.store import UserStore

KEY = "fuzz-key-0123456789abcdef"
JSON = {"content-type": "application/json"}
BIG = 2**63  # one past int64
OVERFLOW = "__1E400__"  # stands for the JSON number 1e400 (no Python float prints like it)

# every operation of the API; test_every_operation_is_fuzzed keeps this in step with the app
OPERATIONS = [
    ("get", "/health"),
    ("get", "/recommendations/{user_id}"),
    ("post", "/recommendations"),
    ("get", "/movies/search"),
    ("get", "/movies/{movie_id}"),
    ("get", "/movies/{movie_id}/similar"),
    ("get", "/explain"),
    ("post", "/users"),
    ("post", "/users/{user_id}/ratings"),
    ("get", "/users/{user_id}/ratings"),
]


@pytest.fixture(scope="module")
def client(artifact, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    store = UserStore(tmp_path_factory.mktemp("db") / "fuzz.db")
    app = create_app(RecommenderService(artifact, store), api_key=KEY)
    return TestClient(app, raise_server_exceptions=False)


def _assert_json_4xx(r: Any) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert isinstance(r.json(), dict) and r.json()["detail"]
    assert len(r.content) < 20_000


# ---------------------------------------------------------------------------- regressions
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", f"/recommendations/{BIG}", None),
        ("get", f"/recommendations/{10**40}", None),
        ("get", "/recommendations/-1", None),
        ("get", f"/explain?user_id={BIG}&movie_id=1", None),
        ("get", f"/explain?user_id=1&movie_id={BIG}", None),
        ("get", f"/movies/{BIG}", None),
        ("get", f"/movies/{BIG}/similar", None),
        ("get", f"/users/{BIG}/ratings", None),
        ("post", f"/users/{BIG}/ratings", {"ratings": [{"movie_id": 1, "rating": 4}]}),
        ("post", "/users/611/ratings", {"ratings": [{"movie_id": BIG, "rating": 4}]}),
        ("post", "/recommendations", {"ratings": [{"movie_id": BIG, "rating": 4}]}),
        ("post", "/recommendations", {"ratings": [{"movie_id": -BIG - 1, "rating": 4}]}),
        ("post", "/recommendations", {"ratings": [{"movie_id": 1, "rating": 4}], "n": BIG}),
        ("post", "/recommendations", {"ratings": [{"movie_id": 1, "rating": 4}], "year_min": BIG}),
        ("get", f"/recommendations/1?year_min={10**30}", None),
        ("get", f"/recommendations/1?n={BIG}", None),
    ],
)
def test_ids_and_numbers_outside_int64_are_422(
    client: TestClient, method: str, url: str, body: Any
) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    if body is None:
        r = client.request(method, url, headers=headers)
    else:
        r = client.request(method, url, content=json.dumps(body), headers={**headers, **JSON})
    _assert_json_4xx(r)
    assert r.status_code == 422


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ratings": [{"title": "Toy Story", "rating": NaN}]}',
        b'{"ratings": [{"title": "Toy Story", "rating": Infinity}]}',
        b'{"ratings": [{"title": "Toy Story", "rating": -Infinity}]}',
        b'{"ratings": [{"title": "Toy Story", "rating": 1e400}]}',
        b'{"ratings": [{"movie_id": 1, "rating": 4}], "n": 1e400}',
        b'{"ratings": [{"movie_id": 1, "rating": 4}], "year_min": NaN}',
        b'{"ratings": [{"movie_id": 1e400, "rating": 4}]}',
        b'{"ratings": [{"movie_id": 1' + b"0" * 5000 + b', "rating": 4}]}',
        b'{"ratings": [{"movie_id": 1, "rating": 4}], "genres": [NaN]}',
        b'{"ratings": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
)
def test_non_finite_and_oversized_numbers_are_422(client: TestClient, raw: bytes) -> None:
    r = client.post("/recommendations", content=raw, headers=JSON)
    _assert_json_4xx(r)
    assert r.status_code == 422
    r = client.post(
        "/users/611/ratings", content=raw, headers={**JSON, "Authorization": f"Bearer {KEY}"}
    )
    _assert_json_4xx(r)


@pytest.mark.parametrize(
    ("url", "raw"),
    [
        ("/recommendations", b'{"ratings": [{"title": "\\ud800", "rating": 4}]}'),
        ("/recommendations", b'{"ratings": [{"title": "Heat \\udfff", "rating": 4}]}'),
        (
            "/recommendations",
            b'{"ratings": [{"title": "Heat", "rating": 4}], "genres": ["\\ud83d"]}',
        ),
        ("/recommendations", b'{"ratings": [{"title": "Heat", "rating": 4}], "\\ud800": 1}'),
        ("/recommendations", b'{"ratings": [{"title": "He\\u0000at", "rating": 4}]}'),
        ("/recommendations", b'{"ratings": [{"title": "\xff\xfe", "rating": 4}]}'),
        ("/users", b'{"name": "\\ud800"}'),
        ("/users", b'{"name": "a\\u0000b"}'),
        ("/users/611/ratings", b'{"ratings": [{"title": "\\udc00", "rating": 4}]}'),
    ],
)
def test_lone_surrogates_nul_and_bad_utf8_are_422(client: TestClient, url: str, raw: bytes) -> None:
    headers = {**JSON, "Authorization": f"Bearer {KEY}"}
    r = client.post(url, content=raw, headers=headers)
    _assert_json_4xx(r)
    assert r.status_code == 422


def test_a_surrogate_pair_is_valid_unicode(client: TestClient) -> None:
    r = client.post(
        "/recommendations",
        content=b'{"ratings": [{"title": "\\ud83d\\ude00 zzqx", "rating": 4}]}',
        headers=JSON,
    )
    assert r.status_code == 200 and r.json()["unmatched"][0]["input"] == "\U0001f600 zzqx"


def test_errors_name_the_problem(client: TestClient) -> None:
    r = client.post(
        "/recommendations", content=b'{"ratings": [{"title": "x", "rating": NaN}]}', headers=JSON
    )
    assert "finite" in r.json()["detail"][0]["ctx"]["error"]
    r = client.get(f"/movies/{BIG}")
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["path", "movie_id"] and "9223372036854775807" in detail["msg"]


def test_an_unexpected_failure_is_a_json_500(artifact, monkeypatch: pytest.MonkeyPatch) -> None:
    service = RecommenderService(artifact)
    client = TestClient(create_app(service), raise_server_exceptions=False)

    def broken(movie_id: int) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "movie", broken)
    r = client.get("/movies/1")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert "boom" not in r.text and r.json()["detail"].startswith("internal server error")


# ---------------------------------------------------------------------------- schema fuzz
HOSTILE_STRINGS = [
    "",
    " ",
    "\ud800",
    "Heat \udfff",
    "\x00",
    "Toy Story",
    "Star Wars",
    "Heat (1995)",
    "x" * 301,
    "%00",
    "../../etc/passwd",
    "1e400",
    "NaN",
    "-1",
    str(BIG),
]
HOSTILE_NUMBERS = [
    0,
    -1,
    BIG,
    -BIG - 1,
    10**30,
    float("nan"),
    float("inf"),
    float("-inf"),
    OVERFLOW,
    0.5,
    1e-300,
    True,
]
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(HOSTILE_STRINGS),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=6,
)


class _Schema:
    """Hypothesis strategies for values of an OpenAPI (JSON Schema) node, hostile ones mixed in."""

    def __init__(self, components: dict[str, Any], *, hostile: bool = True) -> None:
        self.components = components
        self.with_hostile = hostile

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def valid(self, node: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        node = self.resolve(node)
        if node.get("examples"):  # the schema's own examples, then generated values
            return st.sampled_from(node["examples"]) | self._generated(node, depth)
        return self._generated(node, depth)

    def _generated(self, node: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
        if "anyOf" in node:
            return st.one_of([self.valid(n, depth) for n in node["anyOf"]])
        kind = node.get("type")
        if kind == "integer":
            lo, hi = node.get("minimum", -(10**6)), node.get("maximum", 10**6)
            return st.integers(max(lo, -(10**6)), min(hi, 10**6)) | st.sampled_from(
                [1, 260, 356, 611, 612]
            )
        if kind == "number":
            lo, hi = node.get("minimum", -10.0), node.get("maximum", 10.0)
            return st.floats(max(lo, -1e6), min(hi, 1e6), allow_nan=False) | st.sampled_from(
                [0.5, 1.0, 3.0, 4.5, 5.0]
            )
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "string":
            return st.text(max_size=min(node.get("maxLength", 40), 40)) | st.sampled_from(
                ["Toy Story", "Heat", "Star Wars (1977)", "matrix", "Comedy", "Drama"]
            )
        if kind == "array":
            return st.lists(
                self.value(node.get("items", {}), depth + 1),
                min_size=min(node.get("minItems", 0), 3),
                max_size=min(node.get("maxItems", 2), 2),
            )
        if kind == "object" or "properties" in node:
            props = node.get("properties", {})
            required = set(node.get("required", []))
            fixed = {k: self.value(v, depth + 1) for k, v in props.items() if k in required}
            optional = {k: self.value(v, depth + 1) for k, v in props.items() if k not in required}
            return st.fixed_dictionaries(fixed, optional=optional)
        return ANY_JSON

    def hostile(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        kind = self.resolve(node).get("type")
        if kind in ("integer", "number"):
            return st.sampled_from(HOSTILE_NUMBERS)
        if kind == "string":
            return st.sampled_from(HOSTILE_STRINGS)
        return ANY_JSON

    def value(self, node: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        if depth > 4:
            return st.none()
        if not self.with_hostile:
            return self.valid(node, depth)
        return st.one_of(self.valid(node, depth), self.valid(node, depth), self.hostile(node))


def _dump(body: Any) -> bytes:
    text = json.dumps(body, allow_nan=True)  # NaN/Infinity tokens; lone surrogates as \\udXXX
    return text.replace(json.dumps(OVERFLOW), "1e400").encode()


def _path_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, allow_nan=True)
    raw = text.replace(OVERFLOW, "1e400").encode("utf-8", "surrogatepass")  # %ED%A0%80...
    return urllib.parse.quote(raw, safe="")


def _query_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_query_value(v) for v in value[:5]]
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return json.dumps(value, allow_nan=True).replace(json.dumps(OVERFLOW), "1e400")


HOSTILE_ANY = st.sampled_from(HOSTILE_NUMBERS + HOSTILE_STRINGS) | st.sampled_from(
    [None, {}, [], [[[[[[[[]]]]]]]], {"": None}, "x" * 5000, [1] * 600]
)


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every node of a JSON value (the places a mutation may hit)."""
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _leaves(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _leaves(v, (*at, i))
    return out


def _replace(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[at[0]] = _replace(copy[at[0]], at[1:], new)
    return copy


@st.composite
def _requests(draw: Any, schema: _Schema, clean: _Schema, operation: dict[str, Any]) -> Any:
    """A request for ``operation``: first a well-formed one from the schema (with the
    schema's examples), then, most of the time, exactly one part made hostile (a path or
    query parameter, one node of the body, the content type or the credentials), so that
    the hostile value reaches the code behind the validation of everything else."""
    params = operation.get("parameters", [])
    path = {p["name"]: draw(clean.value(p["schema"])) for p in params if p["in"] == "path"}
    query = {
        p["name"]: draw(clean.value(p["schema"]))
        for p in params
        if p["in"] == "query" and (p.get("required") or draw(st.booleans()))
    }
    content = operation.get("requestBody", {}).get("content", {})
    node = content.get("application/json", {}).get("schema")
    body = draw(clean.value(node)) if node is not None else None
    req = {"path": path, "query": query, "body": body}
    req["content_type"], req["auth"] = "application/json", f"Bearer {KEY}"
    mode = draw(st.sampled_from(["clean", "one", "one", "one", "wild"]))
    if mode == "one":
        slots = [("path", k) for k in path] + [("query", p["name"]) for p in params]
        slots += [("header", "content_type"), ("header", "auth")]
        if node is not None:
            slots += [("body", at) for at in _leaves(body)]
        where, key = draw(st.sampled_from(slots))
        if where in ("path", "query"):
            spec = next(p["schema"] for p in params if p["name"] == key)
            extra = ["abc", "1.5", "-0", " 1", ""] if where == "path" else []
            req[where][key] = draw(
                schema.hostile(spec) | HOSTILE_ANY | st.sampled_from(extra or [0])
            )
        elif where == "body":
            req["body"] = _replace(body, key, draw(HOSTILE_ANY))
        elif key == "content_type":
            req[key] = draw(
                st.sampled_from(["text/plain", "application/x-www-form-urlencoded", None])
            )
        else:
            req[key] = draw(st.sampled_from([None, "Bearer nope", f"Basic {KEY}", "Bearer "]))
    elif mode == "wild":
        req["path"] = {k: draw(HOSTILE_ANY) for k in path}
        req["query"] = {
            p["name"]: draw(schema.value(p["schema"])) for p in params if p["in"] == "query"
        }
        req["body"] = draw(ANY_JSON | schema.value(node or {}))
    return req


def test_every_operation_is_fuzzed(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]
    assert sorted((m, p) for p, ops in paths.items() for m in ops) == sorted(OPERATIONS)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_schema_fuzz_no_5xx(client: TestClient, method: str, path: str) -> None:
    document = client.app.openapi()
    schema = _Schema(document["components"]["schemas"])
    clean = _Schema(document["components"]["schemas"], hostile=False)
    operation = document["paths"][path][method]

    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(_requests(schema, clean, operation))
    def run(req: dict[str, Any]) -> None:
        url = path
        for name, value in req["path"].items():
            url = url.replace("{" + name + "}", _path_text(value) or "0")
        headers = {}
        if req["auth"]:
            headers["Authorization"] = req["auth"]
        kwargs: dict[str, Any] = {"params": {k: _query_value(v) for k, v in req["query"].items()}}
        if method == "post":
            if req["content_type"]:
                headers["content-type"] = req["content_type"]
            kwargs["content"] = _dump(req["body"])
        r = client.request(method.upper(), url, headers=headers, **kwargs)
        event(f"HTTP {r.status_code}")  # see --hypothesis-show-statistics
        assert r.status_code < 500, (method, url, kwargs, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("application/json"), r.headers
        json.loads(r.content)

    run()
