"""What every command shares: the two consoles, the one error wrapper, logging, and the options
that mean the same thing everywhere (same name, same short form, same help panel).

stdout carries results only (tables, or JSON Lines); everything meant for people (warnings,
errors, progress) goes to stderr. Exit codes are listed in :mod:`vidclass.errors`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.console import Console

from ..classifier import Classifier
from ..engines import Engine
from ..errors import Terminated, VidclassError, interruption
from ..outputs.render import error_line, line
from ..outputs.report import RunInfo
from ..settings import Mode, Precision, Provider


class _ResultConsole(Console):
    """stdout. rich exits with status 1 when the reader goes away (``predict a.mp4 | head -1``);
    hand the BrokenPipeError to the command instead, which stops quietly as it does for --json
    (and where a command does not, Typer ends it quietly on EPIPE)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


stdout = _ResultConsole(highlight=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False)
# A message is wrapped between words on a terminal; a log or a pipe keeps each one on one line.
stderr.soft_wrap = not stderr.is_terminal


# --- help panels: options are grouped by what they are about, in this order ---------------------

IO = "Input and output"
WINDOWS = "Windows"
SEGMENTS = "Segments and figures"
SOURCE = "Source and stopping"
PERFORMANCE = "Performance"
CLUSTER = "Cluster"
PANELS = (IO, WINDOWS, SEGMENTS, SOURCE, PERFORMANCE, CLUSTER)


# --- options ---------------------------------------------------------------------------------------


def flag(*names: str, panel: str, help: str) -> Any:
    """An on/off option: shown in help without a value."""
    return typer.Option(*names, rich_help_panel=panel, help=help)


def value(*names: str, metavar: str, panel: str, help: str, show_default: bool = False, **checks: Any) -> Any:
    """An option that takes a value, named in help by ``metavar`` (PATH, N, SECONDS, NAME). The
    default is shown only on request: most options say theirs in words ("default: the model's")."""
    return typer.Option(
        *names, metavar=metavar, rich_help_panel=panel, show_default=show_default, help=help, **checks
    )


# The options that mean the same in every command: same name, same short form, same panel.
ModelOption = Annotated[
    Path | None,
    value(
        "--model", "-m", metavar="PATH", panel=IO,
        help="The ONNX model (default: $VIDCLASS_MODEL, then models/ here, then your user data folder).",
    ),
]
TopKOption = Annotated[
    int, value("--top-k", "-k", min=1, metavar="N", panel=IO, show_default=True, help="How many actions to show.")
]
QuietOption = Annotated[
    bool, flag("--quiet", "-q", panel=IO, help="Nothing on stderr but warnings and errors: no progress, no summary.")
]
VerboseOption = Annotated[bool, flag("--verbose", "-v", panel=IO, help="More detail on stderr (debug messages).")]
WindowOption = Annotated[
    int | None,
    value(
        "--window", "-w", min=1, metavar="N", panel=WINDOWS,
        help="Window length in frames (default: the model's, from its metadata; `vidclass inspect` shows it).",
    ),
]
HopOption = Annotated[
    int | None,
    value(
        "--hop", min=1, metavar="N", panel=WINDOWS,
        help="Frames from one window's start to the next (default: the model's; I3D: 32).",
    ),
]
def _mode_option(*modes: str) -> Any:
    """``--mode`` for a command that runs ``modes`` (after auto); one wording for every command."""
    said = {
        "stream": "stream: one pass, every frame through the network once, block by block, the network's state "
        "carried between blocks (auto picks it when the model's streaming form is there, else windows)",
        "dense": "dense: the same pass in overlapping chunks",
        "windows": "windows: each window through the network on its own",
    }
    words = "; ".join(said[mode] for mode in modes) + "."
    return Annotated[Mode, value("--mode", metavar="|".join(("auto", *modes)), panel=WINDOWS, help=words)]


#: ``predict``: files, every mode.
ModeOption = _mode_option("stream", "dense", "windows")
#: ``watch``: a live source has no dense chunks.
LiveModeOption = _mode_option("stream", "windows")


def _chunk_option(words: str) -> Any:
    """``--chunk-frames``: how many frames each model call takes in a one-pass mode."""
    return Annotated[int | None, value("--chunk-frames", min=8, metavar="N", panel=WINDOWS, help=words)]


