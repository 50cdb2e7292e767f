"""Content features: genres, tags, TF-IDF, embeddings, people, reviews, profiles, time."""

from reelrank.features.item_features import ItemFeatures

__all__ = ["ItemFeatures"]
