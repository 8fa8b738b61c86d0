"""What one output of the network looks at, read from the ONNX graph itself: receptive field, jump, cost.

A 3D CNN's field has one extent in time and another in space. For each of the input's time, height
and width axes this module follows the graph from the input to the first output, node by node in
topological order, and keeps per tensor, for its element 0 along that axis:

* ``size``: how many input samples (frames, pixels) it depends on -- the receptive field;
* ``jump``: how many input samples lie between it and its neighbour -- the cumulative stride;
* ``start``: the first input sample it sees (negative inside the padding).

A layer with kernel extent ``k`` (dilation included: ``d * (k - 1) + 1``), stride ``s`` and padding
``p`` before turns ``(size, jump, start)`` into ``(size + (k - 1) * jump, jump * s, start - p * jump)``.
Where branches meet (an Inception module's Concat, a residual Add, I3D's head adding two time-shifted
slices) the fields are united: the union of their spans, which is the widest branch's field when the
branches are centred alike. A reduction over a whole axis (global pooling, ``ReduceMean``) takes the
axis' size at the analysed input as its kernel and marks the axis *pooled*.

The layout comes from the model's spec (``input_layout``); Transpose, Reshape, Squeeze and friends
move the axes around and are followed. Shapes for a window of ``N`` frames come from ONNX shape
inference with the input's dims fixed, after folding the graph's own shape arithmetic (``Shape`` ->
``Sub`` -> ``Div`` ... -> ``Pad``, which is how an exported TensorFlow "SAME" padding looks) into
constants; the cost is counted from those shapes.

FLOPs are ``2 x`` the multiply-accumulates of Conv, ConvTranspose, MatMul and Gemm: pooling,
activations and additions are left out (they are a fraction of a percent in a CNN).
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, UsageError

try:
    import onnx
    from onnx import helper, numpy_helper, shape_inference
    from onnx.reference import ReferenceEvaluator
except ImportError as e:  # an optional extra: classifying needs only onnxruntime
    raise UsageError(
        "reading the ONNX graph (vidclass inspect, predict --mode dense) needs the onnx package: "
        "pip install 'vidclass[graph]'"
    ) from e
from ..spec import ModelSpec
from ..store import resolve_model

#: The axes a field is followed along, in the order every triple in this module uses.
AXES = ("T", "H", "W")

_CONV = {"Conv", "ConvInteger", "QLinearConv"}
_POOL = {"MaxPool", "AveragePool", "LpPool"}
_GLOBAL_POOL = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}
_REDUCE = set(
    (
        "ReduceMean ReduceMax ReduceMin ReduceSum ReduceProd ReduceL1 ReduceL2 ReduceLogSum "
        "ReduceLogSumExp ReduceSumSquare"
    ).split()
)
#: Ops whose output is about the input's shape, not its values: the field stops there.
_NO_FIELD = {"Shape", "Size", "ConstantOfShape", "Constant", "RandomNormalLike", "RandomUniformLike", "EyeLike"}
#: Element-wise (or channel-only) ops: the output element sees what the input elements saw.
_ELEMENTWISE = set(
    (
        "Abs Add And BatchNormalization Cast CastLike Ceil Celu Clip Cos DequantizeLinear Div Dropout Elu "
        "Equal Erf Exp Expand Floor Gelu Greater GreaterOrEqual HardSigmoid HardSwish Identity IsInf IsNaN "
        "LeakyRelu Less LessOrEqual Log Max Mean Min Mish Mod Mul Neg Not Or PRelu Pow QuantizeLinear "
        "Reciprocal Relu Round Selu Sigmoid Sign Sin Softplus Softsign Sqrt Sub Sum Tanh ThresholdedRelu "
        "Where Xor LRN"
    ).split()
)
#: Matrix products act on the last axes, which hold channels or features in a video network.
_MATMUL = {"MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"}

# Shape arithmetic is folded only when its inputs are this small: a guard against evaluating real
# layers in numpy by accident.
_FOLD_MAX_ELEMENTS = 4096
_FOLD_MAX_ROUNDS = 16


@dataclass(frozen=True)
class AxisField:
    """The field of element 0 of a tensor along one input axis, in input samples."""

    #: Input samples it depends on; None when it pooled an axis of unknown length (all of it).
    size: int | None = 1
    jump: int = 1
    start: int = 0
    #: Reduced over the whole axis: every output sees all of the input along it.
    pooled: bool = False

    def conv(self, extent: int, stride: int, pad_before: int) -> AxisField:
        size = None if self.size is None else self.size + (extent - 1) * self.jump
        return AxisField(size, self.jump * stride, self.start - pad_before * self.jump, self.pooled)

    def pool_all(self, length: int | None) -> AxisField:
        size = None if self.size is None or length is None else self.size + (length - 1) * self.jump
        return AxisField(size, self.jump, self.start, True)

    def shifted(self, samples: int) -> AxisField:
        return replace(self, start=self.start + samples * self.jump)

    def union(self, other: AxisField) -> AxisField:
        pooled = self.pooled or other.pooled
        if self.size is None or other.size is None:
            return AxisField(None, max(self.jump, other.jump), min(self.start, other.start), pooled)
        start = min(self.start, other.start)
        end = max(self.start + self.size, other.start + other.size)
        return AxisField(end - start, max(self.jump, other.jump), start, pooled)


@dataclass(frozen=True)
class _State:
    """Where each followed axis sits in a tensor (None: reduced or squeezed away) and its field."""

    positions: Mapping[str, int | None]
    fields: Mapping[str, AxisField]


@dataclass(frozen=True)
class Layer:
    """One layer on the path from the input to the output; triples are (time, height, width)."""

    name: str
    op: str
    #: Kernel extent per axis (dilation included); None for an op with no kernel of its own (Concat)
    #: or a whole-axis pooling of unknown length.
    kernel: tuple[int | None, int | None, int | None] | None
    stride: tuple[int, int, int] | None
    #: The cumulative receptive field and jump after this layer, in input frames and pixels.
    field: tuple[int | None, int | None, int | None]
    jump: tuple[int, int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "kernel": list(self.kernel) if self.kernel else None,
            "stride": list(self.stride) if self.stride else None,
            "field": list(self.field),
            "jump": list(self.jump),
        }


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    #: Dims as the file declares them: numbers, or names for dynamic axes.
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Trace:
    """What :func:`trace_fields` finds: the layers on the path and the output's field per axis."""

    layers: tuple[Layer, ...]
    output: Mapping[str, AxisField]
    #: Where each followed axis sits in the output; None once pooled or squeezed away.
    output_positions: Mapping[str, int | None]
    warnings: tuple[str, ...]
    #: False when some padding or slice start was not constant: ``start`` values are then guesses.
    starts_known: bool = True


