"""The streaming I3D: block by block, every frame through the network once, per-step logits equal to
one pass of the ordinary model over the whole input.

Cost on 2 shared cores: building both graphs about 5 s; the exactness test streams and runs one pass
over 20 lengths (1441 frames, each twice), several minutes on a loaded machine (see the report in the
commit that added this file); the scheduling tests use a stand-in session and take seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from vidclass.convert import checkpoint
from vidclass.convert.i3d import build_model, build_spec, output_steps
from vidclass.convert.stream_runtime import (
    StateSpec,
    StreamingI3D,
    StreamLengthMismatch,
    StreamSpec,
    simulate,
)
from vidclass.convert.streaming import build_streaming_model, convert_streaming
from vidclass.errors import ModelError, UsageError

TOL_ONE_PASS = 1e-4
TOL_REFERENCE = 1e-3
GOLDEN_LENGTHS = (9, 16, 32, 33, 64, 79)
# 20 lengths: every residue mod 8 (9..16), the six golden lengths, then longer random videos up to 400.
LENGTHS = (*range(9, 17), 21, 30, 32, 33, 39, 52, 64, 79, 126, 190, 275, 400)
# Regular blocks (multiples of 8) that do not divide the lengths above, and push sizes that cut
# across blocks; each length gets one pair, in turn.
BLOCKS = (8, 24, 16, 40, 32, 56)
PUSHES = (5, 1, 13, 32, 7, 100)


@pytest.fixture(scope="module")
def flat(assets_dir: Path) -> dict[str, np.ndarray]:
    return checkpoint.flatten(checkpoint.load_checkpoint(assets_dir / "weights" / checkpoint.ARCHIVE_NAME))


@pytest.fixture(scope="module")
def models(flat: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("streaming")
    one_pass, streaming = folder / "i3d.onnx", folder / "i3d.streaming.onnx"
    one_pass.write_bytes(build_model(flat, build_spec()).SerializeToString())
    streaming.write_bytes(build_streaming_model(flat, build_spec()).SerializeToString())
    return one_pass, streaming


@pytest.fixture(scope="module")
def one_pass(models: tuple[Path, Path]) -> ort.InferenceSession:
    return ort.InferenceSession(str(models[0]), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def golden(reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(reference_dir / "golden_arm_wrestling.npz") as npz:
        return dict(npz)


def video_of(length: int, golden: dict[str, np.ndarray]) -> np.ndarray:
    """The golden clip's real frames up to 79, random frames beyond (uniform in [-1, 1]: no period, so a
    grid shifted by any number of frames would show)."""
    spec = build_spec()
    if length <= golden["frames_uint8"].shape[0]:
        return (golden["frames_uint8"][:length] * spec.value_scale + spec.value_offset).astype(np.float32)
    return np.random.default_rng(length).uniform(-1, 1, (length, 224, 224, 3)).astype(np.float32)


def stream(streamer: StreamingI3D, video: np.ndarray, push: int, total: int | None) -> np.ndarray:
    streamer.start(total)
    steps = [streamer.push(video[i : i + push]) for i in range(0, len(video), push)]
    steps.append(streamer.finish())
    for part in steps:
        assert part.ndim == 2 and part.shape[1] == 400
    return np.concatenate(steps)


@pytest.mark.real
@pytest.mark.parametrize("length", LENGTHS)
def test_streaming_equals_one_pass(
    length: int, models: tuple[Path, Path], one_pass: ort.InferenceSession, golden: dict[str, np.ndarray]
) -> None:
    index = LENGTHS.index(length)
    turn = BLOCKS[index % len(BLOCKS) :] + BLOCKS[: index % len(BLOCKS)]
    block = next(b for b in turn if length % b)  # a block size that does not divide the length
    push = PUSHES[index % len(PUSHES)]
    video = video_of(length, golden)
    want = one_pass.run(["logits"], {"video": video[np.newaxis]})[0][0]
    streamer = StreamingI3D.from_onnx(models[1], block_frames=block)
    got = stream(streamer, video, push, length)
    assert got.shape == want.shape == (output_steps(length), 400)
    delta = float(np.abs(got - want).max())
    assert delta <= TOL_ONE_PASS, f"T={length} block {block}: max |delta per-step logit| {delta:.2e}"
    # It did stream: step 0 needs frames 0..62, so the first call takes 64 frames (or a larger
    # block), then one call per block, holding back a stride for the final call.
    if length >= max(block, 64) + block + 8:
        assert streamer.calls >= 2
    if length in GOLDEN_LENGTHS:
        reference = float(np.abs(got.mean(axis=0) - golden[f"logits_{length}"]).max())
        assert reference <= TOL_REFERENCE, f"T={length}: {reference:.2e} from the reference"


@pytest.mark.real
def test_convert_streaming_writes_the_checked_file(assets_dir: Path, models: tuple[Path, Path], tmp_path: Path) -> None:
    """The streaming file as provisioning would make it: atomically, self-checked through
    StreamingI3D (blocks of 8) on the formula input, byte for byte the graph built in memory."""
    out = tmp_path / "i3d.streaming.onnx"
    done = convert_streaming(assets_dir / "weights" / checkpoint.ARCHIVE_NAME, out)
    assert done.self_check_max_diff <= 1e-3
    assert (
        done.sha256
        == hashlib.sha256(models[1].read_bytes()).hexdigest()
        == hashlib.sha256(out.read_bytes()).hexdigest()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


@pytest.mark.real
def test_a_live_stream_of_a_multiple_of_8_frames_equals_one_pass(
    models: tuple[Path, Path], one_pass: ort.InferenceSession, golden: dict[str, np.ndarray]
) -> None:
    video = video_of(80, golden)
    streamer = StreamingI3D.from_onnx(models[1], block_frames=8)
    got = stream(streamer, video, 11, None)  # no total announced
    want = one_pass.run(["logits"], {"video": video[np.newaxis]})[0][0]
    assert float(np.abs(got - want).max()) <= TOL_ONE_PASS
    assert streamer.calls >= 2


@pytest.mark.real
def test_the_streaming_file_is_deterministic(flat: dict[str, np.ndarray], models: tuple[Path, Path]) -> None:
    again = build_streaming_model(flat, build_spec()).SerializeToString()
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(models[1].read_bytes()).hexdigest()


@pytest.mark.real
def test_metadata_describes_the_graph(models: tuple[Path, Path]) -> None:
    session = ort.InferenceSession(str(models[1]), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    stream = StreamSpec.from_metadata(meta)
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    assert set(inputs) == {"video", "flush", *(s.input for s in stream.states)}
    assert set(outputs) == {"logits", *(s.output for s in stream.states)}
    assert inputs["flush"].shape == [len(stream.states)]
    for s in stream.states:
        assert inputs[s.input].shape[1:2] + inputs[s.input].shape[3:] == [s.channels, s.height, s.width]
    # The temporal layers of I3D: Conv3d_1a, Conv3d_2c, three per Inception module (two 3x3x3 convs and
    # the 3x3x3 pool), MaxPool3d_4a, MaxPool3d_5a, the head's pool; plus one delay per module.
    temporal = [s.name for s in stream.states if s.padding != "delay"]
    assert len(temporal) == 2 + 3 * 9 + 3 and len(stream.states) - len(temporal) == 9
    assert {s.name: (s.kernel, s.stride) for s in stream.states if s.stride == 2} == {
        "Conv3d_1a_7x7": (7, 2),
        "MaxPool3d_4a_3x3": (3, 2),
        "MaxPool3d_5a_2x2": (2, 2),
    }
    assert stream.states[stream.logits_source].name == "Logits/AvgPool3d_0a_7x7"
    assert (stream.stride_frames, stream.field_frames) == (8, 107)
    # The one-pass contract is there too, unchanged.
    assert {k: v for k, v in meta.items() if k != "vidclass.streaming"} == build_spec().to_metadata()


@pytest.mark.real
def test_step_geometry_matches_the_graph_analysis(models: tuple[Path, Path]) -> None:
    """The frames each step depends on, against ``vidclass.receptive``'s independent reading of the
    one-pass graph (what dense mode uses)."""
    from vidclass.dense import read_geometry

    geometry = read_geometry(models[0], build_spec())
    stream = StreamSpec.from_metadata(
        ort.InferenceSession(str(models[1]), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    )
    assert (stream.stride_frames, stream.field_frames, stream.first_frame) == (
        geometry.stride,
        geometry.field,
        geometry.first,
    )


# ------------------------------------------------------------------------------------------------
# Scheduling, with a stand-in for the session that returns the shapes the metadata promises


class FakeSession:
    """Answers each call with zeros of the simulated shapes and records every layer's output steps."""

    def __init__(self, stream: StreamSpec) -> None:
        self.stream = stream
        self.outputs: list[list[int]] = []
        self.frames: list[int] = []

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        states = self.stream.states
        lengths = [feeds[s.input].shape[2] for s in states]
        frames = feeds[self.stream.video].shape[1]
        outputs, after = simulate(states, lengths, frames, list(feeds[self.stream.flush]))
        assert all(n >= 1 for n in outputs), "a call the graph could not run"
        self.outputs.append(outputs)
        self.frames.append(frames)
        logits = np.zeros((1, outputs[self.stream.logits_source], 400), np.float32)
        return [logits, *(np.zeros((1, 1, n, 1, 1), np.float32) for n in after)]


