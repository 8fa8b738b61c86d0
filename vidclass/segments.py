"""From a probability timeline to segments: "arm wrestling from 0.0 to 6.4 s, then nothing confident".

Pure functions on numpy arrays; no I/O.

A timeline is a run of consecutive *steps* (``spans_s``, one ``[start_s, end_s)`` per step) with a
probability vector each: one step per window (:func:`window_steps` turns overlapping windows into
consecutive steps) or one per output time step of the network. :func:`segment` merges it in three
stages:

1. **Hysteresis.** A label *enters* when its probability reaches ``threshold``, and then *holds* until
   it falls below the release threshold, ``threshold * RELEASE_RATIO``. A rival label takes over
   before that only by reaching ``threshold`` itself and beating the held label. With nothing held
   and nothing at ``threshold`` the step belongs to a gap: "no confident action".
2. **Runs.** Consecutive steps with the same label (or the same gap) form a run.
3. **Flicker.** A run shorter than ``min_duration_s`` (an action or a gap) is absorbed by its
   neighbours: merged with both when they agree (A, short, A -> one A), else into the longer one.
   The shortest run goes first and the pass repeats until every run is long enough or one is left.

Why the release is half the threshold: where one action gives way to another, a window straddles
both and its probability splits between them, roughly half each. A release at ``threshold / 2``
lets the running action hold through such a window, while the next one takes over as soon as it
reaches ``threshold`` on its own. A label that has sunk to half of what it took to start a segment
no longer describes the video, so the segment ends there.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import UsageError
from .results import Segment

#: Release threshold = ``threshold * RELEASE_RATIO`` (see the module docstring for why one half).
RELEASE_RATIO = 0.5
#: A label must reach this probability to start a segment, unless told otherwise.
DEFAULT_THRESHOLD = 0.5
#: ``label`` index of a step where no label is confident.
GAP = -1


def release_threshold(threshold: float) -> float:
    """The probability below which a held label lets go."""
    return threshold * RELEASE_RATIO


@dataclass(frozen=True)
class SegmentRule:
    """How a timeline becomes segments: enter at ``threshold``, runs shorter than ``min_duration_s`` absorbed.

    ``min_duration_s`` None means one window: the classifier fills in its window length, since an
    action shorter than the stretch the model looks at in one go cannot be told apart from flicker.
    :func:`segment` on a bare timeline reads None as 0 (nothing absorbed).
    """

    threshold: float = DEFAULT_THRESHOLD
    min_duration_s: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise UsageError(f"--threshold must be above 0 and at most 1, got {self.threshold:g}")
        if self.min_duration_s is not None and not self.min_duration_s >= 0.0:
            raise UsageError(f"--min-duration must be 0 or more seconds, got {self.min_duration_s:g}")

    @property
    def release(self) -> float:
        return release_threshold(self.threshold)

    def with_default_duration(self, min_duration_s: float) -> SegmentRule:
        """This rule, with ``min_duration_s`` filled in where it was left None."""
        if self.min_duration_s is not None:
            return self
        return SegmentRule(self.threshold, min_duration_s)


def window_steps(spans_s: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cut overlapping windows into consecutive steps: each window owns the time nearer its centre
    than its neighbours' centres; the first starts with the first window, the last ends with the last.

    Windows must be in order of start. One window gives one step, the window itself.
    """
    if not spans_s:
        return []
    centres = [(start + end) / 2 for start, end in spans_s]
    cuts = [spans_s[0][0]] + [(a + b) / 2 for a, b in zip(centres[:-1], centres[1:], strict=True)]
    cuts.append(spans_s[-1][1])
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def step_at(steps: Sequence[tuple[float, float]], time_s: float) -> int:
    """Index of the step that holds ``time_s`` (clamped to the first and last step)."""
    starts = [start for start, _ in steps]
    return min(max(bisect.bisect_right(starts, time_s) - 1, 0), len(steps) - 1)


