"""Neural hybrid (PyTorch, CPU): a two-tower network over ids, content and time.

User tower: learned user embedding + cyclic time features (time of day / day of year of the
interaction; of the user's last interaction at prediction time) -> MLP -> vector.
Item tower: learned movie embedding + content (a linear projection of the sentence
embedding block ``"embedding"`` and a learned bag of the sparse genre/tag/... tokens of
:class:`~reelrank.features.ItemFeatures`; genres from the movie table when no features are
given) -> MLP -> vector. Score = user bias + item bias + dot(user vector, item vector)
(+ the global mean in rating mode). The two towers make full-catalogue scoring a matrix
product, so ``recommend`` never runs the MLP on users x items pairs.

Modes
    ``mode="ranking"`` (default): every interaction is a positive; the loss is a sampled
    softmax whose negatives are the other positives of the mini-batch plus ``n_negatives``
    items drawn uniformly, with the log-Q correction of Yi et al. (2019, "Sampling-bias-
    corrected neural modeling") so popular items are not pushed down for being sampled
    often; ``loss="bpr"`` uses one uniform negative per interaction instead. Early stopping
    watches NDCG@10 on the inner validation split.
    ``mode="rating"``: MSE on the ratings, predictions clipped to the rating scale
    (``predicts_ratings``); early stopping watches the validation MSE.

Training: Adam with weight decay, dropout in both towers, mini-batches sliced from
shuffled index tensors (``torch.randperm`` with a seeded generator). Early stopping on an
inner validation split (each user's latest ``val_fraction`` of training ratings): the best
epoch's weights are restored, and ``history_`` records the train / validation loss per
epoch. With ``refit_full`` the network is then retrained from the same seed on all of
``train`` for the best number of epochs.

Fold-in (new users): a fresh user embedding and bias are fitted by ``fold_in_steps``
Adam steps on the new user's ratings (rating mode: MSE; ranking mode: BPR with seeded
random negatives) with the item tower frozen; the time features of a new user are zero.

The network itself (towers, time features, the inner validation score) is in
:mod:`reelrank.models.neural_net`.

Persistence: ``weights.pt`` (the ``state_dict`` only, loaded with ``weights_only=True``)
plus the base class's ``model.json`` / ``state.npz`` (content arrays, last-interaction
times, global mean).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from reelrank.data.dataset import Dataset
from reelrank.errors import ArtifactError
from reelrank.models.base import ModelConfig, Recommender, register
from reelrank.models.candidates import genre_matrix_from_movies
from reelrank.models.neural_net import TwoTower, cyclic_time, last_times, validation_ndcg
from reelrank.models.rerank import holdout_mask

logger = logging.getLogger(__name__)

__all__ = ["NeuralHybrid", "cyclic_time"]


@register("neural")
class NeuralHybrid(Recommender):
    """Two-tower neural hybrid of ids, content embeddings, tokens and time (PyTorch CPU)."""

    @dataclass(frozen=True)
    class Config(ModelConfig):
        """Hyper-parameters of :class:`NeuralHybrid`.

        Attributes
        ----------
        mode
            ``"rating"`` (MSE on the ratings) or ``"ranking"`` (``loss`` on interactions).
        loss
            Ranking mode only: ``"softmax"`` (sampled softmax over the other positives of
            the mini-batch plus ``n_negatives`` uniform items, log-Q corrected) or ``"bpr"``
            (one uniform negative per interaction).
        n_negatives
            Uniformly drawn negatives shared by a mini-batch (softmax loss); a value of at
            least the catalogue size gives the exact full softmax.
        min_rating
            Ranking mode only: interactions rated below it are not positives (``None``: all).
        mask_seen
            Softmax loss: a candidate the row's user has interacted with is not a negative
            (in-batch negatives are drawn by popularity, so they are often the user's own
            items: false negatives).
        dim
            Embedding / tower output size.
        hidden
            Hidden layer sizes of both towers' MLPs.
        dropout, weight_decay, lr
            Regularisation and Adam learning rate.
        batch_size
            Interactions per mini-batch.
        max_epochs, patience
            Early stopping: stop after ``patience`` epochs without a better validation loss.
        val_fraction
            Each user's latest share of training ratings used for early stopping.
        refit_full
            Retrain on all of ``train`` for the best number of epochs after early stopping.
        use_text
            Use the ``"embedding"`` block of the item features (asks for it in ``fit``).
        fold_in_steps, fold_in_lr
            Adam steps / learning rate of the new-user fold-in.
        device
            Torch device; only ``"cpu"`` is supported.
        seed
            Seeds torch and the batch / negative samplers.
        """

        mode: str = "ranking"
        loss: str = "softmax"
        n_negatives: int = 1024
        min_rating: float | None = None
        mask_seen: bool = True
        dim: int = 32
        hidden: tuple[int, ...] = (64,)
        dropout: float = 0.2
        weight_decay: float = 1e-5
        lr: float = 3e-3
        batch_size: int = 2048
        max_epochs: int = 40
        patience: int = 3
        val_fraction: float = 0.1
        refit_full: bool = True
        use_text: bool = True
        fold_in_steps: int = 50
        fold_in_lr: float = 0.05
        device: str = "cpu"
        seed: int = 42

        def validate(self) -> None:
            """Check the values."""
            if self.mode not in ("rating", "ranking"):
                raise ValueError("mode must be 'rating' or 'ranking'")
            if self.loss not in ("softmax", "bpr"):
                raise ValueError("loss must be 'softmax' or 'bpr'")
            if self.n_negatives < 0:
                raise ValueError("n_negatives must be >= 0")
            if self.device != "cpu":
                raise ValueError("only device='cpu' is supported")
            for name in ("dim", "batch_size", "max_epochs", "patience", "fold_in_steps"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be >= 1")
            if not 0 <= self.dropout < 1:
                raise ValueError("dropout must be in [0, 1)")
            if not 0 < self.val_fraction < 1:
                raise ValueError("val_fraction must be in (0, 1)")
            if self.lr <= 0 or self.weight_decay < 0 or self.fold_in_lr <= 0:
                raise ValueError("lr and fold_in_lr must be > 0, weight_decay >= 0")
            if any(h < 1 for h in self.hidden):
                raise ValueError("hidden sizes must be >= 1")

    config: Config
    #: rating mode predicts ratings; the instance attribute says which mode this one is in
    predicts_ratings: ClassVar[bool] = True

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        # rating mode predicts ratings (RMSE / MAE); ranking mode only ranks
        self.predicts_ratings = self.config.mode == "rating"  # type: ignore[misc]

    def feature_blocks(self) -> set[str]:
        """Sentence embeddings when ``use_text``."""
        return {"embedding"} if self.config.use_text else set()

    # ------------------------------------------------------------------ content
    def _set_content(self, tokens: sp.csr_matrix, text: np.ndarray) -> None:
        self.tokens_np_ = sp.csr_matrix(tokens, dtype=np.float32)
        text = np.asarray(text, dtype=np.float32)
        if text.shape[1] == 0:  # no text block: a constant zero column keeps shapes fixed
            text = np.zeros((self.tokens_np_.shape[0], 1), np.float32)
        self.text_np_ = text
        self._item_cache = None
        # row-normalised bag of tokens (mean of token embeddings)
        t = self.tokens_np_.copy()
        sums = np.asarray(t.sum(axis=1)).ravel()
        sums[sums == 0] = 1.0
        t = (sp.diags(1.0 / sums) @ t).tocoo()
        self._tokens_t = torch.sparse_coo_tensor(
            np.vstack([t.row, t.col]).astype(np.int64),
            t.data.astype(np.float32),
            t.shape,
            check_invariants=False,
        ).coalesce()
        self._text_t = torch.from_numpy(self.text_np_)

    def _item_batch(self, net: TwoTower, items: torch.Tensor) -> torch.Tensor:
        """Item-tower vectors of a batch (token bag over the whole catalogue: nnz x dim)."""
        tok = torch.sparse.mm(self._tokens_t, net.token_emb)[items]
        return net.item_mlp(
            torch.cat([net.item_emb(items), tok, net.text_proj(self._text_t[items])], 1)
        )

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset, features: Any | None) -> None:
        cfg = self.config
        if features is not None and features.sparse.shape[1] > 0:
            tokens = features.sparse
        else:
            tokens, _ = genre_matrix_from_movies(train.movies)
        text = np.zeros((train.n_items, 0), np.float32)
        if cfg.use_text and features is not None and "embedding" in features.dense:
            text = np.asarray(features.dense["embedding"], np.float32)
        self._set_content(tokens, text)
        self.scale_ = (float(train.rating_scale[0]), float(train.rating_scale[1]))
        val_mask = holdout_mask(train, cfg.val_fraction, 5)
        inner = train.with_interactions(~val_mask)
        val = train.with_interactions(val_mask)
        self.history_: dict[str, Any] = {}
        net, hist = self._train(inner, val if val.n_interactions else None, cfg.max_epochs)
        self.history_ = hist
        if cfg.refit_full and val.n_interactions:
            epochs = int(hist["best_epoch"]) + 1
            net, _ = self._train(train, None, epochs)
        self.net_ = net
        self.net_.eval()
        self._item_cache = None
        self.last_time_ = last_times(train)
        self.mu_ = float(train.ratings.mean()) if train.n_interactions else 0.0

    def _positives(self, ds: Dataset) -> Dataset:
        """The training examples: all ratings, or in ranking mode those >= ``min_rating``."""
        cfg = self.config
        if cfg.mode == "ranking" and cfg.min_rating is not None:
            return ds.with_interactions(ds.ratings >= cfg.min_rating)
        return ds

    def _arrays(self, ds: Dataset) -> tuple[torch.Tensor, ...]:
        frame = ds.to_frame()
        return (
            torch.tensor(frame["user_idx"].to_numpy(np.int64)),
            torch.tensor(frame["item_idx"].to_numpy(np.int64)),
            torch.tensor(frame["rating"].to_numpy(np.float32)),
            torch.from_numpy(cyclic_time(frame["timestamp"].to_numpy())),
        )

    def _log_q(self, data: Dataset) -> torch.Tensor:
        """Log expected count of each item among a mini-batch's softmax candidates.

        In-batch negatives are the other interactions' items (drawn in proportion to
        popularity), plus ``n_negatives`` uniform draws; subtracting this from the logits
        (log-Q correction) keeps the sampled softmax an unbiased stand-in for the full one
        instead of pushing popular items down.
        """
        cfg = self.config
        counts = data.item_counts().astype(np.float64)
        p = counts / max(counts.sum(), 1.0)
        expected = cfg.batch_size * p + cfg.n_negatives / max(data.n_items, 1)
        return torch.from_numpy(np.log(np.maximum(expected, 1e-12)).astype(np.float32))

    def _train(
        self, data: Dataset, val: Dataset | None, epochs: int
    ) -> tuple[TwoTower, dict[str, Any]]:
        cfg = self.config
        ranking = cfg.mode == "ranking"
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        net = TwoTower(
            data.n_users,
            data.n_items,
            self.tokens_np_.shape[1],
            self.text_np_.shape[1],
            cfg.dim,
            tuple(cfg.hidden),
            cfg.dropout,
        )
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        mu = float(data.ratings.mean()) if data.n_interactions else 0.0
        pos = self._positives(data)
        u, i, r, t = self._arrays(pos)
        self._logq = self._log_q(pos)
        self._seen = data.binary().tocsr()
        vt = self._arrays(self._positives(val)) if val is not None else None
        if vt is not None and len(vt[0]) == 0:
            vt = None
        hist: dict[str, Any] = {"train_loss": [], "val_loss": [], "best_epoch": epochs - 1}
        if ranking:
            hist["val_ndcg"] = []
        best, best_state, bad = -np.inf, None, 0
        n = len(u)
        for epoch in range(epochs):
            net.train()
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for start in tqdm(
                range(0, n, cfg.batch_size), desc=f"neural epoch {epoch + 1}", leave=False,
                disable=n < 200_000,
            ):  # fmt: skip
                b = perm[start : start + cfg.batch_size]
                loss = self._loss(net, u[b], i[b], r[b], t[b], mu, gen)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            hist["train_loss"].append(total / max(n, 1))
            if vt is None:
                continue
            net.eval()
            with torch.no_grad():
                vgen = torch.Generator().manual_seed(cfg.seed + 1)
                vloss = 0.0
                for start in range(0, len(vt[0]), cfg.batch_size):
                    sl = slice(start, start + cfg.batch_size)
                    part = self._loss(net, *(a[sl] for a in vt), mu, vgen)
                    vloss += float(part) * len(vt[0][sl])
                vloss /= len(vt[0])
            hist["val_loss"].append(vloss)
            if ranking:
                assert val is not None
                ndcg = validation_ndcg(net, self, data, self._positives(val))
                hist["val_ndcg"].append(ndcg)
                current = ndcg
                logger.debug("neural epoch %d train %.4f val ndcg@10 %.4f", epoch, total / n, ndcg)
            else:
                current = -vloss
                logger.debug("neural epoch %d train %.4f val %.4f", epoch, total / n, vloss)
            if current > best + 1e-6:
                best, bad = current, 0
                best_state = copy.deepcopy(net.state_dict())
                hist["best_epoch"] = epoch
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        hist["epochs_run"] = len(hist["train_loss"])
        return net, hist

    def _loss(
        self,
        net: TwoTower,
        u: torch.Tensor,
        i: torch.Tensor,
        r: torch.Tensor,
        t: torch.Tensor,
        mu: float,
        gen: torch.Generator,
    ) -> torch.Tensor:
        cfg = self.config
        uv = net.user_vec(net.user_emb(u), t)
        n_items = net.item_emb.num_embeddings
        if cfg.mode == "ranking" and cfg.loss == "softmax":
            if cfg.n_negatives >= n_items:  # exact softmax over the catalogue
                cand = torch.arange(n_items)
                target = i
                logits = uv @ self._item_batch(net, cand).T + net.item_bias.weight[:, 0]
                if cfg.mask_seen:  # the user's other items are not negatives
                    seen = torch.from_numpy(self._seen[u.numpy()].toarray() > 0)
                    seen[torch.arange(len(i)), i] = False
                    logits = logits.masked_fill(seen, float("-inf"))
            else:
                neg = torch.randint(0, n_items, (cfg.n_negatives,), generator=gen)
                cand = torch.cat([i, neg])
                target = torch.arange(len(i))
                logits = (
                    uv @ self._item_batch(net, cand).T
                    + net.item_bias(cand)[:, 0]
                    - self._logq[cand]
                )
                # copies of a row's own positive among the candidates are not negatives,
                # nor (mask_seen) any other item of the row's user
                dup = i[:, None] == cand[None, :]
                if cfg.mode == "ranking" and cfg.mask_seen:
                    rows = self._seen[u.numpy()][:, cand.numpy()]
                    dup |= torch.from_numpy(rows.toarray() > 0)
                dup[target, target] = False
                logits = logits.masked_fill(dup, float("-inf"))
            return torch.nn.functional.cross_entropy(logits, target)
        s_pos = (uv * self._item_batch(net, i)).sum(1) + net.user_bias(u)[:, 0]
        s_pos = s_pos + net.item_bias(i)[:, 0]
        if cfg.mode == "rating":
            return torch.mean((s_pos + mu - r) ** 2)
        j = torch.randint(0, n_items, (len(u),), generator=gen)
        s_neg = (uv * self._item_batch(net, j)).sum(1) + net.item_bias(j)[:, 0]
        s_neg = s_neg + net.user_bias(u)[:, 0]
        return -torch.nn.functional.logsigmoid(s_pos - s_neg).mean()

    # ------------------------------------------------------------------ scoring
    def _all_items(self) -> tuple[torch.Tensor, torch.Tensor]:
        if getattr(self, "_item_cache", None) is None:
            with torch.no_grad():
                items = torch.arange(self.n_items_)
                vec = self.net_.item_vec(items, self._tokens_t, self._text_t)
                self._item_cache = (vec, self.net_.item_bias.weight[:, 0].clone())
        return self._item_cache

    def _finish(self, s: torch.Tensor) -> np.ndarray:
        out = s.numpy().astype(np.float32)
        if self.config.mode == "rating":
            out = np.clip(out + self.mu_, *self.scale_).astype(np.float32)
        return out

    def _score_users(self, user_idx: np.ndarray) -> np.ndarray:
        ivec, ibias = self._all_items()
        u = torch.from_numpy(np.asarray(user_idx, np.int64))
        t = torch.from_numpy(cyclic_time(self.last_time_[user_idx]))
        with torch.no_grad():
            uv = self.net_.user_vec(self.net_.user_emb(u), t)
            s = uv @ ivec.T + ibias[None, :] + self.net_.user_bias(u)
        return self._finish(s)

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        ivec, ibias = self._all_items()
        u = torch.from_numpy(np.asarray(user_idx, np.int64))
        i = torch.from_numpy(np.asarray(item_idx, np.int64))
        t = torch.from_numpy(cyclic_time(self.last_time_[user_idx]))
        with torch.no_grad():
            uv = self.net_.user_vec(self.net_.user_emb(u), t)
            s = (uv * ivec[i]).sum(1) + ibias[i] + self.net_.user_bias(u)[:, 0]
        return self._finish(s)

    def fold_in(self, ratings: sp.csr_matrix) -> np.ndarray:
        """User embeddings (and bias, last column) of new users fitted by a few Adam steps."""
        self._check_fitted()
        ratings = self._validate_ratings(ratings)
        cfg = self.config
        ivec, ibias = self._all_items()
        n = ratings.shape[0]
        gen = torch.Generator().manual_seed(cfg.seed)
        emb = torch.zeros(n, cfg.dim, requires_grad=True)
        bias = torch.zeros(n, requires_grad=True)
        opt = torch.optim.Adam([emb, bias], lr=cfg.fold_in_lr, weight_decay=cfg.weight_decay)
        coo = ratings.tocoo()
        rows = torch.from_numpy(coo.row.astype(np.int64))
        items = torch.from_numpy(coo.col.astype(np.int64))
        r = torch.from_numpy(coo.data.astype(np.float32))
        zeros = torch.zeros(n, 4)
        self.net_.eval()
        for _ in range(cfg.fold_in_steps if len(rows) else 0):
            uv = self.net_.user_vec(emb, zeros)
            s = (uv[rows] * ivec[items]).sum(1) + ibias[items] + bias[rows]
            if cfg.mode == "rating":
                loss = torch.mean((s + self.mu_ - r) ** 2)
            else:
                j = torch.randint(0, self.n_items_, (len(rows),), generator=gen)
                s_neg = (uv[rows] * ivec[j]).sum(1) + ibias[j] + bias[rows]
                loss = -torch.nn.functional.logsigmoid(s - s_neg).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return torch.cat([emb.detach(), bias.detach()[:, None]], 1).numpy()

    def _score_ratings(self, ratings: sp.csr_matrix) -> np.ndarray:
        state = torch.from_numpy(self.fold_in(ratings))
        ivec, ibias = self._all_items()
        with torch.no_grad():
            uv = self.net_.user_vec(state[:, :-1], torch.zeros(len(state), 4))
            s = uv @ ivec.T + ibias[None, :] + state[:, -1:]
        return self._finish(s)

    def _item_vectors(self) -> np.ndarray:
        return self._all_items()[0].numpy()

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, np.ndarray]:
        t = self.tokens_np_
        return {
            "tok_data": t.data,
            "tok_indices": t.indices,
            "tok_indptr": t.indptr,
            "tok_shape": np.asarray(t.shape),
            "text": self.text_np_,
            "last_time": self.last_time_,
            "mu": np.asarray([self.mu_]),
            "scale": np.asarray(self.scale_, dtype=np.float64),
            "train_loss": np.asarray(self.history_.get("train_loss", []), np.float64),
            "val_loss": np.asarray(self.history_.get("val_loss", []), np.float64),
            "best_epoch": np.asarray([int(self.history_.get("best_epoch", 0))]),
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        tokens = sp.csr_matrix(
            (state["tok_data"], state["tok_indices"], state["tok_indptr"]),
            shape=tuple(int(x) for x in state["tok_shape"]),
        )
        self._set_content(tokens, state["text"])
        self.last_time_ = state["last_time"]
        self.mu_ = float(state["mu"][0])
        self.scale_ = (float(state["scale"][0]), float(state["scale"][1]))
        self.history_ = {
            "train_loss": state["train_loss"].tolist(),
            "val_loss": state["val_loss"].tolist(),
            "best_epoch": int(state["best_epoch"][0]),
        }

    def _save_extra(self, path: Path) -> None:
        torch.save(self.net_.state_dict(), path / "weights.pt")

    def _load_extra(self, path: Path) -> None:
        cfg = self.config
        try:
            weights = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ArtifactError(f"{path}: missing weights.pt") from None
        n_users = int(weights["user_emb.weight"].shape[0])
        net = TwoTower(
            n_users,
            int(self.n_items_ or 0),
            self.tokens_np_.shape[1],
            self.text_np_.shape[1],
            cfg.dim,
            tuple(cfg.hidden),
            cfg.dropout,
        )
        try:
            net.load_state_dict(weights)
        except RuntimeError as e:
            raise ArtifactError(f"{path}: weights do not match the config ({e})") from None
        net.eval()
        self.net_ = net
        self._item_cache = None
