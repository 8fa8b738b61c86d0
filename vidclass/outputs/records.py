"""Result files and streams: JSON Lines and CSV, written one whole record at a time.

* JSON Lines: one ``to_dict()`` object per line (the same records as ``predict --json``), written
  by :func:`~vidclass.text.for_json`: exact, valid UTF-8, and nothing in it a terminal obeys.
* CSV: one row per input with columns a spreadsheet opens without help: ``source``,
  ``top1_label``, ``top1_score``, ``label_1``, ``score_1`` ... ``label_k``, ``score_k``,
  ``duration_s``, ``error``. A file gets a UTF-8 byte-order mark so that spreadsheets read
  non-ASCII paths correctly; standard output does not. Text cells (sources, labels, errors) go
  through :func:`~vidclass.text.for_csv`: control characters made visible, so that every record is
  one line, and a formula start (``=``, ``+``, ``-``, ``@``) neutralised with ``'``.

Every record is encoded first and written with one ``write`` call on an unbuffered file, so a
crash or a kill never leaves half a record behind. A write that fails part-way (a full disk, an I/O
error) is cut back to the last whole record and raises :class:`~vidclass.errors.OutputError`
(exit code 1, one line). Should the machine itself go down in the middle of a write,
:func:`open_output` with ``resume=True`` cuts the unfinished last record off before it appends; a
complete last record that only lacks its line end is kept (JSON that parses, a CSV row with all
its columns) and finished.

Nothing is overwritten without ``force``; ``resume`` appends to an existing file and reports the
sources it already holds, so that a run that was interrupted can skip them. One run writes a file
at a time: :func:`open_output` takes an advisory lock (``flock``) on it, held until the file is
closed, and a second run is refused with the process that holds it.
"""

from __future__ import annotations

import csv
import enum
import errno
import fcntl
import io
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import OutputError, UsageError
from ..results import ClipResult, ErrorResult
from ..text import for_csv, for_json, for_terminal, from_csv

Result = ClipResult | ErrorResult

_BOM = "\ufeff"
#: The line end of a CSV record (the ``csv`` module's) and of a JSON Lines record.
_CSV_END, _JSONL_END = "\r\n", "\n"
#: The longest record read back when resuming. vidclass's own are a few hundred bytes (a path is at
#: most 4096); a longer line is not one of them, and reading it whole could take any amount of memory.
MAX_RECORD_BYTES = 1 << 20


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
    """How sources are compared when resuming: ``clips/a.mp4`` and ``./clips/a.mp4`` are the same.

    A name is compared as a CSV shows it (control characters and bytes that are not UTF-8 made
    visible, see :func:`~vidclass.text.for_terminal`), so that a CSV resumes every name it holds,
    and JSON Lines the same way.
    """
    return os.path.normpath(for_terminal(source))


def csv_header(top_k: int) -> list[str]:
    ranked = [name for i in range(1, top_k + 1) for name in (f"label_{i}", f"score_{i}")]
    return ["source", "top1_label", "top1_score", *ranked, "duration_s", "error"]


def csv_row(result: Result, top_k: int) -> list[str]:
    """The CSV cells of one result; scores and duration rounded as in ``to_dict()``.

    Text cells go through :func:`~vidclass.text.for_csv`; the numbers are vidclass's own.
    """
    if isinstance(result, ErrorResult):
        return [for_csv(result.source), "", "", *([""] * (2 * top_k)), "", for_csv(result.error)]
    record = result.to_dict()
    top = record["top"][:top_k]
    ranked: list[str] = []
    for i in range(top_k):
        ranked += [for_csv(top[i]["label"]), repr(top[i]["score"])] if i < len(top) else ["", ""]
    top1 = ranked[:2]
    return [for_csv(result.source), *top1, *ranked, repr(record["duration_s"]), ""]


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=_CSV_END).writerow(cells)
    return buffer.getvalue()


