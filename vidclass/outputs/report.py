"""``--report report.html``: one self-contained HTML page to browse what a batch found.

The page carries everything inline (CSS, JavaScript, thumbnails as ``data:`` JPEGs) and a
Content-Security-Policy that lets nothing leave it, so it opens from disk in any browser, offline,
and can be mailed or archived as one file. Per video: a strip of thumbnails, the top labels with
bars, a timeline of what happens when (segments when the run made them, else each window's top-1),
warnings and errors. For the run: counts, the labels found, a search and filters, sorting, the
model and settings; with an evaluation, accuracy, the confusion matrix and the mistakes.

How untrusted text stays text. File names and labels come from outside (a label is model metadata).
They travel as JSON inside ``<script type="application/json">``, where ``<``, ``>`` and ``&`` are
written as ``\\u003c``-style escapes so that no name can close the script element, and
``ensure_ascii`` escapes every other non-ASCII character (U+2028/2029 included). The page's own
script puts them into the document with ``textContent`` and ``setAttribute`` only, never as markup.
Characters that would change how a name *looks* (controls, bidirectional overrides, zero-width
marks) are replaced before that by a visible ``[U+202E]``, so ``invoice\\u202egpj.exe`` cannot pose
as ``invoiceexe.jpg``; bytes of a name that is not UTF-8 show as ``\\xe9``, as in the JSON Lines.

Size: the JSON is what grows with the batch; with thumbnails most of it is JPEG. The pictures come
in JSON blocks at the end of the file, so the page is drawn and usable before the browser has read
them, and they fill in block by block. The page renders one page of videos at a time (filters
and sorting work on all of them), building each video's part once; README, Report, has the figures
measured at 1,000 videos.

:func:`build_report` is pure (records in, HTML text out); :func:`write_report` writes it atomically;
:func:`read_records` reads the JSON Lines of ``predict --json``/``--output`` back.
"""

from __future__ import annotations

import base64
import colorsys
import html
import json
import math
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..segments import DEFAULT_THRESHOLD, window_steps
from ..sources import VideoFile
from ..thumbnails import Thumbnail, ThumbnailStrip
from ..version import __version__
from .annotate import check_target

#: The page may load nothing: no script, style, image, font or connection from anywhere but itself.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
#: A video whose top-1 is below this is marked "unsure": the probability at which ``--segments``
#: starts an action, so the two views agree on what counts as confident.
UNSURE_BELOW = DEFAULT_THRESHOLD
#: Videos whose pictures share one JSON block at the end of the page (~1.6 MB with 8 thumbnails each).
IMAGE_BLOCK = 100
#: Tableau 10 (Maureen Stone, 2016) without its grey.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
#: The swatch of a label that is nobody's top-1 and on no timeline (it only shows in top-k lists).
UNFOUND_COLOUR = "#9aa1a9"
_GOLDEN = 0.618033988749895
_ASSETS = "report_assets"


@dataclass(frozen=True)
class RunInfo:
    """What the report says about the run beyond the records themselves (all optional)."""

    title: str = "vidclass report"
    #: When the run (or the report) was made, ISO 8601; None: now.
    created: str | None = None
    #: The command line as typed, for the record.
    command: str | None = None
    #: The JSON Lines file the report was made from, if any.
    results: str | None = None
    #: Settings worth showing, in order ("mode": "windows", "threshold": 0.5, ...). The window,
    #: hop, frame rate, top-k and model are read from the records and need not be given.
    settings: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)

    @classmethod
    def from_value(cls, value: RunInfo | Mapping[str, Any] | None) -> RunInfo:
        if value is None:
            return cls()
        if isinstance(value, RunInfo):
            return value
        return cls(**value)


# --- Text: everything from outside is shown as what it is ------------------------------------------

#: Characters that change how the text around them looks or reads without being visible themselves.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"}


def visible_text(text: str) -> str:
    """``text`` with every character that is invisible or reorders its neighbours written out.

    Controls, format characters (bidi overrides and isolates, zero-width joiners, the BOM), line and
    paragraph separators become ``[U+XXXX]``; a lone surrogate from a name that is not UTF-8 becomes
    the byte it stands for, ``\\xe9``. Printable text is unchanged. Pure.
    """
    if text.isprintable():  # no control, format, separator (but the space), private or unassigned
        return text
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape: one undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            out.append(f"[U+{code:04X}]")
        else:
            out.append(char)
    return "".join(out)


