"""``--engine ray``: the same batch on a Ray cluster (the ``ray`` extra: ``pip install 'vidclass[ray]'``).

A Ray Data pipeline with the same three steps as the local engine (:mod:`vidclass.engines`):

1. paths in: one row per input file, one block each, so that files are decoded in parallel;
2. ``flat_map`` tasks run :func:`vidclass.engines.decode.decode_clips` (decode, resample, preprocess,
   windows) and emit one row per clip, then one row with the file's facts (or its error);
3. ``map_batches`` over an actor pool: each actor holds one ONNX Runtime session (the model's bytes
   travel with the job, so worker nodes need no copy of the file) and scores each clip exactly as
   :meth:`vidclass.Classifier.score_clip` does.

The driver collects the scored rows, and :class:`vidclass.engines.Assembler` turns each file's
windows into the same :class:`~vidclass.ClipResult` the local engine gives, which the caller writes
out as JSON Lines (or CSV) and streams as files finish.

Every node needs vidclass with this extra installed, and the video paths must be readable at the
same path on every node (a shared file system).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engines import Assembler, Item, NullObserver, Observer, Result
from ..engines.decode import SourceFacts, decode_clips
from ..errors import InputError, UsageError
from ..runtimes import Provider
from ..sampling import Window
from ..sources import quiet_decoder_logs

if TYPE_CHECKING:
    from ..classifier import Classifier

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


def _decode_rows(row: dict[str, Any], spec: Any, window_frames: int, hop_frames: int) -> Iterator[dict[str, Any]]:
    """Ray ``flat_map`` step: one input file -> one row per clip, then an ``end`` or ``error`` row.

    Every row has the same columns (Arrow blocks need one schema); a clip travels as raw bytes with
    its shape, which keeps short clips (fewer frames) in the same column as full ones.
    """
    quiet_decoder_logs()
    index, seq, source = int(row["index"]), 0, str(row["source"])
    base = {
        "index": index,
        "kind": "",
        "seq": 0,
        "start": 0,
        "stop": 0,
        "data": b"",
        "shape": "",
        "dtype": "",
        "info": "",
    }
    try:
        # Opened by its absolute path (a task's working folder is not the driver's), named as given.
        for piece in decode_clips(row["path"], spec, window_frames, hop_frames):
            if isinstance(piece, SourceFacts):
                facts = dataclasses.replace(piece, name=source)
                yield {**base, "kind": "end", "seq": seq, "info": json.dumps(dataclasses.asdict(facts))}
            else:
                data = np.ascontiguousarray(piece.data)
                yield {
                    **base,
                    "kind": "clip",
                    "seq": seq,
                    "start": piece.window.start,
                    "stop": piece.window.stop,
                    "data": data.tobytes(),
                    "shape": json.dumps(data.shape),
                    "dtype": data.dtype.str,
                }
                seq += 1
    except InputError as e:
        yield {**base, "kind": "error", "info": json.dumps({"source": source, "cause": e.cause})}


class _Scorer:
    """Ray actor: one ONNX Runtime session; scores the clip rows, passes the others through."""

    def __init__(self, model: list[Any], model_name: str, options: dict[str, Any]) -> None:
        import ray

        from ..classifier import Classifier

        # ``model`` is [ObjectRef of the model's bytes]: wrapped in a list so that Ray does not
        # resolve it into the actor's constructor arguments (it would warn that a restarted actor
        # could lose them), and fetched here instead.
        with tempfile.TemporaryDirectory(prefix="vidclass-ray-") as folder:
            path = Path(folder) / model_name
            path.write_bytes(ray.get(model[0]))
            # ONNX Runtime reads the whole file when the session opens; the copy can go right after.
            self.classifier = Classifier(path, **options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from ..clips import Clip

        classes = self.classifier.spec.num_classes
        probs = np.zeros((len(batch["index"]), classes), np.float32)
        for i, kind in enumerate(batch["kind"]):
            if kind != "clip":
                continue
            shape = tuple(json.loads(batch["shape"][i]))
            data = np.frombuffer(batch["data"][i], np.dtype(batch["dtype"][i])).reshape(shape)
            window = Window(int(batch["start"][i]), int(batch["stop"][i]))
            probs[i] = self.classifier.score_clip(Clip(window, data))
        provider = np.array([self.classifier.session.provider] * len(probs), dtype=object)
        return {
            "index": batch["index"],
            "kind": batch["kind"],
            "seq": batch["seq"],
            "start": batch["start"],
            "stop": batch["stop"],
            "info": batch["info"],
            "probs": probs,
            "provider": provider,
        }


def classify_paths(classifier: Classifier, items: Iterable[Item], **options: Any) -> Iterator[Result]:
    """Classify on Ray; yields results as files finish, identical to :func:`vidclass.engines.classify_paths`.
    The options are :func:`classify_indexed`'s."""
    return (result for _, result in classify_indexed(classifier, items, **options))


