"""reelrank: a hybrid movie recommender.

Collaborative filtering and content features over MovieLens-format data, measured under
named evaluation protocols and served through one service object (CLI, HTTP API, web app).
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
