"""Hostile data folders: every one fails with a DataFormatError naming the file (and line)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from reelrank.data.movielens import load
from reelrank.errors import DataFormatError

HEADER = "userId,movieId,rating,timestamp"


def _expect(folder: Path, file: str, line: int | None, *words: str) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        load(folder)
    err = info.value
    assert err.path.endswith(file), err
    assert err.line == line, err
    for w in words:
        assert w in str(err), err
    return err


# ---------------------------------------------------------------------------- file types
@pytest.mark.parametrize(("layout", "file"), [("ml-100k", "u.item"), ("ml-1m", "movies.dat")])
def test_directory_where_the_movie_table_should_be(
    tmp_path: Path, writers, layout: str, file: str
) -> None:
    folder = writers[layout](tmp_path)
    (folder / file).unlink()
    (folder / file).mkdir()
    _expect(folder, file, None, "found a directory")


@pytest.mark.parametrize(("layout", "file"), [("ml-100k", "u.item"), ("ml-1m", "movies.dat")])
def test_symlink_loop_where_the_movie_table_should_be(
    tmp_path: Path, writers, layout: str, file: str
) -> None:
    folder = writers[layout](tmp_path)
    (folder / file).unlink()
    (folder / file).symlink_to(file)
    _expect(folder, file, None, "cannot read")


def test_fifo_is_refused_without_blocking(tmp_path: Path, writers) -> None:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    (folder / "movies.csv").unlink()
    os.mkfifo(folder / "movies.csv")
    script = f"from reelrank.data.movielens import load; load({str(folder)!r})"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert "FIFO" in proc.stderr and "DataFormatError" in proc.stderr


# ---------------------------------------------------------------------------- u.genre
@pytest.mark.parametrize("index", ["-1", "99999999", "19"])
def test_genre_index_outside_the_flags(tmp_path: Path, writers, index: str) -> None:
    folder = writers["ml-100k"](tmp_path)
    lines = (folder / "u.genre").read_text().splitlines()
    lines[3] = f"Animation|{index}"
    writers["write"](folder / "u.genre", lines)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _expect(folder, "u.genre", 4, index, "outside 0..18")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


# ---------------------------------------------------------------------------- values
def _ratings(tmp_path: Path, writers, rows: list[str]) -> Path:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    writers["write"](folder / "ratings.csv", [HEADER, *rows])
    return folder


@pytest.mark.parametrize(
    ("rows", "line", "words"),
    [
        (["1,1,4.0,1", "3000000000,1,4.0,2"], 3, ("'3000000000'", "int32", "userId")),
        (["1,1,4.0,1", "1,-5000000000,4.0,2"], 3, ("int32", "movieId")),
        (["1,1,4.0,99999999999999999999999"], 2, ("timestamp", "int64")),
        (["1,1,4.0,1", "1,3,4.0,99999999999999"], 3, ("timestamp", "not a time")),
        (["1,1,4.0,1", "-7,1,4.0,2"], 3, ("user id -7", "negative")),
        (["1,1,4.0,1", "2,-3,4.0,2"], 3, ("movie id -3", "negative")),
    ],
)
def test_out_of_range_values_name_the_line(
    tmp_path: Path, writers, rows: list[str], line: int, words: tuple[str, ...]
) -> None:
    _expect(_ratings(tmp_path, writers, rows), "ratings.csv", line, *words)


def test_negative_movie_id_in_the_movie_table(tmp_path: Path, writers) -> None:
    folder = writers["ml-1m"](tmp_path)
    lines = (folder / "movies.dat").read_text("latin-1").splitlines()
    lines[2] = "-661::Misérables, Les (1995)::Drama"
    writers["write"](folder / "movies.dat", lines, encoding="latin-1")
    _expect(folder, "movies.dat", 3, "movie id -661", "negative")


def test_huge_id_in_a_dat_file(tmp_path: Path, writers) -> None:
    folder = writers["ml-1m"](tmp_path)
    lines = (folder / "movies.dat").read_text("latin-1").splitlines()
    lines[1] = "99999999999999999999999::Huge (1995)::Drama"
    writers["write"](folder / "movies.dat", lines, encoding="latin-1")
    _expect(folder, "movies.dat", 2, "does not fit")


def test_invalid_utf8_in_movies_csv_names_the_line(tmp_path: Path, writers) -> None:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    data = (folder / "movies.csv").read_bytes().split(b"\r\n")
    data[3] = b'11,"Caf\xe9 (1998)",Musical'
    (folder / "movies.csv").write_bytes(b"\r\n".join(data))
    _expect(folder, "movies.csv", 4, "not valid utf8")


def test_a_50_mb_line_names_the_line(tmp_path: Path, writers) -> None:
    folder = _ratings(tmp_path, writers, ["1,1,4.0,1", "1,3,4.0,2"])
    with open(folder / "ratings.csv", "ab") as f:
        f.write(b"2,11,2.5," + b"7" * (50 << 20) + b"\n")
    _expect(folder, "ratings.csv", 4, "longer than")


# ---------------------------------------------------------------------------- sparse ids
def _peak_kib_of(script: str) -> int:
    """Peak resident memory (KiB) of a fresh interpreter running ``script``."""
    code = textwrap.dedent(script) + textwrap.dedent(
        """
        import resource, sys
        sys.stdout.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return int(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_sparse_ids_use_a_hash_index_not_a_table_sized_by_the_largest_id(
    tmp_path: Path, writers
) -> None:
    folder = writers["csv"](tmp_path, "ml-25m")
    rows = ["1,1,4.0,964982703", "199999999,3,4.5,964981247", "2,11,2.5,1445714835"]
    writers["write"](folder / "ratings.csv", [HEADER, *rows])
    scores = (folder / "genome-scores.csv").read_text().splitlines()
    tags = (folder / "genome-tags.csv").read_text().splitlines()
    tags[3] = "150000000,18th century"
    scores = [s.replace(",3,", ",150000000,") for s in scores]
    writers["write"](folder / "genome-tags.csv", tags)
    writers["write"](folder / "genome-scores.csv", scores)
    baseline = _peak_kib_of("from reelrank.data.movielens import load")
    peak = _peak_kib_of(
        f"""
        from reelrank.data.movielens import load
        ds = load({str(folder)!r})
        assert ds.users.values.max() == 199999999 and ds.genome.relevance.shape == (2, 3)
        """
    )
    assert peak - baseline < 150_000, (baseline, peak)  # a dense table would be > 750 MB


def test_index_ids_dense_and_hashed_agree() -> None:
    from reelrank.data._tables import _index_ids

    rng = np.random.default_rng(3)
    ids = rng.integers(1, 5_000, 10_000)
    uni_dense, pos_dense = _index_ids(ids)
    sparse = ids * 100_003  # same order, far apart: the hash path
    uni_hash, pos_hash = _index_ids(sparse)
    np.testing.assert_array_equal(pos_dense, pos_hash)
    np.testing.assert_array_equal(uni_dense * 100_003, uni_hash)


# ---------------------------------------------------------------------------- zips
def _zip_of(folder: Path, target: Path, *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(target, "w", method) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder.parent).as_posix())
    return target


