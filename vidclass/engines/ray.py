"""``--engine ray``: the same batch on a Ray cluster (the ``ray`` extra: ``pip install 'vidclass[ray]'``).

A Ray Data pipeline with the same three steps as the local engine (:mod:`vidclass.engines`):

1. paths in: one row per input file, one block each, so that files are decoded in parallel;
2. ``flat_map`` tasks run the decode half (:func:`vidclass.classifier.decode`: decode, resample,
   preprocess, cut windows or dense chunks) and emit one row per clip, then one row with the
   file's facts (or its error);
3. ``map_batches`` over an actor pool: each actor builds one :class:`~vidclass.Classifier` from the
   run's :class:`~vidclass.settings.Settings` (the model's bytes travel with the job, so worker
   nodes need no copy of the file) and scores each clip with :meth:`~vidclass.Classifier.score`.

The driver collects the scored rows, and :class:`vidclass.engines.assemble.Assembler` turns each
file's clips into the same :class:`~vidclass.ClipResult` the local engine gives, which the caller
writes out as JSON Lines (or CSV) and streams as files finish.

Every node needs vidclass with this extra installed, and the video paths must be readable at the
same path on every node (a shared file system).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..classifier import Classifier, Opened, Recipe, SourceFacts, decode
from ..clips import Clip, ClipMeta
from ..errors import InputError, UsageError
from ..results import ErrorResult
from ..sampling import Window
from ..settings import Mode, Provider, Settings
from ..sources import quiet_decoder_logs
from ..store import streaming_companion
from .assemble import Assembler, Item, Result

log = logging.getLogger("vidclass")
INSTALL_HINT = "--engine ray needs Ray: pip install 'vidclass[ray]'"
_GPU_PROVIDERS = {Provider.cuda.value, Provider.tensorrt.value}


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 -- the Data library is a separate part of the ray package
    except ImportError as e:
        raise UsageError(f"{INSTALL_HINT} ({e})") from e
    return ray


def _decode_rows(row: dict[str, Any], recipe: Recipe) -> Iterator[dict[str, Any]]:
    """Ray ``flat_map`` step: one input file -> one row per clip, then an ``end`` or ``error`` row.

    Every row has the same columns (Arrow blocks need one schema); a clip travels as raw bytes with
    its shape, which keeps short clips (fewer frames) in the same column as full ones. ``seq``
    counts the clips of each pass (``generation``) over the file.
    """
    quiet_decoder_logs()
    index, source = int(row["index"]), str(row["source"])
    base = {"index": index, "kind": "", "seq": 0, "meta": "", "data": b"", "shape": "", "dtype": "", "info": ""}
    seq: dict[int, int] = {}
    try:
        # Opened by its absolute path (a task's working folder is not the driver's), named as given.
        for piece in decode(row["path"], recipe):
            if isinstance(piece, Opened):
                yield {**base, "kind": "open", "info": json.dumps(piece.expected_frames)}
            elif isinstance(piece, SourceFacts):
                facts = dataclasses.replace(piece, name=source)
                count = seq.get(facts.generation, 0)
                # Pickled (thumbnails are bytes): written and read by vidclass's own tasks only.
                yield {**base, "kind": "end", "seq": count, "data": pickle.dumps(facts)}
            else:
                data = np.ascontiguousarray(piece.data)
                number = seq.get(piece.generation, 0)
                seq[piece.generation] = number + 1
                yield {
                    **base,
                    "kind": "clip",
                    "seq": number,
                    "meta": _meta_json(piece.meta()),
                    "data": data.tobytes(),
                    "shape": json.dumps(data.shape),
                    "dtype": data.dtype.str,
                }
    except InputError as e:
        yield {**base, "kind": "error", "info": json.dumps({"source": source, "cause": e.cause})}


def _meta_json(meta: ClipMeta) -> str:
    return json.dumps([meta.window.start, meta.window.stop, meta.keep_from, meta.keep_to, meta.generation])


def _meta(text: str) -> ClipMeta:
    start, stop, keep_from, keep_to, generation = json.loads(text)
    return ClipMeta(Window(start, stop), keep_from, keep_to, generation)


class _Scorer:
    """Ray actor: one classifier built from the run's settings; scores the clip rows, passes the others."""

    def __init__(self, model: list[Any], model_name: str, settings: Settings) -> None:
        import ray

        # ``model`` is [ObjectRef of the model's bytes]: wrapped in a list so that Ray does not
        # resolve it into the actor's constructor arguments (it would warn that a restarted actor
        # could lose them), and fetched here instead.
        with tempfile.TemporaryDirectory(prefix="vidclass-ray-") as folder:
            path = Path(folder) / model_name
            path.write_bytes(ray.get(model[0]))
            # ONNX Runtime reads the whole file when the session opens; the copy can go right after.
            # The settings travel unchanged but for where this node keeps the model.
            self.classifier = Classifier(settings=settings.replace(model=str(path)))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        logits: list[bytes] = []
        shapes: list[str] = []
        for i, kind in enumerate(batch["kind"]):
            if kind != "clip":
                logits.append(b"")
                shapes.append("")
                continue
            shape = tuple(json.loads(batch["shape"][i]))
            data = np.frombuffer(batch["data"][i], np.dtype(batch["dtype"][i])).reshape(shape)
            meta = _meta(batch["meta"][i])
            clip = Clip(meta.window, data, keep_from=meta.keep_from, keep_to=meta.keep_to, generation=meta.generation)
            scored = np.ascontiguousarray(self.classifier.score(clip), np.float32)
            logits.append(scored.tobytes())
            shapes.append(json.dumps(scored.shape))
        # How the actor ran the model (provider, precision): it may differ from the driver's.
        ran = f"{self.classifier.session.provider}/{self.classifier.session.precision}"
        provider = np.array([ran] * len(logits), dtype=object)
        return {
            "index": batch["index"],
            "kind": batch["kind"],
            "seq": batch["seq"],
            "meta": batch["meta"],
            "info": batch["info"],
            # The end row's pickled facts go back; a clip's pixels do not.
            "data": np.array([d if k == "end" else b"" for k, d in zip(batch["kind"], batch["data"], strict=True)],
                             dtype=object),
            "logits": np.array(logits, dtype=object),
            "logits_shape": np.array(shapes, dtype=object),
            "provider": provider,
        }


