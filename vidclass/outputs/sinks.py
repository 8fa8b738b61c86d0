"""Where the results of a run go: an ``--output`` file, records on stdout (``--json``/``--csv``), or
tables on stdout. One object so that the CLI hands each result over once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

from ..results import ClipResult, ErrorResult
from .records import Format, OutputFile, RecordWriter, open_output, stdout_writer

Result = ClipResult | ErrorResult


class Sinks:
    """Fan-out of results: the output file (all results), stdout records (all results), and the
    table on stdout (classified inputs only, when neither a file nor records take stdout's place)."""

    def __init__(
        self,
        file: OutputFile | None = None,
        records: RecordWriter | None = None,
        table: Callable[[ClipResult], None] | None = None,
    ) -> None:
        self.file = file
        self.records = records
        self.table = table if file is None and records is None else None

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

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


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
) -> Sinks:
    """The sinks of a run. CSV files and records have one label/score column pair per ranked label:
    ``top_k``, or the model's number of classes when it has fewer."""
    ranked = min(top_k, classes)
    file = open_output(output, ranked, force=force, resume=resume) if output is not None else None
    try:
        records = stdout_writer(piped, ranked, stdout()) if piped is not None and stdout is not None else None
    except BaseException:
        if file is not None:
            file.close()
        raise
    return Sinks(file, records, table)
