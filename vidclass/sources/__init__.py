"""Where frames come from: video files (and folders of them), decoded as a stream with OpenCV.

A source is a closable iterator of :class:`Frame`: decoded BGR images with their presentation time
in seconds from the first frame. Memory is one frame at a time; nothing is read ahead.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from ..errors import InputError, UsageError

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


#: A file whose own clock is implausible (no usable frame rate, and timestamps that do not advance at
#: a plausible rate either) has its frames timed at this rate, with a warning: FFmpeg's own default
#: for a stream that states no rate.
FALLBACK_FPS = 25.0
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
    period. ``duration_s`` is known once the iterator is exhausted: last timestamp + one period.

    Hostile files (see README, "Bad and hostile inputs"): frames are turned upright as the
    container's rotation says; decoding goes on past damaged packets; a file with no plausible clock
    is timed at :data:`FALLBACK_FPS`; a still image (JPEG, PNG, ...) is refused; FIFOs and devices
    are refused before anything opens them (a FIFO without a writer would block forever). What the
    caller should tell the user is collected in ``warnings``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(path)
        _check_file(self.path, self.name)
        self._head = _read_head(self.path, self.name)
        self._capture = _open_capture(self.path, self.name)
        if not self._capture.isOpened():
            self._capture.release()
            raise InputError(self.name, _unopenable_cause(self.path, self._head))
        # Phone videos are stored sideways with a rotation in their metadata: classify what a player
        # shows. OpenCV's FFmpeg backend does this by default; say so rather than rely on it.
        self._capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self._stated_fps = fps
        self.nominal_fps: float | None = fps if _plausible_fps(fps) else None
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
        self._fixed_rate = False
        self._closed = False

    def __iter__(self) -> Iterator[Frame]:
        first_ms = 0.0
        last_s = -math.inf
        steps: list[float] = []
        try:
            for pos_ms, image in self._decoded():
                if not self.frames_read:
                    first_ms = pos_ms if math.isfinite(pos_ms) else 0.0
                    time_s = 0.0
                elif self._fixed_rate:
                    time_s = self.frames_read / FALLBACK_FPS
                else:
                    time_s = (pos_ms - first_ms) / 1000.0
                    if self.frames_read == 1 and self.nominal_fps is None and not _plausible_step(time_s):
                        self._use_fallback_rate(time_s)
                        time_s = 1.0 / FALLBACK_FPS
                    elif not math.isfinite(time_s) or time_s <= last_s:
                        time_s = last_s + self._period_s(steps)
                    else:
                        steps.append(time_s - last_s)
                        del steps[:-32]
                last_s = time_s
                yield Frame(self.frames_read, time_s, _as_bgr(image))
                self.frames_read += 1
            if not self.frames_read:
                raise InputError(self.name, _undecodable_cause(self._head, self.header_frames))
            if self.damaged_reads:
                self.warnings.append(
                    f"damaged data: decoding failed {self.damaged_reads} time(s) and went on with the next "
                    "frame that decodes"
                )
        finally:
            if self.frames_read:
                self.duration_s = last_s + self._period_s(steps)
            self.close()

    def _decoded(self) -> Iterator[tuple[float, np.ndarray]]:
        """(position in ms, image) of every frame that decodes; a still image is refused here."""
        frames = self._read_all()
        still = _still_image_kind(self._head)
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

    def _use_fallback_rate(self, step_s: float) -> None:
        self._fixed_rate = True
        stated = f"{self._stated_fps:g} fps" if math.isfinite(self._stated_fps) else "none"
        self.warnings.append(
            f"implausible timing (frame rate {stated}, frames {step_s:g} s apart); "
            f"frames timed at {FALLBACK_FPS:g} fps instead"
        )

    def _period_s(self, steps: list[float]) -> float:
        if self.nominal_fps is not None and not self._fixed_rate:
            return 1.0 / self.nominal_fps
        if steps and not self._fixed_rate:
            return float(np.median(steps))
        # Neither a frame rate nor two timestamps (a one-frame file), or a clock that was dismissed.
        return 1.0 / FALLBACK_FPS

    def close(self) -> None:
        if not self._closed:
            self._capture.release()
            self._closed = True

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plausible_step(step_s: float) -> bool:
    """A step between two frames that some plausible frame rate gives."""
    return math.isfinite(step_s) and step_s > 0 and _plausible_fps(1.0 / step_s)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """OpenCV normally converts to 3-channel BGR; guard against gray or BGRA decoders anyway."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _check_file(path: Path, name: str) -> None:
    """Fail with the precise cause before OpenCV turns it into a vague 'cannot open' (or a hang)."""
    try:
        if path.is_symlink() and not path.exists():
            raise InputError(name, "broken symbolic link")
        if not path.exists():
            raise InputError(name, "no such file")
        if path.is_dir():
            raise InputError(name, "is a folder, not a video file")
        if not path.is_file():
            # Opening a FIFO blocks until something writes to it; a device may never end.
            raise InputError(name, "not a regular file (a FIFO, device or socket); give a video file")
        if not os.access(path, os.R_OK):
            raise InputError(name, "permission denied")
        if path.stat().st_size == 0:
            raise InputError(name, "empty file (0 bytes)")
    except OSError as e:  # a name too long, a folder on the way that cannot be searched, ...
        raise InputError(name, f"cannot be read ({e.strerror or e})") from e


