"""What the user named on the command line, turned into video paths.

An input is one of:

* a file -- taken as given (whatever its extension: the user named it);
* a folder -- searched recursively for files with a video extension (:data:`VIDEO_EXTENSIONS`);
  folders behind symbolic links are not followed (as ``find`` does not), so a link to a parent
  cannot loop;
* a glob (``clips/*.mp4``, ``data/**/*.avi``) that the shell did not expand -- expanded here the way
  a shell would (hidden names only when the pattern says so), sorted, so the run is the same
  whichever of the two expanded it; ``**`` does not follow folder links either;
* ``@list.txt`` -- a text file with one input per line (blank lines and lines starting with ``#``
  skipped); relative paths are read from the list's own folder, as a CSV's are in ``evaluate``;
* ``-`` -- the same, read from standard input, relative to the working directory.

Problems (a missing list, a pattern that matches nothing, a folder without videos) are yielded as
:class:`InputError` rather than raised, so that one bad input does not stop the others.

Everything here is bounded, so that no input can take unbounded time, memory or stack: folders are
walked with a stack of their own (a folder nested 1000 deep is no ``RecursionError``), at most
:data:`MAX_FOLDER_DEPTH` deep and :data:`MAX_FOLDER_ENTRIES` entries per input; a list is read a
line at a time, at most :data:`MAX_LIST_BYTES`, :data:`MAX_LIST_LINE_CHARS` a line and
:data:`MAX_LIST_ENTRIES` entries (``@/dev/zero`` is one line, not a process that grows until it is
killed). What lies beyond a limit is left out, with one :class:`InputError` that says so.
"""

from __future__ import annotations

import fnmatch
import os
import re
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

#: Folder levels searched below a folder (or below the fixed start of a ``**`` pattern). Real
#: collections are a handful deep; this is deep enough for any and keeps a hostile tree finite.
MAX_FOLDER_DEPTH = 64
#: Entries (files and folders) looked at for one folder or pattern: a few seconds of listing.
MAX_FOLDER_ENTRIES = 1_000_000
#: A list is one path a line, and a path is at most PATH_MAX (4096 bytes on Linux): a line four
#: times that long is not a path.
MAX_LIST_LINE_CHARS = 16_384
#: Characters (of any line, comments included) and entries read from one list.
MAX_LIST_BYTES = 256 * 1024 * 1024
MAX_LIST_ENTRIES = 1_000_000


def is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


class _ListTooLong(Exception):
    """A list that breaks one of the limits; the message is the cause."""


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


def _bounded_lines(stream: TextIO) -> Iterator[str]:
    """The lines of ``stream``, within the list limits (raises :class:`_ListTooLong`)."""
    total = 0
    number = 0
    while line := stream.readline(MAX_LIST_LINE_CHARS + 1):
        number += 1
        total += len(line)
        if "\0" in line:
            raise _ListTooLong(f"line {number} holds NUL bytes: not a text list of paths")
        if len(line) > MAX_LIST_LINE_CHARS:
            raise _ListTooLong(f"line {number} is longer than {MAX_LIST_LINE_CHARS} characters: not a list of paths")
        if total > MAX_LIST_BYTES:
            raise _ListTooLong(f"longer than {MAX_LIST_BYTES // 2**20} MiB: split it into several lists")
        yield line


def _read_entries(stream: TextIO, base: Path | None) -> list[str]:
    entries: list[str] = []
    for entry in read_list(_bounded_lines(stream), base):
        if len(entries) == MAX_LIST_ENTRIES:
            raise _ListTooLong(f"more than {MAX_LIST_ENTRIES} entries: split it into several lists")
        entries.append(entry)
    return entries


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
            yield from _expand_stdin(stdin if stdin is not None else sys.stdin)
        elif text.startswith(LIST_PREFIX) and len(text) > 1 and not os.path.exists(text):
            yield from _expand_list_file(text)
        else:
            yield from _expand_entry(text)


def _expand_stdin(stream: TextIO) -> Iterator[Path | InputError]:
    try:
        entries = _read_entries(stream, None)
    except _ListTooLong as e:
        yield InputError(STDIN, str(e))
        return
    except UnicodeDecodeError as e:
        yield InputError(STDIN, f"not a text list of paths ({e.reason} at byte {e.start})")
        return
    for entry in entries:
        yield from _expand_entry(entry)


def _expand_list_file(text: str) -> Iterator[Path | InputError]:
    path = Path(text[len(LIST_PREFIX) :])
    try:
        with path.open(encoding="utf-8") as f:
            entries = _read_entries(f, path.parent)
    except FileNotFoundError:
        yield InputError(text, "no such list file")
        return
    except IsADirectoryError:
        yield InputError(text, "is a folder, not a list file")
        return
    except PermissionError:
        yield InputError(text, "permission denied")
        return
    except OSError as e:  # a name too long, an I/O error, ...
        yield InputError(text, f"cannot be read ({e.strerror or e})")
        return
    except UnicodeDecodeError as e:
        yield InputError(text, f"not a text file of paths ({e.reason} at byte {e.start})")
        return
    except _ListTooLong as e:
        yield InputError(text, str(e))
        return
    if not entries:
        yield InputError(text, "the list is empty")
        return
    for entry in entries:
        yield from _expand_entry(entry)


