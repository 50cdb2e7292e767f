"""The :class:`RecommenderService`: one object behind the CLI, the HTTP API and the web app.

It owns a loaded :class:`~reelrank.serving.artifact.Artifact` (or a model and dataset in
memory, :meth:`RecommenderService.from_model`), the catalogue with its title matcher, and an
optional :class:`~reelrank.serving.store.UserStore`, and answers with the small dataclasses
of :mod:`reelrank.serving.results`:

- :meth:`~RecommenderService.recommend` for a known user (training data) or a user stored
  in the database (folded in from their stored ratings, no retraining);
- :meth:`~RecommenderService.recommend_for_ratings` for an anonymous user given
  ``{title_or_movie_id: rating}``;
- :meth:`~RecommenderService.recommend_table`: raw MovieLens user ids in, a table of raw
  movie ids out;
- :meth:`~RecommenderService.similar`: collaborative item vectors blended with TF-IDF
  content similarity;
- :meth:`~RecommenderService.explain`: liked movies that contributed, shared genres and tags,
  and the hybrid model's feature contributions when it offers ``explain_features``.

Titles follow one rule everywhere (:meth:`reelrank.serving.titles.TitleMatcher.resolve`):
an ambiguous title raises :class:`~reelrank.errors.AmbiguousTitleError` naming the
candidates, and a list of popular movies returned because nothing personal could be
computed is flagged ``fallback == "popular"``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.errors import AmbiguousTitleError, UnknownIdError
from reelrank.models.base import Recommender, topk
from reelrank.serving.ann import FactorIndex, factor_arrays
from reelrank.serving.artifact import Artifact
from reelrank.serving.catalogue import Catalogue, row_of
from reelrank.serving.explain import (
    Explainer,
    default_like_threshold,
    normalise_features,
    score_and_rank,
)
from reelrank.serving.results import (
    POPULAR,
    BadRequestError,
    Contributor,
    Explanation,
    MatchedInput,
    MovieInfo,
    RatingsRecommendations,
    Recommendation,
    Recommendations,
    SimilarMovie,
    UnmatchedInput,
)
from reelrank.serving.similarity import ItemSimilarity, content_vectors
from reelrank.serving.users import StoredUsers

if TYPE_CHECKING:  # the database layer (SQLAlchemy) loads only when a store is used
    from reelrank.data.dataset import Dataset
    from reelrank.features.item_features import ItemFeatures
    from reelrank.serving.store import UserStore
    from reelrank.serving.titles import TitleMatcher

logger = logging.getLogger(__name__)

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
    "RecommenderService",
    "SimilarMovie",
    "UnmatchedInput",
]


def _years_echo(years: tuple[int | None, int | None] | None) -> list[int | None] | None:
    return None if years is None else [years[0], years[1]]


class RecommenderService(StoredUsers):
    """Recommendations, similar movies, explanations and search over one artifact.

    Parameters
    ----------
    artifact
        A loaded artifact.
    store
        User-profile database; needed for users created through the API or app.
    ann_threshold
        Catalogue size from which factor models use a faiss HNSW index for top-k.
    similarity_weight
        Default weight of the collaborative part in :meth:`similar` (the rest is content).
    like_threshold
        Ratings at or above this count as "liked" in reasons and explanations (lower
        ratings are never positive evidence). Default: 80% of the rating scale's top
        (4 stars on MovieLens' 0.5..5).

    Examples
    --------
    Start from a ratings table, train in memory, and recommend by MovieLens ids:

    >>> import pandas as pd
    >>> from reelrank.data.dataset import Dataset
    >>> from reelrank.models import create_model
    >>> ratings = pd.DataFrame({"userId": [1, 1, 2, 2, 3], "movieId": [10, 20, 10, 30, 20],
    ...                         "rating": [5.0, 4.0, 4.5, 2.0, 3.0]})
    >>> data = Dataset.from_ratings(ratings)
    >>> service = RecommenderService.from_model(create_model("pop").fit(data), data)
    >>> service.recommend_table([1, 2], n=1)[["user_id", "rank", "movie_id"]]
       user_id  rank  movie_id
    0        1     1        30
    1        2     1        20
    """

    def __init__(
        self,
        artifact: Artifact,
        store: UserStore | None = None,
        *,
        ann_threshold: int = 50_000,
        similarity_weight: float = 0.5,
        like_threshold: float | None = None,
    ) -> None:
        self.artifact = artifact
        self.store = store
        self.model = artifact.model
        self.similarity_weight = float(similarity_weight)
        self.catalogue = Catalogue(
            artifact.movies,
            artifact.items,
            artifact.ratings,
            artifact.item_tags,
            artifact.rating_scale,
        )
        self.similarity = ItemSimilarity(
            self.model, lambda: content_vectors(artifact.movies, artifact.item_tags)
        )
        scale = artifact.rating_scale
        threshold = default_like_threshold(scale) if like_threshold is None else like_threshold
        if not scale[0] <= float(threshold) <= scale[1]:
            raise BadRequestError(
                f"like_threshold must be within the rating scale {scale[0]}..{scale[1]}"
            )
        self.explainer = Explainer(
            self.catalogue, self.similarity, float(threshold), self.similarity_weight
        )
        factors = factor_arrays(self.model)
        self._user_factors = factors[0] if factors else None
        self._index = FactorIndex(factors[1], threshold=ann_threshold) if factors else None
        ids = artifact.users.values
        self._min_new_user_id = int(ids.max()) + 1 if len(ids) and ids.dtype.kind in "iu" else 1

    @classmethod
    def from_model(
        cls,
        model: Recommender,
        dataset: Dataset,
        features: ItemFeatures | None = None,
        *,
        store: UserStore | None = None,
        metrics: dict[str, Any] | None = None,
        **options: Any,
    ) -> RecommenderService:
        """A service over a model fitted in this process, without a save/load round trip.

        Parameters
        ----------
        model
            A model fitted on ``dataset``.
        dataset
            The data it was fitted on (its id maps, movies, ratings and tags are used).
        features
            Item features built from ``dataset`` (for content similarity), optional.
        store, metrics
            As for an artifact: a user database and an evaluation report, optional.
        **options
            Passed to the constructor (``ann_threshold``, ``similarity_weight``,
            ``like_threshold``).

        Raises
        ------
        ArtifactError
            The model is not fitted, or was fitted on a different catalogue.
        """
        from reelrank.serving.in_memory import in_memory_artifact

        artifact = in_memory_artifact(model, dataset, features, metrics)
        return cls(artifact, store, **options)

    # ------------------------------------------------------------------ metadata
    @property
    def matcher(self) -> TitleMatcher:
        """The catalogue's title matcher (built on first use)."""
        return self.catalogue.matcher

    @property
    def genres(self) -> list[str]:
        """All genre names in the catalogue."""
        return [str(g) for g in self.catalogue.genre_names]

    @property
    def model_name(self) -> str:
        """Registry name of the served model."""
        return self.artifact.model_name

    @property
    def n_items(self) -> int:
        """Catalogue size."""
        return len(self.catalogue)

    @property
    def uses_ann(self) -> bool:
        """Whether top-k goes through the HNSW index."""
        return self._index is not None and self._index.uses_ann

    @property
    def rating_scale(self) -> tuple[float, float]:
        """(min, max) rating of the training data."""
        return self.catalogue.rating_scale

    @property
    def rating_values(self) -> list[float]:
        """The ratings a person can give (half stars 0.5..5 on ml-latest-small)."""
        return list(self.catalogue.rating_values)

    @property
    def like_threshold(self) -> float:
        """Ratings at or above this count as "liked"."""
        return self.explainer.like_threshold

    def movie(self, movie_id: int) -> MovieInfo:
        """Details of one movie.

        Raises
        ------
        UnknownIdError
            If the id is not in the catalogue.
        """
        return self.catalogue.info(int(self.artifact.items.index(int(movie_id))))

    def search(self, query: str, limit: int = 10) -> list[tuple[MovieInfo, float]]:
        """Movies whose titles best match ``query`` with their scores (0..100)."""
        if not str(query).strip():
            raise BadRequestError("search query is empty")
        hits = self.matcher.search(query, limit)
        return [(self.catalogue.info(h.item_idx), h.score) for h in hits]

    def resolve_movie(self, movie: int | str) -> int:
        """Item index of a movie given by id (int) or title (str).

        Raises
        ------
        UnknownIdError
            Unknown id, or no title matches.
        AmbiguousTitleError
            Several movies match the title equally well (``candidates`` names them).
        """
        return self.catalogue.resolve(movie)[0]

    # ------------------------------------------------------------------ users
    def _training_user(self, user_id: int) -> int | None:
        idx = self.artifact.users.index([user_id], missing="mask")[0]
        return int(idx) if idx >= 0 else None

    def _user_row(self, user_id: int) -> tuple[int | None, sp.csr_matrix]:
        """(training index or None, ratings row) of a known or stored user."""
        uidx = self._training_user(user_id)
        if uidx is not None:
            return uidx, row_of(self.artifact.ratings, uidx)
        row = self._stored_row(user_id)
        if row is None:
            raise UnknownIdError(f"unknown user id: {user_id}")
        return None, row

    # ------------------------------------------------------------------ recommending
    def recommend(
        self,
        user_id: int,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        genres: Iterable[str] | None = None,
        years: tuple[int | None, int | None] | None = None,
        with_reasons: bool = True,
    ) -> Recommendations:
        """Top-``n`` movies for a training user or a user stored in the database.

        Parameters
        ----------
        user_id
            Raw user id.
        n
            Number of recommendations (>= 1).
        exclude_seen
            Leave out movies the user already rated.
        genres
            Keep only movies with at least one of these genres.
        years
            ``(first, last)`` release years to keep (either may be None).
        with_reasons
            Compute the short "why" texts.

        Returns
        -------
        Recommendations
            ``fallback == "popular"`` for a stored user without ratings.

        Raises
        ------
        UnknownIdError
            The user is neither in the training data nor in the database.
        """
        self._check_n(n)
        candidates = self.catalogue.candidates(genres, years)
        query = {
            "user_id": int(user_id),
            "n": int(n),
            "exclude_seen": bool(exclude_seen),
            "genres": None if genres is None else [str(g) for g in genres],
            "years": _years_echo(years),
        }
        uidx = self._training_user(user_id)
        fallback = None
        if uidx is not None:
            row = row_of(self.artifact.ratings, uidx)
            if candidates is None and self._index is not None and self._user_factors is not None:
                exclude = row_of(self.model.seen_, uidx) if exclude_seen else None
                item_idx, scores = self._index.search(self._user_factors[uidx], n, exclude)
            else:
                item_idx, scores = self.model.recommend(
                    uidx, n, exclude_seen=exclude_seen, candidates=candidates
                )
        else:
            stored = self._stored_row(user_id)
            if stored is None:
                raise UnknownIdError(f"unknown user id: {user_id}")
            row = stored
            item_idx, scores, fallback = self._recommend_row(row, n, exclude_seen, candidates)
        items = self._package(item_idx[0], scores[0], row if with_reasons else None, fallback)
        return Recommendations(query=query, items=items, fallback=fallback)

    def recommend_table(
        self, user_ids: Iterable[int], n: int = 10, *, exclude_seen: bool = True
    ) -> pd.DataFrame:
        """Top-``n`` movies for many training users, by raw MovieLens ids.

        The batch form of :meth:`recommend` for scripts: raw user ids in, raw movie ids
        out (model indices never leak out).

        Parameters
        ----------
        user_ids
            Raw user ids of the training data.
        n
            Recommendations per user.
        exclude_seen
            Leave out movies each user already rated.

        Returns
        -------
        pandas.DataFrame
            One row per (user, rank): ``user_id``, ``rank`` (1-based), ``movie_id``,
            ``title``, ``score`` (the display score when the model has one), sorted by
            user in input order then rank.

        Raises
        ------
        UnknownIdError
            An id is not a training user.
        """
        self._check_n(n)
        ids = np.asarray(list(user_ids))
        uidx = self.artifact.users.index(ids)
        item_idx, scores = self.model.recommend(uidx, n, exclude_seen=exclude_seen)
        width = item_idx.shape[1]
        flat_i, flat_s = item_idx.ravel(), scores.ravel().astype(np.float64)
        ok = flat_i >= 0
        shown = self._display(flat_s[ok])
        flat_s = flat_s[ok] if shown is None else shown
        return pd.DataFrame(
            {
                "user_id": np.repeat(ids, width)[ok],
                "rank": np.tile(np.arange(1, width + 1), len(ids))[ok],
                "movie_id": self.catalogue.movie_id[flat_i[ok]],
                "title": self.catalogue.title[flat_i[ok]],
                "score": flat_s,
            }
        )

    def _recommend_row(
        self,
        row: sp.csr_matrix,
        n: int,
        exclude_seen: bool,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, str | None]:
        """(item_idx, scores, fallback) for a ratings row (popular when it is empty)."""
        if row.nnz == 0:  # nothing rated yet: most popular
            popular = self.catalogue.popular
            pool = popular if candidates is None else popular[np.isin(popular, candidates)]
            top = pool[:n]
            pad = n - len(top)
            items = np.concatenate([top, np.full(pad, -1)])[None, :]
            counts = self.catalogue.n_ratings[top].astype(np.float32)
            scores = np.concatenate([counts, np.full(pad, -np.inf, np.float32)])[None, :]
            return items, scores, POPULAR
        if candidates is None and self._index is not None:
            vec = self.model.fold_in(row)
            if vec.shape[1] == self._index.item_factors.shape[1]:
                exclude = (row != 0).astype(np.float32).tocsr() if exclude_seen else None
                item_idx, scores = self._index.search(vec, n, exclude)
                return item_idx, scores, None
        item_idx, scores = self.model.recommend_for_ratings(
            row, n, exclude_seen=exclude_seen, candidates=candidates
        )
        return item_idx, scores, None

    def recommend_for_ratings(
        self,
        ratings: Mapping[int | str, float],
        n: int = 10,
        *,
        exclude_seen: bool = True,
        genres: Iterable[str] | None = None,
        years: tuple[int | None, int | None] | None = None,
    ) -> Recommendations:
        """Recommendations for a new user given ``{title or movie_id: rating}``.

        Integer keys are movie ids; string keys are titles, matched with the
        :class:`~reelrank.serving.titles.TitleMatcher` (each match says how it was found).
        The user is folded into the model (no retraining). Unknown titles and ids are listed
        in ``unmatched``; when no input matches, the most popular movies are returned with
        ``fallback == "popular"``.

        Raises
        ------
        AmbiguousTitleError
            A title matches several movies equally well (its candidates are named).
        BadRequestError
            A rating outside the data's rating scale.
        """
        self._check_n(n)
        candidates = self.catalogue.candidates(genres, years)
        query = {
            "ratings": [{"input": str(k), "rating": float(v)} for k, v in ratings.items()],
            "n": int(n),
            "exclude_seen": bool(exclude_seen),
            "genres": None if genres is None else [str(g) for g in genres],
            "years": _years_echo(years),
        }
        resolved, matched, unmatched = self.catalogue.resolve_ratings(ratings)
        row = self.catalogue.ratings_row(resolved)
        item_idx, scores, fallback = self._recommend_row(row, n, exclude_seen, candidates)
        items = self._package(item_idx[0], scores[0], row, fallback)
        return Recommendations(query, items, matched, unmatched, fallback)

    @staticmethod
    def _check_n(n: int) -> None:
        if not 1 <= int(n) <= 1000:
            raise BadRequestError(f"n must be within 1..1000, got {n}")

    def _display(self, scores: np.ndarray) -> np.ndarray | None:
        """The model's display scores of ``scores`` (None when it shows raw scores)."""
        hook = getattr(self.model, "display_scores", None)
        if hook is None or len(scores) == 0:
            return None
        shown = hook(np.asarray(scores))
        return None if shown is None else np.asarray(shown, dtype=np.float64)

    def _package(
        self,
        item_idx: np.ndarray,
        scores: np.ndarray,
        row: sp.csr_matrix | None,
        fallback: str | None = None,
    ) -> list[Recommendation]:
        valid = item_idx >= 0
        item_idx, scores = item_idx[valid], scores[valid]
        reasons: list[list[str]] = [[] for _ in range(len(item_idx))]
        if fallback == POPULAR:
            reasons = [["among the most-rated movies"] for _ in range(len(item_idx))]
        elif row is not None and len(item_idx):
            reasons = self.explainer.reasons(item_idx, row)
        shown = None if fallback == POPULAR else self._display(scores)
        cat = self.catalogue
        return [
            Recommendation(
                movie_id=int(cat.movie_id[i]),
                title=str(cat.title[i]),
                year=cat.year_of(i),
                genres=list(cat.genres[i]),
                score=round(float(s if shown is None else shown[k]), 5),
                raw_score=None if shown is None else round(float(s), 5),
                reasons=r,
            )
            for k, (i, s, r) in enumerate(zip(item_idx, scores, reasons, strict=True))
        ]

    # ------------------------------------------------------------------ similarity
    def similar(
        self, movie: int | str, n: int = 10, weight: float | None = None
    ) -> Recommendations:
        """Movies most similar to ``movie`` (id or title).

        Parameters
        ----------
        movie
            Movie id (int) or title (str).
        n
            How many.
        weight
            Weight of the collaborative similarity (cosine of the model's item vectors);
            ``1 - weight`` goes to TF-IDF content similarity. Default: the service's.

        Returns
        -------
        Recommendations
            Items are :class:`~reelrank.serving.results.SimilarMovie` (``score`` is the
            blend; ``collaborative`` and ``content`` its parts); ``matched`` says how the
            title matched.

        Raises
        ------
        AmbiguousTitleError
            The title matches several movies (they are named).
        UnknownIdError
            Unknown id or title.
        """
        self._check_n(n)
        w = self.similarity_weight if weight is None else float(weight)
        if not 0.0 <= w <= 1.0:
            raise BadRequestError(f"weight must be within 0..1, got {weight}")
        idx, how = self.catalogue.resolve(movie)
        blend, cf, content = self.similarity.block(np.array([idx]), None, w)
        blend[0, idx] = -np.inf
        top_i, top_s = topk(blend, n)
        cat = self.catalogue
        items: list[Recommendation] = [
            SimilarMovie(
                movie_id=int(cat.movie_id[i]),
                title=str(cat.title[i]),
                year=cat.year_of(i),
                genres=list(cat.genres[i]),
                score=round(float(s), 4),
                collaborative=None if cf is None else round(float(cf[0, i]), 4),
                content=None if content is None else round(float(content[0, i]), 4),
            )
            for i, s in zip(top_i[0], top_s[0], strict=True)
            if i >= 0
        ]
        query = {"movie": str(movie), "n": int(n), "weight": w}
        return Recommendations(query=query, items=items, matched=[how])

    # ------------------------------------------------------------------ explanations
    def explain(self, user_id: int, movie: int | str, *, top: int = 3) -> Explanation:
        """Why ``movie`` suits (or not) user ``user_id``.

        Lists the movies the user liked (rated at or above :attr:`like_threshold`) that are
        most similar to it (blended collaborative + content item similarity), genres and
        tags it shares with them, the model's score and rank, and for models offering
        ``explain_features(user_idx, item_idx)`` (the ``hybrid`` re-ranker) the features
        that moved the score most.

        Raises
        ------
        AmbiguousTitleError
            The title matches several movies (they are named).
        UnknownIdError
            Unknown user, movie id or title.
        """
        uidx, row = self._user_row(user_id)
        idx = self.resolve_movie(movie)
        contributors, shared_genres, shared_tags = self.explainer.evidence(row, idx, top)
        raw, rank = score_and_rank(self.model, uidx, row, idx)
        score, raw_score = raw, None
        if raw is not None:
            shown = self._display(np.array([raw]))
            if shown is not None:
                score, raw_score = round(float(shown[0]), 5), raw
        features: list[tuple[str, float]] = []
        explain_features = getattr(self.model, "explain_features", None)
        if uidx is not None and callable(explain_features):
            features = normalise_features(explain_features(uidx, idx))
        reasons = self.explainer.texts(row, idx, contributors, shared_genres, shared_tags, features)
        return Explanation(
            user_id=int(user_id),
            movie=self.catalogue.info(idx),
            score=score,
            rank=rank,
            liked=contributors,
            shared_genres=shared_genres,
            shared_tags=shared_tags,
            features=features,
            reasons=reasons,
            like_threshold=self.like_threshold,
            raw_score=raw_score,
        )
