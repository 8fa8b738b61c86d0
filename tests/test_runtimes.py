"""Precision options and the OpenVINO runtime (the openvino extra): same results as ONNX Runtime
on a tiny model, precision reported, usage errors for what a provider cannot do."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from synthetic import solid_frames, write_video

from vidclass import Classifier
from vidclass.errors import ModelNotFoundError, UsageError
from vidclass.runtimes import Session, int8_variant


def test_onnxruntime_is_fp32_and_refuses_bf16(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vidclass.runtimes as session_module

    assert Session(tiny_model, "cpu").precision == "fp32"
    monkeypatch.setattr(session_module, "_openvino_runtime", lambda: False)
    with pytest.raises(UsageError, match="bf16"):
        Session(tiny_model, "cpu", precision="bf16")


def test_int8_needs_the_quantised_file(tiny_model: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="quantize_i3d"):
        Session(tiny_model, "cpu", precision="int8")
    (tiny_model.parent / "tiny.int8.onnx").write_bytes(tiny_model.read_bytes())
    assert int8_variant(tiny_model) == tiny_model.parent / "tiny.int8.onnx"
    session = Session(tiny_model, "cpu", precision="int8")
    assert session.path.name == "tiny.int8.onnx" and session.precision == "int8"


def test_openvino_gives_onnxruntime_results(tiny_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 10 + ["blue"] * 20, (40, 56)), 10.0)
    ort_result = Classifier(tiny_model, provider="cpu").predict(video)
    ov = Classifier(tiny_model, provider="openvino", precision="fp32")
    assert ov.session.provider == "openvino" and ov.session.precision == "fp32"
    assert ov.spec == Classifier(tiny_model, provider="cpu").spec  # the metadata read by OpenVINO
    ov_result = ov.predict(video)
    assert [t.label for t in ov_result.top] == [t.label for t in ort_result.top]
    for a, b in zip(ov_result.top, ort_result.top, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-5)
    assert ov_result.model.provider == "openvino"


def test_openvino_output_is_not_overwritten_by_the_next_call(tiny_model: Path) -> None:
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    session = Session(tiny_model, "openvino", precision="fp32")
    first = session.run(np.full((1, 4, 32, 32, 3), 0.5, np.float32))
    kept = first.copy()
    session.run(np.full((1, 4, 32, 32, 3), -0.5, np.float32))
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize(
    ("provider", "precision", "accelerator", "openvino", "bf16", "expected"),
    [
        # The automatic choice would be OpenVINO in fp32: ONNX Runtime's CPU provider instead.
        ("auto", "auto", False, True, False, "cpu"),
        ("auto", "fp32", False, True, True, "cpu"),
        # OpenVINO computing in bf16 stays: that is where its speed is.
        ("auto", "auto", False, True, True, "auto"),
        ("auto", "bf16", False, True, False, "auto"),
        # An accelerator, no OpenVINO runtime, or a provider the user named: unchanged.
        ("auto", "auto", True, True, False, "auto"),
        ("auto", "auto", False, False, False, "auto"),
        ("openvino", "auto", False, True, False, "openvino"),
        ("openvino", "fp32", False, True, False, "openvino"),
        ("cpu", "auto", False, True, True, "cpu"),
    ],
)
def test_stream_mode_takes_onnxruntime_where_openvino_would_compute_in_fp32(
    monkeypatch: pytest.MonkeyPatch, provider: str, precision: str, accelerator: bool, openvino: bool,
    bf16: bool, expected: str,
) -> None:
    import vidclass.runtimes as runtimes
    from vidclass.runtimes import openvino as openvino_runtime

    names = ["CUDAExecutionProvider", "CPUExecutionProvider"] if accelerator else ["CPUExecutionProvider"]
    monkeypatch.setattr(runtimes.ort, "get_available_providers", lambda: names)
    monkeypatch.setattr(runtimes, "_openvino_runtime", lambda: openvino)
    monkeypatch.setattr(openvino_runtime, "cpu_supports", lambda precision: bf16 and precision == "bf16")
    assert runtimes.stream_provider(provider, precision).value == expected


def test_stream_mode_opens_both_forms_on_the_provider_it_chose(
    stream_model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With OpenVINO installed but no bf16, the automatic choice puts the one-pass model and its
    streaming form on ONNX Runtime; windows mode keeps OpenVINO."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    from vidclass.runtimes import openvino as openvino_runtime

    monkeypatch.setattr(openvino_runtime, "cpu_supports", lambda precision: False)
    with caplog.at_level(logging.DEBUG, logger="vidclass"):
        streaming = Classifier(stream_model)
    # Why, for --verbose only: a run without it prints nothing about the choice.
    (record,) = [r for r in caplog.records if "ONNX Runtime's CPU provider" in r.getMessage()]
    assert record.levelno == logging.DEBUG and "--provider openvino" in record.getMessage()
    assert streaming.mode.value == "stream"
    assert streaming.session.provider == "cpu" and streaming.stream_session is not None
    assert streaming.stream_session.provider == "cpu"
    windows = Classifier(stream_model, mode="windows")
    assert windows.session.provider == "openvino" and windows.session.precision == "fp32"
    assert Classifier(stream_model, provider="openvino").stream_session.provider == "openvino"
