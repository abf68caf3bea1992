"""`posekit run` and `posekit info` as a user runs them: real media in, files that decode out,
and every bad input answered by one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli import app
from tests.conftest import ROOT, data_path

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def decode_video(path: Path) -> tuple[int, tuple[int, int], str]:
    """(frame count, (width, height), codec name) by decoding every frame with PyAV."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return n, (s.codec_context.width, s.codec_context.height), s.codec_context.name


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_bad_input(result, fragment: str):
    assert result.exit_code == 2, f"exit {result.exit_code}, output: {result.output!r}"
    out = result.output.strip().splitlines()
    assert any(line.startswith("error:") and fragment in line for line in out), result.output
    assert "Traceback" not in result.output


def test_run_real_video_writes_playable_mp4_and_one_json_line_per_frame(tmp_path):
    src = data_path("mmpose/demo/resources/body3d_demo.mp4")
    out, js, csv_path = tmp_path / "a.mp4", tmp_path / "p.jsonl", tmp_path / "p.csv"
    r = invoke("run", src, "--out", out, "--json", js, "--csv", csv_path, "--quiet")
    assert r.exit_code == 0, r.output
    n, size, codec = decode_video(out)
    assert (n, size, codec) == (399, (1000, 1002), "h264"), (n, size, codec)
    lines = jsonl(js)
    assert lines[0]["type"] == "header" and len(lines[0]["keypoints"]) == 33
    frames = [ln for ln in lines if ln["type"] == "frame"]
    assert [f["frame"] for f in frames] == list(range(399))
    times = np.array([f["time_s"] for f in frames])
    assert np.allclose(np.diff(times), 1 / 50, atol=1e-3), "time_s must follow the 50 fps clip"
    # One person dances through the whole clip: found on nearly every frame.
    found = sum(1 for f in frames if len(f["persons"]) == 1)
    assert found >= 0.95 * 399, f"one person on only {found}/399 frames"
    p = frames[200]["persons"][0]
    assert len(p["keypoints"]) == 33 and len(p["world"]) == 33
    x1, y1, x2, y2 = p["box"]
    assert 0 <= x1 < x2 <= 1000 and 0 <= y1 < y2 <= 1002
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "frame,time_s,person,track_id,landmark,x,y,z_world,visibility"
    assert len(rows) - 1 == 33 * sum(len(f["persons"]) for f in frames)


def test_run_image_default_outputs_go_to_runs_folder(tmp_path, monkeypatch):
    src = tmp_path / "in" / "messi5.jpg"
    src.parent.mkdir()
    shutil.copy(data_path("opencv-doc/messi5.jpg"), src)
    monkeypatch.chdir(tmp_path)
    r = invoke("run", src, "--quiet")
    assert r.exit_code == 0, r.output
    img = cv2.imread(str(tmp_path / "runs/messi5/messi5.jpg"))
    assert img is not None and img.shape == (342, 548, 3)
    assert not np.array_equal(img, cv2.imread(str(src))), "annotation must change the image"
    lines = jsonl(tmp_path / "runs/messi5/poses.jsonl")
    assert len(lines) == 2 and len(lines[1]["persons"]) == 1
    assert src.stat().st_size == (data_path("opencv-doc/messi5.jpg")).stat().st_size


def test_run_image_folder_coco_results_use_gt_ids_and_load_in_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    ann = data_path("kapao-kelvin/data/datasets/coco/annotations/"
                    "person_keypoints_val2017_mini.json")
    folder = ann.parent.parent / "images" / "val2017"
    res = tmp_path / "res.json"
    r = invoke("run", folder, "--coco", res, "--coco-gt", ann, "--quiet")
    assert r.exit_code == 0, r.output
    results = json.loads(res.read_text())
    gt_ids = {im["id"] for im in json.loads(ann.read_text())["images"]}
    assert results and {d["image_id"] for d in results} <= gt_ids
    assert all(len(d["keypoints"]) == 51 and d["category_id"] == 1 for d in results)
    coco = COCO(str(ann))
    dt = coco.loadRes(str(res))
    assert len(dt.getAnnIds()) == len(results)