@dataclass(frozen=True)
class Cost:
    """The work of one window of ``frames`` frames (batch 1)."""

    frames: int
    seconds: float
    #: Output time steps for that window (the output's time axis at the analysed shape).
    output_steps: int | None
    macs: int | None
    #: ``2 * macs``.
    flops: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "seconds": round(self.seconds, 4),
            "output_steps": self.output_steps,
            "macs": self.macs,
            "flops": self.flops,
            "gflops": None if self.flops is None else round(self.flops / 1e9, 3),
        }


@dataclass(frozen=True)
class ModelReport:
    """Everything ``vidclass inspect`` shows."""

    path: str
    spec: ModelSpec
    opset: int
    producer: str
    parameters: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    layers: tuple[Layer, ...]
    #: The field of one output step: frames, and (height, width) pixels.
    field_frames: int | None
    field_pixels: tuple[int | None, int | None]
    #: The first input frame output step 0 depends on, for a window of ``cost.frames`` frames
    #: (negative: the padding before the window); step ``j`` starts ``j * stride_frames`` later.
    #: None when the graph's padding could not be resolved.
    field_first_frame: int | None
    stride_frames: int
    stride_pixels: tuple[int, int]
    #: Input axes every output sees whole (pooled over).
    pooled_axes: tuple[str, ...]
    cost: Cost
    warnings: tuple[str, ...] = field(default=())

    @property
    def field_seconds(self) -> float | None:
        return None if self.field_frames is None else self.field_frames / self.spec.frame_rate

    @property
    def stride_seconds(self) -> float:
        return self.stride_frames / self.spec.frame_rate

    def whole_window_steps(self) -> list[int] | None:
        """The output steps of one ``cost.frames`` window whose field covers every frame of it."""
        first, size, steps = self.field_first_frame, self.field_frames, self.cost.output_steps
        if first is None or size is None or steps is None:
            return None
        stride, frames = self.stride_frames, self.cost.frames
        return [j for j in range(steps) if first + j * stride <= 0 and first + j * stride + size >= frames]

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        seconds = self.field_seconds
        return {
            "model": {
                "path": self.path,
                "name": spec.name,
                "version": spec.version,
                "source": spec.source,
                "weights_sha256": spec.weights_sha256,
                "producer": self.producer,
                "opset": self.opset,
                "parameters": self.parameters,
                "classes": spec.num_classes,
                "frame_rate": spec.frame_rate,
                "input_layout": spec.input_layout,
                "channel_order": spec.channel_order,
                "resize_short_side": spec.resize_short_side,
                "crop": [spec.crop_height, spec.crop_width],
                "value_scale": spec.value_scale,
                "value_offset": spec.value_offset,
                "window_frames": spec.window_frames,
                "hop_frames": spec.hop_frames,
                "min_frames": spec.min_frames,
                "temporal_stride": spec.temporal_stride,
                "output_kind": spec.output_kind,
            },
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "layers": [layer.to_dict() for layer in self.layers],
            "receptive_field": {
                "frames": self.field_frames,
                "seconds": None if seconds is None else round(seconds, 4),
                "pixels": list(self.field_pixels),
                "first_frame": self.field_first_frame,
            },
            "stride": {
                "frames": self.stride_frames,
                "seconds": round(self.stride_seconds, 4),
                "pixels": list(self.stride_pixels),
            },
            "pooled_axes": list(self.pooled_axes),
            "window": self.cost.to_dict(),
            "warnings": list(self.warnings),
        }


