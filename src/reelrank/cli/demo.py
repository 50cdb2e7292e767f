"""``reelrank demo``: the README's main job, end to end on the bundled data.

Builds features, evaluates pop / ALS / LightFM (with features) / the hybrid under the
``temporal`` protocol, prints the leaderboard, trains the hybrid on all the data into a
serving artifact and prints recommendations for two example users, for a new user who
liked three well-known films, and the movies most similar to "Toy Story".
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from reelrank.cli.common import StageLog, console, source_argument

#: the new user of the demo: three well-known films, loved
NEW_USER_TITLES = ("Toy Story", "The Matrix", "Forrest Gump")
SIMILAR_TO = "Toy Story"


def _settings(quick: bool) -> dict[str, dict[str, Any]]:
    if quick:
        return {
            "als": {"iterations": 8},
            "lightfm": {"epochs": 10},
            "hybrid": {
                "generators": "als:100,pop:50",
                "use_embeddings": False,
                "n_estimators": 100,
                "n_random_negatives": 10,
            },
        }
    return {"hybrid": {}}


def _table(title: str, rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[str(x) for x in r])
    return table


def demo_cmd(
    source: str | None = source_argument(),
    out: Path = typer.Option(Path("reelrank-demo"), "--out", "-o", help="Output folder."),
    quick: bool = typer.Option(False, "--quick", help="Small settings, no embeddings."),
    models: str = typer.Option("pop,als,lightfm,hybrid", "--models", help="Models to evaluate."),
    force: bool = typer.Option(
        False, "--force", help="Replace OUT/model even when it is not a reelrank artifact."
    ),
) -> None:
    """Evaluate, train the hybrid, and show recommendations (about 2.5 minutes on 2 cores).

    The first run also computes the sentence embeddings (cached on disk afterwards);
    --quick takes well under a minute.

    Example: reelrank demo --out ./reelrank-demo
    """
    from reelrank.data.movielens import load
    from reelrank.errors import ConfigError
    from reelrank.evaluate.report import leaderboard_table
    from reelrank.evaluate.runner import evaluate
    from reelrank.features import build_item_features
    from reelrank.models import create_model
    from reelrank.models.base import get_model_class
    from reelrank.serving.artifact import load_artifact, save_artifact
    from reelrank.serving.service import RecommenderService

    t_start = time.perf_counter()
    params = _settings(quick)
    names = [m.strip() for m in models.split(",") if m.strip()]
    for name in names:
        get_model_class(name)  # unknown names fail before any work
    from reelrank._fs import check_output_dir

    check_output_dir(out / "model", "artifact", force=force)  # refuse before the work
    cache = out / "cache"
    stage = StageLog()
    stage(f"loading {source or 'the bundled ml-latest-small'}")
    dataset = load(source)
    result = None
    for k, name in enumerate(names, 1):
        stage(f"evaluating {name} under the temporal protocol ({k}/{len(names)})")
        r = evaluate(
            dataset,
            "temporal",
            [name],
            progress=False,
            cache_dir=cache,
            params={name: params.get(name, {})},
            on_stage=lambda msg, name=name: stage(f"  {name}: {msg}"),
        )
        if result is None:
            result = r
        else:
            result = dataclasses.replace(result, results=[*result.results, *r.results])
    hybrid = create_model("hybrid", **params.get("hybrid", {}))
    stage("item features for the hybrid (sentence embeddings are cached after the first run)")
    features = build_item_features(dataset, blocks=hybrid.feature_blocks(), cache_dir=cache)
    stage("training the hybrid on all data")
    hybrid.fit(dataset, features)
    stage(f"writing the artifact to {out / 'model'}")
    model_dir = save_artifact(out / "model", hybrid, dataset, features, force=force)
    stage("loading the artifact")
    service = RecommenderService(load_artifact(model_dir))
    if result is None:
        raise ConfigError("--models is empty")
    console.print(leaderboard_table(result))
    for r in result.results:
        if r.error:
            console.print(f"[yellow]{r.model}: {r.error}")
    for user_id in dataset.users.values[:2].tolist():
        recs = service.recommend(int(user_id), 10, with_reasons=False)
        console.print(
            _table(
                f"Top-10 for user {user_id}",
                [(k + 1, x.title, x.year, f"{x.score:.3f}") for k, x in enumerate(recs)],
                ("#", "title", "year", "score"),
            )
        )
    answer = service.recommend_for_ratings({t: 5.0 for t in NEW_USER_TITLES}, 10)
    liked = ", ".join(m.title for m in answer.matched) or "nothing matched"
    console.print(
        _table(
            f"Top-10 for a new user who liked {liked}",
            [
                (k + 1, x.title, x.year, f"{x.score:.3f}")
                for k, x in enumerate(answer.recommendations)
            ],
            ("#", "title", "year", "score"),
        )
    )
    for u in answer.unmatched:
        console.print(f"[yellow]not matched: {u.input} ({u.reason})")
    similar = service.similar(SIMILAR_TO, 5)
    console.print(
        _table(
            f"Five movies similar to {SIMILAR_TO!r}",
            [(k + 1, x.title, x.year, f"{x.score:.3f}") for k, x in enumerate(similar)],
            ("#", "title", "year", "score"),
        )
    )
    console.print(f"model saved to {model_dir}; total {time.perf_counter() - t_start:.0f}s")


def register(app: typer.Typer) -> None:
    """Attach the ``demo`` command."""
    app.command("demo")(demo_cmd)
