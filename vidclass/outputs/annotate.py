"""``predict --output-video``: the input video again, with what the model sees drawn on every frame.

Each frame gets the top-3 labels of the window that owns its moment (each window owns the time
nearest its centre, as in :func:`vidclass.segments.window_steps`) with their scores and bars (the
second and third only from :data:`MIN_SHOWN_SCORE`), and a strip along the bottom: the top
class of every moment of the video in its own colour (dimmer when less sure) and a cursor at the
current frame.

The source is decoded again with the same :class:`~vidclass.sources.VideoFile` that was classified,
so frames and timestamps are the ones the classification saw. The output is written next to its
final name and renamed into place when complete: an interrupted run leaves no half file, and an
existing file is replaced only with ``force``.

Codec: H.264 (``avc1``) where this OpenCV's FFmpeg can encode it; the opencv-python wheels cannot
(no H.264 encoder is bundled, for licence reasons), and then MPEG-4 Part 2 (``mp4v``), which desktop
players open but browsers may not. :class:`AnnotatedVideo` says which was used.
"""

from __future__ import annotations

import colorsys
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, UsageError
from ..results import ClipResult, Timeline
from ..segments import step_at, window_steps
from ..sources import VideoFile
from ..text import for_terminal
from . import check_target

#: (fourcc, name) tried in order.
CODECS = (("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2"))
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GOLDEN = 0.618033988749895
_LINES = 3
#: Labels after the first are drawn only from this probability. Below it, which labels come second
#: and third changes from one window to the next on noise (labels at 0.00 taking turns): flicker,
#: not information.
MIN_SHOWN_SCORE = 0.05


@dataclass(frozen=True)
class AnnotatedVideo:
    path: Path
    fourcc: str
    codec: str
    frames: int
    width: int
    height: int
    fps: float

    @property
    def is_h264(self) -> bool:
        return self.fourcc == "avc1"


def check_video_target(path: str | os.PathLike[str], force: bool) -> Path:
    """:func:`~vidclass.outputs.check_target`, and a name OpenCV can write."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:  # OpenCV's binding crashes (segmentation fault) on such a name
        raise UsageError(
            f"--output-video {path}: the file name is not valid UTF-8, which OpenCV cannot write"
        ) from None
    return check_target(path, force, "--output-video")


def class_colour(index: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class (hues spread by the golden ratio)."""
    r, g, b = colorsys.hsv_to_rgb((index * _GOLDEN) % 1.0, 0.75, 1.0)
    return round(b * 255), round(g * 255), round(r * 255)


def shown_labels(probs: np.ndarray) -> list[int]:
    """The classes drawn on a frame, best first: the top one, and up to two more that reach
    :data:`MIN_SHOWN_SCORE`."""
    ranked = np.argsort(-probs, kind="stable")[:_LINES]
    return [int(i) for rank, i in enumerate(ranked) if rank == 0 or probs[i] >= MIN_SHOWN_SCORE]


