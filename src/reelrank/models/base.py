"""The :class:`Recommender` protocol, shared top-k machinery and the model registry.

Every model implements the same interface (after implicit's ``RecommenderBase`` and
LensKit's ``Trainable``)::

    fit(train, features=None) -> self
    recommend(user_idx, n, *, exclude_seen=True, candidates=None) -> (item_idx, scores)
    recommend_for_ratings(ratings, n, ...) -> (item_idx, scores)   # new users, no retraining
    score(user_idx, item_idx) -> scores                             # aligned pairs
    similar_items(item_idx, n) -> (item_idx, scores)
    fold_in(ratings) -> user representation
    save(dir) / load(dir)

Subclasses implement :meth:`Recommender._fit` and :meth:`Recommender._score_users` (a dense
block of scores for a *batch* of users); the base class does batching, exclusion of seen
items, candidate restriction and ``argpartition`` top-k, so no model ever materialises a
users x items matrix for all users at once.

Hyper-parameters live in a frozen config dataclass per model (``Model.Config``), stored
unchanged in artifacts. Learned state lives in attributes ending in ``_``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from reelrank import __version__
from reelrank._fs import atomic_directory
from reelrank.data.dataset import Dataset
from reelrank.errors import ArtifactError, ConfigError, ReelrankError
from reelrank.models.registry import (
    MODEL_FORMAT_VERSION,
    _read_manifest,
    available_models,
    create_model,
    get_model_class,
    load_model,
    register,
)
from reelrank.models.state import (
    ArraySpec,
    CsrSpec,
    check_tree,
    default_schema,
    load_csr,
    load_npz,
    save_csr,
    validate_csr,
    validate_state,
)
from reelrank.models.topk import topk

logger = logging.getLogger(__name__)

__all__ = [
    "MODEL_FORMAT_VERSION",
    "SPLIT_KINDS",
    "ArraySpec",
    "CsrSpec",
    "FoldInNotSupported",
    "ModelConfig",
    "NotFittedError",
    "Recommender",
    "TrainingHint",
    "atomic_directory",
    "available_models",
    "create_model",
    "get_model_class",
    "load_model",
    "register",
    "topk",
]


class NotFittedError(ReelrankError, RuntimeError):
    """The model must be fitted (or loaded) before this call."""


class FoldInNotSupported(ReelrankError, NotImplementedError):
    """The model cannot score users it was not trained on."""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Base class of model hyper-parameter dataclasses (frozen; validated in ``validate``)."""

    def validate(self) -> None:
        """Raise :class:`ValueError` for invalid values; subclasses extend."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (JSON-serialisable)."""
        return dataclasses.asdict(self)


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


# ---------------------------------------------------------------------------- persistence
def _save_csr(path: Path, m: sp.csr_matrix) -> None:
    save_csr(path, m)


def _load_csr(path: Path, *, shape: tuple[int | None, int | None] | None = None) -> sp.csr_matrix:
    return load_csr(path, shape=shape)


# ---------------------------------------------------------------------------- protocol hints
#: split kinds a :class:`TrainingHint` may name
SPLIT_KINDS = ("random", "stratified", "temporal", "cold-items", "cold-users")


@dataclasses.dataclass(frozen=True)
class TrainingHint:
    """How a model's recommendations will be judged, for models that learn from labels.

    An evaluation protocol hands one to :meth:`Recommender.for_protocol` before fitting, so
    that a model that builds its own inner label hold-out (the two-stage hybrid) cuts it the
    same way as the protocol cuts the test part and labels with the same relevance rule.

    Attributes
    ----------
    split_kind
        ``"random"``, ``"stratified"``, ``"temporal"``, ``"cold-items"`` or ``"cold-users"``.
    positive_threshold
        Ratings at or above this are relevant; ``None``: every rating is relevant.
    """

    split_kind: str = "temporal"
    positive_threshold: float | None = 4.0

    def __post_init__(self) -> None:
        if self.split_kind not in SPLIT_KINDS:
            raise ValueError(f"split_kind must be one of {SPLIT_KINDS}, not {self.split_kind!r}")


