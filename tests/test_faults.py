"""Faults and bombs: a full disk, two writers, resuming damaged files, inputs that would take
unbounded time or memory, and network servers that misbehave.

Each test checks the exit code (or the exception), the one line that says what happened, and what
is left in the output.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from mjpeg import MjpegServer, RawServer
from synthetic import VIDCLASS, solid_frames, write_video

from vidclass.errors import InputError, OutputError, UsageError
from vidclass.outputs.records import MAX_RECORD_BYTES, open_output, source_key
from vidclass.results import ErrorResult
from vidclass.sources import NetworkStream, VideoFile, expand_inputs, inputs, streams
from vidclass.sources.frames import MAX_PIXELS, pixel_budget
from vidclass.sources.inputs import MAX_FOLDER_DEPTH

HANG_S = 120


def cli(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None, stdin=None):
    command = [*VIDCLASS, *(os.fspath(a) for a in args)]
    return subprocess.run(
        command, capture_output=True, cwd=cwd, env={**os.environ, **(env or {})}, stdin=stdin, timeout=HANG_S
    )


def lines(stream: bytes) -> list[str]:
    return stream.decode("utf-8", "replace").splitlines()


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    return write_video(tmp_path / "good.avi", solid_frames(["green"] * 12), 10)


# -- a full disk --------------------------------------------------------------------------------------


@pytest.mark.subprocess
def test_full_device_is_one_line_and_exit_1(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    (tmp_path / "full.jsonl").symlink_to("/dev/full")
    done = cli("predict", good, "--model", tiny_model, "--output", tmp_path / "full.jsonl", "--force")
    assert done.returncode == 1 and lines(done.stderr) == [
        f"vidclass: {tmp_path / 'full.jsonl'}: cannot write (No space left on device)"
    ]
    command = [*VIDCLASS, "predict", good, "--model", tiny_model]
    with open("/dev/full", "wb", buffering=0) as full:  # standard output on a full disk
        done = subprocess.run([*command, "--json"], stdout=full, stderr=subprocess.PIPE, timeout=HANG_S)
    assert done.returncode == 1
    assert lines(done.stderr) == ["vidclass: standard output: cannot write (No space left on device)"]


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A 64 KB tmpfs, all but one 4 KB page of it taken: the output file gets one page."""
    mount = tmp_path / "small"
    mount.mkdir()
    tried = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mount], capture_output=True)
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {tried.stderr.decode().strip()}")
    try:
        (mount / "filler").write_bytes(b"\0" * (15 * 4096))
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], check=False)