#: How much of a file is read to tell what it is when FFmpeg cannot open it.
_HEAD_BYTES = 64 * 1024


def _read_head(path: Path, name: str) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD_BYTES)
    except OSError as e:
        raise InputError(name, f"cannot be read ({e.strerror or e})") from e


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


# Leading bytes of common containers: a file that starts like a video but will not open is damaged.
_SIGNATURES = (
    (4, b"ftyp", "MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (8, b"AVI ", "AVI"),
    (0, b"GIF8", "GIF"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"FLV", "FLV"),
)
# Audio formats, told apart before the containers above (an .m4a is an MP4 with an audio track only).
_AUDIO_SIGNATURES = (
    (8, b"WAVE", "WAV"),
    (0, b"ID3", "MP3"),
    (0, b"fLaC", "FLAC"),
    (8, b"M4A ", "M4A"),
    (8, b"M4B ", "M4A"),
    (8, b"AIFF", "AIFF"),
)
# Still images, which FFmpeg opens as a one-frame video.
_IMAGE_SIGNATURES = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (8, b"WEBP", "WebP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"BM", "BMP"),
)


def _kind(head: bytes, signatures: tuple[tuple[int, bytes, str], ...]) -> str | None:
    for offset, magic, kind in signatures:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def _still_image_kind(head: bytes) -> str | None:
    return _kind(head, _IMAGE_SIGNATURES)


def _unopenable_cause(path: Path, head: bytes) -> str:
    audio = _kind(head, _AUDIO_SIGNATURES)
    if audio is None and head[:4] == b"OggS" and b"\x80theora" not in head:
        audio = "Ogg"
    if audio is not None:
        return f"an audio file ({audio}), no video stream"
    kind = _kind(head, _SIGNATURES)
    if kind == "MP4/MOV":
        return _mp4_cause(path)
    if kind == "Matroska/WebM" and _matroska_audio_only(head):
        return "no video track in this Matroska/WebM file (audio only)"
    if kind is not None:
        return f"damaged or truncated {kind} file: FFmpeg cannot open it"
    return "not a video file (FFmpeg does not recognise the format)"


def _mp4_cause(path: Path) -> str:
    """Walk the top-level boxes: a missing index (``moov``) means a cut or unfinished file."""
    size = path.stat().st_size
    offset = 0
    with path.open("rb") as f:
        while offset + 8 <= size:
            f.seek(offset)
            header = f.read(16)
            box_size, box = int.from_bytes(header[:4], "big"), header[4:8]
            if box_size == 1 and len(header) == 16:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                box_size = size - offset
            if box_size < 8:
                break
            if box == b"moov" and offset + box_size <= size:
                f.seek(offset)
                moov = f.read(min(box_size, 16 * _HEAD_BYTES))
                if not _has_video_handler(moov):
                    return "no video track in this MP4/MOV file (audio only?)"
                return "damaged MP4/MOV file: FFmpeg cannot open it"
            offset += box_size
    return "damaged or truncated MP4/MOV file: FFmpeg cannot open it (no complete index: cut short, or never finished)"


def _has_video_handler(moov: bytes) -> bool:
    # hdlr box: size, "hdlr", version and flags (4), pre_defined (4), handler type ("vide", "soun", ...).
    start = moov.find(b"hdlr")
    while start >= 0:
        if moov[start + 12 : start + 16] == b"vide":
            return True
        start = moov.find(b"hdlr", start + 4)
    return False


def _matroska_audio_only(head: bytes) -> bool:
    # Tracks (ID 0x1654AE6B), then each TrackType (ID 0x83, a 1-byte size 0x81): 1 video, 2 audio.
    return b"\x16\x54\xae\x6b" in head and b"\x83\x81\x01" not in head and b"\x83\x81\x02" in head


def _undecodable_cause(head: bytes, header_frames: int | None) -> str:
    kind = _kind(head, _SIGNATURES)
    frames = f"the {header_frames} frames its header announces" if header_frames else "its frames"
    what = f"damaged or truncated {kind} file" if kind else "damaged file, or a codec this FFmpeg lacks"
    return f"{what}: it opens, but none of {frames} decodes"


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> Iterator[Path | InputError]:
    """Files as given; folders expanded recursively to their video files, in sorted order.

    Problems are yielded (not raised) as :class:`InputError` so that one bad input does not stop
    the others.
    """
    for item in inputs:
        path = Path(item)
        try:
            is_dir = path.is_dir()
        except OSError:  # a name too long, ...: VideoFile says why, as for any bad file
            is_dir = False
        if is_dir:
            videos = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
            )
            if not videos:
                extensions = " ".join(sorted(VIDEO_EXTENSIONS))
                yield InputError(str(item), f"no video files in this folder (looked for {extensions})")
            yield from videos
        else:
            yield path


