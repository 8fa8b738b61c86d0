"""The exported I3D, read straight with ONNX Runtime, against the independent reference implementation.

``golden_arm_wrestling.npz`` holds real preprocessed frames and the reference's time-averaged logits at
lengths of both parities: "SAME" padding of the stride-2 layers depends on the length, so a graph
that pinned one length's padding would be wrong at the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from vidclass.convert.checkpoint import CKPT_SHA256
from vidclass.spec import ModelSpec

pytestmark = pytest.mark.real

TOLERANCE = 1e-3  # max |delta logit|; an independent conversion matched within 3e-5
GOLDEN_LENGTHS = (9, 16, 32, 33, 64, 79)


@pytest.fixture(scope="module")
def session(real_model: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(real_model), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def spec(session: ort.InferenceSession, real_model: Path) -> ModelSpec:
    return ModelSpec.from_metadata(session.get_modelmeta().custom_metadata_map, origin=str(real_model))


@pytest.fixture(scope="module")
def golden(reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(reference_dir / "golden_arm_wrestling.npz") as npz:
        return dict(npz)


def _frames(golden: dict[str, np.ndarray], spec: ModelSpec) -> np.ndarray:
    """The golden uint8 frames scaled as the model's metadata says (x / 127.5 - 1 for I3D)."""
    return (golden["frames_uint8"] * spec.value_scale + spec.value_offset).astype(np.float32)


def _run(session: ort.InferenceSession, video: np.ndarray) -> np.ndarray:
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    return session.run([out.name], {inp.name: video})[0]


def test_golden_file_has_the_expected_lengths(golden: dict[str, np.ndarray]) -> None:
    assert tuple(int(n) for n in golden["lengths"]) == GOLDEN_LENGTHS
    assert golden["frames_uint8"].shape == (79, 224, 224, 3)


@pytest.mark.parametrize("length", GOLDEN_LENGTHS)
def test_matches_the_reference_at_every_length(
    length: int, session: ort.InferenceSession, spec: ModelSpec, golden: dict[str, np.ndarray]
) -> None:
    per_step = _run(session, _frames(golden, spec)[None, :length])
    # One output step per `temporal_stride` frames, less one for the head's 2-step VALID pool.
    assert per_step.shape == (1, -(-length // spec.temporal_stride) - 1, spec.num_classes)
    delta = np.abs(per_step[0].mean(axis=0) - golden[f"logits_{length}"]).max()
    assert delta <= TOLERANCE, f"L={length}: max |delta logit| {delta:.2e}"


def test_batch_is_dynamic_and_rows_are_independent(
    session: ort.InferenceSession, spec: ModelSpec, golden: dict[str, np.ndarray]
) -> None:
    frames = _frames(golden, spec)
    batch = np.stack([frames[:33], frames[-33:]])  # two different clips
    together = _run(session, batch)
    apart = np.concatenate([_run(session, batch[:1]), _run(session, batch[1:])])
    assert together.shape == (2, 4, spec.num_classes)
    np.testing.assert_allclose(together, apart, rtol=0, atol=1e-5)


def test_metadata_agrees_with_the_graph(session: ort.InferenceSession, spec: ModelSpec) -> None:
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert spec.name == "i3d-rgb-kinetics400"
    assert spec.input_layout == "NTHWC" and spec.output_kind == "per_step_logits"
    assert len(spec.labels) == out.shape[-1] == 400
    # Batch and time stay symbolic; the crop and the colour channels are fixed.
    assert all(isinstance(d, str) for d in (inp.shape[0], inp.shape[1], out.shape[0], out.shape[1]))
    assert inp.shape[2:] == [spec.crop_height, spec.crop_width, 3]
    assert inp.type == out.type == "tensor(float)"
    assert spec.weights_sha256 == CKPT_SHA256  # converted from the pinned checkpoint
