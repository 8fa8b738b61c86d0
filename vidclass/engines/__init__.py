"""Classifying many videos: one inference session fed by the decode step, here or in worker processes.

Decoding and preprocessing (:func:`vidclass.engines.decode.decode_clips`) and inference
(:meth:`vidclass.Classifier.score_clip`) are split so that they can run in different places:

* ``workers=1``: both in this process, one file after the other (what ``predict`` always did);
* ``workers=N``: N decoding processes (``spawn``ed: OpenCV and ONNX Runtime keep threads that a
  ``fork`` would copy in an undefined state) send clips to this process, which runs the model on
  them as they arrive. Decoding one file overlaps with inference on another, and a decoder that
  crashes (FFmpeg on a hostile file) costs that one file, not the run.

Either way every clip is scored by the same session call and every result is assembled by
:class:`Assembler`, so the results do not depend on the number of workers (``tests/test_batch.py``
checks that they equal :meth:`~vidclass.Classifier.predict`'s). Results are yielded as each file
finishes; with several workers that is not always the order of the inputs.
"""

from __future__ import annotations

import enum
import multiprocessing as mp
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..clips import Clip, prefetch
from ..engines.decode import SourceFacts, decode_clips, worker_main
from ..errors import InputError, UsageError
from ..outputs.records import source_key
from ..results import ClipResult, ErrorResult
from ..sampling import Window

if TYPE_CHECKING:
    from ..classifier import Classifier

Result = ClipResult | ErrorResult
Item = Path | InputError


class Engine(str, enum.Enum):
    """Where a batch runs: this machine, or a Ray cluster (the ``ray`` extra)."""

    local = "local"
    ray = "ray"


class Observer(Protocol):
    """What a progress display hears from a batch run (all calls come from the consuming thread)."""

    def started(self, index: int, source: str) -> None: ...

    def frames(self, index: int, count: int) -> None:
        """``count`` more frames (at the model's frame rate) of input ``index`` were classified."""

    def finished(self, index: int, result: Result) -> None: ...


class NullObserver:
    def started(self, index: int, source: str) -> None:
        pass

    def frames(self, index: int, count: int) -> None:
        pass

    def finished(self, index: int, result: Result) -> None:
        pass


@dataclass
class Plan:
    """The inputs of a run, less those an earlier run already wrote (``--resume``)."""

    items: list[Item]
    skipped: int = 0


def plan(items: Iterable[Item], done: set[str] | None = None) -> Plan:
    """All ``items``, except those whose source is in ``done`` (keys from :func:`outputs.source_key`)."""
    kept: list[Item] = []
    skipped = 0
    for item in items:
        source = item.source if isinstance(item, InputError) else str(item)
        if done and source_key(source) in done:
            skipped += 1
        else:
            kept.append(item)
    return Plan(kept, skipped)


@dataclass
class _Partial:
    source: str
    windows: list[Window] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    covered: int = 0


class Assembler:
    """Window probabilities in, one :class:`ClipResult` per input out: the last step of every engine."""

    def __init__(self, classifier: Classifier, observer: Observer | None = None) -> None:
        self.classifier = classifier
        self.observer = observer or NullObserver()
        self._partials: dict[int, _Partial] = {}

    def begin(self, index: int, source: str) -> None:
        self._partials[index] = _Partial(source)
        self.observer.started(index, source)

    def add(self, index: int, window: Window, probs: np.ndarray, *, report: bool = True) -> None:
        """The next window of input ``index``, in order; ``report=False``: progress already told."""
        partial = self._partials[index]
        partial.windows.append(window)
        partial.probs.append(probs)
        if report:
            self.covered(index, window)

    def covered(self, index: int, window: Window) -> None:
        """Tell the observer how many more frames ``window`` covers (windows may come in any order)."""
        partial = self._partials[index]
        if window.stop > partial.covered:
            self.observer.frames(index, window.stop - partial.covered)
            partial.covered = window.stop

    def begun(self, index: int) -> bool:
        return index in self._partials

    def finish(self, index: int, facts: SourceFacts) -> ClipResult:
        partial = self._partials.pop(index)
        result = self.classifier._result(facts, facts.frames, partial.windows, partial.probs)  # type: ignore[arg-type]
        self.observer.finished(index, result)
        return result

    def fail(self, index: int, source: str, cause: str) -> ErrorResult:
        self._partials.pop(index, None)
        result = ErrorResult(source, cause)
        self.observer.finished(index, result)
        return result

    def unreadable(self, index: int, error: InputError) -> ErrorResult:
        """An input that never reached a decoder (missing file, empty folder, bad list)."""
        self.observer.started(index, error.source)
        return self.fail(index, error.source, error.cause)


DecodeFn = Callable[..., Iterator[Clip | SourceFacts]]


def classify_paths(
    classifier: Classifier,
    items: Iterable[Item],
    *,
    workers: int = 1,
    observer: Observer | None = None,
    decode: DecodeFn | None = None,
) -> Iterator[Result]:
    """Classify each path (an :class:`InputError` item becomes an error result) and yield the
    results as they finish. ``decode`` replaces :func:`decode_clips` (tests)."""
    indexed = classify_indexed(classifier, items, workers=workers, observer=observer, decode=decode)
    return (result for _, result in indexed)


def classify_indexed(
    classifier: Classifier,
    items: Iterable[Item],
    *,
    workers: int = 1,
    observer: Observer | None = None,
    decode: DecodeFn | None = None,
) -> Iterator[tuple[int, Result]]:
    """:func:`classify_paths`, each result with the position of its item in ``items``."""
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    assembler = Assembler(classifier, observer)
    if workers == 1:
        return _classify_here(classifier, assembler, items, decode or decode_clips)
    return _classify_in_workers(classifier, assembler, list(items), workers, decode)