def classify_on_ray(
    assembler: Assembler,
    items: Iterable[Item],
    *,
    workers: int = 1,
    address: str | None = None,
) -> Iterator[tuple[int, Result]]:
    """Each result with the position of its item in ``items``, as files finish.

    ``workers`` is the size of the actor pool (inference sessions); decoding tasks use whatever
    CPUs the cluster has. ``address`` is a running cluster (``ray://host:10001``, ``host:6379`` or
    ``auto``); without it, ``$RAY_ADDRESS`` or else a local Ray started for this run.
    """
    ray = import_ray()
    jobs: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        if isinstance(item, InputError):
            yield index, assembler.unreadable(index, item)
        else:
            jobs.append((index, str(item)))
    if not jobs:
        return
    started_here = not ray.is_initialized()
    if started_here:
        _init(ray, address)
    try:
        if assembler.classifier.mode is Mode.stream:
            yield from _run_whole_files(ray, assembler, jobs, workers)
        else:
            yield from _run(ray, assembler, jobs, workers)
    finally:
        if started_here:
            ray.shutdown()


def _init(ray: Any, address: str | None) -> None:
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = address or os.environ.get("RAY_ADDRESS") or "a local Ray"
        raise UsageError(f"cannot start or reach Ray at {where} ({str(e).strip().splitlines()[0]})") from e


def _run(ray: Any, assembler: Assembler, jobs: list[tuple[int, str]], workers: int) -> Iterator[tuple[int, Result]]:
    classifier = assembler.classifier
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # vidclass shows its own progress on stderr
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    sources = dict(jobs)
    # Ray schedules actors by CPUs: an unset thread count means one per actor (and one CPU reserved),
    # the one default filled in here; every other setting reaches the actors as it is.
    settings = classifier.settings.replace(threads=classifier.settings.threads or 1)
    assert settings.threads is not None
    wants_gpu = settings.provider.value in _GPU_PROVIDERS
    actors = _actor_count(ray, workers, settings.threads)
    model = ray.put(classifier.session.path.read_bytes())
    dataset = (
        ray.data.from_items(
            [{"index": i, "path": os.path.abspath(p), "source": p} for i, p in jobs], override_num_blocks=len(jobs)
        )
        .flat_map(_decode_rows, fn_kwargs={"recipe": classifier.recipe}, num_cpus=1)
        .map_batches(
            _Scorer,
            fn_constructor_kwargs={"model": [model], "model_name": classifier.session.path.name, "settings": settings},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=settings.threads,
            num_gpus=1 if wants_gpu else 0,
        )
    )
    # Rows come in no particular order: collect each file's clips until its end row and all of the
    # clips of the pass it names (the end row counts them) have arrived.
    scored: dict[int, list[tuple[int, ClipMeta, np.ndarray]]] = {i: [] for i, _ in jobs}
    ends: dict[int, tuple[SourceFacts, int, str]] = {}
    for row in dataset.iter_rows():
        index, kind = int(row["index"]), str(row["kind"])
        if not assembler.begun(index):
            assembler.begin(index, sources[index])
        if kind == "error":
            info = json.loads(row["info"])
            scored.pop(index, None)
            yield index, assembler.fail(index, info["source"], info["cause"])
            continue
        if kind == "open":
            assembler.opened(index, Opened(sources[index], json.loads(row["info"])))
            continue
        if kind == "clip":
            meta = _meta(row["meta"])
            logits = np.frombuffer(row["logits"], np.float32).reshape(json.loads(row["logits_shape"]))
            scored[index].append((int(row["seq"]), meta, logits))
            assembler.covered(index, meta)
        else:
            ends[index] = (pickle.loads(row["data"]), int(row["seq"]), str(row["provider"]))
        if index in ends:
            facts, count, provider = ends[index]
            final = sorted((s for s in scored[index] if s[1].generation == facts.generation), key=lambda s: s[0])
            if len(final) == count:
                del scored[index], ends[index]
                yield index, _finish(assembler, index, [(meta, logits) for _, meta, logits in final], facts, provider)
    for index in scored:  # a file Ray lost rows of: cannot happen unless a task failed silently
        if not assembler.begun(index):
            assembler.begin(index, sources[index])
        yield index, assembler.fail(index, sources[index], "the Ray job returned no result for this file")


