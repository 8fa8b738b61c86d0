"""Rendering for people: the only module that knows rich.

Pure functions build renderables from typed results (the tables of ``predict``, the live view of
``watch``, reports, help pages); two small classes draw on the terminal while a run goes on
(:class:`BatchProgress`, :class:`WatchView`). The CLI prints what they build, and its one-line
messages are built here too (:func:`error_line`, :func:`warning_line`, :func:`line`).

Everything here takes data and builds :class:`~rich.text.Text`, never a markup string: names,
labels, metadata and messages go through :mod:`vidclass.text` (control characters made visible,
one record one line), and a table cell is a ``Text`` (:func:`_cells`), because rich reads a ``str``
cell as markup (``[link=...]`` in a file name would be a live link).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.segment import Segment
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ..results import ClipResult, ErrorResult, LiveResult, WatchSummary
from ..results import Segment as ActionSegment
from ..text import for_terminal, plain

if TYPE_CHECKING:
    from ..evaluate import EvaluationReport
    from ..graph.receptive import ModelReport

_BAR_WIDTH = 20


# --- lines and cells from data -------------------------------------------------------------------


def line(*parts: object, style: str = "") -> Text:
    """One line for people, from pieces (ours and data alike, joined as they are): each made
    visible (:func:`~vidclass.text.for_terminal`), none read as markup, no line break inside."""
    return Text("".join(for_terminal(part) for part in parts), style=style)


def error_line(*parts: object) -> Text:
    """``vidclass: PART: PART``, red: the one line of an error (an input that failed, a fatal one)."""
    return line("vidclass: ", ": ".join(for_terminal(part) for part in parts), style="red")


def warning_line(*parts: object) -> Text:
    """``warning: PART: PART``, yellow."""
    return line("warning: ", ": ".join(for_terminal(part) for part in parts), style="yellow")


def _cells(*cells: object) -> list[RenderableType]:
    """A table row's cells: a renderable kept as it is, anything else a literal ``Text`` made
    visible. A ``str`` given to ``Table.add_row`` would be read as markup."""
    return [c if isinstance(c, (Text, Table, ProgressBar, Spinner)) else plain(c) for c in cells]


# --- layout helpers -----------------------------------------------------------------------------


class Trimmed:
    """``renderable`` without spaces at the ends of its lines.

    A table pads every cell to its column's width, the last column too: invisible on a terminal,
    but a file or a pipe gets lines that end in spaces (which diffs and ``grep 'x$'`` see).
    """

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in console.render_lines(self.renderable, options, pad=False):
            while line and not line[-1].control and not line[-1].text.rstrip(" "):
                line = line[:-1]
            if line and not line[-1].control:
                line = [*line[:-1], Segment(line[-1].text.rstrip(" "), line[-1].style)]
            yield from line
            yield Segment.line()


class Packed:
    """Phrases joined by ``sep`` on as few lines as the terminal's width allows; one line when the
    output is not a terminal.

    A line breaks between two phrases, never inside one (unless a phrase alone is wider than the
    screen): "latency 830 ms median, 2100 ms max" stays together however narrow the terminal.
    """

    def __init__(self, phrases: Sequence[str | Text], *, style: str = "", sep: str = " · ") -> None:
        self.phrases = [Text(p) if isinstance(p, str) else p for p in phrases if p]
        self.style = style
        self.sep = sep

    def lines(self, width: int) -> list[Text]:
        lines: list[Text] = []
        for phrase in self.phrases:
            if lines and lines[-1].cell_len + cell_len(self.sep) + phrase.cell_len <= width:
                lines[-1].append(self.sep)
            else:
                lines.append(Text(style=self.style, overflow="fold"))
            lines[-1].append_text(phrase)
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if console.is_terminal:
            yield from self.lines(options.max_width)
            return
        for line in self.lines(sys.maxsize):  # a log or a pipe reads whole lines better
            line.no_wrap, line.overflow = True, "ignore"
            yield line

    def plain(self, width: int = 10_000) -> str:
        return "\n".join(line.plain for line in self.lines(width))


def _bar(score: float) -> Text:
    filled = round(score * _BAR_WIDTH)
    return Text("█" * filled + "·" * (_BAR_WIDTH - filled), style="green" if score >= 0.5 else "yellow")


def _spans(spans: tuple[tuple[float, float], ...], limit: int = 4) -> str:
    if not spans:
        return "-"
    parts = [f"{start:.1f}-{end:.1f} s" for start, end in spans[:limit]]
    if len(spans) > limit:
        parts.append(f"+{len(spans) - limit} more")
    return ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- vidclass predict ---------------------------------------------------------------------------


def clip_table(result: ClipResult) -> Group:
    """The top-k actions of one clip, with when they lead, and a footer saying how it was computed."""
    fps = result.frame_rate
    title = Text.assemble(
        (for_terminal(result.source), "bold"), f"  {result.duration_s:.1f} s, {result.frames} frames at {fps:g} fps"
    )
    # One line each, however narrow the terminal: a log or a pipe should read them whole.
    title.no_wrap = True
    title.overflow = "ignore"
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("action")
    table.add_column("score", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("top-1 during")
    for rank, label in enumerate(result.top, 1):
        table.add_row(*_cells(rank, label.label, f"{label.score:.3f}", _bar(label.score), _spans(label.when)))
    parts: list[RenderableType] = [title, Trimmed(table), Packed(clip_footer(result), style="dim")]
    if result.segments is not None:
        parts.append(Trimmed(segment_table(result.segments)))
    return Group(*parts, Text(""))


def clip_footer(result: ClipResult) -> list[str]:
    """How the clip was computed, as phrases: the windows actually used, the model, where it ran."""
    window = f"{result.window_frames} frames ({result.window_frames / result.frame_rate:.2f} s)"
    if not result.short:
        windows = f"{_plural(len(result.windows), 'window')} of {window}, hop {result.hop_frames}"
    elif result.window_frames > result.frames:
        windows = f"1 window of {window}: the video's {result.frames}, its last frame repeated"
    else:
        windows = f"1 window of {window}: the whole video, shorter than a window"
    model = result.model
    return [windows, for_terminal(f"{model.name} on {model.provider}, {model.precision}")]


def segment_table(segments: tuple[ActionSegment, ...]) -> Table:
    """When each action happens: one row per segment, gaps shown as "no confident action"."""
    table = Table(title="segments", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("action")
    table.add_column("score", justify="right")
    for seg in segments:
        action = plain(seg.label) if seg.label is not None else Text("no confident action", style="dim")
        table.add_row(*_cells(f"{seg.start_s:.1f} s", f"{seg.end_s:.1f} s", action, f"{seg.score:.3f}"))
    return table


# --- vidclass watch -----------------------------------------------------------------------------


def watch_view(result: LiveResult) -> Group:
    """The live view: the current top labels with bars, and how fresh and how complete they are."""
    title = Packed(
        [
            plain(result.source, style="bold"),
            f"{result.start_s:.1f}-{result.end_s:.1f} s of video",
            Text(f"last frame captured at {result.time:%H:%M:%S}", style="dim"),
        ],
        sep="  ",
    )
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("action")
    table.add_column("score", justify="right")
    table.add_column("", no_wrap=True)
    for rank, label in enumerate(result.top, 1):
        table.add_row(*_cells(rank, label.label, f"{label.score:.3f}", _bar(label.score)))
    fps = "-" if result.capture_fps is None else f"{result.capture_fps:.1f}"
    smoothed = f"mean of the last {result.smoothed_over}" if result.smoothed_over > 1 else ""
    skipped = Text(f"{result.skipped} skipped", style="yellow" if result.skipped else "")
    status = Packed(
        [
            f"window {result.window}", skipped, smoothed,
            f"latency {result.latency_ms:.0f} ms (model {result.inference_ms:.0f} ms)",
            f"capture {fps} fps", line("provider ", result.provider),
        ],
        style="dim",
    )
    return Group(title, Trimmed(table), status)


def watch_waiting(source: str, window_s: float, provider: str) -> Group:
    """What the live view shows until the first result: nothing can be said before one window."""
    return Group(
        line("watching ", source, style="bold"),
        Packed([f"first result after {window_s:.2f} s of video", line("provider ", provider)], style="dim"),
    )


def watch_line(result: LiveResult) -> str:
    """One plain line per result, for output that is not a terminal (labels made visible: a
    label cannot end the line or send the terminal a sequence)."""
    labels = " | ".join(f"{for_terminal(t.label)} {t.score:.3f}" for t in result.top)
    return (
        f"{result.start_s:.2f}-{result.end_s:.2f} s  {labels}  "
        f"[latency {result.latency_ms:.0f} ms, {result.skipped} skipped]"
    )


def watch_summary(summary: WatchSummary, *, style: str = "dim", prefix: str = "") -> Packed:
    """What was classified, what was skipped, how late, and why it stopped; broken between
    phrases to fit the terminal."""
    phrases: list[str] = [prefix + for_terminal(f"{summary.source}: {summary.stopped or 'stopped'}")]
    phrases.append(f"{_plural(summary.windows, 'window')} classified in {summary.seconds:.1f} s of video")
    skipped = summary.skipped
    phrases.append(f"{skipped} skipped ({summary.skipped_share:.0%})" if skipped else "none skipped")
    if summary.restarts:
        phrases.append(f"stream restarted {_plural(summary.restarts, 'time')} (fell behind)")
    if summary.fallback_s is not None:
        phrases.append(f"windows mode from {clock(summary.fallback_s)} (stream could not keep up)")
    if summary.latency_ms_median is not None and summary.latency_ms_max is not None:
        phrases.append(f"latency {summary.latency_ms_median:.0f} ms median, {summary.latency_ms_max:.0f} ms max")
    if summary.mode is not None:
        phrases.append(f"{summary.mode} mode")
    return Packed(phrases, style=style)


class WatchView:
    """The live view of ``watch`` on a terminal (stderr): redrawn when a result arrives, never
    on a timer, so that it costs nothing between windows."""

    def __init__(self, console: Console, waiting: RenderableType) -> None:
        self._live = Live(
            waiting, console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False
        )

    def __enter__(self) -> WatchView:
        self._live.start(refresh=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def update(self, result: LiveResult) -> None:
        self._live.update(watch_view(result), refresh=True)


# --- batches: predict over many files, evaluate -------------------------------------------------

#: Files drawn with their own line; more are counted on one line.
_SHOWN_FILES = 3
#: The rate (and so the time left) is measured over this much of the recent past: long enough to
#: span a few model calls (1-4 s each for I3D on a 2-core CPU), short enough to follow a change.
_RATE_WINDOW_S = 30.0
_REFRESH_PER_S = 4


def clock(seconds: float | None) -> str:
    """``75`` -> ``1:15``, ``3725`` -> ``1:02:05``; unknown -> ``-:--``."""
    if seconds is None:
        return "-:--"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class _File:
    name: str
    #: Frames the container announces, at the model's frame rate (None: it does not say).
    expected: int | None = None
    done: int = 0


@dataclass
class _Tally:
    files: dict[int, _File] = field(default_factory=dict)
    #: Frames of each file seen so far (expected, then actual): the guess for the files to come.
    sizes: dict[int, int] = field(default_factory=dict)
    finished: int = 0
    failed: int = 0
    frames: int = 0
    #: (time, frames so far) for the rate.
    samples: deque[tuple[float, int]] = field(default_factory=deque)


class BatchProgress:
    """Progress of a batch on stderr, for people: one line per file being classified (its frames
    done of those expected, a bar, its time left), and one for the batch (files done, frames per
    second at the model's frame rate, time left in all). Transient: nothing of it stays.

    Implements :class:`vidclass.engines.Observer`. ``enabled=False`` (stderr is not a terminal,
    or ``--quiet``) draws nothing. Results written to stdout while it is drawn go through
    :meth:`results`, which clears it first when stdout is the same screen (``results_on_screen``).
    """

    def __init__(
        self, console: Console, total: int, *, enabled: bool = True, results_on_screen: bool = False
    ) -> None:
        self.console = console
        self.total = total
        self.enabled = enabled
        self.results_on_screen = results_on_screen
        # The observer calls come from the consuming thread, the redraws from rich's refresh
        # thread. Never call into the Live while holding this lock (it takes its own, then ours).
        self._lock = threading.Lock()
        self._tally = _Tally()
        self._spinner = Spinner("dots", style="cyan")
        self._live: Live | None = None

    def __enter__(self) -> BatchProgress:
        if self.enabled:
            self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _start(self) -> None:
        # A new Live each time: a stopped one remembers the height it last drew, and would erase
        # that many lines of whatever was printed since.
        self._live = Live(
            get_renderable=self._render, console=self.console, transient=True,
            refresh_per_second=_REFRESH_PER_S, redirect_stdout=False, redirect_stderr=False,
        )
        self._live.start(refresh=True)

    def _stop(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()  # transient: erases what it drew, the cursor back where it began

    @contextlib.contextmanager
    def results(self) -> Iterator[None]:
        """Around writing results to stdout. stdout and stderr share the screen but not a cursor:
        a table printed while the display is drawn lands in the middle of it and the next redraw
        erases the wrong lines. So the display is cleared first, and drawn again below the
        results (the caller flushes stdout before leaving)."""
        if self._live is None or not self.results_on_screen:
            yield
            return
        self._stop()
        try:
            yield
        finally:
            self._start()

    # -- Observer ---------------------------------------------------------------------------------

    def started(self, index: int, source: str) -> None:
        with self._lock:
            tally = self._tally
            if not tally.samples:
                tally.samples.append((time.monotonic(), 0))
            tally.files[index] = _File(os.path.basename(source.rstrip("/")) or source)
        self._redraw()

    def expected(self, index: int, frames: int | None) -> None:
        with self._lock:
            file = self._tally.files.get(index)
            if file is not None:
                file.expected = frames or None
            if frames:
                self._tally.sizes[index] = frames
        self._redraw()

    def frames(self, index: int, count: int) -> None:
        with self._lock:
            tally = self._tally
            file = tally.files.get(index)
            if file is not None:
                file.done += count
            tally.frames += count
            now = time.monotonic()
            tally.samples.append((now, tally.frames))
            while len(tally.samples) > 2 and tally.samples[1][0] < now - _RATE_WINDOW_S:
                tally.samples.popleft()

    def finished(self, index: int, result: ClipResult | ErrorResult) -> None:
        with self._lock:
            tally = self._tally
            tally.files.pop(index, None)
            tally.finished += 1
            if isinstance(result, ErrorResult):
                tally.failed += 1
                tally.sizes.pop(index, None)
            else:
                tally.sizes[index] = result.frames

    # -- drawing ----------------------------------------------------------------------------------

    def _redraw(self) -> None:
        """Now rather than at the next tick: a new file shows at once (the first model call on it
        may take seconds)."""
        live = self._live
        if live is not None:
            live.refresh()

    def rate(self) -> float | None:
        """Frames per second lately (None before two model calls)."""
        samples = self._tally.samples
        if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
            return None
        (t0, f0), (t1, f1) = samples[0], samples[-1]
        return (f1 - f0) / (t1 - t0) or None

    def left_s(self, rate: float | None) -> float | None:
        """Seconds until the whole batch is done: frames still to classify over the rate. Files not
        opened yet are guessed at the mean size of those seen."""
        tally = self._tally
        if rate is None:
            return None
        mean = sum(tally.sizes.values()) / len(tally.sizes) if tally.sizes else None
        pending = self.total - tally.finished - len(tally.files)
        frames = 0.0
        for file in tally.files.values():
            size = file.expected or mean
            if size is None:
                return None
            frames += max(size - file.done, 0)
        if pending > 0:
            if mean is None:
                return None
            frames += pending * mean
        return frames / rate

    def _render(self) -> RenderableType:
        with self._lock:
            tally = self._tally
            rate = self.rate()
            grid = Table.grid(padding=(0, 1), expand=True)
            grid.add_column(width=1)
            grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
            grid.add_column(width=_BAR_WIDTH)
            grid.add_column(justify="right", no_wrap=True)
            grid.add_column(justify="right", no_wrap=True)
            files = sorted(tally.files.items())
            for _, file in files[:_SHOWN_FILES]:
                done = min(file.done, file.expected) if file.expected else file.done
                left = (file.expected - done) / rate if (file.expected and rate) else None
                grid.add_row(*_cells(
                    self._spinner,
                    file.name,
                    ProgressBar(total=file.expected, completed=done, width=_BAR_WIDTH),
                    f"{done}/{file.expected} frames" if file.expected else f"{done} frames",
                    f"{clock(left)} left",
                ))
            if len(files) > _SHOWN_FILES:
                grid.add_row("", Text(f"+{len(files) - _SHOWN_FILES} more", style="dim"))
            batch: list[str | Text] = []
            if self.total > 1 or not files:
                batch.append(f"{tally.finished}/{self.total} files done")
            batch.append(f"{rate:.1f} frames/s" if rate else "measuring speed")
            if tally.failed:
                batch.append(Text(f"{tally.failed} failed", style="red"))
            if self.total > 1:
                batch.append(f"{clock(self.left_s(rate))} left in all")
            return Group(grid, Packed(batch, style="dim"))


def batch_summary(classified: int, failed: int, skipped: int = 0, output: str | None = None) -> Text:
    """One line at the end of a batch: how many were classified, failed, skipped (``--resume``)."""
    parts = [f"{classified} classified", f"{failed} failed"]
    if skipped:
        parts.append(f"{skipped} skipped (already in {output})" if output else f"{skipped} skipped")
    text = ", ".join(parts) + (f"; results in {output}" if output else "")
    return line(text, style="red" if failed else "dim")


# --- help pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HelpEntry:
    """One line of a help section: ``-m, --model PATH`` and what it does."""

    names: str
    text: str = ""


@dataclass(frozen=True)
class HelpSection:
    title: str
    entries: tuple[HelpEntry, ...] = ()
    #: Reflowed to the width.
    paragraphs: tuple[str, ...] = ()
    #: Shown as they are (examples); a ``#`` starts a comment, drawn dim.
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class HelpPage:
    usage: str
    summary: str
    paragraphs: tuple[str, ...] = ()
    sections: tuple[HelpSection, ...] = ()


#: The widest names column; an entry with longer names has its text on the next line.
_NAMES_MAX = 26


def _names(names: str) -> Text:
    text = Text()
    for i, word in enumerate(names.split(" ")):
        text.append(" " if i else "")
        text.append(for_terminal(word), style="bold cyan" if word.startswith("-") else "")
    return text


def _example(line: str) -> Text:
    command, hash_, comment = line.partition("#")
    text = plain(command)
    if hash_:
        text.append(for_terminal(hash_ + comment), style="dim")
    text.no_wrap = True
    text.overflow = "ignore"
    return text


def help_page(page: HelpPage) -> Trimmed:
    """A help page in the manner of ``gh``, ``uv`` and ``ruff``: usage, what the command does,
    options in named sections with their names aligned, text reflowed to the width, examples."""
    # Option names line up across sections; command names (a group's page) among themselves.
    widest = max((cell_len(e.names) for s in page.sections if s.title != "Commands" for e in s.entries), default=0)
    # Our own text, but built from Click parameters and docstrings: drawn literally all the same.
    parts: list[RenderableType] = [Text.assemble(("Usage: ", "bold"), plain(page.usage)), Text(""), plain(page.summary)]
    for paragraph in page.paragraphs:
        parts += [Text(""), plain(paragraph)]
    for section in page.sections:
        parts += [Text(""), line(section.title, ":", style="bold")]
        body: list[RenderableType] = []
        if section.entries:
            if section.title == "Commands":
                names_width = max(cell_len(e.names) for e in section.entries)
            else:
                names_width = min(widest, _NAMES_MAX)
            grid = Table.grid(padding=(0, 2))
            grid.add_column(width=names_width, no_wrap=True)
            grid.add_column()
            for entry in section.entries:
                if cell_len(entry.names) > names_width:
                    grid.add_row(_names(entry.names), "")
                    grid.add_row("", plain(entry.text))
                else:
                    grid.add_row(_names(entry.names), plain(entry.text))
            body.append(grid)
        body += [plain(p) for p in section.paragraphs]
        body += [_example(line) for line in section.lines]
        parts.append(Padding(Group(*body), (0, 0, 0, 2)))
    return Trimmed(Group(*parts))


def _percent(correct: int, total: int) -> str:
    return f"{correct / total:.1%} ({correct}/{total})" if total else "n/a (0 videos)"


def evaluation_report(report: EvaluationReport, *, confused_limit: int = 10) -> Trimmed:
    """Accuracy, per class, most confused pairs, mistakes with their top-3, and what was not counted."""
    head = Text.assemble(
        (for_terminal(report.data), "bold"),
        f"  {report.videos} videos counted · {for_terminal(report.model)}\n",
        "top-1 accuracy ", (_percent(report.top1, report.videos), "bold"),
        "   top-5 accuracy ", (_percent(report.top5, report.videos), "bold"),
    )
    parts: list[Any] = [head]
    if report.per_class:
        per_class = Table(title="per class", title_justify="left", show_edge=False, pad_edge=False)
        per_class.add_column("label")
        per_class.add_column("videos", justify="right")
        per_class.add_column("top-1", justify="right")
        per_class.add_column("top-5", justify="right")
        for c in report.per_class:
            per_class.add_row(*_cells(c.label, c.videos, _percent(c.top1, c.videos), _percent(c.top5, c.videos)))
        parts.append(per_class)
    if report.confused:
        confused = Table(title="most confused", title_justify="left", show_edge=False, pad_edge=False)
        confused.add_column("true label")
        confused.add_column("taken for")
        confused.add_column("videos", justify="right")
        for pair in report.confused[:confused_limit]:
            confused.add_row(*_cells(pair.label, pair.predicted, pair.count))
        parts.append(confused)
    if report.mistakes:
        mistakes = Table(title="mistakes", title_justify="left", show_edge=False, pad_edge=False)
        mistakes.add_column("video", overflow="fold")
        mistakes.add_column("true label")
        mistakes.add_column("top-3")
        for m in report.mistakes:
            top = ", ".join(f"{for_terminal(t.label)} {t.score:.3f}" for t in m.top)
            mistakes.add_row(*_cells(m.source, m.label, top))
        parts.append(mistakes)
    # One line per entry, each name made visible: a name cannot start a line of its own.
    not_counted: list[Text] = []
    if report.unlabelled:
        names = ", ".join(map(for_terminal, report.unlabelled))
        not_counted.append(line(f"{len(report.unlabelled)} without a label: ", names, style="yellow"))
    for unknown in report.unknown:
        names = ", ".join(map(for_terminal, unknown.sources))
        count = len(unknown.sources)
        not_counted.append(
            line("label '", unknown.label, f"' is not one of the model's ({count} videos): ", names, style="yellow")
        )
    for error in report.errors:
        not_counted.append(line("failed: ", error.source, ": ", error.error, style="yellow"))
    if not_counted:
        parts.append(Group(Text("not counted", style="bold"), *not_counted))
    return Trimmed(Group(*(item for part in parts for item in (part, Text("")))))


def _triple(values: tuple | None) -> str:
    if values is None:
        return "-"
    return "×".join("all" if v is None else str(v) for v in values)


def _pixels(values: tuple[int | None, int | None]) -> str:
    return " × ".join("all" if v is None else str(v) for v in values)


def inspect_view(report: ModelReport) -> Trimmed:
    """``vidclass inspect``: the contract, the tensors, every layer's field, and what one output sees."""
    spec = report.spec
    fps = spec.frame_rate
    # Every field of the metadata and the graph is the model file's text: made visible, and a
    # literal Text in every cell (rich reads a str cell as markup).
    title = Text.assemble((for_terminal(f"{spec.name} {spec.version}"), "bold"), "  ", plain(report.path))
    meta = Table(title=title, title_justify="left", show_header=False, show_edge=False, pad_edge=False)
    meta.add_column(style="dim")
    meta.add_column()
    fields = {
        "input": f"{spec.input_layout}, {spec.channel_order} at {fps:g} fps; short side to "
        f"{spec.resize_short_side} ({spec.resize_interpolation}), centre crop "
        f"{spec.crop_height}×{spec.crop_width}, values x/{1 / spec.value_scale:.6g}{spec.value_offset:+g}",
        "window": f"{spec.window_frames} frames ({spec.window_frames / fps:.2f} s), hop {spec.hop_frames}, "
        f"at least {spec.min_frames}; one output step per {spec.temporal_stride} frames",
        "output": f"{spec.output_kind}, {spec.num_classes} classes",
        "graph": f"opset {report.opset}, {report.parameters / 1e6:.2f} M parameters, {report.producer}",
        "weights": f"sha256 {spec.weights_sha256[:16]}…",
        "source": spec.source,
    }
    for key, value in fields.items():
        meta.add_row(*_cells(key, value))

    tensors = Table(show_edge=False, pad_edge=False)
    tensors.add_column("")
    tensors.add_column("name")
    tensors.add_column("type")
    tensors.add_column("shape")
    for kind, items in (("input", report.inputs), ("output", report.outputs)):
        for t in items:
            tensors.add_row(*_cells(kind, t.name, t.dtype, "[" + ", ".join(str(d) for d in t.shape) + "]"))

    layers = Table(
        title="layers from the input to the output (time×height×width; field and jump in input frames×pixels)",
        title_justify="left", show_edge=False, pad_edge=False,
    )
    layers.add_column("#", justify="right", style="dim")
    layers.add_column("layer")
    layers.add_column("op")
    layers.add_column("kernel", justify="right")
    layers.add_column("stride", justify="right")
    layers.add_column("field", justify="right")
    layers.add_column("jump", justify="right")
    for i, layer in enumerate(report.layers, 1):
        layers.add_row(*_cells(i, layer.name, layer.op, _triple(layer.kernel), _triple(layer.stride),
                               _triple(layer.field), _triple(layer.jump)))

    cost = report.cost
    frames = report.field_frames
    field_time = "the whole clip" if frames is None else (
        f"{frames} frame{'s' if frames != 1 else ''} ({frames / fps:.2f} s at {fps:g} fps)")
    lines = [
        Text.assemble(("one output step sees ", "bold"), field_time, " and ", _pixels(report.field_pixels), " pixels"),
        Text(f"output steps are {report.stride_frames} frames ({report.stride_seconds:.2f} s) apart; "
             f"jump {_pixels(report.stride_pixels)} pixels"),
    ]
    if report.field_first_frame is not None and frames is not None:
        first, stride = report.field_first_frame, report.stride_frames
        lines.append(Text(f"in a {cost.frames}-frame window, output step j sees frames {first}+{stride}j to "
                          f"{first + frames - 1}+{stride}j (numbers outside 0-{cost.frames - 1}: padding)"))
    if report.pooled_axes:
        crop = f"{spec.crop_height}×{spec.crop_width}"
        lines.append(Text(f"{'/'.join(report.pooled_axes)} pooled away: every output sees the whole {crop} crop"))
    whole = report.whole_window_steps()
    if frames is not None and frames > cost.frames:
        seen = ""
        if whole:
            steps = f"{whole[0]}-{whole[-1]}" if len(whole) > 1 else str(whole[0])
            seen = f"; steps {steps} of 0-{(cost.output_steps or 1) - 1} depend on all {cost.frames} frames"
        lines.append(Text(f"the field is longer than the {cost.frames}-frame window: every step reaches into the "
                          f"padding beyond it{seen}"))
    flops = "unknown" if cost.flops is None else f"{cost.flops / 1e9:.1f} GFLOPs"
    steps = "?" if cost.output_steps is None else str(cost.output_steps)
    lines.append(Text(f"a window of {cost.frames} frames ({cost.seconds:.2f} s): {steps} output steps, {flops} "
                      "(2 × multiply-accumulates of Conv/MatMul/Gemm)"))
    parts: list[Any] = [meta, Text(""), tensors, Text(""), layers, Text(""), *lines]
    for warning in report.warnings:
        parts.append(line("warning: ", warning, style="yellow"))
    return Trimmed(Group(*parts))
