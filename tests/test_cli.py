"""CLI behaviour with a tiny colour model and synthetic videos: output, JSON schema, exit codes,
and one clear line for every kind of bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from synthetic import invoke, make_tiny_model, solid_frames, tiny_spec, write_video
from typer.testing import CliRunner

from vidclass import runtimes as runtimes_module
from vidclass import store as session_module
from vidclass.cli import app


def test_every_command_has_help() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    commands = typer.main.get_command(app).commands
    assert "predict" in commands
    for name in commands:
        sub = invoke(name, "--help")
        assert sub.exit_code == 0, name
        assert "Usage" in sub.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "x.mp4", "--windwo", "3"], "vidclass predict: no such option --windwo; did you mean --window?"),
        (["predict", "x.mp4", "--top_k", "3"], "did you mean --top-k?"),
        (["predict", "x.mp4", "--treshold", "0.3"], "did you mean --threshold?"),
        (["predict", "x.mp4", "--seg"], "did you mean --segments?"),
        (["predict", "x.mp4", "--cpu"], "did you mean --provider cpu?"),
        # Not "did you mean --force": the input is an argument.
        (["predict", "--source", "x.mp4"], "--source: the input is an argument, as in vidclass predict [OPTIONS] PATH"),
        (["predict", "x.mp4", "--window", "0"], "vidclass predict: --window: "),
        (["predict"], "vidclass predict: missing PATH..."),
        (["predcit", "x.mp4"], "no such command 'predcit'. Did you mean 'predict'?"),
        (["--verison"], "vidclass: no such option --verison; did you mean --version?"),
    ],
)
def test_usage_errors_are_one_line_with_the_nearest_option(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


def test_table_shows_ranked_actions_when_they_happen_and_provider(tiny_model: Path, rgb_video: Path) -> None:
    result = invoke("predict", rgb_video, "--model", tiny_model, "--provider", "cpu")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    ranked = [line.split("│")[1].strip() for line in lines if line.strip()[:1].isdigit() and "│" in line]
    assert ranked == ["green", "red", "blue"]
    assert "0.0-2.0 s" in result.stdout  # red leads the first windows
    assert "tiny-colour on cpu, fp32" in result.stdout  # the model, where it ran, in what arithmetic
    assert not any(line.endswith(" ") for line in lines)  # tables pad cells; the output does not
    assert result.stderr == ""


def test_json_lines_schema(tiny_model: Path, rgb_video: Path) -> None:
    result = invoke(
        "predict", rgb_video, rgb_video, "--model", tiny_model, "--json", "--top-k", "2", "--provider", "cpu"
    )
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    rec = records[0]
    assert {"source", "duration_s", "top", "windows", "model"} <= rec.keys()
    assert rec["source"] == str(rgb_video)
    assert rec["duration_s"] == pytest.approx(5.0)
    assert [t["label"] for t in rec["top"]] == ["green", "red"]
    assert all(0 <= t["score"] <= 1 for t in rec["top"])
    assert rec["model"]["name"] == "tiny-colour" and rec["model"]["provider"] == "cpu"
    assert rec["model"]["precision"] == "fp32"  # bf16 moves scores: a record names its arithmetic
    assert len(rec["model"]["sha256"]) == 64
    # 50 frames, window 8, hop 4: starts 0, 4, ..., 40, then a tail window at 42.
    starts = [w["start_s"] for w in rec["windows"]]
    assert starts == pytest.approx([0.4 * i for i in range(11)] + [4.2])
    assert all(w["end_s"] - w["start_s"] == pytest.approx(0.8) for w in rec["windows"])
    assert rec["windows"][0]["top"][0]["label"] == "red"
    assert rec["windows"][-1]["top"][0]["label"] == "blue"


def test_window_and_hop_options(tiny_model: Path, rgb_video: Path) -> None:
    result = invoke("predict", rgb_video, "--model", tiny_model, "--json", "--window", "10", "--hop", "10")
    rec = json.loads(result.stdout)
    assert [w["start_s"] for w in rec["windows"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert rec["window_frames"] == 10 and rec["hop_frames"] == 10


def test_source_frames_are_resampled_to_the_model_rate(tiny_model: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "fast.avi", solid_frames(["red"] * 60), 30)
    rec = json.loads(invoke("predict", video, "--model", tiny_model, "--json").stdout)
    assert rec["frames"] == 20 and rec["duration_s"] == pytest.approx(2.0)


def test_each_frame_is_preprocessed_once(tiny_model: Path, rgb_video: Path, monkeypatch) -> None:
    import vidclass.clips as clips
    from vidclass import Classifier

    calls = []
    original = clips.preprocess_frame
    monkeypatch.setattr(clips, "preprocess_frame", lambda image, spec: calls.append(1) or original(image, spec))
    result = Classifier(tiny_model).predict(rgb_video)
    assert len(result.windows) == 12  # overlapping windows (hop 4 < window 8) ...
    assert len(calls) == 50  # ... but every frame went through preprocessing once


@pytest.mark.parametrize(("frames", "held"), [(5, False), (1, True)])
def test_short_video_gets_a_result_and_says_so(tiny_model: Path, tmp_path: Path, frames: int, held: bool) -> None:
    video = write_video(tmp_path / "short.avi", solid_frames(["blue"] * frames), 10)
    result = invoke("predict", video, "--model", tiny_model, "--json")
    assert result.exit_code == 0
    rec = json.loads(result.stdout)
    assert rec["short"] is True and rec["top"][0]["label"] == "blue"
    assert len(rec["windows"]) == 1 and rec["windows"][0]["end_s"] == pytest.approx(frames / 10)
    # The window actually used: the video itself, or the model's minimum of 2 when its frame was held.
    assert rec["window_frames"] == (2 if held else frames)
    assert "short video" in result.stderr
    assert ("held" in result.stderr) is held
    table = invoke("predict", video, "--model", tiny_model)
    footer = "1 window of 2 frames (0.20 s): the video's 1, its last frame repeated" if held else (
        f"1 window of {frames} frames ({frames / 10:.2f} s): the whole video, shorter than a window")
    assert footer in table.stdout


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    good = write_video(tmp_path / "good.mp4", solid_frames(["red"] * 30), 10, "mp4v")
    data = good.read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("this is not a video\n")
    (tmp_path / "novideos").mkdir()
    (tmp_path / "novideos" / "readme.txt").write_text("nothing here")
    (tmp_path / "folder.mp4").mkdir()
    os.symlink(tmp_path / "gone.mp4", tmp_path / "dangling.mp4")
    return {
        "missing": tmp_path / "missing.mp4",
        "folder without videos": tmp_path / "novideos",
        "non-video file": tmp_path / "notes.mp4",
        "truncated video": tmp_path / "truncated.mp4",
        "zero-byte file": tmp_path / "empty.mp4",
        "folder named like a video": tmp_path / "folder.mp4",
        "broken symlink": tmp_path / "dangling.mp4",
    }


CAUSES = {
    "missing": "no such file",
    "folder without videos": "no video files in this folder",
    "non-video file": "not a video file",
    "truncated video": "damaged or truncated MP4/MOV file",
    "zero-byte file": "empty file (0 bytes)",
    "folder named like a video": "no video files in this folder",
    "broken symlink": "broken symbolic link",
}


@pytest.mark.parametrize("case", list(CAUSES))
def test_bad_input_is_one_line_and_the_others_still_run(tiny_model: Path, tmp_path: Path, case: str) -> None:
    bad = _bad_inputs(tmp_path)[case]
    good = tmp_path / "good.mp4"
    for as_json in (False, True):
        args = ["predict", good, bad, good, "--model", tiny_model] + (["--json"] if as_json else [])
        result = invoke(*args)
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("vidclass:")]
        assert len(errors) == 1
        assert errors[0].startswith(f"vidclass: {bad}: {CAUSES[case]}")
        if as_json:
            records = [json.loads(line) for line in result.stdout.splitlines()]
            assert [r.get("error") is None for r in records] == [True, False, True]
            assert records[1]["source"] == str(bad) and CAUSES[case] in records[1]["error"]
        else:
            assert result.stdout.count("good.mp4") == 2


def _no_model_anywhere(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VIDCLASS_MODEL", raising=False)
    monkeypatch.setattr(session_module, "PROJECT_MODELS", tmp_path / "no-models")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "no-data"))
    monkeypatch.setenv("VIDCLASS_OFFLINE", "1")  # no model means first-use provisioning otherwise
    monkeypatch.delenv("VIDCLASS_WEIGHTS", raising=False)
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "no-cache"))


def test_missing_model_says_how_to_make_it(monkeypatch, tmp_path: Path, rgb_video: Path) -> None:
    _no_model_anywhere(monkeypatch, tmp_path)
    result = invoke("predict", rgb_video)
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "vidclass models pull" in result.stderr
    assert "Traceback" not in result.output


def test_model_lookup_order(monkeypatch, tmp_path: Path, rgb_video: Path) -> None:
    _no_model_anywhere(monkeypatch, tmp_path)
    user = tmp_path / "no-data" / "vidclass" / "models"
    user.mkdir(parents=True)
    project = tmp_path / "no-models"
    project.mkdir()
    make_tiny_model(project / session_module.DEFAULT_MODEL_FILE)
    assert session_module.resolve_model() == project / session_module.DEFAULT_MODEL_FILE
    make_tiny_model(user / session_module.DEFAULT_MODEL_FILE, tiny_spec(name="from-user-dir"))
    assert session_module.resolve_model() == user / session_module.DEFAULT_MODEL_FILE  # the user's before a checkout's
    env_model = make_tiny_model(tmp_path / "env.onnx")
    monkeypatch.setenv("VIDCLASS_MODEL", str(env_model))
    assert session_module.resolve_model() == env_model
    assert session_module.resolve_model(tmp_path / "env.onnx") == env_model
    rec = json.loads(invoke("predict", rgb_video, "--json").stdout)
    assert rec["model"]["name"] == "tiny-colour"


@pytest.mark.parametrize(
    ("build", "cause"),
    [
        (lambda p: make_tiny_model(p, spec=None), "no vidclass metadata"),
        (lambda p: make_tiny_model(p, classes=5), "does not fit 3 labels"),
        (lambda p: p.write_bytes(make_tiny_model(p).read_bytes()[:200]), "cannot load the model"),
        (lambda p: make_tiny_model(p, extra_meta={"vidclass.spec_version": "7"}), "metadata version 7"),
    ],
    ids=["no metadata", "label count mismatch", "truncated onnx", "unknown contract version"],
)
def test_bad_model_is_one_line_exit_3(tmp_path: Path, rgb_video: Path, build, cause: str) -> None:
    model = tmp_path / "bad.onnx"
    build(model)
    result = invoke("predict", rgb_video, "--model", model)
    assert result.exit_code == 3
    assert result.stderr.startswith(f"vidclass: {model}") and cause in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert result.stdout == ""


def test_usage_errors_exit_2(tiny_model: Path, rgb_video: Path) -> None:
    below_min = invoke("predict", rgb_video, "--model", tiny_model, "--window", "1")
    assert below_min.exit_code == 2 and "minimum of 2" in below_min.stderr
    hop_too_long = invoke("predict", rgb_video, "--model", tiny_model, "--window", "4", "--hop", "5")
    assert hop_too_long.exit_code == 2 and "leave frames unclassified" in hop_too_long.stderr
    assert invoke("predict").exit_code == 2
    assert invoke("predict", rgb_video, "--provider", "nonsense").exit_code == 2


def test_unavailable_provider_is_a_usage_error(tiny_model: Path, rgb_video: Path) -> None:
    if "CUDAExecutionProvider" in runtimes_module.ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    result = invoke("predict", rgb_video, "--model", tiny_model, "--provider", "cuda")
    assert result.exit_code == 2
    assert "provider 'cuda' is not available" in result.stderr


def test_python_api_returns_typed_results(tiny_model: Path, rgb_video: Path) -> None:
    from vidclass import Classifier, ClipResult

    clf = Classifier(tiny_model, top_k=1)
    result = clf.predict(rgb_video)
    assert isinstance(result, ClipResult)
    assert result.top[0].label == "green" and result.top[0].when == ((1.6, 4.4),)
    assert result.to_dict()["top"][0]["when"] == [[1.6, 4.4]]
    assert clf.spec.frame_rate == 10.0


def test_auto_provider_takes_openvino_when_installed_else_cpu(tiny_model: Path) -> None:
    from vidclass import Classifier

    gpu = {"TensorrtExecutionProvider", "CUDAExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider"}
    if gpu & set(runtimes_module.ort.get_available_providers()):
        pytest.skip("this onnxruntime has an accelerator provider, which auto prefers")
    expected = "openvino" if runtimes_module._openvino_runtime() else "cpu"
    assert Classifier(tiny_model).session.provider == expected


def test_sub_apps_mounted_later_get_the_same_help_and_errors() -> None:
    # `vidclass models` and `vidclass report` are mounted with one line, from plain Typer apps.
    from vidclass.cli.help import App

    main, sub = App(name="vidclass"), typer.Typer(help="The model.")

    @sub.command("list")
    def list_models(as_json: bool = typer.Option(False, "--json", help="As JSON.")) -> None:
        """List the models.

        Examples:
            vidclass models list --json
        """

    @sub.command("path")
    def model_path() -> None:
        """Where the model is."""

    main.add_typer(sub, name="models")
    runner = CliRunner()
    shown = runner.invoke(main, ["models", "list", "--help"])
    assert shown.exit_code == 0 and "<bool>" not in shown.output
    assert "      --json  As JSON." in shown.output and "Examples:\n  vidclass models list --json" in shown.output
    mistyped = runner.invoke(main, ["models", "list", "--jsn"])
    assert mistyped.exit_code == 2
    assert mistyped.stderr == "vidclass models list: no such option --jsn; did you mean --json?\n"
