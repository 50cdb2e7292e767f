"""Sparse content features: tags, decades, people, TF-IDF and item-item neighbours.

Two text representations serve two purposes. The models' TF-IDF block
(:func:`tfidf_matrix`, one document of title, genres and tags per movie) is the one that
ranks best on validation, title words included (sequels share them). "Similar movies" for
people (``reelrank similar``, ``features show``, the API and the app) use
:func:`similarity_vectors` instead: a field-weighted TF-IDF (:func:`field_tfidf_matrix`)
where titles, genres, tags and people each have their own vocabulary and title words weigh a
quarter of the others, so similarity follows what a movie is (genres, tags, people) rather
than words its title shares with other titles ("Toy Story" is near other Pixar animation,
not "Toy Soldiers"; "Heat" near crime thrillers, not "Body Heat" and "Red Heat").

Everything is vectorised over the whole catalogue: raw tag strings are normalised once per
*distinct* string, then counted per movie with integer keys; TF-IDF uses scikit-learn's
``TfidfVectorizer``; nearest content neighbours are computed in item batches with a sparse
product and ``argpartition``, so no dense ``n x n`` similarity matrix ever exists.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from reelrank.errors import UnknownIdError
from reelrank.features.item_features import ItemFeatures
from reelrank.features.profiles import l2_normalise_rows

if TYPE_CHECKING:  # scikit-learn loads when TF-IDF is built, not when features are read
    from sklearn.feature_extraction.text import TfidfVectorizer

logger = logging.getLogger(__name__)

__all__ = [
    "TFIDF_FIELD_WEIGHTS",
    "clean_tags",
    "decade_matrix",
    "field_tfidf_matrix",
    "item_neighbours",
    "normalise_text",
    "people_matrix",
    "similarity_vectors",
    "tag_matrix",
    "tfidf_fields",
    "tfidf_matrix",
    "top_terms",
]

TagWeighting = Literal["binary", "count", "log"]


def normalise_text(values: pd.Series) -> pd.Series:
    """Lower-case, strip and collapse internal whitespace (vectorised; NaN -> "")."""
    s = pd.Series(values, dtype="string").fillna("")
    return s.str.lower().str.replace(r"\s+", " ", regex=True).str.strip()


def clean_tags(
    tags: pd.DataFrame,
    *,
    min_count: int = 2,
    max_per_movie: int = 20,
) -> pd.DataFrame:
    """Normalise and count user tags per movie.

    Tags are lower-cased, stripped and whitespace-collapsed; one user applying the same
    (normalised) tag to a movie several times counts once. Tags applied fewer than
    ``min_count`` times over the whole table are dropped, then each movie keeps its
    ``max_per_movie`` most-applied tags (ties broken alphabetically).

    Parameters
    ----------
    tags
        Columns ``item_idx`` and ``tag`` (and ``user_id``, used for de-duplication when
        present), e.g. ``Dataset.tags`` of the *training* data.
    min_count
        Minimum number of (user, movie) applications of a tag over the table.
    max_per_movie
        Maximum number of distinct tags kept per movie.

    Returns
    -------
    pandas.DataFrame
        Columns ``item_idx`` (int64), ``tag`` (str), ``count`` (int64), sorted by
        ``item_idx`` then decreasing ``count``.
    """
    if min_count < 1 or max_per_movie < 1:
        raise ValueError("min_count and max_per_movie must be >= 1")
    empty = pd.DataFrame(
        {
            "item_idx": pd.Series([], dtype=np.int64),
            "tag": pd.Series([], dtype=object),
            "count": pd.Series([], dtype=np.int64),
        }
    )
    if len(tags) == 0:
        return empty
    # normalise each distinct raw string once (millions of rows, far fewer strings)
    raw_codes, raw_uniques = pd.factorize(tags["tag"], use_na_sentinel=True)
    norm = normalise_text(pd.Series(raw_uniques)).to_numpy(dtype=object)
    tag_codes, tag_names = pd.factorize(norm)
    codes = np.where(raw_codes >= 0, tag_codes[np.maximum(raw_codes, 0)], -1)
    valid = codes >= 0
    empty_code = np.flatnonzero(np.asarray(tag_names, dtype=object) == "")
    if len(empty_code):
        valid &= codes != empty_code[0]
    item = tags["item_idx"].to_numpy(dtype=np.int64)[valid]
    codes = codes[valid].astype(np.int64)
    n_tags = len(tag_names)
    if "user_id" in tags.columns:
        user_codes = pd.factorize(tags["user_id"].to_numpy()[valid])[0].astype(np.int64)
        n_users = int(user_codes.max()) + 1 if len(user_codes) else 1
        # one integer key per (movie, tag, user): a user's repeated tag counts once
        triple = np.unique((item * n_tags + codes) * n_users + user_codes)
        pair = triple // n_users
        item, codes = pair // n_tags, pair % n_tags
    keys, counts = np.unique(item * n_tags + codes, return_counts=True)
    item_k, code_k = keys // n_tags, keys % n_tags
    total = np.bincount(code_k, weights=counts, minlength=n_tags)
    keep = total[code_k] >= min_count
    item_k, code_k, counts = item_k[keep], code_k[keep], counts[keep]
    if len(item_k) == 0:
        return empty
    names = np.asarray(tag_names, dtype=object)[code_k].astype(str)
    order = np.lexsort((names, -counts, item_k))
    item_k, names, counts = item_k[order], names[order], counts[order]
    starts = np.r_[0, np.flatnonzero(np.diff(item_k)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(item_k)]))
    rank = np.arange(len(item_k)) - group_start
    cap = rank < max_per_movie
    return pd.DataFrame(
        {
            "item_idx": item_k[cap].astype(np.int64),
            "tag": pd.Series(names[cap], dtype=object),
            "count": counts[cap].astype(np.int64),
        }
    )


def tag_matrix(
    tags: pd.DataFrame,
    n_items: int,
    *,
    weighting: TagWeighting = "log",
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Item x tag matrix from a :func:`clean_tags` table.

    Parameters
    ----------
    tags
        Output of :func:`clean_tags` (``item_idx``, ``tag``, ``count``).
    n_items
        Number of rows (the catalogue size).
    weighting
        ``"binary"``: 1 for every kept tag. ``"count"``: count / the movie's largest count.
        ``"log"`` (default): ``log1p(count) / log1p(max count of the movie)``. All weights
        are in (0, 1], the movie's most-applied tag gets 1.

    Returns
    -------
    (matrix, tags)
        ``(n_items, n_tags)`` CSR ``float32`` and the sorted tag names (without prefix).
    """
    if weighting not in ("binary", "count", "log"):
        raise ValueError(f"weighting must be 'binary', 'count' or 'log', not {weighting!r}")
    item = tags["item_idx"].to_numpy(dtype=np.int64)
    counts = tags["count"].to_numpy(dtype=np.float64)
    names, codes = np.unique(tags["tag"].to_numpy(dtype=object).astype(str), return_inverse=True)
    if weighting == "binary":
        w = np.ones(len(item))
    else:
        top = np.zeros(n_items)
        np.maximum.at(top, item, counts)
        w = counts / top[item] if weighting == "count" else np.log1p(counts) / np.log1p(top[item])
    m = sp.csr_matrix(
        (w.astype(np.float32), (item, codes.astype(np.int64))), shape=(n_items, len(names))
    )
    return m, names.astype(str)


