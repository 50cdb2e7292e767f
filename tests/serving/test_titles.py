"""Title matching: known answers on the bundled catalogue and property-based bad input."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelrank.serving.titles import TitleMatcher, normalise_title


@pytest.fixture(scope="module")
def matcher(bundled) -> TitleMatcher:
    return TitleMatcher(bundled.movies, popularity=bundled.item_counts())


@pytest.mark.parametrize(
    ("query", "movie_id"),
    [
        ("toy story", 1),
        ("Toy Story", 1),
        ("matrix", 2571),
        ("The Matrix", 2571),
        ("Matrix, The (1999)", 2571),
        ("Jumanjii", 2),
        ("jumanji", 2),
        ("Heat (1995)", 6),
        ("heat 1995", 6),
        ("shawshank redemption", 318),
        ("Star Wars: Episode V", 1196),
        ("Star Wars (1977)", 260),
        ("toy stroy 2", 3114),
    ],
)
def test_known_answers(matcher: TitleMatcher, query: str, movie_id: int) -> None:
    result = matcher.match(query)
    assert result.status == "matched", result
    assert result.best is not None and result.best.movie_id == movie_id


def test_matrix_label_is_catalogue_title(matcher: TitleMatcher) -> None:
    best = matcher.match("matrix").best
    assert best is not None and best.label == "Matrix, The (1999)"


def test_star_wars_is_ambiguous_and_lists_the_films(matcher: TitleMatcher) -> None:
    result = matcher.match("Star Wars")
    assert result.status == "ambiguous"
    ids = {c.movie_id for c in result.candidates}
    assert {260, 1196, 1210} <= ids
    assert all("Star Wars" in c.title for c in result.candidates)


def test_remakes_need_a_year(matcher: TitleMatcher) -> None:
    # "Heat" (1995) and "Heat, The" (2013) normalise to the same title
    assert matcher.match("heat").status == "ambiguous"
    best = matcher.match("Heat (2013)").best
    assert best is not None and best.year == 2013


def test_number_in_title_is_not_taken_for_a_year(matcher: TitleMatcher) -> None:
    best = matcher.match("Death Race 2000").best
    assert best is not None and best.title == "Death Race 2000"


def test_gibberish_is_unmatched(matcher: TitleMatcher) -> None:
    assert matcher.match("xqzzzy").status == "unmatched"
    assert matcher.match("").status == "unmatched"


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Matrix, The", "matrix"),
        ("The Matrix", "matrix"),
        ("Misérables, Les", "miserables"),
        ("Boot, Das", "boot"),
        ("Postino, Il", "postino"),
        (
            "City of Lost Children, The (Cité des enfants perdus, La)",
            "city of lost children cite des enfants perdus la",
        ),
        ("Amélie", "amelie"),
        ("A Beautiful Mind", "beautiful mind"),
        ("Beautiful Mind, A", "beautiful mind"),
    ],
)
def test_normalise(raw: str, norm: str) -> None:
    assert normalise_title(raw) == norm


def test_search_orders_by_score(matcher: TitleMatcher) -> None:
    hits = matcher.search("star wars", limit=5)
    assert len(hits) == 5
    assert all("Star Wars" in h.title for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_small_catalogue_and_popularity_tie_break() -> None:
    movies = pd.DataFrame(
        {"movie_id": [1, 2, 3], "title": ["Hamlet", "Hamlet", "Heat"], "year": [1948, 1996, 1995]}
    )
    m = TitleMatcher(movies, popularity=[1.0, 5.0, 0.0])
    result = m.match("hamlet")
    assert result.status == "ambiguous"
    assert [c.movie_id for c in result.candidates] == [2, 1]  # more popular first
    assert m.match("hamlet (1948)").best.movie_id == 1  # type: ignore[union-attr]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=80))
def test_any_text_gives_a_valid_result(matcher: TitleMatcher, query: str) -> None:
    result = matcher.match(query)
    assert result.status in {"matched", "ambiguous", "unmatched"}
    if result.status == "matched":
        assert result.best is not None and 0 <= result.best.score <= 100
    for c in result.candidates:
        assert 0 <= c.score <= 100
    assert isinstance(normalise_title(query), str)


@pytest.mark.parametrize(
    ("query", "movie_id", "how"),
    [
        ("Toy Story", 1, "exact title"),
        ("the matrix", 2571, "same title ignoring case, punctuation and articles"),
        ("Matrix 1999", 2571, "same title ignoring case, punctuation and articles; year 1999"),
        ("toy stroy", 1, "close spelling (score 89)"),
        ("Heat (1995)", 6, "exact title; year 1995"),
        ("Star Wars: Episode V", 1196, "the start of the title"),
    ],
)
def test_resolve_says_what_it_did(
    matcher: TitleMatcher, query: str, movie_id: int, how: str
) -> None:
    hit = matcher.resolve(query)
    assert (hit.movie_id, hit.how) == (movie_id, how)


def test_resolve_names_ambiguous_candidates_and_suggests_for_unknown(
    matcher: TitleMatcher,
) -> None:
    from reelrank.errors import AmbiguousTitleError, UnknownIdError

    with pytest.raises(AmbiguousTitleError) as info:
        matcher.resolve("Star Wars")
    ids = [c["movie_id"] for c in info.value.candidates]
    assert {260, 1196, 1210} <= set(ids)
    assert all(set(c) == {"movie_id", "title", "year"} for c in info.value.candidates)
    assert "Star Wars: Episode IV - A New Hope (1977)" in str(info.value)
    with pytest.raises(UnknownIdError, match=r"no movie matches title 'Jumangee Jungel'"):
        matcher.resolve("Jumangee Jungel")
