"""API-key and per-user-token authentication for the HTTP API (FastAPI security dependencies).

Two kinds of credentials, both sent as ``Authorization: Bearer <secret>``:

- the server's **API key**, given to :func:`~reelrank.serving.api.create_app` (``reelrank
  serve`` reads it from ``REELRANK_API_KEY`` or ``--api-key-file``; the library never reads
  the environment). It authorises everything.
- a **user token**, issued once by ``POST /users`` and stored only as its SHA-256 hash in
  the user database. It authorises that user's own reads and writes.

With an API key configured, write endpoints and reads that reveal a stored user's ratings
need one of them (``401`` without); training users (the
public data set) stay readable. Without a key nothing is checked: ``reelrank serve`` then
binds only to a loopback address. Secrets are compared in constant time
(:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

if TYPE_CHECKING:
    from reelrank.serving.service import RecommenderService

__all__ = [
    "MIN_API_KEY_LENGTH",
    "Guard",
    "bearer_scheme",
    "hash_token",
    "new_user_token",
]

MIN_API_KEY_LENGTH = 16
"""Shortest API key accepted (a key is a secret, not a password to remember)."""

_TOKEN_PREFIX = "rru_"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="The server's API key, or the user token that POST /users returned.",
)


def new_user_token() -> str:
    """A fresh random user token (256 bits, URL-safe)."""
    return _TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as stored in the user database.

    A fast hash is enough: tokens are 256 random bits, not guessable passwords.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _same(secret: str, expected: str) -> bool:
    return hmac.compare_digest(
        secret.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class Guard:
    """Decides who may do what; one per application.

    Parameters
    ----------
    service
        The service (its training users and user store).
    api_key
        The server's API key, or None for an open server (nothing is checked).
    """

    service: RecommenderService
    api_key: str | None = None

    def __post_init__(self) -> None:
        if self.api_key is not None:
            if not isinstance(self.api_key, str) or len(self.api_key) < MIN_API_KEY_LENGTH:
                raise ValueError(f"the API key must be at least {MIN_API_KEY_LENGTH} characters")

    @property
    def enabled(self) -> bool:
        """Whether credentials are checked (an API key is configured)."""
        return self.api_key is not None

    @property
    def mode(self) -> str:
        """A short description of the authentication mode (for logs and ``/health``)."""
        return "api-key" if self.enabled else "open"

    def _is_admin(self, credentials: HTTPAuthorizationCredentials | None) -> bool:
        return (
            self.api_key is not None
            and credentials is not None
            and _same(credentials.credentials, self.api_key)
        )

    def require_key(self, credentials: HTTPAuthorizationCredentials | None) -> None:
        """Let the request through only with the API key (when one is configured).

        Raises
        ------
        fastapi.HTTPException
            401 without valid credentials.
        """
        if not self.enabled or self._is_admin(credentials):
            return
        if credentials is None:
            raise _unauthorised("this endpoint needs 'Authorization: Bearer <API key>'")
        raise _unauthorised("invalid API key")

    def require_user(self, user_id: int, credentials: HTTPAuthorizationCredentials | None) -> None:
        """Let the request through with the API key or user ``user_id``'s own token.

        Raises
        ------
        fastapi.HTTPException
            401 without the API key or this user's token.
        """
        if not self.enabled or self._is_admin(credentials):
            return
        if credentials is None:
            raise _unauthorised(
                f"user {user_id} is a stored profile: send 'Authorization: Bearer <token>' "
                "with the API key or the user's token"
            )
        store = self.service.store
        token = credentials.credentials
        if store is not None and token.startswith(_TOKEN_PREFIX):
            expected = store.token_hash(user_id)
            if expected is not None and _same(hash_token(token), expected):
                return
        raise _unauthorised(f"invalid credentials for user {user_id}: use the API key or its token")

    def require_reader(
        self, user_id: int, credentials: HTTPAuthorizationCredentials | None
    ) -> None:
        """Guard a per-user read: training users are public, stored users are not.

        Raises
        ------
        fastapi.HTTPException
            As :meth:`require_user`, for any user id that is not a training user (also
            unknown ones, so that anonymous clients cannot probe which profiles exist).
        """
        if not self.enabled:
            return
        users = self.service.artifact.users
        if users.index([int(user_id)], missing="mask")[0] >= 0:
            return
        self.require_user(user_id, credentials)
