"""Pair features of the two-stage hybrid: content, popularity, user and time features.

:class:`PairFeaturizer` turns (user, item) pairs into a numeric matrix, vectorised over
user batches (numpy / scipy.sparse; no row-wise ``apply``). With the generator columns that
:func:`reelrank.models.candidates.first_stage` adds, the ranker's columns are, in order:

    ``{gen}_score``, ``{gen}_rank``, ``{gen}_z``
        For every generator ``gen``: its raw score, the 1-based rank of the item among the
        user's unseen items (``N + 1`` when outside the top-``N``), and the score
        standardised over the user's unseen catalogue.
    ``genre_cos``
        Cosine between the user's genre taste profile (genre counts over liked movies) and
        the movie's genre vector.
    ``genre_weight``
        Sum of the profile shares (profile normalised to sum 1) of the movie's genres.
    ``tfidf_max``, ``tfidf_mean``
        Max / mean TF-IDF cosine between the candidate and the user's liked movies.
    ``emb_max``, ``emb_mean``
        Same over the sentence embeddings (only when the features have ``"embedding"``).
    ``genome_max``, ``genome_mean``
        Same over the tag-genome vectors (only when the features have ``"genome"``).
    ``item_log_count``, ``item_mean_rating``, ``item_recent_share``
        Candidate popularity (log1p of its rating count), its shrunk mean rating and the
        share of its ratings in the last 180 days of the fit data (training data only).
    ``user_log_count``, ``user_mean_rating``
        The user's activity (log1p of rating count) and mean rating.
    ``movie_year``, ``movie_age``
        Release year, and the user's last-interaction year minus it.
    ``days_since_last``
        Days between the user's last rating and the end of the fit data.
    ``last_hour_sin``, ``last_hour_cos``, ``last_doy_sin``, ``last_doy_cos``
        Cyclic time of day / day of year of the user's last interaction.
    ``item_share_30d``, ``item_share_365d``, ``item_share_span``, ``item_share_weeks``
        The movie's share of all ratings of the fit data within 30 / 365 days of the user's
        last rating, over the user's active span, and week by week where the user rated
        (what people watched when this user was active).
    ``item_first_gap``
        Days from the user's last rating to the movie's first rating.
    ``seq_sim_3``, ``seq_sim_10``
        Summed co-occurrence cosine (top-50 neighbours per movie, fit data only) between the
        movie and the user's 3 / 10 most recent movies (what a user rates next resembles
        what they rated last).
    ``timeline_sim``
        Summed timeline co-occurrence (:func:`reelrank.models.timeline.timeline_cooccurrence`:
        other users rated the two movies within ``timeline_window`` positions of each other
        in their own time order, fit data only) between the movie and every movie the user
        rated (a new user's fold-in: the movies they liked).

    ``<feature>_urel``
        For ``item_log_count``, the ``item_share`` windows, ``seq_sim_10``,
        ``timeline_sim``, ``emb_max``, ``tfidf_max`` and ``genre_cos``: the value
        standardised over the user's first-stage candidates (how the movie compares with
        the user's other candidates).

Users without timestamps (new users' fold-in ratings) are taken to act at the end of the fit
data.

"Liked" movies are those rated at least ``like_threshold`` (all rated movies when a user has
none), capped to the ``max_liked`` most recent ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.features.item_features import ItemFeatures
from reelrank.models.state import csr_arrays, csr_from_arrays

logger = logging.getLogger(__name__)

__all__ = ["PairFeaturizer", "UserHistory", "genre_matrix_from_movies"]

_DAY = 86_400.0
_RECENT_DAYS = 180
#: half-widths (days) of the windows around a user's last rating of the item_share features
_WINDOWS = (30, 365)
#: a user's most recent this-many rated movies for the seq_sim features
_SEQ_LAST = (3, 10)
#: item stride of the sorted (item, day) keys (days since 1970 stay far below it)
_KEY = 1_000_000.0
#: days per bin of the user / item activity-over-time profiles
_WEEK = 7


# ---------------------------------------------------------------------------- user history
@dataclass
class UserHistory:
    """What the featurizer knows about a batch of users.

    Attributes
    ----------
    ratings
        (n_rows, n_items) CSR of the users' ratings (the fit data, or fold-in ratings).
    recency
        CSR aligned with ``ratings`` holding the interaction timestamps (or None).
    last_ts
        Timestamp of each user's last interaction (NaN when unknown).
    """

    ratings: sp.csr_matrix
    recency: sp.csr_matrix | None
    last_ts: np.ndarray

    @classmethod
    def from_dataset(cls, ds: Dataset) -> UserHistory:
        """History of every user of ``ds`` (rows = user index)."""
        ratings = ds.interactions.tocsr()
        recency = sp.csr_matrix(
            (ds.timestamps.astype(np.float64), ratings.indices, ratings.indptr),
            shape=ratings.shape,
        )
        last = np.full(ds.n_users, np.nan)
        has = np.diff(ratings.indptr) > 0
        if has.any():
            last[has] = np.maximum.reduceat(
                ds.timestamps.astype(np.float64), ratings.indptr[:-1][has]
            )
        return cls(ratings=ratings, recency=recency, last_ts=last)

    def rows(self, user_rows: np.ndarray) -> UserHistory:
        """The sub-history of some rows."""
        return UserHistory(
            ratings=self.ratings[user_rows],
            recency=None if self.recency is None else self.recency[user_rows],
            last_ts=self.last_ts[user_rows],
        )


def genre_matrix_from_movies(movies: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray]:
    """(n_items, n_genres) binary CSR of the movie table's ``genres`` lists, and the names."""
    genres = movies["genres"]
    lengths = genres.map(len).to_numpy(dtype=np.int64)
    flat = np.asarray([g for gs in genres for g in gs], dtype=object).astype(str)
    names, col = np.unique(flat, return_inverse=True) if len(flat) else (np.array([]), flat)
    row = np.repeat(np.arange(len(movies)), lengths)
    m = sp.csr_matrix(
        (np.ones(len(row), np.float32), (row, col.astype(np.int64))),
        shape=(len(movies), len(names)),
    )
    m.data[:] = 1.0
    m.sum_duplicates()
    m.data = np.minimum(m.data, 1.0)
    return m, names


