"""Typed results: what ``predict`` returns, what the table shows, what ``--json`` prints.

``to_dict()`` is the JSON schema (documented in the README); the table renders the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .session import ModelInfo


def _r(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": _r(self.score, 5)}


@dataclass(frozen=True)
class ClipLabel(LabelScore):
    """A clip-level label with the time spans (seconds) where it is the top-1 of a window."""

    when: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "when": [[_r(s), _r(e)] for s, e in self.when]}


@dataclass(frozen=True)
class WindowResult:
    start_s: float
    end_s: float
    top: tuple[LabelScore, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": _r(self.start_s),
            "end_s": _r(self.end_s),
            "top": [t.to_dict() for t in self.top],
        }


@dataclass(frozen=True)
class ClipResult:
    """The classification of one video."""

    source: str
    duration_s: float
    #: Frames fed to the model (after resampling to the model's frame rate) and that rate.
    frames: int
    frame_rate: float
    window_frames: int
    hop_frames: int
    #: True when the video is shorter than one window (it was classified as one shorter window).
    short: bool
    top: tuple[ClipLabel, ...]
    windows: tuple[WindowResult, ...]
    model: ModelInfo
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "duration_s": _r(self.duration_s),
            "frames": self.frames,
            "frame_rate": self.frame_rate,
            "window_frames": self.window_frames,
            "hop_frames": self.hop_frames,
            "short": self.short,
            "top": [t.to_dict() for t in self.top],
            "windows": [w.to_dict() for w in self.windows],
            "model": self.model.to_dict(),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ErrorResult:
    """An input that could not be classified; the run goes on with the next one."""

    source: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "error": self.error}