#: ``predict``: stream blocks and dense chunks.
ChunkOption = _chunk_option("stream: frames per block (default: 32); dense: frames per chunk (default: 224).")
#: ``watch``: stream blocks, where the block length is also part of the latency.
LiveChunkOption = _chunk_option(
    "stream: frames per block, a multiple of the model's time stride (default: the smallest with 8 or more; "
    "I3D: 8). Larger blocks take less CPU per frame and give results later."
)
ProviderOption = Annotated[
    Provider,
    value(
        "--provider", "-p", metavar="NAME", panel=PERFORMANCE,
        help="Where the model runs (default: auto, the best available).",
    ),
]
PrecisionOption = Annotated[
    Precision,
    value(
        "--precision", metavar="NAME", panel=PERFORMANCE,
        help="The arithmetic (default: auto, the provider's best). bf16 needs OpenVINO and AMX or "
        "AVX512-BF16; int8 a quantised copy, MODEL.int8.onnx.",
    ),
]
ThreadsOption = Annotated[
    int | None,
    value("--threads", min=1, metavar="N", panel=PERFORMANCE, help="CPU threads for the model (default: all cores)."),
]
WorkersOption = Annotated[
    int,
    value(
        "--workers", "-j", min=1, metavar="N", panel=PERFORMANCE,
        help="Processes decoding videos in parallel (1: this one); with --engine ray, model actors.",
    ),
]
EngineOption = Annotated[
    Engine,
    value(
        "--engine", metavar="local|ray", panel=CLUSTER,
        help="local, or ray: the same job on a Ray cluster (the ray extra).",
    ),
]
AddressOption = Annotated[
    str | None,
    value(
        "--address", metavar="ADDRESS", panel=CLUSTER,
        help="Ray cluster address (default: $RAY_ADDRESS, else a Ray started here).",
    ),
]


# --- errors and logging ---------------------------------------------------------------------------


def fail(message: str, code: int) -> typer.Exit:
    """Say ``message`` as one line on stderr; raise the returned Exit to end with ``code``.

    The message embeds names from outside (paths, labels, a server's reply): made visible, never
    markup, so that it stays one line however it was spelt (:func:`~vidclass.outputs.render.error_line`)."""
    stderr.print(error_line(message))
    return typer.Exit(code)


@contextlib.contextmanager
def errors(interrupted: str = "interrupted") -> Iterator[None]:
    """The one error wrapper: a :class:`VidclassError` is one line and its exit code, Ctrl-C is 130
    and SIGTERM 143 (``interrupted`` says when; SIGTERM says "terminated (SIGTERM)" in its place)."""
    try:
        yield
    except VidclassError as e:
        raise fail(str(e), e.exit_code) from None
    except KeyboardInterrupt as e:
        word, code = interruption(e)
        raise fail(interrupted.replace("interrupted", word, 1), code) from None


@contextlib.contextmanager
def terminate_like_ctrl_c() -> Iterator[None]:
    """For a command's duration, SIGTERM raises :class:`~vidclass.errors.Terminated` (a KeyboardInterrupt)
    in the main thread, so that it ends the way Ctrl-C does: whole records, one summary line, exit 143.

    Python's default for SIGTERM is to die on the spot, without the summary and with workers left to
    find out. A second SIGTERM while the command stops gets that default again (as a second Ctrl-C
    is meant to be forceful). Signals reach only the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _StderrHandler(logging.Handler):
    """A log record as one line on stderr (its arguments are often names from outside)."""

    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno >= logging.WARNING else "dim"
        stderr.print(line(record.levelname.lower(), ": ", record.getMessage(), style=style))


def setup_logging(verbose: bool) -> None:
    log = logging.getLogger("vidclass")
    log.handlers[:] = [_StderrHandler()]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


# --- writing results ------------------------------------------------------------------------------

#: Thumbnails per video in ``--report``, taken in the same decode that classifies.
REPORT_THUMBNAILS = 8


def run_info(classifier: Classifier, **settings: str | int | float | bool | None) -> RunInfo:
    """What a report says of the run: the command as typed and the settings the records do not hold."""
    shown: dict[str, str | int | float | bool | None] = {"mode": classifier.mode.value}
    if classifier.settings.segments is not None:
        shown["threshold"] = classifier.settings.segments.threshold
    return RunInfo(command=shlex.join(["vidclass", *sys.argv[1:]]), settings={**shown, **settings})



def write_line(line: str) -> None:
    """One line of results on stdout, flushed at once (a reader downstream sees it now)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def stdout_bytes() -> BinaryIO:
    """Standard output for whole records written in one call each (the text layer flushed first)."""
    sys.stdout.flush()
    return sys.stdout.buffer


def reader_gone() -> None:
    """The reader of stdout went away (``vidclass ... --json | head -1``): point stdout at the null
    device, so that the flush at exit does not fail a second time."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
