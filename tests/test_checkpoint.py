"""The weights loader: pinned hashes, and a pickle reader that runs no code and admits only float32 arrays."""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidclass.convert import checkpoint
from vidclass.convert.checkpoint import load_checkpoint, safe_loads
from vidclass.errors import CheckpointError


def benign_tree() -> dict[str, Any]:
    return {
        "params": {"Conv3d_1a_7x7": {"Conv_0": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4)}}},
        "batch_stats": {"Conv3d_1a_7x7": {"BatchNorm_0": {"mean": np.zeros((1, 1, 1, 1, 4), np.float32)}}},
    }


class _Payload:
    """Pickles into ``function(*args)``: what a malicious checkpoint runs on an unrestricted load."""

    def __init__(self, function: Any, *args: Any) -> None:
        self.function = function
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.function, self.args


def malicious_pickles(marker: Path) -> dict[str, bytes]:
    touch = f"touch {marker}"
    return {
        "os.system": pickle.dumps(_Payload(os.system, touch)),
        "builtins.eval": pickle.dumps(_Payload(eval, f"open({str(marker)!r}, 'w').close()")),
        "builtins.exec": pickle.dumps(_Payload(exec, f"open({str(marker)!r}, 'w').close()")),
        "subprocess": pickle.dumps(_Payload(subprocess.call, ["touch", str(marker)])),
        # The same, hidden under a key of an otherwise valid checkpoint.
        "nested": pickle.dumps({"params": {"kernel": _Payload(os.system, touch)}}),
        # Classic hand-written protocol-0 payload: GLOBAL 'os system', REDUCE.
        "protocol 0": f"cos\nsystem\n(S'{touch}'\ntR.".encode(),
        # Harmless globals, but not array reconstruction: the allow-list is exact.
        "collections": pickle.dumps(collections.OrderedDict(w=np.zeros(2, np.float32))),
        "non-numpy module": pickle.dumps(_Payload(Path, str(marker))),
        "numpy, not allow-listed": pickle.dumps(_Payload(np.load, str(marker))),
    }


