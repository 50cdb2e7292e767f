"""Readers for every MovieLens layout, detected automatically from a folder or a ``.zip``.

Supported layouts (:func:`detect_layout` names them):

``ml-100k``
    ``u.data`` (tab: user item rating timestamp), ``u.item`` (``|``, latin-1, 19 genre
    flags), ``u.genre``, ``u.user``; plus the predefined splits ``u1..u5`` / ``ua`` / ``ub``
    (:func:`read_predefined_split`).
``ml-1m``
    ``ratings.dat``, ``movies.dat``, ``users.dat`` (``::``-separated, latin-1).
``ml-10m``
    ``ratings.dat``, ``movies.dat``, ``tags.dat`` (``::``-separated, UTF-8).
``ml-20m``, ``ml-25m``, ``ml-32m``, ``ml-latest``, ``ml-latest-small``
    ``ratings.csv``, ``movies.csv``, ``tags.csv``, ``links.csv`` and, when present,
    ``genome-scores.csv`` / ``genome-tags.csv`` (CRLF, quoted titles). A CSV folder whose
    name is none of these is reported as ``movielens-csv``.
``kaggle-ml-20m``
    ``rating.csv``, ``movie.csv``, ``tag.csv``, ``link.csv``, ``genome_scores.csv``,
    ``genome_tags.csv`` with ISO datetime timestamps.

Tag Genome 2021 JSON lines (``metadata_updated.json``, ``reviews.json``, ``tags.json``) are
joined by movie id when found in the folder or in a sub-folder.

Big files are read with :mod:`pyarrow.csv` using explicit column types; no Python loop runs
per row. Bad input raises :class:`~reelrank.errors.DataFormatError` naming the file and the
line: the fast path parses optimistically and, only when something fails, a second pass
locates the first offending line with vectorised checks.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from tqdm.auto import tqdm

from reelrank.data.dataset import Dataset, Genome, IdMap, empty_tags
from reelrank.errors import DataFormatError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "KNOWN_LAYOUTS",
    "bundled_path",
    "detect_layout",
    "load",
    "read_predefined_split",
    "split_title",
]

#: default download cache (``reelrank data fetch`` extracts there)
DEFAULT_CACHE_DIR = Path("~/.cache/reelrank")

#: layout names :func:`detect_layout` can return
KNOWN_LAYOUTS = (
    "ml-100k",
    "ml-1m",
    "ml-10m",
    "ml-20m",
    "ml-25m",
    "ml-32m",
    "ml-latest",
    "ml-latest-small",
    "kaggle-ml-20m",
    "movielens-csv",
)

_FETCHABLE = (
    "ml-100k",
    "ml-1m",
    "ml-10m",
    "ml-20m",
    "ml-25m",
    "ml-32m",
    "ml-latest-small",
    "ml-latest",
)
_CSV_NAMES = ("ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest")
_INTEGER_SCALE = {"ml-100k", "ml-1m"}
_YEAR = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_NO_GENRES = "(no genres listed)"
_ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
_PREDEFINED_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
# ids up to this bound are mapped with a lookup table (O(n)); larger ones use a hash index
_DENSE_ID_LIMIT = 200_000_000


# ---------------------------------------------------------------------------- file access
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


# ---------------------------------------------------------------------------- public helpers
def bundled_path() -> Path:
    """Folder of the ml-latest-small copy shipped inside the package."""
    return Path(str(resources.files("reelrank.data") / "bundled" / "ml-latest-small"))


def split_title(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split ``"Title (1995)"`` into the title and a nullable ``Int32`` year, vectorised.

    Parameters
    ----------
    titles
        Raw MovieLens titles.

    Returns
    -------
    tuple of pandas.Series
        The clean titles and the years (``<NA>`` when the title carries none).

    Examples
    --------
    >>> t, y = split_title(pd.Series(["Heat (1995)", "Babylon 5"]))
    >>> t.tolist(), y.tolist()
    (['Heat', 'Babylon 5'], [1995, <NA>])
    """
    t = titles.fillna("").astype(str).str.strip()
    year = t.str.extract(_YEAR, expand=False)
    clean = t.str.replace(_YEAR, "", regex=True).str.strip()
    return clean, pd.to_numeric(year, errors="coerce").astype("Int32")


def _layout_of(src: _Source) -> str:
    names = src.names()
    folder = src.folder_name.lower()
    if "u.data" in names:
        return "ml-100k"
    if "ratings.dat" in names:
        if "users.dat" in names or folder == "ml-1m":
            return "ml-1m"
        return "ml-10m"
    if "rating.csv" in names and "ratings.csv" not in names:
        return "kaggle-ml-20m"
    if "ratings.csv" in names:
        for name in _CSV_NAMES:
            if folder == name:
                return name
        return "movielens-csv"
    raise DataFormatError(src.display(""), "no MovieLens layout detected")


def detect_layout(path: str | Path) -> str:
    """Name of the MovieLens layout found at ``path`` (a folder or a ``.zip``).

    Parameters
    ----------
    path
        Folder (or a parent of a single data folder) or ``.zip`` archive.

    Returns
    -------
    str
        One of :data:`KNOWN_LAYOUTS`.

    Raises
    ------
    DataFormatError
        If no MovieLens files are found.
    """
    with _open_source(Path(path)) as src:
        return _layout_of(src)


