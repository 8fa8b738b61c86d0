"""``vidclass evaluate``: accuracy of the model on labelled videos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import engines
from .. import evaluate as evaluation
from ..classifier import Classifier
from ..errors import EXIT_INPUT
from ..outputs import check_target
from ..outputs.render import BatchProgress, error_line, evaluation_report, line
from ..outputs.report import check_report_target
from ..outputs.sinks import ReportSink
from ..settings import Precision, Provider, Settings
from ..sources import pixel_budget, quiet_decoder_logs
from ..text import for_json
from .common import (
    IO,
    REPORT_THUMBNAILS,
    SEGMENTS,
    AddressOption,
    EngineOption,
    ModelOption,
    PrecisionOption,
    ProviderOption,
    QuietOption,
    ThreadsOption,
    VerboseOption,
    WorkersOption,
    errors,
    fail,
    flag,
    run_info,
    setup_logging,
    stderr,
    stdout,
    value,
    write_line,
)


def evaluate(
    data: Annotated[
        Path,
        typer.Argument(
            metavar="DATA", exists=True, show_default=False,
            help="A folder with one sub-folder per class, or a CSV of path,label (paths relative to it).",
        ),
    ],
    model: ModelOption = None,
    as_json: Annotated[bool, flag("--json", panel=IO, help="The report as one JSON document on stdout.")] = False,
    output: Annotated[
        Path | None,
        value("--output", "-o", metavar="PATH", panel=IO, help="Also write the report to this file, as JSON."),
    ] = None,
    report: Annotated[
        Path | None,
        value(
            "--report", metavar="PATH", panel=IO,
            help="Also write an HTML report: accuracy, confusions, mistakes, every video.",
        ),
    ] = None,
    force: Annotated[
        bool, flag("--force", panel=IO, help="Overwrite an existing --output, --report or --confusion.")
    ] = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    confusion: Annotated[
        Path | None,
        value(
            "--confusion", metavar="PATH", panel=SEGMENTS,
            help="Draw the confusion matrix to this PNG (the plot extra).",
        ),
    ] = None,
    provider: ProviderOption = Provider.auto,
    precision: PrecisionOption = Precision.auto,
    threads: ThreadsOption = None,
    workers: WorkersOption = 1,
    engine: EngineOption = engines.Engine.local,
    address: AddressOption = None,
) -> None:
    """Score the model on your own labelled videos.

    Top-1 and top-5 accuracy, per class, the most confused pairs and every mistake. Labels are
    matched after normalising case, spaces and underscores; videos without a label, or with a
    label the model does not know, are listed and not counted.

    Examples:
        vidclass evaluate labelled/                  # one sub-folder per class
        vidclass evaluate labels.csv --confusion confusion.png

    Exit codes:
        0 done, 1 some video failed or none could be counted, 2 usage error, 3 model error,
        130 interrupted, 143 terminated (SIGTERM).
    """
    setup_logging(verbose)
    quiet_decoder_logs()
    with errors():
        pixel_budget()  # a bad $VIDCLASS_MAX_PIXELS fails now (exit 2), not once per file
        if output is not None:
            check_target(output, force, "--output")
        if confusion is not None:
            from ..outputs.plot import check_confusion_target

            check_confusion_target(confusion, force)
        if report is not None:
            check_report_target(report, force)
        settings = Settings(
            model=model, provider=provider, precision=precision, threads=threads, top_k=evaluation.TOP_K,
            thumbnails=REPORT_THUMBNAILS if report is not None else 0,
        )
        classifier = Classifier(settings=settings)
        dataset = evaluation.match_labels(data, classifier.spec.labels)
        progress = BatchProgress(stderr, len(dataset.counted), enabled=stderr.is_terminal and not quiet)
        with progress:
            done = evaluation.evaluate(
                classifier, dataset, engine=engine, workers=workers, observer=progress, address=address
            )
        if confusion is not None:
            from ..outputs.plot import save_confusion_png

            save_confusion_png(done, confusion)
        if report is not None:
            sink = ReportSink(report, run_info(classifier, engine=engine.value, workers=workers), force=force)
            for result in done.results:
                sink.write(result)
            stderr.print(line("wrote ", sink.close(evaluation=done.to_dict()), style="dim"))
    document = for_json(done.to_dict(), indent=2)  # valid UTF-8 whatever the names: see vidclass.text
    if output is not None:
        output.write_text(document + "\n", encoding="utf-8")
    if as_json:
        write_line(document)
    else:
        stdout.print(evaluation_report(done))
    for error in done.errors:
        stderr.print(error_line(error.source, error.error))
    if not done.videos:
        raise fail(f"{data}: no video with a label the model knows could be evaluated", EXIT_INPUT)
    if done.errors:
        raise typer.Exit(EXIT_INPUT)