def decade_matrix(years: pd.Series | np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """One-hot decade of release (``"1990s"``); unknown years give zero rows."""
    y = pd.array(years, dtype="Int64")
    known = ~np.asarray(pd.isna(y))
    decades = np.asarray(y[known], dtype=np.int64) // 10 * 10
    uniq, codes = np.unique(decades, return_inverse=True)
    rows = np.flatnonzero(known)
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, codes.astype(np.int64))),
        shape=(len(y), len(uniq)),
    )
    return m, np.array([f"{d}s" for d in uniq], dtype=str)


def people_matrix(
    people: pd.DataFrame, n_items: int, *, min_count: int = 1
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Item x person matrix (directors and cast), names lower-cased and whitespace-collapsed.

    Parameters
    ----------
    people
        Columns ``item_idx`` and ``name`` (``role`` is not used for the token).
    n_items
        Number of rows.
    min_count
        Keep people credited on at least this many movies.
    """
    names = normalise_text(people["name"]).to_numpy(dtype=object)
    item = people["item_idx"].to_numpy(dtype=np.int64)
    ok = names != ""
    names, item = names[ok].astype(str), item[ok]
    uniq, codes = np.unique(names, return_inverse=True)
    n_names = max(len(uniq), 1)
    keys = np.unique(item * n_names + codes.astype(np.int64))
    pair_item, pair_name = keys // n_names, keys % n_names
    per_person = np.bincount(pair_name, minlength=len(uniq))
    keep_cols = np.flatnonzero(per_person >= min_count)
    remap = np.full(len(uniq), -1, dtype=np.int64)
    remap[keep_cols] = np.arange(len(keep_cols))
    cols = remap[pair_name]
    sel = cols >= 0
    m = sp.csr_matrix(
        (np.ones(int(sel.sum()), dtype=np.float32), (pair_item[sel], cols[sel])),
        shape=(n_items, len(keep_cols)),
    )
    return m, uniq[keep_cols].astype(str)


def tfidf_matrix(
    texts: Sequence[str],
    *,
    max_features: int | None = 20_000,
    vectorizer: TfidfVectorizer | None = None,
) -> tuple[sp.csr_matrix, np.ndarray, TfidfVectorizer]:
    """L2-normalised TF-IDF of one document per movie.

    Parameters
    ----------
    texts
        One document per item (title + genres + tags), ``""`` for none.
    max_features
        Vocabulary size cap (most frequent terms).
    vectorizer
        An already fitted vectorizer to *transform* with (e.g. fitted on training text);
        by default a new one is fitted on ``texts``.

    Returns
    -------
    (matrix, terms, vectorizer)
        ``(n_items, vocab)`` CSR ``float32`` (empty documents give zero rows), the vocabulary
        in column order, and the fitted vectorizer.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [t if isinstance(t, str) else "" for t in texts]
    if vectorizer is None:
        vectorizer = TfidfVectorizer(
            stop_words="english",
            max_features=max_features,
            sublinear_tf=True,
            dtype=np.float32,
            token_pattern=r"(?u)\b\w[\w']+\b",
        )
        if not any(d.strip() for d in docs):
            raise ValueError("no text to build TF-IDF from (all documents are empty)")
        m = vectorizer.fit_transform(docs)
    else:
        m = vectorizer.transform(docs)
    m = sp.csr_matrix(m, dtype=np.float32)
    terms = np.asarray(vectorizer.get_feature_names_out(), dtype=str)
    return m, terms, vectorizer


#: relative weight of each text field in :func:`field_tfidf_matrix` (its share of the cosine
#: between two movies that both have the field): title words count a quarter of genres, tags
#: or people, so "Toy Story" is near other Pixar animation, not "Toy Soldiers"
TFIDF_FIELD_WEIGHTS: dict[str, float] = {"title": 0.25, "genre": 1.0, "tag": 1.0, "person": 1.0}

#: fields whose values are whole tokens ("Sci-Fi", "tom hanks"), "|"-separated in a document
_WHOLE_VALUE_FIELDS = ("genre", "person")


def _join_values(item_idx: np.ndarray, values: np.ndarray, n: int, sep: str) -> list[str]:
    """``sep``-joined ``values`` per item (input order kept within an item); ``""`` if none."""
    out = np.full(n, "", dtype=object)
    if len(item_idx):
        order = np.argsort(item_idx, kind="stable")
        keys = item_idx[order]
        vals = values[order].tolist()
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(keys)]
        out[keys[starts]] = [sep.join(vals[a:b]) for a, b in zip(starts, ends, strict=True)]
    return out.tolist()


