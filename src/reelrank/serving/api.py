"""HTTP API (FastAPI) over a :class:`~reelrank.serving.service.RecommenderService`.

``create_app(service, api_key=...)`` builds the application; there are no module-level
globals and no environment lookups, so tests and the CLI pass whatever service and key they
have. The rules every endpoint follows:

- **Errors are JSON.** 401 without valid credentials, 404 for unknown users and movies,
  409 for ambiguous titles (with the ``candidates``), 413 for a body over the size limit,
  415 for a write that is not JSON, 422 for invalid input (with what is wrong, the input
  cut short), 503 when the user database is not configured. An unexpected failure answers
  a JSON 500 and is logged; bad input never causes one.
- **Work per request is bounded.** Ids are 64-bit, ``n`` at most 100, at most 500 ratings
  and 300-character titles per request, bodies at most 1 MiB (see
  :mod:`~reelrank.serving.api_schemas` and :mod:`~reelrank.serving.limits`).
- **No request blocks the server.** Endpoints that compute are plain ``def`` functions,
  which FastAPI runs in its thread pool; the event loop only parses and answers, so
  ``/health`` answers while the heaviest request runs.
- **Writes and stored users' data need credentials when a key is configured** (see
  :mod:`~reelrank.serving.api_security`).

Interactive docs are served offline at ``/docs`` (Swagger UI) and ``/redoc``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from reelrank import __version__
from reelrank.errors import AmbiguousTitleError, ReelrankError, UnknownIdError
from reelrank.models.base import FoldInNotSupported
from reelrank.serving.api_docs import add_offline_docs
from reelrank.serving.api_schemas import (
    INT64_MAX,
    MAX_GENRES,
    MAX_N,
    MAX_TITLE_CHARS,
    ExplanationOut,
    GenreName,
    HealthOut,
    MovieOut,
    NewUser,
    NewUserOut,
    RatingIn,
    RatingsRequest,
    RecommendationsOut,
    SearchHitOut,
    StoredRatingOut,
    StoredRatingsOut,
    UserRatingsRequest,
)
from reelrank.serving.api_security import Guard, bearer_scheme, hash_token, new_user_token
from reelrank.serving.limits import (
    DEFAULT_MAX_BODY_BYTES,
    BodySizeLimit,
    StrictJSONRoute,
    safe_errors,
    safe_text,
)
from reelrank.serving.service import RecommenderService
from reelrank.serving.store import UserStore

logger = logging.getLogger(__name__)

__all__ = ["MAX_N", "NoDatabaseError", "create_app"]

# parameter types shared by several endpoints
NQuery = Annotated[int, Query(ge=1, le=MAX_N, description="How many results (1..100).")]
UserPath = Annotated[
    int, Path(ge=0, le=INT64_MAX, description="A training user id or a stored user's id.")
]
UserQuery = Annotated[
    int, Query(ge=0, le=INT64_MAX, description="A training user id or a stored user's id.")
]
MoviePath = Annotated[int, Path(ge=0, le=INT64_MAX, description="MovieLens movie id.")]
MovieQuery = Annotated[int, Query(ge=0, le=INT64_MAX, description="MovieLens movie id.")]
YearQuery = Annotated[int | None, Query(ge=0, le=9999, description="Release year bound.")]
GenresQuery = Annotated[
    list[GenreName] | None,
    Query(max_length=MAX_GENRES, description="Keep movies with any of these genres."),
]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]


class NoDatabaseError(ReelrankError):
    """A user-profile endpoint was called on a server without a user database (503)."""


def _status_of(exc: ReelrankError) -> int:
    """The HTTP status of a library error: what the client can fix is a 4xx."""
    if isinstance(exc, UnknownIdError):
        return 404
    if isinstance(exc, AmbiguousTitleError):
        return 409
    if isinstance(exc, FoldInNotSupported):
        return 501  # the served model cannot do this; no input would help
    return 422


def _error_body(exc: ReelrankError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": safe_text(str(exc), 2000)}
    if isinstance(exc, AmbiguousTitleError):
        body["query"] = safe_text(exc.query)
        body["candidates"] = [_plain(c) for c in exc.candidates]
    return body


def _plain(obj: Any) -> Any:
    """A dataclass (or anything else JSON-ready) as plain JSON data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj


