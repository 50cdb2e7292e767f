"""User store: upserts, errors, concurrent writers from two processes, restart."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from reelrank.errors import ConfigError, UnknownIdError
from reelrank.serving.store import UserStore


def test_create_and_rate(tmp_path: Path) -> None:
    with UserStore(tmp_path / "u.db") as store:
        a = store.create_user("ann", min_id=1000)
        b = store.create_user(None, min_id=1000)
        assert (a.user_id, b.user_id) == (1000, 1001)
        assert store.add_ratings(a.user_id, [(1, 5.0), (2, 3.5)]) == 2
        assert store.add_ratings(a.user_id, [(1, 2.0, 123)]) == 1  # upsert keeps latest
        frame = store.ratings(a.user_id)
        assert frame["movie_id"].tolist() == [1, 2]
        assert frame["rating"].tolist() == [2.0, 3.5]
        assert frame.loc[0, "timestamp"] == 123
        assert store.ratings(b.user_id).empty
        assert store.get_user(a.user_id).name == "ann"  # type: ignore[union-attr]
        assert store.get_user(5) is None


def test_wal_mode(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "u.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_unknown_user_and_bad_rating(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "u.db")
    with pytest.raises(UnknownIdError, match="42"):
        store.add_ratings(42, [(1, 4.0)])
    u = store.create_user("x")
    with pytest.raises(ConfigError, match="finite"):
        store.add_ratings(u.user_id, [(1, float("nan"))])


def test_bad_url() -> None:
    with pytest.raises(ConfigError, match="cannot open user database"):
        UserStore("nosuchdialect://x")


def _writer(url: str, user_id: int, offset: int, n: int, barrier: object) -> None:
    store = UserStore(url)
    barrier.wait()  # type: ignore[attr-defined]  # start writing together
    for k in range(n):  # one transaction per rating, to interleave with the other process
        store.add_ratings(user_id, [(offset + k, 1.0 + (k % 9) * 0.5)])
    store.close()


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    store = UserStore(db)
    a = store.create_user("a")
    b = store.create_user("b")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [
        ctx.Process(target=_writer, args=(str(db), a.user_id, 0, 200, barrier)),
        ctx.Process(target=_writer, args=(str(db), b.user_id, 100_000, 200, barrier)),
        ctx.Process(target=_writer, args=(str(db), a.user_id, 500_000, 200, barrier)),
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store.close()
    # "restart": a fresh store on the same file sees everything
    again = UserStore(db)
    assert again.n_ratings() == 600
    assert len(again.ratings(a.user_id)) == 400
    assert len(again.ratings(b.user_id)) == 200
    assert again.n_users() == 2


def test_restart_keeps_users_and_ratings(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    s1 = UserStore(db)
    u = s1.create_user("kept", min_id=700)
    s1.add_ratings(u.user_id, [(10, 4.5)])
    s1.close()
    s2 = UserStore(db)
    assert s2.get_user(700) is not None
    assert s2.ratings(700)["rating"].tolist() == [4.5]
    assert s2.create_user("next", min_id=1).user_id == 701


def test_token_hashes(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "u.db")
    u = store.create_user("ann", min_id=10)
    assert store.token_hash(u.user_id) is None
    store.set_token_hash(u.user_id, "a" * 64)
    store.set_token_hash(u.user_id, "b" * 64)  # a new token replaces the old one
    assert store.token_hash(u.user_id) == "b" * 64
    with pytest.raises(UnknownIdError):
        store.set_token_hash(999, "c" * 64)
    with pytest.raises(ConfigError):
        store.set_token_hash(u.user_id, "")
    assert UserStore(tmp_path / "u.db").token_hash(u.user_id) == "b" * 64  # persisted


def test_database_from_before_tokens_gains_the_table(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the two-table layout of earlier releases
        conn.execute(
            "CREATE TABLE users "
            "(id INTEGER PRIMARY KEY, name VARCHAR(200), created DATETIME NOT NULL)"
        )
        conn.execute("INSERT INTO users VALUES (7, 'old', '2026-01-01 00:00:00')")
    store = UserStore(path)
    assert store.get_user(7).name == "old"  # type: ignore[union-attr]
    store.set_token_hash(7, "d" * 64)
    assert store.token_hash(7) == "d" * 64


@pytest.mark.parametrize("user_id", [2**63, -(2**63) - 1, 10**30])
def test_ids_outside_int64_are_unknown_not_crashes(tmp_path: Path, user_id: int) -> None:
    store = UserStore(tmp_path / "u.db")
    assert store.get_user(user_id) is None and not store.has_user(user_id)
    assert store.ratings(user_id).empty and store.token_hash(user_id) is None
    with pytest.raises(UnknownIdError):
        store.add_ratings(user_id, [(1, 4.0)])
    with pytest.raises(UnknownIdError):
        store.set_token_hash(user_id, "e" * 64)
    u = store.create_user(None)
    with pytest.raises(ConfigError, match="out of range"):
        store.add_ratings(u.user_id, [(user_id, 4.0)])
