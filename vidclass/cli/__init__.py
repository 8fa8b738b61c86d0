"""The command line: a thin Typer layer over :mod:`vidclass.classifier`. The only module that knows Typer.

stdout carries results only (tables, or JSON Lines with ``--json``); everything meant for people
(warnings, errors, progress) goes to stderr. Exit codes are listed in :mod:`vidclass.errors`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.markup import escape

from .. import engines
from .. import evaluate as evaluation
from ..classifier import Classifier
from ..engines import Engine
from ..errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, VidclassError
from ..outputs.records import Format, check_output_options, source_key
from ..outputs.render import (
    BatchProgress,
    batch_summary,
    clip_table,
    evaluation_report,
    watch_line,
    watch_summary,
    watch_view,
    watch_waiting,
)
from ..outputs.report import RunInfo, check_report_target
from ..outputs.sinks import ReportSink, Sinks, open_sinks
from ..results import ClipResult
from ..segments import DEFAULT_THRESHOLD, SegmentRule
from ..settings import Mode, Precision, Provider, Settings
from ..sources import STREAM_TIMEOUT_S, open_source, quiet_decoder_logs
from ..sources.inputs import expand_inputs
from ..version import __version__

app = typer.Typer(
    help="What is happening in this video? Kinetics-400 actions from DeepMind's I3D through ONNX Runtime.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _ResultConsole(Console):
    """stdout. rich exits with status 1 when the reader goes away (``predict a.mp4 | head -1``);
    hand the BrokenPipeError to the command instead, which stops quietly as it does for --json
    (and where a command does not, Typer ends it quietly on EPIPE)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


