"""Help pages and usage errors in the manner of ``gh``, ``uv`` and ``ruff``.

Typer's own help shows every option as taking a value (``--json <bool>``), leaks internal types
(``<int range>``, ``<list[Path]>``) and puts 26 options in one panel. Here the page is built from
the same Click parameters: flags as flags, metavars as written on the options (``PATH``, ``N``,
``SECONDS``), options in the panels named on them (:data:`~vidclass.cli.common.PANELS`), text
reflowed to the terminal, examples from the command's docstring. :func:`vidclass.outputs.render.help_page`
draws it. Usage errors are one line, and a mistyped option gets the nearest real one.

A command's docstring is its page: the first paragraph is the summary (also the line in
``vidclass --help``), the next paragraphs the description, and a paragraph that starts with a
``Heading:`` line is a section of its own; the lines of an ``Examples:`` section are kept as they
are, the others reflowed.
"""

from __future__ import annotations

import difflib
import inspect
import io
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ..errors import EXIT_USAGE, interruption
from ..outputs.render import HelpEntry, HelpPage, HelpSection, error_line, help_page, line
from .common import PANELS, stderr

try:  # Typer 0.2x carries its own copy of Click
    from typer import _click as click
except ImportError:  # pragma: no cover - older Typer on the real Click
    import click  # type: ignore[no-redef]

#: Help reads best at this width at most, however wide the terminal.
MAX_WIDTH = 100
#: The panel of options that name none (--help, --version).
OTHER = "Options"
#: Unknown options that name the input: the input is an argument, which the message says.
_INPUT_WORDS = {"source", "input", "inputs", "file", "files", "camera", "video", "videos", "url", "path", "src"}

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


# --- the page ----------------------------------------------------------------------------------


def _paragraphs(doc: str | None) -> list[str]:
    text = inspect.cleandoc(doc or "").partition("\f")[0]
    return [p for p in text.split("\n\n") if p.strip()]


def _reflow(text: str) -> str:
    return " ".join(text.split())


def _docstring(doc: str | None) -> tuple[str, list[str], list[HelpSection]]:
    """(summary, description paragraphs, sections) of a command's docstring."""
    paragraphs = _paragraphs(doc)
    summary = _reflow(paragraphs[0]) if paragraphs else ""
    description: list[str] = []
    sections: list[HelpSection] = []
    for paragraph in paragraphs[1:]:
        head, _, body = paragraph.partition("\n")
        if head.endswith(":") and body.strip() and len(head) < 40:
            title = head[:-1]
            if title == "Examples":
                lines = tuple(line.strip() for line in body.splitlines() if line.strip())
                sections.append(HelpSection(title, lines=lines))
            else:
                sections.append(HelpSection(title, paragraphs=(_reflow(body),)))
        else:
            description.append(_reflow(paragraph))
    return summary, description, sections


def summary_line(command: click.Command) -> str:
    """What a command does, in one line (its docstring's first paragraph)."""
    return _docstring(command.help)[0]


def _choices(param: click.Parameter) -> list[str] | None:
    descriptor = getattr(param, "type_descriptor", None)  # Typer 0.2x
    choices = getattr(descriptor, "choices", None) if descriptor is not None else None
    if choices is None:
        choices = getattr(getattr(param, "type", None), "choices", None)
    if not choices:
        return None
    return [str(getattr(c, "value", c)) for c in choices]


def _metavar(param: click.Parameter) -> str:
    if param.metavar:
        return param.metavar
    choices = _choices(param)
    if choices and len("|".join(choices)) <= 20:
        return "|".join(choices)
    if isinstance(param, TyperArgument):
        return (param.name or "arg").upper()
    # An option declared without one (a sub-app's): named by its type.
    descriptor = getattr(param, "type_descriptor", None)
    if getattr(descriptor, "is_path", False):
        return "PATH"
    kind = getattr(getattr(descriptor, "annotation", None), "__name__", "")
    return {"int": "N", "float": "NUMBER"}.get(kind, "TEXT")


def _default(param: click.Parameter) -> str | None:
    if getattr(param, "is_flag", False) or not getattr(param, "show_default", True):
        return None
    if isinstance(param.show_default, str):
        return param.show_default
    default = param.default
    if default is None or callable(default) or default == "" or default == ():
        return None
    return str(getattr(default, "value", default))


