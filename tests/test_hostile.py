"""Hostile and broken inputs (issue 7): every case is generated here and asserts its outcome.

A refused input gives one line on stderr naming the input and the cause, an error record in the
JSON output, exit code 1, and the inputs before and after it in the same run still get their
results; nothing prints a traceback. A damaged input that still decodes is classified on what
decodes, with a warning. The matrix with each outcome is in the README ("Bad and hostile inputs").

Already covered elsewhere, not repeated here: a missing file, a folder without videos, a text file,
an mp4 cut in half, a zero-byte file, a folder named x.mp4 and a broken symlink (test_cli.py), a
malicious pickle and a weights archive with the wrong sha256 (test_checkpoint.py), a URL that
refuses, a stream that stalls after its first frames and a camera that does not exist
(test_watch.py).

Cases that need an encoder OpenCV's writer lacks (H.264 with the index first, rotation metadata,
variable frame rate, audio only) use the ffmpeg binary of the ``imageio-ffmpeg`` package (the
``test`` extra) and skip without it.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import wave
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from synthetic import VIDCLASS, interruptible, invoke, make_tiny_model, solid_frames, tiny_spec, write_video

from vidclass import Classifier
from vidclass.clips import iter_clips
from vidclass.errors import InputError
from vidclass.sources import FALLBACK_FPS, NetworkStream, VideoFile, diagnose, files
from vidclass.text import for_terminal

COLOURS = ["red"] * 10 + ["green"] * 10 + ["blue"] * 10  # 3 s at 10 fps, the tiny model's rate
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}
# Generous: only ever reached when something hangs, which is the failure these tests look for.
HANG_S = 120
SPAWN = pytest.mark.spawn  # the parameters that start decoding worker processes


def cli(args: list[str | bytes | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None):
    """The real command in a child process (real pipes, real signals, real argv bytes)."""
    command = [*VIDCLASS, *(os.fspath(a) for a in args)]
    return subprocess.run(command, capture_output=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=HANG_S)


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    return write_video(tmp_path / "good.avi", solid_frames(["green"] * 20), 10)


def textured(colours: list[str], size: tuple[int, int] = (96, 128), seed: int = 0) -> list[np.ndarray]:
    """Frames of one colour each, with noise: compressed frames of a realistic size (solid colours
    compress to a few bytes, so a cut or a corruption would only ever hit the headers); the mean
    colour, which the tiny model classifies, stays that of the frame."""
    rng = np.random.default_rng(seed)
    frames = []
    for frame in solid_frames(colours, size):
        noise = rng.integers(-40, 41, frame.shape)
        frames.append(np.clip(frame * 0.7 + 40 + noise, 0, 255).astype(np.uint8))
    return frames


# -- ffmpeg, for the files OpenCV's writer cannot make ---------------------------------------------


@pytest.fixture(scope="session")
def ffmpeg() -> Callable[..., None]:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the test extra's imageio-ffmpeg makes these files")
    exe = imageio_ffmpeg.get_ffmpeg_exe()

    def run(*args: str | Path) -> None:
        done = subprocess.run(
            [exe, "-hide_banner", "-loglevel", "error", "-y", *(str(a) for a in args)],
            capture_output=True, text=True, timeout=HANG_S,
        )
        assert done.returncode == 0, done.stderr

    run.exe = exe  # type: ignore[attr-defined]
    return run


def ffmpeg_video(ffmpeg, path: Path, frames: list[np.ndarray], fps: float, *codec: str) -> Path:
    """``frames`` encoded by ffmpeg, at their exact size (OpenCV's writer rounds sizes down to even)."""
    raw = path.with_suffix(".bgr")
    raw.write_bytes(b"".join(np.ascontiguousarray(f).tobytes() for f in frames))
    height, width = frames[0].shape[:2]
    ffmpeg("-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", raw, *codec, path)
    raw.unlink()
    return path


def ffmpeg_frame_count(exe: str, path: Path) -> int:
    """How many frames the ffmpeg command line decodes from ``path``: the oracle for damaged files."""
    done = subprocess.run([exe, "-hide_banner", "-i", str(path), "-f", "null", "-"], capture_output=True,
                          text=True, timeout=HANG_S)
    counts = re.findall(r"frame=\s*(\d+)", done.stderr)
    return int(counts[-1]) if counts else 0


def h264_faststart(ffmpeg, tmp_path: Path, frames: list[np.ndarray], name: str = "fast.mp4") -> Path:
    """An MP4 with its index (moov) before the data, as web video is: a cut copy still opens."""
    source = write_video(tmp_path / f"{name}.src.avi", frames, 10)
    target = tmp_path / name
    ffmpeg("-i", source, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5", "-movflags", "+faststart", target)
    source.unlink()
    return target


# -- the same contract for every case ----------------------------------------------------------------


def refused_alone(bad: Path, tiny_model: Path, good: Path, cause: str) -> None:
    """``bad`` between two good inputs: one error line naming it and the cause, the others classified."""
    result = invoke("predict", good, bad, good, "--model", tiny_model, "--json")
    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("vidclass:")]
    assert errors == [errors[0]] and errors[0].startswith(f"vidclass: {bad}: {cause}"), result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in records] == [str(good), str(bad), str(good)]
    assert [("error" in r) for r in records] == [False, True, False]
    assert records[1]["error"].startswith(cause)
    assert all(r["top"][0]["label"] == "green" for r in (records[0], records[2]))


