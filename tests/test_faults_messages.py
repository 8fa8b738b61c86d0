"""Messages: a model that cannot load (OpenVINO, ONNX Runtime), the wrong kind of file as --model,
and a bad pixel budget. Each is one line naming the file and the cause, with its exit code, and
nothing else on stderr: no runtime's own chatter, no traceback, no hang.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from synthetic import VIDCLASS, invoke, make_tiny_model, solid_frames, write_video

from vidclass import Classifier, run
from vidclass.errors import ModelError, ModelNotFoundError, UsageError
from vidclass.runtimes import openvino as openvino_runtime
from vidclass.store import DEFAULT_MODEL_FILE, check_model_file, resolve_model

HANG_S = 60  # a FIFO or /dev/zero read as a model would block or read forever


def cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [*VIDCLASS, *(os.fspath(a) for a in args)]
    return subprocess.run(command, capture_output=True, env={**os.environ, **(env or {})}, timeout=HANG_S)


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    return write_video(tmp_path / "good.avi", solid_frames(["green"] * 12), 10)


def _unknown_op(path: Path) -> Path:
    """A model with a vidclass contract and an operator no runtime knows (vidclass.test.Bogus)."""
    import onnx
    from onnx import TensorProto, helper
    from synthetic import TINY_SPEC

    video = helper.make_tensor_value_info("video", TensorProto.FLOAT, ["N", "T", 32, 32, 3])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "T", 3])
    graph = helper.make_graph(
        [helper.make_node("Bogus", ["video"], ["logits"], domain="vidclass.test")], "bogus", [video], [logits]
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("vidclass.test", 1)]
    )
    model.ir_version = 8
    helper.set_model_props(model, TINY_SPEC.to_metadata())
    onnx.save(model, path)
    return path


def _truncated(path: Path) -> Path:
    path.write_bytes(make_tiny_model(path).read_bytes()[:300])
    return path


def _garbage(path: Path) -> Path:
    """Bytes OpenVINO's TensorFlow frontend quotes on stderr, escape sequence included."""
    path.write_bytes(b"garbage\x1b]0;pwned\x07 bytes\n")
    return path


