"""The command line: a thin Typer layer over :mod:`vidclass.api`. The only module that knows Typer.

stdout carries results only (tables, or JSON Lines with ``--json``); everything meant for people
(warnings, errors, progress) goes to stderr. Exit codes are listed in :mod:`vidclass.errors`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from . import __version__
from .api import Classifier
from .errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, VidclassError
from .render import clip_table
from .results import ClipResult
from .session import Provider
from .sources import quiet_decoder_logs

app = typer.Typer(
    help="What is happening in this video? Kinetics-400 actions from DeepMind's I3D through ONNX Runtime.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stdout = Console(highlight=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


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
    paths: Annotated[list[Path], typer.Argument(help="Video files or folders (searched recursively).")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="ONNX model (default: $VIDCLASS_MODEL, models/, user data).")
    ] = None,
    window: Annotated[
        int | None, typer.Option("--window", "-w", min=1, help="Window length in frames (default: the model's).")
    ] = None,
    hop: Annotated[
        int | None, typer.Option("--hop", min=1, help="Frames between window starts (default: the model's).")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many actions to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input on stdout (JSON Lines).")] = False,
    provider: Annotated[
        Provider, typer.Option("--provider", "-p", help="Execution provider; auto takes the best available.")
    ] = Provider.auto,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads for inference (default: all cores).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr.")] = False,
) -> None:
    """Rank the Kinetics-400 actions in each video, and say when they happen.

    Exit codes: 0 all inputs classified, 1 some input failed, 2 usage error, 3 model error,
    130 interrupted.
    """
    _setup_logging(verbose)
    quiet_decoder_logs()
    try:
        classifier = Classifier(
            model, provider=provider, window_frames=window, hop_frames=hop, top_k=top_k, threads=threads
        )
    except VidclassError as e:
        raise _fail(str(e), e.exit_code) from None
    done = failed = 0
    try:
        for result in classifier.predict_many(paths):
            if isinstance(result, ClipResult):
                done += 1
                for warning in result.warnings:
                    stderr.print(f"warning: {escape(result.source)}: {escape(warning)}", style="yellow")
            else:
                failed += 1
                stderr.print(f"vidclass: {escape(result.source)}: {escape(result.error)}", style="red")
            if as_json:
                _write_line(json.dumps(result.to_dict(), ensure_ascii=False))
            elif isinstance(result, ClipResult):
                stdout.print(clip_table(result))
    except VidclassError as e:
        raise _fail(str(e), e.exit_code) from None
    except KeyboardInterrupt:
        raise _fail(f"interrupted after {done} classified, {failed} failed", EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # The reader went away (`vidclass predict ... --json | head -1`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_OK) from None
    if failed:
        stderr.print(f"{done} classified, {failed} failed", style="dim")
        raise typer.Exit(EXIT_INPUT)


def _write_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    app()
