"""Saved learned state: safe ``.npz`` reading and one validation mechanism for every array.

A model's arrays (``state.npz``, ``seen.npz``, CSR files) are checked *at load time*, so a
corrupted artifact fails with a clear :class:`~reelrank.errors.ArtifactError` instead of a
traceback, a hang or an empty answer later. The checks are declared, not hand-written per
case: a model's :meth:`~reelrank.models.base.Recommender._state_schema` maps array names to
an :class:`ArraySpec` (dtype kind, shape with symbolic dimensions such as ``"n_items"``,
index range, finiteness) or a :class:`CsrSpec` (a CSR matrix saved as ``P_data``,
``P_indices``, ``P_indptr``, ``P_shape``). When a model declares nothing,
:func:`default_schema` infers one from the arrays themselves and the naming conventions of
the built-in models (``item_*`` rows are items, ``user_*`` rows are users, ``*_items``
integers are item indices, float arrays are finite).
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from reelrank._fs import check_regular_file
from reelrank.errors import ArtifactError

__all__ = [
    "ArraySpec",
    "CsrSpec",
    "check_tree",
    "csr_arrays",
    "csr_from_arrays",
    "default_schema",
    "load_csr",
    "load_npz",
    "save_csr",
    "validate_csr",
    "validate_state",
]

#: dimensions an artifact may declare; beyond this a value is corrupted, not big
_MAX_DIM = 1 << 40
_CSR_PARTS = ("data", "indices", "indptr", "shape")

Dim = int | str | None


@dataclass(frozen=True)
class ArraySpec:
    """What one saved array must look like.

    Attributes
    ----------
    kinds
        Accepted numpy dtype kinds (``"f"`` float, ``"iu"`` integers, ``"b"`` bool,
        ``"U"`` text...).
    shape
        ``None``: any shape. Else one entry per axis: an ``int``, ``None`` (any length) or a
        name: ``"n_items"`` / ``"n_users"`` (the model's counts) or any other name, which
        must have the same length wherever it appears (e.g. the factor dimension ``"k"``).
    index_of
        ``"n_items"`` / ``"n_users"``: the values are indices, ``0 <= v < count``.
    finite
        Float values must be finite (no NaN or infinity).
    required
        The array must be present.
    """

    kinds: str = "f"
    shape: tuple[Dim, ...] | None = None
    index_of: str | None = None
    finite: bool = True
    required: bool = True


@dataclass(frozen=True)
class CsrSpec:
    """A CSR matrix saved as ``P_data``, ``P_indices``, ``P_indptr``, ``P_shape``.

    ``shape`` uses the same symbolic dimensions as :class:`ArraySpec`.
    """

    shape: tuple[Dim, Dim] = (None, None)
    finite: bool = True
    required: bool = True


#: arrays of the built-in models with one row per item / per user (by name)
_PER_ITEM = frozenset({"item_scores", "item_scale", "item_bias", "item_vectors"})
_PER_USER_ROWS = frozenset({"last_time"})
_PER_USER = frozenset({"user_bias"}) | _PER_USER_ROWS

Schema = Mapping[str, ArraySpec | CsrSpec]


# ---------------------------------------------------------------------------- reading
def check_tree(root: Path, *, max_entries: int = 10_000) -> None:
    """Refuse FIFOs, sockets, devices and dangling or looping links anywhere under ``root``.

    Runs before any file of a saved directory is opened, so nothing can block or escape.
    """
    count = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            raise ArtifactError(f"{folder}: cannot list ({e.strerror or e})") from None
        for entry in entries:
            count += 1
            if count > max_entries:
                raise ArtifactError(f"{root}: more than {max_entries} files; not an artifact")
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif not entry.is_file(follow_symlinks=False):
                # a FIFO, socket, device, or a link: its target must be a regular file
                check_regular_file(path)


def load_npz(path: Path, *, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read safely.

    The file must be a regular file; each member's header is read first and its declared
    size compared with what the archive holds, so a corrupted header can neither allocate
    gigabytes nor crash later; object arrays are refused (never unpickled).

    Raises
    ------
    ArtifactError
        Missing, not a regular file, not a valid ``.npz``, or a member is corrupted.
    """
    try:
        st = check_regular_file(path)
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: missing file {path.name}") from None
    limit = max_bytes if max_bytes is not None else max(st.st_size * 4, 1 << 20)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise ArtifactError(f"{path}: unexpected member {info.filename!r}")
                name = info.filename[: -len(".npy")]
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                if dtype.hasobject:
                    raise ArtifactError(f"{path}: array {name!r} holds Python objects")
                if any(d < 0 or d > _MAX_DIM for d in shape):
                    raise ArtifactError(f"{path}: array {name!r} has an invalid shape {shape}")
                declared = math.prod(shape) * dtype.itemsize
                if declared > info.file_size or declared > limit:
                    raise ArtifactError(
                        f"{path}: array {name!r} declares {declared:,} bytes but the file "
                        f"holds {info.file_size:,} (truncated or corrupted)"
                    )
                with zf.open(info) as f:
                    out[name] = np.lib.format.read_array(f, allow_pickle=False)
    except ArtifactError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, TypeError) as e:
        raise ArtifactError(f"{path}: corrupted array file ({e})") from None
    return out


