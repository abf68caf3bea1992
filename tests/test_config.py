"""The one pipeline description (posekit.config) and the one builder (posekit.pipeline.build):
invalid settings and combinations are refused with their message, unknown backend settings
raise, the documented defaults are what runs, and every entry point builds through the
builder (a service job gives the same poses and track IDs as `posekit run`)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import posekit
from posekit import pipeline as pipeline_mod
from posekit.config import (AUTO_DETECT_MAX, AUTO_DETECT_MIN, ModelConfig, OutputConfig,
                            PipelineConfig, TrackConfig, describe)
from posekit.errors import ConfigError, OutputError
from tests.conftest import data_path


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("make, message", [
    (lambda: ModelConfig(max_people=0), "model.max_people: expected an integer >= 1"),
    (lambda: ModelConfig(min_score=1.5), "model.min_score: expected a number in [0, 1]"),
    (lambda: ModelConfig(name=""), "model.name: expected a model name"),
    (lambda: TrackConfig(detector="nope"), "track.detector: expected one of auto, model, yolo"),
    (lambda: TrackConfig(detect_every=0), "track.detect_every: expected an integer >= 1"),
    (lambda: TrackConfig(landmark_every="often"), "track.landmark_every: expected an integer"),
    (lambda: TrackConfig(detector_size=16), "track.detector_size: expected an integer >= 32"),
    (lambda: TrackConfig(tiles=-1), "track.tiles: expected an integer >= 0"),
    (lambda: OutputConfig(fov_deg=200), "outputs.fov_deg: expected degrees in [1, 179]"),
    (lambda: PipelineConfig(max_frames=0), "max_frames: expected an integer >= 1"),
    (lambda: PipelineConfig(outputs=OutputConfig(events="e.jsonl")),
     "expected analyses to be set"),
    (lambda: PipelineConfig(track=TrackConfig(enabled=False), outputs=OutputConfig(mot="t")),
     "outputs.mot: expected tracking on"),
    (lambda: PipelineConfig(model=ModelConfig(name="yolo"), track=TrackConfig(tiles=224)),
     "expected model blazepose"),
    (lambda: PipelineConfig(model=ModelConfig(name="hybrid"), track=TrackConfig(detector="yolo")),
     "track.detector='yolo': expected model blazepose"),
    (lambda: PipelineConfig(track=TrackConfig(enabled=False, landmark_every=3)),
     "track.landmark_every: expected 1 without tracking"),
    (lambda: PipelineConfig(track=TrackConfig(landmark_every=2, detector="model")).resolve(
        "video", yolo=True), "expected 1 unless tracking top-down"),
    (lambda: PipelineConfig(track=TrackConfig(detector="yolo")).resolve("image", yolo=True),
     "expected tracking on"),
    (lambda: PipelineConfig(track=TrackConfig(detector="yolo")).resolve("video", yolo=False),
     "expected the yolo extra to be installed"),
    (lambda: PipelineConfig(outputs=OutputConfig(mot="t.txt")).resolve("images", yolo=True),
     "outputs.mot: expected tracking on"),
    (lambda: PipelineConfig().resolve("webcam"), "source kind: expected one of image"),
])
def test_invalid_settings_and_combinations_are_refused(make, message):
    with pytest.raises(ConfigError) as e:
        make()
    assert message in str(e.value)


def test_unknown_keys_name_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown setting 'max_peopel'; expected one of "
                       "name, max_people, min_score, settings"):
        PipelineConfig.from_dict({"model": {"max_peopel": 3}})
    with pytest.raises(ConfigError, match="unknown setting 'trak'"):
        PipelineConfig.from_dict({"trak": {}})


def test_config_round_trips_through_a_dict_and_hashes_without_outputs():
    c = PipelineConfig(model=ModelConfig(name="blazepose", settings={"num_threads": 1}),
                       track=TrackConfig(detect_every=4), analyses="squat, falls",
                       outputs=OutputConfig(json="a.jsonl"))
    d = json.loads(json.dumps(c.to_dict()))
    assert PipelineConfig.from_dict(d) == c
    assert c.analyses == ("squat", "falls")
    other = PipelineConfig.from_dict({**d, "outputs": {"json": "b.jsonl"}})
    assert other.digest() == c.digest() and other.digest(outputs=True) != c.digest(outputs=True)


# ------------------------------------------------------------------ documented defaults
@pytest.mark.parametrize("kind, yolo, model, tracked, detector, landmark_every", [
    ("video", True, "blazepose", True, "yolo", 3),
    ("camera", True, "blazepose", True, "yolo", 3),
    ("video", False, "blazepose", True, "model", 1),
    ("images", True, "hybrid", False, "model", 1),
    ("image", False, "blazepose", False, "model", 1),
])
def test_defaults_by_source_kind(kind, yolo, model, tracked, detector, landmark_every):
    r = PipelineConfig().resolve(kind, yolo=yolo)
    assert r.resolved
    assert (r.model.name, r.track.enabled, r.track.detector, r.track.landmark_every) == (
        model, tracked, detector, landmark_every)
    assert (r.model.max_people, r.model.min_score) == (20, 0.5)
    assert r.track.detect_every == "auto"


def test_coco_output_keeps_every_scored_person():
    r = PipelineConfig(outputs=OutputConfig(coco="r.json")).resolve("images", yolo=True)
    assert (r.model.name, r.model.max_people, r.model.min_score) == ("hybrid", 100, 0.05)
    given = PipelineConfig(model=ModelConfig(max_people=5, min_score=0.3),
                           outputs=OutputConfig(coco="r.json")).resolve("images", yolo=True)
    assert (given.model.max_people, given.model.min_score) == (5, 0.3)


def test_describe_says_which_path_runs():
    line = describe(PipelineConfig().resolve("video", yolo=True))
    assert "YOLO person detector" in line and f"adaptive {AUTO_DETECT_MIN}-{AUTO_DETECT_MAX}" \
        in line and "landmarks every 3 frames" in line
    # the image default names its two YOLO scales and the flip, as HybridConfig's defaults are
    images = describe(PipelineConfig(model=ModelConfig(name="hybrid")).resolve("images"))
    assert "YOLO persons at 640 px (and 800 px where they are small)" in images
    assert "BlazePose landmarks with flip" in images
    assert "checked against the mirrored image" in images
    one = describe(PipelineConfig(model=ModelConfig(
        name="hybrid", settings={"small_imgsz": 0, "flip": False,
                                 "yolo_flip_max": 0})).resolve("images"))
    assert "where they are small" not in one and "with flip" not in one
    assert "mirrored" not in one


# ------------------------------------------------------------------ backends
@pytest.mark.parametrize("name", ["blazepose", "blazepose-mediapipe"])
def test_backends_reject_unknown_settings(name):
    with pytest.raises(ConfigError, match="unknown setting 'max_peopel'; expected one of .*"
                       "max_people"):
        posekit.load_model(name, max_peopel=3)


def test_yolo_and_hybrid_reject_unknown_settings():
    pytest.importorskip("ultralytics", reason="the yolo extra is not installed")
    for name in ("yolo", "hybrid"):
        with pytest.raises(ConfigError, match="unknown setting 'imgsize'"):
            posekit.load_model(name, imgsize=640)


# ------------------------------------------------------------------ the builder
class _Counting:
    """Wraps load_model and records each (name, settings) the builder asks for."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, name, **settings):
        self.calls.append((name, settings))
        return posekit.load_model(name, **settings)