# --- reading the graph --------------------------------------------------------------------------


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _ints(value: Any) -> list[int] | None:
    if value is None:
        return None
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _input_value(node: onnx.NodeProto, index: int, values: Mapping[str, np.ndarray]) -> np.ndarray | None:
    if index < len(node.input) and node.input[index] and node.input[index] in values:
        return values[node.input[index]]
    return None


def _dims(type_proto: onnx.TypeProto) -> tuple[int | str, ...] | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in type_proto.tensor_type.shape.dim
    )


def _tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    elem = value.type.tensor_type.elem_type
    dtype = onnx.TensorProto.DataType.Name(elem).lower() if elem else "?"
    return TensorInfo(value.name, dtype, _dims(value.type) or ())


def _topological(nodes: Sequence[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    """Nodes in an order where every input is produced before use (Kahn's algorithm, file order
    kept among equals). ONNX asks files to be sorted already; this makes sure."""
    produced = {o for n in nodes for o in n.output}
    waiting = [sum(1 for i in set(n.input) if i in produced and i not in available) for n in nodes]
    consumers: dict[str, list[int]] = {}
    for k, n in enumerate(nodes):
        for i in set(n.input):
            consumers.setdefault(i, []).append(k)
    ready = deque(k for k, count in enumerate(waiting) if count == 0)
    order: list[int] = []
    while ready:
        k = ready.popleft()
        order.append(k)
        for o in nodes[k].output:
            for c in consumers.get(o, ()):
                waiting[c] -= 1
                if waiting[c] == 0:
                    ready.append(c)
    seen = set(order)
    # A cycle (not valid ONNX) leaves nodes behind: they follow in the file's order.
    return [nodes[k] for k in order] + [n for k, n in enumerate(nodes) if k not in seen]


# --- static shapes: fix the input, fold the shape arithmetic, infer -------------------------------


def static_shapes(
    model: onnx.ModelProto, input_dims: Mapping[str, Sequence[int]]
) -> tuple[dict[str, tuple[int | None, ...]], dict[str, np.ndarray]]:
    """Shapes of every tensor when the inputs have ``input_dims``, and the values of small constants.

    The weights stay out of the copy that is inferred (large initializers become typed inputs), and
    shape arithmetic is evaluated node by node into constants until shape inference has nothing new.
    """
    graph = model.graph
    values: dict[str, np.ndarray] = {}
    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    g = light.graph
    g.name = graph.name
    g.node.extend(graph.node)
    g.output.extend(helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None) for o in graph.output)
    initializer_names = set()
    for init in graph.initializer:
        initializer_names.add(init.name)
        if math.prod(init.dims) <= _FOLD_MAX_ELEMENTS:
            g.initializer.append(init)
            values[init.name] = numpy_helper.to_array(init)
        else:
            g.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    for inp in graph.input:
        if inp.name in initializer_names:
            continue
        dims = input_dims.get(inp.name)
        if dims is None:
            g.input.append(inp)
        else:
            g.input.append(helper.make_tensor_value_info(inp.name, inp.type.tensor_type.elem_type, list(dims)))
    opset = _default_opset(model)

    shapes: dict[str, tuple[int | None, ...]] = {}
    for _ in range(_FOLD_MAX_ROUNDS):
        inferred = shape_inference.infer_shapes(light, data_prop=True)
        shapes = {}
        for v in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
            dims = _dims(v.type)
            if dims is not None:
                shapes[v.name] = tuple(d if isinstance(d, int) and d > 0 else None for d in dims)
        for name, array in values.items():
            shapes.setdefault(name, tuple(array.shape))
        folded = _fold(g.node, shapes, values, opset)
        if not folded:
            break
        keep = [n for n in g.node if not all(o in values for o in n.output)]
        used = {i for n in keep for i in n.input} | {o.name for o in g.output}
        present = {i.name for i in g.initializer}
        del g.node[:]
        g.node.extend(keep)
        for name in folded:
            if name in used and name not in present:
                g.initializer.append(numpy_helper.from_array(values[name], name))
    return shapes, values


def _default_opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return onnx.defs.onnx_opset_version()


def _fold(
    nodes: Sequence[onnx.NodeProto],
    shapes: Mapping[str, tuple[int | None, ...]],
    values: dict[str, np.ndarray],
    opset: int,
) -> list[str]:
    """Evaluate the nodes whose inputs are known and small; returns the names newly known."""
    new: list[str] = []
    for node in nodes:
        if node.domain not in ("", "ai.onnx") or all(o in values for o in node.output):
            continue
        out: list[np.ndarray] | None = None
        if node.op_type in ("Shape", "Size"):
            dims = shapes.get(node.input[0])
            if dims is None or any(d is None for d in dims):
                continue
            if node.op_type == "Size":
                out = [np.array(math.prod(dims), np.int64)]  # type: ignore[arg-type]
            else:
                start, end = _attr(node, "start", 0), _attr(node, "end", None)
                out = [np.array(dims[start:end], np.int64)]
        elif node.op_type == "Constant" or (
            any(node.input)
            and all(i == "" or i in values for i in node.input)
            and node.op_type not in _CONV | _POOL | _MATMUL
            and all(values[i].size <= _FOLD_MAX_ELEMENTS for i in node.input if i)
        ):
            try:
                feeds = {i: values[i] for i in node.input if i}
                out = list(ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds))
            except Exception:  # noqa: BLE001 -- an op the reference cannot run simply stays unknown
                continue
        if out is None or any(np.asarray(o).size > _FOLD_MAX_ELEMENTS for o in out):
            continue
        for name, array in zip(node.output, out, strict=False):
            if name:
                values[name] = np.asarray(array)
                new.append(name)
    return new


