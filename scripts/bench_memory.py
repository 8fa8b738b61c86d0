"""Peak memory of ``Classifier.predict`` against the length of the video: it should stay flat.

For each length (default 1, 10 and 60 minutes) a fresh process classifies one video and reports
its peak resident memory (``ru_maxrss``) and its resident memory sampled while it runs. The model
is a tiny ONNX network with the exported I3D's contract (frame rate, resize, crop, window, hop and
labels read from ``models/i3d_kinetics400.onnx``'s metadata), so the preprocessing, windows and
results are I3D's while the network itself costs next to nothing; what is measured is vidclass's
own memory, not the network's.

* ``--source video`` (default): a real file, ``testsrc2`` encoded by the ffmpeg of the test extra
  (imageio-ffmpeg) at ``--size`` and 25 fps (MPEG-4 Part 2, made once into ``--cache``), decoded
  by :class:`~vidclass.sources.VideoFile`: the whole ``predict`` path.
* ``--source synthetic``: frames made in memory (no decoder, no file), fed through the same
  ``iter_clips`` and result assembly.

    python scripts/bench_memory.py                       # 1, 10, 60 min, real files
    python scripts/bench_memory.py --minutes 1 60 --source synthetic

Prints a table and one JSON object per length.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[1]
REAL_MODEL = ROOT / "models" / "i3d_kinetics400.onnx"
SOURCE_FPS = 25


def real_spec(model: Path):
    from vidclass.spec import ModelSpec

    proto = onnx.load(str(model), load_external_data=False)
    return ModelSpec.from_metadata({p.key: p.value for p in proto.metadata_props}, origin=str(model))


def stand_in_model(spec, path: Path) -> Path:
    """An ONNX network with ``spec``'s input and output shapes: mean colour per frame -> logits."""
    shape = {"N": "N", "T": "T", "H": spec.crop_height, "W": spec.crop_width, "C": 3}
    video = helper.make_tensor_value_info("video", TensorProto.FLOAT, [shape[a] for a in spec.input_layout])
    classes = spec.num_classes
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "T", classes])
    spatial = [spec.input_layout.index("H"), spec.input_layout.index("W")]
    nodes = [helper.make_node("ReduceMean", ["video", "axes"], ["pooled"], keepdims=0)]
    if spec.input_layout == "NCTHW":  # [N, C, T] -> [N, T, C]
        nodes.append(helper.make_node("Transpose", ["pooled"], ["rgb"], perm=[0, 2, 1]))
    else:
        nodes[0].output[0] = "rgb"
    nodes.append(helper.make_node("MatMul", ["rgb", "weight"], ["logits"]))
    weight = np.random.default_rng(0).standard_normal((3, classes)).astype(np.float32)
    graph = helper.make_graph(
        nodes, "stand-in", [video], [logits],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [2], spatial),
                     helper.make_tensor("weight", TensorProto.FLOAT, weight.shape, weight.flatten())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    helper.set_model_props(model, spec.to_metadata())
    onnx.save(model, path)
    return path


def make_video(minutes: float, size: str, cache: Path) -> Path:
    import imageio_ffmpeg

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"testsrc2_{size}_{minutes:g}min.mkv"
    if not path.exists():
        partial = path.with_name(".partial." + path.name)
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"testsrc2=size={size}:rate={SOURCE_FPS}:duration={minutes * 60:g}", "-c:v", "mpeg4", "-q:v", "10",
             str(partial)],
            check=True,
        )
        partial.replace(path)
    return path


class SyntheticVideo:
    """A FrameSource of ``minutes`` of moving gradient frames at 25 fps, made one at a time."""

    def __init__(self, minutes: float, size: str) -> None:
        width, height = (int(v) for v in size.split("x"))
        self.name = f"synthetic {minutes:g} min"
        self.frames = round(minutes * 60 * SOURCE_FPS)
        self.shape = (height, width, 3)
        self.duration_s: float | None = None
        self.header_frames = self.frames
        self.frames_read = 0
        self.warnings: list[str] = []

    def __iter__(self) -> Iterator:
        from vidclass.sources import Frame

        ramp = np.arange(self.shape[1], dtype=np.uint8)
        for i in range(self.frames):
            image = np.empty(self.shape, np.uint8)
            image[...] = (ramp + np.uint8(i % 256))[np.newaxis, :, np.newaxis]
            self.frames_read += 1
            yield Frame(i, i / SOURCE_FPS, image)
        self.duration_s = self.frames / SOURCE_FPS


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(args: argparse.Namespace) -> None:
    from vidclass import Classifier

    model = stand_in_model(real_spec(args.model), args.cache / "stand_in.onnx")
    classifier = Classifier(model, provider="cpu")
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            samples.append((time.monotonic(), rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.monotonic()
    sampler.start()
    if args.source == "video":
        result = classifier.predict(make_video(args.minutes[0], args.size, args.cache))
    else:
        result = classifier._classify(SyntheticVideo(args.minutes[0], args.size))  # type: ignore[arg-type]
    done.set()
    sampler.join()
    elapsed = time.monotonic() - started
    # Resident memory in the second half of the run against the first: flat means no growth per frame.
    rss = [value for _, value in samples]
    half = len(rss) // 2
    print(json.dumps({
        "minutes": args.minutes[0],
        "source": args.source,
        "size": args.size,
        "frames": result.frames,
        "windows": len(result.windows),
        "duration_s": round(result.duration_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_first_half_max_mb": round(max(rss[:half]), 1) if half else None,
        "rss_second_half_max_mb": round(max(rss[half:]), 1) if half else None,
        "wall_s": round(elapsed, 1),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--source", choices=["video", "synthetic"], default="video")
    parser.add_argument("--size", default="320x240", help="frame size of the generated video (WxH)")
    parser.add_argument("--model", type=Path, default=REAL_MODEL, help="the model whose contract is copied")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vidclass" / "bench_memory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.model.exists():
        parser.error(f"{args.model}: no model to copy the contract from (run scripts/export_i3d.py)")
    if args.child:
        child(args)
        return
    rows = []
    for minutes in args.minutes:
        if args.source == "video":
            make_video(minutes, args.size, args.cache)  # outside the measured process
        command = [sys.executable, __file__, "--child", "--minutes", str(minutes), "--source", args.source,
                   "--size", args.size, "--model", str(args.model), "--cache", str(args.cache)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'minutes':>8} {'frames':>8} {'windows':>8} {'peak RSS MB':>12} {'RSS 1st half':>13} "
          f"{'RSS 2nd half':>13} {'wall s':>8}")
    for row in rows:
        print(f"{row['minutes']:>8g} {row['frames']:>8} {row['windows']:>8} {row['peak_rss_mb']:>12} "
              f"{row['rss_first_half_max_mb']!s:>13} {row['rss_second_half_max_mb']!s:>13} {row['wall_s']:>8}")


if __name__ == "__main__":
    main()
