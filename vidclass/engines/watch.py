"""Watching a camera, a stream or a file live: a capture thread, the model's state, the newest windows.

Three threads, one job each:

* **capture** reads the source continuously. A file is paced to its own timestamps, so that it
  plays like a camera, unless ``realtime=False``. Each frame is stamped with its capture time
  (monotonic clock), resampled to the model's frame rate and preprocessed once
  (:class:`~vidclass.clips.OutputFrames`, the same core as files).
* **inference** runs the model; the caller's thread iterates :meth:`Watch.results`, which adds
  smoothing, latency and wall-clock time to each window.

Two modes, as for files (``Classifier.mode``; ``auto`` is stream when the model's streaming form is
beside it):

**Stream** (:class:`BlockFeed`, :class:`StreamState`). Output frames go to the inference thread in
blocks (:func:`live_block_frames`: 8 frames for I3D unless ``chunk_frames`` says) through a bounded
:class:`Handover` (the backlog); the streaming runtime
(:class:`~vidclass.convert.stream_runtime.StreamingI3D`) keeps the network's temporal state between
calls, so each block costs only its own frames. After each call, every window whose steps have all
become final is scored from the per-step timeline exactly as files are
(:func:`vidclass.dense.window_score`): a window ``[a, b)`` is final once the next step to come is
centred at or after ``b``, that is once the frames up to about ``b`` plus half the receptive field
(the *look-ahead*, :func:`look_ahead_frames`: 53 frames, 2.12 s for I3D, from the model's metadata)
have been through the network. A file is streamed on the grid of its length, so that the steps are one
pass's: with ``realtime=False`` its output frames are counted first (a decode without
preprocessing), so the windows' scores equal ``predict``'s even where the container is wrong about
the length; in real time it takes its container's frame count (a wrong one keeps that grid and is
flushed at the real end: ``predict`` makes a second pass instead; live, there is none). A live
stream has no length (``total_frames=None``: the grid of a length that is a multiple of the stride).
A reopened stream flushes the state (its last windows are scored with the padding after the end)
and starts a new one.

*Falling behind.* The state cannot skip frames inside itself, so in real time the backlog holds at
most a window, its look-ahead and a block (:func:`backlog_blocks`: 16 blocks, 5.1 s for I3D). When a
block arrives and the backlog is full (the model is slower than real time), the waiting blocks are
dropped, the state is abandoned and a new one starts with the arriving block: the windows that the
dropped frames would have completed, and those that waited for their look-ahead, are counted as
skipped, and the restart is counted (``WatchSummary.restarts``). A new state gives its first result
after a window plus the look-ahead. A state dropped before its first window shows that the model
cannot get a window and its look-ahead through in real time (measured: 1-8 results in 50 s, 11-21 s
late, on 2 shared cores): the watch then falls back to windows mode from the next frame
(``WatchSummary.fallback_s``, a warning on stderr), where each window costs its own 64 frames and is
skipped whole when the model is busy. With ``realtime=False`` the capture waits instead and nothing
is dropped.

**Windows** (``--mode windows``). Each window of the model's length is cut by a
:class:`~vidclass.clips.ClipCutter` with a :class:`~vidclass.sampling.Windower` and handed over
through a one-place :class:`Handover` as a :class:`~vidclass.clips.Clip` holding references to its
frames (stacked only once taken, so a skipped window costs no copy); the model classifies it alone
with :meth:`Classifier.score_clip`. In real time a newer window replaces one still waiting, which
is skipped whole and counted: windows are skipped, never frames inside a window.

**Latency**, the same in both modes: from the capture of the newest frame the reported window
covers (its last frame) to the moment its result is ready. In windows mode that is the wait for the
model and the model's time; in stream mode, the look-ahead, up to one block and the model's time.
"""

from __future__ import annotations

import logging
import math
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Generic, NamedTuple, Protocol, TypeVar

import cv2
import numpy as np

from .. import dense, scores
from ..classifier import Classifier
from ..clips import Clip, ClipCutter, OutputFrames
from ..convert.stream_runtime import StreamingI3D, StreamLengthMismatch
from ..errors import InputError, UsageError
from ..preprocess import stack_window
from ..results import LabelScore, LiveResult, WatchSummary
from ..sampling import Window, Windower
from ..settings import Mode
from ..sources import Frame, VideoFile

log = logging.getLogger("vidclass")

