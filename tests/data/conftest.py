"""Writers of tiny MovieLens folders in each exact layout (encodings and line endings kept)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

GENRES_100K = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


def write(path: Path, lines: list[str], *, eol: str = "\n", encoding: str = "utf-8") -> Path:
    """Write ``lines`` with the given line ending and encoding (final line ending included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + eol for line in lines).encode(encoding))
    return path


CHILDREN = "Children's"


def _flags(*names: str) -> str:
    return "|".join("1" if g in names else "0" for g in GENRES_100K)


def write_ml100k(root: Path, *, u_data: list[str] | None = None) -> Path:
    """An ml-100k folder: 3 users, 4 movies (latin-1 titles, an 'unknown' movie)."""
    folder = root / "ml-100k"
    write(
        folder / "u.data",
        u_data
        or [
            "1\t1\t5\t874965758",
            "1\t2\t3\t876893171",
            "2\t1\t4\t888550871",
            "3\t3\t1\t889237455",
            "2\t2\t2\t888550872",
        ],
    )
    url = "http://us.imdb.com/M/title-exact?x"
    write(
        folder / "u.item",
        [
            f"1|Toy Story (1995)|01-Jan-1995||{url}|{_flags('Animation', CHILDREN, 'Comedy')}",
            f"2|Misérables, Les (1995)|01-Jan-1995||{url}|{_flags('Drama', 'Romance')}",
            f"3|Café au lait (1994)|01-Jan-1994||{url}|{_flags('Comedy')}",
            f"4|unknown||||{_flags('unknown')}",
        ],
        encoding="latin-1",
    )
    write(folder / "u.genre", [f"{g}|{i}" for i, g in enumerate(GENRES_100K)] + [""])
    write(
        folder / "u.user",
        ["1|24|M|technician|85711", "2|53|F|other|94043", "3|23|M|writer|32067"],
    )
    write(folder / "u1.base", ["1\t1\t5\t874965758", "1\t2\t3\t876893171", "2\t1\t4\t888550871"])
    write(folder / "u1.test", ["3\t3\t1\t889237455", "2\t2\t2\t888550872"])
    return folder


def write_ml1m(root: Path) -> Path:
    """An ml-1m folder (``::``, latin-1, a title containing ':')."""
    folder = root / "ml-1m"
    write(
        folder / "ratings.dat",
        ["1::1193::5::978300760", "1::661::3::978302109", "2::1193::4::978298413", "2::3::2::1"],
        encoding="latin-1",
    )
    write(
        folder / "movies.dat",
        [
            "3::Grumpier Old Men (1995)::Comedy|Romance",
            "661::Misérables, Les (1995)::Drama|Musical",
            "1193::Star Wars: Episode IV - A New Hope (1977)::Action|Sci-Fi",
            "2000::Café Society (1995)::Drama",
        ],
        encoding="latin-1",
    )
    write(folder / "users.dat", ["1::F::1::10::48067", "2::M::56::16::70072"], encoding="latin-1")
    return folder


def write_ml10m(root: Path) -> Path:
    """An ml-10M100K folder (``::``, UTF-8, half stars, tags with ':' inside)."""
    folder = root / "ml-10M100K"
    write(
        folder / "ratings.dat",
        [
            "1::122::5::838985046",
            "1::185::4.5::838983525",
            "2::8::3.5::838983421",
            "2::122::0.5::838983392",
        ],
    )
    write(
        folder / "movies.dat",
        [
            "8::Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)::Comedy|Romance",
            "122::Boomerang (1992)::Comedy|Romance",
            "185::Net, The (1995)::Action|Crime|Thriller",
            "300::Untitled Thing::(no genres listed)",
        ],
    )
    write(
        folder / "tags.dat",
        ["15::8::excellent!::1215184630", "20::185::time: travel::1188263867"],
    )
    return folder


