"""Precision options and the OpenVINO runtime (the openvino extra): same results as ONNX Runtime
on a tiny model, precision reported, usage errors for what a provider cannot do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic import make_tiny_model, solid_frames, write_video

from vidclass import Classifier
from vidclass.errors import ModelNotFoundError, UsageError
from vidclass.runtimes import Session, int8_variant


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_tiny_model(tmp_path / "tiny.onnx")


def test_onnxruntime_is_fp32_and_refuses_bf16(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vidclass.runtimes as session_module

    assert Session(tiny, "cpu").precision == "fp32"
    monkeypatch.setattr(session_module, "_openvino_runtime", lambda: False)
    with pytest.raises(UsageError, match="bf16"):
        Session(tiny, "cpu", precision="bf16")


def test_int8_needs_the_quantised_file(tiny: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="quantize_i3d"):
        Session(tiny, "cpu", precision="int8")
    (tiny.parent / "tiny.int8.onnx").write_bytes(tiny.read_bytes())
    assert int8_variant(tiny) == tiny.parent / "tiny.int8.onnx"
    session = Session(tiny, "cpu", precision="int8")
    assert session.path.name == "tiny.int8.onnx" and session.precision == "int8"


def test_openvino_gives_onnxruntime_results(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 10 + ["blue"] * 20, (40, 56)), 10.0)
    ort_result = Classifier(tiny, provider="cpu").predict(video)
    ov = Classifier(tiny, provider="openvino", precision="fp32")
    assert ov.session.provider == "openvino" and ov.session.precision == "fp32"
    assert ov.spec == Classifier(tiny, provider="cpu").spec  # the metadata read by OpenVINO
    ov_result = ov.predict(video)
    assert [t.label for t in ov_result.top] == [t.label for t in ort_result.top]
    for a, b in zip(ov_result.top, ort_result.top, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-5)
    assert ov_result.model.provider == "openvino"


def test_openvino_output_is_not_overwritten_by_the_next_call(tiny: Path) -> None:
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    session = Session(tiny, "openvino", precision="fp32")
    first = session.run(np.full((1, 4, 32, 32, 3), 0.5, np.float32))
    kept = first.copy()
    session.run(np.full((1, 4, 32, 32, 3), -0.5, np.float32))
    np.testing.assert_array_equal(first, kept)
