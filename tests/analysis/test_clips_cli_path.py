"""The analyses on the poses users get from ``posekit run SOURCE --analyze ...``.

The other clip tests analyse ``blazepose-mediapipe`` poses at about 15 fps; the command line
runs the native ``blazepose`` model on every frame under ``posekit.cli._tracking``
(:class:`~posekit.track.TopDownTracker` + One Euro :class:`~posekit.track.Smoother`), whose
poses are smoothed, tracked and at the clip's full frame rate. Three clips check that the
analyses hold there too (a fall, a repetition count, waves); poses are cached by
:func:`clips.cli_path_poses` (about 25 s on a fresh cache).

Known limit, kept as a strict xfail so that it is noticed when fixed: the top-down tracker gives
the landmark network axis-aligned ROIs (rotation 0) built from the tracked boxes, and the
network does not find a horizontal body in such a crop, so a person lying on the floor (or
doing push-ups or sit-ups) is lost after a frame or two. Measured on all the analytics clips
(ANALYTICS.md): the fall of Fall10 is never seen and Fall05's onset comes 17 frames late;
push_up-test, perfect_pushup_2 and situps give a person in 1, 3 and 34 of 318, 589 and 229
frames (0, 0 and 0 reps counted); the same model in its own video mode (ROIs rotated from the
previous frame's landmarks) with a :class:`~posekit.track.Tracker` stage finds every fall
within 6 frames of the onset and counts every clip exactly except push_up.mp4 (6 for 5, a
second track on the same woman for her last rep).
"""

from __future__ import annotations

import pytest

from posekit.analysis import Analyzer

from . import clips

ONSET_TOL_S = 1.0     # the criterion


@pytest.fixture(scope="module")
def cli_poses():
    def get(path: str):
        if not (clips.DATA / path).is_file():
            pytest.skip(f"analytics clip not available: {clips.DATA / path}")
        return clips.cli_path_poses(path)
    return get


def analyse(seq, spec: str) -> list[dict]:
    a = Analyzer(spec)
    events = []
    for t, p in seq:
        events += a.update(p, t)
    return events + a.finish()


def test_fall_on_the_cli_path(cli_poses):
    c = clips.FALL_CLIPS["Fall08"]
    fps, seq = cli_poses(c.path)
    falls = [e for e in analyse(seq, "falls,gestures") if e["type"] == "fall"]
    assert len(falls) == 1, falls
    assert abs(falls[0]["onset_s"] - c.onset / fps) <= ONSET_TOL_S
    assert abs(falls[0]["ground_s"] - c.ground / fps) <= ONSET_TOL_S


def test_jumping_jacks_on_the_cli_path(cli_poses):
    c = clips.REP_CLIPS["jumping_jacks"]
    fps, seq = cli_poses(c.path)
    reps = [e for e in analyse(seq, "jumping_jack,falls") if e["type"] in ("rep", "fall")]
    assert [e["type"] for e in reps] == ["rep"] * c.count
    for r, (_, lo, hi) in zip(reps, c.extremes):
        assert lo <= r["bottom_s"] * fps <= hi, (r["bottom_s"] * fps, lo, hi)


def test_waves_on_the_cli_path(cli_poses):
    """wave.mp4 (10 fps): his right hand waves 0-~42, both hands ~48-124; no fall."""
    fps, seq = cli_poses(clips.NONFALL_CLIPS["wave"].path)
    events = analyse(seq, "gestures,falls")
    assert [e for e in events if e["type"] == "fall"] == []
    g = [e for e in events if e["type"] == "gesture"]
    one = [e for e in g if e["name"] == "wave_one_hand"]
    two = [e for e in g if e["name"] == "wave_two_hands"]
    assert {e["name"] for e in g} == {"wave_one_hand", "wave_two_hands"}, g
    assert len(one) == 1 and one[0]["side"] == "right"
    tol = 5  # frames (0.5 s)
    assert one[0]["start_s"] * fps <= clips.WAVE_ONE_HAND_FRAMES[0] + tol
    assert abs(one[0]["end_s"] * fps - 45) <= tol
    lo, hi = clips.WAVE_TWO_HAND_FRAMES
    covered = sum(min(e["end_s"] * fps, hi) - max(e["start_s"] * fps, lo) for e in two)
    assert covered >= 0.8 * (hi - lo), two       # the two-hand wave may come in pieces
    assert abs(two[0]["start_s"] * fps - lo) <= tol


@pytest.mark.xfail(strict=True, reason="TopDownTracker gives the landmark stage unrotated ROIs "
                   "from tracked boxes and loses a person lying on the floor (see the module "
                   "docstring); the fall is never seen")
def test_fall_of_a_person_lost_on_the_floor(cli_poses):
    c = clips.FALL_CLIPS["Fall10"]
    fps, seq = cli_poses(c.path)
    falls = [e for e in analyse(seq, "falls") if e["type"] == "fall"]
    assert len(falls) == 1
    assert abs(falls[0]["onset_s"] - c.onset / fps) <= ONSET_TOL_S