def classify_indexed(
    classifier: Classifier,
    items: Iterable[Item],
    *,
    workers: int = 1,
    observer: Observer | None = None,
    address: str | None = None,
    provider: Provider | str = Provider.auto,
    threads: int | None = None,
) -> Iterator[tuple[int, Result]]:
    """Each result with the position of its item in ``items``, as files finish.

    ``workers`` is the size of the actor pool (ONNX Runtime sessions); decoding tasks use whatever
    CPUs the cluster has. ``address`` is a running cluster (``ray://host:10001``, ``host:6379`` or
    ``auto``); without it, ``$RAY_ADDRESS`` or else a local Ray started for this run.
    """
    ray = import_ray()
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    assembler = Assembler(classifier, observer or NullObserver())
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
        yield from _run(ray, classifier, assembler, jobs, workers, provider, threads)
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


def _run(
    ray: Any,
    classifier: Classifier,
    assembler: Assembler,
    jobs: list[tuple[int, str]],
    workers: int,
    provider: Provider | str,
    threads: int | None,
) -> Iterator[tuple[int, Result]]:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # vidclass shows its own progress on stderr
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    sources = dict(jobs)
    options = {
        "provider": provider,
        "window_frames": classifier.window_frames,
        "hop_frames": classifier.hop_frames,
        "top_k": classifier.top_k,
        "threads": threads or 1,
    }
    wants_gpu = Provider(provider).value in _GPU_PROVIDERS
    actors = _actor_count(ray, workers, threads or 1)
    model = ray.put(classifier.session.path.read_bytes())
    dataset = (
        ray.data.from_items(
            [{"index": i, "path": os.path.abspath(p), "source": p} for i, p in jobs], override_num_blocks=len(jobs)
        )
        .flat_map(
            _decode_rows,
            fn_kwargs={
                "spec": classifier.spec,
                "window_frames": classifier.window_frames,
                "hop_frames": classifier.hop_frames,
            },
            num_cpus=1,
        )
        .map_batches(
            _Scorer,
            fn_constructor_kwargs={"model": [model], "model_name": classifier.session.path.name, "options": options},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=threads or 1,
            num_gpus=1 if wants_gpu else 0,
        )
    )
    # Rows come in no particular order: collect each file's windows until its end row and all of
    # its clips (the end row counts them) have arrived.
    windows: dict[int, list[tuple[int, Window, np.ndarray]]] = {i: [] for i, _ in jobs}
    ends: dict[int, tuple[SourceFacts, int, str]] = {}
    for row in dataset.iter_rows():
        index, kind = int(row["index"]), str(row["kind"])
        if not assembler.begun(index):
            assembler.begin(index, sources[index])
        if kind == "error":
            info = json.loads(row["info"])
            windows.pop(index, None)
            yield index, assembler.fail(index, info["source"], info["cause"])
            continue
        if kind == "clip":
            window = Window(int(row["start"]), int(row["stop"]))
            windows[index].append((int(row["seq"]), window, np.asarray(row["probs"], np.float32)))
            assembler.covered(index, window)
        else:
            ends[index] = (SourceFacts(**json.loads(row["info"])), int(row["seq"]), str(row["provider"]))
        if index in ends and len(windows[index]) == ends[index][1]:
            yield index, _finish(assembler, index, windows.pop(index), *ends.pop(index))
    for index in windows:  # a file Ray lost rows of: cannot happen unless a task failed silently
        if not assembler.begun(index):
            assembler.begin(index, sources[index])
        yield index, assembler.fail(index, sources[index], "the Ray job returned no result for this file")


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


def _finish(
    assembler: Assembler,
    index: int,
    scored: list[tuple[int, Window, np.ndarray]],
    facts: SourceFacts,
    count: int,
    provider: str,
) -> Result:
    for _, window, probs in sorted(scored, key=lambda s: s[0]):
        assembler.add(index, window, probs, report=False)
    result = assembler.finish(index, facts)
    if result.model.provider != provider:  # the actors' provider, which may not be the driver's
        result = dataclasses.replace(result, model=dataclasses.replace(result.model, provider=provider))
    return result
