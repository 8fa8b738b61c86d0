"""``vidclass watch``: classify a camera, a stream or a file live, window by window."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..classifier import Classifier
from ..errors import EXIT_USAGE, UsageError, VidclassError, interruption
from ..outputs.records import Format, format_for, open_output
from ..outputs.render import WatchView, watch_line, watch_summary, watch_waiting
from ..settings import Mode, Precision, Provider, Settings
from ..sources import STREAM_TIMEOUT_S, open_source, pixel_budget, quiet_decoder_logs
from ..text import for_json, for_terminal
from .common import (
    IO,
    SOURCE,
    WINDOWS,
    HopOption,
    LiveChunkOption,
    LiveModeOption,
    ModelOption,
    PrecisionOption,
    ProviderOption,
    ThreadsOption,
    TopKOption,
    VerboseOption,
    WindowOption,
    errors,
    fail,
    flag,
    reader_gone,
    setup_logging,
    stderr,
    value,
    write_line,
)


def watch(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="A camera index (0 is the first camera), a video file, or a stream URL "
            "(http(s) MJPEG or HLS, rtsp, rtmp, udp, srt).",
            show_default=False,
        ),
    ],
    model: ModelOption = None,
    top_k: TopKOption = 5,
    as_json: Annotated[
        bool, flag("--json", panel=IO, help="One JSON object per window on stdout (JSON Lines), flushed at once.")
    ] = False,
    output: Annotated[
        Path | None,
        value(
            "--output", "-o", metavar="PATH", panel=IO,
            help="Also write every window to this file, as JSON Lines (.jsonl).",
        ),
    ] = None,
    force: Annotated[bool, flag("--force", panel=IO, help="Overwrite an existing --output.")] = False,
    show: Annotated[
        bool, flag("--show", panel=IO, help="Also show the video with the labels in a window (a display).")
    ] = False,
    quiet: Annotated[
        bool,
        flag(
            "--quiet", "-q", panel=IO,
            help="No live view and no summary: results as lines on stdout; on stderr, warnings and errors only.",
        ),
    ] = False,
    verbose: VerboseOption = False,
    window: WindowOption = None,
    hop: HopOption = None,
    mode: LiveModeOption = Mode.auto,
    chunk_frames: LiveChunkOption = None,
    smooth: Annotated[
        int,
        value(
            "--smooth", min=1, metavar="N", panel=WINDOWS,
            help="Show the mean scores of the last N windows (default: 1).",
        ),
    ] = 1,
    duration: Annotated[
        float | None, value("--duration", min=0.0, metavar="SECONDS", panel=SOURCE, help="Stop after this much video.")
    ] = None,
    max_windows: Annotated[
        int | None, value("--max-windows", min=1, metavar="N", panel=SOURCE, help="Stop after this many windows.")
    ] = None,
    no_realtime: Annotated[
        bool,
        flag(
            "--no-realtime", panel=SOURCE,
            help="Files: classify every window as fast as possible (predict's window scores) instead of "
            "playing the file at its own speed.",
        ),
    ] = False,
    reconnect: Annotated[
        bool, flag("--reconnect", panel=SOURCE, help="Streams: reopen a lost stream (waiting 1, 2, 4 ... 30 s).")
    ] = False,
    timeout: Annotated[
        float,
        value(
            "--timeout", min=0.1, metavar="SECONDS", panel=SOURCE, show_default=True,
            help="Streams: how long to wait to open, or for the next frame.",
        ),
    ] = STREAM_TIMEOUT_S,
    provider: ProviderOption = Provider.auto,
    precision: PrecisionOption = Precision.auto,
    threads: ThreadsOption = None,
) -> None:
    """Classify what a camera, a stream or a video file shows, live.

    Stream mode (the default with a streaming form beside the model): every frame goes through the
    network once, block by block, and each window is scored as soon as the frames it depends on have
    been through (its last frame plus half the network's receptive field). Windows mode: each window
    is classified on its own as soon as its last frame has arrived. When the model is slower than
    real time, windows are skipped (and counted), never frames inside a window; stream mode that
    cannot keep up at all goes on in windows mode, and says so. On a
    terminal the view is redrawn with each result; otherwise one line per window, or one JSON
    object with --json. It stops at the end of a file, after --duration or --max-windows, or on
    Ctrl-C, and says how it went on stderr.

    Examples:
        vidclass watch 0                             # the first camera
        vidclass watch rtsp://cam.local/stream --reconnect
        vidclass watch clip.mp4 --no-realtime --json # every window, at full speed

    Exit codes:
        0 stopped as asked or at the end of the video, 1 the source cannot be opened or failed
        mid-way, 2 usage error, 3 model error, 130 interrupted, 143 terminated (SIGTERM).
    """
    from ..engines.watch import Watch
    from ..outputs.show import REDRAW_S, Viewer, display_problem

    setup_logging(verbose)
    quiet_decoder_logs()
    if show and (problem := display_problem()) is not None:
        raise fail(f"--show: {problem}", EXIT_USAGE)
    with errors("interrupted before watching started"):
        pixel_budget()  # a bad $VIDCLASS_MAX_PIXELS fails now (exit 2), before the source opens
        if output is not None and format_for(output) is not Format.jsonl:
            raise UsageError(f"--output {output}: watch writes JSON Lines; name the file .jsonl")
        settings = Settings(
            model=model, provider=provider, precision=precision, threads=threads, window_frames=window,
            hop_frames=hop, top_k=top_k, mode=mode, chunk_frames=chunk_frames,
        )
        classifier = Classifier(settings=settings)
        records = open_output(output, top_k, force=force) if output is not None else None
        try:
            opened = open_source(source, timeout_s=timeout, reconnect=reconnect)
        except BaseException:
            if records is not None:
                records.close()
            raise
        try:
            watcher = Watch(
                classifier, opened, realtime=not no_realtime, smooth=smooth, duration_s=duration,
                max_windows=max_windows,
            )
            viewer = Viewer(f"vidclass watch: {for_terminal(opened.name)}") if show else None
        except BaseException:
            opened.close()
            if records is not None:
                records.close()
            raise

    # The live view is drawn on stderr, for a person at a terminal; anything else gets lines.
    interactive = not as_json and not quiet and sys.stdout.isatty() and stderr.is_terminal
    waiting = watch_waiting(
        opened.name, classifier.window_frames / classifier.spec.frame_rate, classifier.session.provider
    )
    view = WatchView(stderr, waiting) if interactive else None
    stopped: str | None = None
    stopped_code: int | None = None  # Ctrl-C or SIGTERM: 130 or 143
    error: VidclassError | None = None
    try:
        with watcher, view or contextlib.nullcontext():
            last = None
            for result in watcher.results(poll_s=REDRAW_S if viewer else None):
                if result is not None:
                    last = result
                    if records is not None:
                        records.write(result)  # type: ignore[arg-type]  # any to_dict() record
                    if as_json:
                        write_line(for_json(result.to_dict()))
                    elif view is not None:
                        view.update(result)  # redrawn on a new result only
                    else:
                        write_line(watch_line(result))
                if viewer is not None and not viewer.show(watcher.latest_frame(), last):
                    stopped = "window closed"
                    break
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (errors.Terminated)
        stopped, stopped_code = interruption(e)
    except VidclassError as e:
        error = e
    except BrokenPipeError:
        reader_gone()
        stopped = "output closed"
    finally:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while stopping
            watcher.close()
            if viewer is not None:
                viewer.close()
            if records is not None:
                records.close()
    summary = watcher.summary(stopped)
    if error is not None:
        done = f"; {summary.windows} windows classified, {summary.skipped} skipped" if summary.frames else ""
        raise fail(f"{error}{done}", error.exit_code)
    if stopped_code is not None:
        stderr.print(watch_summary(summary, style="red", prefix="vidclass: "))
        raise typer.Exit(stopped_code)
    if stopped != "output closed" and not quiet:
        stderr.print(watch_summary(summary))
