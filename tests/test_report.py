"""The HTML report: the thumbnail collector, the pure builder (hostile names stay text), the
``report`` command, and the page itself in headless Chromium (``-m browser``).

Browser tests need Debian's ``chromium`` (``apt-get install chromium``): under ``CI=true`` a missing
browser fails them, elsewhere they skip with the reason. Screenshots go to ``tmp_path``, or to
``$VIDCLASS_SCREENSHOTS`` when set (to look at them).
"""

from __future__ import annotations

import html.parser
import json
import math
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import report_batch
from chromium import Browser, find_chromium
from synthetic import make_tiny_model, solid_frames, write_video
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.errors import UsageError
from vidclass.evaluate import score
from vidclass.outputs.report import (
    CONTENT_SECURITY_POLICY,
    IMAGE_BLOCK,
    RunInfo,
    build_report,
    parse_records,
    read_records,
    report_data,
    script_json,
    visible_text,
    write_report,
)
from vidclass.results import ClipLabel, ClipResult, ErrorResult, ModelInfo
from vidclass.thumbnails import Thumbnail, ThumbnailStrip

runner = CliRunner()


# --- ThumbnailStrip -------------------------------------------------------------------------------


def _frames(duration_s: float, fps: float, size: tuple[int, int] = (90, 160)) -> Iterator[tuple[float, np.ndarray]]:
    """Frames whose blue channel tells their time (t * 10), so a thumbnail says which frame it was."""
    for n in range(round(duration_s * fps)):
        t = n / fps
        image = np.zeros((*size, 3), np.uint8)
        image[..., 0] = min(255, round(t * 10))
        yield t, image


def _spread(times: list[float], duration_s: float, count: int) -> float:
    """The largest distance of a thumbnail from the centre of its share of the video, in shares."""
    share = duration_s / count
    return max(abs(t - (i + 0.5) * share) / share for i, t in enumerate(times))


@pytest.mark.parametrize("expected", [None, 20.0, 5.0, 40.0, 0.0, float("nan")])
def test_strip_spreads_count_frames_over_the_video_whatever_duration_it_was_told(expected: float | None) -> None:
    strip = ThumbnailStrip(8, expected)
    for t, image in _frames(20.0, 25):
        strip.push(t, image)
    thumbs = strip.thumbnails()
    times = [t.time_s for t in thumbs]
    assert len(thumbs) == 8 and times == sorted(times)
    # Each thumbnail lies near the middle of its own eighth of the video.
    assert _spread(times, 20.0, 8) < 0.25, times
    # Never one encode per frame (500 here): about 16 per halving of the spacing.
    assert strip.encoded <= 4 * 8 + 16 * math.log2(500 / 8)


def test_strip_with_the_right_duration_encodes_only_its_candidates() -> None:
    strip = ThumbnailStrip(8, 20.0)
    for t, image in _frames(20.0, 25):
        strip.push(t, image)
    assert strip.encoded == 4 * 8


def test_strip_of_a_video_four_times_shorter_than_said_still_fills_evenly() -> None:
    strip = ThumbnailStrip(8, 80.0)  # a truncated file: the header promised 80 s
    for t, image in _frames(20.0, 25):
        strip.push(t, image)
    times = [t.time_s for t in strip.thumbnails()]
    assert len(times) == 8 and _spread(times, 20.0, 8) <= 0.5
    assert max(np.diff(times)) - min(np.diff(times)) < 0.05


