"""Rendering results for people: the only module that knows rich.

Pure functions build renderables from typed results; the CLI prints them.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .results import ClipResult

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
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
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
    )
    parts = [table, footer]
    if result.short:
        parts.append(Text("short video: classified as one window shorter than the default", style="yellow"))
    return Group(*parts, Text(""))
