"""``reelrank features``: build item features and inspect one movie's features."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from reelrank.cli.common import console, print_json, source_argument
from reelrank.cli.serving import json_errors
from reelrank.errors import ArtifactError, ConfigError, UnknownIdError

logger = logging.getLogger(__name__)

__all__ = ["find_movie", "register"]

if TYPE_CHECKING:  # numpy and pandas load inside the commands: --help stays fast
    import numpy as np
    import pandas as pd


def _cache_dir() -> Path | None:
    root = os.environ.get("REELRANK_CACHE")
    return Path(root) / "embeddings" if root else None


def find_movie(movies: pd.DataFrame, query: str, popularity: np.ndarray | None = None) -> Any:
    """The movie ``query`` names, under reelrank's one title rule.

    A thin wrapper over :meth:`reelrank.serving.titles.TitleMatcher.resolve` (the matcher
    the service, the API and every other command use).

    Returns
    -------
    reelrank.serving.titles.TitleMatch
        ``item_idx``, ``movie_id``, ``label`` and ``how`` (what the matcher did).

    Raises
    ------
    AmbiguousTitleError
        Several movies match equally well (they are named).
    UnknownIdError
        No title matches.
    """
    from reelrank.serving.titles import TitleMatcher

    if not str(query).strip():
        raise UnknownIdError("empty movie title")
    return TitleMatcher(movies, popularity=popularity).resolve(query)


def _load_dataset(source: str | None) -> Any:
    from reelrank.data import load

    return load(source)


def _summary(features: Any, seconds: float, out: Path | None) -> dict[str, Any]:
    meta = dict(features.meta)
    return {
        "out": str(out) if out is not None else None,
        "n_items": features.n_items,
        "families": features.families(),
        "n_tokens": len(features.names),
        "tfidf_vocabulary": meta.get("tfidf_vocabulary", 0),
        "dense_blocks": meta.get("dense_blocks", {}),
        "items_with": meta.get("items_with", {}),
        "stage_seconds": meta.get("seconds", {}),
        "seconds": round(seconds, 2),
    }


def _similarity(ds: Any) -> Any:
    """Content vectors for "similar movies" (title words down-weighted), from ``ds``."""
    from reelrank.features.content import clean_tags, similarity_vectors

    return similarity_vectors(ds.movies, clean_tags(ds.tags, min_count=1), ds.people)


def _write_neighbours(train: Any, items: Any, out: Path, k: int) -> int:
    import numpy as np
    import pandas as pd

    from reelrank.features.content import item_neighbours

    idx, scores = item_neighbours(_similarity(train), k=k)
    rows = np.repeat(np.arange(len(idx), dtype=np.int64), idx.shape[1])
    flat_i, flat_s = idx.ravel(), scores.ravel()
    ok = flat_i >= 0
    rank = np.tile(np.arange(1, idx.shape[1] + 1, dtype=np.int32), len(idx))
    table = pd.DataFrame(
        {
            "item_idx": rows[ok],
            "movie_id": items.ids(rows[ok]),
            "neighbour_idx": flat_i[ok],
            "neighbour_movie_id": items.ids(flat_i[ok]),
            "rank": rank[ok],
            "score": flat_s[ok],
        }
    )
    tmp = out / ".neighbours.parquet.tmp"
    table.to_parquet(tmp, index=False)
    os.replace(tmp, out / "neighbours.parquet")
    return len(table)


def register(app: typer.Typer) -> None:
    """Attach the ``features`` command group to the root app."""
    group = typer.Typer(
        name="features",
        help="Build and inspect content features (genres, tags, TF-IDF, embeddings).",
        no_args_is_help=True,
    )

    @group.command("build")
    def build(
        source: str | None = source_argument(),
        split: str = typer.Option(
            "none",
            "--split",
            metavar="SPLIT",
            help="'temporal': build from the train part of a temporal 80/20 split "
            "(tags after the cutoff are not used); 'none': the whole dataset.",
        ),
        embeddings: bool = typer.Option(
            False,
            "--embeddings/--no-embeddings",
            metavar="",
            help="Add the 384-d sentence embedding of each movie's text (slow the first "
            "time, cached in $REELRANK_CACHE/embeddings or ~/.cache/reelrank/embeddings).",
        ),
        all_embeddings: bool = typer.Option(
            False, "--all-embeddings", metavar="", help="Also one embedding block per text field."
        ),
        neighbours: int = typer.Option(
            20,
            "--neighbours",
            min=0,
            metavar="K",
            help="Content neighbours per movie to write (0: none).",
        ),
        out: Path = typer.Option(..., "--out", metavar="DIR", help="Output directory."),
        as_json: bool = typer.Option(
            False, "--json", metavar="", help="Print the summary as JSON."
        ),
        force: bool = typer.Option(
            False,
            "--force",
            metavar="",
            help="Replace --out even when it is not a features folder.",
        ),
    ) -> None:
        """Build item features and write them to DIR (features.npz, features.json,
        neighbours.parquet).

        Example: reelrank features build --split temporal --embeddings --out features/
        """
        from reelrank.features.builder import build_item_features

        if split not in ("none", "temporal"):
            raise ConfigError(f"--split must be 'temporal' or 'none', not {split!r}")
        from reelrank._fs import allow_replace, check_output_dir

        check_output_dir(out, "features", force=force)  # before the work, not after
        start = time.perf_counter()
        ds = _load_dataset(source)
        train = ds
        if split == "temporal":
            from reelrank.data.split import temporal_split

            train = temporal_split(ds, 0.2).train
        blocks: set[str] = set()
        if embeddings:
            blocks.add("embedding")
        if all_embeddings:
            blocks.add("embedding:all")
        features = build_item_features(
            train, blocks=blocks, cache_dir=_cache_dir(), progress=not as_json
        )
        with allow_replace(force):
            features.save(out)
        n_pairs = _write_neighbours(train, ds.items, out, neighbours) if neighbours else 0
        summary = _summary(features, time.perf_counter() - start, out)
        summary["split"] = split
        summary["neighbour_pairs"] = n_pairs
        if as_json:
            print_json(summary)
            return
        from rich.table import Table

        table = Table(title=f"Item features of {ds.name} ({split} split) -> {out}")
        table.add_column("family")
        table.add_column("columns", justify="right")
        table.add_column("movies with any", justify="right")
        for fam, count in sorted(summary["families"].items()):
            table.add_row(fam, str(count), str(summary["items_with"].get(fam, "")))
        table.add_row("tf-idf terms", str(summary["tfidf_vocabulary"]), "")
        for name, shape in summary["dense_blocks"].items():
            table.add_row(f"dense {name}", str(shape[1]), "")
        console.print(table)
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in summary["stage_seconds"].items())
        console.print(f"{summary['n_items']} movies; {stages}; wall {summary['seconds']:.1f}s")

    @group.command("show")
    def show(
        title: str = typer.Argument(
            ...,
            metavar="TITLE",
            help="Movie title (fuzzy, e.g. 'toy story'; add the year if several match).",
        ),
        source: str | None = source_argument(),
        features_dir: Path | None = typer.Option(
            None,
            "--features",
            metavar="DIR",
            help="A directory written by `features build` (else built now).",
        ),
        n: int = typer.Option(
            10, "-n", min=1, metavar="N", help="Tags, terms and neighbours to show."
        ),
        as_json: bool = typer.Option(False, "--json", metavar="", help="Print JSON."),
    ) -> None:
        """Show one movie's genres, top tags, top TF-IDF terms and content neighbours.

        Example: reelrank features show "Toy Story"
        """
        import numpy as np
        import pandas as pd

        from reelrank.features.builder import build_item_features
        from reelrank.features.content import clean_tags, item_neighbours, top_terms
        from reelrank.features.item_features import ItemFeatures

        ds = _load_dataset(source)
        with json_errors(as_json):
            match = find_movie(ds.movies, title, ds.item_counts())
        if features_dir is not None:
            features = ItemFeatures.load(features_dir)
            if features.n_items != ds.n_items:
                raise ArtifactError(
                    f"{features_dir}: features for {features.n_items} movies, but the "
                    f"dataset has {ds.n_items}"
                )
        else:
            features = build_item_features(ds)
        item = match.item_idx
        movie = ds.movies.iloc[item]
        tags = clean_tags(ds.tags, min_count=1)
        mine = tags[tags["item_idx"] == item].head(n)
        terms = top_terms(features, item, n) if features.tfidf is not None else []
        # neighbours by what the movies are (genres, tags, people), not by title words
        nb_idx, nb_score = item_neighbours(_similarity(ds), k=n, item_idx=np.array([item]))
        ok = nb_idx[0] >= 0
        neighbours = [
            {
                "movie_id": ds.items.ids([j])[0],
                "title": str(ds.movies["title"].iloc[j]),
                "year": None
                if pd.isna(ds.movies["year"].iloc[j])
                else int(ds.movies["year"].iloc[j]),
                "score": float(s),
            }
            for j, s in zip(nb_idx[0][ok], nb_score[0][ok], strict=True)
        ]
        row = features.sparse[item]
        result = {
            "query": title,
            "matched": {"movie_id": match.movie_id, "title": match.label, "how": match.how},
            "movie_id": ds.items.ids([item])[0],
            "item_idx": item,
            "title": str(movie["title"]),
            "year": None if pd.isna(movie["year"]) else int(movie["year"]),
            "genres": list(movie["genres"]),
            "tags": [
                {"tag": t, "count": int(c)} for t, c in zip(mine["tag"], mine["count"], strict=True)
            ],
            "tokens": {
                str(features.names[c]): float(v) for c, v in zip(row.indices, row.data, strict=True)
            },
            "tfidf_terms": [{"term": t, "weight": w} for t, w in terms],
            "neighbours": neighbours,
        }
        if as_json:
            print_json(result)
            return
        year = f" ({result['year']})" if result["year"] is not None else ""
        if match.how != "exact title":
            console.print(f"matched {title!r} -> {match.label} ({match.how})", highlight=False)
        console.print(f"[bold]{result['title']}{year}[/bold]  movie_id={result['movie_id']}")
        console.print(f"genres: {', '.join(result['genres']) or '-'}")
        tag_txt = ", ".join(f"{t['tag']} ({t['count']})" for t in result["tags"])
        console.print(f"top tags: {tag_txt or '-'}")
        term_txt = ", ".join(f"{t['term']} {t['weight']:.2f}" for t in result["tfidf_terms"])
        console.print(f"top tf-idf terms: {term_txt or '-'}")
        console.print("nearest content neighbours:")
        for k, nb in enumerate(neighbours, 1):
            y = f" ({nb['year']})" if nb["year"] is not None else ""
            console.print(f"  {k:2d}. {nb['title']}{y}  {nb['score']:.3f}", highlight=False)

    app.add_typer(group, name="features")
