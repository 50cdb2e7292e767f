"""HTTP API (FastAPI) over a :class:`~reelrank.serving.service.RecommenderService`.

``create_app(service)`` builds the application; there are no module-level globals and no
environment lookups, so tests and the CLI pass whatever service they built. Errors answer
with JSON: 404 for unknown users and movies, 422 for invalid input (with what is wrong),
409 for ambiguous titles, 503 when the user database is not configured. OpenAPI docs are
served at ``/docs``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from reelrank import __version__
from reelrank.errors import ReelrankError, UnknownIdError
from reelrank.models.base import FoldInNotSupported
from reelrank.serving.service import AmbiguousTitleError, Recommendation, RecommenderService

logger = logging.getLogger(__name__)

__all__ = ["create_app"]

MAX_N = 100

# parameter types shared by several endpoints
NQuery = Annotated[int, Query(ge=1, le=MAX_N, description="How many results (1..100).")]
MoviePath = Annotated[int, Path(description="MovieLens movie id.")]


# ---------------------------------------------------------------------------- schemas
class RatingIn(BaseModel):
    """One rating: give either ``title`` or ``movie_id``."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    movie_id: int | None = None
    rating: Annotated[float, Field(allow_inf_nan=False)]

    @model_validator(mode="after")
    def _one_key(self) -> RatingIn:
        if (self.title is None) == (self.movie_id is None):
            raise ValueError("give exactly one of 'title' or 'movie_id'")
        return self


class RatingsRequest(BaseModel):
    """Body of ``POST /recommendations``."""

    model_config = ConfigDict(extra="forbid")

    ratings: Annotated[list[RatingIn], Field(min_length=1, max_length=1000)]
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 10
    exclude_seen: bool = True
    genres: list[str] | None = None
    year_min: int | None = None
    year_max: int | None = None


class UserRatingsRequest(BaseModel):
    """Body of ``POST /users/{user_id}/ratings``."""

    model_config = ConfigDict(extra="forbid")

    ratings: Annotated[list[RatingIn], Field(min_length=1, max_length=1000)]


