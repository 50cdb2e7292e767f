"""Content features: genres, tags, TF-IDF, embeddings, people, reviews, profiles, time."""

from reelrank.features.builder import EMBEDDING_FIELDS, FeatureConfig, build_item_features
from reelrank.features.content import (
    clean_tags,
    item_neighbours,
    tag_matrix,
    tfidf_matrix,
    top_terms,
)
from reelrank.features.item_features import ItemFeatures
from reelrank.features.profiles import cosine_to_items, genre_matrix, pairwise_cosine, user_profiles
from reelrank.features.text import embed_texts, movie_texts
from reelrank.features.time import dataset_time_features, interaction_time_features

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