def resolve_source(source: str | Path | None, cache_dir: str | Path | None = None) -> Path:
    """The path that ``source`` designates.

    ``None`` is the bundled ml-latest-small; an existing path is itself; otherwise a name
    such as ``"ml-100k"`` designates its folder in the download cache.

    Raises
    ------
    DataFormatError
        If ``source`` is neither an existing path nor a fetched dataset name.
    """
    if source is None:
        return bundled_path()
    path = Path(source).expanduser()
    if path.exists():
        return path
    cache = Path(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR).expanduser()
    cached = cache / str(source)
    if "/" not in str(source) and cached.is_dir():
        return cached
    if str(source) in _FETCHABLE:
        msg = f"dataset not fetched yet into {cache} (run `reelrank data fetch {source}`)"
    else:
        msg = "no such file or folder"
    raise DataFormatError(path, msg)


# ---------------------------------------------------------------------------- table reading
@dataclass(frozen=True)
class _Spec:
    """How to read one delimited file.

    ``columns`` maps the file's column names to arrow types (the required ones);
    ``optional`` the same for columns read when present. ``names`` gives the column names
    of a header-less file, in order (``None`` entries are ignored filler columns).
    """

    columns: dict[str, pa.DataType]
    optional: dict[str, pa.DataType] | None = None
    delimiter: str = ","
    header: bool = True
    names: tuple[str | None, ...] | None = None
    encoding: str = "utf8"
    quoted: bool = True
    sep_label: str | None = None  # how the separator is named in messages

    @property
    def label(self) -> str:
        return self.sep_label or repr(self.delimiter)


def _read_table(src: _Source, name: str, spec: _Spec, *, allow_empty: bool = False) -> pa.Table:
    """Read a delimited file into an arrow table with the spec's types, or raise with the line."""
    shown = src.display(name)
    if src.size(name) == 0:
        raise DataFormatError(shown, "empty file", 1)
    optional = spec.optional or {}
    if spec.header:
        header = src.first_line(name, spec.encoding)
        fields = [f.strip().strip('"') for f in header.split(spec.delimiter)]
        missing = [c for c in spec.columns if c not in fields]
        if missing:
            hint = ""
            if len(fields) == 1 and any(s in header for s in (",", ";", "\t", "|")):
                hint = f" (wrong separator? expected {spec.label})"
            raise DataFormatError(
                shown, f"missing column(s) {missing}; header is {header!r}{hint}", 1
            )
        names = [f if f else f"_unnamed{i}" for i, f in enumerate(fields)]
        skip = 1
    else:
        assert spec.names is not None
        names = [n if n is not None else f"_filler{i}" for i, n in enumerate(spec.names)]
        skip = 0
    types = {c: t for c, t in {**spec.columns, **optional}.items() if c in names}
    read_opts = pacsv.ReadOptions(
        column_names=names, skip_rows=skip, encoding=spec.encoding, block_size=1 << 24
    )
    parse_opts = pacsv.ParseOptions(
        delimiter=spec.delimiter, quote_char='"' if spec.quoted else False
    )
    convert_opts = pacsv.ConvertOptions(
        column_types=types,
        include_columns=list(types),
        null_values=[""],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        with src.open(name) as f:
            table = pacsv.read_csv(
                f, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts
            )
    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
        raise _diagnose(src, name, spec, names, skip, types, e) from None
    if table.num_rows == 0 and not allow_empty:
        raise DataFormatError(shown, "no data rows", skip + 1)
    for col in spec.columns:
        column = table.column(col)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataFormatError(shown, f"missing value in column {col!r}", row + skip + 1)
    return table


def _diagnose(
    src: _Source,
    name: str,
    spec: _Spec,
    names: list[str],
    skip: int,
    types: dict[str, pa.DataType],
    error: Exception,
) -> DataFormatError:
    """Locate the first bad line after the fast path failed (slow path, runs only on errors)."""
    shown = src.display(name)
    if isinstance(error, UnicodeDecodeError):
        return DataFormatError(shown, f"not valid {spec.encoding} text")
    bad_rows: list[Any] = []

    def handler(row: Any) -> str:
        if not bad_rows:
            bad_rows.append(row)
        return "skip"

    n_fields = sum(1 for n in names if not n.startswith("_filler")) if not spec.header else None
    try:
        with src.open(name) as f:
            table = pacsv.read_csv(
                f,
                read_options=pacsv.ReadOptions(
                    column_names=names,
                    skip_rows=skip,
                    encoding=spec.encoding,
                    use_threads=False,
                    block_size=1 << 24,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=spec.delimiter,
                    quote_char='"' if spec.quoted else False,
                    invalid_row_handler=handler,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in types},
                    include_columns=list(types),
                    strings_can_be_null=False,
                ),
            )
    except pa.ArrowInvalid as e:  # e.g. an unterminated quote
        return DataFormatError(shown, f"unreadable: {e}")
    if bad_rows:
        row = bad_rows[0]
        expected, actual = row.expected_columns, row.actual_columns
        if spec.sep_label == "'::'" and n_fields is not None:
            expected, actual = n_fields, (actual + 1) // 2
        kind = "truncated line" if actual < expected else "too many fields"
        hint = " (wrong separator?)" if actual == 1 else ""
        text = row.text if len(row.text) <= 80 else row.text[:77] + "..."
        return DataFormatError(
            shown,
            f"{kind}: expected {expected} fields separated by {spec.label}, "
            f"found {actual}{hint}: {text!r}",
            row.number,
        )
    for col, typ in types.items():
        if pa.types.is_string(typ):
            continue
        values = table.column(col).combine_chunks()
        row, value = _first_unconvertible(values, typ)
        if row is not None:
            what = "timestamp" if pa.types.is_timestamp(typ) else "number"
            return DataFormatError(
                shown, f"column {col!r}: {value!r} is not a valid {what}", row + skip + 1
            )
    return DataFormatError(shown, f"unreadable: {error}")


