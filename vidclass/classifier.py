"""One input through the pipeline: the :class:`Classifier` and its per-file function.

    >>> from vidclass import Classifier
    >>> clf = Classifier()                       # the model from the search order (vidclass.store)
    >>> result = clf.predict("clip.mp4")
    >>> result.top[0].label, result.top[0].score
    ('arm wrestling', 0.999...)

A file is classified in three halves that can run in different places (see :mod:`vidclass.engines`):

1. :func:`decode` -- sources -> clips: decode, resample, preprocess, cut (windows or dense chunks);
   it needs only a picklable :class:`Recipe`, so it runs in this process, in a worker process or
   in a Ray task alike;
2. :meth:`Classifier.score` -- one clip through the runtime: the per-step logits that count;
3. :meth:`Classifier.assemble` -- the scored clips of a file -> one :class:`~vidclass.ClipResult`.

:meth:`Classifier.classify` (``predict``) runs the three here, decoding in a thread while the model
runs. Windows and dense are two modes of the same three halves: they differ in where clips are cut
(:class:`~vidclass.sampling.Windower` or :class:`~vidclass.dense.ChunkPlanner`) and in how the
scored clips become window scores.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from . import dense, scores
from .clips import Clip, ClipMeta, ClipStats, Planner, cut_source, prefetch
from .convert.stream_runtime import DEFAULT_BLOCK_FRAMES, StreamingI3D
from .errors import InputError, ModelNotFoundError, NonFiniteError, UsageError
from .results import ClipLabel, ClipResult, LabelScore, Segment, Timeline, WindowResult
from .runtimes import Session, StreamSession, model_path, stream_provider
from .sampling import Window, Windower, validate_window
from .segments import segment_windows
from .settings import Mode, Settings
from .sources import Frame, VideoFile
from .spec import ModelSpec
from .store import streaming_companion
from .thumbnails import Thumbnail, ThumbnailStrip

log = logging.getLogger("vidclass")

# A file that decodes to fewer frames than its header announces, beyond this slack, is reported as
# probably truncated (containers are often off by one: flipping_pancake.mkv says 311, decodes 310).
_HEADER_SLACK = 0.02
#: Clips decoded ahead of the model: each window is 64 x 224 x 224 x 3 float32 = 38.5 MB, a dense
#: chunk 3.5 times that, so windows keep two ready and chunks one (decoding overlaps the model either way).
_AHEAD = {Mode.windows: 2, Mode.dense: 1, Mode.stream: 2}


@dataclass(frozen=True)
class SourceFacts:
    """What the result needs to know about a decoded file (the attributes of a finished VideoFile)."""

    name: str
    duration_s: float | None
    header_frames: int | None
    frames_read: int
    #: Frames fed to the model, at the model's frame rate.
    frames: int
    #: What the decoder found that the user should know (``VideoFile.warnings``).
    warnings: tuple[str, ...] = ()
    #: Dense mode: the pass whose clips count (a container that lied about its length costs a second).
    generation: int = 0
    #: Small JPEGs across the video, taken in the same decode (``Settings.thumbnails``; for the report).
    thumbnails: tuple[Thumbnail, ...] = ()


@dataclass(frozen=True)
class Opened:
    """The first thing the decode half says of a file: how many output frames its container
    announces (None when it does not say), so that progress can show a share of the file."""

    name: str
    expected_frames: int | None
    #: Dense and stream modes: a second pass over a file whose container lied about its length
    #: starts with a new :class:`Opened` of generation 1 and the length found.
    generation: int = 0


@dataclass(frozen=True)
class Recipe:
    """What the decode half needs, and nothing else: small and picklable, it travels to decoding
    workers and Ray tasks. Built by the :class:`Classifier` from its settings and the model."""

    spec: ModelSpec
    mode: Mode
    window_frames: int
    hop_frames: int
    chunk_frames: int
    #: The model's temporal geometry, read from its graph: dense mode only.
    geometry: dense.Geometry | None = None
    #: Thumbnails to take per file in the same decode (0: none).
    thumbnails: int = 0


Piece = Opened | Clip | SourceFacts


def decode(path: str | os.PathLike[str], recipe: Recipe) -> Iterator[Piece]:
    """The decode half: :class:`Opened`, every clip of one file (data stacked), then its :class:`SourceFacts`.

    Raises :class:`InputError` when the file cannot be read.
    """
    name = os.fspath(path)
    try:
        if recipe.mode is Mode.windows:
            yield from _decode_windows(path, recipe)
        else:
            yield from _decode_one_pass(path, recipe)
    except cv2.error as e:
        raise InputError(name, f"decoding failed ({str(e).strip().splitlines()[-1]})") from e


def _facts(video: VideoFile, frames: int, generation: int = 0, strip: ThumbnailStrip | None = None) -> SourceFacts:
    return SourceFacts(
        video.name, video.duration_s, video.header_frames, video.frames_read, frames, tuple(video.warnings),
        generation, strip.thumbnails() if strip is not None else (),
    )


def _strip(video: VideoFile, recipe: Recipe) -> ThumbnailStrip | None:
    """A thumbnail strip for this file when the recipe asks for one, spread over its announced duration."""
    if not recipe.thumbnails:
        return None
    announced = video.header_frames / video.nominal_fps if video.header_frames and video.nominal_fps else None
    return ThumbnailStrip(recipe.thumbnails, announced)


def _tap(strip: ThumbnailStrip | None) -> Callable[[Frame], None] | None:
    return None if strip is None else lambda frame: strip.push(frame.time_s, frame.image)


def _opened(video: VideoFile, recipe: Recipe) -> Opened:
    return Opened(video.name, dense.guess_output_frames(video.header_frames, video.nominal_fps, recipe.spec.frame_rate))


def _decode_windows(path: str | os.PathLike[str], recipe: Recipe) -> Iterator[Piece]:
    stats = ClipStats()
    with VideoFile(path) as video:
        yield _opened(video, recipe)
        strip = _strip(video, recipe)
        windower = Windower(recipe.window_frames, recipe.hop_frames)
        yield from cut_source(video, recipe.spec, windower, stats, tap=_tap(strip))
        yield _facts(video, stats.frames, strip=strip)


def _one_pass_planner(recipe: Recipe, n_frames: int) -> Planner:
    if recipe.mode is Mode.stream:
        return dense.BlockPlanner(n_frames, recipe.chunk_frames)
    assert recipe.geometry is not None
    return dense.ChunkPlanner(n_frames, recipe.chunk_frames, recipe.geometry)


def _decode_one_pass(path: str | os.PathLike[str], recipe: Recipe) -> Iterator[Piece]:
    """One pass, in dense chunks or stream blocks. Its grid depends on the video's length, which comes
    from the container and is checked at the end: when the container was wrong, the pass is made
    again (generation 1, announced by a second :class:`Opened`)."""
    fps = recipe.spec.frame_rate
    video = VideoFile(path)
    opened = _opened(video, recipe)
    planned = opened.expected_frames
    if planned is None:
        # No frame count in the header: count the frames first (decoding only, no model).
        with VideoFile(path) as counting:
            planned = dense.count_output_frames((f.time_s for f in counting), lambda: counting.duration_s, fps)
        opened = replace(opened, expected_frames=planned)
    yield opened
    for generation in range(2):
        stats = ClipStats()
        with video:
            strip = _strip(video, recipe)
            try:
                yield from cut_source(
                    video, recipe.spec, _one_pass_planner(recipe, planned), stats, generation=generation,
                    tap=_tap(strip), hold=recipe.mode is not Mode.stream,
                )
            except dense.LengthMismatch as e:
                if generation:
                    raise InputError(video.name, "the frame count changed between two decodes of the file") from e
                log.info("%s: the container announced %d frames at %g fps, there are %d: the pass is made "
                         "again with the right length", video.name, e.planned, fps, e.actual)
                planned = e.actual
                video = VideoFile(path)
                yield Opened(video.name, planned, generation + 1)
                continue
            yield _facts(video, stats.frames, generation, strip)
            return


Scored = tuple[ClipMeta, np.ndarray]


class FileScorer:
    """The model half for one file: clips in, the per-step logits that count out.

    Windows and dense chunks are scored independently, so this is the classifier's
    :meth:`Classifier.score`; a stateful mode (streaming, where each block continues the last)
    keeps its state here, one object per file in flight, while the session is shared.
    """

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    def opened(self, opened: Opened) -> None:
        """A file (or a second pass over it) begins."""

    def score(self, clip: Clip) -> np.ndarray:
        return self.classifier.score(clip)

    def finish(self) -> np.ndarray | None:
        """What the file's end adds (a stateful mode's flush), or None."""
        return None


class StreamScorer(FileScorer):
    """Stream mode's model half: one :class:`~vidclass.convert.stream_runtime.StreamingI3D` state per
    file over the shared streaming session. Each block returns the steps that became final; the
    end flushes the rest, so the steps are exactly one pass's."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__(classifier)
        assert classifier.stream_session is not None
        self._session = classifier.stream_session
        self._runtime: StreamingI3D | None = None
        self._last: np.ndarray | None = None

    def opened(self, opened: Opened) -> None:
        """Start (or, on a second pass, start again) with the length the grid needs: the video's,
        or the model's minimum for a shorter one (its last frame is held up to it at the end)."""
        spec = self.classifier.spec
        total = max(opened.expected_frames or spec.min_frames, spec.min_frames)
        self._runtime = StreamingI3D(self._session.run, self._session.stream, spec, self.classifier.recipe.chunk_frames)
        self._runtime.start(total)
        self._last = None

    def score(self, clip: Clip) -> np.ndarray:
        assert self._runtime is not None
        data = clip.data
        self._last = data[-1:]
        return self._runtime.push(data)

    def finish(self) -> np.ndarray:
        assert self._runtime is not None and self._last is not None
        short = (self._runtime.total_frames or 0) - self._runtime.received
        held = self._runtime.push(np.repeat(self._last, short, axis=0)) if short > 0 else None
        tail = self._runtime.finish()
        return tail if held is None or not len(held) else np.concatenate([held, tail])


