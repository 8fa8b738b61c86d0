"""What a person sees: the CLI run in a pseudo-terminal of 80 columns, its bytes replayed through a
terminal emulator (pyte), and the assertions made on the screen and its scrollback after the run.

The tiny colour model and synthetic videos keep each run to a second or two; the videos are long
enough (400 frames) for the progress to be drawn while they are classified.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import typer
from rich.console import Console
from screen import Screen, vidclass
from synthetic import make_tiny_model, solid_frames, write_video

from vidclass.cli import app
from vidclass.outputs import render
from vidclass.results import ErrorResult

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]  # the CLI on a pseudo-terminal

COLUMNS = 80
#: What only the progress display shows; none of it may stay on the screen.
PROGRESS = re.compile(r"frames/s|measuring speed| left|files done|\d+/\d+ frames|━ ")
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three videos at the tiny model's 10 fps: two of 40 s (400 frames), and a short one (5 frames)."""
    folder = tmp_path_factory.mktemp("videos")
    return [
        write_video(folder / "red.avi", solid_frames(["red"] * 300 + ["green"] * 100), 10),
        write_video(folder / "short.avi", solid_frames(["blue"] * 5), 10),
        write_video(folder / "blue.avi", solid_frames(["blue"] * 300 + ["green"] * 100), 10),
    ]


def assert_no_progress_left(screen: Screen) -> None:
    for line in screen.lines:
        assert not PROGRESS.search(line), f"progress left on the screen: {line!r}"
        assert not any(ch in line for ch in SPINNER), f"a spinner left on the screen: {line!r}"


def table_at(lines: list[str], video: Path) -> list[str]:
    """The table of ``video``, whole: title, header, rule, the three ranked rows, the footer."""
    titles = [i for i, line in enumerate(lines) if line.startswith(f"{video}  ")]
    assert len(titles) == 1, f"{video}: {len(titles)} titles in\n" + "\n".join(lines)
    block = lines[titles[0] : titles[0] + 7]
    assert re.fullmatch(rf"{re.escape(str(video))}  \d+\.\d s, \d+ frames at 10 fps", block[0]), block[0]
    assert block[1].startswith("# ┃ action") and block[2].startswith("━━╇")
    assert [row[:3] for row in block[3:6]] == ["1 │", "2 │", "3 │"]
    assert re.match(r"\d+ windows? of \d+ frames", block[6]), block[6]
    return block


def test_predict_one_file_leaves_the_table_and_no_progress(tiny_model: Path, videos: list[Path]) -> None:
    screen = vidclass("predict", videos[0], "--model", tiny_model, "--provider", "cpu")
    assert screen.returncode == 0, screen.text
    # The progress was drawn while the file was classified: its frames of the 400 the container
    # announces, then it was gone.
    assert b"/400 frames" in screen.raw
    assert_no_progress_left(screen)
    table = table_at(screen.lines, videos[0])
    assert table[3].split("│")[1].strip() == "red"
    assert table[6] == "99 windows of 8 frames (0.80 s), hop 4 · tiny-colour on cpu, fp32"
    assert screen.lines == table  # and nothing else


def test_predict_three_files_each_table_whole(tiny_model: Path, videos: list[Path]) -> None:
    screen = vidclass("predict", *videos, "--model", tiny_model, "--provider", "cpu")
    assert screen.returncode == 0, screen.text
    assert b"files done" in screen.raw and b"/400 frames" in screen.raw
    assert_no_progress_left(screen)
    rest = list(screen.lines)
    for video in videos:
        block = table_at(rest, video)
        start = rest.index(block[0])
        del rest[start : start + len(block)]
    # The short video's footer says what was done (not the default window), on two lines here.
    assert block[6] != "1 window of 5 frames (0.50 s): the whole video, shorter than a window"
    short = table_at(screen.lines, videos[1])
    assert short[6] == "1 window of 5 frames (0.50 s): the whole video, shorter than a window"
    rest.remove("tiny-colour on cpu, fp32")
    # Nothing else on the screen but its warning, wrapped between words, and blank lines.
    assert " ".join(line for line in rest if line) == (
        f"warning: {videos[1]}: short video: 5 frames at 10 fps, less than one 8-frame window; "
        "classified as one window of 5 frames"
    )


def test_predict_json_on_a_terminal_is_whole_records(tiny_model: Path, videos: list[Path]) -> None:
    screen = vidclass("predict", videos[0], videos[2], "--model", tiny_model, "--json", columns=COLUMNS)
    assert screen.returncode == 0, screen.text
    assert b"/400 frames" in screen.raw
    assert_no_progress_left(screen)
    # Each record is one long line, wrapped by the terminal: joined again, they parse, one after the other.
    text, records, end = "".join(screen.lines), [], 0
    while end < len(text):
        record, end = json.JSONDecoder().raw_decode(text, end)
        records.append(record)
    assert [r["source"] for r in records] == [str(videos[0]), str(videos[2])]