@pytest.mark.parametrize("kind", list(malicious_pickles(Path("x"))))
def test_malicious_pickle_is_refused_and_never_runs(kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = malicious_pickles(marker)[kind]
    with pytest.raises(CheckpointError, match=r"refuses to load global .*only numpy arrays"):
        safe_loads(data, origin="evil.ckpt")
    assert not marker.exists()


def test_refusal_names_the_global() -> None:
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refuses to load global (posix|os|nt)\.system"):
        safe_loads(pickle.dumps(_Payload(os.system, "true")), origin="evil.ckpt")


@pytest.mark.parametrize("protocol", [3, 4])
def test_nested_dicts_of_float32_arrays_load(protocol: int) -> None:
    tree = benign_tree()
    loaded = safe_loads(pickle.dumps(tree, protocol=protocol))
    flat = checkpoint.flatten(loaded)
    assert set(flat) == {"params/Conv3d_1a_7x7/Conv_0/kernel", "batch_stats/Conv3d_1a_7x7/BatchNorm_0/mean"}
    np.testing.assert_array_equal(flat["params/Conv3d_1a_7x7/Conv_0/kernel"], np.arange(24).reshape(2, 3, 4))
    assert flat["batch_stats/Conv3d_1a_7x7/BatchNorm_0/mean"].dtype == np.float32


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"w": np.zeros(3, np.float64)}, r"w is float64, expected float32"),
        ({"a": {"w": np.zeros(3, np.int32)}}, r"a/w is int32, expected float32"),
        ({"w": np.array([1, "x"], dtype=object)}, r"w is object, expected float32"),
        ({"w": [1.0, 2.0]}, r"w is a list, expected a dict or a float32 array"),
        ({"w": 1.0}, r"w is a float"),
        ({1: np.zeros(3, np.float32)}, r"key 1 .* is not a string"),
        ([np.zeros(3, np.float32)], r"expected a dict at the top, found list"),
        (np.zeros(3, np.float32), r"expected a dict at the top, found ndarray"),
    ],
)
def test_anything_but_nested_float32_arrays_is_refused(content: Any, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        safe_loads(pickle.dumps(content, protocol=4))


def test_self_referencing_dict_is_refused() -> None:
    tree: dict[str, Any] = {}
    tree["again"] = tree
    with pytest.raises(CheckpointError, match="reached twice"):
        safe_loads(pickle.dumps(tree))


@pytest.mark.parametrize("cut", [1, 10, 100])
def test_truncated_pickle_is_a_checkpoint_error(cut: int) -> None:
    data = pickle.dumps(benign_tree(), protocol=4)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        safe_loads(data[:-cut])


@pytest.mark.parametrize("data", [b"", b"not a pickle at all", b"\x80\x04\x95garbage"])
def test_garbage_is_a_checkpoint_error(data: bytes) -> None:
    with pytest.raises(CheckpointError):
        safe_loads(data)


def test_an_error_quoting_the_file_stays_one_line() -> None:
    # FLOAT reads a line from the file and float() quotes it back, newline included (found by fuzzing).
    with pytest.raises(CheckpointError, match=r"^x\.ckpt: not a readable checkpoint \(ValueError: [^\n]*\)$"):
        safe_loads(b"F\x01\n", origin="x.ckpt")


def _fake_archive(tmp_path: Path, payload: bytes) -> Path:
    archive = tmp_path / checkpoint.ARCHIVE_NAME
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(checkpoint.CKPT_MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return archive


def test_archive_with_the_wrong_hash_is_refused(tmp_path: Path) -> None:
    archive = _fake_archive(tmp_path, pickle.dumps(benign_tree()))
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(archive)
    message = str(err.value)
    assert str(archive) in message and checkpoint.ARCHIVE_SHA256 in message and actual in message


def test_checkpoint_inside_is_verified_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = pickle.dumps(benign_tree())
    archive = _fake_archive(tmp_path, payload)
    # Pretend the archive is the pinned one: the member's own hash must still be checked.
    monkeypatch.setattr(checkpoint, "ARCHIVE_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    before = sorted(tmp_path.iterdir())
    with pytest.raises(CheckpointError, match=checkpoint.CKPT_SHA256) as err:
        load_checkpoint(archive)
    assert checkpoint.CKPT_MEMBER in str(err.value)
    assert hashlib.sha256(payload).hexdigest() in str(err.value)
    assert sorted(tmp_path.iterdir()) == before  # read from the tar, nothing extracted
    # ... and with both hashes pinned to the fake, the fake loads: the pipeline itself works.
    monkeypatch.setattr(checkpoint, "CKPT_SHA256", hashlib.sha256(payload).hexdigest())
    assert checkpoint.flatten(load_checkpoint(archive)).keys() == checkpoint.flatten(benign_tree()).keys()


def test_bare_checkpoint_with_the_wrong_hash_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "i3d.ckpt"
    ckpt.write_bytes(pickle.dumps(benign_tree()))
    with pytest.raises(CheckpointError, match=f"{ckpt}: sha256 mismatch, expected {checkpoint.CKPT_SHA256}"):
        load_checkpoint(ckpt)


@pytest.mark.real
def test_real_archive_loads(assets_dir: Path, tmp_path: Path) -> None:
    archive = assets_dir / "weights" / checkpoint.ARCHIVE_NAME
    tree = load_checkpoint(archive)
    assert set(tree) == {"params", "batch_stats"}
    flat = checkpoint.flatten(tree)
    # 57 conv units with BatchNorm (kernel, beta, mean, var) + the logits conv (kernel, bias).
    assert len(flat) == 57 * 4 + 2
    assert flat["params/Conv3d_1a_7x7/Conv_0/kernel"].shape == (7, 7, 7, 3, 64)
    assert flat["params/Logits/Conv3d_0c_1x1/Conv_0/kernel"].shape == (1, 1, 1, 1024, 400)
    assert flat["batch_stats/Mixed_5c/Branch_0/Conv3d_0a_1x1/BatchNorm_0/var"].shape == (1, 1, 1, 1, 384)
    # The bare .ckpt (as extracted by hand) is accepted too, under its own pinned hash.
    ckpt = tmp_path / "i3d-kinetics-400.ckpt"
    ckpt.write_bytes(checkpoint.read_checkpoint_bytes(archive))
    assert checkpoint.flatten(load_checkpoint(ckpt)).keys() == flat.keys()