@pytest.mark.subprocess
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_disk_full_mid_run_leaves_whole_records_and_resume_finishes(
    small_disk: Path, tmp_path: Path, tiny_model: Path, suffix: str
) -> None:
    # Inputs that do not exist make error records at once: long names fill the page in ~16 records.
    names = [f"missing-{'x' * 200}-{i:02d}.avi" for i in range(40)]
    out = small_disk / f"out{suffix}"
    done = cli("predict", *names, "--model", tiny_model, "--output", out, cwd=tmp_path)
    err = lines(done.stderr)
    assert done.returncode == 1 and "Traceback" not in done.stderr.decode()
    assert err[-1] == (
        f"vidclass: {out}: cannot write (No space left on device); it holds whole records only: "
        f"free some space, then --resume continues {out}"
    )
    assert sum("cannot write" in line for line in err) == 1
    data = out.read_bytes()
    assert 0 < len(data) <= 4096
    if suffix == ".jsonl":
        assert data.endswith(b"\n")
        written = [json.loads(line)["source"] for line in data.decode().splitlines()]  # every line whole
    else:
        assert data.endswith(b"\r\n")
        rows = data.decode("utf-8-sig").split("\r\n")[1:-1]
        assert all(row.count(",") == 10 for row in rows)  # 11 columns: top-3
        written = [row.split(",")[0] for row in rows]
    assert written == names[: len(written)] and 5 < len(written) < 40
    # Space again: --resume takes the file up where the disk filled, each source exactly once.
    (small_disk / "filler").unlink()
    done = cli("predict", *names, "--model", tiny_model, "--output", out, "--resume", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{out}: {len(written)} done before, {40 - len(written)} to go" in lines(done.stderr)
    text = out.read_text(encoding="utf-8-sig")
    again = [json.loads(line)["source"] for line in text.splitlines()] if suffix == ".jsonl" else [
        row.split(",")[0] for row in text.split("\n")[1:-1]
    ]
    assert again == names


def test_a_write_that_fails_part_way_is_cut_back(small_disk: Path) -> None:
    path = small_disk / "out.jsonl"
    out = open_output(path, 3)
    written = 0
    with pytest.raises(OutputError) as failed:
        while True:
            out.write(ErrorResult("m" * 300, "no such file"))
            written += 1
    out.close()
    assert str(failed.value).startswith(f"{path}: cannot write (No space left on device); it holds whole records")
    record = len(json.dumps({"source": "m" * 300, "error": "no such file"}, ensure_ascii=False)) + 1
    assert path.stat().st_size == written * record  # not a byte of the record that did not fit


# -- two runs, one file -------------------------------------------------------------------------------


@pytest.mark.subprocess
def test_a_second_writer_is_refused_with_the_holder(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    path = tmp_path / "out.jsonl"
    first = open_output(path, 3)
    first.write(ErrorResult("first.avi", "no such file"))
    try:
        for flags in ([], ["--force"], ["--resume"]):
            done = cli("predict", good, "--model", tiny_model, "--output", path, *flags)
            assert done.returncode == 2, done.stderr
            [line] = lines(done.stderr)
            assert line.startswith(f"vidclass: {path}: another run is writing it (pid {os.getpid()}")
        with pytest.raises(UsageError, match=f"another run is writing it \\(pid {os.getpid()}"):
            open_output(path, 3, force=True)
        # --force did not empty the file before it found the lock: the first run's record is there.
        assert path.read_text() == '{"source": "first.avi", "error": "no such file"}\n'
    finally:
        first.close()
    again = open_output(path, 3, resume=True)  # the lock went with the first run
    again.close()
    assert again.done == {"first.avi"}


@pytest.mark.subprocess
def test_two_runs_at_once(tmp_path: Path, tiny_model: Path, good: Path) -> None:
    """Two real processes: the first holds the file while it waits for its inputs on stdin."""
    path = tmp_path / "out.jsonl"
    command = [*VIDCLASS, "predict", "--model", tiny_model,
               "--output", path, "--force"]
    first = subprocess.Popen([*command, "-"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        started = time.monotonic()
        while not path.exists() and time.monotonic() - started < HANG_S:
            time.sleep(0.05)
        second = subprocess.run([*command, good], capture_output=True, timeout=HANG_S)
        assert second.returncode == 2
        [line] = lines(second.stderr)
        assert line.startswith(f"vidclass: {path}: another run is writing it (pid {first.pid}: ")
        _, err = first.communicate(f"{good}\n".encode(), timeout=HANG_S)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert [json.loads(line)["source"] for line in path.read_text().splitlines()] == [str(good)]


# -- --resume on damaged files ------------------------------------------------------------------------

RECORD = '{"source": "a.avi", "error": "no such file"}'
CSV_HEADER = "source,top1_label,top1_score,label_1,score_1,label_2,score_2,label_3,score_3,duration_s,error\r\n"


@pytest.mark.parametrize(
    ("fmt", "content", "kept", "repaired"),
    [
        ("jsonl", RECORD, ["a.avi"], False),  # complete, only its newline missing: kept
        ("jsonl", RECORD + "\n" + RECORD[:20], ["a.avi"], True),  # cut in the middle: cut off
        ("csv", CSV_HEADER + "a.avi,,,,,,,,,,no such file", ["a.avi"], False),
        ("csv", CSV_HEADER + "a.avi,,,,,,,,,,no such file\r\n\"b.avi,,", ["a.avi"], True),  # open quote
        ("csv", CSV_HEADER + "\"two\nlines.avi\",,,,,,,,,,x\r\nb.avi,,,,", ["two\nlines.avi"], True),
        ("csv", "\ufeffsource,top1_la", [], True),  # the header itself was cut
    ],
)
def test_resume_keeps_every_complete_record(
    tmp_path: Path, fmt: str, content: str, kept: list[str], repaired: bool
) -> None:
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(content.encode())
    out = open_output(path, 3, resume=True)
    out.write(ErrorResult("new.avi", "no such file"))
    out.close()
    assert out.done == {source_key(s) for s in kept} and out.existing == len(kept) and out.repaired is repaired
    text = path.read_text(encoding="utf-8-sig")
    if fmt == "jsonl":
        assert [json.loads(line)["source"] for line in text.splitlines()] == [*kept, "new.avi"]
    else:
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert [row[0] for row in rows[1:]] == [*kept, "new.avi"] and len(rows[0]) == 11


def test_resume_cut_inside_a_character(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes((RECORD + "\n").encode() + '{"source": "caf\u00e9.avi"}'.encode()[:14])  # half of é
    out = open_output(path, 3, resume=True)
    out.close()
    assert out.repaired and path.read_bytes() == (RECORD + "\n").encode()


@pytest.mark.parametrize(
    ("name", "content", "cause"),
    [
        ("huge.csv", CSV_HEADER + '"' + "x" * 200_000 + '",,,,,,,,,,\r\nb.avi,,,,,,,,,,\r\n', "field larger than"),
        ("huge.jsonl", '{"source": "' + "x" * (MAX_RECORD_BYTES + 10), f"longer than {MAX_RECORD_BYTES} bytes"),
        ("theirs.csv", "a,b", "it is not a vidclass CSV"),
        ("theirs.jsonl", "[1, 2]\n" + RECORD + "\n", "line 1 is not a vidclass record"),
    ],
)
def test_resume_refuses_what_it_cannot_read_and_leaves_it(tmp_path: Path, name: str, content: str, cause: str):
    path = tmp_path / name
    path.write_bytes(content.encode())
    with pytest.raises(UsageError) as refused:
        open_output(path, 3, resume=True)
    assert str(refused.value).startswith(f"{path}: cannot resume") and cause in str(refused.value)
    assert "\n" not in str(refused.value) and path.read_bytes() == content.encode()


# -- bombs: folders, lists ----------------------------------------------------------------------------


def _remove_tree(top: Path) -> None:
    """shutil.rmtree (and so pytest's own clean-up of tmp_path) recurses once per level: not here."""
    stack = [os.fspath(top)]
    while stack:
        entries = list(os.scandir(stack[-1]))
        folders = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)
        if folders:
            stack += folders
        else:
            os.rmdir(stack.pop())


@pytest.fixture()
def deep_folder(tmp_path: Path):
    """A folder with a video, and another video 1000 folders further down."""
    root = tmp_path / "deep"
    deepest = os.fspath(root)
    try:
        for _ in range(1001):  # pathlib's mkdir(parents=True) and os.makedirs recurse too
            os.mkdir(deepest)
            deepest = os.path.join(deepest, "d")
        write_video(root / "top.avi", solid_frames(["red"] * 12), 10)
        write_video(Path(os.path.dirname(deepest)) / "bottom.avi", solid_frames(["red"] * 12), 10)
        (root / "d" / "loop").symlink_to(root)  # a link back up: not followed
        yield root
    finally:
        _remove_tree(root)


@pytest.mark.subprocess
def test_a_folder_nested_1000_deep(deep_folder: Path, tiny_model: Path) -> None:
    root = deep_folder
    items = list(expand_inputs([root]))
    assert items[0] == root / "top.avi" and len(items) == 2
    assert isinstance(items[1], InputError) and items[1].cause == (
        f"folders nested more than {MAX_FOLDER_DEPTH} deep: the search stopped at that depth"
    )
    globbed = list(expand_inputs([f"{root}/**/*.avi"]))
    assert globbed[0] == root / "top.avi" and isinstance(globbed[1], InputError)
    done = cli("predict", root, "--model", tiny_model, "--json")
    assert done.returncode == 1 and "RecursionError" not in done.stderr.decode()
    records = [json.loads(line) for line in lines(done.stdout)]
    assert [r["source"] for r in records] == [str(root / "top.avi"), str(root)]
    assert "nested more than" in records[1]["error"]


def test_a_folder_link_loop_ends(tmp_path: Path) -> None:
    root = tmp_path / "loop"
    (root / "a").mkdir(parents=True)
    write_video(root / "a" / "v.avi", solid_frames(["red"] * 3), 10)
    (root / "a" / "up").symlink_to(root)
    assert list(expand_inputs([root])) == [root / "a" / "v.avi"]
    assert list(expand_inputs([f"{root}/**/*.avi"])) == [root / "a" / "v.avi"]


def test_folder_entries_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(30):
        (tmp_path / f"{i:02d}.avi").write_bytes(b"x")
    monkeypatch.setattr(inputs, "MAX_FOLDER_ENTRIES", 10)
    items = list(expand_inputs([tmp_path]))
    assert len(items) == 11 and "more than 10 files and folders" in items[-1].cause


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (None, "line 1 holds NUL bytes: not a text list of paths"),  # /dev/zero
        ("x" * 20_000 + "\n", "line 1 is longer than 16384 characters: not a list of paths"),
        ("a.avi\n" * 12, "more than 10 entries: split it into several lists"),
        ("# comment\n" * 5000, "longer than 0 MiB: split it into several lists"),
    ],
)
def test_lists_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, cause: str):
    monkeypatch.setattr(inputs, "MAX_LIST_ENTRIES", 10)
    monkeypatch.setattr(inputs, "MAX_LIST_BYTES", 40_000)
    listing = "/dev/zero" if content is None else tmp_path / "list.txt"
    if content is not None:
        Path(listing).write_text(content)
    items = list(expand_inputs([f"@{listing}"]))
    assert len(items) == 1 and items[0].cause == cause


@pytest.mark.subprocess
def test_dev_zero_as_a_list_and_as_stdin(tiny_model: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    done = cli("predict", "@/dev/zero", "--model", tiny_model, "--json")
    assert done.returncode == 1
    assert [json.loads(line) for line in lines(done.stdout)] == [
        {"source": "@/dev/zero", "error": "line 1 holds NUL bytes: not a text list of paths"}
    ]
    with open("/dev/zero", "rb") as zero:
        done = cli("predict", "-", "--model", tiny_model, "--json", stdin=zero)
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"] == "line 1 holds NUL bytes: not a text list of paths"


# -- bombs: time and pixels ---------------------------------------------------------------------------


@pytest.mark.ffmpeg
@pytest.mark.subprocess
def test_a_timestamp_gap_is_cut(tmp_path: Path, tiny_model: Path) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the test extra's imageio-ffmpeg makes the file")
    gap = tmp_path / "gap.mkv"  # 10 frames at 10 fps, the last 5 a million seconds later: 3 KB
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "color=red:s=64x48:r=10:d=1",
         "-vf", "setpts='if(gte(N,5),PTS+1000000/TB,PTS)'", "-fps_mode", "passthrough", "-c:v", "mjpeg", gap],
        check=True, timeout=HANG_S,
    )
    assert gap.stat().st_size < 8000
    video = VideoFile(gap)
    assert [round(f.time_s, 3) for f in video] == [i / 10 for i in range(10)]
    assert video.duration_s == pytest.approx(1.0) and video.header_frames is None  # 10^7 frames claimed
    assert video.warnings == [
        "the timestamps leap 1000000.1 s forward after 0.400 s: the gap is cut to one frame period (longer than "
        "10 s), so later times are 1000000.0 s earlier than the container's"
    ]
    started = time.monotonic()
    done = cli("predict", gap, "--model", tiny_model, "--json")
    assert done.returncode == 0 and time.monotonic() - started < 60  # was 10^7 resampled frames
    record = json.loads(done.stdout)
    assert record["duration_s"] == pytest.approx(1.0) and record["frames"] == 10
    assert any("leap" in w for w in record["warnings"])


