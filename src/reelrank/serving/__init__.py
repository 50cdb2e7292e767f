"""Serving: artifacts, the recommender service, title matching, user store, HTTP API, web app.

The CLI (``reelrank train/recommend/similar/explain/serve/app``), the FastAPI app
(:func:`reelrank.serving.api.create_app`) and the Streamlit app all call one
:class:`RecommenderService`.
"""

from reelrank.serving.artifact import Artifact, load_artifact, save_artifact
from reelrank.serving.service import RecommenderService
from reelrank.serving.store import UserStore
from reelrank.serving.titles import TitleMatcher

__all__ = [
    "Artifact",
    "RecommenderService",
    "TitleMatcher",
    "UserStore",
    "load_artifact",
    "save_artifact",
]
