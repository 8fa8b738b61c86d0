"""Properties under arbitrary input (issue 7), with hypothesis.

* Window arithmetic through the real streaming path: any frame rate (constant or variable, with
  gaps), frame count, model frame rate, window, hop and minimum give clips that cover the video,
  never index a frame past its end, hold what the closed-form rule says, and are the same on a
  second run. (test_sampling.py checks the pure functions; this runs ``iter_clips`` with a fake
  frame source whose every frame says which one it is.)
* The checkpoint loader never executes code and never fails with anything but
  :class:`CheckpointError`, whatever bytes it is handed; an audit hook watches for code running.
"""

from __future__ import annotations

import math
import os
import pickle
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from synthetic import tiny_spec

from vidclass.clips import ClipStats, iter_clips
from vidclass.convert.checkpoint import safe_loads
from vidclass.errors import CheckpointError
from vidclass.sampling import output_frame_count, plan_windows
from vidclass.sources import Frame

# -- windows over a fake source ------------------------------------------------------------------

SIZE = 4  # 4 x 4 frames: preprocessing keeps them as they are (no resize, a crop of all of it)
_EPS_S = 1e-4  # the resampler's slack on timestamps (sampling._EPS_S)


class NumberedFrames:
    """A FrameSource whose frame ``j`` carries ``j`` in its pixels (B, G, R = j's three low bytes),
    timed by ``times_s``; ``duration_s`` is set at the end, as VideoFile does (last + one period)."""

    def __init__(self, times_s: list[float], period_s: float) -> None:
        self.name = "numbered"
        self.times_s = times_s
        self.period_s = period_s
        self.duration_s: float | None = None
        self.yielded = 0

    def __iter__(self) -> Iterator[Frame]:
        for j, t in enumerate(self.times_s):
            image = np.empty((SIZE, SIZE, 3), np.uint8)
            image[...] = (j & 0xFF, (j >> 8) & 0xFF, (j >> 16) & 0xFF)
            self.yielded += 1
            yield Frame(j, t, image)
        self.duration_s = self.times_s[-1] + self.period_s


def frame_numbers(clip_data: np.ndarray) -> list[int]:
    pixels = clip_data[:, 0, 0, :].astype(np.int64)  # [T, 3] in B, G, R order (the spec keeps BGR)
    return list(pixels[:, 0] + (pixels[:, 1] << 8) + (pixels[:, 2] << 16))


def first_output(time_s: float, fps_out: float) -> int:
    """The first output frame (at i / fps_out seconds) that a source frame starting at ``time_s``
    shows: the first instant at or after it, with the resampler's slack."""
    return max(0, math.ceil((time_s - _EPS_S) * fps_out))


def expected_picks(times_s: list[float], duration_s: float, fps_out: float) -> list[int]:
    """The closed-form rule: output frame i shows the last source frame at or before i / fps_out;
    there are round(duration * fps_out) of them (at least 1), or more if the last frame starts later."""
    count = max(output_frame_count(duration_s, fps_out), first_output(times_s[-1], fps_out))
    picks, j = [], 0
    for i in range(count):
        while j + 1 < len(times_s) and first_output(times_s[j + 1], fps_out) <= i:
            j += 1
        picks.append(j)
    return picks


