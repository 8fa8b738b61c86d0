"""The export script: a hostile weights file gives one line and a non-zero exit; an up-to-date file is
left alone; a real run writes exactly the library's conversion."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_one_line_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "i3d-kinetics-400.ckpt"
    evil.write_bytes(pickle.dumps({"params": _Payload(marker)}))
    out = tmp_path / "model.onnx"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export_i3d.py"), "--weights", str(evil), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and str(evil) in errors[0]
    assert "Traceback" not in result.stderr
    assert not marker.exists() and not out.exists()


def _run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export_i3d.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def test_an_up_to_date_export_is_left_alone(tmp_path: Path) -> None:
    """The script skips the conversion when the file carries exactly today's contract and loads."""
    import onnx
    from onnx import TensorProto, helper

    from vidclass.convert.i3d import build_spec

    graph = helper.make_graph(
        [helper.make_node("Identity", ["video"], ["logits"])],
        "stand-in",
        [helper.make_tensor_value_info("video", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    for key, value in build_spec().to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    out = tmp_path / "model.onnx"
    onnx.save_model(model, str(out))
    before = out.read_bytes()
    result = _run_script("--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout and out.read_bytes() == before
    # One changed value of the contract, and the same file is out of date (nothing else is tried:
    # a missing reference folder stops the script before it converts).
    model.metadata_props[0].value = model.metadata_props[0].value + " "
    onnx.save_model(model, str(out))
    result = _run_script("--output", str(out), "--reference", str(tmp_path / "no-reference"))
    assert result.returncode == 2 and "exporting again" in result.stdout
    assert "not found" in result.stderr


@pytest.mark.real
def test_the_script_writes_the_library_conversion(assets_dir: Path, tmp_path: Path) -> None:
    """The script is a thin caller: its file is byte for byte what ``build_model`` makes in this
    process (so also a second, independent conversion), and it passed the golden-tensor checks."""
    import hashlib

    from vidclass.convert import build_model, checkpoint
    from vidclass.convert.i3d import build_spec

    out = tmp_path / "model.onnx"
    archive = assets_dir / "weights" / checkpoint.ARCHIVE_NAME
    result = _run_script("--output", str(out), "--weights", str(archive), "--reference", str(assets_dir / "reference"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("arm wrestling / arm wrestling") == 6  # the six golden lengths
    want = build_model(checkpoint.flatten(checkpoint.load_checkpoint(archive)), build_spec()).SerializeToString()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(want).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
