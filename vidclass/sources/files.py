"""Frames of one video file, decoded as a stream with OpenCV's FFmpeg backend.

Memory is one frame at a time; nothing is read ahead. Times come from the container, repaired by
:class:`~vidclass.sources.timing.Timeline`; a file that will not open or decode is explained by
:mod:`~vidclass.sources.diagnose`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .diagnose import check_file, read_head, still_image_kind, undecodable_cause, unopenable_cause
from .frames import Frame, as_bgr
from .timing import Timeline, plausible_fps

#: Failed reads in a row after which a file is taken to have ended. OpenCV's read() also fails on a
#: frame it cannot decode (a damaged packet) and succeeds again on the next one that decodes, so
#: stopping at the first failure would drop the rest of the video; at the real end every read fails
#: at once, so the retries cost nothing there.
MAX_FAILED_READS = 64


class VideoFile:
    """Frames of one video file, decoded sequentially.

    Timestamps come from the container (``CAP_PROP_POS_MSEC``), so variable-frame-rate files and
    files with dropped frames are timed correctly. A timestamp that does not move forward (some AVI
    and stream demuxers report 0 for the last frame) is replaced by the previous one plus one frame
    period (see :class:`~vidclass.sources.timing.Timeline`). ``duration_s`` is known once the
    iterator is exhausted: last timestamp + one period.

    Hostile files (see README, "Bad and hostile inputs"): frames are turned upright as the
    container's rotation says; decoding goes on past damaged packets; a file with no plausible clock
    is timed at :data:`~vidclass.sources.timing.FALLBACK_FPS`; a still image (JPEG, PNG, ...) is
    refused; FIFOs and devices are refused before anything opens them (a FIFO without a writer would
    block forever). What the caller should tell the user is collected in ``warnings``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(path)
        check_file(self.path, self.name)
        self._head = read_head(self.path, self.name)
        self._capture = _open_capture(self.path, self.name)
        if not self._capture.isOpened():
            self._capture.release()
            raise InputError(self.name, unopenable_cause(self.path, self._head))
        # Phone videos are stored sideways with a rotation in their metadata: classify what a player
        # shows. OpenCV's FFmpeg backend does this by default; say so rather than rely on it.
        self._capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.nominal_fps: float | None = fps if plausible_fps(fps) else None
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.header_frames: int | None = int(count) if math.isfinite(count) and count > 0 else None
        self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frames_read = 0
        #: Reads that failed on damaged data and were followed by a frame that decoded.
        self.damaged_reads = 0
        self.duration_s: float | None = None
        #: Things the user should know about this file, filled in while it is decoded.
        self.warnings: list[str] = []
        self._timeline = Timeline(self.nominal_fps, stated_fps=fps, warn=self.warnings.append)
        self._closed = False

    def __iter__(self) -> Iterator[Frame]:
        try:
            for pos_ms, image in self._decoded():
                time_s = self._timeline.time_s(pos_ms / 1000.0)
                yield Frame(self.frames_read, time_s, as_bgr(image))
                self.frames_read += 1
            if not self.frames_read:
                raise InputError(self.name, undecodable_cause(self._head, self.header_frames))
            if self.damaged_reads:
                self.warnings.append(
                    f"damaged data: decoding failed {self.damaged_reads} time(s) and went on with the next "
                    "frame that decodes"
                )
        finally:
            if self.frames_read:
                self.duration_s = self._timeline.end_s()
            self.close()

    def _decoded(self) -> Iterator[tuple[float, np.ndarray]]:
        """(position in ms, image) of every frame that decodes; a still image is refused here."""
        frames = self._read_all()
        still = still_image_kind(self._head)
        if still is None:
            yield from frames
            return
        # FFmpeg opens an image as a one-frame video; an animation (APNG, a file of concatenated
        # JPEGs: raw MJPEG) has more frames and is a video like any other.
        first = next(frames, None)
        second = next(frames, None)
        if first is not None and second is None:
            raise InputError(self.name, f"a still image ({still}), not a video: vidclass classifies actions over time")
        yield from (frame for frame in (first, second) if frame is not None)
        yield from frames

    def _read_all(self) -> Iterator[tuple[float, np.ndarray]]:
        failed = 0
        while failed < MAX_FAILED_READS:
            ok, image = self._capture.read()
            if not ok or image is None:
                failed += 1
                continue
            if failed and self.frames_read:
                self.damaged_reads += failed
            failed = 0
            yield self._capture.get(cv2.CAP_PROP_POS_MSEC), image

    def close(self) -> None:
        if not self._closed:
            self._capture.release()
            self._closed = True

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_capture(path: Path, name: str) -> cv2.VideoCapture:
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return cv2.VideoCapture(text, cv2.CAP_FFMPEG)
    # A name that is not UTF-8 (bytes that were not text, kept by Python as lone surrogates) crashes
    # OpenCV 5.0's binding with a segmentation fault: open the file here and let FFmpeg open it
    # through the name of the descriptor, which is plain ASCII.
    for fd_folder in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(fd_folder):
            fd = os.open(path, os.O_RDONLY)
            try:
                return cv2.VideoCapture(f"{fd_folder}/{fd}", cv2.CAP_FFMPEG)
            finally:
                os.close(fd)  # FFmpeg opened the file itself
    raise InputError(name, "the file name is not valid UTF-8, which OpenCV cannot open; rename the file")