def script_json(value: Any) -> str:
    """JSON that is safe as the content of an HTML ``<script>`` element, whatever strings it holds.

    ``ensure_ascii`` escapes every non-ASCII character (U+2028/2029 included, and lone surrogates,
    which UTF-8 could not even encode); ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e``,
    ``\\u0026``, so neither ``</script>`` nor ``<!--`` can appear. ``JSON.parse`` reads the escapes
    back as the same characters.
    """
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def label_colour(index: int) -> str:
    """A stable, distinct colour per label, as ``#rrggbb``: label 0 is the most frequent.

    The first ones come from Tableau's ten-colour palette (its grey left out: grey is for labels on
    no timeline), designed to stay apart from each other; past those,
    hues spread by the golden ratio.
    """
    if index < len(PALETTE):
        return PALETTE[index]
    r, g, b = colorsys.hsv_to_rgb((0.58 + index * _GOLDEN) % 1.0, 0.62, 0.88)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


# --- From records to the page's data ------------------------------------------------------------


class _Labels:
    """Label text -> index in the page's label table, in order of first use."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, label: str | None) -> int:
        if label is None:
            return -1
        if not isinstance(label, str):
            raise TypeError(f"a label is text, got {type(label).__name__}")
        return self.index.setdefault(label, len(self.index))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{what} is not a number ({value!r})")
    return float(value)


def _ranked(entries: Any, labels: _Labels, what: str) -> list[list[float]]:
    if not isinstance(entries, list):
        raise TypeError(f"{what} is not a list")
    return [[labels(e["label"]), _number(e["score"], f"a {what} score")] for e in entries]


def _timeline(record: Mapping[str, Any], labels: _Labels) -> tuple[str, list[list[float]]]:
    """``[start_s, end_s, label index or -1, score]`` per stretch: the segments, else each window's top-1.

    Windows overlap when the hop is shorter than the window; each owns the time nearest its centre
    (:func:`vidclass.segments.window_steps`, as ``--output-video`` draws it).
    """
    segments = record.get("segments")
    if segments is not None:
        if not isinstance(segments, list):
            raise TypeError("segments is not a list")
        return "segments", [
            [
                _number(s["start_s"], "a segment start"),
                _number(s["end_s"], "a segment end"),
                labels(s["label"]),
                _number(s["score"], "a segment score"),
            ]
            for s in segments
        ]
    windows = record.get("windows") or []
    if not isinstance(windows, list):
        raise TypeError("windows is not a list")
    spans = [(_number(w["start_s"], "a window start"), _number(w["end_s"], "a window end")) for w in windows]
    bars = []
    for (start, end), window in zip(window_steps(spans), windows, strict=True):
        top = _ranked(window["top"], labels, "window top")
        bars.append([start, end, *(top[0] if top else [-1, 0.0])])
    return "windows", bars


def _video(number: int, record: Any, labels: _Labels, thumbnails: Mapping[str, Sequence[Thumbnail]]) -> dict:
    if not isinstance(record, Mapping) or not isinstance(record.get("source"), str):
        raise UsageError(f"record {number}: not a vidclass result (an object with a source)")
    source = record["source"]
    head, _, name = source.replace("\\", "/").rstrip("/").rpartition("/")
    video: dict[str, Any] = {
        "id": number,
        "source": visible_text(source),
        "name": visible_text(name or source),
        "folder": visible_text(head),
        # Where and how big; the pictures themselves travel apart (see build_report).
        "thumbs": [[round(t.time_s, 3), t.width, t.height] for t in thumbnails.get(source, ())],
    }
    if "error" in record:
        video["error"] = visible_text(str(record["error"]))
        return video
    try:
        kind, bars = _timeline(record, labels)
        video.update(
            duration_s=_number(record["duration_s"], "duration_s"),
            frames=int(record.get("frames", 0)),
            frame_rate=_number(record.get("frame_rate", 0), "frame_rate"),
            window_frames=int(record.get("window_frames", 0)),
            hop_frames=int(record.get("hop_frames", 0)),
            windows=len(record.get("windows") or []),
            short=bool(record.get("short", False)),
            top=_ranked(record["top"], labels, "top"),
            timeline=kind,
            bars=bars,
            warnings=[visible_text(str(w)) for w in record.get("warnings") or []],
        )
    except (KeyError, TypeError, ValueError, IndexError) as e:
        cause = f"no {e.args[0]}" if isinstance(e, KeyError) else str(e)
        raise UsageError(f"record {number} ({visible_text(source)}): not a vidclass result ({cause})") from e
    return video


def _models(records: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The distinct models of the records (a resumed run may mix two), in order of first use."""
    seen: dict[tuple[str, ...], dict[str, str]] = {}
    for record in records:
        model = record.get("model")
        if isinstance(model, Mapping):
            shown = {k: visible_text(str(model.get(k, ""))) for k in ("name", "version", "sha256", "provider")}
            seen.setdefault(tuple(shown.values()), shown)
    return list(seen.values())


