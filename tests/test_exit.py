"""A CLI user error exits with status 2 every time (never 134 from a native thread at exit).

The intermittent ``terminate called without an active exception`` (SIGABRT, exit 134) came
from pyarrow's background CSV reader: given a Python file object, its read-ahead threads
call into Python, and a call still pending when the interpreter exits after a parse error
aborts the process. The readers now hand pyarrow native files only
(``tests/data/test_readers_hostile.py::test_pyarrow_never_reads_a_python_file_object``);
this test runs the failing command the way a user does, many times.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_RUN = "import sys; from reelrank.cli import run; sys.argv[0] = 'reelrank'; run()"


def _broken_dataset(folder: Path) -> Path:
    """A 60 MB ratings.csv whose second line is bad: the reader fails with read-ahead busy."""
    folder.mkdir()
    block = "".join(f"{i % 1000 + 1},{i % 5000 + 1},4.0,{1_000_000 + i}\n" for i in range(100_000))
    with open(folder / "ratings.csv", "w") as f:
        f.write("userId,movieId,rating,timestamp\n1,2,x,3\n")
        for _ in range(30):
            f.write(block)
    (folder / "movies.csv").write_text("movieId,title,genres\n2,A (1995),Drama\n")
    return folder


@pytest.mark.slow
def test_failing_command_exits_2_every_time(tmp_path: Path) -> None:
    folder = _broken_dataset(tmp_path / "broken")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    statuses = []
    for _ in range(20):
        proc = subprocess.run(
            [sys.executable, "-c", _RUN, "data", "info", str(folder)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        statuses.append(proc.returncode)
        assert proc.returncode == 2, (statuses, proc.stderr[-2000:])
        assert proc.stderr.strip().splitlines()[-1].startswith("error: "), proc.stderr
        assert "line 2" in proc.stderr and "Traceback" not in proc.stderr
