"""How good is the model on your labelled footage? ``vidclass evaluate DATA``.

``DATA`` is either

* a folder with one sub-folder per class (the sub-folder's name is the label; its videos are found
  recursively; videos lying in ``DATA`` itself have no label), or
* a CSV file with a path column (``path``, ``file`` or ``video``) and a ``label`` column, or with no
  header at all and ``path,label`` in the first two columns. Paths are relative to the CSV's folder.

Labels are matched to the model's after normalising case, spaces and underscores
(``Arm_Wrestling`` is ``arm wrestling``). A video with an empty label, or with a label the model
does not know, is reported and not counted; so is one that cannot be decoded.

The report: top-1 and top-5 accuracy, accuracy per class, the most confused pairs (true label ->
top-1), and every mistake with its top-3; :meth:`EvaluationReport.to_dict` is ``--json``.
:func:`save_confusion_png` draws the confusion matrix (the ``plot`` extra: matplotlib).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .classifier import Classifier
from .engines import Engine, Observer, run
from .errors import UsageError
from .results import ClipResult, ErrorResult, LabelScore
from .sources import VIDEO_EXTENSIONS

#: Top-k accuracies reported; the classifier must rank at least this many labels.
TOP_K = 5
#: Predictions shown for each mistake.
MISTAKE_TOP = 3
_PATH_COLUMNS = ("path", "file", "video")


def normalise_label(text: str) -> str:
    """``"Arm_Wrestling "`` -> ``"arm wrestling"``: case, underscores and runs of spaces do not count."""
    return " ".join(text.replace("_", " ").casefold().split())


@dataclass(frozen=True)
class LabelledVideo:
    path: Path
    #: The label as written in the data; ``""`` when the video has none.
    label: str


def load_dataset(data: str | os.PathLike[str]) -> list[LabelledVideo]:
    """The videos of a class-per-folder tree or of a ``path,label`` CSV, in a stable order."""
    data = Path(data)
    if data.is_dir():
        return _load_folder(data)
    if not data.is_file():
        raise UsageError(f"{data}: no such folder or CSV file")
    if data.suffix.lower() != ".csv":
        raise UsageError(f"{data}: evaluate takes a folder with one sub-folder per class, or a .csv of path,label")
    return _load_csv(data)


def _videos_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


def _load_folder(root: Path) -> list[LabelledVideo]:
    videos = [
        LabelledVideo(p, "") for p in sorted(root.iterdir()) if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
    ]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        videos += [LabelledVideo(p, folder.name) for p in _videos_under(folder)]
    if not videos:
        raise UsageError(f"{root}: no videos in this folder or its sub-folders (one sub-folder per class)")
    return videos


def _load_csv(path: Path) -> list[LabelledVideo]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not a UTF-8 CSV file ({e.reason})") from e
    if not rows:
        raise UsageError(f"{path}: the CSV is empty")
    header = [cell.strip().casefold() for cell in rows[0]]
    path_col = next((header.index(name) for name in _PATH_COLUMNS if name in header), None)
    first = 1
    if path_col is not None and "label" in header:
        label_col, rows, first = header.index("label"), rows[1:], 2
    elif path_col is not None or "label" in header:
        raise UsageError(f"{path}: the header needs a path (or file) column and a label column")
    else:
        path_col, label_col = 0, 1
    videos = []
    for number, row in enumerate(rows, first):
        if len(row) <= path_col or not row[path_col].strip():
            raise UsageError(f"{path}: row {number} has no path")
        label = row[label_col].strip() if len(row) > label_col else ""
        videos.append(LabelledVideo(path.parent / row[path_col].strip(), label))
    if not videos:
        raise UsageError(f"{path}: no rows under the header")
    return videos


@dataclass(frozen=True)
class ClassAccuracy:
    label: str
    videos: int
    top1: int
    top5: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "videos": self.videos,
            "top1_correct": self.top1,
            "top5_correct": self.top5,
            "top1_accuracy": _ratio(self.top1, self.videos),
            "top5_accuracy": _ratio(self.top5, self.videos),
        }


@dataclass(frozen=True)
class ConfusedPair:
    label: str
    predicted: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "predicted": self.predicted, "count": self.count}


@dataclass(frozen=True)
class Mistake:
    source: str
    label: str
    top: tuple[LabelScore, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "label": self.label, "top": [t.to_dict() for t in self.top]}


@dataclass(frozen=True)
class UnknownLabel:
    label: str
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "sources": list(self.sources)}


def _ratio(correct: int, total: int) -> float | None:
    return round(correct / total, 5) if total else None


@dataclass(frozen=True)
class EvaluationReport:
    data: str
    model: str
    #: Videos counted: labelled with a label the model knows, and classified.
    videos: int
    top1: int
    top5: int
    per_class: tuple[ClassAccuracy, ...]
    #: Every (true label, top-1) pair that differ, most frequent first.
    confused: tuple[ConfusedPair, ...]
    mistakes: tuple[Mistake, ...]
    #: Not counted: no label, a label the model does not know, or the video failed.
    unlabelled: tuple[str, ...]
    unknown: tuple[UnknownLabel, ...]
    errors: tuple[ErrorResult, ...]
    #: (true label, top-1) -> count over the counted videos, for the confusion matrix.
    matrix: tuple[tuple[str, str, int], ...]
    #: Every classified video's own result, in the dataset's order (for ``--report``); not in ``to_dict``.
    results: tuple[ClipResult | ErrorResult, ...] = field(default=(), repr=False, compare=False)

    @property
    def top1_accuracy(self) -> float | None:
        return _ratio(self.top1, self.videos)

    @property
    def top5_accuracy(self) -> float | None:
        return _ratio(self.top5, self.videos)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "model": self.model,
            "videos": self.videos,
            "top1_correct": self.top1,
            "top5_correct": self.top5,
            "top1_accuracy": self.top1_accuracy,
            "top5_accuracy": self.top5_accuracy,
            "per_class": [c.to_dict() for c in self.per_class],
            "most_confused": [c.to_dict() for c in self.confused],
            "mistakes": [m.to_dict() for m in self.mistakes],
            "not_counted": {
                "unlabelled": list(self.unlabelled),
                "unknown_labels": [u.to_dict() for u in self.unknown],
                "errors": [e.to_dict() for e in self.errors],
            },
        }


@dataclass(frozen=True)
class Dataset:
    """A dataset's videos sorted into those that count and those reported only."""

    data: str
    #: (path, label in the model's own spelling) of each video that counts.
    counted: tuple[tuple[Path, str], ...]
    unlabelled: tuple[str, ...]
    #: Label as written -> the videos that carry it.
    unknown: dict[str, tuple[str, ...]]


