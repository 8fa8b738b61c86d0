"""Measure ``vidclass watch`` end to end: latency from capture to printed result, and windows skipped.

Runs the real CLI in a subprocess with ``--json`` on a 30 fps source, and reads its lines as they
are printed:

* ``--mode stream`` (default): a loopback MJPEG server (tests/mjpeg.py, 127.0.0.1 only) serves
  the frames of a clip, looped, at ``--fps``; the watcher times frames by arrival, like a camera.
* ``--mode file``: the clip itself, played at its own speed (``watch --source CLIP``).

    python scripts/bench_watch.py --clip ../shared/assets/clips/cleaning_pool.mp4 --seconds 60

Prints one JSON object: window counts, the share skipped, latency (median, p90, max), the model's
own time per window, the capture fps, and the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mjpeg import MjpegServer  # noqa: E402 -- tests/ is not a package

from vidclass.sources import VideoFile  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_watch(source: str, args: argparse.Namespace) -> tuple[list[dict], str, float]:
    command = [sys.executable, "-c", "from vidclass.cli import main; main()", "watch", "--source", source, "--json"]
    command += ["--duration", str(args.seconds), "--provider", args.provider]
    if args.model:
        command += ["--model", str(args.model)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.hop:
        command += ["--hop", str(args.hop)]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    records = []
    for line in proc.stdout:
        record = json.loads(line)
        # Checked from outside: the wall clock when the line arrived here, less the capture time
        # the line reports, is the latency as a reader of the output sees it.
        record["received_ms"] = (time.time() - datetime.fromisoformat(record["time"]).timestamp()) * 1000
        records.append(record)
    err = proc.stderr.read()
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"watch exited {proc.returncode}: {err}")
    return records, err.strip(), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared/assets/clips/cleaning_pool.mp4")
    parser.add_argument("--mode", choices=("stream", "file"), default="stream")
    parser.add_argument("--fps", type=float, default=30.0, help="stream mode: frames per second served")
    parser.add_argument("--seconds", type=float, default=60.0, help="--duration given to watch")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--provider", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--hop", type=int, default=None, help="--hop given to watch (default: the model's)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    if args.mode == "stream":
        with VideoFile(args.clip) as video:
            frames = [frame.image for frame in video]
        with MjpegServer(frames, fps=args.fps, after="loop") as server:
            records, summary, wall_s = run_watch(server.url, args)
    else:
        records, summary, wall_s = run_watch(str(args.clip), args)
    load_after = os.getloadavg()

    latencies = [r["latency_ms"] for r in records]
    models = [r["inference_ms"] for r in records]
    fps = [r["capture_fps"] for r in records if r["capture_fps"] is not None]
    skipped = records[-1]["skipped"] if records else 0
    report = {
        "mode": args.mode,
        "clip": str(args.clip),
        "served_fps": args.fps if args.mode == "stream" else None,
        "hop": args.hop,
        "wall_s": round(wall_s, 1),
        "windows": len(records),
        "skipped_by_last_result": skipped,
        "summary": summary,
        "latency_ms": {
            "median": round(statistics.median(latencies)),
            "p90": round(percentile(latencies, 0.9)),
            "max": round(max(latencies)),
            "min": round(min(latencies)),
        }
        if latencies
        else None,
        "received_ms_median": round(statistics.median(r["received_ms"] for r in records)) if records else None,
        "inference_ms_median": round(statistics.median(models)) if models else None,
        # Latency less the model's time: the wait for the next frame, and for the model to be free.
        "waiting_ms_median": round(statistics.median(a - b for a, b in zip(latencies, models, strict=True)))
        if models
        else None,
        "capture_fps_median": round(statistics.median(fps), 1) if fps else None,
        "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
