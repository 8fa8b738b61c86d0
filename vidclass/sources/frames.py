"""What every source yields: :class:`Frame`, and the decoder settings all of them share."""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np


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