def match_labels(data: str | os.PathLike[str], labels: Iterable[str]) -> Dataset:
    """Load ``data`` and match its labels to the model's ``labels`` (see :func:`normalise_label`)."""
    known = {normalise_label(label): label for label in labels}
    counted: list[tuple[Path, str]] = []
    unlabelled: list[str] = []
    unknown: dict[str, list[str]] = defaultdict(list)
    for video in load_dataset(data):
        if not video.label:
            unlabelled.append(str(video.path))
        elif normalise_label(video.label) not in known:
            unknown[video.label].append(str(video.path))
        else:
            counted.append((video.path, known[normalise_label(video.label)]))
    return Dataset(
        str(data), tuple(counted), tuple(unlabelled), {label: tuple(paths) for label, paths in unknown.items()}
    )


def evaluate(
    classifier: Classifier,
    data: str | os.PathLike[str] | Dataset,
    *,
    engine: Engine | str = Engine.local,
    workers: int = 1,
    observer: Observer | None = None,
    address: str | None = None,
) -> EvaluationReport:
    """Classify every labelled video of ``data`` whose label the model knows, and score the results."""
    if classifier.top_k < min(TOP_K, classifier.spec.num_classes):
        raise UsageError(f"evaluate needs the top {TOP_K} labels; the classifier ranks {classifier.top_k}")
    dataset = data if isinstance(data, Dataset) else match_labels(data, classifier.spec.labels)
    results: dict[int, ClipResult | ErrorResult] = dict(
        run(
            classifier,
            [path for path, _ in dataset.counted],
            engine=engine,
            workers=workers,
            observer=observer,
            address=address,
        )
    )
    report = score(
        dataset.data,
        classifier.spec.name,
        [(label, results[i]) for i, (_, label) in enumerate(dataset.counted)],
        dataset.unlabelled,
        dataset.unknown,
    )
    return dataclasses.replace(report, results=tuple(results[i] for i in range(len(dataset.counted))))


def score(
    data: str,
    model: str,
    predictions: Iterable[tuple[str, ClipResult | ErrorResult]],
    unlabelled: Iterable[str] = (),
    unknown: dict[str, tuple[str, ...]] | None = None,
) -> EvaluationReport:
    """The report for ``(true label, result)`` pairs, labels already the model's own spelling. Pure."""
    top1 = top5 = 0
    per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    matrix: Counter[tuple[str, str]] = Counter()
    mistakes: list[Mistake] = []
    errors: list[ErrorResult] = []
    for label, result in predictions:
        if isinstance(result, ErrorResult):
            errors.append(result)
            continue
        ranked = [t.label for t in result.top]
        hit1, hit5 = ranked[:1] == [label], label in ranked[:TOP_K]
        top1, top5 = top1 + hit1, top5 + hit5
        stats = per_class[label]
        stats[0], stats[1], stats[2] = stats[0] + 1, stats[1] + hit1, stats[2] + hit5
        matrix[(label, ranked[0])] += 1
        if not hit1:
            top = tuple(LabelScore(t.label, t.score) for t in result.top[:MISTAKE_TOP])
            mistakes.append(Mistake(result.source, label, top))
    confused = sorted(
        (ConfusedPair(t, p, n) for (t, p), n in matrix.items() if t != p),
        key=lambda c: (-c.count, c.label, c.predicted),
    )
    return EvaluationReport(
        data=data,
        model=model,
        videos=sum(s[0] for s in per_class.values()),
        top1=top1,
        top5=top5,
        per_class=tuple(ClassAccuracy(label, *per_class[label]) for label in sorted(per_class)),
        confused=tuple(confused),
        mistakes=tuple(mistakes),
        unlabelled=tuple(unlabelled),
        unknown=tuple(UnknownLabel(label, sources) for label, sources in sorted((unknown or {}).items())),
        errors=tuple(errors),
        matrix=tuple((t, p, n) for (t, p), n in sorted(matrix.items())),
    )