@pytest.fixture(scope="module")
def stream_spec(models: tuple[Path, Path]) -> StreamSpec:
    meta = ort.InferenceSession(str(models[1]), providers=["CPUExecutionProvider"]).get_modelmeta()
    return StreamSpec.from_metadata(meta.custom_metadata_map)


def small(stream: StreamSpec) -> tuple[StreamSpec, object]:
    """The same schedule on 1x1 images with one channel (the stand-in never looks at values)."""
    states = tuple(dataclasses.replace(s, channels=1, height=1, width=1) for s in stream.states)
    spec = dataclasses.replace(build_spec(), crop_height=1, crop_width=1)
    return dataclasses.replace(stream, states=states), spec


def one_pass_outputs(state: StateSpec, total: int) -> int:
    before, after = state.pads(total)
    return state.outputs(before + -(-total // state.input_stride) + after)


@pytest.mark.real
@pytest.mark.parametrize("block", [8, 16, 32, 64])
def test_every_frame_and_step_is_computed_once(block: int, stream_spec: StreamSpec) -> None:
    """For every length 9..300: every call is one the graph can run, the frames pass once, and each
    layer computes exactly the output steps of one pass (no recomputation, nothing missing)."""
    stream, spec = small(stream_spec)
    frames = np.zeros((300, 1, 1, 3), np.float32)
    for total in range(9, 301):
        fake = FakeSession(stream)
        streamer = StreamingI3D(fake, stream, spec, block_frames=block)
        steps = stream_with(streamer, frames[:total], push=3 + total % 11, total=total)
        assert steps == output_steps(total)
        assert sum(fake.frames) == total
        done = np.sum(fake.outputs, axis=0)
        assert [int(n) for n in done] == [one_pass_outputs(s, total) for s in stream.states], total
        # Regular calls take one block, the first perhaps more, the last the rest.
        assert all(n == block for n in fake.frames[1:-1]), (total, fake.frames)


def stream_with(streamer: StreamingI3D, frames: np.ndarray, push: int, total: int | None) -> int:
    streamer.start(total)
    steps = sum(len(streamer.push(frames[i : i + push])) for i in range(0, len(frames), push))
    return steps + len(streamer.finish())


@pytest.mark.real
def test_a_live_stream_holds_back_only_one_stride(stream_spec: StreamSpec) -> None:
    stream, spec = small(stream_spec)
    fake = FakeSession(stream)
    streamer = StreamingI3D(fake, stream, spec, block_frames=8)
    streamer.start(None)
    for total in range(1, 201):
        streamer.push(np.zeros((1, 1, 1, 3), np.float32))
        # Step 0 depends on frames up to 62 (its field ends there), so the first call waits for 64
        # frames (a whole number of blocks) and the stride held back for the flush; after it, at
        # most a block and a stride wait.
        if total < 72:
            assert streamer.consumed == 0
        else:
            assert 8 <= total - streamer.consumed < 8 + 8
    assert len(streamer.finish()) > 0
    assert streamer.steps_emitted == output_steps(200)


@pytest.mark.real
def test_wrong_lengths_are_reported(stream_spec: StreamSpec) -> None:
    stream, spec = small(stream_spec)
    streamer = StreamingI3D(FakeSession(stream), stream, spec, block_frames=8)
    frames = np.zeros((41, 1, 1, 3), np.float32)
    streamer.start(40)
    with pytest.raises(StreamLengthMismatch, match="40 frames and has at least 41"):
        streamer.push(frames)
    streamer.start(40)
    streamer.push(frames[:39])
    with pytest.raises(StreamLengthMismatch) as raised:
        streamer.finish()
    assert (raised.value.planned, raised.value.actual) == (40, 39)
    streamer.start(None)
    streamer.push(frames[:8])
    with pytest.raises(UsageError, match="8 frames: too few"):
        streamer.finish()
    with pytest.raises(UsageError, match="start"):
        streamer.push(frames[:1])
    with pytest.raises(UsageError, match="multiple of 8"):
        StreamingI3D(FakeSession(stream), stream, spec, block_frames=12)


@pytest.mark.real
def test_a_graph_that_disagrees_with_its_metadata_is_refused(stream_spec: StreamSpec) -> None:
    stream, spec = small(stream_spec)
    fake = FakeSession(stream)

    def lying(feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        logits, *states = fake(feeds)
        return [logits, *states[:-1], np.zeros((1, 1, 5, 1, 1), np.float32)]

    streamer = StreamingI3D(lying, stream, spec, block_frames=8)
    streamer.start(64)
    with pytest.raises(ModelError, match="disagree"):
        streamer.push(np.zeros((64, 1, 1, 3), np.float32))
        streamer.finish()


@pytest.mark.real
def test_step_frames_follow_the_grid(stream_spec: StreamSpec) -> None:
    stream, spec = small(stream_spec)
    streamer = StreamingI3D(FakeSession(stream), stream, spec)
    streamer.start(64)
    assert (streamer.step_frames(0).start, streamer.step_frames(0).stop) == (-44, 63)
    assert streamer.step_frames(2).centre == -44 + 16 + 53
    np.testing.assert_array_equal(streamer.step_centres([0, 1]), [9.0, 17.0])
    streamer.start(61)  # 61 = 5 mod 8: the stride-2 layers pad differently before the clip
    assert streamer.step_frames(0).start == stream.first_frame[5]
