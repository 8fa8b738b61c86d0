"""Join videos end to end into one 426x240, 30 fps MP4 (to try `predict --segments` on several actions).

    python scripts/concat_clips.py three_actions.mp4 arm_wrestling.mp4 flipping_pancake.mkv shooting_basketball.mp4

Each input is resampled to 30 fps by its own timestamps (as vidclass reads it) and letterboxed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidclass.sampling import Resampler  # noqa: E402
from vidclass.sources import VideoFile  # noqa: E402

WIDTH, HEIGHT, FPS = 426, 240, 30.0


def letterbox(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    scale = min(WIDTH / w, HEIGHT / h)
    image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    top, left = (HEIGHT - image.shape[0]) // 2, (WIDTH - image.shape[1]) // 2
    canvas[top : top + image.shape[0], left : left + image.shape[1]] = image
    return canvas


def main(output: str, inputs: list[str]) -> int:
    if Path(output).exists():
        print(f"{output} exists; not overwriting", file=sys.stderr)
        return 2
    writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for path in inputs:
        resampler = Resampler(FPS)
        previous = None
        with VideoFile(path) as video:
            for frame in video:
                copies = resampler.push(frame.time_s)
                if previous is not None:
                    for _ in range(copies):
                        writer.write(previous)
                previous = letterbox(frame.image)
            for _ in range(resampler.finish(video.duration_s or 0.0)):
                writer.write(previous)
    writer.release()
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
