"""Benchmark: the research-demo way (PyTorch eager, every window decoded from scratch) against
vidclass's predict path, on the same video and the same windows, in one run.

    python scripts/bench.py --quick              # ~5 min on 2 cores: 8 s video, 3 repetitions
    python scripts/bench.py                      # 20 s video, 5 repetitions, every variant
    python scripts/bench.py VIDEO.mp4            # your video instead of the synthetic one
    python scripts/bench.py --accuracy           # agreement of every variant with fp32 on the shared clips
    python scripts/bench.py --rss-long           # peak RSS, 1-min vs 10-min 1280x720 (slow)

The model: ``--model``, else ``$VIDCLASS_MODEL``, else the checkout's ``models/``, else the search order
of ``vidclass predict``. The "default" variant is what ``vidclass predict`` does with no options, so
the model needs its streaming form beside it (``name.stream.onnx``, made by ``vidclass models pull``
and first use); when it is missing, the bench converts one from the weights into a temporary folder
beside a link to the model (a few seconds, not timed) instead of falling back to windows mode.

Each variant runs in its own subprocess (so that its peak RSS is its own, ``ru_maxrss`` of that
process, model loading included); repetitions alternate between the variants (A B C A B C ...),
so that a change in the machine's load hits all of them alike. Each process loads its model, makes
one short warm-up call (stream variants: a short stream), then times one run over the whole video.
Figures are medians; the spread (min-max) of the wall time is printed next to them, with the load
average before and after. A variant this machine cannot run (no int8 model, no bf16 arithmetic, no
openvino extra, no torch for the baseline) is skipped with one line that says why.

Per variant: wall time (decode to results, model loading excluded) and the CPU seconds of the process
over the same span (every thread: decoding and the model), video seconds per wall second, model
GFLOP per second of video and the work ratio ("work x": the model's FLOPs over the one-pass minimum,
which is the one-pass graph counted for the video's frame count, every frame through the network once),
model GFLOP/s over the wall time and its share of the CPU's fp32 peak, model GFLOP per CPU second
(every thread; one core's peak is the yardstick: on a machine shared with other jobs this changes
least), the share of the wall time spent
inside model calls (pipeline efficiency), peak RSS, and the speed-up over the baseline. FLOPs are
counted by :mod:`vidclass.graph.receptive` on the graph each call ran: the one-pass model at the
call's frame count (windows, dense chunks), or the streaming graph with the call's block, state
lengths and flush (stream mode).

The CPU's fp32 peak: cores x clock (``cpu MHz`` of /proc/cpuinfo) x FLOPs per cycle per core, where
FLOPs per cycle = vector lanes (16 fp32 with ``avx512f``, 8 with ``avx2``) x 2 (an FMA is two FLOPs)
x FMA units (2, as on Xeon Scalable Gold/Platinum, AMD Zen and every AVX2 Intel core since Haswell;
``--fma-units`` to change). bf16 (AMX) and int8 variants compute faster than this fp32 peak allows;
their share is still quoted against it, as a yardstick.

The fp32 ceiling: before the variants and after them, the bench times one 1536x1536 matrix product
on all cores, with ONNX Runtime and with numpy (a GEMM is as regular as fp32 work gets, so no layer of
the network runs faster). One pass over the video at the best of these rates is the least time any
fp32 variant can take, and ``speedup_ceiling_fp32`` is the baseline's wall time over it: on a CPU
where it is below the target (``TARGET_SPEEDUP``), only bf16 or int8 arithmetic reaches the target.

The last line is one JSON object: ``speedup_windows`` (vidclass windows mode, fp32, over the
baseline), ``speedup_default`` (vidclass's default settings: ``vidclass predict`` with no options),
``flops_ratio_default`` (the default's model FLOPs over the one-pass minimum), ``realtime_factor``
and ``pipeline_efficiency`` (default settings), and the same for the fastest variant that ships with
100 % top-1 agreement (``*_fast``), and the ceiling: ``fp32_gflops_measured``, ``one_pass_gflop``,
``one_pass_s_at_fp32_ceiling``, ``speedup_ceiling_fp32`` and ``gflops_for_target`` (the rate one pass
must keep up over the whole run for the target). The table before it is markdown, ready for the README.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

CHECKOUT_MODEL = ROOT / "models" / "i3d_kinetics400.onnx"
ASSETS = Path(os.environ.get("VIDCLASS_ASSETS", ROOT.parent / "shared" / "assets"))
#: The one-pass model the variants run (the streaming form beside it); set by main() and --model.
MODEL = CHECKOUT_MODEL

#: name -> (label, Classifier options). ``None``: the PyTorch baseline.
VARIANTS: dict[str, tuple[str, dict | None]] = {
    "baseline": ("PyTorch eager, naive pipeline", None),
    "default": ("vidclass defaults (stream, auto provider and precision)", {}),
    "windows-auto": (
        "vidclass windows, auto provider and precision (the default before stream mode)",
        {"mode": "windows"},
    ),
    "windows-serial": (
        "vidclass windows, ORT fp32, no decode thread",
        {"provider": "cpu", "serial": True, "mode": "windows"},
    ),
    "windows": ("vidclass windows, ORT fp32", {"provider": "cpu", "mode": "windows"}),
    "windows-ov": ("vidclass windows, OpenVINO fp32", {"provider": "openvino", "precision": "fp32", "mode": "windows"}),
    "dense": ("vidclass dense, ORT fp32", {"provider": "cpu", "mode": "dense"}),
    "stream": ("vidclass stream, ORT fp32", {"provider": "cpu", "mode": "stream"}),
    "stream-ov": ("vidclass stream, OpenVINO fp32", {"provider": "openvino", "precision": "fp32", "mode": "stream"}),
    "stream-ov-b64": (
        "vidclass stream, OpenVINO fp32, 64-frame blocks",
        {"provider": "openvino", "precision": "fp32", "mode": "stream", "chunk_frames": 64},
    ),
    "windows-ov-bf16": (
        "vidclass windows, OpenVINO bf16",
        {"provider": "openvino", "precision": "bf16", "mode": "windows"},
    ),
    "dense-ov-bf16": ("vidclass dense, OpenVINO bf16", {"provider": "openvino", "precision": "bf16", "mode": "dense"}),
    "stream-ov-bf16": (
        "vidclass stream, OpenVINO bf16",
        {"provider": "openvino", "precision": "bf16", "mode": "stream"},
    ),
    "windows-ov-int8": (
        "vidclass windows, OpenVINO int8 QDQ",
        {"provider": "openvino", "precision": "int8", "mode": "windows"},
    ),
}
# What `vidclass predict` does with no options: stream mode (the streaming form is beside the model),
# provider auto: a GPU provider if onnxruntime has one; else the OpenVINO runtime in bf16 on AMX or
# AVX512-BF16 CPUs (the openvino extra); else ONNX Runtime's CPU (runtimes.stream_provider says why).
DEFAULT_VARIANT = "default"
QUICK_VARIANTS = ["baseline", "default", "windows-auto", "windows", "windows-ov", "dense", "stream", "stream-ov",
                  "stream-ov-bf16"]


# --- the machine -----------------------------------------------------------------------------------


def cpu_peak_gflops(fma_units: int = 2) -> tuple[float, str]:
    """fp32 peak and how it was derived, from /proc/cpuinfo."""
    text = Path("/proc/cpuinfo").read_text()
    flags = set(next(line for line in text.splitlines() if line.startswith("flags")).split(":")[1].split())
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    cores = os.cpu_count() or 1
    clock_ghz = (statistics.median(mhz) if mhz else 0.0) / 1000
    if "avx512f" in flags:
        lanes, isa = 16, "avx512f"
    elif "avx2" in flags and "fma" in flags:
        lanes, isa = 8, "avx2+fma"
    else:
        lanes, fma_units, isa = 4, 1, "sse (no FMA)"
    per_cycle = lanes * 2 * fma_units
    peak = cores * clock_ghz * per_cycle
    how = (
        f"{cores} cores x {clock_ghz:.2f} GHz x {per_cycle} FLOP/cycle ({isa}: {lanes} fp32 lanes x 2 (FMA) "
        f"x {fma_units} FMA units) = {peak:.0f} GFLOP/s"
    )
    return peak, how


#: The matrix product that measures the fp32 ceiling: its size (square) and how many runs (the best counts).
GEMM_SIZE, GEMM_REPEATS = 1536, 5


def measured_fp32_gflops(size: int = GEMM_SIZE, repeats: int = GEMM_REPEATS) -> dict[str, float]:
    """The best fp32 rates this machine gives now to one ``size``-cubed matrix product on all cores,
    best of ``repeats``: ONNX Runtime's MatMul (the GEMM its convolutions become) and numpy's (the
    BLAS it was built with). A GEMM this size is as regular as fp32 work gets: no convolution of a
    real network runs faster, so one pass over the video at the better of the two rates is the
    fp32 ceiling."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [size, size]) for name in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])],
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    products = {"onnxruntime": lambda: session.run(None, {"a": a, "b": b}), "numpy": lambda: a @ b}
    rates = {}
    for name, product in products.items():
        product()
        best = math.inf
        for _ in range(repeats):
            began = time.perf_counter()
            product()
            best = min(best, time.perf_counter() - began)
        rates[name] = 2 * size**3 / best / 1e9
    return rates


