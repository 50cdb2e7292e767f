"""``reelrank rank``: the two-stage hybrid's training pairs."""

from __future__ import annotations

from pathlib import Path

import typer

from reelrank.cli.common import err_console, source_argument
from reelrank.errors import ConfigError

rank_app = typer.Typer(
    help="Two-stage hybrid: candidate pairs for the re-ranker.", no_args_is_help=True
)


@rank_app.command("build-pairs")
def build_pairs_cmd(
    source: str | None = source_argument(),
    out: Path = typer.Option(Path("pairs.parquet"), "--out", "-o", help="Parquet file to write."),
    generators: str = typer.Option(
        "als:200,ease:200,content:100,pop:50", "--generators", help="name:N,... generators."
    ),
    negatives: int = typer.Option(20, "--negatives", help="Random negatives per user."),
    embeddings: bool = typer.Option(
        False, "--embeddings/--no-embeddings", help="Use sentence-embedding features."
    ),
    split: bool = typer.Option(
        True,
        "--split/--all",
        help="Build from the temporal protocol's train part (default) or from all the data.",
    ),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Embedding cache folder."),
    force: bool = typer.Option(
        False, "--force", help="Replace --out even when it is not a pairs file of reelrank."
    ),
) -> None:
    """Export the hybrid's labelled (user, candidate) training pairs to Parquet.

    Columns: user_id, movie_id, label (2 liked / 1 other held-out / 0 negative), group,
    in_candidates, then the documented features. Labels come from each user's latest
    ratings inside the training part, features from the earlier ratings only.

    Example: reelrank rank build-pairs --out pairs.parquet
    """
    from reelrank.cli.data import cache_dir_from_env
    from reelrank.data.movielens import load
    from reelrank.data.split import temporal_split
    from reelrank.features import build_item_features
    from reelrank.models import create_model

    if out.suffix != ".parquet":
        raise ConfigError(f"--out {out}: expected a .parquet file")
    from reelrank._fs import check_output_file

    check_output_file(out, {"user_id", "movie_id", "label", "group"}, force=force)
    if negatives < 0:
        raise ConfigError("--negatives must be >= 0")
    model = create_model(
        "hybrid", generators=generators, n_random_negatives=negatives, use_embeddings=embeddings
    )
    dataset = load(source, cache_dir=cache_dir_from_env())
    train = temporal_split(dataset, 0.2, 0.1).train if split else dataset
    features = build_item_features(train, blocks=model.feature_blocks(), cache_dir=cache_dir)
    pairs = model.build_pairs(train, features)
    pairs.insert(0, "movie_id", train.items.ids(pairs["item_idx"].to_numpy()))
    pairs.insert(0, "user_id", train.users.ids(pairs["user_idx"].to_numpy()))
    pairs = pairs.drop(columns=["user_idx", "item_idx"])
    out.parent.mkdir(parents=True, exist_ok=True)
    pairs.to_parquet(out, index=False)
    err_console.print(
        f"{len(pairs):,} pairs, {pairs['group'].nunique():,} users, "
        f"{int((pairs['label'] > 0).sum()):,} positives -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Attach the ``rank`` group."""
    app.add_typer(rank_app, name="rank")
