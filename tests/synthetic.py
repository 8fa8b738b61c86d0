"""Builders for small synthetic inputs: videos written with OpenCV and tiny ONNX models that carry
real vidclass metadata; and ``invoke``, the CLI run in-process. Nothing here touches the real I3D
model. The fixtures built on these (``tiny_model``, ``rgb_video``) are in conftest.py."""

from __future__ import annotations

import signal
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
from click.testing import Result
from onnx import TensorProto, helper
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.convert.i3d import Pool, Unit
from vidclass.spec import ModelSpec

COLORS = ("red", "green", "blue")
RGB = ["red"] * 20 + ["green"] * 20 + ["blue"] * 10  # 5 s at 10 fps, the tiny model's rate
_RUNNER = CliRunner()
# The real command in a child process (real pipes, signals and argv bytes); the checkout need not be
# installed, only importable, as ``python -m pytest`` from its root makes it.
VIDCLASS = (sys.executable, "-c", "from vidclass.cli import main; main()")

TINY_SPEC = ModelSpec(
    name="tiny-colour",
    version="test",
    labels=COLORS,
    input_layout="NTHWC",
    channel_order="RGB",
    frame_rate=10.0,
    resize_short_side=32,
    resize_interpolation="linear",
    crop_height=32,
    crop_width=32,
    value_scale=1 / 127.5,
    value_offset=-1.0,
    window_frames=8,
    hop_frames=4,
    min_frames=2,
    temporal_stride=1,
    output_kind="per_step_logits",
    weights_sha256="0" * 64,
    source="tests/synthetic.py",
)


def tiny_spec(**changes: object) -> ModelSpec:
    return replace(TINY_SPEC, **changes)


