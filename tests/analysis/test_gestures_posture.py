"""Gestures (wave.mp4 and hand-made poses) and posture angles (hand-made and stand.mp4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.analysis import (
    GestureDetector,
    PostureConfig,
    PostureMonitor,
    frame_features,
    posture_angles,
)
from posekit.skeletons import BLAZEPOSE_33
from posekit.types import Poses

from . import clips
from .conftest import frames, run
from .test_angles import BODY, person


def test_wave_clip_gives_one_then_two_hand_wave(clip_poses):
    """wave.mp4 (10 fps): his right hand waves 0-~42, the other arm comes up ~44-46, both
    hands wave ~48-124."""
    cp = clip_poses(clips.NONFALL_CLIPS["wave"].path)
    _, events = run(cp, "gestures")
    g = [e for e in events if e["type"] == "gesture"]
    assert [e["name"] for e in g] == ["wave_one_hand", "wave_two_hands"], g
    one, two = g
    assert one["side"] == "right"
    tol = 5  # frames (0.5 s at 10 fps)
    assert frames(cp, one["start_s"]) <= clips.WAVE_ONE_HAND_FRAMES[0] + tol
    assert abs(frames(cp, one["end_s"]) - 45) <= tol          # until the other arm is up
    assert abs(frames(cp, two["start_s"]) - clips.WAVE_TWO_HAND_FRAMES[0]) <= tol
    assert frames(cp, two["end_s"]) >= clips.WAVE_TWO_HAND_FRAMES[1] - tol


@pytest.mark.parametrize("name", ["stand", "sit", "walk"])
def test_no_gesture_without_one(clip_poses, name):
    cp = clip_poses(clips.NONFALL_CLIPS[name].path)
    _, events = run(cp, "gestures")
    assert [e for e in events if e["type"] == "gesture"] == []


@pytest.mark.parametrize("name", ["jumping_jacks", "situps", "biceps", "squat_analysis"])
def test_exercise_is_no_wave(clip_poses, name):
    """Arms overhead in jumping jacks, hands behind the head in sit-ups and squats, curls: no
    wave (a wave needs an upright trunk, a raised wrist and side-to-side swings)."""
    cp = clip_poses(clips.REP_CLIPS[name].path)
    _, events = run(cp, "gestures")
    assert [e["name"] for e in events if e["type"] == "gesture"
            and e["name"].startswith("wave")] == []


def _pose_seq(points_at, times):
    det = GestureDetector()
    events = []
    for t in times:
        p = person(points_at(t))
        f = frame_features(p)[0]
        events += det.update(t, p.keypoints[0], p.scores[0], f)
    return events + det.finish()


def test_static_gestures_on_hand_made_poses():
    t = np.arange(0, 2.0, 0.1)
    tpose = dict(BODY, left_elbow=(170, 100), left_wrist=(220, 100), right_elbow=(30, 100),
                 right_wrist=(-20, 100))
    ev = _pose_seq(lambda _: tpose, t)
    assert [e["name"] for e in ev] == ["t_pose"]
    assert ev[0]["start_s"] == 0.0 and ev[0]["end_s"] == pytest.approx(1.9)
    up = dict(BODY, left_elbow=(125, 50), left_wrist=(125, 0), right_elbow=(75, 50),
              right_wrist=(75, 0), nose=(100, 60))
    assert [e["name"] for e in _pose_seq(lambda _: up, t)] == ["hands_up"]
    point = dict(BODY, left_elbow=(170, 80), left_wrist=(220, 60), right_elbow=(80, 150),
                 right_wrist=(80, 200))
    ev = _pose_seq(lambda _: point, t)
    assert [(e["name"], e["side"]) for e in ev] == [("pointing", "left")]
    assert ev[0]["direction_deg"] == pytest.approx(math.degrees(math.atan2(40, 100)), abs=0.1)
    # a straight arm resting forward on the knee (57 deg from the trunk, seated) is no pointing
    rest = dict(BODY, left_elbow=(160, 129), left_wrist=(201, 159))
    assert _pose_seq(lambda _: rest, t) == []
    # too short: 0.3 s of T-pose is no event
    assert _pose_seq(lambda tt: tpose if tt < 0.3 else BODY, t) == []


def test_synthetic_wave_one_then_two_hands():
    def at(tt):
        x = 60 * math.sin(2 * math.pi * tt / 1.2)           # 0.83 Hz swings of 0.6 L
        pts = dict(BODY, right_elbow=(60, 70), right_wrist=(60 + x, 20), nose=(100, 60))
        if tt >= 3.0:
            pts.update(left_elbow=(140, 70), left_wrist=(140 - x, 20))
        return pts
    ev = _pose_seq(at, np.arange(0, 6.0, 1 / 15))
    assert [(e["name"], e["side"]) for e in ev] == [("wave_one_hand", "right"),
                                                    ("wave_two_hands", "both")]
    assert ev[0]["start_s"] <= 0.1 and ev[1]["start_s"] == pytest.approx(3.0, abs=0.2)


def test_posture_angles_hand_made():
    # side view facing right: shoulders overlap, ear 25 deg forward of the shoulder
    side = {"left_shoulder": (100, 100), "right_shoulder": (102, 100),
            "left_hip": (100, 200), "right_hip": (102, 200),
            "left_ear": (101 + 40 * math.sin(math.radians(25)),
                         100 - 40 * math.cos(math.radians(25))),
            "nose": (140, 60)}
    side["right_ear"] = side["left_ear"]
    a = posture_angles(person(side))[0]
    assert a["forward_head"] == pytest.approx(25.0, abs=0.01)
    assert math.isnan(a["shoulder_tilt"])               # not measurable from the side
    assert a["trunk_lean"] == pytest.approx(0.0, abs=0.01)
    assert a["rounded_shoulders"] < 0                    # shoulder behind the ear-hip line
    # facing left: the same geometry mirrored is still +25 (forward = where the nose points)
    mirror = {k: (200 - x, y) for k, (x, y) in side.items()}
    assert posture_angles(person(mirror))[0]["forward_head"] == pytest.approx(25.0, abs=0.01)
    # frontal (shoulders 0.6 torso lengths apart): shoulder line tilted by 10 degrees
    tilt = dict(BODY, left_shoulder=(130, 100 - 60 * math.tan(math.radians(10))),
                right_shoulder=(70, 100))
    a = posture_angles(person(tilt))[0]
    assert a["shoulder_tilt"] == pytest.approx(10.0, abs=0.01)
    assert math.isnan(a["forward_head"])                # no world landmarks, not a side view


def test_posture_monitor_time_beyond_limit_and_events():
    mon = PostureMonitor(PostureConfig(min_duration_s=1.0, smoothing_s=0.0))
    ev = []
    for k in range(60):                                   # 6 s at 10 Hz
        t = 0.1 * k
        lean = 30.0 if 1.0 <= t < 3.5 else 5.0            # 2.5 s beyond the 20 deg limit
        ev += mon.update(t, {"trunk_lean": lean, "forward_head": 10.0})
    ev += mon.finish()
    assert mon.time_beyond_s["trunk_lean"] == pytest.approx(2.5, abs=0.11)
    assert mon.time_beyond_s["forward_head"] == 0.0
    assert [(e["name"], e["start_s"], e["end_s"]) for e in ev] == [("trunk_lean", 1.0, 3.4)]
    assert ev[0]["limit_deg"] == 20.0 and ev[0]["peak_deg"] == 30.0
    s = mon.summary()["trunk_lean"]
    assert s["fraction_beyond"] == pytest.approx(2.5 / 5.9, abs=0.03)


def test_posture_on_a_person_standing_still(clip_poses):
    """stand.mp4: a man standing upright facing the camera (shoulder line visibly a few degrees
    off horizontal): every angle is measured, trunk lean and forward head stay within their
    limits the whole time."""
    cp = clip_poses(clips.NONFALL_CLIPS["stand"].path)
    a, events = run(cp, "posture")
    assert {e["name"] for e in events if e["type"] == "posture"} <= {"shoulder_tilt"}
    ang = np.array([[d[n] for n in ("trunk_lean", "shoulder_tilt", "forward_head")]
                    for d in (posture_angles(p)[0] for p in cp.poses if len(p))])
    assert np.isfinite(ang).mean(axis=0).min() > 0.95       # frontal view: all measurable
    assert np.percentile(ang[:, 0], 90) < 12 and np.percentile(ang[:, 1], 90) < 12
    (track,) = a.summary()["tracks"].values()
    t = track["posture"]["time"]
    assert t["trunk_lean"]["time_beyond_s"] == 0.0 and t["forward_head"]["time_beyond_s"] == 0
    assert t["trunk_lean"]["time_observed_s"] > 9.0


def test_empty_and_untracked_input():
    assert posture_angles(Poses.empty(BLAZEPOSE_33)) == []
    assert frame_features(Poses.empty(BLAZEPOSE_33)) == []
