"""Result files and streams: JSON Lines and CSV, written one whole record at a time.

* JSON Lines: one ``to_dict()`` object per line (the same records as ``predict --json``).
* CSV: one row per input with columns a spreadsheet opens without help: ``source``,
  ``top1_label``, ``top1_score``, ``label_1``, ``score_1`` ... ``label_k``, ``score_k``,
  ``duration_s``, ``error``. A file gets a UTF-8 byte-order mark so that spreadsheets read
  non-ASCII paths correctly; standard output does not.

Every record is encoded first and written with one ``write`` call on an unbuffered file, so a
crash or a kill never leaves half a record behind. Should the machine itself go down in the middle
of a write, :func:`open_output` with ``resume=True`` cuts the unfinished last line off before it
appends.

Nothing is overwritten without ``force``; ``resume`` appends to an existing file and reports the
sources it already holds, so that a run that was interrupted can skip them.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ..errors import UsageError
from ..results import ClipResult, ErrorResult

Result = ClipResult | ErrorResult

_BOM = "\ufeff".encode()


class Format(str, enum.Enum):
    jsonl = "jsonl"
    csv = "csv"


#: File name endings and the format they select.
EXTENSIONS = {".jsonl": Format.jsonl, ".ndjson": Format.jsonl, ".csv": Format.csv}


def format_for(path: str | os.PathLike[str]) -> Format:
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        endings = ", ".join(EXTENSIONS)
        raise UsageError(f"{path}: cannot tell the output format from the file name (use {endings})")
    return EXTENSIONS[suffix]


def source_key(source: str) -> str:
    """How sources are compared when resuming: ``clips/a.mp4`` and ``./clips/a.mp4`` are the same."""
    return os.path.normpath(source)


def csv_header(top_k: int) -> list[str]:
    ranked = [name for i in range(1, top_k + 1) for name in (f"label_{i}", f"score_{i}")]
    return ["source", "top1_label", "top1_score", *ranked, "duration_s", "error"]


def _one_line(text: str) -> str:
    # One record is one line: keeps a cut-off record detectable, and line-based tools working.
    return " ".join(text.split()) if ("\n" in text or "\r" in text) else text


def csv_row(result: Result, top_k: int) -> list[str]:
    """The CSV cells of one result; scores and duration rounded as in ``to_dict()``."""
    if isinstance(result, ErrorResult):
        return [_one_line(result.source), "", "", *([""] * (2 * top_k)), "", _one_line(result.error)]
    record = result.to_dict()
    top = record["top"][:top_k]
    ranked: list[str] = []
    for i in range(top_k):
        ranked += [top[i]["label"], repr(top[i]["score"])] if i < len(top) else ["", ""]
    top1 = ranked[:2]
    return [_one_line(result.source), *top1, *ranked, repr(record["duration_s"]), ""]


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


class Sink(Protocol):
    def write(self, result: Result) -> None: ...

    def close(self) -> None: ...


class RecordWriter:
    """Writes results as whole records to a binary stream, one ``write`` call per record."""

    def __init__(self, stream: BinaryIO, fmt: Format, top_k: int, *, header: bool = True) -> None:
        self.stream = stream
        self.format = fmt
        self.top_k = top_k
        self.records = 0
        if fmt is Format.csv and header:
            self._put(_csv_line(csv_header(top_k)))

    def encode(self, result: Result) -> str:
        if self.format is Format.jsonl:
            return json.dumps(result.to_dict(), ensure_ascii=False) + "\n"
        return _csv_line(csv_row(result, self.top_k))

    def write(self, result: Result) -> None:
        self._put(self.encode(result))
        self.records += 1

    def _put(self, text: str) -> None:
        # A file name that is not UTF-8 reaches Python as lone surrogates ("caf\udce9.mp4"), which
        # UTF-8 cannot encode. backslashreplace writes them as \udce9: inside a JSON string that is
        # the JSON escape itself (json.loads gives the same str back, os.fsencode the name's bytes);
        # in CSV it is visible text. Either way the output stays valid UTF-8.
        data = text.encode("utf-8", "backslashreplace")
        view = memoryview(data)
        while view:  # a regular file takes it all at once; a pipe may take it in pieces
            written = self.stream.write(view)
            view = view[written if written is not None else len(view) :]
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()


@dataclass
class OutputFile:
    """An output file opened for a run, with what it already held when resuming."""

    path: Path
    writer: RecordWriter
    #: :func:`source_key` of every source already in the file (empty unless resuming).
    done: set[str] = field(default_factory=set)
    #: Records already in the file, and whether an unfinished last line was cut off.
    existing: int = 0
    repaired: bool = False

    def write(self, result: Result) -> None:
        self.writer.write(result)

    def close(self) -> None:
        self.writer.close()


def open_output(path: str | os.PathLike[str], top_k: int, *, force: bool = False, resume: bool = False) -> OutputFile:
    """Open ``path`` for results; the format comes from its extension.

    A file that exists is refused unless ``force`` (start it again) or ``resume`` (append to it,
    and return the sources it already holds). Raises :class:`UsageError` naming the file and the
    way out.
    """
    path = Path(path)
    fmt = format_for(path)
    if force and resume:
        raise UsageError("--force and --resume contradict each other: start the file again, or continue it")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; --output takes a file name")
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist")
    exists = path.exists()
    if exists and not (force or resume):
        raise UsageError(f"{path}: already exists; add --resume to continue it or --force to overwrite it")
    done: set[str] = set()
    existing, repaired, header = 0, False, True
    if exists and resume:
        done, existing, repaired = _read_existing(path, fmt, top_k)
        header = path.stat().st_size == 0
    try:
        # Unbuffered: each record reaches the file in one write, never half of it.
        stream = path.open("ab" if resume else "wb", buffering=0)
    except OSError as e:
        raise UsageError(f"{path}: cannot write ({e.strerror})") from e
    if fmt is Format.csv and header:
        stream.write(_BOM)
    writer = RecordWriter(stream, fmt, top_k, header=header)
    return OutputFile(path, writer, done, existing, repaired)


def _read_existing(path: Path, fmt: Format, top_k: int) -> tuple[set[str], int, bool]:
    """The sources already in ``path``; an unfinished last line (a crash mid-write) is cut off."""
    data = path.read_bytes()
    repaired = False
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with path.open("r+b") as f:
            f.truncate(keep)
        data, repaired = data[:keep], True
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: cannot resume, not a UTF-8 text file ({e.reason})") from e
    if fmt is Format.jsonl:
        sources = _jsonl_sources(path, text.splitlines())
    else:
        sources = _csv_sources(path, text, top_k)
    return {source_key(s) for s in sources}, len(sources), repaired


def _jsonl_sources(path: Path, lines: Iterable[str]) -> list[str]:
    sources = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}: cannot resume, line {number} is not JSON ({e.msg})") from e
        if not isinstance(record, dict) or not isinstance(record.get("source"), str):
            raise UsageError(f"{path}: cannot resume, line {number} is not a vidclass record (no source)")
        sources.append(record["source"])
    return sources


def _csv_sources(path: Path, text: str, top_k: int) -> list[str]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return []
    expected = csv_header(top_k)
    if rows[0][:1] != ["source"]:
        raise UsageError(f"{path}: cannot resume, it is not a vidclass CSV (its first column is not source)")
    if rows[0] != expected:
        found = (len(rows[0]) - len(csv_header(0))) // 2
        raise UsageError(
            f"{path}: cannot resume, its columns are not this run's "
            f"(it looks like top-{found}, this run writes top-{top_k}: use the same --top-k)"
        )
    return [row[0] for row in rows[1:] if row]


def stdout_writer(fmt: Format, top_k: int, stream: BinaryIO) -> RecordWriter:
    """Records on standard output (``--json``, ``--csv``): no byte-order mark, one flush per record."""
    return RecordWriter(stream, fmt, top_k)


def check_output_options(*, as_json: bool, as_csv: bool, output: str | os.PathLike[str] | None, resume: bool) -> None:
    """The output options that contradict each other, refused before any work (exit code 2)."""
    if as_json and as_csv:
        raise UsageError("--json and --csv both write to standard output: choose one")
    if resume and output is None:
        raise UsageError("--resume continues a results file: name it with --output")
    if output is not None:
        format_for(output)
