"""Request and response schemas of the HTTP API, and the bounded types they share.

Every number a client sends is bounded here, once: ids are non-negative 64-bit integers
(:data:`Id`), years, ``n`` and weights have ranges, lists and strings have maximum lengths
(:data:`MAX_RATINGS` ratings, :data:`MAX_TITLE_CHARS` characters of a title). Whatever falls
outside answers ``422`` before any work starts.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "INT64_MAX",
    "MAX_GENRES",
    "MAX_N",
    "MAX_RATINGS",
    "MAX_TITLE_CHARS",
    "ContributorOut",
    "ExplanationOut",
    "FeatureOut",
    "GenreName",
    "HealthOut",
    "Id",
    "MatchedOut",
    "MovieOut",
    "NewUser",
    "NewUserOut",
    "RatingIn",
    "RatingsRequest",
    "RecommendationOut",
    "RecommendationsOut",
    "SearchHitOut",
    "StoredRatingOut",
    "StoredRatingsOut",
    "UnmatchedOut",
    "UserRatingsRequest",
    "Year",
]

INT64_MAX = 2**63 - 1
MAX_N = 100
"""Most results one request may ask for."""
MAX_RATINGS = 500
"""Most ratings in one request body."""
MAX_TITLE_CHARS = 300
"""Longest title (or search text) accepted; MovieLens' longest title has 158 characters."""
MAX_GENRES = 30
"""Most genres in one genre filter."""

Id = Annotated[int, Field(ge=0, le=INT64_MAX, description="A MovieLens id (0 .. 2^63-1).")]
Year = Annotated[int, Field(ge=0, le=9999)]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS)]
GenreName = Annotated[str, Field(min_length=1, max_length=60)]
Rating = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]


# ---------------------------------------------------------------------------- requests
class RatingIn(BaseModel):
    """One rating: give either ``title`` or ``movie_id``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"title": "Toy Story", "rating": 5},
                {"movie_id": 260, "rating": 4.5},
                {"title": "Heat (1995)", "rating": 2},
            ]
        },
    )

    title: Title | None = None
    movie_id: Id | None = None
    rating: Rating

    @model_validator(mode="after")
    def _one_key(self) -> RatingIn:
        if (self.title is None) == (self.movie_id is None):
            raise ValueError("give exactly one of 'title' or 'movie_id'")
        return self


def _distinct_inputs(ratings: list[RatingIn]) -> list[RatingIn]:
    seen: set[int | str] = set()
    for r in ratings:
        key: int | str = r.movie_id if r.movie_id is not None else str(r.title)
        if key in seen:
            raise ValueError(f"{key!r} is rated twice in one request; give each movie once")
        seen.add(key)
    return ratings


Ratings = Annotated[
    list[RatingIn],
    Field(min_length=1, max_length=MAX_RATINGS),
    AfterValidator(_distinct_inputs),
]


class RatingsRequest(BaseModel):
    """Body of ``POST /recommendations``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "ratings": [
                        {"title": "Toy Story", "rating": 5},
                        {"movie_id": 260, "rating": 4},
                    ],
                    "n": 10,
                },
                {
                    "ratings": [{"title": "The Matrix", "rating": 5}],
                    "n": 5,
                    "genres": ["Comedy"],
                    "year_min": 1990,
                    "year_max": 1999,
                },
            ]
        },
    )

    ratings: Ratings
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 10
    exclude_seen: bool = True
    genres: Annotated[list[GenreName], Field(max_length=MAX_GENRES)] | None = None
    year_min: Year | None = None
    year_max: Year | None = None


class UserRatingsRequest(BaseModel):
    """Body of ``POST /users/{user_id}/ratings``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"ratings": [{"title": "Toy Story", "rating": 5}, {"movie_id": 2571, "rating": 4}]}
            ]
        },
    )

    ratings: Ratings


class NewUser(BaseModel):
    """Body of ``POST /users`` (``{}`` for a user without a name)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "ann"}, {}]})

    name: Annotated[str, Field(max_length=200)] | None = None


# ---------------------------------------------------------------------------- responses
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
    """A recommended movie.

    ``score`` is what people see (the model's display score in [0, 1] when it has one);
    ``raw_score`` is the model's own score, present only when it differs from ``score``.
    """

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    score: float
    raw_score: float | None = None
    reasons: list[str] = []
    collaborative: float | None = None
    content: float | None = None


class MatchedOut(BaseModel):
    """An input and the movie it matched (``how``: what the title matcher did)."""

    input: str
    movie_id: int
    title: str
    score: float
    how: str = ""


class UnmatchedOut(BaseModel):
    """An input that matched no movie, or several."""

    input: str
    reason: str
    candidates: list[MovieOut] = []


class RecommendationsOut(BaseModel):
    """A ranked list of movies: the one recommendation shape of reelrank.

    ``query`` echoes the request as understood; ``matched`` / ``unmatched`` say how title
    or id inputs resolved; ``fallback`` is ``"popular"`` when the items are the most
    popular movies because nothing personal could be computed; ``items`` are best first.
    """

    query: dict[str, Any]
    matched: list[MatchedOut] = []
    unmatched: list[UnmatchedOut] = []
    fallback: str | None = None
    items: list[RecommendationOut]


class SearchHitOut(MovieOut):
    """A search result with its title-match score (0..100)."""

    score: float


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
    like_threshold: float | None = None
    raw_score: float | None = None


class NewUserOut(BaseModel):
    """A stored user, and (once, at creation) the token that authorises it."""

    user_id: int
    name: str | None
    created: str
    token: str = Field(
        description="Bearer token for this user's own reads and writes. Shown only "
        "now: the server keeps only its hash."
    )


class StoredRatingOut(BaseModel):
    """One of a user's ratings."""

    movie: MovieOut
    rating: float


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
    auth: str = Field(description="'api-key' (writes need a key or token) or 'open'.")
