"""End-to-end smoke test of ``reelrank demo`` with tiny settings."""

from __future__ import annotations

import pytest

from reelrank.cli import main


@pytest.mark.slow
def test_demo_quick_runs_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    code = main(["demo", "--quick", "--models", "pop,hybrid", "--out", str(tmp_path / "d")])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0
    for stage in ("evaluating hybrid under the temporal protocol (2/2)", "training the hybrid"):
        assert stage in captured.err  # each stage is named as it starts
    assert (tmp_path / "d" / "model").is_dir()
    assert "Top-10 for user 1" in out
    assert "Toy Story 2" in out  # similar to Toy Story / recommended to its fan
    assert "similar to 'Toy Story'" in out


def test_demo_unknown_model_is_exit_2(tmp_path, capsys):
    assert main(["demo", "--models", "nope", "--out", str(tmp_path / "d")]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_demo_refuses_a_foreign_model_folder_before_working(tmp_path, capsys):
    mine = tmp_path / "d" / "model" / "mine.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("not reelrank's")
    assert main(["demo", "--quick", "--out", str(tmp_path / "d")]) == 2
    assert "--force" in capsys.readouterr().err
    assert mine.read_text() == "not reelrank's"