def test_corrupt_deflate_stream_names_the_member(tmp_path: Path, writers) -> None:
    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    writers["write"](
        folder / "ratings.csv", [HEADER] + [f"{u},1,4.0,{u}" for u in range(1, 20_000)]
    )
    archive = _zip_of(folder, tmp_path / "ml.zip")
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("ml-latest/ratings.csv")
    start = info.header_offset + 30 + len(info.filename) + 40  # inside the deflate stream
    raw[start : start + 64] = bytes(64)
    archive.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError) as err:
        load(archive)
    assert "ratings.csv" in str(err.value)


def test_zip_bomb_member_is_refused(tmp_path: Path, writers, monkeypatch) -> None:
    import reelrank.data._source as source

    folder = writers["csv"](tmp_path, "ml-latest", genome=False)
    writers["write"](folder / "ratings.csv", [HEADER] + ["1,1,4.0,1"] * 200_000)
    archive = _zip_of(folder, tmp_path / "bomb.zip")
    monkeypatch.setattr(source, "_RATIO_FLOOR", 1 << 16)  # the real floor is 64 MB
    with pytest.raises(DataFormatError, match="would expand"):
        load(archive)
    monkeypatch.setattr(source, "MAX_MEMBER_BYTES", 1 << 10)
    monkeypatch.setattr(source, "_RATIO_FLOOR", 1 << 40)
    with pytest.raises(DataFormatError, match="would expand"):
        load(archive)


def test_zip_loads_through_native_reads(tmp_path: Path, writers) -> None:
    folder = writers["ml-100k"](tmp_path)
    ds = load(_zip_of(folder, tmp_path / "ml-100k.zip"))
    assert ds.layout == "ml-100k" and ds.n_interactions == 5


# ---------------------------------------------------------------------------- exit (SIGABRT)
def test_pyarrow_never_reads_a_python_file_object(tmp_path: Path, writers, monkeypatch) -> None:
    """Root cause of the intermittent exit 134: pyarrow's background reader calling into
    Python (a Python file object, or a Python transcoder) while the interpreter exits."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson

    seen: list[object] = []
    real_csv, real_json = pacsv.read_csv, pajson.read_json

    def spy_csv(source, *a, **k):
        seen.append(source)
        assert k["read_options"].encoding == "utf8"
        return real_csv(source, *a, **k)

    def spy_json(source, *a, **k):
        seen.append(source)
        return real_json(source, *a, **k)

    monkeypatch.setattr(pacsv, "read_csv", spy_csv)
    monkeypatch.setattr(pajson, "read_json", spy_json)
    for layout in ("ml-100k", "ml-1m", "ml-10m", "kaggle"):
        load(writers[layout](tmp_path / layout))
    csv_folder = writers["csv"](tmp_path / "csv")
    writers["tag-genome"](csv_folder)
    load(csv_folder)
    load(_zip_of(csv_folder, tmp_path / "csv.zip"))
    with pytest.raises(DataFormatError):  # the slow (diagnosis) path too
        load(_ratings(tmp_path / "bad", writers, ["1,1,x,1"]))
    assert seen and all(isinstance(s, str | pa.NativeFile) for s in seen), seen


def test_tag_timestamps_and_ids_are_checked(tmp_path: Path, writers) -> None:
    folder = writers["ml-10m"](tmp_path)
    writers["write"](folder / "tags.dat", ["15::8::fine::1215184630", "20::185::bad::-86400"])
    _expect(folder, "tags.dat", 2, "timestamp -86400", "not a time")
    csv = writers["csv"](tmp_path / "csv", "ml-latest", genome=False)
    writers["write"](csv / "tags.csv", ["userId,movieId,tag,timestamp", "-2,11,funny,1445714994"])
    _expect(csv, "tags.csv", 2, "user id -2", "negative")
