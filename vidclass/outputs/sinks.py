"""Where the results of a run go: an ``--output`` file, records on stdout (``--json``/``--csv``),
tables on stdout, an HTML report. One object so that the CLI hands each result over once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, BinaryIO

from ..results import ClipResult, ErrorResult
from ..thumbnails import Thumbnail
from .records import Format, OutputFile, RecordWriter, format_for, open_output, stdout_writer
from .report import RunInfo, check_report_target, read_records, write_report

Result = ClipResult | ErrorResult


class ReportSink:
    """``--report``: every record (and the thumbnails taken in the decode) kept until the run ends,
    then one self-contained HTML page (:mod:`vidclass.outputs.report`), written whole or not at all.

    ``earlier`` are records of an earlier run of the same ``--output`` (``--resume``), so that the
    report covers the whole file."""

    def __init__(self, path: str | os.PathLike[str], run: RunInfo, *, force: bool = False,
                 earlier: list[dict[str, Any]] | None = None) -> None:
        self.path = check_report_target(path, force)
        self.run = run
        self.force = force
        self.records: list[dict[str, Any]] = list(earlier or [])
        self.thumbnails: dict[str, tuple[Thumbnail, ...]] = {}

    def write(self, result: Result) -> None:
        self.records.append(result.to_dict())
        if isinstance(result, ClipResult) and result.thumbnails:
            self.thumbnails[result.source] = result.thumbnails

    def close(self, evaluation: dict[str, Any] | None = None) -> str:
        return str(write_report(self.path, self.records, thumbnails=self.thumbnails, run=self.run,
                                evaluation=evaluation, force=True))


class Sinks:
    """Fan-out of results: the output file (all results), stdout records (all results), and the
    table on stdout (classified inputs only, when neither a file nor records take stdout's place)."""

    def __init__(
        self,
        file: OutputFile | None = None,
        records: RecordWriter | None = None,
        table: Callable[[ClipResult], None] | None = None,
        report: ReportSink | None = None,
    ) -> None:
        self.file = file
        self.records = records
        self.table = table if file is None and records is None else None
        self.report = report

    @property
    def done(self) -> set[str]:
        """Sources the output file already holds (``--resume``)."""
        return self.file.done if self.file is not None else set()

    def write(self, result: Result) -> None:
        if self.file is not None:
            self.file.write(result)
        if self.records is not None:
            self.records.write(result)
        if self.table is not None and isinstance(result, ClipResult):
            self.table(result)
        if self.report is not None:
            self.report.write(result)

    def close(self) -> None:
        """Close the file. The report is written by :meth:`finish`, once the run has its results."""
        if self.file is not None:
            self.file.close()

    def finish(self) -> str | None:
        """Write the report (if any) of what was classified, interrupted or not; its path."""
        return self.report.close() if self.report is not None else None


def open_sinks(
    *,
    top_k: int,
    classes: int,
    output: str | os.PathLike[str] | None = None,
    piped: Format | None = None,
    stdout: Callable[[], BinaryIO] | None = None,
    table: Callable[[ClipResult], None] | None = None,
    force: bool = False,
    resume: bool = False,
    report: str | os.PathLike[str] | None = None,
    run: RunInfo | None = None,
) -> Sinks:
    """The sinks of a run. CSV files and records have one label/score column pair per ranked label:
    ``top_k``, or the model's number of classes when it has fewer."""
    ranked = min(top_k, classes)
    # --resume: the report covers the whole file, the earlier run's records too (JSON Lines only:
    # a CSV holds the top-k, not the windows a report draws).
    earlier = None
    if report is not None and resume and output is not None and format_for(output) is Format.jsonl:
        earlier = read_records(output).records if os.path.exists(output) else None
    report_sink = ReportSink(report, run or RunInfo(), force=force, earlier=earlier) if report is not None else None
    file = open_output(output, ranked, force=force, resume=resume) if output is not None else None
    try:
        records = stdout_writer(piped, ranked, stdout()) if piped is not None and stdout is not None else None
    except BaseException:
        if file is not None:
            file.close()
        raise
    return Sinks(file, records, table, report_sink)
