"""Resampling and window arithmetic, checked against the closed-form rules in sampling.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidclass.sampling import (
    Resampler,
    Window,
    Windower,
    output_frame_count,
    plan_windows,
    validate_window,
)


def resample(times_s: list[float], duration_s: float, fps_out: float) -> list[int]:
    """Source frame index of every output frame, through the streaming Resampler."""
    resampler = Resampler(fps_out)
    picks: list[int] = []
    for j, t in enumerate(times_s):
        picks += [j - 1] * resampler.push(t)
    picks += [len(times_s) - 1] * resampler.finish(duration_s)
    return picks


@pytest.mark.parametrize("fps", [24, 25, 30000 / 1001, 30, 50, 60, 28, 12.5])
@pytest.mark.parametrize("n", [1, 7, 32, 100, 301])
def test_constant_rate_matches_reference_rule(fps: float, n: int) -> None:
    # The reference implementation picks source frame min(int(i * fps / 25), n - 1).
    picks = resample([j / fps for j in range(n)], n / fps, 25)
    assert len(picks) == output_frame_count(n / fps, 25)
    assert picks == [min(int(i * fps / 25), n - 1) for i in range(len(picks))]


def test_variable_frame_rate_repeats_the_frame_before_a_gap() -> None:
    # 10 fps with 0.5 s missing after frame 4: output at 10 fps holds frame 4 over the gap.
    times = [0.0, 0.1, 0.2, 0.3, 0.4, 0.9, 1.0]
    assert resample(times, 1.1, 10) == [0, 1, 2, 3, 4, 4, 4, 4, 4, 5, 6]


def test_millisecond_rounding_of_timestamps_does_not_shift_frames() -> None:
    # Matroska stores 1 ms timestamps: 30 fps becomes 0, 33, 67, 100 ... ms.
    times = [round(j * 1000 / 30) / 1000 for j in range(300)]
    assert resample(times, 10.0, 25) == [int(i * 30 / 25) for i in range(250)]


def test_single_frame_gives_one_output() -> None:
    assert resample([0.0], 0.04, 25) == [0]


@given(n=st.integers(0, 400), window=st.integers(1, 80), hop_fraction=st.floats(0, 1))
def test_windows_cover_the_video_and_stay_inside(n: int, window: int, hop_fraction: float) -> None:
    hop = max(1, round(window * hop_fraction))
    validate_window(window, hop, 1)
    windows = plan_windows(n, window, hop)
    if n == 0:
        assert windows == []
        return
    assert windows[0].start == 0 and windows[-1].stop == n
    for w in windows:
        assert 0 <= w.start < w.stop <= n
        assert w.frames == min(window, n)
    covered = set().union(*(range(w.start, w.stop) for w in windows))
    assert covered == set(range(n))
    starts = [w.start for w in windows]
    assert starts == sorted(set(starts))


@given(n=st.integers(0, 300), window=st.integers(1, 70), hop=st.integers(1, 70))
def test_streaming_windower_equals_plan(n: int, window: int, hop: int) -> None:
    windower = Windower(window, hop)
    seen = [w for w in (windower.push() for _ in range(n)) if w is not None]
    # A streamed window is complete when its last frame arrives.
    assert all(w.stop <= n for w in seen)
    tail = windower.finish()
    if tail is not None:
        seen.append(tail)
    assert seen == plan_windows(n, window, hop)


def test_window_times() -> None:
    w = Window(32, 96)
    assert (w.start_s(25), w.end_s(25), w.frames) == (1.28, 3.84, 64)


def test_short_video_is_one_window_of_all_frames() -> None:
    assert plan_windows(27, 64, 32) == [Window(0, 27)]
    assert plan_windows(100, 64, 32) == [Window(0, 64), Window(32, 96), Window(36, 100)]


@pytest.mark.parametrize(("window", "hop"), [(8, 0), (8, 9), (4, 2)])
def test_window_validation(window: int, hop: int) -> None:
    with pytest.raises(ValueError):
        validate_window(window, hop, min_frames=5)
