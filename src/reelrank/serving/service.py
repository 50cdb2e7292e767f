"""The :class:`RecommenderService`: one object behind the CLI, the HTTP API and the web app.

It owns a loaded :class:`~reelrank.serving.artifact.Artifact`, the title matcher and an
optional :class:`~reelrank.serving.store.UserStore`, and answers with small dataclasses:

- :meth:`~RecommenderService.recommend` for a known user (training data) or a user stored
  in the database (folded in from their stored ratings, no retraining);
- :meth:`~RecommenderService.recommend_for_ratings` for an anonymous user given
  ``{title_or_movie_id: rating}``;
- :meth:`~RecommenderService.similar`: collaborative item vectors blended with TF-IDF
  content similarity;
- :meth:`~RecommenderService.explain`: liked movies that contributed, shared genres and tags,
  and the hybrid model's feature contributions when it offers ``explain_features``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.errors import ReelrankError, UnknownIdError
from reelrank.models.base import FoldInNotSupported, topk
from reelrank.serving.ann import FactorIndex, factor_arrays
from reelrank.serving.artifact import Artifact
from reelrank.serving.titles import TitleMatcher

if TYPE_CHECKING:  # the database layer (SQLAlchemy) loads only when a store is used
    from reelrank.serving.store import StoredUser, UserStore

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
    "RecommenderService",
    "SimilarMovie",
    "UnmatchedInput",
]


class BadRequestError(ReelrankError, ValueError):
    """A request is invalid (rating out of range, unknown genre, bad year range...)."""


class AmbiguousTitleError(ReelrankError, LookupError):
    """A title matches several movies equally well; the message lists them."""

    def __init__(self, query: str, candidates: Sequence[str]) -> None:
        self.query = query
        self.candidates = list(candidates)
        shown = "; ".join(self.candidates[:6])
        super().__init__(f"title {query!r} is ambiguous: {shown} (add the year)")


# ---------------------------------------------------------------------------- results
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
    """One recommended movie with its score and human-readable reasons."""

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    score: float
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MatchedInput:
    """An input (title or id) and the movie it resolved to (``score`` 0..100)."""

    input: str
    movie_id: int
    title: str
    score: float


@dataclass(frozen=True)
class UnmatchedInput:
    """An input that did not resolve to one movie."""

    input: str
    reason: str
    candidates: list[MovieInfo] = field(default_factory=list)


@dataclass(frozen=True)
class RatingsRecommendations:
    """Answer of :meth:`RecommenderService.recommend_for_ratings`."""

    recommendations: list[Recommendation]
    matched: list[MatchedInput]
    unmatched: list[UnmatchedInput]


@dataclass(frozen=True)
class SimilarMovie:
    """A similar movie: blended score and its collaborative and content parts."""

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    score: float
    collaborative: float | None
    content: float | None


@dataclass(frozen=True)
class Contributor:
    """A movie the user liked and its similarity to the explained movie."""

    movie_id: int
    title: str
    rating: float
    similarity: float


@dataclass(frozen=True)
class Explanation:
    """Why a movie is (or is not) recommended to a user."""

    user_id: int
    movie: MovieInfo
    score: float | None
    rank: int | None
    liked: list[Contributor]
    shared_genres: list[str]
    shared_tags: list[str]
    features: list[tuple[str, float]]
    reasons: list[str]


# ---------------------------------------------------------------------------- helpers
def _year(v: Any) -> int | None:
    if v is None:
        return None
    v = int(v) if not pd.isna(v) else -1
    return None if v < 0 else v


def _row_of(matrix: sp.csr_matrix, i: int) -> sp.csr_matrix:
    """Row ``i`` of a CSR matrix as a 1 x n CSR, without scipy's fancy-indexing overhead."""
    lo, hi = int(matrix.indptr[i]), int(matrix.indptr[i + 1])
    return sp.csr_matrix(
        (matrix.data[lo:hi], matrix.indices[lo:hi], np.array([0, hi - lo])),
        shape=(1, matrix.shape[1]),
    )


