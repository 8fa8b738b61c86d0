"""Numeric faults: a model whose output is NaN or Inf, for every input or only for some.

Such values are not scores: the input they belong to gets an error result with one line that
says so (the other inputs still get theirs), exit code 1, and JSON output stays strict JSON.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from synthetic import TINY_SPEC, VIDCLASS, invoke, solid_frames, write_video

from vidclass import Classifier, ClipResult, ErrorResult, run
from vidclass.errors import InputError, NonFiniteError
from vidclass.scores import non_finite

HANG_S = 120


def make_faulty_model(path: Path, fault: str, bias: float) -> Path:
    """The tiny colour model (``synthetic.make_tiny_model``) plus ``fault(R + G + bias)`` added to every
    logit: a constant where it is finite (softmax does not see it), NaN (``Sqrt``) or -Inf (``Log`` of
    ``Relu``) where ``R + G + bias`` is below 0. Pixels are scaled to [-1, 1], so with ``bias`` 0.5
    red and green frames give 0.5 and blue ones -1.5: only blue videos break; with -10 all do."""
    video = helper.make_tensor_value_info("video", TensorProto.FLOAT, ["N", "T", 32, 32, 3])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "T", 3])
    weight = np.eye(3, dtype=np.float32) * 10.0
    gate = np.array([[1.0], [1.0], [0.0]], np.float32)
    broken = (
        [helper.make_node("Sqrt", ["g1"], ["fault"])]
        if fault == "NaN"
        else [helper.make_node("Relu", ["g1"], ["g2"]), helper.make_node("Log", ["g2"], ["fault"])]
    )
    nodes = [
        helper.make_node("ReduceMean", ["video", "axes"], ["rgb"], keepdims=0),
        helper.make_node("MatMul", ["rgb", "weight"], ["scores"]),
        helper.make_node("MatMul", ["rgb", "gate"], ["g0"]),
        helper.make_node("Add", ["g0", "bias"], ["g1"]),
        *broken,
        helper.make_node("Add", ["scores", "fault"], ["logits"]),
    ]
    initializer = [
        helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]),
        helper.make_tensor("weight", TensorProto.FLOAT, weight.shape, weight.flatten()),
        helper.make_tensor("gate", TensorProto.FLOAT, gate.shape, gate.flatten()),
        helper.make_tensor("bias", TensorProto.FLOAT, [], [bias]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "faulty", [video], [logits], initializer=initializer),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    model.ir_version = 8
    helper.set_model_props(model, TINY_SPEC.to_metadata())
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture()
def nan_model(tmp_path: Path) -> Path:
    """NaN for every input."""
    return make_faulty_model(tmp_path / "nan.onnx", "NaN", -10.0)


@pytest.fixture()
def blue_nan_model(tmp_path: Path) -> Path:
    """NaN for blue frames only."""
    return make_faulty_model(tmp_path / "blue-nan.onnx", "NaN", 0.5)


@pytest.fixture()
def videos(tmp_path: Path) -> list[Path]:
    return [
        write_video(tmp_path / f"{colour}.avi", solid_frames([colour] * 20), 10) for colour in ("red", "blue", "green")
    ]


def strict(text: str) -> list[dict]:
    """JSON Lines parsed as strict JSON: NaN, Infinity and -Infinity are refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return [json.loads(line, parse_constant=refuse) for line in text.splitlines()]


def said(video: Path, what: str = "NaN") -> str:
    return f"the model produced {what} for the frames at 0.00-0.80 s (not a score)"


def test_non_finite_names_what_it_finds() -> None:
    assert non_finite(np.array([1.0, -3e38])) is None
    assert non_finite(np.array([1.0, np.nan])) == "NaN"
    assert non_finite(np.array([np.inf, -np.inf])) == "Inf"
    assert non_finite(np.array([np.nan, -np.inf])) == "NaN and Inf"