def test_build_runs_the_documented_video_default(monkeypatch):
    pytest.importorskip("ultralytics", reason="the yolo extra is not installed")
    from posekit.track import Smoother, TopDownTracker
    from posekit.track.topdown import TOPDOWN_ROI_BONUS

    f = _Counting()
    pipe = pipeline_mod.build(PipelineConfig(), "video", model_factory=f)
    try:
        assert isinstance(pipe.model, TopDownTracker) and pipe.model.detector is not None
        assert pipe.model.schedule is not None and pipe.model.landmark_every == 3
        # the tracker keeps a person on the track whose ROI found them
        assert pipe.model.tracker.config.roi_bonus == TOPDOWN_ROI_BONUS > 0
        assert [type(s) for s in pipe.stages] == [Smoother]
        assert f.calls == [("blazepose", {"max_people": 20, "min_score": 0.5,
                                          "mode": "video"})]
    finally:
        pipe.close()


def test_two_outputs_on_one_file_are_refused_before_anything_is_written(tmp_path):
    img = data_path("opencv-doc/messi5.jpg")
    cfg = PipelineConfig(model=ModelConfig(name="blazepose"),
                         outputs=OutputConfig(json=tmp_path / "p.txt",
                                              csv=tmp_path / "sub" / ".." / "p.txt"))
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match="same file"):
        pipeline_mod.process(str(img), cfg)
    assert not (tmp_path / "p.txt").exists()


def test_detector_schedule_runs_rarely_on_one_person_filling_the_view():
    from posekit.track.topdown import DetectorSchedule

    s = DetectorSchedule()
    big = np.array([[100, 50, 300, 450]], np.float32)        # 400 of 480 px tall
    small = np.array([[100, 50, 130, 110]], np.float32)
    assert s.due(0, 0, big, (480, 640))                       # first frame
    s._lost = False
    runs_big = [s.due(i, i - 1, big, (480, 640)) for i in range(1, AUTO_DETECT_MAX + 1)]
    assert not any(runs_big[:-1]) and runs_big[-1]            # every AUTO_DETECT_MAX frames
    assert s.due(5, AUTO_DETECT_MIN - 1, small, (480, 640))   # a small person: every 2nd
    two = np.vstack([big, small])
    assert s.due(5, AUTO_DETECT_MIN - 1, two, (480, 640))
    none = np.zeros(0, np.int64)
    s.observe(np.array([0]), np.array([0]), big, (480, 640))  # the tracked person found
    assert not s.due(3, 0, big, (480, 640))
    s.observe(np.array([0]), none, big, (480, 640))           # lost the person
    assert s.due(3, 0, big, (480, 640))
    s.observe(none, none, big, (480, 640))                    # no one was tracked: no hurry
    assert not s.due(3, 0, big, (480, 640))
    leaving = np.array([[600, 50, 700, 450]], np.float32)     # 40 % past the right edge
    s.observe(np.array([0]), none, leaving, (480, 640))       # lost at the edge: left the view
    assert not s.due(3, 0, big, (480, 640))


