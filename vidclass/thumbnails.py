"""A strip of small JPEG thumbnails across a video, collected during the decode that classifies it.

The report (:mod:`vidclass.outputs.report`) shows a few frames of every video. Reading each file a
second time for them would double the decoding of a batch, so :class:`ThumbnailStrip` is fed the
frames as they go past (``push``), keeps a few, and encodes each one it keeps to a small JPEG at
once: it never holds a decoded frame, so its memory is a few kilobytes whatever the video's size.

Which frames: the strip keeps *candidates* evenly spaced in time, at most ``CANDIDATES * count`` of
them. When a new candidate would make one too many, every other candidate is dropped and the spacing
doubles (those left are still evenly spaced, and span everything seen so far). At the end,
:meth:`ThumbnailStrip.thumbnails` takes the candidate nearest the middle of each of ``count`` equal
parts of the video. This needs no duration at all; a known duration only lets the spacing start at
its final size, so that fewer frames are encoded and then dropped. A wrong duration (containers lie,
and a truncated file says it is longer than it is) costs a few encodes more, never a worse spread,
as long as the video is not :data:`START_DIVISOR` times shorter than said; then the strip has fewer
candidates to choose from, still evenly spaced, and at least ``count`` of them down to that ratio.

Cost per video: ``CANDIDATES * count`` encodes when the duration is right, about ``CANDIDATES * count /
2 * log2(frames / count)`` without one; each is a resize to ``height`` pixels and a JPEG encode
(measured on the 1,920 x 1,080 shared clip: 2.6 ms, where decoding that frame takes ~8 ms; far less
for smaller frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: JPEG quality of a thumbnail: at 72 pixels high, 60 gives ~2-3 KB a frame with no visible
#: blocking; a report of 1,000 videos with 8 frames each is dominated by them (README, Report).
JPEG_QUALITY = 60
#: Candidates kept per thumbnail: with at least half of them left after thinning, each thumbnail lies
#: within a quarter of its part's width from the part's middle (with 2 it could sit on the edge).
CANDIDATES = 4
#: The spacing starts at ``duration / count / START_DIVISOR`` when the duration is known: a video of
#: that length fills the candidates exactly, and one that many times shorter still gives ``count``.
START_DIVISOR = CANDIDATES
#: Frames more than this many times the thumbnail's height are first cut down by taking every n-th
#: pixel: OpenCV's INTER_AREA straight from 1080p to 72 rows took 11.4 ms a frame, via 4x nearest 2.2 ms,
#: and the area average over the 4x4 pixels that are left still smooths out the aliasing.
OVERSAMPLE = 4


@dataclass(frozen=True)
class Thumbnail:
    """One frame of a video, small, as JPEG bytes."""

    #: Where the frame is in the video, seconds from its first frame.
    time_s: float
    jpeg: bytes
    width: int
    height: int


class ThumbnailStrip:
    """Keeps ``count`` frames spread over a video whose frames are pushed in order of time.

    At most ``CANDIDATES * count`` small JPEGs are held at any time, and never a decoded frame.

    ``expected_duration_s``: what the container says (None or a non-positive value: unknown), only
    used to start the spacing at the right size. ``height``: thumbnail height in pixels; the width
    follows the frame's aspect ratio.
    """

    def __init__(self, count: int, expected_duration_s: float | None = None, height: int = 72) -> None:
        if count < 1:
            raise ValueError(f"a thumbnail strip needs at least one frame, got count={count}")
        if height < 1:
            raise ValueError(f"thumbnail height must be at least 1 pixel, got {height}")
        self.count = count
        self.height = height
        known = expected_duration_s is not None and math.isfinite(expected_duration_s) and expected_duration_s > 0
        self._spacing_s = expected_duration_s / count / START_DIVISOR if known else 0.0
        self._kept: list[Thumbnail] = []
        #: The latest time pushed, and the step before it: where the video ends, for the last part.
        self._last_s = 0.0
        self._step_s = 0.0
        #: JPEG encodes so far (what the strip cost; tests hold it to its bound).
        self.encoded = 0

    def push(self, time_s: float, bgr: np.ndarray) -> None:
        """Offer the frame shown at ``time_s`` (H x W x 3 uint8, BGR); kept and encoded, or ignored."""
        if not math.isfinite(time_s):
            return
        if self._kept:
            self._step_s, self._last_s = time_s - self._last_s, time_s
        if self._kept and time_s < self._kept[-1].time_s + self._spacing_s:
            return
        if len(self._kept) == CANDIDATES * self.count:
            self._thin()
            if time_s < self._kept[-1].time_s + self._spacing_s:
                return
        self._kept.append(self._encode(time_s, bgr))
        self._last_s = time_s

    def thumbnails(self) -> tuple[Thumbnail, ...]:
        """``count`` thumbnails in order of time, spread over what was pushed (fewer if fewer frames
        were): for each of ``count`` equal parts of the video, the candidate nearest its middle."""
        kept = self._kept
        if len(kept) <= self.count:
            return tuple(kept)
        end_s = self._last_s + max(self._step_s, 0.0)
        chosen: list[int] = []
        for part in range(self.count):
            middle_s = (part + 0.5) * end_s / self.count
            # After the one chosen for the part before, leaving one for each part after.
            first, last = (chosen[-1] + 1 if chosen else 0), len(kept) - (self.count - part)
            chosen.append(min(range(first, last + 1), key=lambda i: abs(kept[i].time_s - middle_s)))
        return tuple(kept[i] for i in chosen)

    def _thin(self) -> None:
        """Drop every other candidate; the spacing doubles (at least the gap between those kept)."""
        self._kept = self._kept[::2]
        gaps = [b.time_s - a.time_s for a, b in zip(self._kept, self._kept[1:], strict=False)]
        self._spacing_s = max(2 * self._spacing_s, min(gaps, default=0.0))

    def _encode(self, time_s: float, bgr: np.ndarray) -> Thumbnail:
        if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8 or 0 in bgr.shape[:2]:
            raise ValueError(f"a thumbnail is made from an H x W x 3 uint8 BGR frame, got {bgr.dtype} {bgr.shape}")
        rows, cols = bgr.shape[:2]
        height = min(self.height, rows)
        width = max(1, round(cols * height / rows))
        if rows > OVERSAMPLE * height:
            bgr = cv2.resize(bgr, (OVERSAMPLE * width, OVERSAMPLE * height), interpolation=cv2.INTER_NEAREST)
        small = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:  # OpenCV returns False rather than raising; a uint8 image of 3 channels always encodes
            raise RuntimeError(f"OpenCV could not encode a {width}x{height} JPEG thumbnail")
        self.encoded += 1
        return Thumbnail(float(time_s), data.tobytes(), width, height)
