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

import os
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from . import scores
from .clips import ClipStats, iter_clips
from .errors import InputError, UsageError
from .results import ClipLabel, ClipResult, ErrorResult, LabelScore, WindowResult
from .sampling import Window, validate_window
from .session import Provider, Session
from .sources import VideoFile, expand_inputs

# A file that decodes to fewer frames than its header announces, beyond this slack, is reported as
# probably truncated (containers are often off by one: flipping_pancake.mkv says 311, decodes 310).
_HEADER_SLACK = 0.02


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
    ) -> None:
        self.session = Session(model, provider, threads)
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
                return self._classify(video)
            except cv2.error as e:
                raise InputError(video.name, f"decoding failed ({str(e).strip().splitlines()[-1]})") from e

    def predict_many(self, inputs: Iterable[str | os.PathLike[str]]) -> Iterator[ClipResult | ErrorResult]:
        """Classify files and folders; an input that fails yields an :class:`ErrorResult`."""
        for item in expand_inputs(inputs):
            if isinstance(item, InputError):
                yield ErrorResult(item.source, item.cause)
                continue
            try:
                yield self.predict(item)
            except InputError as e:
                yield ErrorResult(e.source, e.cause)

    def _classify(self, video: VideoFile) -> ClipResult:
        stats = ClipStats()
        windows: list[Window] = []
        window_probs: list[np.ndarray] = []
        for clip in iter_clips(video, self.spec, self.window_frames, self.hop_frames, stats):
            logits = self.session.run(clip.data[np.newaxis])
            windows.append(clip.window)
            window_probs.append(scores.window_probabilities(logits[0]))
        return self._result(video, stats.frames, windows, window_probs)

    def _result(
        self, video: VideoFile, frames: int, windows: list[Window], window_probs: list[np.ndarray]
    ) -> ClipResult:
        spec, fps = self.spec, self.spec.frame_rate
        bounds = [(w.start_s(fps), w.end_s(fps)) for w in windows]
        clip_probs = scores.clip_probabilities(window_probs)
        top = tuple(
            ClipLabel(spec.labels[i], p, tuple(scores.top1_spans(window_probs, bounds, i)))
            for i, p in scores.top_k(clip_probs, self.top_k)
        )
        window_results = tuple(
            WindowResult(start_s, end_s, self._labels(probs))
            for (start_s, end_s), probs in zip(bounds, window_probs, strict=True)
        )
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
        )

    def _labels(self, probs: np.ndarray) -> tuple[LabelScore, ...]:
        return tuple(LabelScore(self.spec.labels[i], p) for i, p in scores.top_k(probs, self.top_k))
