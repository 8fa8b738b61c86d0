"""Segments from hand-made probability timelines: hysteresis, gaps, edges and flicker; then the
``predict --segments`` table and JSON with the tiny colour model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import invoke, solid_frames, write_video

from vidclass.errors import UsageError
from vidclass.segments import SegmentRule, release_threshold, segment, step_at, window_steps

LABELS = ("a", "b", "c", "d", "e")


def row(**probs: float) -> list[float]:
    """A probability vector over LABELS: the named labels get their value, the rest share what is left."""
    rest = [name for name in LABELS if name not in probs]
    share = (1.0 - sum(probs.values())) / len(rest)
    return [probs.get(name, share) for name in LABELS]


def unit_steps(n: int, length_s: float = 1.0) -> list[tuple[float, float]]:
    return [(i * length_s, (i + 1) * length_s) for i in range(n)]


def run(rows: list[list[float]], threshold: float = 0.5, min_duration_s: float = 0.0, length_s: float = 1.0):
    probs = np.array(rows)
    return segment(unit_steps(len(rows), length_s), probs, LABELS, SegmentRule(threshold, min_duration_s))


def summary(segments) -> list[tuple[str | None, float, float]]:
    return [(s.label, s.start_s, s.end_s) for s in segments]


def test_release_is_half_the_threshold() -> None:
    assert release_threshold(0.5) == 0.25
    assert SegmentRule(0.8).release == pytest.approx(0.4)


def test_one_steady_action_is_one_segment_over_the_whole_timeline() -> None:
    segments = run([row(a=0.9)] * 4)
    assert summary(segments) == [("a", 0.0, 4.0)]
    assert segments[0].score == pytest.approx(0.9)


def test_nothing_confident_is_one_gap_scored_by_the_best_label() -> None:
    segments = run([row(b=0.3), row(c=0.4)])
    assert summary(segments) == [(None, 0.0, 2.0)]
    assert segments[0].score == pytest.approx(0.35)


def test_gaps_at_the_edges_and_in_the_middle() -> None:
    rows = [row()] * 2 + [row(a=0.9)] * 3 + [row()] * 2 + [row(b=0.7)] * 2 + [row()]
    segments = run(rows)
    assert summary(segments) == [
        (None, 0.0, 2.0),
        ("a", 2.0, 5.0),
        (None, 5.0, 7.0),
        ("b", 7.0, 9.0),
        (None, 9.0, 10.0),
    ]
    assert segments[0].score == pytest.approx(0.2)
    assert segments[3].score == pytest.approx(0.7)


def test_a_held_label_survives_a_dip_above_the_release_and_ends_below_it() -> None:
    # 0.4 is under the threshold (0.5) but over the release (0.25): held. 0.2 is under both.
    segments = run([row(a=0.9), row(a=0.4), row(a=0.3), row(a=0.2), row(a=0.4)])
    assert summary(segments) == [("a", 0.0, 3.0), (None, 3.0, 5.0)]
    assert segments[0].score == pytest.approx((0.9 + 0.4 + 0.3) / 3)


def test_a_label_needs_the_threshold_to_start() -> None:
    # The same 0.4 that holds a running segment does not start one.
    assert summary(run([row(a=0.4)] * 3)) == [(None, 0.0, 3.0)]
    assert summary(run([row(a=0.4)] * 3, threshold=0.4)) == [("a", 0.0, 3.0)]


def test_a_rival_takes_over_only_by_passing_the_threshold_and_the_held_label() -> None:
    rows = [row(a=0.9), row(a=0.3, b=0.45), row(a=0.3, b=0.6), row(b=0.9)]
    # Step 1: b leads but is under the threshold, so a holds; step 2: b passes it and takes over.
    assert summary(run(rows)) == [("a", 0.0, 2.0), ("b", 2.0, 4.0)]


def test_a_straddling_window_keeps_the_running_action() -> None:
    # The transition window splits its mass between a and b: a holds through it, b starts after.
    rows = [row(a=0.9)] * 3 + [row(a=0.45, b=0.45)] + [row(b=0.9)] * 3
    assert summary(run(rows)) == [("a", 0.0, 4.0), ("b", 4.0, 7.0)]


def test_flicker_between_equal_neighbours_is_merged_into_them() -> None:
    rows = [row(a=0.9)] * 3 + [row(b=0.8)] + [row(a=0.9)] * 3
    assert summary(run(rows, min_duration_s=0)) == [("a", 0.0, 3.0), ("b", 3.0, 4.0), ("a", 4.0, 7.0)]
    merged = run(rows, min_duration_s=2)
    assert summary(merged) == [("a", 0.0, 7.0)]
    # The score is the label's mean over every step of the segment, the flicker step included.
    assert merged[0].score == pytest.approx((6 * 0.9 + 0.05) / 7)


def test_a_short_gap_between_one_action_is_bridged() -> None:
    rows = [row(a=0.9)] * 3 + [row(a=0.1)] + [row(a=0.9)] * 3
    assert summary(run(rows, min_duration_s=0)) == [("a", 0.0, 3.0), (None, 3.0, 4.0), ("a", 4.0, 7.0)]
    assert summary(run(rows, min_duration_s=1.5)) == [("a", 0.0, 7.0)]


def test_flicker_between_different_neighbours_goes_to_the_longer_one() -> None:
    rows = [row(a=0.9)] * 2 + [row(c=0.9)] + [row(b=0.9)] * 4
    assert summary(run(rows, min_duration_s=1.5)) == [("a", 0.0, 2.0), ("b", 2.0, 7.0)]
    rows = [row(a=0.9)] * 4 + [row(c=0.9)] + [row(b=0.9)] * 2
    assert summary(run(rows, min_duration_s=1.5)) == [("a", 0.0, 5.0), ("b", 5.0, 7.0)]


def test_short_runs_at_the_edges_join_their_only_neighbour() -> None:
    rows = [row(b=0.9)] + [row(a=0.9)] * 4 + [row()]
    assert summary(run(rows, min_duration_s=2)) == [("a", 0.0, 6.0)]


def test_a_timeline_shorter_than_min_duration_is_one_segment() -> None:
    rows = [row(a=0.9), row(b=0.9), row(a=0.9)]
    segments = run(rows, min_duration_s=10)
    assert len(segments) == 1 and (segments[0].start_s, segments[0].end_s) == (0.0, 3.0)


def test_min_duration_is_in_seconds_not_steps() -> None:
    rows = [row(a=0.9)] * 3 + [row(b=0.9)] * 2 + [row(a=0.9)] * 3
    # Two steps of b last 1 s with 0.5 s steps: kept at min 1 s, absorbed at 1.5 s.
    assert [s.label for s in run(rows, min_duration_s=1.0, length_s=0.5)] == ["a", "b", "a"]
    assert [s.label for s in run(rows, min_duration_s=1.5, length_s=0.5)] == ["a"]


def test_scores_are_weighted_by_step_duration() -> None:
    steps = [(0.0, 1.0), (1.0, 4.0)]
    probs = np.array([row(a=0.6), row(a=1.0)])
    (only,) = segment(steps, probs, LABELS)
    assert only.score == pytest.approx((0.6 * 1 + 1.0 * 3) / 4)


def test_window_steps_split_overlaps_at_the_midpoints_between_centres() -> None:
    assert window_steps([(0.0, 8.0), (4.0, 12.0), (8.0, 16.0)]) == [(0.0, 6.0), (6.0, 10.0), (10.0, 16.0)]
    # A tail window aligned to the end sits closer to its predecessor.
    assert window_steps([(0.0, 8.0), (4.0, 12.0), (6.0, 14.0)]) == [(0.0, 6.0), (6.0, 9.0), (9.0, 14.0)]
    assert window_steps([(0.0, 2.7)]) == [(0.0, 2.7)]
    assert window_steps([]) == []


def test_step_at_finds_the_step_and_clamps() -> None:
    steps = [(0.0, 6.0), (6.0, 10.0), (10.0, 16.0)]
    assert [step_at(steps, t) for t in (-1.0, 0.0, 5.9, 6.0, 12.0, 99.0)] == [0, 0, 0, 1, 2, 2]


@pytest.mark.parametrize(("threshold", "min_duration"), [(0.0, 1.0), (1.5, 1.0), (0.5, -1.0), (float("nan"), 1.0)])
def test_rule_rejects_impossible_settings(threshold: float, min_duration: float) -> None:
    with pytest.raises(UsageError):
        SegmentRule(threshold, min_duration)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        segment(unit_steps(2), np.zeros((3, 5)), LABELS)


@pytest.mark.fuzz
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5), min_size=1, max_size=30),
    st.floats(0.05, 1.0),
    st.floats(0.0, 5.0),
)
def test_segments_tile_the_timeline(raw: list[list[float]], threshold: float, min_duration_s: float) -> None:
    probs = np.array(raw) + 1e-6
    probs /= probs.sum(axis=1, keepdims=True)
    steps = unit_steps(len(raw), 0.5)
    segments = segment(steps, probs, LABELS, SegmentRule(threshold, min_duration_s))
    assert segments[0].start_s == 0.0 and segments[-1].end_s == steps[-1][1]
    for before, after in zip(segments[:-1], segments[1:], strict=True):
        assert before.end_s == after.start_s
        assert before.label != after.label  # neighbours that agree are merged
    if len(segments) > 1:
        assert all(s.end_s - s.start_s >= min_duration_s for s in segments)
    assert all(0.0 <= s.score <= 1.0 + 1e-9 for s in segments)


# --- predict --segments with the tiny colour model ---------------------------------------------

@pytest.fixture()
def red_grey_blue(tmp_path: Path) -> Path:
    """2 s red, 2 s grey, 1 s blue at 10 fps. The tiny model gives softmax(10 * mean RGB): about 1.0
    for a solid colour, 1/3 each for grey."""
    grey = np.full((48, 64, 3), 128, np.uint8)
    frames = solid_frames(["red"] * 20) + [grey] * 20 + solid_frames(["blue"] * 10)
    return write_video(tmp_path / "rgb.avi", frames, 10)


def predict_json(model: Path, video: Path, *options: str) -> dict:
    result = invoke("predict", video, "--model", model, "--json", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_predict_json_has_segments_only_when_asked(tiny_model: Path, red_grey_blue: Path) -> None:
    assert "segments" not in predict_json(tiny_model, red_grey_blue)
    segments = predict_json(tiny_model, red_grey_blue, "--segments", "--threshold", "0.8", "--min-duration", "0.5")[
        "segments"
    ]
    assert [s["label"] for s in segments] == ["red", None, "blue"]
    assert all(set(s) == {"label", "start_s", "end_s", "score"} for s in segments)
    assert segments[0]["start_s"] == 0.0 and segments[-1]["end_s"] == pytest.approx(5.0)
    # Colour changes at 2 s and 4 s; windows of 0.8 s every 0.4 s put the cuts within a window of them.
    assert abs(segments[1]["start_s"] - 2.0) <= 0.8 and abs(segments[2]["start_s"] - 4.0) <= 0.8
    assert segments[0]["score"] > 0.9 and segments[2]["score"] > 0.9
    assert segments[1]["score"] < 0.8


def test_predict_segments_threshold_and_min_duration(tiny_model: Path, red_grey_blue: Path) -> None:
    # Threshold 0.5: grey's 1/3 stays above the release (0.25), so red holds until blue takes over.
    segments = predict_json(tiny_model, red_grey_blue, "--segments", "--threshold", "0.5")["segments"]
    assert [s["label"] for s in segments] == ["red", "blue"]
    # Blue lasts 1 s: a min duration of 1.5 s absorbs it into the longer gap before it.
    segments = predict_json(tiny_model, red_grey_blue, "--segments", "--threshold", "0.8", "--min-duration", "1.5")[
        "segments"
    ]
    assert [s["label"] for s in segments] == ["red", None]


def test_predict_segments_table(tiny_model: Path, red_grey_blue: Path) -> None:
    result = invoke("predict", red_grey_blue, "--model", tiny_model, "--segments", "--threshold", "0.8")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "segments")
    rows = [line for line in lines[start:] if line.strip().startswith(("0.", "1.", "2.", "3.", "4."))]
    assert len(rows) == 3
    assert "red" in rows[0] and "no confident action" in rows[1] and "blue" in rows[2]


def test_predict_rejects_a_threshold_out_of_range(tiny_model: Path, red_grey_blue: Path) -> None:
    result = invoke("predict", red_grey_blue, "--model", tiny_model, "--segments", "--threshold", "1.5")
    assert result.exit_code == 2
    assert "threshold" in result.output


@pytest.mark.real
def test_segments_on_a_real_clip(real_model: Path, clips_dir: Path) -> None:
    # One window (27 frames): one segment over the whole clip, the clip's top-1 when it is confident.
    record = predict_json(real_model, clips_dir / "cleaning_pool_1s.mp4", "--segments", "--provider", "cpu")
    (only,) = record["segments"]
    assert only["start_s"] == 0.0 and only["end_s"] == pytest.approx(record["windows"][-1]["end_s"])
    top = record["top"][0]
    assert only["label"] == (top["label"] if top["score"] >= 0.5 else None)
    assert only["score"] == pytest.approx(top["score"], abs=1e-4)