# ---------------------------------------------------------------------------- the protocol
class Recommender:
    """Base class of every reelrank model.

    Subclasses define a nested frozen dataclass ``Config(ModelConfig)`` and implement
    ``_fit`` and ``_score_users``; optionally ``_score_ratings`` (fold-in for new users),
    ``_item_vectors`` (for :meth:`similar_items`), ``_score_pairs`` (fast aligned scoring)
    and ``_get_state`` / ``_set_state`` (persistence of learned arrays).

    Parameters
    ----------
    config
        A ``Config`` instance; alternatively pass its fields as keyword arguments.
    **params
        Config fields (ignored when ``config`` is given... and then an error if both).
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    #: whether the model needs ``ItemFeatures`` in ``fit``
    requires_features: ClassVar[bool] = False
    #: whether the model predicts ratings (RMSE/MAE) rather than only ranking
    predicts_ratings: ClassVar[bool] = False
    #: users scored per block in ``recommend``
    batch_size: int = 512

    def feature_blocks(self) -> set[str]:
        """Item-feature blocks this model (as configured) needs in ``fit``.

        The evaluation runner and ``reelrank train`` build :class:`ItemFeatures` from the
        training data and include these blocks: ``"embedding"`` (sentence embeddings, slow
        the first time), ``"genome"``... The default is none; content-aware models override.
        """
        return set()

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise ConfigError("pass either a config object or keyword parameters, not both")
        if config is None:
            names = {f.name for f in dataclasses.fields(self.Config)}
            unknown = sorted(set(params) - names)
            if unknown:
                raise ConfigError(
                    f"{self.name}: unknown parameter(s) {unknown}; known: {sorted(names)}"
                )
            try:
                config = self.Config(**params)
            except TypeError as e:
                raise ConfigError(f"{self.name}: {e}") from None
        try:
            config.validate()
        except ValueError as e:
            raise ConfigError(f"{self.name}: {e}") from None
        self.config = config
        self.seen_: sp.csr_matrix | None = None
        self.n_items_: int | None = None

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config.to_dict().items())
        return f"{type(self).__name__}({params})"

    # -------------------------------------------------------------- fitting
    def fit(self, train: Dataset, features: Any | None = None) -> Self:
        """Fit on a training dataset.

        Parameters
        ----------
        train
            The training part of a split (or the whole dataset).
        features
            :class:`reelrank.features.ItemFeatures` built from ``train``; required by
            content-aware models, ignored by purely collaborative ones.
        """
        if self.requires_features and features is None:
            raise ConfigError(f"{self.name} needs item features; pass features=ItemFeatures")
        self.seen_ = train.binary().astype(np.float32)
        self.n_items_ = train.n_items
        self._fit(train, features)
        return self

    def _fit(self, train: Dataset, features: Any | None) -> None:
        raise NotImplementedError

    def for_protocol(self, hint: TrainingHint) -> Recommender:
        """This model configured for how it will be judged (called before :meth:`fit`).

        The default returns ``self`` unchanged: only models that learn from labels they cut
        out of ``train`` (the hybrid) adapt. Overrides return a new, unfitted instance.
        """
        return self

    def display_scores(self, scores: np.ndarray) -> np.ndarray | None:
        """Scores mapped to [0, 1] in the same order, for people to read, or ``None``.

        ``None`` (the default) means the raw scores are shown as they are. Models whose raw
        scores are margins (the hybrid's LambdaRank scores) return a calibrated probability;
        the service then shows it as ``score`` and keeps the margin as ``raw_score``.
        """
        return None

    def _check_fitted(self) -> None:
        if self.seen_ is None or self.n_items_ is None:
            raise NotFittedError(f"{self.name}: call fit() or load() first")

    @property
    def n_users_(self) -> int:
        """Number of users known at fit time."""
        self._check_fitted()
        assert self.seen_ is not None
        return int(self.seen_.shape[0])

    # -------------------------------------------------------------- scoring hooks
    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        """Dense (len(user_idx), n_items) float32 scores for known users. Subclasses implement.

        Must return a new array (the ranking code masks it in place); views of stored
        arrays are detected and copied, but a stored array itself would be modified.
        """
        raise NotImplementedError

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        """Dense (n_rows, n_items) scores for new users given their ratings rows."""
        raise FoldInNotSupported(f"{self.name} cannot score new users without retraining")

    def _item_vectors(self) -> np.ndarray | sp.csr_matrix | None:
        """Item representation used by :meth:`similar_items` (None if the model has none)."""
        return None

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(user_idx), dtype=np.float32)
        order = np.argsort(user_idx, kind="stable")
        users_sorted = user_idx[order]
        uniq, starts = np.unique(users_sorted, return_index=True)
        bounds = np.append(starts, len(order))
        for sl in _batches(len(uniq), self.batch_size):
            block = self._score_users(uniq[sl])
            for row, k in enumerate(range(sl.start, sl.stop)):
                sel = order[bounds[k] : bounds[k + 1]]
                out[sel] = block[row, item_idx[sel]]
        return out

    # -------------------------------------------------------------- public API
    def score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """Scores of aligned (user, item) pairs.

        Parameters
        ----------
        user_idx, item_idx
            1-D integer arrays of the same length.

        Returns
        -------
        numpy.ndarray
            ``float32`` scores, one per pair (higher is better).
        """
        self._check_fitted()
        user_idx = self._validate_users(user_idx)
        item_idx = np.asarray(item_idx, dtype=np.int64).reshape(-1)
        if user_idx.shape != item_idx.shape:
            raise ValueError("user_idx and item_idx must have the same length")
        self._validate_items(item_idx)
        if len(user_idx) == 0:
            return np.empty(0, dtype=np.float32)
        return np.asarray(self._score_pairs(user_idx, item_idx), dtype=np.float32)

    def recommend(
        self,
        user_idx: np.ndarray | int,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for a batch of known users.

        Parameters
        ----------
        user_idx
            User indices (a scalar is treated as a batch of one).
        n
            Number of items per user.
        exclude_seen
            Drop items the user interacted with in training.
        candidates
            Optional 1-D array of item indices; only these are ranked.

        Returns
        -------
        (item_idx, scores)
            Arrays of shape (len(user_idx), n), best first. Where fewer than ``n`` items are
            eligible, the remaining slots hold item -1 and score -inf.
        """
        self._check_fitted()
        users = self._validate_users(user_idx)
        seen = self.seen_ if exclude_seen else None
        return self._rank(self._score_users, users, n, seen, users, candidates)

    def recommend_for_ratings(
        self,
        ratings: sp.csr_matrix,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for new users given their ratings (fold-in, no retraining).

        Parameters
        ----------
        ratings
            (n_new_users, n_items) CSR of ratings on the model's item index.
        """
        self._check_fitted()
        ratings = self._validate_ratings(ratings)
        rows = np.arange(ratings.shape[0])
        seen = (ratings != 0).astype(np.float32).tocsr() if exclude_seen else None
        return self._rank(
            lambda r: self._score_ratings(ratings[r]), rows, n, seen, rows, candidates
        )

    def score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        """Dense scores over all items for new users (rows of ``ratings``)."""
        self._check_fitted()
        return np.asarray(self._score_ratings(self._validate_ratings(ratings)), np.float32)

    def fold_in(self, ratings: sp.csr_matrix) -> np.ndarray:
        """The user representation a model computes for new users from their ratings.

        The default is the model's score vector over all items; factor models return
        their latent user vectors.
        """
        return self.score_ratings(ratings)

    def similar_items(
        self, item_idx: np.ndarray | int, n: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` most similar items (cosine over the model's item vectors).

        Returns
        -------
        (item_idx, scores)
            Shapes (len(item_idx), n); the query item itself is excluded.
        """
        self._check_fitted()
        vectors = self._item_vectors()
        if vectors is None:
            raise FoldInNotSupported(f"{self.name} has no item vectors for similar_items")
        items = np.atleast_1d(np.asarray(item_idx, dtype=np.int64))
        self._validate_items(items)
        normed = _l2_normalise(vectors)
        out_i, out_s = [], []
        for sl in _batches(len(items), self.batch_size):
            q = normed[items[sl]]
            block = q @ normed.T
            block = block.toarray() if sp.issparse(block) else np.asarray(block)
            block = block.astype(np.float32)
            block[np.arange(block.shape[0]), items[sl]] = -np.inf
            i, s = topk(block, n)
            out_i.append(i)
            out_s.append(s)
        return np.vstack(out_i), np.vstack(out_s)

    # -------------------------------------------------------------- internals
    def _rank(
        self,
        scorer: Callable[[np.ndarray], np.ndarray],
        rows: np.ndarray,
        n: int,
        seen: sp.csr_matrix | None,
        seen_rows: np.ndarray,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self.n_items_ is not None
        if n < 1:
            raise ValueError("n must be >= 1")
        cand = None
        if candidates is not None:
            cand = np.unique(np.asarray(candidates, dtype=np.int64))
            self._validate_items(cand)
        out_i = np.full((len(rows), n), -1, dtype=np.int64)
        out_s = np.full((len(rows), n), -np.inf, dtype=np.float32)
        for sl in _batches(len(rows), self.batch_size):
            block = np.asarray(scorer(rows[sl]), dtype=np.float32)
            if not (block.flags.owndata and block.flags.writeable and block.flags.c_contiguous):
                block = np.array(block, dtype=np.float32, order="C")  # never modify a view
            nan = np.isnan(block)
            if nan.any():
                block[nan] = -np.inf
            if seen is not None:
                sub = seen[seen_rows[sl]]
                r = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
                block[r, sub.indices] = -np.inf
            if cand is not None:
                block = block[:, cand]
            idx, vals = topk(block, n)
            if cand is not None:
                idx = np.where(idx >= 0, cand[np.clip(idx, 0, None)], -1)
            k = idx.shape[1]
            out_i[sl, :k] = idx
            out_s[sl, :k] = vals
        return out_i, out_s

    def _validate_users(self, user_idx: np.ndarray | int) -> np.ndarray:
        users = np.atleast_1d(np.asarray(user_idx, dtype=np.int64)).reshape(-1)
        if users.size and (users.min() < 0 or users.max() >= self.n_users_):
            from reelrank.errors import UnknownIdError

            raise UnknownIdError(f"user index out of range 0..{self.n_users_ - 1}")
        return users

    def _validate_items(self, item_idx: np.ndarray) -> None:
        assert self.n_items_ is not None
        if item_idx.size and (item_idx.min() < 0 or item_idx.max() >= self.n_items_):
            from reelrank.errors import UnknownIdError

            raise UnknownIdError(f"item index out of range 0..{self.n_items_ - 1}")

    def _validate_ratings(self, ratings: sp.csr_matrix | np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix(ratings, dtype=np.float32)
        if m.shape[1] != self.n_items_:
            raise ConfigError(
                f"{self.name}: ratings must have {self.n_items_} columns (the model's "
                f"catalogue), got {m.shape[1]}"
            )
        return m

    # -------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (no objects). Subclasses extend."""
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore learned arrays from :meth:`_get_state`."""

    def _save_extra(self, path: Path) -> None:
        """Write files other than arrays (torch state_dict, LightGBM text model...)."""

    def _load_extra(self, path: Path) -> None:
        """Read what :meth:`_save_extra` wrote."""

    def _state_schema(self) -> Mapping[str, ArraySpec | CsrSpec] | None:
        """What the arrays of ``state.npz`` must look like, checked before :meth:`_set_state`.

        Return a mapping from array name to :class:`~reelrank.models.state.ArraySpec` (dtype
        kind, shape with symbolic dimensions ``"n_items"`` / ``"n_users"`` / shared names,
        index range, finiteness) or, for a CSR saved as ``P_data/P_indices/P_indptr/P_shape``,
        from ``P`` to a :class:`~reelrank.models.state.CsrSpec`. The default ``None`` infers
        the schema from the arrays themselves (:func:`reelrank.models.state.default_schema`).
        """
        return None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the fitted model into directory ``path`` atomically.

        Layout: ``model.json`` (format version, reelrank version, model name, config,
        provenance), ``state.npz`` (learned arrays, loaded with ``allow_pickle=False``),
        ``seen.npz`` (training interactions used to exclude seen items), plus model-specific
        files. An existing ``path`` is replaced only when it is a saved model.
        """
        from reelrank.provenance import provenance

        self._check_fitted()
        path = Path(path)
        with atomic_directory(path, kind="model") as tmp:
            manifest = {
                "format_version": MODEL_FORMAT_VERSION,
                "reelrank_version": __version__,
                "model": self.name,
                "config": self.config.to_dict(),
                "n_items": self.n_items_,
                "n_users": self.n_users_,
                "provenance": provenance(),
            }
            fit_info = getattr(self, "fit_info_", None)
            if fit_info:
                # what fit() decided and why (e.g. the hybrid's safety-net choice)
                manifest["fit_info"] = fit_info
            (tmp / "model.json").write_text(json.dumps(manifest, indent=2, default=_json_default))
            assert self.seen_ is not None
            _save_csr(tmp / "seen.npz", self.seen_)
            np.savez(tmp / "state.npz", **self._get_state())
            self._save_extra(tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load a model saved by :meth:`save`.

        Every array is validated before the model uses it (dtype, shape against the
        manifest's counts, index ranges, finite values: see :meth:`_state_schema`), and no
        FIFO, device or looping link is ever opened.

        Raises
        ------
        ArtifactError
            Missing files, a newer format, a different model class or corrupted arrays.
        """
        path = Path(path)
        manifest = _read_manifest(path)
        if manifest["model"] != cls.name:
            raise ArtifactError(f"{path}: holds model {manifest['model']!r}, not {cls.name!r}")
        check_tree(path)
        config_fields = {f.name for f in dataclasses.fields(cls.Config)}
        cfg = {k: _from_json(v) for k, v in manifest["config"].items() if k in config_fields}
        try:
            model = cls(cls.Config(**cfg))
        except (TypeError, ValueError, ReelrankError) as e:
            raise ArtifactError(f"{path / 'model.json'}: invalid config ({e})") from None
        dims: dict[str, int] = {"n_items": int(manifest["n_items"])}
        if manifest.get("n_users") is not None:
            dims["n_users"] = int(manifest["n_users"])
        seen_path = path / "seen.npz"
        seen = validate_csr(
            load_npz(seen_path), "", CsrSpec(shape=("n_users", "n_items")), dims,
            where=str(seen_path),
        )  # fmt: skip
        state_path = path / "state.npz"
        state = load_npz(state_path)
        schema = model._state_schema()
        validate_state(
            state, schema if schema is not None else default_schema(state), dims,
            where=str(state_path),
        )  # fmt: skip
        model.seen_ = seen.astype(np.float32)
        model.n_items_ = dims["n_items"]
        try:
            model._set_state(state)
            model._load_extra(path)
        except ArtifactError:
            raise
        except Exception as e:  # any failure here means corrupted files
            raise ArtifactError(
                f"{path}: corrupted model files ({type(e).__name__}: {e})"
            ) from None
        return model


def _json_default(o: Any) -> Any:
    if isinstance(o, tuple):
        return list(o)
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _from_json(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _l2_normalise(m: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(m):
        m = sp.csr_matrix(m, dtype=np.float32)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.diags(1.0 / norms).astype(np.float32) @ m
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms
