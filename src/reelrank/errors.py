"""Exceptions that reelrank raises for problems a user can fix.

Every user-facing problem (bad input file, unknown id, wrong checksum, unusable artifact)
is a :class:`ReelrankError`. The CLI turns these into one line on stderr and exit status 2;
the HTTP API turns them into 4xx answers with a JSON body.
"""

from __future__ import annotations

from pathlib import Path


class ReelrankError(Exception):
    """Base class for errors caused by user input, files or configuration."""


class DataFormatError(ReelrankError, ValueError):
    """A data file is malformed.

    Parameters
    ----------
    path
        The file that is malformed.
    message
        What is wrong.
    line
        1-based line number in the file, when known.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class UnknownIdError(ReelrankError, KeyError):
    """An id (user or movie) is not known to the dataset or the model."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else "unknown id"


class ChecksumError(ReelrankError):
    """A downloaded or extracted file does not have the expected checksum."""


class ArtifactError(ReelrankError):
    """A saved model artifact is missing, corrupted or from an incompatible version."""


class ConfigError(ReelrankError, ValueError):
    """A model, protocol or command configuration is invalid."""


class OutputExistsError(ReelrankError):
    """An output folder exists and is not one reelrank may replace (``--force`` replaces it)."""


class AmbiguousTitleError(ReelrankError, LookupError):
    """A movie title matches several catalogue movies equally well.

    The CLI prints the message (which names the candidates) and exits 2; the HTTP API
    answers 409 with ``candidates``.

    Parameters
    ----------
    query
        The title as the user gave it.
    candidates
        The equally good matches, best first: JSON-ready dicts with ``movie_id``,
        ``title`` and ``year`` (``None`` when unknown).

    Attributes
    ----------
    query : str
    candidates : list of dict
    """

    def __init__(self, query: str, candidates: list[dict[str, object]]) -> None:
        self.query = str(query)
        self.candidates = [dict(c) for c in candidates]
        labels = [
            f"{c['title']} ({c['year']})" if c.get("year") is not None else str(c["title"])
            for c in self.candidates
        ]
        shown = "; ".join(labels[:8]) + (f"; and {len(labels) - 8} more" if len(labels) > 8 else "")
        super().__init__(
            f"title {self.query!r} matches {len(labels)} movies: {shown} "
            "(add the year, e.g. 'Title (1995)', or give the movie id)"
        )
