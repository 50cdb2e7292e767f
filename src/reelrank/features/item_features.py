"""The :class:`ItemFeatures` container shared by the feature builders and the models."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelrank._fs import check_regular_file
from reelrank.errors import ArtifactError

__all__ = ["ItemFeatures"]


@dataclass(frozen=True)
class ItemFeatures:
    """Item x feature matrices aligned to a dataset's item index.

    Attributes
    ----------
    sparse
        ``(n_items, n_tokens)`` CSR ``float32`` of named token features (``genre:Comedy``,
        ``tag:pixar``, ``decade:1990s``, ``person:tom hanks``...). Token weights are 1 for
        genres/decades/people and a (capped) normalised count for tags.
    names
        Token names, one per column of ``sparse`` (``str`` array).
    tfidf
        ``(n_items, vocab)`` L2-normalised TF-IDF over title + genres + tags, or None.
    tfidf_terms
        Vocabulary of ``tfidf`` (``str`` array), or None.
    dense
        Named dense ``float32`` blocks of shape ``(n_items, d)``: ``"embedding"`` (combined
        movie text, 384-d), ``"embedding:title"``..., ``"genome"`` (1,128-d relevance).
    meta
        Build metadata (counts per family, vocabulary sizes, timings, settings).
    """

    sparse: sp.csr_matrix
    names: np.ndarray
    tfidf: sp.csr_matrix | None = None
    tfidf_terms: np.ndarray | None = None
    dense: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sparse.shape[1] != len(self.names):
            raise ValueError("names must have one entry per sparse column")
        n = self.sparse.shape[0]
        if self.tfidf is not None and self.tfidf.shape[0] != n:
            raise ValueError("tfidf must have one row per item")
        for k, v in self.dense.items():
            if v.shape[0] != n:
                raise ValueError(f"dense block {k!r} must have one row per item")

    @property
    def n_items(self) -> int:
        """Number of items (rows)."""
        return int(self.sparse.shape[0])

    def family(self, prefix: str) -> tuple[sp.csr_matrix, np.ndarray]:
        """Columns whose name starts with ``prefix + ':'`` (e.g. ``family("genre")``)."""
        mask = np.char.startswith(self.names.astype(str), prefix + ":")
        cols = np.flatnonzero(mask)
        return self.sparse[:, cols].tocsr(), self.names[cols]

    def families(self) -> dict[str, int]:
        """Number of columns per family prefix."""
        prefixes = np.array([n.split(":", 1)[0] for n in self.names.astype(str)])
        uniq, counts = np.unique(prefixes, return_counts=True)
        return dict(zip(uniq.tolist(), counts.tolist(), strict=True))

    def block(self, name: str) -> np.ndarray | None:
        """A dense block by name, or None when absent."""
        return self.dense.get(name)

    def content_matrix(self, kind: str = "tfidf") -> np.ndarray | sp.csr_matrix:
        """The item vectors a content model uses.

        Parameters
        ----------
        kind
            ``"tfidf"``, ``"tokens"`` (the sparse token matrix), or a dense block name such
            as ``"embedding"`` or ``"genome"``.
        """
        if kind == "tfidf":
            if self.tfidf is None:
                raise ValueError("these features have no TF-IDF block")
            return self.tfidf
        if kind == "tokens":
            return self.sparse
        if kind in self.dense:
            return self.dense[kind]
        raise ValueError(f"no feature block {kind!r}; have tfidf, tokens, {sorted(self.dense)}")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to a directory: ``features.npz`` (arrays) and ``features.json`` (meta)."""
        from reelrank._fs import atomic_directory

        path = Path(path)
        with atomic_directory(path) as tmp:
            arrays: dict[str, np.ndarray] = {
                "sparse_data": self.sparse.data,
                "sparse_indices": self.sparse.indices,
                "sparse_indptr": self.sparse.indptr,
                "sparse_shape": np.asarray(self.sparse.shape),
                "names": self.names.astype(str),
            }
            if self.tfidf is not None and self.tfidf_terms is not None:
                arrays.update(
                    tfidf_data=self.tfidf.data,
                    tfidf_indices=self.tfidf.indices,
                    tfidf_indptr=self.tfidf.indptr,
                    tfidf_shape=np.asarray(self.tfidf.shape),
                    tfidf_terms=self.tfidf_terms.astype(str),
                )
            for k, v in self.dense.items():
                arrays[f"dense__{k}"] = np.asarray(v, dtype=np.float32)
            np.savez(tmp / "features.npz", **arrays)
            (tmp / "features.json").write_text(json.dumps(dict(self.meta), indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ItemFeatures:
        """Read a directory written by :meth:`save`."""
        path = Path(path)
        try:
            for name in ("features.npz", "features.json"):
                check_regular_file(path / name)  # a FIFO or folder never blocks a reader
            with np.load(path / "features.npz", allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
            meta = json.loads((path / "features.json").read_text())
        except FileNotFoundError as e:
            raise ArtifactError(f"{path}: missing {Path(e.filename).name}") from None
        except (ValueError, OSError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
            # json.JSONDecodeError is a ValueError; a truncated archive is a BadZipFile
            raise ArtifactError(f"{path}: corrupted feature files ({e})") from None
        return cls.from_arrays(arrays, meta, where=str(path))

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *, where: str = "features"
    ) -> ItemFeatures:
        """Rebuild from the arrays of ``features.npz`` and the ``features.json`` mapping.

        For callers that have read (and checked) the files themselves, such as
        :func:`reelrank.serving.artifact.load_artifact`, so nothing is read twice.

        Raises
        ------
        ArtifactError
            An array is missing or the CSR parts do not fit together (``where`` names it).
        """
        a = arrays
        try:
            sparse = sp.csr_matrix(
                (a["sparse_data"], a["sparse_indices"], a["sparse_indptr"]),
                shape=tuple(int(x) for x in a["sparse_shape"]),
            )
            tfidf = terms = None
            if "tfidf_data" in a:
                tfidf = sp.csr_matrix(
                    (a["tfidf_data"], a["tfidf_indices"], a["tfidf_indptr"]),
                    shape=tuple(int(x) for x in a["tfidf_shape"]),
                )
                terms = a["tfidf_terms"]
            names = a["names"]
        except (ValueError, KeyError, TypeError) as e:
            raise ArtifactError(f"{where}: corrupted feature files ({e})") from None
        dense = {k[len("dense__") :]: v for k, v in a.items() if k.startswith("dense__")}
        return cls(
            sparse=sparse, names=names, tfidf=tfidf, tfidf_terms=terms, dense=dense, meta=dict(meta)
        )
