"""Fall detection on the real fall clips (onset/ground from ANALYTICS.md) and on clips without a
fall: sitting down, walking, standing, waving, and every exercise clip."""

from __future__ import annotations

import pytest

from . import clips
from .conftest import frames, run

ONSET_TOL_S = 1.0     # the criterion
GROUND_TOL_S = 1.0


@pytest.mark.parametrize("name", sorted(clips.FALL_CLIPS))
def test_every_fall_clip_raises_one_fall_near_ground_truth(clip_poses, name):
    c = clips.FALL_CLIPS[name]
    cp = clip_poses(c.path)
    _, events = run(cp, "falls")
    falls = [e for e in events if e["type"] == "fall"]
    got = [(round(float(frames(cp, e["onset_s"]))), round(float(frames(cp, e["ground_s"]))))
           for e in falls]
    assert len(falls) == 1, (name, got)
    e = falls[0]
    assert abs(e["onset_s"] - cp.frame_s(c.onset)) <= ONSET_TOL_S, (name, got, c.onset)
    assert abs(e["ground_s"] - cp.frame_s(c.ground)) <= GROUND_TOL_S, (name, got, c.ground)
    assert e["onset_s"] < e["ground_s"] <= e["time_s"]
    assert 0.5 <= e["confidence"] <= 1.0
    assert e["drop_body"] >= 0.8 and e["peak_speed_body_per_s"] >= 1.2


def test_fall_timing_is_close_on_average(clip_poses):
    """Mean absolute onset error over the 10 clips, in frames (29-30 fps)."""
    errs = []
    for c in clips.FALL_CLIPS.values():
        cp = clip_poses(c.path)
        _, events = run(cp, "falls")
        e = next(e for e in events if e["type"] == "fall")
        errs.append(abs(float(frames(cp, e["onset_s"])) - c.onset))
    assert sum(errs) / len(errs) <= 6.0, errs


@pytest.mark.parametrize("name", sorted(clips.NONFALL_CLIPS))
def test_no_fall_when_sitting_walking_standing_or_waving(clip_poses, name):
    cp = clip_poses(clips.NONFALL_CLIPS[name].path)
    _, events = run(cp, "falls")
    assert [e for e in events if e["type"] == "fall"] == []


@pytest.mark.parametrize("name", sorted(clips.REP_CLIPS))
def test_no_fall_during_exercise(clip_poses, name):
    """Squats drop the hips fast and far, push-ups start from the floor: none is a fall (the
    squatter gets back up; the push-up body is never upright)."""
    cp = clip_poses(clips.REP_CLIPS[name].path)
    _, events = run(cp, "falls")
    assert [e for e in events if e["type"] == "fall"] == []


@pytest.mark.parametrize("name", ["Fall01", "Fall02", "Fall04", "Fall07", "Fall09"])
def test_falls_are_found_at_half_the_frame_rate(clip_poses, name):
    c = clips.FALL_CLIPS[name]
    cp = clip_poses(c.path)
    _, events = run(cp, "falls", every=2)
    falls = [e for e in events if e["type"] == "fall"]
    assert len(falls) == 1
    assert abs(falls[0]["onset_s"] - cp.frame_s(c.onset)) <= ONSET_TOL_S


def test_fall_alert_state(clip_poses):
    """After the fall the track is in the fallen state (the overlay alert) to the end."""
    for c in clips.FALL_CLIPS.values():
        cp = clip_poses(c.path)
        a, events = run(cp, "falls")
        e = next(e for e in events if e["type"] == "fall")
        assert a.overlay_state(e["track_id"])["fall_alert"] is True
        assert a.fall_alerts() == [e["track_id"]]
