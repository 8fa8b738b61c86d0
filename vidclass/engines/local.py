"""The in-process engine: one file after the other, each through :meth:`Classifier.classify`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..errors import InputError
from .assemble import Assembler, Item, Result


def classify_here(assembler: Assembler, items: Iterable[Item]) -> Iterator[tuple[int, Result]]:
    """``(index, result)`` for each item, in order; the per-file function is the classifier's own."""
    classifier = assembler.classifier
    for index, item in enumerate(items):
        if isinstance(item, InputError):
            yield index, assembler.unreadable(index, item)
            continue
        assembler.begin(index, str(item))
        try:
            result = classifier.classify(
                item,
                on_clip=lambda meta, i=index: assembler.covered(i, meta),
                on_open=lambda opened, i=index: assembler.opened(i, opened),
            )
        except InputError as e:
            yield index, assembler.fail(index, e.source, e.cause)
            continue
        yield index, assembler.done(index, result)
