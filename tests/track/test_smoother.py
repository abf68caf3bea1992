"""One Euro smoothing: jitter of still landmarks, lag on fast moves, per-track state.

Jitter is the mean absolute second difference of a landmark's track, in pixels
(|x[t+1] - 2 x[t] + x[t-1]|, averaged over landmarks, axes and frames): zero for a still or
uniformly moving point, sqrt(12 / pi) = 1.95 sigma for white noise of standard deviation sigma.
Lag is the shift, in frames, that best aligns the smoothed track with the true one.
"""

from __future__ import annotations

import numpy as np
import pytest

from posekit.skeletons import BLAZEPOSE_33, COCO_17
from posekit.track import (
    MEDIAPIPE_POSE_LANDMARKS,
    OneEuroConfig,
    OneEuroFilter,
    Smoother,
    SmootherConfig,
)
from posekit.types import Poses
from tests.track.synth import persons

FPS = 30.0


def jitter(track: np.ndarray) -> float:
    """Mean absolute second difference (pixels) of a (T, ...) track."""
    return float(np.nanmean(np.abs(np.diff(track, n=2, axis=0))))


def lag_frames(smoothed: np.ndarray, truth: np.ndarray, max_lag: int = 15) -> int:
    """Shift (frames) minimising the mean squared error between smoothed[t] and truth[t-lag]."""
    errs = [np.mean((smoothed[k:] - truth[:len(truth) - k]) ** 2) for k in range(max_lag)]
    return int(np.argmin(errs))


def tracked(poses: Poses, ids) -> Poses:
    return poses.replace(track_ids=np.asarray(ids, np.int64))


def test_still_person_jitters_much_less():
    rng = np.random.default_rng(0)
    sm = Smoother()
    raw, out = [], []
    # 3 s at 30 fps of a still person 150 px tall with 0.5 px noise (BlazePose's jitter on a
    # still person of that size is of this order; MediaPipe's settings smooth noise that is
    # small next to the person's size, and treat larger steps as motion)
    for i in range(90):
        p = tracked(persons([[300, 300]], [150], BLAZEPOSE_33, noise_px=0.5, rng=rng), [7])
        raw.append(p.keypoints[0])
        out.append(sm.update(p, i / FPS).keypoints[0])
    raw, out = np.array(raw)[10:], np.array(out)[10:]      # after the first 1/3 s
    truth = persons([[300, 300]], [150], BLAZEPOSE_33).keypoints[0]
    assert jitter(raw) == pytest.approx(1.95 * 0.5, rel=0.1)
    assert jitter(out) < jitter(raw) / 3, (jitter(out), jitter(raw))
    # and the smoothed landmarks are closer to the truth than the raw ones
    assert np.abs(out - truth).mean() < 0.7 * np.abs(raw - truth).mean()


def test_fast_wrist_lags_at_most_two_frames():
    # A wrist swinging +-0.4 body heights at 1 Hz (peak speed 2.5 body heights/s), the rest of
    # the body still; 1 px noise. At 30 fps the filter must follow within 2 frames (67 ms).
    rng = np.random.default_rng(1)
    sm = Smoother()
    wrist = BLAZEPOSE_33.index("left_wrist")
    h = 150.0
    truth, out = [], []
    for i in range(120):
        p = persons([[300, 300]], [h], BLAZEPOSE_33)
        kp = np.array(p.keypoints)
        kp[0, wrist, 1] += 0.4 * h * np.sin(2 * np.pi * i / FPS)
        truth.append(kp[0, wrist, 1])
        kp += rng.normal(0, 1.0, kp.shape)
        p = tracked(p.replace(keypoints=kp), [1])
        out.append(sm.update(p, i / FPS).keypoints[0, wrist, 1])
    truth, out = np.array(truth)[15:], np.array(out)[15:]
    assert lag_frames(out, truth) <= 2
    # amplitude kept: peak-to-peak within 10 % of the true 0.8 body heights
    assert np.ptp(out) == pytest.approx(np.ptp(truth), rel=0.1)


