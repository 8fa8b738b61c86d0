"""Receptive field, jump and cost read from ONNX graphs built here, whose answers are worked out by
hand in each test; then ``vidclass inspect`` on the tiny model and on the real I3D export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from synthetic import invoke, make_tiny_model, tiny_spec

from vidclass.errors import ModelError, UsageError
from vidclass.graph.receptive import analyse, count_macs, inspect_model, static_shapes, trace_fields


class Net:
    """A small graph on a ``[1, C, T, H, W]`` (NCTHW) input called ``x``; ops are chained by name."""

    def __init__(self, channels: int = 1, shape: tuple[int | str, ...] = (1, 1, "T", 16, 16), layout: str = "NCTHW"):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.channels = {"x": channels}
        self.shape = shape
        self.layout = layout
        self.count = 0

    def _name(self, op: str) -> str:
        self.count += 1
        return f"{op.lower()}{self.count}"

    def conv(self, x: str, kernel, stride=(1, 1, 1), pads=(0,) * 6, dilations=(1, 1, 1), out: int = 1) -> str:
        name = self._name("conv")
        weight = np.ones((out, self.channels[x], *kernel), np.float32)
        self.inits.append(helper.make_tensor(f"{name}.weight", TensorProto.FLOAT, weight.shape, weight.flatten()))
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{name}.weight"],
                [name],
                kernel_shape=list(kernel),
                strides=list(stride),
                pads=list(pads),
                dilations=list(dilations),
            )
        )
        self.channels[name] = out
        return name

    def op(self, op: str, inputs: list[str], channels: int | None = None, **attrs) -> str:
        name = self._name(op)
        self.nodes.append(helper.make_node(op, inputs, [name], **attrs))
        self.channels[name] = channels if channels is not None else self.channels.get(inputs[0], 1)
        return name

    def const(self, values, dtype=TensorProto.INT64) -> str:
        name = self._name("const")
        values = np.asarray(values)
        self.inits.append(helper.make_tensor(name, dtype, values.shape, values.flatten().tolist()))
        return name

    def model(self, output: str, out_shape=None) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "net",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(self.shape))],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)],
            initializer=self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 8
        return model

    def trace(self, output: str, frames: int = 32):
        model = self.model(output)
        dims = [frames if d == "T" else d for d in self.shape]
        shapes, values = static_shapes(model, {"x": dims})
        return trace_fields(model, self.layout, shapes, values)


def fields(trace) -> tuple:
    return tuple(trace.output[a].size for a in "THW")


def jumps(trace) -> tuple:
    return tuple(trace.output[a].jump for a in "THW")


def test_one_conv_k3_s1_sees_3() -> None:
    net = Net()
    t = net.trace(net.conv("x", (3, 3, 3)))
    assert fields(t) == (3, 3, 3) and jumps(t) == (1, 1, 1)
    assert [(layer.op, layer.kernel, layer.stride) for layer in t.layers] == [("Conv", (3, 3, 3), (1, 1, 1))]


def test_k3_s2_then_k3_s1_sees_7_with_jump_2() -> None:
    # 3 after the first; the second's 3 taps are 2 input samples apart: 3 + (3 - 1) * 2 = 7.
    net = Net()
    t = net.trace(net.conv(net.conv("x", (3, 3, 3), (2, 2, 2)), (3, 3, 3)))
    assert fields(t) == (7, 7, 7) and jumps(t) == (2, 2, 2)
    assert [layer.field for layer in t.layers] == [(3, 3, 3), (7, 7, 7)]
    assert [layer.jump for layer in t.layers] == [(2, 2, 2), (2, 2, 2)]


def test_time_and_space_kernels_apart() -> None:
    # (3,1,1) in time; then (1,3,3) stride (1,2,2) in space; then (5,3,3) with time dilation 2.
    # T: 3, then 3, then 3 + (2*(5-1)+1 - 1) * 1 = 11.  H/W: 1, 3 (jump 2), 3 + 2*2 = 7.
    net = Net()
    x = net.conv("x", (3, 1, 1))
    x = net.conv(x, (1, 3, 3), (1, 2, 2))
    t = net.trace(net.conv(x, (5, 3, 3), dilations=(2, 1, 1)))
    assert fields(t) == (11, 7, 7) and jumps(t) == (1, 2, 2)
    assert t.layers[-1].kernel == (9, 3, 3)  # the dilated extent


def test_nodes_out_of_order_are_sorted_first() -> None:
    net = Net()
    out = net.conv(net.conv("x", (3, 3, 3), (2, 2, 2)), (3, 3, 3))
    net.nodes.reverse()
    assert fields(net.trace(out)) == (7, 7, 7)


def test_pooling_counts_like_a_kernel() -> None:
    # MaxPool (1,3,3) s (1,2,2) after a (3,3,3) conv: H 3 + 2*1 = 5, jump 2; then AveragePool 2 s 2:
    # T 3 + 1 = 4 (jump 2), H 5 + 1*2 = 7 (jump 4).
    net = Net()
    x = net.op("MaxPool", [net.conv("x", (3, 3, 3))], kernel_shape=[1, 3, 3], strides=[1, 2, 2])
    t = net.trace(net.op("AveragePool", [x], kernel_shape=[2, 2, 2], strides=[2, 2, 2]))
    assert fields(t) == (4, 7, 7) and jumps(t) == (2, 4, 4)


def test_inception_branches_take_the_widest_field() -> None:
    # Branches of 1, 5 (two 3s) and 3 (pool 3 then a 1x1), padded to keep the size: concat sees 5;
    # a 3x3x3 conv after it: 5 + 2 = 7.
    net = Net(channels=2)
    a = net.conv("x", (1, 1, 1))
    b = net.conv(net.conv("x", (3, 3, 3), pads=(1,) * 6), (3, 3, 3), pads=(1,) * 6)
    c = net.conv(net.op("MaxPool", ["x"], kernel_shape=[3, 3, 3], pads=[1] * 6), (1, 1, 1))
    cat = net.op("Concat", [a, b, c], channels=3, axis=1)
    t = net.trace(net.conv(cat, (3, 3, 3), pads=(1,) * 6))
    assert fields(t) == (7, 7, 7)
    rows = {layer.op: layer for layer in t.layers}
    assert rows["Concat"].field == (5, 5, 5) and rows["Concat"].kernel is None
    assert len([layer for layer in t.layers if layer.op == "Conv"]) == 5


def test_time_shifted_branches_unite() -> None:
    # I3D's head: x[:, :, :-1] + x[:, :, 1:] after a (3,1,1) conv is a 2-tap kernel in time:
    # 3 + 1 = 4 frames, and the Add is listed as a layer with kernel 2 in time.
    net = Net()
    x = net.conv("x", (3, 1, 1))
    left = net.op("Slice", [x, net.const([0]), net.const([-1]), net.const([2])])
    right = net.op("Slice", [x, net.const([1]), net.const([2**62]), net.const([2])])
    t = net.trace(net.op("Add", [left, right]))
    assert fields(t) == (4, 1, 1)
    assert (t.layers[-1].op, t.layers[-1].kernel) == ("Add", (2, 1, 1))


def test_channels_last_layout_followed_through_a_transpose() -> None:
    # NTHWC input, transposed to NCTHW inside the graph; kernel (3, 5, 7) must land on T, H, W.
    net = Net(shape=(1, "T", 16, 16, 1), layout="NTHWC")
    x = net.op("Transpose", ["x"], perm=[0, 4, 1, 2, 3])
    t = net.trace(net.conv(x, (3, 5, 7)))
    assert fields(t) == (3, 5, 7)


def test_global_reduction_pools_an_axis_away() -> None:
    # (3,3,3) stride 2 conv, padded 1, on 16x16 -> 8x8 maps with jump 2, field 3; the mean over the
    # whole 8x8 adds (8 - 1) * 2 = 14: 17 pixels, and H, W leave the output; T stays at axis 2.
    net = Net()
    x = net.conv("x", (3, 3, 3), (2, 2, 2), pads=(1,) * 6)
    t = net.trace(net.op("ReduceMean", [x, net.const([3, 4])], keepdims=0), frames=8)
    assert fields(t) == (3, 17, 17) and jumps(t) == (2, 2, 2)
    assert t.output["H"].pooled and not t.output["T"].pooled
    assert t.output_positions == {"T": 2, "H": None, "W": None}


def test_global_average_pool_uses_the_map_size() -> None:
    net = Net()
    t = net.trace(net.op("GlobalAveragePool", [net.conv("x", (1, 3, 3), (1, 2, 2))]), frames=4)
    # H, W: 16 -> 7 (valid, stride 2); the pool spans 7 positions 2 apart: 3 + 6 * 2 = 15.
    # T: it pools every axis after the channels, time too: 4 frames, 1 apart: 1 + 3 = 4.
    assert fields(t) == (4, 15, 15) and t.output["W"].pooled and t.output["T"].pooled


def test_padding_moves_the_field_without_widening_it() -> None:
    net = Net()
    t = net.trace(net.conv("x", (3, 3, 3), pads=(2, 1, 1, 0, 1, 1)))
    assert fields(t) == (3, 3, 3)
    assert (t.output["T"].start, t.output["H"].start) == (-2, -1)
    assert t.starts_known


def same_padding(net: Net, x: str, kernel: int, stride: int) -> str:
    """TensorFlow "SAME" in time written as graph arithmetic on Shape(x), as torch.export writes it:
    total = (ceil(T / s) - 1) * s + k - T, half before (rounded down), the rest after."""
    length = net.op("Gather", [net.op("Shape", [x]), net.const(2)], axis=0)
    out = net.op("Div", [net.op("Add", [length, net.const(stride - 1)]), net.const(stride)])
    total = net.op(
        "Sub",
        [
            net.op("Add", [net.op("Mul", [net.op("Sub", [out, net.const(1)]), net.const(stride)]), net.const(kernel)]),
            length,
        ],
    )
    before = net.op("Div", [total, net.const(2)])
    after = net.op("Sub", [total, before])
    zero = net.const([0, 0])
    pads = net.op(
        "Concat",
        [
            zero,
            net.op("Unsqueeze", [before, net.const([0])]),
            net.const([0, 0]),
            zero,
            net.op("Unsqueeze", [after, net.const([0])]),
            net.const([0, 0]),
        ],
        axis=0,
    )
    return net.op("Pad", [x, pads])


def test_padding_computed_from_the_shape_is_folded() -> None:
    # T = 9, k 3, s 2: ceil(9/2) = 5, total = 4*2 + 3 - 9 = 2 -> 1 before. T = 10: total 1 -> 0 before.
    for frames, before, steps in ((9, 1, 5), (10, 0, 5)):
        net = Net()
        y = net.conv(same_padding(net, "x", 3, 2), (3, 1, 1), (2, 1, 1))
        model = net.model(y)
        shapes, values = static_shapes(model, {"x": [1, 1, frames, 16, 16]})
        t = trace_fields(model, "NCTHW", shapes, values)
        assert t.output["T"].start == -before and t.starts_known
        assert shapes[y] == (1, 1, steps, 16, 16)


def test_unresolved_padding_is_reported() -> None:
    net = Net()
    y = net.conv(same_padding(net, "x", 3, 2), (3, 1, 1), (2, 1, 1))
    t = trace_fields(net.model(y), "NCTHW")  # no shapes: the padding stays unknown
    assert fields(t) == (3, 1, 1) and not t.starts_known
    assert any("padding not constant" in w for w in t.warnings)


def test_macs_of_conv_and_matmul_from_the_shapes() -> None:
    # Conv 2 -> 4 channels, kernel 3x3x3, padded: output [1, 4, 8, 6, 6], each 2*27 MACs.
    # Then mean over T,H,W -> [1, 4], MatMul by [4, 5]: 4 * 5 MACs.
    net = Net(channels=2, shape=(1, 2, "T", 6, 6))
    x = net.conv("x", (3, 3, 3), pads=(1,) * 6, out=4)
    pooled = net.op("ReduceMean", [x, net.const([2, 3, 4])], keepdims=0)
    weight = np.ones((4, 5), np.float32)
    net.inits.append(helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.flatten()))
    y = net.op("MatMul", [pooled, "w"])
    model = net.model(y)
    shapes, _ = static_shapes(model, {"x": [1, 2, 8, 6, 6]})
    macs, unknown = count_macs(model, shapes)
    assert unknown == []
    assert macs == 4 * 8 * 6 * 6 * 2 * 27 + 4 * 5
    # Without a fixed time length the shapes are unknown, and the cost says so.
    assert count_macs(model, {})[0] is None


def test_a_graph_without_the_input_on_the_output_path_fails() -> None:
    net = Net()
    net.conv("x", (3, 3, 3))
    net.inits.append(helper.make_tensor("c", TensorProto.FLOAT, [1], [1.0]))
    model = net.model("c")
    with pytest.raises(ModelError, match="does not depend"):
        trace_fields(model, "NCTHW")


def test_analyse_reports_seconds_at_the_models_rate_and_checks_the_stride(tmp_path: Path) -> None:
    # A two-stage net at 10 fps: conv k3 s2 then k3 s1 in time -> 7 frames = 0.7 s, stride 2.
    net = Net(shape=(1, "T", 16, 16, 3), layout="NTHWC")
    x = net.op("Transpose", ["x"], perm=[0, 4, 1, 2, 3])
    net.channels[x] = 3
    x = net.conv(net.conv(x, (3, 3, 3), (2, 2, 2)), (3, 1, 1))
    y = net.op("ReduceMean", [x, net.const([3, 4])], keepdims=0)  # [1, C, T']
    spec = tiny_spec(crop_height=16, crop_width=16, resize_short_side=16, temporal_stride=2)
    report = analyse(net.model(y), spec, frames=16)
    d = report.to_dict()
    assert d["receptive_field"]["frames"] == 7 and d["receptive_field"]["seconds"] == pytest.approx(0.7)
    assert d["stride"] == {"frames": 2, "seconds": pytest.approx(0.2), "pixels": [2, 2]}
    assert d["window"]["output_steps"] == 5  # (16 - 3) // 2 + 1 = 7 after the first conv, 7 - 3 + 1 = 5
    assert report.warnings == ()
    wrong = analyse(net.model(y), tiny_spec(crop_height=16, crop_width=16, resize_short_side=16), frames=16)
    assert any("temporal_stride" in w for w in wrong.warnings)


# --- vidclass inspect ---------------------------------------------------------------------------


def test_inspect_json_on_the_tiny_model(tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / "tiny.onnx")
    result = invoke("inspect", "--model", str(model), "--json", "--window", "12")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    # Mean colour per frame: one frame in time, the whole 32x32 crop in space.
    assert d["receptive_field"] == {"frames": 1, "seconds": 0.1, "pixels": [32, 32], "first_frame": 0}
    assert d["stride"]["frames"] == 1 and d["stride"]["pixels"] == [1, 1]
    assert d["pooled_axes"] == ["H", "W"]
    assert d["window"]["frames"] == 12 and d["window"]["output_steps"] == 12
    assert d["window"]["flops"] == 2 * 12 * 3 * 3  # the MatMul: 12 steps x 3 colours x 3 classes
    assert d["model"]["name"] == "tiny-colour" and d["inputs"][0]["shape"] == ["N", "T", 32, 32, 3]


def test_inspect_table_on_the_tiny_model(tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / "tiny.onnx")
    result = invoke("inspect", "--model", str(model))
    assert result.exit_code == 0, result.output
    assert "one output step sees 1 frame (0.10 s at 10 fps) and 32 × 32 pixels" in result.stdout
    assert "ReduceMean" in result.stdout and "[N, T, 32, 32, 3]" in result.stdout


def test_inspect_errors(tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / "tiny.onnx")
    below = invoke("inspect", "--model", str(model), "--window", "1")
    assert below.exit_code == 2 and "minimum" in below.output
    missing = invoke("inspect", "--model", str(tmp_path / "nope.onnx"))
    assert missing.exit_code == 3
    bare = invoke("inspect", "--model", str(make_tiny_model(tmp_path / "bare.onnx", spec=None)))
    assert bare.exit_code == 3 and "metadata" in bare.output
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert invoke("inspect", "--model", str(junk)).exit_code == 3
    # The model was once an argument; it is --model now, as in every command.
    positional = invoke("inspect", str(model))
    assert positional.exit_code == 2 and f"did you mean --model {model}?" in positional.stderr
    with pytest.raises(UsageError):
        inspect_model(model, frames=1)


# --- the real I3D export ------------------------------------------------------------------------


@pytest.mark.real
def test_real_model_field_agrees_with_its_metadata_and_graph(real_model: Path) -> None:
    report = inspect_model(real_model)
    spec = report.spec
    graph = onnx.load(str(real_model), load_external_data=False).graph
    assert report.warnings == ()
    # The time stride found in the graph is the metadata's; the pixel stride tiles the crop.
    assert report.stride_frames == spec.temporal_stride
    assert spec.crop_height % report.stride_pixels[0] == 0 and spec.crop_width % report.stride_pixels[1] == 0
    # Every Conv of the graph is on the path; the field is wider than any stride and covers the crop.
    assert sum(layer.op == "Conv" for layer in report.layers) == sum(n.op_type == "Conv" for n in graph.node)
    assert report.field_frames > report.stride_frames
    assert report.pooled_axes == ("H", "W") and min(report.field_pixels) >= spec.crop_height
    # The field only grows along the path.
    t_fields = [layer.field[0] for layer in report.layers if layer.op != "Concat"]
    assert t_fields[0] > 1 and max(t_fields) == report.field_frames
    # Cost: about twice for twice the frames, and output steps as the model's doc string says.
    double = inspect_model(real_model, 2 * spec.window_frames)
    assert double.cost.flops / report.cost.flops == pytest.approx(2.0, rel=0.05)
    assert report.cost.output_steps == -(-(-(-spec.window_frames // 2) // 2) // 2) - 1


@pytest.mark.real
def test_real_model_depends_on_exactly_the_frames_the_field_says(real_model: Path) -> None:
    """Flip one frame of a window and see which output steps move: those whose field holds it."""
    import onnxruntime as ort

    report = inspect_model(real_model)
    frames, steps = report.cost.frames, report.cost.output_steps
    first, size, stride = report.field_first_frame, report.field_frames, report.stride_frames
    # The last frame before the last step's field starts, and the last frame of the window.
    probes = [first + (steps - 1) * stride - 1, frames - 1]
    assert 0 <= probes[0] < frames
    rng = np.random.default_rng(0)
    clip = rng.uniform(-1, 1, (1, frames, 224, 224, 3)).astype(np.float32)
    batch = np.concatenate([clip] + [clip.copy() for _ in probes])
    for i, k in enumerate(probes, 1):
        batch[i, k] = -batch[i, k]
    session = ort.InferenceSession(str(real_model), providers=["CPUExecutionProvider"])
    out = session.run(None, {"video": batch})[0]
    for i, k in enumerate(probes, 1):
        moved = [j for j in range(steps) if np.abs(out[i, j] - out[0, j]).max() > 0]
        expected = [j for j in range(steps) if first + j * stride <= k < first + j * stride + size]
        assert moved == expected, k
        assert len(expected) < steps  # the probe is outside one step's field: the test can fail
