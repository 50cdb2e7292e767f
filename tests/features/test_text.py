"""Movie texts and sentence embeddings (fake encoder for the cache; the real model, slow)."""

from __future__ import annotations

import numpy as np
import pytest

import reelrank.features.text as text
from reelrank.features.content import clean_tags
from reelrank.features.text import embed_texts, movie_texts


def test_movie_texts_fields(tagged):
    t = movie_texts(tagged, clean_tags(tagged.tags), max_reviews_per_movie=5)
    assert set(t) == {"title", "genres", "tags", "people", "reviews", "combined"}
    assert all(len(v) == 6 for v in t.values())
    assert t["title"][0] == "Toy Story (1995)"
    assert t["title"][5] == "Saving Private Ryan"  # unknown year
    assert t["genres"][0] == "Animation, Comedy"
    assert t["tags"][0] == "pixar, toys"
    assert t["tags"][4] == "" and t["genres"][4] == ""
    assert t["reviews"][0] == "Great fun for kids. Woody and Buzz!"  # de-duplicated
    assert t["combined"][0].startswith("Toy Story (1995). Genres: Animation, Comedy. Tags: pixar")
    assert "People: John Lasseter, Tom Hanks" in t["combined"][0]
    assert t["combined"][4] == "Untitled (2001)"
    capped = movie_texts(tagged, max_reviews_per_movie=1, max_review_chars=5)
    assert capped["reviews"][0] == "Great"


def test_embed_cache_hit_and_miss(fake_encoder, tmp_path):
    texts = ["a funny toy", "", "war", "a funny toy"]
    first = embed_texts(texts, cache_dir=tmp_path)
    assert first.shape == (4, 384) and first.dtype == np.float32
    assert not first[1].any()
    np.testing.assert_array_equal(first[0], first[3])
    assert fake_encoder.texts == ["a funny toy", "war"]  # unique, non-empty only
    assert len(list(tmp_path.glob("*.npy"))) == 1
    calls = fake_encoder.calls
    second = embed_texts(texts, cache_dir=tmp_path)
    assert fake_encoder.calls == calls
    np.testing.assert_array_equal(first, second)
    embed_texts([*texts, "new"], cache_dir=tmp_path)
    assert fake_encoder.calls == calls + 1


def test_texts_embedded_before_are_reused_one_by_one(fake_encoder, tmp_path):
    # the features of a training part and of all the data share most texts
    first = embed_texts(["a funny toy", "war", "space"], cache_dir=tmp_path)
    fake_encoder.texts = []
    again = embed_texts(["war", "a funny toy", "new text", ""], cache_dir=tmp_path)
    assert fake_encoder.texts == ["new text"]  # only the unseen text is encoded
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[1], first[0])
    assert again[2].any() and not again[3].any()
    # a damaged store is ignored (the texts are encoded again), not an error
    for store in tmp_path.glob("*.texts.npz"):
        store.write_bytes(b"garbage")
    fake_encoder.texts = []
    embed_texts(["space", "war"], cache_dir=tmp_path)
    assert sorted(fake_encoder.texts) == ["space", "war"]


def test_cache_hit_never_loads_the_model(fake_encoder, tmp_path, monkeypatch):
    embed_texts(["x y"], cache_dir=tmp_path)

    def boom(name: str) -> None:
        raise AssertionError("model loaded on a cache hit")

    monkeypatch.setattr(text, "_load_model", boom)
    assert embed_texts(["x y"], cache_dir=tmp_path).shape == (1, 384)
    with pytest.raises(AssertionError):
        embed_texts(["x y z"], cache_dir=tmp_path)


def test_unknown_model_name(tmp_path):
    from reelrank.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown embedding model"):
        embed_texts(["hello"], cache_dir=tmp_path, model_name="no-such-model")


@pytest.mark.slow
def test_real_model_semantics(tmp_path):
    texts = [
        "a funny animated toy adventure",
        "cartoon comedy about toys",
        "brutal war documentary",
    ]
    emb = embed_texts(texts, cache_dir=tmp_path, batch_size=2)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.1
    assert sims[0, 1] > sims[1, 2]
