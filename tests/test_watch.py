"""``vidclass watch``: live sources, the capture/inference threads, window skipping and the CLI.

Everything runs on loopback and on synthetic videos with the tiny colour model (red, green and
blue frames are classified as such), plus the frames of a real clip when the shared clips exist.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from mjpeg import MjpegServer, StaticServer
from rich.console import Console
from synthetic import RGB, STREAM_SPEC, VIDCLASS, interruptible, invoke, make_stream_model, solid_frames, write_video

from vidclass import Classifier
from vidclass.clips import Clip
from vidclass.engines.watch import (
    Block,
    BlockFeed,
    Handover,
    StreamState,
    Watch,
    backlog_blocks,
    live_block_frames,
    look_ahead_frames,
)
from vidclass.errors import InputError, UsageError
from vidclass.outputs.render import watch_line, watch_view
from vidclass.outputs.show import overlay
from vidclass.sampling import Window, plan_windows
from vidclass.settings import Mode
from vidclass.sources import Camera, Frame, NetworkStream, VideoFile, open_source, streams


def watch_all(classifier: Classifier, spec: str | Path, **options) -> tuple[list, Watch]:
    with Watch(classifier, open_source(spec), **options) as watch:
        results = list(watch.results())
    return results, watch


def windows_of(results) -> list[tuple]:
    return [(r.start_s, r.end_s, r.top) for r in results]


# -- the same windows and scores as predict -------------------------------------------------------


@pytest.mark.parametrize(
    ("colors", "fps", "window", "hop"),
    [
        (RGB, 10, None, None),  # the model's window and hop, and a tail window
        (RGB, 30, 10, 3),  # resampled from 30 fps, overlapping windows
        (RGB[:37], 10, 8, 8),  # hop = window, tail aligned to the end
        (["blue"] * 5, 10, None, None),  # shorter than one window
        (["red"], 10, None, None),  # one frame, held to the model's minimum
    ],
    ids=["default", "30fps-w10-h3", "w8-h8-tail", "short", "one-frame"],
)
def test_no_realtime_gives_exactly_the_window_scores_of_predict(
    tiny_model: Path, tmp_path: Path, colors: list[str], fps: float, window: int | None, hop: int | None
) -> None:
    video = write_video(tmp_path / "v.avi", solid_frames(colors), fps)
    clf = Classifier(tiny_model, window_frames=window, hop_frames=hop, top_k=3)
    predicted = clf.predict(video)
    results, watch = watch_all(clf, video, realtime=False)
    assert windows_of(results) == [(w.start_s, w.end_s, w.top) for w in predicted.windows]
    summary = watch.summary()
    assert summary.skipped == 0 and summary.windows == len(predicted.windows)
    assert summary.stopped == "end of video"


def test_cli_no_realtime_json_equals_predict_json(tiny_model: Path, rgb_video: Path) -> None:
    args = ["--model", tiny_model, "--window", "6", "--hop", "5", "--top-k", "3", "--json"]
    watched = invoke("watch", rgb_video, "--no-realtime", *args)
    assert watched.exit_code == 0, watched.output
    predicted = json.loads(invoke("predict", rgb_video, *args).stdout)
    records = [json.loads(line) for line in watched.stdout.splitlines()]
    assert [(r["start_s"], r["end_s"], r["top"]) for r in records] == [
        (w["start_s"], w["end_s"], w["top"]) for w in predicted["windows"]
    ]


@pytest.mark.slow
def test_realtime_file_plays_at_its_own_speed(tiny_model: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 10 + ["green"] * 10), 10)
    clf = Classifier(tiny_model, hop_frames=2, top_k=3)
    predicted = {(w.start_s, w.end_s): w.top for w in clf.predict(video).windows}
    started = time.monotonic()
    results, watch = watch_all(clf, video)
    # Pacing releases the frame at t seconds t seconds after the first: the last at 1.9 s.
    assert time.monotonic() - started >= 1.9
    assert results and all(predicted[(r.start_s, r.end_s)] == r.top for r in results)
    assert len(results) + watch.skipped == len(predicted)
    assert all(r.capture_fps is not None and r.latency_ms >= 0 for r in results)


@pytest.mark.slow
def test_realtime_skips_whole_windows_when_the_model_is_slower(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 10 + ["green"] * 10), 10)
    clf = Classifier(tiny_model, hop_frames=1, top_k=3)  # a window every 0.1 s ...
    predicted = {(w.start_s, w.end_s): w.top for w in clf.predict(video).windows}
    score = clf.score_clip

    def slow_score(clip):
        time.sleep(0.3)  # ... and a model that needs 0.3 s for one
        return score(clip)

    monkeypatch.setattr(clf, "score_clip", slow_score)
    results, watch = watch_all(clf, video)
    assert watch.skipped > 0
    # Every window shown is one of predict's, with its exact scores: nothing inside it was dropped.
    assert all(predicted[(r.start_s, r.end_s)] == r.top for r in results)
    assert len(results) + watch.skipped == len(predicted)
    starts = [r.start_s for r in results]
    assert starts == sorted(set(starts))
    assert results[-1].skipped == watch.skipped and watch.summary().skipped_share > 0


def test_handover_keeps_the_newest_window_and_counts_the_skipped() -> None:
    def item(start: int) -> Clip:
        return Clip(Window(start, start + 2), np.zeros(2), captured_s=0.0)

    latest = Handover(keep_every=False)
    for start in range(4):
        assert latest.put(item(start))
    assert latest.get().window.start == 3 and latest.skipped == 3
    latest.end(InputError("cam", "gone"))
    with pytest.raises(InputError):
        latest.get()

    every = Handover(keep_every=True)
    every.put(item(0))
    second = threading.Thread(target=every.put, args=(item(1),))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waits for the first window to be taken
    assert every.get().window.start == 0
    second.join(5)
    assert every.get().window.start == 1 and every.skipped == 0


def test_duration_max_windows_and_smoothing(tiny_model: Path, rgb_video: Path) -> None:
    clf = Classifier(tiny_model, top_k=3)
    windows = clf.predict(rgb_video).windows
    results, watch = watch_all(clf, rgb_video, realtime=False, duration_s=2.0)
    assert windows_of(results) == [(w.start_s, w.end_s, w.top) for w in windows if w.end_s <= 2.0]
    assert watch.summary().stopped == "duration reached"

    results, watch = watch_all(clf, rgb_video, realtime=False, max_windows=2)
    assert len(results) == 2 and watch.summary().stopped == "max windows reached"

    results, _ = watch_all(clf, rgb_video, realtime=False, smooth=3)
    third = {s.label: s.score for s in results[2].top}
    for label in ("red", "green", "blue"):
        mean = np.mean([next(s.score for s in w.top if s.label == label) for w in windows[:3]])
        assert third[label] == pytest.approx(mean)
    assert [r.smoothed_over for r in results[:4]] == [1, 2, 3, 3]


@pytest.mark.real
@pytest.mark.parametrize("name", ["cleaning_pool_1s.mp4", "hugging_1080p.mp4"])
def test_real_model_no_realtime_equals_predict(real_classifier: Classifier, clips_dir: Path, name: str) -> None:
    # One window shorter than 64 frames; and a 1080p clip with a tail window.
    predicted = real_classifier.predict(clips_dir / name)
    results, _ = watch_all(real_classifier, clips_dir / name, realtime=False)
    assert windows_of(results) == [(w.start_s, w.end_s, w.top) for w in predicted.windows]


# -- stream mode: the model's state carried from block to block ------------------------------------

STREAM_TOL = 1e-5


@pytest.fixture(scope="module")
def tiny_stream_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny network with its streaming form beside it: ``auto`` picks stream mode."""
    return make_stream_model(tmp_path_factory.mktemp("stream") / "tiny-stream.onnx")


