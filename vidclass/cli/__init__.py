"""The command line: a thin Typer layer over :mod:`vidclass.classifier`. The only package that knows Typer.

One module per command (:mod:`.predict`, :mod:`.watch`, :mod:`.evaluate`, :mod:`.inspect`,
:mod:`.report`, :mod:`.models`); what they share, options included, is in :mod:`.common`, and help pages and usage
errors in :mod:`.help`.
stdout carries results only (tables, or JSON Lines with ``--json``); everything meant for people
(warnings, errors, progress) goes to stderr. Exit codes are listed in :mod:`vidclass.errors`.
"""

from __future__ import annotations

import io
import sys
from typing import Annotated

import typer

from ..version import __version__
from . import evaluate, inspect, predict, report, watch
from .common import terminate_like_ctrl_c
from .help import App
from .models import models_app

app = App(name="vidclass", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        print(f"vidclass {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """What is happening in this video? Kinetics-400 actions, from DeepMind's I3D run through ONNX Runtime or OpenVINO.

    Examples:
        vidclass predict clip.mp4                    # the top 5, and when they lead
        vidclass predict videos/ --json              # JSON Lines, for pipelines
        vidclass watch 0                             # live, from the first camera
        vidclass COMMAND --help                      # a command's options
    """
    ctx.with_resource(terminate_like_ctrl_c())  # for the command's duration (see common.py)


# The modules keep their names (vidclass.cli.watch is the module, not the function).
app.command("predict")(predict.predict)
app.command("watch")(watch.watch)
app.command("evaluate")(evaluate.evaluate)
app.command("inspect")(inspect.inspect)
app.command("report")(report.report)
app.add_typer(models_app, name="models")  # `vidclass models` (list, pull, verify, path, remove)


def main() -> None:
    # A file name that is not UTF-8 reaches Python as lone surrogates; under a UTF-8 locale stdout
    # refuses them (a traceback in the middle of a table). Write them back as the name's own bytes,
    # as Python itself does under the C locale and as ls does. (stderr already escapes them.)
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="surrogateescape")
    app(prog_name="vidclass")