def csr_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    """``{prefix}_data/_indices/_indptr/_shape`` arrays of a CSR matrix (for a state dict)."""
    return {
        f"{prefix}_data": m.data,
        f"{prefix}_indices": m.indices,
        f"{prefix}_indptr": m.indptr,
        f"{prefix}_shape": np.asarray(m.shape),
    }


def csr_from_arrays(state: Mapping[str, np.ndarray], prefix: str) -> sp.csr_matrix:
    """Inverse of :func:`csr_arrays` (the state was validated when it was read)."""
    return sp.csr_matrix(
        (state[f"{prefix}_data"], state[f"{prefix}_indices"], state[f"{prefix}_indptr"]),
        shape=tuple(int(x) for x in state[f"{prefix}_shape"]),
    )


def save_csr(path: Path, m: sp.csr_matrix) -> None:
    """Write a CSR matrix as ``data``, ``indices``, ``indptr``, ``shape`` arrays."""
    np.savez(path, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.asarray(m.shape))


def load_csr(path: Path, *, shape: tuple[int | None, int | None] | None = None) -> sp.csr_matrix:
    """Read a matrix written by :func:`save_csr`, validated (optionally its ``shape``)."""
    arrays = load_npz(path)
    dims: dict[str, int] = {}
    spec = CsrSpec(shape=shape if shape is not None else (None, None))
    return validate_csr(arrays, "", spec, dims, where=str(path))


# ---------------------------------------------------------------------------- validation
def _bind(name: str, dim: Dim, actual: int, dims: dict[str, int], where: str, axis: int) -> None:
    if dim is None:
        return
    if isinstance(dim, int):
        expected = dim
    elif dim in dims:
        expected = dims[dim]
    else:
        dims[dim] = actual
        return
    if actual != expected:
        label = f" ({dim})" if isinstance(dim, str) else ""
        raise ArtifactError(
            f"{where}: array {name!r} has {actual} along axis {axis}, expected {expected}{label}"
        )


def _check_values(name: str, arr: np.ndarray, spec: ArraySpec, dims: dict[str, int], where: str):
    if arr.dtype.kind not in spec.kinds:
        raise ArtifactError(
            f"{where}: array {name!r} has dtype {arr.dtype}, expected kind {spec.kinds!r}"
        )
    if spec.shape is not None:
        if arr.ndim != len(spec.shape):
            raise ArtifactError(
                f"{where}: array {name!r} has {arr.ndim} dimension(s), expected {len(spec.shape)}"
            )
        for axis, (dim, actual) in enumerate(zip(spec.shape, arr.shape, strict=True)):
            _bind(name, dim, int(actual), dims, where, axis)
    if spec.finite and arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        raise ArtifactError(f"{where}: array {name!r} holds NaN or infinite values")
    if spec.index_of is not None and arr.size:
        bound = dims.get(spec.index_of)
        if arr.dtype.kind not in "iu":
            raise ArtifactError(f"{where}: index array {name!r} has dtype {arr.dtype}")
        if int(arr.min()) < 0 or (bound is not None and int(arr.max()) >= bound):
            raise ArtifactError(
                f"{where}: array {name!r} holds indices outside 0..{(bound or 0) - 1} "
                f"({spec.index_of})"
            )


