"""Joint angles on hand-made landmarks (exact values), and the fast per-person path against the
vectorised one on real poses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.analysis import (
    ANGLE_NAMES,
    AngleTracker,
    angle_at,
    angle_between,
    angle_to_vertical,
    compute_angles,
    frame_features,
    joint_angle,
)
from posekit.skeletons import BLAZEPOSE_33, COCO_17
from posekit.types import Poses

IDX = BLAZEPOSE_33.index


def person(points: dict[str, tuple], *, invisible=(), world: dict | None = None) -> Poses:
    """One BlazePose person with the given landmarks (pixels); the others at an arbitrary far
    point. Landmarks in ``invisible`` get score 0.1."""
    kp = np.full((1, 33, 2), 1000.0)
    sc = np.ones((1, 33))
    for n, xy in points.items():
        kp[0, IDX(n)] = xy
    for n in invisible:
        sc[0, IDX(n)] = 0.1
    w = None
    if world is not None:
        w = np.zeros((1, 33, 3))
        for n, xyz in world.items():
            w[0, IDX(n)] = xyz
    return Poses(kp, sc, BLAZEPOSE_33, world=w)


# an upright person facing the camera, arms at right angles (pixels, y down)
BODY = {
    "left_shoulder": (120, 100), "right_shoulder": (80, 100),
    "left_elbow": (120, 150), "right_elbow": (80, 150),
    "left_wrist": (170, 150), "right_wrist": (80, 200),          # left bent 90, right straight
    "left_hip": (115, 200), "right_hip": (85, 200),
    "left_knee": (115, 300), "right_knee": (85, 300),
    "left_ankle": (115, 400), "right_ankle": (85, 400),
    "left_foot_index": (135, 400), "right_foot_index": (105, 400),
    "left_ear": (110, 70), "right_ear": (90, 70),
}


def test_right_angle_and_straight_limb():
    a = compute_angles(person(BODY))
    assert a["left_elbow"][0] == pytest.approx(90.0, abs=1e-9)
    assert a["right_elbow"][0] == pytest.approx(180.0, abs=1e-9)
    assert a["left_knee"][0] == pytest.approx(180.0, abs=1e-9)
    assert a["left_ankle"][0] == pytest.approx(90.0, abs=1e-9)      # shin vertical, foot flat
    # the arm hangs along the trunk: 5 px outward over the 100 px from shoulder to hip
    assert a["left_shoulder"][0] == pytest.approx(math.degrees(math.atan2(5, 100)), abs=1e-9)
    assert a["trunk_lean"][0] == pytest.approx(0.0, abs=1e-9)
    assert a["neck_flexion"][0] == pytest.approx(0.0, abs=1e-9)


def test_invisible_joint_gives_nan_only_where_used():
    a = compute_angles(person(BODY, invisible=("left_elbow",)))
    assert math.isnan(a["left_elbow"][0])
    assert math.isnan(a["left_shoulder"][0])          # hip-shoulder-elbow uses the elbow too
    assert a["right_elbow"][0] == pytest.approx(180.0)
    # a lower threshold accepts the landmark again
    b = compute_angles(person(BODY, invisible=("left_elbow",)), min_visibility=0.05)
    assert b["left_elbow"][0] == pytest.approx(90.0)
    # one hidden hip: the mid-hip still exists, the trunk lean is still measured
    c = compute_angles(person(BODY, invisible=("left_hip",)))
    assert math.isfinite(c["trunk_lean"][0])
    d = compute_angles(person(BODY, invisible=("left_hip", "right_hip")))
    assert math.isnan(d["trunk_lean"][0])


def test_trunk_lean_and_neck_flexion_values():
    leaning = dict(BODY, left_shoulder=(220, 100), right_shoulder=(180, 100),
                   left_ear=(210 + 70, 40), right_ear=(190 + 70, 40))
    a = compute_angles(person(leaning))
    assert a["trunk_lean"][0] == pytest.approx(45.0, abs=1e-9)       # 100 px right, 100 up
    # trunk direction (1, -1); neck direction (70, -60) from mid-shoulder (200, 100)
    want = math.degrees(math.atan2(abs(1 * -60 - (-1) * 70), 1 * 70 + 60))
    assert a["neck_flexion"][0] == pytest.approx(want, abs=1e-9)


def test_world_angles_are_3d():
    # elbow bent 90 degrees in depth: invisible as a bend in the image, visible in 3D
    w = {"left_shoulder": (0.2, -0.5, 0.0), "left_elbow": (0.2, -0.2, 0.0),
         "left_wrist": (0.2, -0.2, -0.3), "left_hip": (0.1, 0.0, 0.0),
         "right_hip": (-0.1, 0.0, 0.0), "right_shoulder": (-0.2, -0.5, 0.0)}
    flat = dict(BODY, left_wrist=(120, 150.001))   # wrist projects onto the elbow
    p = person(flat, world=w)
    assert joint_angle(p, "left_elbow", world=True)[0] == pytest.approx(90.0, abs=1e-6)
    assert joint_angle(p, "trunk_lean", world=True)[0] == pytest.approx(0.0, abs=1e-6)


def test_primitives_and_errors():
    assert angle_at(np.array([1.0, 0]), np.zeros(2), np.array([0, 1.0])) == pytest.approx(90)
    assert math.isnan(angle_at(np.zeros(2), np.zeros(2), np.array([0, 1.0])))   # zero length
    assert angle_between(np.array([1.0, 0, 0]), np.array([-1.0, 0, 0])) == pytest.approx(180)
    assert angle_to_vertical(np.array([0.0, 10]), np.array([0.0, 0])) == pytest.approx(0)
    assert angle_to_vertical(np.array([0.0, 0]), np.array([0.0, 10])) == pytest.approx(180)
    with pytest.raises(KeyError, match="expected one of"):
        joint_angle(person(BODY), "left_wing")
    with pytest.raises(ValueError, match="world"):
        compute_angles(person(BODY), world=True)
    coco = Poses(np.zeros((1, 17, 2)), np.ones((1, 17)), COCO_17)
    with pytest.raises(ValueError, match="blazepose33"):
        compute_angles(coco)
    assert compute_angles(Poses.empty(BLAZEPOSE_33))["left_knee"].shape == (0,)


def test_angle_series_per_track():
    tracker = AngleTracker()
    p = person(BODY)
    two = Poses(np.concatenate([p.keypoints, p.keypoints + 5]),
                np.concatenate([p.scores, p.scores]), BLAZEPOSE_33, track_ids=[7, 3])
    for k in range(4):
        tracker.update(two, 0.1 * k)
    assert sorted(tracker.series) == [3, 7]
    t, v = tracker.series[7].arrays()
    assert t.tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert v["left_elbow"].tolist() == pytest.approx([90.0] * 4)
    d = tracker.series[3].to_dict()
    assert d["time_s"] == [0.0, 0.1, 0.2, 0.3] and len(d["right_knee"]) == 4
    # untracked poses: index i is track i
    t0 = AngleTracker()
    t0.update(p, 0.0)
    assert list(t0.series) == [0]


def test_fast_features_match_vectorised_angles(clip_poses):
    """frame_features computes angles with plain floats; they must equal compute_angles."""
    from . import clips

    cp = clip_poses(clips.REP_CLIPS["biceps"].path)
    n = 0
    for p in cp.poses[::5]:
        if not len(p):
            continue
        vec = compute_angles(p)
        for i, f in enumerate(frame_features(p)):
            for name in ANGLE_NAMES:
                a, b = vec[name][i], f[name]
                assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-6), name
            n += 1
    assert n >= 20
