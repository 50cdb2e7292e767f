"""Tags, decades, people, TF-IDF and item neighbours: known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reelrank.features.content import (
    clean_tags,
    decade_matrix,
    field_tfidf_matrix,
    item_neighbours,
    people_matrix,
    similarity_vectors,
    tag_matrix,
    tfidf_fields,
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


def test_field_tfidf_known_answer():
    # title words weigh 0.25, genres 1: a shared genre set outweighs a shared title word
    fields = {
        "title": ["toy story", "toy soldiers", "bugs life"],
        "genre": ["Animation|Children", "Action", "Animation|Children"],
    }
    m, terms, _ = field_tfidf_matrix(fields, weights={"title": 0.25, "genre": 1.0})
    assert "genre:animation" in terms.tolist() and "title:toy" in terms.tolist()
    sims = (m @ m.T).toarray()
    np.testing.assert_allclose(np.diag(sims), 1.0, rtol=1e-6)
    # same genres, no title word in common: 1 * 1 / (0.25 + 1)
    assert sims[0, 2] == pytest.approx(0.8, abs=1e-5)
    # one title word in common ("toy", idf ln(4/3)+1 vs ln(4/2)+1), no genre: 0.25 * cos / 1.25
    idf_toy, idf_rare = np.log(4 / 3) + 1, np.log(4 / 2) + 1
    title_cos = idf_toy**2 / (idf_toy**2 + idf_rare**2)
    assert sims[0, 1] == pytest.approx(0.25 * title_cos / 1.25, abs=1e-5)
    with pytest.raises(ValueError, match="no text"):
        field_tfidf_matrix({"title": ["", " "]})
    with pytest.raises(ValueError, match="different lengths"):
        field_tfidf_matrix({"title": ["a b"], "genre": ["X", "Y"]})


def test_title_word_and_tag_word_are_different_terms(tagged):
    fields = tfidf_fields(tagged.movies, clean_tags(tagged.tags, min_count=1), tagged.people)
    assert set(fields) >= {"title", "genre", "tag", "person"}
    _, terms, _ = field_tfidf_matrix(fields)
    prefixes = {t.split(":", 1)[0] for t in terms}
    assert prefixes == set(fields)


def test_toy_story_content_neighbours_are_animation_not_title_words(bundled):
    """Known answer on ml-latest-small: Pixar / animation films, not "Toy Soldiers"."""
    vectors = similarity_vectors(bundled.movies, clean_tags(bundled.tags, min_count=1))
    toy = int(bundled.items.index(1))
    idx, _ = item_neighbours(vectors, k=10, item_idx=np.array([toy]))
    titles = bundled.movies["title"].to_numpy()[idx[0]].tolist()
    ids = set(bundled.items.ids(idx[0]).tolist())
    assert {3114, 78499} <= ids, titles  # Toy Story 2 and 3
    assert {2355, 4886} & ids, titles  # A Bug's Life, Monsters, Inc.
    genres = bundled.movies["genres"].to_numpy()[idx[0]]
    assert all("Animation" in g for g in genres), titles
    for title_word_match in ("Toy Soldiers", "Toy, The", "Fun", "Story of Us, The"):
        assert title_word_match not in titles


def test_similarity_vectors_drop_rare_tags_and_keep_title_low(tagged):
    vectors = similarity_vectors(tagged.movies, tagged.tags, tagged.people)
    sims = (vectors @ vectors.T).toarray()
    # Toy Story 1 and 2 share genres, people, the pixar tag and two title words
    np.fill_diagonal(sims, -1)
    assert int(np.argmax(sims[0])) == 1
    weighted = similarity_vectors(tagged.movies, tagged.tags, weights={"title": 1.0})
    only_title = (weighted @ weighted.T).toarray()
    assert only_title[0, 1] > 0 and only_title[0, 2] == 0  # Heat shares no title word
    none = similarity_vectors(tagged.movies, tagged.tags.iloc[:0], min_tag_count=1)
    assert none.shape[0] == tagged.n_items