#: Issue 15's target for ``speedup_default`` on a 2-core CPU without AMX.
TARGET_SPEEDUP = 6.0


def fp32_ceiling(one_pass_gflop: float, gflops: float, baseline_s: float | None) -> dict:
    """What fp32 arithmetic allows here: one pass over the video at ``gflops``, and the speed-up over
    the baseline that would give (nothing that computes every frame once in fp32 is faster)."""
    seconds = one_pass_gflop / gflops
    ceiling = {"fp32_gflops_measured": round(gflops, 1), "one_pass_gflop": round(one_pass_gflop, 1),
               "one_pass_s_at_fp32_ceiling": round(seconds, 2)}
    if baseline_s is not None:
        ceiling["speedup_ceiling_fp32"] = round(baseline_s / seconds, 2)
        # The rate one pass must keep up, decoding included, for the target speed-up.
        ceiling["gflops_for_target"] = round(one_pass_gflop * TARGET_SPEEDUP / baseline_s, 1)
    return ceiling


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def cpu_features() -> list[str]:
    """The flags that decide the runtimes' arithmetic (what the bench's figures depend on)."""
    text = Path("/proc/cpuinfo").read_text()
    line = next((x for x in text.splitlines() if x.startswith("flags")), "flags:")
    flags = set(line.split(":", 1)[1].split())
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")
    return [f for f in wanted if f in flags]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the test video --------------------------------------------------------------------------------