class NewUser(BaseModel):
    """Body of ``POST /users``."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=200)] | None = None


class MovieOut(BaseModel):
    """A movie."""

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    n_ratings: int = 0
    mean_rating: float | None = None
    top_tags: list[str] = []


class RecommendationOut(BaseModel):
    """A recommended movie."""

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    score: float
    reasons: list[str]


class MatchedOut(BaseModel):
    """An input and the movie it matched."""

    input: str
    movie_id: int
    title: str
    score: float


class UnmatchedOut(BaseModel):
    """An input that matched no movie, or several."""

    input: str
    reason: str
    candidates: list[MovieOut] = []


class RecommendationsOut(BaseModel):
    """Recommendations (and, for ratings input, how the inputs were matched)."""

    user_id: int | None = None
    recommendations: list[RecommendationOut]
    matched: list[MatchedOut] = []
    unmatched: list[UnmatchedOut] = []


class SearchHitOut(MovieOut):
    """A search result with its title-match score (0..100)."""

    score: float


class SimilarOut(BaseModel):
    """A similar movie."""

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    score: float
    collaborative: float | None
    content: float | None


class ContributorOut(BaseModel):
    """A liked movie that contributed to an explanation."""

    movie_id: int
    title: str
    rating: float
    similarity: float


class FeatureOut(BaseModel):
    """A model feature and its contribution to the score."""

    name: str
    contribution: float


class ExplanationOut(BaseModel):
    """Why a movie suits a user."""

    user_id: int
    movie: MovieOut
    score: float | None
    rank: int | None
    liked: list[ContributorOut]
    shared_genres: list[str]
    shared_tags: list[str]
    features: list[FeatureOut]
    reasons: list[str]


class UserOut(BaseModel):
    """A stored user."""

    user_id: int
    name: str | None
    created: str


class StoredRatingsOut(BaseModel):
    """Result of storing ratings."""

    user_id: int
    stored: int
    matched: list[MatchedOut]
    unmatched: list[UnmatchedOut]


class HealthOut(BaseModel):
    """Liveness and what is served."""

    status: str
    version: str
    model: str
    n_movies: int
    n_users: int
    ann: bool
    database: bool


def _as_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def _rec(r: Recommendation) -> dict[str, Any]:
    return {
        "movie_id": r.movie_id,
        "title": r.title,
        "year": r.year,
        "genres": r.genres,
        "score": r.score,
        "reasons": r.reasons,
    }


def _ratings_map(ratings: list[RatingIn]) -> dict[int | str, float]:
    out: dict[int | str, float] = {}
    for r in ratings:
        key: int | str = r.movie_id if r.movie_id is not None else str(r.title)
        out[key] = r.rating
    return out


def _years(year_min: int | None, year_max: int | None) -> tuple[int | None, int | None] | None:
    return None if year_min is None and year_max is None else (year_min, year_max)


# ---------------------------------------------------------------------------- the app
def create_app(service: RecommenderService) -> FastAPI:
    """Build the FastAPI application serving ``service``.

    Parameters
    ----------
    service
        The recommender service (its artifact, title matcher and optional user store).

    Returns
    -------
    fastapi.FastAPI
        The application; run it with uvicorn (``reelrank serve``) or test it with
        ``fastapi.testclient.TestClient``.
    """
    app = FastAPI(
        title="reelrank",
        version=__version__,
        description="Movie recommendations: known users, new users from a few ratings, "
        "similar movies and explanations.",
    )
    app.state.service = service

    @app.exception_handler(UnknownIdError)
    async def _unknown(_: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(AmbiguousTitleError)
    async def _ambiguous(_: Request, exc: AmbiguousTitleError) -> JSONResponse:
        return JSONResponse(
            status_code=409, content={"detail": str(exc), "candidates": exc.candidates}
        )

    @app.exception_handler(FoldInNotSupported)
    async def _unsupported(_: Request, exc: FoldInNotSupported) -> JSONResponse:
        return JSONResponse(status_code=501, content={"detail": str(exc)})

    @app.exception_handler(ReelrankError)
    async def _bad(_: Request, exc: ReelrankError) -> JSONResponse:
        status = 503 if "no user database" in str(exc) else 422
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.get("/health", response_model=HealthOut)
    async def health() -> dict[str, Any]:
        """Liveness: the model and catalogue being served."""
        return {
            "status": "ok",
            "version": __version__,
            "model": service.model_name,
            "n_movies": service.n_items,
            "n_users": len(service.artifact.users),
            "ann": service.uses_ann,
            "database": service.store is not None,
        }

    @app.get("/recommendations/{user_id}", response_model=RecommendationsOut)
    async def recommend_user(
        user_id: Annotated[int, Path(description="A training or database user id.")],
        n: NQuery = 10,
        exclude_seen: bool = True,
        genres: Annotated[list[str] | None, Query()] = None,
        year_min: int | None = None,
        year_max: int | None = None,
    ) -> JSONResponse:
        """Top-n movies for a known user (training data or database)."""
        recs = service.recommend(
            user_id,
            n,
            exclude_seen=exclude_seen,
            genres=genres,
            years=_years(year_min, year_max),
        )
        # the hot path: build the JSON directly (same shape as RecommendationsOut)
        return JSONResponse({"user_id": user_id, "recommendations": [_rec(r) for r in recs]})

    @app.post("/recommendations", response_model=RecommendationsOut)
    async def recommend_ratings(body: RatingsRequest) -> dict[str, Any]:
        """Recommendations for an anonymous user from a few ratings (titles or ids)."""
        result = service.recommend_for_ratings(
            _ratings_map(body.ratings),
            body.n,
            exclude_seen=body.exclude_seen,
            genres=body.genres,
            years=_years(body.year_min, body.year_max),
        )
        return _as_dict(result)

    @app.get("/movies/search", response_model=list[SearchHitOut])
    async def search(
        q: Annotated[str, Query(min_length=1, max_length=300, description="Title text.")],
        limit: NQuery = 10,
    ) -> list[dict[str, Any]]:
        """Movies whose titles best match ``q`` (fuzzy)."""
        return [{**_as_dict(m), "score": s} for m, s in service.search(q, limit)]

    @app.get("/movies/{movie_id}", response_model=MovieOut)
    async def movie(movie_id: MoviePath) -> dict[str, Any]:
        """One movie's details."""
        return _as_dict(service.movie(movie_id))

    @app.get("/movies/{movie_id}/similar", response_model=list[SimilarOut])
    async def similar(
        movie_id: MoviePath,
        n: NQuery = 10,
        weight: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    ) -> list[dict[str, Any]]:
        """Similar movies: collaborative and content similarity blended with ``weight``."""
        return [_as_dict(s) for s in service.similar(movie_id, n, weight)]

    @app.get("/explain", response_model=ExplanationOut)
    async def explain(user_id: int, movie_id: int) -> dict[str, Any]:
        """Why a movie suits a user: liked movies, shared genres and tags, features."""
        e = service.explain(user_id, movie_id)
        out = _as_dict(e)
        out["features"] = [{"name": k, "contribution": v} for k, v in e.features]
        return out

    @app.post("/users", response_model=UserOut, status_code=201)
    def create_user(body: NewUser | None = None) -> dict[str, Any]:
        """Create a user profile in the database."""
        return _as_dict(service.create_user(body.name if body else None))

    @app.post("/users/{user_id}/ratings", response_model=StoredRatingsOut)
    def add_ratings(user_id: int, body: UserRatingsRequest) -> dict[str, Any]:
        """Store (insert or update) a database user's ratings."""
        stored, matched, unmatched = service.add_ratings(user_id, _ratings_map(body.ratings))
        return {
            "user_id": user_id,
            "stored": stored,
            "matched": [_as_dict(m) for m in matched],
            "unmatched": [_as_dict(u) for u in unmatched],
        }

    return app
