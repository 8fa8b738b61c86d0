"""Make the static int8 (QDQ) variant of the exported I3D, calibrated on real frames.

    python scripts/quantize_i3d.py          # writes models/i3d_kinetics400.int8.onnx

The fp32 export (``scripts/export_i3d.py``) must exist. Activation ranges are calibrated (MinMax)
on windows of real clips decoded and preprocessed by vidclass itself, so the int8 model sees what
it will see at run time. By default the calibration clips are arm_wrestling, cleaning_pool and
shooting_basketball from ``$VIDCLASS_ASSETS/clips``; the other shared clips are held out and
``scripts/bench.py --accuracy`` reports agreement on all of them. Weights are quantised per output
channel (symmetric int8), activations per tensor (uint8); only Conv and the head's MatMul are
quantised, so the Pad/MaxPool/ReduceMean arithmetic stays as exported.

Which runtime profits: ONNX Runtime's CPU provider has no int8 3D convolution and runs the QDQ
model slower than fp32 (the issue's measurement: 1.88 s vs 1.06 s for 32 frames); OpenVINO fuses the
QDQ pairs into int8 convolutions (AMX/VNNI on this CPU), hence ``--provider openvino --precision int8``.
The file is a build product in ``models/`` (git-ignored), never committed; the copy carries the
fp32 model's metadata, so it is a complete vidclass model on its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidclass.clips import iter_clips  # noqa: E402
from vidclass.runtimes import Session  # noqa: E402
from vidclass.sources import VideoFile  # noqa: E402

DEFAULT_INPUT = ROOT / "models" / "i3d_kinetics400.onnx"
ASSETS = Path(os.environ.get("VIDCLASS_ASSETS", ROOT.parent / "shared" / "assets"))
DEFAULT_CLIPS = ("arm_wrestling.mp4", "cleaning_pool.mp4", "shooting_basketball.mp4")
# 16-frame windows keep the calibration's memory low (ONNX Runtime keeps every activation of a
# calibration run); the activation ranges of a convolutional network do not depend on the length.
CALIBRATION_FRAMES = 16


def int8_path(fp32_path: Path) -> Path:
    """Where the int8 variant of ``fp32_path`` lives: ``name.int8.onnx`` next to it."""
    return fp32_path.with_name(fp32_path.stem + ".int8.onnx")


def calibration_windows(clips: list[Path], spec, per_clip: int) -> Iterator[np.ndarray]:  # noqa: ANN001
    """``per_clip`` windows of :data:`CALIBRATION_FRAMES` frames, spread over each clip."""
    for path in clips:
        with VideoFile(path) as video:
            windows = [c.data for c in iter_clips(video, spec, CALIBRATION_FRAMES, CALIBRATION_FRAMES)]
        picks = np.linspace(0, len(windows) - 1, num=min(per_clip, len(windows))).round().astype(int)
        for i in sorted(set(picks.tolist())):
            yield windows[i][np.newaxis]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=DEFAULT_INPUT, help="fp32 model (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="default: MODEL with .int8.onnx")
    parser.add_argument("--clips", nargs="*", type=Path, help="calibration clips (default: three shared clips)")
    parser.add_argument("--per-clip", type=int, default=3, help="calibration windows per clip (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    args = parser.parse_args(argv)

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    output = args.output or int8_path(args.model)
    if output.exists() and not args.force:
        print(f"{output} exists; --force to make it again")
        return 0
    if not args.model.is_file():
        print(f"error: {args.model} not found; run scripts/export_i3d.py first", file=sys.stderr)
        return 2
    clips = args.clips or [ASSETS / "clips" / name for name in DEFAULT_CLIPS]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing:
        print(f"error: calibration clips not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    spec = Session(args.model, "cpu").spec
    batches = list(calibration_windows(clips, spec, args.per_clip))
    print(f"calibrating on {len(batches)} windows of {CALIBRATION_FRAMES} frames from {len(clips)} clips")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else {"video": batch}

    began = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        partial = Path(tmp) / output.name
        quantize_static(
            str(args.model),
            str(partial),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv", "MatMul", "Gemm"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        _copy_metadata(args.model, partial)
        partial.replace(output)
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - began:.0f} s")
    return 0


def _copy_metadata(source: Path, target: Path) -> None:
    """quantize_static keeps the graph, not always the metadata: make sure the contract travels."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(source), load_external_data=False).metadata_props}
    model = onnx.load(str(target))
    have = {p.key for p in model.metadata_props}
    for key, value in meta.items():
        if key not in have:
            model.metadata_props.add(key=key, value=value)
    model.doc_string = "static int8 (QDQ) variant made by scripts/quantize_i3d.py; " + model.doc_string
    onnx.save(model, str(target))


if __name__ == "__main__":
    sys.exit(main())
