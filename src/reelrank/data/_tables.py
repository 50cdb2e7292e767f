"""The shared CSV machinery of the MovieLens readers: typed fast reads, exact error lines.

Big files are read with :mod:`pyarrow.csv` using explicit column types; no Python loop runs
per row. Bad input raises :class:`~reelrank.errors.DataFormatError` naming the file and the
line: the fast path parses optimistically and, only when something fails, a second pass
locates the first offending line with vectorised checks. Also here: the ``::`` reader of the
``.dat`` layouts, raw id -> index mapping, and the movie-table helpers every layout shares.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from reelrank.data._source import _Source
from reelrank.errors import DataFormatError

logger = logging.getLogger(__name__)

_YEAR = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


_NO_GENRES = "(no genres listed)"


_DENSE_ID_LIMIT = 200_000_000
#: ... and only when the table is at most this many times the number of ids mapped (or small)
_DENSE_FACTOR = 8
_DENSE_MIN_TABLE = 1 << 20
#: layouts rated in whole stars
_INTEGER_SCALE = {"ml-100k", "ml-1m"}


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


#: bytes per block of pyarrow's CSV reader; a longer line cannot be parsed
_BLOCK_SIZE = 1 << 24


@contextmanager
def _arrow_input(src: _Source, name: str, encoding: str) -> Iterator[Any]:
    """What pyarrow reads ``name`` from: a native file or buffer, never a Python object.

    pyarrow's CSV and JSON readers read ahead on background threads; given a Python file
    object (or a non-UTF-8 encoding, which pyarrow transcodes with a Python codec), those
    threads call into Python, and a call still pending when the interpreter exits after a
    parse error aborts the process (``terminate called without an active exception``).
    Latin-1 files (small tables of ml-100k / ml-1m) are transcoded here, in Python.
    """
    if codecs.lookup(encoding).name == "utf-8":
        with src.native(name) as path:
            yield path
        return
    with src.open(name) as f:
        data = f.read()
    yield pa.BufferReader(data.decode(encoding).encode("utf-8"))


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
    read_opts = pacsv.ReadOptions(column_names=names, skip_rows=skip, block_size=_BLOCK_SIZE)
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
        with _arrow_input(src, name, spec.encoding) as source:
            table = pacsv.read_csv(
                source,
                read_options=read_opts,
                parse_options=parse_opts,
                convert_options=convert_opts,
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
    message = str(error)
    if isinstance(error, UnicodeDecodeError) or "UTF8" in message or "UTF-8" in message:
        bad = src.first_bad_text_line(name, spec.encoding)
        if bad is not None:
            return DataFormatError(shown, f"not valid {spec.encoding} text ({bad[1]})", bad[0])
    if "straddl" in message or "block size" in message:
        long = src.first_long_line(name, _BLOCK_SIZE)
        if long is not None:
            return DataFormatError(
                shown,
                f"line of {long[1]:,} bytes, longer than the {_BLOCK_SIZE:,} a line may have "
                "(a MovieLens line is short: missing line breaks or an unclosed quote?)",
                long[0],
            )
    bad_rows: list[Any] = []

    def handler(row: Any) -> str:
        if not bad_rows:
            bad_rows.append(row)
        return "skip"

    n_fields = sum(1 for n in names if not n.startswith("_filler")) if not spec.header else None
    try:
        with _arrow_input(src, name, spec.encoding) as source:
            table = pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(
                    column_names=names,
                    skip_rows=skip,
                    use_threads=False,
                    block_size=_BLOCK_SIZE,
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
        row, value, reason = _first_bad_value(table.column(col).combine_chunks(), typ)
        if row is not None:
            return DataFormatError(shown, f"column {col!r}: {value!r} {reason}", row + skip + 1)
    return DataFormatError(shown, f"unreadable: {error}")


def _first_bad_value(values: pa.Array, typ: pa.DataType) -> tuple[int | None, str, str]:
    """:func:`_first_unconvertible` on the first slice of 64k values that arrow cannot cast.

    Slices that cast cleanly are skipped natively, so locating a bad value near the end of
    a big file does not turn millions of strings into Python objects.
    """
    step = 1 << 16
    for start in range(0, len(values), step):
        chunk = values.slice(start, step)
        try:
            pc.cast(chunk, typ)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        row, value, reason = _first_unconvertible(chunk, typ)
        if row is not None:
            return start + row, value, reason
    return None, "", ""


def _first_unconvertible(values: pa.Array, typ: pa.DataType) -> tuple[int | None, str, str]:
    """Row, text and reason of the first string in ``values`` that does not convert to ``typ``.

    Integers must also fit the column's type (ids in int32, timestamps in int64).
    """
    strings = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
    if pa.types.is_timestamp(typ):
        parsed = pd.to_datetime(strings, errors="coerce", format="ISO8601")
        bad = parsed.isna().to_numpy() & (strings.str.len() > 0).to_numpy()
        reason = np.where(bad, "is not a valid timestamp", "")
    else:
        parsed = pd.to_numeric(strings, errors="coerce")
        number = np.asarray(parsed, dtype=np.float64)
        bad = np.isnan(number) & (strings.str.strip().str.len() > 0).to_numpy()
        reason = np.where(bad, "is not a valid number", "")
        if pa.types.is_integer(typ):
            info = np.iinfo(typ.to_pandas_dtype())
            with np.errstate(invalid="ignore"):
                frac = (number % 1 != 0) & ~np.isnan(number)
                # compare as float: exact enough at these bounds, and never overflows
                outside = ~np.isnan(number) & ((number < info.min) | (number > info.max))
            reason = np.where(frac & ~bad, "is not a whole number", reason)
            reason = np.where(
                outside & ~bad & ~frac, f"does not fit in {typ} ({info.min}..{info.max})", reason
            )
            bad |= frac | outside
    hits = np.flatnonzero(bad)
    if len(hits) == 0:
        return None, "", ""
    first = int(hits[0])
    return first, str(strings.iloc[first]), str(reason[first])


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
    if dtype.startswith("int"):
        info = np.iinfo(dtype)
        outside = (arr < info.min) | (arr > info.max)
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            raise DataFormatError(
                frame.attrs["path"],
                f"column {col!r}: {strings.iloc[first]!r} does not fit in {dtype}",
                int(frame.attrs["line_no"][first]),
            )
    return arr.astype(dtype)


def _index_ids(
    ids: np.ndarray, universe: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Map raw integer ids to positions in ``universe`` (sorted unique; default: the ids' own).

    Returns the sorted universe and the ``int32`` positions (``-1`` for ids not in it).
    Uses an O(n) lookup table when the ids are dense small non-negative integers
    (MovieLens), else a hash index: the table is sized by the largest id, so one stray id
    of 199,999,999 must not allocate gigabytes.
    """
    ids = np.asarray(ids)
    if len(ids) == 0:
        uni = np.asarray(universe if universe is not None else [], dtype=np.int64)
        return uni, np.zeros(0, dtype=np.int32)
    lo, hi = int(ids.min()), int(ids.max())
    if universe is not None and len(universe):
        lo, hi = min(lo, int(universe.min())), max(hi, int(universe.max()))
    count = len(ids) + (len(universe) if universe is not None else 0)
    if lo >= 0 and hi < _DENSE_ID_LIMIT and hi < max(_DENSE_MIN_TABLE, _DENSE_FACTOR * count):
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