def timeline_strip(timeline: Timeline, duration_s: float, width: int, height: int) -> np.ndarray:
    """``height x width`` BGR image: column x shows the top class at time ``(x + 0.5) / width * duration``."""
    steps = window_steps(timeline.spans_s)
    strip = np.zeros((height, width, 3), np.uint8)
    for x in range(width):
        probs = timeline.probs[step_at(steps, (x + 0.5) / width * duration_s)]
        best = int(np.argmax(probs))
        brightness = 0.3 + 0.7 * float(probs[best])
        strip[:, x] = [round(c * brightness) for c in class_colour(best)]
    return strip


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, thickness: int) -> None:
    # The dark outline is the same text shifted by a pixel: OpenCV 5 spaces glyphs by their thickness,
    # so a thicker black copy underneath would not line up.
    x, y = origin
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        cv2.putText(image, text, (x + dx, y + dy), _FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    cv2.putText(image, text, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def draw(
    image: np.ndarray, probs: np.ndarray, labels: tuple[str, ...], strip: np.ndarray, time_s: float, duration_s: float
) -> None:
    """Draw the top-3 of ``probs`` and the strip with its cursor onto ``image`` (in place)."""
    height, width = image.shape[:2]
    scale = max(0.4, min(height, width) / 500)
    thickness = max(1, round(scale * 1.5))
    line = round(26 * scale) + 2
    bar = round(80 * scale)
    swatch = round(12 * scale)
    order = shown_labels(probs)
    texts = [f"{for_terminal(labels[i])}  {float(probs[i]):.2f}" for i in order]  # one line each: a label is data
    text_width = max(cv2.getTextSize(t, _FONT, scale, thickness)[0][0] for t in texts)
    box = (min(width, 8 + swatch + 6 + bar + 6 + text_width + 8), min(height, line * len(texts) + line // 2))
    # A dark backdrop keeps the labels readable on any picture.
    image[: box[1], : box[0]] = (image[: box[1], : box[0]] * 0.45).astype(image.dtype)
    for row, (index, text) in enumerate(zip(order, texts, strict=True)):
        y = line * (row + 1)
        x = 8
        cv2.rectangle(image, (x, y - swatch), (x + swatch, y), class_colour(int(index)), cv2.FILLED)
        x += swatch + 6
        cv2.rectangle(image, (x, y - swatch // 2), (x + bar, y), (90, 90, 90), cv2.FILLED)
        cv2.rectangle(
            image, (x, y - swatch // 2), (x + round(bar * float(probs[index])), y), (255, 255, 255), cv2.FILLED
        )
        _text(image, text, (x + bar + 6, y), scale, thickness)
    top = height - strip.shape[0]
    image[top:] = strip
    cursor = min(width - 1, int(time_s / duration_s * width)) if duration_s > 0 else 0
    cv2.line(image, (cursor, top), (cursor, height - 1), (255, 255, 255), max(1, width // 320))


def _partial_name(path: Path) -> Path:
    # Keep the suffix: FFmpeg picks the container from it.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def _open_writer(path: Path, fps: float, size: tuple[int, int]) -> tuple[cv2.VideoWriter, str, str]:
    for fourcc, name in CODECS:
        # An absolute name: FFmpeg reads a relative "pipe:0" or "concat:a|b" as a protocol.
        writer = cv2.VideoWriter(os.path.abspath(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if writer.isOpened():
            return writer, fourcc, name
        writer.release()
    tried = ", ".join(f for f, _ in CODECS)
    raise InputError(str(path), f"OpenCV cannot write a video here with any of {tried}")


def write_annotated_video(
    result: ClipResult, output: str | os.PathLike[str], *, force: bool = False, source: str | None = None
) -> AnnotatedVideo:
    """Re-decode ``result.source`` (or ``source``) and write it to ``output`` with the labels drawn on."""
    if result.timeline is None:
        raise ValueError("this result carries no timeline (make it with Classifier.predict)")
    output = check_video_target(output, force)
    partial = _partial_name(output)
    writer: cv2.VideoWriter | None = None
    fourcc = codec = ""
    frames = width = height = 0
    fps = 0.0
    steps = window_steps(result.timeline.spans_s)
    try:
        with VideoFile(source or result.source) as video:
            # The container's rate, else the mean rate of the decoded run, else the model's.
            fps = (
                video.nominal_fps
                or (video.header_frames / result.duration_s if video.header_frames and result.duration_s else 0)
                or result.frame_rate
            )
            strip: np.ndarray | None = None
            for frame in video:
                image = frame.image.copy()
                if writer is None:
                    height, width = image.shape[:2]
                    writer, fourcc, codec = _open_writer(partial, fps, (width, height))
                    strip = timeline_strip(result.timeline, result.duration_s, width, max(6, round(height * 0.05)))
                assert strip is not None
                probs = result.timeline.probs[step_at(steps, frame.time_s)]
                draw(image, probs, result.timeline.labels, strip, frame.time_s, result.duration_s)
                writer.write(image)
                frames += 1
        if writer is None:
            raise InputError(str(source or result.source), "no frame could be decoded for the annotated video")
        writer.release()
        writer = None
        os.replace(partial, output)
    finally:
        if writer is not None:
            writer.release()
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return AnnotatedVideo(output, fourcc, codec, frames, width, height, fps)
