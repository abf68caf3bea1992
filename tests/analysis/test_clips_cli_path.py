"""The analyses on the poses users get from ``posekit run SOURCE --analyze ...``.

The other clip tests analyse ``blazepose-mediapipe`` poses at about 15 fps; the command line
runs the native ``blazepose`` model on every frame under ``posekit.pipeline._tracking``
(tracker + One Euro :class:`~posekit.track.Smoother`), whose poses are smoothed, tracked and
at the clip's full frame rate. A few clips check that the analyses hold there too (falls,
waves, a push-up); poses are cached by :func:`clips.cli_path_poses`.

Without ``--tiles`` the CLI keeps BlazePose's own video-mode tracking (ROIs rotated from the
previous frame's landmarks) and adds a :class:`~posekit.track.Tracker` stage for the IDs, so
bodies that are not upright (push-ups, a person on the floor) stay tracked. (The top-down
tracker used with ``--tiles`` builds axis-aligned ROIs from boxes and loses such bodies: on
push_up-test it found the man in 1 of 318 frames.)
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


@pytest.mark.parametrize("name", ["Fall08", "Fall10"])
def test_fall_on_the_cli_path(cli_poses, name):
    c = clips.FALL_CLIPS[name]
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


def test_pushup_on_the_cli_path(cli_poses):
    """push_up-test.mp4 (25 fps), first 4 s: the first push-up (bottom ~42, top ~86)."""
    c = clips.REP_CLIPS["push_up-test"]
    fps, seq = cli_poses(c.path, max_frames=100)
    reps = [e for e in analyse(seq, "pushup") if e["type"] == "rep"]
    assert len(reps) == 1
    _, lo, hi = c.extremes[0]
    assert lo <= reps[0]["bottom_s"] * fps <= hi