LOAD_FAULTS = {
    "truncated": (_truncated, {"openvino": "Model can't be parsed", "cpu": "Protobuf parsing failed."}),
    "garbage": (_garbage, {"openvino": "Unable to read the model: ", "cpu": "Protobuf parsing failed."}),
    "unknown-op": (
        _unknown_op,
        {
            "openvino": "No conversion rule found for operations: vidclass.test.Bogus",
            "cpu": "Fatal error: vidclass.test:Bogus(-1) is not a registered function/op",
        },
    ),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("provider", ["openvino", "cpu"])
@pytest.mark.parametrize("fault", sorted(LOAD_FAULTS))
def test_a_model_that_cannot_load_is_one_line(tmp_path: Path, good: Path, fault: str, provider: str) -> None:
    if provider == "openvino" and not openvino_runtime.available():
        pytest.skip("the openvino extra is not installed")
    build, causes = LOAD_FAULTS[fault]
    model = build(tmp_path / "bad.onnx")
    done = cli("predict", good, "--model", model, "--provider", provider, "--json")
    assert done.returncode == 3 and done.stdout == b""
    err = done.stderr.decode("utf-8", "replace")
    [line] = err.splitlines()  # nothing from inside the runtime: no protobuf, absl or source locations
    runtime = "OpenVINO cannot" if provider == "openvino" else "cannot"
    assert line.startswith(f"vidclass: {model}: {runtime} load the model (") and causes[provider] in line
    assert "Exception from src" not in line and "\x1b" not in err and "[ONNXRuntimeError]" not in line


@pytest.mark.skipif(not openvino_runtime.available(), reason="the openvino extra is not installed")
def test_openvino_chatter_is_captured_and_stderr_given_back(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    model = _garbage(tmp_path / "bad.onnx")
    with pytest.raises(ModelError) as failed:
        Classifier(model, provider="openvino")
    assert str(failed.value).startswith(f"{model}: OpenVINO cannot load the model (Unable to read the model: ")
    assert "\n" not in str(failed.value)
    os.write(2, b"after\n")  # file descriptor 2 is the real stderr again
    assert capfd.readouterr().err == "after\n"


def test_load_cause_keeps_the_cause_of_openvinos_message() -> None:
    message = (
        "Exception from src/inference/src/cpp/core.cpp:84:\nCheck 'false' failed at "
        "src/frontends/common_translators/src/unconverted_ops_report.cpp:151:\nFrontEnd API failed with "
        "OpConversionFailure:\nModel wasn't fully converted.\nSummary:\n-- No conversion rule found for "
        "operations: X\n\n"
    )
    assert openvino_runtime.load_cause(RuntimeError(message), []) == (
        "FrontEnd API failed with OpConversionFailure: Model wasn't fully converted. "
        "No conversion rule found for operations: X"
    )
    only_where = RuntimeError("Exception from src/inference/src/cpp/core.cpp:84:\n")
    assert openvino_runtime.load_cause(only_where, ["E0000 text_format.cc:417] it broke", ""]) == (
        "E0000 text_format.cc:417] it broke"
    )


# -- the wrong kind of --model ------------------------------------------------------------------------


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "model.onnx")
    return tmp_path / "model.onnx"


def _folder_with_one(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    make_tiny_model(tmp_path / "models" / "tiny.onnx")
    (tmp_path / "models" / "tiny.stream.onnx").write_bytes(b"its streaming form")
    return tmp_path / "models"


def _folder_with_two(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    for name in ("a.onnx", "b.onnx"):
        make_tiny_model(tmp_path / "models" / name)
    return tmp_path / "models"


def _empty_folder(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    return tmp_path / "models"


def _socket(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.fspath(path))
    listener.close()  # the socket file stays
    return path


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "model.onnx").write_bytes(b"")
    return tmp_path / "model.onnx"


WRONG_KINDS = {
    "fifo": (_fifo, "is a FIFO (named pipe), not a model file (--model)"),
    "dev-null": (lambda _: Path("/dev/null"), "is a character device, not a model file (--model)"),
    "dev-zero": (lambda _: Path("/dev/zero"), "is a character device, not a model file (--model)"),
    "socket": (_socket, "is a socket, not a model file (--model)"),
    "empty-file": (_empty, "is empty (0 bytes), not a model file (--model)"),
    "missing": (lambda p: p / "nope.onnx", "no such model file (--model)"),
    "under-a-file": (lambda p: make_tiny_model(p / "m.onnx") / "x.onnx", "no such model file (--model)"),
    "folder-with-one": (_folder_with_one, "is a folder (--model); give the .onnx file inside it: {path}/tiny.onnx"),
    "folder-with-two": (_folder_with_two, "is a folder (--model); give one of the 2 .onnx files inside it"),
    "empty-folder": (
        _empty_folder,
        f"is a folder (--model); it holds no .onnx file (and no {DEFAULT_MODEL_FILE}): give the model file",
    ),
}


@pytest.mark.parametrize("kind", list(WRONG_KINDS))
def test_the_wrong_kind_of_model_is_named(tmp_path: Path, kind: str) -> None:
    build, cause = WRONG_KINDS[kind]
    path = build(tmp_path)
    if not os.path.lexists(path) and kind.startswith("dev"):
        pytest.skip(f"no {path} here")
    with pytest.raises(ModelNotFoundError) as refused:
        resolve_model(path)
    assert str(refused.value) == f"{path}: {cause.format(path=path)}"


@pytest.mark.subprocess
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder-with-one"])
def test_the_wrong_kind_of_model_from_the_command_line(tmp_path: Path, good: Path, kind: str) -> None:
    build, cause = WRONG_KINDS[kind]
    path = build(tmp_path)
    for where in (["--model", path], []):  # the option, and $VIDCLASS_MODEL
        done = cli("predict", good, *where, env={"VIDCLASS_MODEL": os.fspath(path)})  # within HANG_S: no block
        origin = "--model" if where else "$VIDCLASS_MODEL"
        assert done.returncode == 3 and done.stdout == b""
        expected = cause.format(path=path).replace("(--model)", f"({origin})")
        assert done.stderr.decode().splitlines() == [f"vidclass: {path}: {expected}"]


def test_a_folder_holding_the_default_model_is_that_model(tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / DEFAULT_MODEL_FILE)
    make_tiny_model(tmp_path / "other.onnx")
    assert resolve_model(tmp_path) == model


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_model(tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / "m.onnx")
    model.chmod(0)
    with pytest.raises(ModelNotFoundError, match=r"m\.onnx: cannot be read \(permission denied\) \(--model\)$"):
        check_model_file(model)


# -- the pixel budget, checked at the start -----------------------------------------------------------


@pytest.mark.parametrize("command", ["predict", "watch", "evaluate"])
def test_a_bad_pixel_budget_fails_at_once(tmp_path: Path, tiny_model: Path, good: Path, command: str) -> None:
    out = tmp_path / "out.jsonl"
    target = {"predict": [good, good, "--output", out], "watch": [good, "--output", out], "evaluate": [tmp_path]}
    done = invoke(command, *target[command], "--model", tiny_model, env={"VIDCLASS_MAX_PIXELS": "lots"})
    assert done.exit_code == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "vidclass: VIDCLASS_MAX_PIXELS must be a positive whole number of pixels, got 'lots'"
    ]
    assert not out.exists()  # refused before anything was opened


def test_a_bad_pixel_budget_is_the_runs_error(tiny_model: Path, good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    classifier = Classifier(tiny_model, provider="cpu")
    monkeypatch.setenv("VIDCLASS_MAX_PIXELS", "-5")
    with pytest.raises(UsageError, match="VIDCLASS_MAX_PIXELS must be a positive whole number"):
        run(classifier, [good, good])
