"""The export script's own error path: a hostile weights file gives one line and a non-zero exit."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

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
