"""The spawned-worker engine: N decoding processes feed the one inference session in this process.

Processes are ``spawn``ed (OpenCV and ONNX Runtime keep threads that a ``fork`` would copy in an
undefined state). Decoding one file overlaps with inference on another, and a decoder that crashes
(FFmpeg on a hostile file) costs that one file, not the run: a fresh process takes over.

Protocol, over one duplex :class:`multiprocessing.connection.Connection` per worker:

* worker -> main: ``("ready",)`` once started;
* main -> worker: ``(index, path)`` to decode a file, ``None`` to stop;
* worker -> main: ``("open", index, opened)``; for each clip ``("clip", index, meta, shape, dtype)``
  followed by the clip's raw bytes (``send_bytes``: no pickling of the largest message); then
  ``("end", index, facts)``, or
  ``("error", index, source, cause)`` for a file that cannot be read, or ``("fail", index, text)``
  for a bug (the main process raises it).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path

import cv2
import numpy as np

from ..classifier import Opened, Piece, Recipe, SourceFacts, decode
from ..clips import Clip
from ..errors import InputError
from ..sources import quiet_decoder_logs
from .assemble import Assembler, Item, Result

DecodeFn = Callable[[Path, Recipe], Iterator[Piece]]


def worker_main(conn: Connection, recipe: Recipe, decode_fn: DecodeFn | None = None) -> None:
    """A decoding worker: decode the files the main process sends, send back their clips.

    ``decode_fn`` replaces :func:`vidclass.classifier.decode` (tests use it to make a worker crash).
    The worker ignores Ctrl-C (the main process stops the workers itself) and ends when the main
    process asks, or when its connection closes because the main process is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet_decoder_logs()
    # Each worker decodes one file; several workers share the cores, so no thread pool inside.
    cv2.setNumThreads(1)
    run = decode_fn or decode
    _send(conn, ("ready",))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        index, path = task
        try:
            for item in run(Path(path), recipe):
                if isinstance(item, Opened):
                    conn.send(("open", index, item))
                elif isinstance(item, SourceFacts):
                    conn.send(("end", index, item))
                else:
                    data = np.ascontiguousarray(item.data)
                    conn.send(("clip", index, item.meta(), data.shape, data.dtype.str))
                    conn.send_bytes(memoryview(data).cast("B"))
        except InputError as e:
            _send(conn, ("error", index, e.source, e.cause))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            return
        except Exception:  # noqa: BLE001 -- a bug: hand it to the main process, which raises it
            _send(conn, ("fail", index, traceback.format_exc()))


def _send(conn: Connection, message: tuple) -> None:
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the main process is gone; nobody is left to tell


class _Worker:
    def __init__(self, ctx: mp.context.SpawnContext, recipe: Recipe, decode_fn: DecodeFn | None) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=worker_main, args=(child, recipe, decode_fn), daemon=True, name="vidclass-decoder"
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


def classify_in_workers(
    assembler: Assembler, items: Sequence[Item], workers: int, decode_fn: DecodeFn | None = None
) -> Iterator[tuple[int, Result]]:
    """``(index, result)`` pairs as files finish (not always in input order)."""
    classifier = assembler.classifier
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
            pool.append(_Worker(ctx, classifier.recipe, decode_fn))
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
                        _, _, meta, shape, dtype = message
                        data = np.empty(shape, np.dtype(dtype))
                        worker.conn.recv_bytes_into(memoryview(data).cast("B"))
                except (EOFError, OSError):
                    result = assembler.fail(index, source, worker.crash_cause())
                    worker.stop()
                    worker.job = None
                    yield index, result
                    if queue:  # a fresh process takes over the rest of the dead one's share
                        pool[pool.index(worker)] = worker = _Worker(ctx, classifier.recipe, decode_fn)
                        worker.wait_ready()
                        yield from assign(worker)
                    continue
                kind = message[0]
                if kind == "open":
                    assembler.opened(index, message[2])
                    continue
                if kind == "clip":
                    clip = Clip(meta.window, data, keep_from=meta.keep_from, keep_to=meta.keep_to,
                                generation=meta.generation)
                    assembler.score(index, clip)
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
