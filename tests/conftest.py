"""Shared fixtures.

Real assets (weights, clips, reference outputs) live outside the repository, in the folder named by
``VIDCLASS_ASSETS`` (default ``../shared/assets`` next to the checkout). The exported model is the one
the README's set-up command writes (``VIDCLASS_MODEL``, default ``models/i3d_kinetics400.onnx``).
Tests that need them fail under ``CI=true`` when they are missing and skip with a reason elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from synthetic import RGB, make_tiny_model, solid_frames, write_video

from vidclass import Classifier

ROOT = Path(__file__).resolve().parents[1]

# -- markers: every family of slow tests is `slow`, so `-m "not slow"` is the fast inner loop --------

SLOW_FAMILIES = ("real", "ray", "spawn", "subprocess", "kill", "ffmpeg", "fuzz", "network", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(family) for family in SLOW_FAMILIES):
            item.add_marker(pytest.mark.slow)


# -- synthetic inputs: the tiny colour model and short videos (tests/synthetic.py) -----------------


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    """The tiny colour model (``make_tiny_model``), a fresh file in each test's ``tmp_path``."""
    return make_tiny_model(tmp_path / "tiny.onnx")


@pytest.fixture()
def rgb_video(tmp_path: Path) -> Path:
    """``RGB``: 2 s red, then 2 s green, then 1 s blue, at 10 fps (the tiny model's rate)."""
    return write_video(tmp_path / "rgb.avi", solid_frames(RGB), 10)


@pytest.fixture(scope="session")
def real_classifier(real_model: Path) -> Classifier:
    """The real I3D on ONNX Runtime's CPU provider, loaded once for every test that only predicts."""
    return Classifier(real_model, provider="cpu")


# -- real assets ------------------------------------------------------------------------------------


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: real-data tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    return _need(Path(os.environ.get("VIDCLASS_ASSETS", ROOT.parent / "shared" / "assets")), "shared assets")


@pytest.fixture(scope="session")
def clips_dir(assets_dir: Path) -> Path:
    return _need(assets_dir / "clips", "shared clips")


@pytest.fixture(scope="session")
def reference_dir(assets_dir: Path) -> Path:
    return _need(assets_dir / "reference", "reference outputs")


@pytest.fixture(scope="session")
def real_model() -> Path:
    default = ROOT / "models" / "i3d_kinetics400.onnx"
    return _need(Path(os.environ.get("VIDCLASS_MODEL", default)), "exported I3D model (run scripts/export_i3d.py)")