def entry(param: click.Parameter) -> HelpEntry:
    """``-m, --model PATH`` and its help, with its choices and default when it takes a value."""
    if isinstance(param, TyperArgument):
        names = _metavar(param) + ("..." if param.nargs == -1 else "")
        return HelpEntry(names, _reflow(param.help or ""))
    shorts = [o for o in param.opts if not o.startswith("--")]
    longs = [o for o in param.opts if o.startswith("--")] + list(param.secondary_opts)
    names = ", ".join(shorts + longs) if shorts else "    " + ", ".join(longs)
    text = _reflow(getattr(param, "help", None) or "")
    if not getattr(param, "is_flag", False):
        names += " " + _metavar(param)
        choices = _choices(param)
        if choices and _metavar(param) != "|".join(choices):
            text += f" One of {', '.join(choices)}."
        default = _default(param)
        if default is not None:
            text += f" [default: {default}]"
    return HelpEntry(names, text.strip())


def usage(command: click.Command, ctx: click.Context) -> str:
    """``vidclass predict [OPTIONS] PATH...``"""
    pieces = [ctx.command_path, "[OPTIONS]"]
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument) and not getattr(param, "hidden", False):
            name = _metavar(param) + ("..." if param.nargs == -1 else "")
            pieces.append(name if param.required else f"[{name}]")
    if isinstance(command, TyperGroup):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def page(command: click.Command, ctx: click.Context) -> HelpPage:
    """The help page of ``command`` (a group's lists its commands)."""
    summary, description, extra = _docstring(command.help)
    arguments: list[HelpEntry] = []
    panels: dict[str, list[HelpEntry]] = {}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if isinstance(param, TyperArgument):
            arguments.append(entry(param))
        else:
            panels.setdefault(getattr(param, "rich_help_panel", None) or OTHER, []).append(entry(param))
    sections: list[HelpSection] = []
    if isinstance(command, TyperGroup):
        commands = [
            HelpEntry(name, summary_line(sub))
            for name, sub in getattr(command, "commands", {}).items()
            if not sub.hidden
        ]
        sections.append(HelpSection("Commands", tuple(commands)))
    if arguments:
        sections.append(HelpSection("Arguments", tuple(arguments)))
    # The options that name no panel (--help) join the first panel, which is never "Options"
    # unless no option names a panel.
    other = panels.pop(OTHER, [])
    order = [p for p in PANELS if p in panels] + [p for p in panels if p not in PANELS]
    if order:
        panels[order[0]] += other
    else:
        order, panels[OTHER] = [OTHER], other
    sections += [HelpSection(name, tuple(panels[name])) for name in order if panels[name]]
    return HelpPage(usage(command, ctx), summary, tuple(description), tuple(sections + extra))


def render(page_: HelpPage) -> str:
    """The page as text for Click to print: styled when stdout is a terminal."""
    width = min(shutil.get_terminal_size().columns, MAX_WIDTH)
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=sys.stdout.isatty(), highlight=False, soft_wrap=False,
    )
    console.print(help_page(page_))
    return buffer.getvalue()


# --- usage errors --------------------------------------------------------------------------------


def _normal(option: str) -> str:
    return option.split("=", 1)[0].lstrip("-").replace("_", "-").lower()


def nearest_options(typed: str, command: click.Command, ctx: click.Context) -> list[str]:
    """The real options a mistyped one most likely meant: the same name spelt otherwise
    (``--top_k``), a prefix (``--seg``), a close spelling (``--treshold``), or a value given as
    an option (``--cpu``: ``--provider cpu``)."""
    target = _normal(typed)
    if not target:
        return []
    longs: dict[str, str] = {}
    values: list[str] = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False) or isinstance(param, TyperArgument):
            continue
        long = next((o for o in param.opts if o.startswith("--")), param.opts[0])
        for name in (*param.opts, *param.secondary_opts):
            if name.startswith("--"):
                longs[_normal(name)] = name
        values += [f"{long} {choice}" for choice in (_choices(param) or []) if choice.lower() == target]
    if target in longs:
        return [longs[target]]
    if values:
        return values
    prefixed = [name for key, name in longs.items() if key.startswith(target) and len(target) >= 2]
    if prefixed:
        return prefixed[:3]
    # 0.75: --treshold, --jsn, --quite and --modle find theirs; --source does not find --force.
    return [longs[key] for key in difflib.get_close_matches(target, list(longs), n=2, cutoff=0.75)]


