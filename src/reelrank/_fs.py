"""Low-level file-system helpers every layer may use: atomic output folders, safe reads.

:class:`atomic_directory` writes an output folder (an artifact, a split, item features, an
evaluation report) into a temporary sibling and renames it into place on success. It only
ever *replaces* a folder that is a reelrank output of the same kind, recognised by its
manifest (:data:`OUTPUT_KINDS`); anything else is refused with
:class:`~reelrank.errors.OutputExistsError` unless ``force`` is given (``--force`` on the
command line). Temporary folders are removed in a ``finally`` and, when a previous run was
killed before it could clean up, on the next run into the same place.

:func:`check_regular_file` and :func:`read_json_file` read small files defensively: a FIFO,
a device or a directory where a file should be is refused without opening it (opening a
FIFO blocks), and JSON is bounded in size and nesting depth.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelrank.errors import ArtifactError, OutputExistsError, ReelrankError

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "OUTPUT_KINDS",
    "OutputKind",
    "allow_replace",
    "atomic_directory",
    "check_output_dir",
    "check_output_file",
    "check_regular_file",
    "output_kind",
    "read_json_file",
]

#: manifests and metadata files larger than this are refused (they are a few kB)
MAX_JSON_BYTES = 64 << 20
#: deepest nesting of JSON objects/arrays accepted in a manifest
MAX_JSON_DEPTH = 64


# ---------------------------------------------------------------------------- safe reads
def check_regular_file(
    path: Path, *, error: type[ReelrankError] = ArtifactError, what: str = "file"
) -> os.stat_result:
    """``os.stat`` of ``path``, raising ``error`` unless it is a regular file.

    A FIFO, socket, device or directory is refused *before* anything opens it, so a hostile
    folder can never make a reader block. Symbolic links are followed; a loop is refused.

    Raises
    ------
    ReelrankError
        ``error`` (default :class:`~reelrank.errors.ArtifactError`), naming ``path``.
    FileNotFoundError
        If ``path`` does not exist (callers turn this into their own message).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as e:  # ELOOP (symlink loop), EACCES, ENAMETOOLONG...
        raise _make_error(error, path, f"cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = _mode_name(st.st_mode)
        raise _make_error(error, path, f"expected a {what}, found a {kind}")
    return st


def _make_error(error: type[ReelrankError], path: Path, message: str) -> ReelrankError:
    from reelrank.errors import DataFormatError

    if issubclass(error, DataFormatError):
        return error(path, message)  # type: ignore[call-arg]
    return error(f"{path}: {message}")


def _mode_name(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def read_json_file(
    path: Path,
    *,
    error: type[ReelrankError] = ArtifactError,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Parse a small JSON file defensively (regular file, bounded size and nesting).

    Raises
    ------
    ReelrankError
        ``error`` naming ``path``: not a regular file, too large, not UTF-8, invalid JSON,
        nested deeper than ``max_depth``, or containing ``NaN``/``Infinity``.
    FileNotFoundError
        If ``path`` does not exist.
    """
    st = check_regular_file(path, error=error)
    if st.st_size > max_bytes:
        raise _make_error(error, path, f"too large for a JSON manifest ({st.st_size:,} bytes)")
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    # cheap pre-check: the nesting depth can never exceed the number of brackets
    if raw.count(b"[") + raw.count(b"{") > max_depth and _bracket_depth(raw) > max_depth:
        raise _make_error(error, path, f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise _make_error(error, path, f"not UTF-8 text ({e.reason})") from None
    except (json.JSONDecodeError, ValueError) as e:
        raise _make_error(error, path, f"corrupted JSON ({e})") from None
    except RecursionError:
        raise _make_error(error, path, "JSON nested too deeply") from None


def is_int(v: Any) -> bool:
    """``v`` is an integer in JSON's sense (``True``/``False`` are not)."""
    return isinstance(v, int) and not isinstance(v, bool)


def read_versioned_manifest(
    path: Path, *, label: str, supported: int, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A JSON manifest object with its ``required`` keys and a readable ``format_version``.

    The one check behind ``model.json`` and an artifact's ``manifest.json``: a JSON object
    (read by :func:`read_json_file`), the keys present, and ``format_version`` a positive
    integer not newer than ``supported`` (``label`` names the format in the message).

    Raises
    ------
    ArtifactError
        Naming ``path`` and what is wrong.
    FileNotFoundError
        If ``path`` does not exist (callers say what is missing in their own words).
    """
    from reelrank import __version__

    manifest = read_json_file(path)
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise ArtifactError(f"{path}: missing key(s) {missing}")
    version = manifest.get("format_version")
    if not is_int(version) or version < 1:
        raise ArtifactError(f"{path}: format_version must be a positive integer, not {version!r}")
    if version > supported:
        raise ArtifactError(
            f"{path}: {label} format version {version} is newer than this reelrank "
            f"({__version__}) reads ({supported}); upgrade reelrank"
        )
    return manifest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not valid JSON")


def _bracket_depth(raw: bytes) -> int:
    """Upper bound of the nesting depth, ignoring brackets inside strings (one byte pass)."""
    depth = deepest = 0
    in_string = escaped = False
    for b in raw:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH * 4:
                    return deepest
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


# ---------------------------------------------------------------------------- output kinds
@dataclass(frozen=True)
class OutputKind:
    """How a reelrank output folder of one kind is recognised.

    Attributes
    ----------
    name
        The kind (``"artifact"``, ``"split"``...).
    marker
        The manifest file every folder of this kind holds.
    keys
        Keys that manifest (a JSON object) always has.
    description
        How messages call it.
    also
        Other files such a folder always holds.
    """

    name: str
    marker: str
    keys: tuple[str, ...]
    description: str
    also: tuple[str, ...] = ()


#: every kind of folder reelrank writes with :class:`atomic_directory`
OUTPUT_KINDS: dict[str, OutputKind] = {
    k.name: k
    for k in (
        OutputKind("artifact", "manifest.json", ("model", "dataset"), "artifact", ("model",)),
        OutputKind("model", "model.json", ("model",), "saved model"),
        OutputKind("split", "split.json", ("method", "parts", "fingerprints"), "data split"),
        OutputKind("features", "features.json", (), "features folder", ("features.npz",)),
        OutputKind("report", "result.json", ("protocol", "dataset", "results"), "report"),
        OutputKind("dataset", "dataset.json", ("layout", "name", "shape"), "saved dataset"),
    )
}


def output_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind of reelrank output folder ``path`` is (its manifest says), or ``None``.

    A folder is of a kind when it holds that kind's manifest as a regular file and the
    manifest is a JSON object with the kind's keys. Never follows the folder itself if it is
    a symbolic link, never opens anything but a regular file.
    """
    path = Path(path)
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return None
    except OSError:
        return None
    for kind in OUTPUT_KINDS.values():
        marker = path / kind.marker
        try:
            st = os.lstat(marker)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_JSON_BYTES:
            continue
        try:
            data = read_json_file(marker)
        except ReelrankError:
            continue
        if (
            isinstance(data, dict)
            and all(k in data for k in kind.keys)
            and all(os.path.lexists(path / f) for f in kind.also)
        ):
            return kind.name
    return None


_FORCE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "reelrank_force_replace", default=False
)


@contextlib.contextmanager
def allow_replace(force: bool = True) -> Iterator[None]:
    """Let every :class:`atomic_directory` inside the block replace any existing folder.

    The command line wraps a command's work in ``allow_replace(force)`` for ``--force``, so
    writers that take no ``force`` argument (``Split.save``, ``ItemFeatures.save``) honour it.
    """
    token = _FORCE.set(bool(force))
    try:
        yield
    finally:
        _FORCE.reset(token)


def _is_cwd_or_parent(path: Path) -> bool:
    try:
        target = path.resolve()
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    return target == cwd or target in cwd.parents


def check_output_dir(
    path: str | os.PathLike[str], kind: str | None, *, force: bool | None = None
) -> None:
    """Raise unless :class:`atomic_directory` may write folder ``path`` of ``kind``.

    Call it before expensive work (training) so that a refused ``--out`` fails in a second.

    Parameters
    ----------
    path
        The output folder.
    kind
        One of :data:`OUTPUT_KINDS`; ``None``: any reelrank output may be replaced.
    force
        Replace whatever is there (never the current directory or one of its parents).
        ``None``: as set by :func:`allow_replace` (default ``False``).

    Raises
    ------
    OutputExistsError
        ``path`` is the current directory or a parent of it (always), or it exists and is
        not an empty folder or a reelrank output of ``kind`` (unless ``force``).
    """
    path = Path(path)
    force = _FORCE.get() if force is None else force
    if kind is not None and kind not in OUTPUT_KINDS:
        raise ValueError(f"unknown output kind {kind!r}; known: {sorted(OUTPUT_KINDS)}")
    if _is_cwd_or_parent(path):
        raise OutputExistsError(
            f"{path}: refusing to replace the current directory or one of its parents; "
            "choose a new folder (for example ./model)"
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise OutputExistsError(f"{path}: cannot inspect ({e.strerror or e})") from None
    if force:
        return
    hint = "choose another folder or pass --force to replace it"
    wanted = _article(OUTPUT_KINDS[kind].description if kind else "reelrank output")
    if stat.S_ISLNK(st.st_mode):
        raise OutputExistsError(f"{path} is a symbolic link, not {wanted}; {hint}")
    if not stat.S_ISDIR(st.st_mode):
        what = "file" if stat.S_ISREG(st.st_mode) else _mode_name(st.st_mode)
        raise OutputExistsError(f"{path} exists and is a {what}, not {wanted}; {hint}")
    try:
        entries = sorted(os.listdir(path))
    except OSError as e:
        raise OutputExistsError(f"{path}: cannot list ({e.strerror or e}); {hint}") from None
    if not entries:
        return
    found = output_kind(path)
    if found is not None and (kind is None or found == kind):
        return
    if found is not None:
        what = _article(OUTPUT_KINDS[found].description)
    else:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
        what = f"not a reelrank output ({count}: {shown})"
    raise OutputExistsError(f"{path} exists and is {what}, not {wanted}; {hint}")


def _article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def check_output_file(
    path: str | os.PathLike[str], columns: set[str], *, force: bool = False
) -> None:
    """Raise unless ``path`` is free or a Parquet file with ``columns`` (one reelrank wrote).

    The file counterpart of :func:`check_output_dir`, for commands whose ``--out`` is one
    Parquet file: anything else there is refused unless ``force``.
    """
    path = Path(path)
    if not os.path.lexists(path) or force:
        return
    hint = "choose another --out or pass --force to replace it"
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise OutputExistsError(f"{path} exists and is not a regular file; {hint}")
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names)
    except OutputExistsError:
        raise
    except Exception:  # not Parquet at all (pyarrow raises several types)
        names = set()
    if not columns <= names:
        raise OutputExistsError(f"{path} exists and is not a file reelrank wrote here; {hint}")


# ---------------------------------------------------------------------------- atomic writes
_STALE = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)-[A-Za-z0-9_]+$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return True
    return True


def clean_stale_temporaries(parent: Path, name: str) -> list[Path]:
    """Remove ``.NAME.tmp-PID-*`` / ``.NAME.old-PID-*`` folders left by killed processes.

    Only folders whose process no longer runs are removed (a concurrent writer's temporary
    folder is left alone). Returns what was removed.
    """
    removed: list[Path] = []
    try:
        entries = os.listdir(parent)
    except OSError:
        return removed
    for entry in entries:
        match = _STALE.match(entry)
        if match is None or match.group("name") != name:
            continue
        if _pid_alive(int(match.group("pid"))):
            continue
        stale = parent / entry
        _remove(stale)
        removed.append(stale)
        logger.info("removed %s, left behind by an interrupted run", stale)
    return removed


def _remove(path: Path) -> None:
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


class atomic_directory:  # used like a function
    """Context manager: write into a temp folder next to ``path``, rename into place on success.

    On error (or interruption) the temp folder is removed and an existing ``path`` is left
    untouched. An existing ``path`` is replaced only when it is empty or a reelrank output
    of the same ``kind`` (see :func:`check_output_dir`); otherwise
    :class:`~reelrank.errors.OutputExistsError` is raised before anything is written.

    Parameters
    ----------
    path
        The output folder.
    kind
        The kind of output written (a key of :data:`OUTPUT_KINDS`). ``None``: recognised from
        the manifest the writer puts into the temp folder, checked before the rename.
    force
        Replace whatever is at ``path`` (still never the current directory or a parent).
        ``None``: as set by :func:`allow_replace`.
    overwrite
        ``False``: refuse any existing ``path``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str | None = None,
        force: bool | None = None,
        overwrite: bool = True,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.force = _FORCE.get() if force is None else force
        self.overwrite = overwrite
        self.tmp: Path | None = None
        self._name = ""

    def __enter__(self) -> Path:
        if not self.overwrite and os.path.lexists(self.path):
            raise OutputExistsError(f"{self.path} already exists")
        check_output_dir(self.path, self.kind, force=self.force)
        name = self.path.resolve().name if self.path.name in ("", ".", "..") else self.path.name
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(parent, name)
        self._name = name
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=parent))
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.tmp is not None
        tmp, self.tmp = self.tmp, None
        try:
            if exc_type is None:
                self._commit(tmp)
        finally:
            _remove(tmp)

    def _commit(self, tmp: Path) -> None:
        kind = self.kind or output_kind(tmp)
        if self.kind is not None and output_kind(tmp) not in (None, self.kind):
            raise ValueError(f"wrote a {output_kind(tmp)} into an atomic_directory of {kind}")
        # the folder may have appeared or changed while we worked: check again
        check_output_dir(self.path, kind, force=self.force)
        old: Path | None = None
        if os.path.lexists(self.path):
            prefix = f".{self._name}.old-{os.getpid()}-"
            old = Path(tempfile.mkdtemp(prefix=prefix, dir=self.path.parent))
            os.rmdir(old)  # a free name: the rename below takes it
            os.rename(self.path, old)
        try:
            os.rename(tmp, self.path)
        except OSError:
            if old is not None:
                os.rename(old, self.path)  # put the previous output back
            raise
        if old is not None:
            _remove(old)
