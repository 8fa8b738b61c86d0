from __future__ import annotations

import numpy as np
import pytest
from synthetic import tiny_spec

from vidclass import scores
from vidclass.preprocess import center_crop, preprocess_frame, resized_size, stack_window


@pytest.mark.parametrize(
    ("hw", "expected"),
    [((256, 340), (256, 340)), ((240, 426), (256, 454)), ((1080, 1920), (256, 455)), ((224, 224), (256, 256)),
     ((640, 360), (455, 256)), ((97, 225), (256, 594))],
)
def test_resized_size_keeps_aspect_and_sets_short_side(hw: tuple[int, int], expected: tuple[int, int]) -> None:
    assert resized_size(*hw, 256) == expected


def test_center_crop_offsets_follow_floor_division() -> None:
    image = np.arange(5 * 7).reshape(5, 7)
    assert center_crop(image, 2, 3).tolist() == [[9, 10, 11], [16, 17, 18]]


def test_preprocess_scales_reorders_channels_and_respects_layout() -> None:
    spec = tiny_spec(resize_short_side=4, crop_height=4, crop_width=4)
    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 0, 127, 255  # B, G, R
    frame = preprocess_frame(image, spec)
    assert frame.shape == (4, 4, 3) and frame.dtype == np.float32
    np.testing.assert_allclose(frame[0, 0], [1.0, 127 / 127.5 - 1, -1.0], atol=1e-6)  # R, G, B
    chw = preprocess_frame(image, tiny_spec(input_layout="NCTHW", resize_short_side=4, crop_height=4, crop_width=4))
    assert chw.shape == (3, 4, 4)
    np.testing.assert_array_equal(chw.transpose(1, 2, 0), frame)


def test_stack_window_holds_the_last_frame_up_to_the_minimum() -> None:
    spec = tiny_spec()
    frames = [np.full((2, 2, 3), i, np.float32) for i in range(3)]
    clip = stack_window(frames, spec, min_frames=5)
    assert clip.shape == (5, 2, 2, 3)
    assert clip[:, 0, 0, 0].tolist() == [0, 1, 2, 2, 2]
    ncthw = stack_window([f.transpose(2, 0, 1) for f in frames], tiny_spec(input_layout="NCTHW"), 3)
    assert ncthw.shape == (3, 3, 2, 2)


def test_softmax_is_stable_and_normalised() -> None:
    p = scores.softmax(np.array([1000.0, 1000.0, -1000.0]))
    np.testing.assert_allclose(p, [0.5, 0.5, 0.0])


def test_window_probabilities_average_logits_over_time_first() -> None:
    step_logits = np.array([[[4.0, 0.0], [0.0, 2.0]]])  # [N=1, T'=2, C=2]
    np.testing.assert_allclose(scores.window_probabilities(step_logits)[0], scores.softmax(np.array([2.0, 1.0])))


def test_clip_probabilities_are_the_mean_of_window_probabilities() -> None:
    windows = [np.array([0.9, 0.1]), np.array([0.3, 0.7])]
    np.testing.assert_allclose(scores.clip_probabilities(windows), [0.6, 0.4])


def test_top_k_orders_and_clamps() -> None:
    assert scores.top_k(np.array([0.1, 0.6, 0.3]), 2) == [(1, 0.6), (2, 0.3)]
    assert len(scores.top_k(np.array([0.5, 0.5]), 10)) == 2


def test_top1_spans_merge_overlapping_windows() -> None:
    probs = [np.array([0.9, 0.1]), np.array([0.8, 0.2]), np.array([0.1, 0.9]), np.array([0.7, 0.3])]
    bounds = [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (5.0, 7.0)]
    assert scores.top1_spans(probs, bounds, 0) == [(0.0, 3.0), (5.0, 7.0)]
    assert scores.top1_spans(probs, bounds, 1) == [(2.0, 4.0)]
