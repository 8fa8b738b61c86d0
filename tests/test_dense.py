"""Dense mode: chunks planned from the receptive field, stitched into exactly one pass.

A small ONNX model with I3D's temporal structure (TensorFlow "SAME" stride-2 layers whose padding
depends on the parity of the length, a max-pool, per-step outputs) is built here; the stitched
chunks must equal one pass over every frame at every length residue. The real I3D is checked on
the real arm-wrestling clip (250 frames) against one pass and against the reference's logits.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from synthetic import SAME_SPEC, invoke, solid_frames, write_video

from vidclass import Classifier, clips
from vidclass.clips import iter_frames, prefetch
from vidclass.dense import (
    Chunk,
    Geometry,
    LengthMismatch,
    dense_logits,
    dense_scores,
    plan_chunks,
    read_geometry,
)
from vidclass.errors import UsageError
from vidclass.scores import softmax
from vidclass.settings import Mode
from vidclass.sources import VideoFile


@pytest.fixture(scope="module")
def same_run(same_model: Path):
    session = ort.InferenceSession(str(same_model), providers=["CPUExecutionProvider"])
    return lambda clip: session.run(None, {"video": clip})[0]


def test_geometry_is_read_from_the_graph(same_model: Path) -> None:
    geometry = read_geometry(same_model, SAME_SPEC)
    # Field: 5 frames, then (3 - 1) * 2 and (3 - 1) * 4 more; one step every 2 * 2 * 2 frames.
    assert geometry.stride == 8 and geometry.field == 5 + 4 + 8
    # SAME_UPPER pads the odd sample after: before = 1 (k5 on an even length), 2 on an odd one, ...
    assert len(geometry.first) == 8 and all(f <= 0 for f in geometry.first)


@pytest.mark.parametrize("n_frames", [17, 40, 63, 64, 65, 98, 131, 150])
@pytest.mark.parametrize("chunk_frames", [24, 40])
def test_stitched_chunks_equal_one_pass(same_model: Path, same_run, n_frames: int, chunk_frames: int) -> None:
    geometry = read_geometry(same_model, SAME_SPEC)
    frames = np.random.default_rng(n_frames).uniform(-1, 1, (n_frames, 32, 32, 3)).astype(np.float32)
    whole = same_run(frames[np.newaxis])[0]
    calls: list[int] = []

    def run(clip: np.ndarray) -> np.ndarray:
        calls.append(clip.shape[1])
        return same_run(clip)

    stitched = dense_logits(iter(frames), n_frames, run, geometry, chunk_frames)
    assert stitched.shape == whole.shape
    assert np.abs(stitched - whole).max() <= 1e-5
    assert max(calls) <= chunk_frames  # memory bound: no call longer than a chunk
    if n_frames > chunk_frames:
        assert len(calls) > 1


def test_a_chunk_with_the_wrong_parity_would_not_line_up(same_model: Path, same_run) -> None:
    """Why chunk lengths follow the video's length modulo the stride: cut at a multiple of 8 but with
    another residue, the chunk's steps are shifted and differ from the single pass."""
    frames = np.random.default_rng(1).uniform(-1, 1, (99, 32, 32, 3)).astype(np.float32)
    whole = same_run(frames[np.newaxis])[0]
    geometry = read_geometry(same_model, SAME_SPEC)
    chunks = plan_chunks(99, 40, geometry)
    assert all(c.start % 8 == 0 and c.frames % 8 == 99 % 8 for c in chunks)
    wrong = same_run(frames[np.newaxis, :40])[0]  # 40 = 0 mod 8, the video is 3 mod 8
    inner = slice(chunks[0].keep_from, chunks[0].keep_to)
    assert np.abs(wrong[inner] - whole[inner]).max() > 1e-3