def _no_such_option(error: click.exceptions.NoSuchOption) -> str:
    ctx = error.ctx
    assert ctx is not None
    typed = error.option_name
    nearest = nearest_options(typed, ctx.command, ctx)
    if nearest:
        return f"no such option {typed}; did you mean {' or '.join(nearest)}?"
    if _normal(typed) in _INPUT_WORDS and any(isinstance(p, TyperArgument) for p in ctx.command.params):
        return f"no such option {typed}: the input is an argument, as in {usage(ctx.command, ctx)}"
    return f"no such option {typed} (the options: {ctx.command_path} --help)"


def usage_message(error: click.ClickException) -> str:
    """One line for a usage error: what was wrong, and where to look."""
    ctx: click.Context | None = getattr(error, "ctx", None)
    where = ctx.command_path if ctx is not None else "vidclass"
    if isinstance(error, click.exceptions.NoSuchOption) and ctx is not None:
        return f"{where}: {_no_such_option(error)}"
    if isinstance(error, click.exceptions.MissingParameter) and error.param is not None and ctx is not None:
        name = entry(error.param).names.strip()
        return f"{where}: missing {name} (see {where} --help)"
    if isinstance(error, click.exceptions.BadParameter) and error.param is not None:
        name = max(error.param.opts, key=len) if isinstance(error.param, TyperOption) else entry(error.param).names
        return f"{where}: {name}: {error.message.rstrip('.')}"
    message = error.format_message().rstrip(".")
    return f"{where}: {message[:1].lower()}{message[1:]}"


# --- the classes Typer builds the commands from ----------------------------------------------------


class Command(TyperCommand):
    """A vidclass command: its help page, and extra arguments refused in one helpful line."""

    #: Extra arguments are parsed and refused here, with a hint, rather than by Click.
    allow_extra_args = True

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(render(page(self, ctx)))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        if ctx.args and not ctx.resilient_parsing:
            extra = ctx.args[0]
            hint = ""
            if extra.endswith(".onnx") and any("--model" in p.opts for p in self.params):
                hint = f"; did you mean --model {extra}?"
            raise click.exceptions.UsageError(f"unexpected argument {extra!r}{hint} (usage: {usage(self, ctx)})", ctx)
        return rest


class Group(TyperGroup):
    """``vidclass`` itself: its help page, and every usage error below it as one line on stderr."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(render(page(self, ctx)))

    def invoke(self, ctx: click.Context) -> Any:
        """A command without a stop of its own (``models pull``) still says how Ctrl-C or SIGTERM ended
        it, with the same exit code (Typer would exit 130 without a word, for SIGTERM too)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            word, code = interruption(e)
            stderr.print(error_line(word))
            raise typer.Exit(code) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name or "vidclass", complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:  # `vidclass` alone: the help, on stderr
            e.show()
            sys.exit(e.exit_code)
        except click.ClickException as e:
            stderr.print(line(usage_message(e), style="red"))  # it quotes what was typed: made visible
            sys.exit(e.exit_code if e.exit_code else EXIT_USAGE)
        except typer.Abort:
            stderr.print(error_line("aborted"))
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class App(typer.Typer):
    """A Typer app whose commands and mounted sub-apps are built from :class:`Command` and
    :class:`Group`, so that every command of vidclass gets the same help and errors, whoever
    wrote it: ``app.add_typer(models.app, name="models")`` needs nothing more."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("cls", Group)
        options.setdefault("context_settings", CONTEXT_SETTINGS)
        options.setdefault("add_completion", False)
        options.setdefault("pretty_exceptions_enable", False)
        super().__init__(**options)

    def command(self, *args: Any, **options: Any) -> Any:
        options.setdefault("cls", Command)
        return super().command(*args, **options)

    def add_typer(self, typer_instance: typer.Typer, *args: Any, **options: Any) -> None:
        options.setdefault("cls", Group)
        _adopt(typer_instance)
        super().add_typer(typer_instance, *args, **options)


def _adopt(typer_instance: typer.Typer) -> None:
    """Build the commands of ``typer_instance`` (and of the apps mounted in it) from our classes."""
    # Typer fills in its own classes (or a placeholder for them) where none was asked for.
    for command in typer_instance.registered_commands:
        if getattr(command.cls, "value", command.cls) in (None, TyperCommand):
            command.cls = Command
    for group in typer_instance.registered_groups:
        if getattr(group.cls, "value", group.cls) in (None, TyperGroup):
            group.cls = Group
        sub = getattr(group.typer_instance, "value", group.typer_instance)
        if isinstance(sub, typer.Typer):
            _adopt(sub)