# How long the capture thread is waited for when watching stops: a camera answers within a frame;
# a stalled network read only at its timeout, and the process need not wait for that.
_CAPTURE_JOIN_S = 3.0
# Capture fps is measured over this many recent frames.
_FPS_FRAMES = 60
# Latencies kept for the summary's median.
_LATENCIES_KEPT = 10_000


class LiveSource(Protocol):
    """What :class:`Watch` needs of a source. :class:`~vidclass.sources.VideoFile`,
    :class:`~vidclass.sources.Camera` and :class:`~vidclass.sources.NetworkStream` all fit.

    Optional attributes, read with ``getattr``: ``live`` (True: the frames come in real time and
    are timed by the capture clock), ``segment`` (goes up when a stream is reopened), ``stop()``
    (ask a blocked iteration to end, from another thread).
    """

    name: str
    duration_s: float | None

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


T = TypeVar("T")


class Handover(Generic[T]):
    """A few places between the capture thread and the inference thread (one by default).

    ``keep_every=False`` (real time): :meth:`put` never waits; when all ``capacity`` places are
    taken, the items waiting are dropped (counted in :attr:`skipped`, and given to ``on_drop``)
    and the new one takes their place. With one place (windows mode) a window still waiting when a
    newer one arrives is skipped whole; with a few (stream mode's blocks) the backlog is bounded.
    ``keep_every=True``: :meth:`put` waits for a free place, so nothing is dropped.
    """

    def __init__(self, keep_every: bool, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.keep_every = keep_every
        self.capacity = capacity
        self.skipped = 0
        self._cond = threading.Condition()
        self._items: deque[T] = deque()
        self._ended = False
        self._cancelled = False
        self._error: BaseException | None = None

    def put(self, item: T, on_drop: Callable[[list[T], T], None] | None = None) -> bool:
        """Offer an item; False when the consumer has gone (stop producing). ``on_drop(dropped, item)``
        is called, under the lock, when waiting items make room for ``item``."""
        with self._cond:
            while self.keep_every and len(self._items) >= self.capacity and not self._cancelled:
                self._cond.wait()
            if self._cancelled:
                return False
            if len(self._items) >= self.capacity:
                dropped = list(self._items)
                self._items.clear()
                self.skipped += len(dropped)
                if on_drop is not None:
                    on_drop(dropped, item)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def resize(self, capacity: int) -> None:
        """Change the number of places (stream mode falling back to windows: one)."""
        with self._cond:
            self.capacity = capacity
            self._cond.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        """No more items: the source ended (``error``: it failed)."""
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()

    def cancel(self) -> None:
        """The consumer stops: wake and release everyone."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def get(self) -> T | None:
        """The oldest item waiting; None when there will be no more. Raises the source's error, after
        the last item it offered."""
        with self._cond:
            while not self._items and not self._ended and not self._cancelled:
                self._cond.wait()
            if self._cancelled:
                return None
            item = self._items.popleft() if self._items else None
            self._cond.notify_all()
            if item is None and self._error is not None:
                raise self._error
            return item


# -- stream mode ------------------------------------------------------------------------------------


def backlog_blocks(window_frames: int, look_ahead_frames: int, block_frames: int) -> int:
    """Blocks that may wait for the model in real time: a window, its look-ahead and one block (I3D:
    64 + 53 + 8 frames, 16 blocks of 8, 5.1 s; with blocks of 32, 5 blocks, 6.4 s). A restarted state
    gives its first result only once a window and its look-ahead have been through the model: with a
    shorter backlog, a model slower than real time would restart the state before any result
    (measured: 0 windows in 12 s with 2 blocks of 32). A longer one would only let results fall
    further behind before the drop."""
    return max(1, math.ceil((window_frames + look_ahead_frames + block_frames) / block_frames))


#: Stream mode's block length live, unless the settings give one (``--chunk-frames``): the smallest
#: multiple of the model's time stride with at least this many frames (I3D: 8, one output step per
#: call). A result waits for up to a block to fill and for the call, so the block is part of the
#: latency. Measured (``scripts/bench_watch.py --modes stream,stream:16,stream:8 --repeat 2``, 30 fps
#: loopback stream, ONNX Runtime fp32, 2-core AMD EPYC with AVX2, idle): median latency 4.88 and
#: 4.89 s with blocks of 32 frames, 3.24 and 3.10 s with 16, 2.52 and 2.53 s with 8; no window
#: skipped in any run; 1.55-1.57, 1.60-1.73 and 1.62-1.68 CPU s per second of video. Files keep
#: blocks of 32 (:data:`~vidclass.convert.stream_runtime.DEFAULT_BLOCK_FRAMES`), where only the
#: throughput counts.
LIVE_BLOCK_MIN_FRAMES = 8


def live_block_frames(classifier: Classifier) -> int:
    """Frames per stream-mode block in ``watch``: the settings' ``chunk_frames``, else the smallest
    multiple of the stride with at least :data:`LIVE_BLOCK_MIN_FRAMES`."""
    if classifier.settings.chunk_frames:
        return classifier.recipe.chunk_frames
    assert classifier.stream_session is not None
    stride = classifier.stream_session.stream.stride_frames
    return stride * math.ceil(LIVE_BLOCK_MIN_FRAMES / stride)


def look_ahead_frames(classifier: Classifier) -> int:
    """Frames past a window's end that its last step depends on: half the receptive field (from the
    streaming form's metadata; I3D: 53 frames, 2.12 s at 25 fps)."""
    assert classifier.stream_session is not None
    return classifier.stream_session.stream.field_frames // 2


@dataclass
class Block:
    """Consecutive output frames of one stream state, with their capture times."""

    frames: list[np.ndarray]
    captured_s: list[float]
    #: Which state the block continues: a new number after a reopened stream or a dropped backlog.
    state: int
    #: Source time of the state's frame 0, and its frame count when known (a file's first state).
    origin_s: float
    total_frames: int | None = None
    #: The source ended with this block: flush the state (``tail``: and score the window aligned to
    #: the end, as files are).
    last: bool = False
    tail: bool = False


class Scored(NamedTuple):
    """A window scored by the inference thread, on its way to :meth:`Watch.results`."""

    start_s: float
    end_s: float
    #: Capture time of the window's last frame (monotonic clock).
    captured_s: float
    probs: np.ndarray
    #: Windows skipped so far, and the model's time for the call that made this window ready.
    skipped: int
    inference_ms: float
    mode: Mode


@dataclass
class StreamState:
    """One stream of the streaming model: its runtime, the windows its frames complete, and the
    per-step logits and capture times still needed to score and time them."""

    classifier: Classifier
    number: int
    origin_s: float
    total_frames: int | None
    runtime: StreamingI3D = field(init=False)
    windower: Windower = field(init=False)
    #: Windows completed by the frames pushed, waiting for their last steps to become final.
    pending: deque[Window] = field(default_factory=deque)
    steps: np.ndarray = field(init=False)
    #: Index (in the whole stream) of ``steps[0]``, and of the frame whose capture time is ``captured[0]``.
    first_step: int = 0
    first_frame: int = 0
    captured: list[float] = field(default_factory=list)
    #: Windows scored so far.
    reported: int = 0
    _last_frame: np.ndarray | None = None

    def __post_init__(self) -> None:
        clf = self.classifier
        session = clf.stream_session
        assert session is not None
        self.runtime = StreamingI3D(session.run, session.stream, clf.spec, live_block_frames(clf))
        self.runtime.start(self.total_frames)
        self.windower = Windower(clf.window_frames, clf.hop_frames)
        self.steps = np.zeros((0, clf.spec.num_classes), np.float32)

    def push(self, block: Block) -> list[tuple[Window, np.ndarray, float]]:
        """Add a block; the windows it made final, with their probabilities and last capture time."""
        if not block.frames:  # the end of a source whose last frame filled no output frame
            return []
        data = stack_window(block.frames, self.classifier.spec, min_frames=1)
        self._last_frame = data[-1:]
        self.captured += block.captured_s
        for _ in block.frames:
            if (window := self.windower.push()) is not None:
                self.pending.append(window)
        try:
            steps = self.runtime.push(data)
        except StreamLengthMismatch:
            # More frames than the container announced: the grid stays the announced length's, the
            # end is flushed for the real one.
            self.runtime.total_frames = None
            steps = self.runtime.push(data)
        self._add(steps)
        return self._ready(final=False)

    def finish(self, tail: bool) -> list[tuple[Window, np.ndarray, float]]:
        """Flush the state: every pending window is scored (``tail``: and the window aligned to the end)."""
        if tail and (window := self.windower.finish()) is not None:
            self.pending.append(window)
        spec, runtime = self.classifier.spec, self.runtime
        if runtime.total_frames is not None and runtime.received != runtime.total_frames:
            runtime.total_frames = None  # fewer frames than the container announced: see push()
        short = max(runtime.total_frames or 0, spec.min_frames) - runtime.received
        if short > 0 and self._last_frame is not None:  # a short video: its last frame held, as predict does
            self._add(runtime.push(np.repeat(self._last_frame, short, axis=0)))
        self._add(runtime.finish())
        return self._ready(final=True)

    def lost(self, dropped_frames: int) -> int:
        """Windows this state will never score when abandoned after ``dropped_frames`` more frames were
        captured for it: those waiting for their look-ahead, and those the dropped frames complete."""
        return len(self.pending) + windows_completed(self.windower, dropped_frames)

    def _add(self, steps: np.ndarray) -> None:
        if len(steps):
            self.steps = np.concatenate([self.steps, steps]) if len(self.steps) else steps

    def _ready(self, final: bool) -> list[tuple[Window, np.ndarray, float]]:
        runtime = self.runtime
        centres = runtime.step_centres(np.arange(self.first_step, self.first_step + len(self.steps)))
        next_centre = float(runtime.step_centres([runtime.steps_emitted])[0])
        ready = []
        while self.pending and (final or next_centre >= self.pending[0].stop):
            window = self.pending.popleft()
            with np.errstate(over="ignore", invalid="ignore"):  # checked on the next line
                probs = dense.window_score(self.steps, centres, window)
            self.classifier.check_finite(probs, window)
            ready.append((window, probs, self.captured[window.stop - 1 - self.first_frame]))
            self.reported += 1
        # What a later window can still need: steps centred, and frames, from its start on.
        keep_from = min(
            self.pending[0].start if self.pending else runtime.received,
            runtime.received - self.classifier.window_frames,
        )
        drop_steps = int(np.searchsorted(centres, keep_from))
        if drop_steps:
            self.steps, self.first_step = self.steps[drop_steps:], self.first_step + drop_steps
        drop_frames = max(0, keep_from - self.first_frame)
        if drop_frames:
            del self.captured[:drop_frames]
            self.first_frame += drop_frames
        return ready


def windows_completed(windower: Windower, frames: int) -> int:
    """Windows ``windower`` completes over ``frames`` more frames."""
    return sum(windower.push() is not None for _ in range(frames))


class WindowFeed:
    """Windows mode's capture side: source frames in, each window a clip for the :class:`Handover`.
    Counts the windows replaced while waiting (:attr:`skipped`); after a fall-back from stream mode,
    the blocks still waiting that a window replaces are counted by the stream's ``blocks`` feed."""

    def __init__(self, classifier: Classifier, handover: Handover, blocks: BlockFeed | None = None) -> None:
        self.classifier = classifier
        self.handover = handover
        self.skipped = 0
        self._blocks = blocks
        self._ring: ClipCutter | None = None

    @property
    def started(self) -> bool:
        return self._ring is not None

    def segment(self, origin_s: float) -> bool:
        """A new segment begins (the first frame, or a reopened stream): no window spans the gap."""
        clf = self.classifier
        self._ring = ClipCutter(clf.spec, Windower(clf.window_frames, clf.hop_frames), origin_s=origin_s)
        return True

    def push(self, frame: Frame, captured_s: float) -> bool:
        assert self._ring is not None
        return all(self.handover.put(clip, on_drop=self._dropped) for clip in self._ring.push(frame, captured_s))

    def finish(self, duration_s: float | None) -> bool:
        if self._ring is None or duration_s is None:
            return True
        return all(self.handover.put(clip, on_drop=self._dropped) for clip in self._ring.finish(duration_s))

    def _dropped(self, items: list[Clip | Block], arriving: Clip) -> None:
        for item in items:
            if isinstance(item, Block) and self._blocks is not None:
                self._blocks.count_dropped(item)
            else:
                self.skipped += 1


class BlockFeed:
    """Stream mode's capture side: source frames in, blocks of output frames for the :class:`Handover`
    (a bounded backlog). Numbers the stream states: a new one for each segment, and one each time the
    backlog is dropped (its frames per state in :attr:`dropped_frames`, read by the inference thread)."""

    def __init__(self, classifier: Classifier, handover: Handover[Block], total_frames: int | None) -> None:
        self.classifier = classifier
        self.handover = handover
        self.block_frames = live_block_frames(classifier)
        self.dropped_frames: dict[int, int] = {}
        self.restarts = 0
        #: The length of the first state's grid (a file's), None for a live source.
        self.total_frames = total_frames
        self._frames: OutputFrames | None = None
        self._state = -1
        self._state_origin_s = 0.0
        self._segment_origin_s = 0.0
        self._produced = 0  # output frames of this segment so far
        self._images: list[np.ndarray] = []
        self._times: list[float] = []

    @property
    def started(self) -> bool:
        return self._frames is not None

    def count_dropped(self, block: Block) -> None:
        """``block`` will never reach the model: its frames count against its state."""
        self.dropped_frames[block.state] = self.dropped_frames.get(block.state, 0) + len(block.frames)

    def segment(self, origin_s: float) -> bool:
        """A new segment: the last frames of the previous one go to the model (its state is flushed
        when the next state's first block arrives), and a new state starts."""
        if self._images and not self._send():
            return False
        self._frames = OutputFrames(self.classifier.spec, origin_s=origin_s)
        self._state += 1
        self._state_origin_s = self._segment_origin_s = origin_s
        self._produced = 0
        return True

    def push(self, frame: Frame, captured_s: float) -> bool:
        assert self._frames is not None
        for image, captured in self._frames.push(frame, captured_s):
            self._images.append(image)
            self._times.append(captured if captured is not None else captured_s)
            self._produced += 1
            if len(self._images) == self.block_frames and not self._send():
                return False
        return True

    def finish(self, duration_s: float | None) -> bool:
        if self._frames is None:
            return True
        if duration_s is not None:
            for image, captured in self._frames.finish(duration_s):
                self._images.append(image)
                self._times.append(captured if captured is not None else 0.0)
        return self._send(last=True, tail=duration_s is not None)

    def _send(self, last: bool = False, tail: bool = False) -> bool:
        first_s = self._segment_origin_s + (self._produced - len(self._images)) / self.classifier.spec.frame_rate
        block = Block(
            self._images,
            self._times,
            self._state,
            self._state_origin_s,
            self.total_frames if self._state == 0 else None,
            last,
            tail,
        )
        self._images, self._times = [], []

        def restart(dropped: list[Block], arriving: Block) -> None:
            # The model is more than a backlog behind: the waiting frames are dropped and a new state
            # begins with the arriving block (its frame 0, its grid: a live stream's).
            for lost in dropped:
                self.count_dropped(lost)
            self.restarts += 1
            self._state += 1
            self._state_origin_s = first_s
            arriving.state, arriving.origin_s, arriving.total_frames = self._state, first_s, None

        return self.handover.put(block, on_drop=restart)


_END = object()


class Watch:
    """Classify a source live: start, iterate :meth:`results`, close (or use as a context manager).

    The classifier's mode decides how (see the module's docstring): ``stream`` (the model's state
    carried from block to block) or ``windows`` (each window on its own).

    ``realtime`` (default): a file plays at its own speed; when the model falls behind, windows are
    skipped (counted in the results and the summary). ``realtime=False`` (files only): every window
    is classified, as fast as possible. ``smooth``: scores are the mean over the last ``smooth``
    windows. ``duration_s``: stop after that many seconds of the source. ``max_windows``: stop after
    that many results.
    """

    def __init__(
        self,
        classifier: Classifier,
        source: LiveSource,
        *,
        realtime: bool = True,
        smooth: int = 1,
        duration_s: float | None = None,
        max_windows: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.live = bool(getattr(source, "live", False))
        if self.live and not realtime:
            raise UsageError(f"--no-realtime is for video files; {source.name} is watched in real time")
        if smooth < 1:
            raise UsageError(f"--smooth must be at least 1, got {smooth}")
        if duration_s is not None and not duration_s > 0:
            raise UsageError(f"--duration must be positive, got {duration_s}")
        if max_windows is not None and max_windows < 1:
            raise UsageError(f"--max-windows must be at least 1, got {max_windows}")
        if classifier.mode not in (Mode.stream, Mode.windows):
            raise UsageError(f"watch runs in stream or windows mode, not {classifier.mode.value} (a mode for files)")
        self.classifier = classifier
        self.source = source
        #: How the model runs: ``Mode.stream`` or ``Mode.windows``.
        self.mode = classifier.mode
        self.realtime = realtime
        self.smooth = smooth
        self.duration_s = duration_s
        self.max_windows = max_windows
        self._clock = clock
        self._handover: Handover[Clip | Block]
        self._feed: WindowFeed | BlockFeed
        self._window_feed: WindowFeed | None = None
        self._block_feed: BlockFeed | None = None
        if self.mode is Mode.stream:
            blocks = backlog_blocks(
                classifier.window_frames, look_ahead_frames(classifier), live_block_frames(classifier)
            )
            self._handover = Handover(keep_every=not realtime, capacity=blocks)
            self._feed = self._block_feed = BlockFeed(classifier, self._handover, self._announced_frames())
        else:
            self._handover = Handover(keep_every=not realtime)
            self._feed = self._window_feed = WindowFeed(classifier, self._handover)
        # Set by the inference thread when stream mode cannot keep up (see _end_state); the capture
        # thread then goes on in windows mode from its next frame (fallback_s: that frame's time).
        self._fallback = threading.Event()
        self.fallback_s: float | None = None
        self._results: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self._capture_thread = threading.Thread(target=self._capture, name="vidclass-capture", daemon=True)
        self._inference_thread = threading.Thread(target=self._infer, name="vidclass-inference", daemon=True)
        self._started = False
        self._closed = False
        # Written by the capture thread only; read anywhere (single attribute reads are atomic).
        self.frames = 0
        self._seconds = 0.0
        self._capture_times: deque[float] = deque(maxlen=_FPS_FRAMES)
        self._latest: np.ndarray | None = None
        self.stopped: str | None = None
        # Written by the inference thread: stream mode's windows lost to a dropped backlog.
        self._stream_skipped = 0
        # Written by the thread iterating results().
        self.windows = 0
        self._latencies_ms: deque[float] = deque(maxlen=_LATENCIES_KEPT)
        self._latency_max_ms: float | None = None
        self._recent_probs: deque[np.ndarray] = deque(maxlen=smooth)
        # Wall clock of the monotonic clock's zero, for the results' ISO 8601 time.
        self._wall_offset_s = time.time() - clock()

    def _announced_frames(self) -> int | None:
        """A file's output frame count from its container (the grid of one pass; see the module's
        docstring), at least the model's minimum as ``predict`` runs a short video; None for a live source."""
        if self.live:
            return None
        spec = self.classifier.spec
        guess = dense.guess_output_frames(
            getattr(self.source, "header_frames", None), getattr(self.source, "nominal_fps", None), spec.frame_rate
        )
        return None if guess is None else max(guess, spec.min_frames)

    def _counted_frames(self, path: Path) -> int:
        """A file's output frame count from its frames' timestamps, as ``predict`` counts a file whose
        container does not say (at least the model's minimum)."""
        spec = self.classifier.spec
        with VideoFile(path) as counting:
            count = dense.count_output_frames(
                (f.time_s for f in counting), lambda: counting.duration_s, spec.frame_rate
            )
        return max(count, spec.min_frames)

    # -- the caller's side ----------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._inference_thread.start()
            self._capture_thread.start()

    def results(self, poll_s: float | None = None) -> Iterator[LiveResult | None]:
        """Each classified window as soon as it is ready, until the source ends, ``duration_s`` or
        ``max_windows``. Raises :class:`InputError` when the source fails. With ``poll_s``, also
        yields None whenever ``poll_s`` seconds pass without a result (time to redraw a window)."""
        self.start()
        while True:
            try:
                item = self._results.get(timeout=poll_s if poll_s is not None else 0.5)
            except queue.Empty:
                if poll_s is not None:
                    yield None
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Scored)
            yield self._result(item)
            if self.max_windows is not None and self.windows >= self.max_windows:
                self.stopped = self.stopped or "max windows reached"
                return

    def _result(self, scored: Scored) -> LiveResult:
        self._recent_probs.append(scored.probs)
        shown = scored.probs if len(self._recent_probs) == 1 else scores.clip_probabilities(list(self._recent_probs))
        spec = self.classifier.spec
        top = tuple(LabelScore(spec.labels[i], p) for i, p in scores.top_k(shown, self.classifier.top_k))
        latency_ms = (self._clock() - scored.captured_s) * 1000.0
        self.windows += 1
        self._latencies_ms.append(latency_ms)
        self._latency_max_ms = max(latency_ms, self._latency_max_ms or 0.0)
        captured_at = datetime.fromtimestamp(self._wall_offset_s + scored.captured_s, tz=timezone.utc)
        return LiveResult(
            source=self.source.name,
            window=self.windows,
            start_s=scored.start_s,
            end_s=scored.end_s,
            time=captured_at.astimezone(),
            top=top,
            latency_ms=latency_ms,
            inference_ms=scored.inference_ms,
            smoothed_over=len(self._recent_probs),
            skipped=scored.skipped,
            capture_fps=self.capture_fps,
            provider=self.classifier.session.provider,
            mode=scored.mode.value,
        )

    @property
    def capture_fps(self) -> float | None:
        """Frames per second the source delivered over its last frames."""
        times = list(self._capture_times)
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def skipped(self) -> int:
        """Windows skipped so far: in windows mode, those replaced while waiting for the model; in
        stream mode, those lost with a dropped backlog."""
        replaced = self._window_feed.skipped if self._window_feed is not None else 0
        return self._stream_skipped + replaced

    @property
    def restarts(self) -> int:
        """Stream mode: times the backlog was dropped (the state started again, or gave way to windows)."""
        return self._block_feed.restarts if self._block_feed is not None else 0

    def latest_frame(self) -> np.ndarray | None:
        """The last frame captured (BGR), for a preview window."""
        return self._latest

    def summary(self, stopped: str | None = None) -> WatchSummary:
        latencies = list(self._latencies_ms)
        return WatchSummary(
            source=self.source.name,
            frames=self.frames,
            windows=self.windows,
            skipped=self.skipped,
            seconds=self._seconds,
            latency_ms_median=statistics.median(latencies) if latencies else None,
            latency_ms_max=self._latency_max_ms,
            stopped=stopped or self.stopped,
            mode=self.mode.value,
            restarts=self.restarts,
            fallback_s=self.fallback_s,
        )

    def close(self) -> None:
        """Stop both threads and release the source (camera, connection, file)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        stop_source = getattr(self.source, "stop", None)
        if callable(stop_source):
            stop_source()  # wakes a stream waiting to reconnect
        self._handover.cancel()
        if not self._started:
            self.source.close()
            return
        # The inference thread finishes the call it is on; the capture thread its current read.
        self._inference_thread.join()
        self._capture_thread.join(_CAPTURE_JOIN_S)

    def __enter__(self) -> Watch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the capture thread ---------------------------------------------------------------------

    def _capture(self) -> None:
        error: BaseException | None = None
        frames = iter(self.source)
        try:
            self._read(frames)
        except cv2.error as e:
            error = InputError(self.source.name, f"decoding failed ({str(e).strip().splitlines()[-1]})")
        except BaseException as e:  # noqa: BLE001 -- handed to the caller's thread, which raises it
            error = e
        finally:
            close_frames = getattr(frames, "close", None)
            if callable(close_frames):
                close_frames()
            self.source.close()
            self._handover.end(error)

    def _read(self, frames: Iterator[Frame]) -> None:
        feed = self._feed
        if isinstance(feed, BlockFeed) and not self.realtime and isinstance(self.source, VideoFile):
            # Every window as fast as possible: the grid of the real length, counted first (a decode
            # without preprocessing), so that the scores are predict's even where the container is wrong.
            feed.total_frames = self._counted_frames(self.source.path)
        segment = None
        paced_origin_s: float | None = None
        for frame in frames:
            if self._stop.is_set():
                return
            if self.realtime and not self.live:
                # A file plays at its own speed: frame t is released t seconds after the first.
                now_s = self._clock()
                if paced_origin_s is None:
                    paced_origin_s = now_s - frame.time_s
                wait_s = paced_origin_s + frame.time_s - now_s
                if wait_s > 0 and self._stop.wait(wait_s):
                    return
            captured_s = self._clock()
            self.frames += 1
            self._seconds = frame.time_s
            self._capture_times.append(captured_s)
            self._latest = frame.image
            if self._fallback.is_set() and isinstance(feed, BlockFeed):
                feed = self._fall_back(feed, frame.time_s)
            if not feed.started or getattr(self.source, "segment", 0) != segment:
                # A reopened stream starts new windows (and a new state): none may span the gap.
                segment = getattr(self.source, "segment", 0)
                if not feed.segment(frame.time_s):
                    return
            if not feed.push(frame, captured_s):
                return
            if self.duration_s is not None and frame.time_s >= self.duration_s:
                self.stopped = "duration reached"
                return
        if self._stop.is_set():
            return
        if not feed.started:
            raise InputError(self.source.name, "no frame could be decoded (not a video, or damaged)")
        if not feed.finish(self.source.duration_s):
            return
        self.stopped = "end of video" if not self.live else "end of stream"

    def _fall_back(self, blocks: BlockFeed, origin_s: float) -> WindowFeed:
        """Go on in windows mode from the frame at ``origin_s``: one place in the handover again, new
        windows from this frame (the stream's blocks still waiting are dropped by the first window)."""
        backlog_frames = self._handover.capacity * blocks.block_frames
        self._handover.resize(1)
        windows = WindowFeed(self.classifier, self._handover, blocks)
        windows.segment(origin_s)
        self._feed = self._window_feed = windows
        self.fallback_s = origin_s
        self.mode = Mode.windows
        log.warning(
            "%s: the model cannot keep up with the stream in stream mode (a backlog of %d frames was dropped "
            "before a window and its look-ahead got through); watching on in windows mode from %.1f s",
            self.source.name,
            backlog_frames,
            origin_s,
        )
        return windows

    # -- the inference thread -------------------------------------------------------------------

    def _infer(self) -> None:
        """Score what the handover gives: a stream's blocks, or windows (windows mode, or stream mode
        once it has fallen back, when the first window abandons the stream's state)."""
        state: StreamState | None = None
        fps = self.classifier.spec.frame_rate
        try:
            while (item := self._handover.get()) is not None:
                started_s = self._clock()
                if isinstance(item, Clip):
                    if state is not None:
                        self._abandon(state)
                        state = None
                    probs = self.classifier.score_clip(item)
                    inference_ms = (self._clock() - started_s) * 1000.0
                    captured_s = item.captured_s if item.captured_s is not None else self._clock()
                    scored = Scored(*item.span_s(fps), captured_s, probs, self.skipped, inference_ms, Mode.windows)
                    self._results.put(scored)
                    continue
                if state is None or item.state != state.number:
                    self._emit(state, self._end_state(state, item.state), started_s)
                    state = StreamState(self.classifier, item.state, item.origin_s, item.total_frames)
                ready = state.push(item)
                if item.last:
                    ready += self._flush(state, item.tail)
                self._emit(state, ready, started_s)
        except BaseException as e:  # noqa: BLE001 -- handed to the caller's thread, which raises it
            self._results.put(e)
        finally:
            self._results.put(_END)

    def _end_state(self, state: StreamState | None, next_number: int) -> list[tuple[Window, np.ndarray, float]]:
        """Close ``state`` before state ``next_number`` begins: flushed after a reopened stream,
        abandoned after a dropped backlog (its lost windows, and those of any state dropped whole
        in between, counted as skipped)."""
        assert self._block_feed is not None
        dropped = self._block_feed.dropped_frames
        ready: list[tuple[Window, np.ndarray, float]] = []
        if state is not None:
            if state.number in dropped:
                if not state.reported:
                    self._fallback.set()  # dropped before its first window: it will not keep up
                self._abandon(state)
            else:
                ready = self._flush(state, tail=False)
        for number in range((state.number + 1) if state is not None else 0, next_number):
            self._fallback.set()  # a state dropped whole
            clf = self.classifier
            lost = windows_completed(Windower(clf.window_frames, clf.hop_frames), dropped.pop(number, 0))
            self._stream_skipped += lost
        return ready

    def _abandon(self, state: StreamState) -> None:
        """Count the windows of ``state`` that will never be scored."""
        assert self._block_feed is not None
        self._stream_skipped += state.lost(self._block_feed.dropped_frames.pop(state.number, 0))

    def _flush(self, state: StreamState, tail: bool) -> list[tuple[Window, np.ndarray, float]]:
        try:
            return state.finish(tail)
        except UsageError:  # too few frames for one output step: its windows cannot be scored
            self._stream_skipped += len(state.pending)
            return []

    def _emit(self, state: StreamState | None, ready: list[tuple[Window, np.ndarray, float]], started_s: float) -> None:
        if state is None:
            return
        inference_ms = (self._clock() - started_s) * 1000.0
        fps = self.classifier.spec.frame_rate
        for window, probs, captured_s in ready:
            start_s, end_s = state.origin_s + window.start_s(fps), state.origin_s + window.end_s(fps)
            self._results.put(Scored(start_s, end_s, captured_s, probs, self.skipped, inference_ms, Mode.stream))
