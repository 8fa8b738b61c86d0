"""From a stream of decoded frames to model-ready clips: resample, preprocess once, slide windows.

This is the step between :mod:`vidclass.sources` and :mod:`vidclass.runtimes`, shared by every
command, so the same frames always give the same clips. Memory is bounded by one window of
preprocessed frames, whatever the length of the video.
"""

from __future__ import annotations

import atexit
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

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
    windower = Windower(window_frames, hop_frames)
    recent: deque[np.ndarray] = deque(maxlen=window_frames)

    def clip(window: Window) -> Clip:
        frames = list(recent)[len(recent) - window.frames :]
        return Clip(window, stack_window(frames, spec, spec.min_frames))

    for frame in iter_frames(source, spec, stats):
        recent.append(frame)
        window = windower.push()
        if window is not None:
            yield clip(window)
    tail = windower.finish()
    if tail is not None:
        yield clip(tail)


def iter_frames(source: FrameSource, spec: ModelSpec, stats: ClipStats | None = None) -> Iterator[np.ndarray]:
    """Each output frame at ``spec.frame_rate``, preprocessed, in order: the stream under
    :func:`iter_clips` and under dense mode (:mod:`vidclass.dense`).

    A source frame that fills several output frames is preprocessed once and yielded as the same
    (read-only by convention) array each time. Raises :class:`InputError` when the source yields no
    frame at all.
    """
    stats = stats if stats is not None else ClipStats()
    resampler = Resampler(spec.frame_rate)

    def take(image: np.ndarray, copies: int) -> Iterator[np.ndarray]:
        if not copies:
            return
        frame = preprocess_frame(image, spec)  # once, however many output frames it fills
        for _ in range(copies):
            stats.frames += 1
            yield frame

    previous: np.ndarray | None = None
    for frame in source:
        copies = resampler.push(frame.time_s)
        if previous is not None:
            yield from take(previous, copies)
        previous = frame.image
    if previous is None or source.duration_s is None:
        raise InputError(source.name, "no frame could be decoded (not a video, or damaged)")
    yield from take(previous, resampler.finish(source.duration_s))


T = TypeVar("T")
_END = object()
#: Producer threads still running, with their stop events: stopped and joined at exit (see below).
_RUNNING: dict[threading.Thread, threading.Event] = {}


@atexit.register
def _stop_producers() -> None:
    """Stop and join the decode threads before the interpreter finalises.

    A consumer abandoned by an exception (Ctrl-C in the CLI) leaves its producer waiting, its
    generator kept alive by the traceback. A daemon thread still inside FFmpeg or OpenCV when the
    interpreter tears down can abort the process (SIGABRT) instead of exiting with the CLI's code.
    """
    for thread, stop in list(_RUNNING.items()):
        stop.set()
        thread.join(timeout=5.0)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], depth: int = 2, name: str = "vidclass-decode") -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    This is how decoding and preprocessing hide behind inference: OpenCV's decoder, its resize and
    numpy's arithmetic release the GIL, so the thread decodes the next frames on the other core
    while ONNX Runtime or OpenVINO runs the model. The bounded queue bounds memory. An exception
    raised by ``items`` is raised here, in the consumer, after the items before it. Closing this
    generator early (``break``, an error downstream) stops the thread and closes ``items``.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer(item):
                    break
            else:
                offer(_END)
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer, which raises it
            offer(_Failed(e))
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()
            _RUNNING.pop(threading.current_thread(), None)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    _RUNNING[thread] = stop
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:  # unblock a producer waiting on a full queue
                handoff.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
