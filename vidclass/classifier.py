"""The Python API: a :class:`Classifier` that the CLI is a thin layer over.

    >>> from vidclass import Classifier
    >>> clf = Classifier()                       # finds models/i3d_kinetics400.onnx
    >>> result = clf.predict("clip.mp4")
    >>> result.top[0].label, result.top[0].score
    ('arm wrestling', 0.999...)

The pipeline, one module per step::

    sources.VideoFile -> clips.iter_clips (sampling + preprocess) -> session.Session -> scores -> results
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from . import scores
from .clips import Clip, ClipStats, iter_clips, iter_frames, prefetch
from .errors import InputError, UsageError
from .results import ClipLabel, ClipResult, ErrorResult, LabelScore, Segment, Timeline, WindowResult
from .runtimes import Precision, Provider, Session
from .sampling import Window, validate_window
from .segments import SegmentRule, segment_windows
from .sources import VideoFile
from .sources.inputs import expand_inputs

# A file that decodes to fewer frames than its header announces, beyond this slack, is reported as
# probably truncated (containers are often off by one: flipping_pancake.mkv says 311, decodes 310).
_HEADER_SLACK = 0.02
#: Windows decoded ahead of the model in windows mode (each 64 x 224 x 224 x 3 float32 = 38.5 MB).
_WINDOWS_AHEAD = 2

log = logging.getLogger("vidclass")


class Mode(str, enum.Enum):
    """``windows``: each window run on its own (the model's own padding at every window edge).
    ``dense``: one pass over the whole video in chunks, windows scored from the stitched per-step
    logits (see :mod:`vidclass.dense`); the clip's score is then exactly a single pass's."""

    windows = "windows"
    dense = "dense"


class Classifier:
    """I3D (or any vidclass ONNX model) over sliding windows of a video."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        provider: Provider | str = Provider.auto,
        window_frames: int | None = None,
        hop_frames: int | None = None,
        top_k: int = 5,
        threads: int | None = None,
        segments: SegmentRule | None = None,
        mode: Mode | str = Mode.windows,
        precision: Precision | str = Precision.auto,
        chunk_frames: int | None = None,
    ) -> None:
        self.mode = Mode(mode)
        self.session = Session(model, provider, threads, precision, memory_arena=self.mode is Mode.windows)
        #: Dense mode: frames per chunk (see :data:`vidclass.dense.DEFAULT_CHUNK_FRAMES`).
        self.chunk_frames = chunk_frames
        self._geometry = None
        #: When set, every result carries its segments (see :mod:`vidclass.segments`).
        self.segment_rule = segments
        self.spec = self.session.spec
        self.window_frames = window_frames or self.spec.window_frames
        self.hop_frames = hop_frames or self.spec.hop_frames
        if top_k < 1:
            raise UsageError(f"--top-k must be at least 1, got {top_k}")
        self.top_k = top_k
        try:
            validate_window(self.window_frames, self.hop_frames, self.spec.min_frames)
        except ValueError as e:
            raise UsageError(str(e)) from e

    def predict(self, source: str | os.PathLike[str]) -> ClipResult:
        """Classify one video file. Raises :class:`InputError` when it cannot be read."""
        with VideoFile(source) as video:
            try:
                if self.mode is Mode.dense:
                    return self._classify_dense(video, source)
                return self._classify(video)
            except cv2.error as e:
                raise InputError(video.name, f"decoding failed ({str(e).strip().splitlines()[-1]})") from e

    def predict_many(
        self, inputs: Iterable[str | os.PathLike[str]], *, workers: int = 1
    ) -> Iterator[ClipResult | ErrorResult]:
        """Classify files, folders, globs and ``@lists`` (see :mod:`vidclass.sources.inputs`) as they finish;
        an input that fails yields an :class:`ErrorResult`. ``workers`` > 1 decodes in that many
        processes (see :mod:`vidclass.engines`)."""
        from .engines import classify_paths  # batch imports this module

        if self.mode is Mode.dense:
            yield from (result for _, result in self.predict_indexed(expand_inputs(inputs)))
            return
        yield from classify_paths(self, expand_inputs(inputs), workers=workers)

    def predict_indexed(
        self, items: Iterable[os.PathLike[str] | InputError], observer: object = None
    ) -> Iterator[tuple[int, ClipResult | ErrorResult]]:
        """Dense mode's batch loop (one file after the other, in this process): ``(index, result)``
        pairs as :func:`vidclass.engines.run` yields them, with the same observer calls."""
        for index, item in enumerate(items):
            source = item.source if isinstance(item, InputError) else str(item)
            if observer is not None:
                observer.started(index, source)  # type: ignore[attr-defined]
            result: ClipResult | ErrorResult
            if isinstance(item, InputError):
                result = ErrorResult(item.source, item.cause)
            else:
                try:
                    result = self.predict(item)
                except InputError as e:
                    result = ErrorResult(e.source, e.cause)
            if observer is not None:
                if isinstance(result, ClipResult):
                    observer.frames(index, result.frames)  # type: ignore[attr-defined]
                observer.finished(index, result)  # type: ignore[attr-defined]
            yield index, result

    def _classify(self, video: VideoFile) -> ClipResult:
        stats = ClipStats()
        windows: list[Window] = []
        window_probs: list[np.ndarray] = []
        clips = iter_clips(video, self.spec, self.window_frames, self.hop_frames, stats)
        for clip in prefetch(clips, depth=_WINDOWS_AHEAD):
            windows.append(clip.window)
            window_probs.append(self.score_clip(clip))
        return self._result(video, stats.frames, windows, window_probs)

    def _classify_dense(self, video: VideoFile, source: str | os.PathLike[str]) -> ClipResult:
        """One pass over the whole video in chunks (see :mod:`vidclass.dense`)."""
        from . import dense

        if self._geometry is None:
            self._geometry = dense.read_geometry(self.session.path, self.spec)
        geometry = self._geometry
        chunk_frames = self.chunk_frames or dense.DEFAULT_CHUNK_FRAMES
        fps = self.spec.frame_rate
        planned = dense.guess_output_frames(video.header_frames, video.nominal_fps, fps)
        if planned is None:
            # No frame count in the header: count the frames first (decoding only, no model).
            with VideoFile(source) as counting:
                planned = dense.count_output_frames(
                    (f.time_s for f in counting), lambda: counting.duration_s, fps
                )
        for attempt in range(2):
            stats = ClipStats()
            # Enough frames ahead for a whole chunk: decoding runs while the model runs on the last one.
            ahead = dense.frames_ahead(planned, chunk_frames, geometry)
            frames = prefetch(iter_frames(video, self.spec, stats), depth=ahead)
            try:
                logits = dense.dense_logits(
                    frames, planned, self.session.run, geometry, chunk_frames, self.spec.min_frames
                )
                break
            except dense.LengthMismatch as e:
                if attempt:
                    raise
                log.info("%s: the container announced %d frames at %g fps, there are %d: dense pass made "
                         "again with the right length", video.name, e.planned, fps, e.actual)
                planned = e.actual
                video.close()
                video = VideoFile(source)
            finally:
                frames.close()
        try:
            result = dense.dense_scores(
                logits, stats.frames, geometry, self.window_frames, self.hop_frames, self.spec.min_frames
            )
            return self._result(video, stats.frames, result.windows, result.window_probs, result.clip_probs)
        finally:
            video.close()

    def score_clip(self, clip: Clip) -> np.ndarray:
        """One window's class probabilities: what every engine computes per clip (see batch.py)."""
        logits = self.session.run(clip.data[np.newaxis])
        return scores.window_probabilities(logits[0])

    def _result(
        self,
        video: VideoFile,
        frames: int,
        windows: list[Window],
        window_probs: list[np.ndarray],
        clip_probs: np.ndarray | None = None,
    ) -> ClipResult:
        spec, fps = self.spec, self.spec.frame_rate
        bounds = [(w.start_s(fps), w.end_s(fps)) for w in windows]
        if clip_probs is None:
            clip_probs = scores.clip_probabilities(window_probs)
        top = tuple(
            ClipLabel(spec.labels[i], p, tuple(scores.top1_spans(window_probs, bounds, i)))
            for i, p in scores.top_k(clip_probs, self.top_k)
        )
        window_results = tuple(
            WindowResult(start_s, end_s, self._labels(probs))
            for (start_s, end_s), probs in zip(bounds, window_probs, strict=True)
        )
        timeline = Timeline(spec.labels, tuple(bounds), np.stack(window_probs))
        short = frames < self.window_frames
        warnings = []
        if short:
            held = f"; its last frame was held to the model's minimum of {spec.min_frames}" if (
                frames < spec.min_frames) else ""
            warnings.append(
                f"short video: {frames} frames at {fps:g} fps, less than one {self.window_frames}-frame "
                f"window; classified as one window of {frames} frames{held}"
            )
        expected = video.header_frames
        if expected and video.frames_read < expected * (1 - _HEADER_SLACK) - 1:
            warnings.append(
                f"decoded {video.frames_read} of the {expected} frames the header announces: "
                "the file may be truncated; classified what could be decoded"
            )
        warnings.extend(getattr(video, "warnings", ()))  # the source's own (damaged data, implausible timing)
        return ClipResult(
            source=video.name,
            duration_s=float(video.duration_s or 0.0),
            frames=frames,
            frame_rate=fps,
            window_frames=self.window_frames,
            hop_frames=self.hop_frames,
            short=short,
            top=top,
            windows=window_results,
            model=self.session.info,
            warnings=tuple(warnings),
            segments=self._segments(bounds, timeline),
            timeline=timeline,
        )

    def _segments(self, bounds: list[tuple[float, float]], timeline: Timeline) -> tuple[Segment, ...] | None:
        if self.segment_rule is None:
            return None
        rule = self.segment_rule.with_default_duration(self.window_frames / self.spec.frame_rate)
        return segment_windows(bounds, timeline.probs, self.spec.labels, rule)

    def _labels(self, probs: np.ndarray) -> tuple[LabelScore, ...]:
        return tuple(LabelScore(self.spec.labels[i], p) for i, p in scores.top_k(probs, self.top_k))
