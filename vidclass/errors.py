"""Domain errors. The library raises these; the CLI turns each into one line and an exit code.

Exit codes (documented in the README):

* 0 -- every input classified
* 1 -- at least one input failed (the others still produced results), or the results could not be written
* 2 -- usage error (bad option, no inputs; Typer/Click use 2 as well)
* 3 -- model error (no model, unreadable model, model without the vidclass contract)
* 130 -- interrupted (Ctrl-C)
* 143 -- terminated (SIGTERM: ``kill``, ``docker stop``, systemd), which stops the way Ctrl-C does
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_INTERRUPTED = 130
#: 128 + SIGTERM, as a shell reports a process that SIGTERM ended.
EXIT_TERMINATED = 128 + signal.SIGTERM


class VidclassError(Exception):
    """Base class: every error vidclass expects to happen in normal use."""

    exit_code = EXIT_INPUT


class UsageError(VidclassError):
    """The options do not make sense together (for example a window shorter than the model's minimum)."""

    exit_code = EXIT_USAGE


class ModelError(VidclassError):
    """The model cannot be found, read or understood."""

    exit_code = EXIT_MODEL


class ModelNotFoundError(ModelError):
    """No exported model in any of the places vidclass looks."""


class SpecError(ModelError):
    """The ONNX file lacks the vidclass metadata, or the metadata contradicts the graph."""


class InputError(VidclassError):
    """One input (file, folder, stream) cannot be classified."""

    def __init__(self, source: str, cause: str) -> None:
        super().__init__(f"{source}: {cause}")
        self.source = source
        self.cause = cause


class NonFiniteError(VidclassError):
    """The model produced NaN or Inf where scores belong: not a score, so no result (exit 1).

    Raised where no input is known (a live window); a file's result is an :class:`InputError`
    with the same words instead, so that the other inputs of a run go on.
    """


class OutputError(VidclassError):
    """A results file or standard output cannot be written (disk full, I/O error); what it holds is whole records."""

    def __init__(self, target: str, cause: str) -> None:
        super().__init__(f"{target}: {cause}")
        self.target = target
        self.cause = cause


class CheckpointError(VidclassError):
    """A weights archive or checkpoint is not what it claims to be (wrong hash, unsafe pickle)."""

    exit_code = EXIT_MODEL


class Terminated(KeyboardInterrupt):
    """A termination signal (SIGTERM) arrived: raised in the main thread by the command line's handler.

    A :class:`KeyboardInterrupt`, so that every place that stops cleanly on Ctrl-C (whole records,
    workers and threads stopped, one summary line) stops the same way; only the words and the
    exit code differ (:func:`interruption`).
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


def interruption(error: BaseException) -> tuple[str, int]:
    """How a stop is named and its exit code: ``("interrupted", 130)`` for Ctrl-C, and
    ``("terminated (SIGTERM)", 143)`` for a :class:`Terminated`."""
    if isinstance(error, Terminated):
        return f"terminated ({signal.Signals(error.signum).name})", 128 + error.signum
    return "interrupted", EXIT_INTERRUPTED
