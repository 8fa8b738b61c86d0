"""Run the streaming form of I3D: every frame goes through the network once, block by block, and the
per-step logits equal one pass over the whole video.

The streaming graph (built by :mod:`vidclass.convert.streaming`) takes a block of new frames, the
*state* of every temporal layer (the input time steps that layer has received but not yet consumed,
starting as the "SAME" padding before the clip: zeros), and ``flush``: how many zero steps to append
to each layer's input, all zero except on the final call, where they are the "SAME" padding after the
clip. It returns the per-step logits that became final and the new states. Everything this module
needs to drive it (state names and shapes, each layer's kernel, stride and padding rule, which layer
feeds which, the output steps' frame geometry) is in the file's metadata, key ``vidclass.streaming``.

Why the total length matters: a stride-2 "SAME" layer pads one step more or less *before* its input
depending on that input's parity, and the input lengths of I3D's three stride-2 time layers are
``ceil(N)``, ``ceil(N/2)``, ``ceil(N/4)`` for ``N`` frames: the first states depend on ``N mod 8``.
For a file the count comes from the container (:class:`StreamLengthMismatch` when it was wrong: start
again with the right one); for a live stream (``total_frames=None``) the padding of ``N mod 8 == 0``
is used, which gives a valid grid of steps and equals one pass exactly when ``N`` is a multiple of 8.

The graph cannot run a layer on fewer time steps than its kernel (ONNX Runtime refuses an empty or
too-short input), so each call must give every layer at least one output. The runtime checks that
with :func:`simulate` (integer arithmetic on the metadata) before each call: the first call waits
for enough frames, and enough frames are held back that the final call is also complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ModelError, SpecError, UsageError, VidclassError
from ..spec import PREFIX, ModelSpec

STREAMING_KEY = PREFIX + "streaming"
STREAMING_FORMAT = 1
#: Frames per regular call. Measured (ONNX Runtime CPU, 200 random frames, CPU seconds of the run,
#: two runs each, AMD EPYC, 2 shared cores): one pass 12.7 / 12.7 s; blocks of 8 frames 14.0 / 13.5 s
#: (19 calls: the per-call overhead shows), 32 frames 12.9 / 12.8 s, 64 frames 13.3 / 12.9 s. The
#: convolutions' work is the same in all four (347.35 G multiply-adds, from ONNX Runtime's profiler).
#: The first call takes at least 64 frames whatever the block (step 0 depends on frames 0..62).
DEFAULT_BLOCK_FRAMES = 32

Padding = Literal["same", "valid", "delay"]
#: One call of the graph: feeds by input name -> outputs in the order ``[logits, *states]``.
SessionRun = Callable[[Mapping[str, np.ndarray]], Sequence[np.ndarray]]


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one axis of ``size`` samples; the odd one goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class StateSpec:
    """One temporal layer of the streaming graph and its state."""

    #: The layer's name in the network (Flax names; ``.../Delay`` for an alignment delay).
    name: str
    #: Graph input and output names of the state, ``[N, channels, time, height, width]``.
    input: str
    output: str
    channels: int
    height: int
    width: int
    #: Kernel and stride along time. An alignment delay of ``d`` steps is a window of ``d + 1``.
    kernel: int
    stride: int
    #: Input frames per time step of this layer's input (the product of the strides before it).
    input_stride: int
    #: "same": TensorFlow "SAME"; "valid": no padding; "delay": nothing before, ``kernel - 1`` after.
    padding: Padding
    #: The state whose new outputs are this layer's new inputs; -1: the new frames.
    source: int

    def outputs(self, length: int) -> int:
        """Output steps over ``length`` input steps (state, new and flush together), VALID."""
        return (length - self.kernel) // self.stride + 1 if length >= self.kernel else 0

    def pads(self, total_frames: int) -> tuple[int, int]:
        """Time steps of padding before and after this layer's input in one pass over ``total_frames``."""
        if self.padding == "valid":
            return 0, 0
        if self.padding == "delay":
            return 0, self.kernel - 1
        return same_pads(-(-total_frames // self.input_stride), self.kernel, self.stride)

    def pad_after(self, total_frames: int, before: int) -> int:
        """The padding after, given the padding ``before`` the stream started with: the one that ends
        the layer's output on "SAME"'s ``ceil(n / stride)`` steps (equal to :meth:`pads` when ``before``
        came from the same total)."""
        if self.padding != "same":
            return self.pads(total_frames)[1]
        n = -(-total_frames // self.input_stride)
        return max(0, (-(-n // self.stride) - 1) * self.stride + self.kernel - n - before)


@dataclass(frozen=True)
class StreamSpec:
    """The streaming graph's contract (metadata key ``vidclass.streaming``)."""

    video: str
    flush: str
    logits: str
    #: Frames per output step, and frames one output step depends on.
    stride_frames: int
    field_frames: int
    #: ``first_frame[r]``: the first frame output step 0 depends on (negative: inside the padding)
    #: when the stream starts with the padding of a total ``N`` with ``N % stride_frames == r``.
    first_frame: tuple[int, ...]
    states: tuple[StateSpec, ...]
    #: The state whose outputs are the logits' steps (the head's pool).
    logits_source: int

    def to_metadata(self) -> dict[str, str]:
        value = asdict(self)
        value["format"] = STREAMING_FORMAT
        return {STREAMING_KEY: json.dumps(value, sort_keys=True)}

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], origin: str = "model") -> StreamSpec:
        raw = meta.get(STREAMING_KEY)
        if raw is None:
            raise SpecError(f"{origin}: not a streaming model (no {STREAMING_KEY} metadata)")
        try:
            value = json.loads(raw)
            if value.pop("format") != STREAMING_FORMAT:
                raise SpecError(f"{origin}: streaming metadata format {value.get('format')}, expected 1")
            states = tuple(StateSpec(**s) for s in value.pop("states"))
            return cls(**{**value, "first_frame": tuple(value["first_frame"]), "states": states})
        except SpecError:
            raise
        except (ValueError, TypeError, KeyError) as e:
            raise SpecError(f"{origin}: unreadable streaming metadata ({e})") from e


def simulate(
    states: Sequence[StateSpec], lengths: Sequence[int], new_frames: int, flush: Sequence[int]
) -> tuple[list[int], list[int]]:
    """Output steps of every layer in one call, and the state lengths after it: the graph's length
    arithmetic, in integers. A layer that gets fewer steps than its kernel has 0 outputs here; the
    graph itself cannot run such a call (see :func:`complete`)."""
    outputs: list[int] = []
    after: list[int] = []
    for i, state in enumerate(states):
        new = new_frames if state.source < 0 else outputs[state.source]
        length = lengths[i] + new + flush[i]
        count = state.outputs(length)
        outputs.append(count)
        after.append(length - count * state.stride if count else length)
    return outputs, after


def complete(outputs: Sequence[int]) -> bool:
    """Whether every layer has at least one output: the only calls the graph can run."""
    return all(count >= 1 for count in outputs)


@dataclass(frozen=True)
class StepFrames:
    """The input frames one output step depends on: ``[start, stop)`` (may reach into the padding
    before frame 0 or after the last frame) and the centre of that span."""

    start: int
    stop: int

    @property
    def centre(self) -> float:
        return (self.start + self.stop - 1) / 2


class StreamLengthMismatch(VidclassError):
    """The stream did not have the number of frames announced at :meth:`StreamingI3D.start`; the steps
    already emitted were computed on the grid of the announced length. Start again with ``actual``."""

    def __init__(self, planned: int, actual: int, *, at_least: bool = False) -> None:
        more = "at least " if at_least else ""
        super().__init__(f"the stream was announced with {planned} frames and has {more}{actual}")
        self.planned = planned
        self.actual = actual


class StreamingI3D:
    """Push frames, get the per-step logits that became final; :meth:`finish` flushes the rest.

    ``run`` is one call of the streaming graph (:meth:`from_onnx` makes it with ONNX Runtime; an
    OpenVINO compiled model fits the same callable). Frames are ``[T, H, W, 3]`` float32 already
    preprocessed as the spec says (``x / 127.5 - 1``, RGB, centre crop). Batch 1.
    """

    def __init__(
        self, run: SessionRun, stream: StreamSpec, spec: ModelSpec, block_frames: int = DEFAULT_BLOCK_FRAMES
    ) -> None:
        if block_frames < 1 or block_frames % stream.stride_frames:
            raise UsageError(f"block_frames {block_frames} is not a positive multiple of {stream.stride_frames}")
        self._run = run
        self.stream = stream
        self.spec = spec
        self.block_frames = block_frames
        self._frame_shape = (spec.crop_height, spec.crop_width, 3)
        self._started = False
        self.total_frames: int | None = None
        #: ``N mod stride`` of the grid in use (0 for a live stream).
        self.residue = 0
        self.calls = 0

    @classmethod
    def from_onnx(
        cls,
        path: str | Path,
        block_frames: int = DEFAULT_BLOCK_FRAMES,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        session_options: Any = None,
    ) -> StreamingI3D:
        """The streaming model at ``path`` in one ONNX Runtime session."""
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(str(path), sess_options=session_options, providers=list(providers))
        except Exception as e:  # ONNX Runtime raises its own exception types for an unloadable file
            raise ModelError(f"{path}: ONNX Runtime cannot load it ({type(e).__name__}: {e})") from e
        meta = session.get_modelmeta().custom_metadata_map
        spec = ModelSpec.from_metadata(meta, origin=str(path))
        stream = StreamSpec.from_metadata(meta, origin=str(path))
        names = [stream.logits, *(s.output for s in stream.states)]
        graph_inputs = {i.name for i in session.get_inputs()}
        wanted = {stream.video, stream.flush, *(s.input for s in stream.states)}
        if graph_inputs != wanted:
            raise SpecError(f"{path}: the graph's inputs do not match its streaming metadata")

        def run(feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
            return session.run(names, dict(feeds))

        return cls(run, stream, spec, block_frames)

    # -- the stream ---------------------------------------------------------------------------------

    def start(self, total_frames: int | None) -> None:
        """Begin a stream of ``total_frames`` frames (``None``: unknown, a live source)."""
        if total_frames is not None and total_frames < 1:
            raise UsageError(f"total_frames {total_frames} is not positive")
        self.total_frames = total_frames
        # The grid: the padding before each layer for this total, or for a multiple of the stride.
        grid_total = total_frames if total_frames is not None else self.stream.stride_frames
        self._before = [s.pads(grid_total)[0] for s in self.stream.states]
        self.residue = grid_total % self.stream.stride_frames
        self._states = [
            np.zeros((1, s.channels, b, s.height, s.width), np.float32)
            for s, b in zip(self.stream.states, self._before, strict=True)
        ]
        self._pending: list[np.ndarray] = []
        self._buffered = 0
        self.received = 0
        self.consumed = 0
        self.steps_emitted = 0
        self.calls = 0
        self._no_flush = np.zeros(len(self.stream.states), np.int64)
        self._started = True

    def push(self, frames: np.ndarray) -> np.ndarray:
        """Add ``frames`` ``[T, H, W, 3]``; returns the per-step logits ``[k, classes]`` now final
        (often ``k = 0``: frames are buffered until a block is complete)."""
        self._need_started()
        frames = np.asarray(frames, np.float32)
        if frames.ndim != 4 or frames.shape[1:] != self._frame_shape:
            raise UsageError(f"frames of shape {frames.shape}, expected [T, {', '.join(map(str, self._frame_shape))}]")
        if self.total_frames is not None and self.received + len(frames) > self.total_frames:
            raise StreamLengthMismatch(self.total_frames, self.received + len(frames), at_least=True)
        if len(frames):
            self._pending.append(frames)
            self._buffered += len(frames)
            self.received += len(frames)
        emitted = []
        while (count := self._next_block()) is not None:
            emitted.append(self._call(count, self._no_flush))
        return self._join(emitted)

    def finish(self) -> np.ndarray:
        """The remaining per-step logits: the buffered frames and the padding after the last frame."""
        self._need_started()
        self._started = False  # finished or failed, the next stream needs start()
        total = self.received
        if self.total_frames is not None and total != self.total_frames:
            raise StreamLengthMismatch(self.total_frames, total)
        flush = np.asarray(
            [s.pad_after(total, b) for s, b in zip(self.stream.states, self._before, strict=True)], np.int64
        )
        outputs, _ = simulate(self.stream.states, self._lengths(), self._buffered, flush)
        if not complete(outputs):
            raise UsageError(f"{total} frames: too few for one output step (the network needs {self.spec.min_frames})")
        return self._call(self._buffered, flush)

    # -- where the steps are ------------------------------------------------------------------------

    def step_frames(self, step: int) -> StepFrames:
        """The frames output step ``step`` (counted from 0 over the whole stream) depends on."""
        start = self.stream.first_frame[self.residue] + self.stream.stride_frames * step
        return StepFrames(start, start + self.stream.field_frames)

    def step_centres(self, steps: np.ndarray | Sequence[int]) -> np.ndarray:
        """The centre frame of each of ``steps`` (to score windows on the per-step timeline)."""
        first = self.stream.first_frame[self.residue]
        return first + self.stream.stride_frames * np.asarray(steps) + (self.stream.field_frames - 1) / 2

    # -- internals ----------------------------------------------------------------------------------

    def _need_started(self) -> None:
        if not self._started:
            raise UsageError("call start() before push() or finish()")

    def _lengths(self) -> list[int]:
        return [state.shape[2] for state in self._states]

    def _next_block(self) -> int | None:
        """How many buffered frames to run now, or None to wait. A block runs only when every layer
        gets an output from it (the first block may need more than ``block_frames``) and the frames
        left for the final call still give every layer an output with the flush."""
        stride = self.stream.stride_frames
        states, lengths = self.stream.states, self._lengths()
        count = self.block_frames
        while True:
            if count > self._buffered:
                return None
            outputs, after = simulate(states, lengths, count, self._no_flush)
            if complete(outputs):
                break
            count += stride
        if self.total_frames is None:
            rest = stride
            if self._buffered - count < rest:
                return None
        else:
            rest = self.total_frames - self.consumed - count
        total = self.consumed + count + rest
        flush = [s.pad_after(total, b) for s, b in zip(states, self._before, strict=True)]
        final, _ = simulate(states, after, rest, flush)
        return count if complete(final) else None

    def _take(self, count: int) -> np.ndarray:
        """The first ``count`` buffered frames as one ``[1, count, H, W, 3]`` array."""
        joined = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        block, rest = joined[:count], joined[count:]
        self._pending = [rest] if len(rest) else []
        self._buffered -= count
        return block[np.newaxis]

    def _call(self, count: int, flush: np.ndarray) -> np.ndarray:
        states = self.stream.states
        outputs, after = simulate(states, self._lengths(), count, flush)
        video = self._take(count) if count else np.zeros((1, 0, *self._frame_shape), np.float32)
        feeds: dict[str, np.ndarray] = {self.stream.video: video, self.stream.flush: flush}
        feeds.update((s.input, array) for s, array in zip(states, self._states, strict=True))
        logits, *new_states = self._run(feeds)
        got = [state.shape[2] for state in new_states]
        if got != after or logits.shape[1] != outputs[self.stream.logits_source]:
            raise ModelError("the streaming graph's state lengths disagree with its metadata")
        self._states = list(new_states)
        self.consumed += count
        self.calls += 1
        self.steps_emitted += logits.shape[1]
        return logits[0]

    def _join(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.zeros((0, self.spec.num_classes), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


__all__ = [
    "DEFAULT_BLOCK_FRAMES",
    "STREAMING_KEY",
    "SessionRun",
    "StateSpec",
    "StepFrames",
    "StreamLengthMismatch",
    "StreamSpec",
    "StreamingI3D",
    "complete",
    "same_pads",
    "simulate",
]
