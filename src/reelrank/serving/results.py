"""The small dataclasses :class:`~reelrank.serving.service.RecommenderService` answers with.

One recommendation shape everywhere (``reelrank recommend --user``, ``--rated``,
``reelrank similar``, the HTTP API and the web app): a :class:`Recommendations` holds the
query as it was understood (``query``), how title inputs were matched (``matched``,
``unmatched``), whether the list is a popularity fallback (``fallback == "popular"``) and the
ranked ``items``. Each item has ``movie_id``, ``title``, ``year``, ``genres`` and ``score``;
when the model maps its raw scores to [0, 1] for people
(:meth:`~reelrank.models.base.Recommender.display_scores`), ``score`` is that display score
and ``raw_score`` the model's own. :meth:`Recommendations.to_dict` is the JSON form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from reelrank.errors import AmbiguousTitleError, ReelrankError

__all__ = [
    "AmbiguousTitleError",
    "BadRequestError",
    "Contributor",
    "Explanation",
    "MatchedInput",
    "MovieInfo",
    "RatingsRecommendations",
    "Recommendation",
    "Recommendations",
    "SimilarMovie",
    "UnmatchedInput",
]

#: the ``fallback`` value of a list that is the most popular movies, not a personal answer
POPULAR = "popular"


class BadRequestError(ReelrankError, ValueError):
    """A request is invalid (rating out of range, unknown genre, bad year range...)."""


@dataclass(frozen=True)
class MovieInfo:
    """A catalogue movie."""

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    n_ratings: int = 0
    mean_rating: float | None = None
    top_tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Recommendation:
    """One recommended movie with its score and human-readable reasons.

    Attributes
    ----------
    score
        The score people see: the model's display score in [0, 1] when it has one,
        otherwise its raw score (for a popularity fallback: the number of ratings).
    raw_score
        The model's raw score when ``score`` is a display score, else ``None``.
    reasons
        Short "why" texts.
    """

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    score: float
    raw_score: float | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``raw_score`` only when the model has display scores)."""
        out = dataclasses.asdict(self)
        if out["raw_score"] is None:
            del out["raw_score"]
        return out


@dataclass(frozen=True)
class SimilarMovie(Recommendation):
    """A similar movie: blended ``score`` and its collaborative and content parts."""

    collaborative: float | None = None
    content: float | None = None


@dataclass(frozen=True)
class MatchedInput:
    """An input (title or id) and the movie it resolved to.

    Attributes
    ----------
    input
        As given.
    movie_id, title
        The movie (``title`` is ``"Title (year)"``).
    score
        Title-match score 0..100 (100 for ids and exact titles).
    how
        What the matcher did (``"exact title"``, ``"close spelling (score 89)"``...).
    """

    input: str
    movie_id: int
    title: str
    score: float
    how: str = ""


@dataclass(frozen=True)
class UnmatchedInput:
    """An input that did not resolve to a movie (and the closest titles, if any)."""

    input: str
    reason: str
    candidates: list[MovieInfo] = field(default_factory=list)


@dataclass(frozen=True)
class Recommendations(Sequence[Recommendation]):
    """A ranked list of movies and what it answers (one shape for every kind of query).

    It is a sequence of its ``items`` (``len``, indexing and iteration go over them).

    Attributes
    ----------
    query
        The request as understood, JSON-ready: ``{"user_id": 1, "n": 10, ...}``,
        ``{"ratings": [{"input": "Toy Story", "rating": 5.0}], ...}`` or
        ``{"movie": "Toy Story", "weight": 0.5, ...}``.
    items
        Best first.
    matched, unmatched
        How title or id inputs resolved (empty for a known user).
    fallback
        ``"popular"`` when ``items`` are the most popular movies because nothing personal
        could be computed (no usable rating), else ``None``.
    """

    query: dict[str, Any]
    items: list[Recommendation]
    matched: list[MatchedInput] = field(default_factory=list)
    unmatched: list[UnmatchedInput] = field(default_factory=list)
    fallback: str | None = None

    @property
    def recommendations(self) -> list[Recommendation]:
        """The ``items`` (the name the first API used)."""
        return self.items

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, k: int) -> Recommendation: ...

    @overload
    def __getitem__(self, k: slice) -> list[Recommendation]: ...

    def __getitem__(self, k: int | slice) -> Recommendation | list[Recommendation]:
        return self.items[k]

    def __iter__(self) -> Iterator[Recommendation]:
        return iter(self.items)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by the CLI's ``--json`` and the HTTP API."""
        return {
            "query": dict(self.query),
            "matched": [dataclasses.asdict(m) for m in self.matched],
            "unmatched": [dataclasses.asdict(u) for u in self.unmatched],
            "fallback": self.fallback,
            "items": [r.to_dict() for r in self.items],
        }


#: the old name of :class:`Recommendations` (the answer of ``recommend_for_ratings``)
RatingsRecommendations = Recommendations


@dataclass(frozen=True)
class Contributor:
    """A movie the user liked (rated at or above the like threshold) and its similarity."""

    movie_id: int
    title: str
    rating: float
    similarity: float


@dataclass(frozen=True)
class Explanation:
    """Why a movie is (or is not) recommended to a user.

    Attributes
    ----------
    liked
        The user's liked movies (rated at or above ``like_threshold``) most similar to it.
    like_threshold
        The rating from which a rating counts as "liked".
    """

    user_id: int
    movie: MovieInfo
    score: float | None
    rank: int | None
    liked: list[Contributor]
    shared_genres: list[str]
    shared_tags: list[str]
    features: list[tuple[str, float]]
    reasons: list[str]
    like_threshold: float | None = None
    raw_score: float | None = None
