"""The corpus of hostile strings (``test_hostile_text.HOSTILE``) through every place that prints.

As file names of real videos (Linux allows any byte but ``/`` and NUL), as a model's labels and
metadata, as folder names of an evaluation set, as a watched source: through the ``predict`` table,
the progress display, the one-line errors and warnings on stderr, ``watch``'s view and lines,
``inspect``, the ``evaluate`` report and its figure, the timeline figure, CSV and JSON. The bytes
that come out are checked: no ESC but rich's own colours and cursor moves on a terminal, no C1,
no BEL, no bidi override, no OSC (no window title, no hyperlink), literal markup, one record one
line, no traceback, the documented exit code.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import typer
from rich.console import Console
from synthetic import invoke, make_tiny_model, solid_frames, tiny_spec, write_video
from test_hostile_text import CONTROLS, HOSTILE, _check_csv_bytes, _check_jsonl_bytes

from vidclass import Classifier
from vidclass.cli.common import fail, setup_logging
from vidclass.evaluate import score
from vidclass.outputs.plot import LITERAL, confusion_figure, confusion_labels, timeline_figure
from vidclass.outputs.render import (
    BatchProgress,
    batch_summary,
    clip_table,
    error_line,
    evaluation_report,
    line,
    warning_line,
    watch_line,
    watch_summary,
    watch_view,
    watch_waiting,
)
from vidclass.results import ErrorResult, LabelScore, LiveResult, Segment, WatchSummary
from vidclass.spec import PREFIX
from vidclass.text import for_terminal

ROOT = Path(__file__).resolve().parents[1]
#: What rich itself sends a terminal: colours (SGR), and for a Live display cursor moves, line
#: erases, hiding the cursor. Anything else starting with ESC came from the data.
RICH_OWN = re.compile(r"\x1b\[(?:[0-9;]*[mABCDGHJK]|\?25[hl])")
#: Labels for the tiny model: the whole corpus (21 classes; the colour model tiles R, G, B).
LABELS = tuple(HOSTILE)
MARKUP = "[red]markup[/red] [link=file:///etc/passwd]link[/link] [/]"


def check_terminal_text(out: str, *, terminal: bool = False) -> str:
    """``out`` holds nothing a terminal obeys (on a ``terminal``, but rich's own sequences)."""
    assert "Traceback" not in out and "MarkupError" not in out, out
    rest = RICH_OWN.sub("", out).replace("\r", "") if terminal else out
    assert "\x1b" not in rest, ascii(rest)  # no escape sequence: no OSC 8 link, no title, no clear
    assert not CONTROLS.search(rest.replace("\n", "")), ascii(rest)  # no C1, BEL, bidi, surrogate
    return rest


def rendered(*renderables: object, width: int = 400) -> str:
    """What rich writes to a true-colour terminal for ``renderables`` (markup and links live there)."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=width, emoji=True)
    for renderable in renderables:
        console.print(renderable)
    return out.getvalue()


def file_name(index: int, text: str) -> bytes:
    """A file name made of ``text``: its own bytes, ``/`` and NUL (the two Linux refuses) replaced."""
    return os.fsencode(text.replace("/", "_").replace("\0", "0")) + b".%d.avi" % index


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("printers")


@pytest.fixture(scope="module")
def model(place: Path) -> Path:
    """The tiny colour model with the corpus as labels, name, version and source."""
    spec = tiny_spec(labels=LABELS, name=HOSTILE[0] + MARKUP, version=HOSTILE[2], source=HOSTILE[4] + HOSTILE[7])
    return make_tiny_model(place / "hostile.onnx", spec)


@pytest.fixture(scope="module")
def video(place: Path) -> Path:
    return write_video(place / "red.avi", solid_frames(["red"] * 12), 10)


@pytest.fixture(scope="module")
def videos(place: Path, video: Path) -> list[str]:
    """A copy of ``video`` under every name of the corpus (absolute: none starts with ``-``)."""
    folder = place / "named"
    folder.mkdir()
    paths = []
    for i, text in enumerate(HOSTILE):
        path = os.path.join(os.fsencode(folder), file_name(i, text))
        shutil.copy(video, path)
        paths.append(os.fsdecode(path))
    return paths


@pytest.fixture(scope="module")
def result(model: Path, video: Path):
    """A real result of the hostile model, with every label ranked and segments."""
    from vidclass.segments import SegmentRule

    return Classifier(model, top_k=len(LABELS), segments=SegmentRule(0.1)).predict(video)


# -- predict: the table, CSV, JSON, stderr ---------------------------------------------------------


def test_predict_table(model: Path, videos: list[str]) -> None:
    done = invoke("predict", *videos, "--model", model, "--top-k", str(len(LABELS)), env={"COLUMNS": "1000"})
    assert done.exit_code == 0, done.stderr
    out = check_terminal_text(done.stdout)
    lines = out.splitlines()
    for path in videos:  # each file's title: its name made visible, on a line of its own
        assert sum(line.startswith(for_terminal(path) + "  1.2 s, 12 frames") for line in lines) == 1
    # title, header, rule, one row per label, footer, blank: no label or name forged another line
    assert len(lines) == len(videos) * (len(LABELS) + 5)
    for label in LABELS:
        assert sum(for_terminal(label) in line for line in lines) >= len(videos)
    assert MARKUP in out and ":smiley: :pile_of_poo:" in out  # literal, not a style, link or emoji
    assert not any(line.startswith("vidclass:") for line in lines)


def test_predict_table_on_a_terminal(result) -> None:
    hostile = [result.__class__(**{**result.__dict__, "source": text}) for text in HOSTILE]
    out = check_terminal_text(rendered(*(clip_table(r) for r in hostile)), terminal=True)
    for text in [*HOSTILE, *LABELS]:
        assert for_terminal(text) in out
    assert MARKUP in out


@pytest.mark.parametrize("fmt", ["--csv", "--json"])
def test_predict_records(model: Path, videos: list[str], fmt: str) -> None:
    done = invoke("predict", *videos, "--model", model, fmt)
    assert done.exit_code == 0, done.stderr
    if fmt == "--csv":
        rows = _check_csv_bytes(b"\xef\xbb\xbf" + done.stdout_bytes, len(videos), 5)
        assert [row[0] for row in rows] == [for_terminal(p) for p in videos]  # absolute: no formula start
    else:
        records = _check_jsonl_bytes(done.stdout_bytes, len(videos))
        assert [r["source"] for r in records] == videos  # exact, surrogates included
        assert {t["label"] for r in records for t in r["top"]} <= set(LABELS)


def test_predict_errors_are_one_line_each(model: Path, videos: list[str], place: Path) -> None:
    missing = [os.fsdecode(os.path.join(os.fsencode(place), b"gone-" + file_name(i, t))) for i, t in enumerate(HOSTILE)]
    broken = os.path.join(place, "broken\x1b]0;x\x07\n[red]b[bold].avi")
    Path(broken).write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    done = invoke("predict", videos[0], *missing, broken, "--model", model, "--json")
    assert done.exit_code == 1  # some input failed (README, Exit codes)
    err = check_terminal_text(done.stderr)
    lines = err.splitlines()
    assert len(lines) == len(missing) + 2  # one line each, and the summary
    # a name with [ ] ? * is a glob pattern too (README, Inputs): then none matched it
    causes = ("no such file", "no file matches this pattern")
    assert {x.rpartition(": ")[0] for x in lines[: len(missing)]} == {f"vidclass: {for_terminal(p)}" for p in missing}
    assert all(x.rpartition(": ")[2] in causes for x in lines[: len(missing)])
    assert lines[-2].startswith(f"vidclass: {for_terminal(broken)}: ")
    assert lines[-1] == f"1 classified, {len(missing) + 1} failed"
    assert [json.loads(x)["source"] for x in done.stdout.splitlines()] == [videos[0], *missing, broken]


def test_fail_and_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(verbose=True)
    log = logging.getLogger("vidclass")
    for text in HOSTILE:
        log.warning("%s: odd", text)
        log.debug("%s", text)
        assert isinstance(fail(text, 3), typer.Exit)
    err = check_terminal_text(capsys.readouterr().err)
    assert err.splitlines() == [
        shown
        for text in HOSTILE
        for shown in (
            f"warning: {for_terminal(text)}: odd",
            f"debug: {for_terminal(text)}",
            f"vidclass: {for_terminal(text)}",
        )
    ]


@pytest.mark.parametrize("make", [error_line, warning_line, line])
def test_message_lines_on_a_terminal(make) -> None:
    out = check_terminal_text(rendered(*(make(text, text) for text in HOSTILE)), terminal=True)
    assert out.count("\n") == len(HOSTILE)  # one line each
    assert all(for_terminal(text) in out for text in HOSTILE) and MARKUP in out


def test_usage_error_with_a_hostile_option() -> None:
    done = invoke("predict", "--x\x1b]0;t\x07\n[red]y[/red]\u202e", "a.mp4")
    assert done.exit_code == 2
    err = check_terminal_text(done.stderr)
    assert len(err.splitlines()) == 1 and "[red]y[/red]" in err


# -- progress ----------------------------------------------------------------------------------------


def test_progress_on_a_terminal(result) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=200)
    progress = BatchProgress(console, len(HOSTILE))
    with progress:  # the real Live display, redrawn on each new file
        for i, text in enumerate(HOSTILE[:3]):
            progress.started(i, "/data/" + text)
            progress.expected(i, 12)
        drawn = rendered(progress._render(), width=200)
        for i in range(3):
            progress.finished(i, ErrorResult(HOSTILE[i], "x") if i else result)
    check_terminal_text(out.getvalue(), terminal=True)
    shown = check_terminal_text(drawn, terminal=True)
    for text in HOSTILE[:3]:
        assert for_terminal(os.path.basename(text)) in shown
    names = [os.fsdecode(file_name(i, text)) for i, text in enumerate(HOSTILE)]
    for first in range(0, len(names), 3):  # three files are drawn with their own line
        progress = BatchProgress(console, len(HOSTILE), enabled=False)
        for i, name in enumerate(names[first : first + 3]):
            progress.started(i, "/data/" + name)
        shown = check_terminal_text(rendered(progress._render(), width=200), terminal=True)
        assert all(for_terminal(name) in shown for name in names[first : first + 3])
        assert first != 9 or "[red]markup[_red] [link=file:___etc_passwd]link[_link] [_].9.avi" in shown  # literal
    shown = check_terminal_text(rendered(*(batch_summary(1, 1, 1, text) for text in HOSTILE)), terminal=True)
    assert shown.count("\n") == len(HOSTILE)


@pytest.mark.subprocess
def test_predict_on_a_pty(model: Path, videos: list[str]) -> None:
    """The real thing: progress on stderr and the table on stdout, on one pseudo-terminal."""
    from screen import vidclass

    screen = vidclass("predict", *videos[:10], "--model", str(model), columns=200)
    assert screen.returncode == 0, screen.text
    check_terminal_text(screen.raw.decode("utf-8"), terminal=True)
    for path in videos[:10]:
        assert any(row.startswith(for_terminal(path)[:150]) for row in screen.lines)


# -- watch -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 2, 4, 7, 9, 19])
def test_watch_lines_and_summary(model: Path, videos: list[str], index: int) -> None:
    source = videos[index]
    done = invoke("watch", source, "--model", model, "--no-realtime", "--max-windows", "2", "--top-k", "21")
    assert done.exit_code == 0, done.stderr
    lines = check_terminal_text(done.stdout).splitlines()
    assert len(lines) == 2  # one line per window, whatever the labels hold
    for label in LABELS[::3]:  # the red classes
        assert for_terminal(label) in lines[0]
    err = check_terminal_text(done.stderr).splitlines()
    assert len(err) == 1 and err[0].startswith(for_terminal(source) + ": end of video · 2 windows classified")
    done = invoke("watch", source, "--model", model, "--no-realtime", "--max-windows", "1", "--json")
    assert [r["source"] for r in _check_jsonl_bytes(done.stdout_bytes, 1)] == [source]


def test_watch_view_on_a_terminal() -> None:
    top = tuple(LabelScore(text, 0.5) for text in LABELS)
    results = [
        LiveResult(text, 1, 0.0, 0.8, datetime(2026, 1, 1), top, 10.0, 5.0, 1, 0, 10.0, text) for text in HOSTILE
    ]
    summaries = [WatchSummary(text, 8, 1, 0, 0.8, 10.0, 10.0, text) for text in HOSTILE]
    out = rendered(
        *(watch_view(r) for r in results),
        *(watch_waiting(text, 0.8, text) for text in HOSTILE),
        *(watch_summary(s) for s in summaries),
        *(watch_summary(s, style="red", prefix="vidclass: ") for s in summaries),
    )
    shown = check_terminal_text(out, terminal=True)
    for text in HOSTILE:
        assert for_terminal(text) in shown
    assert MARKUP in shown
    lines = [watch_line(r) for r in results]
    assert all("\n" not in x and x == for_terminal(x) for x in lines)  # plain lines: nothing left to show
    assert sum(for_terminal(label) in lines[0] for label in LABELS) == len(LABELS)


# -- inspect ------------------------------------------------------------------------------------------


def test_inspect_hostile_metadata(model: Path, place: Path) -> None:
    named = os.path.join(os.fsencode(place), file_name(99, HOSTILE[1] + HOSTILE[19]) + b".onnx")
    shutil.copy(model, named)
    done = invoke("inspect", "--model", os.fsdecode(named), env={"COLUMNS": "1000"})
    assert done.exit_code == 0, done.stderr
    out = check_terminal_text(done.stdout)
    assert for_terminal(HOSTILE[0] + MARKUP) in out and MARKUP in out  # the name, literal
    assert for_terminal(HOSTILE[2]) in out and for_terminal(os.fsdecode(named)) in out
    assert for_terminal(HOSTILE[4] + HOSTILE[7]) in out  # the source, on one line
    done = invoke("inspect", "--model", os.fsdecode(named), "--json")
    document = json.loads(done.stdout_bytes.decode("utf-8"))  # strict UTF-8, whatever the path's bytes
    assert document["model"]["name"] == HOSTILE[0] + MARKUP and os.fsencode(document["model"]["path"]) == named


@pytest.mark.parametrize("field", ["input_layout", "output_kind", "missing"])
def test_invalid_hostile_metadata_is_one_line(place: Path, video: Path, field: str) -> None:
    if field == "missing":  # a model file that is not there, named with the corpus
        path = os.path.join(place, HOSTILE[4] + HOSTILE[0] + MARKUP + ".onnx")
    else:
        value = HOSTILE[4] + HOSTILE[0] + MARKUP
        path = make_tiny_model(place / f"bad-{field}.onnx", extra_meta={PREFIX + field: json.dumps(value)})
    for command in (["inspect", "--model", path], ["predict", video, "--model", path]):
        done = invoke(*command)
        assert done.exit_code == 3, done.stderr  # model error
        err = check_terminal_text(done.stderr)
        assert len(err.splitlines()) == 1 and err.startswith("vidclass: ")


# -- evaluate -----------------------------------------------------------------------------------------

#: One label per colour, each a hostile folder name: escape sequences, a live link and mathtext,
#: a forged line with a bidi override and a byte that is not UTF-8.
EVAL_LABELS = (
    "\x1b[2J\x1b[Hcleared\x07",
    "[link=https:evil]click[bold] $\\nocommand$ cost $5",
    "\u202egpj\nvidclass: forged caf\udce9",
)


def _video_at(path: Path, colour: str, staging: Path) -> None:
    """A video written under a plain name, then renamed (OpenCV crashes on a name not UTF-8)."""
    plain = write_video(staging / "plain.avi", solid_frames([colour] * 12), 10)
    os.replace(plain, os.fsencode(path))


def _evaluation_set(root: Path) -> Path:
    data = root / "labelled"
    colours = {
        EVAL_LABELS[0]: ["red", "green"],
        EVAL_LABELS[1]: ["green"],
        EVAL_LABELS[2]: ["blue"],
        "=HYPERLINK(1)\x1b]0;t\x07": ["red"],  # a label the model does not know
    }
    for label, shown in colours.items():
        folder = Path(os.fsdecode(os.path.join(os.fsencode(data), os.fsencode(label))))
        folder.mkdir(parents=True)
        for i, colour in enumerate(shown):
            _video_at(folder / f"{HOSTILE[1]}{i}\n{colour}.avi", colour, root)
    _video_at(data / f"{HOSTILE[8]}.avi", "red", root)  # no label
    (data / EVAL_LABELS[1] / f"{HOSTILE[3]}.avi").write_bytes(b"\x00\x00\x00\x18ftypmp42 broken")
    return data


def test_evaluate_report_and_figure(place: Path) -> None:
    model = make_tiny_model(place / "eval.onnx", tiny_spec(labels=EVAL_LABELS, name=MARKUP))
    data = _evaluation_set(place)
    figure, document = place / "confusion.png", place / "evaluation.json"
    done = invoke(
        "evaluate", data, "--model", model, "--confusion", figure, "--output", document, env={"COLUMNS": "1000"}
    )
    assert done.exit_code == 1  # a video failed (README, Exit codes)
    out = check_terminal_text(done.stdout)
    for label in EVAL_LABELS:
        assert for_terminal(label) in out
    assert MARKUP in out and "[link=https:evil]click[bold]" in out
    assert not any(x.startswith("vidclass") for x in out.splitlines())  # no forged line
    assert "label '=HYPERLINK(1)\\x1b]0;t\\x07' is not one of the model's (1 videos)" in out
    err = check_terminal_text(done.stderr).splitlines()
    assert len(err) == 1 and err[0].startswith("vidclass: " + for_terminal(data / EVAL_LABELS[1] / HOSTILE[3]))
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads(document.read_bytes().decode("utf-8"))  # strict UTF-8, every label exact
    assert {c["label"] for c in written["per_class"]} == set(EVAL_LABELS)


def test_figures_draw_hostile_text_literally(result) -> None:
    from vidclass.results import ClipResult

    assert isinstance(result, ClipResult)
    labelled = result.__class__(**{**result.__dict__, "source": "/x/" + HOSTILE[0] + " $\\nocommand$"})
    report = score("data", MARKUP + " $\\x$", [(EVAL_LABELS[0], labelled), (LABELS[1], labelled)])
    for fig in (confusion_figure(report), timeline_figure(labelled)):
        texts = [t for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels(), ax.title, ax._left_title)]
        drawn = [t.get_text() for t in texts if t.get_text()]
        assert all(not CONTROLS.search(x) and "\n" not in x for x in drawn)
        assert all(t.get_parse_math() is False for t in texts if t.get_text() and "$" in t.get_text())
        fig.savefig(io.BytesIO(), format="png")  # no mathtext error ($\nocommand$ would raise)
        if fig.axes[0].get_xlabel() == "top-1 prediction":
            assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
                for_terminal(x) for x in confusion_labels(report)
            ]
            assert fig.axes[0].title.get_text().startswith(MARKUP + " $\\x$: top-1")
        else:
            assert fig.axes[0]._left_title.get_text().startswith(for_terminal(HOSTILE[0]) + " $\\nocommand$:")
            assert {t.get_text() for t in fig.axes[0].get_yticklabels()} <= {for_terminal(x) for x in LABELS}
    assert LITERAL == {"parse_math": False}


def test_evaluation_report_on_a_terminal(result) -> None:
    sources = [result.__class__(**{**result.__dict__, "source": text}) for text in HOSTILE]
    report = score(
        HOSTILE[0],
        HOSTILE[2],
        [(LABELS[1], r) for r in sources] + [(LABELS[0], ErrorResult(HOSTILE[4], HOSTILE[9]))],
        unlabelled=HOSTILE,
        unknown={text: (text,) for text in HOSTILE},
    )
    shown = check_terminal_text(rendered(evaluation_report(report)), terminal=True)
    for text in HOSTILE:
        assert for_terminal(text) in shown
    assert MARKUP in shown


# -- the report command, segments ---------------------------------------------------------------------


def test_report_command_lines(model: Path, videos: list[str], place: Path) -> None:
    records = place / f"{HOSTILE[0]}{HOSTILE[4]}.jsonl"
    done = invoke("predict", *videos[:3], "--model", model, "--output", records)
    assert done.exit_code == 0, done.stderr
    with records.open("a") as f:
        f.write('{"source": "cut')  # an unfinished last record: a warning naming the file
    target = place / f"{HOSTILE[2].replace('/', '_')}.html"
    done = invoke("report", records, "-o", target)
    assert done.exit_code == 0, done.stderr
    err = check_terminal_text(done.stderr).splitlines()
    assert err[0] == f"warning: {for_terminal(records)}: left out an unfinished last record"
    assert err[1].startswith(f"wrote {for_terminal(target)}: 3 videos") and len(err) == 2


def test_segment_table_on_a_terminal() -> None:
    from vidclass.outputs.render import segment_table

    segments = tuple(Segment(text, 0.0, 1.0, 0.5) for text in HOSTILE)
    shown = check_terminal_text(rendered(segment_table(segments)), terminal=True)
    assert all(for_terminal(text) in shown for text in HOSTILE)


# -- the wrong way made hard ---------------------------------------------------------------------------


def _calls(folder: str) -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted((ROOT / "vidclass" / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                found.append((f"{path.name}:{node.lineno}", node))
    return found


def test_no_markup_strings_around_data() -> None:
    """Printers take ``Text`` built from data (vidclass.text, render.line/error_line), never a
    string that rich would read as markup: no ``.print(f"...")``, no ``add_row(f"...")``, and no
    ``rich.markup.escape`` (it stops markup but lets ESC and line breaks through)."""
    wrong = []
    for folder in ("cli", "outputs"):
        for where, call in _calls(folder):
            args = call.args[:1] if call.func.attr == "print" else call.args if call.func.attr == "add_row" else []
            for arg in args:
                if isinstance(arg, (ast.JoinedStr, ast.BinOp)) or (
                    isinstance(arg, ast.Constant) and isinstance(arg.value, str) and call.func.attr == "print"
                ):
                    wrong.append(where)
    assert wrong == []
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "vidclass").rglob("*.py"))
    assert "rich.markup" not in sources


# -- models -------------------------------------------------------------------------------------------


def test_models_view_on_a_terminal(place: Path) -> None:
    from vidclass.cli.models import models_view
    from vidclass.store.provision import LICENCES, ModelEntry

    entries = [
        ModelEntry(text, Path("/m") / text, text, i == 0, 1000, "0" * 64, text, LICENCES, "yes", 1e-6)
        for i, text in enumerate(HOSTILE)
    ]
    shown = check_terminal_text(rendered(models_view(entries)), terminal=True)
    assert all(for_terminal(text) in shown for text in HOSTILE) and MARKUP in shown


@pytest.mark.parametrize("tty", [False, True])
def test_models_path_exact_to_a_pipe_visible_on_a_terminal(
    model: Path, place: Path, tty: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vidclass.cli.models import path_command

    named = os.path.join(place, "model " + HOSTILE[0] + HOSTILE[4] + ".onnx")
    shutil.copy(model, named)
    monkeypatch.setattr("sys.stdout.isatty", lambda: tty)
    path_command(Path(named))
    out = capsys.readouterr().out
    assert out == (for_terminal(named) if tty else named) + "\n"