def _expand_entry(text: str) -> Iterator[Path | InputError]:
    """One file, folder or glob; ``@`` and ``-`` are not special here (a list does not nest)."""
    if is_glob(text) and not os.path.lexists(text):
        walk = _Walk(text)
        matches = sorted(_glob(text, walk))
        if not matches and walk.problem is None:
            yield InputError(text, "no file matches this pattern")
        for match in matches:
            yield from _expand_path(match)
        if walk.problem is not None:
            yield InputError(text, walk.problem)
    else:
        yield from _expand_path(text)


def _expand_path(text: str) -> Iterator[Path | InputError]:
    """A file as given; a folder expanded recursively to its video files, in sorted order."""
    path = Path(text)
    try:
        is_dir = path.is_dir()
    except (OSError, ValueError):  # a name too long, a NUL byte, ...: VideoFile says why, as for any bad file
        is_dir = False
    if not is_dir:
        yield path
        return
    walk = _Walk(text)
    videos = sorted(
        Path(found) for found in walk.files(text) if Path(found).suffix.lower() in VIDEO_EXTENSIONS
    )
    if not videos and walk.problem is None:
        extensions = " ".join(sorted(VIDEO_EXTENSIONS))
        yield InputError(text, f"no video files in this folder (looked for {extensions})")
    yield from videos
    if walk.problem is not None:
        yield InputError(text, walk.problem)


class _Walk:
    """A bounded listing of folders, with a stack of its own: what one input may look at."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries = 0
        #: Why the listing stopped short (a limit), or None.
        self.problem: str | None = None

    def listing(self, folder: str) -> list[os.DirEntry[str]]:
        """The entries of ``folder`` (none when it cannot be read), within the entry limit."""
        if self.entries >= MAX_FOLDER_ENTRIES:
            return []
        try:
            with os.scandir(folder or ".") as it:
                found = []
                for entry in it:
                    self.entries += 1
                    if self.entries > MAX_FOLDER_ENTRIES:
                        self.problem = f"more than {MAX_FOLDER_ENTRIES} files and folders: only the first were searched"
                        break
                    found.append(entry)
                return found
        except OSError:  # a folder that cannot be read is skipped, as rglob did
            return []

    def deeper(self, depth: int) -> bool:
        """Whether a folder ``depth`` levels down may be searched; the problem is noted when not."""
        if depth <= MAX_FOLDER_DEPTH:
            return True
        self.problem = f"folders nested more than {MAX_FOLDER_DEPTH} deep: the search stopped at that depth"
        return False

    def files(self, top: str) -> Iterator[str]:
        """Every file below ``top`` (links to files included, links to folders not followed)."""
        stack = [(top, 0)]
        while stack:
            folder, depth = stack.pop()
            for entry in self.listing(folder):
                if _is_dir(entry):
                    if self.deeper(depth + 1):
                        stack.append((entry.path, depth + 1))
                elif _is_file(entry):
                    yield entry.path


def _is_dir(entry: os.DirEntry[str], *, follow_symlinks: bool = False) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow_symlinks)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _glob(pattern: str, walk: _Walk) -> set[str]:
    """What ``glob.glob(pattern, recursive=True)`` gives, found with :class:`_Walk`'s bounds.

    Python's own ``glob`` recurses once per folder level under ``**`` and follows folder links
    there (a link to a parent loops until the stack runs out).
    """
    parts = pattern.split(os.sep)
    fixed = 0
    while fixed < len(parts) - 1 and not is_glob(parts[fixed]):
        fixed += 1
    root = os.sep.join(parts[:fixed]) if fixed else ""
    if parts[0] == "" and fixed == 1:
        root = os.sep
    if root and not os.path.isdir(root):
        return set()
    rest = parts[fixed:]
    matched: set[str] = set()
    # (path so far, index of the next part to match, folder levels below the fixed start)
    stack: list[tuple[str, int, int]] = [(root, 0, 0)]
    seen: set[tuple[str, int]] = set()
    while stack:
        path, index, depth = stack.pop()
        if (path, index) in seen:  # "a/**/**/b" reaches the same place twice
            continue
        seen.add((path, index))
        if index == len(rest):
            if path:
                matched.add(path)
            continue
        part, last = rest[index], index == len(rest) - 1
        if part == "**":
            stack.append((path, index + 1, depth))  # ** matches no folder at all, or ...
            if walk.deeper(depth + 1):
                for entry in walk.listing(path):  # ... any folder below, never a hidden one
                    if not entry.name.startswith(".") and _is_dir(entry):
                        stack.append((os.path.join(path, entry.name), index, depth + 1))
                        if last:
                            matched.add(os.path.join(path, entry.name))
                    elif last and not entry.name.startswith("."):
                        matched.add(os.path.join(path, entry.name))
            continue
        if not is_glob(part):
            candidate = os.path.join(path, part)
            if last and os.path.lexists(candidate) or not last and os.path.isdir(candidate):
                stack.append((candidate, index + 1, depth))
            continue
        matcher = re.compile(fnmatch.translate(part))
        hidden = part.startswith(".")
        for entry in walk.listing(path):
            if entry.name.startswith(".") and not hidden or not matcher.match(entry.name):
                continue
            if last:
                matched.add(os.path.join(path, entry.name))
            elif _is_dir(entry, follow_symlinks=True):  # a named level may be a link to a folder, as in glob
                stack.append((os.path.join(path, entry.name), index + 1, depth))
    return matched