class _FileClassifier:
    """Ray actor for stream mode: each file whole, through :meth:`Classifier.classify`. The streaming
    state runs from one block to the next, so a file's blocks cannot be spread over actors the way
    independent windows are; files are spread instead, decoding inside each actor."""

    def __init__(self, model: list[Any], model_name: str, settings: Settings) -> None:
        import ray

        with tempfile.TemporaryDirectory(prefix="vidclass-ray-") as folder:
            path = Path(folder) / model_name
            path.write_bytes(ray.get(model[0]))
            streaming_companion(path).write_bytes(ray.get(model[1]))
            self.classifier = Classifier(settings=settings.replace(model=str(path)))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = []
        for path, source in zip(batch["path"], batch["source"], strict=True):
            try:
                result: Result = self.classifier.classify(str(path))
                result = dataclasses.replace(result, source=str(source))
            except InputError as e:
                result = ErrorResult(str(source), e.cause)
            results.append(pickle.dumps(result))
        return {"index": batch["index"], "result": np.array(results, dtype=object)}


def _run_whole_files(
    ray: Any, assembler: Assembler, jobs: list[tuple[int, str]], workers: int
) -> Iterator[tuple[int, Result]]:
    classifier = assembler.classifier
    assert classifier.stream_session is not None
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    settings = classifier.settings.replace(threads=classifier.settings.threads or 1)
    assert settings.threads is not None
    model = [ray.put(classifier.session.path.read_bytes()), ray.put(classifier.stream_session.path.read_bytes())]
    dataset = ray.data.from_items(
        [{"index": i, "path": os.path.abspath(p), "source": p} for i, p in jobs], override_num_blocks=len(jobs)
    ).map_batches(
        _FileClassifier,
        fn_constructor_kwargs={"model": model, "model_name": classifier.session.path.name, "settings": settings},
        batch_size=1,
        batch_format="numpy",
        # No decoding tasks beside the actors here: they may take every CPU.
        compute=ray.data.ActorPoolStrategy(size=_whole_file_actors(ray, workers, len(jobs), settings.threads)),
        num_cpus=settings.threads,
        num_gpus=1 if settings.provider.value in _GPU_PROVIDERS else 0,
    )
    sources = dict(jobs)
    for row in dataset.iter_rows():
        index = int(row["index"])
        assembler.begin(index, sources[index])
        result = pickle.loads(row["result"])
        if isinstance(result, ErrorResult):
            yield index, assembler.fail(index, result.source, result.error)
        else:
            yield index, assembler.done(index, result)


def _whole_file_actors(ray: Any, workers: int, files: int, actor_cpus: int) -> int:
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    if cpus < actor_cpus:
        raise UsageError(f"Ray has {cpus:g} CPUs: a stream-mode actor needs {actor_cpus}")
    return max(1, min(workers, files, int(cpus // actor_cpus)))


def _actor_count(ray: Any, workers: int, actor_cpus: int) -> int:
    """``workers`` actors, or fewer so that decoding tasks keep a CPU.

    Actors hold their CPUs for the whole run; had they all of them, no decoding task could be
    scheduled and the pipeline would wait forever (2 actors on a 2-CPU Ray do exactly that).
    """
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    most = int((cpus - 1) // actor_cpus)
    if most < 1:
        raise UsageError(
            f"Ray has {cpus:g} CPUs: an ONNX Runtime actor ({actor_cpus} CPU) and a decoding task (1 CPU) "
            f"need {actor_cpus + 1}"
        )
    if workers > most:
        log.warning(
            "Ray has %g CPUs: %d ONNX Runtime actor(s) instead of %d, so that decoding keeps a CPU", cpus, most, workers
        )
    return min(workers, most)


def _finish(assembler: Assembler, index: int, scored: list[tuple[ClipMeta, np.ndarray]], facts: SourceFacts,
            provider: str) -> Result:
    assembler.add_all(index, scored)
    result = assembler.finish(index, facts)
    if isinstance(result, ErrorResult):  # the model produced NaN for it
        return result
    name, _, precision = provider.partition("/")
    if (result.model.provider, result.model.precision) != (name, precision):  # the actors', not the driver's
        model = dataclasses.replace(result.model, provider=name, precision=precision)
        result = dataclasses.replace(result, model=model)
    return result
