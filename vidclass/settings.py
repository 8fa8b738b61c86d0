"""How a run is configured: one frozen, picklable :class:`Settings`, built once and carried unchanged.

The CLI builds it from its options, the Python API from keyword arguments; the classifier fills in
the model's own defaults (window, hop) from the model's metadata, and the result travels as it is
to every engine: spawned decoding workers and Ray actors rebuild their classifier from it, so an
option can no longer be lost on the way (``--engine ray --precision fp32`` once ran the actors at
the automatic precision because a hand-made option list left it out).

This module is at the bottom of the package: it knows no other stage.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .segments import SegmentRule


class Provider(str, enum.Enum):
    """Where the model runs. ``auto`` takes the best available (see :mod:`vidclass.runtimes`)."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    tensorrt = "tensorrt"
    openvino = "openvino"
    coreml = "coreml"
    directml = "directml"


class Precision(str, enum.Enum):
    """Arithmetic of the model run. ``auto``: fp32, except where a measured faster variant ships as a
    default (see README, Performance). ``bf16``/``fp16`` need a provider that computes in them
    (OpenVINO on a CPU with AMX/AVX512-BF16); ``int8`` runs the static QDQ model that
    ``scripts/quantize_i3d.py`` writes next to the fp32 one."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    int8 = "int8"


class Mode(str, enum.Enum):
    """How a file goes through the network.

    ``stream``: one pass over the whole video, every frame through the network once, block by block,
    the network's temporal state carried from block to block (the model's streaming form, see
    :mod:`vidclass.convert.streaming`); windows are scored from the exact per-step timeline.
    ``dense``: the same one pass, computed in overlapping chunks of the ordinary model (see
    :mod:`vidclass.dense`; about 1.6 times the work of ``stream`` on a long video).
    ``windows``: each window run on its own (the model's own padding at every window edge): what
    vidclass did before the one-pass modes. ``watch`` runs ``stream`` or ``windows``.
    ``auto``: ``stream`` when the model has its streaming form beside it (a provisioned model does),
    else ``windows``.
    """

    auto = "auto"
    stream = "stream"
    dense = "dense"
    windows = "windows"


@dataclass(frozen=True)
class Settings:
    """Everything that decides what a run computes. ``None`` means "the model's default"."""

    #: The ONNX model: a path, or None for the search order of :func:`vidclass.store.resolve_model`.
    model: str | None = None
    provider: Provider = Provider.auto
    precision: Precision = Precision.auto
    #: CPU threads for inference (None: the runtime's default, all cores).
    threads: int | None = None
    window_frames: int | None = None
    hop_frames: int | None = None
    mode: Mode = Mode.auto
    #: Dense mode: frames per chunk (None: :data:`vidclass.dense.DEFAULT_CHUNK_FRAMES`).
    chunk_frames: int | None = None
    top_k: int = 5
    #: When set, every result carries its segments (see :mod:`vidclass.segments`).
    segments: SegmentRule | None = None
    #: Thumbnails per file, taken in the same decode (for ``--report``); 0: none.
    thumbnails: int = 0

    def __post_init__(self) -> None:
        # Accept the plain strings the API and JSON give ("cpu", "dense"), store the enums.
        object.__setattr__(self, "provider", Provider(self.provider))
        object.__setattr__(self, "precision", Precision(self.precision))
        object.__setattr__(self, "mode", Mode(self.mode))
        if self.model is not None:
            object.__setattr__(self, "model", os.fspath(self.model))
        if self.top_k < 1:
            raise UsageError(f"--top-k must be at least 1, got {self.top_k}")
        for name in ("threads", "window_frames", "hop_frames", "chunk_frames"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"{name.replace('_frames', '')} must be at least 1, got {value}")

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``; unknown names are a :class:`TypeError` (a typo is a bug)."""
        return dataclasses.replace(self, **changes)