@dataclass
class _Ratings:
    user_id: np.ndarray  # int32/int64
    movie_id: np.ndarray
    rating: np.ndarray  # float32
    timestamp: np.ndarray  # int64
    path: str
    header_lines: int


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


def _check_unique_movies(
    movie_id: np.ndarray, shown: str, header: int, line_no: np.ndarray | None = None
) -> None:
    """Movie ids of a movie table: not negative, not duplicated (the error names the line)."""
    _check_ids(movie_id, shown, "movie id", header, line_no)
    sorted_idx = np.argsort(movie_id, kind="stable")
    s = movie_id[sorted_idx]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if len(dup):
        row = int(max(sorted_idx[dup[0]], sorted_idx[dup[0] + 1]))
        line = int(line_no[row]) if line_no is not None else row + header + 1
        raise DataFormatError(shown, f"duplicated movie id {int(s[dup[0]])}", line)


def _check_ids(
    ids: np.ndarray, shown: str, what: str, header: int, line_no: np.ndarray | None = None
) -> None:
    """Raise naming the line of the first negative id (MovieLens ids are positive)."""
    negative = np.asarray(ids) < 0
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        line = int(line_no[row]) if line_no is not None else row + header + 1
        raise DataFormatError(
            shown, f"{what} {int(ids[row])} is negative (MovieLens ids are positive)", line
        )


#: timestamps are seconds since 1970; beyond this (year 2255) they cannot be dates
MAX_TIMESTAMP = 9_000_000_000


def _check_timestamps(
    ts: np.ndarray, shown: str, header: int, line_no: np.ndarray | None = None
) -> None:
    """Raise naming the line of the first timestamp that is not a plausible time."""
    bad = (np.asarray(ts) < 0) | (np.asarray(ts) > MAX_TIMESTAMP)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        line = int(line_no[row]) if line_no is not None else row + header + 1
        raise DataFormatError(
            shown,
            f"timestamp {int(ts[row])} is not a time (seconds since 1970, at most "
            f"{MAX_TIMESTAMP:,})",
            line,
        )


def _nullable_int(column: pa.ChunkedArray) -> pd.Series:
    """A float column with nulls as a nullable ``Int64`` series."""
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return pd.Series(pd.array(values, dtype="Float64")).round().astype("Int64")


def _read_json_lines(src: _Source, name: str, schema: pa.Schema) -> pa.Table:
    shown = src.display(name)
    if src.size(name) == 0:
        raise DataFormatError(shown, "empty file", 1)
    try:
        with _arrow_input(src, name, "utf8") as source:
            table = pajson.read_json(
                source,
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


def _check_scale(r: _Ratings, layout: str, scale: tuple[float, float]) -> None:
    """Raise naming the first line whose rating is outside the layout's scale (or whose ids
    are negative, or whose timestamp is not a time)."""
    _check_ids(r.user_id, r.path, "user id", r.header_lines)
    _check_ids(r.movie_id, r.path, "movie id", r.header_lines)
    _check_timestamps(r.timestamp, r.path, r.header_lines)
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