@st.composite
def timings(draw: st.DrawFn) -> tuple[list[float], float]:
    """Frame times: a constant rate (any, including absurd ones) or variable steps with gaps."""
    n = draw(st.integers(1, 200))
    if draw(st.booleans()):
        fps = draw(st.floats(0.2, 1000.0, allow_nan=False))
        return [j / fps for j in range(n)], 1.0 / fps
    steps = draw(st.lists(st.floats(0.0005, 3.0, allow_nan=False), min_size=n - 1, max_size=n - 1))
    times = [0.0]
    for step in steps:
        times.append(times[-1] + step)
    return times, steps[-1] if steps else 0.04


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    timing=timings(),
    fps_out=st.sampled_from([1.0, 10.0, 12.5, 24.0, 25.0, 30000 / 1001, 60.0]),
    window=st.integers(1, 64),
    hop_fraction=st.floats(0.0, 1.0),
    min_fraction=st.floats(0.0, 1.0),
)
def test_clips_cover_the_video_stay_inside_and_repeat(timing, fps_out, window, hop_fraction, min_fraction) -> None:
    times_s, period_s = timing
    hop = max(1, round(window * hop_fraction))
    min_frames = max(1, round(window * min_fraction))
    duration_s = times_s[-1] + period_s
    # Bounded work per example: no more than a few thousand model frames.
    assume(max(duration_s, times_s[-1]) * fps_out < 3000)
    spec = tiny_spec(frame_rate=fps_out, resize_short_side=SIZE, crop_height=SIZE, crop_width=SIZE,
                     value_scale=1.0, value_offset=0.0, channel_order="BGR",
                     window_frames=max(window, min_frames), hop_frames=1, min_frames=min_frames)

    def run() -> tuple[list[tuple[int, int]], list[list[int]], int, NumberedFrames]:
        source = NumberedFrames(times_s, period_s)
        stats = ClipStats()
        clips = list(iter_clips(source, spec, window, hop, stats))
        return [(c.window.start, c.window.stop) for c in clips], [frame_numbers(c.data) for c in clips], \
            stats.frames, source

    windows, numbers, frames, source = run()
    picks = expected_picks(times_s, duration_s, fps_out)
    n_out = len(picks)

    assert source.yielded == len(times_s)  # every source frame read, once
    assert frames == n_out >= 1
    assert windows == [(w.start, w.stop) for w in plan_windows(n_out, window, hop)]
    covered = set()
    for (start, stop), held in zip(windows, numbers, strict=True):
        assert 0 <= start < stop <= n_out  # never past the end of the video
        covered.update(range(start, stop))
        shown = picks[start:stop]
        # What each window holds is what the rule says, the last frame held up to the minimum.
        assert held == shown + [shown[-1]] * (min_frames - len(shown))
        assert all(0 <= j < len(times_s) for j in held)  # never a frame that is not there
    assert covered == set(range(n_out))  # the whole video is classified
    assert run()[:3] == (windows, numbers, frames)  # the same input gives the same clips


# -- the checkpoint loader under fuzzing -----------------------------------------------------------

# Audit events that mean code from the pickle ran, a process or a connection started, or a file
# was touched (the loader reads bytes it was given and nothing else).
_WATCHED = frozenset({
    "exec", "compile", "import", "pickle.find_class", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
    "os.fork", "subprocess.Popen", "socket.connect", "socket.bind", "ctypes.dlopen", "ctypes.call_function",
    "open", "os.remove", "os.rename", "os.mkdir", "os.chmod", "shutil.rmtree", "webbrowser.open", "builtins.input",
})
_recording: dict[int, list[str]] = {}
_hook_lock = threading.Lock()
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _WATCHED:
        events = _recording.get(threading.get_ident())
        if events is not None:
            events.append(event)


def watched_loads(data: bytes) -> tuple[Any, list[str]]:
    """safe_loads(data), with the audited events this thread raised meanwhile."""
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)  # cannot be removed; records only inside watched_loads
            _hook_installed = True
    events: list[str] = []
    _recording[threading.get_ident()] = events
    try:
        try:
            outcome: Any = safe_loads(data, origin="fuzz.ckpt")
        except CheckpointError as e:
            outcome = e
    finally:
        del _recording[threading.get_ident()]
    return outcome, events


def _valid_pickles() -> list[bytes]:
    tree = {"params": {"conv": {"kernel": np.arange(12, dtype=np.float32).reshape(3, 4)}},
            "batch_stats": {"bn": {"mean": np.zeros(4, np.float32)}}}
    return [pickle.dumps(tree, protocol=p) for p in (3, 4)]  # what numpy arrays pickle to as plain data


