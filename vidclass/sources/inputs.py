"""What the user named on the command line, turned into video paths.

An input is one of:

* a file -- taken as given (whatever its extension: the user named it);
* a folder -- searched recursively for files with a video extension (:data:`VIDEO_EXTENSIONS`);
* a glob (``clips/*.mp4``, ``data/**/*.avi``) that the shell did not expand -- expanded here the way
  a shell would, sorted, so the run is the same whichever of the two expanded it;
* ``@list.txt`` -- a text file with one input per line (blank lines and lines starting with ``#``
  skipped); relative paths are read from the list's own folder, as a CSV's are in ``evaluate``;
* ``-`` -- the same, read from standard input, relative to the working directory.

Problems (a missing list, a pattern that matches nothing, a folder without videos) are yielded as
:class:`InputError` rather than raised, so that one bad input does not stop the others.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from ..errors import InputError

#: File name endings treated as videos when a folder is expanded (explicit files are always tried).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".gif", ".ts",
     ".mts", ".m2ts", ".3gp", ".ogv"}
)
STDIN = "-"
LIST_PREFIX = "@"
_GLOB_CHARS = frozenset("*?[")


def is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def read_list(lines: Iterable[str], base: Path | None = None) -> Iterator[str]:
    """The entries of a list of inputs: one per line, blank lines and ``#`` comments skipped.

    ``base`` is the folder that relative entries are read from (``None``: the working directory).
    """
    for line in lines:
        entry = line.rstrip("\r\n")
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        if base is not None and not os.path.isabs(entry):
            entry = os.path.join(base, entry)
        yield entry


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str]], *, stdin: TextIO | None = None
) -> Iterator[Path | InputError]:
    """Every video path the inputs name, in order; problems as :class:`InputError` items.

    ``stdin`` is where ``-`` reads from (default: ``sys.stdin``); it may be given once.
    """
    stdin_read = False
    for item in inputs:
        text = os.fspath(item)
        if text == STDIN:
            if stdin_read:
                yield InputError(STDIN, "standard input was already read (give - once)")
                continue
            stdin_read = True
            yield from _expand_entries(read_list(stdin if stdin is not None else sys.stdin))
        elif text.startswith(LIST_PREFIX) and len(text) > 1 and not os.path.exists(text):
            yield from _expand_list_file(text)
        else:
            yield from _expand_entry(text)


def _expand_list_file(text: str) -> Iterator[Path | InputError]:
    path = Path(text[len(LIST_PREFIX) :])
    try:
        with path.open(encoding="utf-8") as f:
            entries = list(read_list(f, path.parent))
    except FileNotFoundError:
        yield InputError(text, "no such list file")
        return
    except IsADirectoryError:
        yield InputError(text, "is a folder, not a list file")
        return
    except PermissionError:
        yield InputError(text, "permission denied")
        return
    except UnicodeDecodeError as e:
        yield InputError(text, f"not a text file of paths ({e.reason} at byte {e.start})")
        return
    if not entries:
        yield InputError(text, "the list is empty")
        return
    yield from _expand_entries(entries)


def _expand_entries(entries: Iterable[str]) -> Iterator[Path | InputError]:
    for entry in entries:
        yield from _expand_entry(entry)


def _expand_entry(text: str) -> Iterator[Path | InputError]:
    """One file, folder or glob; ``@`` and ``-`` are not special here (a list does not nest)."""
    if is_glob(text) and not os.path.lexists(text):
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            yield InputError(text, "no file matches this pattern")
            return
        for match in matches:
            yield from _expand_path(match)
    else:
        yield from _expand_path(text)


def _expand_path(text: str) -> Iterator[Path | InputError]:
    """A file as given; a folder expanded recursively to its video files, in sorted order."""
    path = Path(text)
    try:
        is_dir = path.is_dir()
    except OSError:  # a name too long, ...: VideoFile says why, as for any bad file
        is_dir = False
    if not is_dir:
        yield path
        return
    videos = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    if not videos:
        extensions = " ".join(sorted(VIDEO_EXTENSIONS))
        yield InputError(text, f"no video files in this folder (looked for {extensions})")
    yield from videos