class RecordWriter:
    """Writes results as whole records to a binary stream, one ``write`` call per record.

    ``name`` is how messages call the stream; ``after_failure`` is what the user can do when a write
    to a file failed ("--resume continues results.jsonl"). With ``cut_back``, the stream is a
    regular file that this writer alone appends to, and a record that fails part-way is cut off it
    again (standard output may be a file that others write too: it is left as it is).
    """

    def __init__(
        self,
        stream: BinaryIO,
        fmt: Format,
        top_k: int,
        *,
        header: bool = True,
        bom: bool = False,
        name: str = "standard output",
        after_failure: str = "",
        cut_back: bool = False,
    ) -> None:
        self.stream = stream
        self.format = fmt
        self.top_k = top_k
        self.name = name
        self.after_failure = after_failure
        self.cut_back = cut_back
        self.records = 0
        if fmt is Format.csv and header:
            self._put((_BOM if bom else "") + _csv_line(csv_header(top_k)))

    def encode(self, result: Result) -> str:
        if self.format is Format.jsonl:
            return for_json(result.to_dict()) + _JSONL_END
        return _csv_line(csv_row(result, self.top_k))

    def write(self, result: Result) -> None:
        self._put(self.encode(result))
        self.records += 1

    def end_record(self) -> None:
        """Write the line end that a complete last record lacks (a file resumed)."""
        self._put(_CSV_END if self.format is Format.csv else _JSONL_END)

    def _put(self, text: str) -> None:
        # for_json and for_csv leave no lone surrogate (a file name's bytes that were not UTF-8):
        # they are escapes by now, and the output is valid UTF-8.
        data = text.encode("utf-8")
        start = self._size()
        try:
            view = memoryview(data)
            while view:  # a regular file takes it all at once; a pipe may take it in pieces
                written = self.stream.write(view)
                view = view[written if written is not None else len(view) :]
            self.stream.flush()
        except BrokenPipeError:
            raise  # the reader went away: the caller stops quietly
        except OSError as e:
            raise OutputError(self.name, self._failure(e, start)) from e

    def _size(self) -> int | None:
        """The size of the file before a write (None: not cut back, or not a regular file)."""
        if not self.cut_back:
            return None
        try:
            status = os.fstat(self.stream.fileno())
        except (OSError, AttributeError, io.UnsupportedOperation):
            return None
        return status.st_size if stat.S_ISREG(status.st_mode) else None

    def _failure(self, error: OSError, start: int | None) -> str:
        """Cut a regular file back to ``start`` (its last whole record); the message that says so."""
        cause = f"cannot write ({error.strerror or error})"
        if start is None:
            return cause
        try:
            os.ftruncate(self.stream.fileno(), start)
        except OSError:
            return f"{cause}; its last record may be cut short (--resume repairs it)"
        full = error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        then = f": {'free some space, then ' if full else ''}{self.after_failure}" if self.after_failure else ""
        return f"{cause}; it holds whole records only{then}"

    def close(self) -> None:
        self.stream.close()


@dataclass
class OutputFile:
    """An output file opened (and locked) for a run, with what it already held when resuming."""

    path: Path
    writer: RecordWriter
    #: :func:`source_key` of every source already in the file (empty unless resuming).
    done: set[str] = field(default_factory=set)
    #: Records already in the file, and whether an unfinished last record was cut off.
    existing: int = 0
    repaired: bool = False

    def write(self, result: Result) -> None:
        self.writer.write(result)

    def close(self) -> None:
        """Close the file, which releases its lock."""
        self.writer.close()