def test_heavier_settings_lag_more():
    # The lag test can fail: without the speed term (beta 0) the same move lags far behind.
    sm = Smoother(keypoints=OneEuroConfig(min_cutoff=0.05, beta=0.0), world=None)
    wrist = COCO_17.index("left_wrist")
    truth, out = [], []
    for i in range(120):
        p = persons([[300, 300]], [150])
        kp = np.array(p.keypoints)
        kp[0, wrist, 1] += 60 * np.sin(2 * np.pi * i / FPS)
        truth.append(kp[0, wrist, 1])
        out.append(sm.update(tracked(p.replace(keypoints=kp), [1]), i / FPS).keypoints[0, wrist,
                                                                                       1])
    assert lag_frames(np.array(out)[15:], np.array(truth)[15:]) > 4


def test_state_per_track_and_dropped_when_track_ends():
    sm = Smoother(max_gap_s=0.5)
    a = tracked(persons([[100, 300], [400, 300]], [150]), [1, 2])
    for i in range(10):
        sm.update(a, i / FPS)
    assert sm.track_ids == [1, 2]
    # track 2 ends; track 1 goes on: after 0.5 s only track 1 holds state
    for i in range(10, 30):
        sm.update(a[[0]], i / FPS)
    assert sm.track_ids == [1]
    # track 2 comes back elsewhere: its first pose passes through unfiltered
    moved = tracked(persons([[100, 300], [600, 200]], [150]), [1, 2])
    out = sm.update(moved, 30 / FPS)
    np.testing.assert_allclose(out.keypoints[1], moved.keypoints[1])
    # track 1 kept its state: a 200 px jump is followed only partly... but it moved 0 px here
    np.testing.assert_allclose(out.keypoints[0], moved.keypoints[0], atol=1e-3)
    sm.drop(1)
    assert sm.track_ids == [2]
    sm.reset()
    assert sm.track_ids == []


def test_tracks_do_not_mix():
    # two persons 300 px apart; swapping their order in the input must not swap their states
    rng = np.random.default_rng(2)
    sm = Smoother()
    for i in range(30):
        p = tracked(persons([[100, 300], [400, 300]], [150], noise_px=2.0, rng=rng), [1, 2])
        if i % 2:
            p = p[[1, 0]]
        out = sm.update(p, i / FPS)
        x = dict(zip(out.track_ids.tolist(), out.keypoints[:, :, 0].mean(axis=1)))
        assert abs(x[1] - 100) < 5 and abs(x[2] - 400) < 5


def test_untracked_poses_pass_through():
    sm = Smoother()
    p = persons([[100, 300]], [150], noise_px=2.0)
    assert sm.update(p, 0.0) is p                            # no track_ids at all
    q = tracked(persons([[100, 300], [300, 300]], [150], noise_px=2.0), [-1, 4])
    for i in range(5):
        out = sm.update(q, i / FPS)
    np.testing.assert_array_equal(out.keypoints[0], q.keypoints[0])
    assert sm.track_ids == [4]


def test_world_landmarks_smoothed_and_nan_kept():
    rng = np.random.default_rng(3)
    sm = Smoother()
    base = persons([[300, 300]], [150], BLAZEPOSE_33)
    w0 = rng.normal(0, 0.3, (1, 33, 3))
    raw, out = [], []
    for i in range(60):
        w = w0 + rng.normal(0, 0.01, w0.shape)                # 1 cm noise
        kp = np.array(base.keypoints)
        kp[0, 0] = np.nan if i % 10 == 5 else kp[0, 0]        # nose missing now and then
        p = tracked(base.replace(keypoints=kp, world=w), [3])
        o = sm.update(p, i / FPS)
        raw.append(w[0])
        out.append(o.world[0])
        assert np.isnan(o.keypoints[0, 0]).all() == (i % 10 == 5)
    assert jitter(np.array(out)[10:]) < jitter(np.array(raw)[10:]) / 2.5