def _first_unconvertible(values: pa.Array, typ: pa.DataType) -> tuple[int | None, str]:
    """Row and text of the first string in ``values`` that does not convert to ``typ``."""
    strings = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
    if pa.types.is_timestamp(typ):
        parsed = pd.to_datetime(strings, errors="coerce", format="ISO8601")
        bad = parsed.isna().to_numpy() & (strings.str.len() > 0).to_numpy()
    else:
        parsed = pd.to_numeric(strings, errors="coerce")
        bad = parsed.isna().to_numpy() & (strings.str.strip().str.len() > 0).to_numpy()
        if pa.types.is_integer(typ):
            with np.errstate(invalid="ignore"):
                frac = np.asarray(parsed, dtype=np.float64) % 1 != 0
            bad |= frac & ~np.isnan(np.asarray(parsed, dtype=np.float64))
    hits = np.flatnonzero(bad)
    if len(hits) == 0:
        return None, ""
    return int(hits[0]), str(strings.iloc[int(hits[0])])


def _read_double_colon(
    src: _Source, name: str, columns: tuple[str, ...], free: int, encoding: str
) -> pd.DataFrame:
    """Read a ``::``-separated file whose column ``free`` may itself contain ``:`` (titles, tags).

    Returns a DataFrame of strings; the caller converts the numeric columns with
    :func:`_to_int` / :func:`_to_float` (which name the line of a bad value).
    """
    shown = src.display(name)
    if src.size(name) == 0:
        raise DataFormatError(shown, "empty file", 1)
    text = src.read_text(name, encoding)
    lines = pd.Series(text.splitlines(), dtype=object)
    line_no = np.arange(1, len(lines) + 1)
    keep = (lines.str.len() > 0).to_numpy()
    lines, line_no = lines[keep].reset_index(drop=True), line_no[keep]
    n = len(columns)
    left = lines.str.split("::", n=free, regex=False)
    n_left = left.str.len().to_numpy()
    bad = n_left < free + 1
    rest = left.str[free].fillna("")
    right = rest.str.rsplit("::", n=n - free - 1)
    n_right = right.str.len().to_numpy()
    bad |= n_right != n - free
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        found = int(min(n_left[first], free) + (n_right[first] if n_left[first] > free else 0))
        hint = " (wrong separator?)" if found <= 1 else ""
        raise DataFormatError(
            shown,
            f"truncated line: expected {n} fields separated by '::', found {found}{hint}",
            int(line_no[first]),
        )
    out = {columns[k]: left.str[k] for k in range(free)}
    for k in range(n - free):
        out[columns[free + k]] = right.str[k]
    frame = pd.DataFrame(out)
    frame.attrs["line_no"] = line_no
    frame.attrs["path"] = shown
    return frame


def _to_numeric(frame: pd.DataFrame, col: str, dtype: str) -> np.ndarray:
    """Convert a string column of a frame from :func:`_read_double_colon`, naming bad lines."""
    strings = frame[col].astype(object)
    parsed = pd.to_numeric(strings, errors="coerce")
    arr = np.asarray(parsed, dtype=np.float64)
    bad = np.isnan(arr)
    if dtype.startswith("int"):
        with np.errstate(invalid="ignore"):
            bad |= arr % 1 != 0
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            frame.attrs["path"],
            f"column {col!r}: {strings.iloc[first]!r} is not a valid number",
            int(frame.attrs["line_no"][first]),
        )
    return arr.astype(dtype)