stdout = _ResultConsole(highlight=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


# Options that predict, watch and evaluate share.
ModelOption = Annotated[
    Path | None, typer.Option("--model", "-m", help="ONNX model (default: $VIDCLASS_MODEL, models/, user data).")
]
WindowOption = Annotated[
    int | None, typer.Option("--window", "-w", min=1, help="Window length in frames (default: the model's).")
]
HopOption = Annotated[
    int | None, typer.Option("--hop", min=1, help="Frames between window starts (default: the model's).")
]
TopKOption = Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many actions to show.")]
ProviderOption = Annotated[
    Provider, typer.Option("--provider", "-p", help="Execution provider; auto takes the best available.")
]
ThreadsOption = Annotated[
    int | None, typer.Option("--threads", min=1, help="CPU threads for inference (default: all cores).")
]


#: Thumbnails per video in ``--report``, taken in the same decode that classifies.
REPORT_THUMBNAILS = 8
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr.")]


class _StderrHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno >= logging.WARNING else "dim"
        stderr.print(f"{record.levelname.lower()}: {escape(record.getMessage())}", style=style)


def _setup_logging(verbose: bool) -> None:
    log = logging.getLogger("vidclass")
    log.handlers[:] = [_StderrHandler()]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def _fail(message: str, code: int) -> typer.Exit:
    stderr.print(f"vidclass: {escape(message)}", style="red")
    return typer.Exit(code)


@contextlib.contextmanager
def _errors(interrupted: str = "interrupted") -> Iterator[None]:
    """The one error wrapper: a :class:`VidclassError` is one line and its exit code, Ctrl-C is 130."""
    try:
        yield
    except VidclassError as e:
        raise _fail(str(e), e.exit_code) from None
    except KeyboardInterrupt:
        raise _fail(interrupted, EXIT_INTERRUPTED) from None


def _version(value: bool) -> None:
    if value:
        print(f"vidclass {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Classify videos with I3D (Kinetics-400)."""


@app.command()
def predict(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Video files, folders (searched recursively), globs, @list.txt (one path a line), - (paths on stdin).",
            # Each input is checked on its own (one line, and the others go on): Click's own check
            # would stop the whole run with a usage error for one unreadable file.
            readable=False,
        ),
    ],
    model: ModelOption = None,
    window: WindowOption = None,
    hop: HopOption = None,
    top_k: TopKOption = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input on stdout (JSON Lines).")] = False,
    provider: ProviderOption = Provider.auto,
    threads: ThreadsOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write every result to this file: JSON Lines (.jsonl) or CSV (.csv)."),
    ] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV on stdout: source, top-1, label_i/score_i, duration, error.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --output, --output-video or --plot file.")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an --output file: skip the inputs it already holds.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-j", min=1, help="Processes decoding in parallel (1: in this one); Ray: ONNX Runtime actors."
        ),
    ] = 1,
    engine: Annotated[
        Engine, typer.Option("--engine", help="local, or ray: the same job on a Ray cluster (the ray extra).")
    ] = Engine.local,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary on stderr.")] = False,
    segments: Annotated[
        bool, typer.Option("--segments", help="Also merge the windows into segments: action, start, end, score.")
    ] = False,
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="--segments: an action starts at this probability and ends below half of it."),
    ] = DEFAULT_THRESHOLD,
    min_duration: Annotated[
        float | None,
        typer.Option(
            "--min-duration",
            help="--segments: seconds; shorter actions and gaps join their neighbours (default: one window).",
        ),
    ] = None,
    output_video: Annotated[
        Path | None,
        typer.Option("--output-video", help="Write the video with the top-3 and a timeline drawn on it (one input)."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Draw the top classes over time to this PNG (one input; the plot extra)."),
    ] = None,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode", help="windows: each window on its own; dense: one pass over the whole video, in chunks."
        ),
    ] = Mode.windows,
    chunk_frames: Annotated[
        int | None,
        typer.Option(
            "--chunk-frames", min=16, help="--mode dense: frames per chunk (default 224; less memory, more overlap)."
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write an HTML report: thumbnails, top-5, timelines, filters (one file)."),
    ] = None,
    precision: Annotated[
        Precision,
        typer.Option(
            "--precision",
            help="fp32; bf16 (OpenVINO, AMX/AVX512-BF16 CPUs); int8 (scripts/quantize_i3d.py). README: Performance.",
        ),
    ] = Precision.auto,
    verbose: VerboseOption = False,
) -> None:
    """Rank the Kinetics-400 actions in each video, and say when they happen.

    Exit codes: 0 all inputs classified, 1 some input failed, 2 usage error, 3 model error,
    130 interrupted.
    """
    _setup_logging(verbose)
    quiet_decoder_logs()
    with _errors():
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
            piped=Format.csv if as_csv else Format.jsonl if as_json else None, stdout=_stdout_bytes,
            table=lambda result: stdout.print(clip_table(result), crop=False), force=force, resume=resume,
            report=report, run=_run_info(classifier, engine=engine.value, workers=workers),
        )
        job = engines.plan(expand_inputs(paths), sinks.done, key=source_key)
        progress = BatchProgress(stderr, len(job.items), enabled=stderr.is_terminal and not quiet)
        results = engines.run(classifier, job.items, engine=engine, workers=workers, observer=progress, address=address)
        if sinks.file is not None and sinks.file.repaired:
            stderr.print(f"warning: {escape(str(output))}: cut off an unfinished last record", style="yellow")
        if sinks.file is not None and resume and not quiet:
            stderr.print(f"{output}: {sinks.file.existing} done before, {len(job.items)} to go", style="dim")
        with progress:
            for _, result in results:
                if isinstance(result, ClipResult):
                    done += 1
                    for warning in result.warnings:
                        stderr.print(f"warning: {escape(result.source)}: {escape(warning)}", style="yellow")
                else:
                    failed += 1
                    stderr.print(f"vidclass: {escape(result.source)}: {escape(result.error)}", style="red")
                sinks.write(result)
                if isinstance(result, ClipResult):
                    _write_views(result, output_video, plot, force)
        finished = True
    except VidclassError as e:
        raise _fail(str(e), e.exit_code) from None
    except KeyboardInterrupt:
        hint = f"; --resume continues {output}" if sinks is not None and sinks.file is not None else ""
        raise _fail(f"interrupted after {done} classified, {failed} failed{hint}", EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # The reader went away (`vidclass predict ... --json | head -1`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
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


def _run_info(classifier: Classifier, **settings: str | int | float | bool | None) -> RunInfo:
    """What the report says of the run: the command as typed and the settings the records do not hold."""
    shown: dict[str, str | int | float | bool | None] = {"mode": classifier.mode.value}
    if classifier.settings.segments is not None:
        shown["threshold"] = classifier.settings.segments.threshold
    return RunInfo(command=shlex.join(["vidclass", *sys.argv[1:]]), settings={**shown, **settings})


def _write_report(sinks: Sinks) -> None:
    """The report of what was classified (also after Ctrl-C: whole records only)."""
    if sinks.report is None:
        return
    try:
        stderr.print(f"wrote {escape(sinks.finish() or '')}", style="dim")
    except VidclassError as e:
        stderr.print(f"vidclass: {escape(str(e))}", style="red")


def _stdout_bytes() -> BinaryIO:
    """Standard output for whole records written in one call each (the text layer flushed first)."""
    sys.stdout.flush()
    return sys.stdout.buffer


@app.command()
def evaluate(
    data: Annotated[
        Path,
        typer.Argument(
            exists=True, help="A folder with one sub-folder per class, or a CSV of path,label (paths relative to it)."
        ),
    ],
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON document on stdout.")] = False,
    confusion: Annotated[
        Path | None, typer.Option("--confusion", help="Draw the confusion matrix to this PNG (the plot extra).")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write an HTML report: accuracy, confusions, mistakes, every video."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --confusion or --report file.")] = False,
    provider: ProviderOption = Provider.auto,
    threads: ThreadsOption = None,
    workers: Annotated[
        int, typer.Option("--workers", "-j", min=1, help="Processes decoding in parallel; Ray: ONNX Runtime actors.")
    ] = 1,
    engine: Annotated[Engine, typer.Option("--engine", help="local, or ray (the ray extra).")] = Engine.local,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar on stderr.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """How good is the model on your labelled videos: top-1/top-5 accuracy, per class, confusions, mistakes.

    Labels are matched after normalising case, spaces and underscores; videos without a label or
    with a label the model does not know are listed, not counted. Exit codes: 0 done, 1 some video
    failed or none could be counted, 2 usage error, 3 model error, 130 interrupted.
    """
    _setup_logging(verbose)
    quiet_decoder_logs()
    with _errors():
        if confusion is not None:
            from ..outputs.plot import check_confusion_target

            check_confusion_target(confusion, force)
        if report is not None:
            check_report_target(report, force)
        settings = Settings(
            model=model, provider=provider, threads=threads, top_k=evaluation.TOP_K,
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
            sink = ReportSink(report, _run_info(classifier, engine=engine.value, workers=workers), force=force)
            for result in done.results:
                sink.write(result)
            stderr.print(f"wrote {escape(sink.close(evaluation=done.to_dict()))}", style="dim")
    if as_json:
        _write_line(json.dumps(done.to_dict(), indent=2, ensure_ascii=False))
    else:
        stdout.print(evaluation_report(done))
    for error in done.errors:
        stderr.print(f"vidclass: {escape(error.source)}: {escape(error.error)}", style="red")
    if not done.videos:
        raise _fail(f"{data}: no video with a label the model knows could be evaluated", EXIT_INPUT)
    if done.errors:
        raise typer.Exit(EXIT_INPUT)


@app.command()
def watch(
    camera: Annotated[
        int | None,
        typer.Option("--camera", "-c", min=0, help="Watch this camera (0 is the first).", show_default=False),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source", "-s", help="Watch a video file or a stream URL (http(s) MJPEG or HLS, rtsp).",
            show_default=False,
        ),
    ] = None,
    model: ModelOption = None,
    window: WindowOption = None,
    hop: HopOption = None,
    top_k: TopKOption = 5,
    smooth: Annotated[int, typer.Option("--smooth", min=1, help="Show the mean scores of the last N windows.")] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per window on stdout (JSON Lines), flushed at once.")
    ] = False,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.0, help="Stop after this many seconds of video.")
    ] = None,
    max_windows: Annotated[
        int | None, typer.Option("--max-windows", min=1, help="Stop after this many windows.")
    ] = None,
    no_realtime: Annotated[
        bool,
        typer.Option(
            "--no-realtime",
            help="Files only: classify every window as fast as possible (the window scores of predict) "
            "instead of playing the file at its own speed.",
        ),
    ] = False,
    reconnect: Annotated[
        bool, typer.Option("--reconnect", help="Network streams: reopen a lost stream, waiting 1, 2, 4 ... 30 s.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, help="Network streams: seconds to wait to open, or for the next frame."),
    ] = STREAM_TIMEOUT_S,
    show: Annotated[
        bool, typer.Option("--show", help="Also show the video with the labels in a window (needs a display).")
    ] = False,
    provider: ProviderOption = Provider.auto,
    threads: ThreadsOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Classify what a camera, a stream or a video file shows, live.

    Each window is classified as soon as its last frame has arrived. When the model is slower
    than real time, whole windows are skipped (and counted), never frames inside a window. On a
    terminal the view is redrawn with each result; otherwise one line per window, or one JSON
    object per window with --json. Stops at the end of a file, after --duration or --max-windows,
    or on Ctrl-C; a summary line goes to stderr.

    Exit codes: 0 stopped as asked or at the end of the video, 1 the source cannot be opened or
    failed mid-way, 2 usage error, 3 model error, 130 interrupted (Ctrl-C).
    """
    from rich.live import Live

    from ..engines.watch import Watch
    from ..outputs.show import REDRAW_S, Viewer, display_problem

    _setup_logging(verbose)
    quiet_decoder_logs()
    if (camera is None) == (source is None):
        raise _fail("watch what? give --camera N or --source PATH_OR_URL (one of the two)", EXIT_USAGE)
    if show and (problem := display_problem()) is not None:
        raise _fail(f"--show: {problem}", EXIT_USAGE)
    with _errors("interrupted before watching started"):
        settings = Settings(
            model=model, provider=provider, threads=threads, window_frames=window, hop_frames=hop, top_k=top_k
        )
        classifier = Classifier(settings=settings)
        opened = open_source(camera if camera is not None else str(source), timeout_s=timeout, reconnect=reconnect)
        try:
            watcher = Watch(
                classifier, opened, realtime=not no_realtime, smooth=smooth, duration_s=duration,
                max_windows=max_windows,
            )
            viewer = Viewer(f"vidclass watch: {opened.name}") if show else None
        except BaseException:
            opened.close()
            raise

    interactive = not as_json and sys.stdout.isatty() and stderr.is_terminal
    waiting = watch_waiting(
        opened.name, classifier.window_frames / classifier.spec.frame_rate, classifier.session.provider
    )
    view = Live(waiting, console=stderr, auto_refresh=False) if interactive else None
    stopped: str | None = None
    error: VidclassError | None = None
    try:
        with watcher, view or contextlib.nullcontext():
            last = None
            for result in watcher.results(poll_s=REDRAW_S if viewer else None):
                if result is not None:
                    last = result
                    if as_json:
                        _write_line(json.dumps(result.to_dict(), ensure_ascii=False))
                    elif view is not None:
                        view.update(watch_view(result), refresh=True)  # redrawn on a new result only
                    else:
                        _write_line(watch_line(result))
                if viewer is not None and not viewer.show(watcher.latest_frame(), last):
                    stopped = "window closed"
                    break
    except KeyboardInterrupt:
        stopped = "interrupted"
    except VidclassError as e:
        error = e
    except BrokenPipeError:
        # The reader went away (`vidclass watch ... --json | head -1`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        stopped = "output closed"
    finally:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while stopping
            watcher.close()
            if viewer is not None:
                viewer.close()
    summary = watcher.summary(stopped)
    if error is not None:
        done = f"; {summary.windows} windows classified, {summary.skipped} skipped" if summary.frames else ""
        raise _fail(f"{error}{done}", error.exit_code)
    if stopped == "interrupted":
        raise _fail(watch_summary(summary), EXIT_INTERRUPTED)
    if stopped != "output closed":
        stderr.print(escape(watch_summary(summary)), style="dim")


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
        stderr.print(
            f"wrote {escape(str(video.path))}: {video.frames} frames, {video.width}×{video.height}, "
            f"{video.fps:g} fps, {video.codec} ({video.fourcc})",
            style="dim",
        )
        if not video.is_h264:
            stderr.print(
                f"note: this OpenCV cannot encode H.264, so the video is {video.codec} ({video.fourcc}): desktop "
                "players open it, browsers may not (re-encode with ffmpeg -c:v libx264 for the web)",
                style="yellow",
            )
    if plot is not None:
        from ..outputs.plot import save_timeline_plot

        stderr.print(f"wrote {escape(str(save_timeline_plot(result, plot, force=force)))}", style="dim")


@app.command("inspect")
def inspect_command(
    model: Annotated[
        Path | None, typer.Argument(help="ONNX model (default: $VIDCLASS_MODEL, models/, user data).")
    ] = None,
    frames: Annotated[
        int | None,
        typer.Option("--frames", "-n", min=1, help="Window length for the cost figures (default: the model's)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON document on stdout.")] = False,
) -> None:
    """What the model is, and what one of its outputs sees: layers, receptive field in frames,
    seconds and pixels, stride, and the FLOPs of one window; all read from the ONNX graph.

    Exit codes: 0 done, 2 usage error, 3 model error.
    """
    from ..outputs.render import inspect_view

    with _errors():
        from ..graph.receptive import inspect_model  # needs the optional onnx package

        report = inspect_model(model, frames)
    if as_json:
        _write_line(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        stdout.print(inspect_view(report))


def _write_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    # A file name that is not UTF-8 reaches Python as lone surrogates; under a UTF-8 locale stdout
    # refuses them (a traceback in the middle of a table). Write them back as the name's own bytes,
    # as Python itself does under the C locale and as ls does. (stderr already escapes them.)
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="surrogateescape")
    app()


from .models import models_app  # noqa: E402 -- `vidclass models` (list, pull, verify, path, remove)
from .report import report  # noqa: E402  (its own module; it imports _fail and stderr from here)

app.add_typer(models_app, name="models")
app.command("report")(report)
