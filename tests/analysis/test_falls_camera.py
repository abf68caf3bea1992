"""Falls filmed by a moving camera: the real fall clips' poses through a hand-held camera (pan,
zoom, roll, shake) and one that also follows the person (tests/analysis/augment.py), and the
clips without a fall through the same cameras."""

from __future__ import annotations

import math

import pytest

from posekit.analysis.falls import FallMonitor, feet_frame

from . import augment, clips
from .conftest import run

ONSET_TOL_S = 1.0     # the criterion
NEGATIVES = {**{k: c.path for k, c in clips.NONFALL_CLIPS.items()},
             **{k: c.path for k, c in clips.REP_CLIPS.items()}}


def _falls(events):
    return [e for e in events if e["type"] == "fall"]


@pytest.mark.parametrize("name", sorted(clips.FALL_CLIPS))
def test_falls_found_through_a_hand_held_camera(clip_poses, name):
    c = clips.FALL_CLIPS[name]
    cp = augment.moving_camera(clip_poses(c.path), follow=0.0, seed=1)
    _, events = run(cp, "falls")
    falls = _falls(events)
    assert len(falls) == 1, (name, falls)
    assert abs(falls[0]["onset_s"] - cp.frame_s(c.onset)) <= ONSET_TOL_S


def test_falls_found_through_a_camera_following_the_person(clip_poses):
    """The operator keeps the person's hips where they were: the fall hardly moves them in
    the image, and the hip height above the feet (the feet frame) finds it. Fall10 (prone,
    partly out of the frame, ankles never seen on the floor) is the one the feet frame
    cannot judge."""
    found = {}
    for name, c in clips.FALL_CLIPS.items():
        cp = augment.moving_camera(clip_poses(c.path), follow=1.0, seed=2)
        _, events = run(cp, "falls")
        falls = _falls(events)
        assert len(falls) <= 1
        if falls:
            assert abs(falls[0]["onset_s"] - cp.frame_s(c.onset)) <= ONSET_TOL_S, name
            found[name] = falls[0]["frame"]
    assert len(found) >= 9, found
    assert set(found.values()) == {"feet"}


@pytest.mark.parametrize("follow", [0.0, 1.0])
def test_no_false_fall_through_a_moving_camera(clip_poses, follow):
    false = {}
    for name, path in NEGATIVES.items():
        cp = augment.moving_camera(clip_poses(path), follow=follow, seed=3)
        _, events = run(cp, "falls")
        if _falls(events):
            false[name] = _falls(events)
    assert false == {}


def test_image_frame_fall_of_a_squat_filmed_hand_held_is_vetoed(clip_poses):
    """GYM squats through the hand-held camera: the camera's motion keeps the hips low in the
    image after a squat, which the image frame takes for a fall; the feet frame sees the
    hips back up above the feet and drops it."""
    cp = augment.moving_camera(clip_poses(clips.REP_CLIPS["gym_squat"].path), follow=0.0)
    a, events = run(cp, "falls")
    assert _falls(events) == []
    assert len(a.tracks[0].fall.vetoed) >= 1


def test_feet_frame_and_monitor_units():
    f = {"hip_y_px": 300.0, "ankle_y_px": 500.0, "hip_x_px": 10.0, "torso_px": 100.0}
    g = feet_frame(f)
    assert g["hip_y_px"] == -200.0 and g["ankle_y_px"] == 0.0 and g["hip_x_px"] == 10.0
    assert feet_frame({**f, "ankle_y_px": math.nan}) is None
    m = FallMonitor()
    # a standing person, then nothing: no fall, nothing pending
    for i in range(30):
        assert m.update(i / 15, f) == []
    assert not m.pending and not m.fallen
    assert m.finish() == []