def classified_alone(video: Path, tiny_model: Path, good: Path) -> dict:
    """``video`` between two good inputs is classified (exit 0, no error line); its record."""
    result = invoke("predict", good, video, good, "--model", tiny_model, "--json")
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert not [line for line in result.stderr.splitlines() if line.startswith("vidclass:")]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in records] == [str(good), str(video), str(good)]
    assert all("error" not in r for r in records)
    return records[1]


def decoded(path: Path) -> tuple[VideoFile, list]:
    video = VideoFile(path)
    return video, list(video)


def colour_of(image: np.ndarray) -> str:
    mean = image.reshape(-1, 3).mean(axis=0)
    return min(BGR, key=lambda name: float(np.abs(mean - BGR[name]).sum()))


# -- files that are refused --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes_named_mp4(tmp_path: Path, tiny_model: Path, good: Path, seed: int) -> None:
    bad = tmp_path / f"random{seed}.mp4"
    bad.write_bytes(np.random.default_rng(seed).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    refused_alone(bad, tiny_model, good, "not a video file (FFmpeg does not recognise the format)")


@pytest.mark.parametrize("percent", [10, 90])  # 50 % is in test_cli.py
def test_mp4_with_its_index_at_the_end_cut_short(tmp_path: Path, tiny_model: Path, good: Path, percent: int) -> None:
    # OpenCV's mp4v writer puts the index (moov) after the data: any cut loses it.
    whole = write_video(tmp_path / "whole.mp4", textured(COLOURS), 10, "mp4v").read_bytes()
    bad = tmp_path / f"cut{percent}.mp4"
    bad.write_bytes(whole[: len(whole) * percent // 100])
    refused_alone(bad, tiny_model, good, "damaged or truncated MP4/MOV file: FFmpeg cannot open it (no complete index")


def test_avi_cut_before_its_first_frame(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    whole = write_video(tmp_path / "whole.avi", textured(COLOURS), 10).read_bytes()
    bad = tmp_path / "cut.avi"
    bad.write_bytes(whole[:4000])  # the headers, no complete frame
    refused_alone(bad, tiny_model, good, "damaged or truncated AVI file")


def test_file_that_opens_but_no_frame_decodes(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    whole = write_video(tmp_path / "whole.avi", textured(COLOURS), 10)
    data = bytearray(whole.read_bytes())
    # Every frame's data (each "00dc" chunk of the movi list) zeroed: the AVI opens, no frame decodes.
    chunk = data.find(b"00dc", data.find(b"movi"))
    while chunk >= 0:
        size = struct.unpack("<I", data[chunk + 4 : chunk + 8])[0]
        data[chunk + 8 : chunk + 8 + size] = bytes(size)
        chunk = data.find(b"00dc", chunk + 8 + size)
    bad = tmp_path / "nothing.avi"
    bad.write_bytes(bytes(data))
    refused_alone(bad, tiny_model, good, "damaged or truncated AVI file: it opens, but none of the 30 frames")


@pytest.mark.parametrize("kind", ["png", "jpg", "bmp"])
def test_a_still_image_is_refused(tmp_path: Path, tiny_model: Path, good: Path, kind: str) -> None:
    # Policy (README): a still image is not a video. FFmpeg would open it as one frame; vidclass
    # refuses it by its content, whatever its name, with the reason.
    image = tmp_path / f"photo.{kind}"
    assert cv2.imwrite(str(image), textured(["red"])[0])
    disguised = tmp_path / f"photo_{kind}.mp4"
    shutil.copy(image, disguised)
    label = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP"}[kind]
    for bad in (image, disguised):
        refused_alone(bad, tiny_model, good, f"a still image ({label}), not a video")


def test_concatenated_jpegs_are_a_video(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    # ... but a file of several JPEGs (raw MJPEG, what some cameras record) is a video.
    mjpeg = tmp_path / "camera.mjpeg"
    mjpeg.write_bytes(b"".join(cv2.imencode(".jpg", f)[1].tobytes() for f in solid_frames(["blue"] * 12)))
    record = classified_alone(mjpeg, tiny_model, good)
    assert record["top"][0]["label"] == "blue"


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * 8000)
    return path


def test_audio_only_wav(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    wav = _wav(tmp_path / "speech.wav")
    refused_alone(wav, tiny_model, good, "an audio file (WAV), no video stream")
    named_mp4 = tmp_path / "speech.mp4"
    shutil.copy(wav, named_mp4)
    refused_alone(named_mp4, tiny_model, good, "an audio file (WAV), no video stream")


@pytest.mark.ffmpeg
@pytest.mark.parametrize(
    ("name", "codec", "cause"),
    [
        ("song.m4a", "aac", "an audio file (M4A), no video stream"),
        ("song.mp4", "aac", None),  # MP4 brand "isom": told apart by its tracks
        ("song.mkv", "pcm_s16le", "no video track in this Matroska/WebM file (audio only)"),
        ("song.ogg", "libvorbis", "an audio file (Ogg), no video stream"),
    ],
)
def test_audio_only_containers(tmp_path: Path, tiny_model: Path, good: Path, ffmpeg, name, codec, cause) -> None:
    bad = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", codec, bad)
    if cause is None:
        brand = bad.read_bytes()[8:12]
        cause = "an audio file (M4A), no video stream" if brand == b"M4A " else "no video track in this MP4/MOV file"
    refused_alone(bad, tiny_model, good, cause)


@pytest.mark.subprocess
def test_fifo_named_like_a_video_does_not_hang(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    # Opening a FIFO for reading blocks until a writer comes: a child process, so that a hang
    # fails this test instead of stopping the suite.
    done = cli(["predict", good, fifo, "--model", tiny_model, "--json"])
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err
    assert err.splitlines() == [
        f"vidclass: {fifo}: not a regular file (a FIFO, device or socket); give a video file",
        "1 classified, 1 failed",
    ]
    assert [json.loads(line).get("error") is None for line in done.stdout.decode().splitlines()] == [True, False]


def test_device_is_refused(tiny_model: Path, good: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    refused_alone(Path("/dev/zero"), tiny_model, good, "not a regular file")


def test_unreadable_file(tmp_path: Path, tiny_model: Path, good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests run as root, where chmod 000 does not stop reading: the permission check itself is
    # made to say no, as it does for any other user (test_unreadable_file_for_real covers that).
    bad = write_video(tmp_path / "locked.avi", solid_frames(["red"] * 5), 10)
    real_access = os.access
    monkeypatch.setattr(diagnose.os, "access", lambda p, mode, **kw: Path(p) != bad and real_access(p, mode))
    refused_alone(bad, tiny_model, good, "permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_unreadable_file_for_real(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    bad = write_video(tmp_path / "locked.avi", solid_frames(["red"] * 5), 10)
    bad.chmod(0)
    try:
        refused_alone(bad, tiny_model, good, "permission denied")
    finally:
        bad.chmod(0o644)


def test_symlink_loop_and_name_too_long(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    loop = tmp_path / "loop.mp4"
    os.symlink(loop, loop)
    refused_alone(loop, tiny_model, good, "broken symbolic link")
    long_name = tmp_path / ("x" * 300 + ".mp4")
    refused_alone(long_name, tiny_model, good, "cannot be read (File name too long)")


def test_folder_named_like_a_video_through_the_api(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").mkdir()
    with pytest.raises(InputError, match=r"x\.mp4: is a folder, not a video file"):
        VideoFile(tmp_path / "x.mp4")


# -- damaged files that are classified on what decodes -----------------------------------------------


@pytest.mark.ffmpeg
@pytest.mark.parametrize("percent", [10, 50, 90])
def test_faststart_mp4_cut_short_decodes_partially(
    tmp_path: Path, tiny_model: Path, good: Path, ffmpeg, percent: int
) -> None:
    whole = h264_faststart(ffmpeg, tmp_path, textured(COLOURS))
    cut = tmp_path / f"cut{percent}.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * percent // 100])
    expected = ffmpeg_frame_count(ffmpeg.exe, cut)
    assert 0 < expected < 30  # the file is really cut, and there is something left to decode
    video, frames = decoded(cut)
    assert len(frames) >= expected - 1  # what FFmpeg itself decodes, give or take the frame in flight
    assert [colour_of(f.image) for f in frames] == COLOURS[: len(frames)]  # the beginning, in order
    record = classified_alone(cut, tiny_model, good)
    assert f"decoded {len(frames)} of the 30 frames the header announces" in " ".join(record["warnings"])
    assert record["duration_s"] == pytest.approx(len(frames) / 10)


@pytest.mark.parametrize("percent", [50, 90])
def test_avi_cut_short_decodes_partially(tmp_path: Path, tiny_model: Path, good: Path, percent: int) -> None:
    whole = write_video(tmp_path / "whole.avi", textured(COLOURS), 10).read_bytes()
    cut = tmp_path / f"cut{percent}.avi"
    cut.write_bytes(whole[: len(whole) * percent // 100])
    video, frames = decoded(cut)
    assert 0 < len(frames) < 30
    assert [colour_of(f.image) for f in frames] == COLOURS[: len(frames)]
    record = classified_alone(cut, tiny_model, good)
    assert f"decoded {len(frames)} of the 30 frames" in " ".join(record["warnings"])


@pytest.mark.ffmpeg
@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_corrupted_packets_in_the_middle(tmp_path: Path, tiny_model: Path, good: Path, ffmpeg, codec, where) -> None:
    source = write_video(tmp_path / "src.avi", textured(COLOURS), 10)
    clean = tmp_path / "clean.mp4"
    ffmpeg("-i", source, "-c:v", codec, "-g", "5", "-movflags", "+faststart", clean)
    data = bytearray(clean.read_bytes())
    start, length = int(len(data) * where), len(data) // 50
    data[start : start + length] = np.random.default_rng(7).integers(0, 256, length, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    expected = ffmpeg_frame_count(ffmpeg.exe, damaged)
    if expected == 0:  # the damage hit what every frame needs: refused like any undecodable file
        refused_alone(damaged, tiny_model, good, "damaged or truncated MP4/MOV file")
        return
    video, frames = decoded(damaged)
    # Decoding goes on past the damage: as many frames as FFmpeg itself gets, up to the end.
    assert len(frames) >= expected - 1
    record = classified_alone(damaged, tiny_model, good)
    assert record["frames"] >= expected - 1


class _Capture:
    """cv2.VideoCapture of a file whose frames 3, 4 and 5 fail to decode (a damaged packet each)."""

    def __init__(self, frames: int = 10, bad: tuple[int, ...] = (3, 4, 5)) -> None:
        self.frames, self.bad, self.n = frames, bad, 0
        self.image = solid_frames(["red"])[0]

    def isOpened(self) -> bool:  # noqa: N802 -- OpenCV's naming
        return True

    def set(self, prop: int, value: float) -> bool:
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: 10.0, cv2.CAP_PROP_FRAME_COUNT: self.frames}.get(prop, 100.0 * (self.n - 1))

    def read(self):
        self.n += 1
        if self.n > self.frames or self.n - 1 in self.bad:
            return False, None
        return True, self.image

    def release(self) -> None:
        pass


def test_decoding_goes_on_after_frames_that_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: the first failed read ended the video (an H.264 file with one bad packet gave 0 frames).
    path = write_video(tmp_path / "v.avi", solid_frames(["red"] * 2), 10)
    monkeypatch.setattr(files.cv2, "VideoCapture", lambda *a: _Capture())
    video, frames = decoded(path)
    assert [round(f.time_s, 3) for f in frames] == [0.0, 0.1, 0.2, 0.6, 0.7, 0.8, 0.9]  # the gap is kept
    assert video.warnings == ["damaged data: decoding failed 3 time(s) and went on with the next frame that decodes"]
    assert video.duration_s == pytest.approx(1.0)


# -- unusual but valid files -------------------------------------------------------------------------


def test_one_frame_mp4_and_fewer_frames_than_the_model_minimum(tmp_path: Path, good: Path) -> None:
    # (One frame in an AVI is in test_cli.py.) A model whose minimum is 9 frames, like I3D's.
    model = make_tiny_model(tmp_path / "min9.onnx", tiny_spec(min_frames=9, window_frames=16, hop_frames=8))
    for frames in (1, 5):
        video = write_video(tmp_path / f"n{frames}.mp4", solid_frames(["blue"] * frames), 10, "mp4v")
        record = classified_alone(video, model, good)
        assert record["frames"] == frames and record["short"] is True
        assert record["top"][0]["label"] == "blue"
        assert any("held to the model's minimum of 9" in w for w in record["warnings"])


@pytest.mark.ffmpeg
def test_grayscale(tmp_path: Path, tiny_model: Path, good: Path, ffmpeg) -> None:
    gray_avi = tmp_path / "gray.avi"
    writer = cv2.VideoWriter(str(gray_avi), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48), isColor=False)
    for level in range(0, 250, 10):
        writer.write(np.full((48, 64), level, np.uint8))
    writer.release()
    gray_mkv = tmp_path / "gray.mkv"  # a real gray pixel format (FFV1 gray), not a colour file of gray
    ffmpeg("-i", gray_avi, "-pix_fmt", "gray", "-c:v", "ffv1", gray_mkv)
    for path in (gray_avi, gray_mkv):
        video, frames = decoded(path)
        assert len(frames) == 25
        for frame in frames:
            assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
            assert np.array_equal(frame.image[..., 0], frame.image[..., 2])  # R = G = B
        record = classified_alone(path, tiny_model, good)
        scores = [t["score"] for t in record["top"]]
        assert scores == pytest.approx([1 / 3] * 3, abs=0.02)  # no colour: the colour model cannot choose


@pytest.mark.ffmpeg
@pytest.mark.parametrize(
    ("height", "width"), [(2160, 3840), (97, 225), (225, 97), (64, 36), (2, 2), (3, 1000)],
    ids=["4k", "odd-225x97", "portrait-97x225", "portrait-36x64", "2x2", "3x1000"],
)
def test_frame_sizes(tmp_path: Path, tiny_model: Path, good: Path, ffmpeg, height: int, width: int) -> None:
    frames = solid_frames(["red"] * 3 + ["blue"] * 6, (height, width))
    path = ffmpeg_video(ffmpeg, tmp_path / f"{width}x{height}.mkv", frames, 10, "-c:v", "ffv1")
    video, frames = decoded(path)
    assert len(frames) == 9 and frames[0].image.shape[:2] == (height, width)
    record = classified_alone(path, tiny_model, good)
    assert record["top"][0]["label"] == "blue"
    assert [w["top"][0]["label"] for w in record["windows"]][-1] == "blue"


def test_extreme_aspect_ratio_is_not_resized_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 2 x 8000 frame, resized whole to I3D's 256 short side, would be 256 x 1,024,000 pixels
    # (786 MB) before the crop; only its centre is resized, and the crop is the same.
    import vidclass.preprocess as preprocess_module

    spec = tiny_spec(resize_short_side=256, crop_height=224, crop_width=224)
    sizes: list[tuple[int, int]] = []
    real_resize = cv2.resize

    def recording_resize(image, size, **kwargs):
        sizes.append(size)
        return real_resize(image, size, **kwargs)

    monkeypatch.setattr(preprocess_module.cv2, "resize", recording_resize)
    thin = np.zeros((2, 8000, 3), np.uint8)
    thin[:, 3990:4010] = 255  # the centre, which the crop keeps
    out = preprocess_module.preprocess_frame(thin, spec)
    assert out.shape == (224, 224, 3) and out.max() > 0.9  # the bright centre is there
    assert sizes[0][0] * sizes[0][1] <= 8 * 224 * 256  # not 256 x 1,024,000
    # A wide frame past the limit gives the crop that resizing it whole gives.
    wide = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (40, 1600, 3), dtype=np.uint8), (0, 0), 3)
    bounded = preprocess_module.preprocess_frame(wide, spec)
    exact = real_resize(wide, (10240, 256), interpolation=cv2.INTER_LINEAR)[16:240, 5008:5232, ::-1]
    assert sizes[1][0] < 10240
    assert np.abs(bounded - (exact.astype(np.float32) / 127.5 - 1)).max() < 1e-5


@pytest.mark.ffmpeg
def test_rotation_metadata_frames_are_classified_upright(tmp_path: Path, ffmpeg) -> None:
    # Stored landscape (48 x 64: red top half, blue bottom half), shown rotated by 90 degrees, as
    # phones record. "Upright" is what FFmpeg itself shows: its own decode, autorotated.
    frames = []
    for _ in range(10):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:24] = BGR["red"]
        frame[24:] = BGR["blue"]
        frames.append(frame)
    stored = h264_faststart(ffmpeg, tmp_path, frames, "stored.mp4")
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation:v", "90", "-i", stored, "-c", "copy", rotated)
    shown = subprocess.run(
        [ffmpeg.exe, "-v", "error", "-i", str(rotated), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
        capture_output=True, timeout=HANG_S, check=True,
    ).stdout
    assert len(shown) == 64 * 48 * 3  # portrait, as FFmpeg shows it
    upright = np.frombuffer(shown, np.uint8).reshape(64, 48, 3)
    video, decoded_frames = decoded(rotated)
    first = decoded_frames[0].image
    assert first.shape == (64, 48, 3)
    assert np.abs(first.astype(int) - upright).mean() < 8  # the same picture, not turned the other way
    assert colour_of(first[:, :20]) != colour_of(first[:, 28:])  # red and blue side by side now
    # ... and the model is fed that upright picture.
    spec = tiny_spec(value_scale=1.0, value_offset=0.0, channel_order="BGR")
    clip = next(iter_clips(VideoFile(rotated), spec, 8, 4))
    fed = clip.data[0].astype(np.uint8)  # 32 x 32, resized from the 64 x 48 upright frame
    expected = cv2.resize(upright, (32, 43), interpolation=cv2.INTER_LINEAR)[5:37]
    assert np.abs(fed.astype(int) - expected).mean() < 8


@pytest.mark.ffmpeg
def test_variable_frame_rate_is_timed_by_timestamps(tmp_path: Path, tiny_model: Path, good: Path, ffmpeg) -> None:
    # 10 red frames over 3 s, then 30 green frames over 1 s: by count green wins, by time red does.
    source = write_video(tmp_path / "src.avi", solid_frames(["red"] * 10 + ["green"] * 30), 10)
    vfr = tmp_path / "vfr.mkv"
    ffmpeg("-i", source, "-vf", "settb=1/1000,setpts='if(lt(N,10),N*0.3,3+(N-10)/30)/TB'", "-fps_mode",
           "passthrough", "-enc_time_base:v", "1/1000", "-c:v", "mjpeg", "-q:v", "3", vfr)
    video, frames = decoded(vfr)
    times = [f.time_s for f in frames]
    assert len(frames) == 40
    assert times[:11] == pytest.approx([0.3 * i for i in range(11)], abs=1e-3)
    assert times[-1] == pytest.approx(3 + 29 / 30, abs=2e-3)
    record = classified_alone(vfr, tiny_model, good)
    assert record["top"][0]["label"] == "red"
    assert record["frames"] == round(video.duration_s * 10)


def _patch_avi(source: Path, target: Path, *, rate=None, scale=None, usec=None, frames=None) -> Path:
    """Rewrite an AVI's header fields: frame rate (strh dwRate/dwScale, avih dwMicroSecPerFrame)
    and frame count (avih dwTotalFrames, strh dwLength)."""
    data = bytearray(source.read_bytes())
    avih, strh = data.find(b"avih") + 8, data.find(b"strh") + 8
    for value, offset in ((usec, avih), (frames, avih + 16), (scale, strh + 20), (rate, strh + 24),
                          (frames, strh + 32)):
        if value is not None:
            data[offset : offset + 4] = struct.pack("<I", value)
    target.write_bytes(bytes(data))
    return target


def test_frame_rate_reported_as_zero(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    base = write_video(tmp_path / "base.avi", solid_frames(["red"] * 10 + ["blue"] * 20), 10)
    zero = _patch_avi(base, tmp_path / "fps0.avi", rate=0, usec=0)
    # FFmpeg gives such a stream its default of 25 fps; the frames come in that order and timing.
    video, frames = decoded(zero)
    assert len(frames) == 30 and frames[1].time_s == pytest.approx(1 / FALLBACK_FPS)
    record = classified_alone(zero, tiny_model, good)
    assert record["duration_s"] == pytest.approx(30 / FALLBACK_FPS) and record["top"][0]["label"] == "blue"


@pytest.mark.parametrize(("rate", "scale", "shown"), [(1_000_000, 1, "1e+06 fps"), (1, 1000, "0.001 fps")],
                         ids=["1e6-fps", "0.001-fps"])
def test_absurd_frame_rate_is_replaced(tmp_path: Path, tiny_model: Path, good: Path, rate, scale, shown) -> None:
    # Before: 1e6 fps squeezed 30 frames into 30 microseconds (one model frame for the whole video);
    # 0.001 fps stretched them over 8 hours (300,000 model frames to classify).
    base = write_video(tmp_path / "base.avi", solid_frames(["red"] * 10 + ["blue"] * 20), 10)
    absurd = _patch_avi(base, tmp_path / "absurd.avi", rate=rate, scale=scale, usec=max(1, 10**6 * scale // rate))
    video, frames = decoded(absurd)
    assert [f.time_s for f in frames] == pytest.approx([i / FALLBACK_FPS for i in range(30)])
    assert len(video.warnings) == 1 and f"frame rate {shown}" in video.warnings[0]
    record = classified_alone(absurd, tiny_model, good)
    assert record["duration_s"] == pytest.approx(30 / FALLBACK_FPS)
    assert record["frames"] == round(30 / FALLBACK_FPS * 10)
    assert any(f"frames timed at {FALLBACK_FPS:g} fps instead" in w for w in record["warnings"])


@pytest.mark.parametrize(("announced", "warned"), [(5000, True), (3, False), (0, False)])
def test_wrong_frame_count_in_the_header(tmp_path: Path, tiny_model: Path, good: Path, announced, warned) -> None:
    base = write_video(tmp_path / "base.avi", solid_frames(["red"] * 10 + ["blue"] * 20), 10)
    wrong = _patch_avi(base, tmp_path / "wrong.avi", frames=announced)
    record = classified_alone(wrong, tiny_model, good)
    assert record["frames"] == 30 and record["duration_s"] == pytest.approx(3.0)  # every frame, whatever it says
    assert ("decoded 30 of the 5000 frames the header announces" in " ".join(record["warnings"])) is warned


# -- paths: spaces, unicode, bytes that are not UTF-8 ------------------------------------------------


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "env", [{"LC_ALL": "C"}, {"LC_ALL": "C.UTF-8"}, {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict"}],
    ids=["C", "C.UTF-8", "strict-utf-8"],
)
def test_paths_with_spaces_unicode_and_non_utf8_bytes(tmp_path: Path, tiny_model: Path, env) -> None:
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 12), 10)
    # Relative names, run from tmp_path: the table's title lines stay short enough not to wrap.
    names = [b"with  spaces.avi", "vid\u00e9o \u65e5\u672c \U0001f3ac.avi".encode(), b"caf\xe9 \xff.avi"]
    for name in names:
        shutil.copy(video, os.path.join(os.fsencode(tmp_path), name))
    missing = b"missing \xfe.avi"
    shown = "missing \\xfe.avi"  # the byte itself, as ls -b shows it (vidclass.text.for_terminal)
    for mode in ([], ["--json"], ["--csv"]):
        done = cli(["predict", *names, missing, "--model", tiny_model, *mode], env=env, cwd=tmp_path)
        out, err = done.stdout, done.stderr.decode("utf-8")
        assert done.returncode == 1 and "Traceback" not in err, err
        assert err.splitlines() == [f"vidclass: {shown}: no such file", "3 classified, 1 failed"]
        if mode == ["--json"]:
            records = [json.loads(line) for line in out.decode("utf-8").splitlines()]  # valid UTF-8 and JSON
            # The names come back exactly: json.loads, then os.fsencode, gives the original bytes.
            assert [os.fsencode(r["source"]) for r in records] == [*names, missing]
            assert [r.get("error") for r in records] == [None, None, None, "no such file"]
        elif mode == ["--csv"]:
            rows = out.decode("utf-8").splitlines()[1:]  # valid UTF-8: the odd bytes shown as ls -b does
            assert [row.split(",")[1] for row in rows] == ["red", "red", "red", ""]
            assert rows[2].startswith("caf\\xe9 \\xff.avi,red,")
        else:
            for name in names:  # the table names each file visibly: a byte that is not UTF-8 as \xNN
                assert for_terminal(os.fsdecode(name)).encode() + b"  1.2 s" in out
            assert b"caf\\xe9 \\xff.avi  1.2 s" in out
    # The Python API takes such a path too (OpenCV crashed on it: a segmentation fault).
    result = Classifier(tiny_model).predict(os.fsdecode(os.path.join(os.fsencode(tmp_path), names[2])))
    assert result.top[0].label == "red"


def test_model_path_that_is_not_utf8(tmp_path: Path) -> None:
    model = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"mod\xe8le.onnx"))
    make_tiny_model(Path(model))
    video = write_video(tmp_path / "v.avi", solid_frames(["blue"] * 12), 10)
    assert Classifier(model).predict(video).top[0].label == "blue"


@pytest.mark.subprocess
def test_output_video_name_that_is_not_utf8(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    target = os.path.join(os.fsencode(tmp_path), b"out\xff.mp4")
    done = cli(["predict", good, "--model", tiny_model, "--output-video", target])
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err  # was a segmentation fault (-11)
    assert "the file name is not valid UTF-8" in err and not os.path.exists(target)


# -- models ------------------------------------------------------------------------------------------


def _image_classifier(path: Path, meta: dict[str, str] | None = None) -> Path:
    """Another network: an image classifier, input [N, 3, 32, 32], output [N, 3]."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [3, 3], np.eye(3, dtype=np.float32).flatten())
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "image-classifier", [image], [logits], initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    helper.set_model_props(model, meta or {})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("meta", "cause"),
    [(None, "no vidclass metadata in this ONNX file"), ("copied", "input has rank 4, a video model takes 5")],
    ids=["another network", "another network with vidclass metadata"],
)
def test_onnx_of_another_network(tmp_path: Path, good: Path, meta, cause: str) -> None:
    model = _image_classifier(tmp_path / "other.onnx", tiny_spec().to_metadata() if meta else None)
    result = invoke("predict", good, good, "--model", model, "--json")
    assert result.exit_code == 3 and result.stdout == "" and "Traceback" not in result.output
    assert result.stderr.startswith(f"vidclass: {model}: {cause}") and result.stderr.count("\n") == 1


# -- output: pipes, Ctrl-C, files ---------------------------------------------------------------------


@pytest.mark.subprocess
@pytest.mark.parametrize("mode", [["--json"], ["--csv"], [], pytest.param(["--json", "--workers", "2"], marks=SPAWN)],
                         ids=["json", "csv", "table", "json-2-workers"])
def test_reader_that_goes_away_ends_the_run_quietly(tmp_path: Path, tiny_model: Path, good: Path, mode) -> None:
    # `vidclass predict a.mp4 ... --json | head -1`: a real pipe, the status of vidclass itself.
    # 200 inputs: more output than a pipe holds, so vidclass does write into the closed pipe.
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"{good}\n" * 200)
    script = '"$@" | head -1; exit "${PIPESTATUS[0]}"'
    command = [*VIDCLASS, "predict", str(good), f"@{listing}", "--model", str(tiny_model), *mode]
    done = subprocess.run(["bash", "-c", script, "bash", *command], capture_output=True, text=True, timeout=HANG_S)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no traceback, no "Exception ignored", no BrokenPipeError
    assert len(done.stdout.splitlines()) == 1


@pytest.fixture()
def many_inputs(tmp_path: Path) -> Path:
    video = write_video(tmp_path / "clip.avi", textured(["red"] * 60, (120, 160)), 10)
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"{video}\n" * 200)
    return listing


@pytest.mark.subprocess
@pytest.mark.kill
@pytest.mark.parametrize("mode", [["--json"], pytest.param(["--json", "--workers", "2"], marks=SPAWN),
                                  ["--output", "{out}"], ["--csv"]],
                         ids=["json", "json-2-workers", "output-file", "csv"])
def test_ctrl_c_during_a_batch_leaves_whole_records_and_a_summary(
    tmp_path: Path, tiny_model: Path, many_inputs: Path, mode: list[str]
) -> None:
    out = tmp_path / "results.jsonl"
    mode = [m.replace("{out}", str(out)) for m in mode]
    command = [*VIDCLASS, "predict", f"@{many_inputs}", "--model", str(tiny_model), *mode]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=interruptible)
    try:
        if "--output" in mode:  # nothing on stdout: wait for the first record in the file
            waited = threading.Event()
            for _ in range(HANG_S * 20):
                if out.exists() and out.read_bytes().count(b"\n") >= 1:
                    break
                waited.wait(0.05)
        else:
            ready, _, _ = select.select([proc.stdout], [], [], HANG_S)
            assert ready, "no result arrived"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=HANG_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = stderr.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and re.fullmatch(r"vidclass: interrupted after \d+ classified, 0 failed.*", lines[0])
    done = int(re.search(r"after (\d+) classified", lines[0]).group(1))
    assert done < 200  # it was interrupted mid-way
    written = out.read_bytes() if "--output" in mode else stdout
    assert written.endswith(b"\n") or written == b""  # whole lines only
    if "--csv" in mode:
        assert len(written.splitlines()) == done + 1  # the header, then one row per result
    else:
        records = [json.loads(line) for line in written.splitlines()]
        assert len(records) == done and all(r["top"][0]["label"] == "red" for r in records)
    if "--output" in mode:
        assert "--resume continues" in lines[0]


def test_output_video_is_never_half_written_nor_the_input(
    tmp_path: Path, tiny_model: Path, good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vidclass.outputs.annotate as annotate

    target = tmp_path / "annotated.mp4"
    target.write_bytes(b"an earlier result")
    calls = {"n": 0}
    real_draw = annotate.draw

    def draw_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(annotate, "draw", draw_then_interrupt)
    result = invoke("predict", good, "--model", tiny_model, "--output-video", target, "--force")
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert target.read_bytes() == b"an earlier result"  # replaced only when complete
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["annotated.mp4", "good.avi", "tiny.onnx"])
    # --force replaces an earlier result, never the video being classified.
    before = good.read_bytes()
    same = invoke("predict", good, "--model", tiny_model, "--output-video", good, "--force")
    assert same.exit_code == 2 and "is the input video itself" in same.stderr
    assert good.read_bytes() == before


# -- streams: a server that never answers is a timeout, not a hang -----------------------------------


class _SilentServer:
    """Accepts TCP connections on 127.0.0.1 and then says nothing (or only HTTP headers)."""

    def __init__(self, headers: bytes = b"") -> None:
        self.headers = headers
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(conn)
            if self.headers:
                conn.recv(65536)
                conn.sendall(self.headers)

    def __enter__(self) -> _SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.socket.close()
        for conn in self.connections:
            conn.close()


MJPEG_HEADERS = b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n"


@pytest.mark.network
@pytest.mark.subprocess
@pytest.mark.parametrize(("scheme", "headers"), [("http", b""), ("http", MJPEG_HEADERS), ("rtsp", b"")],
                         ids=["http-silent", "http-headers-then-nothing", "rtsp-silent"])
def test_stream_that_never_sends_a_frame_times_out(tiny_model: Path, scheme: str, headers: bytes) -> None:
    with _SilentServer(headers) as server:
        url = f"{scheme}://127.0.0.1:{server.port}/live"
        with pytest.raises(InputError, match=re.escape(url)):
            stream = NetworkStream(url, timeout_s=1.0)
            list(stream)  # opened (headers only): the first frame never comes
        done = cli(["watch", url, "--model", tiny_model, "--timeout", "1"])
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith(f"vidclass: {url}: ")
