"""Decoding and preprocessing one video into clips, in this process or in a worker process.

:func:`decode_clips` is the decode half of :meth:`vidclass.Classifier.predict` (the same
:class:`~vidclass.sources.VideoFile` and :func:`~vidclass.clips.iter_clips`), cut off before the
model so that it can run somewhere else than the inference session: in the main process, in a
worker process (:func:`worker_main`), or in a Ray task. Whatever runs it, the same file gives the
same clips, so every engine gives the same results.

Worker protocol, over one duplex :class:`multiprocessing.connection.Connection` per worker:

* worker -> main: ``("ready",)`` once started;
* main -> worker: ``(index, path)`` to decode a file, ``None`` to stop;
* worker -> main: ``("clip", index, window, shape, dtype)`` followed by the clip's raw bytes
  (``send_bytes``: no pickling of the largest message), then ``("end", index, facts)``, or
  ``("error", index, source, cause)`` for a file that cannot be read, or ``("fail", index, text)``
  for a bug (the main process raises it).
"""

from __future__ import annotations

import os
import signal
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import cv2
import numpy as np

from ..clips import Clip, ClipStats, iter_clips
from ..errors import InputError
from ..sources import VideoFile, quiet_decoder_logs
from ..spec import ModelSpec


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


def decode_clips(
    path: str | os.PathLike[str], spec: ModelSpec, window_frames: int, hop_frames: int
) -> Iterator[Clip | SourceFacts]:
    """Every clip of one file, then its :class:`SourceFacts`. Raises :class:`InputError`."""
    stats = ClipStats()
    with VideoFile(path) as video:
        try:
            yield from iter_clips(video, spec, window_frames, hop_frames, stats)
        except cv2.error as e:
            # The same cause as Classifier.predict gives.
            raise InputError(video.name, f"decoding failed ({str(e).strip().splitlines()[-1]})") from e
        yield SourceFacts(
            video.name, video.duration_s, video.header_frames, video.frames_read, stats.frames, tuple(video.warnings)
        )


def worker_main(conn: Connection, spec: ModelSpec, window_frames: int, hop_frames: int, decode: object = None) -> None:
    """A decoding worker: decode the files the main process sends, send back their clips.

    ``decode`` replaces :func:`decode_clips` (tests use it to make a worker crash). The worker
    ignores Ctrl-C (the main process stops the workers itself) and ends when the main process asks,
    or when its connection closes because the main process is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet_decoder_logs()
    # Each worker decodes one file; several workers share the cores, so no thread pool inside.
    cv2.setNumThreads(1)
    run = decode if callable(decode) else decode_clips
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
            for item in run(Path(path), spec, window_frames, hop_frames):
                if isinstance(item, SourceFacts):
                    conn.send(("end", index, item))
                else:
                    data = np.ascontiguousarray(item.data)
                    conn.send(("clip", index, item.window, data.shape, data.dtype.str))
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