def tfidf_fields(
    movies: pd.DataFrame, tags: pd.DataFrame, people: pd.DataFrame | None = None
) -> dict[str, list[str]]:
    """The text fields of every movie, one document per movie and field.

    Parameters
    ----------
    movies
        The movie table (``title``, ``genres``), one row per item index.
    tags
        A :func:`clean_tags` table (``item_idx``, ``tag``).
    people
        Optional credits (``item_idx``, ``name``).

    Returns
    -------
    dict
        ``title`` (the title words), ``genre`` and ``person`` (``"|"``-joined whole values)
        and ``tag`` (the tags' words); a field is left out when no movie has it.
    """
    n = len(movies)
    fields: dict[str, list[str]] = {
        "title": pd.Series(movies["title"], dtype="string").fillna("").tolist()
    }
    genres = pd.Series(movies["genres"]).reset_index(drop=True).explode().dropna().astype(str)
    if len(genres):
        fields["genre"] = _join_values(
            genres.index.to_numpy(np.int64), genres.to_numpy(object), n, "|"
        )
    if len(tags):
        fields["tag"] = _join_values(
            tags["item_idx"].to_numpy(np.int64), tags["tag"].to_numpy(object).astype(str), n, " "
        )
    if people is not None and len(people):
        names = normalise_text(people["name"]).to_numpy(object)
        keep = names != ""
        fields["person"] = _join_values(
            people["item_idx"].to_numpy(np.int64)[keep], names[keep].astype(str), n, "|"
        )
    return fields


