"""build_item_features: families, blocks, leakage, empty movies, persistence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reelrank.data.split import temporal_split
from reelrank.errors import ConfigError
from reelrank.features import FeatureConfig, ItemFeatures, build_item_features


def _col(features: ItemFeatures, name: str) -> np.ndarray:
    cols = np.flatnonzero(features.names == name)
    assert len(cols) == 1, f"{name}: {len(cols)} columns"
    return features.sparse[:, cols[0]].toarray().ravel()


def test_families_and_tokens(tagged):
    f = build_item_features(tagged)
    fam = f.families()
    assert fam == {"decade": 2, "genre": 7, "person": 3, "tag": 4}
    np.testing.assert_array_equal(_col(f, "tag:pixar") > 0, [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(_col(f, "genre:Comedy"), [1, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(_col(f, "decade:1990s"), [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(_col(f, "person:tom hanks"), [1, 0, 0, 0, 0, 1])
    assert "tag:once" not in set(f.names)
    assert f.meta["families"]["tag"] == 4
    assert f.meta["tfidf_vocabulary"] == len(f.tfidf_terms)
    assert set(f.meta["seconds"]) >= {"genres", "tags", "tfidf", "total"}
    assert f.dense["genome"].shape == (6, 3)  # added automatically when present


def test_config_options(tagged):
    cfg = FeatureConfig(include_decades=False, include_people=False, min_tag_count=1)
    f = build_item_features(tagged, cfg)
    assert set(f.families()) == {"genre", "tag"}
    assert "tag:once" in set(f.names)
    with pytest.raises(ConfigError):
        FeatureConfig(min_tag_count=0)
    with pytest.raises(ConfigError):
        FeatureConfig(tag_weighting="tfidf")
    with pytest.raises(ConfigError, match="unknown feature block"):
        build_item_features(tagged, blocks={"embeddings"})


def test_movie_without_tags_or_genres_is_zero_not_nan(tagged_plain):
    f = build_item_features(tagged_plain)
    assert f.sparse[4].nnz == 1  # only decade:2000s
    assert _col(f, "decade:2000s")[4] == 1
    assert f.sparse[5, np.flatnonzero(np.char.startswith(f.names, "decade:"))].nnz == 0
    for m in (f.sparse, f.tfidf):
        assert np.isfinite(m.data).all()
    assert "genome" not in f.dense


def test_genome_block_values(tagged):
    g = build_item_features(tagged).dense["genome"]
    np.testing.assert_allclose(g[0], [0.9, 0.1, 0.0])
    np.testing.assert_allclose(g[2], [0.0, 0.2, 0.8])
    assert not g[[1, 3, 4, 5]].any()


def test_temporal_split_tag_never_leaks(make_tagged):
    # "spoiler" is applied by two users long after the last rating: only test-period info
    late = [(1, 3, "spoiler", 10_000), (2, 3, "Spoiler", 10_001)]
    ds = make_tagged(extra_tags=late)
    full = build_item_features(ds)
    assert "tag:spoiler" in set(full.names)
    assert "spoiler" in set(full.tfidf_terms)
    train = temporal_split(ds, 0.2).train
    f = build_item_features(train)
    assert "tag:spoiler" not in set(f.names)
    assert "spoiler" not in set(f.tfidf_terms)


def test_test_part_changes_do_not_change_features(make_tagged):
    ds = make_tagged()
    changed = make_tagged(extra_tags=[(1, 2, "afterwards", 9_000), (3, 2, "afterwards", 9_001)])
    split_a, split_b = temporal_split(ds, 0.3), temporal_split(changed, 0.3)
    data = changed.interactions.data.copy()
    data[:] = 0.5
    changed2 = replace(
        changed,
        interactions=changed.interactions.__class__(
            (data, changed.interactions.indices, changed.interactions.indptr),
            shape=changed.interactions.shape,
        ),
    )
    fa = build_item_features(split_a.train)
    fb = build_item_features(split_b.train)
    assert (fa.sparse != fb.sparse).nnz == 0
    np.testing.assert_array_equal(fa.names, fb.names)
    np.testing.assert_array_equal(fa.tfidf_terms, fb.tfidf_terms)
    assert (fa.tfidf != fb.tfidf).nnz == 0
    # ratings are not an input of item features at all
    fc = build_item_features(changed2)
    fd = build_item_features(changed)
    assert (fc.sparse != fd.sparse).nnz == 0


def test_save_load_round_trip(tagged, tmp_path):
    f = build_item_features(tagged)
    f.save(tmp_path / "feat")
    g = ItemFeatures.load(tmp_path / "feat")
    assert (f.sparse != g.sparse).nnz == 0
    assert (f.tfidf != g.tfidf).nnz == 0
    np.testing.assert_array_equal(f.names, g.names)
    np.testing.assert_array_equal(f.dense["genome"], g.dense["genome"])
    assert g.meta["families"] == f.meta["families"]


def test_embedding_blocks_with_fake_encoder(tagged, fake_encoder, tmp_path):
    f = build_item_features(tagged, blocks={"embedding:all"}, cache_dir=tmp_path)
    expected = {"embedding", "genome"} | {
        f"embedding:{x}" for x in ("title", "genres", "tags", "people", "reviews")
    }
    assert set(f.dense) == expected
    for name in expected - {"genome"}:
        block = f.dense[name]
        assert block.shape == (6, 384) and block.dtype == np.float32
        norms = np.linalg.norm(block, axis=1)
        assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))
    # movie 4 has no tags, no people, no reviews: zero rows there, never NaN
    for name in ("embedding:tags", "embedding:people", "embedding:reviews"):
        assert not f.dense[name][4].any()
    assert np.linalg.norm(f.dense["embedding"][4]) == pytest.approx(1.0)
    # second build: all from the cache, no encoding
    calls = fake_encoder.calls
    build_item_features(tagged, blocks={"embedding:all"}, cache_dir=tmp_path)
    assert fake_encoder.calls == calls


def test_missing_embedding_field_is_an_error(tagged_plain, fake_encoder, tmp_path):
    with pytest.raises(ConfigError, match="no people"):
        build_item_features(tagged_plain, blocks={"embedding:people"}, cache_dir=tmp_path)
    f = build_item_features(tagged_plain, blocks={"embedding:all"}, cache_dir=tmp_path)
    assert "embedding:people" not in f.dense and "embedding:tags" in f.dense


def test_bundled_build(bundled):
    f = build_item_features(bundled)
    fam = f.families()
    assert fam["genre"] == 19 and fam["tag"] > 100
    toy = int(bundled.items.index(1))
    row = set(f.names[f.sparse[toy].indices])
    assert {"genre:Animation", "tag:pixar", "decade:1990s"} <= row


@pytest.mark.parametrize("damage", ["truncate", "fifo", "directory", "missing-key"])
def test_damaged_feature_files_are_an_artifact_error(tagged, tmp_path, damage):
    """A truncated archive, a FIFO or a folder in its place: ArtifactError, never a hang."""
    import os

    from reelrank.errors import ArtifactError

    out = tmp_path / "f"
    build_item_features(tagged).save(out)
    npz = out / "features.npz"
    if damage == "truncate":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    elif damage == "fifo":
        npz.unlink()
        os.mkfifo(npz)
    elif damage == "directory":
        npz.unlink()
        npz.mkdir()
    else:
        with np.load(npz) as f:
            arrays = {k: f[k] for k in f.files if k != "sparse_indptr"}
        np.savez(npz, **arrays)
    with pytest.raises(ArtifactError, match="feature"):
        ItemFeatures.load(out)