def test_plan_covers_every_step_once() -> None:
    geometry = Geometry(stride=8, field=107, first=(-44, -44, -46, -46, -45, -45, -45, -45))
    for n_frames in range(9, 1200, 7):
        chunks = plan_chunks(n_frames, 256, geometry)
        covered = 0
        for chunk in chunks:
            first = geometry.first_frame(n_frames)
            steps = -(-chunk.frames // 8) - 1
            stop = steps if chunk.keep_to is None else chunk.keep_to
            assert chunk.start // 8 + chunk.keep_from == covered  # contiguous, no step twice
            for j in range(chunk.keep_from, stop):
                lo, hi = first + 8 * j, first + 8 * j + 107
                assert lo >= 0 or chunk.start == 0
                assert hi <= chunk.frames or chunk.stop == n_frames
            covered += stop - chunk.keep_from
        assert covered == -(-n_frames // 8) - 1
        assert all(c.frames <= 256 for c in chunks)


def test_a_chunk_shorter_than_the_field_is_refused() -> None:
    with pytest.raises(UsageError, match="too short"):
        plan_chunks(1000, 100, Geometry(stride=8, field=107, first=(-44,) * 8))


def test_a_wrong_length_is_detected_after_reading_everything(same_model: Path, same_run) -> None:
    geometry = read_geometry(same_model, SAME_SPEC)
    frames = np.zeros((90, 32, 32, 3), np.float32)
    with pytest.raises(LengthMismatch) as short:
        dense_logits(iter(frames), 100, same_run, geometry, 40)
    assert short.value.actual == 90
    with pytest.raises(LengthMismatch) as long:
        dense_logits(iter(frames), 81, same_run, geometry, 40)
    assert long.value.actual == 90
    # A video that fits in one chunk needs no length in advance.
    one = dense_logits(iter(frames[:30]), 35, same_run, geometry, 40)
    assert np.abs(one - same_run(frames[np.newaxis, :30])[0]).max() <= 1e-6


def test_window_and_clip_scores_from_the_timeline() -> None:
    geometry = Geometry(stride=1, field=1, first=(0,))
    logits = np.zeros((10, 3), np.float32)
    logits[:5, 0] = 5.0
    logits[5:, 2] = 5.0
    result = dense_scores(logits, 10, geometry, window_frames=5, hop_frames=5)
    assert [(w.start, w.stop) for w in result.windows] == [(0, 5), (5, 10)]
    assert np.argmax(result.window_probs[0]) == 0 and np.argmax(result.window_probs[1]) == 2
    np.testing.assert_allclose(result.clip_probs, softmax(logits.mean(axis=0)))


def test_classifier_dense_mode_equals_one_pass(tmp_path: Path, same_model: Path, same_run) -> None:
    colors = ["red"] * 30 + ["green"] * 45 + ["blue"] * 26
    video = write_video(tmp_path / "rgb.avi", solid_frames(colors, (40, 56)), 10.0)
    clf = Classifier(same_model, provider="cpu", mode="dense", chunk_frames=40)
    result = clf.predict(video)
    assert result.frames == 101 and clf.mode is Mode.dense
    with VideoFile(video) as source:
        frames = np.stack(list(iter_frames(source, clf.spec)))
    whole = same_run(frames[np.newaxis])[0]
    expected = softmax(whole.mean(axis=0))
    got = {t.label: t.score for t in result.top}
    for i, label in enumerate(clf.spec.labels):
        assert got[label] == pytest.approx(float(expected[i]), abs=1e-5)
    # Windows as in windows mode: every 8 frames a 16-frame window, plus the tail.
    assert [w.start_s for w in result.windows][:3] == [0.0, 0.8, 1.6]
    assert result.windows[-1].end_s == pytest.approx(10.1)


def test_wrong_header_is_corrected_by_a_second_pass(tmp_path: Path, same_model: Path, monkeypatch) -> None:
    import vidclass.dense as dense_module

    video = write_video(tmp_path / "v.avi", solid_frames(["red", "green", "blue"] * 30, (40, 56)), 10.0)
    reference = Classifier(same_model, provider="cpu", mode="dense", chunk_frames=40).predict(video)
    monkeypatch.setattr(dense_module, "guess_output_frames", lambda *args: 93)  # the file has 90
    result = Classifier(same_model, provider="cpu", mode="dense", chunk_frames=40).predict(video)
    assert result.frames == 90
    assert [(t.label, t.score) for t in result.top] == [(t.label, t.score) for t in reference.top]


def test_dense_on_the_colour_model_matches_windows_per_window(tiny_model: Path, tmp_path: Path) -> None:
    """A model with a one-frame field: dense window scores are exactly independent windows'."""
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 20 + ["blue"] * 20, (40, 56)), 10.0)
    windows = Classifier(tiny_model, provider="cpu").predict(video)
    dense = Classifier(tiny_model, provider="cpu", mode="dense").predict(video)
    assert [(w.start_s, w.end_s) for w in windows.windows] == [(w.start_s, w.end_s) for w in dense.windows]
    for a, b in zip(windows.windows, dense.windows, strict=True):
        assert [t.label for t in a.top] == [t.label for t in b.top]
        for x, y in zip(a.top, b.top, strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-5)