def _l2_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (m / norms).astype(np.float32)


def _l2_rows_sparse(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (sp.diags(1.0 / norms).astype(np.float32) @ m).tocsr()


class PairFeaturizer:
    """Content, popularity, user and time features of (user, item) pairs.

    Fit on the data the ranker's inputs are computed from (the early part of ``train`` while
    building training pairs, the whole ``train`` for serving): item statistics never see
    anything else.

    Parameters
    ----------
    like_threshold
        Ratings at or above this are "liked" for the content similarities and profiles.
    max_liked
        Most recent liked movies used per user (bounds the cost of max-similarity).
    seq_neighbours
        Co-occurrence neighbours kept per movie for the ``seq_sim`` features.
    seq_max_items
        Above this catalogue size the ``seq_sim`` and ``timeline_sim`` features are left
        out (their item x item co-occurrence would cost minutes).
    timeline_window
        Positions apart within which two ratings of a user co-occur for ``timeline_sim``
        (0: no ``timeline_sim``).
    relative
        Add the ``*_urel`` features (values relative to the user's other candidates).
    """

    def __init__(
        self,
        like_threshold: float = 4.0,
        max_liked: int = 100,
        seq_neighbours: int = 50,
        seq_max_items: int = 20_000,
        timeline_window: int = 10,
        relative: bool = True,
    ) -> None:
        self.like_threshold = like_threshold
        self.max_liked = max_liked
        self.seq_neighbours = seq_neighbours
        self.seq_max_items = seq_max_items
        self.timeline_window = timeline_window
        self.relative = relative
        self.time_keys_: np.ndarray | None = None
        self.seq_sim_: sp.csr_matrix | None = None
        self.timeline_sim_: sp.csr_matrix | None = None

    # ------------------------------------------------------------------ fit
    def fit(self, data: Dataset, features: ItemFeatures | None) -> PairFeaturizer:
        """Item statistics from ``data``; content matrices from ``features``."""
        counts = data.item_counts().astype(np.float64)
        sums = np.bincount(data.interactions.indices, weights=data.ratings, minlength=data.n_items)
        global_mean = float(data.ratings.mean()) if data.n_interactions else 0.0
        shrink = 5.0
        self.item_log_count_ = np.log1p(counts).astype(np.float32)
        self.item_mean_ = ((sums + shrink * global_mean) / (counts + shrink)).astype(np.float32)
        end = float(data.timestamps.max()) if data.n_interactions else 0.0
        recent = data.timestamps >= end - _RECENT_DAYS * _DAY
        rc = np.bincount(data.interactions.indices[recent], minlength=data.n_items)
        self.item_recent_share_ = (rc / np.maximum(counts, 1.0)).astype(np.float32)
        self.end_ts_ = end
        self.year_ = data.movies["year"].to_numpy(dtype=np.float64, na_value=np.nan)
        self._fit_time(data)
        self._fit_sequence(data)
        self._set_content(data.movies, features)
        return self

    def _fit_time(self, data: Dataset) -> None:
        """Item rating times (sorted keys ``item * _KEY + day``) and global ratings per day."""
        days = data.timestamps.astype(np.float64) / _DAY
        items = data.interactions.indices.astype(np.int64)
        keys = items * _KEY + days
        self.time_keys_ = np.sort(keys)
        counts = np.bincount(items, minlength=data.n_items)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        first = np.full(data.n_items, np.nan)
        has = counts > 0
        first[has] = self.time_keys_[starts[has]] - np.flatnonzero(has) * _KEY
        self.item_first_day_ = first
        self.day0_ = float(np.floor(days.min())) if len(days) else 0.0
        day = (np.floor(days) - self.day0_).astype(np.int64)
        per_day = np.bincount(day)
        self.day_cum_ = np.concatenate([[0], np.cumsum(per_day)]).astype(np.float64)
        # the item's share of each week's ratings (items x weeks, sparse)
        week = day // _WEEK
        n_weeks = int(week.max()) + 1 if len(week) else 1
        per_week = np.bincount(week, minlength=n_weeks).astype(np.float64)
        share = sp.csr_matrix(
            (np.ones(len(week), np.float32), (items, week)), shape=(data.n_items, n_weeks)
        )
        share.sum_duplicates()
        share.data = (share.data / per_week[share.indices]).astype(np.float32)
        self.week_share_ = share

    def _fit_sequence(self, data: Dataset) -> None:
        """Item-item co-occurrence cosine (top ``seq_neighbours`` per item) and timeline."""
        from reelrank.models.knn import item_cosine_topk
        from reelrank.models.timeline import timeline_cooccurrence

        self.seq_sim_ = self.timeline_sim_ = None
        if data.n_items > self.seq_max_items:
            # an item x item product over a big catalogue costs minutes (as item-kNN does)
            logger.info(
                "catalogue has %d items > %d: no sequence features",
                data.n_items,
                self.seq_max_items,
            )
            return
        self.seq_sim_ = item_cosine_topk(
            data.binary(), k=self.seq_neighbours, shrinkage=10.0
        ).astype(np.float32)
        if self.timeline_window > 0:
            self.timeline_sim_ = timeline_cooccurrence(data, self.timeline_window)

    def _set_content(
        self,
        movies: pd.DataFrame | None,
        features: ItemFeatures | None,
        genre: sp.csr_matrix | None = None,
    ) -> None:
        if genre is None and features is not None:
            genre, _ = features.family("genre")
            if genre.shape[1] == 0:
                genre = None
        if genre is None:
            assert movies is not None
            genre, _ = genre_matrix_from_movies(movies)
        self.genre_ = sp.csr_matrix(genre, dtype=np.float32)
        self.genre_norm_ = _l2_rows_sparse(self.genre_)
        self.tfidf_ = (
            None
            if features is None or features.tfidf is None
            else (_l2_rows_sparse(features.tfidf))
        )
        self.dense_: dict[str, np.ndarray] = {}
        if features is not None:
            for block, short in (("embedding", "emb"), ("genome", "genome")):
                if block in features.dense:
                    self.dense_[short] = _l2_rows(np.asarray(features.dense[block]))

    def state(self) -> dict[str, np.ndarray]:
        """Learned item statistics (for ``state.npz``)."""
        out = {
            "pf_item_log_count": self.item_log_count_,
            "pf_item_mean": self.item_mean_,
            "pf_item_recent_share": self.item_recent_share_,
            "pf_end_ts": np.asarray([self.end_ts_]),
            # an unknown year is saved as -1 (artifacts hold finite arrays only)
            "pf_year": np.where(np.isnan(self.year_), -1.0, self.year_),
            **csr_arrays("pf_genre", self.genre_),
        }
        if self.time_keys_ is not None:
            out.update(
                {
                    "pf_time_keys": self.time_keys_,
                    # an item without ratings has no first day: saved as -1 (finite arrays)
                    "pf_item_first_day": np.where(
                        np.isnan(self.item_first_day_), -1.0, self.item_first_day_
                    ),
                    "pf_day0": np.asarray([self.day0_]),
                    "pf_day_cum": self.day_cum_,
                    **csr_arrays("pf_week", self.week_share_),
                }
            )
        if self.seq_sim_ is not None:
            out.update(csr_arrays("pf_seq", self.seq_sim_))
        if self.timeline_sim_ is not None:
            out.update(csr_arrays("pf_timeline", self.timeline_sim_))
        return out

    def restore(self, state: dict[str, np.ndarray], features: ItemFeatures | None) -> None:
        """Inverse of :meth:`state` (content matrices come from ``features``)."""
        self.item_log_count_ = state["pf_item_log_count"]
        self.item_mean_ = state["pf_item_mean"]
        self.item_recent_share_ = state["pf_item_recent_share"]
        self.end_ts_ = float(state["pf_end_ts"][0])
        year = np.asarray(state["pf_year"], dtype=np.float64)
        self.year_ = np.where(year < 0, np.nan, year)
        self._set_content(None, features, genre=csr_from_arrays(state, "pf_genre"))
        # artifacts written before the time, sequence and timeline features lack them
        self.time_keys_ = self.seq_sim_ = self.timeline_sim_ = None
        if "pf_time_keys" in state:
            self.time_keys_ = np.asarray(state["pf_time_keys"], dtype=np.float64)
            first = np.asarray(state["pf_item_first_day"], dtype=np.float64)
            self.item_first_day_ = np.where(first < 0, np.nan, first)
            self.day0_ = float(state["pf_day0"][0])
            self.day_cum_ = np.asarray(state["pf_day_cum"], dtype=np.float64)
            self.week_share_ = csr_from_arrays(state, "pf_week")
        if "pf_seq_indptr" in state:
            self.seq_sim_ = csr_from_arrays(state, "pf_seq")
        if "pf_timeline_indptr" in state:
            self.timeline_sim_ = csr_from_arrays(state, "pf_timeline")

    # ------------------------------------------------------------------ names
    def names(self) -> list[str]:
        """Column names of :meth:`transform`, in order."""
        out = ["genre_cos", "genre_weight"]
        if self.tfidf_ is not None:
            out += ["tfidf_max", "tfidf_mean"]
        for short in self.dense_:
            out += [f"{short}_max", f"{short}_mean"]
        out += [
            "item_log_count",
            "item_mean_rating",
            "item_recent_share",
            "user_log_count",
            "user_mean_rating",
            "movie_year",
            "movie_age",
            "days_since_last",
            "last_hour_sin",
            "last_hour_cos",
            "last_doy_sin",
            "last_doy_cos",
        ]
        if self.time_keys_ is not None:
            out += [f"item_share_{w}d" for w in _WINDOWS]
            out += ["item_share_span", "item_share_weeks", "item_first_gap"]
        if self.seq_sim_ is not None:
            out += [f"seq_sim_{k}" for k in _SEQ_LAST]
        if self.timeline_sim_ is not None:
            out.append("timeline_sim")
        if self.relative:
            out += [f"{n}_urel" for n in _RELATIVE if n in out]
        return out

    # ------------------------------------------------------------------ transform
    def transform(
        self,
        history: UserHistory,
        row: np.ndarray,
        item_idx: np.ndarray,
        *,
        reference: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Features of pairs (``history`` row ``row[k]``, item ``item_idx[k]``).

        ``reference``: boolean mask of the pairs whose values give each row's mean and
        spread for the ``*_urel`` features (the first-stage union; default all pairs).

        Returns
        -------
        dict
            ``{name: float32 array}`` in :meth:`names` order.
        """
        ratings = history.ratings
        n_rows = ratings.shape[0]
        liked = self._liked(history)
        out: dict[str, np.ndarray] = {}

        # genre taste profile
        profile = np.asarray((liked @ self.genre_).todense(), dtype=np.float32)
        psum = profile.sum(axis=1, keepdims=True)
        share = profile / np.where(psum > 0, psum, 1.0)
        pnorm = _l2_rows(profile)
        out["genre_cos"] = _rowwise_dot_sparse(pnorm, self.genre_norm_, row, item_idx)
        out["genre_weight"] = _rowwise_dot_sparse(share, self.genre_, row, item_idx)

        # content similarity with liked movies
        mats: list[tuple[str, np.ndarray | sp.csr_matrix]] = []
        if self.tfidf_ is not None:
            mats.append(("tfidf", self.tfidf_))
        mats += list(self.dense_.items())
        if mats:
            sims = _max_mean_similarity(liked, row, item_idx, [m for _, m in mats])
            for (short, _), (mx, mn) in zip(mats, sims, strict=True):
                out[f"{short}_max"] = mx
                out[f"{short}_mean"] = mn

        # item statistics
        out["item_log_count"] = self.item_log_count_[item_idx]
        out["item_mean_rating"] = self.item_mean_[item_idx]
        out["item_recent_share"] = self.item_recent_share_[item_idx]

        # user statistics
        cnt = np.diff(ratings.indptr).astype(np.float64)
        sums = np.asarray(ratings.sum(axis=1)).ravel()
        umean = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
        out["user_log_count"] = np.log1p(cnt)[row].astype(np.float32)
        out["user_mean_rating"] = umean[row].astype(np.float32)

        # movie year, age, recency and cyclic time of the last interaction
        last = history.last_ts
        last_dt = pd.to_datetime(pd.Series(last), unit="s", utc=True)
        last_year = last_dt.dt.year.to_numpy(dtype=np.float64, na_value=np.nan)
        hour = (last_dt.dt.hour + last_dt.dt.minute / 60.0).to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        doy = last_dt.dt.dayofyear.to_numpy(dtype=np.float64, na_value=np.nan)
        year = self.year_[item_idx]
        out["movie_year"] = year.astype(np.float32)
        out["movie_age"] = (last_year[row] - year).astype(np.float32)
        out["days_since_last"] = ((self.end_ts_ - last) / _DAY)[row].astype(np.float32)
        out["last_hour_sin"] = np.sin(2 * np.pi * hour / 24.0)[row].astype(np.float32)
        out["last_hour_cos"] = np.cos(2 * np.pi * hour / 24.0)[row].astype(np.float32)
        out["last_doy_sin"] = np.sin(2 * np.pi * doy / 365.25)[row].astype(np.float32)
        out["last_doy_cos"] = np.cos(2 * np.pi * doy / 365.25)[row].astype(np.float32)
        assert n_rows == len(last)
        if self.time_keys_ is not None:
            out.update(self._time_features(history, row, item_idx))
        keep = self._fold_in_keep(history)
        if self.seq_sim_ is not None:
            out.update(self._sequence_features(history, row, item_idx, keep))
        if self.timeline_sim_ is not None:
            rated = _rated(history, keep)
            out["timeline_sim"] = _product_at(rated, self.timeline_sim_, row, item_idx)
        if self.relative:
            for name in _RELATIVE:
                if name in out:
                    out[f"{name}_urel"] = _within_row_z(out[name], row, n_rows, reference)
        return {k: out[k] for k in self.names()}

    def _time_features(
        self, history: UserHistory, row: np.ndarray, item_idx: np.ndarray
    ) -> dict[str, np.ndarray]:
        """How much of the catalogue's rating activity the item had around the user's time.

        ``item_share_{w}d``: the item's share of all ratings within ``w`` days of the user's
        last rating; ``item_share_span``: the same over the user's active span (first to
        last rating, 30 days either side); ``item_first_gap``: days from the user's last
        rating to the item's first rating (positive: the movie appeared afterwards). Users
        without timestamps (fold-in) are taken to act at the end of the fit data.
        """
        last, first = _user_span(history)
        end = self.end_ts_ / _DAY
        last = np.where(np.isnan(last), end, last)[row]
        first = np.where(np.isnan(first), end, first)[row]
        base = item_idx.astype(np.float64) * _KEY
        out: dict[str, np.ndarray] = {}
        bounds = [(last - w, last + w) for w in _WINDOWS] + [(first - 30.0, last + 30.0)]
        names = [f"item_share_{w}d" for w in _WINDOWS] + ["item_share_span"]
        for name, (lo, hi) in zip(names, bounds, strict=True):
            n_item = np.searchsorted(self.time_keys_, base + hi, side="right") - np.searchsorted(
                self.time_keys_, base + lo, side="left"
            )
            out[name] = (n_item / np.maximum(self._global_count(lo, hi), 1.0)).astype(np.float32)
        out["item_first_gap"] = (self.item_first_day_[item_idx] - last).astype(np.float32)
        out["item_share_weeks"] = _rowwise_dot_sparse(
            self._week_profile(history), self.week_share_, row, item_idx
        )
        return out

    def _week_profile(self, history: UserHistory) -> np.ndarray:
        """(n_rows, n_weeks) share of each row's ratings per week (fold-in rows: last week)."""
        n_rows = history.ratings.shape[0]
        n_weeks = self.week_share_.shape[1]
        rec = history.recency
        prof = np.zeros((n_rows, n_weeks), np.float32)
        if rec is not None and rec.nnz:
            rows = np.repeat(np.arange(n_rows), np.diff(rec.indptr))
            week = np.clip((np.floor(rec.data / _DAY) - self.day0_) // _WEEK, 0, n_weeks - 1)
            np.add.at(prof, (rows, week.astype(np.int64)), 1.0)
        empty = prof.sum(axis=1) == 0
        prof[empty, n_weeks - 1] = 1.0
        return prof / prof.sum(axis=1, keepdims=True)

    def _global_count(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        n = len(self.day_cum_) - 1
        a = np.clip(np.floor(lo) - self.day0_, 0, n).astype(np.int64)
        b = np.clip(np.floor(hi) - self.day0_ + 1, 0, n).astype(np.int64)
        return self.day_cum_[b] - self.day_cum_[a]

    def _fold_in_keep(self, history: UserHistory) -> np.ndarray | None:
        """Which rated movies count for the neighbour features (None: every one).

        A new user's fold-in ratings (no timestamps, all given "now"): the liked movies
        count, so a movie the user disliked does not pull its neighbours up.
        """
        if history.recency is not None:
            return None
        return history.ratings.tocsr().data >= self.like_threshold

    def _sequence_features(
        self,
        history: UserHistory,
        row: np.ndarray,
        item_idx: np.ndarray,
        keep: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        """``seq_sim_{k}``: summed co-occurrence cosine with the user's last ``k`` movies."""
        assert self.seq_sim_ is not None
        out = {}
        for k in _SEQ_LAST:
            recent = _most_recent(history, k, keep=keep)
            out[f"seq_sim_{k}"] = _product_at(recent, self.seq_sim_, row, item_idx)
        return out

    def _liked(self, history: UserHistory) -> sp.csr_matrix:
        """Binary (n_rows, n_items) CSR of liked items (recent ``max_liked`` per user)."""
        r = history.ratings.tocsr()
        liked_mask = r.data >= self.like_threshold
        rows = np.repeat(np.arange(r.shape[0]), np.diff(r.indptr))
        has_liked = np.bincount(rows[liked_mask], minlength=r.shape[0]) > 0
        return _most_recent(history, self.max_liked, keep=liked_mask | ~has_liked[rows])


#: features also given relative to the user's other candidates (z-score within the user)
_RELATIVE = (
    "item_log_count",
    "item_share_365d",
    "item_share_weeks",
    "item_share_span",
    "seq_sim_10",
    "timeline_sim",
    "emb_max",
    "tfidf_max",
    "genre_cos",
)


def _within_row_z(
    x: np.ndarray, row: np.ndarray, n_rows: int, reference: np.ndarray | None = None
) -> np.ndarray:
    """``x`` standardised by the mean and spread of each row's ``reference`` pairs.

    NaN counts as 0; ``reference`` (default: every pair) is the first-stage union, so extra
    pairs (random negatives, held-out positives, a pair asked for alone) never move them.
    """
    v = np.nan_to_num(np.asarray(x, np.float64))
    w = np.ones(len(v)) if reference is None else np.asarray(reference, np.float64)
    cnt = np.maximum(np.bincount(row, weights=w, minlength=n_rows), 1)
    mean = np.bincount(row, weights=v * w, minlength=n_rows) / cnt
    var = np.bincount(row, weights=v * v * w, minlength=n_rows) / cnt - mean**2
    std = np.sqrt(np.maximum(var, 0.0))
    std[std == 0] = 1.0
    return ((v - mean[row]) / std[row]).astype(np.float32)


def _user_span(history: UserHistory) -> tuple[np.ndarray, np.ndarray]:
    """Day of each row's last and first rating (NaN without timestamps)."""
    n = history.ratings.shape[0]
    last = history.last_ts / _DAY
    first = np.full(n, np.nan)
    rec = history.recency
    if rec is not None and rec.nnz:
        has = np.diff(rec.indptr) > 0
        first[has] = np.minimum.reduceat(rec.data.astype(np.float64), rec.indptr[:-1][has]) / _DAY
    return np.asarray(last, dtype=np.float64), first


def _rated(history: UserHistory, keep: np.ndarray | None = None) -> sp.csr_matrix:
    """Binary (n_rows, n_items) CSR of each row's rated movies (``keep``: those that count).

    ``keep`` is aligned with the ratings' CSR data.
    """
    r = history.ratings.tocsr()
    data = np.ones(r.nnz, np.float32) if keep is None else keep.astype(np.float32)
    out = sp.csr_matrix((data, r.indices.copy(), r.indptr.copy()), shape=r.shape)
    out.eliminate_zeros()
    return out


def _most_recent(history: UserHistory, k: int, *, keep: np.ndarray | None = None) -> sp.csr_matrix:
    """Binary (n_rows, n_items) CSR of each row's ``k`` most recent rated movies.

    ``keep`` (aligned with the ratings' CSR data) limits the movies that count. Without
    timestamps the order within a row is by movie index.
    """
    r = history.ratings.tocsr()
    rows = np.repeat(np.arange(r.shape[0]), np.diff(r.indptr))
    recency = history.recency.data if history.recency is not None else np.zeros(len(rows))
    # most recent first within each row, then cap
    order = np.lexsort((-recency, rows))
    if keep is not None:
        order = order[keep[order]]
    kept_rows = rows[order]
    starts = np.searchsorted(kept_rows, np.arange(r.shape[0]))
    pos = np.arange(len(order)) - starts[kept_rows]
    order = order[pos < k]
    return sp.csr_matrix(
        (np.ones(len(order), np.float32), (rows[order], r.indices[order])), shape=r.shape
    )


def _product_at(
    left: sp.csr_matrix,
    right: sp.csr_matrix,
    row: np.ndarray,
    item_idx: np.ndarray,
    *,
    max_cells: int = 1 << 23,
) -> np.ndarray:
    """``(left @ right)[row[k], item_idx[k]]`` for every pair.

    The sparse product is made dense a block of rows at a time (at most ``max_cells``
    values): reading pairs from a dense block is about 8x faster than fancy indexing into
    the sparse product, and the values are the same.
    """
    n_rows, n_cols = left.shape[0], right.shape[1]
    step = max(1, max_cells // max(n_cols, 1))
    if n_rows <= step:
        return (left @ right).toarray()[row, item_idx].astype(np.float32)
    out = np.zeros(len(row), np.float32)
    for start in range(0, n_rows, step):
        sel = (row >= start) & (row < start + step)
        if sel.any():
            block = (left[start : start + step] @ right).toarray()
            out[sel] = block[row[sel] - start, item_idx[sel]]
    return out


def _rowwise_dot_sparse(
    user: np.ndarray, items: sp.csr_matrix, row: np.ndarray, item_idx: np.ndarray
) -> np.ndarray:
    """``user[row[k]] · items[item_idx[k]]`` for every pair (items sparse)."""
    sub = items[item_idx].tocsr()
    r = np.repeat(np.arange(len(item_idx)), np.diff(sub.indptr))
    vals = sub.data * user[row[r], sub.indices]
    return np.bincount(r, weights=vals, minlength=len(item_idx)).astype(np.float32)


def _max_mean_similarity(
    liked: sp.csr_matrix,
    row: np.ndarray,
    item_idx: np.ndarray,
    mats: list[np.ndarray | sp.csr_matrix],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Max and mean cosine between each pair's item and its user's liked items.

    Rows of every matrix are L2-normalised. Pairs are grouped by user (``row`` sorted or
    not); per user one small product candidates x liked.
    """
    n = len(row)
    res = [(np.zeros(n, np.float32), np.zeros(n, np.float32)) for _ in mats]
    order = np.argsort(row, kind="stable")
    rs = row[order]
    uniq, starts = np.unique(rs, return_index=True)
    bounds = np.append(starts, len(rs))
    for k, u in enumerate(uniq):
        sel = order[bounds[k] : bounds[k + 1]]
        lk = liked.indices[liked.indptr[u] : liked.indptr[u + 1]]
        if len(lk) == 0:
            continue
        items = item_idx[sel]
        for (mx, mn), m in zip(res, mats, strict=True):
            s = m[items] @ m[lk].T
            s = s.toarray() if sp.issparse(s) else np.asarray(s)
            mx[sel] = s.max(axis=1)
            mn[sel] = s.mean(axis=1)
    return res
