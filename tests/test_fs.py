"""Output folders: --out never deletes what reelrank did not write; no temp folders left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reelrank._fs import (
    allow_replace,
    atomic_directory,
    check_output_dir,
    output_kind,
    read_json_file,
)
from reelrank.errors import ArtifactError, OutputExistsError
from reelrank.models import create_model

_SPLIT = {"method": "random", "parts": {}, "fingerprints": {}}


def _write_split(tmp: Path, tag: str = "new") -> None:
    (tmp / "split.json").write_text(json.dumps({**_SPLIT, "tag": tag}))
    (tmp / "train.parquet").write_text(tag)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_replaces_an_output_of_the_same_kind(tmp_path: Path) -> None:
    out = tmp_path / "split"
    for tag in ("first", "second"):
        with atomic_directory(out, kind="split") as tmp:
            _write_split(tmp, tag)
    assert json.loads((out / "split.json").read_text())["tag"] == "second"
    assert output_kind(out) == "split"
    assert _leftovers(tmp_path) == []


def test_refuses_a_folder_that_is_not_a_reelrank_output(tmp_path: Path) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("years of work")
    with pytest.raises(OutputExistsError, match=r"not a reelrank output.*--force"):
        with atomic_directory(out, kind="split") as tmp:
            _write_split(tmp)
    assert (out / "chapter1.tex").read_text() == "years of work"
    assert _leftovers(tmp_path) == []


def test_refuses_an_output_of_another_kind(tmp_path: Path) -> None:
    out = tmp_path / "x"
    with atomic_directory(out, kind="split") as tmp:
        _write_split(tmp)
    with pytest.raises(OutputExistsError, match="is a data split, not an artifact"):
        check_output_dir(out, "artifact")


def test_kind_recognised_from_what_was_written(tmp_path: Path) -> None:
    out = tmp_path / "x"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        with atomic_directory(out) as tmp:  # no kind: the new folder's manifest says split
            _write_split(tmp)
    assert (out / "notes.txt").exists()


def test_force_replaces(tmp_path: Path) -> None:
    out = tmp_path / "x"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with atomic_directory(out, kind="split", force=True) as tmp:
        _write_split(tmp)
    assert output_kind(out) == "split" and not (out / "notes.txt").exists()
    (tmp_path / "f").write_text("a file")
    with allow_replace(), atomic_directory(tmp_path / "f", kind="split") as tmp:
        _write_split(tmp)
    assert output_kind(tmp_path / "f") == "split"
    assert _leftovers(tmp_path) == []


def test_empty_folder_and_file_and_symlink(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty", "split")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="is a file"):
        check_output_dir(tmp_path / "file", "split")
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    with pytest.raises(OutputExistsError, match="symbolic link"):
        check_output_dir(tmp_path / "link", "split")


@pytest.mark.parametrize("target", [".", "..", "sub/.."])
def test_never_the_current_directory_or_a_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "keep.txt").write_text("keep")
    monkeypatch.chdir(work)
    for force in (False, True):
        with pytest.raises(OutputExistsError, match="current directory"):
            with atomic_directory(target, kind="split", force=force) as tmp:
                _write_split(tmp)
    assert (work / "keep.txt").exists()


def test_error_inside_leaves_nothing_and_keeps_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "x"
    with atomic_directory(out, kind="split") as tmp:
        _write_split(tmp, "old")
    with pytest.raises(RuntimeError), atomic_directory(out, kind="split") as tmp:
        _write_split(tmp, "new")
        raise RuntimeError("boom")
    assert json.loads((out / "split.json").read_text())["tag"] == "old"
    assert _leftovers(tmp_path) == []


def test_killed_run_leftovers_are_cleaned_on_the_next_run(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, os, signal
        from reelrank._fs import atomic_directory
        with atomic_directory({str(tmp_path / "x")!r}, kind="split") as tmp:
            (tmp / "split.json").write_text("{{}}")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    stale = _leftovers(tmp_path)
    assert len(stale) == 1 and stale[0].startswith(".x.tmp-")
    # another live process's temp folder is not touched
    live = tmp_path / f".x.tmp-{os.getppid()}-abcdefgh"
    live.mkdir()
    with atomic_directory(tmp_path / "x", kind="split") as tmp:
        _write_split(tmp)
    assert _leftovers(tmp_path) == [live.name]


def test_model_save_refuses_foreign_folder_and_replaces_a_model(tiny, tmp_path: Path) -> None:
    model = create_model("pop").fit(tiny)
    out = tmp_path / "m"
    model.save(out)
    model.save(out)  # a saved model: replaced
    assert output_kind(out) == "model"
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(OutputExistsError):
        model.save(tmp_path / "photos")
    assert (tmp_path / "photos" / "a.jpg").exists()


def test_read_json_file_bounds(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(ArtifactError, match="nested"):
        read_json_file(p)
    p.write_text(json.dumps({"a": "[" * 80}))  # brackets inside a string are not nesting
    assert read_json_file(p) == {"a": "[" * 80}
    p.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ArtifactError, match="UTF-8"):
        read_json_file(p)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ArtifactError, match="FIFO"):
        read_json_file(fifo)


# ---------------------------------------------------------------------------- command line
def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from reelrank.cli import main

    code = main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--model", "pop", "--out", "{out}"],
        ["data", "split", "--method", "random", "--out", "{out}"],
        ["features", "build", "--out", "{out}"],
    ],
)
def test_cli_out_refuses_foreign_folder_before_working(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, err = _cli([a.format(out=out) for a in command], capsys)
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    assert (out / "notes.txt").read_text() == "mine"


def test_cli_out_dot_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("keep")
    code, err = _cli(["train", "--model", "pop", "--out", ".", "--force"], capsys)
    assert code == 2 and "current directory" in err
    assert (tmp_path / "keep.txt").exists() and _leftovers(tmp_path) == []


@pytest.mark.slow
def test_cli_train_force_replaces_and_retrain_replaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _cli(["train", "--model", "pop", "--out", str(out), "--force"], capsys)[0] == 0
    assert output_kind(out) == "artifact" and not (out / "notes.txt").exists()
    assert _cli(["train", "--model", "pop", "--out", str(out)], capsys)[0] == 0  # same kind
    assert _leftovers(tmp_path) == []


def test_pairs_out_refuses_a_foreign_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from reelrank._fs import check_output_file

    mine = tmp_path / "budget.parquet"
    pd.DataFrame({"amount": [1.0]}).to_parquet(mine)
    code, err = _cli(["rank", "build-pairs", "--out", str(mine)], capsys)
    assert code == 2 and "--force" in err and pd.read_parquet(mine)["amount"].tolist() == [1.0]
    pairs = tmp_path / "pairs.parquet"
    pd.DataFrame({"user_id": [1], "movie_id": [2], "label": [0], "group": [1]}).to_parquet(pairs)
    check_output_file(pairs, {"user_id", "movie_id", "label", "group"})  # ours: replaceable
    (tmp_path / "notes.parquet").write_text("not parquet")
    with pytest.raises(OutputExistsError):
        check_output_file(tmp_path / "notes.parquet", {"user_id"})
    check_output_file(tmp_path / "notes.parquet", {"user_id"}, force=True)
