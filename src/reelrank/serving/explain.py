"""Explanations: the "why" texts of recommendations and :meth:`RecommenderService.explain`.

Only ratings at or above the like threshold are positive evidence: a movie rated 0.5 stars
is never called "liked", and when a user liked nothing no "because you liked" reason is
given. The explained evidence: the liked movies most similar to the movie (blended
collaborative + content similarity), genres and tags it shares with them, and for models
offering ``explain_features(user_idx, item_idx)`` (the ``hybrid`` re-ranker) the features
that moved its score.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.models.base import FoldInNotSupported
from reelrank.serving.catalogue import Catalogue
from reelrank.serving.results import Contributor
from reelrank.serving.similarity import ItemSimilarity

__all__ = ["Explainer", "default_like_threshold", "normalise_features", "score_and_rank"]

#: cap on the liked movies compared per request (a very active user's best-rated ones)
MAX_LIKED = 500


def default_like_threshold(scale: tuple[float, float]) -> float:
    """80% of the scale's top (4 on 0.5..5 and 1..5; 8 on 1..10), within the scale."""
    lo, hi = float(scale[0]), float(scale[1])
    return max(lo, min(hi, round(0.8 * hi, 3)))


def _fmt(r: float) -> str:
    return f"{r:g}"


class Explainer:
    """Reasons and explanations over a catalogue and an item similarity.

    Parameters
    ----------
    catalogue
        Movie metadata.
    similarity
        Item-item similarity.
    like_threshold
        Ratings at or above this count as "liked".
    similarity_weight
        Weight of the collaborative part in explanations.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        similarity: ItemSimilarity,
        like_threshold: float,
        similarity_weight: float,
    ) -> None:
        self.catalogue = catalogue
        self.similarity = similarity
        self.like_threshold = float(like_threshold)
        self.similarity_weight = float(similarity_weight)

    def liked(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Indices and ratings of the movies rated at or above the like threshold."""
        idx, vals = row.indices.astype(np.int64), row.data.astype(np.float32)
        keep = vals >= self.like_threshold
        return idx[keep], vals[keep]

    def reasons(self, item_idx: np.ndarray, row: sp.csr_matrix) -> list[list[str]]:
        """Short "why" texts for recommended items of a user with ratings ``row``."""
        liked, liked_r = self.liked(row)
        if len(liked) == 0:
            return [[] for _ in item_idx]
        if len(liked) > MAX_LIKED:  # bound the cost for very active users
            order = np.argsort(-liked_r, kind="stable")[:MAX_LIKED]
            liked, liked_r = liked[order], liked_r[order]
        # collaborative similarity only when the model has item vectors: a dense product
        # that stays sub-millisecond at 87k movies (explain() uses the full blend)
        weight = 1.0 if self.similarity.has_cf else self.similarity_weight
        try:
            sims, _, _ = self.similarity.block(item_idx, liked, weight)
        except FoldInNotSupported:
            sims = None
        cat = self.catalogue
        liked_genres = cat.genre_counts(liked)
        out: list[list[str]] = []
        for k, i in enumerate(item_idx):
            why: list[str] = []
            if sims is not None and sims.shape[1]:
                j = int(np.argmax(sims[k]))
                if sims[k, j] > 0.05:
                    why.append(
                        f"because you liked {cat.label(int(liked[j]))} "
                        f"(you rated it {_fmt(float(liked_r[j]))})"
                    )
            shared = sorted(
                (g for g in cat.genres[i] if g in liked_genres), key=lambda g: -liked_genres[g]
            )
            if shared:
                why.append("genres you like: " + ", ".join(shared[:3]))
            out.append(why)
        return out

    def evidence(
        self, row: sp.csr_matrix, idx: int, top: int = 3
    ) -> tuple[list[Contributor], list[str], list[str]]:
        """(liked movies most similar to ``idx``, shared genres, shared tags)."""
        cat = self.catalogue
        liked, liked_r = self.liked(row)
        contributors: list[Contributor] = []
        if len(liked):
            try:
                sims, _, _ = self.similarity.block(np.array([idx]), liked, self.similarity_weight)
                order = np.argsort(-sims[0], kind="stable")[:top]
                contributors = [
                    Contributor(
                        int(cat.movie_id[liked[k]]),
                        cat.label(int(liked[k])),
                        float(liked_r[k]),
                        round(float(sims[0, k]), 4),
                    )
                    for k in order
                    if sims[0, k] > 0 and liked[k] != idx
                ]
            except FoldInNotSupported:
                contributors = []
        liked_genres = cat.genre_counts(liked)
        shared_genres = sorted(
            (g for g in cat.genres[idx] if g in liked_genres), key=lambda g: -liked_genres[g]
        )
        shared_tags: list[str] = []
        if cat.tag_matrix.shape[1] and len(liked):
            movie_tags = set(cat.tag_matrix.getrow(idx).indices.tolist())
            liked_tags = np.asarray(cat.tag_matrix[liked].sum(axis=0)).ravel()
            common = [t for t in np.argsort(-liked_tags, kind="stable") if t in movie_tags]
            shared_tags = [str(cat.tag_names[t]) for t in common[:5] if liked_tags[t] > 0]
        return contributors, shared_genres, shared_tags

    def texts(
        self,
        row: sp.csr_matrix,
        idx: int,
        contributors: list[Contributor],
        shared_genres: list[str],
        shared_tags: list[str],
        features: list[tuple[str, float]],
    ) -> list[str]:
        """The reasons of an explanation, most direct first."""
        reasons = [
            f"because you liked {c.title} (you rated it {_fmt(c.rating)}; "
            f"similarity {c.similarity:.2f})"
            for c in contributors
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
        own = float(row[0, idx])
        if own != 0:
            reasons.insert(0, f"you already rated it {_fmt(own)}")
        if not contributors and row.nnz and not len(self.liked(row)[0]):
            reasons.append(
                f"none of your ratings is at or above {_fmt(self.like_threshold)} "
                "(the like threshold), so no movie you liked supports it"
            )
        return reasons


def normalise_features(raw: Any) -> list[tuple[str, float]]:
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


def score_and_rank(
    model: Any, uidx: int | None, row: sp.csr_matrix, idx: int
) -> tuple[float | None, int | None]:
    """The model's raw score of item ``idx`` for the user and its rank among unseen items."""
    try:
        if uidx is not None:
            scores = model._score_users(np.array([uidx]))[0]
        else:
            scores = model.score_ratings(row)[0]
    except (FoldInNotSupported, NotImplementedError):
        return None, None
    scores = np.asarray(scores, dtype=np.float32).copy()
    s = float(scores[idx])
    scores[row.indices] = -np.inf
    rank = None if row[0, idx] != 0 else int((scores > s).sum()) + 1
    return round(s, 5), rank
