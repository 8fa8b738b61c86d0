"""Dense mode: the network run convolutionally over the whole video once, in overlapping chunks,
stitched so that the result equals one pass over every frame.

A 3D CNN is translation invariant in time up to its padding: output step ``j`` of a clip of ``L``
frames depends on input frames ``first(L) + stride * j`` .. ``+ field - 1`` only (``field``: the
temporal receptive field; ``stride``: frames per output step; ``first(L)`` <= 0, negative inside
the padding before the clip). So one pass over a long video can be cut into chunks when:

* **the output grids line up**: with TensorFlow "SAME" padding a stride-2 layer pads one sample
  more or less before its input depending on whether that input's length is odd or even, which
  shifts every later output by one sample. A chunk therefore starts at a multiple of ``stride``
  and has a length congruent to the whole video's modulo ``stride`` (then it has the same parity
  as the video at each of the stride-2 layers). Its local step ``j`` is then global step
  ``start / stride + j``;
* **the padding at a cut does not reach a kept output**: step ``j`` of a chunk is kept only when
  its whole field lies inside the chunk (or the chunk edge is the video's own edge, where one pass
  pads too). Consecutive chunks overlap by ``field - stride`` frames or so, and each global step is
  taken from exactly one chunk.

``field``, ``stride`` and ``first(L)`` are read from the ONNX graph by :mod:`vidclass.graph.receptive`
(for I3D: 107 frames, 8 frames, ``first`` = -44 for lengths that are multiples of 8), and checked
against the spec's ``temporal_stride``.

The video's length must be known before the first chunk runs, since it decides the grid. It comes
from the container (frame count and rate) and is checked at the end; when the container was wrong
(``flipping_pancake.mkv`` announces 311 frames and has 310) the pass is made again with the right
length. A video that fits in one chunk needs no guess.

Memory is bounded by one chunk (the model's activations grow with its length: about 3-4 MB per
frame for I3D, README "Performance") plus the decode queue, whatever the video's length.

Scores: a window's probabilities are the softmax of the mean logits of the steps whose field is
centred inside the window; the clip's are the softmax of the mean of all steps, which is exactly
what a single pass over the whole clip gives (the reference implementation's score). They differ
from independent windows (``--mode windows``): there each window is padded at its own edges and
sees nothing outside itself, here every step sees its full temporal context.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import scores
from .clips import Clip, Cut, Cutter
from .errors import SpecError, UsageError
from .sampling import Resampler, Window, output_frame_count, plan_windows
from .spec import ModelSpec

log = logging.getLogger("vidclass")

#: Default chunk length in frames. Longer chunks waste less on the overlap (for I3D a chunk of L
#: frames keeps about (L - 96) / L of its steps: 54 % at 224, 61 % at 256) but the activations grow
#: with L. Measured peak RSS on a 1280x720 video with OpenVINO bf16: 1515 MB at 256, 1369 MB at
#: 224, 1279 MB at 192 (wall 13, 14, 16 s for 1 min of video): 224 keeps it under 1.5 GB.
DEFAULT_CHUNK_FRAMES = 224


@dataclass(frozen=True)
class Geometry:
    """The temporal geometry of a model's output, in input frames."""

    #: Frames between consecutive output steps.
    stride: int
    #: Frames one output step depends on.
    field: int
    #: ``first[r]``: the first frame step 0 depends on, for a clip whose length is ``r`` modulo ``stride``.
    first: tuple[int, ...]

    def first_frame(self, length: int) -> int:
        return self.first[length % self.stride]

    def step_centres(self, length: int, steps: int) -> np.ndarray:
        """The frame at the centre of each output step's field, for a clip of ``length`` frames."""
        return self.first_frame(length) + self.stride * np.arange(steps) + (self.field - 1) / 2


def read_geometry(model_path: str | Path, spec: ModelSpec) -> Geometry:
    """The model's temporal receptive field, stride and padding offsets, from its ONNX graph."""
    from .graph.receptive import analyse, load_model  # onnx: imported only when dense mode is used

    _, proto, _ = load_model(model_path)
    stride, field, first = None, None, []
    base = max(spec.window_frames, spec.min_frames)
    base += -base % spec.temporal_stride  # a multiple of the stride, then + r for each residue
    for residue in range(spec.temporal_stride):
        report = analyse(proto, spec, base + residue, str(model_path))
        if report.field_frames is None or report.field_first_frame is None or "T" in report.pooled_axes:
            raise UsageError(
                f"{model_path}: dense mode needs per-time-step outputs with a known temporal receptive "
                "field; this model's could not be read from its graph (use --mode windows)"
            )
        stride, field = report.stride_frames, report.field_frames
        first.append(report.field_first_frame)
    if stride != spec.temporal_stride:
        raise SpecError(f"{model_path}: the graph's time stride is {stride}, the metadata says {spec.temporal_stride}")
    assert field is not None
    return Geometry(stride, field, tuple(first))