class Classifier:
    """I3D (or any vidclass ONNX model) over a video, as :class:`~vidclass.settings.Settings` say.

    ``Classifier(model, provider=..., window_frames=..., ...)`` takes the settings' fields as
    keyword arguments; ``Classifier(settings=...)`` takes a whole :class:`Settings`.
    """

    def __init__(self, model: str | os.PathLike[str] | None = None, *, settings: Settings | None = None,
                 **options: Any) -> None:
        settings = (settings or Settings()).replace(**options)
        if model is not None:
            settings = settings.replace(model=os.fspath(model))
        path = model_path(settings.model, settings.precision)
        companion = streaming_companion(path)
        if settings.mode is Mode.auto:
            settings = settings.replace(mode=Mode.stream if companion.is_file() else Mode.windows)
        provider = settings.provider
        if settings.mode is Mode.stream:
            provider = stream_provider(provider, settings.precision)
        self.session = Session(
            path, provider, settings.threads, settings.precision, memory_arena=settings.mode is Mode.windows
        )
        self.spec = spec = self.session.spec
        #: Stream mode: the model's streaming form, on the same provider (see :class:`StreamScorer`).
        self.stream_session: StreamSession | None = None
        if settings.mode is Mode.stream:
            if not companion.is_file():
                raise ModelNotFoundError(
                    f"{companion}: no streaming form beside the model, which --mode stream runs "
                    f"(`vidclass models pull --force` makes both; or use --mode dense, the same pass in chunks)"
                )
            self.stream_session = StreamSession(companion, self.session, settings.threads, settings.precision)
        window_frames = settings.window_frames or spec.window_frames
        hop_frames = settings.hop_frames or spec.hop_frames
        try:
            validate_window(window_frames, hop_frames, spec.min_frames)
        except ValueError as e:
            raise UsageError(str(e)) from e
        #: The settings as run: the model's path and defaults filled in. What workers and actors get.
        self.settings = settings.replace(
            model=str(self.session.path), window_frames=window_frames, hop_frames=hop_frames
        )
        geometry: dense.Geometry | None = None
        chunk_frames = settings.chunk_frames or dense.DEFAULT_CHUNK_FRAMES
        if settings.mode is Mode.dense:
            geometry = dense.read_geometry(self.session.path, spec)
        elif self.stream_session is not None:
            stream = self.stream_session.stream
            geometry = dense.Geometry(stream.stride_frames, stream.field_frames, stream.first_frame)
            chunk_frames = settings.chunk_frames or DEFAULT_BLOCK_FRAMES
            if chunk_frames % stream.stride_frames:
                raise UsageError(
                    f"--chunk-frames {chunk_frames}: stream blocks are a multiple of {stream.stride_frames} frames"
                )
        #: What the decode half needs (see :func:`decode`).
        self.recipe = Recipe(
            spec, settings.mode, window_frames, hop_frames, chunk_frames, geometry, settings.thumbnails
        )

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @property
    def window_frames(self) -> int:
        assert self.settings.window_frames is not None
        return self.settings.window_frames

    @property
    def hop_frames(self) -> int:
        assert self.settings.hop_frames is not None
        return self.settings.hop_frames

    @property
    def top_k(self) -> int:
        return self.settings.top_k

    @property
    def ahead(self) -> int:
        """Clips the decode half may run ahead of the model."""
        return _AHEAD[self.mode]

    # -- the three halves -----------------------------------------------------------------------

    def decode(self, source: str | os.PathLike[str]) -> Iterator[Piece]:
        """:func:`decode` with this classifier's recipe."""
        return decode(source, self.recipe)

    def score(self, clip: Clip) -> np.ndarray:
        """One clip through the model: its per-step logits ``[steps, classes]`` that count."""
        logits = self.session.run(clip.data[np.newaxis])[0]
        return logits[clip.keep_from : clip.keep_to]

    def file_scorer(self) -> FileScorer:
        """A model half for one file (see :class:`FileScorer`)."""
        return StreamScorer(self) if self.stream_session is not None else FileScorer(self)

    def score_clip(self, clip: Clip) -> np.ndarray:
        """One window's class probabilities, the window run on its own (``watch`` in windows mode).

        Raises :class:`NonFiniteError` when the model produced NaN or Inf for it.
        """
        logits = self.score(clip)
        with np.errstate(over="ignore", invalid="ignore"):  # checked here (see assemble)
            probs = scores.window_probabilities(logits)
        for values in (logits, probs):
            self.check_finite(values, clip.window)
        return probs

    def assemble(self, facts: SourceFacts, scored: Sequence[Scored]) -> ClipResult:
        """The result of one file from its scored clips, in the order they were cut (clips of an
        earlier dense pass than ``facts.generation`` are ignored)."""
        scored = [(meta, logits) for meta, logits in scored if meta.generation == facts.generation]
        try:
            return self._assemble(facts, scored)
        except NonFiniteError as e:  # that input's error: the other inputs of a run go on
            raise InputError(facts.name, str(e)) from e

    def _assemble(self, facts: SourceFacts, scored: Sequence[Scored]) -> ClipResult:
        for meta, logits in scored:  # the first clip the model failed on names where
            self.check_finite(logits, meta.window)
        # Finite logits can still overflow on the way (a mean of huge float32 values is Inf): numpy's
        # warning about it would be noise on stderr, as the probabilities are checked below.
        with np.errstate(over="ignore", invalid="ignore"):
            if self.mode is not Mode.windows:  # one pass: windows from the per-step timeline
                assert self.recipe.geometry is not None
                stitched = dense.dense_scores(
                    dense.stitch(logits for _, logits in scored), facts.frames, self.recipe.geometry,
                    self.window_frames, self.hop_frames, self.spec.min_frames,
                )
                windows, window_probs, clip_probs = stitched.windows, stitched.window_probs, stitched.clip_probs
            else:
                windows = [meta.window for meta, _ in scored]
                window_probs, clip_probs = [scores.window_probabilities(logits) for _, logits in scored], None
        for window, probs in zip(windows, window_probs, strict=True):
            self.check_finite(probs, window)
        return self._result(facts, windows, window_probs, clip_probs)

    def check_finite(self, values: np.ndarray, window: Window) -> None:
        """Raise :class:`NonFiniteError` when ``values`` (``window``'s logits or probabilities) hold NaN
        or Inf: not a score. The one check for files (:meth:`assemble`) and ``watch``, in every mode."""
        if (what := scores.non_finite(values)) is not None:
            fps = self.spec.frame_rate
            span = f"{window.start_s(fps):.2f}-{window.end_s(fps):.2f} s"
            raise NonFiniteError(f"the model produced {what} for the frames at {span} (not a score)")

    # -- one file, here ---------------------------------------------------------------------------

    def classify(
        self,
        source: str | os.PathLike[str],
        on_clip: Callable[[ClipMeta], None] | None = None,
        on_open: Callable[[Opened], None] | None = None,
    ) -> ClipResult:
        """The per-file function: decode in a thread (a few clips ahead), score each clip here,
        assemble. ``on_open`` and ``on_clip`` hear the file open and each scored clip (progress).
        Raises :class:`InputError`."""
        scorer = self.file_scorer()
        scored: list[Scored] = []
        for piece in prefetch(self.decode(source), depth=self.ahead):
            if isinstance(piece, Opened):
                scorer.opened(piece)
                if on_open is not None:
                    on_open(piece)
            elif isinstance(piece, SourceFacts):
                return self.assemble(piece, with_tail(scored, scorer.finish(), piece))
            else:
                scored.append((piece.meta(), scorer.score(piece)))
                if on_clip is not None:
                    on_clip(scored[-1][0])
        raise AssertionError("decode ended without the file's facts")  # decode always ends with them

    def predict(self, source: str | os.PathLike[str]) -> ClipResult:
        """Classify one video file (:meth:`classify`). Raises :class:`InputError` when it cannot be read.
        For many inputs, see :func:`vidclass.engines.run`."""
        return self.classify(source)

    # -- assembling -------------------------------------------------------------------------------

    def _result(
        self,
        facts: SourceFacts,
        windows: list[Window],
        window_probs: list[np.ndarray],
        clip_probs: np.ndarray | None = None,
    ) -> ClipResult:
        spec, fps, frames = self.spec, self.spec.frame_rate, facts.frames
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
        used_window = max(frames, spec.min_frames) if short else self.window_frames  # what the model saw
        warnings = []
        if short:
            held = f"; its last frame was held to the model's minimum of {spec.min_frames}" if (
                frames < spec.min_frames) else ""
            warnings.append(
                f"short video: {frames} frames at {fps:g} fps, less than one {self.window_frames}-frame "
                f"window; classified as one window of {frames} frames{held}"
            )
        expected = facts.header_frames
        if expected and facts.frames_read < expected * (1 - _HEADER_SLACK) - 1:
            warnings.append(
                f"decoded {facts.frames_read} of the {expected} frames the header announces: "
                "the file may be truncated; classified what could be decoded"
            )
        warnings.extend(facts.warnings)  # the source's own (damaged data, implausible timing)
        return ClipResult(
            source=facts.name,
            duration_s=float(facts.duration_s or 0.0),
            frames=frames,
            frame_rate=fps,
            window_frames=used_window,
            hop_frames=self.hop_frames,
            short=short,
            top=top,
            windows=window_results,
            model=self.session.info,
            warnings=tuple(warnings),
            segments=self._segments(bounds, timeline),
            timeline=timeline,
            thumbnails=facts.thumbnails,
            mode=self.mode.value,
        )

    def _segments(self, bounds: list[tuple[float, float]], timeline: Timeline) -> tuple[Segment, ...] | None:
        if self.settings.segments is None:
            return None
        rule = self.settings.segments.with_default_duration(self.window_frames / self.spec.frame_rate)
        return segment_windows(bounds, timeline.probs, self.spec.labels, rule)

    def _labels(self, probs: np.ndarray) -> tuple[LabelScore, ...]:
        return tuple(LabelScore(self.spec.labels[i], p) for i, p in scores.top_k(probs, self.top_k))


def with_tail(scored: list[Scored], tail: np.ndarray | None, facts: SourceFacts) -> list[Scored]:
    """``scored`` and, when the model half's end added steps (a flush), those as a last piece."""
    if tail is None:
        return scored
    return [*scored, (ClipMeta(Window(facts.frames, facts.frames), generation=facts.generation), tail)]
