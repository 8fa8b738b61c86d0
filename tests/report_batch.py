"""A generated batch for the HTML report: records in the JSON Lines schema of ``predict --json``
(``ClipResult.to_dict()``/``ErrorResult.to_dict()``) with thumbnails, for the report's tests and
``scripts/bench_report.py``. Deterministic for a given seed.

The records are generated rather than classified so that a batch of 1,000 costs a second, and so that
every case the page must show occurs: segments and window timelines, gaps, short videos, warnings,
failures, unsure top-1s, and the hostile names of :data:`HOSTILE_NAMES`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from vidclass.thumbnails import Thumbnail, ThumbnailStrip

LABELS = (
    "arm wrestling", "cleaning pool", "shooting basketball", "playing cricket", "flipping pancake",
    "hugging", "training dog", "juggling balls", "riding a bike", "surfing water", "playing guitar",
    "brushing teeth", "skateboarding", "dancing ballet", "washing dishes", "walking the dog",
)  # fmt: skip
#: File names that try to become markup, close the data's script element, or disguise themselves.
#: Each payload sets window.__pwned if it ever runs.
HOSTILE_NAMES = (
    "<script>window.__pwned=1</script>.mp4",
    '"><img src=x onerror="window.__pwned=2">.avi',
    "</script><script>window.__pwned=3</script>.mkv",
    "<!--<script>window.__pwned=4//-->.mp4",
    "evil\u2028line\u2029paragraph.mp4",
    "invoice\u202egpj.exe.mp4",
    "bell\x07escape\x1b[31mnul\x00.mp4",
    "caf\udce9.mp4",
    "a&amp;b &lt;i&gt; \u00e9t\u00e9 \u5bff\u53f8 \U0001f3c0.mp4",
    "zero\u200bwidth\u2066isolate\u2069.webm",
)
HOSTILE_LABELS = ('<b onmouseover="window.__pwned=5">bold</b>', "javascript:window.__pwned=6")
HOSTILE_ERROR = '<svg onload="window.__pwned=7"></svg> cannot be decoded'

MODEL = {"name": "i3d-rgb-kinetics400", "version": "1.0 (generated)", "sha256": "ab" * 32, "provider": "cpu"}
FPS = 25.0
WINDOW, HOP = 64, 32


def _ranked(rng: random.Random, labels: Sequence[str], k: int = 5) -> list[dict[str, Any]]:
    chosen = rng.sample(list(labels), k)
    raw = sorted((rng.random() ** 3 for _ in chosen), reverse=True)
    total = sum(raw) / rng.uniform(0.55, 1.0)  # the top-k hold 55-100 % of the probability
    return [{"label": label, "score": round(r / total, 5)} for label, r in zip(chosen, raw, strict=True)]


def record(rng: random.Random, source: str, labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """One classified video, in the schema of ``ClipResult.to_dict()``."""
    duration = round(rng.choice([rng.uniform(0.8, 2.5), rng.uniform(3, 15), rng.uniform(15, 90)]), 3)
    frames = max(2, round(duration * FPS))
    short = frames < WINDOW
    starts = [0] if short else list(range(0, frames - WINDOW + 1, HOP))
    windows = []
    for start in starts:
        end = frames if short else start + WINDOW
        windows.append({"start_s": round(start / FPS, 3), "end_s": round(end / FPS, 3), "top": _ranked(rng, labels)})
    top = _ranked(rng, labels)
    result: dict[str, Any] = {
        "source": source,
        "duration_s": duration,
        "frames": frames,
        "frame_rate": FPS,
        "window_frames": frames if short else WINDOW,
        "hop_frames": HOP,
        "short": short,
        "top": [{**t, "when": [[0.0, duration]] if i == 0 else []} for i, t in enumerate(top)],
        "windows": windows,
        "model": MODEL,
        "warnings": [],
    }
    if short:
        result["warnings"].append(f"short video: {frames} frames at 25 fps, less than one 64-frame window")
    if rng.random() < 0.05:
        result["warnings"].append("damaged data: decoding failed 3 time(s) and went on with the next frame")
    if rng.random() < 0.5:
        result["segments"] = _segments(rng, duration, [t["label"] for t in top])
    return result


def _segments(rng: random.Random, duration: float, labels: Sequence[str]) -> list[dict[str, Any]]:
    cuts = sorted({0.0, duration, *(round(rng.uniform(0, duration), 3) for _ in range(rng.randint(0, 3)))})
    out = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        label = rng.choice([*labels[:2], None])
        out.append({"label": label, "start_s": start, "end_s": end, "score": round(rng.uniform(0.2, 0.99), 5)})
    return out


def frame(index: int, time_s: float, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """A BGR frame that says which video and which moment it is (hue by video, brightness by time)."""
    hue = (index * 37) % 180
    value = 90 + int(120 * (time_s % 10) / 10)
    image = np.full((*size, 3), (hue, 200, value), np.uint8)
    image = cv2.cvtColor(image, cv2.COLOR_HSV2BGR)
    cv2.putText(image, f"{index}", (10, size[0] // 2), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 3)
    cv2.putText(image, f"{time_s:.1f}s", (10, size[0] - 20), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    return image


FrameSource = Callable[[int, float], np.ndarray]


def strip_for(index: int, duration_s: float, count: int = 8, frames: FrameSource = frame) -> tuple[Thumbnail, ...]:
    """Thumbnails as ``predict`` would collect them: frames pushed in order through a ThumbnailStrip
    (every 8th frame of the video's, to keep a large batch quick to generate)."""
    strip = ThumbnailStrip(count, duration_s)
    for n in range(0, max(1, round(duration_s * FPS)), 8):
        strip.push(n / FPS, frames(index, n / FPS))
    return strip.thumbnails()


def batch(
    count: int, *, seed: int = 0, hostile: bool = True, thumbnails: int = 8, frames: FrameSource = frame
) -> tuple[list[dict[str, Any]], dict[str, tuple[Thumbnail, ...]]]:
    """``count`` records (about 3 % failed; the hostile names first when ``hostile``) and their strips."""
    rng = random.Random(seed)
    labels = (*LABELS, *HOSTILE_LABELS) if hostile else LABELS
    records: list[dict[str, Any]] = []
    strips: dict[str, tuple[Thumbnail, ...]] = {}
    for i, source in zip(range(count), _sources(hostile), strict=False):
        if rng.random() < 0.03 or (hostile and i == len(HOSTILE_NAMES)):
            error = HOSTILE_ERROR if hostile and i == len(HOSTILE_NAMES) else "not a video (no video stream)"
            records.append({"source": source, "error": error})
            continue
        records.append(record(rng, source, labels))
        if thumbnails:
            strips[source] = strip_for(i, records[-1]["duration_s"], thumbnails, frames)
    return records, strips


def _sources(hostile: bool) -> Iterator[str]:
    if hostile:
        yield from HOSTILE_NAMES
        yield "uploads/broken <svg>.mp4"
    n = 0
    while True:
        n += 1
        yield f"footage/day{n % 7 + 1}/clip_{n:04d}.mp4"