VALID = _valid_pickles()
# Globals a pickle may name: the allow-listed ones and those an attack names.
GLOBALS = [("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
           ("numpy", "ndarray"), ("numpy", "dtype"), ("os", "system"), ("posix", "system"), ("builtins", "eval"),
           ("builtins", "exec"), ("builtins", "getattr"), ("subprocess", "Popen"), ("numpy", "load"),
           ("numpy.testing._private.utils", "runstring"), ("pickle", "loads"), ("io", "open")]


def _opcode(draw: st.DrawFn, marker: str) -> bytes:
    """One pickle instruction, from those an attack or a damaged file would use."""
    kind = draw(st.sampled_from(
        ["global", "stack_global", "str", "bytes", "int", "tuple", "mark", "dict", "list", "setitems",
         "appends", "reduce", "build", "newobj", "memo", "get", "none", "float", "pop", "dup", "persid"]))
    if kind == "global":
        module, name = draw(st.sampled_from(GLOBALS))
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    if kind == "stack_global":
        module, name = draw(st.sampled_from(GLOBALS))
        return b"".join(b"\x8c" + bytes([len(s)]) + s.encode() for s in (module, name)) + b"\x93"
    if kind == "str":
        text = draw(st.sampled_from([f"touch {marker}", f"open({marker!r}, 'w')", "f4", "<f4", "b", "kernel"]))
        raw = text.encode()
        return b"\x8c" + bytes([len(raw)]) + raw
    if kind == "bytes":
        raw = draw(st.binary(max_size=64))
        return b"C" + bytes([len(raw)]) + raw
    if kind == "int":
        return b"J" + struct.pack("<i", draw(st.integers(-(2**31), 2**31 - 1)))
    if kind == "float":
        return b"G" + struct.pack(">d", draw(st.floats(allow_nan=True)))
    if kind == "get":
        return b"h" + bytes([draw(st.integers(0, 5))])
    return {"tuple": b"t", "mark": b"(", "dict": b"}", "list": b"]", "setitems": b"u", "appends": b"e",
            "reduce": b"R", "build": b"b", "newobj": b"\x81", "memo": b"\x94", "none": b"N", "pop": b"0",
            "dup": b"2", "persid": b"Pabc\n"}[kind]


@st.composite
def hostile_pickles(draw: st.DrawFn, marker: str = "/nonexistent/pwned") -> bytes:
    how = draw(st.sampled_from(["random", "mutated", "opcodes", "valid-with-opcodes"]))
    if how == "random":
        return draw(st.binary(max_size=600))
    if how == "mutated":  # a real checkpoint with bytes flipped, cut, inserted
        data = bytearray(draw(st.sampled_from(VALID)))
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(data) - 1))
            action = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
            if action == "flip":
                data[position] = draw(st.integers(0, 255))
            elif action == "insert":
                data[position:position] = draw(st.binary(min_size=1, max_size=8))
            elif action == "delete" and len(data) > 1:
                del data[position]
            elif action == "cut":
                del data[max(1, position):]
        return bytes(data)
    body = b"".join(_opcode(draw, marker) for _ in range(draw(st.integers(1, 24))))
    if how == "valid-with-opcodes":  # instructions spliced into a valid checkpoint
        data = draw(st.sampled_from(VALID))
        at = draw(st.integers(2, len(data) - 1))
        return data[:at] + body + data[at:]
    return b"\x80\x04" + body + b"."


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hostile_pickles())
def test_checkpoint_loader_fuzzed_never_runs_code(data: bytes) -> None:
    outcome, events = watched_loads(data)
    assert events == []  # no code compiled or run, no import, no process, file or socket
    if isinstance(outcome, CheckpointError):
        assert str(outcome).startswith("fuzz.ckpt: ")  # one line naming the input
        assert "\n" not in str(outcome)
    else:  # whatever loads is what a checkpoint may be: nested dicts of float32 arrays
        stack = [outcome]
        assert isinstance(outcome, dict)
        while stack:
            for key, value in stack.pop().items():
                assert isinstance(key, str)
                if isinstance(value, dict):
                    stack.append(value)
                else:
                    assert type(value) is np.ndarray and value.dtype == np.float32


def test_watch_sees_code_running() -> None:
    # The audit hook would see it: an unrestricted unpickler on an attack raises these events.
    marker = Path(os.devnull)
    attack = b"cbuiltins\neval\n(S'len(" + repr(str(marker)).encode() + b")'\ntR."
    assert pickle.loads(attack) == len(str(marker))  # harmless payload: the attack works unrestricted
    _, events = watched_loads(attack)
    assert events == []  # ... and the safe loader refuses it without running anything
    events = []
    _recording[threading.get_ident()] = events
    try:
        pickle.loads(attack)
    finally:
        del _recording[threading.get_ident()]
    assert "pickle.find_class" in events and "exec" in events


@pytest.mark.parametrize("data", VALID)
def test_valid_checkpoints_still_load(data: bytes) -> None:
    outcome, events = watched_loads(data)
    assert events == [] and not isinstance(outcome, CheckpointError)
    assert outcome["params"]["conv"]["kernel"].shape == (3, 4)