def _ratings_map(ratings: list[RatingIn]) -> dict[int | str, float]:
    out: dict[int | str, float] = {}
    for r in ratings:
        key: int | str = r.movie_id if r.movie_id is not None else str(r.title)
        out[key] = r.rating
    return out


def _years(year_min: int | None, year_max: int | None) -> tuple[int | None, int | None] | None:
    return None if year_min is None and year_max is None else (year_min, year_max)


# ---------------------------------------------------------------------------- the app
def create_app(
    service: RecommenderService,
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """Build the FastAPI application serving ``service``.

    Parameters
    ----------
    service
        The recommender service (its artifact, title matcher and optional user store).
    api_key
        The server's API key (at least 16 characters). With a key, writes and reads of
        stored users' data need ``Authorization: Bearer <key>`` (or the user's own token
        from ``POST /users``); without one nothing is checked, so only serve such an app
        on a loopback address (``reelrank serve`` enforces this). The library never reads
        the key from the environment; the caller passes it.
    max_body_bytes
        Largest request body accepted (413 beyond).

    Returns
    -------
    fastapi.FastAPI
        The application; run it with uvicorn (``reelrank serve``) or test it with
        ``fastapi.testclient.TestClient``.

    Raises
    ------
    ValueError
        For an API key shorter than 16 characters or a negative body limit.
    """
    guard = Guard(service, api_key)
    app = FastAPI(
        title="reelrank",
        version=__version__,
        description="Movie recommendations: known users, new users from a few ratings, "
        "similar movies and explanations. Write endpoints take JSON only. With an API key, "
        "writes and stored users' data need `Authorization: Bearer <API key or user token>` "
        "(the Authorize button). "
        + (
            "This server has an API key."
            if guard.enabled
            else "This server has no API key: it is open to local clients only."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.router.route_class = StrictJSONRoute
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.state.service = service
    app.state.guard = guard
    add_offline_docs(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": safe_errors(exc.errors())})

    @app.exception_handler(ReelrankError)
    async def _library_error(_: Request, exc: ReelrankError) -> JSONResponse:
        return JSONResponse(status_code=_status_of(exc), content=_error_body(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            status_code=500, content={"detail": "internal server error (logged on the server)"}
        )

    @app.exception_handler(NoDatabaseError)
    async def _no_db(_: Request, exc: NoDatabaseError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    def store_required() -> UserStore:
        if service.store is None:
            raise NoDatabaseError("no user database configured (start with --db)")
        return service.store

    @app.get("/health", response_model=HealthOut)
    async def health() -> dict[str, Any]:
        """Liveness: the model and catalogue being served, and the authentication mode."""
        return {
            "status": "ok",
            "version": __version__,
            "model": service.model_name,
            "n_movies": service.n_items,
            "n_users": len(service.artifact.users),
            "ann": service.uses_ann,
            "database": service.store is not None,
            "auth": guard.mode,
        }

    @app.get("/recommendations/{user_id}", response_model=RecommendationsOut)
    def recommend_user(
        user_id: UserPath,
        credentials: Credentials,
        n: NQuery = 10,
        exclude_seen: bool = True,
        genres: GenresQuery = None,
        year_min: YearQuery = None,
        year_max: YearQuery = None,
    ) -> JSONResponse:
        """Top-n movies for a known user: a training user, or a stored user (folded in
        from their stored ratings; with an API key, needs the key or the user's token).
        A stored user without ratings gets the most popular movies (``"fallback":
        "popular"``)."""
        guard.require_reader(user_id, credentials)
        result = service.recommend(
            user_id, n, exclude_seen=exclude_seen, genres=genres, years=_years(year_min, year_max)
        )
        # the hot path: JSON built directly (the shape of RecommendationsOut)
        return JSONResponse(result.to_dict())

    @app.post(
        "/recommendations",
        response_model=RecommendationsOut,
        responses={409: {"description": "An ambiguous title; the candidates are listed."}},
    )
    def recommend_ratings(body: RatingsRequest) -> JSONResponse:
        """Recommendations for an anonymous user from a few ratings (titles or ids).

        Each title is matched with the fuzzy title matcher; ``matched`` says how each input
        was understood, ``unmatched`` lists unknown titles and ids (with the closest
        titles). A title that matches several movies equally well answers 409 with the
        ``candidates``: nothing is guessed (add the year, e.g. "Heat (1995)", or give the
        ``movie_id``). When no input matched (only unknown titles or ids), the most popular
        movies are returned, flagged ``"fallback": "popular"``. Nothing is stored.
        """
        result = service.recommend_for_ratings(
            _ratings_map(body.ratings),
            body.n,
            exclude_seen=body.exclude_seen,
            genres=body.genres,
            years=_years(body.year_min, body.year_max),
        )
        return JSONResponse(result.to_dict())

    @app.get("/movies/search", response_model=list[SearchHitOut])
    def search(
        q: Annotated[
            str, Query(min_length=1, max_length=MAX_TITLE_CHARS, description="Title text.")
        ],
        limit: NQuery = 10,
    ) -> list[dict[str, Any]]:
        """Movies whose titles best match ``q`` (fuzzy)."""
        return [{**_plain(m), "score": s} for m, s in service.search(q, limit)]

    @app.get("/movies/{movie_id}", response_model=MovieOut)
    def movie(movie_id: MoviePath) -> dict[str, Any]:
        """One movie's details."""
        return _plain(service.movie(movie_id))

    @app.get("/movies/{movie_id}/similar", response_model=RecommendationsOut)
    def similar(
        movie_id: MoviePath,
        n: NQuery = 10,
        weight: Annotated[
            float | None,
            Query(ge=0.0, le=1.0, allow_inf_nan=False, description="Collaborative weight."),
        ] = None,
    ) -> JSONResponse:
        """Similar movies: collaborative and content similarity blended with ``weight``
        (items carry ``collaborative`` and ``content`` parts)."""
        return JSONResponse(service.similar(movie_id, n, weight).to_dict())

    @app.get("/explain", response_model=ExplanationOut)
    def explain(user_id: UserQuery, movie_id: MovieQuery, credentials: Credentials) -> Any:
        """Why a movie suits a user: liked movies, shared genres and tags, features (for
        a stored user with an API key: needs the key or the user's token)."""
        guard.require_reader(user_id, credentials)
        e = service.explain(user_id, movie_id)
        out = _plain(e)
        out["features"] = [{"name": k, "contribution": v} for k, v in e.features]
        return out

    @app.post(
        "/users",
        response_model=NewUserOut,
        status_code=201,
        dependencies=[Depends(store_required)],
    )
    def create_user(body: NewUser, credentials: Credentials) -> dict[str, Any]:
        """Create a user profile in the database (JSON body, ``{}`` for no name).

        The answer carries the user's ``token``, shown only this once (the database keeps
        its hash): with an API key configured it authorises this user's own reads and
        writes. Creating users needs the API key.
        """
        guard.require_key(credentials)
        user = service.create_user(body.name)
        token = new_user_token()
        store_required().set_token_hash(user.user_id, hash_token(token))
        return {**_plain(user), "token": token}

    @app.post(
        "/users/{user_id}/ratings",
        response_model=StoredRatingsOut,
        dependencies=[Depends(store_required)],
    )
    def add_ratings(
        user_id: UserPath, body: UserRatingsRequest, credentials: Credentials
    ) -> dict[str, Any]:
        """Store (insert or update) a stored user's ratings (needs the API key or the
        user's token when a key is configured)."""
        guard.require_user(user_id, credentials)
        stored, matched, unmatched = service.add_ratings(user_id, _ratings_map(body.ratings))
        return {
            "user_id": user_id,
            "stored": stored,
            "matched": [_plain(m) for m in matched],
            "unmatched": [_plain(u) for u in unmatched],
        }

    @app.get("/users/{user_id}/ratings", response_model=list[StoredRatingOut])
    def user_ratings(user_id: UserPath, credentials: Credentials) -> list[dict[str, Any]]:
        """A user's ratings, highest first (a stored user's need the key or their token)."""
        guard.require_reader(user_id, credentials)
        return [
            {"movie": _plain(m), "rating": rating} for m, rating in service.user_ratings(user_id)
        ]

    return app
