"""Fuzzy movie-title matching with rapidfuzz.

Queries and catalogue titles are normalised the same way: accents stripped, lower case,
punctuation removed, and a leading or trailing article dropped (MovieLens writes
"Matrix, The"; people type "The Matrix" or just "matrix"; foreign articles such as "Les",
"La", "Das" are treated alike). A year in the query, "(1995)" or a trailing "1995",
restricts the match to that year's films (remakes). Scoring runs over the whole catalogue
at once with :func:`rapidfuzz.process.extract` on pre-normalised choices.

This is the one title matcher of reelrank: the service, the HTTP API, the web app and every
CLI command (``recommend --rated``, ``similar``, ``explain --movie``, ``features show``) use
it with one rule, :meth:`TitleMatcher.resolve`: one best match is used and the match says
how it was found (``TitleMatch.how``); several equally good matches raise
:class:`~reelrank.errors.AmbiguousTitleError` naming them; no match raises
:class:`~reelrank.errors.UnknownIdError`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from reelrank.errors import AmbiguousTitleError, UnknownIdError

logger = logging.getLogger(__name__)

__all__ = ["MatchResult", "TitleMatch", "TitleMatcher", "normalise_title"]

_ARTICLES = (
    "the a an les la le l il lo gli i das die der den det el los las un une una uno ein eine "
    "de het een o os as"
).split()
_ARTICLE_ALT = "|".join(sorted(_ARTICLES, key=len, reverse=True))
# "Matrix, The" / "City of Lost Children, The (Cite des enfants perdus, La)"
_TRAILING_ARTICLE = re.compile(rf",\s*({_ARTICLE_ALT})\s*(?=$|\()", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(rf"^(?:{_ARTICLE_ALT})\s+(?=\S)")
_PAREN_YEAR = re.compile(r"\(\s*(\d{4})\s*\)\s*$")
_BARE_YEAR = re.compile(r"(?<=\S)\s+(\d{4})\s*$")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise_title(title: str) -> str:
    """Normalised form used for matching.

    Examples
    --------
    >>> normalise_title("Matrix, The")
    'matrix'
    >>> normalise_title("The Matrix!")
    'matrix'
    >>> normalise_title("Amélie (Fabuleux destin d'Amélie Poulain, Le)")
    'amelie fabuleux destin d amelie poulain le'
    """
    text = _strip_accents(str(title)).strip()
    text = _TRAILING_ARTICLE.sub(" ", text)
    text = _NON_WORD.sub(" ", text.lower()).strip()
    text = _LEADING_ARTICLE.sub("", text)
    return text


def _valid_year(y: int) -> bool:
    return 1870 <= y <= 2100


@dataclass(frozen=True)
class TitleMatch:
    """One catalogue movie matching a query.

    Attributes
    ----------
    item_idx
        Internal item index.
    movie_id
        Raw movie id.
    title
        Display title (as in the catalogue).
    year
        Release year, or None.
    score
        Similarity 0..100 (100 is an exact match after normalisation).
    how
        What the matcher did, for people: ``"exact title"``, ``"same title ignoring
        case, punctuation and articles"``, ``"close spelling (score 89)"``, with
        ``"; year 1995"`` when a year in the query chose among remakes. Set by
        :meth:`TitleMatcher.match`; empty for :meth:`TitleMatcher.search` hits.
    """

    item_idx: int
    movie_id: int
    title: str
    year: int | None
    score: float
    how: str = ""

    @property
    def label(self) -> str:
        """``"Title (year)"``."""
        return f"{self.title} ({self.year})" if self.year is not None else self.title

    def as_candidate(self) -> dict[str, object]:
        """``{"movie_id", "title", "year"}``: how an ambiguity error lists this movie."""
        return {"movie_id": self.movie_id, "title": self.title, "year": self.year}


@dataclass(frozen=True)
class MatchResult:
    """Outcome of matching one query.

    Attributes
    ----------
    query
        The query as given.
    status
        ``"matched"`` (``best`` is set), ``"ambiguous"`` (several equally good candidates)
        or ``"unmatched"`` (nothing scored above the cut-off).
    best
        The match when ``status == "matched"``.
    candidates
        The best candidates, best first (several when ambiguous).
    """

    query: str
    status: str
    best: TitleMatch | None = None
    candidates: list[TitleMatch] = field(default_factory=list)


class TitleMatcher:
    """Match free-text movie titles against a catalogue.

    Parameters
    ----------
    movies
        Movie table indexed by item index, with columns ``movie_id``, ``title``, ``year``.
    popularity
        Optional per-item weights (e.g. rating counts) used only to order equally scored
        candidates and search results.
    cutoff
        Minimum score (0..100) for a match.
    margin
        Candidates within ``margin`` points of the best make a query ambiguous unless the
        best is a unique exact match.

    Examples
    --------
    >>> movies = pd.DataFrame({"movie_id": [1, 2], "title": ["Matrix, The", "Heat"],
    ...                        "year": [1999, 1995]})
    >>> TitleMatcher(movies).match("the matrix").best.movie_id
    1
    """

    def __init__(
        self,
        movies: pd.DataFrame,
        popularity: np.ndarray | None = None,
        *,
        cutoff: float = 80.0,
        margin: float = 3.0,
    ) -> None:
        self.cutoff = float(cutoff)
        self.margin = float(margin)
        self._movie_id = movies["movie_id"].to_numpy(np.int64)
        self._title = movies["title"].astype(str).to_numpy()
        year = pd.array(movies["year"], dtype="Int32")
        self._year = np.asarray(year.fillna(-1).to_numpy(np.int64))
        self._choices = [normalise_title(t) for t in self._title]
        self._lengths = np.fromiter((len(c) for c in self._choices), np.int64, len(self._choices))
        n = len(self._choices)
        pop = np.zeros(n) if popularity is None else np.asarray(popularity, dtype=np.float64)
        if pop.shape != (n,):
            raise ValueError("popularity must have one entry per movie")
        self._popularity = pop
        # choices per release year, for year-restricted matching
        self._by_year: dict[int, np.ndarray] = {}
        order = np.argsort(self._year, kind="stable")
        years, starts = np.unique(self._year[order], return_index=True)
        bounds = np.append(starts, n)
        for k, y in enumerate(years.tolist()):
            self._by_year[int(y)] = order[bounds[k] : bounds[k + 1]]

    def __len__(self) -> int:
        return len(self._choices)

    # ------------------------------------------------------------------ internals
    def _make(self, idx: int, score: float) -> TitleMatch:
        y = int(self._year[idx])
        return TitleMatch(
            item_idx=int(idx),
            movie_id=int(self._movie_id[idx]),
            title=str(self._title[idx]),
            year=None if y < 0 else y,
            score=round(float(score), 2),
        )

    def _scores(self, query: str, subset: np.ndarray | None) -> np.ndarray:
        """Scores of ``query`` against the (subset of) normalised choices, vectorised.

        ``max(ratio, 0.9 * partial_ratio)``, where the partial (substring) score only counts
        for titles at least as long as the query, so "star wars" finds every episode while
        a one-letter title never matches a long query.
        """
        choices = self._choices if subset is None else [self._choices[i] for i in subset]
        lengths = self._lengths if subset is None else self._lengths[subset]
        full = process.cdist([query], choices, scorer=fuzz.ratio, processor=None, workers=1)[0]
        longer = np.flatnonzero(lengths >= len(query))
        if len(longer):
            part = process.cdist(
                [query],
                [choices[i] for i in longer],
                scorer=fuzz.partial_ratio,
                processor=None,
                workers=1,
            )[0]
            full[longer] = np.maximum(full[longer], 0.9 * part)
        return full.astype(np.float64)

    def _extract(self, query: str, subset: np.ndarray | None, limit: int) -> list[TitleMatch]:
        if not query:
            return []
        scores = self._scores(query, subset)
        idx = np.arange(len(self._choices)) if subset is None else subset
        k = min(len(scores), max(limit * 4, 20))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        idx, scores = idx[top], scores[top]
        # exact normalised equality outranks everything; then score; then popularity
        exact = np.fromiter((self._choices[i] == query for i in idx), dtype=bool, count=len(idx))
        # whole-word prefix ("star wars episode v" -> "... episode v the empire ...") beats
        # a substring that ends inside a word ("... episode vi ...")
        prefix = np.fromiter(
            (self._choices[i].startswith(query + " ") for i in idx), dtype=bool, count=len(idx)
        )
        scores = np.where(prefix, np.maximum(scores, 95.0), scores)
        scores = np.where(exact, 100.0, np.minimum(scores, 99.0))
        order = np.lexsort((idx, -self._popularity[idx], -scores))[:limit]
        return [self._make(int(idx[k]), float(scores[k])) for k in order]

    @staticmethod
    def _split_year(query: str) -> tuple[str, int | None, bool]:
        """(title part, year, whether the year was in parentheses)."""
        m = _PAREN_YEAR.search(query)
        if m and _valid_year(int(m.group(1))):
            return query[: m.start()].strip(), int(m.group(1)), True
        m = _BARE_YEAR.search(query)
        if m and _valid_year(int(m.group(1))):
            return query[: m.start()].strip(), int(m.group(1)), False
        return query, None, False

    # ------------------------------------------------------------------ public API
    def search(self, query: str, limit: int = 10) -> list[TitleMatch]:
        """The ``limit`` best-scoring movies for ``query`` (no ambiguity logic).

        A year in the query restricts results to that year when any film of that year
        matches.
        """
        title, year, _ = self._split_year(str(query))
        norm = normalise_title(title)
        if year is not None and year in self._by_year:
            hits = self._extract(norm, self._by_year[year], limit)
            if hits and hits[0].score >= self.cutoff:
                return hits
        return self._extract(normalise_title(str(query)), None, limit)

    def match(self, query: str, *, max_candidates: int = 10) -> MatchResult:
        """Match one query to one movie, or say it is ambiguous or unmatched.

        Parameters
        ----------
        query
            Free text, optionally with a year: ``"Heat (1995)"``, ``"heat 1995"``.
        max_candidates
            How many candidates to list.
        """
        query = str(query)
        title, year, in_parens = self._split_year(query)
        hits: list[TitleMatch] = []
        used_year = None
        if year is not None and year in self._by_year:
            hits = self._extract(normalise_title(title), self._by_year[year], max_candidates)
            hits = [h for h in hits if h.score >= self.cutoff]
            used_year = year if hits else None
        if not hits and year is not None and not in_parens:
            # "Death Race 2000": the number may be part of the title
            hits = self._extract(normalise_title(query), None, max_candidates)
            hits = [h for h in hits if h.score >= self.cutoff]
            title = query
        if not hits and year is None:
            hits = self._extract(normalise_title(title), None, max_candidates)
            hits = [h for h in hits if h.score >= self.cutoff]
        if not hits:
            return MatchResult(query=query, status="unmatched", candidates=[])
        top = hits[0].score
        close = [h for h in hits if h.score >= top - self.margin]
        if len(close) == 1 or (top >= 100.0 and sum(h.score >= 100.0 for h in hits) == 1):
            best = dataclasses.replace(hits[0], how=self._how(title, hits[0], used_year))
            return MatchResult(query=query, status="matched", best=best, candidates=[best])
        return MatchResult(query=query, status="ambiguous", candidates=close)

    def _how(self, title: str, hit: TitleMatch, year: int | None) -> str:
        """A short description of how ``title`` matched ``hit`` (exact, articles, typos)."""
        given = " ".join(str(title).split()).casefold()
        if given in (hit.title.casefold(), hit.label.casefold()):
            how = "exact title"
        elif hit.score >= 100.0:
            how = "same title ignoring case, punctuation and articles"
        elif self._choices[hit.item_idx].startswith(normalise_title(title) + " "):
            how = "the start of the title"
        elif hit.score >= 90.0 and normalise_title(title) in self._choices[hit.item_idx]:
            how = "part of the title"
        else:
            how = f"close spelling (score {hit.score:.0f})"
        return f"{how}; year {year}" if year is not None else how

    def resolve(self, query: str, *, max_candidates: int = 25) -> TitleMatch:
        """The one movie ``query`` names, or an error that says why not.

        This is reelrank's one title rule (CLI, API, app): a unique best match is used
        (its ``how`` says what the matcher did); several equally good matches are an error
        that names them; no match is an error.

        Raises
        ------
        AmbiguousTitleError
            Several movies match equally well; ``candidates`` lists them, best first.
        UnknownIdError
            No title matches (the message suggests the closest titles, if any).
        """
        result = self.match(query, max_candidates=max_candidates)
        if result.status == "matched" and result.best is not None:
            return result.best
        if result.status == "ambiguous":
            raise AmbiguousTitleError(query, [c.as_candidate() for c in result.candidates])
        raise UnknownIdError(self.unmatched_message(query))

    def unmatched_message(self, query: str) -> str:
        """``no movie matches title 'x'`` plus up to three closest titles as suggestions."""
        near = [h.label for h in self.search(query, 3) if h.score >= 50.0] if query else []
        hint = f" (closest: {'; '.join(near)})" if near else ""
        return f"no movie matches title {str(query)!r}{hint}"