# ---------------------------------------------------------------------------- id mapping
def _index_ids(
    ids: np.ndarray, universe: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Map raw integer ids to positions in ``universe`` (sorted unique; default: the ids' own).

    Returns the sorted universe and the ``int32`` positions (``-1`` for ids not in it).
    Uses an O(n) lookup table when ids are small non-negative integers (MovieLens), else a
    hash index.
    """
    ids = np.asarray(ids)
    if len(ids) == 0:
        uni = np.asarray(universe if universe is not None else [], dtype=np.int64)
        return uni, np.zeros(0, dtype=np.int32)
    lo, hi = int(ids.min()), int(ids.max())
    if universe is not None and len(universe):
        lo, hi = min(lo, int(universe.min())), max(hi, int(universe.max()))
    if lo >= 0 and hi < _DENSE_ID_LIMIT:
        if universe is None:
            present = np.zeros(hi + 1, dtype=bool)
            present[ids] = True
            universe = np.flatnonzero(present)
        lookup = np.full(hi + 1, -1, dtype=np.int32)
        lookup[universe] = np.arange(len(universe), dtype=np.int32)
        return np.asarray(universe, dtype=np.int64), lookup[ids]
    if universe is None:
        universe = np.unique(ids)
    pos = pd.Index(universe).get_indexer(ids).astype(np.int32)
    return np.asarray(universe, dtype=np.int64), pos


# ---------------------------------------------------------------------------- ratings
@dataclass
class _Ratings:
    user_id: np.ndarray  # int32/int64
    movie_id: np.ndarray
    rating: np.ndarray  # float32
    timestamp: np.ndarray  # int64
    path: str
    header_lines: int


def _check_scale(r: _Ratings, layout: str, scale: tuple[float, float]) -> None:
    """Raise naming the first line whose rating is outside the layout's scale."""
    lo, hi = scale
    rating = r.rating
    step = 1.0 if layout in _INTEGER_SCALE else 0.5
    steps = rating * np.float32(1.0 / step)
    bad = (rating < lo) | (rating > hi) | (steps != np.rint(steps))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        grid = "whole stars" if step == 1.0 else "half stars"
        raise DataFormatError(
            r.path,
            f"rating {float(rating[row]):g} is outside the {layout} scale {lo:g}..{hi:g} ({grid})",
            row + r.header_lines + 1,
        )


def _ratings_from_table(table: pa.Table, cols: tuple[str, str, str, str], shown: str, header: int):
    u, m, r, t = cols
    ts = table.column(t)
    if pa.types.is_timestamp(ts.type):
        ts = pc.cast(ts, pa.int64())
    out = _Ratings(
        user_id=table.column(u).to_numpy(),
        movie_id=table.column(m).to_numpy(),
        rating=table.column(r).to_numpy(),
        timestamp=ts.to_numpy(),
        path=shown,
        header_lines=header,
    )
    return out


_CSV_RATINGS = _Spec(
    columns={
        "userId": pa.int32(),
        "movieId": pa.int32(),
        "rating": pa.float32(),
        "timestamp": pa.int64(),
    },
    quoted=False,
)
_KAGGLE_RATINGS = _Spec(
    columns={
        "userId": pa.int32(),
        "movieId": pa.int32(),
        "rating": pa.float32(),
        "timestamp": pa.timestamp("s"),
    },
    quoted=False,
)


def _ml100k_ratings_spec() -> _Spec:
    return _Spec(
        columns={
            "user_id": pa.int32(),
            "movie_id": pa.int32(),
            "rating": pa.float32(),
            "timestamp": pa.int64(),
        },
        delimiter="\t",
        header=False,
        names=("user_id", "movie_id", "rating", "timestamp"),
        quoted=False,
        sep_label="tab",
    )


def _dat_ratings_spec(encoding: str) -> _Spec:
    # '::' is read as ':' with empty filler columns between the fields (ratings have no ':')
    return _Spec(
        columns={
            "user_id": pa.int32(),
            "movie_id": pa.int32(),
            "rating": pa.float32(),
            "timestamp": pa.int64(),
        },
        delimiter=":",
        header=False,
        names=("user_id", None, "movie_id", None, "rating", None, "timestamp"),
        encoding=encoding,
        quoted=False,
        sep_label="'::'",
    )


def _read_ratings(src: _Source, layout: str) -> _Ratings:
    if layout == "ml-100k":
        name, spec, cols = "u.data", _ml100k_ratings_spec(), None
    elif layout in ("ml-1m", "ml-10m"):
        encoding = "latin-1" if layout == "ml-1m" else "utf8"
        name, spec, cols = "ratings.dat", _dat_ratings_spec(encoding), None
    elif layout == "kaggle-ml-20m":
        name, spec = "rating.csv", _KAGGLE_RATINGS
        cols = ("userId", "movieId", "rating", "timestamp")
    else:
        name, spec = "ratings.csv", _CSV_RATINGS
        cols = ("userId", "movieId", "rating", "timestamp")
    table = _read_table(src, name, spec)
    cols = cols or ("user_id", "movie_id", "rating", "timestamp")
    return _ratings_from_table(table, cols, src.display(name), 1 if spec.header else 0)


def read_predefined_split(path: str | Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one of ml-100k's predefined splits (``u1``..``u5``, ``ua``, ``ub``).

    Parameters
    ----------
    path
        The ml-100k folder or ``.zip``.
    name
        Split name: ``"u1"`` .. ``"u5"``, ``"ua"`` or ``"ub"``.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(base, test)``, each with columns ``user_id`` (int64), ``movie_id`` (int64),
        ``rating`` (float32), ``timestamp`` (int64), in file order.

    Raises
    ------
    DataFormatError
        If the split files are missing or malformed.
    ValueError
        If ``name`` is not a predefined split.
    """
    if name not in _PREDEFINED_SPLITS:
        raise ValueError(f"unknown ml-100k split {name!r}; choose from {_PREDEFINED_SPLITS}")
    parts = []
    with _open_source(Path(path)) as src:
        for suffix in ("base", "test"):
            fname = f"{name}.{suffix}"
            if not src.has(fname):
                raise DataFormatError(src.display(fname), "split file not found")
            r = _ratings_from_table(
                _read_table(src, fname, _ml100k_ratings_spec()),
                ("user_id", "movie_id", "rating", "timestamp"),
                src.display(fname),
                0,
            )
            _check_scale(r, "ml-100k", (1.0, 5.0))
            parts.append(
                pd.DataFrame(
                    {
                        "user_id": r.user_id.astype(np.int64),
                        "movie_id": r.movie_id.astype(np.int64),
                        "rating": r.rating.astype(np.float32),
                        "timestamp": r.timestamp.astype(np.int64),
                    }
                )
            )
    return parts[0], parts[1]


# ---------------------------------------------------------------------------- movies
def _genre_lists(genres: pa.Array | pa.ChunkedArray, n: int) -> list[list[str]]:
    """``"A|B"`` strings -> lists of genres, dropping ``(no genres listed)``; vectorised."""
    arr = genres.combine_chunks() if isinstance(genres, pa.ChunkedArray) else genres
    split = pc.split_pattern(arr, "|")
    flat = pc.utf8_trim_whitespace(pc.list_flatten(split))
    parents = pc.list_parent_indices(split).to_numpy()
    keep = pc.and_(pc.not_equal(flat, ""), pc.not_equal(flat, _NO_GENRES))
    keep_np = keep.to_numpy(zero_copy_only=False)
    return _lists_from_pairs(parents[keep_np], flat.filter(keep), n)


def _lists_from_pairs(row: np.ndarray, values: pa.Array, n: int) -> list[list[Any]]:
    """Group ``values`` (sorted by ``row``) into ``n`` lists (empty where a row has none)."""
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(row, minlength=n), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values).to_pylist()


def _movie_frame(
    movie_id: np.ndarray, titles: pd.Series, genres: list[list[str]], **extra: Any
) -> pd.DataFrame:
    title, year = split_title(pd.Series(titles, dtype="str").reset_index(drop=True))
    frame = pd.DataFrame(
        {
            "movie_id": np.asarray(movie_id, dtype=np.int64),
            "title": title,
            "year": year,
            "genres": pd.Series(genres, dtype=object),
        }
    )
    for k, v in extra.items():
        frame[k] = v.reset_index(drop=True) if isinstance(v, pd.Series) else v
    return frame


def _check_unique_movies(movie_id: np.ndarray, shown: str, header: int) -> None:
    sorted_idx = np.argsort(movie_id, kind="stable")
    s = movie_id[sorted_idx]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if len(dup):
        row = int(max(sorted_idx[dup[0]], sorted_idx[dup[0] + 1]))
        raise DataFormatError(shown, f"duplicated movie id {int(s[dup[0]])}", row + header + 1)


def _read_movies_csv(src: _Source, name: str) -> pd.DataFrame:
    spec = _Spec(columns={"movieId": pa.int64(), "title": pa.string(), "genres": pa.string()})
    table = _read_table(src, name, spec, allow_empty=True)
    movie_id = table.column("movieId").to_numpy()
    _check_unique_movies(movie_id, src.display(name), 1)
    titles = table.column("title").to_pandas()
    return _movie_frame(movie_id, titles, _genre_lists(table.column("genres"), len(movie_id)))


def _read_movies_dat(src: _Source, encoding: str) -> pd.DataFrame:
    frame = _read_double_colon(src, "movies.dat", ("movie_id", "title", "genres"), 1, encoding)
    movie_id = _to_numeric(frame, "movie_id", "int64")
    _check_unique_movies(movie_id, src.display("movies.dat"), 0)
    genres = _genre_lists(pa.array(frame["genres"].astype(object), type=pa.string()), len(frame))
    return _movie_frame(movie_id, frame["title"], genres)


def _read_movies_100k(src: _Source) -> pd.DataFrame:
    names: tuple[str | None, ...] = (
        "movie_id",
        "title",
        "release_date",
        "video_release_date",
        "imdb_url",
        *(f"g{k}" for k in range(19)),
    )
    columns: dict[str, pa.DataType] = {"movie_id": pa.int64(), "title": pa.string()}
    columns.update({"release_date": pa.string()})
    columns.update({f"g{k}": pa.int8() for k in range(19)})
    spec = _Spec(
        columns=columns,
        delimiter="|",
        header=False,
        names=names,
        encoding="latin-1",
        quoted=False,
        sep_label="'|'",
    )
    table = _read_table(src, "u.item", spec)
    movie_id = table.column("movie_id").to_numpy()
    _check_unique_movies(movie_id, src.display("u.item"), 0)
    genre_names = np.array(_read_genre_names(src), dtype=object)
    flags = np.column_stack([table.column(f"g{k}").to_numpy() for k in range(19)])
    rows, cols = np.nonzero(flags[:, : len(genre_names)])
    values = genre_names[cols]
    values = values[values != "unknown"] if len(values) else values
    rows = rows[genre_names[cols] != "unknown"] if len(cols) else rows
    genres = _lists_from_pairs(rows, pa.array(values.tolist(), type=pa.string()), len(movie_id))
    release = table.column("release_date").to_pandas()
    return _movie_frame(
        movie_id,
        table.column("title").to_pandas(),
        genres,
        release_date=release.where(release.str.len() > 0, None),
    )


def _read_genre_names(src: _Source) -> list[str]:
    """Genre names by flag position, from ``u.genre`` when present."""
    if not src.has("u.genre"):
        return list(_ML100K_GENRES)
    spec = _Spec(
        columns={"genre": pa.string(), "index": pa.int32()},
        delimiter="|",
        header=False,
        names=("genre", "index"),
        encoding="latin-1",
        quoted=False,
        sep_label="'|'",
    )
    table = _read_table(src, "u.genre", spec)
    index = table.column("index").to_numpy()
    names = np.asarray(table.column("genre").to_pylist(), dtype=object)
    out = [""] * (int(index.max()) + 1)
    for i, g in zip(index.tolist(), names.tolist(), strict=True):  # ~19 rows
        out[i] = g
    return out


def _nullable_int(column: pa.ChunkedArray) -> pd.Series:
    """A float column with nulls as a nullable ``Int64`` series."""
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return pd.Series(pd.array(values, dtype="Float64")).round().astype("Int64")


def _read_links(src: _Source, name: str) -> pd.DataFrame | None:
    if not src.has(name):
        return None
    spec = _Spec(
        # float64: Kaggle's link.csv writes tmdbId as "8844.0"
        columns={"movieId": pa.int64(), "imdbId": pa.float64()},
        optional={"tmdbId": pa.float64()},
    )
    # tmdbId is empty for a few movies: let it be null (only the required ones are checked)
    table = _read_table(src, name, spec, allow_empty=True)
    out = pd.DataFrame(
        {
            "movie_id": table.column("movieId").to_numpy(),
            "imdb_id": _nullable_int(table.column("imdbId")),
        }
    )
    if "tmdbId" in table.column_names:
        out["tmdb_id"] = _nullable_int(table.column("tmdbId"))
    return out


# ---------------------------------------------------------------------------- users
def _read_user_info(src: _Source, layout: str) -> pd.DataFrame | None:
    if layout == "ml-100k" and src.has("u.user"):
        spec = _Spec(
            columns={
                "user_id": pa.int64(),
                "age": pa.int32(),
                "gender": pa.string(),
                "occupation": pa.string(),
                "zip_code": pa.string(),
            },
            delimiter="|",
            header=False,
            names=("user_id", "age", "gender", "occupation", "zip_code"),
            encoding="latin-1",
            quoted=False,
            sep_label="'|'",
        )
        return _read_table(src, "u.user", spec).to_pandas()
    if layout == "ml-1m" and src.has("users.dat"):
        spec = _Spec(
            columns={
                "user_id": pa.int64(),
                "gender": pa.string(),
                "age": pa.int32(),
                "occupation": pa.int32(),
                "zip_code": pa.string(),
            },
            delimiter=":",
            header=False,
            names=("user_id", None, "gender", None, "age", None, "occupation", None, "zip_code"),
            encoding="latin-1",
            quoted=False,
            sep_label="'::'",
        )
        return _read_table(src, "users.dat", spec).to_pandas()
    return None


# ---------------------------------------------------------------------------- tags & genome
def _read_tags(src: _Source, layout: str) -> tuple[pd.DataFrame, str] | None:
    """Raw tags (user_id, movie_id, tag, timestamp) and the file they came from."""
    if layout == "ml-10m":
        if not src.has("tags.dat"):
            return None
        frame = _read_double_colon(
            src, "tags.dat", ("user_id", "movie_id", "tag", "timestamp"), 2, "utf8"
        )
        return (
            pd.DataFrame(
                {
                    "user_id": _to_numeric(frame, "user_id", "int64"),
                    "movie_id": _to_numeric(frame, "movie_id", "int64"),
                    "tag": frame["tag"].astype(object).to_numpy(),
                    "timestamp": _to_numeric(frame, "timestamp", "int64"),
                }
            ),
            src.display("tags.dat"),
        )
    name = "tag.csv" if layout == "kaggle-ml-20m" else "tags.csv"
    if layout in ("ml-100k", "ml-1m") or not src.has(name):
        return None
    ts_type = pa.timestamp("s") if layout == "kaggle-ml-20m" else pa.int64()
    spec = _Spec(
        columns={
            "userId": pa.int64(),
            "movieId": pa.int64(),
            "tag": pa.string(),
            "timestamp": ts_type,
        }
    )
    table = _read_table(src, name, spec, allow_empty=True)
    ts = table.column("timestamp")
    if pa.types.is_timestamp(ts.type):
        ts = pc.cast(ts, pa.int64())
    return (
        pd.DataFrame(
            {
                "user_id": table.column("userId").to_numpy(),
                "movie_id": table.column("movieId").to_numpy(),
                "tag": np.asarray(table.column("tag").to_pylist(), dtype=object),
                "timestamp": ts.to_numpy(),
            }
        ),
        src.display(name),
    )


def _read_genome(src: _Source, layout: str, items: IdMap) -> Genome | None:
    scores_name, tags_name = (
        ("genome_scores.csv", "genome_tags.csv")
        if layout == "kaggle-ml-20m"
        else ("genome-scores.csv", "genome-tags.csv")
    )
    if not (src.has(scores_name) and src.has(tags_name)):
        return None
    tags = _read_table(src, tags_name, _Spec(columns={"tagId": pa.int64(), "tag": pa.string()}))
    scores = _read_table(
        src,
        scores_name,
        _Spec(
            columns={"movieId": pa.int64(), "tagId": pa.int64(), "relevance": pa.float32()},
            quoted=False,
        ),
    )
    tag_ids, tag_pos = _index_ids(
        scores.column("tagId").to_numpy(), np.sort(tags.column("tagId").to_numpy())
    )
    if (tag_pos < 0).any():
        row = int(np.flatnonzero(tag_pos < 0)[0])
        raise DataFormatError(
            src.display(scores_name),
            f"tag id {int(scores.column('tagId').to_numpy()[row])} not in {tags_name}",
            row + 2,
        )
    order = np.argsort(tags.column("tagId").to_numpy())
    tag_names = np.asarray(tags.column("tag").to_pylist(), dtype=object)[order]
    movie_id = scores.column("movieId").to_numpy()
    known = items.contains(movie_id)
    if not known.all():
        logger.warning("%d genome scores for unknown movies dropped", int((~known).sum()))
    item_idx_all = items.index(movie_id[known])
    genome_items, row_pos = np.unique(item_idx_all, return_inverse=True)
    relevance = np.zeros((len(genome_items), len(tag_ids)), dtype=np.float32)
    relevance[row_pos, tag_pos[known]] = scores.column("relevance").to_numpy()[known]
    return Genome(item_idx=genome_items.astype(np.int64), relevance=relevance, tags=tag_names)


# ---------------------------------------------------------------------------- tag genome 2021
def _find_tag_genome(src: _Source) -> _Source | None:
    if src.has("metadata_updated.json"):
        return src
    for sub in src.subdirs():
        if sub.has("metadata_updated.json"):
            return sub
        for sub2 in sub.subdirs():
            if sub2.has("metadata_updated.json"):
                return sub2
    return None


def _read_json_lines(src: _Source, name: str, schema: pa.Schema) -> pa.Table:
    shown = src.display(name)
    if src.size(name) == 0:
        raise DataFormatError(shown, "empty file", 1)
    try:
        with src.open(name) as f:
            table = pajson.read_json(
                f,
                parse_options=pajson.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="ignore"
                ),
            )
    except pa.ArrowInvalid as e:
        raise _diagnose_json(src, name, schema, e) from None
    return table


def _diagnose_json(src: _Source, name: str, schema: pa.Schema, error: Exception) -> DataFormatError:
    """Slow path: find the first line that is not a JSON object with the expected fields."""
    import json

    with src.open(name) as f:
        for number, raw in enumerate(io.TextIOWrapper(f, encoding="utf8"), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                return DataFormatError(src.display(name), f"invalid JSON: {e.msg}", number)
            if not isinstance(obj, dict):
                return DataFormatError(src.display(name), "expected a JSON object", number)
            for field_ in schema:
                value = obj.get(field_.name)
                if value is not None and pa.types.is_integer(field_.type):
                    if not isinstance(value, int):
                        return DataFormatError(
                            src.display(name),
                            f"field {field_.name!r}: {value!r} is not an integer",
                            number,
                        )
    return DataFormatError(src.display(name), f"unreadable JSON lines: {error}")


def _split_names(values: pd.Series, item_idx: np.ndarray, role: str) -> pd.DataFrame:
    """Comma-separated names -> one row per (item_idx, name), vectorised with explode."""
    s = pd.Series(values.to_numpy(dtype=object), index=item_idx).dropna()
    s = s.astype(str).str.split(",").explode().str.strip()
    s = s[s.str.len() > 0]
    return pd.DataFrame(
        {
            "item_idx": s.index.to_numpy(dtype=np.int64),
            "role": role,
            "name": s.to_numpy(dtype=object),
        }
    )


def _join_tag_genome(
    tg: _Source, movies: pd.DataFrame, items: IdMap, info: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Add Tag Genome 2021 metadata columns; return (movies, people, reviews)."""
    meta = _read_json_lines(
        tg,
        "metadata_updated.json",
        pa.schema(
            [
                ("item_id", pa.int64()),
                ("title", pa.string()),
                ("directedBy", pa.string()),
                ("starring", pa.string()),
                ("avgRating", pa.float64()),
                ("imdbId", pa.int64()),
            ]
        ),
    ).to_pandas()
    meta = meta.dropna(subset=["item_id"])
    known = items.contains(meta["item_id"].to_numpy())
    if not known.all():
        logger.info("tag genome: %d movies not in the catalogue ignored", int((~known).sum()))
    meta = meta[known]
    item_idx = items.index(meta["item_id"].to_numpy())
    movies = movies.copy()
    n = len(movies)

    def column(values: pd.Series, dtype: str) -> pd.Series:
        out = pd.Series(pd.array([None] * n, dtype=dtype))
        out.iloc[item_idx] = pd.array(values.to_numpy(), dtype=dtype)
        return out

    movies["directed_by"] = column(meta["directedBy"], "str")
    movies["starring"] = column(meta["starring"], "str")
    movies["avg_rating"] = column(meta["avgRating"], "Float64")
    imdb = column(meta["imdbId"], "Int64")
    if "imdb_id" in movies.columns:
        movies["imdb_id"] = movies["imdb_id"].fillna(imdb)
    else:
        movies["imdb_id"] = imdb
    people = pd.concat(
        [
            _split_names(meta["directedBy"], item_idx, "director"),
            _split_names(meta["starring"], item_idx, "cast"),
        ],
        ignore_index=True,
    )
    reviews = None
    if tg.has("reviews.json"):
        rev = _read_json_lines(
            tg, "reviews.json", pa.schema([("item_id", pa.int64()), ("txt", pa.string())])
        ).to_pandas()
        rev = rev.dropna()
        rev_known = items.contains(rev["item_id"].to_numpy())
        rev = rev[rev_known]
        reviews = pd.DataFrame(
            {
                "item_idx": items.index(rev["item_id"].to_numpy()),
                "text": rev["txt"].to_numpy(dtype=object),
            }
        )
    if tg.has("tags.json"):
        tags = _read_json_lines(
            tg, "tags.json", pa.schema([("id", pa.int64()), ("tag", pa.string())])
        )
        info["tag_genome_tags"] = int(tags.num_rows)
    info["tag_genome_path"] = tg.display("")
    return movies, people, reviews


# ---------------------------------------------------------------------------- assembly
def _sort_and_deduplicate(
    user_idx: np.ndarray, item_idx: np.ndarray, timestamp: np.ndarray, n_items: int
) -> tuple[np.ndarray | None, int]:
    """Order putting pairs in (user, item) order, keeping each pair's latest rating.

    The latest is the highest timestamp; among equal timestamps, the last in the file.
    Returns ``(None, 0)`` when the input is already strictly sorted (MovieLens files are
    sorted by user then movie): one O(n) check, no sort. Otherwise ``(order, n_dropped)``.
    """
    key = user_idx.astype(np.int64) * n_items + item_idx
    if len(key) < 2 or bool(np.all(key[1:] > key[:-1])):
        return None, 0
    order = np.argsort(key, kind="stable")
    ks = key[order]
    if not bool((ks[1:] == ks[:-1]).any()):
        return order, 0
    # duplicates: order by (key, timestamp, file position) and keep each key's last
    order = np.lexsort((np.arange(len(key)), timestamp, key))
    ks = key[order]
    last = np.ones(len(ks), dtype=bool)
    last[:-1] = ks[1:] != ks[:-1]
    return order[last], int(len(key) - last.sum())


def load(
    source: str | Path | None = None,
    *,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """Load any MovieLens dataset into a :class:`~reelrank.data.dataset.Dataset`.

    Parameters
    ----------
    source
        A folder (or the parent of a single data folder), a ``.zip`` archive, or the name of
        a dataset fetched into the cache (``"ml-100k"``). ``None``: the bundled
        ml-latest-small.
    progress
        Show a progress bar over the loading stages.
    cache_dir
        Download cache used to resolve dataset names (default ``~/.cache/reelrank``).

    Returns
    -------
    Dataset
        The ratings as a users x items CSR matrix, the whole movie catalogue, tags, and
        whatever metadata the layout has (genome, people, reviews, user info).
        ``info`` holds ``source_path`` and ``duplicates_dropped``.

    Raises
    ------
    DataFormatError
        If a file is malformed (the message names the file and the line), if ``source``
        does not exist, or if it holds no MovieLens layout.

    Examples
    --------
    >>> ds = load()
    >>> ds.n_interactions
    100836
    """
    path = resolve_source(source, cache_dir)
    with _open_source(path) as src:
        layout = _layout_of(src)
        return _load_from(src, path, layout, progress)


def _load_from(src: _Source, path: Path, layout: str, progress: bool) -> Dataset:
    scale = (1.0, 5.0) if layout in _INTEGER_SCALE else (0.5, 5.0)
    info: dict[str, Any] = {"source_path": str(path.resolve())}
    bar = tqdm(total=5, desc=f"loading {layout}", disable=not progress, unit="step")

    # 1. ratings (the big file)
    r = _read_ratings(src, layout)
    _check_scale(r, layout, scale)
    bar.update()

    # 2. movie catalogue
    if layout == "ml-100k":
        movies = _read_movies_100k(src)
    elif layout in ("ml-1m", "ml-10m"):
        movies = _read_movies_dat(src, "latin-1" if layout == "ml-1m" else "utf8")
    else:
        name = "movie.csv" if layout == "kaggle-ml-20m" else "movies.csv"
        if not src.has(name):
            raise DataFormatError(src.display(name), "movie table not found")
        movies = _read_movies_csv(src, name)
    links = _read_links(src, "link.csv" if layout == "kaggle-ml-20m" else "links.csv")
    if links is not None:
        movies = movies.merge(links, on="movie_id", how="left")
    bar.update()

    # 3. ids -> indices; rated movies missing from the table join the catalogue
    catalogue = np.sort(movies["movie_id"].to_numpy(dtype=np.int64))
    movie_ids, item_idx = _index_ids(r.movie_id, catalogue)
    if (item_idx < 0).any():
        extra = np.unique(r.movie_id[item_idx < 0]).astype(np.int64)
        logger.warning(
            "%d rated movie id(s) missing from the movie table (e.g. %s); added untitled",
            len(extra),
            extra[:5].tolist(),
        )
        info["movies_added"] = len(extra)
        movies = pd.concat(
            [
                movies,
                pd.DataFrame(
                    {
                        "movie_id": extra,
                        "title": [f"Unknown movie {m}" for m in extra.tolist()],
                        "year": pd.array([None] * len(extra), dtype="Int32"),
                        "genres": pd.Series([[] for _ in range(len(extra))], dtype=object),
                    }
                ),
            ],
            ignore_index=True,
        )
        catalogue = np.sort(movies["movie_id"].to_numpy(dtype=np.int64))
        movie_ids, item_idx = _index_ids(r.movie_id, catalogue)
    movies = movies.set_index("movie_id").loc[movie_ids].reset_index()
    movies["year"] = movies["year"].astype("Int32")
    items = IdMap(movie_ids, name="movie")
    user_ids, user_idx = _index_ids(r.user_id)
    users = IdMap(user_ids, name="user")
    bar.update()

    # 4. duplicates, then the CSR
    order, dropped = _sort_and_deduplicate(user_idx, item_idx, r.timestamp, len(items))
    rating, timestamp = r.rating, r.timestamp
    info["duplicates_dropped"] = dropped
    if dropped:
        logger.warning("%s: %d duplicated (user, movie) ratings dropped", r.path, dropped)
    if order is not None:
        user_idx, item_idx = user_idx[order], item_idx[order]
        rating, timestamp = rating[order], timestamp[order]
        del order
    del r

    # 5. metadata
    tags = empty_tags()
    raw_tags = _read_tags(src, layout)
    if raw_tags is not None:
        frame, tag_path = raw_tags
        known = items.contains(frame["movie_id"].to_numpy())
        if not known.all():
            logger.warning("%s: %d tags on unknown movies dropped", tag_path, (~known).sum())
            info["tags_dropped"] = int((~known).sum())
        frame = frame[known]
        tags = pd.DataFrame(
            {
                "user_id": frame["user_id"].to_numpy(dtype=np.int64),
                "item_idx": items.index(frame["movie_id"].to_numpy()),
                "tag": pd.Series(frame["tag"].to_numpy(dtype=object), dtype=object),
                "timestamp": frame["timestamp"].to_numpy(dtype=np.int64),
            }
        )
    genome = _read_genome(src, layout, items)
    user_info = _read_user_info(src, layout)
    if user_info is not None:
        user_info = (
            user_info.drop_duplicates("user_id")
            .set_index("user_id")
            .reindex(users.values)
            .reset_index()
        )
    people = reviews = None
    tg = _find_tag_genome(src)
    if tg is not None:
        movies, people, reviews = _join_tag_genome(tg, movies, items, info)
    bar.update()

    dataset = Dataset.from_arrays(
        user_idx,
        item_idx,
        rating,
        timestamp,
        users=users,
        items=items,
        movies=movies,
        tags=tags,
        genome=genome,
        people=people,
        reviews=reviews,
        user_info=user_info,
        rating_scale=scale,
        layout=layout,
        name=src.folder_name or path.name,
        info=info,
        presorted=True,
    )
    bar.update()
    bar.close()
    logger.info("loaded %r from %s", dataset, path)
    return dataset
