"""Where frames come from: video files, folders and lists of them, cameras and network streams.

A source is a closable iterator of :class:`Frame`: decoded BGR images with their presentation time
in seconds from the first frame. The package follows the way an input travels:

* :mod:`.inputs` -- what the user named (files, folders, globs, ``@lists``, ``-``) turned into paths;
* :mod:`.files` -- :class:`VideoFile`, one file decoded as a stream;
* :mod:`.diagnose` -- why a file will not open or decode, from its own bytes;
* :mod:`.streams` -- :class:`Camera` and :class:`NetworkStream` (``vidclass watch``);
* :mod:`.timing` -- the one repair of presentation timestamps that files and streams share;
* :mod:`.frames` -- :class:`Frame` and the decoder settings every source shares.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from .files import VideoFile
from .frames import Frame, quiet_decoder_logs
from .inputs import VIDEO_EXTENSIONS, expand_inputs
from .streams import STREAM_TIMEOUT_S, Camera, NetworkStream, is_stream_url
from .timing import FALLBACK_FPS

__all__ = [
    "FALLBACK_FPS",
    "STREAM_TIMEOUT_S",
    "VIDEO_EXTENSIONS",
    "Camera",
    "Frame",
    "NetworkStream",
    "VideoFile",
    "expand_inputs",
    "is_stream_url",
    "open_source",
    "quiet_decoder_logs",
]


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
