"""Repetition counts, turning-point times and form feedback on the real exercise clips
(ground truth: ../shared/data/ANALYTICS.md, encoded in tests/analysis/clips.py)."""

from __future__ import annotations

import pytest

from . import clips
from .conftest import frames, run

UNAMBIGUOUS = [k for k, c in clips.REP_CLIPS.items() if c.count is not None]


@pytest.mark.parametrize("name", UNAMBIGUOUS)
def test_rep_count_and_turning_points_match_ground_truth(clip_poses, name):
    c = clips.REP_CLIPS[name]
    cp = clip_poses(c.path)
    _, events = run(cp, c.exercise)
    reps = [e for e in events if e["type"] == "rep"]
    assert len(reps) == c.count, (name, [round(float(f)) for f in
                                         frames(cp, [r["bottom_s"] for r in reps])])
    # the i-th counted rep's turning point lies in the i-th ground-truth window, widened by
    # the sampling step (the analysis sees every stride-th frame)
    for r, (centre, lo, hi) in zip(reps, c.extremes):
        b = float(frames(cp, r["bottom_s"]))
        assert lo - cp.stride <= b <= hi + cp.stride, (name, r["rep"], b, centre)
        assert r["start_s"] < r["bottom_s"] < r["end_s"]
        assert r["exercise"] == c.exercise and r["track_id"] == 0


def test_squat_analysis_clip_gives_exactly_two_despite_long_standing(clip_poses):
    """Squat-Analysis-Model/squat.mp4: long standing phases, walking in, a stretch with arms
    overhead at the end; exactly 2 squats with bottoms ~312 and ~516."""
    cp = clip_poses(clips.REP_CLIPS["squat_analysis"].path)
    a, events = run(cp, "squat,pushup,situp")
    reps = [e for e in events if e["type"] == "rep"]
    squats = [r for r in reps if r["exercise"] == "squat"]
    assert len(squats) == 2
    assert [round(float(f)) for f in frames(cp, [r["bottom_s"] for r in squats])] == \
        pytest.approx([312, 516], abs=12)
    # the hips and elbows bend enough for a sit-up and a push-up, but the body is upright:
    # the body-position gate rejects those movements
    assert {r["exercise"] for r in reps} == {"squat"}
    tr = a.tracks[0]
    assert tr.counters["situp"].counters[0].rejected >= 2


def test_partial_range_curls_do_not_count(clip_poses):
    """GYM bicep_curls.mp4: the arm straightens only at the start, then comes down to ~90 deg
    between lifts; a counter that needs a straight arm for "down" counts 0-1 (ANALYTICS.md)."""
    c = clips.REP_CLIPS["gym_curls"]
    cp = clip_poses(c.path)
    a, events = run(cp, "curl")
    assert len([e for e in events if e["type"] == "rep"]) in c.allowed
    counter = a.tracks[0].counters["curl"].counters[0]
    assert counter.partials == 0 and counter.state in ("active", "moving")


@pytest.mark.parametrize("name", ["push_up-test", "gym_squat", "jumping_jacks", "situps",
                                  "biceps"])
def test_counts_hold_at_half_the_frame_rate(clip_poses, name):
    """Thresholds are in seconds: dropping every other analysed frame (7-12 fps) keeps the
    count."""
    c = clips.REP_CLIPS[name]
    cp = clip_poses(c.path)
    _, events = run(cp, c.exercise, every=2)
    assert len([e for e in events if e["type"] == "rep"]) == c.count


def test_form_feedback_on_real_reps(clip_poses):
    # side-view squats (GYM): deep, upright enough, knees near the toes: every check passes
    cp = clip_poses(clips.REP_CLIPS["gym_squat"].path)
    _, events = run(cp, "squat")
    for r in events:
        checks = {ch["name"]: ch for ch in r["checks"]}
        assert checks["depth"]["ok"] and checks["depth"]["value"] < 60
        assert checks["back_angle"]["ok"] and 10 < checks["back_angle"]["value"] < 35
        assert checks["knees_past_toes"]["ok"] is True
        assert r["form_ok"] is True
    # perfect_pushup_2 (side view, straight body): body line checked and passing
    cp = clip_poses(clips.REP_CLIPS["perfect_pushup_2"].path)
    _, events = run(cp, "pushup")
    lines = [next(ch for ch in r["checks"] if ch["name"] == "body_line") for r in events]
    assert all(ch["ok"] and ch["value"] > 160 for ch in lines)
    # push_up.mp4 (frontal): the body line cannot be judged (None, not False) and the shallow
    # last rep (elbow ~100 deg at the bottom) fails the depth check
    cp = clip_poses(clips.REP_CLIPS["push_up"].path)
    _, events = run(cp, "pushup")
    assert all(next(ch for ch in r["checks"] if ch["name"] == "body_line")["ok"] is None
               for r in events)
    last = {ch["name"]: ch for ch in events[-1]["checks"]}["depth"]
    assert last["ok"] is False and last["value"] > 95 and last["threshold"] == 90.0
    # one-arm curls (biceps.mp4): elbow stays at the side, no torso swing
    cp = clip_poses(clips.REP_CLIPS["biceps"].path)
    _, events = run(cp, "curl")
    for r in events:
        checks = {ch["name"]: ch for ch in r["checks"]}
        assert r["side"] == "left"
        assert checks["elbow_drift"]["ok"] and checks["torso_swing"]["ok"]
