"""Write a converted model so that its final name appears only once it is complete and checked."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from .selfcheck import SelfCheck


@dataclass(frozen=True)
class Conversion:
    """What a conversion wrote."""

    path: Path
    sha256: str
    size_bytes: int
    seconds: float
    #: Largest per-step logit difference from the reference on the formula input (passed: <= 1e-3).
    self_check_max_diff: float


def write_checked(
    data: bytes, output: Path, check: Callable[[Path], SelfCheck], say: Callable[[str], None], began: float
) -> Conversion:
    """Write ``data`` to a temporary name in ``output``'s folder, flush it to disk, ``check`` it, then
    rename it over ``output`` (atomic on one file system: a reader sees the old file or the new one,
    never half of one). On any failure the temporary file is removed and ``output`` is untouched."""
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
        result = check(tmp)
        say(f"self-check: max |delta logit| {result.max_abs_diff:.2e} (tolerance {result.tolerance:g})")
        if not result.passed:
            raise ModelError(
                f"{output}: the converted model fails its self-check: max |delta logit| "
                f"{result.max_abs_diff:.2e} > {result.tolerance:g}; nothing written"
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
    return Conversion(output, hashlib.sha256(data).hexdigest(), len(data), seconds, result.max_abs_diff)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
