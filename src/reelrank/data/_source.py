"""Uniform, defensive access to the files of a MovieLens folder or ``.zip``.

:class:`_Source` lists and opens the data files wherever they are (a folder, a sub-folder,
a zip member folder). Every open checks the file first: a directory, FIFO, device or looping
symbolic link where a data file should be is a :class:`~reelrank.errors.DataFormatError`
naming it (nothing ever blocks on a FIFO), and a zip member is decompressed under a size cap
(absolute, and relative to its compressed size) so a zip bomb fails clearly instead of
filling memory. A corrupt deflate stream or CRC is a ``DataFormatError`` naming the member.
"""

from __future__ import annotations

import codecs
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from reelrank._fs import check_regular_file
from reelrank.errors import DataFormatError

__all__ = ["MAX_MEMBER_BYTES", "MAX_MEMBER_RATIO"]


#: a zip member may not expand beyond this many bytes (ml-32m's ratings.csv is 0.9 GB)
MAX_MEMBER_BYTES = 16 << 30
#: nor, when it expands beyond :data:`_RATIO_FLOOR`, more than this times its compressed size
MAX_MEMBER_RATIO = 200
_RATIO_FLOOR = 64 << 20
_CHUNK = 1 << 20


class _Source:
    """Uniform access to the files of a folder or of a ``.zip`` (under a prefix)."""

    def __init__(self, root: Path, zip_file: zipfile.ZipFile | None = None, prefix: str = ""):
        self.root = root
        self.zip = zip_file
        self.prefix = prefix

    @property
    def folder_name(self) -> str:
        """The name of the folder holding the files (zip: the member folder or the stem)."""
        if self.zip is None:
            return self.root.name
        return self.prefix.rstrip("/").rsplit("/", 1)[-1] if self.prefix else self.root.stem

    def _entries(self) -> list[os.DirEntry[str]]:
        try:
            return sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError as e:
            raise DataFormatError(self.root, f"cannot list ({e.strerror or e})") from None

    def names(self) -> set[str]:
        """Names of the entries directly in this source that are not folders.

        A FIFO, a dangling or looping link is listed too, so that reading it gives a clear
        error instead of "file not found".
        """
        if self.zip is None:
            return {e.name for e in self._entries() if not _is_dir(e)}
        out = set()
        for member in self.zip.namelist():
            if member.startswith(self.prefix) and not member.endswith("/"):
                rest = member[len(self.prefix) :]
                if "/" not in rest:
                    out.add(rest)
        return out

    def subdirs(self) -> list[_Source]:
        """Sources for the immediate sub-folders (never through a symbolic link)."""
        if self.zip is None:
            return [
                _Source(Path(e.path)) for e in self._entries() if e.is_dir(follow_symlinks=False)
            ]
        subs = set()
        for member in self.zip.namelist():
            if member.startswith(self.prefix):
                rest = member[len(self.prefix) :]
                if "/" in rest and not rest.startswith("__MACOSX"):
                    subs.add(rest.split("/", 1)[0])
        return [_Source(self.root, self.zip, f"{self.prefix}{s}/") for s in sorted(subs)]

    def has(self, name: str) -> bool:
        """Whether the file ``name`` exists."""
        return name in self.names()

    def display(self, name: str) -> str:
        """The path of ``name`` as shown in error messages."""
        if self.zip is None:
            return str(self.root / name)
        return f"{self.root}!{self.prefix}{name}"

    def _member(self, name: str) -> zipfile.ZipInfo:
        """The zip entry of ``name``, refused when it is a link or would expand too much."""
        assert self.zip is not None
        shown = self.display(name)
        try:
            info = self.zip.getinfo(self.prefix + name)
        except KeyError:
            raise DataFormatError(shown, "no such file in the archive") from None
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataFormatError(shown, "is a symbolic link inside the archive; refused")
        if info.file_size > MAX_MEMBER_BYTES or (
            info.file_size > _RATIO_FLOOR
            and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1)
        ):
            raise DataFormatError(
                shown,
                f"would expand to {info.file_size:,} bytes from {info.compress_size:,} "
                f"(more than {MAX_MEMBER_BYTES:,} bytes or {MAX_MEMBER_RATIO}x); refused",
            )
        return info

    def size(self, name: str) -> int:
        """Size of ``name`` in bytes (refuses what is not a regular file)."""
        if self.zip is None:
            return check_regular_file(
                self.root / name, error=DataFormatError, what="data file"
            ).st_size
        return self._member(name).file_size

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """Open ``name`` for binary reading (Python reads only: never hand it to pyarrow).

        Decompression errors (a corrupt deflate stream, a bad CRC) inside the block are
        turned into a :class:`~reelrank.errors.DataFormatError` naming the member.
        """
        with self.reading(name):
            if self.zip is None:
                path = self.root / name
                check_regular_file(path, error=DataFormatError, what="data file")
                with open(path, "rb") as f:
                    yield f
            else:
                with self.zip.open(self._member(name)) as f:
                    yield f

    @contextmanager
    def reading(self, name: str) -> Iterator[None]:
        """Turn low-level read failures of ``name`` into a ``DataFormatError``."""
        try:
            yield
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise DataFormatError(self.display(name), f"corrupted archive member ({e})") from None
        except IsADirectoryError:
            raise DataFormatError(
                self.display(name), "expected a data file, found a directory"
            ) from None
        except OSError as e:
            raise DataFormatError(self.display(name), f"cannot read ({e.strerror or e})") from None

    @contextmanager
    def native(self, name: str) -> Iterator[str]:
        """A path pyarrow reads ``name`` from natively (no Python callbacks on its threads).

        A folder's file is read in place. A zip member is first decompressed into a
        temporary file, under the size cap, so that pyarrow's background reader never calls
        back into Python: such a call still in flight when the interpreter exits (after a
        parse error) aborted the process with ``terminate called without an active
        exception``.
        """
        if self.zip is None:
            path = self.root / name
            with self.reading(name):
                check_regular_file(path, error=DataFormatError, what="data file")
            yield str(path)
            return
        info = self._member(name)
        fd, tmp = tempfile.mkstemp(prefix="reelrank-", suffix=f"-{Path(name).name}")
        try:
            with self.reading(name), os.fdopen(fd, "wb") as out, self.zip.open(info) as f:
                copied = 0
                while block := f.read(_CHUNK):
                    copied += len(block)
                    if copied > info.file_size:
                        raise DataFormatError(self.display(name), "expands beyond its size")
                    out.write(block)
            yield tmp
        finally:
            with suppress(OSError):
                os.unlink(tmp)

    def first_line(self, name: str, encoding: str) -> str:
        """The first line of ``name`` without its line ending (and BOM)."""
        with self.open(name) as f:
            raw = f.readline(1 << 16)
        return raw.decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")

    def read_text(self, name: str, encoding: str) -> str:
        """The whole file as text."""
        with self.open(name) as f:
            data = f.read()
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise DataFormatError(
                self.display(name), f"not valid {encoding} text ({e.reason})", line
            ) from None

    def first_bad_text_line(self, name: str, encoding: str) -> tuple[int, str] | None:
        """Line number and reason of the first bytes that are not valid ``encoding`` text.

        Streams the file in 1 MB chunks (constant memory); ``None`` when it all decodes.
        """
        decoder = codecs.getincrementaldecoder(encoding)()
        lines_before = 0
        with self.open(name) as f:
            while True:
                block = f.read(_CHUNK)
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError as e:
                    # e.object = bytes pending from the last chunk (no newlines) + this one
                    return lines_before + bytes(e.object[: e.start]).count(b"\n") + 1, e.reason
                if not block:
                    return None
                lines_before += block.count(b"\n")

    def first_long_line(self, name: str, limit: int) -> tuple[int, int] | None:
        """``(line number, length)`` of the first line longer than ``limit`` bytes, if any."""
        line, length = 1, 0
        with self.open(name) as f:
            while block := f.read(_CHUNK):
                start = 0
                while (nl := block.find(b"\n", start)) >= 0:
                    length += nl - start
                    if length > limit:
                        return line, length
                    line, length, start = line + 1, 0, nl + 1
                length += len(block) - start
                if length > limit:
                    return line, length
        return None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows links; a looping link is not a folder
    except OSError:
        return False