@pytest.fixture(scope="module")
def huge_mjpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 16000 x 16000 frames of raw MJPEG, 6 MB: 1.8 GB of memory when decoded."""
    frame = np.zeros((16000, 16000), np.uint8)
    jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 30])[1].tobytes()
    del frame
    path = tmp_path_factory.mktemp("huge") / "huge.mjpeg"
    path.write_bytes(jpeg * 2)
    return path


@pytest.mark.subprocess
def test_an_oversized_frame_is_refused_before_decoding(huge_mjpeg: Path, tiny_model: Path) -> None:
    assert huge_mjpeg.stat().st_size < 10_000_000
    # VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec (pytest's, here).
    peak = (
        "import re, sys\n"
        "from vidclass.sources import VideoFile\n"
        "try:\n    list(VideoFile(sys.argv[1]))\nexcept Exception as e:\n    print(e)\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", peak, huge_mjpeg], capture_output=True, timeout=HANG_S)
    message, peak_mb = lines(done.stdout)
    assert message == (
        f"{huge_mjpeg}: frames of 16000x16000 (256.0 MP) are over the budget of 33.2 MP a frame; "
        "set VIDCLASS_MAX_PIXELS to allow more"
    )
    assert int(peak_mb) < 500  # decoding both frames took 1.8 GB
    done = cli("predict", huge_mjpeg, "--model", tiny_model, "--json")
    assert done.returncode == 1 and json.loads(done.stdout)["error"].startswith("frames of 16000x16000")
    assert lines(done.stderr)[0].endswith("set VIDCLASS_MAX_PIXELS to allow more")


def test_the_pixel_budget_is_overridable(huge_mjpeg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pixel_budget() == MAX_PIXELS == 7680 * 4320
    monkeypatch.setenv("VIDCLASS_MAX_PIXELS", "300_000_000")
    with VideoFile(huge_mjpeg) as video:  # opened; not decoded here
        assert (video.width, video.height) == (16000, 16000)
    monkeypatch.setenv("VIDCLASS_MAX_PIXELS", "lots")
    with pytest.raises(UsageError, match="VIDCLASS_MAX_PIXELS must be a positive whole number"):
        pixel_budget()


@pytest.mark.network
def test_a_stream_over_the_pixel_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDCLASS_MAX_PIXELS", "1000")
    with MjpegServer(solid_frames(["red"] * 5), 10.0) as server, pytest.raises(InputError) as refused:
        NetworkStream(server.url, timeout_s=5.0)
    assert refused.value.cause == (
        "frames of 64x48 (0.0 MP) are over the budget of 0.0 MP a frame; set VIDCLASS_MAX_PIXELS to allow more"
    )


class _GrowingCamera:
    """A camera whose frames grow past the budget after the first (a source that changes size)."""

    def __init__(self, *args: object) -> None:
        self.n = 0

    def isOpened(self) -> bool:  # noqa: N802 -- OpenCV's naming
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def read(self):
        self.n += 1
        side = 8 if self.n == 1 else 64
        return True, np.zeros((side, side, 3), np.uint8)

    def release(self) -> None:
        pass


def test_every_live_frame_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDCLASS_MAX_PIXELS", "1000")
    monkeypatch.setattr(streams.cv2, "VideoCapture", _GrowingCamera)
    frames = []
    with pytest.raises(InputError, match="frames of 64x64 .* over the budget"):
        for frame in streams.Camera(0):
            frames.append(frame)
    assert len(frames) == 1


# -- hostile servers ----------------------------------------------------------------------------------


def _trickle(conn: socket.socket, stopping: threading.Event) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n" * 100:
        if stopping.wait(0.2):
            return
        conn.sendall(bytes([byte]))


def _not_http(conn: socket.socket, stopping: threading.Event) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.0\x1b]0;pwned\x07\r\n")
    stopping.wait(30)


def _many_headers(conn: socket.socket, stopping: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Padding: y\r\n" * 300 + b"Content-Type: video/mp4\r\n\r\n")
    stopping.wait(30)


def _garbage(conn: socket.socket, stopping: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    rng = np.random.default_rng(0)
    while not stopping.wait(0.01):
        conn.sendall(b"\x00garbage" + rng.bytes(4096))


def _garbage_frames(conn: socket.socket, stopping: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=xx\r\n\r\n")
    rng = np.random.default_rng(0)
    while not stopping.wait(0.05):
        junk = rng.bytes(2000)
        conn.sendall(b"--xx\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(junk), junk))


def _hostile_error(conn: socket.socket, stopping: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 404 Not\x1b[2J\x1b]0;pwned\x07 Found\r\nContent-Length: 0\r\n\r\n")


TIMEOUT_S = 2.0


@pytest.mark.network
@pytest.mark.parametrize(
    ("answer", "cause", "within_s"),
    [
        (_trickle, "the server's HTTP header did not arrive within 2 s (", 2 * TIMEOUT_S),
        (_not_http, 'not an HTTP server (it answered "SSH-2.0-OpenSSH_9.0\\x1b]0;pwned\\x07")', TIMEOUT_S),
        (_many_headers, "the server's HTTP header has more than 100 lines", TIMEOUT_S),
        (_garbage, 'the server sends data that is not a video stream (application/octet-stream, starting "\\x00garb',
         TIMEOUT_S),
        (_garbage_frames, "opened, but no frame arrived (the server sends data (multipart/x-mixed-replace), but no "
         "frame of it decodes: damaged, or not what it claims)", TIMEOUT_S),
        (_hostile_error, "the server answered HTTP 404 Not\\x1b[2J\\x1b]0;pwned\\x07 Found", TIMEOUT_S),
    ],
    ids=["trickled-header", "not-http", "too-many-headers", "garbage", "garbage-frames", "hostile-reason"],
)
def test_hostile_server_is_one_line_within_the_deadline(answer, cause: str, within_s: float) -> None:
    with RawServer(answer) as server:
        started = time.monotonic()
        with pytest.raises(InputError) as failed:
            for _ in NetworkStream(server.url, timeout_s=TIMEOUT_S):
                pass
        elapsed = time.monotonic() - started
    assert failed.value.cause.startswith(cause), failed.value.cause
    assert "\x1b" not in str(failed.value) and "\n" not in str(failed.value)
    assert elapsed < within_s + 1.5  # FFmpeg's open timeout, then the look with its own deadline


@pytest.mark.network
@pytest.mark.subprocess
def test_watch_of_a_hostile_server_is_one_line(tmp_path: Path, tiny_model: Path) -> None:
    with RawServer(_not_http) as server:
        url = server.url
        done = cli("watch", url, "--model", tiny_model, "--timeout", "2", "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr.decode()
    said = 'not an HTTP server (it answered "SSH-2.0-OpenSSH_9.0\\x1b]0;pwned\\x07")'
    assert lines(done.stderr) == [f"vidclass: {url}: {said}"]
