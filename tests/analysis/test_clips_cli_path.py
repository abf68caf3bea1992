"""The analyses on the poses users get from ``posekit run SOURCE --analyze ...``.

The other clip tests analyse ``blazepose-mediapipe`` poses at about 15 fps; the command line
runs the native ``blazepose`` model on every frame under ``posekit.cli._tracking``
(:class:`~posekit.track.TopDownTracker` + One Euro :class:`~posekit.track.Smoother`), whose
poses are smoothed, tracked and at the clip's full frame rate. Two clips check that the
analyses hold there too (a fall, waves); poses are cached by :func:`clips.cli_path_poses`
(about 15 s on a fresh cache). Measured on every analytics clip through this path: exact
counts on biceps, both squat clips and the jumping jacks, every upright clip without a false
fall, the wave clip's waves.

Known limit, kept as a strict xfail (the first 4 s of a push-up clip) so that it is noticed
when fixed: the top-down tracker gives the landmark network axis-aligned ROIs (rotation 0)
built from the tracked boxes, and the network does not find a horizontal body in such a crop,
so a person lying on the floor, doing push-ups or sit-ups is lost after a frame or two and
never becomes a confirmed track. Measured on all the analytics clips (ANALYTICS.md): the fall
of Fall10 is never seen and Fall05's onset comes 17 frames late; push_up-test,
perfect_pushup_2 and situps have a person in 1, 3 and 34 of their 318, 589 and 229 frames
(no rep counted), push_up.mp4 in 102 of 469 (2 of 5 reps). The same model in its own video
mode (ROIs rotated from the previous frame's landmarks) followed by a
:class:`~posekit.track.Tracker` stage finds every fall within 5 frames of the onset and
counts every clip exactly except push_up.mp4 (6 for 5: a second track on the same woman at
her last rep); on the first 100 frames of push_up-test it counts the push-up this test wants.
"""

from __future__ import annotations

import pytest

from posekit.analysis import Analyzer

from . import clips

ONSET_TOL_S = 1.0     # the criterion


@pytest.fixture(scope="module")
def cli_poses():
    def get(path: str, max_frames: int | None = None):
        if not (clips.DATA / path).is_file():
            pytest.skip(f"analytics clip not available: {clips.DATA / path}")
        return clips.cli_path_poses(path, max_frames)
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
                   "from tracked boxes and loses a body that is not upright (see the module "
                   "docstring): the man doing push-ups is in none of the first 100 frames")
def test_pushup_on_the_cli_path(cli_poses):
    """push_up-test.mp4 (25 fps), first 4 s: the first push-up (bottom ~42, top ~86)."""
    c = clips.REP_CLIPS["push_up-test"]
    fps, seq = cli_poses(c.path, max_frames=100)
    reps = [e for e in analyse(seq, "pushup") if e["type"] == "rep"]
    assert len(reps) == 1
    _, lo, hi = c.extremes[0]
    assert lo <= reps[0]["bottom_s"] * fps <= hi
