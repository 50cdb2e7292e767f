"""Content features: genres, tags, TF-IDF, embeddings, people, reviews, profiles, time.

The names below are imported lazily (on first attribute access), so that loading an
artifact's :class:`ItemFeatures` does not import scikit-learn or sentence-transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelrank._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from reelrank.features.builder import EMBEDDING_FIELDS, FeatureConfig, build_item_features
    from reelrank.features.content import (
        clean_tags,
        item_neighbours,
        tag_matrix,
        tfidf_matrix,
        top_terms,
    )
    from reelrank.features.item_features import ItemFeatures
    from reelrank.features.profiles import (
        cosine_to_items,
        genre_matrix,
        pairwise_cosine,
        user_profiles,
    )
    from reelrank.features.text import embed_texts, movie_texts
    from reelrank.features.time import dataset_time_features, interaction_time_features

#: public name -> module of ``reelrank.features`` that defines it
_EXPORTS: dict[str, str] = {
    "EMBEDDING_FIELDS": "builder",
    "FeatureConfig": "builder",
    "build_item_features": "builder",
    "clean_tags": "content",
    "item_neighbours": "content",
    "tag_matrix": "content",
    "tfidf_matrix": "content",
    "top_terms": "content",
    "ItemFeatures": "item_features",
    "cosine_to_items": "profiles",
    "genre_matrix": "profiles",
    "pairwise_cosine": "profiles",
    "user_profiles": "profiles",
    "embed_texts": "text",
    "movie_texts": "text",
    "dataset_time_features": "time",
    "interaction_time_features": "time",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "EMBEDDING_FIELDS",
    "FeatureConfig",
    "ItemFeatures",
    "build_item_features",
    "clean_tags",
    "cosine_to_items",
    "dataset_time_features",
    "embed_texts",
    "genre_matrix",
    "interaction_time_features",
    "item_neighbours",
    "movie_texts",
    "pairwise_cosine",
    "tag_matrix",
    "tfidf_matrix",
    "top_terms",
    "user_profiles",
]
