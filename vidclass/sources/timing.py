"""Presentation times that always move forward: one repair for every source that has timestamps.

Containers lie about time in a few recurring ways: a frame rate of 0, NaN or 90000; a last frame
stamped 0 (some AVI and stream demuxers); a clock that leaps (an HLS discontinuity, a wrapped
MPEG-TS clock). :class:`Timeline` takes the raw timestamps of one source, in order, and gives the
times that vidclass uses. The rules:

* the first frame is at 0 (or at the offset a reconnected stream continues from);
* a timestamp that does not move forward, or leaps further than ``max_step_s``, becomes the previous
  time plus one frame period;
* the frame period is the nominal frame rate's, else the median of the last
  :data:`HISTORY_STEPS` steps between timestamps, else :data:`FALLBACK_FPS`'s;
* a source with neither a plausible frame rate nor plausible timestamps (its first step is outside
  :data:`PLAUSIBLE_FPS`) is timed at :data:`FALLBACK_FPS` from then on, with a warning.

Pure arithmetic: nothing here decodes or reads a clock.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable

# Frame rates outside this range are container nonsense (0, NaN, 90000): use the timestamps instead.
PLAUSIBLE_FPS = (1.0, 1000.0)
#: A source whose own clock is implausible (no usable frame rate, and timestamps that do not advance
#: at a plausible rate either) has its frames timed at this rate, with a warning: FFmpeg's own
#: default for a stream that states no rate.
FALLBACK_FPS = 25.0
#: Steps between timestamps that the frame period is the median of, when there is no frame rate.
HISTORY_STEPS = 32


def plausible_fps(fps: float) -> bool:
    return math.isfinite(fps) and PLAUSIBLE_FPS[0] <= fps <= PLAUSIBLE_FPS[1]


def plausible_step(step_s: float) -> bool:
    """A step between two frames that some plausible frame rate gives."""
    return math.isfinite(step_s) and step_s > 0 and plausible_fps(1.0 / step_s)


class Timeline:
    """Repairs the raw timestamps of one source into times that move forward (see the module).

    ``nominal_fps`` is the container's frame rate when plausible (None otherwise), ``stated_fps``
    what the container said (for the warning), ``max_step_s`` the longest step taken as it is
    (None: no limit). ``warn`` receives what the user should know.
    """

    def __init__(
        self,
        nominal_fps: float | None,
        *,
        stated_fps: float = math.nan,
        max_step_s: float | None = None,
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.nominal_fps = nominal_fps
        self.stated_fps = stated_fps
        self.max_step_s = max_step_s
        self.warn = warn
        #: Frames timed so far.
        self.frames = 0
        #: Time of the last frame timed (seconds).
        self.last_s = 0.0
        self._first_raw_s: float | None = None
        self._offset_s = 0.0
        self._steps: deque[float] = deque(maxlen=HISTORY_STEPS)
        self._fixed_rate = False

    def time_s(self, raw_s: float) -> float:
        """The time of the next frame, given its raw timestamp in seconds (NaN when there is none)."""
        if self._first_raw_s is None:
            self._first_raw_s = raw_s if math.isfinite(raw_s) else 0.0
            time_s = self._offset_s
        elif self._fixed_rate:
            time_s = self.frames / FALLBACK_FPS
        else:
            time_s = self._offset_s + (raw_s - self._first_raw_s)
            step_s = time_s - self.last_s
            if self.frames == 1 and self.nominal_fps is None and not plausible_step(step_s):
                self._use_fallback_rate(step_s)
                time_s = 1.0 / FALLBACK_FPS
            elif not math.isfinite(step_s) or step_s <= 0 or (self.max_step_s is not None and step_s > self.max_step_s):
                time_s = self.last_s + self.period_s()
            else:
                self._steps.append(step_s)
        self.last_s = time_s
        self.frames += 1
        return time_s

    def period_s(self) -> float:
        """The current frame period: the nominal rate's, else the median recent step, else the fallback."""
        if self._fixed_rate:
            return 1.0 / FALLBACK_FPS
        if self.nominal_fps is not None:
            return 1.0 / self.nominal_fps
        if self._steps:
            return statistics.median(self._steps)
        # Neither a frame rate nor two timestamps (a one-frame source).
        return 1.0 / FALLBACK_FPS

    def end_s(self) -> float:
        """The duration so far: the last frame's time plus one period."""
        return self.last_s + self.period_s()

    def restart(self) -> None:
        """The next timestamp starts a new segment (a reconnected stream): it follows the last frame."""
        self._offset_s = self.end_s()
        self._first_raw_s = None

    def _use_fallback_rate(self, step_s: float) -> None:
        self._fixed_rate = True
        stated = f"{self.stated_fps:g} fps" if math.isfinite(self.stated_fps) else "none"
        self.warn(
            f"implausible timing (frame rate {stated}, frames {step_s:g} s apart); "
            f"frames timed at {FALLBACK_FPS:g} fps instead"
        )
