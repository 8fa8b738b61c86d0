"""Typed results: what ``predict`` returns, what the table shows, what ``--json`` prints.

``to_dict()`` is the JSON schema (documented in the README); the table renders the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from .thumbnails import Thumbnail


def _r(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


@dataclass(frozen=True)
class ModelInfo:
    """Which model gave a result, and how it was run."""

    name: str
    version: str
    sha256: str
    provider: str
    path: str
    #: The arithmetic it ran in ("fp32", "bf16", "fp16", "int8"). Part of what makes a result
    #: reproducible: bf16 moves I3D's scores by up to 6e-3 from fp32's.
    precision: str = "fp32"

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name, "version": self.version, "sha256": self.sha256, "provider": self.provider,
            "precision": self.precision,
        }


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
class Segment:
    """A stretch of the video with one action, or with none (``label`` None: no confident action).

    ``score``: the label's mean probability over the segment, weighted by time; for a gap, the
    mean of the best probability any label reached (how close the video came to an action).
    """

    label: str | None
    start_s: float
    end_s: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "start_s": _r(self.start_s),
            "end_s": _r(self.end_s),
            "score": _r(self.score, 5),
        }


@dataclass(frozen=True, eq=False)
class Timeline:
    """Every class's probability in every window, for the views drawn over time (plot, video,
    segments). Kept in memory only: 400 numbers a window are not part of the JSON."""

    labels: tuple[str, ...]
    #: Each window's span in seconds; windows overlap when the hop is shorter than the window.
    spans_s: tuple[tuple[float, float], ...]
    #: ``[windows, classes]`` probabilities.
    probs: np.ndarray


@dataclass(frozen=True)
class ClipResult:
    """The classification of one video."""

    source: str
    duration_s: float
    #: Frames fed to the model (after resampling to the model's frame rate) and that rate.
    frames: int
    frame_rate: float
    #: The window actually used: for a short video, its own length (or the model's minimum, its
    #: last frame repeated up to it).
    window_frames: int
    hop_frames: int
    #: True when the video is shorter than one window (it was classified as one shorter window).
    short: bool
    top: tuple[ClipLabel, ...]
    windows: tuple[WindowResult, ...]
    model: ModelInfo
    warnings: tuple[str, ...] = field(default=())
    #: Computed on request only (``predict --segments``); ``to_dict`` has a "segments" key only then.
    segments: tuple[Segment, ...] | None = None
    timeline: Timeline | None = field(default=None, repr=False, compare=False)
    #: How the video went through the network (``stream``, ``dense``, ``windows``): the scores differ
    #: by mode, so a record names it.
    mode: str = "windows"
    #: Small JPEGs across the video when the run asked for them (``--report``); not in ``to_dict``.
    thumbnails: tuple[Thumbnail, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "source": self.source,
            "duration_s": _r(self.duration_s),
            "frames": self.frames,
            "frame_rate": self.frame_rate,
            "window_frames": self.window_frames,
            "hop_frames": self.hop_frames,
            "mode": self.mode,
            "short": self.short,
            "top": [t.to_dict() for t in self.top],
            "windows": [w.to_dict() for w in self.windows],
            "model": self.model.to_dict(),
            "warnings": list(self.warnings),
        }
        if self.segments is not None:
            record["segments"] = [s.to_dict() for s in self.segments]
        return record


@dataclass(frozen=True)
class ErrorResult:
    """An input that could not be classified; the run goes on with the next one."""

    source: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "error": self.error}


@dataclass(frozen=True)
class LiveResult:
    """One window classified while watching a camera, a stream or a file (``vidclass watch``)."""

    source: str
    #: Windows classified so far, this one included (1, 2, ...).
    window: int
    #: The span the window covers, in seconds of the source (from its first frame).
    start_s: float
    end_s: float
    #: Wall-clock time at which the window's last frame was captured.
    time: datetime
    #: The best labels: this window's, or the mean over the last ``smoothed_over`` windows.
    top: tuple[LabelScore, ...]
    #: From the capture of the window's last frame to this result, in milliseconds.
    latency_ms: float
    #: Of which the model (stacking the clip and running the session) took this long.
    inference_ms: float
    smoothed_over: int
    #: Windows skipped so far, whole, because inference was slower than real time.
    skipped: int
    #: Frames per second the source delivered lately (None before two frames).
    capture_fps: float | None
    provider: str
    #: How the model ran: "stream" (its state carried from block to block) or "windows".
    mode: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "window": self.window,
            "start_s": _r(self.start_s),
            "end_s": _r(self.end_s),
            "time": self.time.isoformat(timespec="milliseconds"),
            "top": [t.to_dict() for t in self.top],
            "latency_ms": _r(self.latency_ms, 1),
            "inference_ms": _r(self.inference_ms, 1),
            "smoothed_over": self.smoothed_over,
            "skipped": self.skipped,
            "capture_fps": None if self.capture_fps is None else _r(self.capture_fps, 2),
            "provider": self.provider,
            "mode": self.mode,
        }


@dataclass(frozen=True)
class WatchSummary:
    """How a ``watch`` went: what was classified, what was skipped, how late, and why it stopped."""

    source: str
    frames: int
    windows: int
    skipped: int
    #: Seconds of the source seen (stream time of the last frame captured).
    seconds: float
    latency_ms_median: float | None
    latency_ms_max: float | None
    #: "end of video", "duration reached", "max windows reached", "interrupted", ... (None: running).
    stopped: str | None
    #: How the model ran ("stream" or "windows"), and, in stream mode, how many times a backlog the
    #: model could not catch up with was dropped and the state started again.
    mode: str | None = None
    restarts: int = 0
    #: Stream mode that could not keep up went on in windows mode from this second of the source.
    fallback_s: float | None = None

    @property
    def skipped_share(self) -> float:
        """Skipped windows among all the windows that completed."""
        total = self.windows + self.skipped
        return self.skipped / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "frames": self.frames,
            "windows": self.windows,
            "skipped": self.skipped,
            "skipped_share": _r(self.skipped_share, 4),
            "seconds": _r(self.seconds),
            "latency_ms_median": None if self.latency_ms_median is None else _r(self.latency_ms_median, 1),
            "latency_ms_max": None if self.latency_ms_max is None else _r(self.latency_ms_max, 1),
            "stopped": self.stopped,
            "mode": self.mode,
            "restarts": self.restarts,
            "fallback_s": None if self.fallback_s is None else _r(self.fallback_s),
        }