def test_prefetch_keeps_order_raises_errors_and_stops_early() -> None:
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        raise ValueError("boom")

    got = []
    with pytest.raises(ValueError, match="boom"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1]

    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    stream = prefetch(endless(), depth=2)
    assert next(stream) == 0
    stream.close()
    assert closed == [True]


def test_exit_hook_survives_a_producer_whose_start_was_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C landing while prefetch starts its thread leaves a registered thread never started: the
    exit hook must pass it by (it raised "cannot join thread before it is started", then SIGABRT)."""

    def interrupted_start(self: threading.Thread) -> None:
        raise KeyboardInterrupt  # Ctrl-C, delivered before the thread is started

    monkeypatch.setattr(threading.Thread, "start", interrupted_start)
    stream = prefetch(iter(range(100)), depth=2)
    with pytest.raises(KeyboardInterrupt):
        next(stream)
    monkeypatch.undo()
    never = [thread for thread in clips._RUNNING if thread.ident is None]
    assert never
    began = time.monotonic()
    try:
        clips._stop_producers()  # what runs at exit
    finally:
        for thread in never:
            clips._RUNNING.pop(thread, None)
    assert time.monotonic() - began < clips._EXIT_JOIN_S


def test_exit_hook_joins_a_producer_that_starts_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread whose start() was interrupted after the OS thread was made runs a moment later: the
    exit hook waits for it to start, then stops and joins it."""
    monkeypatch.setattr(clips, "_EXIT_START_S", 5.0)  # no race with a slow machine: the hook polls
    stop, saw = threading.Event(), []

    def produce() -> None:
        saw.append(stop.is_set())
        clips._RUNNING.pop(threading.current_thread(), None)

    late = threading.Thread(target=produce, daemon=True)
    clips._RUNNING[late] = stop
    threading.Timer(0.1, late.start).start()
    clips._stop_producers()
    assert saw == [True] and not late.is_alive()


# --- the real model ------------------------------------------------------------------------------


@pytest.mark.real
def test_real_dense_equals_one_pass_and_the_reference(real_model: Path, clips_dir: Path, reference_dir: Path) -> None:
    from vidclass.runtimes import Session

    session = Session(real_model, "cpu")
    geometry = read_geometry(real_model, session.spec)
    assert (geometry.stride, geometry.field) == (8, 107)
    with VideoFile(clips_dir / "arm_wrestling.mp4") as video:
        frames = np.stack(list(iter_frames(video, session.spec)))
    assert frames.shape[0] == 250
    whole = session.run(frames[np.newaxis])[0]
    chunks = plan_chunks(250, 192, geometry)
    assert len(chunks) == 2  # [0, 186) and [80, 250): 16 + 15 steps kept
    stitched = dense_logits(iter(frames), 250, session.run, geometry, 192)
    assert np.abs(stitched - whole).max() <= 1e-3
    with (reference_dir / "reference.jsonl").open() as f:
        reference = next(rec for rec in map(json.loads, f) if rec["file"] == "arm_wrestling.mp4")
    assert np.abs(stitched.mean(axis=0) - np.array(reference["logits"])).max() <= 1e-3


def test_chunk_dataclass() -> None:
    assert Chunk(8, 40, 1, None).frames == 32


@pytest.mark.spawn
def test_cli_dense_mode_json(tmp_path: Path, same_model: Path) -> None:
    video = write_video(tmp_path / "v.avi", solid_frames(["red"] * 30 + ["blue"] * 30, (40, 56)), 10.0)
    result = invoke("predict", video, "--model", same_model, "--mode", "dense", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert rec["frames"] == 60 and rec["windows"][0]["start_s"] == 0.0
    # Dense mode is a mode of every engine: two decoding workers give the same record.
    workers = invoke("predict", video, "--model", same_model, "--mode", "dense", "--json", "--quiet", "--workers", "2")
    assert workers.exit_code == 0, workers.output
    assert json.loads(workers.stdout) == rec
