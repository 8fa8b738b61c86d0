"""From a stream of decoded frames to model-ready clips: resample, preprocess once, cut.

The one windowing core, shared by every command and mode, so the same frames always give the
same clips:

* :class:`OutputFrames`: source frames in, frames at the model's rate out (resampled by timestamp,
  each source frame preprocessed once however many output frames or clips use it);
* :class:`Cutter`: output frames in, clips out, where a :class:`Planner` says: sliding windows
  (:class:`~vidclass.sampling.Windower`) or dense chunks (:class:`~vidclass.dense.ChunkPlanner`);
* :class:`ClipCutter`: both, push-style (``watch``'s capture thread pushes, with capture times);
  :func:`cut_source`, :func:`iter_clips` and :func:`iter_frames` pull a source through them.

Memory is bounded by one clip of preprocessed frames, whatever the length of the video.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, Protocol, TypeVar

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


class Cut(NamedTuple):
    """A run of output frames to send through the model, and which of its output steps count."""

    window: Window
    #: Output steps ``[keep_from, keep_to)`` of this clip that count (dense chunks); all by default.
    keep_from: int = 0
    keep_to: int | None = None


class Planner(Protocol):
    """Says where clips end as output frames arrive: :class:`~vidclass.sampling.Windower` (sliding
    windows) or :class:`~vidclass.dense.ChunkPlanner` (dense chunks)."""

    #: The longest clip it cuts: how many recent frames the cutter keeps.
    span_frames: int

    def push(self) -> Window | Cut | None: ...

    def finish(self) -> Window | Cut | None: ...


class Clip:
    """One clip of preprocessed frames, ready for the model (batch axis not included).

    ``frames`` are shared with the cutter's ring and with overlapping clips (never modified);
    ``data`` stacks them on first use, so a clip that is skipped (``watch`` behind real time)
    costs no copy, and whoever reads ``data`` first (the decode thread, a worker) pays for it.
    """

    __slots__ = ("window", "keep_from", "keep_to", "captured_s", "origin_s", "generation", "_frames", "_stack",
                 "_data")

    def __init__(
        self,
        window: Window,
        data: np.ndarray | None = None,
        *,
        frames: tuple[np.ndarray, ...] = (),
        stack: Callable[[list[np.ndarray]], np.ndarray] | None = None,
        keep_from: int = 0,
        keep_to: int | None = None,
        captured_s: float | None = None,
        origin_s: float = 0.0,
        generation: int = 0,
    ) -> None:
        if data is None and (not frames or stack is None):
            raise ValueError("a clip needs its data, or frames and a way to stack them")
        self.window = window
        self.keep_from = keep_from
        self.keep_to = keep_to
        #: Monotonic capture time of the clip's last frame (live sources), else None.
        self.captured_s = captured_s
        #: Source time of output frame 0 (not 0 after a stream was reopened).
        self.origin_s = origin_s
        #: Dense mode: which pass over the file this chunk belongs to (a wrong length means another).
        self.generation = generation
        self._frames = frames
        self._stack = stack
        self._data = data

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            assert self._stack is not None
            self._data = self._stack(list(self._frames))
            self._frames = ()
        return self._data

    def meta(self) -> ClipMeta:
        """Everything but the pixels: what travels back with a clip's scores."""
        return ClipMeta(self.window, self.keep_from, self.keep_to, self.generation)

    def span_s(self, fps: float) -> tuple[float, float]:
        return self.origin_s + self.window.start_s(fps), self.origin_s + self.window.end_s(fps)


class ClipMeta(NamedTuple):
    """A clip without its pixels (picklable, small): how its scores are put back in place."""

    window: Window
    keep_from: int = 0
    keep_to: int | None = None
    generation: int = 0


def _as_cut(piece: Window | Cut) -> Cut:
    return piece if isinstance(piece, Cut) else Cut(piece)