@pytest.mark.parametrize(("fault", "mode"), [("NaN", "windows"), ("Inf", "windows"), ("NaN", "dense")])
def test_python_api_raises_for_that_input_only(tmp_path: Path, videos: list[Path], fault: str, mode: str) -> None:
    model = make_faulty_model(tmp_path / "m.onnx", fault, 0.5)
    classifier = Classifier(model, provider="cpu", mode=mode)
    red, blue, _ = videos
    assert classifier.predict(red).top[0].label == "red"
    with pytest.raises(InputError) as failed:
        classifier.predict(blue)
    assert failed.value.source == str(blue) and failed.value.cause.startswith(f"the model produced {fault} for ")
    assert "\n" not in str(failed.value)


def test_finite_logits_that_overflow_are_caught(tmp_path: Path, videos: list[Path]) -> None:
    """Logits of 3e38 are finite, their mean over time is not: the probabilities are checked too."""
    classifier = Classifier(make_faulty_model(tmp_path / "m.onnx", "NaN", 0.5), provider="cpu")
    classifier.session.run = lambda clips: np.full((1, clips.shape[1], 3), 3e38, np.float32)  # type: ignore[method-assign]
    with pytest.raises(InputError, match="the model produced NaN for the frames at 0.00-0.80 s"):
        classifier.predict(videos[0])


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.spawn)])
def test_every_engine_gives_an_error_result_and_goes_on(blue_nan_model: Path, videos: list[Path], workers: int):
    classifier = Classifier(blue_nan_model, provider="cpu")
    results = dict(run(classifier, videos, workers=workers))
    assert [type(results[i]) for i in range(3)] == [ClipResult, ErrorResult, ClipResult]
    assert results[1] == ErrorResult(str(videos[1]), said(videos[1]))
    assert results[2].top[0].label == "green"


@pytest.mark.ray
def test_ray_gives_an_error_result_and_goes_on(local_ray, blue_nan_model: Path, videos: list[Path]) -> None:
    results = dict(run(Classifier(blue_nan_model, provider="cpu"), videos, engine="ray", workers=1))
    assert [type(results[i]) for i in range(3)] == [ClipResult, ErrorResult, ClipResult]
    assert results[1] == ErrorResult(str(videos[1]), said(videos[1]))


def test_watch_window_raises_non_finite(nan_model: Path, videos: list[Path]) -> None:
    from vidclass.engines.watch import Watch
    from vidclass.sources import VideoFile

    classifier = Classifier(nan_model, provider="cpu", mode="windows")
    with Watch(classifier, VideoFile(videos[0]), realtime=False) as watch, pytest.raises(NonFiniteError) as failed:
        list(watch.results())
    assert str(failed.value) == "the model produced NaN for the frames at 0.00-0.80 s (not a score)"


@pytest.mark.parametrize("view", [[], ["--json"], ["--csv"], ["--json", "--mode", "dense"]])
def test_predict_reports_the_input_and_goes_on(blue_nan_model: Path, videos: list[Path], view: list[str]) -> None:
    done = invoke("predict", *videos, "--model", blue_nan_model, "--provider", "cpu", *view)
    assert done.exit_code == 1, done.output
    red, blue, green = videos
    errors = [line for line in done.stderr.splitlines() if line.startswith("vidclass:")]
    cause = said(blue) if "dense" not in view else "the model produced NaN for the frames at 0.00-2.00 s (not a score)"
    assert errors == [f"vidclass: {blue}: {cause}"]
    assert "Traceback" not in done.output and "nan" not in done.stdout.replace(cause, "").lower()
    if view[:1] == ["--json"]:
        records = strict(done.stdout)
        assert [r["source"] for r in records] == [str(red), str(blue), str(green)]
        assert records[1] == {"source": str(blue), "error": cause} and records[2]["top"][0]["label"] == "green"
    elif view == ["--csv"]:
        rows = done.stdout.splitlines()
        assert rows[2] == f"{blue},,,,,,,,,,{cause}" and rows[3].startswith(f"{green},green,1.0,")
    else:
        assert f"{red}  2.0 s" in done.stdout and f"{green}  2.0 s" in done.stdout and str(blue) not in done.stdout