def test_strip_thumbnail_is_the_frame_it_names_scaled_to_the_height() -> None:
    strip = ThumbnailStrip(4, None, height=36)
    for t, image in _frames(10.0, 30, size=(180, 320)):
        strip.push(t, image)
    for thumb in strip.thumbnails():
        decoded = cv2.imdecode(np.frombuffer(thumb.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (36, 64, 3) == (thumb.height, thumb.width, 3)
        assert abs(float(decoded[..., 0].mean()) - thumb.time_s * 10) < 3  # the blue that frame had
        assert len(thumb.jpeg) < 4000


def test_strip_of_a_video_with_fewer_frames_than_thumbnails_keeps_them_all() -> None:
    strip = ThumbnailStrip(8, 0.1)
    for t, image in _frames(0.1, 30):
        strip.push(t, image)
    assert [round(t.time_s, 3) for t in strip.thumbnails()] == [0.0, 0.033, 0.067]
    assert ThumbnailStrip(8).thumbnails() == ()


def test_strip_holds_at_most_twice_count_and_never_a_frame() -> None:
    strip = ThumbnailStrip(3)
    for t, image in _frames(60.0, 30):
        strip.push(t, image)
        assert len(strip._kept) <= 4 * 3
        assert all(isinstance(k.jpeg, bytes) for k in strip._kept)


def test_strip_ignores_times_that_are_not_numbers_and_refuses_frames_that_are_not_images() -> None:
    strip = ThumbnailStrip(2)
    strip.push(float("nan"), np.zeros((4, 4, 3), np.uint8))
    assert strip.thumbnails() == ()
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        strip.push(0.0, np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="at least one"):
        ThumbnailStrip(0)


# --- Text: hostile names stay text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name.mp4", "plain name.mp4"),
        ("été 寿司 🏀.mp4", "été 寿司 🏀.mp4"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # markup characters are text, not escaped here
        ("invoice\u202egpj.exe", "invoice[U+202E]gpj.exe"),
        ("a\u2028b\u2029c", "a[U+2028]b[U+2029]c"),
        ("bell\x07esc\x1bnul\x00tab\t", "bell[U+0007]esc[U+001B]nul[U+0000]tab[U+0009]"),
        ("caf\udce9.mp4", "caf\\xe9.mp4"),
        ("zero\u200bwidth\u2066iso\u2069\ufeff", "zero[U+200B]width[U+2066]iso[U+2069][U+FEFF]"),
    ],
)
def test_visible_text(raw: str, shown: str) -> None:
    assert visible_text(raw) == shown


def test_script_json_cannot_end_its_element_and_reads_back_the_same() -> None:
    value = {"names": [*report_batch.HOSTILE_NAMES, "x</SCRIPT >", "<!-- -->", "&lt;"], "n": 1}
    text = script_json(value)
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert text.isascii()
    assert json.loads(text) == value


class _Elements(html.parser.HTMLParser):
    """Every start tag of a page, with its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = dict(attrs).get("id") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data


def _data_of(path: Path) -> str:
    parsed = _Elements()
    parsed.feed(path.read_text(encoding="utf-8"))
    return parsed.data["vidclass-data"]


def test_report_of_hostile_names_has_no_element_but_its_own() -> None:
    records, strips = report_batch.batch(40, seed=3)
    page = build_report(records, thumbnails=strips, run={"title": "<i>title</i>", "command": "x </script>"})
    parsed = _Elements()
    parsed.feed(page)
    tags = [tag for tag, _ in parsed.tags]
    assert tags == [
        "html", "head", "meta", "meta", "meta", "meta", "meta", "title", "style", "body",
        "a", "header", "h1", "p", "noscript", "p", "main", "div", "script", "script", "script", "script",
    ]  # fmt: skip
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}) in parsed.tags
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert "<title>&lt;i&gt;title&lt;/i&gt;</title>" in page
    data = json.loads(parsed.data["vidclass-data"])
    assert [v["source"] for v in data["videos"][: len(report_batch.HOSTILE_NAMES)]] == [
        visible_text(n) for n in report_batch.HOSTILE_NAMES
    ]
    assert data["command"] == "x </script>"
    assert set(report_batch.HOSTILE_LABELS) <= set(data["labels"])


def _clip(source: str, **changes: Any) -> dict[str, Any]:
    return report_batch.record(random.Random(source), source) | changes


def test_timeline_is_the_segments_when_present_else_each_windows_top1_on_its_own_step() -> None:
    base = _clip("a.mp4")
    windows = [
        {"start_s": 0.0, "end_s": 2.56, "top": [{"label": "red", "score": 0.9}]},
        {"start_s": 1.28, "end_s": 3.84, "top": [{"label": "green", "score": 0.6}]},
        {"start_s": 2.56, "end_s": 5.12, "top": [{"label": "red", "score": 0.3}]},
    ]
    top = [{"label": "red", "score": 0.7, "when": []}]
    plain = {**base, "windows": windows, "top": top, "duration_s": 5.2}
    plain.pop("segments", None)
    segmented = {**plain, "segments": [{"label": None, "start_s": 0.0, "end_s": 5.2, "score": 0.4}]}
    data = report_data([plain, segmented])
    red, green = data["labels"].index("red"), data["labels"].index("green")
    first, second = data["videos"]
    assert first["timeline"] == "windows"
    # Each window owns the time nearest its centre: cuts halfway between centres (1.28+1.28, ...).
    assert first["bars"] == [[0.0, 1.92, red, 0.9], [1.92, 3.2, green, 0.6], [3.2, 5.12, red, 0.3]]
    assert second["timeline"] == "segments" and second["bars"] == [[0.0, 5.2, -1, 0.4]]
    assert data["found"][red] == 2 and data["found"][green] == 1  # top-1 of both; on the first's timeline


def test_records_straight_from_results_objects() -> None:
    model = ModelInfo("m", "1", "0" * 64, "cpu", "m.onnx")
    clip = ClipResult("x.mp4", 1.0, 10, 10.0, 10, 5, False, (ClipLabel("red", 0.8, ((0.0, 1.0),)),), (), model)
    data = report_data([clip.to_dict(), ErrorResult("y.mp4", "damaged").to_dict()])
    assert [v.get("error") for v in data["videos"]] == [None, "damaged"]
    assert data["videos"][0]["bars"] == [] and data["models"][0]["name"] == "m"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"duration_s": 1}, "record 1: not a vidclass result"),
        ({"source": "a.mp4", "top": []}, r"record 1 \(a.mp4\): not a vidclass result \(no duration_s\)"),
        ({"source": "a.mp4", "duration_s": "long", "top": []}, "duration_s is not a number"),
        ({"source": "a\u202e.mp4", "duration_s": 1, "top": "red"}, r"a\[U\+202E\].mp4.*top is not a list"),
    ],
)
def test_a_record_that_is_not_a_result_is_one_clear_error(record: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_report([record])


def test_evaluation_section_rebuilds_the_confusion_matrix_from_the_dict() -> None:
    model = ModelInfo("m", "1", "0" * 64, "cpu", "m.onnx")

    def clip(source: str, *labels: str) -> ClipResult:
        top = tuple(ClipLabel(label, 0.9 - 0.1 * i) for i, label in enumerate(labels))
        return ClipResult(source, 1.0, 10, 10.0, 10, 5, False, top, (), model)

    results = [
        ("red", clip("r1.mp4", "red", "green")),
        ("red", clip("r2.mp4", "green", "red")),
        ("green", clip("g1.mp4", "green", "red")),
        ("green", clip("g2.mp4", "blue", "red")),
        ("green", ErrorResult("g3.mp4", "damaged")),
    ]
    report = score("data.csv", "m", results, ["x.mp4"])
    data = report_data([r.to_dict() for _, r in results], evaluation=report.to_dict())
    page = data["evaluation"]
    cells = {(r, c): page["matrix"][i][j] for i, r in enumerate(page["rows"]) for j, c in enumerate(page["columns"])}
    assert {k: v for k, v in cells.items() if v} == {(t, p): n for t, p, n in report.matrix}
    assert page["columns"] == ["green", "red", "blue"]
    assert (page["top1"], page["top5"], page["videos"]) == (2, 3, 4)
    assert {v["source"]: v.get("mistake") for v in data["videos"]} == {
        "r1.mp4": None, "r2.mp4": "red", "g1.mp4": None, "g2.mp4": "green", "g3.mp4": None,
    }  # fmt: skip
    assert page["unlabelled"] == ["x.mp4"] and page["errors"] == [{"source": "g3.mp4", "error": "damaged"}]
    with pytest.raises(UsageError, match="not an EvaluationReport"):
        report_data([], evaluation={"videos": 1})


# --- Reading JSON Lines, writing the page ----------------------------------------------------------


def test_parse_records_leaves_out_a_cut_off_last_line_and_names_a_bad_one() -> None:
    good = json.dumps({"source": "a.mp4", "error": "x"})
    read = parse_records(f"{good}\n\n{good}\n{good[:20]}".encode(), "r.jsonl")
    assert len(read.records) == 2 and read.cut_off
    assert not parse_records(f"{good}\n".encode(), "r.jsonl").cut_off
    with pytest.raises(UsageError, match="r.jsonl: line 2 is not JSON"):
        parse_records(f"{good}\n{{oops\n{good}\n".encode(), "r.jsonl")
    with pytest.raises(UsageError, match="r.jsonl: line 1 is not a vidclass result"):
        parse_records(b'["a.mp4"]\n', "r.jsonl")
    with pytest.raises(UsageError, match="r.jsonl: not a UTF-8 JSON Lines file"):
        parse_records(b'{"source": "\xff"}\n', "r.jsonl")
    # A name that is not UTF-8 comes back as the \udcXX escape predict wrote.
    assert parse_records(b'{"source": "caf\\udce9.mp4", "error": "x"}\n', "r").records[0]["source"] == "caf\udce9.mp4"


def test_write_report_is_atomic_and_overwrites_only_with_force(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    records = [_clip("a.mp4")]
    assert write_report(target, records) == target
    first = target.read_text(encoding="utf-8")
    with pytest.raises(UsageError, match="already exists; add --force"):
        write_report(target, records)
    write_report(target, records, force=True, run=RunInfo(title="second"))
    assert "second" in target.read_text(encoding="utf-8") and first != target.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary left behind
    with pytest.raises(UsageError, match="name it .html"):
        write_report(tmp_path / "r.txt", records)
    with pytest.raises(UsageError, match="does not exist"):
        write_report(tmp_path / "no" / "r.html", records)
    with pytest.raises(UsageError, match="not a vidclass result"):  # a bad record leaves no file
        write_report(tmp_path / "bad.html", [{"source": 1}])
    assert not (tmp_path / "bad.html").exists()


def test_report_command(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    lines = [json.dumps(r) for r in report_batch.batch(12, seed=5, thumbnails=0)[0]]
    results.write_text("\n".join(lines) + "\n" + lines[0][:30], encoding="utf-8")
    out = tmp_path / "report.html"
    done = runner.invoke(app, ["report", str(results), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert done.stdout == ""
    assert "left out an unfinished last record" in done.stderr and "12 videos (1 failed)" in done.stderr
    data = json.loads(_data_of(out))
    assert len(data["videos"]) == 12 and data["results"] == str(results)
    again = runner.invoke(app, ["report", str(results), "-o", str(out)])
    assert again.exit_code == 2 and "already exists; add --force" in again.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "a"}\nnot json\n{"source": "b"}\n', encoding="utf-8")
    refused = runner.invoke(app, ["report", str(bad), "-o", str(tmp_path / "b.html")])
    assert refused.exit_code == 2 and refused.stderr.strip().endswith("line 2 is not JSON (Expecting value)")
    piped = runner.invoke(app, ["report", "-", "-o", str(tmp_path / "p.html")], input="\n".join(lines) + "\n")
    assert piped.exit_code == 0 and "12 videos" in piped.stderr
    empty = runner.invoke(app, ["report", "-", "-o", str(tmp_path / "e.html")], input="\n")
    assert empty.exit_code == 2 and "standard input: no vidclass records in it" in empty.stderr
    assert not (tmp_path / "e.html").exists()


def test_report_command_reads_thumbnails_again_on_request(tmp_path: Path) -> None:
    video = write_video(tmp_path / "rgb.avi", solid_frames(["red"] * 20 + ["blue"] * 20), 10)
    model = make_tiny_model(tmp_path / "tiny.onnx")
    results = tmp_path / "r.jsonl"
    made = runner.invoke(app, ["predict", str(video), "--model", str(model), "--provider", "cpu", "-o", str(results)])
    assert made.exit_code == 0, made.output
    with results.open("a", encoding="utf-8") as f:
        f.write(json.dumps(report_batch.record(random.Random(1), str(tmp_path / "gone.mp4"))) + "\n")
    out = tmp_path / "r.html"
    done = runner.invoke(app, ["report", str(results), "-o", str(out), "--thumbnails", "4"])
    assert done.exit_code == 0, done.output
    assert "no thumbnails for" in done.stderr and "gone.mp4" in done.stderr
    videos = json.loads(_data_of(out))["videos"]
    assert [len(v["thumbs"]) for v in videos] == [4, 0]
    # A 4 s video at 10 fps: candidates every 0.3 s; the nearest to the middle of each second.
    assert [t[0] for t in videos[0]["thumbs"]] == [0.6, 1.5, 2.4, 3.6]


def test_read_records_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="missing.jsonl: cannot read"):
        read_records(tmp_path / "missing.jsonl")


# --- In the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        message = "headless Chromium not found (Debian: apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the browser tests must run)")
        pytest.skip(message)
    with Browser(binary, width=1280, height=900) as b:
        yield b


@pytest.fixture()
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("VIDCLASS_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


BATCH = 130  # three pages of 50


@pytest.fixture(scope="module")
def batch_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
    records, strips = report_batch.batch(BATCH, seed=7)
    path = tmp_path_factory.mktemp("report") / "batch report.html"  # a space: file:// URLs quote it
    write_report(path, records, thumbnails=strips, run=RunInfo(settings={"mode": "windows", "segments": "some"}))
    return path, records, strips


def _open(browser: Browser, path: Path) -> None:
    browser.load(path)
    assert browser.evaluate("document.body.dataset.ready") == "true"
    assert browser.evaluate("document.body.dataset.images") == "true"


def _visible(browser: Browser) -> list[dict[str, Any]]:
    return browser.evaluate(
        """Array.from(document.querySelectorAll('#videos li.video')).map((li) => ({
             id: Number(li.dataset.id),
             name: li.querySelector('.name').textContent,
             folder: li.querySelector('.folder').textContent,
             score: li.querySelector('ol.top .score') ? Number(li.querySelector('ol.top .score').textContent) : null,
             labels: Array.from(li.querySelectorAll('.label, .legend span:not(.swatch)')).map((e) => e.textContent),
             failed: li.classList.contains('failed'),
           }))"""
    )


def _set(browser: Browser, selector: str, value: str, event: str = "change") -> None:
    browser.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.value = {json.dumps(value)};"
        f" e.dispatchEvent(new Event({json.dumps(event)})); }})()"
    )


@pytest.mark.browser
def test_page_loads_with_no_error_and_no_request_leaving_the_file(browser: Browser, batch_page, shots: Path) -> None:
    path, records, strips = batch_page
    _open(browser, path)
    assert browser.console_problems() == []
    requests = browser.requests()
    assert requests[0] == path.resolve().as_uri()
    assert all(url.startswith("data:image/jpeg;base64,") for url in requests[1:]), requests
    shot = browser.screenshot(shots / "report-batch.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    # A request the page did try would be refused by its policy and logged: check the policy holds.
    browser.evaluate("fetch('http://127.0.0.1:9/x').catch(() => null)")
    browser.evaluate("new Promise((r) => setTimeout(r, 100))")
    assert any("Content Security Policy" in p for p in browser.console_problems())


@pytest.mark.browser
def test_every_video_is_on_one_of_the_pages(browser: Browser, batch_page) -> None:
    path, records, strips = batch_page
    _open(browser, path)
    seen: list[int] = []
    following = "#videos ~ nav button[data-page]:last-child"  # "next" under the list
    for _ in range(10):
        seen += [v["id"] for v in _visible(browser)]
        if browser.evaluate(f"document.querySelector('{following}').disabled"):
            break
        browser.evaluate(f"document.querySelector('{following}').click()")
    assert seen == list(range(1, len(records) + 1))
    _set(browser, "#page-size", "0")
    shown = _visible(browser)
    assert len(shown) == len(records)
    assert [v["failed"] for v in shown] == ["error" in r for r in records]
    assert browser.evaluate("document.getElementById('shown').textContent").startswith(f"Showing 1–{len(records)} of")


@pytest.mark.browser
def test_hostile_names_and_labels_appear_as_text(browser: Browser, batch_page, shots: Path) -> None:
    path, records, strips = batch_page
    _open(browser, path)
    _set(browser, "#page-size", "0")
    shown = {v["id"]: v for v in _visible(browser)}
    for number, name in enumerate(report_batch.HOSTILE_NAMES, 1):
        folder, _, base = name.rpartition("/")
        assert (shown[number]["folder"], shown[number]["name"]) == (visible_text(folder), visible_text(base))
    sources = browser.evaluate("Array.from(document.querySelectorAll('details p.mono')).map((e) => e.textContent)")
    assert {visible_text(n) for n in report_batch.HOSTILE_NAMES} <= set(sources)
    labels = {label for v in shown.values() for label in v["labels"]}
    assert set(report_batch.HOSTILE_LABELS) <= labels
    error = browser.evaluate("document.querySelector('li.failed .problems').textContent")
    assert error == report_batch.HOSTILE_ERROR
    # None of the payloads ran or became an element.
    assert browser.evaluate("window.__pwned") is None
    ours = """Array.from(document.scripts).map((s) => s.type === 'application/json'
        ? (s.id === 'vidclass-data' || s.classList.contains('vidclass-images'))
        : (s.textContent.trim() === 'window.vidclassImages();' || s.textContent.includes('vidclass report: draws')))"""
    blocks = math.ceil(len(strips) / IMAGE_BLOCK)
    assert browser.evaluate(ours) == [True] * (2 + 2 * blocks)
    assert browser.evaluate("document.querySelectorAll('svg, b, [onerror], [onload], [onmouseover]').length") == 0
    # Every strip's pictures arrived (they are read after the first page is drawn), and are JPEGs.
    assert browser.evaluate(
        "Array.from(document.images).every((i) => i.src.startsWith('data:image/jpeg') && i.complete && i.naturalWidth)"
    )
    assert browser.evaluate("document.images.length") == sum(len(s) for s in strips.values())
    _set(browser, "#q", "evil", "input")
    browser.screenshot(shots / "report-hostile.png")


@pytest.mark.browser
def test_filters_and_sorting(browser: Browser, batch_page) -> None:
    path, records, strips = batch_page
    _open(browser, path)
    _set(browser, "#page-size", "0")
    # Typing into the search box, as a person would.
    browser.evaluate("document.getElementById('q').focus()")
    browser.send("Input.insertText", text="DAY3")
    shown = _visible(browser)
    expected = [n for n, r in enumerate(records, 1) if "day3" in r["source"].lower()]
    assert [v["id"] for v in shown] == expected and expected
    _set(browser, "#q", "", "input")
    _set(browser, "#min-score", "0.5", "input")
    shown = _visible(browser)
    expected = [n for n, r in enumerate(records, 1) if "error" not in r and r["top"][0]["score"] >= 0.5]
    assert [v["id"] for v in shown] == expected and all(v["score"] >= 0.5 for v in shown)
    _set(browser, "#min-score", "0", "input")
    label = "surfing water"
    index = browser.evaluate(f"Array.from(document.querySelectorAll('#label option')).find((o) => o.textContent.startsWith({json.dumps(label)})).value")  # noqa: E501
    _set(browser, "#label", index)
    shown = _visible(browser)
    assert shown and all(label in v["labels"] for v in shown)
    with_label = [
        n for n, r in enumerate(records, 1)
        if "error" not in r and (r["top"][0]["label"] == label or label in _timeline_labels(r))
    ]  # fmt: skip
    assert [v["id"] for v in shown] == with_label
    _set(browser, "#label", "-1")
    _set(browser, "#status", "failed")
    assert [v["id"] for v in _visible(browser)] == [n for n, r in enumerate(records, 1) if "error" in r]
    _set(browser, "#status", "all")
    _set(browser, "#sort", "score-desc")
    scores = [v["score"] for v in _visible(browser) if v["score"] is not None]
    assert scores == sorted(scores, reverse=True) and len(scores) == sum("error" not in r for r in records)
    _set(browser, "#sort", "name")
    names = [v["name"] for v in _visible(browser)]
    assert names == browser.evaluate(f"{json.dumps(names)}.slice().sort((a, b) => a.localeCompare(b))")
    assert browser.console_problems() == []


def _timeline_labels(record: dict[str, Any]) -> set[str]:
    if "segments" in record:
        return {s["label"] for s in record["segments"] if s["label"]}
    return {w["top"][0]["label"] for w in record["windows"]}


@pytest.mark.browser
def test_keyboard_reaches_a_videos_details(browser: Browser, batch_page) -> None:
    path, _, _ = batch_page
    _open(browser, path)
    focused = ""
    for _ in range(60):
        browser.key("Tab", "Tab", 9)
        focused = browser.evaluate(
            "document.activeElement.tagName + '#' + "
            "(document.activeElement.closest('li.video') || {dataset: {}}).dataset.id"
        )
        if focused.startswith("SUMMARY"):
            break
    assert focused == "SUMMARY#1"
    browser.key("Enter", "Enter", 13, "\r")
    assert browser.evaluate("document.activeElement.parentElement.open") is True
    table = "document.activeElement.parentElement.querySelector('table')"
    assert browser.evaluate(f"getComputedStyle({table}).display") == "table"
    browser.key("j", "KeyJ", 74, "j")
    assert browser.evaluate("document.activeElement.closest('li.video').dataset.id") == "2"
    browser.key("/", "Slash", 191, "/")
    assert browser.evaluate("document.activeElement.id") == "q"


@pytest.mark.browser
def test_print_shows_every_matching_video_and_hides_the_controls(browser: Browser, batch_page) -> None:
    path, records, strips = batch_page
    _open(browser, path)
    browser.send("Emulation.setEmulatedMedia", media="print")
    try:
        assert browser.evaluate("getComputedStyle(document.querySelector('.controls')).display") == "none"
        browser.evaluate("window.dispatchEvent(new Event('beforeprint'))")
        assert len(_visible(browser)) == len(records)
        browser.evaluate("window.dispatchEvent(new Event('afterprint'))")
        assert len(_visible(browser)) == 50
    finally:
        browser.send("Emulation.setEmulatedMedia", media="")
    pdf = browser.send("Page.printToPDF")["data"]
    assert len(pdf) > 10_000


@pytest.mark.browser
def test_evaluation_report_in_the_browser(browser: Browser, tmp_path: Path, shots: Path) -> None:
    records, strips = report_batch.batch(6, seed=11, hostile=False)
    classified = [r for r in records if "error" not in r]
    truth = [r["top"][0]["label"] if i % 2 else report_batch.LABELS[0] for i, r in enumerate(classified)]
    results = [(t, _result(r)) for t, r in zip(truth, classified, strict=True)]
    evaluation = score("labels.csv", "i3d", results).to_dict()
    path = write_report(tmp_path / "eval.html", records, thumbnails=strips, evaluation=evaluation)
    _open(browser, path)
    assert browser.console_problems() == []
    text = browser.evaluate("document.querySelector('.accuracy').textContent")
    top1 = evaluation["top1_correct"]
    assert f"top-1 ({top1}/{len(classified)})" in text
    cells = browser.evaluate("Array.from(document.querySelectorAll('table.confusion td')).map((c) => c.textContent)")
    assert sum(int(c) for c in cells if c) == len(classified)
    mistakes = browser.evaluate("document.querySelectorAll('tr.mistake').length")
    assert mistakes == len(evaluation["mistakes"]) == len(classified) - top1
    _set(browser, "#status", "mistakes")
    assert len(_visible(browser)) == len(evaluation["mistakes"])
    browser.screenshot(shots / "report-evaluation.png", full_page=True)


@pytest.mark.browser
def test_an_empty_report_and_one_without_thumbnails_open_cleanly(browser: Browser, tmp_path: Path) -> None:
    _open(browser, write_report(tmp_path / "empty.html", []))
    assert browser.console_problems() == []
    assert browser.evaluate("document.querySelector('#videos').textContent") == "This report has no videos."
    records, _ = report_batch.batch(3, seed=2, hostile=False, thumbnails=0)
    _open(browser, write_report(tmp_path / "plain.html", records))
    assert browser.console_problems() == [] and browser.requests() == [(tmp_path / "plain.html").as_uri()]
    assert browser.evaluate("document.querySelectorAll('.nothumbs').length") == 3


@pytest.mark.real
@pytest.mark.browser
def test_report_of_a_real_clip(browser: Browser, real_model: Path, clips_dir: Path, tmp_path: Path) -> None:
    clip = clips_dir / "cleaning_pool_1s.mp4"
    results = tmp_path / "real.jsonl"
    made = runner.invoke(
        app, ["predict", str(clip), "--model", str(real_model), "--provider", "cpu", "--segments", "-o", str(results)]
    )
    assert made.exit_code == 0, made.output
    page = tmp_path / "real.html"
    done = runner.invoke(app, ["report", str(results), "-o", str(page), "--thumbnails", "8"])
    assert done.exit_code == 0, done.output
    _open(browser, page)
    assert browser.console_problems() == []
    shown = _visible(browser)
    assert [(v["name"], v["labels"][0]) for v in shown] == [("cleaning_pool_1s.mp4", "cleaning pool")]
    assert browser.evaluate("document.querySelectorAll('.strip img').length") == 8
    assert "short" in browser.evaluate("document.querySelector('.vhead').textContent")


def _result(record: dict[str, Any]) -> ClipResult:
    model = ModelInfo(**{k: record["model"][k] for k in ("name", "version", "sha256", "provider")}, path="m.onnx")
    top = tuple(ClipLabel(t["label"], t["score"]) for t in record["top"])
    return ClipResult(record["source"], record["duration_s"], 1, 25.0, 64, 32, False, top, (), model)


def test_thumbnail_type_is_frozen() -> None:
    thumb = Thumbnail(0.0, b"x", 1, 1)
    with pytest.raises(AttributeError):
        thumb.time_s = 1.0  # type: ignore[misc]


def _contrast(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_text_colours_meet_wcag_aa_contrast_in_both_schemes() -> None:
    css = (Path(__file__).parents[1] / "vidclass" / "outputs" / "report_assets" / "report.css").read_text()
    light_block, dark_block = re.findall(r":root \{(.*?)\}", css, re.DOTALL)[:2]
    pairs = [
        ("fg", "bg"), ("muted", "bg"), ("muted", "panel"), ("accent", "bg"), ("fg", "panel"),
        ("error", "error-bg"), ("error", "bg"), ("warn", "warn-bg"),
    ]  # fmt: skip
    for block in (light_block, dark_block):
        colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-f]{6})", block))
        for text, background in pairs:
            assert _contrast(colours[text], colours[background]) >= 4.5, (text, background, colours)
