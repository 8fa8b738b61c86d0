"""A converted model checks itself against reference numbers that need no video file.

``procedural.json`` (copied from ``shared/assets/reference/procedural.json``, see its ``source``
field) holds the per-step logits of the independent JAX/Flax implementation for an input defined by
a formula::

    x[t, h, w, c] = 0.9 * sin(2*pi*(h/56 + w/37 + t/8) + 2*pi*c/3)     float32, (T, 224, 224, 3)

for T = 9, 16 and 33 (one, one and four output steps). Any machine can regenerate it, so a model
converted on a user's first run, from a wheel, is checked before it is used.

The tolerance, 1e-3 on the largest per-step logit difference, is the reference's own bound: the
numbers are rounded to 5 decimals and two independent conversions agreed within 3e-5.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

TOLERANCE = 1e-3
RESOURCE = "procedural.json"

#: Maps a video ``[1, T, H, W, 3]`` (float32, [-1, 1]) to per-step logits ``[1, T', classes]``.
Run = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CaseResult:
    frames: int
    steps: int
    max_abs_diff: float


@dataclass(frozen=True)
class SelfCheck:
    """The model's per-step logits against the reference on the formula input."""

    cases: tuple[CaseResult, ...]
    tolerance: float

    @property
    def max_abs_diff(self) -> float:
        return max(case.max_abs_diff for case in self.cases)

    @property
    def passed(self) -> bool:
        # NaN compares False, so a model that outputs NaN fails.
        return all(case.max_abs_diff <= self.tolerance for case in self.cases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "cases": [{"frames": c.frames, "steps": c.steps, "max_abs_diff": c.max_abs_diff} for c in self.cases],
        }


def reference_cases() -> dict[str, Any]:
    """The shipped reference numbers (``procedural.json``)."""
    return json.loads(resources.files(__package__).joinpath(RESOURCE).read_text(encoding="utf-8"))


def procedural_video(frames: int, height: int, width: int, channels: int = 3) -> np.ndarray:
    """The formula input, ``(frames, height, width, channels)`` float32, computed in float64."""
    t = np.arange(frames, dtype=np.float64)[:, None, None, None]
    h = np.arange(height, dtype=np.float64)[None, :, None, None]
    w = np.arange(width, dtype=np.float64)[None, None, :, None]
    c = np.arange(channels, dtype=np.float64)[None, None, None, :]
    return (0.9 * np.sin(2 * np.pi * (h / 56 + w / 37 + t / 8) + 2 * np.pi * c / 3)).astype(np.float32)


def onnxruntime_run(model_path: Path) -> Run:
    """ONNX Runtime on the CPU, one session, the model's own input and output names."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as e:  # ONNX Runtime raises its own exception types for an unloadable file
        raise ModelError(f"{model_path}: ONNX Runtime cannot load it ({type(e).__name__}: {e})") from e
    (inp,), (out,) = session.get_inputs(), session.get_outputs()

    def run(video: np.ndarray) -> np.ndarray:
        return session.run([out.name], {inp.name: video})[0]

    return run


def self_check(model_path: Path, run: Run | None = None) -> SelfCheck:
    """Run the model on the formula input at each reference length and compare every per-step logit.

    ``run`` replaces the default ONNX Runtime CPU session (an OpenVINO compiled model, say); it maps
    ``[1, T, H, W, 3]`` to ``[1, T', classes]``. A wrong output shape counts as an infinite difference.
    """
    reference = reference_cases()
    run = run if run is not None else onnxruntime_run(model_path)
    results = []
    for case in reference["cases"]:
        want = np.asarray(case["per_step_logits"], np.float32)
        video = procedural_video(case["frames"], reference["height"], reference["width"], reference["channels"])
        got = np.asarray(run(video[np.newaxis]))
        if got.shape != (1, *want.shape):
            diff = float("inf")
        else:
            diff = float(np.abs(got[0] - want).max())
        results.append(CaseResult(case["frames"], want.shape[0], diff))
    return SelfCheck(tuple(results), TOLERANCE)
