"""``vidclass report RESULTS.jsonl -o report.html``: the HTML report of results made earlier.

A long batch, a resumed one or a Ray run writes JSON Lines (``predict --json`` or ``--output
x.jsonl``); this turns them into the same page as ``predict --report`` (one code path:
:func:`vidclass.outputs.report.write_report`).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError, UsageError, VidclassError, interruption
from ..outputs.render import line, warning_line
from ..outputs.report import (
    ReadRecords,
    RunInfo,
    check_report_target,
    parse_records,
    read_records,
    read_thumbnails,
    write_report,
)
from ..sources import quiet_decoder_logs
from ..thumbnails import Thumbnail
from .common import fail as _fail
from .common import stderr


def report(
    results: Annotated[
        Path,
        typer.Argument(help="JSON Lines from predict --json or --output x.jsonl (- reads standard input)."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing report.")] = False,
    title: Annotated[str, typer.Option("--title", help="The page's title.")] = "vidclass report",
    thumbnails: Annotated[
        int,
        typer.Option(
            "--thumbnails",
            min=0,
            max=32,
            help="Decode each video again for this many thumbnails (0: none; JSON Lines carry no pictures).",
        ),
    ] = 0,
) -> None:
    """Write an HTML report of earlier results (JSON Lines).

    One self-contained page: every video with its top labels, timeline, warnings and errors, the
    labels found, search, filters and sorting. It opens from disk, offline.

    Examples:
        vidclass report results.jsonl -o report.html
        vidclass predict videos/ --json | vidclass report - -o report.html

    Exit codes:
        0 written, 2 usage error (unreadable, empty or not vidclass JSON Lines, an existing
        report without --force), 130 interrupted, 143 terminated (SIGTERM).
    """
    quiet_decoder_logs()
    try:
        check_report_target(output, force, "--output")
        read = _read(results)
        if not read.records:
            name = "standard input" if str(results) == "-" else str(results)
            raise UsageError(f"{name}: no vidclass records in it, nothing to report")
        if read.cut_off:
            stderr.print(warning_line(results, "left out an unfinished last record"))
        strips = _thumbnails(read, thumbnails) if thumbnails else None
        run = RunInfo(title=title, results=str(results), command=shlex.join(["vidclass", *sys.argv[1:]]))
        path = write_report(output, read.records, thumbnails=strips, run=run, force=force, option="--output")
    except VidclassError as e:
        raise _fail(str(e), e.exit_code) from None
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (errors.Terminated)
        word, code = interruption(e)
        raise _fail(f"{word}; no report written", code) from None
    failed = sum("error" in r for r in read.records)
    size_kib = path.stat().st_size / 1024
    counts = f"{len(read.records)} videos ({failed} failed), {size_kib:,.0f} KiB"
    stderr.print(line("wrote ", path, ": ", counts, style="dim"))


def _read(results: Path) -> ReadRecords:
    if str(results) != "-":
        return read_records(results)
    # ``vidclass predict ... --json | vidclass report - -o report.html``
    return parse_records(sys.stdin.buffer.read(), "standard input")


def _thumbnails(read: ReadRecords, count: int) -> dict[str, tuple[Thumbnail, ...]]:
    """A second decode of every video still on disk; one line for each that is not."""
    strips: dict[str, tuple[Thumbnail, ...]] = {}
    for record in read.records:
        if "error" in record:
            continue
        source = record["source"]
        try:
            strips[source] = read_thumbnails(source, count)
        except InputError as e:
            stderr.print(warning_line(f"no thumbnails for {e}"))
    return strips
