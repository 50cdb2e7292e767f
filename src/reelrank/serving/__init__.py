"""Serving: artifacts, the recommender service, title matching, user store, HTTP API, web app.

The CLI (``reelrank train/recommend/similar/explain/serve/app``), the FastAPI app
(:func:`reelrank.serving.api.create_app`) and the Streamlit app all call one
:class:`RecommenderService`.

The names below are imported lazily (on first attribute access), so that answering from an
artifact does not import the database layer (SQLAlchemy) unless a user store is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelrank._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from reelrank.serving.artifact import Artifact, load_artifact, save_artifact
    from reelrank.serving.service import RecommenderService
    from reelrank.serving.store import UserStore
    from reelrank.serving.titles import TitleMatcher

#: public name -> module of ``reelrank.serving`` that defines it
_EXPORTS: dict[str, str] = {
    "Artifact": "artifact",
    "load_artifact": "artifact",
    "save_artifact": "artifact",
    "RecommenderService": "service",
    "UserStore": "store",
    "TitleMatcher": "titles",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "Artifact",
    "RecommenderService",
    "TitleMatcher",
    "UserStore",
    "load_artifact",
    "save_artifact",
]
