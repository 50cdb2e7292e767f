"""Tags, decades, people, TF-IDF and item neighbours: known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reelrank.features.content import (
    clean_tags,
    decade_matrix,
    item_neighbours,
    people_matrix,
    tag_matrix,
    tfidf_matrix,
    top_terms,
)


def test_pixar_variants_are_one_tag(tagged):
    tags = clean_tags(tagged.tags)
    m, names = tag_matrix(tags, tagged.n_items)
    assert names.tolist().count("pixar") == 1
    col = names.tolist().index("pixar")
    # "Pixar", "pixar ", "pixar" on movie 0 by three users (user 3 twice) -> count 3
    pix = tags[(tags["tag"] == "pixar")].set_index("item_idx")["count"].to_dict()
    assert pix == {0: 3, 1: 1}
    assert set(m[:, col].nonzero()[0].tolist()) == {0, 1}


def test_clean_tags_min_count_and_collapse(tagged):
    tags = clean_tags(tagged.tags, min_count=2)
    assert "once" not in set(tags["tag"])
    assert "heist movie" in set(tags["tag"])  # "heist  movie" + "Heist Movie"
    assert "world war ii" in set(tags["tag"])
    assert tags["item_idx"].dtype == np.int64
    assert "once" in set(clean_tags(tagged.tags, min_count=1)["tag"])


def test_clean_tags_cap_keeps_most_applied():
    frame = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 1, 2, 1],
            "item_idx": [0, 0, 0, 0, 0, 0],
            "tag": ["a", "a", "a", "b", "b", "c"],
        }
    )
    out = clean_tags(frame, min_count=1, max_per_movie=2)
    assert out["tag"].tolist() == ["a", "b"]
    assert out["count"].tolist() == [3, 2]


def test_clean_tags_empty_and_blank():
    frame = pd.DataFrame({"user_id": [1, 2], "item_idx": [0, 0], "tag": ["  ", None]})
    assert len(clean_tags(frame, min_count=1)) == 0
    assert len(clean_tags(frame.iloc[:0], min_count=1)) == 0
    with pytest.raises(ValueError):
        clean_tags(frame, min_count=0)


@pytest.mark.parametrize(
    ("weighting", "expected"),
    [("binary", [1.0, 1.0]), ("count", [1.0, 0.25]), ("log", [1.0, np.log(2) / np.log(5)])],
)
def test_tag_weighting(weighting, expected):
    tags = pd.DataFrame({"item_idx": [0, 0], "tag": ["a", "b"], "count": [4, 1]})
    m, names = tag_matrix(tags, 2, weighting=weighting)
    assert names.tolist() == ["a", "b"]
    np.testing.assert_allclose(m.toarray(), [expected, [0.0, 0.0]], rtol=1e-6)


def test_decades_unknown_year_is_zero_row():
    m, names = decade_matrix(pd.array([1995, None, 2001, 1990], dtype="Int32"))
    assert names.tolist() == ["1990s", "2000s"]
    np.testing.assert_array_equal(m.toarray(), [[1, 0], [0, 0], [0, 1], [1, 0]])


def test_people_names_normalised(tagged):
    m, names = people_matrix(tagged.people, tagged.n_items)
    assert names.tolist() == ["john lasseter", "steven spielberg", "tom hanks"]
    dense = m.toarray()
    np.testing.assert_array_equal(dense[:, 0], [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(dense[:, 2], [1, 0, 0, 0, 0, 1])
    m2, names2 = people_matrix(tagged.people, tagged.n_items, min_count=2)
    assert names2.tolist() == ["john lasseter", "tom hanks"]
    assert m2.shape == (6, 2)


def test_tfidf_known_answer():
    docs = ["apple banana", "apple", "", "cherry cherry"]
    m, terms, vec = tfidf_matrix(docs, max_features=100)
    assert terms.tolist() == ["apple", "banana", "cherry"]
    dense = m.toarray()
    assert np.all(dense[2] == 0)
    np.testing.assert_allclose(np.linalg.norm(dense[[0, 1, 3]], axis=1), 1.0, rtol=1e-6)
    # smooth idf: apple ln(5/3)+1, banana ln(5/2)+1; doc 0 = normalised (idf_a, idf_b)
    idf_a, idf_b = np.log(5 / 3) + 1, np.log(5 / 2) + 1
    np.testing.assert_allclose(
        dense[0, :2], np.array([idf_a, idf_b]) / np.hypot(idf_a, idf_b), rtol=1e-5
    )
    np.testing.assert_allclose(dense[1], [1, 0, 0])
    again, _, _ = tfidf_matrix(["banana"], vectorizer=vec)
    np.testing.assert_allclose(again.toarray(), [[0, 1, 0]])
    with pytest.raises(ValueError):
        tfidf_matrix(["", " "])


def test_item_neighbours_matches_brute_force():
    rng = np.random.default_rng(3)
    dense = rng.random((57, 12)) * (rng.random((57, 12)) < 0.3)
    for matrix in (dense, sp.csr_matrix(dense)):
        idx, scores = item_neighbours(matrix, k=5, batch_size=7)
        norms = np.linalg.norm(dense, axis=1)
        safe = np.where(norms > 0, norms, 1)
        sims = (dense / safe[:, None]) @ (dense / safe[:, None]).T
        np.fill_diagonal(sims, -np.inf)
        for i in range(57):
            valid = idx[i] >= 0
            expected = np.sort(sims[i][sims[i] > 1e-7])[::-1][:5]
            np.testing.assert_allclose(scores[i][valid], expected, rtol=1e-5)
            assert i not in idx[i]
            np.testing.assert_allclose(sims[i, idx[i][valid]], scores[i][valid], rtol=1e-5)
            assert np.all(scores[i][~valid] == 0)


def test_item_neighbours_subset_and_zero_rows():
    m = sp.csr_matrix(np.array([[1.0, 0], [1.0, 1.0], [0, 0], [0, 1.0]]))
    idx, scores = item_neighbours(m, k=3, item_idx=np.array([0, 2]))
    assert idx.shape == (2, 3)
    assert idx[0].tolist() == [1, -1, -1]
    np.testing.assert_allclose(scores[0], [1 / np.sqrt(2), 0, 0], rtol=1e-6)
    assert idx[1].tolist() == [-1, -1, -1]


def test_top_terms(tagged):
    from reelrank.features.builder import build_item_features

    features = build_item_features(tagged)
    terms = top_terms(features, 0, 3)
    assert len(terms) == 3
    assert terms[0][1] >= terms[1][1] >= terms[2][1]
    assert {t for t, _ in top_terms(features, 0, 50)} >= {"toy", "pixar", "toys", "animation"}
    assert top_terms(features, 4, 5) == [("untitled", pytest.approx(1.0))]
