"""Engines: many inputs through one :class:`~vidclass.Classifier`, here, in worker processes or on Ray.

Every engine runs the classifier's three halves (:mod:`vidclass.classifier`): the decode half
(:func:`~vidclass.classifier.decode`, wherever the engine puts it), the model half
(:meth:`~vidclass.Classifier.score`, where the session is) and :meth:`~vidclass.Classifier.assemble`
(through :class:`~vidclass.engines.assemble.Assembler`). Windows and dense mode are modes of those
halves, so every engine runs both, and the results do not depend on the engine or the number of
workers (``tests/test_batch.py``). :func:`run` is the one entry: it validates the options and
yields ``(index, result)`` pairs as inputs finish.

* ``local``, ``workers=1`` (:mod:`.local`): one file after the other in this process, decoding in
  a thread a few clips ahead of the model;
* ``local``, ``workers=N`` (:mod:`.workers`): N spawned decoding processes feed the one session;
* ``ray`` (:mod:`.ray`): a Ray Data pipeline, decoding in tasks and scoring in an actor pool.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..classifier import Classifier
from ..errors import InputError, UsageError
from ..sources import pixel_budget
from .assemble import Assembler, Item, NullObserver, Observer, Result
from .local import classify_here
from .workers import DecodeFn, classify_in_workers

__all__ = ["Engine", "Item", "NullObserver", "Observer", "Plan", "Result", "classify_paths", "plan", "run"]


class Engine(str, enum.Enum):
    """Where a run happens: this machine, or a Ray cluster (the ``ray`` extra)."""

    local = "local"
    ray = "ray"


@dataclass
class Plan:
    """The inputs of a run, less those an earlier run already wrote (``--resume``)."""

    items: list[Item]
    skipped: int = 0


def plan(items: Iterable[Item], done: set[str] | None = None, key: Callable[[str], str] | None = None) -> Plan:
    """All ``items``, except those whose source ``key(source)`` is in ``done``."""
    kept: list[Item] = []
    skipped = 0
    for item in items:
        source = item.source if isinstance(item, InputError) else str(item)
        if done and (key(source) if key else source) in done:
            skipped += 1
        else:
            kept.append(item)
    return Plan(kept, skipped)


def run(
    classifier: Classifier,
    items: Iterable[Item],
    *,
    engine: Engine | str = Engine.local,
    workers: int = 1,
    observer: Observer | None = None,
    address: str | None = None,
    decode_fn: DecodeFn | None = None,
) -> Iterator[tuple[int, Result]]:
    """Every engine behind one call: ``(index, result)`` pairs as inputs finish.

    ``items`` are paths (or :class:`InputError` items for inputs that cannot be read, which give
    error results): see :func:`vidclass.sources.expand_inputs`. Problems with the options (no Ray
    installed, ``address`` without Ray, ``workers`` < 1) are raised here as :class:`UsageError`,
    before any work starts. ``decode_fn`` replaces the decode half in worker processes (tests).
    """
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    pixel_budget()  # a bad $VIDCLASS_MAX_PIXELS is the run's error, not each file's
    assembler = Assembler(classifier, observer)
    if Engine(engine) is Engine.ray:
        from . import ray as ray_engine

        ray_engine.import_ray()
        return ray_engine.classify_on_ray(assembler, items, workers=workers, address=address)
    if address is not None:
        raise UsageError("--address names a Ray cluster: it needs --engine ray")
    if workers == 1 and decode_fn is None:
        return classify_here(assembler, items)
    return classify_in_workers(assembler, list(items), workers, decode_fn)


def classify_paths(classifier: Classifier, items: Iterable[Item], **options: Any) -> Iterator[Result]:
    """:func:`run` without the indices: results as inputs finish. ``items`` come from
    :func:`vidclass.sources.expand_inputs` (files, folders, globs, ``@lists``)."""
    return (result for _, result in run(classifier, items, **options))