@dataclass(frozen=True)
class Chunk:
    """Frames ``[start, stop)`` of the video, run as one clip; its steps ``[keep_from, keep_to)`` are kept
    (``keep_to`` None: to its last step)."""

    start: int
    stop: int
    keep_from: int
    keep_to: int | None

    @property
    def frames(self) -> int:
        return self.stop - self.start


def plan_chunks(n_frames: int, chunk_frames: int, geometry: Geometry) -> list[Chunk]:
    """Cut ``n_frames`` into chunks whose kept steps, in order, are one pass's steps exactly once."""
    if n_frames < 1:
        raise ValueError("no frames")
    stride, field = geometry.stride, geometry.field
    if n_frames <= chunk_frames:
        return [Chunk(0, n_frames, 0, None)]
    # The longest length <= chunk_frames with the video's residue: the same grid as one pass.
    length = chunk_frames - (chunk_frames - n_frames) % stride
    first = geometry.first_frame(n_frames)
    keep_from = max(0, math.ceil(-first / stride))  # steps whose field starts inside the chunk
    keep_to = (length - field - first) // stride + 1  # ... and ends inside it
    if keep_to <= keep_from:
        raise UsageError(
            f"a chunk of {chunk_frames} frames is too short for the model's receptive field of "
            f"{field} frames: use at least {field + 2 * stride} frames"
        )
    advance = stride * (keep_to - keep_from)
    chunks = [Chunk(0, length, 0, keep_to)]
    start = advance
    while start + length < n_frames:
        chunks.append(Chunk(start, start + length, keep_from, keep_to))
        start += advance
    chunks.append(Chunk(start, n_frames, keep_from, None))
    return chunks


class LengthMismatch(Exception):
    """The video had ``actual`` frames, not the number the chunks were planned for."""

    def __init__(self, planned: int, actual: int) -> None:
        super().__init__(f"planned for {planned} frames, the video has {actual}")
        self.planned = planned
        self.actual = actual


class ChunkPlanner:
    """The :class:`~vidclass.clips.Planner` of dense mode: :func:`plan_chunks` said as frames arrive.

    :meth:`push` (once per output frame) returns the chunk that frame completes; :meth:`finish`
    returns the last one and raises :class:`LengthMismatch` when the video did not have the
    ``n_frames`` the chunks were planned for. A video that fits in one chunk may have any length
    up to ``chunk_frames``: its one chunk is cut at the end.
    """

    def __init__(self, n_frames: int, chunk_frames: int, geometry: Geometry) -> None:
        self.n_frames = n_frames
        self.plan = plan_chunks(n_frames, chunk_frames, geometry)
        self.single = len(self.plan) == 1
        self.span_frames = chunk_frames if self.single else self.plan[0].frames
        self.count = 0
        self._next = 0

    def push(self) -> Cut | None:
        self.count += 1
        if self.single or self._next >= len(self.plan) - 1:
            return None  # the last chunk is cut by finish(), once the length is known to be right
        chunk = self.plan[self._next]
        if chunk.stop != self.count:
            return None
        self._next += 1
        return Cut(Window(chunk.start, chunk.stop), chunk.keep_from, chunk.keep_to)

    def finish(self) -> Cut | None:
        if self.count == 0:
            return None
        if self.single:
            if self.count > self.span_frames:
                raise LengthMismatch(self.n_frames, self.count)
            return Cut(Window(0, self.count))
        if self.count != self.n_frames:
            raise LengthMismatch(self.n_frames, self.count)
        last = self.plan[-1]
        return Cut(Window(last.start, last.stop), last.keep_from, last.keep_to)


class BlockPlanner:
    """The :class:`~vidclass.clips.Planner` of stream mode: consecutive blocks of ``block_frames``,
    none overlapping, the last one shorter. The streaming runtime needs the length before the first
    block (its grid depends on it, see :mod:`vidclass.convert.stream_runtime`), so, as for chunks,
    :meth:`finish` raises :class:`LengthMismatch` when the video did not have ``n_frames``; frames
    past ``n_frames`` are not cut (the pass is made again with the right length)."""

    def __init__(self, n_frames: int, block_frames: int) -> None:
        self.n_frames = n_frames
        self.span_frames = block_frames
        self.count = 0
        self._cut = 0

    def push(self) -> Window | None:
        self.count += 1
        if self.count > self.n_frames or self.count - self._cut < self.span_frames:
            return None
        window, self._cut = Window(self._cut, self.count), self.count
        return window

    def finish(self) -> Window | None:
        if self.count != self.n_frames:
            raise LengthMismatch(self.n_frames, self.count)
        if self._cut == self.count:
            return None
        window, self._cut = Window(self._cut, self.count), self.count
        return window


