"""``reelrank recommend-all`` without Spark: the local engine and bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reelrank.cli import main


def test_recommend_all_local_engine(tmp_path: Path) -> None:
    out = tmp_path / "recs.parquet"
    code = main(
        [
            "recommend-all",
            "--engine",
            "local",
            "-n",
            "4",
            "--factors",
            "8",
            "--iterations",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    recs = pd.read_parquet(out)
    assert list(recs.columns) == ["user_id", "rank", "movie_id", "score"]
    assert recs["user_id"].nunique() == 610
    assert recs.groupby("user_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4]).all()
    # scores are non-increasing within each user's list
    assert (recs.groupby("user_id")["score"].diff().dropna() <= 1e-6).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "flink"], "--engine must be one of"),
        (["--engine", "local", "--alpha", "0"], "--alpha must be > 0"),
    ],
)
def test_recommend_all_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["recommend-all", *args, "--out", str(tmp_path / "r.parquet")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