class Cutter:
    """Preprocessed output frames in, clips out: the one windowing core.

    :meth:`push` takes each output frame (at the model's frame rate) with its capture time and
    returns the clips it completes; :meth:`finish` returns the last ones. Only the last
    ``planner.span_frames`` frames are kept, so memory is one clip whatever the video's length.
    """

    def __init__(
        self, planner: Planner, stack: Callable[[list[np.ndarray]], np.ndarray], *, origin_s: float = 0.0,
        generation: int = 0,
    ) -> None:
        self.planner = planner
        self.origin_s = origin_s
        self.generation = generation
        self._stack = stack
        self._ring: deque[tuple[np.ndarray, float | None]] = deque(maxlen=planner.span_frames)
        #: Output frames pushed so far.
        self.frames = 0

    def push(self, frame: np.ndarray, captured_s: float | None = None) -> list[Clip]:
        self._ring.append((frame, captured_s))
        self.frames += 1
        piece = self.planner.push()
        return [] if piece is None else [self._clip(_as_cut(piece))]

    def finish(self) -> list[Clip]:
        piece = self.planner.finish()
        return [] if piece is None else [self._clip(_as_cut(piece))]

    def _clip(self, cut: Cut) -> Clip:
        # Every clip ends at the newest frame: its frames are the last ones of the ring.
        recent = list(self._ring)[len(self._ring) - cut.window.frames :]
        return Clip(
            cut.window,
            frames=tuple(f for f, _ in recent),
            stack=self._stack,
            keep_from=cut.keep_from,
            keep_to=cut.keep_to,
            captured_s=recent[-1][1],
            origin_s=self.origin_s,
            generation=self.generation,
        )


class OutputFrames:
    """Source frames in, output frames out: resampled to the model's frame rate by timestamp (see
    :class:`~vidclass.sampling.Resampler`), each source frame preprocessed once however many output
    frames it fills (the same read-only array each time)."""

    def __init__(self, spec: ModelSpec, *, origin_s: float = 0.0) -> None:
        self.spec = spec
        self.origin_s = origin_s
        self._resampler = Resampler(spec.frame_rate)
        self._previous: tuple[np.ndarray, float | None] | None = None

    @property
    def started(self) -> bool:
        return self._previous is not None

    def push(self, frame: Frame, captured_s: float | None = None) -> list[tuple[np.ndarray, float | None]]:
        # A source frame's output frames are known when the next frame starts (see Resampler).
        copies = self._resampler.push(frame.time_s - self.origin_s)
        out = self._take(copies) if self._previous is not None else []
        self._previous = (frame.image, captured_s)
        return out

    def finish(self, duration_s: float) -> list[tuple[np.ndarray, float | None]]:
        """The output frames of the last source frame, given the video's duration."""
        if self._previous is None:
            return []
        return self._take(self._resampler.finish(duration_s - self.origin_s))

    def _take(self, copies: int) -> list[tuple[np.ndarray, float | None]]:
        if not copies or self._previous is None:
            return []
        image, captured_s = self._previous
        frame = preprocess_frame(image, self.spec)
        return [(frame, captured_s)] * copies


class ClipCutter:
    """Source frames in, clips out: :class:`OutputFrames` then :class:`Cutter`.

    The push form of :func:`cut_source`, for sources that push (``watch``'s capture thread) as well
    as those that are pulled: both give the same clips from the same frames.
    """

    def __init__(self, spec: ModelSpec, planner: Planner, *, origin_s: float = 0.0, generation: int = 0,
                 hold: bool = True) -> None:
        self.origin_s = origin_s
        self._frames = OutputFrames(spec, origin_s=origin_s)
        # A clip shorter than the model's minimum holds its last frame (``hold``), except stream
        # blocks: they continue one another, and only the whole video's length counts.
        stack = partial(stack_window, spec=spec, min_frames=spec.min_frames if hold else 1)
        self.cutter = Cutter(planner, stack, origin_s=origin_s, generation=generation)

    @property
    def frames(self) -> int:
        """Output frames produced so far, at the model's frame rate."""
        return self.cutter.frames

    @property
    def started(self) -> bool:
        return self._frames.started

    def push(self, frame: Frame, captured_s: float | None = None) -> list[Clip]:
        return self._cut(self._frames.push(frame, captured_s))

    def finish(self, duration_s: float) -> list[Clip]:
        """The clips that the end of a file at ``duration_s`` completes, the tail included."""
        if not self.started:
            return []
        return self._cut(self._frames.finish(duration_s)) + self.cutter.finish()

    def _cut(self, frames: list[tuple[np.ndarray, float | None]]) -> list[Clip]:
        clips: list[Clip] = []
        for frame, captured_s in frames:
            clips += self.cutter.push(frame, captured_s)
        return clips


