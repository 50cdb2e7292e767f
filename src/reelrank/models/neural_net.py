"""The network of the neural hybrid (PyTorch): two towers, time features, inner validation.

:class:`TwoTower` holds the learned parts: user and movie id embeddings and biases, a
token-embedding table (mean bag of a movie's genre / tag / people tokens), a linear
projection of its sentence embedding, and one MLP per tower. :func:`cyclic_time` gives the
user tower its time-of-day / day-of-year features, :func:`last_times` each user's latest
interaction time (the time a known user is scored at), and :func:`validation_ndcg` the
early-stopping score of a network on an inner validation split.
:class:`reelrank.models.neural.NeuralHybrid` trains, scores, folds in and saves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn

from reelrank.data.dataset import Dataset

if TYPE_CHECKING:
    from reelrank.models.neural import NeuralHybrid

__all__ = ["TwoTower", "cyclic_time", "last_times", "validation_ndcg"]


def cyclic_time(ts: np.ndarray) -> np.ndarray:
    """(n, 4) sin/cos of time of day and day of year; NaN timestamps give zeros."""
    ts = np.asarray(ts, dtype=np.float64)
    dt = pd.to_datetime(pd.Series(ts), unit="s", utc=True)
    hour = (dt.dt.hour + dt.dt.minute / 60.0).to_numpy(dtype=np.float64, na_value=np.nan)
    doy = dt.dt.dayofyear.to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.column_stack(
        [
            np.sin(2 * np.pi * hour / 24),
            np.cos(2 * np.pi * hour / 24),
            np.sin(2 * np.pi * doy / 365.25),
            np.cos(2 * np.pi * doy / 365.25),
        ]
    )
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def _mlp(d_in: int, hidden: tuple[int, ...], d_out: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout)]
        d = h
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class TwoTower(nn.Module):
    """User tower (id embedding + time -> MLP) and item tower (id, tokens, text -> MLP)."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_tokens: int,
        d_text: int,
        dim: int,
        hidden: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        self.user_emb = nn.Embedding(n_users, dim)
        self.item_emb = nn.Embedding(n_items, dim)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.token_emb = nn.Parameter(torch.zeros(max(n_tokens, 1), dim))
        self.text_proj = nn.Linear(max(d_text, 1), dim, bias=False)
        self.user_mlp = _mlp(dim + 4, hidden, dim, dropout)
        self.item_mlp = _mlp(3 * dim, hidden, dim, dropout)
        for e in (self.user_emb, self.item_emb):
            nn.init.normal_(e.weight, std=0.05)
        nn.init.normal_(self.token_emb, std=0.05)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def user_vec(self, user_emb: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        return self.user_mlp(torch.cat([user_emb, time], dim=1))

    def item_vec(
        self, items: torch.Tensor, tokens: torch.Tensor, text: torch.Tensor
    ) -> torch.Tensor:
        tok = (
            torch.sparse.mm(tokens, self.token_emb)
            if tokens.shape[1]
            else (torch.zeros(len(items), self.token_emb.shape[1]))
        )
        return self.item_mlp(torch.cat([self.item_emb(items), tok, self.text_proj(text)], 1))


def last_times(ds: Dataset) -> np.ndarray:
    """Each user's latest interaction time (NaN for users without any)."""
    last = np.full(ds.n_users, np.nan)
    indptr = ds.interactions.indptr
    has = np.diff(indptr) > 0
    if has.any():
        last[has] = np.maximum.reduceat(ds.timestamps.astype(np.float64), indptr[:-1][has])
    return last


def validation_ndcg(net: TwoTower, model: NeuralHybrid, train: Dataset, val: Dataset) -> float:
    """Mean NDCG@10 (binary gains) of ``net`` on the inner validation part.

    Users are scored in blocks against the whole catalogue, their ``train`` items excluded;
    the user time features are those of their last training interaction, as in ``recommend``.
    """
    k = 10
    rel = val.binary().tocsr()
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    if len(users) == 0:
        return 0.0
    seen = train.binary().tocsr()
    last = last_times(train)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    with torch.no_grad():
        ivec = net.item_vec(torch.arange(train.n_items), model._tokens_t, model._text_t)
        ibias = net.item_bias.weight[:, 0]
        for start in range(0, len(users), 1024):
            ub = users[start : start + 1024]
            uv = net.user_vec(
                net.user_emb(torch.from_numpy(ub)), torch.from_numpy(cyclic_time(last[ub]))
            )
            s = (uv @ ivec.T + ibias[None, :]).numpy()
            rows, cols = seen[ub].nonzero()
            s[rows, cols] = -np.inf
            kk = min(k, s.shape[1])
            top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            top = np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, 1), 1), 1)
            rel_b = rel[ub].tocoo()
            n_items = np.int64(s.shape[1])
            keys = np.arange(len(ub), dtype=np.int64)[:, None] * n_items + top
            hits = np.isin(keys, rel_b.row.astype(np.int64) * n_items + rel_b.col)
            dcg = hits.astype(np.float64) @ discounts[:kk]
            n_rel = np.minimum(np.diff(rel[ub].indptr), kk)
            ideal = np.cumsum(discounts[:kk])[n_rel - 1]
            total += float((dcg / ideal).sum())
    return total / len(users)
