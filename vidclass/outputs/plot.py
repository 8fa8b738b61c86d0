"""``predict --plot``: a heatmap of the leading classes over time (the ``plot`` extra: matplotlib).

Rows are the classes that reach the highest probability in some window (a short action counts as
much as a long one), ordered by their mean over the video; columns are the moments each window
owns (see :func:`vidclass.segments.window_steps`), with x in seconds. Segments, when computed, are
outlined on their class's row.

matplotlib is imported here only, through its object API (no pyplot state, no window): the rest of
vidclass never needs it.

Labels, file names and the model's name are data: each is drawn literally (:func:`_literal`). A
``$`` in them would otherwise start mathtext (``"$5 $x^2$"`` drawn as a formula, ``"$\\foo$"`` a
``ValueError`` when the figure is saved), and a control character or line break would be a box or
a second line.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..evaluate import EvaluationReport
from ..results import ClipResult
from ..segments import window_steps
from ..text import for_terminal
from . import check_target

#: How many classes the heatmap shows.
ROWS = 8
_INSTALL = "--plot needs matplotlib: pip install 'vidclass[plot]'"


#: Text properties for every string that came from outside: no mathtext, ever.
LITERAL: dict[str, Any] = {"parse_math": False}


def _literal(text: object) -> str:
    """``text`` as matplotlib should draw it: control characters and line breaks made visible
    (the terminal's notation); drawn with :data:`LITERAL`, so that ``$`` stays a dollar."""
    return for_terminal(text)


def _save(fig: Any, path: Path) -> None:
    """Save ``fig`` to ``path`` whole (a partial file, then renamed). A glyph the font lacks (CJK,
    emoji) is drawn as a box, and labels too long for the margins overlap them: matplotlib's
    warnings about either would only be noise on stderr."""
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
            # Very long labels: the figure is still written, the labels overlap the margins.
            warnings.filterwarnings("ignore", message="Tight layout not applied", category=UserWarning)
            fig.savefig(partial, format=path.suffix.lower().lstrip("."))
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise UsageError(f"{_INSTALL} ({e})") from e
    return Figure


def check_plot_target(path: str | os.PathLike[str], force: bool) -> Path:
    """Fail before the work: matplotlib missing, an unknown image type, or a file in the way."""
    path = check_target(path, force, "--plot")
    figure = _figure_class()()
    kinds = figure.canvas.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in kinds:
        raise UsageError(f"--plot {path}: name it .png (or one of .{', .'.join(sorted(kinds))})")
    return path


def plot_classes(result: ClipResult, rows: int = ROWS) -> list[int]:
    """Class indices for the heatmap's rows: the ``rows`` highest peaks, ordered by mean probability."""
    if result.timeline is None:
        raise ValueError("this result carries no timeline (make it with Classifier.predict)")
    probs = result.timeline.probs
    peaks = np.argsort(-probs.max(axis=0), kind="stable")[:rows]
    return sorted((int(i) for i in peaks), key=lambda i: -float(probs[:, i].mean()))


def save_timeline_plot(
    result: ClipResult, path: str | os.PathLike[str], *, force: bool = False, rows: int = ROWS
) -> Path:
    """Draw the heatmap of ``result`` to ``path`` (format from its suffix); returns the path."""
    path = check_plot_target(path, force)
    _save(timeline_figure(result, rows), path)
    return path


def timeline_figure(result: ClipResult, rows: int = ROWS) -> Any:
    """The heatmap of ``result``: a matplotlib ``Figure``, not drawn yet."""
    timeline = result.timeline
    if timeline is None:
        raise ValueError("this result carries no timeline (make it with Classifier.predict)")
    classes = plot_classes(result, rows)
    steps = window_steps(timeline.spans_s)
    edges = np.array([steps[0][0]] + [end for _, end in steps])
    Figure = _figure_class()
    width = min(16.0, max(7.0, 3.0 + 0.5 * float(edges[-1])))
    fig = Figure(figsize=(width, 1.4 + 0.32 * len(classes)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(
        edges, np.arange(len(classes) + 1), timeline.probs[:, classes].T, vmin=0.0, vmax=1.0, cmap="viridis"
    )
    ax.set_yticks(np.arange(len(classes)) + 0.5, labels=[_literal(timeline.labels[i]) for i in classes], **LITERAL)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.set_xlim(edges[0], edges[-1])
    name = _literal(Path(result.source).name)
    ax.set_title(
        f"{name}: probability per window ({result.window_frames} frames, hop {result.hop_frames}, "
        f"{result.frame_rate:g} fps)",
        fontsize="medium",
        loc="left",
        **LITERAL,
    )
    fig.colorbar(mesh, ax=ax, label="probability", pad=0.01)
    row_of = {timeline.labels[i]: r for r, i in enumerate(classes)}
    for seg in result.segments or ():
        if seg.label in row_of:
            ax.add_patch(_rectangle((seg.start_s, row_of[seg.label]), seg.end_s - seg.start_s))
    return fig


def _rectangle(corner: tuple[float, float], width: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle(corner, width, 1.0, fill=False, edgecolor="white", linewidth=1.5)


# -- evaluate --confusion ---------------------------------------------------------------------


def check_confusion_target(path: str | os.PathLike[str], force: bool) -> Path:
    """Fail before the work, not after it: matplotlib missing, or a file that would be overwritten."""
    if Path(path).suffix.lower() != ".png":
        raise UsageError(f"--confusion {path}: the confusion matrix is written as PNG (name it .png)")
    path = check_target(path, force, "--confusion")
    _pyplot()
    return path


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise UsageError(f"--confusion needs matplotlib: pip install 'vidclass[plot]' ({e})") from e
    return plt


def confusion_labels(report: EvaluationReport) -> list[str]:
    """The matrix's axes: every true label, then the other labels that were predicted, sorted."""
    true = sorted({t for t, _, _ in report.matrix})
    return true + sorted({p for _, p, _ in report.matrix} - set(true))


def save_confusion_png(report: EvaluationReport, path: str | os.PathLike[str]) -> Path:
    """Rows: true labels; columns: top-1 predictions; each cell the number of videos."""
    path = Path(path)
    _save(confusion_figure(report), path)
    return path


def confusion_figure(report: EvaluationReport) -> Any:
    """The confusion matrix of ``report``: a matplotlib ``Figure``, not drawn yet."""
    Figure = _figure_class()
    labels = confusion_labels(report)
    rows = sorted({t for t, _, _ in report.matrix})
    where = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(rows), len(labels)), int)
    for t, p, n in report.matrix:
        counts[rows.index(t), where[p]] = n
    width, height = 2.5 + 0.45 * len(labels), 2.0 + 0.4 * len(rows)
    # Laid out when drawn (in _save), where a missing glyph's warning is silenced.
    fig = Figure(figsize=(max(4.0, width), max(3.0, height)), dpi=100, layout="tight")
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, int(counts.max())), aspect="auto")
    ax.set_xticks(range(len(labels)), [_literal(t) for t in labels], rotation=60, ha="right", fontsize=8, **LITERAL)
    ax.set_yticks(range(len(rows)), [_literal(t) for t in rows], fontsize=8, **LITERAL)
    ax.set_xlabel("top-1 prediction")
    ax.set_ylabel("true label")
    accuracy = report.top1_accuracy
    shown = f"{accuracy:.1%}" if accuracy is not None else "n/a"
    ax.set_title(f"{_literal(report.model)}: top-1 {shown} on {report.videos} videos", fontsize=9, **LITERAL)
    for r, c in zip(*np.nonzero(counts), strict=True):
        dark = counts[r, c] > counts.max() / 2
        ax.text(c, r, str(counts[r, c]), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    return fig
