"""The torch-free converter: the file it writes is deterministic, matches the independent reference
and today's torch export, carries the contract, and the package imports no torch.

The conversion runs once per session (about 10 s on 2 cores: 2 s to build, the rest the self-check)
into a temporary folder; the tests below read that file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from vidclass.convert import Conversion, build_model, checkpoint, convert_weights, self_check
from vidclass.convert import selfcheck as selfcheck_module
from vidclass.convert.i3d import IR_VERSION, OPSET, build_spec, load_labels, output_steps
from vidclass.errors import CheckpointError, ModelError
from vidclass.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_LENGTHS = (9, 16, 32, 33, 64, 79)
TOL_REFERENCE = 1e-3
# The new graph against torch.export's: the same arithmetic in another order; measured 4e-5 at most.
TOL_TORCH_EXPORT = 1e-4
# Every residue of T mod 8 (9..16: each padding path of the three stride-2 time layers), then a
# stride through the golden clip up to its last frame, 79.
TORCH_EXPORT_LENGTHS = (*range(9, 17), 23, 34, 45, 56, 67, 79)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def weights_archive(assets_dir: Path) -> Path:
    path = assets_dir / "weights" / checkpoint.ARCHIVE_NAME
    if not path.is_file():
        pytest.fail(f"{path} missing from the shared assets")
    return path


@pytest.fixture(scope="session")
def converted(weights_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Conversion:
    out = tmp_path_factory.mktemp("convert") / "i3d.onnx"
    lines: list[str] = []
    done = convert_weights(weights_archive, out, log=lines.append)
    assert lines and lines[-1].startswith("wrote ")
    return done


@pytest.fixture(scope="session")
def session(converted: Conversion) -> ort.InferenceSession:
    return ort.InferenceSession(str(converted.path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="session")
def golden(reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(reference_dir / "golden_arm_wrestling.npz") as npz:
        return dict(npz)


def frames_of(golden: dict[str, np.ndarray]) -> np.ndarray:
    spec = build_spec()
    return (golden["frames_uint8"] * spec.value_scale + spec.value_offset).astype(np.float32)


def run(session: ort.InferenceSession, video: np.ndarray) -> np.ndarray:
    return session.run(["logits"], {"video": video})[0]


# ------------------------------------------------------------------------------------------------
# The file


def test_conversion_reports_what_it_wrote(converted: Conversion) -> None:
    assert converted.path.is_file()
    assert converted.sha256 == sha256(converted.path)
    assert converted.size_bytes == converted.path.stat().st_size
    assert 0 < converted.seconds and converted.self_check_max_diff <= 1e-3
    # Nothing but the model is left in the folder (the temporary file was renamed, not copied).
    assert [p.name for p in converted.path.parent.iterdir()] == [converted.path.name]


def test_a_second_conversion_from_the_bare_ckpt_is_byte_identical(
    converted: Conversion, weights_archive: Path, tmp_path: Path
) -> None:
    ckpt = tmp_path / "i3d-kinetics-400.ckpt"
    ckpt.write_bytes(checkpoint.read_checkpoint_bytes(weights_archive))
    again = convert_weights(ckpt, tmp_path / "again.onnx")
    assert again.sha256 == converted.sha256
    assert (tmp_path / "again.onnx").read_bytes() == converted.path.read_bytes()


def test_graph_is_opset_20_with_dynamic_batch_and_time(converted: Conversion, session: ort.InferenceSession) -> None:
    model = onnx.load(str(converted.path))
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)] and OPSET == 20
    assert model.ir_version == IR_VERSION
    assert model.producer_version == "" and model.producer_name == "vidclass.convert"
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, inp.type) == ("video", ["batch", "time", 224, 224, 3], "tensor(float)")
    assert (out.name, out.shape, out.type) == ("logits", ["batch", "steps", 400], "tensor(float)")
    # Dynamic in fact, not only in name: two batch sizes and two lengths through one session.
    video = np.random.default_rng(0).uniform(-1, 1, (2, 17, 224, 224, 3)).astype(np.float32)
    assert run(session, video[:1]).shape == (1, output_steps(17), 400) == (1, 2, 400)
    both = run(session, video[:, :9])
    assert both.shape == (2, 1, 400)
    np.testing.assert_allclose(run(session, video[1:, :9]), both[1:], atol=1e-5, rtol=0)


def test_metadata_is_the_contract(session: ort.InferenceSession, converted: Conversion) -> None:
    meta = session.get_modelmeta().custom_metadata_map
    spec = build_spec()
    assert meta == spec.to_metadata()
    assert ModelSpec.from_metadata(meta, origin=str(converted.path)) == spec
    assert spec.labels == load_labels() and len(spec.labels) == 400
    assert spec.weights_sha256 == checkpoint.CKPT_SHA256
    keys = [p.key for p in onnx.load(str(converted.path), load_external_data=False).metadata_props]
    assert keys == sorted(keys)


def test_metadata_equals_todays_export(session: ort.InferenceSession, real_model: Path) -> None:
    """A drop-in replacement: the same keys and values as the file today's export wrote."""
    today = ort.InferenceSession(str(real_model), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map == today.get_modelmeta().custom_metadata_map


# ------------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize("length", GOLDEN_LENGTHS)
def test_matches_the_reference(length: int, session: ort.InferenceSession, golden: dict[str, np.ndarray]) -> None:
    per_step = run(session, frames_of(golden)[None, :length])
    assert per_step.shape == (1, output_steps(length), 400)
    delta = float(np.abs(per_step[0].mean(axis=0) - golden[f"logits_{length}"]).max())
    assert delta <= TOL_REFERENCE, f"L={length}: max |delta logit| {delta:.2e}"


@pytest.fixture(scope="module")
def cached_run(session: ort.InferenceSession) -> selfcheck_module.Run:
    """The converted model as a self-check ``run``, each input shape computed once for the module."""
    memo: dict[tuple[int, ...], np.ndarray] = {}

    def cached(video: np.ndarray) -> np.ndarray:
        if video.shape not in memo:
            memo[video.shape] = run(session, video)
        return memo[video.shape]

    return cached


def test_self_check_passes_on_the_procedural_input(converted: Conversion, cached_run: selfcheck_module.Run) -> None:
    check = self_check(converted.path, run=cached_run)
    assert check.passed and check.max_abs_diff <= 1e-3
    assert [(c.frames, c.steps) for c in check.cases] == [(9, 1), (16, 1), (33, 4)]
    # The same numbers as the default ONNX Runtime session that convert_weights ran.
    assert check.max_abs_diff == converted.self_check_max_diff


def test_self_check_fails_a_wrong_model(converted: Conversion, cached_run: selfcheck_module.Run) -> None:
    def off_by_a_little(video: np.ndarray) -> np.ndarray:
        return cached_run(video) + 2e-3

    def one_step_short(video: np.ndarray) -> np.ndarray:
        return cached_run(video)[:, 1:]

    def not_a_number(video: np.ndarray) -> np.ndarray:
        return cached_run(video) * np.nan

    assert not self_check(converted.path, run=off_by_a_little).passed
    shape = self_check(converted.path, run=one_step_short)
    assert not shape.passed and shape.max_abs_diff == float("inf")
    assert not self_check(converted.path, run=not_a_number).passed


def test_procedural_input_is_the_formula() -> None:
    video = selfcheck_module.procedural_video(9, 224, 224)
    t, h, w, c = 8, 100, 31, 2
    want = 0.9 * np.sin(2 * np.pi * (h / 56 + w / 37 + t / 8) + 2 * np.pi * c / 3)
    assert video.shape == (9, 224, 224, 3) and video.dtype == np.float32
    assert abs(float(video[t, h, w, c]) - want) < 1e-7


@pytest.fixture(scope="module")
def torch_export(real_model: Path) -> Path:
    """Today's export made by torch.export, the yardstick; skipped (with the reason) once the models
    folder holds a torch-free conversion instead."""
    model = onnx.load(str(real_model), load_external_data=False)
    if "torch" not in model.producer_version:
        pytest.skip(f"{real_model} is not a torch export (producer {model.producer_name!r} {model.producer_version!r})")
    return real_model


@pytest.mark.real
@pytest.mark.parametrize("length", TORCH_EXPORT_LENGTHS)
def test_matches_todays_torch_export(
    length: int, session: ort.InferenceSession, torch_export: Path, golden: dict[str, np.ndarray]
) -> None:
    today = _torch_session(torch_export)
    video = frames_of(golden)[None, :length]
    want, got = run(today, video), run(session, video)
    assert got.shape == want.shape == (1, output_steps(length), 400)
    delta = float(np.abs(got - want).max())
    assert delta <= TOL_TORCH_EXPORT, f"T={length}: max |delta per-step logit| {delta:.2e}"


_SESSIONS: dict[Path, ort.InferenceSession] = {}


def _torch_session(path: Path) -> ort.InferenceSession:
    if path not in _SESSIONS:
        _SESSIONS[path] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return _SESSIONS[path]


# ------------------------------------------------------------------------------------------------
# Failure paths and the torch-free promise


def test_wrong_weights_raise_and_write_nothing(tmp_path: Path) -> None:
    bogus = tmp_path / "i3d-kinetics-400.ckpt"
    bogus.write_bytes(b"not a checkpoint")
    out = tmp_path / "out" / "model.onnx"
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        convert_weights(bogus, out)
    assert not out.exists()


def test_a_failed_self_check_leaves_no_file(
    weights_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vidclass.convert as convert

    real = convert.self_check
    seen: list[Path] = []

    def failing(path: Path, run: object = None) -> selfcheck_module.SelfCheck:
        seen.append(path)
        found = real(path)
        return selfcheck_module.SelfCheck(found.cases, tolerance=found.max_abs_diff / 2)

    monkeypatch.setattr(convert, "self_check", failing)
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the previous model")
    with pytest.raises(ModelError, match="self-check"):
        convert_weights(weights_archive, out)
    assert out.read_bytes() == b"the previous model"
    assert seen and seen[0] != out and not seen[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_build_model_refuses_weights_that_do_not_fit(weights_archive: Path) -> None:
    flat = checkpoint.flatten(checkpoint.load_checkpoint(weights_archive))
    spec = build_spec()
    missing = dict(flat)
    del missing["batch_stats/Mixed_4d/Branch_2/Conv3d_0b_3x3/BatchNorm_0/var"]
    with pytest.raises(CheckpointError, match="missing.*Mixed_4d/Branch_2"):
        build_model(missing, spec)
    extra = dict(flat, **{"params/Mixed_6a/Conv_0/kernel": np.zeros(1, np.float32)})
    with pytest.raises(CheckpointError, match="unused.*Mixed_6a"):
        build_model(extra, spec)
    bent = dict(flat, **{"params/Conv3d_2b_1x1/Conv_0/kernel": np.zeros((1, 1, 1, 64, 63), np.float32)})
    with pytest.raises(CheckpointError, match="Conv3d_2b_1x1.*expected"):
        build_model(bent, spec)
    labels = spec.labels[:-1]
    with pytest.raises(CheckpointError, match="Logits"):
        build_model(flat, build_spec(labels))


def test_the_converter_imports_no_torch() -> None:
    code = (
        "import sys, vidclass.convert, vidclass.convert.selfcheck, vidclass.convert.i3d\n"
        "assert vidclass.convert.__file__.startswith(sys.argv[1]), vidclass.convert.__file__\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'onnxscript'))\n"
        "print(' '.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "vidclass")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
