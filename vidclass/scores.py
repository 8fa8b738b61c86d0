"""From logits to ranked labels: softmax, window and clip aggregation, top-k, time spans.

Pure functions on numpy arrays; no I/O.

Clip score: the mean of the window probabilities. Each window is scored the way the network was
trained to score a clip (per-time-step logits averaged, then softmax), and averaging probabilities
keeps one confidently wrong window from dominating the clip the way averaged logits can.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def window_probabilities(step_logits: np.ndarray) -> np.ndarray:
    """``[..., T', classes]`` per-time-step logits -> ``[..., classes]`` probabilities for each clip."""
    return softmax(step_logits.mean(axis=-2))


def clip_probabilities(window_probs: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of the window probabilities."""
    return np.mean(np.stack(window_probs), axis=0)


def non_finite(values: np.ndarray) -> str | None:
    """What is not a number in ``values``: ``"NaN"``, ``"Inf"``, ``"NaN and Inf"``, or None when all are finite.

    A model can produce these (a bad export, a division by zero inside the graph); they are not
    scores, and no ranking or JSON can hold them, so the caller turns them into an error.
    """
    if np.isfinite(values).all():
        return None
    nan, inf = bool(np.isnan(values).any()), bool(np.isinf(values).any())
    return "NaN and Inf" if nan and inf else "NaN" if nan else "Inf"


def top_k(probs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best (class index, probability) pairs, best first; ties keep the lower index first."""
    k = max(1, min(k, probs.shape[-1]))
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), float(probs[i])) for i in order]


def top1_spans(
    window_probs: Sequence[np.ndarray], bounds_s: Sequence[tuple[float, float]], class_index: int
) -> list[tuple[float, float]]:
    """Time spans covered by the windows whose top-1 is ``class_index``, overlapping ones merged."""
    spans: list[tuple[float, float]] = []
    for probs, (start_s, end_s) in zip(window_probs, bounds_s, strict=True):
        if int(np.argmax(probs)) != class_index:
            continue
        if spans and start_s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end_s))
        else:
            spans.append((start_s, end_s))
    return spans
