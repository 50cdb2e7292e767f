"""Fixtures of the feature tests: a tiny catalogue with tags, people, reviews and a genome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from reelrank.data.dataset import Dataset, Genome, IdMap


def tagged_dataset(extra_tags: list[tuple[int, int, str, int]] | None = None) -> Dataset:
    """6 movies x 4 users with tags, people, reviews and a 3-tag genome.

    Movie 5 (index 4) has no genres and no tags; movie 6 (index 5) has no year.
    """
    n_items = 6
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_items + 1),
            "title": [
                "Toy Story",
                "Toy Story 2",
                "Heat",
                "Grumpier Old Men",
                "Untitled",
                "Saving Private Ryan",
            ],
            "year": pd.array([1995, 1999, 1995, 1995, 2001, None], dtype="Int32"),
            "genres": [
                ["Animation", "Comedy"],
                ["Animation", "Comedy"],
                ["Action", "Crime"],
                ["Comedy", "Romance"],
                [],
                ["Drama", "War"],
            ],
        }
    )
    users = IdMap(np.arange(1, 5), name="user")
    items = IdMap(np.arange(1, n_items + 1), name="movie")
    rows = [
        (0, 0, 5.0, 100),
        (0, 1, 4.0, 200),
        (0, 3, 3.0, 300),
        (1, 2, 4.5, 150),
        (1, 5, 4.0, 250),
        (2, 0, 2.0, 120),
        (2, 3, 5.0, 220),
        (3, 1, 3.5, 130),
        (3, 5, 1.0, 230),
    ]
    u, i, r, t = (np.array(c) for c in zip(*rows, strict=True))
    tag_rows = [
        (1, 0, "Pixar", 100),
        (2, 0, "pixar ", 101),
        (3, 0, "pixar", 102),
        (3, 0, "pixar", 103),  # the same user twice: counts once
        (1, 1, "PIXAR", 104),
        (1, 0, "toys", 105),
        (2, 1, "Toys", 106),
        (1, 2, "heist  movie", 107),
        (2, 2, "Heist Movie", 108),
        (4, 2, "once", 109),  # applied once: below min_tag_count=2
        (2, 5, "world war  ii", 110),
        (3, 5, "World War II", 111),
    ]
    tag_rows += extra_tags or []
    tags = pd.DataFrame(tag_rows, columns=["user_id", "item_idx", "tag", "timestamp"])
    people = pd.DataFrame(
        {
            "item_idx": [0, 1, 0, 5, 5],
            "role": ["director", "director", "cast", "director", "cast"],
            "name": [
                "John Lasseter",
                "John  Lasseter ",
                "Tom Hanks",
                "Steven Spielberg",
                "tom hanks",
            ],
        }
    )
    reviews = pd.DataFrame(
        {
            "item_idx": [0, 0, 0, 2],
            "text": ["Great fun for kids.", "Great fun for kids.", "Woody and Buzz!", "Tense."],
        }
    )
    genome = Genome(
        item_idx=np.array([0, 2]),
        relevance=np.array([[0.9, 0.1, 0.0], [0.0, 0.2, 0.8]], dtype=np.float32),
        tags=np.array(["pixar", "romance", "heist"]),
    )
    return Dataset.from_arrays(
        u,
        i,
        r,
        t,
        users=users,
        items=items,
        movies=movies,
        tags=tags,
        people=people,
        reviews=reviews,
        genome=genome,
        layout="synthetic",
        name="tagged",
    )


@pytest.fixture
def tagged() -> Dataset:
    """See :func:`tagged_dataset`."""
    return tagged_dataset()


@pytest.fixture
def make_tagged() -> Callable[..., Dataset]:
    """The :func:`tagged_dataset` factory (to add extra tag rows)."""
    return tagged_dataset


@pytest.fixture
def tagged_plain(tagged: Dataset) -> Dataset:
    """:func:`tagged_dataset` without people, reviews or genome."""
    return replace(tagged, people=None, reviews=None, genome=None)


class FakeEncoder:
    """Deterministic stand-in for a SentenceTransformer: bag of hashed words, normalised."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []

    def encode(self, texts: list[str], **kwargs: object) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, sum(map(ord, word)) % 384] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


@pytest.fixture
def fake_encoder(monkeypatch: pytest.MonkeyPatch) -> FakeEncoder:
    """Replace the sentence model loader with :class:`FakeEncoder` (fast, offline)."""
    import reelrank.features.text as text

    enc = FakeEncoder()
    monkeypatch.setattr(text, "_load_model", lambda name: enc)
    return enc
