"""Turn a decoded BGR frame into the model's input, exactly as the model's spec says.

Each output frame is preprocessed once and kept; windows are stacks of these frames.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .spec import ModelSpec

_INTERPOLATION = {
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
}


def resized_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) after scaling the short side to ``short_side``, the other side rounded."""
    short = min(height, width)
    if height <= width:
        return short_side, max(short_side, round(width * short_side / short))
    return max(short_side, round(height * short_side / short)), short_side


# A frame far wider (or taller) than the crop would be resized whole before the crop keeps its
# centre: a 2 x 8000 frame becomes 256 x 1,024,000 pixels (786 MB) for I3D. Past this many crop
# widths (heights), only the centre of the source is resized: the part that reaches the crop and a
# wide margin. Ordinary frames (up to about 7:1 for I3D) never take this path.
_MAX_RESIZED_CROPS = 8


def _bounded(image: np.ndarray, height: int, width: int, spec: ModelSpec) -> tuple[np.ndarray, int, int]:
    """``image`` and its resized size, cut to its centre when that size would be out of all proportion."""
    src_height, src_width = image.shape[:2]
    if width > _MAX_RESIZED_CROPS * spec.crop_width:
        keep = min(src_width, math.ceil(_MAX_RESIZED_CROPS * spec.crop_width * src_width / width))
        left = (src_width - keep) // 2
        image = image[:, left : left + keep]
        width = max(spec.crop_width, round(keep * width / src_width))
    if height > _MAX_RESIZED_CROPS * spec.crop_height:
        keep = min(src_height, math.ceil(_MAX_RESIZED_CROPS * spec.crop_height * src_height / height))
        top = (src_height - keep) // 2
        image = image[top : top + keep]
        height = max(spec.crop_height, round(keep * height / src_height))
    return image, height, width


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    top = (image.shape[0] - height) // 2
    left = (image.shape[1] - width) // 2
    return image[top : top + height, left : left + width]


def preprocess_frame(image_bgr: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """One BGR uint8 frame -> one float32 frame in the model's layout (without the time axis)."""
    height, width = resized_size(image_bgr.shape[0], image_bgr.shape[1], spec.resize_short_side)
    image_bgr, height, width = _bounded(image_bgr, height, width, spec)
    if (height, width) != image_bgr.shape[:2]:
        image_bgr = cv2.resize(
            image_bgr, (width, height), interpolation=_INTERPOLATION[spec.resize_interpolation]
        )
    image = center_crop(image_bgr, spec.crop_height, spec.crop_width)
    if spec.channel_order == "RGB":
        image = image[..., ::-1]
    frame = image.astype(np.float32)
    frame *= np.float32(spec.value_scale)
    frame += np.float32(spec.value_offset)
    if spec.input_layout == "NCTHW":
        frame = np.ascontiguousarray(frame.transpose(2, 0, 1))
    return frame


def stack_window(frames: list[np.ndarray], spec: ModelSpec, min_frames: int) -> np.ndarray:
    """Stack preprocessed frames into one clip, holding the last frame up to ``min_frames``."""
    if len(frames) < min_frames:
        frames = frames + [frames[-1]] * (min_frames - len(frames))
    return np.stack(frames, axis=spec.time_axis)