def _distinct(videos: Sequence[Mapping[str, Any]], key: str) -> str:
    values = sorted({v[key] for v in videos if key in v})
    return ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in values)


def _settings(videos: Sequence[Mapping[str, Any]], run: RunInfo) -> list[list[str]]:
    """(name, value) rows: what the records say, then what the run adds."""
    classified = [v for v in videos if "error" not in v]
    rows = []
    if classified:
        # A video shorter than one window is classified as one window of its own length: say so once
        # rather than list every such length as a window size.
        full = [v for v in classified if not v["short"]] or classified
        short = sum(v["short"] for v in classified)
        window = f"{_distinct(full, 'window_frames')} frames"
        if short:
            window += f" ({short} shorter {'video' if short == 1 else 'videos'}: one window of their length)"
        rows += [
            ["window", window],
            ["hop", f"{_distinct(full, 'hop_frames')} frames"],
            ["frame rate", f"{_distinct(classified, 'frame_rate')} fps"],
            ["top-k", str(max(len(v["top"]) for v in classified))],
            ["timeline", _distinct(classified, "timeline")],
        ]
    for name, value in run.settings.items():
        rows.append([visible_text(str(name)), visible_text("" if value is None else str(value))])
    return rows


def _found(videos: Sequence[Mapping[str, Any]], label_count: int) -> list[int]:
    """Per label index, the number of videos where it is the top-1 or on the timeline."""
    counts: Counter[int] = Counter()
    for video in videos:
        if "error" in video:
            continue
        present = {int(bar[2]) for bar in video["bars"] if bar[2] >= 0}
        if video["top"]:
            present.add(int(video["top"][0][0]))
        counts.update(present)
    return [counts[i] for i in range(label_count)]


