"""Where frames come from: video files (and folders of them), decoded as a stream with OpenCV.

A source is a closable iterator of :class:`Frame`: decoded BGR images with their presentation time
in seconds from the first frame. Memory is one frame at a time; nothing is read ahead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError

#: File name endings treated as videos when a folder is expanded (explicit files are always tried).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".gif", ".ts",
     ".mts", ".m2ts", ".3gp", ".ogv"}
)

# Frame rates outside this range are container nonsense (0, NaN, 90000): use the timestamps instead.
_PLAUSIBLE_FPS = (1.0, 1000.0)


@dataclass(frozen=True)
class Frame:
    """One decoded frame."""

    index: int
    #: Presentation time in seconds, counted from the first frame of the source.
    time_s: float
    #: H x W x 3 uint8, BGR (OpenCV's order).
    image: np.ndarray


def quiet_decoder_logs() -> None:
    """Silence OpenCV's and FFmpeg's own stderr chatter ("moov atom not found", "[ERROR:0@0.1] ...").

    vidclass reports every decoding problem itself, once, naming the input. Called by the CLI;
    FFmpeg reads its level when the first capture opens, so this must run before that.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def _plausible_fps(fps: float) -> bool:
    return math.isfinite(fps) and _PLAUSIBLE_FPS[0] <= fps <= _PLAUSIBLE_FPS[1]


class VideoFile:
    """Frames of one video file, decoded sequentially.

    Timestamps come from the container (``CAP_PROP_POS_MSEC``), so variable-frame-rate files and
    files with dropped frames are timed correctly. A timestamp that does not move forward (some AVI
    and stream demuxers report 0 for the last frame) is replaced by the previous one plus one frame
    period. ``duration_s`` is known once the iterator is exhausted: last timestamp + one period.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(path)
        _check_file(self.path, self.name)
        self._capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not self._capture.isOpened():
            self._capture.release()
            raise InputError(self.name, _unopenable_cause(self.path))
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.nominal_fps: float | None = fps if _plausible_fps(fps) else None
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.header_frames: int | None = int(count) if math.isfinite(count) and count > 0 else None
        self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frames_read = 0
        self.duration_s: float | None = None
        self._closed = False

    def __iter__(self) -> Iterator[Frame]:
        first_ms: float | None = None
        last_s = -math.inf
        steps: list[float] = []
        try:
            while True:
                ok, image = self._capture.read()
                if not ok or image is None:
                    break
                pos_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
                if first_ms is None:
                    first_ms = pos_ms if math.isfinite(pos_ms) else 0.0
                time_s = (pos_ms - first_ms) / 1000.0
                if not math.isfinite(time_s) or time_s <= last_s:
                    time_s = last_s + self._period_s(steps) if self.frames_read else 0.0
                elif self.frames_read:
                    steps.append(time_s - last_s)
                last_s = time_s
                image = _as_bgr(image)
                yield Frame(self.frames_read, time_s, image)
                self.frames_read += 1
        finally:
            if self.frames_read:
                self.duration_s = last_s + self._period_s(steps)
            self.close()

    def _period_s(self, steps: list[float]) -> float:
        if self.nominal_fps is not None:
            return 1.0 / self.nominal_fps
        if steps:
            return float(np.median(steps[-32:]))
        # Neither a frame rate nor two timestamps: a single image, timed as one frame per second.
        return 1.0

    def close(self) -> None:
        if not self._closed:
            self._capture.release()
            self._closed = True

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """OpenCV normally converts to 3-channel BGR; guard against gray or BGRA decoders anyway."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _check_file(path: Path, name: str) -> None:
    """Fail with the precise cause before OpenCV turns it into a vague 'cannot open'."""
    if path.is_symlink() and not path.exists():
        raise InputError(name, "broken symbolic link")
    if not path.exists():
        raise InputError(name, "no such file")
    if path.is_dir():
        raise InputError(name, "is a folder, not a video file")
    if not os.access(path, os.R_OK):
        raise InputError(name, "permission denied")
    if path.stat().st_size == 0:
        raise InputError(name, "empty file (0 bytes)")


# Leading bytes of common containers: a file that starts like a video but will not open is damaged.
_SIGNATURES = (
    (4, b"ftyp", "MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (8, b"AVI ", "AVI"),
    (0, b"GIF8", "GIF"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"FLV", "FLV"),
)


def _unopenable_cause(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(16)
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return f"damaged or truncated {kind} file: FFmpeg cannot open it"
    return "not a video file (FFmpeg does not recognise the format)"


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> Iterator[Path | InputError]:
    """Files as given; folders expanded recursively to their video files, in sorted order.

    Problems are yielded (not raised) as :class:`InputError` so that one bad input does not stop
    the others.
    """
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            videos = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
            )
            if not videos:
                extensions = " ".join(sorted(VIDEO_EXTENSIONS))
                yield InputError(str(item), f"no video files in this folder (looked for {extensions})")
            yield from videos
        else:
            yield path
