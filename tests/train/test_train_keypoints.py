"""A tiny real training run on real frames: DatasetSink output -> posekit train -> a model
folder that load_model, posekit run, the drawing and posekit eval use with its own skeleton."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

pytest.importorskip("ultralytics")

from typer.testing import CliRunner

from posekit import draw
from posekit.io.dataset_sink import DatasetSink
from posekit.models import load_model
from posekit.skeletons import Skeleton
from posekit.train.datasets import read_dataset, read_yolo
from posekit.types import Frame, Poses
from tests.conftest import data_path

N_FRAMES = 8


@pytest.fixture(scope="module")
def tiger_skeleton():
    names = tuple(f"kp{i}" for i in range(12))
    return Skeleton("tiger12", names, tuple((i, i + 1) for i in range(11)))


@pytest.fixture(scope="module")
def sink_dir(tmp_path_factory, tiger_skeleton):
    """Eight real Tiger-Pose frames written by DatasetSink from their labels as if a model
    had predicted them: one keypoint of the first frame and a second, low-score instance
    must be filtered out."""
    ds = read_dataset(data_path("tiger-pose"))
    samples = [s for s in ds.samples if s.split == "train"][:N_FRAMES]
    out = tmp_path_factory.mktemp("sink") / "auto"
    with DatasetSink(out, every=1, min_score=0.5, skeleton=tiger_skeleton) as sink:
        for i, s in enumerate(samples):
            img = cv2.imread(str(s.path))
            kp = np.concatenate([s.keypoints, s.keypoints + 5.0])
            sc = np.ones((2, 12), np.float32)
            if i == 0:
                sc[0, 3] = 0.2
            poses = Poses(kp, sc, tiger_skeleton,
                          boxes=np.concatenate([s.boxes, s.boxes]),
                          person_scores=np.array([0.9, 0.3], np.float32))
            sink.write(Frame(img, index=i, time_s=i / 25.0, source=str(s.path)), poses)
    return out, samples


def test_dataset_sink_round_trip(sink_dir, tiger_skeleton):
    out, samples = sink_dir
    back = read_dataset(out)
    assert back.format == "coco" and len(back) == N_FRAMES and back.n_instances == N_FRAMES
    assert back.skeleton.keypoints == tiger_skeleton.keypoints
    assert back.skeleton.edges == tiger_skeleton.edges
    for s, t in zip(samples, back.samples):
        assert t.size_wh == s.size_wh
        want = np.array(s.keypoints)
        if t is back.samples[0]:
            assert t.visibility[0, 3] == 0 and np.isnan(t.keypoints[0, 3]).all()
            want[0, 3] = np.nan
        np.testing.assert_allclose(t.keypoints, want, atol=0.01)     # pixels
        # the JPEG holds the same frame (quality 95: small differences only)
        diff = np.abs(cv2.imread(str(t.path)).astype(int) - cv2.imread(str(s.path)).astype(int))
        assert diff.mean() < 3.0
    yolo = read_yolo(out / "data.yaml").split("train")
    assert len(yolo) == N_FRAMES and yolo.n_labelled == back.n_labelled
    np.testing.assert_allclose(yolo.samples[1].keypoints, back.samples[1].keypoints, atol=0.01)
    info = json.loads((out / "annotations.json").read_text())["info"]
    assert info["instances_dropped"] == N_FRAMES and info["min_score"] == 0.5


@pytest.fixture(scope="module")
def model_dir(sink_dir, tmp_path_factory):
    from posekit.train.keypoints import KeypointTrainConfig, train_keypoints

    out = tmp_path_factory.mktemp("model") / "tiger"
    events = []
    res = train_keypoints(sink_dir[0], out, KeypointTrainConfig(
        epochs=1, imgsz=64, batch=4, workers=0, val_fraction=0.25, seed=0),
        on_progress=events.append)
    assert [e["event"] for e in events if e["event"] != "batch"] == ["start", "epoch",
                                                                       "evaluate"]
    return out, res


def test_training_writes_a_model_folder(model_dir, tiger_skeleton):
    out, res = model_dir
    for f in ("posekit-model.json", "skeleton.json", "weights/best.pt", "report.json",
              "training.png", "keypoint_errors.png"):
        assert (out / f).is_file(), f
    rep = json.loads((out / "report.json").read_text())
    assert rep["split"]["train_images"] == 6 and rep["split"]["val_images"] == 2
    assert rep["split"]["seed"] == 0 and len(rep["split"]["val_files"]) == 2
    assert rep["epochs_done"] == 1 and "pose_loss" in rep["history"][0]["losses"]
    v = rep["validation"]
    assert v["images"] == 2 and set(v["per_keypoint"]) == set(tiger_skeleton.keypoints)
    assert 0.0 <= v["oks"]["AP"] <= 1.0
    sk = json.loads((out / "skeleton.json").read_text())
    assert sk["keypoints"] == list(tiger_skeleton.keypoints)
    assert [tuple(e) for e in sk["edges"]] == list(tiger_skeleton.edges)
    assert len(sk["sigmas"]) == 12                     # estimated from the labels


def test_load_model_draws_its_own_skeleton(model_dir, sink_dir, tiger_skeleton):
    from posekit.errors import ModelError

    out, _ = model_dir
    with pytest.raises(ModelError, match="unknown setting.*max_peopel"):
        load_model(out, max_peopel=3)
    model = load_model(out, runtime="torch", min_score=0.0, max_people=3)
    try:
        assert model.skeleton.keypoints == tiger_skeleton.keypoints
        assert model.skeleton.edges == tiger_skeleton.edges
        img = cv2.imread(str(sink_dir[1][0].path))
        poses = model(img)
        assert poses.skeleton == model.skeleton and poses.keypoints.shape[1:] == (12, 2)
    finally:
        model.close()
    # drawing follows poses.skeleton's edges: a limb between keypoints 0 and 1 is drawn, and
    # not without the edge
    canvas = np.zeros((200, 200, 3), np.uint8)
    kp = np.full((1, 12, 2), np.nan, np.float32)
    kp[0, 0], kp[0, 1] = (40, 100), (160, 100)
    sc = np.isfinite(kp).all(axis=2).astype(np.float32)
    drawn = draw.draw_poses(canvas, Poses(kp, sc, model.skeleton), boxes=False, labels=False)
    bare = draw.draw_poses(canvas, Poses(kp, sc, replace(model.skeleton, edges=())),
                           boxes=False, labels=False)
    assert drawn[100, 100].any() and not bare[100, 100].any()


def test_posekit_run_and_eval_with_the_model_folder(model_dir, sink_dir, tmp_path):
    from posekit.cli import app
    from posekit.eval.cli import eval_app

    out, _ = model_dir
    img = sink_dir[0] / "images" / "000000.jpg"
    jl = tmp_path / "poses.jsonl"
    r = CliRunner().invoke(app, ["run", str(img), "--model", str(out), "--json", str(jl),
                                 "--min-score", "0.01", "--quiet"])
    assert r.exit_code == 0, r.output
    header = json.loads(jl.read_text().splitlines()[0])
    assert header["keypoints"] == [f"kp{i}" for i in range(12)]
    r = CliRunner().invoke(eval_app, ["pose", str(sink_dir[0]), "--model", str(out),
                                      "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "ev" / "report.json").read_text())["results"][0]
    assert res["split"] == "model-val" and res["images"] == 2       # its held-out frames
    assert set(res["per_keypoint"]) == {f"kp{i}" for i in range(12)}
    assert set(res["pck"]) == {"5px", "10px", "0.1box"} and "AP" in res["oks"]
    assert "posekit eval (trained models)" in r.output


def test_ctrl_c_stops_after_the_batch_and_keeps_weights(sink_dir, tmp_path):
    """A first Ctrl-C (SIGINT) asks the trainer to stop after the current batch: it validates,
    saves, and the folder is completed with those weights."""
    import os
    import signal

    from posekit.train.keypoints import KeypointTrainConfig, train_keypoints

    sent = []

    def on_progress(e):
        if e["event"] == "batch" and not sent:
            sent.append(e)
            os.kill(os.getpid(), signal.SIGINT)

    res = train_keypoints(sink_dir[0], tmp_path / "m", KeypointTrainConfig(
        epochs=3, imgsz=32, batch=2, workers=0, val_fraction=0.25), on_progress=on_progress,
        evaluate=False)
    assert res.interrupted and len(sent) == 1
    assert res.report["epochs_done"] == 1 < res.report["config"]["epochs"]
    assert (tmp_path / "m" / "weights" / "best.pt").is_file()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