def test_one_euro_matches_reference_recursion():
    # MediaPipe one_euro_filter.cc, written out for one scalar
    c = MEDIAPIPE_POSE_LANDMARKS
    xs = [0.0, 1.0, 1.5, 1.2, 3.0, 3.1]
    ts = [0.0, 0.1, 0.2, 0.3, 0.45, 0.5]
    scale = 1 / 120.0
    f = OneEuroFilter(c)
    got = [float(f(np.array(x), t, scale)) for x, t in zip(xs, ts)]

    def alpha(cutoff, dt):
        return 1 / (1 + 1 / (2 * np.pi * cutoff) / dt)

    y, dx, expect = xs[0], 0.0, [xs[0]]
    for k in range(1, len(xs)):
        dt = ts[k] - ts[k - 1]
        d = (xs[k] - xs[k - 1]) * scale / dt
        dx = dx + alpha(c.derivative_cutoff, dt) * (d - dx)
        y = y + alpha(c.min_cutoff + c.beta * abs(dx), dt) * (xs[k] - y)
        expect.append(y)
    np.testing.assert_allclose(got, expect, rtol=1e-9)
    # a timestamp that does not increase returns the input unfiltered
    assert float(f(np.array(10.0), 0.5, scale)) == 10.0


def test_config_errors():
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0.0)
    with pytest.raises(TypeError):
        Smoother(SmootherConfig(), max_gap_s=1.0)


# ---------------------------------------------------------------------------- real clips
STILL_LANDMARKS = ["nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip"]


def smooth_track(kp: np.ndarray, times: np.ndarray) -> np.ndarray:
    sm = Smoother()
    ones = np.ones((1, kp.shape[1]), np.float32)
    return np.array([sm.update(Poses(k[None], ones, BLAZEPOSE_33, track_ids=[1]), t).keypoints[0]
                     for k, t in zip(kp, times)])


def test_real_still_person_jitter_reduced():
    # Human-Activity-Recognition/stand.mp4: a man standing with his arms down (10 fps, 420 px
    # square; he sways slowly from side to side). Measured: jitter of nose, shoulders and hips
    # 1.89 px raw, 1.23 px smoothed (ratio 0.65).
    from tests.track.realdata import single_person_keypoints

    kp, times = single_person_keypoints("Human-Activity-Recognition/stand.mp4", 106)
    assert np.isfinite(kp).all(), "the person is found on every frame"
    idx = [BLAZEPOSE_33.index(n) for n in STILL_LANDMARKS]
    out = smooth_track(kp, times)
    raw_j, out_j = jitter(kp[5:, idx]), jitter(out[5:, idx])
    assert raw_j > 1.0                                  # pixels: there is jitter to remove
    assert out_j < 0.75 * raw_j, (raw_j, out_j)


def test_real_curling_wrist_lags_at_most_two_frames():
    # Bicep-curl-counter/biceps.mp4, 30 fps: the curling wrist travels about 500 px per curl;
    # the smoothed wrist must follow the raw one within 2 frames. Measured: 0 frames (a One
    # Euro filter without the speed term, beta 0, lags 7 frames here).
    from tests.track.realdata import single_person_keypoints

    kp, times = single_person_keypoints("Bicep-curl-counter/biceps.mp4", 60)
    out = smooth_track(kp, times)
    wrist = max((BLAZEPOSE_33.index(n) for n in ("left_wrist", "right_wrist")),
                key=lambda i: np.nanmax(np.ptp(kp[:, i], axis=0)))
    assert np.nanmax(np.ptp(kp[:, wrist], axis=0)) > 300          # pixels: it moves a lot
    assert lag_frames(out[5:, wrist], kp[5:, wrist], max_lag=10) <= 2
    assert jitter(out[5:, wrist]) < jitter(kp[5:, wrist])
