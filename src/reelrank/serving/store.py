"""User profiles in a SQL database (SQLAlchemy 2).

A SQLite file is the default (WAL journal, a busy timeout, foreign keys on), so several
processes can write at once without losing a rating; any SQLAlchemy URL (PostgreSQL...) works
by configuration. Three tables::

    users       (id PK, name, created)
    ratings     (user_id FK -> users.id, movie_id, rating, timestamp; UNIQUE (user_id, movie_id))
    user_tokens (user_id PK, FK -> users.id, token_hash, created)

Rating a movie twice keeps the latest rating (an upsert). ``user_tokens`` holds only a hash
of each user's API token (the HTTP API issues the token once, see
:mod:`reelrank.serving.api_security`); a database from before it gains the table on open.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from reelrank.errors import ConfigError, ReelrankError, UnknownIdError

logger = logging.getLogger(__name__)

__all__ = ["StoredUser", "UserStore", "sqlite_url"]

_metadata = MetaData()

users_table = Table(
    "users",
    _metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("name", String(200), nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
)

ratings_table = Table(
    "ratings",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("movie_id", BigInteger, nullable=False),
    Column("rating", Float, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    UniqueConstraint("user_id", "movie_id", name="uq_user_movie"),
)

user_tokens_table = Table(
    "user_tokens",
    _metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("token_hash", String(128), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class StoredUser:
    """A user profile row."""

    user_id: int
    name: str | None
    created: str


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _fits_int64(value: int) -> bool:
    """Whether an id fits the database's 64-bit integer columns."""
    return _INT64_MIN <= int(value) <= _INT64_MAX


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class UserStore:
    """User profiles and their ratings in a SQL database.

    Parameters
    ----------
    url
        A SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://...``) or a plain
        file path, taken as a SQLite file.
    echo
        Log SQL statements.

    Examples
    --------
    >>> store = UserStore("sqlite://")          # in memory
    >>> u = store.create_user("ann", min_id=1000)
    >>> store.add_ratings(u.user_id, [(1, 5.0), (2, 3.5)])
    2
    >>> store.ratings(u.user_id)["movie_id"].tolist()
    [1, 2]
    """

    def __init__(self, url: str | os.PathLike[str], *, echo: bool = False) -> None:
        url = str(url)
        if "://" not in url:
            url = sqlite_url(url)
        self.url = url
        try:
            self.engine: Engine = create_engine(url, echo=echo, future=True)
        except Exception as e:  # bad URL or missing driver
            raise ConfigError(f"cannot open user database {url!r}: {e}") from None
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            _metadata.create_all(self.engine)
        except OperationalError as e:
            raise ConfigError(f"cannot open user database {url!r}: {e.orig}") from None

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> UserStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ users
    def create_user(self, name: str | None = None, *, min_id: int = 1) -> StoredUser:
        """Create a user with a new id ``>= min_id`` (above the training users' ids).

        The id is chosen inside the INSERT statement (``max(id) + 1``), so concurrent
        creations never reuse an id; a collision on other databases is retried.
        """
        if name is not None and len(name) > 200:
            raise ConfigError("user name longer than 200 characters")
        created = dt.datetime.now(dt.UTC)
        next_id = func.max(func.coalesce(func.max(users_table.c.id) + 1, min_id), min_id)
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    stmt = insert(users_table).from_select(
                        ["id", "name", "created"],
                        select(next_id, literal(name, String), literal(created, DateTime)),
                    )
                    result = conn.execute(stmt.returning(users_table.c.id))
                    user_id = int(result.scalar_one())
                return StoredUser(user_id, name, created.isoformat(timespec="seconds"))
            except IntegrityError:
                time.sleep(0.01 * (attempt + 1))
        raise ReelrankError("could not allocate a user id (too many concurrent creations)")

    def get_user(self, user_id: int) -> StoredUser | None:
        """The user with this id, or None."""
        if not _fits_int64(user_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users_table).where(users_table.c.id == int(user_id))
            ).one_or_none()
        if row is None:
            return None
        created = row.created
        return StoredUser(
            int(row.id),
            row.name,
            created.isoformat(timespec="seconds")
            if hasattr(created, "isoformat")
            else str(created),
        )

    def set_token_hash(self, user_id: int, token_hash: str) -> None:
        """Store (or replace) the hash of a user's API token.

        Raises
        ------
        UnknownIdError
            If the user does not exist.
        ConfigError
            If ``token_hash`` is empty or longer than 128 characters.
        """
        if not token_hash or len(token_hash) > 128:
            raise ConfigError("token hash must be 1..128 characters")
        if not _fits_int64(user_id):
            raise UnknownIdError(f"unknown user id: {user_id}")
        row = {
            "user_id": int(user_id),
            "token_hash": str(token_hash),
            "created": dt.datetime.now(dt.UTC),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    user_tokens_table.delete().where(user_tokens_table.c.user_id == int(user_id))
                )
                conn.execute(insert(user_tokens_table), row)
        except IntegrityError as e:
            raise UnknownIdError(f"unknown user id: {user_id}") from e

    def token_hash(self, user_id: int) -> str | None:
        """The stored hash of a user's API token, or None (no such user, or no token)."""
        if not _fits_int64(user_id):
            return None
        with self.engine.connect() as conn:
            value = conn.execute(
                select(user_tokens_table.c.token_hash).where(
                    user_tokens_table.c.user_id == int(user_id)
                )
            ).scalar_one_or_none()
        return None if value is None else str(value)

    def has_user(self, user_id: int) -> bool:
        """Whether a user with this id exists."""
        return self.get_user(user_id) is not None

    def max_user_id(self) -> int:
        """Largest user id (0 when empty)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(users_table.c.id), 0))).scalar())

    def n_users(self) -> int:
        """Number of users."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(users_table)).scalar())

    # ------------------------------------------------------------------ ratings
    def add_ratings(
        self,
        user_id: int,
        ratings: Iterable[tuple[int, float]] | Iterable[tuple[int, float, int]],
    ) -> int:
        """Insert or update ratings ``(movie_id, rating[, timestamp])`` of a user.

        Returns
        -------
        int
            Number of ratings written.

        Raises
        ------
        UnknownIdError
            If the user does not exist.
        ConfigError
            If a rating is not a finite number.
        """
        now = int(time.time())
        rows: dict[int, dict[str, Any]] = {}
        for r in ratings:
            movie_id, rating = int(r[0]), float(r[1])
            ts = int(r[2]) if len(r) > 2 else now  # type: ignore[misc]
            if not (_fits_int64(movie_id) and _fits_int64(ts)):
                raise ConfigError(f"movie id {movie_id} or timestamp {ts} is out of range")
            if not math.isfinite(rating):
                raise ConfigError(f"rating for movie {movie_id} is not a finite number")
            rows[movie_id] = {
                "user_id": int(user_id),
                "movie_id": movie_id,
                "rating": rating,
                "timestamp": ts,
            }
        if not rows:
            return 0
        if not _fits_int64(user_id):
            raise UnknownIdError(f"unknown user id: {user_id}")
        values = list(rows.values())
        try:
            with self.engine.begin() as conn:
                conn.execute(self._upsert(), values)
        except IntegrityError as e:
            raise UnknownIdError(f"unknown user id: {user_id}") from e
        return len(values)

    def _upsert(self) -> Any:
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        elif name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:  # pragma: no cover - other databases
            raise ConfigError(f"user store supports SQLite and PostgreSQL, not {name}")
        stmt = dialect_insert(ratings_table)
        return stmt.on_conflict_do_update(
            index_elements=["user_id", "movie_id"],
            set_={"rating": stmt.excluded.rating, "timestamp": stmt.excluded.timestamp},
        )

    def ratings(self, user_id: int) -> pd.DataFrame:
        """A user's ratings: columns ``movie_id``, ``rating``, ``timestamp`` (by movie id)."""
        rows: list[Any] = []
        if _fits_int64(user_id):  # else no such user: an empty frame
            with self.engine.connect() as conn:
                rows = list(
                    conn.execute(
                        select(
                            ratings_table.c.movie_id,
                            ratings_table.c.rating,
                            ratings_table.c.timestamp,
                        )
                        .where(ratings_table.c.user_id == int(user_id))
                        .order_by(ratings_table.c.movie_id)
                    ).all()
                )
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        return pd.DataFrame(
            {
                "movie_id": arr[:, 0].astype(np.int64),
                "rating": arr[:, 1].astype(np.float32),
                "timestamp": arr[:, 2].astype(np.int64),
            }
        )

    def n_ratings(self) -> int:
        """Total number of stored ratings."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ratings_table)).scalar())
