"""How the HTML report scales: a generated batch of N videos (default 1,000) with thumbnails, its
file size and build time, and in headless Chromium the time to first paint, to interactive and the
time one keystroke in the search box takes.

    python scripts/bench_report.py [--videos 1000] [--thumbnails 8] [--runs 3] [--keep report.html]

The records are generated (tests/report_batch.py: segments, windows, warnings, 3 % failures); the
thumbnails are real frames when the shared clips are there (``$VIDCLASS_ASSETS/clips``, default
``../shared/assets/clips``: each decoded once, and every video of the batch takes its frames from one
of them), since JPEGs of real footage are what makes a report big; else synthetic frames (which
compress better, so the file comes out smaller than a real one). Needs Chromium (Debian: ``apt-get
install chromium``). Timings on a shared machine are noisy: the median of ``--runs`` is printed,
with the CPU model beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the generated batch and the DevTools driver live with the tests

from chromium import Browser, find_chromium  # noqa: E402
from report_batch import batch  # noqa: E402

from vidclass.outputs.report import build_report  # noqa: E402
from vidclass.sources import VideoFile, quiet_decoder_logs  # noqa: E402

WORD, FOLDER = "surfing", "day3/"
KEYSTROKE = """new Promise((done) => {
  const q = document.getElementById('q'), t0 = performance.now();
  q.value = %s;
  q.dispatchEvent(new Event('input'));
  requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));
})"""
#: Frames kept per shared clip (every n-th decoded, at 320 pixels wide): enough for 8 thumbnails.
FRAMES_PER_CLIP = 48


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} logical CPUs"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"


def clip_frames(folder: Path) -> list[list[tuple[float, np.ndarray]]]:
    """``(time_s, frame)`` lists, one per decodable clip in ``folder``."""
    quiet_decoder_logs()
    clips = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in {".mp4", ".avi", ".mkv", ".gif", ".webm"}:
            continue
        with VideoFile(path) as video:
            frames = [(f.time_s, f.image) for f in video]
        step = max(1, len(frames) // FRAMES_PER_CLIP)
        kept = []
        for t, image in frames[::step]:
            size = (320, max(1, round(320 * image.shape[0] / image.shape[1])))
            kept.append((t, cv2.resize(image, size, interpolation=cv2.INTER_AREA)))
        clips.append(kept)
    return clips


def frame_source(clips: list[list[tuple[float, np.ndarray]]]):
    def frame(index: int, time_s: float) -> np.ndarray:
        frames = clips[index % len(clips)]
        length = frames[-1][0] + 1e-3
        wanted = time_s % length
        return min(frames, key=lambda f: abs(f[0] - wanted))[1]

    return frame


def measure_page(binary: str, page: Path) -> dict[str, float]:
    """One cold load in a fresh browser: paint and ready times (ms from navigation start), keystrokes."""
    with Browser(binary, width=1280, height=900, timeout_s=300) as browser:
        browser.load(page)
        timing = browser.evaluate(
            """(() => {
                 const paint = performance.getEntriesByName('first-contentful-paint')[0];
                 const ready = performance.getEntriesByName('vidclass-ready')[0];
                 const painted = performance.getEntriesByName('vidclass-painted')[0];
                 const pictures = performance.getEntriesByName('vidclass-images')[0];
                 const nav = performance.getEntriesByType('navigation')[0];
                 const at = (entry) => (entry ? entry.startTime : NaN);
                 return {fcp: at(paint), ready: at(ready), painted: at(painted), pictures: at(pictures),
                         dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
               })()"""
        )
        problems = browser.console_problems()
        if problems:
            raise SystemExit(f"the page logged problems: {problems}")
        # Keystrokes into the search box (typing a label, deleting it, typing a folder), each timed
        # from the input event to the next frame: filtering all videos, and drawing the first page.
        typed = [*(WORD[:n] for n in range(1, len(WORD) + 1)), "", *(FOLDER[:n] for n in range(1, len(FOLDER) + 1))]
        keys = [browser.evaluate(KEYSTROKE % json.dumps(text)) for text in typed]
        # Everything on one page, no filter: the worst a reader can ask for.
        browser.evaluate(KEYSTROKE % '""')
        every = browser.evaluate(
            """new Promise((done) => {
                 const size = document.getElementById('page-size'), t0 = performance.now();
                 size.value = '0';
                 size.dispatchEvent(new Event('change'));
                 requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));
               })"""
        )
        heap = browser.send("Runtime.getHeapUsage")["usedSize"] / 2**20
        shown = browser.evaluate("document.querySelectorAll('#videos li.video').length")
    return {
        **timing, "keystroke": statistics.median(keys), "keystroke_max": max(keys), "every": every, "heap": heap,
        "shown": shown,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--thumbnails", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="also keep the report at this path")
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        raise SystemExit("bench_report: headless Chromium not found (Debian: apt-get install chromium)")

    assets = Path(os.environ.get("VIDCLASS_ASSETS", ROOT.parent / "shared" / "assets"))
    clips = clip_frames(assets / "clips") if (assets / "clips").is_dir() else []
    frames = frame_source(clips) if clips else None
    started = time.perf_counter()
    records, strips = batch(args.videos, seed=1, hostile=False, thumbnails=args.thumbnails,
                            **({"frames": frames} if frames else {}))  # fmt: skip
    generated_s = time.perf_counter() - started

    builds = []
    for _ in range(args.runs):
        started = time.perf_counter()
        page = build_report(records, thumbnails=strips)
        builds.append(time.perf_counter() - started)
    data = page.encode("utf-8")
    jpeg = sum(len(t.jpeg) for strip in strips.values() for t in strip)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        path = Path(folder) / "report.html"
        path.write_bytes(data)
        if args.keep:
            args.keep.write_bytes(data)
        runs = [measure_page(binary, path) for _ in range(args.runs)]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"CPU: {cpu_model()}")
    print(f"browser: {version} (headless), Python {platform.python_version()}")
    print(f"thumbnails from: {'the shared clips (' + str(len(clips)) + ' clips)' if clips else 'synthetic frames'}")
    print(f"videos: {args.videos} ({sum('error' in r for r in records)} failed), {args.thumbnails} thumbnails each")
    print(f"generated in {generated_s:.1f} s (records and thumbnail encodes)")
    print(f"file size: {len(data) / 2**20:.1f} MiB ({len(data) / args.videos / 1024:.1f} KiB a video; "
          f"JPEG thumbnails {jpeg / 2**20:.1f} MiB before base64)")  # fmt: skip
    print(f"build_report: {statistics.median(builds) * 1000:.0f} ms (median of {args.runs})")
    print(f"from navigation start, medians of {args.runs} cold loads in a fresh browser:")
    print(f"  first contentful paint {med('fcp'):.0f} ms; first page of 50 videos built, filters on "
          f"{med('ready'):.0f} ms, painted {med('painted'):.0f} ms")  # fmt: skip
    print(f"  every picture read {med('pictures'):.0f} ms; load event {med('load'):.0f} ms")
    worst = max(r["keystroke_max"] for r in runs)
    print(f"a keystroke in the search box ({WORD!r}, cleared, {FOLDER!r}), to the next frame: "
          f"median {med('keystroke'):.1f} ms, worst {worst:.1f} ms (50 videos a page)")  # fmt: skip
    print(f"all {runs[0]['shown']:.0f} videos on one page (Per page: all), to the next frame: {med('every'):.0f} ms")
    print(f"JavaScript heap after loading: {med('heap'):.0f} MiB")


if __name__ == "__main__":
    main()
