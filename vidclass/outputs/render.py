"""Rendering results for people: the only module that knows rich.

Pure functions build renderables from typed results; the CLI prints them.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ..results import ClipResult, ErrorResult, LiveResult, Segment, WatchSummary

if TYPE_CHECKING:
    from ..evaluate import EvaluationReport
    from ..graph.receptive import ModelReport

_BAR_WIDTH = 20


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


def clip_table(result: ClipResult) -> Group:
    """The top-k actions of one clip, with when they lead, and a footer saying how it was computed."""
    fps = result.frame_rate
    title = Text.assemble(
        (result.source, "bold"), f"  {result.duration_s:.1f} s, {result.frames} frames at {fps:g} fps"
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
        table.add_row(str(rank), label.label, f"{label.score:.3f}", _bar(label.score), _spans(label.when))
    windows = len(result.windows)
    footer = Text(
        f"{windows} window{'s' if windows != 1 else ''} of {result.window_frames} frames "
        f"({result.window_frames / fps:.2f} s), hop {result.hop_frames}"
        f" · {result.model.name} · provider {result.model.provider}",
        style="dim",
        no_wrap=True,
        overflow="ignore",
    )
    parts = [title, table, footer]
    if result.short:
        parts.append(Text("short video: classified as one window shorter than the default", style="yellow"))
    if result.segments is not None:
        parts.append(segment_table(result.segments))
    return Group(*parts, Text(""))


def segment_table(segments: tuple[Segment, ...]) -> Table:
    """When each action happens: one row per segment, gaps shown as "no confident action"."""
    table = Table(title="segments", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("action")
    table.add_column("score", justify="right")
    for seg in segments:
        action = Text(seg.label) if seg.label is not None else Text("no confident action", style="dim")
        table.add_row(f"{seg.start_s:.1f} s", f"{seg.end_s:.1f} s", action, f"{seg.score:.3f}")
    return table


# --- vidclass watch -----------------------------------------------------------------------------


def watch_view(result: LiveResult) -> Group:
    """The live view: the current top labels with bars, and how fresh and how complete they are."""
    title = Text.assemble(
        (result.source, "bold"),
        f"  {result.start_s:.1f}-{result.end_s:.1f} s",
        (f"  (until {result.time:%H:%M:%S})", "dim"),
    )
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("action")
    table.add_column("score", justify="right")
    table.add_column("", no_wrap=True)
    for rank, label in enumerate(result.top, 1):
        table.add_row(str(rank), label.label, f"{label.score:.3f}", _bar(label.score))
    fps = "-" if result.capture_fps is None else f"{result.capture_fps:.1f}"
    smoothed = f" · mean of the last {result.smoothed_over}" if result.smoothed_over > 1 else ""
    speed = Text(
        f"capture {fps} fps · latency {result.latency_ms:.0f} ms (model {result.inference_ms:.0f} ms)"
        f" · provider {result.provider}",
        style="dim",
    )
    count = Text(
        f"window {result.window} · {result.skipped} skipped{smoothed}", style="yellow" if result.skipped else "dim"
    )
    return Group(table, speed, count)


def watch_waiting(source: str, window_s: float, provider: str) -> Group:
    """What the live view shows until the first result: nothing can be said before one window."""
    return Group(
        Text(f"watching {source}", style="bold"),
        Text(f"first result after {window_s:.2f} s of video · provider {provider}", style="dim"),
    )


def watch_line(result: LiveResult) -> str:
    """One plain line per result, for output that is not a terminal."""
    labels = " | ".join(f"{t.label} {t.score:.3f}" for t in result.top)
    return (
        f"{result.start_s:.2f}-{result.end_s:.2f} s  {labels}  "
        f"[latency {result.latency_ms:.0f} ms, {result.skipped} skipped]"
    )


def watch_summary(summary: WatchSummary) -> str:
    """One line: what was classified, what was skipped, how late, and why it stopped."""
    parts = [f"{summary.windows} window{'s' if summary.windows != 1 else ''} over {summary.seconds:.1f} s"]
    parts.append(f"{summary.skipped} skipped ({summary.skipped_share:.0%})")
    if summary.latency_ms_median is not None and summary.latency_ms_max is not None:
        parts.append(f"latency {summary.latency_ms_median:.0f} ms median, {summary.latency_ms_max:.0f} ms max")
    text = f"{summary.source}: " + ", ".join(parts)
    return f"{text}; {summary.stopped}" if summary.stopped else text


# --- batches: predict over many files, evaluate -------------------------------------------------


class BatchProgress:
    """Progress of a batch on stderr: files done / total, the file(s) being classified, frames per
    second (at the model's frame rate), ETA. Transient: it disappears when the batch ends.

    Implements :class:`vidclass.engines.Observer`. ``enabled=False`` (stderr is not a terminal, or
    ``--quiet``) draws nothing.
    """

    def __init__(self, console: Console, total: int, *, enabled: bool = True) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[speed]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failed]}", style="red"),
            TextColumn("{task.fields[current]}", style="dim"),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self._task = self._progress.add_task("files", total=total, speed="", failed="", current="")
        self._current: dict[int, str] = {}
        self._frames = 0
        self._failed = 0
        self._started_at: float | None = None

    def __enter__(self) -> BatchProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def started(self, index: int, source: str) -> None:
        if self._started_at is None:
            self._started_at = time.monotonic()
        self._current[index] = source
        self._refresh()

    def expected(self, index: int, frames: int | None) -> None:
        pass  # the bar counts files; see issue 13 for frames within a file

    def frames(self, index: int, count: int) -> None:
        self._frames += count
        self._refresh()

    def finished(self, index: int, result: ClipResult | ErrorResult) -> None:
        self._current.pop(index, None)
        self._failed += isinstance(result, ErrorResult)
        self._progress.advance(self._task)
        self._refresh()

    def _refresh(self) -> None:
        elapsed = time.monotonic() - self._started_at if self._started_at is not None else 0.0
        speed = f"{self._frames / elapsed:.1f} frames/s" if elapsed > 0 and self._frames else ""
        names = [os.path.basename(s) or s for s in self._current.values()]
        current = names[-1] + (f" +{len(names) - 1}" if len(names) > 1 else "") if names else ""
        failed = f"{self._failed} failed" if self._failed else ""
        self._progress.update(self._task, speed=speed, failed=failed, current=current)


def batch_summary(classified: int, failed: int, skipped: int = 0, output: str | None = None) -> Text:
    """One line at the end of a batch: how many were classified, failed, skipped (``--resume``)."""
    parts = [f"{classified} classified", f"{failed} failed"]
    if skipped:
        parts.append(f"{skipped} skipped (already in {output})" if output else f"{skipped} skipped")
    text = ", ".join(parts) + (f"; results in {output}" if output else "")
    return Text(text, style="red" if failed else "dim")


def _percent(correct: int, total: int) -> str:
    return f"{correct / total:.1%} ({correct}/{total})" if total else "n/a (0 videos)"


def evaluation_report(report: EvaluationReport, *, confused_limit: int = 10) -> Group:
    """Accuracy, per class, most confused pairs, mistakes with their top-3, and what was not counted."""
    head = Text.assemble(
        (f"{report.data}", "bold"),
        f"  {report.videos} videos counted · {report.model}\n",
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
            per_class.add_row(c.label, str(c.videos), _percent(c.top1, c.videos), _percent(c.top5, c.videos))
        parts.append(per_class)
    if report.confused:
        confused = Table(title="most confused", title_justify="left", show_edge=False, pad_edge=False)
        confused.add_column("true label")
        confused.add_column("taken for")
        confused.add_column("videos", justify="right")
        for pair in report.confused[:confused_limit]:
            confused.add_row(pair.label, pair.predicted, str(pair.count))
        parts.append(confused)
    if report.mistakes:
        mistakes = Table(title="mistakes", title_justify="left", show_edge=False, pad_edge=False)
        mistakes.add_column("video", overflow="fold")
        mistakes.add_column("true label")
        mistakes.add_column("top-3")
        for m in report.mistakes:
            mistakes.add_row(m.source, m.label, ", ".join(f"{t.label} {t.score:.3f}" for t in m.top))
        parts.append(mistakes)
    not_counted = []
    if report.unlabelled:
        not_counted.append(f"{len(report.unlabelled)} without a label: " + ", ".join(report.unlabelled))
    for unknown in report.unknown:
        not_counted.append(
            f"label {unknown.label!r} is not one of the model's ({len(unknown.sources)} videos): "
            + ", ".join(unknown.sources)
        )
    for error in report.errors:
        not_counted.append(f"failed: {error.source}: {error.error}")
    if not_counted:
        parts.append(Text("not counted\n", style="bold") + Text("\n".join(not_counted), style="yellow"))
    return Group(*(item for part in parts for item in (part, Text(""))))


def _triple(values: tuple | None) -> str:
    if values is None:
        return "-"
    return "×".join("all" if v is None else str(v) for v in values)


def _pixels(values: tuple[int | None, int | None]) -> str:
    return " × ".join("all" if v is None else str(v) for v in values)


def inspect_view(report: ModelReport) -> Group:
    """``vidclass inspect``: the contract, the tensors, every layer's field, and what one output sees."""
    spec = report.spec
    fps = spec.frame_rate
    title = Text.assemble((f"{spec.name} {spec.version}", "bold"), f"  {report.path}")
    meta = Table(title=title, title_justify="left", show_header=False, show_edge=False, pad_edge=False)
    meta.add_column(style="dim")
    meta.add_column()
    meta.add_row("input", f"{spec.input_layout}, {spec.channel_order} at {fps:g} fps; short side to "
                 f"{spec.resize_short_side} ({spec.resize_interpolation}), centre crop "
                 f"{spec.crop_height}×{spec.crop_width}, values x/{1 / spec.value_scale:.6g}{spec.value_offset:+g}")
    meta.add_row("window", f"{spec.window_frames} frames ({spec.window_frames / fps:.2f} s), hop {spec.hop_frames}, "
                 f"at least {spec.min_frames}; one output step per {spec.temporal_stride} frames")
    meta.add_row("output", f"{spec.output_kind}, {spec.num_classes} classes")
    meta.add_row("graph", f"opset {report.opset}, {report.parameters / 1e6:.2f} M parameters, {report.producer}")
    meta.add_row("weights", f"sha256 {spec.weights_sha256[:16]}…")
    meta.add_row("source", Text(spec.source))

    tensors = Table(show_edge=False, pad_edge=False)
    tensors.add_column("")
    tensors.add_column("name")
    tensors.add_column("type")
    tensors.add_column("shape")
    for kind, items in (("input", report.inputs), ("output", report.outputs)):
        for t in items:
            tensors.add_row(kind, Text(t.name), t.dtype, Text("[" + ", ".join(str(d) for d in t.shape) + "]"))

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
        layers.add_row(str(i), Text(layer.name), layer.op, _triple(layer.kernel), _triple(layer.stride),
                       _triple(layer.field), _triple(layer.jump))

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
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)
