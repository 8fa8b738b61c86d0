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
from typer.testing import CliRunner

from vidclass import Classifier, ClipResult
from vidclass.cli import app
from vidclass.preprocess import center_crop, resized_size
from vidclass.sampling import Resampler
from vidclass.sources import VideoFile

pytestmark = pytest.mark.real


@pytest.fixture(scope="session")
def reference(reference_dir: Path) -> dict[str, dict]:
    with (reference_dir / "reference.jsonl").open() as f:
        return {rec["file"]: rec for rec in map(json.loads, f)}


@pytest.fixture(scope="session")
def classifier(real_model: Path) -> Classifier:
    return Classifier(real_model, provider="cpu")


@pytest.fixture(scope="session")
def predictions(classifier: Classifier, clips_dir: Path) -> dict[str, ClipResult]:
    with (clips_dir / "clips.csv").open() as f:
        files = [row["file"] for row in csv.DictReader(f)]
    return {name: classifier.predict(clips_dir / name) for name in files}


def test_every_clip_classified(predictions: dict[str, ClipResult], reference: dict[str, dict]) -> None:
    assert set(predictions) == set(reference)
    for name, result in predictions.items():
        assert result.frames == reference[name]["frames_25fps"], name
        assert result.model.name == "i3d-rgb-kinetics400"


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


def test_one_window_clip_equals_the_reference_pass(
    predictions: dict[str, ClipResult], reference: dict[str, dict]
) -> None:
    # 27 frames < one 64-frame window: the single window is exactly the reference's one pass over
    # the whole clip, so the probabilities must agree to float precision, not just the top-1.
    result, rec = predictions["cleaning_pool_1s.mp4"], reference["cleaning_pool_1s.mp4"]
    assert result.short and len(result.windows) == 1
    ref_probs = {t["label"]: t["prob"] for t in rec["top5"]}
    for label in result.top:
        assert label.score == pytest.approx(ref_probs[label.label], abs=1e-4)


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
    result = CliRunner().invoke(
        app, ["predict", str(clips_dir / "cleaning_pool_1s.mp4"), "--model", str(real_model), "--json"]
    )
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert rec["top"][0]["label"] == "cleaning pool"
    assert rec["short"] is True and rec["model"]["provider"] == "cpu"
    assert len(rec["top"]) == 5 and rec["windows"][0]["start_s"] == 0.0