def open_output(path: str | os.PathLike[str], top_k: int, *, force: bool = False, resume: bool = False) -> OutputFile:
    """Open and lock ``path`` for results; the format comes from its extension.

    A file that exists is refused unless ``force`` (start it again) or ``resume`` (append to it,
    and return the sources it already holds). A file that another run is writing is refused,
    naming that run. Raises :class:`UsageError` naming the file and the way out, and
    :class:`OutputError` when the header cannot be written.
    """
    path = Path(path)
    fmt = format_for(path)
    if force and resume:
        raise UsageError("--force and --resume contradict each other: start the file again, or continue it")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; --output takes a file name")
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist")
    fd = _open_locked(path, force=force, resume=resume)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
        existing = _Existing()
        if regular and force:
            os.ftruncate(fd, 0)  # only now, under the lock: the run that holds it keeps its file
        elif regular and resume:
            existing = _read_existing(fd, path, fmt, top_k)
        stream = open(fd, "ab", buffering=0)  # closed by the OutputFile, which releases the lock
    except BaseException:
        os.close(fd)
        raise
    header = not regular or os.fstat(fd).st_size == 0
    try:
        # Unbuffered: each record reaches the file in one write, never half of it.
        writer = RecordWriter(
            stream, fmt, top_k, header=header, bom=True, name=str(path),
            after_failure=f"--resume continues {path}", cut_back=regular,
        )
        if existing.unterminated:
            writer.end_record()
    except BaseException:
        stream.close()
        raise
    return OutputFile(path, writer, existing.done, existing.records, existing.repaired)


def _open_locked(path: Path, *, force: bool, resume: bool) -> int:
    """A descriptor of ``path`` for appending, with this process's exclusive lock on it."""
    create_only = not (force or resume)
    try:
        reads = resume and stat.S_ISREG(path.stat().st_mode)
    except OSError:
        reads = False
    # O_RDWR only to read a file back: a FIFO opened for reading too would fill up and block.
    flags = (os.O_RDWR if reads else os.O_WRONLY) | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | (os.O_EXCL if create_only else 0), 0o666)
    except FileExistsError:
        holder = _holder(path)
        if holder is not None:
            raise _busy(path, holder) from None
        raise UsageError(f"{path}: already exists; add --resume to continue it or --force to overwrite it") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot write ({e.strerror or e})") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _busy(path, _holder(path) or "a process this machine does not show") from None
    except OSError as e:
        if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            os.close(fd)
            raise UsageError(f"{path}: cannot lock ({e.strerror or e})") from e
        # A file system without locks (some network mounts): go on unlocked, as every tool does.
    return fd


def _busy(path: Path, holder: str) -> UsageError:
    return UsageError(f"{path}: another run is writing it ({holder}); wait for it to end, or choose another --output")


def _holder(path: Path) -> str | None:
    """Who holds the ``flock`` on ``path``: "pid 1234: vidclass predict ..." (Linux), else None."""
    try:
        status = path.stat()
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            locks = f.read().splitlines()
    except OSError:
        return None
    inode = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    for line in locks:
        # "1: FLOCK  ADVISORY  WRITE 12345 fe:00:16039976 0 EOF"; waiting locks have "->" second.
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode:
            return f"pid {fields[4]}{_command(fields[4])}"
    return None


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read(4096).split(b"\0")
    except OSError:
        return ""
    words = [os.fsdecode(arg) for arg in argv if arg]
    if words and os.path.basename(words[0]).startswith("python") and len(words) > 1:
        words = words[1:]  # "python /usr/bin/vidclass predict ...": the script says more
    command = " ".join(words)
    return f": {command[:120]}" if command else ""


@dataclass
class _Existing:
    """What a file that is resumed already holds."""

    done: set[str] = field(default_factory=set)
    records: int = 0
    #: An unfinished last record was cut off.
    repaired: bool = False
    #: The last record is complete but lacks its line end (it is written before the next record).
    unterminated: bool = False


