"""What every source yields: :class:`Frame`, and the decoder settings and limits all of them share."""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError, UsageError

#: The most pixels one frame may have, by default: 8K UHD, 7680 x 4320 = 33.2 MP, the largest
#: frame any camera or streaming service delivers. Decoded as BGR that is 100 MB a frame. A JPEG may
#: announce up to 65535 x 65535 pixels: two black 16000 x 16000 frames of MJPEG, 6 MB of file, take
#: 1.8 GB of memory to decode (OpenCV 5.0). Checked from the container's header before anything is
#: decoded (files and streams), and on every frame of a stream or camera.
MAX_PIXELS = 7680 * 4320
#: The environment variable that sets another budget (a whole number of pixels per frame).
MAX_PIXELS_VARIABLE = "VIDCLASS_MAX_PIXELS"

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


def as_bgr(image: np.ndarray) -> np.ndarray:
    """OpenCV normally converts to 3-channel BGR; guard against gray or BGRA decoders anyway."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def pixel_budget() -> int:
    """Pixels allowed per frame: ``$VIDCLASS_MAX_PIXELS``, else :data:`MAX_PIXELS`.

    Raises :class:`UsageError` when the variable is not a positive whole number (call it once at
    start-up to fail early).
    """
    text = os.environ.get(MAX_PIXELS_VARIABLE, "").strip().replace("_", "")
    if not text:
        return MAX_PIXELS
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{MAX_PIXELS_VARIABLE} must be a positive whole number of pixels, got {text[:40]!r}")
    return int(text)


def check_pixels(name: str, width: int, height: int) -> None:
    """Refuse frames over the pixel budget, before they are decoded (or before they go further)."""
    budget = pixel_budget()
    if width > 0 and height > 0 and width * height > budget:
        raise InputError(
            name,
            f"frames of {width}x{height} ({width * height / 1e6:.1f} MP) are over the budget of "
            f"{budget / 1e6:.1f} MP a frame; set {MAX_PIXELS_VARIABLE} to allow more",
        )