# --- following the fields -----------------------------------------------------------------------


def trace_fields(
    model: onnx.ModelProto,
    layout: str,
    shapes: Mapping[str, tuple[int | None, ...]] | None = None,
    values: Mapping[str, np.ndarray] | None = None,
) -> Trace:
    """Follow the T, H and W fields from the model's input (axes named by ``layout``, e.g. "NTHWC")
    to its first output. ``shapes`` and ``values`` (from :func:`static_shapes`) resolve paddings,
    slices and whole-axis reductions; without them, padding counts as 0 and such pools as unknown."""
    shapes = shapes or {}
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    constants: dict[str, np.ndarray] = {
        name: numpy_helper.to_array(t) for name, t in initializers.items() if math.prod(t.dims) <= _FOLD_MAX_ELEMENTS
    }
    constants.update(values or {})
    data_inputs = [i for i in graph.input if i.name not in initializers]
    if len(data_inputs) != 1:
        raise ModelError(f"expected one input tensor, found {len(data_inputs)}")
    if not graph.output:
        raise ModelError("the graph has no output")
    if sorted(layout) != sorted(set(layout)) or not set(AXES) <= set(layout):
        raise ModelError(f"layout {layout!r} does not name the axes T, H and W once each")
    source = data_inputs[0].name
    states: dict[str, _State] = {source: _State({a: layout.index(a) for a in AXES}, {a: AxisField() for a in AXES})}
    ancestors = _ancestors(graph, graph.output[0].name)
    tracer = _Tracer(shapes, constants, initializers)
    layers: list[Layer] = []
    for index, node in enumerate(_topological(graph.node, {source, *initializers})):
        inputs = [(i, states[i]) for i in node.input if i in states]
        if not inputs or node.op_type in _NO_FIELD:
            continue
        out_state, kernel, stride = tracer.step(node, inputs)
        for name in node.output:
            if name:
                states[name] = out_state
        if not any(o in ancestors for o in node.output):
            continue
        merged = len(inputs) > 1 and node.op_type == "Concat"
        if kernel is None and not merged:
            # Any other op that still changed a field (I3D's head adds two time-shifted slices).
            widest = _widest([state for _, state in inputs])
            if all(_extent(out_state.fields[a]) == _extent(widest[a]) for a in AXES):
                continue  # a padding or a slice moves the field; a layer is what widens or strides it
            kernel, stride = _effective(widest, out_state.fields)
        layers.append(
            Layer(
                _layer_name(node, index, initializers),
                node.op_type,
                kernel,
                stride,
                (out_state.fields["T"].size, out_state.fields["H"].size, out_state.fields["W"].size),
                (out_state.fields["T"].jump, out_state.fields["H"].jump, out_state.fields["W"].jump),
            )
        )
    out = states.get(graph.output[0].name)
    if out is None:
        raise ModelError(f"output {graph.output[0].name!r} does not depend on input {source!r}")
    return Trace(tuple(layers), dict(out.fields), dict(out.positions), tuple(tracer.warnings), tracer.starts_known)


def _ancestors(graph: onnx.GraphProto, output: str) -> set[str]:
    producers = {o: n for n in graph.node for o in n.output}
    seen: set[str] = set()
    todo = [output]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producers.get(name)
        if node is not None:
            todo.extend(i for i in node.input if i)
    return seen


def _extent(f: AxisField) -> tuple[int | None, int, bool]:
    return f.size, f.jump, f.pooled


def _widest(states: Sequence[_State]) -> dict[str, AxisField]:
    return {a: max((s.fields[a] for s in states), key=lambda f: math.inf if f.size is None else f.size) for a in AXES}


