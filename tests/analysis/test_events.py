"""The Analyzer stage: configuration, event format, JSON Lines sink, live overlay state, summary
files and the drawn overlay."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.analysis import (
    AnalysisError,
    Analyzer,
    EventsSink,
    draw_analysis,
    parse_analyses,
    read_events,
)
from posekit.errors import OutputError, PoseKitError
from posekit.skeletons import BLAZEPOSE_33, COCO_17, Skeleton
from posekit.types import Poses

from . import clips
from .conftest import run

REQUIRED = {
    "rep": {"exercise", "start_s", "bottom_s", "end_s", "range_deg", "checks"},
    "fall": {"onset_s", "ground_s", "confidence"},
    "gesture": {"name", "start_s", "end_s"},
    "posture": {"name", "start_s", "end_s", "peak_deg", "limit_deg"},
}


def test_parse_analyses():
    assert parse_analyses("squat, posture,falls") == (["squat"], ["posture", "falls"])
    assert parse_analyses(["push-up", "fall", "gesture", "jumping-jack"]) == (
        ["pushup", "jumping_jack"], ["falls", "gestures"])
    with pytest.raises(AnalysisError, match="expected one of") as e:
        Analyzer("squat,dance")
    assert isinstance(e.value, PoseKitError)
    a = Analyzer("curl,falls")
    assert a.names == ["curl", "falls"]
    hands = Skeleton("hands", ("left_wrist", "right_wrist"), ())
    with pytest.raises(AnalysisError, match="has no left_shoulder"):
        a.update(Poses(np.zeros((1, 2, 2)), np.ones((1, 2)), hands), 0.0)


def test_coco_poses_are_analysed_too(clip_poses):
    """COCO-17 poses (e.g. from YOLO) go through poses.to(BLAZEPOSE_33): the squats still
    count; checks that need the toes are unmeasured (None)."""
    cp = clip_poses(clips.REP_CLIPS["gym_squat"].path)
    a = Analyzer("squat")
    ev = []
    for t, p in zip(cp.times, cp.poses):
        ev += a.update(p.to(COCO_17), float(t))
    assert len(ev) == 7
    checks = {ch["name"]: ch["ok"] for ch in ev[0]["checks"]}
    assert checks == {"depth": True, "back_angle": True, "knees_past_toes": None}


@pytest.fixture(scope="module")
def squat_run(clip_poses):
    cp = clip_poses(clips.REP_CLIPS["squat_analysis"].path)
    a, events = run(cp, "squat,posture,falls,gestures")
    return cp, a, events


def test_events_are_json_with_the_required_fields(squat_run, clip_poses):
    _cp, a, events = squat_run
    falls = run(clip_poses(clips.FALL_CLIPS["Fall01"].path), "falls")[1]
    waves = run(clip_poses(clips.NONFALL_CLIPS["wave"].path), "gestures")[1]
    kinds = set()
    for e in events + falls + waves:
        text = json.dumps(e, allow_nan=False)          # strict JSON: no NaN anywhere
        assert json.loads(text) == e
        assert isinstance(e["track_id"], int) and isinstance(e["time_s"], float)
        assert REQUIRED[e["type"]] <= set(e), e
        kinds.add(e["type"])
    assert kinds == {"rep", "fall", "gesture", "posture"}
    reps = [e for e in events if e["type"] == "rep"]
    assert [r["rep"] for r in reps] == [1, 2]
    # events are emitted as they complete: a rep's emission time is its end time
    assert all(r["time_s"] == pytest.approx(r["end_s"]) for r in reps)
    assert a.events == events


def test_overlay_state_summary_and_files(squat_run, tmp_path):
    cp, a, _events = squat_run
    st = a.overlay_state(0)
    assert st["counters"]["squat"]["count"] == 2
    assert st["counters"]["squat"]["last_rep"]["rep"] == 2
    assert set(st["angles"]) >= {"left_knee", "trunk_lean"} and st["fall_alert"] is False
    json.dumps(st, allow_nan=False)
    assert a.overlay_state(99)["counters"] == {}
    summ = a.summary()
    assert summ["counts"] == {"squat": 2}
    assert summ["tracks"]["0"]["reps"]["squat"]["count"] == 2
    assert summ["analysis_us_per_frame"] > 0
    paths = a.write_summary(tmp_path / "report")
    data = json.loads(paths["json"].read_text())
    assert data["tracks"]["0"]["reps"]["squat"]["count"] == 2
    ang = data["tracks"]["0"]["angles"]
    assert len(ang["time_s"]) == len(ang["left_knee"]) == sum(1 for p in cp.poses if len(p))
    html = paths["html"].read_text()
    assert "squat: 2 reps" in html
    pytest.importorskip("matplotlib")
    (png,) = paths["png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert png.name in html


def test_write_summary_unwritable(squat_run, tmp_path):
    _, a, _ = squat_run
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        a.write_summary(blocker / "sub")


def test_events_sink_writes_one_flushed_line_per_event(tmp_path):
    path = tmp_path / "ev" / "events.jsonl"
    with EventsSink(path) as sink:
        sink.write({"type": "rep", "track_id": 1, "x": float("nan")})
        # flushed: readable while the sink is still open
        assert read_events(path) == [{"type": "rep", "track_id": 1, "x": None}]
        sink.write_all([{"type": "fall", "track_id": 2, "onset_s": np.float32(1.5)}])
    assert [e["type"] for e in read_events(path)] == ["rep", "fall"]
    assert read_events(path)[1]["onset_s"] == 1.5
    with pytest.raises(OutputError):
        sink.write({"type": "rep"})
    with pytest.raises(OutputError):
        EventsSink(path / "not-a-dir" / "x.jsonl")


def test_stage_runs_analyzer_and_writes_events(clip_poses, tmp_path):
    cp = clip_poses(clips.FALL_CLIPS["Fall07"].path)
    path = tmp_path / "events.jsonl"
    with EventsSink(path) as sink:
        stage = Analyzer("falls").as_stage(sink)
        for t, p in zip(cp.times, cp.poses):
            assert stage.update(p, float(t)) is p
        stage.close()
    ev = read_events(path)
    assert [e["type"] for e in ev] == ["fall"]
    assert stage.analyzer.finish() == []             # finish is idempotent


def test_untracked_persons_are_tracks_by_index():
    p = Poses(np.random.default_rng(0).uniform(0, 100, (2, 33, 2)), np.ones((2, 33)),
              BLAZEPOSE_33)
    a = Analyzer("squat,gestures,posture,falls")
    for k in range(5):
        a.update(p, 0.1 * k)
    a.update(Poses.empty(BLAZEPOSE_33), 0.6)          # nobody: tracks become "missing"
    assert sorted(a.tracks) == [0, 1] and a.tracks[0].frames == 5
    assert a.tracks[1].last_s == pytest.approx(0.4)
    assert isinstance(a.finish(), list)


def test_draw_analysis_counters_arcs_and_fall_alert(clip_poses):
    cp = clip_poses(clips.REP_CLIPS["gym_squat"].path)
    a = Analyzer("squat")
    img = np.full((506, 898, 3), 128, np.uint8)
    for t, p in zip(cp.times, cp.poses):
        a.update(p, float(t))
    out = draw_analysis(img, cp.poses[-1], a)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (out != img).any() and (img == 128).all()            # drawn on a copy
    # fall alert: the red banner across the top of the image
    fp = clip_poses(clips.FALL_CLIPS["Fall01"].path)
    fa = Analyzer("falls")
    for t, p in zip(fp.times, fp.poses):
        fa.update(p, float(t))
    last = next(p for p in reversed(fp.poses) if len(p))
    im = draw_analysis(np.zeros((720, 406, 3), np.uint8), last, fa)
    assert tuple(im[5, 200]) == (0, 0, 255)
    assert fa.fall_alerts() == [int(last.track_ids[0])]
    # the banner stays while the fallen person is not detected
    im = draw_analysis(np.zeros((720, 406, 3), np.uint8), Poses.empty(BLAZEPOSE_33), fa)
    assert tuple(im[5, 200]) == (0, 0, 255)
    ok = draw_analysis(np.zeros((720, 406, 3), np.uint8), last, Analyzer("falls"))
    assert tuple(ok[5, 200]) != (0, 0, 255)