def test_one_person_filling_the_view_is_close_range_from_the_first_frame():
    """body3d_demo.mp4 (one person, 1000x1002) through the default video pipeline: the
    detector runs on frame 0 and then every AUTO_DETECT_MAX frames (a new track counts before
    the tracker confirms it), at close range (320 px) from frame 0 on, so the 1280 px network
    is never compiled; and every frame has the one person with a track ID from frame 3 on."""
    pytest.importorskip("ultralytics", reason="the yolo extra is not installed")
    src = data_path("mmpose/demo/resources/body3d_demo.mp4")
    pipe = pipeline_mod.build(posekit.PipelineConfig(), "video")
    n = AUTO_DETECT_MAX + 5
    detected, persons = [], []
    try:
        for r in pipeline_mod.results(str(src), pipe.model, stages=pipe.stages):
            if r.timings.get("detector", 0.0) > 0:
                detected.append(r.frame.index)
            persons.append(len(r.poses))
            if r.frame.index + 1 == n:
                break
        net = getattr(pipe.model.detector, "_ov_net", None)
        sizes = [] if net is None else [max(hw) for hw in net._nets]
    finally:
        pipe.close()
    assert detected == [0, AUTO_DETECT_MAX], detected
    assert max(sizes, default=0) <= 320, sizes
    assert persons[3:] == [1] * (n - 3), persons


def test_service_job_gives_the_same_poses_and_ids_as_run(tmp_path):
    """vtest.avi's first 20 frames through `posekit.pipeline.process` (what `posekit run`
    calls) and through a service job: the same persons, boxes within 0.01 px, same IDs."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from fastapi.testclient import TestClient

    from posekit.serve.app import ServeConfig, create_app

    src = data_path("opencv-doc/vtest.avi")
    clip = tmp_path / "clip.mp4"
    import av

    with av.open(str(src)) as inp, av.open(str(clip), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 768, 576, "yuv420p"
        s.options = {"crf": "18"}
        for i, fr in enumerate(inp.decode(video=0)):
            if i == 20:
                break
            for p in s.encode(fr.reformat(format="yuv420p")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    run_json = tmp_path / "run.jsonl"
    summary = pipeline_mod.process(str(clip), PipelineConfig(
        model=ModelConfig(max_people=5), outputs=OutputConfig(json=run_json)))
    assert summary.frames == 20
    app = create_app(ServeConfig(jobs_dir=tmp_path / "jobs", annotate_jobs=False))
    with TestClient(app, base_url="http://localhost") as c:
        r = c.post("/v1/jobs", files={"file": ("clip.mp4", clip.read_bytes(), "video/mp4")})
        assert r.status_code in (200, 201, 202), r.text
        job = r.json()
        jid = job.get("id") or job.get("job_id")
        for _ in range(600):
            st = c.get(f"/v1/jobs/{jid}").json()
            if st["state"] not in ("queued", "running"):
                break
            time.sleep(0.2)
        assert st["state"] == "done", st
        got = c.get(f"/v1/jobs/{jid}/jsonl")
        assert got.status_code == 200
    frames_run = [json.loads(x) for x in run_json.read_text().splitlines()][1:]
    frames_job = [json.loads(x) for x in got.text.splitlines()][1:]
    assert len(frames_run) == len(frames_job) == 20
    n = 0
    for a, b in zip(frames_run, frames_job):
        assert [p["track_id"] for p in a["persons"]] == [p["track_id"] for p in b["persons"]]
        for pa, pb in zip(a["persons"], b["persons"]):
            assert np.allclose(pa["box"], pb["box"], atol=0.01)
            n += 1
    assert n >= 40    # several people tracked over the clip


def test_outputs_in_a_mapped_skeleton(tmp_path):
    """--skeleton coco17 on messi5.jpg: the JSONL header names COCO's 17 keypoints and each
    person has 17; an unknown skeleton is refused before anything is written."""
    img = data_path("opencv-doc/messi5.jpg")
    js = tmp_path / "p.jsonl"
    s = pipeline_mod.process(str(img), PipelineConfig(
        model=ModelConfig(name="blazepose"), outputs=OutputConfig(json=js, skeleton="coco17")))
    assert s.frames == 1
    lines = [json.loads(x) for x in js.read_text().splitlines()]
    assert lines[0]["skeleton"] == "coco17" and len(lines[0]["keypoints"]) == 17
    persons = lines[1]["persons"]
    assert persons and all(len(p["keypoints"]) == 17 for p in persons)
    with pytest.raises(ConfigError, match="unknown skeleton 'nope'"):
        pipeline_mod.process(str(img), PipelineConfig(
            model=ModelConfig(name="blazepose"),
            outputs=OutputConfig(json=tmp_path / "q.jsonl", skeleton="nope")))
    assert not (tmp_path / "q.jsonl").exists()
