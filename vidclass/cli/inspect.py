"""``vidclass inspect``: what the model is, and what one of its outputs sees."""

from __future__ import annotations

from typing import Annotated

from ..text import for_json
from .common import IO, WINDOWS, ModelOption, errors, flag, stdout, value, write_line


def inspect(
    model: ModelOption = None,
    window: Annotated[
        int | None,
        value(
            "--window", "-w", min=1, metavar="N", panel=WINDOWS,
            help="Window length in frames for the cost figures (default: the model's).",
        ),
    ] = None,
    as_json: Annotated[bool, flag("--json", panel=IO, help="The report as one JSON document on stdout.")] = False,
) -> None:
    """What the model is, and what one of its outputs sees.

    Layers, receptive field in frames, seconds and pixels, stride, and the FLOPs of one window:
    all read from the ONNX graph (needs the onnx package).

    Examples:
        vidclass inspect                             # the model vidclass would use
        vidclass inspect --model other.onnx --window 32 --json

    Exit codes:
        0 done, 2 usage error, 3 model error.
    """
    from ..outputs.render import inspect_view

    with errors():
        from ..graph.receptive import inspect_model  # needs the optional onnx package

        report = inspect_model(model, window)
    if as_json:
        write_line(for_json(report.to_dict(), indent=2))
    else:
        stdout.print(inspect_view(report))
