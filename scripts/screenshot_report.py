"""A PNG of an HTML report as headless Chromium draws it (the README's docs/report.png).

    python scripts/screenshot_report.py report.html shot.png [--sort problems] [--height 1400] [--palette]

How docs/report.png was made from the shared clips (C=../shared/assets/clips; the model on the CPU,
several minutes on 2 cores):

    python scripts/concat_clips.py three_actions.mp4 $C/arm_wrestling.mp4 $C/flipping_pancake.mkv \
        $C/shooting_basketball.mp4                                  # a timeline with three actions
    vidclass predict $C/*.mp4 $C/*.avi $C/*.mkv $C/*.gif three_actions.mp4 --segments --json \
        --provider cpu > clips.jsonl
    vidclass predict $C/clips.csv --json --provider cpu >> clips.jsonl   # not a video: a failure
    vidclass report clips.jsonl -o clips.html --thumbnails 8 --title "vidclass report: the shared clips"
    python scripts/screenshot_report.py clips.html docs/report.png --sort problems --height 1688 --palette

Needs Chromium (Debian: ``apt-get install chromium``); fails if the page logs an error. ``--palette``
(needs Pillow, which the plot extra brings) stores 256 colours: a third of the size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the DevTools driver lives with the tests

from chromium import Browser, find_chromium  # noqa: E402

SORTS = ("input", "name", "score-desc", "score-asc", "duration", "problems")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--sort", choices=SORTS, default="input", help="the page's Sort by")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1400, help="pixels from the top (0: the whole page)")
    parser.add_argument("--palette", action="store_true", help="256 colours (Pillow's fast octree), smaller")
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        raise SystemExit("screenshot_report: headless Chromium not found (Debian: apt-get install chromium)")
    with Browser(binary, width=args.width, height=args.height or 900) as browser:
        browser.load(args.report)
        browser.evaluate(
            f"(() => {{ const s = document.getElementById('sort'); s.value = {json.dumps(args.sort)};"
            " s.dispatchEvent(new Event('change')); })()"
        )
        browser.evaluate("new Promise((done) => requestAnimationFrame(() => setTimeout(done, 100)))")
        if browser.console_problems():
            raise SystemExit(f"screenshot_report: the page logged problems: {browser.console_problems()}")
        browser.screenshot(args.png, full_page=not args.height)
    if args.palette:
        from PIL import Image

        with Image.open(args.png) as shot:
            reduced = shot.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        reduced.save(args.png, optimize=True)
    print(f"wrote {args.png} ({args.png.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