def _l2_rows(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


class RecommenderService:
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
    """

    def __init__(
        self,
        artifact: Artifact,
        store: UserStore | None = None,
        *,
        ann_threshold: int = 50_000,
        similarity_weight: float = 0.5,
    ) -> None:
        self.artifact = artifact
        self.store = store
        self.model = artifact.model
        self.similarity_weight = float(similarity_weight)
        movies = artifact.movies
        self._movie_id = movies["movie_id"].to_numpy(np.int64)
        self._title = movies["title"].astype(str).to_numpy()
        self._years = pd.array(movies["year"], dtype="Int32")
        self._year_arr = np.asarray(self._years.fillna(-1).to_numpy(np.int64))
        self._genres: list[list[str]] = [list(g) for g in movies["genres"].tolist()]
        ratings = artifact.ratings
        self._n_ratings = np.bincount(ratings.indices, minlength=artifact.n_items)
        sums = np.bincount(ratings.indices, weights=ratings.data, minlength=artifact.n_items)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._mean_rating = np.where(self._n_ratings > 0, sums / self._n_ratings, np.nan)
        self._popular = np.argsort(-self._n_ratings, kind="stable")
        self.matcher = TitleMatcher(movies, popularity=self._n_ratings)
        self._genre_matrix, self._genre_names = self._build_genres()
        # dense items x genres (uint8, ~20 columns) for fast per-request genre counts
        self._genre_dense = self._genre_matrix.toarray().astype(np.uint8)
        self._genre_pos = {g: k for k, g in enumerate(self._genre_names.tolist())}
        self._tag_matrix, self._tag_names = self._build_tags(artifact.item_tags)
        # item vectors for similarity: collaborative (model) and content (TF-IDF)
        self._cf: np.ndarray | None = None
        try:
            vectors = self.model._item_vectors()  # the protocol's similarity hook
        except (NotImplementedError, FoldInNotSupported, AttributeError):
            vectors = None
        if vectors is not None:
            dense = vectors.toarray() if sp.issparse(vectors) else np.asarray(vectors)
            self._cf = _l2_rows(dense)
        self._tfidf: sp.csr_matrix | None = None
        if artifact.features is not None and artifact.features.tfidf is not None:
            self._tfidf = sp.csr_matrix(artifact.features.tfidf, dtype=np.float32)
        factors = factor_arrays(self.model)
        self._user_factors = factors[0] if factors else None
        self._index = FactorIndex(factors[1], threshold=ann_threshold) if factors else None
        ids = artifact.users.values
        self._min_new_user_id = int(ids.max()) + 1 if len(ids) and ids.dtype.kind in "iu" else 1

    # ------------------------------------------------------------------ metadata
    def _build_genres(self) -> tuple[sp.csr_matrix, np.ndarray]:
        exploded = pd.Series(self._genres, dtype=object).explode().dropna()
        names = np.array(sorted(set(exploded.astype(str))), dtype=object)
        cols = pd.Index(names).get_indexer(exploded.astype(str).to_numpy())
        rows = exploded.index.to_numpy(np.int64)
        m = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(self._genres), len(names))
        )
        return m, names

    def _build_tags(self, item_tags: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray]:
        n = len(self._movie_id)
        if len(item_tags) == 0:
            return sp.csr_matrix((n, 0), dtype=np.float32), np.array([], dtype=object)
        codes, names = pd.factorize(item_tags["tag"].astype(str), sort=True)
        m = sp.csr_matrix(
            (
                item_tags["count"].to_numpy(np.float32),
                (item_tags["item_idx"].to_numpy(np.int64), codes),
            ),
            shape=(n, len(names)),
        )
        return m, np.asarray(names, dtype=object)

    @property
    def genres(self) -> list[str]:
        """All genre names in the catalogue."""
        return [str(g) for g in self._genre_names]

    @property
    def model_name(self) -> str:
        """Registry name of the served model."""
        return self.artifact.model_name

    @property
    def n_items(self) -> int:
        """Catalogue size."""
        return len(self._movie_id)

    @property
    def uses_ann(self) -> bool:
        """Whether top-k goes through the HNSW index."""
        return self._index is not None and self._index.uses_ann

    def _info(self, idx: int) -> MovieInfo:
        mean = self._mean_rating[idx]
        row = self._tag_matrix.getrow(idx)
        order = np.argsort(-row.data, kind="stable")[:5]
        return MovieInfo(
            movie_id=int(self._movie_id[idx]),
            title=str(self._title[idx]),
            year=_year(self._year_arr[idx]),
            genres=list(self._genres[idx]),
            n_ratings=int(self._n_ratings[idx]),
            mean_rating=None if np.isnan(mean) else round(float(mean), 3),
            top_tags=[str(self._tag_names[i]) for i in row.indices[order]],
        )

    def movie(self, movie_id: int) -> MovieInfo:
        """Details of one movie.

        Raises
        ------
        UnknownIdError
            If the id is not in the catalogue.
        """
        return self._info(int(self.artifact.items.index(int(movie_id))))

    def search(self, query: str, limit: int = 10) -> list[tuple[MovieInfo, float]]:
        """Movies whose titles best match ``query`` with their scores (0..100)."""
        if not str(query).strip():
            raise BadRequestError("search query is empty")
        return [(self._info(h.item_idx), h.score) for h in self.matcher.search(query, limit)]

    def resolve_movie(self, movie: int | str) -> int:
        """Item index of a movie given by id (int) or title (str).

        Raises
        ------
        UnknownIdError
            Unknown id, or no title matches.
        AmbiguousTitleError
            Several movies match the title equally well.
        """
        if isinstance(movie, int | np.integer):
            return int(self.artifact.items.index(int(movie)))
        result = self.matcher.match(str(movie))
        if result.status == "matched" and result.best is not None:
            return result.best.item_idx
        if result.status == "ambiguous":
            raise AmbiguousTitleError(str(movie), [c.label for c in result.candidates])
        raise UnknownIdError(f"no movie matches title {str(movie)!r}")

    # ------------------------------------------------------------------ candidates
    def _candidates(
        self, genres: Iterable[str] | None, years: tuple[int | None, int | None] | None
    ) -> np.ndarray | None:
        mask: np.ndarray | None = None
        if genres:
            wanted = [str(g) for g in genres]
            lookup = {g.lower(): k for k, g in enumerate(self._genre_names.tolist())}
            unknown = [g for g in wanted if g.lower() not in lookup]
            if unknown:
                raise BadRequestError(
                    f"unknown genre(s) {unknown}; known: {', '.join(self.genres)}"
                )
            cols = [lookup[g.lower()] for g in wanted]
            hits = np.asarray(self._genre_matrix[:, cols].sum(axis=1)).ravel() > 0
            mask = hits
        if years is not None and (years[0] is not None or years[1] is not None):
            lo = -(10**9) if years[0] is None else int(years[0])
            hi = 10**9 if years[1] is None else int(years[1])
            if lo > hi:
                raise BadRequestError(f"empty year range {lo}..{hi}")
            in_range = (self._year_arr >= lo) & (self._year_arr <= hi) & (self._year_arr >= 0)
            mask = in_range if mask is None else mask & in_range
        return None if mask is None else np.flatnonzero(mask)

    # ------------------------------------------------------------------ users
    def _training_user(self, user_id: int) -> int | None:
        idx = self.artifact.users.index([user_id], missing="mask")[0]
        return int(idx) if idx >= 0 else None

    def _stored_row(self, user_id: int) -> sp.csr_matrix | None:
        if self.store is None or not self.store.has_user(user_id):
            return None
        frame = self.store.ratings(user_id)
        return self._row(frame["movie_id"].to_numpy(), frame["rating"].to_numpy())

    def _row(self, movie_id: np.ndarray, rating: np.ndarray) -> sp.csr_matrix:
        idx = self.artifact.items.index(np.asarray(movie_id, np.int64), missing="mask")
        keep = idx >= 0
        if (~keep).any():
            logger.warning("ignoring %d ratings of movies not in the catalogue", (~keep).sum())
        cols = idx[keep]
        vals = np.asarray(rating, np.float32)[keep]
        return sp.csr_matrix((vals, (np.zeros(len(cols), np.int64), cols)), shape=(1, self.n_items))

    def _user_row(self, user_id: int) -> tuple[int | None, sp.csr_matrix]:
        """(training index or None, ratings row) of a known or stored user."""
        uidx = self._training_user(user_id)
        if uidx is not None:
            return uidx, _row_of(self.artifact.ratings, uidx)
        row = self._stored_row(user_id)
        if row is None:
            raise UnknownIdError(f"unknown user id: {user_id}")
        return None, row

    def create_user(self, name: str | None = None) -> StoredUser:
        """Create a user in the database (ids above every training user's id)."""
        return self._require_store().create_user(name, min_id=self._min_new_user_id)

    def add_ratings(
        self, user_id: int, ratings: Mapping[int | str, float]
    ) -> tuple[int, list[MatchedInput], list[UnmatchedInput]]:
        """Store ratings of a database user (titles are matched first).

        Returns
        -------
        (n_written, matched, unmatched)
        """
        store = self._require_store()
        if self._training_user(user_id) is not None and not store.has_user(user_id):
            raise BadRequestError(
                f"user {user_id} is a training user; create a user with POST /users first"
            )
        if not store.has_user(user_id):
            raise UnknownIdError(f"unknown user id: {user_id}")
        resolved, matched, unmatched = self._resolve_ratings(ratings)
        n = store.add_ratings(
            user_id, [(int(self._movie_id[i]), float(r)) for i, r in resolved.items()]
        )
        return n, matched, unmatched

    def user_ratings(self, user_id: int) -> list[tuple[MovieInfo, float]]:
        """A known or stored user's ratings, highest first."""
        _, row = self._user_row(user_id)
        order = np.lexsort((row.indices, -row.data))
        return [(self._info(int(row.indices[k])), float(row.data[k])) for k in order]

    def _require_store(self) -> UserStore:
        if self.store is None:
            raise BadRequestError("no user database configured (start with --db)")
        return self.store

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
    ) -> list[Recommendation]:
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

        Raises
        ------
        UnknownIdError
            The user is neither in the training data nor in the database.
        """
        self._check_n(n)
        candidates = self._candidates(genres, years)
        uidx = self._training_user(user_id)
        if uidx is not None:
            row = _row_of(self.artifact.ratings, uidx)
            if candidates is None and self._index is not None and self._user_factors is not None:
                exclude = _row_of(self.model.seen_, uidx) if exclude_seen else None
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
            item_idx, scores = self._recommend_row(row, n, exclude_seen, candidates)
        return self._package(item_idx[0], scores[0], row if with_reasons else None)

    def _recommend_row(
        self,
        row: sp.csr_matrix,
        n: int,
        exclude_seen: bool,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        if row.nnz == 0:  # nothing rated yet: most popular
            pool = (
                self._popular
                if candidates is None
                else self._popular[np.isin(self._popular, candidates)]
            )
            top = pool[:n]
            pad = n - len(top)
            items = np.concatenate([top, np.full(pad, -1)])[None, :]
            scores = np.concatenate(
                [self._n_ratings[top].astype(np.float32), np.full(pad, -np.inf, np.float32)]
            )[None, :]
            return items, scores
        if candidates is None and self._index is not None:
            vec = self.model.fold_in(row)
            if vec.shape[1] == self._index.item_factors.shape[1]:
                exclude = (row != 0).astype(np.float32).tocsr() if exclude_seen else None
                return self._index.search(vec, n, exclude)
        return self.model.recommend_for_ratings(
            row, n, exclude_seen=exclude_seen, candidates=candidates
        )

    def _resolve_ratings(
        self, ratings: Mapping[int | str, float]
    ) -> tuple[dict[int, float], list[MatchedInput], list[UnmatchedInput]]:
        lo, hi = self.artifact.rating_scale
        resolved: dict[int, float] = {}
        matched: list[MatchedInput] = []
        unmatched: list[UnmatchedInput] = []
        for key, value in ratings.items():
            try:
                rating = float(value)
            except (TypeError, ValueError):
                raise BadRequestError(f"rating for {key!r} is not a number: {value!r}") from None
            if not np.isfinite(rating) or rating < lo or rating > hi:
                raise BadRequestError(f"rating for {key!r} must be within {lo}..{hi}, got {value}")
            if isinstance(key, int | np.integer) and not isinstance(key, bool):
                idx = self.artifact.items.index([int(key)], missing="mask")[0]
                if idx < 0:
                    unmatched.append(UnmatchedInput(str(key), "unknown movie id"))
                    continue
                resolved[int(idx)] = rating
                matched.append(MatchedInput(str(key), int(key), self._label(int(idx)), 100.0))
                continue
            result = self.matcher.match(str(key))
            if result.status == "matched" and result.best is not None:
                resolved[result.best.item_idx] = rating
                matched.append(
                    MatchedInput(
                        str(key), result.best.movie_id, result.best.label, result.best.score
                    )
                )
            else:
                unmatched.append(
                    UnmatchedInput(
                        str(key),
                        "ambiguous" if result.status == "ambiguous" else "no matching title",
                        [self._info(c.item_idx) for c in result.candidates],
                    )
                )
        return resolved, matched, unmatched

    def recommend_for_ratings(
        self,
        ratings: Mapping[int | str, float],
        n: int = 10,
        *,
        exclude_seen: bool = True,
        genres: Iterable[str] | None = None,
        years: tuple[int | None, int | None] | None = None,
    ) -> RatingsRecommendations:
        """Recommendations for a new user given ``{title or movie_id: rating}``.

        Integer keys are movie ids; string keys are titles, matched with the
        :class:`TitleMatcher`. The user is folded into the model (no retraining). When no
        input matches, the most popular movies are returned.

        Raises
        ------
        BadRequestError
            A rating outside the data's rating scale.
        """
        self._check_n(n)
        candidates = self._candidates(genres, years)
        resolved, matched, unmatched = self._resolve_ratings(ratings)
        cols = np.fromiter(resolved.keys(), np.int64, len(resolved))
        vals = np.fromiter(resolved.values(), np.float32, len(resolved))
        row = sp.csr_matrix((vals, (np.zeros(len(cols), np.int64), cols)), shape=(1, self.n_items))
        row.sort_indices()
        item_idx, scores = self._recommend_row(row, n, exclude_seen, candidates)
        return RatingsRecommendations(
            self._package(item_idx[0], scores[0], row), matched, unmatched
        )

    @staticmethod
    def _check_n(n: int) -> None:
        if not 1 <= int(n) <= 1000:
            raise BadRequestError(f"n must be within 1..1000, got {n}")

    # ------------------------------------------------------------------ similarity
    def _similarity_block(
        self, items: np.ndarray, others: np.ndarray | None, weight: float
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Blended similarity of ``items`` (rows) to ``others`` (columns; None = all)."""
        cf = content = None
        if self._cf is not None and weight > 0:
            right = self._cf if others is None else self._cf[others]
            cf = self._cf[items] @ right.T
        if self._tfidf is not None and (weight < 1 or self._cf is None):
            right_t = self._tfidf if others is None else self._tfidf[others]
            content = (self._tfidf[items] @ right_t.T).toarray().astype(np.float32)
        if cf is not None and content is not None:
            blend = weight * cf + (1.0 - weight) * content
        elif cf is not None:
            blend = cf
        elif content is not None:
            blend = content
        else:
            raise FoldInNotSupported(
                f"{self.model_name} has no item vectors and the artifact has no TF-IDF features"
            )
        return blend.astype(np.float32), cf, content

    def similar(
        self, movie: int | str, n: int = 10, weight: float | None = None
    ) -> list[SimilarMovie]:
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
        """
        self._check_n(n)
        w = self.similarity_weight if weight is None else float(weight)
        if not 0.0 <= w <= 1.0:
            raise BadRequestError(f"weight must be within 0..1, got {weight}")
        idx = self.resolve_movie(movie)
        blend, cf, content = self._similarity_block(np.array([idx]), None, w)
        blend[0, idx] = -np.inf
        top_i, top_s = topk(blend, n)
        out = []
        for i, s in zip(top_i[0], top_s[0], strict=True):
            if i < 0:
                continue
            out.append(
                SimilarMovie(
                    movie_id=int(self._movie_id[i]),
                    title=str(self._title[i]),
                    year=_year(self._year_arr[i]),
                    genres=list(self._genres[i]),
                    score=round(float(s), 4),
                    collaborative=None if cf is None else round(float(cf[0, i]), 4),
                    content=None if content is None else round(float(content[0, i]), 4),
                )
            )
        return out

    # ------------------------------------------------------------------ explanations
    def _liked(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Indices and ratings of the movies the user liked (>= 80% of the scale max)."""
        idx, vals = row.indices.astype(np.int64), row.data.astype(np.float32)
        if len(idx) == 0:
            return idx, vals
        threshold = 0.8 * self.artifact.rating_scale[1]
        keep = vals >= threshold
        if not keep.any():
            keep = vals >= vals.max()
        return idx[keep], vals[keep]

    def _package(
        self, item_idx: np.ndarray, scores: np.ndarray, row: sp.csr_matrix | None
    ) -> list[Recommendation]:
        valid = item_idx >= 0
        item_idx, scores = item_idx[valid], scores[valid]
        reasons: list[list[str]] = [[] for _ in range(len(item_idx))]
        if row is not None and len(item_idx):
            reasons = self._reasons(item_idx, row)
        return [
            Recommendation(
                movie_id=int(self._movie_id[i]),
                title=str(self._title[i]),
                year=_year(self._year_arr[i]),
                genres=list(self._genres[i]),
                score=round(float(s), 5),
                reasons=r,
            )
            for i, s, r in zip(item_idx, scores, reasons, strict=True)
        ]

    def _reasons(self, item_idx: np.ndarray, row: sp.csr_matrix) -> list[list[str]]:
        liked, _ = self._liked(row)
        if len(liked) == 0:
            return [["popular with everyone"] for _ in item_idx]
        if len(liked) > 500:  # bound the cost for very active users: their best-rated 500
            order = np.argsort(-row.data, kind="stable")[:500]
            liked = row.indices[order].astype(np.int64)
        # collaborative similarity only when the model has item vectors: a dense product
        # that stays sub-millisecond at 87k movies (explain() uses the full blend)
        weight = 1.0 if self._cf is not None else self.similarity_weight
        try:
            sims, _, _ = self._similarity_block(item_idx, liked, weight)
        except FoldInNotSupported:
            sims = None
        liked_genres = self._genre_counts(liked)
        out: list[list[str]] = []
        for k, i in enumerate(item_idx):
            why: list[str] = []
            if sims is not None and sims.shape[1]:
                j = int(np.argmax(sims[k]))
                if sims[k, j] > 0.05:
                    why.append(f"because you liked {self._label(liked[j])}")
            shared = sorted(
                (g for g in self._genres[i] if g in liked_genres), key=lambda g: -liked_genres[g]
            )
            if shared:
                why.append("genres you like: " + ", ".join(shared[:3]))
            out.append(why)
        return out

    def _genre_counts(self, items: np.ndarray) -> dict[str, int]:
        """How many of ``items`` have each genre (genres with a zero count left out)."""
        counts = self._genre_dense[items].sum(axis=0, dtype=np.int64)
        return {str(self._genre_names[k]): int(counts[k]) for k in np.flatnonzero(counts)}

    def _label(self, idx: int) -> str:
        y = _year(self._year_arr[idx])
        return f"{self._title[idx]} ({y})" if y is not None else str(self._title[idx])

    def explain(self, user_id: int, movie: int | str, *, top: int = 3) -> Explanation:
        """Why ``movie`` suits (or not) user ``user_id``.

        Lists the liked movies most similar to it (blended collaborative + content item
        similarity), genres and tags it shares with the user's liked movies, the model's
        score and rank, and for models offering ``explain_features(user_idx, item_idx)``
        (the ``hybrid`` re-ranker) the features that moved the score most.
        """
        uidx, row = self._user_row(user_id)
        idx = self.resolve_movie(movie)
        liked, liked_r = self._liked(row)
        contributors: list[Contributor] = []
        if len(liked):
            try:
                sims, _, _ = self._similarity_block(np.array([idx]), liked, self.similarity_weight)
                order = np.argsort(-sims[0], kind="stable")[:top]
                contributors = [
                    Contributor(
                        int(self._movie_id[liked[k]]),
                        self._label(int(liked[k])),
                        float(liked_r[k]),
                        round(float(sims[0, k]), 4),
                    )
                    for k in order
                    if sims[0, k] > 0 and liked[k] != idx
                ]
            except FoldInNotSupported:
                contributors = []
        liked_genres = self._genre_counts(liked)
        shared_genres = sorted(
            (g for g in self._genres[idx] if g in liked_genres), key=lambda g: -liked_genres[g]
        )
        shared_tags: list[str] = []
        if self._tag_matrix.shape[1] and len(liked):
            movie_tags = set(self._tag_matrix.getrow(idx).indices.tolist())
            liked_tags = np.asarray(self._tag_matrix[liked].sum(axis=0)).ravel()
            common = [t for t in np.argsort(-liked_tags, kind="stable") if t in movie_tags]
            shared_tags = [str(self._tag_names[t]) for t in common[:5] if liked_tags[t] > 0]
        score, rank = self._score_and_rank(uidx, row, idx)
        features: list[tuple[str, float]] = []
        explain_features = getattr(self.model, "explain_features", None)
        if uidx is not None and callable(explain_features):
            features = _normalise_features(explain_features(uidx, idx))
        reasons = [
            f"because you liked {c.title} (similarity {c.similarity:.2f})" for c in contributors
        ]
        if shared_genres:
            reasons.append("shares genres with movies you liked: " + ", ".join(shared_genres))
        if shared_tags:
            reasons.append("shares tags with movies you liked: " + ", ".join(shared_tags))
        for name, value in features[:5]:
            reasons.append(
                f"feature {name} {'raised' if value > 0 else 'lowered'} the score "
                f"by {abs(value):.3f}"
            )
        if row[0, idx] != 0:
            reasons.insert(0, f"you already rated it {float(row[0, idx]):g}")
        return Explanation(
            user_id=int(user_id),
            movie=self._info(idx),
            score=score,
            rank=rank,
            liked=contributors,
            shared_genres=shared_genres,
            shared_tags=shared_tags,
            features=features,
            reasons=reasons,
        )

    def _score_and_rank(
        self, uidx: int | None, row: sp.csr_matrix, idx: int
    ) -> tuple[float | None, int | None]:
        try:
            if uidx is not None:
                scores = self.model._score_users(np.array([uidx]))[0]
            else:
                scores = self.model.score_ratings(row)[0]
        except (FoldInNotSupported, NotImplementedError):
            return None, None
        scores = np.asarray(scores, dtype=np.float32).copy()
        s = float(scores[idx])
        scores[row.indices] = -np.inf
        rank = None if row[0, idx] != 0 else int((scores > s).sum()) + 1
        return round(s, 5), rank


def _normalise_features(raw: Any) -> list[tuple[str, float]]:
    """(name, contribution) pairs, largest absolute contribution first."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        pairs = [(str(k), float(v)) for k, v in raw.items()]
    elif isinstance(raw, pd.DataFrame) and raw.shape[1] >= 2:
        pairs = [(str(a), float(b)) for a, b in zip(raw.iloc[:, 0], raw.iloc[:, 1], strict=True)]
    else:
        pairs = [(str(a), float(b)) for a, b in raw]
    return sorted(pairs, key=lambda p: -abs(p[1]))
