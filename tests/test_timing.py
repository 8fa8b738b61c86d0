"""The one timestamp repair that files and network streams share (vidclass.sources.timing)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidclass.sources.timing import FALLBACK_FPS, HISTORY_STEPS, MAX_GAP_S, WARNED_CUTS, Timeline


def timed(raw: list[float], nominal_fps: float | None = None, **kw) -> tuple[list[float], Timeline, list[str]]:
    warnings: list[str] = []
    timeline = Timeline(nominal_fps, warn=warnings.append, **kw)
    return [timeline.time_s(r) for r in raw], timeline, warnings


def test_good_timestamps_are_kept_from_the_first() -> None:
    times, timeline, warnings = timed([5.0, 5.1, 5.25, 5.3], 10.0)
    assert times == pytest.approx([0.0, 0.1, 0.25, 0.3]) and warnings == []
    assert timeline.end_s() == pytest.approx(0.4)


def test_a_timestamp_that_does_not_advance_is_the_previous_plus_one_period() -> None:
    # The nominal rate's period when there is one (AVI demuxers stamp the last frame 0) ...
    assert timed([0.0, 0.1, 0.2, 0.0], 10.0)[0] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    # ... else the median of the recent steps; NaN is repaired the same way.
    assert timed([0.0, 0.04, 0.08, 0.12, math.nan, 0.12], None)[0] == pytest.approx([0, 0.04, 0.08, 0.12, 0.16, 0.2])


def test_the_period_is_the_median_of_the_last_32_steps() -> None:
    raw = [i * 0.5 for i in range(10)] + [4.5 + (i + 1) * 0.1 for i in range(HISTORY_STEPS)]
    times, timeline, _ = timed(raw, None)
    assert timeline.period_s() == pytest.approx(0.1)  # the 0.5 s steps have left the history
    assert times[-1] == pytest.approx(raw[-1])


def test_no_plausible_clock_means_the_fallback_rate_with_a_warning() -> None:
    times, timeline, warnings = timed([0.0, 1e-6, 2e-6, 3e-6], None, stated_fps=0.0)
    assert times == pytest.approx([i / FALLBACK_FPS for i in range(4)])
    assert warnings == [
        f"implausible timing (frame rate 0 fps, frames 1e-06 s apart); frames timed at {FALLBACK_FPS:g} fps instead"
    ]


def test_a_leap_is_cut_and_later_frames_keep_their_spacing() -> None:
    # A 3 KB file whose clock leaps by 1e6 s asked the resampler for 1e7 repeated frames.
    times, timeline, warnings = timed([0.0, 0.1, 0.2, 1e6 + 0.3, 1e6 + 0.45, 1e6 + 0.5], 10.0)
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.45, 0.5])
    assert timeline.cuts == 1 and timeline.cut_s == pytest.approx(1e6 - 0.0)
    assert len(warnings) == 1 and "leap 1000000.1 s forward after 0.200 s" in warnings[0]


def test_a_gap_within_the_limit_is_kept() -> None:
    times, _, warnings = timed([0.0, 0.1, 0.1 + MAX_GAP_S, 0.2 + MAX_GAP_S], 10.0)
    assert times == pytest.approx([0.0, 0.1, 0.1 + MAX_GAP_S, 0.2 + MAX_GAP_S]) and warnings == []


def test_many_leaps_warn_a_few_times_then_once_more() -> None:
    raw = [i * 100.0 for i in range(10)]
    times, timeline, warnings = timed(raw, 10.0)
    assert times == pytest.approx([i * 0.1 for i in range(10)]) and timeline.cuts == 9
    assert len(warnings) == WARNED_CUTS + 1 and "without a warning each" in warnings[-1]


def test_a_restart_continues_after_the_last_frame() -> None:
    timeline = Timeline(10.0)
    assert [timeline.time_s(r) for r in (50.0, 50.1)] == pytest.approx([0.0, 0.1])
    timeline.restart()  # a reconnected stream starts its clock anywhere
    assert [timeline.time_s(r) for r in (7.0, 7.1)] == pytest.approx([0.2, 0.3])


raw_times = st.floats(allow_nan=True, allow_infinity=True, width=64)


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None)
@given(
    raw=st.lists(raw_times, min_size=1, max_size=80),
    nominal=st.sampled_from([None, 1.0, 25.0, 30000 / 1001, 1000.0]),
    restart_at=st.integers(0, 80),
)
def test_times_always_advance_by_a_bounded_step(raw: list[float], nominal: float | None, restart_at: int) -> None:
    """Whatever the container says: times start at 0, move forward, and no step exceeds 1 s + MAX_GAP_S."""
    timeline = Timeline(nominal)
    times = []
    for i, r in enumerate(raw):
        if i == restart_at and i:
            timeline.restart()
        times.append(timeline.time_s(r))
    assert times[0] == 0.0 and all(math.isfinite(t) for t in times)
    steps = [b - a for a, b in zip(times[:-1], times[1:], strict=True)]
    assert all(0 < s <= 1.0 + MAX_GAP_S + 1e-9 for s in steps), steps
    assert 0 < timeline.end_s() - times[-1] <= 1.0
