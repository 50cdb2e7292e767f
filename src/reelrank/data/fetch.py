"""Download official MovieLens archives, verify their checksums and extract them into a cache.

:func:`fetch` streams ``<base_url>/<name>.zip`` into a temporary file (renamed only when
complete), checks it against the MD5 published beside it (``<name>.zip.md5``), extracts it
into a temporary folder, checks the pinned per-file checksums we know and that the archive
holds the dataset's MovieLens layout, and only then moves the folder to
``<cache_dir>/<name>``. Whatever fails or is interrupted, nothing is left behind; what a
killed process (SIGTERM, SIGKILL) could not clean up is removed by the next fetch.
:func:`reelrank.data.movielens.load` then accepts the name (``load("ml-100k")``).

A download has an overall deadline and a stall timeout (no byte for ``timeout`` seconds),
both reported with the bytes received. Extraction refuses unsafe members (absolute paths,
``..``, symbolic links) and caps the extracted size (in total, and per member relative to
its compressed size), so a hostile archive can neither escape the cache nor fill the disk.

Library code takes the cache folder and base URL as parameters; only the CLI reads the
``REELRANK_CACHE`` and ``REELRANK_BASE_URL`` environment variables.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from reelrank.errors import ChecksumError, ConfigError, ReelrankError

logger = logging.getLogger(__name__)

__all__ = [
    "DATASETS",
    "DEFAULT_BASE_URL",
    "PINNED_CHECKSUMS",
    "DownloadError",
    "default_cache_dir",
    "fetch",
]

#: official GroupLens download location
DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens/"

#: dataset name -> zip file name at the base URL
DATASETS: dict[str, str] = {
    "ml-100k": "ml-100k.zip",
    "ml-1m": "ml-1m.zip",
    "ml-10m": "ml-10m.zip",
    "ml-20m": "ml-20m.zip",
    "ml-25m": "ml-25m.zip",
    "ml-32m": "ml-32m.zip",
    "ml-latest-small": "ml-latest-small.zip",
    "ml-latest": "ml-latest.zip",
}

#: sha256 of the ml-latest-small files, from ../shared/data/MANIFEST.md (verified copies)
ML_LATEST_SMALL_SHA256: dict[str, str] = {
    "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
    "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
    "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
    "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
    "README.txt": "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404",
}

#: official MD5s of ml-32m's movies.csv, ratings.csv, tags.csv, links.csv (its
#: checksums.txt). PLACEHOLDER: not filled in because the values could not be verified from
#: an authoritative source offline; never invent them. Fill in from ml-32m/checksums.txt.
ML_32M_MD5_UNVERIFIED_PLACEHOLDER: dict[str, str] = {}

#: dataset name -> {file name: (algorithm, hex digest)} checked after extraction
PINNED_CHECKSUMS: dict[str, dict[str, tuple[str, str]]] = {
    "ml-latest-small": {k: ("sha256", v) for k, v in ML_LATEST_SMALL_SHA256.items()},
    "ml-32m": {k: ("md5", v) for k, v in ML_32M_MD5_UNVERIFIED_PLACEHOLDER.items()},
}

_CHUNK = 1 << 20
#: the whole download must finish within this many seconds (ml-32m is 0.24 GB)
DEFAULT_DEADLINE = 3 * 3600.0
#: extracted archives may hold at most this many bytes in total (ml-32m: 0.9 GB)
MAX_EXTRACTED_BYTES = 32 << 30
#: a member expanding beyond 64 MB may not expand more than this times its compressed size
MAX_MEMBER_RATIO = 200
_RATIO_FLOOR = 64 << 20
MAX_MEMBERS = 10_000
#: the layout each dataset's archive must hold
_EXPECTED_LAYOUT = {"ml-10m": "ml-10m"}
_MD5_RE = re.compile(r"\b([0-9a-fA-F]{32})\b")


class DownloadError(ReelrankError):
    """A download failed: HTTP error, unreachable server or interrupted transfer."""


def default_cache_dir() -> Path:
    """The default download cache, ``~/.cache/reelrank``."""
    return Path("~/.cache/reelrank").expanduser()


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _open_url(url: str, timeout: float) -> http.client.HTTPResponse:
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"{url}: cannot connect ({reason})") from None


def _published_md5(url: str, timeout: float) -> str:
    """The MD5 published in ``<zip>.md5`` (``MD5 (x.zip) = ...`` or ``md5sum`` format)."""
    with _open_url(url, timeout) as response:
        try:
            text = response.read(4096).decode("ascii", errors="replace")
        except (http.client.HTTPException, OSError) as e:
            raise DownloadError(f"{url}: cannot read the checksum ({e})") from None
    match = _MD5_RE.search(text)
    if match is None:
        raise DownloadError(f"{url}: no MD5 checksum found in {text[:80]!r}")
    return match.group(1).lower()


def _download(
    url: str, target: Path, *, progress: bool, timeout: float, deadline: float | None = None
) -> str:
    """Stream ``url`` into ``target``; return the MD5 of the bytes received.

    ``timeout`` bounds each wait for data (a stall); ``deadline`` the whole transfer (both in
    seconds). Either raises :class:`DownloadError` saying how many bytes had arrived.
    """
    md5 = hashlib.md5()
    received = 0
    started = time.monotonic()
    with _open_url(url, timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        of_total = f" of {total:,}" if total is not None else ""
        with (
            open(target, "wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=target.name.split(".part")[0],
                disable=not progress,
            ) as bar,
        ):
            while True:
                try:
                    block = response.read1(_CHUNK)  # what has arrived (a stall times out)
                except TimeoutError:
                    raise DownloadError(
                        f"{url}: stalled, no data for {timeout:g} s after {received:,}"
                        f"{of_total} bytes received"
                    ) from None
                except (http.client.HTTPException, OSError) as e:
                    raise DownloadError(
                        f"{url}: connection lost after {received:,}{of_total} bytes ({e})"
                    ) from None
                if not block:
                    break
                out.write(block)
                md5.update(block)
                received += len(block)
                bar.update(len(block))
                if deadline is not None and time.monotonic() - started > deadline:
                    raise DownloadError(
                        f"{url}: not finished within the {deadline:g} s deadline "
                        f"({received:,}{of_total} bytes received)"
                    )
    if total is not None and received != total:
        raise DownloadError(f"{url}: interrupted, received {received:,} of {total:,} bytes")
    return md5.hexdigest()


def _safe_members(zf: zipfile.ZipFile, zip_name: str) -> tuple[list[zipfile.ZipInfo], str]:
    """Members to extract and the single top folder to strip (``""`` if none).

    Refuses absolute or ``..`` paths, symbolic links, too many members, and archives that
    would expand beyond :data:`MAX_EXTRACTED_BYTES` (or a member beyond
    :data:`MAX_MEMBER_RATIO` times its compressed size).
    """
    members = [m for m in zf.infolist() if not m.filename.startswith("__MACOSX")]
    if len(members) > MAX_MEMBERS:
        raise DownloadError(f"{zip_name}: {len(members)} members; refused (not MovieLens)")
    total = 0
    for m in members:
        p = PurePosixPath(m.filename)
        if p.is_absolute() or ".." in p.parts or "\\" in m.filename:
            raise DownloadError(f"{zip_name}: unsafe member path {m.filename!r}")
        if stat.S_ISLNK(m.external_attr >> 16):
            raise DownloadError(f"{zip_name}: member {m.filename!r} is a symbolic link; refused")
        if m.file_size > _RATIO_FLOOR and m.file_size > MAX_MEMBER_RATIO * max(m.compress_size, 1):
            raise DownloadError(
                f"{zip_name}: member {m.filename!r} would expand {m.compress_size:,} bytes "
                f"into {m.file_size:,}; refused"
            )
        total += m.file_size
    if total > MAX_EXTRACTED_BYTES:
        raise DownloadError(
            f"{zip_name}: would extract {total:,} bytes, more than {MAX_EXTRACTED_BYTES:,}; refused"
        )
    tops = {PurePosixPath(m.filename).parts[0] for m in members if m.filename.strip("/")}
    strip = ""
    if len(tops) == 1 and any("/" in m.filename.rstrip("/") for m in members):
        strip = next(iter(tops)) + "/"
    return members, strip


def _extract(zip_path: Path, into: Path, zip_name: str) -> None:
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members, strip = _safe_members(zf, zip_name)
            for m in members:
                rel = m.filename[len(strip) :] if strip else m.filename
                if not rel or m.is_dir():
                    continue
                dest = into / rel
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(m) as src, open(dest, "xb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
                except (zipfile.BadZipFile, zlib.error, EOFError) as e:
                    raise DownloadError(
                        f"{zip_name}: member {m.filename!r} is corrupted ({e})"
                    ) from None
                except OSError as e:  # e.g. a member that is also a folder of other members
                    raise DownloadError(
                        f"{zip_name}: cannot extract member {m.filename!r} ({e.strerror or e})"
                    ) from None
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{zip_name}: not a valid zip archive ({e})") from None


def _check_layout(name: str, folder: Path, zip_name: str) -> None:
    """Refuse an archive that does not hold the MovieLens layout of dataset ``name``."""
    from reelrank.data.movielens import detect_layout
    from reelrank.errors import DataFormatError

    try:
        layout = detect_layout(folder)
    except DataFormatError:
        raise DownloadError(
            f"{zip_name}: holds no MovieLens layout (no u.data, ratings.dat or ratings.csv); "
            f"not installed as {name}"
        ) from None
    expected = _EXPECTED_LAYOUT.get(name, name)
    if layout != expected:
        raise DownloadError(
            f"{zip_name}: holds a {layout} layout, not {expected}; not installed as {name}"
        )


def _clean_leftovers(cache: Path, name: str) -> None:
    """Remove what killed fetches of ``name`` left in the cache (temp folders, .part files)."""
    from reelrank._fs import clean_stale_temporaries

    clean_stale_temporaries(cache, name)
    # folders of versions before the pid was in the name: ".NAME-xxxxxxxx", after an hour
    legacy = re.compile(rf"^\.{re.escape(name)}-[a-z0-9_]{{8}}$")
    for entry in cache.iterdir() if cache.is_dir() else ():
        if legacy.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            if time.time() - entry.stat().st_mtime > 3600:
                shutil.rmtree(entry, ignore_errors=True)
                logger.info("removed %s, left behind by an interrupted fetch", entry)


def _verify_pinned(name: str, folder: Path) -> None:
    for fname, (algorithm, expected) in PINNED_CHECKSUMS.get(name, {}).items():
        path = folder / fname
        if not path.exists():
            raise ChecksumError(f"{name}/{fname}: file missing from the archive")
        actual = _digest(path, algorithm)
        if actual != expected:
            raise ChecksumError(
                f"{name}/{fname}: {algorithm} mismatch, expected {expected}, got {actual}"
            )
        logger.debug("%s/%s: %s ok", name, fname, algorithm)


def fetch(
    name: str,
    *,
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
    deadline: float | None = DEFAULT_DEADLINE,
) -> Path:
    """Download, verify and extract an official MovieLens dataset.

    Parameters
    ----------
    name
        One of :data:`DATASETS` (``"ml-100k"``, ``"ml-1m"``, ``"ml-10m"``, ``"ml-20m"``,
        ``"ml-25m"``, ``"ml-32m"``, ``"ml-latest-small"``, ``"ml-latest"``).
    cache_dir
        Cache folder (default ``~/.cache/reelrank``); the data lands in ``cache_dir/name``.
    base_url
        Where the zips live (default :data:`DEFAULT_BASE_URL`).
    force
        Download again even when the dataset is already in the cache.
    progress
        Show a download progress bar.
    timeout
        Stall timeout: seconds without any data before the download is given up.
    deadline
        Seconds the whole download may take (``None``: no limit).

    Returns
    -------
    pathlib.Path
        The folder holding the extracted files.

    Raises
    ------
    ConfigError
        If ``name`` is not a known dataset.
    DownloadError
        On HTTP errors, connection problems, a stalled, slow or interrupted transfer, an
        unsafe or oversized archive, or one without the dataset's MovieLens layout.
    ChecksumError
        If the zip's MD5 or a pinned per-file checksum does not match; the download is
        deleted.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    dest = cache / name
    if dest.is_dir() and any(dest.iterdir()) and not force:
        logger.info("%s already in %s (use force=True to download again)", name, dest)
        return dest
    zip_name = DATASETS[name]
    url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/" + zip_name
    cache.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(cache, name)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=cache))
    try:
        expected = _published_md5(url + ".md5", timeout)
        part = work / f"{zip_name}.part"
        actual = _download(url, part, progress=progress, timeout=timeout, deadline=deadline)
        if actual != expected:
            raise ChecksumError(
                f"{zip_name}: MD5 mismatch, expected {expected} (from {url}.md5), "
                f"got {actual}; download deleted"
            )
        zip_path = part.rename(work / zip_name)  # complete and verified
        extracted = work / name
        extracted.mkdir()
        _extract(zip_path, extracted, zip_name)
        _verify_pinned(name, extracted)
        _check_layout(name, extracted, zip_name)
        zip_path.unlink()
        if dest.exists():
            shutil.rmtree(dest)
        extracted.rename(dest)
        logger.info("fetched %s into %s", name, dest)
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)