@dataclass
class ClipStats:
    """Filled in while :func:`iter_clips` runs; final when it is exhausted."""

    #: Output frames produced at the model's frame rate.
    frames: int = 0


def cut_source(source: FrameSource, spec: ModelSpec, planner: Planner, stats: ClipStats | None = None,
               generation: int = 0, tap: Callable[[Frame], None] | None = None, hold: bool = True) -> Iterator[Clip]:
    """Every clip ``planner`` cuts from ``source``, each as soon as its last frame has arrived, with
    its data stacked (so that the thread iterating this pays for it, not the consumer). ``tap`` sees
    every decoded frame on the way (thumbnails for the report: no second read of the file).

    Raises :class:`InputError` when the source yields no frame at all.
    """
    cutter = ClipCutter(spec, planner, generation=generation, hold=hold)
    for frame in source:
        if tap is not None:
            tap(frame)
        for clip in cutter.push(frame):
            clip.data  # noqa: B018 -- stacked here, in the producing thread
            yield clip
        if stats is not None:
            stats.frames = cutter.frames
    if not cutter.started or source.duration_s is None:
        raise InputError(source.name, "no frame could be decoded (not a video, or damaged)")
    for clip in cutter.finish(source.duration_s):
        clip.data  # noqa: B018
        yield clip
    if stats is not None:
        stats.frames = cutter.frames


def iter_clips(
    source: FrameSource,
    spec: ModelSpec,
    window_frames: int,
    hop_frames: int,
    stats: ClipStats | None = None,
) -> Iterator[Clip]:
    """Each sliding window of ``source`` (see :class:`~vidclass.sampling.Windower`) as a clip."""
    return cut_source(source, spec, Windower(window_frames, hop_frames), stats)


def iter_frames(source: FrameSource, spec: ModelSpec, stats: ClipStats | None = None) -> Iterator[np.ndarray]:
    """Each output frame at ``spec.frame_rate``, preprocessed, in order (see :class:`OutputFrames`).
    Raises :class:`InputError` when the source yields no frame at all."""
    frames = OutputFrames(spec)
    count = 0
    for frame in source:
        for image, _ in frames.push(frame):
            count += 1
            yield image
    if not frames.started or source.duration_s is None:
        raise InputError(source.name, "no frame could be decoded (not a video, or damaged)")
    for image, _ in frames.finish(source.duration_s):
        count += 1
        yield image
    if stats is not None:
        stats.frames = count


T = TypeVar("T")
_END = object()
#: Producer threads still running, with their stop events: stopped and joined at exit (see below).
_RUNNING: dict[threading.Thread, threading.Event] = {}
#: At exit: how long to wait for the producers to end, and for one whose start was interrupted to run.
_EXIT_JOIN_S, _EXIT_START_S = 5.0, 0.2


@atexit.register
def _stop_producers() -> None:
    """Stop and join the decode threads before the interpreter finalises.

    A consumer abandoned by an exception (Ctrl-C in the CLI) leaves its producer waiting, its
    generator kept alive by the traceback. A daemon thread still inside FFmpeg or OpenCV when the
    interpreter tears down can abort the process (SIGABRT) instead of exiting with the CLI's code.

    Ctrl-C can also land while :func:`prefetch` starts its thread: the thread is then either a moment
    from running or never runs, and ``join`` refuses it ("cannot join thread before it is started";
    once in a CI run that was a traceback at exit and then SIGABRT instead of 130). Such a thread gets
    :data:`_EXIT_START_S` to start, then is joined like the others.
    """
    producers = list(_RUNNING.items())
    for _, stop in producers:
        stop.set()
    deadline = time.monotonic() + _EXIT_JOIN_S
    for thread, _ in producers:
        _join_at_exit(thread, deadline)


def _join_at_exit(thread: threading.Thread, deadline: float) -> None:
    starting_until = time.monotonic() + _EXIT_START_S
    while True:
        try:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            return
        except RuntimeError:  # not started (yet): its start() was interrupted
            if time.monotonic() >= starting_until:
                return  # never will: nothing runs to be joined
            time.sleep(0.01)


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
