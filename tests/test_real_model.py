"""The real I3D export on the real shared clips, against the independent reference implementation.

These run in CI (the README's set-up exports the model first) and fail there when the model or the
assets are missing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import invoke

from vidclass import Classifier, ClipResult
from vidclass.preprocess import center_crop, resized_size
from vidclass.sampling import Resampler
from vidclass.sources import VideoFile

pytestmark = pytest.mark.real


@pytest.fixture(scope="session")
def reference(reference_dir: Path) -> dict[str, dict]:
    with (reference_dir / "reference.jsonl").open() as f:
        return {rec["file"]: rec for rec in map(json.loads, f)}


@pytest.fixture(scope="session")
def predictions(real_classifier: Classifier, clips_dir: Path) -> dict[str, ClipResult]:
    with (clips_dir / "clips.csv").open() as f:
        files = [row["file"] for row in csv.DictReader(f)]
    return {name: real_classifier.predict(clips_dir / name) for name in files}


# Clips whose container timestamps are regular: there, resampling by timestamp picks exactly the
# frames the reference picked by index (frame i -> int(i * fps / 25)). The other two have real gaps
# in their timestamps (cleaning_pool_1s.mp4 drops a frame at 1.03 s, hugging_1080p.mp4 jumps from
# 2.2 s to 2.4 s), so vidclass, which follows the timestamps, feeds the model slightly other frames.
CONSTANT_RATE = ["arm_wrestling.mp4", "cleaning_pool.mp4", "shooting_basketball.mp4", "playing_cricket.gif",
                 "flipping_pancake.mkv", "eye_makeup.avi"]


def test_every_clip_classified(predictions: dict[str, ClipResult], reference: dict[str, dict]) -> None:
    assert set(predictions) == set(reference)
    for result in predictions.values():
        assert result.model.name == "i3d-rgb-kinetics400"
        assert len(result.top) == 5 and result.windows
    for name in CONSTANT_RATE:
        assert predictions[name].frames == reference[name]["frames_25fps"], name


def test_top1_matches_the_reference_where_it_is_confident(
    predictions: dict[str, ClipResult], reference: dict[str, dict]
) -> None:
    confident = {name: rec for name, rec in reference.items() if rec["top5"][0]["prob"] >= 0.5}
    assert len(confident) == 7
    mismatches = {
        name: (predictions[name].top[0].label, rec["top5"][0]["label"])
        for name, rec in confident.items()
        if predictions[name].top[0].label != rec["top5"][0]["label"]
    }
    assert not mismatches


def test_short_clip_is_one_window_and_flagged(predictions: dict[str, ClipResult]) -> None:
    result = predictions["cleaning_pool_1s.mp4"]
    assert result.short and len(result.windows) == 1
    assert result.windows[0].start_s == 0.0 and result.windows[0].end_s == pytest.approx(result.frames / 25)
    assert any("short video" in w for w in result.warnings)


@pytest.mark.parametrize("name", ["playing_cricket.gif", "arm_wrestling.mp4"])
def test_one_window_over_the_whole_clip_equals_the_reference_pass(
    real_model: Path, clips_dir: Path, reference: dict[str, dict], name: str
) -> None:
    """With a window longer than the clip, vidclass makes exactly the reference's single pass over
    every frame: the probabilities must agree to float precision, not only the top-1."""
    rec = reference[name]
    result = Classifier(real_model, provider="cpu", window_frames=rec["frames_25fps"] + 8, top_k=5).predict(
        clips_dir / name
    )
    assert result.frames == rec["frames_25fps"] and len(result.windows) == 1
    assert [t.label for t in result.top] == [t["label"] for t in rec["top5"]]
    for ours, theirs in zip(result.top, rec["top5"], strict=True):
        assert ours.score == pytest.approx(theirs["prob"], abs=2e-4)


def test_preprocessing_reproduces_the_reference_frames(clips_dir: Path, reference_dir: Path) -> None:
    """Decode, resample by timestamp, resize and crop arm_wrestling.mp4 as the runtime does and
    compare with the reference's golden uint8 frames (before value scaling)."""
    golden = np.load(reference_dir / "golden_arm_wrestling.npz")["frames_uint8"]
    import cv2

    frames: list[np.ndarray] = []
    resampler = Resampler(25.0)
    previous = None
    with VideoFile(clips_dir / "arm_wrestling.mp4") as video:
        for frame in video:
            if previous is not None:
                frames += [previous] * resampler.push(frame.time_s)
            else:
                resampler.push(frame.time_s)
            h, w = resized_size(*frame.image.shape[:2], 256)
            previous = center_crop(cv2.resize(frame.image, (w, h), interpolation=cv2.INTER_LINEAR), 224, 224)[..., ::-1]
            if len(frames) >= len(golden):
                break
    ours = np.stack(frames[: len(golden)]).astype(np.int16)
    diff = np.abs(ours - golden.astype(np.int16))
    assert diff.max() <= 1, f"max pixel difference {diff.max()}"
    assert diff.mean() < 0.01


def test_cli_json_on_a_real_clip(real_model: Path, clips_dir: Path) -> None:
    result = invoke("predict", clips_dir / "cleaning_pool_1s.mp4", "--model", real_model, "--json", "--provider", "cpu")
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert rec["top"][0]["label"] == "cleaning pool"
    assert rec["short"] is True and rec["model"]["provider"] == "cpu"
    assert len(rec["top"]) == 5 and rec["windows"][0]["start_s"] == 0.0