def write_csv_layout(root: Path, name: str = "ml-25m", *, genome: bool = True) -> Path:
    """A ml-20m/25m/32m/latest-style folder: CRLF, quoted titles, links, genome."""
    folder = root / name
    crlf = "\r\n"
    write(
        folder / "ratings.csv",
        [
            "userId,movieId,rating,timestamp",
            "1,1,4.0,964982703",
            "1,3,4.5,964981247",
            "2,11,2.5,1445714835",
            "3,1,0.5,1306463578",
            "3,200,5.0,1306463600",
        ],
        eol=crlf,
    )
    write(
        folder / "movies.csv",
        [
            "movieId,title,genres",
            "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
            '3,"American President, The (1995)",Comedy|Drama|Romance',
            '11,"""Great Performances"" Cats (1998)",Musical',
            "200,Babylon 5,(no genres listed)",
            "201,Never Rated (2001-2003),Drama",
        ],
        eol=crlf,
    )
    write(
        folder / "tags.csv",
        [
            "userId,movieId,tag,timestamp",
            "2,11,funny,1445714994",
            '2,1,"Highly quotable, funny",1445714996',
        ],
        eol=crlf,
    )
    write(
        folder / "links.csv",
        ["movieId,imdbId,tmdbId", "1,0114709,862", "3,0112346,9087", "11,0173714,", "200,0105946,"],
        eol=crlf,
    )
    if genome:
        write(
            folder / "genome-tags.csv",
            ["tagId,tag", "1,007", "2,007 (series)", "3,18th century"],
            eol=crlf,
        )
        write(
            folder / "genome-scores.csv",
            ["movieId,tagId,relevance"]
            + [f"{m},{t},{(m * 10 + t) / 1000:.5f}" for m in (1, 3) for t in (1, 2, 3)],
            eol=crlf,
        )
    return folder


def write_kaggle(root: Path) -> Path:
    """The Kaggle naming of ml-20m (singular file names, ISO datetime timestamps)."""
    folder = root / "movielens-20m-dataset"
    write(
        folder / "rating.csv",
        [
            "userId,movieId,rating,timestamp",
            "1,2,3.5,2005-04-02 23:53:47",
            "1,29,3.5,2005-04-02 23:31:16",
            "2,2,4.0,1970-01-01 00:00:10",
        ],
    )
    write(
        folder / "movie.csv",
        [
            "movieId,title,genres",
            "2,Jumanji (1995),Adventure|Children|Fantasy",
            '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama',
        ],
    )
    write(
        folder / "tag.csv", ["userId,movieId,tag,timestamp", "18,2,Mark Waters,2009-04-24 18:19:40"]
    )
    write(folder / "link.csv", ["movieId,imdbId,tmdbId", "2,113497,8844.0", "29,112682,902.0"])
    write(folder / "genome_tags.csv", ["tagId,tag", "1,007", "2,dark"])
    write(
        folder / "genome_scores.csv",
        ["movieId,tagId,relevance", "2,1,0.025", "2,2,0.5", "29,1,0.75", "29,2,0.125"],
    )
    return folder


def write_tag_genome(folder: Path, sub: str = "tag-genome") -> Path:
    """Tag Genome 2021 JSON lines (metadata, reviews, tags) in a sub-folder of ``folder``."""
    tg = folder / sub
    meta = [
        {
            "title": "Toy Story (1995)",
            "directedBy": "John Lasseter",
            "starring": "Tim Allen, Tom Hanks, Don Rickles",
            "avgRating": 3.89146,
            "imdbId": 114709,
            "item_id": 1,
        },
        {
            "title": "American President, The (1995)",
            "directedBy": "Rob Reiner",
            "starring": "Michael Douglas, Annette Bening",
            "avgRating": 3.5,
            "imdbId": 112346,
            "item_id": 3,
        },
        {
            "title": "Not in catalogue",
            "directedBy": "Nobody",
            "starring": "",
            "avgRating": 1.0,
            "imdbId": 1,
            "item_id": 999999,
        },
    ]
    write(tg / "metadata_updated.json", [json.dumps(m) for m in meta])
    write(
        tg / "reviews.json",
        [
            json.dumps({"item_id": 1, "txt": "A wonderful film about toys."}),
            json.dumps({"item_id": 1, "txt": "Café scenes are charming."}),
            json.dumps({"item_id": 3, "txt": "Sharp political comedy."}),
        ],
    )
    write(
        tg / "tags.json",
        [json.dumps({"tag": "toys", "id": 1}), json.dumps({"tag": "politics", "id": 2})],
    )
    return tg


@pytest.fixture
def writers() -> dict[str, Callable[..., Path]]:
    """The layout writers, by name."""
    return {
        "ml-100k": write_ml100k,
        "ml-1m": write_ml1m,
        "ml-10m": write_ml10m,
        "csv": write_csv_layout,
        "kaggle": write_kaggle,
        "tag-genome": write_tag_genome,
        "write": write,
    }