def _evaluation(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The page's copy of :meth:`vidclass.evaluate.EvaluationReport.to_dict`, text made visible.

    The confusion matrix is rebuilt from the dict: its diagonal is each class's top-1 hits, its other
    cells the ``most_confused`` pairs (the dict lists every pair that differs).
    """
    try:
        per_class = [
            {
                "label": visible_text(c["label"]),
                "videos": int(c["videos"]),
                "top1": int(c["top1_correct"]),
                "top5": int(c["top5_correct"]),
            }
            for c in evaluation["per_class"]
        ]
        cells = {(c["label"], c["label"]): c["top1"] for c in per_class if c["top1"]}
        for pair in evaluation.get("most_confused", []):
            cells[(visible_text(pair["label"]), visible_text(pair["predicted"]))] = int(pair["count"])
        rows = sorted({t for t, _ in cells} | {c["label"] for c in per_class})
        columns = rows + sorted({p for _, p in cells} - set(rows))
        not_counted = evaluation.get("not_counted", {})
        return {
            "data": visible_text(str(evaluation.get("data", ""))),
            "model": visible_text(str(evaluation.get("model", ""))),
            "videos": int(evaluation["videos"]),
            "top1": int(evaluation["top1_correct"]),
            "top5": int(evaluation["top5_correct"]),
            "per_class": per_class,
            "rows": rows,
            "columns": columns,
            "matrix": [[cells.get((r, c), 0) for c in columns] for r in rows],
            "mistakes": [
                {
                    "source": visible_text(m["source"]),
                    "label": visible_text(m["label"]),
                    "top": [[visible_text(t["label"]), _number(t["score"], "a mistake score")] for t in m["top"]],
                }
                for m in evaluation.get("mistakes", [])
            ],
            "unlabelled": [visible_text(s) for s in not_counted.get("unlabelled", [])],
            "unknown": [
                {"label": visible_text(u["label"]), "sources": [visible_text(s) for s in u["sources"]]}
                for u in not_counted.get("unknown_labels", [])
            ],
            "errors": [
                {"source": visible_text(e["source"]), "error": visible_text(e["error"])}
                for e in not_counted.get("errors", [])
            ],
        }
    except (KeyError, TypeError, ValueError) as e:
        cause = f"no {e.args[0]}" if isinstance(e, KeyError) else str(e)
        raise UsageError(f"the evaluation is not an EvaluationReport.to_dict() ({cause})") from e


def report_data(
    records: Iterable[Mapping[str, Any]],
    *,
    thumbnails: Mapping[str, Sequence[Thumbnail]] | None = None,
    run: RunInfo | Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the page shows, as one JSON-ready dict (all outside text made visible). Pure.

    ``images``: video id -> its thumbnails as base64 JPEG, in the order of the video's ``thumbs``.
    """
    info = RunInfo.from_value(run)
    records = list(records)
    labels = _Labels()
    thumbnails = thumbnails or {}
    videos = [_video(n, r, labels, thumbnails) for n, r in enumerate(records, 1)]
    images = {
        str(n): [base64.b64encode(t.jpeg).decode("ascii") for t in thumbnails.get(r["source"], ())]
        for n, r in enumerate(records, 1)
        if thumbnails.get(r["source"])
    }
    names = list(labels.index)
    found = _found(videos, len(names))
    # Colours by how often a label was found: the most common labels get the most distinct hues. A
    # label only ever ranked below the top-1 is on no timeline: grey, so no hue is spent twice.
    by_use = sorted((i for i in range(len(names)) if found[i]), key=lambda i: (-found[i], i))
    colour = dict.fromkeys(range(len(names)), UNFOUND_COLOUR) | {i: label_colour(r) for r, i in enumerate(by_use)}
    page_evaluation = _evaluation(evaluation) if evaluation is not None else None
    if page_evaluation is not None:  # each mistake is also marked on its video: "labelled X"
        mistaken = {m["source"]: m["label"] for m in page_evaluation["mistakes"]}
        for video in videos:
            if video["source"] in mistaken:
                video["mistake"] = mistaken[video["source"]]
    return {
        "title": visible_text(info.title),
        "created": info.created or datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "command": visible_text(info.command) if info.command else None,
        "results": visible_text(info.results) if info.results else None,
        "version": __version__,
        "unsure_below": UNSURE_BELOW,
        "labels": [visible_text(n) for n in names],
        "colours": [colour[i] for i in range(len(names))],
        "found": found,
        "models": _models(records),
        "settings": _settings(videos, info),
        "videos": videos,
        "evaluation": page_evaluation,
        "images": images,
    }


def _asset(name: str) -> str:
    text = resources.files(__package__).joinpath(_ASSETS, name).read_text(encoding="utf-8")
    # Both go inside <style>/<script> elements: neither may hold the text that would end one early.
    if re.search(r"</(script|style)|<!--", text, re.IGNORECASE):
        raise RuntimeError(f"{_ASSETS}/{name} contains text that would end its element early")
    return text


def build_report(
    records: Iterable[Mapping[str, Any]],
    *,
    thumbnails: Mapping[str, Sequence[Thumbnail]] | None = None,
    run: RunInfo | Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> str:
    """The report page for ``records`` (the JSON Lines records of ``predict --json``), as HTML text.

    ``thumbnails``: source -> its strip (:class:`~vidclass.thumbnails.ThumbnailStrip`), for
    the sources that have one. ``run``: what to say about the run (:class:`RunInfo` or a dict of its
    fields). ``evaluation``: :meth:`vidclass.evaluate.EvaluationReport.to_dict`, for ``evaluate``.
    Raises :class:`~vidclass.errors.UsageError` for a record that is not a vidclass result. Pure.
    """
    data = report_data(records, thumbnails=thumbnails, run=run, evaluation=evaluation)
    images = data.pop("images")
    title = html.escape(data["title"])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta name="generator" content="vidclass {html.escape(__version__)}">\n'
        f"<title>{title}</title>\n<style>\n{_asset('report.css')}</style>\n</head>\n<body>\n"
        f'<a class="skip" href="#videos">Skip to the videos</a>\n'
        f'<header class="page"><h1 id="title">{title}</h1><p id="subtitle"></p></header>\n'
        '<noscript><p class="noscript">This report draws itself with JavaScript, which is off: '
        "turn it on for this file (it makes no connection: its Content-Security-Policy forbids any).</p></noscript>\n"
        '<main id="main"></main>\n'
        '<div id="tooltip" role="tooltip" hidden></div>\n'
        f'<script type="application/json" id="vidclass-data">{script_json(data)}</script>\n'
        f"<script>\n{_asset('report.js')}</script>\n"
        f"{_image_blocks(images)}</body>\n</html>\n"
    )


def _image_blocks(images: Mapping[str, list[str]]) -> str:
    """The pictures, after the script that draws the page, in blocks of :data:`IMAGE_BLOCK` videos.

    At 1,000 videos they are nine tenths of the file. Coming last, they do not hold up the first
    page; in blocks, each followed by a call that shows the ones just read, the browser can paint
    between two blocks (one block is one token for its parser) and the first page's pictures appear
    after the first block rather than after all of them.
    """
    ids = list(images)
    blocks = [ids[i : i + IMAGE_BLOCK] for i in range(0, len(ids), IMAGE_BLOCK)] or [[]]
    return "".join(
        f'<script type="application/json" class="vidclass-images"{" data-last" * (n == len(blocks) - 1)}>'
        f"{script_json({i: images[i] for i in block})}</script>\n<script>window.vidclassImages();</script>\n"
        for n, block in enumerate(blocks)
    )


def check_report_target(path: str | os.PathLike[str], force: bool, option: str = "--report") -> Path:
    """Fail before any work: not .html/.htm, a folder, a missing folder, an existing file without ``force``."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"{option} {path}: the report is an HTML page (name it .html)")
    return check_target(path, force, option)


def write_report(
    path: str | os.PathLike[str],
    records: Iterable[Mapping[str, Any]],
    *,
    thumbnails: Mapping[str, Sequence[Thumbnail]] | None = None,
    run: RunInfo | Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    force: bool = False,
    option: str = "--report",
) -> Path:
    """Build the report and write it to ``path``: complete or not at all (a temporary file next to
    it, renamed into place), and an existing file only with ``force``."""
    path = check_report_target(path, force, option)
    page = build_report(records, thumbnails=thumbnails, run=run, evaluation=evaluation).encode("utf-8")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(page)
        os.chmod(temporary, 0o644 & ~_umask())
        os.replace(temporary, path)
    except OSError as e:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(f"{option} {path}: cannot write ({e.strerror})") from e
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class ReadRecords:
    """The records of a JSON Lines file, and what was wrong with its end."""

    records: tuple[dict[str, Any], ...]
    #: The last line was cut off (no newline, not JSON): a run that was killed while writing.
    cut_off: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_records(path: str | os.PathLike[str]) -> ReadRecords:
    """The records of a ``predict --json``/``--output x.jsonl`` file (see :func:`parse_records`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from e
    return parse_records(data, str(path))


def parse_records(data: bytes, name: str) -> ReadRecords:
    """The records in the JSON Lines ``data`` read from ``name`` (a file, or standard input). Pure.

    A last line without a newline that is not JSON is a record cut off by a kill or a crash: left
    out, and said (``cut_off``). Any other line that is not a JSON object with a ``source`` is an
    error naming ``name`` and the line. Blank lines are skipped.
    """
    # Names that are not UTF-8 were written as \udcXX escapes; anything else undecodable is damage.
    try:
        lines = data.decode("utf-8-sig").split("\n")
    except UnicodeDecodeError as e:
        raise UsageError(f"{name}: not a UTF-8 JSON Lines file ({e.reason} at byte {e.start})") from e
    records: list[dict[str, Any]] = []
    cut_off = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines):  # the last line, with no newline after it
                cut_off = True
                break
            raise UsageError(f"{name}: line {number} is not JSON ({e.msg})") from e
        if not isinstance(record, dict) or not isinstance(record.get("source"), str):
            raise UsageError(f"{name}: line {number} is not a vidclass result (an object with a source)")
        records.append(record)
    return ReadRecords(tuple(records), cut_off)


def read_thumbnails(source: str, count: int, height: int = 72) -> tuple[Thumbnail, ...]:
    """Decode ``source`` again for a strip of ``count`` thumbnails: for ``vidclass report --thumbnails``,
    when the results were made without a report (their JSON Lines carry no pictures).

    ``predict --report`` never calls this: it collects the strip in the decode that classifies.
    Raises :class:`~vidclass.errors.InputError` when the file is gone or cannot be decoded.
    """
    with VideoFile(source) as video:
        fps, frames = video.nominal_fps, video.header_frames
        strip = ThumbnailStrip(count, frames / fps if fps and frames else None, height)
        for frame in video:
            strip.push(frame.time_s, frame.image)
    return strip.thumbnails()
