"""First stage of the two-stage hybrid: candidate generation and (user, candidate) features.

Candidate generation
    Several first-stage models ("generators": ALS, EASE or item-kNN, the content model,
    popularity) each propose their top-``N`` unseen items; the union is the candidate set.
    :func:`candidate_recall` reports the share of held-out positives that reach each
    generator's top-``N`` and the union.

Pair features
    :class:`PairFeaturizer` and :class:`UserHistory` live in
    :mod:`reelrank.models.pair_features` (re-exported here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError
from reelrank.features.item_features import ItemFeatures
from reelrank.models.base import (
    FoldInNotSupported,
    Recommender,
    TrainingHint,
    create_model,
    topk,
)
from reelrank.models.pair_features import PairFeaturizer, UserHistory, genre_matrix_from_movies

logger = logging.getLogger(__name__)

__all__ = [
    "CandidateGenerator",
    "FirstStage",
    "PairFeaturizer",
    "UserHistory",
    "candidate_recall",
    "genre_matrix_from_movies",
    "parse_generators",
]


def parse_generators(spec: str) -> list[tuple[str, int]]:
    """Parse ``"als:200,ease:200,content:100,pop:50"`` into ``[(name, n), ...]``.

    Raises
    ------
    ConfigError
        On a malformed entry, a non-positive ``n`` or a repeated name.
    """
    out: list[tuple[str, int]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, n = part.partition(":")
        try:
            count = int(n) if sep else 100
        except ValueError:
            raise ConfigError(f"generator spec {part!r}: N must be an integer") from None
        if count < 1:
            raise ConfigError(f"generator spec {part!r}: N must be >= 1")
        if name in {g for g, _ in out}:
            raise ConfigError(f"generator {name!r} listed twice")
        out.append((name.strip(), count))
    if not out:
        raise ConfigError("at least one candidate generator is needed")
    return out


# ---------------------------------------------------------------------------- generators
class CandidateGenerator:
    """Fit several first-stage models and propose the union of their top-``N`` items.

    Parameters
    ----------
    generators
        ``[(name, n), ...]`` registered model names and their top-``N``.
    params
        Per-generator hyper-parameters, ``{name: {param: value}}``.
    content_kind
        Item vectors of the ``content`` generator: ``"auto"`` (embeddings when the features
        have them, else TF-IDF), ``"embedding"`` or ``"tfidf"``.
    ease_max_items
        Above this catalogue size ``ease`` is replaced by ``itemknn`` (dense item x item).
    seed
        Passed to generators that take a ``seed``.
    workers
        Generators fitted at the same time (threads; default one per CPU core).
    hint
        How the hybrid will be judged: each generator is configured with
        :meth:`~reelrank.models.base.Recommender.for_protocol` before it is fitted (so that,
        where every rating is relevant, the implicit-feedback generators learn from binary
        feedback as they do when evaluated alone).
    """

    def __init__(
        self,
        generators: Sequence[tuple[str, int]],
        params: dict[str, dict[str, object]] | None = None,
        *,
        content_kind: str = "auto",
        ease_max_items: int = 20_000,
        seed: int = 42,
        hint: TrainingHint | None = None,
        workers: int | None = None,
    ) -> None:
        self.hint = hint
        self.workers = workers
        self.generators = list(generators)
        self.params = dict(params or {})
        self.content_kind = content_kind
        self.ease_max_items = ease_max_items
        self.seed = seed
        self.models_: dict[str, Recommender] = {}
        self.n_: dict[str, int] = {}

    def resolved(self, n_items: int, features: ItemFeatures | None) -> list[tuple[str, int]]:
        """Generators actually used for a catalogue of ``n_items`` and these features."""
        out = []
        for name, n in self.generators:
            if name == "ease" and n_items > self.ease_max_items:
                logger.info(
                    "catalogue has %d items > %d: itemknn replaces ease",
                    n_items,
                    self.ease_max_items,
                )
                name = "itemknn"
            if name in ("content", "faiss-knn") and features is None:
                logger.info("no item features: generator %s skipped", name)
                continue
            out.append((name, n))
        if not out:
            raise ConfigError("no usable candidate generator (content ones need features)")
        return out

    def _params_for(self, name: str, features: ItemFeatures | None) -> dict[str, object]:
        params = dict(self.params.get(name, {}))
        cls_fields = _config_fields(name)
        for key in ("seed", "random_state"):
            if key in cls_fields and key not in params:
                params[key] = self.seed
        if name == "content" and "kind" in cls_fields and "kind" not in params:
            kind = self.content_kind
            if kind == "auto":
                has_emb = features is not None and "embedding" in features.dense
                kind = "embedding" if has_emb else "tfidf"
            params["kind"] = kind
        return params

    def fit(self, train: Dataset, features: ItemFeatures | None) -> CandidateGenerator:
        """Fit every generator on ``train``.

        The generators are independent and their heavy parts (LAPACK, LightFM's and
        implicit's compiled loops) release the GIL, so they are fitted side by side, one
        thread per CPU core (``workers``); each result is the same as fitted alone.
        """
        import os
        import time
        from concurrent.futures import ThreadPoolExecutor

        resolved = self.resolved(train.n_items, features)
        models = []
        for name, _ in resolved:
            model = create_model(name, **self._params_for(name, features))
            if self.hint is not None:
                model = model.for_protocol(self.hint)
            models.append(model)

        def fit_one(k: int) -> float:
            logger.info("fitting generator %s", resolved[k][0])
            t0 = time.perf_counter()
            models[k].fit(train, features)
            return time.perf_counter() - t0

        workers = self.workers or min(len(models), os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            seconds = list(pool.map(fit_one, range(len(models))))
        self.models_ = {name: m for (name, _), m in zip(resolved, models, strict=True)}
        self.n_ = {name: n for name, n in resolved}
        self.fit_seconds_: dict[str, float] = {
            name: s for (name, _), s in zip(resolved, seconds, strict=True)
        }
        return self

    @property
    def names(self) -> list[str]:
        """Names of the fitted generators, in order."""
        return list(self.models_)


def _config_fields(name: str) -> set[str]:
    import dataclasses

    from reelrank.models.base import get_model_class

    return {f.name for f in dataclasses.fields(get_model_class(name).Config)}


# ---------------------------------------------------------------------------- first stage
@dataclass
class FirstStage:
    """Candidate pairs of a user batch and their generator features.

    Attributes
    ----------
    row
        Position of the pair's user within the batch, sorted ascending.
    item_idx
        Item of each pair.
    in_union
        Whether the item is in the union of the generators' top-``N``.
    gen_features
        ``{"{gen}_score" | "{gen}_rank" | "{gen}_z": array}`` aligned with the pairs.
    """

    row: np.ndarray
    item_idx: np.ndarray
    in_union: np.ndarray
    gen_features: dict[str, np.ndarray] = field(default_factory=dict)


def first_stage(
    scorers: dict[str, Callable[[], np.ndarray]],
    n_per_gen: dict[str, int],
    n_rows: int,
    n_items: int,
    *,
    seen: sp.csr_matrix | None,
    restrict: np.ndarray | None = None,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    union: bool = True,
    restrict_all: bool = False,
) -> FirstStage:
    """Run the generators on one user batch and collect candidates + generator features.

    Parameters
    ----------
    scorers
        ``{gen: fn}``; ``fn()`` returns the dense (n_rows, n_items) score block (or raises
        :class:`FoldInNotSupported`, then that generator's features are NaN).
    n_per_gen
        Top-``N`` of each generator.
    seen
        (n_rows, n_items) items never proposed and excluded from ranks and z-scores.
    restrict
        Only these items may be proposed (ranks still refer to the whole unseen catalogue,
        so a pair's features never depend on the restriction).
    extra
        ``(row, item_idx)`` pairs to include whatever the generators say.
    union
        Include the union of the top-``N`` (False: only ``extra``).
    restrict_all
        With ``restrict`` and ``union``: every unseen restricted item is a candidate, not only
        the generators' top-``N`` among them. For small restricted catalogues (the cold items
        of a cold-start protocol), where collaborative generators have no signal and would
        propose arbitrary ties, so that recall never depends on them.
    """
    mask = np.zeros((n_rows, n_items), dtype=bool)
    blocks: dict[str, np.ndarray | None] = {}
    ranks: dict[str, np.ndarray] = {}
    seen_r = seen_c = None
    if seen is not None:
        seen = seen.tocsr()
        seen_r = np.repeat(np.arange(n_rows), np.diff(seen.indptr))
        seen_c = seen.indices
    allowed = None
    if restrict is not None:
        allowed = np.zeros(n_items, dtype=bool)
        allowed[restrict] = True
    for gen, fn in scorers.items():
        n = n_per_gen[gen]
        try:
            block = np.array(fn(), dtype=np.float32, copy=True)
        except FoldInNotSupported:
            blocks[gen] = None
            continue
        block[~np.isfinite(block)] = np.nan
        if seen_r is not None:
            block[seen_r, seen_c] = np.nan
        blocks[gen] = block
        ranked = np.where(np.isnan(block), -np.inf, block)
        idx, _ = topk(ranked, n)
        valid = idx >= 0
        rank_block = np.full((n_rows, n_items), n + 1, dtype=np.float32)
        rr = np.broadcast_to(np.arange(n_rows)[:, None], idx.shape)
        rank_block[rr[valid], idx[valid]] = np.broadcast_to(
            np.arange(1, idx.shape[1] + 1), idx.shape
        )[valid]
        ranks[gen] = rank_block
        if union:
            if allowed is not None:
                sel = np.where(allowed[None, :], ranked, -np.inf)
                idx, _ = topk(sel, n)
                valid = idx >= 0
            mask[rr[valid], idx[valid]] = True
    if union and restrict_all and restrict is not None:
        mask[:, restrict] = True
        if seen_r is not None:
            mask[seen_r, seen_c] = False
    in_union = mask.copy()
    if extra is not None:
        mask[extra[0], extra[1]] = True
    row, item = np.nonzero(mask)
    out = FirstStage(
        row=row.astype(np.int64), item_idx=item.astype(np.int64), in_union=in_union[row, item]
    )
    for gen in scorers:
        block = blocks.get(gen)
        if block is None:
            nan = np.full(len(row), np.nan, dtype=np.float32)
            out.gen_features.update(
                {f"{gen}_score": nan, f"{gen}_rank": nan.copy(), f"{gen}_z": nan.copy()}
            )
            continue
        mean = np.nanmean(block, axis=1)
        std = np.nanstd(block, axis=1)
        std[~(std > 0)] = 1.0
        score = block[row, item]
        out.gen_features[f"{gen}_score"] = score
        out.gen_features[f"{gen}_rank"] = ranks[gen][row, item]
        out.gen_features[f"{gen}_z"] = ((score - mean[row]) / std[row]).astype(np.float32)
    return out


# ---------------------------------------------------------------------------- recall
def candidate_recall(
    generator: CandidateGenerator,
    train: Dataset,
    test: Dataset,
    *,
    relevance_threshold: float | None = 4.0,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Share of test positives that reach each generator's top-``N`` and the union.

    Parameters
    ----------
    generator
        A fitted :class:`CandidateGenerator` (fitted on ``train``).
    train, test
        Seen items come from ``train``; positives are ``test`` ratings at or above
        ``relevance_threshold`` (all test interactions when None).

    Returns
    -------
    pandas.DataFrame
        One row per generator plus ``"union"``: ``generator``, ``n`` (top-N, or mean union
        size), ``recall`` (micro: hits / positives), ``user_recall`` (mean per user),
        ``n_positives``.
    """
    pos = test.binary(relevance_threshold)
    seen = train.binary()
    users = np.flatnonzero(np.diff(pos.indptr) > 0)
    names = generator.names
    hits = {g: np.zeros(len(users)) for g in [*names, "union"]}
    union_size = np.zeros(len(users))
    n_pos = np.diff(pos.indptr)[users].astype(np.float64)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        sl = slice(start, start + len(batch))
        seen_b = seen[batch]
        pos_b = pos[batch].toarray() > 0
        union = np.zeros_like(pos_b)
        for g in names:
            block = np.array(generator.models_[g]._score_users(batch), np.float32, copy=True)
            block[~np.isfinite(block)] = -np.inf
            r = np.repeat(np.arange(len(batch)), np.diff(seen_b.indptr))
            block[r, seen_b.indices] = -np.inf
            idx, _ = topk(block, generator.n_[g])
            m = np.zeros_like(pos_b)
            rr = np.broadcast_to(np.arange(len(batch))[:, None], idx.shape)
            ok = idx >= 0
            m[rr[ok], idx[ok]] = True
            union |= m
            hits[g][sl] = (m & pos_b).sum(axis=1)
        hits["union"][sl] = (union & pos_b).sum(axis=1)
        union_size[sl] = union.sum(axis=1)
    rows = []
    for g in [*names, "union"]:
        rows.append(
            {
                "generator": g,
                "n": float(generator.n_[g]) if g != "union" else float(union_size.mean()),
                "recall": float(hits[g].sum() / max(n_pos.sum(), 1)),
                "user_recall": float(np.mean(hits[g] / n_pos)) if len(users) else float("nan"),
                "n_positives": int(n_pos.sum()),
            }
        )
    return pd.DataFrame(rows)