def _classify_here(
    classifier: Classifier, assembler: Assembler, items: Iterable[Item], decode: DecodeFn
) -> Iterator[tuple[int, Result]]:
    spec, window_frames, hop_frames = classifier.spec, classifier.window_frames, classifier.hop_frames
    for index, item in enumerate(items):
        if isinstance(item, InputError):
            yield index, assembler.unreadable(index, item)
            continue
        assembler.begin(index, str(item))
        try:
            # Decoded and preprocessed in a thread, two windows ahead of the model (clips.prefetch).
            for piece in prefetch(decode(item, spec, window_frames, hop_frames), depth=2):
                if isinstance(piece, SourceFacts):
                    yield index, assembler.finish(index, piece)
                else:
                    assembler.add(index, piece.window, classifier.score_clip(piece))
        except InputError as e:
            yield index, assembler.fail(index, e.source, e.cause)


class _Worker:
    def __init__(self, ctx: mp.context.SpawnContext, classifier: Classifier, decode: DecodeFn | None) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=worker_main,
            args=(child, classifier.spec, classifier.window_frames, classifier.hop_frames, decode),
            daemon=True,
            name="vidclass-decoder",
        )
        self.process.start()
        child.close()
        #: (index, source) of the file this worker is decoding.
        self.job: tuple[int, str] | None = None

    def wait_ready(self) -> None:
        """Wait for the worker's first message: a worker that cannot even start is no file's fault."""
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            message = None
        if message != ("ready",):
            self.process.join(timeout=5)
            raise RuntimeError(
                f"a decoding worker process failed to start (exit code {self.process.exitcode}); "
                "see its error above, or run with --workers 1"
            )

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass  # already gone
        self.conn.close()  # unblocks a worker stuck sending a clip nobody will read
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()

    def crash_cause(self) -> str:
        self.process.join(timeout=5)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}"
        return f"the decoding process died on this file ({how})"


def _classify_in_workers(
    classifier: Classifier,
    assembler: Assembler,
    items: Sequence[Item],
    workers: int,
    decode: DecodeFn | None,
) -> Iterator[tuple[int, Result]]:
    queue = deque(enumerate(items))
    paths = sum(not isinstance(item, InputError) for item in items)
    ctx = mp.get_context("spawn")
    pool: list[_Worker] = []

    def assign(worker: _Worker) -> Iterator[tuple[int, Result]]:
        """Give ``worker`` the next file; inputs that need no decoding are answered on the way."""
        worker.job = None
        while queue:
            index, item = queue.popleft()
            if isinstance(item, InputError):
                yield index, assembler.unreadable(index, item)
                continue
            worker.conn.send((index, str(item)))
            worker.job = (index, str(item))
            assembler.begin(index, str(item))
            return

    try:
        for _ in range(max(1, min(workers, paths))):
            pool.append(_Worker(ctx, classifier, decode))
        for worker in pool:
            worker.wait_ready()
        for worker in pool:
            yield from assign(worker)
        while True:
            busy = {worker.conn: worker for worker in pool if worker.job is not None}
            if not busy:
                break
            for conn in wait(list(busy)):
                worker = busy[conn]  # type: ignore[index]
                index, source = worker.job  # type: ignore[misc]
                try:
                    message = worker.conn.recv()
                    if message[0] == "clip":
                        _, _, window, shape, dtype = message
                        data = np.empty(shape, np.dtype(dtype))
                        worker.conn.recv_bytes_into(memoryview(data).cast("B"))
                except (EOFError, OSError):
                    result = assembler.fail(index, source, worker.crash_cause())
                    worker.stop()
                    worker.job = None
                    yield index, result
                    if queue:  # a fresh process takes over the rest of the dead one's share
                        pool[pool.index(worker)] = worker = _Worker(ctx, classifier, decode)
                        worker.wait_ready()
                        yield from assign(worker)
                    continue
                kind = message[0]
                if kind == "clip":
                    assembler.add(index, window, classifier.score_clip(Clip(window, data)))
                    continue
                if kind == "end":
                    result = assembler.finish(index, message[2])
                elif kind == "error":
                    result = assembler.fail(index, message[2], message[3])
                else:
                    raise RuntimeError(f"decoding {source} failed in a worker process:\n{message[2]}")
                yield index, result
                yield from assign(worker)
    finally:
        for worker in pool:
            worker.stop()


def run(
    classifier: Classifier,
    items: Iterable[Item],
    *,
    engine: Engine | str = Engine.local,
    workers: int = 1,
    observer: Observer | None = None,
    address: str | None = None,
    provider: str = "auto",
    threads: int | None = None,
) -> Iterator[tuple[int, Result]]:
    """Every engine behind one call: ``(index, result)`` pairs as files finish.

    Problems with the options (no Ray installed, ``address`` without Ray, ``workers`` < 1) are
    raised here as :class:`UsageError`, before any work starts.
    """
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if Engine(engine) is Engine.ray:
        from ..engines import ray as engine_ray

        engine_ray.import_ray()
        return engine_ray.classify_indexed(
            classifier,
            items,
            workers=workers,
            observer=observer,
            address=address,
            provider=provider,
            threads=threads,
        )
    if address is not None:
        raise UsageError("--address names a Ray cluster: it needs --engine ray")
    return classify_indexed(classifier, items, workers=workers, observer=observer)