class _Lines:
    """The lines of a file descriptor, decoded, with the byte offset where the last one handed out ends."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path
        self.number = 0
        #: Byte offset just past the last line handed out, whether that line had its end, and whether
        #: it was cut in the middle of a character (and so cannot be a whole record).
        self.end = 0
        self.terminated = True
        self.mangled = False

    def __iter__(self) -> Iterator[str]:
        offset, pending = 0, b""
        while True:
            chunk = os.pread(self.fd, 1 << 16, offset)
            offset += len(chunk)
            pending += chunk
            while (cut := pending.find(b"\n") + 1) or (pending and not chunk):
                line, pending = (pending[:cut], pending[cut:]) if cut else (pending, b"")
                yield self._decoded(line)
            if len(pending) > MAX_RECORD_BYTES:
                raise UsageError(
                    f"{self.path}: cannot resume, line {self.number + 1} is longer than {MAX_RECORD_BYTES} bytes "
                    "(not a vidclass results file)"
                )
            if not chunk:
                return

    def _decoded(self, line: bytes) -> str:
        self.number += 1
        self.end += len(line)
        self.terminated = line.endswith(b"\n")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            if self.terminated:
                raise UsageError(
                    f"{self.path}: cannot resume, line {self.number} is not UTF-8 text ({e.reason})"
                ) from e
            text, self.mangled = line.decode("utf-8", "replace"), True  # a record cut inside a character
        return text.removeprefix(_BOM) if self.number == 1 else text


def _read_existing(fd: int, path: Path, fmt: Format, top_k: int) -> _Existing:
    """The sources already in the file; an unfinished last record (a crash mid-write) is cut off."""
    lines = _Lines(fd, path)
    sources, whole_bytes, unterminated = (_jsonl_sources if fmt is Format.jsonl else _csv_sources)(lines, top_k)
    size = os.fstat(fd).st_size
    if whole_bytes < size:
        os.ftruncate(fd, whole_bytes)
    return _Existing({source_key(s) for s in sources}, len(sources), whole_bytes < size, unterminated)


def _jsonl_sources(lines: _Lines, top_k: int) -> tuple[list[str], int, bool]:
    """Sources, the bytes of whole records, and whether the last one lacks its line end."""
    sources: list[str] = []
    whole = 0
    for line in lines:
        if line.strip():
            try:
                record: Any = json.loads(line)
            except json.JSONDecodeError as e:
                if not lines.terminated or lines.mangled:
                    break  # cut off in the middle: the run that wrote it was killed
                raise UsageError(f"{lines.path}: cannot resume, line {lines.number} is not JSON ({e.msg})") from e
            if not isinstance(record, dict) or not isinstance(record.get("source"), str):
                raise UsageError(
                    f"{lines.path}: cannot resume, line {lines.number} is not a vidclass record (no source)"
                )
            sources.append(record["source"])
        whole = lines.end
    return sources, whole, not lines.terminated and whole == lines.end


def _csv_sources(lines: _Lines, top_k: int) -> tuple[list[str], int, bool]:
    """As :func:`_jsonl_sources`, parsed by the ``csv`` module: quoted line breaks are one record."""
    expected = csv_header(top_k)
    reader = csv.reader(lines, strict=True)
    sources: list[str] = []
    whole = 0
    try:
        for row in reader:
            if not lines.terminated and (len(row) != len(expected) or lines.mangled):
                if whole == 0 and not _csv_line(expected).startswith(",".join(row)):
                    _check_header(lines.path, row, top_k)  # not a header cut short: not a vidclass CSV
                break  # the last record, cut off
            if whole == 0:
                _check_header(lines.path, row, top_k)
            elif row:
                sources.append(from_csv(row[0]))
            whole = lines.end
    except csv.Error as e:
        if lines.end < os.fstat(lines.fd).st_size or "field larger" in str(e):
            raise UsageError(f"{lines.path}: cannot resume, record at line {reader.line_num} is not CSV ({e})") from e
        # A quoted cell that never closes at the end of the file: the last record was cut off.
    return sources, whole, not lines.terminated and whole == lines.end


def _check_header(path: Path, row: list[str], top_k: int) -> None:
    if row[:1] != ["source"]:
        raise UsageError(f"{path}: cannot resume, it is not a vidclass CSV (its first column is not source)")
    if row != csv_header(top_k):
        found = (len(row) - len(csv_header(0))) // 2
        raise UsageError(
            f"{path}: cannot resume, its columns are not this run's "
            f"(it looks like top-{found}, this run writes top-{top_k}: use the same --top-k)"
        )


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
