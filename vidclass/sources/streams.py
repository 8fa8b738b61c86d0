"""Live sources: local cameras and network streams (``vidclass watch``).

They yield the same :class:`~vidclass.sources.frames.Frame` as a file, timed by a monotonic capture
clock (seconds since the first frame): a live source's own timestamps say nothing about when a frame
was seen (MJPEG has none, RTSP's start anywhere), and a clip model needs the real spacing of the
frames. Recorded media behind a URL (HLS, a video file) is the exception: it arrives in bursts and
keeps its own timestamps, repaired as a file's are (:class:`~vidclass.sources.timing.Timeline`).
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
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2

from ..errors import InputError, UsageError
from .frames import Frame, as_bgr
from .inputs import VIDEO_EXTENSIONS
from .timing import Timeline, plausible_fps

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
                yield Frame(self.frames_read, self._time_s(now_s), as_bgr(image))
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
        self.nominal_fps: float | None = fps if plausible_fps(fps) else None
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
        self.nominal_fps: float | None = fps if plausible_fps(fps) else None
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.header_frames: int | None = int(count) if math.isfinite(count) and count > 0 else None
        # Container timing (recorded media), kept going forward across a reconnection.
        self._timeline = Timeline(self.nominal_fps, stated_fps=fps, max_step_s=_MAX_STEP_S, warn=self._warn)

    def _warn(self, message: str) -> None:
        _log.warning("%s: %s", self.name, message)

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
        # As VideoFile does: the container's timestamps, repaired (a leap is a discontinuity).
        return self._timeline.time_s(self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)

    def _ended(self, read_s: float) -> bool:
        # FFmpeg says only "no frame": a read that lasted the whole timeout means a stall.
        stalled = read_s >= 0.9 * self.timeout_s
        cause = f"no frame for {self.timeout_s:g} s" if stalled else "the server ended it"
        if not self.frames_read:
            raise InputError(self.name, f"opened, but no frame arrived ({cause})")
        cut_short = self.header_frames is not None and self.frames_read < self.header_frames * 0.98 - 1
        if not self.live and not stalled and not cut_short:
            self.duration_s = self._timeline.end_s()
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
            self._timeline.restart()
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
