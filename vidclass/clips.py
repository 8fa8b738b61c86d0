"""From a stream of decoded frames to model-ready clips: resample, preprocess once, slide windows.

This is the step between :mod:`vidclass.sources` and :mod:`vidclass.session`, shared by every
command, so the same frames always give the same clips. Memory is bounded by one window of
preprocessed frames, whatever the length of the video.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .errors import InputError
from .preprocess import preprocess_frame, stack_window
from .sampling import Resampler, Window, Windower
from .sources import Frame
from .spec import ModelSpec


class FrameSource(Protocol):
    """What :func:`iter_clips` needs of a source: frames in order, then the total duration."""

    name: str
    #: Known once iteration has ended: last timestamp plus one frame period.
    duration_s: float | None

    def __iter__(self) -> Iterator[Frame]: ...


@dataclass(frozen=True)
class Clip:
    """One window of preprocessed frames, ready for the model (batch axis not included)."""

    window: Window
    data: np.ndarray


@dataclass
class ClipStats:
    """Filled in while :func:`iter_clips` runs; final when it is exhausted."""

    #: Output frames produced at the model's frame rate.
    frames: int = 0


def iter_clips(
    source: FrameSource,
    spec: ModelSpec,
    window_frames: int,
    hop_frames: int,
    stats: ClipStats | None = None,
) -> Iterator[Clip]:
    """Yield each window of ``source`` as soon as its last frame has arrived.

    Frames are resampled to ``spec.frame_rate`` by timestamp and preprocessed once each, however
    many overlapping windows use them. A source shorter than one window yields one short clip at
    the end. Raises :class:`InputError` when the source yields no frame at all.
    """
    stats = stats if stats is not None else ClipStats()
    resampler = Resampler(spec.frame_rate)
    windower = Windower(window_frames, hop_frames)
    recent: deque[np.ndarray] = deque(maxlen=window_frames)

    def clip(window: Window) -> Clip:
        frames = list(recent)[len(recent) - window.frames :]
        return Clip(window, stack_window(frames, spec, spec.min_frames))

    def take(image: np.ndarray, copies: int) -> Iterable[Clip]:
        if not copies:
            return
        frame = preprocess_frame(image, spec)  # once, however many output frames it fills
        for _ in range(copies):
            recent.append(frame)
            stats.frames += 1
            window = windower.push()
            if window is not None:
                yield clip(window)

    previous: np.ndarray | None = None
    for frame in source:
        copies = resampler.push(frame.time_s)
        if previous is not None:
            yield from take(previous, copies)
        previous = frame.image
    if previous is None or source.duration_s is None:
        raise InputError(source.name, "no frame could be decoded (not a video, or damaged)")
    yield from take(previous, resampler.finish(source.duration_s))
    tail = windower.finish()
    if tail is not None:
        yield clip(tail)
