"""Class-agnostic repetition counting (``reps``, posekit.analysis.cycles) on the real clips
(ground truth: ../shared/data/ANALYTICS.md, encoded in tests/analysis/clips.py), on slowed,
sped-up and moving-camera versions of them (tests/analysis/augment.py), plus unit checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.analysis import Analyzer
from posekit.analysis.cycles import (
    CycleConfig,
    CycleConfigError,
    RepFinder,
    body_relative,
    turning_points,
)
from posekit.skeletons import BLAZEPOSE_33
from posekit.types import Poses

from . import augment, clips
from .conftest import frames, run

#: reps counts complete cycles from the start position and back; the GYM partial-range curls
#: come down to ~90 degrees between lifts: 4 such cycles (ANALYTICS.md).
TRUTH = {k: (c.count if c.count is not None else 4) for k, c in clips.REP_CLIPS.items()}
LABEL = {"biceps": "curl", "push_up-test": "pushup", "perfect_pushup_2": "pushup",
         "push_up": "pushup", "gym_squat": "squat", "gym_curls": "curl",
         "squat_analysis": "squat", "jumping_jacks": "jumping_jack", "situps": "situp"}


def _reps(events):
    return [e for e in events if e["type"] == "rep" and e.get("counter") == "reps"]


@pytest.mark.parametrize("name", sorted(clips.REP_CLIPS))
def test_reps_counts_every_exercise_clip_exactly(clip_poses, name):
    """Squats, curls, push-ups, jumping jacks, crunches: the count, the turning point of each
    repetition within its ground-truth window (widened by the sampling step), the times in
    order, the numbering and the exercise label of the set."""
    c = clips.REP_CLIPS[name]
    cp = clip_poses(c.path)
    a, events = run(cp, "reps")
    reps = _reps(events)
    assert len(reps) == TRUTH[name], (name, [round(float(f)) for f in
                                             frames(cp, [r["turn_s"] for r in reps])])
    assert [r["count"] for r in reps] == list(range(1, len(reps) + 1))
    for r in reps:
        assert r["track_id"] == 0
        assert r["start_s"] < r["turn_s"] < r["end_s"] <= r["time_s"]
        assert r["duration_s"] == pytest.approx(r["end_s"] - r["start_s"], abs=1e-3)
    if c.extremes and name != "situps":     # situps start curled up: turns are the lie-backs
        for r, (_, lo, hi) in zip(reps, c.extremes):
            f = float(frames(cp, r["turn_s"]))
            assert lo - 2 * cp.stride <= f <= hi + 2 * cp.stride, (name, r["count"], f, lo, hi)
    assert a.tracks[0].cycles.exercise == LABEL[name]
    assert a.summary()["tracks"]["0"]["reps"]["reps"]["exercise"] == LABEL[name]
    assert a.summary()["counts"]["reps"] == TRUTH[name]


def test_situps_starting_curled_up_count_lie_back_cycles(clip_poses):
    """situps.mp4 starts curled up: the start position is "up", so each repetition turns at
    a lie-back (21, 54, 91, 126, 163, 198 frames, ANALYTICS.md), within half a second (12
    frames at 24 fps: he rests on his back a while, and the turn is the middle of that
    plateau)."""
    cp = clip_poses(clips.REP_CLIPS["situps"].path)
    _, events = run(cp, "reps")
    turns = [float(f) for f in frames(cp, [r["turn_s"] for r in _reps(events)])]
    assert turns == pytest.approx([21, 54, 91, 126, 163, 198], abs=12)


@pytest.mark.parametrize("name", ["stand", "sit"])
def test_no_repetition_gives_no_rep(clip_poses, name):
    """Standing still; walking in and sitting down twice (single movements, not repeated)."""
    cp = clip_poses(clips.NONFALL_CLIPS[name].path)
    _, events = run(cp, "reps")
    assert _reps(events) == []


def test_single_movements_around_a_set_are_not_counted(clip_poses):
    """Squat-Analysis-Model: walks in, long standing, two squats 6.8 s apart, then a stretch
    with the arms overhead and a turn away: the two squats only."""
    cp = clip_poses(clips.REP_CLIPS["squat_analysis"].path)
    _, events = run(cp, "reps")
    assert [round(float(f)) for f in frames(cp, [r["turn_s"] for r in _reps(events)])] == \
        pytest.approx([312, 516], abs=12)


@pytest.mark.parametrize("speed", [0.5, 2.0])
@pytest.mark.parametrize("name", ["push_up-test", "jumping_jacks", "biceps", "gym_squat"])
def test_slowed_and_sped_up_clips_give_the_same_count(clip_poses, name, speed):
    cp = augment.retime(clip_poses(clips.REP_CLIPS[name].path), speed)
    _, events = run(cp, "reps")
    reps = _reps(events)
    assert len(reps) == TRUTH[name]
    # times scale with the speed: the first turning point moves to 1/speed of its time
    first = clips.REP_CLIPS[name].extremes[0][0] / cp.fps / speed
    assert reps[0]["turn_s"] == pytest.approx(first, abs=0.25 / speed + 0.15)


@pytest.mark.parametrize("follow", [0.0, 1.0])
@pytest.mark.parametrize("name", ["gym_squat", "biceps", "push_up"])
def test_moving_camera_keeps_the_count(clip_poses, name, follow):
    """A hand-held camera that pans, zooms (+-25 %), rolls and shakes, and one that also
    follows the person: body-relative features do not see it."""
    cp = augment.moving_camera(clip_poses(clips.REP_CLIPS[name].path), follow=follow)
    _, events = run(cp, "reps")
    assert len(_reps(events)) == TRUTH[name]


@pytest.mark.parametrize("name", ["gym_squat", "squat_analysis", "biceps", "situps"])
def test_lower_body_leaving_the_frame_keeps_the_count(clip_poses, name):
    """Hips, knees and feet gone from half-way through (walking lunges towards the camera):
    the features left (upper body, and the shoulders' height in the image) carry the count."""
    cp = clip_poses(clips.REP_CLIPS[name].path)
    cp = augment.hide(cp, augment.LOWER_BODY, cp.times[-1] / 2)
    _, events = run(cp, "reps")
    assert len(_reps(events)) == TRUTH[name]


@pytest.mark.parametrize("name", ["gym_squat", "jumping_jacks", "push_up-test"])
def test_reps_are_reported_live_within_one_period(clip_poses, name):
    """Each repetition is reported by the frame stream (not only at the end), within one
    period of its end; the first one waits for the second to confirm that the movement
    repeats."""
    cp = clip_poses(clips.REP_CLIPS[name].path)
    a = Analyzer("reps")
    live = []
    for t, p in zip(cp.times, cp.poses):
        live += a.update(p, float(t))
    assert a.finish() == []
    reps = _reps(live)
    assert len(reps) == TRUTH[name]
    for r, nxt in zip(reps[1:], reps[2:]):
        assert r["time_s"] - r["end_s"] <= r["duration_s"], r
        assert r["time_s"] < nxt["end_s"]
    assert reps[0]["time_s"] <= reps[1]["time_s"]


def test_reps_next_to_named_counters_and_in_the_overlay(clip_poses):
    cp = clip_poses(clips.REP_CLIPS["gym_squat"].path)
    a, events = run(cp, "squat,reps")
    named = [e for e in events if e["type"] == "rep" and "counter" not in e]
    assert len(named) == len(_reps(events)) == 7
    st = a.overlay_state(0)
    assert st["counters"]["reps"]["count"] == 7 and st["counters"]["reps"]["state"] == "squat"
    assert a.names == ["squat", "reps"]


# ---------------------------------------------------------------- units


def test_turning_points_zigzag_with_tempo_change_and_pauses():
    """Five cycles: slow, fast, a pause at the bottom and one at the top; noise below the
    hysteresis is ignored."""
    t = np.linspace(0, 1, 20)
    up = np.sin(np.pi * t) ** 2
    parts = [up, up[::2], np.zeros(15), up, np.concatenate([up[:10], np.ones(12), up[10:]]),
             up[::3]]
    z = np.concatenate(parts) + 0.02 * np.sin(np.arange(sum(len(p) for p in parts)) * 2.1)
    tps, last = turning_points(z, 0.3)
    maxima = [i for i, s in tps if s > 0] + ([last[0]] if last[1] > 0 else [])
    assert len(maxima) == 5
    assert all(z[i] > 0.9 for i in maxima)
    assert [s for _, s in tps] == [(-1) ** (k + 1) for k in range(len(tps))]


def test_body_relative_features_ignore_translation_and_zoom():
    rng = np.random.default_rng(3)
    k = rng.uniform(100, 300, (33, 2)).astype(np.float32)
    s = np.ones(33, np.float32)
    off, torso, width = body_relative(k, s, 0.5)
    off2, torso2, width2 = body_relative(1.7 * k + np.float32([40, -25]), s, 0.5)
    assert torso2 == pytest.approx(1.7 * torso, rel=1e-5)
    assert width2 == pytest.approx(1.7 * width, rel=1e-5)
    np.testing.assert_allclose(np.array(off2) / torso2, np.array(off) / torso, atol=1e-5)
    s[BLAZEPOSE_33.index("left_wrist")] = 0.1
    off3, _, _ = body_relative(k, s, 0.5)
    i = 2 * 5   # left_wrist is the 6th of CYCLE_POINTS
    assert math.isnan(off3[i]) and math.isnan(off3[i + 1]) and not math.isnan(off3[0])


def test_cycle_config_rejects_bad_values():
    with pytest.raises(CycleConfigError, match="hysteresis"):
        CycleConfig(hysteresis=1.5)
    with pytest.raises(CycleConfigError, match="min_swing"):
        CycleConfig(min_swing=-1)
    with pytest.raises(CycleConfigError, match="window_s"):
        CycleConfig(window_s=10.0, max_duration_s=8.0)
    with pytest.raises(TypeError):
        CycleConfig(windows=3)     # unknown setting


def test_repfinder_without_a_person_or_torso_counts_nothing():
    rf = RepFinder()
    k = np.full((33, 2), np.nan, np.float32)
    s = np.zeros(33, np.float32)
    for i in range(100):
        assert rf.update(i / 15, k, s) == []
    assert rf.finish() == [] and rf.count == 0
    a = Analyzer("reps")
    for i in range(30):
        assert a.update(Poses(np.zeros((0, 33, 2), np.float32), np.zeros((0, 33), np.float32),
                              BLAZEPOSE_33), i / 15) == []
