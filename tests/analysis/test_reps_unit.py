"""The repetition state machine on synthetic angle signals: hysteresis, partial movements,
pauses, clips that start mid-rep, frame-rate independence, one-sided exercises."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from posekit.analysis import (
    EXERCISES,
    ExerciseCounter,
    ExerciseSpec,
    FormCheck,
    count_reps,
    exercise,
)

SQUAT = EXERCISES["squat"]


def squat_signal(fps: float, bottoms=(60.0, 60.0, 60.0), period_s=2.0, hold_s=0.0,
                 start_deg=170.0, noise=0.0, seed=0):
    """Knee angle of squats: standing at 170 deg, cosine down to each bottom and back."""
    rng = np.random.default_rng(seed)
    t, v = [], []
    t0 = 0.0
    for b in [*bottoms, None]:
        n = round((period_s if b is not None else 1.0) * fps)
        for k in range(n):
            tt = t0 + k / fps
            if b is None:
                val = start_deg
            else:
                ph = k / n
                if hold_s and abs(ph - 0.5) * period_s < hold_s / 2:
                    val = b
                else:
                    val = b + (start_deg - b) * 0.5 * (1 + np.cos(2 * np.pi * ph))
            t.append(tt)
            v.append(val + noise * rng.standard_normal())
        t0 += n / fps
    return np.array(t), np.array(v)


def feats(values, key="knee_mean"):
    return [{key: float(x)} for x in values]


@pytest.mark.parametrize("fps", [5, 10, 15, 30, 60])
def test_count_and_bottom_times_do_not_depend_on_frame_rate(fps):
    t, v = squat_signal(fps)
    reps = count_reps(t, feats(v), "squat")
    assert len(reps) == 3
    # true bottoms at 1, 3, 5 s; allow one sample plus smoothing
    for r, want in zip(reps, [1.0, 3.0, 5.0]):
        assert abs(r["bottom_s"] - want) <= 1.0 / fps + 0.05
        assert r["start_s"] < r["bottom_s"] < r["end_s"]
        assert r["range_deg"] == pytest.approx(110, abs=8)


def test_noise_around_one_threshold_is_not_a_rep():
    # standing with +-3 deg noise right at the rest threshold, then hovering at the active one
    t = np.arange(0, 10, 1 / 30)
    v = np.where(t < 5, SQUAT.rest, SQUAT.active) + 3 * np.sin(2 * np.pi * 3 * t)
    assert count_reps(t, feats(v), "squat") == []


def test_partial_movements_do_not_count():
    t, v = squat_signal(30, bottoms=(130.0, 125.0, 60.0, 120.0))   # three half squats, one deep
    ec = ExerciseCounter(SQUAT)
    reps = [r for tt, f in zip(t, feats(v)) for r in ec.update(float(tt), f)]
    assert len(reps) == 1 and reps[0]["bottom_deg"] == pytest.approx(60, abs=3)
    assert ec.counters[0].partials == 3


def test_pause_at_the_bottom_and_long_standing():
    t, v = squat_signal(15, bottoms=(55.0, 55.0), period_s=6.0, hold_s=3.0)
    reps = count_reps(t, feats(v), "squat")
    assert len(reps) == 2
    # the held bottom is reported at the middle of the hold (3 s and 9 s)
    assert [r["bottom_s"] for r in reps] == pytest.approx([3.0, 9.0], abs=0.15)


def test_too_fast_or_too_small_is_rejected():
    quick = dataclasses.replace(SQUAT, min_duration_s=1.5)
    t, v = squat_signal(30, bottoms=(60.0,), period_s=1.0)
    assert count_reps(t, feats(v), quick) == []
    assert len(count_reps(t, feats(v), SQUAT)) == 1
    deep = dataclasses.replace(SQUAT, min_range=150.0)
    assert count_reps(t, feats(v), deep) == []


def test_clip_starting_mid_rep_is_not_counted():
    t, v = squat_signal(15, bottoms=(60.0, 60.0))
    start = np.searchsorted(t, 1.0)          # begin at the first bottom
    reps = count_reps(t[start:], feats(v[start:]), "squat")
    assert len(reps) == 1


def test_missing_signal_longer_than_max_gap_forgets_the_rep():
    t, v = squat_signal(15, bottoms=(60.0,))
    v = v.copy()
    v[(t > 0.8) & (t < 2.1)] = np.nan                  # hidden for 1.3 s around the bottom
    assert count_reps(t, feats(v), "squat") == []
    v2 = squat_signal(15, bottoms=(60.0,))[1]
    v2[(t > 0.8) & (t < 1.2)] = np.nan                 # hidden for 0.4 s: still counted
    assert len(count_reps(t, feats(v2), "squat")) == 1


def test_rising_exercise_and_form_checks():
    # jumping jack: arms go up (active > rest); ankle spread gives the feet check
    t = np.arange(0, 6, 1 / 20)
    arms = 15 + 140 * 0.5 * (1 - np.cos(2 * np.pi * t / 1.5))
    f = [{"shoulder_mean": a, "ankle_spread": 1.0 + a / 100} for a in arms]
    reps = count_reps(t, f, "jumping_jack")
    assert len(reps) == 4
    r = reps[0]
    assert r["bottom_s"] == pytest.approx(0.75, abs=0.06)
    checks = {c["name"]: c for c in r["checks"]}
    assert checks["arms_overhead"]["ok"] and checks["arms_overhead"]["threshold"] == 140.0
    assert checks["feet_apart"]["value"] == pytest.approx(2.55, abs=0.05)
    assert r["form_ok"] is True


def test_unmeasured_check_is_none_not_false():
    t, v = squat_signal(15, bottoms=(60.0,))
    r = count_reps(t, feats(v), "squat")[0]
    assert {c["name"]: c["ok"] for c in r["checks"]} == {
        "depth": True, "back_angle": None, "knees_past_toes": None}


def test_curl_arms_together_count_once_alternating_count_each():
    t = np.arange(0, 8, 1 / 15)
    up = 165 - 110 * 0.5 * (1 - np.cos(2 * np.pi * t / 2.0))      # 4 curls, 2 s each
    late = 165 - 110 * 0.5 * (1 - np.cos(2 * np.pi * (t - 1.0) / 2.0))
    late[t < 1.0] = 165
    together = [{"left_elbow": a, "right_elbow": a + 3} for a in up]
    alternating = [{"left_elbow": a, "right_elbow": b} for a, b in zip(up, late)]
    assert len(count_reps(t, together, "curl")) == 4
    reps = count_reps(t, alternating, "curl")
    assert len(reps) == 7                  # 4 left + 3 complete right
    assert {r["side"] for r in reps} == {"left", "right"}


def test_lunge_uses_the_more_bent_knee():
    t, front = squat_signal(15, bottoms=(85.0, 85.0))
    back = np.full_like(front, 170.0)
    f = [{"knee_min": min(a, b)} for a, b in zip(front, back)]
    assert len(count_reps(t, f, "lunge")) == 2


def test_spec_validation_and_lookup():
    with pytest.raises(KeyError, match="expected one of"):
        exercise("burpee")
    with pytest.raises(ValueError):
        ExerciseSpec(name="x", signal="knee_mean", signal_doc="", rest=100, active=100,
                     min_range=10)
    with pytest.raises(ValueError, match="bottom, max, min, median or range"):
        FormCheck(name="c", feature="f", at="mean", op="<=", threshold=1).evaluate(
            np.array([1.0]), np.array([True]))
    assert set(EXERCISES) == {"squat", "pushup", "curl", "jumping_jack", "lunge", "situp"}