def test_watch_two_windows_of_a_file(tiny_model: Path, videos: list[Path]) -> None:
    screen = vidclass("watch", videos[0], "--max-windows", "2", "--no-realtime", "--model", tiny_model)
    assert screen.returncode == 0, screen.text
    lines = screen.lines
    assert all(len(line) <= COLUMNS for line in lines)
    # The view of the last window, once: the live view redraws in place, no copies in the scrollback.
    # Its title: the source, the span of video, and when its last frame came (long here: two lines).
    assert sum(line.startswith("# ┃ action") for line in lines) == 1
    title = lines.index(f"{videos[0]}  0.4-1.2 s of video")
    assert re.fullmatch(r"last frame captured at \d\d:\d\d:\d\d", lines[title + 1])
    assert "until" not in screen.text
    assert any(line.startswith("window 2 · 0 skipped · latency ") for line in lines)
    # The summary: why it stopped, then how it went, broken between phrases to fit 80 columns.
    summary = lines[lines.index(f"{videos[0]}: max windows reached") :]
    phrases = " · ".join(summary[1:]).split(" · ")
    assert re.fullmatch(r"2 windows classified in \d+\.\d s of video", phrases[0]) and phrases[1] == "none skipped"
    assert re.fullmatch(r"latency \d+ ms median, \d+ ms max", phrases[2])
    assert phrases[3:] == ["windows mode"]  # the tiny model has no streaming form


def _commands() -> list[list[str]]:
    group = typer.main.get_command(app)
    return [[], *[[name] for name in group.commands]]  # type: ignore[attr-defined]


def _reflowed(paragraph: list[str], width: int) -> bool:
    """Filled greedily: no line could have taken the next line's first word."""
    pairs = zip(paragraph, paragraph[1:], strict=False)
    return all(len(line) + 1 + len(after.split()[0]) > width for line, after in pairs)


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "vidclass")
def test_help_reads_well_on_80_columns(command: list[str]) -> None:
    screen = vidclass(*command, "--help")
    assert screen.returncode == 0, screen.text
    lines = screen.lines
    text = screen.text
    assert lines[0].startswith("Usage: vidclass") and "Examples:" in lines
    # No value shown for flags, no internal types.
    for leak in ("<bool>", "<int", "<float", "<path>", "<str>", "list[", "{paths}", "[x>="):
        assert leak not in text, f"{leak!r} in the help of {command}"
    assert re.search(r"^  -h, --help +Show this message and exit\.$", text, re.M)
    plain = ANSI.sub("", screen.raw.decode())
    assert not any(line != line.rstrip() for line in plain.splitlines()), "trailing spaces"
    # Paragraphs reflow to the width: no hard line breaks left from the docstrings.
    for block in "\n".join(lines).split("\n\n"):
        rows = block.splitlines()
        if not rows or rows[0] == "Examples:":  # lines kept as they are
            continue
        rows = rows[1:] if rows[0].endswith(":") else rows  # a section's heading
        if rows and not any("  " in row.strip() for row in rows):  # not a table
            assert _reflowed(rows, COLUMNS - (2 if rows[0].startswith("  ") else 0)), block
    if not command:
        assert len(lines) <= 40 and not screen.raw.count(b"\n") > 40  # one 80x40 screen
        assert re.search(r"^  predict +Rank the actions in each video", text, re.M)


def test_predict_help_groups_the_options() -> None:
    text = vidclass("predict", "--help").text
    panels = [line for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert panels == [
        "Arguments:", "Input and output:", "Windows:", "Segments and figures:", "Performance:", "Cluster:",
        "Examples:", "Exit codes:",
    ]
    for entry in ("  PATH...  ", "  -m, --model PATH  ", "      --json  ", "  -w, --window N  ",
                  "      --min-duration SECONDS  ", "  -p, --provider NAME  ", "  -j, --workers N  "):
        assert entry in text, entry
    assert "quantize_i3d" not in text  # a script pip users do not have


def test_progress_shows_frames_rate_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimate itself: file 0 did 50 of its 100 frames in 5 s (10 frames/s), so it has 5 s
    left; the batch has its 50 frames and two files of 100 still to come, 25 s."""
    now = [100.0]
    monkeypatch.setattr(render.time, "monotonic", lambda: now[0])
    console = Console(width=COLUMNS, force_terminal=True, color_system=None, record=True, file=io.StringIO())
    progress = render.BatchProgress(console, 3)
    progress.started(0, "/videos/first.mp4")
    progress.expected(0, 100)
    now[0] += 5.0
    progress.frames(0, 50)
    console.print(progress._render())
    shown = console.export_text()
    assert re.search(r"first\.mp4 .* 50/100 frames 0:05 left", shown), shown
    assert "0/3 files done · 10.0 frames/s · 0:25 left in all" in shown
    progress.finished(0, ErrorResult("/videos/first.mp4", "broken"))
    console.print(progress._render())
    assert "1/3 files done · 10.0 frames/s · 1 failed" in console.export_text()
