"""Stream mode on the real model: every frame through the network once, block by block, with the
network's temporal state carried between blocks; the same per-step timeline as one pass over the
whole video (tests/test_streaming.py checks the graph itself at 20 lengths), under every engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidclass import Classifier, ClipResult, Mode, expand_inputs, run
from vidclass.store import streaming_companion

pytestmark = [pytest.mark.real, pytest.mark.slow]


@pytest.fixture(scope="session")
def reference(reference_dir: Path) -> dict[str, dict]:
    with (reference_dir / "reference.jsonl").open() as f:
        return {rec["file"]: rec for rec in map(json.loads, f)}


def _probs(result: ClipResult) -> dict[str, float]:
    return {t.label: t.score for t in result.top}


def test_auto_is_stream_beside_a_streaming_form(stream_model: Path) -> None:
    assert Classifier(stream_model, provider="cpu").mode is Mode.stream


@pytest.mark.parametrize("name", ["playing_cricket.gif", "flipping_pancake.mkv"])
def test_stream_equals_the_dense_pass(stream_model: Path, clips_dir: Path, name: str) -> None:
    """flipping_pancake.mkv announces 311 frames and has 310 (257 and 256 at 25 fps): the stream is
    started again on the right grid, as the dense pass is."""
    stream = Classifier(stream_model, provider="cpu", mode="stream", top_k=10).predict(clips_dir / name)
    chunks = Classifier(stream_model, provider="cpu", mode="dense", top_k=10).predict(clips_dir / name)
    assert stream.frames == chunks.frames
    assert stream.timeline is not None and chunks.timeline is not None
    assert stream.timeline.spans_s == chunks.timeline.spans_s
    assert np.abs(stream.timeline.probs - chunks.timeline.probs).max() <= 1e-4
    for label, score in _probs(chunks).items():
        assert abs(_probs(stream)[label] - score) <= 1e-4, label


def test_stream_top1_is_the_reference_on_every_clip(
    stream_model: Path, clips_dir: Path, reference: dict[str, dict]
) -> None:
    """One pass is what the reference computes: the same top-1 on all eight clips, and the same
    probabilities where the clip's timestamps are regular (both pick the same frames)."""
    clf = Classifier(stream_model, provider="cpu", mode="stream")
    names = sorted(reference)
    results = {Path(r.source).name: r for _, r in run(clf, expand_inputs([clips_dir / n for n in names]))}
    for name in names:
        result, expected = results[name], reference[name]
        assert isinstance(result, ClipResult), name
        assert result.top[0].label == expected["top5"][0]["label"], name
    for name in ("arm_wrestling.mp4", "cleaning_pool.mp4", "playing_cricket.gif", "shooting_basketball.mp4"):
        got = _probs(results[name])
        for entry in reference[name]["top5"][:2]:
            assert abs(got[entry["label"]] - entry["prob"]) <= 2e-3, (name, entry["label"])


@pytest.mark.spawn
def test_stream_with_two_workers_equals_in_process(stream_model: Path, clips_dir: Path) -> None:
    clf = Classifier(stream_model, provider="cpu", mode="stream")
    inputs = [clips_dir / "playing_cricket.gif", clips_dir / "cleaning_pool_1s.mp4"]
    here = {r.source: r.to_dict() for _, r in run(clf, expand_inputs(inputs))}
    workers = {r.source: r.to_dict() for _, r in run(clf, expand_inputs(inputs), workers=2)}
    assert workers == here


def test_stream_on_openvino_equals_onnx_runtime(stream_model: Path, clips_dir: Path) -> None:
    """The streaming graph's first states have zero-length time axes: OpenVINO must take them too."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    clip = clips_dir / "playing_cricket.gif"
    ov = Classifier(stream_model, provider="openvino", precision="fp32", mode="stream", top_k=10).predict(clip)
    cpu = Classifier(stream_model, provider="cpu", mode="stream", top_k=10).predict(clip)
    assert ov.model.provider == "openvino" and cpu.model.provider == "cpu"
    for label, score in _probs(cpu).items():
        assert abs(_probs(ov)[label] - score) <= 1e-4, label


def test_the_streaming_form_is_refused_as_a_one_pass_model(stream_model: Path) -> None:
    from vidclass.errors import SpecError

    with pytest.raises(SpecError, match="streaming form"):
        Classifier(streaming_companion(stream_model), provider="cpu")