# --- Live sources: cameras and network streams (``vidclass watch``) ---------------------------------
#
# They yield the same Frame, timed by a monotonic capture clock (seconds since the first frame):
# a live source's own timestamps say nothing about when a frame was seen (MJPEG has none, RTSP's
# start anywhere), and a clip model needs the real spacing of the frames. Recorded media behind a
# URL (HLS, a video file) is the exception: it arrives in bursts and keeps its own timestamps.

#: URL schemes opened as network streams through FFmpeg; anything else is a file path.
STREAM_SCHEMES = frozenset({"http", "https", "rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt"})
#: Default limit on opening a network stream, and on waiting for its next frame.
STREAM_TIMEOUT_S = 10.0
#: Waits before each reconnection attempt (``reconnect=True``); the last one repeats.
RECONNECT_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
# Schemes that run over TCP, with their default ports: a failed open is diagnosed by connecting.
_TCP_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "tcp": 0}

_log = logging.getLogger("vidclass")


def is_stream_url(spec: str) -> bool:
    """True for ``scheme://...`` with a scheme FFmpeg streams from (http, https, rtsp, ...)."""
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


class _LiveCapture:
    """What :class:`Camera` and :class:`NetworkStream` share: read until stopped, ended or failed.

    Iteration ends when :meth:`stop` is called (from any thread) or at the normal end of recorded
    media, and raises :class:`InputError` when the source fails. The device or connection is
    released when iteration ends.
    """

    #: True: frames come in real time and are timed by the capture clock; a reader cannot slow
    #: them down, only miss them. False: they are timed by their container, like a file's.
    live = True

    def __init__(self, name: str, clock: Callable[[], float]) -> None:
        self.name = name
        self.frames_read = 0
        #: Known only when recorded media ends (kept for the :class:`~vidclass.clips.FrameSource` protocol).
        self.duration_s: float | None = None
        #: Goes up each time the stream is reopened: frames of two segments are not contiguous.
        self.segment = 0
        self._clock = clock
        self._first_s: float | None = None
        self._stopping = threading.Event()
        self._capture: cv2.VideoCapture | None = None
        self._closed = False

    def __iter__(self) -> Iterator[Frame]:
        try:
            while not self._stopping.is_set() and self._capture is not None:
                asked_s = self._clock()
                ok, image = self._capture.read()
                now_s = self._clock()
                if self._stopping.is_set():
                    break
                if not ok or image is None:
                    if self._ended(now_s - asked_s):  # or it raised, or it reopened the stream
                        break
                    continue
                yield Frame(self.frames_read, self._time_s(now_s), _as_bgr(image))
                self.frames_read += 1
        finally:
            self.close()

    def _time_s(self, now_s: float) -> float:
        if self._first_s is None:
            self._first_s = now_s
        return now_s - self._first_s

    def _ended(self, read_s: float) -> bool:
        """A read failed after ``read_s`` seconds: True at a normal end; raise when the source failed."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask a running iteration to end after the current read. Safe from any thread."""
        self._stopping.set()

    def close(self) -> None:
        """Release the device or connection: from the iterating thread, or once iteration has ended."""
        self._stopping.set()
        if not self._closed:
            self._closed = True
            if self._capture is not None:
                self._capture.release()

    def __enter__(self) -> _LiveCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Camera(_LiveCapture):
    """Frames of a local camera, ``cv2.VideoCapture(index)``."""

    def __init__(self, index: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(f"camera {index}", clock)
        self.index = index
        if index < 0:
            raise InputError(self.name, "a camera index is 0 or more")
        capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            capture.release()
            raise InputError(self.name, _camera_cause(index))
        self._capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.nominal_fps: float | None = fps if _plausible_fps(fps) else None
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))

    def _ended(self, read_s: float) -> bool:
        if not self.frames_read:
            raise InputError(self.name, "opened, but delivered no frame")
        raise InputError(
            self.name,
            f"stopped delivering frames after {self.frames_read} frames (unplugged, or taken by another program?)",
        )