def scores_of(top) -> dict[str, float]:
    return {s.label: s.score for s in top}


def assert_same_windows(results, windows) -> None:
    """The same spans, and every label's probability within STREAM_TOL (top-k is every label here)."""
    assert [(r.start_s, r.end_s) for r in results] == [(w.start_s, w.end_s) for w in windows]
    for result, window in zip(results, windows, strict=True):
        got, want = scores_of(result.top), scores_of(window.top)
        assert got.keys() == want.keys()
        assert max(abs(got[k] - want[k]) for k in want) <= STREAM_TOL


@pytest.mark.parametrize(
    ("colors", "fps", "window", "hop", "block"),
    [
        (RGB, 10, None, None, None),  # the model's window and hop, one block of 32, a tail window
        (RGB * 3, 10, None, None, 8),  # 150 frames in blocks of 8: windows final block after block
        (RGB, 30, 10, 3, 16),  # resampled from 30 fps, overlapping windows
        (RGB[:37], 10, 9, 9, 8),  # hop = window, tail aligned to the end, 37 = 5 mod 8
        (["blue"] * 5, 10, None, None, None),  # shorter than one window and than the model's minimum
        (["red"], 10, None, None, None),  # one frame, held to the model's minimum
    ],
    ids=["default", "150-frames-blocks-of-8", "30fps-w10-h3", "w9-h9-tail", "short", "one-frame"],
)
def test_stream_no_realtime_gives_predicts_stream_window_scores(
    tiny_stream_model: Path, tmp_path: Path, colors: list[str], fps: float, window: int | None, hop: int | None,
    block: int | None,
) -> None:
    video = write_video(tmp_path / "v.avi", solid_frames(colors), fps)
    clf = Classifier(tiny_stream_model, window_frames=window, hop_frames=hop, chunk_frames=block, top_k=3)
    assert clf.mode is Mode.stream
    predicted = clf.predict(video)
    assert predicted.mode == "stream"
    results, watch = watch_all(clf, video, realtime=False)
    assert_same_windows(results, predicted.windows)
    assert {r.mode for r in results} == {"stream"}
    summary = watch.summary()
    assert (summary.mode, summary.skipped, summary.restarts, summary.stopped) == ("stream", 0, 0, "end of video")
    assert summary.to_dict()["mode"] == "stream"