def hysteresis(probs: np.ndarray, threshold: float, release: float) -> list[int]:
    """The label held at each step of ``[steps, classes]`` probabilities, :data:`GAP` where none."""
    held = GAP
    out = []
    for p in probs:
        best = int(np.argmax(p))
        if held == GAP:
            held = best if p[best] >= threshold else GAP
        elif best != held and p[best] >= threshold and p[best] > p[held]:
            held = best  # a rival that proves itself on its own takes over at once
        elif p[held] < release:
            held = best if p[best] >= threshold else GAP
        out.append(held)
    return out


def _runs(step_labels: Sequence[int]) -> list[list[int]]:
    """``[label, first_step, stop_step]`` for each run of equal labels."""
    runs: list[list[int]] = []
    for i, label in enumerate(step_labels):
        if runs and runs[-1][0] == label:
            runs[-1][2] = i + 1
        else:
            runs.append([label, i, i + 1])
    return runs


def absorb_short_runs(
    runs: list[list[int]], steps: Sequence[tuple[float, float]], min_duration_s: float
) -> list[list[int]]:
    """Stage 3 of the module docstring, on ``[label, first, stop]`` runs; returns new runs."""
    runs = [list(r) for r in runs]

    def duration(run: list[int]) -> float:
        return steps[run[2] - 1][1] - steps[run[1]][0]

    while len(runs) > 1:
        short = [i for i, run in enumerate(runs) if duration(run) < min_duration_s]
        if not short:
            break
        i = min(short, key=lambda k: (duration(runs[k]), k))
        before = runs[i - 1] if i > 0 else None
        after = runs[i + 1] if i + 1 < len(runs) else None
        if before is not None and after is not None and before[0] == after[0]:
            runs[i - 1 : i + 2] = [[before[0], before[1], after[2]]]
        elif before is not None and (after is None or duration(before) >= duration(after)):
            runs[i - 1 : i + 1] = [[before[0], before[1], runs[i][2]]]
        elif after is not None:
            runs[i : i + 2] = [[after[0], runs[i][1], after[2]]]
    return runs


def _mean_over(values: np.ndarray, weights: np.ndarray) -> float:
    total = float(weights.sum())
    if total <= 0:  # zero-length steps only: count them alike
        return float(values.mean())
    return float((values * weights).sum() / total)


def segment(
    steps: Sequence[tuple[float, float]],
    probs: np.ndarray,
    labels: Sequence[str],
    rule: SegmentRule | None = None,
) -> tuple[Segment, ...]:
    """Segments of a timeline: consecutive ``steps`` (seconds) with ``[steps, classes]`` ``probs``.

    The segments cover the timeline from the first step's start to the last step's end without gaps
    or overlaps; stretches with no confident action are segments with ``label`` None.
    """
    rule = rule or SegmentRule()
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(steps) or probs.shape[1] != len(labels):
        raise ValueError(f"probabilities {probs.shape} do not fit {len(steps)} steps x {len(labels)} labels")
    if not len(steps):
        return ()
    held = hysteresis(probs, rule.threshold, rule.release)
    runs = absorb_short_runs(_runs(held), steps, rule.min_duration_s or 0.0)
    weights = np.array([end - start for start, end in steps])
    result = []
    for label, first, stop in runs:
        w = weights[first:stop]
        if label == GAP:
            score = _mean_over(probs[first:stop].max(axis=1), w)
        else:
            score = _mean_over(probs[first:stop, label], w)
        result.append(Segment(None if label == GAP else labels[label], steps[first][0], steps[stop - 1][1], score))
    return tuple(result)


def segment_windows(
    spans_s: Sequence[tuple[float, float]],
    probs: np.ndarray,
    labels: Sequence[str],
    rule: SegmentRule | None = None,
) -> tuple[Segment, ...]:
    """:func:`segment` over sliding windows, each owning the time nearest its centre."""
    return segment(window_steps(spans_s), probs, labels, rule)
