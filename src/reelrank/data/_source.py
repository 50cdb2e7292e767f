"""Uniform, defensive access to the files of a MovieLens folder or ``.zip``.

:class:`_Source` lists and opens the data files wherever they are (a folder, a sub-folder,
a zip member folder). Every open checks the file first: a directory, FIFO, device or looping
symbolic link where a data file should be is a :class:`~reelrank.errors.DataFormatError`
naming it (nothing ever blocks on a FIFO), and a zip member is decompressed under a size cap
(absolute, and relative to its compressed size) so a zip bomb fails clearly instead of
filling memory. A corrupt deflate stream or CRC is a ``DataFormatError`` naming the member.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from reelrank.errors import DataFormatError

__all__ = ["_Source", "_open_source"]


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

    def names(self) -> set[str]:
        """Names of the files directly in this source."""
        if self.zip is None:
            return {p.name for p in self.root.iterdir() if p.is_file()}
        out = set()
        for member in self.zip.namelist():
            if member.startswith(self.prefix) and not member.endswith("/"):
                rest = member[len(self.prefix) :]
                if "/" not in rest:
                    out.add(rest)
        return out

    def subdirs(self) -> list[_Source]:
        """Sources for the immediate sub-folders."""
        if self.zip is None:
            return [_Source(p) for p in sorted(self.root.iterdir()) if p.is_dir()]
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

    def size(self, name: str) -> int:
        """Size of ``name`` in bytes."""
        if self.zip is None:
            return (self.root / name).stat().st_size
        return self.zip.getinfo(self.prefix + name).file_size

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """Open ``name`` for binary reading."""
        if self.zip is None:
            with open(self.root / name, "rb") as f:
                yield f
        else:
            with self.zip.open(self.prefix + name) as f:
                yield f

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


@contextmanager
def _open_source(path: Path) -> Iterator[_Source]:
    """A :class:`_Source` for the folder or zip at ``path``, positioned on its data files."""
    if path.is_dir():
        yield _locate_data(_Source(path), path)
    elif path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
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