def make_tiny_model(
    path: Path,
    spec: ModelSpec | None = TINY_SPEC,
    classes: int | None = None,
    extra_meta: dict[str, str] | None = None,
) -> Path:
    """An ONNX "colour classifier": per-step logits are the mean R, G, B of each frame, times 10.

    Input ``[N, T, H, W, 3]`` (dynamic N, T), output ``[N, T, classes]``; the RGB means are
    tiled/cut to ``classes`` columns so a wrong label count can be built on purpose. ``spec=None``
    writes no metadata at all.
    """
    classes = classes or (spec.num_classes if spec else 3)
    video = helper.make_tensor_value_info("video", TensorProto.FLOAT, ["N", "T", 32, 32, 3])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "T", classes])
    weight = np.zeros((3, classes), np.float32)
    for c in range(classes):
        weight[c % 3, c] = 10.0
    nodes = [
        helper.make_node("ReduceMean", ["video", "axes"], ["rgb"], keepdims=0),
        helper.make_node("MatMul", ["rgb", "weight"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [video],
        [logits],
        initializer=[
            helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]),
            helper.make_tensor("weight", TensorProto.FLOAT, weight.shape, weight.flatten()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    meta = dict(spec.to_metadata()) if spec else {}
    meta.update(extra_meta or {})
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


SAME_SPEC = tiny_spec(name="tiny-same", temporal_stride=8, min_frames=1, window_frames=16, hop_frames=8)


def make_same_model(path: Path, seed: int = 0) -> Path:
    """``[N, T, 32, 32, 3]`` -> ``[N, ceil(T/8), 3]`` through three SAME stride-2 time layers
    (conv k5, max-pool k3, conv k3, all with SAME_UPPER padding, like TensorFlow's "SAME")."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(4, 3, 5, 3, 3)).astype(np.float32)
    w2 = rng.normal(size=(4, 4, 3, 1, 1)).astype(np.float32)
    w3 = rng.normal(size=(4, 3)).astype(np.float32)
    video = helper.make_tensor_value_info("video", TensorProto.FLOAT, ["N", "T", 32, 32, 3])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "S", 3])
    nodes = [
        helper.make_node("Transpose", ["video"], ["x0"], perm=[0, 4, 1, 2, 3]),
        helper.make_node("Conv", ["x0", "w1"], ["x1"], kernel_shape=[5, 3, 3], strides=[2, 2, 2],
                         auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["x1"], ["x2"]),
        helper.make_node("MaxPool", ["x2"], ["x3"], kernel_shape=[3, 1, 1], strides=[2, 1, 1], auto_pad="SAME_UPPER"),
        helper.make_node("Conv", ["x3", "w2"], ["x4"], kernel_shape=[3, 1, 1], strides=[2, 1, 1],
                         auto_pad="SAME_UPPER"),
        helper.make_node("ReduceMean", ["x4", "axes"], ["x5"], keepdims=0),
        helper.make_node("Transpose", ["x5"], ["x6"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["x6", "w3"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny-same", [video], [logits],
        initializer=[
            helper.make_tensor("w1", TensorProto.FLOAT, w1.shape, w1.flatten()),
            helper.make_tensor("w2", TensorProto.FLOAT, w2.shape, w2.flatten()),
            helper.make_tensor("w3", TensorProto.FLOAT, w3.shape, w3.flatten()),
            helper.make_tensor("axes", TensorProto.INT64, [2], [3, 4]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    helper.set_model_props(model, SAME_SPEC.to_metadata())
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


STREAM_SPEC = tiny_spec(name="tiny-stream", temporal_stride=8, min_frames=9, window_frames=16, hop_frames=8)
#: A small network of I3D's kinds of temporal layer (a strided "SAME" convolution, a strided max-pool, a
#: second strided convolution, the head's VALID average pool): 8 frames a step, a field of 25 frames.
STREAM_NETWORK = (
    Unit("Conv3d_1", 4, (5, 3, 3), (2, 2, 2)),
    Pool("MaxPool3d_2", (3, 1, 1), (2, 1, 1)),
    Unit("Conv3d_3", 4, (3, 1, 1), (2, 1, 1)),
    Pool("Logits/AvgPool3d", (2, 16, 16), (1, 1, 1), mode="avg", padding="valid"),
    Unit("Logits/Conv3d", None, batch_norm=False, relu=False, bias=True),
)


def make_stream_model(path: Path, seed: int = 0, spec: ModelSpec = STREAM_SPEC) -> Path:
    """A one-pass model at ``path`` and its streaming form beside it (``streaming_companion``), both
    written by vidclass's own graph builders from one set of random weights over :data:`STREAM_NETWORK`:
    the shape of a provisioned model, small enough to run in milliseconds."""
    from vidclass.convert.i3d import FoldedConv, one_pass_model, units
    from vidclass.convert.streaming import streaming_model
    from vidclass.store import streaming_companion

    rng = np.random.default_rng(seed)
    params, channels = {}, 3
    for unit in units(STREAM_NETWORK):
        out = unit.channels or spec.num_classes
        weight = rng.normal(scale=0.5, size=(out, channels, *unit.kernel)).astype(np.float32)
        params[unit.name] = FoldedConv(weight, rng.normal(scale=0.1, size=out).astype(np.float32))
        channels = out
    onnx.save(one_pass_model(params, spec, STREAM_NETWORK), path)
    onnx.save(streaming_model(params, spec, STREAM_NETWORK), streaming_companion(path))
    return path


def solid_frames(colors: list[str], size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    """BGR frames, each filled with one of red/green/blue."""
    bgr = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}
    frames = []
    for name in colors:
        frame = np.zeros((*size, 3), np.uint8)
        frame[:] = bgr[name]
        frames.append(frame)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float, fourcc: str = "MJPG") -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def invoke(*args: str | Path, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """``vidclass ARGS...`` run in-process by Typer's CliRunner; ``result.stdout`` and ``result.stderr``
    are kept apart, so a test sees what goes where."""
    return _RUNNER.invoke(app, [str(a) for a in args], input=input, env=env)


def interruptible() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT.

    A shell that runs the test suite in the background (``nohup``, ``&``) starts it with SIGINT
    ignored, and children inherit that; give the child the default, as a terminal would.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
