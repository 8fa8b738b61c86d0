"""The last step of every engine: scored clips in, one result per input out, progress told on the way."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from ..classifier import Classifier, FileScorer, Opened, Scored, SourceFacts, with_tail
from ..clips import Clip, ClipMeta
from ..errors import InputError
from ..results import ClipResult, ErrorResult

Result = ClipResult | ErrorResult
#: One input of a run: a path to classify, or the reason it cannot be (see vidclass.sources.expand_inputs).
Item = Path | InputError


class Observer(Protocol):
    """What a progress display hears from a run (all calls come from the consuming thread)."""

    def started(self, index: int, source: str) -> None: ...

    def expected(self, index: int, frames: int | None) -> None:
        """Input ``index`` should have ``frames`` frames at the model's frame rate (its container says)."""

    def frames(self, index: int, count: int) -> None:
        """``count`` more frames (at the model's frame rate) of input ``index`` were classified."""

    def finished(self, index: int, result: Result) -> None: ...


class NullObserver:
    def started(self, index: int, source: str) -> None:
        pass

    def expected(self, index: int, frames: int | None) -> None:
        pass

    def frames(self, index: int, count: int) -> None:
        pass

    def finished(self, index: int, result: Result) -> None:
        pass


class _Partial:
    def __init__(self, scorer: FileScorer) -> None:
        self.scorer = scorer
        self.scored: list[Scored] = []
        #: Output frames covered so far (clips may overlap, and a dense file may be read twice).
        self.covered = 0


class Assembler:
    """Scored clips in, one :class:`ClipResult` per input out, through :meth:`Classifier.assemble`."""

    def __init__(self, classifier: Classifier, observer: Observer | None = None) -> None:
        self.classifier = classifier
        self.observer = observer or NullObserver()
        self._partials: dict[int, _Partial] = {}

    def begin(self, index: int, source: str) -> None:
        self._partials[index] = _Partial(self.classifier.file_scorer())
        self.observer.started(index, source)

    def begun(self, index: int) -> bool:
        return index in self._partials

    def opened(self, index: int, opened: Opened) -> None:
        self._partials[index].scorer.opened(opened)
        if not opened.generation:
            self.observer.expected(index, opened.expected_frames)

    def score(self, index: int, clip: Clip) -> None:
        """Run the model half of input ``index`` on its next clip (in cutting order) and keep the logits."""
        self.add(index, clip.meta(), self._partials[index].scorer.score(clip))

    def add(self, index: int, meta: ClipMeta, logits: np.ndarray, *, report: bool = True) -> None:
        """The next scored clip of input ``index``, in cutting order; ``report=False``: progress told."""
        self._partials[index].scored.append((meta, logits))
        if report:
            self.covered(index, meta)

    def covered(self, index: int, meta: ClipMeta) -> None:
        """Tell the observer how many more frames ``meta`` covers (clips may come in any order)."""
        partial = self._partials[index]
        if meta.window.stop > partial.covered:
            self.observer.frames(index, meta.window.stop - partial.covered)
            partial.covered = meta.window.stop

    def finish(self, index: int, facts: SourceFacts) -> Result:
        """Input ``index`` is decoded and scored: its result, or its error (the model produced NaN)."""
        partial = self._partials.pop(index)
        try:
            result = self.classifier.assemble(facts, with_tail(partial.scored, partial.scorer.finish(), facts))
        except InputError as e:
            return self.fail(index, e.source, e.cause)
        self.observer.finished(index, result)
        return result

    def done(self, index: int, result: ClipResult) -> ClipResult:
        """Input ``index`` was classified whole elsewhere (:meth:`Classifier.classify`)."""
        self._partials.pop(index, None)
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

    def add_all(self, index: int, scored: Iterable[Scored]) -> None:
        for meta, logits in scored:
            self.add(index, meta, logits, report=False)
