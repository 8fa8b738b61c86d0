"""``predict --output-video`` and ``predict --plot`` with the tiny colour model: the files are made,
re-opened and checked; nothing is overwritten without --force."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic import invoke, solid_frames, write_video

from vidclass import Classifier
from vidclass.outputs import annotate
from vidclass.outputs.annotate import class_colour, write_annotated_video

SIZE = (120, 160)  # height, width


@pytest.fixture()
def red_blue(tmp_path: Path) -> Path:
    """3 s red then 2 s blue at 10 fps, 160x120."""
    return write_video(tmp_path / "rb.avi", solid_frames(["red"] * 30 + ["blue"] * 20, SIZE), 10)


def read_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_output_video_has_every_frame_at_the_source_size(tiny_model: Path, red_blue: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated.mp4"
    result = invoke("predict", red_blue, "--model", tiny_model, "--json", "--output-video", out)
    assert result.exit_code == 0, result.output
    frames = read_frames(out)
    assert len(frames) == 50
    assert frames[0].shape[:2] == SIZE
    # stdout still holds only the JSON record; stderr names the file and its codec.
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("{")
    assert str(out) in result.stderr and ("(avc1)" in result.stderr or "(mp4v)" in result.stderr)
    assert not list(tmp_path.glob(".*partial*"))


def test_output_video_draws_labels_and_the_timeline_strip(tiny_model: Path, red_blue: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated.mp4"
    assert invoke("predict", red_blue, "--model", tiny_model, "--output-video", out).exit_code == 0
    frames = read_frames(out)
    source = read_frames(red_blue)
    # The frame is changed at the top left (labels) and along the bottom (strip), not in the middle.
    first, plain = frames[0].astype(int), source[0].astype(int)
    assert np.abs(first[:30, :60] - plain[:30, :60]).mean() > 20
    assert np.abs(first[50:70, 60:100] - plain[50:70, 60:100]).mean() < 10
    # The strip shows red's colour where red leads (left 3/5) and blue's on the right.
    strip = first[-4:].mean(axis=0)  # [width, 3]
    red, blue = np.array(class_colour(0)), np.array(class_colour(2))

    def nearer(pixel: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
        return np.abs(pixel - a).sum() < np.abs(pixel - b).sum()

    assert nearer(strip[20], red, blue) and nearer(strip[150], blue, red)


def test_only_labels_worth_showing_are_drawn() -> None:
    # Ranks 2 and 3 at 0.00 took turns from window to window: drawn only from MIN_SHOWN_SCORE.
    assert annotate.shown_labels(np.array([0.90, 0.07, 0.02, 0.01])) == [0, 1]
    assert annotate.shown_labels(np.array([0.01, 0.97, 0.01, 0.01])) == [1]
    assert annotate.shown_labels(np.array([0.5, 0.3, 0.2])) == [0, 1, 2]
    labels = ("a", "b", "c", "d")
    strip = np.zeros((6, 160, 3), np.uint8)
    heights = []
    for probs in (np.array([0.97, 0.01, 0.01, 0.01]), np.array([0.5, 0.3, 0.1, 0.1])):
        image = np.full((*SIZE, 3), 200, np.uint8)
        annotate.draw(image, probs, labels, strip, 0.0, 5.0)
        heights.append(int((image[:, 2] < 200).sum()) - 6)  # the darkened backdrop, less the strip
    assert heights[0] < heights[1] / 2  # one line of labels against three


def test_output_video_is_never_overwritten_without_force(tiny_model: Path, red_blue: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated.mp4"
    out.write_bytes(b"precious")
    result = invoke("predict", red_blue, "--model", tiny_model, "--output-video", out)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert out.read_bytes() == b"precious"
    assert result.stdout == ""  # refused before any work
    result = invoke("predict", red_blue, "--model", tiny_model, "--output-video", out, "--force")
    assert result.exit_code == 0, result.output
    assert len(read_frames(out)) == 50


def test_output_video_and_plot_take_one_input(tiny_model: Path, red_blue: Path, tmp_path: Path) -> None:
    result = invoke("predict", red_blue, red_blue, "--model", tiny_model, "--output-video", tmp_path / "o.mp4")
    assert result.exit_code == 2 and "one video" in result.stderr
    result = invoke("predict", tmp_path, "--model", tiny_model, "--plot", tmp_path / "o.png")
    assert result.exit_code == 2
    missing = invoke("predict", red_blue, "--model", tiny_model, "--output-video", tmp_path / "no" / "o.mp4")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_codec_falls_back_and_says_which(
    tiny_model: Path, red_blue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(annotate, "CODECS", (("zzzz", "no such codec"), ("mp4v", "MPEG-4 Part 2")))
    result = Classifier(tiny_model).predict(red_blue)
    video = write_annotated_video(result, tmp_path / "fallback.mp4")
    assert (video.fourcc, video.is_h264, video.frames) == ("mp4v", False, 50)
    assert len(read_frames(video.path)) == 50
    monkeypatch.setattr(annotate, "CODECS", (("zzzz", "no such codec"),))
    with pytest.raises(annotate.InputError, match="cannot write"):
        write_annotated_video(result, tmp_path / "none.mp4")
    assert not (tmp_path / "none.mp4").exists()


@pytest.mark.slow
def test_plot_file_is_a_png(tiny_model: Path, red_blue: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    out = tmp_path / "timeline.png"
    result = invoke("predict", red_blue, "--model", tiny_model, "--segments", "--plot", out)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 300
    # Again without --force: refused, untouched.
    before = out.read_bytes()
    again = invoke("predict", red_blue, "--model", tiny_model, "--plot", out)
    assert again.exit_code == 2 and out.read_bytes() == before


def test_plot_rows_are_the_peaks_ordered_by_mean(tiny_model: Path, red_blue: Path) -> None:
    from vidclass.outputs.plot import plot_classes

    result = Classifier(tiny_model).predict(red_blue)
    # red leads 3 s of 5, blue 2 s; green never leads.
    assert plot_classes(result, rows=2) == [0, 2]
    assert plot_classes(result, rows=3)[:2] == [0, 2]


def test_plot_with_an_unknown_image_type(tiny_model: Path, red_blue: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    result = invoke("predict", red_blue, "--model", tiny_model, "--plot", tmp_path / "t.xyz")
    assert result.exit_code == 2 and ".png" in result.stderr


def test_plot_without_matplotlib_says_how_to_get_it(
    tiny_model: Path, red_blue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    result = invoke("predict", red_blue, "--model", tiny_model, "--plot", tmp_path / "t.png")
    assert result.exit_code == 2
    assert "pip install 'vidclass[plot]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t.png").exists()