def test_run_glob_of_images_writes_annotated_images(tmp_path):
    d = data_path("yolov5/data/images")
    out = tmp_path / "ann"
    r = invoke("run", f"{d}/*.jpg", "--out", out, "--json", tmp_path / "p.jsonl", "--quiet")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["bus.jpg", "zidane.jpg"]
    frames = jsonl(tmp_path / "p.jsonl")[1:]
    # bus.jpg shows 4 people, zidane.jpg 2; BlazePose's detector finds at least one in each.
    assert [f["size_wh"] for f in frames] == [[810, 1080], [1280, 720]]
    assert all(len(f["persons"]) >= 1 for f in frames), frames


def test_info_lists_model_files_and_cache():
    r = invoke("info")
    assert r.exit_code == 0, r.output
    assert "pose_detection.tflite" in r.output and "pose_landmark_full.tflite" in r.output
    assert "cache:" in r.output and "blazepose-mediapipe" in r.output
    assert "kept within 2 GiB" in r.output


# ---- bad input: one line, exit 2, nothing lost -------------------------------------------

def test_missing_file(tmp_path):
    assert_bad_input(invoke("run", tmp_path / "nope.mp4"), "no such file")


def test_not_an_image_or_video(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    assert_bad_input(invoke("run", p), "not an image or video")
    q = tmp_path / "fake.mp4"
    q.write_bytes(os.urandom(4096))
    assert_bad_input(invoke("run", q), "not a readable video")
    j = tmp_path / "fake.jpg"
    j.write_bytes(b"\xff\xd8garbage")
    assert_bad_input(invoke("run", j), "not a readable image")


def test_camera_index_with_no_camera():
    assert_bad_input(invoke("run", "57"), "no camera at index 57")


def test_unreachable_stream_url():
    t = time.monotonic()
    assert_bad_input(invoke("run", "rtsp://127.0.0.1:9/live"), "cannot open stream")
    assert time.monotonic() - t < 30


def test_unwritable_output(tmp_path):
    src = data_path("opencv-doc/messi5.jpg")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_bad_input(invoke("run", src, "--json", blocker / "sub" / "p.jsonl"), "cannot")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores permission bits
            pytest.skip("running as root: a read-only folder is still writable")
        assert_bad_input(invoke("run", src, "--json", ro / "p.jsonl"), "permission denied")
    finally:
        ro.chmod(0o700)


def test_refuses_to_overwrite_input(tmp_path):
    src = tmp_path / "clip.avi"
    shutil.copy(data_path("opencv-doc/vtest.avi"), src)
    before = src.read_bytes()
    assert_bad_input(invoke("run", src, "--json", src), "refusing to overwrite the input")
    img = tmp_path / "m.jpg"
    shutil.copy(data_path("opencv-doc/messi5.jpg"), img)
    assert_bad_input(invoke("run", img, "--out", img), "refusing to overwrite the input")
    assert src.read_bytes() == before


def test_truncated_video_keeps_what_was_processed(tmp_path):
    """An AVI cut in the middle: every frame before the cut is in the MP4 and the JSONL."""
    full = data_path("opencv-doc/vtest.avi").read_bytes()
    src = tmp_path / "cut.avi"
    src.write_bytes(full[: len(full) // 8])
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    r = invoke("run", src, "--out", out, "--json", js, "--quiet")
    frames = [ln for ln in jsonl(js) if ln["type"] == "frame"]
    assert r.exit_code in (0, 2), r.output
    assert "Traceback" not in r.output
    assert 50 < len(frames) < 795, len(frames)
    n, size, _ = decode_video(out)
    assert n == len(frames) and size == (768, 576)


def _env():
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    return env


def test_ctrl_c_finalizes_video_and_jsonl(tmp_path):
    src = data_path("opencv-doc/vtest.avi")
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    exe = Path(sys.executable).parent / "posekit"
    cmd = [str(exe), "run", str(src), "--out", str(out), "--json", str(js), "--quiet"]
    # SIGINT at its default in the child, as in a terminal: a shell that starts the test run
    # as a background job (``make test &``) makes it ignored, and children inherit that
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if js.exists() and js.read_text().count("\n") > 30:
                break
            time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    frames = [ln for ln in jsonl(js) if ln["type"] == "frame"]
    assert 30 <= len(frames) < 795
    n, size, codec = decode_video(out)
    assert n == len(frames) and size == (768, 576) and codec == "h264"


def test_show_without_display_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = invoke("run", data_path("opencv-doc/messi5.jpg"), "--show", "--json",
               tmp_path / "p.jsonl", "--quiet")
    assert r.exit_code == 0, r.output
    assert "--show needs a display" in r.output


def test_run_yolo_detector_tracks_people_seen_from_behind(tmp_path):
    # vtest.avi (PETS09-S2L1) frames 0-39: the GT has 5-6 persons per frame, several walking
    # away from the camera, whom BlazePose's face-led detector does not find.
    pytest.importorskip("ultralytics", reason="the yolo extra is not installed")
    from posekit.eval.mot import evaluate_mot, read_mot

    src = data_path("opencv-doc/vtest.avi")
    gt_path = data_path("pets09-s2l1/gt/gt.txt")
    mot, js = tmp_path / "t.txt", tmp_path / "p.jsonl"
    r = invoke("run", src, "--detector", "yolo", "--max-frames", 40, "--mot", mot, "--json", js,
               "--out", tmp_path / "a.mp4", "--quiet")
    assert r.exit_code == 0, r.output
    assert decode_video(tmp_path / "a.mp4")[0] == 40
    frames = [ln for ln in jsonl(js) if ln["type"] == "frame"]
    gt = read_mot(gt_path)
    gt = gt[(gt[:, 0] <= 40) & (gt[:, 6] > 0)]
    per_frame = np.bincount(gt[:, 0].astype(int) - 1, minlength=40)
    found = np.array([len(f["persons"]) for f in frames])
    # after the 3 frames that confirm a track, nearly everyone the GT counts is there
    # (measured: on 31 of frames 5-39, 0.886)
    assert (found[5:] >= per_frame[5:] - 1).mean() >= 0.8, (found, per_frame)
    # every output person has 33 landmarks and an ID
    assert all(len(p["keypoints"]) == 33 and p["track_id"] >= 1
               for f in frames for p in f["persons"])
    m = evaluate_mot(gt, read_mot(mot))
    # measured: MOTA 0.656, recall 0.804, precision 0.868 (tracks confirm after 3 frames)
    assert m["recall"] >= 0.75 and m["precision"] >= 0.82 and m["mota"] >= 0.6, m


def test_run_landmark_every_carries_landmarks_between_network_runs(tmp_path):
    # vtest.avi frames 0-19, YOLO every frame, the landmark network on each tracked person
    # every 2nd frame: the JSONL marks the carried persons, who still have 33 landmarks.
    pytest.importorskip("ultralytics", reason="the yolo extra is not installed")
    src = data_path("opencv-doc/vtest.avi")
    js = tmp_path / "p.jsonl"
    r = invoke("run", src, "--detector", "yolo", "--landmark-every", 2, "--max-frames", 20,
               "--json", js, "--quiet")
    assert r.exit_code == 0, r.output
    persons = [p for ln in jsonl(js) if ln["type"] == "frame" for p in ln["persons"]]
    carried = [p for p in persons if p.get("carried")]
    assert 0.25 * len(persons) <= len(carried) <= 0.6 * len(persons), (len(carried),
                                                                         len(persons))
    assert all(len(p["keypoints"]) == 33 and None not in p["keypoints"][0] for p in carried)
    img = data_path("opencv-doc/messi5.jpg")
    assert_bad_input(invoke("run", img, "--landmark-every", 2, "--out", tmp_path / "a.jpg"),
                     "--landmark-every")


def test_run_yolo_detector_needs_blazepose_and_tracking(tmp_path):
    img = data_path("opencv-doc/messi5.jpg")
    assert_bad_input(invoke("run", img, "--detector", "yolo", "--out", tmp_path / "a.jpg"),
                     "--detector yolo")
    assert_bad_input(invoke("run", img, "--detector", "nope", "--out", tmp_path / "b.jpg"),
                     "--detector")