def _split_values(doc: str) -> list[str]:
    return [v for v in (p.strip().lower() for p in doc.split("|")) if v]


def field_tfidf_matrix(
    fields: Mapping[str, Sequence[str]],
    *,
    weights: Mapping[str, float] | None = None,
    max_features: int | None = 20_000,
) -> tuple[sp.csr_matrix, np.ndarray, dict[str, TfidfVectorizer]]:
    """Field-weighted TF-IDF: one vocabulary per text field, each field's share weighted.

    Each field gets its own TF-IDF (so the title word "fun" and the tag "fun" are different
    terms), its rows L2-normalised and scaled by ``sqrt(weight)``; the blocks are stacked
    and the rows L2-normalised again. The cosine of two movies is then the
    ``weight``-weighted mean of their per-field cosines over the fields they have, so a
    low title weight keeps title words from driving content similarity.

    Parameters
    ----------
    fields
        ``{field: one document per item}`` (all of the same length), e.g.
        :func:`tfidf_fields`. ``genre`` and ``person`` documents are ``"|"``-separated
        whole values; other fields are tokenised into words (English stop words dropped).
    weights
        Weight per field (default :data:`TFIDF_FIELD_WEIGHTS`; unknown fields weigh 1).
    max_features
        Vocabulary cap per field.

    Returns
    -------
    (matrix, terms, vectorizers)
        ``(n_items, vocab)`` L2-normalised CSR ``float32`` (an item with no text: a zero
        row), the terms as ``"field:term"`` in column order, and the fitted vectorizers.

    Raises
    ------
    ValueError
        No field has any text, fields of different lengths, or a negative weight.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    w = dict(TFIDF_FIELD_WEIGHTS if weights is None else weights)
    lengths = {len(docs) for docs in fields.values()}
    if len(lengths) > 1:
        raise ValueError(f"fields have different lengths: {sorted(lengths)}")
    if any(v < 0 for v in w.values()):
        raise ValueError("field weights must be >= 0")
    n = lengths.pop() if lengths else 0
    blocks: list[sp.csr_matrix] = []
    names: list[np.ndarray] = []
    vectorizers: dict[str, TfidfVectorizer] = {}
    for field, raw in fields.items():
        weight = float(w.get(field, 1.0))
        docs = [d if isinstance(d, str) else "" for d in raw]
        if weight == 0 or not any(d.strip() for d in docs):
            continue
        if field in _WHOLE_VALUE_FIELDS:
            vec = TfidfVectorizer(
                tokenizer=_split_values,
                token_pattern=None,
                lowercase=False,
                max_features=max_features,
                sublinear_tf=True,
                dtype=np.float32,
            )
        else:
            vec = TfidfVectorizer(
                stop_words="english",
                max_features=max_features,
                sublinear_tf=True,
                dtype=np.float32,
                token_pattern=r"(?u)\b\w[\w']+\b",
            )
        try:
            block = vec.fit_transform(docs)
        except ValueError:  # only stop words / one-letter tokens in this field
            continue
        blocks.append(sp.csr_matrix(block, dtype=np.float32) * np.float32(np.sqrt(weight)))
        names.append(np.char.add(f"{field}:", vec.get_feature_names_out().astype(str)))
        vectorizers[field] = vec
    if not blocks:
        raise ValueError("no text to build TF-IDF from (all documents are empty)")
    stacked = sp.hstack(blocks, format="csr", dtype=np.float32)
    matrix = sp.csr_matrix(l2_normalise_rows(stacked), dtype=np.float32)
    assert matrix.shape[0] == n
    return matrix, np.concatenate(names).astype(str), vectorizers


def similarity_vectors(
    movies: pd.DataFrame,
    tags: pd.DataFrame,
    people: pd.DataFrame | None = None,
    *,
    weights: Mapping[str, float] | None = None,
    min_tag_count: int = 2,
) -> sp.csr_matrix:
    """Item vectors whose cosine is "similar content" as people judge it.

    The field-weighted TF-IDF of :func:`field_tfidf_matrix` over :func:`tfidf_fields`
    (title words at a quarter of the weight of genres, tags and people by default).

    Parameters
    ----------
    movies
        The movie table (``title``, ``genres``), one row per item index.
    tags
        Tags per movie: columns ``item_idx`` and ``tag`` (a :func:`clean_tags` table, or raw
        tag applications; ``count`` is used when present).
    people
        Optional credits (``item_idx``, ``name``).
    weights
        Field weights (default :data:`TFIDF_FIELD_WEIGHTS`).
    min_tag_count
        Tags applied fewer times than this over the whole table are left out (noise).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_items, vocab)`` L2-normalised ``float32``; zero rows for movies without text.
    """
    if len(tags):
        counts = (
            tags["count"].to_numpy(np.float64) if "count" in tags.columns else np.ones(len(tags))
        )
        names = tags["tag"].astype(str).str.strip().str.lower()
        total = pd.Series(counts).groupby(names.to_numpy()).transform("sum").to_numpy()
        keep = (total >= min_tag_count) & (names.to_numpy() != "")
        tags = pd.DataFrame(
            {"item_idx": tags["item_idx"].to_numpy()[keep], "tag": names.to_numpy()[keep]}
        )
    matrix, _, _ = field_tfidf_matrix(tfidf_fields(movies, tags, people), weights=weights)
    return matrix


def item_neighbours(
    matrix: np.ndarray | sp.spmatrix,
    k: int = 20,
    batch_size: int = 256,
    *,
    item_idx: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` cosine neighbours of items, computed in batches.

    Parameters
    ----------
    matrix
        ``(n_items, d)`` item vectors, sparse (TF-IDF, tokens) or dense (embeddings).
    k
        Neighbours per item (the item itself is excluded).
    batch_size
        Items per batch; memory is ``batch_size x n_items`` floats.
    item_idx
        Only compute the neighbours of these items (default: all).
    progress
        Show a progress bar.

    Returns
    -------
    (neighbour_idx, scores)
        ``(len(item_idx), k)`` ``int64`` and ``float32``, by decreasing cosine (ties: lower
        index first). Slots with no similar item (cosine <= 0) hold index -1 and score 0.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    normed = l2_normalise_rows(matrix)
    n = normed.shape[0]
    rows = np.arange(n, dtype=np.int64) if item_idx is None else np.asarray(item_idx, np.int64)
    k_eff = min(k, max(n - 1, 0))
    out_i = np.full((len(rows), k), -1, dtype=np.int64)
    out_s = np.zeros((len(rows), k), dtype=np.float32)
    if k_eff == 0:
        return out_i, out_s
    normed_t = normed.T.tocsr() if sp.issparse(normed) else normed.T
    starts = range(0, len(rows), batch_size)
    for start in tqdm(starts, desc="neighbours", disable=not progress, leave=False):
        batch = rows[start : start + batch_size]
        sims = normed[batch] @ normed_t
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        sims = sims.astype(np.float32, copy=False)
        sims[np.arange(len(batch)), batch] = -np.inf
        sims[sims <= 1e-7] = -np.inf
        part = np.argpartition(-sims, k_eff - 1, axis=1)[:, :k_eff]
        vals = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)
        idx = np.take_along_axis(part, order, axis=1)
        vals = np.take_along_axis(vals, order, axis=1)
        bad = ~np.isfinite(vals)
        idx[bad] = -1
        vals[bad] = 0.0
        out_i[start : start + len(batch), :k_eff] = idx
        out_s[start : start + len(batch), :k_eff] = vals
    return out_i, out_s


def top_terms(features: ItemFeatures, item_idx: int, n: int = 10) -> list[tuple[str, float]]:
    """The ``n`` highest-weighted TF-IDF terms of one item.

    Parameters
    ----------
    features
        An :class:`~reelrank.features.item_features.ItemFeatures` with a TF-IDF block.
    item_idx
        The item.
    n
        How many terms.

    Returns
    -------
    list of (term, weight)
        By decreasing weight (ties alphabetical); empty for an item without text.
    """
    tfidf, terms = features.tfidf, features.tfidf_terms
    if tfidf is None or terms is None:
        raise ValueError("these features have no TF-IDF block")
    if not 0 <= item_idx < tfidf.shape[0]:
        raise UnknownIdError(f"item index {item_idx} out of range 0..{tfidf.shape[0] - 1}")
    row = tfidf[item_idx]
    cols, vals = row.indices, row.data
    order = np.lexsort((terms[cols], -vals))[:n]
    return [(str(terms[cols[j]]), float(vals[j])) for j in order]
