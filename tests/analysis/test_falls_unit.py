"""The fall detector on synthetic per-sample features: a fall, sitting down under control, a
fast squat, a glitch, and a fall whose track is lost and continues on a new track."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.analysis import FallConfig, FallDetector

FPS = 15.0


def sample(hip_y, lean, world_hip, ankle_y=580.0, torso=100.0, hip_x=200.0):
    return {"hip_x_px": hip_x, "hip_y_px": hip_y, "torso_px": torso, "trunk_lean": lean,
            "world_trunk_lean": lean, "ankle_y_px": ankle_y, "world_hip_height_m": world_hip}


def path(segments):
    """Piecewise-linear (duration_s, hip_y, lean, world_hip) keyframes -> timed samples."""
    out, t = [], 0.0
    prev = segments[0][1:]
    for dur, *vals in segments:
        n = max(1, round(dur * FPS))
        for k in range(1, n + 1):
            f = k / n
            y, lean, wh = (a + (b - a) * f for a, b in zip(prev, vals))
            out.append((t + k / FPS, sample(y, lean, wh)))
        t += n / FPS
        prev = vals
    return out


def feed(det, samples):
    ev = []
    for t, f in samples:
        ev += det.update(t, f)
    return ev + det.finish()


FALL = [(2.0, 400, 5, 0.8), (0.2, 410, 10, 0.75), (0.4, 560, 80, 0.1), (2.0, 560, 85, 0.05)]


def test_fall_onset_ground_and_confidence():
    det = FallDetector()
    ev = feed(det, path(FALL))
    assert len(ev) == 1
    e = ev[0]
    assert e["onset_s"] == pytest.approx(2.2, abs=0.1)      # 10 % of the drop is at ~2.23 s
    assert e["ground_s"] == pytest.approx(2.53, abs=0.1)
    # the drop is measured from the last point near the top (410 px) to the floor (560 px)
    assert e["confidence"] > 0.9 and e["drop_body"] == pytest.approx(1.5, abs=0.01)
    assert det.fallen


def test_no_fall_when_sitting_down_slowly_or_squatting():
    sit = [(2.0, 400, 5, 0.8), (1.5, 500, 15, 0.45), (3.0, 500, 15, 0.45)]
    assert feed(FallDetector(), path(sit)) == []
    # fast and deep, but back up within a second
    squat = [(2.0, 400, 5, 0.8), (0.4, 530, 30, 0.35), (0.3, 530, 30, 0.35),
             (0.5, 400, 5, 0.8), (2.0, 400, 5, 0.8)]
    det = FallDetector()
    assert feed(det, path(squat)) == []
    assert det.rejected and "back up" in det.rejected[0]["reason"]
    # the same drop without lying down or low hips (e.g. kneeling upright) is no fall
    kneel = [(2.0, 400, 5, 0.8), (0.4, 520, 10, 0.6), (2.0, 520, 10, 0.6)]
    assert feed(FallDetector(), path(kneel)) == []


def test_fall_is_frame_rate_independent():
    s = path(FALL)
    for step in (1, 2, 3):               # 15, 7.5, 5 samples per second
        ev = feed(FallDetector(), s[::step])
        assert len(ev) == 1 and ev[0]["onset_s"] == pytest.approx(2.2, abs=0.25)


def test_one_frame_glitch_is_no_fall():
    s = path([(2.0, 400, 5, 0.8), (3.0, 400, 5, 0.8)])
    s[35] = (s[35][0], sample(560, 170, 0.05))      # one upside-down pose low in the image
    det = FallDetector()
    assert feed(det, s) == []


def test_fall_continues_on_a_new_track():
    s = path(FALL)
    cut = next(i for i, (_, f) in enumerate(s) if f["hip_y_px"] > 520)
    a, b = FallDetector(), FallDetector()
    ev = []
    for t, f in s[:cut]:
        ev += a.update(t, f)
    assert a.pending and ev == []
    t_new, f_new = s[cut + 3]
    ev += a.missing(s[cut][0]) + b.update(t_new, dict(f_new, hip_x_px=230.0))
    assert b.handover_distance(a) == pytest.approx(np.hypot(30, f_new["hip_y_px"] -
                                                            s[cut - 1][1]["hip_y_px"]) / 100,
                                                   abs=0.01)
    b.adopt(a)
    assert b.pending and not a.pending
    for t, f in s[cut + 4:]:
        ev += b.update(t, f)
    assert len(ev) == 1 and ev[0]["track_handover"] is True
    assert ev[0]["onset_s"] == pytest.approx(2.2, abs=0.1)
    assert a.finish() == []


def test_lost_track_is_judged_on_what_was_seen():
    s = path(FALL)
    det = FallDetector(FallConfig(lost_wait_s=0.5))
    stop = next(i for i, (_, f) in enumerate(s) if f["hip_y_px"] >= 560) + 2   # on the floor
    ev = []
    for t, f in s[:stop]:
        ev += det.update(t, f)
    t_last = s[stop - 1][0]
    assert det.missing(t_last + 0.3) == []                  # not yet: maybe another track
    ev += det.missing(t_last + 0.6)
    assert len(ev) == 1 and ev[0]["track_lost"] is True


def test_a_glitch_below_the_floor_does_not_make_the_person_look_back_up():
    """A pose glitch on the floor (hips put 1.4 L lower for 0.3 s, as BlazePose does in
    Fall05 frames 178-186) must not become the fall's "lowest point" against which the person
    really lying at 560 px looks "back up": staying down is measured from the standing
    height."""
    s = path(FALL)
    land = next(i for i, (_, f) in enumerate(s) if f["hip_y_px"] >= 560)
    for i in range(land + 2, land + 7):                     # 5 samples = 0.33 s
        s[i] = (s[i][0], sample(700, 85, 0.05))
    det = FallDetector()
    ev = feed(det, s)
    assert len(ev) == 1, det.rejected
    assert ev[0]["stayed_down"] == 1.0
    assert ev[0]["onset_s"] == pytest.approx(2.2, abs=0.1)


def test_hidden_ankles_on_the_floor_use_the_feet_seen_before_the_fall():
    """Sitting on the floor after the fall (torso upright), ankles and world landmarks not
    available: the hips are below the level where the feet stood (580 px), so on the floor;
    the same end posture with the hips 1.2 L above that level (kneeling up) is no fall."""
    def hide(samples, after_y):
        out = []
        for t, f in samples:
            if f["hip_y_px"] >= after_y:
                f = dict(f, ankle_y_px=np.nan, world_hip_height_m=np.nan)
            out.append((t, f))
        return out

    sit_on_floor = [(2.0, 400, 5, 0.8), (0.2, 410, 10, 0.75), (0.4, 560, 20, 0.1),
                    (2.0, 560, 20, 0.1)]
    det = FallDetector()
    ev = feed(det, hide(path(sit_on_floor), 500))
    assert len(ev) == 1, det.rejected
    kneel_up = [(2.0, 350, 5, 0.8), (0.2, 360, 10, 0.75), (0.3, 460, 20, 0.6),
                (2.0, 460, 20, 0.6)]         # a 1 L drop, hips 1.2 L above the feet seen before
    det = FallDetector()
    assert feed(det, hide(path(kneel_up), 440)) == []
    assert det.rejected and "not on the floor" in det.rejected[0]["reason"]


def test_a_handed_over_fall_is_not_raised_again_by_the_lost_track():
    """After a new track adopts the pending fall, the lost track may come back (the model
    sometimes keeps a second, duplicate pose of the person on the floor, Fall09): it must not
    raise the same fall from its old history."""
    s = path(FALL)
    cut = next(i for i, (_, f) in enumerate(s) if f["hip_y_px"] > 520)
    a, b = FallDetector(), FallDetector()
    ev_a, ev_b = [], []
    for t, f in s[:cut]:
        ev_a += a.update(t, f)
    b.update(*s[cut])
    b.adopt(a)
    for t, f in s[cut + 1:]:
        ev_b += b.update(t, f)
        ev_a += a.update(t, dict(f, hip_y_px=f["hip_y_px"] + 10))   # the duplicate pose
    ev_a += a.finish()
    ev_b += b.finish()
    assert len(ev_b) == 1 and ev_a == []