@contextmanager
def _open_source(path: Path) -> Iterator[_Source]:
    """A :class:`_Source` for the folder or zip at ``path``, positioned on its data files."""
    if path.is_dir():
        yield _locate_data(_Source(path), path)
    elif path.is_file() and zipfile.is_zipfile(path):
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise DataFormatError(path, f"not a readable .zip archive ({e})") from None
        with zf:
            yield _locate_data(_Source(path, zf), path)
    elif path.exists():
        raise DataFormatError(path, "not a folder or a .zip archive")
    else:
        raise FileNotFoundError(2, "No such file or directory", str(path))


def _layout_files(names: set[str]) -> bool:
    markers = ("u.data", "ratings.dat", "ratings.csv", "rating.csv")
    return any(m in names for m in markers)


def _locate_data(src: _Source, path: Path) -> _Source:
    """The source itself, or its single sub-folder (up to two levels) holding MovieLens files."""
    if _layout_files(src.names()):
        return src
    for sub in src.subdirs():
        if _layout_files(sub.names()):
            return sub
    for sub in src.subdirs():
        for sub2 in sub.subdirs():
            if _layout_files(sub2.names()):
                return sub2
    raise DataFormatError(
        path,
        "no MovieLens layout detected (expected u.data, ratings.dat, ratings.csv or rating.csv)",
    )
