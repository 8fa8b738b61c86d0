"""Watching a camera, a stream or a file live: a capture thread, a ring of frames, the newest window.

Three threads, one job each:

* **capture** reads the source continuously. A file is paced to its own timestamps, so that it
  plays like a camera, unless ``realtime=False``. Each frame is stamped with its capture time
  (monotonic clock) and pushed into a :class:`~vidclass.clips.ClipCutter` with a
  :class:`~vidclass.sampling.Windower`: the same windowing core as files, one frame at a time.
* A window the cutter completes is handed over through a one-place :class:`Handover` as a
  :class:`~vidclass.clips.Clip` holding references to its frames (stacked only once taken, so a
  skipped window costs no copy). In real time a newer window
  replaces one still waiting, which is skipped whole and counted: windows are skipped, never
  frames inside a window. With ``realtime=False`` the capture waits instead and every window is
  classified; the window scores are then exactly :meth:`Classifier.predict`'s.
* **inference** classifies the window it takes with :meth:`Classifier.score_clip` (the call
  ``predict`` makes), and the caller's thread iterates :meth:`Watch.results`, which adds
  smoothing, latency and wall-clock time to each.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Protocol

import cv2
import numpy as np

from .. import scores
from ..classifier import Classifier
from ..clips import Clip, ClipCutter
from ..errors import InputError, UsageError
from ..results import LabelScore, LiveResult, WatchSummary
from ..sampling import Windower
from ..sources import Frame

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


class Handover:
    """One place between the capture thread and the inference thread.

    ``keep_every=False`` (real time): :meth:`put` never waits; a window still waiting when a newer
    one arrives is dropped and counted in :attr:`skipped`. ``keep_every=True``: :meth:`put` waits
    until the previous window was taken, so none is skipped.
    """

    def __init__(self, keep_every: bool) -> None:
        self.keep_every = keep_every
        self.skipped = 0
        self._cond = threading.Condition()
        self._item: Clip | None = None
        self._ended = False
        self._cancelled = False
        self._error: BaseException | None = None

    def put(self, item: Clip) -> bool:
        """Offer a window; False when the consumer has gone (stop producing)."""
        with self._cond:
            while self.keep_every and self._item is not None and not self._cancelled:
                self._cond.wait()
            if self._cancelled:
                return False
            if self._item is not None:
                self.skipped += 1
            self._item = item
            self._cond.notify_all()
            return True

    def end(self, error: BaseException | None = None) -> None:
        """No more windows: the source ended (``error``: it failed)."""
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()

    def cancel(self) -> None:
        """The consumer stops: wake and release everyone."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def get(self) -> Clip | None:
        """The newest window; None when there will be no more. Raises the source's error, after
        the last window it completed."""
        with self._cond:
            while self._item is None and not self._ended and not self._cancelled:
                self._cond.wait()
            if self._cancelled:
                return None
            item, self._item = self._item, None
            self._cond.notify_all()
            if item is None and self._error is not None:
                raise self._error
            return item


_END = object()


class Watch:
    """Classify a source live: start, iterate :meth:`results`, close (or use as a context manager).

    ``realtime`` (default): a file plays at its own speed, and windows that arrive while the model
    is busy are skipped whole (counted in the results and the summary). ``realtime=False`` (files
    only): every window is classified, as fast as possible. ``smooth``: scores are the mean over
    the last ``smooth`` windows. ``duration_s``: stop after that many seconds of the source.
    ``max_windows``: stop after that many results.
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
        self.classifier = classifier
        self.source = source
        self.realtime = realtime
        self.smooth = smooth
        self.duration_s = duration_s
        self.max_windows = max_windows
        self._clock = clock
        self._handover = Handover(keep_every=not realtime)
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
        # Written by the thread iterating results().
        self.windows = 0
        self._latencies_ms: deque[float] = deque(maxlen=_LATENCIES_KEPT)
        self._latency_max_ms: float | None = None
        self._recent_probs: deque[np.ndarray] = deque(maxlen=smooth)
        # Wall clock of the monotonic clock's zero, for the results' ISO 8601 time.
        self._wall_offset_s = time.time() - clock()

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
            pending, probs, skipped, inference_ms = item  # type: ignore[misc]
            yield self._result(pending, probs, skipped, inference_ms)
            if self.max_windows is not None and self.windows >= self.max_windows:
                self.stopped = self.stopped or "max windows reached"
                return

    def _result(self, pending: Clip, probs: np.ndarray, skipped: int, inference_ms: float) -> LiveResult:
        self._recent_probs.append(probs)
        shown = probs if len(self._recent_probs) == 1 else scores.clip_probabilities(list(self._recent_probs))
        spec = self.classifier.spec
        top = tuple(LabelScore(spec.labels[i], p) for i, p in scores.top_k(shown, self.classifier.top_k))
        captured_s = pending.captured_s if pending.captured_s is not None else self._clock()
        latency_ms = (self._clock() - captured_s) * 1000.0
        self.windows += 1
        self._latencies_ms.append(latency_ms)
        self._latency_max_ms = max(latency_ms, self._latency_max_ms or 0.0)
        start_s, end_s = pending.span_s(spec.frame_rate)
        captured_at = datetime.fromtimestamp(self._wall_offset_s + captured_s, tz=timezone.utc)
        return LiveResult(
            source=self.source.name,
            window=self.windows,
            start_s=start_s,
            end_s=end_s,
            time=captured_at.astimezone(),
            top=top,
            latency_ms=latency_ms,
            inference_ms=inference_ms,
            smoothed_over=len(self._recent_probs),
            skipped=skipped,
            capture_fps=self.capture_fps,
            provider=self.classifier.session.provider,
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
        return self._handover.skipped

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
        # The inference thread finishes the window it is on; the capture thread its current read.
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
        spec, clf = self.classifier.spec, self.classifier
        ring: ClipCutter | None = None
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
            if ring is None or getattr(self.source, "segment", 0) != segment:
                # A reopened stream starts new windows: none may span the gap.
                segment = getattr(self.source, "segment", 0)
                ring = ClipCutter(spec, Windower(clf.window_frames, clf.hop_frames), origin_s=frame.time_s)
            for pending in ring.push(frame, captured_s):
                if not self._handover.put(pending):
                    return
            if self.duration_s is not None and frame.time_s >= self.duration_s:
                self.stopped = "duration reached"
                return
        if self._stop.is_set():
            return
        if ring is None:
            raise InputError(self.source.name, "no frame could be decoded (not a video, or damaged)")
        if self.source.duration_s is not None:
            for pending in ring.finish(self.source.duration_s):
                if not self._handover.put(pending):
                    return
        self.stopped = "end of video" if not self.live else "end of stream"

    # -- the inference thread -------------------------------------------------------------------

    def _infer(self) -> None:
        try:
            while (pending := self._handover.get()) is not None:
                started_s = self._clock()
                probs = self.classifier.score_clip(pending)
                inference_ms = (self._clock() - started_s) * 1000.0
                self._results.put((pending, probs, self._handover.skipped, inference_ms))
        except BaseException as e:  # noqa: BLE001 -- handed to the caller's thread, which raises it
            self._results.put(e)
        finally:
            self._results.put(_END)
