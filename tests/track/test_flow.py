"""LandmarkFlow: BlazePose landmarks carried between frames by Lucas-Kanade optical flow.

Checked on real images: a known sub-pixel shift of messi5.jpg, and consecutive frames of
PETS09-S2L1 (vtest.avi) against the landmark network run on the next frame.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from posekit.track.flow import LandmarkFlow
from tests.conftest import data_path


@functools.cache
def _landmark_model():
    from posekit.models.blazepose import BlazePose

    return BlazePose(mode="image", num_threads=2)


def _shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, image.shape[1::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def test_known_shift_of_a_real_image_is_followed_to_a_tenth_of_a_pixel():
    """messi5.jpg moved by (3.5, -2.25) px: the player's 33 landmarks move by that shift
    within 0.1 px (median) and 0.5 px (each trusted one)."""
    image = cv2.imread(str(data_path("opencv-doc/messi5.jpg")))
    poses = _landmark_model()(image)
    assert len(poses) >= 1
    flow = LandmarkFlow()
    flow.set_frame(image)
    flow.set_frame(_shifted(image, 3.5, -2.25))
    moved, ok = flow.propagate(poses.keypoints[:1])
    assert ok.tolist() == [True]
    err = np.linalg.norm(moved[0] - (poses.keypoints[0] + [3.5, -2.25]), axis=1)
    assert np.median(err) < 0.1, err
    assert np.percentile(err, 75) < 0.5, err


def test_pets09_landmarks_carried_one_frame_land_near_the_networks():
    """PETS09-S2L1 frames 0-30, persons in their GT boxes: landmarks carried from frame t-1
    to t by the flow lie within 2.5 px (median over persons and frames) of the network's
    landmarks on frame t, closer than leaving them where they were, for people 60-130 px
    tall walking at 7 frames/s."""
    from bench.bench_flow import carry_errors

    e = carry_errors(data_path("opencv-doc/vtest.avi"), data_path("pets09-s2l1/gt/gt.txt"), 31,
                     _landmark_model())
    moved_err, still_err = e.moved, e.still
    total, failed = len(e.followed), e.followed.count(False)
    assert total > 100 and failed <= 0.05 * total, (failed, total)
    assert np.median(moved_err) < 2.5, np.median(moved_err)
    assert np.median(moved_err) < 0.6 * np.median(still_err), (np.median(moved_err),
                                                                np.median(still_err))


def test_untextured_frame_is_a_flow_failure():
    """Where the person was replaced by a flat grey frame there is nothing to follow: the
    person is reported as not carried (``ok`` False), keypoints unchanged."""
    image = cv2.imread(str(data_path("opencv-doc/messi5.jpg")))
    kp = _landmark_model()(image).keypoints[:1]
    flow = LandmarkFlow()
    flow.set_frame(image)
    flow.set_frame(np.full_like(image, 128))
    moved, ok = flow.propagate(kp)
    assert ok.tolist() == [False]
    np.testing.assert_array_equal(moved, kp)


def test_flow_needs_two_frames_and_valid_settings():
    flow = LandmarkFlow()
    assert not flow.ready
    flow.set_frame(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(RuntimeError, match="two frames"):
        flow.propagate(np.zeros((1, 33, 2), np.float32))
    flow.set_frame(np.zeros((64, 64, 3), np.uint8))
    assert flow.ready
    flow.set_frame(np.zeros((32, 32, 3), np.uint8))      # another size: starts anew
    assert not flow.ready
    with pytest.raises(ValueError, match="max_fb_error"):
        LandmarkFlow(max_fb_error=0)
    with pytest.raises(ValueError, match="min_tracked"):
        LandmarkFlow(min_tracked=0)
    with pytest.raises(ValueError, match="margin"):
        LandmarkFlow(margin=-0.1)