def test_stream_window_of_nan_steps_ends_the_watch(
    tiny_stream_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In stream mode a window's score comes from the per-step logits: NaN among them is the same
    error as a NaN window in windows mode (never a score), naming where it happened."""
    from vidclass.convert.stream_runtime import StreamingI3D
    from vidclass.errors import NonFiniteError

    real_push = StreamingI3D.push

    def push_nan(self: StreamingI3D, frames: np.ndarray) -> np.ndarray:
        steps = real_push(self, frames)
        return np.full_like(steps, np.nan)

    monkeypatch.setattr(StreamingI3D, "push", push_nan)
    video = write_video(tmp_path / "v.avi", solid_frames(RGB * 3), 10)
    clf = Classifier(tiny_stream_model, chunk_frames=8)
    assert clf.mode is Mode.stream
    said = r"^the model produced NaN for the frames at 0\.00-\d\.\d\d s \(not a score\)$"
    with pytest.raises(NonFiniteError, match=said):
        watch_all(clf, video, realtime=False)


def test_stream_windows_are_scored_once_their_look_ahead_is_in(tiny_stream_model: Path) -> None:
    """A window ``[a, b)`` is final once the steps centred before ``b`` are out, that is once about half
    the receptive field past ``b`` has been pushed: not before, and at most a block and a step later."""
    clf = Classifier(tiny_stream_model, chunk_frames=8)
    stream = clf.stream_session.stream
    half = (stream.field_frames - 1) / 2  # 12 frames for the tiny network
    total, block = 150, 8
    state = StreamState(clf, 0, 0.0, total)
    frames = np.random.default_rng(0).uniform(-1, 1, (total, 32, 32, 3)).astype(np.float32)
    reported_at: dict[int, int] = {}
    for start in range(0, total, block):
        chunk = frames[start : start + block]
        ready = state.push(Block(list(chunk), [float(i) for i in range(start, start + len(chunk))], 0, 0.0))
        for window, probs, captured_s in ready:
            reported_at[window.stop] = start + len(chunk)
            assert captured_s == window.stop - 1  # timed by the capture of the window's last frame
            assert probs.sum() == pytest.approx(1.0)
    early = dict(reported_at)
    for window, _, _ in state.finish(tail=True):
        reported_at[window.stop] = total
    # Every window (the grid's and the tail aligned to the end) exactly once.
    assert sorted(reported_at) == [w.stop for w in plan_windows(total, clf.window_frames, clf.hop_frames)]
    for stop, received in early.items():
        assert stop + half - stream.stride_frames <= received <= stop + half + block + stream.stride_frames
    # Only the last windows wait for the flush: those within the look-ahead of the end.
    assert all(stop > total - half - block - stream.stride_frames for stop in set(reported_at) - set(early))


def test_mode_windows_still_gives_predicts_windows(tiny_stream_model: Path, rgb_video: Path) -> None:
    clf = Classifier(tiny_stream_model, mode="windows", top_k=3)
    predicted = clf.predict(rgb_video)
    results, watch = watch_all(clf, rgb_video, realtime=False)
    assert windows_of(results) == [(w.start_s, w.end_s, w.top) for w in predicted.windows]
    assert {r.mode for r in results} == {"windows"} and watch.summary().mode == "windows"


def test_cli_mode_stream_and_windows_json(tiny_stream_model: Path, rgb_video: Path) -> None:
    for mode, flags in (("stream", ()), ("windows", ("--mode", "windows"))):
        args = ["--model", tiny_stream_model, "--top-k", "3", "--json", *flags]
        watched = invoke("watch", rgb_video, "--no-realtime", *args)
        assert watched.exit_code == 0, watched.output
        predicted = json.loads(invoke("predict", rgb_video, *args).stdout)
        records = [json.loads(line) for line in watched.stdout.splitlines()]
        assert {r["mode"] for r in records} == {mode} and predicted["mode"] == mode
        spans = [(w["start_s"], w["end_s"]) for w in predicted["windows"]]
        assert [(r["start_s"], r["end_s"]) for r in records] == spans
        for record, window in zip(records, predicted["windows"], strict=True):
            got, want = scores_of_json(record["top"]), scores_of_json(window["top"])
            assert max(abs(got[k] - want[k]) for k in want) <= 1e-4  # JSON rounds to 5 digits
    dense = invoke("watch", rgb_video, "--no-realtime", "--model", tiny_stream_model, "--mode", "dense")
    assert dense.exit_code == 2 and "watch runs in stream or windows mode, not dense" in dense.stderr


def test_cli_chunk_frames_sets_the_stream_block_and_keeps_the_scores(
    tiny_stream_model: Path, rgb_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``watch --chunk-frames N``: blocks of N frames (results sooner, more calls); a window's scores do
    not depend on the block. N must be a multiple of the streaming graph's stride: exit 2 otherwise."""
    import vidclass.engines.watch as watch_engine

    seen: list[int] = []

    class Recording(watch_engine.StreamingI3D):  # type: ignore[misc,valid-type]
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            seen.append(self.block_frames)

    monkeypatch.setattr(watch_engine, "StreamingI3D", Recording)
    stride = Classifier(tiny_stream_model).stream_session.stream.stride_frames
    args = ["--model", tiny_stream_model, "--top-k", "3", "--json"]
    predicted = json.loads(invoke("predict", rgb_video, *args).stdout)["windows"]
    blocks = sorted({stride * k for k in range(1, 9) if stride * k >= 8})[:2]
    for block in blocks:
        seen.clear()
        watched = invoke("watch", rgb_video, "--no-realtime", *args, "--chunk-frames", block)
        assert watched.exit_code == 0, watched.output
        assert seen and set(seen) == {block}  # the watch's stream state runs on blocks of that length
        records = [json.loads(line) for line in watched.stdout.splitlines()]
        assert [(r["start_s"], r["end_s"]) for r in records] == [(w["start_s"], w["end_s"]) for w in predicted]
        for record, window in zip(records, predicted, strict=True):
            got, want = scores_of_json(record["top"]), scores_of_json(window["top"])
            assert max(abs(got[k] - want[k]) for k in want) <= 1e-4
    if stride > 1:
        bad = invoke("watch", rgb_video, "--no-realtime", *args, "--chunk-frames", 8 * stride + 1)
        assert bad.exit_code == 2 and "multiple of" in bad.stderr and len(bad.stderr.splitlines()) == 1
    small = invoke("watch", rgb_video, "--model", tiny_stream_model, "--chunk-frames", "4")
    assert small.exit_code == 2 and "--chunk-frames" in small.stderr


def test_live_blocks_are_short_unless_the_settings_say(stream_model: Path) -> None:
    """``watch`` streams I3D in blocks of 8 frames (one output step a call: results 2.4 s sooner than
    with files' 32-frame blocks); ``chunk_frames`` (``--chunk-frames``) still decides."""
    clf = Classifier(stream_model)
    assert clf.stream_session is not None and clf.stream_session.stream.stride_frames == 8
    assert clf.recipe.chunk_frames == 32 and live_block_frames(clf) == 8
    assert backlog_blocks(clf.window_frames, look_ahead_frames(clf), live_block_frames(clf)) == 16
    assert live_block_frames(Classifier(stream_model, chunk_frames=32)) == 32


def scores_of_json(top: list[dict]) -> dict[str, float]:
    return {s["label"]: s["score"] for s in top}


def test_a_full_backlog_is_dropped_and_the_state_restarts(tiny_stream_model: Path) -> None:
    """The capture side of falling behind: with every place taken, the waiting blocks are dropped (their
    frames counted for their state) and the arriving block begins a new state, on a live grid, at its
    own first frame."""
    clf = Classifier(tiny_stream_model, chunk_frames=8)
    # A window (16), its look-ahead (12) and a block (8): 36 frames, 5 blocks of 8.
    capacity = backlog_blocks(clf.window_frames, look_ahead_frames(clf), 8)
    assert (look_ahead_frames(clf), capacity) == (12, 5)
    handover: Handover[Block] = Handover(keep_every=False, capacity=capacity)
    feed = BlockFeed(clf, handover, total_frames=80)
    image = solid_frames(["red"])[0]
    assert feed.segment(0.0)
    for i in range(49):  # 48 output frames (a frame's are known when the next one comes): 6 blocks
        assert feed.push(Frame(i, i / 10, image), captured_s=float(i))
    assert feed.dropped_frames == {0: 40} and feed.restarts == 1 and handover.skipped == 5
    taken = handover.get()
    assert taken is not None and len(taken.frames) == 8
    assert (taken.state, taken.total_frames, taken.origin_s) == (1, None, pytest.approx(4.0))
    assert taken.captured_s == [float(i) for i in range(40, 48)]


def test_lost_windows_are_those_waiting_and_those_the_dropped_frames_complete(tiny_stream_model: Path) -> None:
    clf = Classifier(tiny_stream_model, chunk_frames=8)  # window 16, hop 8
    state = StreamState(clf, 0, 0.0, None)
    frames = np.zeros((24, 32, 32, 3), np.float32)
    ready = state.push(Block(list(frames), [0.0] * 24, 0, 0.0))
    assert not ready and [w.stop for w in state.pending] == [16, 24]  # waiting for their look-ahead
    # 20 more frames were captured for this state and dropped: they complete the windows ending at 32 and 40.
    assert state.lost(20) == 2 + 2


def fast_stream_model(tmp_path: Path) -> Path:
    """The tiny network at 50 fps: a block of 8 frames every 0.16 s, a backlog of 5 blocks (0.8 s)."""
    return make_stream_model(tmp_path / "fast.onnx", spec=replace(STREAM_SPEC, frame_rate=50.0))


@pytest.mark.slow
def test_a_stall_drops_the_backlog_and_the_state_restarts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that keeps up but stalls once, after its first windows: the backlog is dropped, what it
    held is counted as skipped, and a new state goes on in stream mode."""
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 150 + ["green"] * 150), 50)
    clf = Classifier(fast_stream_model(tmp_path), chunk_frames=8, top_k=3)
    run, calls = clf.stream_session.run, []

    def stalling_run(feeds):
        calls.append(1)
        if len(calls) == 8:  # the first windows are out by then (16 frames, 12 of look-ahead)
            time.sleep(1.5)
        return run(feeds)

    monkeypatch.setattr(clf.stream_session, "run", stalling_run)
    results, watch = watch_all(clf, video)
    summary = watch.summary()
    assert (summary.mode, summary.restarts, summary.fallback_s) == ("stream", 1, None)
    assert {r.mode for r in results} == {"stream"}
    # The restart dropped 5 blocks (40 frames): at least 4 windows of hop 8, plus those waiting.
    assert summary.skipped >= 4 and results[-1].skipped == summary.skipped
    ends = [r.end_s for r in results]
    assert ends == sorted(ends) and ends[-1] == pytest.approx(6.0)  # the new state reached the end


@pytest.mark.slow
def test_a_model_slower_than_real_time_falls_back_to_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """2 s a call for 0.16 s of video: a state is dropped before its first window, so stream mode cannot
    keep up; the watch goes on in windows mode (each window skipped whole or classified)."""
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 100 + ["green"] * 100), 50)
    clf = Classifier(fast_stream_model(tmp_path), chunk_frames=8, top_k=3)
    run = clf.stream_session.run

    def slow_run(feeds):
        time.sleep(2.0)
        return run(feeds)

    monkeypatch.setattr(clf.stream_session, "run", slow_run)
    results, watch = watch_all(clf, video)
    summary = watch.summary()
    assert summary.mode == "windows" and summary.restarts >= 1 and summary.fallback_s is not None
    assert summary.to_dict()["fallback_s"] == pytest.approx(summary.fallback_s, abs=1e-3)
    windowed = [r for r in results if r.mode == "windows"]
    assert windowed and all(r.start_s >= summary.fallback_s - 1e-6 for r in windowed)
    assert all(r.end_s <= summary.fallback_s for r in results if r.mode == "stream")
    assert summary.skipped >= 1 and summary.skipped_share > 0
    assert all(abs(sum(s.score for s in r.top) - 1) < 1e-4 for r in results)


@pytest.mark.real
@pytest.mark.parametrize("name", ["cleaning_pool_1s.mp4", "flipping_pancake.mkv"])
def test_real_model_stream_no_realtime_equals_predict(stream_model: Path, clips_dir: Path, name: str) -> None:
    """Both containers are wrong about their length (27 output frames announced, 28 there; 259 and 258):
    predict makes a second pass, watch counts the frames first; the same grid, the same scores."""
    clf = Classifier(stream_model, provider="cpu", top_k=10)
    assert clf.mode is Mode.stream
    predicted = clf.predict(clips_dir / name)
    results, watch = watch_all(clf, clips_dir / name, realtime=False)
    assert_same_windows(results, predicted.windows)
    assert watch.summary().mode == "stream"


# -- cameras (a fake VideoCapture: no camera here) ------------------------------------------------


class FakeCapture:
    """Stands in for cv2.VideoCapture(index): ``frames`` frames at 20 fps, then read() fails."""

    released: list[FakeCapture] = []

    def __init__(self, index: int, frames: int = 10_000) -> None:
        self.frames = frames
        self.read_count = 0
        self.image = solid_frames(["green"])[0]

    def isOpened(self) -> bool:  # noqa: N802 -- OpenCV's naming
        return True

    def get(self, prop: int) -> float:
        return 20.0

    def read(self):
        time.sleep(0.05)
        if self.read_count >= self.frames:
            return False, None
        self.read_count += 1
        return True, self.image

    def release(self) -> None:
        FakeCapture.released.append(self)


@pytest.fixture()
def fake_camera(monkeypatch):
    FakeCapture.released = []

    real = streams.cv2.VideoCapture

    def install(frames: int = 10_000) -> None:
        def capture(target, *args):  # cameras are opened by index alone; files and URLs stay real
            return FakeCapture(target, frames) if isinstance(target, int) and not args else real(target, *args)

        monkeypatch.setattr(streams.cv2, "VideoCapture", capture)

    return install


def test_camera_frames_are_timed_by_the_capture_clock_and_released(fake_camera) -> None:
    fake_camera()
    camera = open_source(0)
    assert isinstance(camera, Camera) and camera.live and camera.name == "camera 0"
    frames: list[Frame] = []
    for frame in camera:
        frames.append(frame)
        if len(frames) == 5:
            break
    times = [f.time_s for f in frames]
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:], strict=False))
    camera.close()
    assert len(FakeCapture.released) == 1


@pytest.mark.slow
def test_watching_a_camera_stops_cleanly_and_releases_it(fake_camera, tiny_model: Path) -> None:
    fake_camera()
    clf = Classifier(tiny_model)
    with Watch(clf, open_source("0"), max_windows=2) as watch:
        results = list(watch.results())
    assert [r.top[0].label for r in results] == ["green", "green"]
    hops = (results[1].start_s - results[0].start_s) / (clf.hop_frames / clf.spec.frame_rate)
    assert hops == pytest.approx(round(hops)) and hops >= 1  # whole windows apart
    assert len(FakeCapture.released) == 1


@pytest.mark.parametrize(("frames", "cause"), [(0, "opened, but delivered no frame"), (12, "after 12 frames")])
def test_camera_that_stops_is_one_clear_line(fake_camera, tiny_model: Path, frames: int, cause: str) -> None:
    fake_camera(frames)
    result = invoke("watch", "0", "--model", tiny_model, "--json")
    assert result.exit_code == 1
    assert result.stderr.startswith("vidclass: camera 0: ") and cause in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert len(FakeCapture.released) == 1


def test_camera_that_does_not_exist(tiny_model: Path) -> None:
    result = invoke("watch", "57", "--model", tiny_model)
    assert result.exit_code == 1
    assert result.stderr.startswith("vidclass: camera 57: ") and result.stderr.count("\n") == 1
    if sys.platform.startswith("linux"):
        assert "no such camera (/dev/video57 does not exist" in result.stderr


# -- network streams on loopback ------------------------------------------------------------------


@pytest.mark.network
def test_mjpeg_stream_json_lines(tiny_model: Path) -> None:
    with MjpegServer(solid_frames(["red"] * 30), fps=20) as server:
        result = invoke(
            "watch",
            server.url, "--model", tiny_model, "--json", "--max-windows", "3", "--provider", "cpu"
        )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 3
    for i, rec in enumerate(records, 1):
        assert {"start_s", "end_s", "time", "top", "latency_ms"} <= rec.keys()
        assert rec["window"] == i and rec["source"] == server.url
        assert rec["end_s"] - rec["start_s"] == pytest.approx(0.8)
        assert datetime.fromisoformat(rec["time"]).tzinfo is not None
        assert rec["latency_ms"] >= 0 and rec["provider"] == "cpu"
        assert rec["top"][0]["label"] == "red"
    starts = [rec["start_s"] for rec in records]
    assert starts == sorted(starts) and len(set(starts)) == 3
    assert "3 windows" in result.stderr and "max windows reached" in result.stderr


@pytest.mark.real
@pytest.mark.network
def test_mjpeg_stream_of_a_real_clip(tiny_model: Path, clips_dir: Path) -> None:
    clip = clips_dir / "cleaning_pool_1s.mp4"
    clf = Classifier(tiny_model, top_k=3)
    predicted = [w.top[0] for w in clf.predict(clip).windows]
    assert {t.label for t in predicted} == {"blue"}  # the tiny model sees the pool's water
    with VideoFile(clip) as video:
        frames = [f.image for f in video]
    with MjpegServer(frames, fps=30) as server:
        results, watch = watch_all(clf, server.url, max_windows=3)
    assert len(results) == 3
    low, high = min(t.score for t in predicted), max(t.score for t in predicted)
    for r in results:
        assert r.top[0].label == "blue"
        assert low - 0.05 <= r.top[0].score <= high + 0.05  # JPEG re-encoding moves colours a little
    assert watch.frames >= 24 and results[-1].capture_fps is not None


@pytest.mark.network
@pytest.mark.parametrize(("after", "cause"), [("close", "(the server ended it)"), ("stall", "(no frame for 1 s)")])
def test_stream_that_dies_midway(tiny_model: Path, after: str, cause: str) -> None:
    with MjpegServer(solid_frames(["red"] * 12 + ["green"] * 12), fps=20, after=after) as server:
        result = invoke("watch", server.url, "--model", tiny_model, "--timeout", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"vidclass: {server.url}: stream lost after 24 frames {cause}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    # What was classified before the stream died was printed, one line per window.
    assert result.stdout.splitlines() and all(" s  " in line for line in result.stdout.splitlines())


@pytest.mark.network
def test_stream_reconnects_with_back_off(tiny_model: Path) -> None:
    frames = solid_frames(["blue"] * 10)  # 0.5 s, less than one window, then the server drops it
    with MjpegServer(frames, fps=20, after="close", later="loop") as server:
        result = invoke("watch", server.url, "--model", tiny_model, "--reconnect", "--max-windows", "2", "--json")
        assert server.connections == 2
    assert result.exit_code == 0, result.output
    assert "stream lost after 10 frames (the server ended it); reconnecting in 1 s (attempt 1)" in result.stderr
    assert "reconnected" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    # Windows start after the gap: none holds a frame from before it.
    assert len(records) == 2 and all(rec["start_s"] >= 1.0 for rec in records)


@pytest.mark.network
def test_reconnect_gives_up_after_max_attempts(tiny_model: Path) -> None:
    with MjpegServer(solid_frames(["blue"] * 4), fps=20, after="close") as server:
        stream = NetworkStream(server.url, timeout_s=1, reconnect=True, max_reconnects=2, delays_s=(0.05,))
        frames = iter(stream)
        next(frames)
    # The server is gone: each attempt is refused.
    with pytest.raises(InputError, match=r"connection refused .*; gave up after 2 reconnection attempts"):
        list(frames)
    assert stream.segment == 0


@pytest.mark.network
def test_hls_playlist_is_timed_by_its_container(tiny_model: Path, tmp_path: Path) -> None:
    # HLS arrives a segment at a time, far faster than real time: arrival times would be wrong.
    colors = ["red"] * 20 + ["green"] * 20 + ["blue"] * 20
    for i in range(3):  # each segment's timestamps start at 0 again: a discontinuity to bridge
        write_video(tmp_path / f"seg{i}.ts", solid_frames(colors[20 * i : 20 * (i + 1)]), 10, "mp4v")
    playlist = "".join(f"#EXTINF:2.0,\nseg{i}.ts\n" for i in range(3))
    (tmp_path / "live.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n{playlist}#EXT-X-ENDLIST\n"
    )
    clf = Classifier(tiny_model, window_frames=7, hop_frames=3)  # 7: no window is half one colour
    reference = write_video(tmp_path / "all.avi", solid_frames(colors), 10)
    expected = [(w.start_s, w.end_s, w.top[0].label) for w in clf.predict(reference).windows]
    with StaticServer(tmp_path) as server:
        stream = open_source(server.url("live.m3u8"))
        assert isinstance(stream, NetworkStream) and not stream.live
        with Watch(clf, stream, realtime=False) as watch:
            results = list(watch.results())
    assert [(r.start_s, r.end_s, r.top[0].label) for r in results] == expected
    assert watch.summary().stopped == "end of video"


@pytest.mark.network
def test_url_that_refuses(tiny_model: Path) -> None:
    with MjpegServer(solid_frames(["red"]), fps=20) as server:
        url = server.url
        missing = invoke("watch", url.replace("/stream", "/nothing"), "--model", tiny_model)
    assert missing.exit_code == 1 and "the server answered HTTP 404" in missing.stderr
    refused = invoke("watch", url, "--model", tiny_model)  # the server is gone: port closed
    assert refused.exit_code == 1
    port = url.split(":")[2].split("/")[0]
    assert refused.stderr == f"vidclass: {url}: connection refused by 127.0.0.1:{port}\n"


@pytest.mark.network
@pytest.mark.subprocess
@pytest.mark.kill
def test_sigint_stops_cleanly(tiny_model: Path) -> None:
    command = [*VIDCLASS, "watch"]
    with MjpegServer(solid_frames(["red"] * 10 + ["green"] * 10), fps=20) as server:
        proc = subprocess.Popen(
            [*command, server.url, "--model", str(tiny_model), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=interruptible,
        )
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, "no result within 60 s"
            first = json.loads(proc.stdout.readline())
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert server.client_left.wait(5)  # the connection was closed, not left open
    assert first["top"][0]["label"] in ("red", "green")
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vidclass: {server.url}: ") and "interrupted" in lines[0]
    assert all(json.loads(line) for line in out.splitlines())


# -- CLI output and usage ------------------------------------------------------------------------


def test_non_tty_prints_one_line_per_window(tiny_model: Path, rgb_video: Path) -> None:
    result = invoke("watch", rgb_video, "--model", tiny_model, "--no-realtime", "--top-k", "2")
    assert result.exit_code == 0, result.output
    windows = Classifier(tiny_model).predict(rgb_video).windows
    lines = result.stdout.splitlines()
    assert len(lines) == len(windows)
    assert lines[0].startswith("0.00-0.80 s  red 1.000 | ")
    assert lines[-1].startswith("4.20-5.00 s  blue ")
    # One line when stderr is not a terminal (a log reads it whole): why it stopped, then how it went.
    assert result.stderr.startswith(f"{rgb_video}: end of video · 12 windows classified in 4.9 s of video · none ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "vidclass watch: missing SOURCE"),
        (["0", "x.mp4"], "unexpected argument 'x.mp4'"),
        # The options of old: the message says where the source goes now.
        (["--camera", "0"], "no such option --camera: the input is an argument, as in vidclass watch [OPTIONS] SOURCE"),
        (["--source", "x.mp4"], "no such option --source: the input is an argument"),
        (["VIDEO", "--reconnect"], "--reconnect applies to network streams"),
        (["VIDEO", "--smooth", "0"], "--smooth"),
        (["VIDEO", "--window", "1"], "minimum of 2"),
        (["VIDEO", "--output", "windows.csv"], "watch writes JSON Lines; name the file .jsonl"),
    ],
)
def test_usage_errors_exit_2(tiny_model: Path, rgb_video: Path, args: list[str], message: str) -> None:
    args = [str(rgb_video) if a == "VIDEO" else a for a in args]
    result = invoke("watch", *args, "--model", tiny_model)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.network
def test_no_realtime_is_for_files(tiny_model: Path) -> None:
    with MjpegServer(solid_frames(["red"] * 5), fps=20) as server:
        result = invoke("watch", server.url, "--model", tiny_model, "--no-realtime")
    assert result.exit_code == 2 and "--no-realtime is for video files" in result.stderr


def test_missing_file_is_one_line(tiny_model: Path, tmp_path: Path) -> None:
    result = invoke("watch", tmp_path / "none.mp4", "--model", tiny_model)
    assert result.exit_code == 1 and result.stderr == f"vidclass: {tmp_path / 'none.mp4'}: no such file\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is X11's")
@pytest.mark.parametrize(("display", "cause"), [(None, "DISPLAY is not set"), (":97", "cannot reach the display")])
def test_show_without_a_display_says_so(
    tiny_model: Path, rgb_video: Path, monkeypatch, display: str | None, cause: str
) -> None:
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    result = invoke("watch", rgb_video, "--model", tiny_model, "--show")
    assert result.exit_code == 2
    assert result.stderr.startswith("vidclass: --show: ") and cause in result.stderr


def test_show_draws_the_labels_on_the_video_until_q(tiny_model: Path, rgb_video: Path, monkeypatch) -> None:
    import vidclass.outputs.show as show

    calls: list[str] = []
    labelled: list[np.ndarray] = []

    def imshow(title: str, image: np.ndarray) -> None:
        calls.append("imshow")
        if len(np.unique(image.reshape(-1, 3), axis=0)) > 1:  # more than the solid frame: labels
            labelled.append(image)

    monkeypatch.setattr(show, "display_problem", lambda: None)
    monkeypatch.setattr(show.cv2, "namedWindow", lambda title, flags: calls.append("namedWindow"))
    monkeypatch.setattr(show.cv2, "imshow", imshow)
    monkeypatch.setattr(show.cv2, "waitKey", lambda delay: ord("q") if labelled else -1)
    monkeypatch.setattr(show.cv2, "getWindowProperty", lambda title, prop: 1.0)
    monkeypatch.setattr(show.cv2, "destroyWindow", lambda title: calls.append("destroyWindow"))
    result = invoke("watch", rgb_video, "--model", tiny_model, "--show")
    assert result.exit_code == 0, result.output
    assert calls[0] == "namedWindow" and calls[-1] == "destroyWindow" and calls.count("imshow") >= 2
    assert result.stderr.startswith(f"{rgb_video}: window closed · ")


@pytest.mark.network
def test_open_source_picks_the_class(fake_camera, rgb_video: Path, tmp_path: Path) -> None:
    fake_camera()
    with open_source(rgb_video) as video:
        assert isinstance(video, VideoFile)
    with open_source(3) as camera, open_source("2") as also_camera:
        assert isinstance(camera, Camera) and isinstance(also_camera, Camera)
    (tmp_path / "7").write_bytes(rgb_video.read_bytes())
    with open_source(tmp_path / "7") as named_like_a_number:
        assert isinstance(named_like_a_number, VideoFile)
    with MjpegServer(solid_frames(["red"] * 3), fps=20) as server, open_source(server.url) as stream:
        assert isinstance(stream, NetworkStream) and stream.live
    with pytest.raises(UsageError):
        open_source(rgb_video, reconnect=True)


def test_views_render_the_same_result(tiny_model: Path, rgb_video: Path) -> None:
    results, _ = watch_all(Classifier(tiny_model, top_k=3, provider="cpu"), rgb_video, realtime=False, max_windows=1)
    console = Console(record=True, width=100)
    console.print(watch_view(results[0]))
    text = console.export_text()
    assert "red" in text and "latency" in text and "0 skipped" in text and "provider cpu" in text
    assert watch_line(results[0]).startswith("0.00-0.80 s  red 1.000 | ")
    image = solid_frames(["blue"], size=(120, 160))[0]
    drawn = overlay(image, results[0])
    assert drawn.shape == image.shape and not np.array_equal(drawn, image) and image[0, 0, 0] == 255


def test_ctrl_c_before_watching_started_is_handled(tiny_model: Path, rgb_video: Path, monkeypatch) -> None:
    import vidclass.cli.watch as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "open_source", interrupted)
    result = invoke("watch", rgb_video, "--model", tiny_model)
    assert result.exit_code == 130 and result.stderr.count("\n") == 1 and "interrupted" in result.stderr