Run = Callable[[np.ndarray], np.ndarray]


def stitch(kept: Iterable[np.ndarray]) -> np.ndarray:
    """The per-step logits of one pass, from each chunk's kept logits ``[steps, classes]`` in order."""
    return np.concatenate(list(kept))


def dense_logits(
    frames: Iterable[np.ndarray],
    n_frames: int,
    run: Run,
    geometry: Geometry,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    min_frames: int = 1,
) -> np.ndarray:
    """Per-step logits ``[steps, classes]`` of one pass over already preprocessed ``frames`` (NTHWC),
    computed chunk by chunk through the same :class:`~vidclass.clips.Cutter` as every clip.

    ``frames`` must yield exactly ``n_frames`` frames (else :class:`LengthMismatch`, once the
    stream has been read to its end), except that a video that fits in one chunk may have any
    length up to ``chunk_frames``. ``run`` maps ``[1, T, ...]`` to ``[1, T', classes]``.
    """

    def stack(clip_frames: list[np.ndarray]) -> np.ndarray:
        if len(clip_frames) < min_frames:  # hold the last frame, as windows mode does for a short video
            clip_frames = clip_frames + [clip_frames[-1]] * (min_frames - len(clip_frames))
        return np.stack(clip_frames)

    def kept(clip: Clip) -> np.ndarray:
        return run(clip.data[np.newaxis])[0][clip.keep_from : clip.keep_to]

    cutter = Cutter(ChunkPlanner(n_frames, chunk_frames, geometry), stack)
    pieces = []
    for frame in frames:
        pieces += [kept(clip) for clip in cutter.push(frame)]
    pieces += [kept(clip) for clip in cutter.finish()]
    if not pieces:
        raise ValueError("no frames")
    return stitch(pieces)


@dataclass(frozen=True)
class DenseScores:
    windows: list[Window]
    window_probs: list[np.ndarray]
    clip_probs: np.ndarray
    #: ``[steps, classes]``: the stitched per-step logits, and each step's centre in frames.
    step_logits: np.ndarray
    step_centres: np.ndarray


def window_score(step_logits: np.ndarray, centres: np.ndarray, window: Window) -> np.ndarray:
    """A window's probabilities on the per-step timeline: the softmax of the mean logits of the steps
    whose field is centred inside it (``centres``: each step's centre frame, as ``step_logits``' rows).
    The one definition, for files (:func:`dense_scores`) and for ``watch`` on the streaming state."""
    inside = (centres >= window.start) & (centres < window.stop)
    if not inside.any():  # a window narrower than a step: the step nearest its middle
        inside = np.zeros_like(inside)
        inside[int(np.argmin(np.abs(centres - (window.start + window.stop) / 2)))] = True
    return scores.softmax(step_logits[inside].mean(axis=0))


def dense_scores(
    step_logits: np.ndarray, n_frames: int, geometry: Geometry, window_frames: int, hop_frames: int,
    min_frames: int = 1,
) -> DenseScores:
    """Window and clip probabilities from the stitched timeline (see the module's docstring)."""
    run_length = max(n_frames, min_frames)
    centres = geometry.step_centres(run_length, step_logits.shape[0])
    windows = plan_windows(n_frames, window_frames, hop_frames)
    window_probs = [window_score(step_logits, centres, window) for window in windows]
    clip_probs = scores.softmax(step_logits.mean(axis=0))
    return DenseScores(windows, window_probs, clip_probs, step_logits, centres)


def guess_output_frames(header_frames: int | None, nominal_fps: float | None, fps_out: float) -> int | None:
    """The output frame count a container's header promises (checked after decoding)."""
    if not header_frames or not nominal_fps:
        return None
    return output_frame_count(header_frames / nominal_fps, fps_out)


def count_output_frames(times_s: Iterator[float], duration: Callable[[], float | None], fps_out: float) -> int:
    """Output frames of a source from its frame times alone (a pass that does not preprocess)."""
    resampler = Resampler(fps_out)
    count = 0
    for time_s in times_s:
        count += resampler.push(time_s)
    total = duration()
    return count + (resampler.finish(total) if total is not None else 0)