def make_video(path: Path, seconds: float, width: int = 640, height: int = 360, fps: float = 30.0) -> Path:
    """A synthetic but non-trivial scene: a textured background panning, moving and rotating
    shapes, noise. MPEG-4 part 2 (``mp4v``): opencv-python's FFmpeg has no H.264 encoder."""
    import cv2

    rng = np.random.default_rng(0)
    texture = cv2.resize(
        rng.integers(0, 255, (height // 8, width // 4, 3), dtype=np.uint8),
        (width * 2, height),
        interpolation=cv2.INTER_CUBIC,
    )
    # Sensor-like noise, from a cycle of 7 precomputed fields (drawing fresh noise for every 720p frame
    # would take longer than encoding it).
    noises = [rng.integers(-12, 13, (height, width, 3), dtype=np.int16) for _ in range(7)]
    writer = None
    for fourcc in ("mp4v",):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
        if writer.isOpened():
            break
    if writer is None or not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write {path}")
    for i in range(round(seconds * fps)):
        t = i / fps
        shift = int(t * 60) % width
        frame = np.ascontiguousarray(texture[:, shift : shift + width])
        for k in range(4):
            cx = int(width / 2 + width / 3 * math.sin(t * (0.7 + 0.3 * k) + k))
            cy = int(height / 2 + height / 3 * math.cos(t * (0.9 + 0.2 * k) + 2 * k))
            color = tuple(int(c) for c in (80 + 40 * k, 200 - 30 * k, 60 + 50 * k))
            cv2.circle(frame, (cx, cy), 20 + 8 * k, color, -1)
        box = cv2.boxPoints(((width * 0.3 + 80 * math.sin(t), height * 0.6), (120, 50), t * 90))
        cv2.fillPoly(frame, [box.astype(np.int32)], (30, 30, 220))
        writer.write(np.clip(frame.astype(np.int16) + noises[i % len(noises)], 0, 255).astype(np.uint8))
    writer.release()
    return path


# --- one variant, in a child process ---------------------------------------------------------------


def _flops_counter(model_path: Path):  # noqa: ANN202
    """FLOPs of one pass over a number of frames. The graph loads at the first count, after the timed
    run and its peak RSS: a copy of the model in memory during the run would count in the RSS."""
    from vidclass.graph.receptive import analyse, load_model

    loaded: list = []
    cache: dict[int, int] = {}

    def flops(frames: int) -> int:
        if not loaded:
            loaded.extend(load_model(model_path)[1:])
        proto, spec = loaded
        if frames not in cache:
            cache[frames] = analyse(proto, spec, frames, str(model_path)).cost.flops or 0
        return cache[frames]

    return flops


def _peak_rss_mb() -> float:
    """This process's peak RSS so far: read when the timed run ends, before any counting."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _baseline(video: Path, flops) -> dict:  # noqa: ANN001
    """The research demo: PyTorch eager, each window decoded (seek + read) and preprocessed from scratch."""
    import cv2
    import torch
    from i3d_torch import InceptionI3d, load_flax_weights

    from vidclass.convert import checkpoint
    from vidclass.preprocess import center_crop, resized_size
    from vidclass.runtimes import Session
    from vidclass.sampling import output_frame_count, plan_windows
    from vidclass.store.fetch import fetch_weights

    spec = Session(MODEL, "cpu").spec  # the same preprocessing numbers, from the model's metadata
    model = InceptionI3d().eval()
    shared = ASSETS / "weights" / checkpoint.ARCHIVE_NAME
    weights = fetch_weights(shared if shared.is_file() else None).path  # else $VIDCLASS_WEIGHTS, cache, download
    load_flax_weights(model, checkpoint.flatten(checkpoint.load_checkpoint(weights)))
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    n_source = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    n_out = output_frame_count(n_source / fps, spec.frame_rate)
    windows = plan_windows(n_out, spec.window_frames, spec.hop_frames)

    def preprocess(image: np.ndarray) -> np.ndarray:
        h, w = resized_size(*image.shape[:2], spec.resize_short_side)
        image = center_crop(
            cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR), spec.crop_height, spec.crop_width
        )[..., ::-1]
        return image.astype(np.float32) * np.float32(spec.value_scale) + np.float32(spec.value_offset)

    with torch.inference_mode():
        model(torch.zeros(1, 16, spec.crop_height, spec.crop_width, 3))  # warm-up
        model_s = 0.0
        cpu0, began = _cpu_s(), time.perf_counter()
        for window in windows:
            wanted = [min(int(i * fps / spec.frame_rate), n_source - 1) for i in range(window.start, window.stop)]
            capture = cv2.VideoCapture(str(video))
            capture.set(cv2.CAP_PROP_POS_FRAMES, wanted[0])
            decoded = {}
            for index in range(wanted[0], wanted[-1] + 1):
                ok, image = capture.read()
                if not ok:
                    break
                decoded[index] = preprocess(image)
            capture.release()
            clip = np.stack([decoded.get(i, decoded[max(decoded)]) for i in wanted])
            t0 = time.perf_counter()
            logits = model(torch.from_numpy(clip[np.newaxis])).numpy()[0]
            model_s += time.perf_counter() - t0
            _ = np.exp(logits.mean(0) - logits.mean(0).max())
        wall, cpu = time.perf_counter() - began, _cpu_s() - cpu0
    peak_rss = _peak_rss_mb()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss,
        "model_s": model_s,
        "windows": len(windows),
        "frames": n_out,
        "flops": sum(flops(w.frames) for w in windows),
        "min_flops": flops(n_out),
        "threads": torch.get_num_threads(),
    }


def _stream_flops_counter(stream_path: Path, stream):  # noqa: ANN001, ANN202
    """FLOPs of one call of the streaming graph, from the shapes it was fed: the block, every state's
    length, and the flush (a copy of the graph with the flush as a constant, so that shape inference
    knows every length). The graph loads at the first count, after the timed run (as above)."""
    import onnx
    from onnx import numpy_helper

    from vidclass.graph.receptive import count_macs, static_shapes

    loaded: list = []
    cache: dict[tuple, int] = {}

    def shapes(feeds: dict[str, np.ndarray]) -> tuple:
        """What the count depends on, taken during the timed run (counting waits for the end)."""
        dims = tuple(sorted((name, tuple(a.shape)) for name, a in feeds.items() if name != stream.flush))
        return dims, tuple(np.asarray(feeds[stream.flush]).tolist())

    def flops(key: tuple) -> int:
        if key not in cache:
            if not loaded:
                loaded.append(onnx.load(str(stream_path)))
            dims, flush = dict(key[0]), np.asarray(key[1], np.int64)
            model = onnx.ModelProto()
            model.CopyFrom(loaded[0])
            inputs = [i for i in model.graph.input if i.name != stream.flush]
            del model.graph.input[:]
            model.graph.input.extend(inputs)
            model.graph.initializer.append(numpy_helper.from_array(flush, stream.flush))
            macs, unknown = count_macs(model, static_shapes(model, dims)[0])
            if macs is None:
                raise RuntimeError(f"{stream_path}: no static shape for {', '.join(unknown[:3])}")
            cache[key] = 2 * macs
        return cache[key]

    return shapes, flops


def _vidclass(video: Path, options: dict, flops) -> dict:  # noqa: ANN001
    from vidclass import Classifier
    from vidclass.clips import ClipStats, iter_clips
    from vidclass.convert.stream_runtime import StreamingI3D
    from vidclass.sampling import plan_windows
    from vidclass.sources import VideoFile

    options = dict(options)
    serial = options.pop("serial", False)
    clf = Classifier(MODEL, **options)
    calls: list[tuple[object, float]] = []  # what the call's FLOPs depend on, seconds
    count = flops
    stream = clf.stream_session
    if stream is None:
        run = clf.session.run

        def timed(clips: np.ndarray) -> np.ndarray:
            t0 = time.perf_counter()
            out = run(clips)
            calls.append((clips.shape[1], time.perf_counter() - t0))
            return out

        run(np.zeros((1, 16, clf.spec.crop_height, clf.spec.crop_width, 3), np.float32))  # warm-up
        clf.session.run = timed  # type: ignore[method-assign]
    else:
        run_block = stream.run
        shapes, count = _stream_flops_counter(stream.path, stream.stream)

        def timed(feeds):  # noqa: ANN001, ANN202
            t0 = time.perf_counter()
            out = run_block(feeds)
            seconds = time.perf_counter() - t0
            calls.append((shapes(feeds), seconds))
            return out

        warm = StreamingI3D(run_block, stream.stream, clf.spec, clf.recipe.chunk_frames)  # a short stream
        warm.start(clf.spec.window_frames)
        warm.push(np.zeros((clf.spec.window_frames, clf.spec.crop_height, clf.spec.crop_width, 3), np.float32))
        warm.finish()
        stream.run = timed  # type: ignore[method-assign]
    cpu0, began = _cpu_s(), time.perf_counter()
    if serial:  # the pre-issue path: decode, then model, in one thread
        with VideoFile(video) as source:
            stats = ClipStats()
            probs = [clf.score_clip(c) for c in iter_clips(source, clf.spec, clf.window_frames, clf.hop_frames, stats)]
        frames = stats.frames
        top = int(np.argmax(np.mean(probs, axis=0)))
    else:
        result = clf.predict(video)
        frames = result.frames
        top = clf.spec.labels.index(result.top[0].label)
    wall, cpu = time.perf_counter() - began, _cpu_s() - cpu0
    peak_rss = _peak_rss_mb()
    windows = plan_windows(frames, clf.window_frames, clf.hop_frames)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss,
        "model_s": sum(t for _, t in calls),
        "windows": len(windows),
        "frames": frames,
        "flops": sum(count(key) for key, _ in calls),
        "min_flops": flops(max(frames, clf.spec.min_frames)),
        "calls": len(calls),
        "mode": clf.mode.value,
        "provider": clf.session.provider,
        "precision": clf.session.precision,
        "top1": top,
    }


def _cpu_s() -> float:
    """CPU seconds of this process so far, every thread (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(name: str, video: Path) -> None:
    from vidclass.sources import quiet_decoder_logs

    quiet_decoder_logs()
    flops = _flops_counter(MODEL)
    options = VARIANTS[name][1]
    record = _baseline(video, flops) if options is None else _vidclass(video, options, flops)
    print("RESULT " + json.dumps(record), flush=True)


def run_worker(name: str, video: Path, timeout_s: float = 3600) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", name, "--model", str(MODEL), str(video)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"
    raise RuntimeError(f"exit {done.returncode}: {last}")


def why_not(name: str) -> str | None:
    """Why this machine cannot run variant ``name``, or None when it can."""
    options = VARIANTS[name][1]
    if options is None:
        try:
            import torch  # noqa: F401
        except ImportError:
            return "no torch (pip install -e '.[torch]')"
        return None
    provider, precision = options.get("provider"), options.get("precision")
    if provider == "openvino" and "openvino" not in _available():
        return "the openvino extra is not installed"
    if precision in ("bf16", "fp16"):
        from vidclass.runtimes import openvino

        if not openvino.cpu_supports(precision):
            return f"this CPU has no native {precision} arithmetic (OpenVINO's OPTIMIZATION_CAPABILITIES)"
    if precision == "int8":
        from vidclass.runtimes import int8_variant

        try:
            int8_variant(MODEL)
        except Exception as e:  # noqa: BLE001 -- ModelNotFoundError says what to do
            return str(e)
    if options.get("mode") == "stream" or name == DEFAULT_VARIANT:
        from vidclass.store import streaming_companion

        if not streaming_companion(MODEL).is_file():
            return f"no streaming form beside {MODEL}"
    return None


def with_streaming_form(model: Path, folder: Path) -> Path:
    """``model`` if its streaming form is beside it, else a link to it in ``folder`` with a streaming
    form converted there from the weights (shared assets, ``$VIDCLASS_WEIGHTS``, the cache)."""
    from vidclass.convert.checkpoint import ARCHIVE_NAME
    from vidclass.convert.streaming import convert_streaming
    from vidclass.store import streaming_companion
    from vidclass.store.fetch import fetch_weights

    if streaming_companion(model).is_file():
        return model
    linked = folder / model.name
    linked.symlink_to(model.resolve())
    shared = ASSETS / "weights" / ARCHIVE_NAME
    try:
        weights = fetch_weights(shared if shared.is_file() else None).path
        began = time.perf_counter()
        convert_streaming(weights, streaming_companion(linked))
    except Exception as e:  # noqa: BLE001 -- reported; the stream variants are then skipped
        print(f"no streaming form for {model} ({e}): the stream variants are skipped", file=sys.stderr)
        return model
    print(
        f"streaming form converted beside a link to the model in {time.perf_counter() - began:.0f} s (not timed)",
        flush=True,
    )
    return linked


# --- accuracy on the shared clips ------------------------------------------------------------------


#: Each is compared with ONNX Runtime fp32 in the same mode (``ORT fp32 <mode>``, run first).
ACCURACY_VARIANTS = {
    "ORT fp32 windows": {"provider": "cpu", "mode": "windows"},
    "ORT fp32 dense": {"provider": "cpu", "mode": "dense"},
    "ORT fp32 stream": {"provider": "cpu", "mode": "stream"},
    "OpenVINO fp32 windows": {"provider": "openvino", "precision": "fp32", "mode": "windows"},
    "OpenVINO fp32 stream": {"provider": "openvino", "precision": "fp32", "mode": "stream"},
    "OpenVINO bf16 windows": {"provider": "openvino", "precision": "bf16", "mode": "windows"},
    "OpenVINO bf16 dense": {"provider": "openvino", "precision": "bf16", "mode": "dense"},
    "OpenVINO bf16 stream": {"provider": "openvino", "precision": "bf16", "mode": "stream"},
    "OpenVINO int8 windows": {"provider": "openvino", "precision": "int8", "mode": "windows"},
    "preset 12.5 fps, OpenVINO bf16 windows": {
        "provider": "openvino",
        "precision": "bf16",
        "mode": "windows",
        "fps_factor": 0.5,
    },
}


def accuracy(clips_dir: Path, only: list[str] | None) -> list[dict]:
    """Top-1 agreement and max |delta probability| of each variant's clip scores against ORT fp32
    of the same mode (windows against windows, dense against dense), on every shared clip."""
    import csv

    from vidclass import Classifier

    with (clips_dir / "clips.csv").open() as f:
        files = [row["file"] for row in csv.DictReader(f)]
    probs: dict[str, dict[str, np.ndarray]] = {}
    rows = []
    for name, options in ACCURACY_VARIANTS.items():
        if only and name not in only and name not in {f"ORT fp32 {ACCURACY_VARIANTS[n]['mode']}" for n in only}:
            continue  # neither asked for nor the reference of one that was
        options = dict(options)
        fps_factor = options.pop("fps_factor", None)
        try:
            clf = Classifier(MODEL, top_k=400, **options)  # every class's clip probability in result.top
        except Exception as e:  # noqa: BLE001 -- a variant this machine cannot run is reported, not fatal
            print(f"  {name}: not run ({e})", file=sys.stderr)
            continue
        if fps_factor:
            clf.spec = replace(clf.spec, frame_rate=clf.spec.frame_rate * fps_factor)
        began = time.perf_counter()
        probs[name] = {}
        for file in files:
            result = clf.predict(clips_dir / file)
            probs[name][file] = _clip_vector(clf, result)
        elapsed = time.perf_counter() - began
        base = f"ORT fp32 {options['mode']}"
        if name == base:
            rows.append({"variant": name, "agree": None, "max_dprob": None, "seconds": elapsed})
            print(f"  {name}: reference, {elapsed:.0f} s", file=sys.stderr, flush=True)
            continue
        if base not in probs:
            print(f"  {name}: not compared ({base} did not run)", file=sys.stderr)
            continue
        agree = sum(int(np.argmax(probs[name][f]) == np.argmax(probs[base][f])) for f in files)
        dprob = max(float(np.abs(probs[name][f] - probs[base][f]).max()) for f in files)
        disagreements = [f for f in files if np.argmax(probs[name][f]) != np.argmax(probs[base][f])]
        rows.append(
            {
                "variant": name,
                "against": base,
                "agree": agree,
                "clips": len(files),
                "max_dprob": dprob,
                "disagree_on": disagreements,
                "seconds": elapsed,
            }
        )
        print(
            f"  {name}: top-1 {agree}/{len(files)}, max |dprob| {dprob:.2e} vs {base}, {elapsed:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def _clip_vector(clf, result) -> np.ndarray:  # noqa: ANN001
    """The clip's probabilities over every class (top_k = all classes)."""
    vector = np.zeros(len(clf.spec.labels))
    for label in result.top:
        vector[clf.spec.labels.index(label.label)] = label.score
    return vector


# --- the report ------------------------------------------------------------------------------------


def summarise(records: dict[str, list[dict]], video_s: float, peak: float) -> dict[str, dict]:
    table = {}
    base = records.get("baseline")
    base_wall = statistics.median(r["wall_s"] for r in base) if base else None
    base_cpu = statistics.median(r["cpu_s"] for r in base) if base else None
    for name, reps in records.items():
        if not reps:
            continue
        walls = [r["wall_s"] for r in reps]
        wall = statistics.median(walls)
        first = reps[0]
        gflops = first["flops"] / 1e9 / wall
        cpu = statistics.median(r["cpu_s"] for r in reps)
        table[name] = {
            "label": VARIANTS[name][0],
            "mode": first.get("mode", "windows"),
            "provider": first.get("provider", "torch"),
            "precision": first.get("precision", "fp32"),
            "wall_s": wall,
            "wall_min_s": min(walls),
            "wall_max_s": max(walls),
            "cpu_s": cpu,
            "video_s_per_wall_s": video_s / wall,
            "ms_per_window": 1000 * wall / first["windows"],
            "model_gflop": first["flops"] / 1e9,
            "gflop_per_video_s": first["flops"] / 1e9 / video_s,
            "flops_ratio": first["flops"] / first["min_flops"],
            "one_pass_gflop": first["min_flops"] / 1e9,
            "gflops": gflops,
            # Per CPU second (every thread, decoding included) against one core's peak: how well the
            # cores were used whenever they ran, which other jobs on the machine do not change.
            "gflop_per_cpu_s": first["flops"] / 1e9 / cpu,
            "peak_share": gflops / peak,
            "model_share": statistics.median(r["model_s"] / r["wall_s"] for r in reps),
            "model_s": statistics.median(r["model_s"] for r in reps),
            "calls": first.get("calls", first["windows"]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in reps),
            "speedup": None if base_wall is None else base_wall / wall,
            # CPU seconds over the baseline's: what a machine shared with other jobs changes least.
            "speedup_cpu": None if base_cpu is None else base_cpu / cpu,
            "reps": len(reps),
        }
    return table


def print_table(table: dict[str, dict]) -> None:
    """The table as markdown (ready for the README)."""
    header = (
        "variant",
        "wall s (min-max)",
        "CPU s",
        "video s/s",
        "GFLOP per video s",
        "work x",
        "GFLOP/s",
        "% fp32 peak",
        "GFLOP per CPU s",
        "model %",
        "peak RSS MB",
        "speed-up",
        "in CPU s",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, row in table.items():
        speedup = "-" if row["speedup"] is None else f"{row['speedup']:.2f}x"
        speedup_cpu = "-" if row["speedup_cpu"] is None else f"{row['speedup_cpu']:.2f}x"
        label = row["label"] + (f" ({row['provider']} {row['precision']} here)" if name == DEFAULT_VARIANT else "")
        print(
            f"| {label} | {row['wall_s']:.1f} ({row['wall_min_s']:.1f}-{row['wall_max_s']:.1f}) "
            f"| {row['cpu_s']:.1f} | {row['video_s_per_wall_s']:.2f} | {row['gflop_per_video_s']:.0f} "
            f"| {row['flops_ratio']:.2f} | {row['gflops']:.0f} | {100 * row['peak_share']:.0f} "
            f"| {row['gflop_per_cpu_s']:.0f} "
            f"| {100 * row['model_share']:.0f} | {row['peak_rss_mb']:.0f} | {speedup} | {speedup_cpu} |"
        )


def main(argv: list[str] | None = None) -> int:
    global MODEL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("video", nargs="?", type=Path, help="a video (default: a synthetic 640x360 30 fps one)")
    parser.add_argument("--model", type=Path, help="the one-pass model (default: as the module docstring says)")
    parser.add_argument("--quick", action="store_true", help="8 s video, 3 repetitions, fewer variants")
    parser.add_argument("--seconds", type=float, help="length of the synthetic video (default 20, quick 8)")
    parser.add_argument("--reps", type=int, help="repetitions per variant (default 5, quick 3)")
    parser.add_argument("--variants", nargs="*", help=f"default: all (quick: a subset); of {', '.join(VARIANTS)}")
    parser.add_argument("--fma-units", type=int, default=2, help="FMA units per core for the peak (default 2)")
    parser.add_argument("--accuracy", action="store_true", help="agreement with fp32 on the shared clips, then exit")
    parser.add_argument("--rss-long", action="store_true", help="peak RSS on 1-min and 10-min 1280x720 videos")
    parser.add_argument("--minutes", nargs="*", type=float, default=[1, 10], help="--rss-long video lengths")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        MODEL = args.model
        worker(args.worker, args.video)
        return 0
    known = ACCURACY_VARIANTS if args.accuracy else VARIANTS
    unknown = [n for n in args.variants or () if n not in known]
    if unknown:
        parser.error(f"unknown variant {', '.join(unknown)} (known: {', '.join(known)})")
    model = find_model(args.model)
    if model is None:
        print("error: no model: give --model, set $VIDCLASS_MODEL, or run `vidclass models pull`", file=sys.stderr)
        return 2
    peak, how = cpu_peak_gflops(args.fma_units)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.python_version()}; fp32 peak: {how}")
    print(f"cpu flags: {', '.join(cpu_features())}")
    with tempfile.TemporaryDirectory() as tmp:
        MODEL = with_streaming_form(model, Path(tmp))
        if args.accuracy:
            for row in accuracy(ASSETS / "clips", args.variants):
                print(json.dumps(row))
            return 0
        if args.rss_long:
            return rss_long(Path(tmp), args.variants, args.minutes)
        seconds = args.seconds or (8.0 if args.quick else 20.0)
        video = args.video or make_video(Path(tmp) / "bench.mp4", seconds)
        import cv2

        capture = cv2.VideoCapture(str(video))
        video_s = capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
        size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        print(
            f"video: {video if args.video else 'synthetic'} {size[0]}x{size[1]}, {capture.get(cv2.CAP_PROP_FPS):g} "
            f"fps, {video_s:.1f} s; model: {MODEL}",
            flush=True,
        )
        capture.release()
        names = runnable(args.variants or (QUICK_VARIANTS if args.quick else list(VARIANTS)))
        reps = args.reps or (3 if args.quick else 5)
        load_before = load_average()
        rates = [measured_fp32_gflops()]
        records: dict[str, list[dict]] = {name: [] for name in names}
        for rep in range(reps):
            for name in [n for n in names if n in records]:
                try:
                    record = run_worker(name, video)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print(f"  {name}: failed, not run again ({e})", flush=True)
                    del records[name]
                    continue
                records[name].append(record)
                print(
                    f"  rep {rep + 1}/{reps} {name}: {record['wall_s']:.2f} s (CPU {record['cpu_s']:.1f} s), model "
                    f"{record['model_s']:.2f} s, {record['flops'] / 1e9:.0f} GFLOP, RSS {record['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
        load_after = load_average()
        rates.append(measured_fp32_gflops())
    table = summarise(records, video_s, peak)
    print(f"\nload average (1, 5, 15 min) before: {load_before}; after: {load_after}")
    rate = max(max(r.values()) for r in rates)
    said = "; ".join(
        f"{when} " + ", ".join(f"{name} {gflops:.0f}" for name, gflops in r.items())
        for when, r in zip(("before", "after"), rates, strict=True)
    )
    print(
        f"measured fp32 GEMM rate ({GEMM_SIZE}^3, {os.cpu_count()} threads, best of {GEMM_REPEATS}), GFLOP/s: "
        f"{said}; the best, "
        f"{rate:.0f}, is {100 * rate / peak:.0f} % of the peak above"
    )
    print(f"median of {reps} repetitions; wall time min-max in brackets; CPU s: every thread of the process\n")
    print_table(table)
    summary = headline(table, video_s, reps, load_before, load_after, peak, rate)
    if "speedup_ceiling_fp32" in summary:
        print(
            f"fp32 ceiling: one pass ({summary['one_pass_gflop']:.0f} GFLOP) at {rate:.0f} GFLOP/s takes "
            f"{summary['one_pass_s_at_fp32_ceiling']:.1f} s, {summary['speedup_ceiling_fp32']:.2f}x the baseline; "
            f"{TARGET_SPEEDUP:g}x needs {summary['gflops_for_target']:.0f} GFLOP/s for the whole run. Beyond the "
            "ceiling only bf16 or int8 arithmetic (or less work than one pass) is faster\n"
        )
    print(json.dumps(summary))
    return 0


def headline(
    table: dict[str, dict], video_s: float, reps: int, load_before: str, load_after: str, peak: float,
    measured_gflops: float | None = None,
) -> dict:
    """The final JSON line: the figures the issue's targets are about, then every variant's row."""
    summary: dict = {
        "video_s": round(video_s, 2),
        "reps": reps,
        "load_before": load_before,
        "load_after": load_after,
        "peak_gflops": round(peak, 1),
        "cpu": cpu_name(),
        "cpu_features": cpu_features(),
    }
    fp32_windows = [n for n in ("windows", "windows-ov") if n in table]
    if "baseline" in table and fp32_windows:
        # fp32 fidelity: ORT fp32, or OpenVINO with fp32 arithmetic (max |dprob| 2.4e-6 on the shared clips).
        best = max(fp32_windows, key=lambda n: table[n]["speedup"])
        summary["speedup_windows"] = round(table[best]["speedup"], 2)
        summary["speedup_windows_variant"] = best
        summary["speedup_windows_ort"] = round(table["windows"]["speedup"], 2) if "windows" in table else None
    if DEFAULT_VARIANT in table:
        default = table[DEFAULT_VARIANT]
        if "baseline" in table:
            summary["speedup_default"] = round(default["speedup"], 2)
            summary["speedup_default_cpu"] = round(default["speedup_cpu"], 2)
        summary["default_is"] = f"{default['mode']}, {default['provider']} {default['precision']}"
        summary["flops_ratio_default"] = round(default["flops_ratio"], 3)
        summary["realtime_factor"] = round(default["video_s_per_wall_s"], 2)
        summary["pipeline_efficiency"] = round(default["model_share"], 3)
        summary["peak_rss_mb_default"] = round(default["peak_rss_mb"])
        # "Today's windows mode": --mode windows with the automatic provider and precision.
        windows = next((n for n in ("windows-auto", "windows-ov", "windows") if n in table), None)
        if windows:
            summary["peak_rss_mb_windows"] = round(table[windows]["peak_rss_mb"])
            summary["peak_rss_windows_variant"] = windows
    if measured_gflops and table:
        one_pass = next(iter(table.values()))["one_pass_gflop"]
        baseline_s = table["baseline"]["wall_s"] if "baseline" in table else None
        summary.update(fp32_ceiling(one_pass, measured_gflops, baseline_s))
    fast = next((n for n in ("stream-ov-bf16", "dense-ov-bf16", "windows-ov-bf16") if n in table), None)
    if fast:
        summary["fast_variant"] = fast
        if "baseline" in table:
            summary["speedup_fast"] = round(table[fast]["speedup"], 2)
        summary["realtime_factor_fast"] = round(table[fast]["video_s_per_wall_s"], 2)
        summary["pipeline_efficiency_fast"] = round(table[fast]["model_share"], 3)
    summary["variants"] = {
        n: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for n, row in table.items()
    }
    return summary


def find_model(given: Path | None) -> Path | None:
    """``--model``, ``$VIDCLASS_MODEL``, the checkout's ``models/``, else ``vidclass predict``'s search order."""
    from vidclass.store import MODEL_ENV
    from vidclass.store import find_model as search

    if given is not None:
        return given if given.is_file() else None
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return CHECKOUT_MODEL if CHECKOUT_MODEL.is_file() else search()


def runnable(names: list[str]) -> list[str]:
    """The variants of ``names`` this machine can run; one line for each of the others."""
    keep = []
    for name in names:
        reason = why_not(name)
        if reason is None:
            keep.append(name)
        else:
            print(f"  {name}: skipped: {reason}", flush=True)
    return keep


def _available() -> set[str]:
    from vidclass.runtimes import available_providers

    have = set(available_providers())
    try:
        import openvino  # noqa: F401

        have.add("openvino")
    except ImportError:
        pass
    return have


RSS_VARIANTS = ("default", "windows-auto", "windows", "windows-ov", "dense")


def rss_long(tmp: Path, names: list[str] | None, minutes_list: list[float]) -> int:
    """Peak RSS of some variants on 1280x720 videos of 1 and 10 minutes (by default)."""
    rows = {}
    names = runnable(list(names or RSS_VARIANTS))
    for minutes in minutes_list:
        began = time.perf_counter()
        video = make_video(tmp / f"long{minutes}.mp4", 60 * minutes, 1280, 720, 30.0)
        print(f"  made a {minutes}-min 1280x720 video in {time.perf_counter() - began:.0f} s", flush=True)
        for name in names:
            record = run_worker(name, video, timeout_s=6 * 3600)
            rows[(name, minutes)] = record
            print(
                f"  {name} {minutes} min: peak RSS {record['peak_rss_mb']:.0f} MB, wall {record['wall_s']:.0f} s",
                flush=True,
            )
        video.unlink()
    summary = {f"{name}_{minutes}min_rss_mb": round(r["peak_rss_mb"]) for (name, minutes), r in rows.items()}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