def _camera_cause(index: int) -> str:
    if sys.platform.startswith("linux"):
        device = Path(f"/dev/video{index}")
        if not device.exists():
            found = sorted(Path("/dev").glob("video[0-9]*"), key=lambda p: int(p.name[5:]))
            listed = f"cameras here: {', '.join(str(p) for p in found)}" if found else "no camera found"
            return f"no such camera ({device} does not exist; {listed})"
        if not os.access(device, os.R_OK | os.W_OK):
            return f"permission denied on {device} (is this user in the 'video' group?)"
        return f"{device} cannot be opened (in use by another program, or not a capture device)"
    return "cannot be opened (no such camera, in use by another program, or camera access not allowed)"


#: Path endings of recorded media behind an http(s) URL (HLS playlists, video files).
_RECORDED_SUFFIXES = VIDEO_EXTENSIONS | {".m3u8", ".m3u"}
# Between two container timestamps of recorded media, a jump forward longer than this is a
# discontinuity (HLS #EXT-X-DISCONTINUITY, a wrapped MPEG-TS clock), not a pause in the video.
_MAX_STEP_S = 10.0


def _is_recorded(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and Path(parts.path).suffix.lower() in _RECORDED_SUFFIXES


class NetworkStream(_LiveCapture):
    """Frames of a network stream through FFmpeg: http(s) MJPEG or HLS, rtsp, rtmp, ...

    Live streams (an MJPEG camera, RTSP, ...) are timed by arrival, like a camera. Recorded media
    behind an http(s) URL (the path ends in ``.m3u8`` or a video extension) arrives in bursts, a
    segment at a time, so it is timed by its container timestamps instead (``live`` is False):
    ``watch`` plays it at its own speed, and its end is a normal end.

    OpenCV's open and read timeouts (``CAP_PROP_OPEN_TIMEOUT_MSEC``, ``CAP_PROP_READ_TIMEOUT_MSEC``)
    are set to ``timeout_s``, so a server that does not answer, or a stream that stalls, ends in an
    error instead of a hang. With ``reconnect``, a stream lost after its first frame is reopened,
    waiting :data:`RECONNECT_DELAYS_S` between attempts (the last delay repeats), each attempt
    logged as a warning; ``max_reconnects`` bounds the attempts in a row (None: until stopped).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = STREAM_TIMEOUT_S,
        reconnect: bool = False,
        max_reconnects: int | None = None,
        delays_s: tuple[float, ...] = RECONNECT_DELAYS_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(_redact(url), clock)
        if not timeout_s > 0:
            raise UsageError(f"the stream timeout must be positive, got {timeout_s}")
        self.url = url
        self.live = not _is_recorded(url)
        self.timeout_s = timeout_s
        self.reconnect = reconnect
        self.max_reconnects = max_reconnects
        self.delays_s = delays_s or (1.0,)
        self._capture = self._open()
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.nominal_fps: float | None = fps if _plausible_fps(fps) else None
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.header_frames: int | None = int(count) if math.isfinite(count) and count > 0 else None
        # Container timing (recorded media): first timestamp, time of the last frame, recent steps,
        # and the offset that keeps time going forward across a reconnection.
        self._first_ms: float | None = None
        self._last_s = 0.0
        self._offset_s = 0.0
        self._steps: list[float] = []

    def _open(self) -> cv2.VideoCapture:
        timeout_ms = max(1, round(self.timeout_s * 1000))
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        started_s = self._clock()
        capture = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if capture.isOpened():
            return capture
        capture.release()
        raise InputError(self.name, _stream_cause(self.url, self.timeout_s, self._clock() - started_s))

    def _time_s(self, now_s: float) -> float:
        if self.live or self._capture is None:
            return super()._time_s(now_s)
        # As VideoFile does: the container's timestamps, where one that does not move forward
        # (or leaps, see _MAX_STEP_S) becomes the previous one plus one frame period.
        pos_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        if self._first_ms is None:
            self._first_ms = pos_ms if math.isfinite(pos_ms) else 0.0
            time_s = self._offset_s
        else:
            time_s = self._offset_s + (pos_ms - self._first_ms) / 1000.0
            step_s = time_s - self._last_s
            if not math.isfinite(step_s) or not 0 < step_s <= _MAX_STEP_S:
                time_s = self._last_s + self._period_s()
            else:
                self._steps = [*self._steps[-31:], step_s]
        self._last_s = time_s
        return time_s

    def _period_s(self) -> float:
        if self.nominal_fps is not None:
            return 1.0 / self.nominal_fps
        return float(np.median(self._steps)) if self._steps else 1.0 / FALLBACK_FPS

    def _ended(self, read_s: float) -> bool:
        # FFmpeg says only "no frame": a read that lasted the whole timeout means a stall.
        stalled = read_s >= 0.9 * self.timeout_s
        cause = f"no frame for {self.timeout_s:g} s" if stalled else "the server ended it"
        if not self.frames_read:
            raise InputError(self.name, f"opened, but no frame arrived ({cause})")
        cut_short = self.header_frames is not None and self.frames_read < self.header_frames * 0.98 - 1
        if not self.live and not stalled and not cut_short:
            self.duration_s = self._last_s + self._period_s()
            return True
        problem = f"stream lost after {self.frames_read} frames ({cause})"
        if not self.reconnect:
            raise InputError(self.name, problem)
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        attempt = 0
        while self.max_reconnects is None or attempt < self.max_reconnects:
            delay_s = self.delays_s[min(attempt, len(self.delays_s) - 1)]
            attempt += 1
            _log.warning("%s: %s; reconnecting in %g s (attempt %d)", self.name, problem, delay_s, attempt)
            if self._stopping.wait(delay_s):
                return True
            try:
                self._capture = self._open()
            except InputError as e:
                problem = e.cause
                continue
            self.segment += 1
            self._first_ms, self._offset_s = None, self._last_s + self._period_s()
            _log.warning("%s: reconnected", self.name)
            return False
        raise InputError(self.name, f"{problem}; gave up after {attempt} reconnection attempts")


def _redact(url: str) -> str:
    """The URL without its password, for messages (``rtsp://admin:***@camera/``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _stream_cause(url: str, timeout_s: float, elapsed_s: float) -> str:
    """Why FFmpeg could not open ``url``: look at the network once, after the failure."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in _TCP_PORTS and parts.hostname:
        try:
            port = parts.port or _TCP_PORTS[scheme]
        except ValueError:
            return "not a valid URL (bad port)"
        if not port:
            return "not a valid URL (no port)"
        try:
            with socket.create_connection((parts.hostname, port), timeout=min(timeout_s, 5.0)):
                pass
        except socket.gaierror:
            return f"unknown host {parts.hostname!r}"
        except ConnectionRefusedError:
            return f"connection refused by {parts.hostname}:{port}"
        except TimeoutError:
            return f"no answer from {parts.hostname}:{port} within {min(timeout_s, 5.0):g} s"
        except OSError as e:
            return f"cannot connect to {parts.hostname}:{port} ({e.strerror or e})"
        if scheme in ("http", "https"):
            answer = _http_answer(url, timeout_s)
            if answer:
                return answer
    if elapsed_s >= 0.9 * timeout_s:
        return f"no video arrived within {timeout_s:g} s (open timeout)"
    return "FFmpeg cannot read a video stream from it (not a video, or an unsupported format)"


def _http_answer(url: str, timeout_s: float) -> str | None:
    """What an http(s) server answers that is not a video, or None when nothing looks wrong."""
    try:
        with urllib.request.urlopen(url, timeout=min(timeout_s, 5.0)) as response:
            kind = response.headers.get_content_type()
    except urllib.error.HTTPError as e:
        return f"the server answered HTTP {e.code} {e.reason}"
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return f"the server's answer could not be read ({reason})"
    if kind.startswith("text/"):
        return f"the server answered with {kind}, not a video stream"
    return None


def open_source(
    spec: str | int | os.PathLike[str], *, timeout_s: float = STREAM_TIMEOUT_S, reconnect: bool = False
) -> VideoFile | Camera | NetworkStream:
    """The source for a camera index, a stream URL (http(s), rtsp, ...) or a video file path.

    A string of digits is a camera index unless a file of that name exists. ``timeout_s`` and
    ``reconnect`` apply to network streams; ``reconnect`` with any other source is a usage error.
    """
    if isinstance(spec, int):
        kind, text = "camera", str(spec)
    else:
        text = os.fspath(spec)
        if is_stream_url(text):
            return NetworkStream(text, timeout_s=timeout_s, reconnect=reconnect)
        kind = "camera" if text.isdigit() and not Path(text).exists() else "file"
    if reconnect:
        raise UsageError(f"--reconnect applies to network streams; {text} is a {kind}")
    return Camera(int(text)) if kind == "camera" else VideoFile(text)
