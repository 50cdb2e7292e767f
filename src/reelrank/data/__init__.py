"""Data layer: MovieLens readers, downloads, the Dataset type and splitters."""

from reelrank.data.dataset import Dataset, Genome, IdMap
from reelrank.data.movielens import bundled_path, detect_layout, load

__all__ = ["Dataset", "Genome", "IdMap", "bundled_path", "detect_layout", "load"]