@pytest.mark.subprocess
@pytest.mark.spawn
def test_predict_with_workers_to_a_file(tmp_path: Path, nan_model: Path, blue_nan_model: Path, videos: list[Path]):
    out = tmp_path / "out.jsonl"
    command = [*VIDCLASS, "predict", *videos, "--provider", "cpu", "--workers", "2", "--output", out]
    done = subprocess.run([*command, "--model", blue_nan_model], capture_output=True, timeout=HANG_S)
    assert done.returncode == 1 and b"Traceback" not in done.stderr
    records = strict(out.read_text())
    assert sorted(r["source"] for r in records) == sorted(map(str, videos))
    assert [r for r in records if "error" in r] == [{"source": str(videos[1]), "error": said(videos[1])}]
    # NaN for every input: every input fails, each with its line; still exit 1 (no input classified).
    done = subprocess.run([*command, "--model", nan_model, "--force"], capture_output=True, timeout=HANG_S)
    assert done.returncode == 1
    errors = [line for line in done.stderr.decode().splitlines() if line.startswith("vidclass:")]
    assert sorted(errors) == sorted(f"vidclass: {v}: {said(v)}" for v in videos)
    assert all("error" in r for r in strict(out.read_text()))


def test_evaluate_counts_a_nan_input_as_failed(tmp_path: Path, blue_nan_model: Path) -> None:
    data = tmp_path / "data"
    for colour in ("red", "blue"):
        (data / colour).mkdir(parents=True)
        write_video(data / colour / f"{colour}.avi", solid_frames([colour] * 20), 10)
    done = invoke("evaluate", data, "--model", blue_nan_model, "--provider", "cpu", "--json")
    assert done.exit_code == 1
    [report] = strict(done.stdout.replace("\n", " ").strip() + "\n")
    blue = data / "blue" / "blue.avi"
    assert report["videos"] == 1 and report["top1_accuracy"] == 1.0
    assert report["not_counted"]["errors"] == [{"source": str(blue), "error": said(blue)}]
    assert f"vidclass: {blue}: {said(blue)}" in done.stderr.splitlines()


@pytest.mark.subprocess
def test_watch_ends_with_one_line(blue_nan_model: Path, tmp_path: Path) -> None:
    """Red, then blue from 2 s on: the windows of red frames are shown and written, the first window
    with blue in it ends the watch with one line (the summary joined to it), exit 1."""
    video = write_video(tmp_path / "red-blue.avi", solid_frames(["red"] * 20 + ["blue"] * 10), 10)
    out = tmp_path / "w.jsonl"
    done = subprocess.run(
        [
            *VIDCLASS,
            "watch",
            video,
            "--model",
            blue_nan_model,
            "--provider",
            "cpu",
            "--no-realtime",
            "--json",
            "--output",
            out,
        ],
        capture_output=True,
        timeout=HANG_S,
    )
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == [
        "vidclass: the model produced NaN for the frames at 1.60-2.40 s (not a score); 4 windows classified, 0 skipped"
    ]
    shown = strict(done.stdout.decode())
    assert [r["top"][0]["label"] for r in shown] == ["red"] * 4 and strict(out.read_text()) == shown


@pytest.mark.real
def test_stream_mode_gives_an_error_result(stream_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """Stream mode on the real model, its streaming graph answering NaN logits from the second block
    on: the file's result is an error naming the frames, as in the other modes."""
    classifier = Classifier(stream_model, provider="cpu", mode="stream")
    assert classifier.stream_session is not None
    real_run, calls = classifier.stream_session.run, []

    def nan_after_the_first(feeds):
        logits, *states = real_run(feeds)
        calls.append(len(calls))
        return [np.full_like(logits, np.nan) if len(calls) > 1 else logits, *states]

    monkeypatch.setattr(classifier.stream_session, "run", nan_after_the_first)
    video = write_video(tmp_path / "red.avi", solid_frames(["red"] * 100, (240, 320)), 25)
    [(_, result)] = run(classifier, [video])
    assert isinstance(result, ErrorResult) and result.source == str(video) and len(calls) > 1
    assert re.fullmatch(r"the model produced NaN for the frames at \d+\.\d\d-\d+\.\d\d s \(not a score\)", result.error)
