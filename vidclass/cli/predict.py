"""``vidclass predict``: rank the actions in videos, many at once, with progress on a terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .. import engines
from ..classifier import Classifier
from ..errors import EXIT_INPUT, EXIT_OK, UsageError, VidclassError, interruption
from ..outputs.records import Format, check_output_options, source_key
from ..outputs.render import BatchProgress, batch_summary, clip_table, error_line, line, warning_line
from ..outputs.report import check_report_target
from ..outputs.sinks import Sinks, open_sinks
from ..results import ClipResult
from ..segments import DEFAULT_THRESHOLD, SegmentRule
from ..settings import Mode, Precision, Provider, Settings
from ..sources import pixel_budget, quiet_decoder_logs
from ..sources.inputs import expand_inputs
from .common import (
    IO,
    REPORT_THUMBNAILS,
    SEGMENTS,
    AddressOption,
    ChunkOption,
    EngineOption,
    HopOption,
    ModelOption,
    ModeOption,
    PrecisionOption,
    ProviderOption,
    QuietOption,
    ThreadsOption,
    TopKOption,
    VerboseOption,
    WindowOption,
    WorkersOption,
    errors,
    fail,
    flag,
    reader_gone,
    run_info,
    setup_logging,
    stderr,
    stdout,
    stdout_bytes,
    value,
)


def predict(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="Video files, folders (searched recursively), globs, @list.txt (one path a line), "
            "or - (paths on stdin).",
            # Each input is checked on its own (one line, and the others go on): Click's own check
            # would stop the whole run with a usage error for one unreadable file.
            readable=False,
            show_default=False,
        ),
    ],
    model: ModelOption = None,
    top_k: TopKOption = 5,
    as_json: Annotated[
        bool, flag("--json", panel=IO, help="One JSON object per input on stdout (JSON Lines).")
    ] = False,
    as_csv: Annotated[
        bool, flag("--csv", panel=IO, help="CSV on stdout: source, top-1, label_i/score_i, duration, error.")
    ] = False,
    output: Annotated[
        Path | None,
        value(
            "--output", "-o", metavar="PATH", panel=IO,
            help="Write every result to this file instead of tables: JSON Lines (.jsonl) or CSV (.csv).",
        ),
    ] = None,
    force: Annotated[
        bool, flag("--force", panel=IO, help="Overwrite an existing --output, --report, --output-video or --plot.")
    ] = False,
    resume: Annotated[
        bool, flag("--resume", panel=IO, help="Continue an --output file: skip the inputs it holds.")
    ] = False,
    report: Annotated[
        Path | None,
        value(
            "--report", metavar="PATH", panel=IO,
            help="Also write an HTML report: thumbnails, top-5, timelines, filters (one file).",
        ),
    ] = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    window: WindowOption = None,
    hop: HopOption = None,
    mode: ModeOption = Mode.auto,
    chunk_frames: ChunkOption = None,
    segments: Annotated[
        bool,
        flag("--segments", panel=SEGMENTS, help="Also merge the windows into segments: action, start, end, score."),
    ] = False,
    threshold: Annotated[
        float,
        value(
            "--threshold", metavar="SCORE", panel=SEGMENTS, show_default=True,
            help="--segments: an action starts at this probability and ends below half of it.",
        ),
    ] = DEFAULT_THRESHOLD,
    min_duration: Annotated[
        float | None,
        value(
            "--min-duration", metavar="SECONDS", panel=SEGMENTS,
            help="--segments: shorter actions and gaps join their neighbours (default: one window).",
        ),
    ] = None,
    output_video: Annotated[
        Path | None,
        value(
            "--output-video", metavar="PATH", panel=SEGMENTS,
            help="Write the video with the top-3 and a timeline drawn on it (one input).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        value(
            "--plot", metavar="PATH", panel=SEGMENTS,
            help="Draw the top classes over time to this PNG (one input; the plot extra).",
        ),
    ] = None,
    provider: ProviderOption = Provider.auto,
    precision: PrecisionOption = Precision.auto,
    threads: ThreadsOption = None,
    workers: WorkersOption = 1,
    engine: EngineOption = engines.Engine.local,
    address: AddressOption = None,
) -> None:
    """Rank the actions in each video, and say when they happen.

    Each video goes through the network once, every frame once (stream mode), and is scored in
    overlapping windows (the model's window and hop, from its metadata); the table ranks the
    actions over the whole video and says in which windows each one leads. On a
    terminal, progress shows each file's frames and the time left until the run ends.

    Examples:
        vidclass predict clip.mp4                    # the top 5, and when they lead
        vidclass predict videos/ -o results.jsonl    # a folder, to a file
        vidclass predict match.mp4 --segments --plot timeline.png

    Exit codes:
        0 all inputs classified, 1 some input failed, 2 usage error, 3 model error, 130 interrupted,
        143 terminated (SIGTERM).
    """
    setup_logging(verbose)
    quiet_decoder_logs()
    with errors():
        pixel_budget()  # a bad $VIDCLASS_MAX_PIXELS fails now (exit 2), not once per file
        check_output_options(as_json=as_json, as_csv=as_csv, output=output, resume=resume)
        _check_views(paths, output_video, plot, force)
        settings = Settings(
            model=model, provider=provider, precision=precision, threads=threads, window_frames=window,
            hop_frames=hop, mode=mode, chunk_frames=chunk_frames, top_k=top_k,
            segments=SegmentRule(threshold, min_duration) if segments else None,
            thumbnails=REPORT_THUMBNAILS if report is not None else 0,
        )
        if report is not None:
            check_report_target(report, force)
        classifier = Classifier(settings=settings)
    done = failed = 0
    finished = False
    results = sinks = None
    try:
        # Opened here, not above: a CSV header on stdout is output, and Ctrl-C after it is a summary.
        sinks = open_sinks(
            top_k=top_k, classes=classifier.spec.num_classes, output=output,
            piped=Format.csv if as_csv else Format.jsonl if as_json else None, stdout=stdout_bytes,
            table=lambda result: stdout.print(clip_table(result), crop=False), force=force, resume=resume,
            report=report, run=run_info(classifier, engine=engine.value, workers=workers),
        )
        job = engines.plan(expand_inputs(paths), sinks.done, key=source_key)
        progress = BatchProgress(
            stderr, len(job.items), enabled=stderr.is_terminal and not quiet, results_on_screen=stdout.is_terminal
        )
        results = engines.run(classifier, job.items, engine=engine, workers=workers, observer=progress, address=address)
        if sinks.file is not None and sinks.file.repaired:
            stderr.print(warning_line(output, "cut off an unfinished last record"))
        if sinks.file is not None and resume and not quiet:
            stderr.print(line(output, f": {sinks.file.existing} done before, {len(job.items)} to go", style="dim"))
        with progress:
            for _, result in results:
                with progress.results():  # the progress steps aside while a result is written
                    if isinstance(result, ClipResult):
                        done += 1
                        for warning in result.warnings:
                            stderr.print(warning_line(result.source, warning))
                    else:
                        failed += 1
                        stderr.print(error_line(result.source, result.error))
                    sinks.write(result)
                    sys.stdout.flush()
                if isinstance(result, ClipResult):
                    _write_views(result, output_video, plot, force)
        finished = True
    except VidclassError as e:
        raise fail(str(e), e.exit_code) from None
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (errors.Terminated)
        hint = f"; --resume continues {output}" if sinks is not None and sinks.file is not None else ""
        word, code = interruption(e)
        raise fail(f"{word} after {done} classified, {failed} failed{hint}", code) from None
    except BrokenPipeError:
        reader_gone()
        raise typer.Exit(EXIT_OK) from None
    finally:
        if results is not None:
            results.close()  # stops decoding workers or Ray before the process exits
        if sinks is not None:
            sinks.close()
            if done or failed or finished:
                _write_report(sinks)
    if not quiet and (failed or sinks.file is not None):
        stderr.print(batch_summary(done, failed, job.skipped, str(output) if output else None))
    if failed:
        raise typer.Exit(EXIT_INPUT)


def _write_report(sinks: Sinks) -> None:
    """The report of what was classified (also after Ctrl-C: whole records only)."""
    if sinks.report is None:
        return
    try:
        stderr.print(line("wrote ", sinks.finish() or "", style="dim"))
    except VidclassError as e:
        stderr.print(error_line(e))


def _check_views(paths: list[Path], output_video: Path | None, plot: Path | None, force: bool) -> None:
    """--output-video and --plot each name one file: one input video, and targets checked before the work."""
    if output_video is None and plot is None:
        return
    if len(paths) != 1 or paths[0].is_dir():
        raise UsageError("--output-video and --plot draw one video: give exactly one video file")
    for option, target in (("--output-video", output_video), ("--plot", plot)):
        # --force overwrites an old result, never the video being classified.
        if target is not None and target.exists() and paths[0].exists() and target.samefile(paths[0]):
            raise UsageError(f"{option} {target}: is the input video itself; name another file")
    if output_video is not None:
        from ..outputs.annotate import check_video_target

        check_video_target(output_video, force)
    if plot is not None:
        from ..outputs.plot import check_plot_target

        check_plot_target(plot, force)


def _write_views(result: ClipResult, output_video: Path | None, plot: Path | None, force: bool) -> None:
    if output_video is not None:
        from ..outputs.annotate import write_annotated_video

        video = write_annotated_video(result, output_video, force=force)
        stderr.print(line(
            "wrote ", video.path, f": {video.frames} frames, {video.width}×{video.height}, "
            f"{video.fps:g} fps, {video.codec} ({video.fourcc})",
            style="dim",
        ))
        if not video.is_h264:
            stderr.print(line(
                f"note: this OpenCV cannot encode H.264, so the video is {video.codec} ({video.fourcc}): desktop "
                "players open it, browsers may not (re-encode with ffmpeg -c:v libx264 for the web)",
                style="yellow",
            ))
    if plot is not None:
        from ..outputs.plot import save_timeline_plot

        stderr.print(line("wrote ", save_timeline_plot(result, plot, force=force), style="dim"))