def validate_csr(
    arrays: Mapping[str, np.ndarray],
    prefix: str,
    spec: CsrSpec,
    dims: dict[str, int],
    *,
    where: str,
) -> sp.csr_matrix:
    """Check a saved CSR's parts (shape, monotone ``indptr``, indices in range) and build it."""
    key = (lambda part: f"{prefix}_{part}") if prefix else (lambda part: part)
    label = prefix or "matrix"
    missing = [key(p) for p in _CSR_PARTS if key(p) not in arrays]
    if missing:
        raise ArtifactError(f"{where}: missing array(s) {missing}")
    data, indices, indptr, shape = (np.asarray(arrays[key(p)]) for p in _CSR_PARTS)
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or (shape < 0).any():
        raise ArtifactError(f"{where}: {label}: invalid shape {shape.tolist()!r}")
    n_rows, n_cols = int(shape[0]), int(shape[1])
    if n_rows > _MAX_DIM or n_cols > _MAX_DIM:
        raise ArtifactError(f"{where}: {label}: invalid shape {shape.tolist()!r}")
    _bind(label, spec.shape[0], n_rows, dims, where, 0)
    _bind(label, spec.shape[1], n_cols, dims, where, 1)
    for part, arr in (("indices", indices), ("indptr", indptr)):
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ArtifactError(f"{where}: {label}: {part} must be a 1-D integer array")
    if data.ndim != 1 or data.dtype.kind not in "fiub":
        raise ArtifactError(f"{where}: {label}: data must be a 1-D numeric array")
    if len(indptr) != n_rows + 1:
        raise ArtifactError(
            f"{where}: {label}: indptr has {len(indptr)} entries, expected {n_rows + 1}"
        )
    nnz = len(indices)
    if len(data) != nnz or (n_rows + 1 and (int(indptr[0]) != 0 or int(indptr[-1]) != nnz)):
        raise ArtifactError(f"{where}: {label}: indptr, indices and data disagree")
    if n_rows and (np.diff(indptr.astype(np.int64)) < 0).any():
        raise ArtifactError(f"{where}: {label}: indptr is not non-decreasing")
    if nnz and (int(indices.min()) < 0 or int(indices.max()) >= n_cols):
        raise ArtifactError(f"{where}: {label}: column indices outside 0..{n_cols - 1}")
    if spec.finite and data.dtype.kind == "f" and nnz and not np.isfinite(data).all():
        raise ArtifactError(f"{where}: {label}: holds NaN or infinite values")
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))


def default_schema(state: Mapping[str, np.ndarray]) -> dict[str, ArraySpec | CsrSpec]:
    """A schema inferred from the arrays themselves and the built-in naming conventions.

    * ``P_data/P_indices/P_indptr/P_shape`` groups: a consistent CSR matrix;
    * ``user_factors`` / ``item_factors``: rows are users / items, one shared width ``k``;
      the per-item / per-user arrays of the built-in models (``item_scores``,
      ``item_bias``, ``user_bias``...): one row per item / user;
    * integer ``*_items`` arrays: item indices;
    * every float array: finite; no object or complex arrays.
    """
    schema: dict[str, ArraySpec | CsrSpec] = {}
    prefixes = {k[: -len("_indptr")] for k in state if k.endswith("_indptr")}
    prefixes = {p for p in prefixes if all(f"{p}_{part}" in state for part in _CSR_PARTS)}
    grouped = {f"{p}_{part}" for p in prefixes for part in _CSR_PARTS}
    for p in sorted(prefixes):
        schema[p] = CsrSpec()
    for name, arr in state.items():
        if name in grouped:
            continue
        spec_shape: tuple[Dim, ...] | None = None
        index_of = None
        if name in ("user_factors", "item_factors") and arr.ndim == 2:
            spec_shape = ("n_users" if name.startswith("user") else "n_items", "k")
        elif name in _PER_ITEM and arr.ndim >= 1:
            spec_shape = ("n_items", *([None] * (arr.ndim - 1)))
        elif name in _PER_USER and arr.ndim >= 1:
            spec_shape = ("n_users", *([None] * (arr.ndim - 1)))
        if name.endswith("_items") and arr.dtype.kind in "iu":
            index_of = "n_items"
        schema[name] = ArraySpec(kinds="fiubUS", shape=spec_shape, index_of=index_of)
    return schema


def validate_state(
    state: Mapping[str, np.ndarray],
    schema: Schema,
    dims: dict[str, int],
    *,
    where: str,
) -> None:
    """Check ``state`` against ``schema``.

    ``dims`` holds the known counts (``n_items``, ``n_users``) and receives the lengths of
    the other symbolic dimensions. Arrays the schema does not name are refused unless the
    schema came from :func:`default_schema` (which names them all).

    Raises
    ------
    ArtifactError
        The first array that does not match, naming it and the file.
    """
    for name, spec in schema.items():
        if isinstance(spec, CsrSpec):
            present = any(f"{name}_{part}" in state for part in _CSR_PARTS)
            if present or spec.required:
                validate_csr(state, name, spec, dims, where=where)
            continue
        if name not in state:
            if spec.required:
                raise ArtifactError(f"{where}: missing array {name!r}")
            continue
        _check_values(name, np.asarray(state[name]), spec, dims, where)
    for name, arr in state.items():
        if np.asarray(arr).dtype.kind in "OVc":
            raise ArtifactError(f"{where}: array {name!r} has unsupported dtype {arr.dtype}")
