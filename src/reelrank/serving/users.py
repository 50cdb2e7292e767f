"""Users stored in the profile database: create them, store their ratings, read them back.

:class:`StoredUsers` is the part of :class:`~reelrank.serving.service.RecommenderService`
that talks to its optional :class:`~reelrank.serving.store.UserStore`; stored users are
folded into the model from their ratings, without retraining.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from reelrank.errors import UnknownIdError
from reelrank.serving.catalogue import Catalogue
from reelrank.serving.results import BadRequestError, MatchedInput, MovieInfo, UnmatchedInput

if TYPE_CHECKING:  # the database layer (SQLAlchemy) loads only when a store is used
    from reelrank.serving.store import StoredUser, UserStore

__all__ = ["StoredUsers"]


class StoredUsers:
    """Database-user methods of the service (mixed into ``RecommenderService``).

    Needs ``self.store`` (a ``UserStore`` or None), ``self.catalogue``,
    ``self._min_new_user_id``, ``self._training_user(user_id)`` and
    ``self._user_row(user_id)``.
    """

    store: UserStore | None
    catalogue: Catalogue
    _min_new_user_id: int

    def _training_user(self, user_id: int) -> int | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _user_row(self, user_id: int) -> tuple[int | None, sp.csr_matrix]:  # pragma: no cover
        raise NotImplementedError

    def _stored_row(self, user_id: int) -> sp.csr_matrix | None:
        if self.store is None or not self.store.has_user(user_id):
            return None
        frame = self.store.ratings(user_id)
        return self.catalogue.ids_row(frame["movie_id"].to_numpy(), frame["rating"].to_numpy())

    def create_user(self, name: str | None = None) -> StoredUser:
        """Create a user in the database (ids above every training user's id)."""
        return self._require_store().create_user(name, min_id=self._min_new_user_id)

    def add_ratings(
        self, user_id: int, ratings: Mapping[int | str, float]
    ) -> tuple[int, list[MatchedInput], list[UnmatchedInput]]:
        """Store ratings of a database user (titles are matched first).

        Returns
        -------
        (n_written, matched, unmatched)

        Raises
        ------
        AmbiguousTitleError
            A title matches several movies (nothing is stored).
        """
        store = self._require_store()
        if self._training_user(user_id) is not None and not store.has_user(user_id):
            raise BadRequestError(
                f"user {user_id} is a training user; create a user with POST /users first"
            )
        if not store.has_user(user_id):
            raise UnknownIdError(f"unknown user id: {user_id}")
        resolved, matched, unmatched = self.catalogue.resolve_ratings(ratings)
        movie_id = self.catalogue.movie_id
        n = store.add_ratings(user_id, [(int(movie_id[i]), float(r)) for i, r in resolved.items()])
        return n, matched, unmatched

    def user_ratings(self, user_id: int) -> list[tuple[MovieInfo, float]]:
        """A known or stored user's ratings, highest first."""
        _, row = self._user_row(user_id)
        order = np.lexsort((row.indices, -row.data))
        return [(self.catalogue.info(int(row.indices[k])), float(row.data[k])) for k in order]

    def _require_store(self) -> UserStore:
        if self.store is None:
            raise BadRequestError("no user database configured (start with --db)")
        return self.store
