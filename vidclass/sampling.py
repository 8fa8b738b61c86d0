"""Pure arithmetic: resampling source frames to the model's frame rate, and sliding windows.

Nothing here decodes, allocates images or keeps global state; the streaming classes take
timestamps and frame counts and answer with counts and index ranges, so they are easy to test
against the closed-form rules:

* Resampling: output frame ``i`` (at ``i / fps_out`` seconds) shows the last source frame whose
  timestamp is at or before that time. For a constant-rate source of ``n`` frames at ``fps`` this is
  source frame ``min(int(i * fps / fps_out), n - 1)``. An output frame is produced while at least
  half of its period lies inside the video: ``round(duration_s * fps_out)`` frames in all, at least 1.
* Windows: ``window_frames`` consecutive output frames every ``hop_frames``; when the hop does not
  land on the end, one more window is aligned to the last frame, so every frame is covered and no
  window reaches past the end. A video shorter than one window gets a single window of all its
  frames (flagged short); one shorter than the model's minimum holds its last frame until the
  minimum is reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Timestamps are compared with this slack so that a container's rounding (1 ms in Matroska) does
# not move a frame that falls exactly on an output instant.
_EPS_S = 1e-4


def output_frame_count(duration_s: float, fps_out: float) -> int:
    """How many output frames a video of ``duration_s`` seconds gives at ``fps_out``."""
    return max(1, math.floor(duration_s * fps_out + 0.5))


class Resampler:
    """Streaming timestamp resampler.

    Feed source frame times with :meth:`push`; each call returns how many output frames the
    *previous* source frame fills (a frame is only known to end when the next one starts).
    :meth:`finish` returns the count for the last frame, given the video's duration.
    """

    def __init__(self, fps_out: float) -> None:
        if not fps_out > 0:
            raise ValueError(f"fps_out must be positive, got {fps_out}")
        self.fps_out = fps_out
        self.emitted = 0
        self._pending = False

    def _outputs_before(self, time_s: float) -> int:
        """Number of output instants strictly before ``time_s`` (with slack)."""
        return max(0, math.ceil((time_s - _EPS_S) * self.fps_out))

    def push(self, time_s: float) -> int:
        count = 0
        if self._pending:
            count = max(0, self._outputs_before(time_s) - self.emitted)
        self._pending = True
        self.emitted += count
        return count

    def finish(self, duration_s: float) -> int:
        if not self._pending:
            return 0
        self._pending = False
        count = max(0, output_frame_count(duration_s, self.fps_out) - self.emitted)
        self.emitted += count
        return count


@dataclass(frozen=True)
class Window:
    """A run of output frames ``[start, stop)`` at the model's frame rate."""

    start: int
    stop: int

    @property
    def frames(self) -> int:
        return self.stop - self.start

    def start_s(self, fps: float) -> float:
        return self.start / fps

    def end_s(self, fps: float) -> float:
        return self.stop / fps


def validate_window(window_frames: int, hop_frames: int, min_frames: int) -> None:
    if window_frames < min_frames:
        raise ValueError(f"window of {window_frames} frames is below the model's minimum of {min_frames}")
    if not 1 <= hop_frames <= window_frames:
        raise ValueError(
            f"hop of {hop_frames} frames must be between 1 and the window ({window_frames}): "
            "a longer hop would leave frames unclassified"
        )


def plan_windows(n_frames: int, window_frames: int, hop_frames: int) -> list[Window]:
    """All windows for a video of ``n_frames`` output frames (the closed form of :class:`Windower`)."""
    if n_frames <= 0:
        return []
    if n_frames <= window_frames:
        return [Window(0, n_frames)]
    windows = [Window(s, s + window_frames) for s in range(0, n_frames - window_frames + 1, hop_frames)]
    if windows[-1].stop < n_frames:
        windows.append(Window(n_frames - window_frames, n_frames))
    return windows


class Windower:
    """Streaming form of :func:`plan_windows`: say when a window is complete as frames arrive.

    :meth:`push` is called once per output frame and returns the window that this frame completes,
    if any; :meth:`finish` returns the tail window (or the single short window) at the end. The
    caller keeps the last ``window_frames`` frames; every window returned lies within them.
    """

    def __init__(self, window_frames: int, hop_frames: int) -> None:
        self.window_frames = window_frames
        self.hop_frames = hop_frames
        #: The longest clip cut: the frames a cutter keeps (see :class:`vidclass.clips.Cutter`).
        self.span_frames = window_frames
        self.count = 0
        self._last_stop = 0

    def push(self) -> Window | None:
        self.count += 1
        start = self.count - self.window_frames
        if start >= 0 and start % self.hop_frames == 0:
            self._last_stop = self.count
            return Window(start, self.count)
        return None

    def finish(self) -> Window | None:
        if self.count == 0 or self._last_stop == self.count:
            return None
        if self.count <= self.window_frames:
            return Window(0, self.count)
        return Window(self.count - self.window_frames, self.count)