def _effective(before: Mapping[str, AxisField], after: Mapping[str, AxisField]) -> tuple[tuple, tuple]:
    """Kernel and stride that would turn ``before`` into ``after`` (for ops without their own)."""
    kernel = []
    stride = []
    for a in AXES:
        b, f = before[a], after[a]
        kernel.append(None if b.size is None or f.size is None else (f.size - b.size) // b.jump + 1)
        stride.append(max(1, f.jump // b.jump))
    return tuple(kernel), tuple(stride)


def _layer_name(node: onnx.NodeProto, index: int, initializers: Mapping[str, onnx.TensorProto]) -> str:
    # A weight's name says more than an exporter's node name ("mixed.0.b1b.conv" vs "node_Conv_81").
    if node.op_type in _CONV and len(node.input) > 1 and node.input[1] in initializers:
        return node.input[1].removesuffix(".weight")
    return node.name or f"{node.op_type}_{index}"


class _Tracer:
    def __init__(
        self,
        shapes: Mapping[str, tuple[int | None, ...]],
        values: Mapping[str, np.ndarray],
        initializers: Mapping[str, onnx.TensorProto],
    ) -> None:
        self.shapes = shapes
        self.values = values
        self.initializers = initializers
        self.warnings: list[str] = []
        self.starts_known = True

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def rank(self, name: str) -> int | None:
        dims = self.shapes.get(name)
        return None if dims is None else len(dims)

    def length(self, name: str, position: int) -> int | None:
        dims = self.shapes.get(name)
        return dims[position] if dims is not None and position < len(dims) else None

    def step(self, node: onnx.NodeProto, inputs: list[tuple[str, _State]]) -> tuple[_State, tuple | None, tuple | None]:
        """The output's state of ``node`` from its inputs that carry a field, with the kernel and
        stride per axis for ops that have them."""
        op = node.op_type
        first = inputs[0][1]
        if op in _CONV or op in _POOL:
            return self._window(node, first)
        if op in _GLOBAL_POOL:
            rank = self.rank(node.input[0])
            axes = (
                [p for p in first.positions.values() if p is not None and p >= 2]
                if rank is None
                else list(range(2, rank))
            )
            return self._pool_all(node, first, axes, keep=True)
        if op in _REDUCE:
            axes = _ints(_attr(node, "axes")) or _ints(_input_value(node, 1, self.values))
            rank = self.rank(node.input[0])
            if axes is None:
                if _attr(node, "noop_with_empty_axes", 0):
                    return first, None, None
                axes = list(range(rank)) if rank is not None else [p for p in first.positions.values() if p is not None]
            axes = [a % rank if rank and a < 0 else a for a in axes]
            return self._pool_all(node, first, axes, keep=bool(_attr(node, "keepdims", 1)))
        if op == "Pad":
            return self._pad(node, first), None, None
        if op == "Transpose":
            return self._transpose(node, first), None, None
        if op in ("Squeeze", "Unsqueeze"):
            return self._squeeze(node, first), None, None
        if op in ("Reshape", "Flatten"):
            return self._reshape(node, first), None, None
        if op == "Slice":
            return self._slice(node, first), None, None
        if op == "Split":
            return first, None, None
        if op == "Concat":
            axis = int(_attr(node, "axis", 0))
            rank = self.rank(node.output[0])
            axis = axis % rank if rank and axis < 0 else axis
            if axis in first.positions.values():
                self.warn(f"{node.name or op}: concatenates along a followed axis; fields may be off")
            return self._union(node, inputs), None, None
        if op in _MATMUL:
            return self._union(node, inputs), None, None
        if op in ("Softmax", "LogSoftmax", "Hardmax"):
            rank = self.rank(node.input[0])
            axis = int(_attr(node, "axis", -1))
            axis = axis % rank if rank and axis < 0 else axis
            if axis in first.positions.values():
                return self._pool_all(node, first, [axis], keep=True)
            return first, None, None
        if op == "InstanceNormalization":
            rank = self.rank(node.input[0]) or 5
            return self._pool_all(node, first, list(range(2, rank)), keep=True)
        if op not in _ELEMENTWISE:
            self.warn(f"op {op} is not known to vidclass inspect; assumed to keep the field")
        return self._union(node, inputs), None, None

    # Ops with a sliding window: Conv and the pools.
    def _window(self, node: onnx.NodeProto, state: _State) -> tuple[_State, tuple, tuple]:
        kernel = _ints(_attr(node, "kernel_shape"))
        if kernel is None:
            weight = node.input[3] if node.op_type == "QLinearConv" else node.input[1]
            dims = self.shapes.get(weight) or (
                tuple(self.initializers[weight].dims) if weight in self.initializers else None
            )
            if dims is None or any(d is None for d in dims[2:]):
                raise ModelError(f"{node.name or node.op_type}: kernel size unknown")
            kernel = [int(d) for d in dims[2:]]  # type: ignore[arg-type]
        n = len(kernel)
        strides = _ints(_attr(node, "strides")) or [1] * n
        dilations = _ints(_attr(node, "dilations")) or [1] * n
        pads = _ints(_attr(node, "pads")) or [0] * (2 * n)
        auto_pad = _attr(node, "auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        data = node.input[0]
        fields = dict(state.fields)
        kernel_out: list[int | None] = [1, 1, 1]
        stride_out = [1, 1, 1]
        for i, a in enumerate(AXES):
            p = state.positions[a]
            if p is None:
                continue
            j = p - 2
            if not 0 <= j < n:
                self.warn(f"{node.name or node.op_type}: the {a} axis is not one of its spatial axes")
                continue
            extent = dilations[j] * (kernel[j] - 1) + 1
            if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                size = self.length(data, p)
                if size is None:
                    self.warn(f"{node.name or node.op_type}: auto_pad with an unknown length; padding taken as 0")
                    self.starts_known = False
                    before = 0
                else:
                    total = max(0, (-(-size // strides[j]) - 1) * strides[j] + extent - size)
                    before = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            elif auto_pad == "VALID":
                before = 0
            else:
                before = pads[j]
            fields[a] = fields[a].conv(extent, strides[j], before)
            kernel_out[i], stride_out[i] = extent, strides[j]
        return _State(state.positions, fields), tuple(kernel_out), tuple(stride_out)

    def _pool_all(
        self, node: onnx.NodeProto, state: _State, axes: Sequence[int], keep: bool
    ) -> tuple[_State, tuple | None, tuple | None]:
        fields = dict(state.fields)
        positions = dict(state.positions)
        kernel: list[int | None] = [1, 1, 1]
        touched = False
        for i, a in enumerate(AXES):
            p = state.positions[a]
            if p is None or p not in axes:
                continue
            length = self.length(node.input[0], p)
            fields[a] = fields[a].pool_all(length)
            kernel[i] = length
            touched = True
        if not keep:
            for a, p in state.positions.items():
                if p is not None:
                    positions[a] = None if p in axes else p - sum(1 for x in axes if x < p)
        out = _State(positions, fields)
        return (out, tuple(kernel), (1, 1, 1)) if touched else (out, None, None)

    def _pad(self, node: onnx.NodeProto, state: _State) -> _State:
        pads = _ints(_input_value(node, 1, self.values)) if len(node.input) > 1 else _ints(_attr(node, "pads"))
        if pads is None:
            self.warn(f"{node.name or 'Pad'}: padding not constant; field positions taken as unpadded")
            self.starts_known = False
            return state
        rank = len(pads) // 2
        axes = _ints(_input_value(node, 3, self.values)) or list(range(rank))
        data_rank = self.rank(node.input[0])
        axes = [x % data_rank if data_rank and x < 0 else x for x in axes]
        fields = dict(state.fields)
        for a, p in state.positions.items():
            if p is not None and p in axes:
                before = pads[axes.index(p)]
                fields[a] = fields[a].shifted(-before)
        return _State(state.positions, fields)

    def _transpose(self, node: onnx.NodeProto, state: _State) -> _State:
        perm = _ints(_attr(node, "perm"))
        if perm is None:
            rank = self.rank(node.input[0])
            if rank is None:
                self.warn(f"{node.name or 'Transpose'}: no perm and unknown rank")
                return state
            perm = list(reversed(range(rank)))
        positions = {a: (None if p is None else perm.index(p)) for a, p in state.positions.items()}
        return _State(positions, state.fields)

    def _squeeze(self, node: onnx.NodeProto, state: _State) -> _State:
        axes = _ints(_attr(node, "axes")) or _ints(_input_value(node, 1, self.values))
        in_rank = self.rank(node.input[0])
        positions = dict(state.positions)
        if node.op_type == "Squeeze":
            if axes is None:
                dims = self.shapes.get(node.input[0])
                if dims is None:
                    self.warn(f"{node.name or 'Squeeze'}: which axes it removes is unknown")
                    return state
                axes = [i for i, d in enumerate(dims) if d == 1]
            axes = [x % in_rank if in_rank and x < 0 else x for x in axes]
            fields = dict(state.fields)
            for a, p in state.positions.items():
                if p is not None:
                    positions[a] = None if p in axes else p - sum(1 for x in axes if x < p)
                    if p in axes:
                        # One position left along the axis (a VALID pool as wide as the map, as in
                        # I3D's head): every output sees it whole, as after a global pool.
                        fields[a] = fields[a].pool_all(1)
            return _State(positions, fields)
        else:
            if axes is None:
                self.warn(f"{node.name or 'Unsqueeze'}: axes unknown")
                return state
            out_rank = (in_rank or 0) + len(axes)
            inserted = sorted(x % out_rank if x < 0 else x for x in axes)
            kept = [i for i in range(out_rank) if i not in inserted]
            for a, p in state.positions.items():
                if p is not None:
                    positions[a] = kept[p] if p < len(kept) else None
        return _State(positions, state.fields)

    def _reshape(self, node: onnx.NodeProto, state: _State) -> _State:
        before = self.shapes.get(node.input[0])
        after = self.shapes.get(node.output[0])
        positions: dict[str, int | None] = {}
        for a, p in state.positions.items():
            if p is None:
                positions[a] = None
                continue
            target = None
            if before is not None and after is not None and all(d is not None for d in (*before, *after)):
                prefix = math.prod(before[:p])  # type: ignore[arg-type]
                for q in range(len(after)):
                    if math.prod(after[:q]) == prefix and after[q] == before[p]:  # type: ignore[arg-type]
                        target = q
                        break
            if target is None and (before is None or before[p] != 1):
                self.warn(f"{node.name or node.op_type}: the {a} axis could not be followed through it")
            positions[a] = target
        return _State(positions, state.fields)

    def _slice(self, node: onnx.NodeProto, state: _State) -> _State:
        if len(node.input) > 1:
            starts = _ints(_input_value(node, 1, self.values))
            axes = _ints(_input_value(node, 3, self.values))
            steps = _ints(_input_value(node, 4, self.values))
        else:
            starts, axes, steps = _ints(_attr(node, "starts")), _ints(_attr(node, "axes")), None
        if starts is None:
            if any(p is not None for p in state.positions.values()):
                self.warn(f"{node.name or 'Slice'}: starts not constant; field positions taken as unshifted")
                self.starts_known = False
            return state
        rank = self.rank(node.input[0])
        axes = axes or list(range(len(starts)))
        axes = [x % rank if rank and x < 0 else x for x in axes]
        steps = steps or [1] * len(axes)
        fields = dict(state.fields)
        for a, p in state.positions.items():
            if p is None or p not in axes:
                continue
            k = axes.index(p)
            start, step = starts[k], steps[k]
            length = self.length(node.input[0], p)
            if start < 0:
                if length is None:
                    self.warn(f"{node.name or 'Slice'}: negative start on an axis of unknown length")
                    self.starts_known = False
                    continue
                start = max(0, start + length)
            elif length is not None:
                start = min(start, length)
            if step < 1:
                self.warn(f"{node.name or 'Slice'}: reverses the {a} axis; its field is not followed")
                continue
            shifted = fields[a].shifted(start)
            fields[a] = replace(shifted, jump=shifted.jump * step)
        return _State(state.positions, fields)

    def _union(self, node: onnx.NodeProto, inputs: Sequence[tuple[str, _State]]) -> _State:
        """Each output element sees what the matching elements of all inputs saw."""
        if len(inputs) == 1:
            return inputs[0][1]
        # Broadcasting aligns the last axes: an input of lower rank sits further right.
        out_rank = self.rank(node.output[0])
        fields: dict[str, AxisField] = {}
        positions: dict[str, int | None] = {}
        for a in AXES:
            merged: AxisField | None = None
            position: int | None = None
            for name, state in inputs:
                f = state.fields[a]
                if merged is not None and f.jump != merged.jump and not (f.pooled or merged.pooled):
                    self.warn(f"{node.name or node.op_type}: joins {a} fields of different strides")
                merged = f if merged is None else merged.union(f)
                p, rank = state.positions[a], self.rank(name)
                if p is not None and position is None:
                    position = p + (out_rank - rank) if out_rank and rank else p
            fields[a] = merged if merged is not None else AxisField()
            positions[a] = position
        return _State(positions, fields)


# --- cost ---------------------------------------------------------------------------------------


def count_macs(
    model: onnx.ModelProto, shapes: Mapping[str, tuple[int | None, ...]], nodes: set[str] | None = None
) -> tuple[int | None, list[str]]:
    """Multiply-accumulates of the Conv, ConvTranspose, MatMul and Gemm nodes (those whose outputs
    are in ``nodes``, when given); None with the names of the nodes whose shapes are unknown."""
    initializers = {i.name: tuple(i.dims) for i in model.graph.initializer}

    def dims(name: str) -> tuple[int, ...] | None:
        d = shapes.get(name) or initializers.get(name)
        if d is None or any(x is None for x in d):
            return None
        return tuple(int(x) for x in d)  # type: ignore[arg-type]

    total = 0
    unknown: list[str] = []
    for node in model.graph.node:
        if nodes is not None and not any(o in nodes for o in node.output):
            continue
        op = node.op_type
        if op not in _CONV | _MATMUL | {"ConvTranspose"}:
            continue
        out = dims(node.output[0])
        if op in ("Conv", "ConvInteger", "QLinearConv"):
            weight = dims(node.input[3] if op == "QLinearConv" else node.input[1])
            macs = None if out is None or weight is None else math.prod(out) * math.prod(weight[1:])
        elif op == "ConvTranspose":
            data, weight = dims(node.input[0]), dims(node.input[1])
            macs = None if data is None or weight is None else math.prod(data) * math.prod(weight[1:])
        elif op == "Gemm":
            a = dims(node.input[0])
            k = None if a is None else a[0] if _attr(node, "transA", 0) else a[1]
            macs = None if out is None or k is None else math.prod(out) * k
        else:
            a = dims(node.input[0])
            macs = None if out is None or a is None else math.prod(out) * a[-1]
        if macs is None:
            unknown.append(node.name or op)
        else:
            total += macs
    return (None if unknown else total), unknown


# --- the report ---------------------------------------------------------------------------------


def analyse(model: onnx.ModelProto, spec: ModelSpec, frames: int, path: str = "model") -> ModelReport:
    """The full ``inspect`` report of an in-memory model with its spec, for a window of ``frames``."""
    graph = model.graph
    initializer_names = {i.name for i in graph.initializer}
    data_inputs = [i for i in graph.input if i.name not in initializer_names]
    if len(data_inputs) != 1:
        raise ModelError(f"{path}: expected one input tensor, found {len(data_inputs)}")
    source = data_inputs[0]
    declared = _dims(source.type) or ()
    if len(declared) != len(spec.input_layout):
        raise ModelError(
            f"{path}: input has rank {len(declared)}, the layout {spec.input_layout} has {len(spec.input_layout)}"
        )
    wanted = {"N": 1, "T": frames, "H": spec.crop_height, "W": spec.crop_width, "C": 3}
    fixed = [wanted[a] for a in spec.input_layout]
    warnings: list[str] = []
    for axis, have, want in zip(spec.input_layout, declared, fixed, strict=True):
        if isinstance(have, int) and have > 0 and have != want:
            warnings.append(f"input axis {axis} is {have} in the graph but {want} by the metadata")
    try:
        shapes, values = static_shapes(model, {source.name: fixed})
    except Exception as e:  # noqa: BLE001 -- onnx raises its own unrelated types for a bad graph
        warnings.append(f"shape inference failed ({str(e).splitlines()[0]}); costs unknown")
        shapes, values = {}, {}
    trace = trace_fields(model, spec.input_layout, shapes, values)
    warnings.extend(trace.warnings)
    t, h, w = (trace.output[a] for a in AXES)
    if t.jump != spec.temporal_stride:
        warnings.append(
            f"the graph's time stride is {t.jump} frames, the metadata says temporal_stride {spec.temporal_stride}"
        )
    ancestors = _ancestors(graph, graph.output[0].name)
    macs, unknown = count_macs(model, shapes, ancestors)
    if unknown:
        warnings.append(
            f"cost unknown: no static shape for {', '.join(unknown[:3])}"
            + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        )
    out_dims = shapes.get(graph.output[0].name)
    position = trace.output_positions["T"]
    steps = out_dims[position] if out_dims is not None and position is not None and position < len(out_dims) else None
    params = sum(math.prod(i.dims) for i in graph.initializer)
    opset = _default_opset(model)
    return ModelReport(
        path=path,
        spec=spec,
        opset=opset,
        producer=" ".join(p for p in (model.producer_name, model.producer_version) if p),
        parameters=params,
        inputs=tuple(_tensor_info(i) for i in data_inputs),
        outputs=tuple(_tensor_info(o) for o in graph.output),
        layers=trace.layers,
        field_frames=t.size,
        field_pixels=(h.size, w.size),
        field_first_frame=t.start if trace.starts_known else None,
        stride_frames=t.jump,
        stride_pixels=(h.jump, w.jump),
        pooled_axes=tuple(a for a in AXES if trace.output[a].pooled),
        cost=Cost(frames, frames / spec.frame_rate, steps, macs, None if macs is None else 2 * macs),
        warnings=tuple(warnings),
    )


def load_model(model: str | os.PathLike[str] | None = None) -> tuple[Path, onnx.ModelProto, ModelSpec]:
    """Find a model as ``predict`` does, read the graph and its vidclass spec."""
    path = resolve_model(model)
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 -- protobuf's DecodeError and onnx's own errors share no base
        cause = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: not a readable ONNX file ({cause})") from e
    spec = ModelSpec.from_metadata({p.key: p.value for p in proto.metadata_props}, origin=str(path))
    return path, proto, spec


def inspect_model(model: str | os.PathLike[str] | None = None, frames: int | None = None) -> ModelReport:
    """``vidclass inspect``: the model's contract, graph, receptive field and cost for ``frames`` frames
    (default: the model's window)."""
    path, proto, spec = load_model(model)
    frames = frames or spec.window_frames
    if frames < spec.min_frames:
        raise UsageError(f"--frames {frames} is below the model's minimum of {spec.min_frames}")
    return analyse(proto, spec, frames, str(path))
