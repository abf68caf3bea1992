"""BlazePose against COCO-format ground truth: PCK@0.2 on single-person images, blank image.

PCK@0.2 (torso-normalised): a keypoint is correct when its distance to the annotated point is
at most 0.2 x the torso diameter (left shoulder to right hip, LSP's convention), in pixels.
Only annotated keypoints (v > 0) count; an image where the model finds nobody counts all its
annotated keypoints as misses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import posekit
from posekit.io import read_image
from posekit.skeletons import COCO_17
from tests.conftest import data_path

SETS = [
    ("tiny_coco_dataset/tiny_coco/annotations/person_keypoints_val2017.json", "../val2017"),
    ("tiny_coco_dataset/tiny_coco/annotations/person_keypoints_train2017.json", "../train2017"),
    ("kapao-kelvin/data/datasets/coco/annotations/person_keypoints_val2017_mini.json",
     "../images/val2017"),
    ("kapao-kelvin/data/datasets/coco/annotations/person_keypoints_train2017_mini.json",
     "../images/train2017"),
    ("LiteHrnet/data/coco/annotations/val.json", "../images"),
]


def single_person_images():
    """[(image path, gt keypoints (17, 3))] for images with exactly one annotated person."""
    out = []
    for ann, img_dir in SETS:
        p = data_path(ann)
        d = json.loads(p.read_text())
        by_img: dict[int, list] = {}
        for a in d["annotations"]:
            by_img.setdefault(a["image_id"], []).append(a)
        for im in d["images"]:
            anns = by_img.get(im["id"], [])
            if len(anns) != 1 or anns[0].get("iscrowd", 0):
                continue
            kp = np.array(anns[0]["keypoints"], np.float32).reshape(17, 3)
            if (kp[:, 2] > 0).sum() == 0:
                continue
            out.append(((p.parent / img_dir / Path(im["file_name"]).name).resolve(), kp))
    return out


def pck_counts(pred_kp: np.ndarray | None, gt: np.ndarray, alpha: float = 0.2):
    """(correct, annotated) keypoint counts for one person; torso = l_shoulder-r_hip."""
    vis = gt[:, 2] > 0
    ls, rh = COCO_17.index("left_shoulder"), COCO_17.index("right_hip")
    if gt[ls, 2] > 0 and gt[rh, 2] > 0:
        torso = float(np.linalg.norm(gt[ls, :2] - gt[rh, :2]))
    else:  # no torso annotated: fall back to the annotated points' extent
        pts = gt[vis, :2]
        torso = float(np.linalg.norm(pts.max(0) - pts.min(0))) * 0.5
    if pred_kp is None:
        return 0, int(vis.sum())
    d = np.linalg.norm(pred_kp - gt[:, :2], axis=1)
    ok = np.isfinite(d) & (d <= alpha * torso)
    return int((ok & vis).sum()), int(vis.sum())


def best_match(poses, gt: np.ndarray):
    """The predicted COCO-17 keypoints (17, 2) closest to ``gt`` (median distance), or None."""
    if len(poses) == 0:
        return None
    coco = poses.to(COCO_17)
    vis = gt[:, 2] > 0
    d = [np.nanmedian(np.linalg.norm(k[vis] - gt[vis, :2], axis=1)) for k in coco.keypoints]
    return coco.keypoints[int(np.nanargmin(d))]


# Measured here (2026-11-22): PCK@0.2 = 0.849 (551/649 keypoints) for both backends.
# The floor sits 3 points under it.
PCK_FLOOR = {"blazepose-mediapipe": 0.82, "blazepose": 0.82}


@pytest.fixture(scope="module")
def images():
    return single_person_images()


@pytest.mark.parametrize("name", ["blazepose-mediapipe", "blazepose"])
def test_pck_single_person_coco(images, name):
    model = posekit.load_model(name, mode="image", max_people=3, min_score=0.5)
    correct = total = 0
    for path, gt in images:
        poses = model(read_image(path))
        c, t = pck_counts(best_match(poses, gt), gt)
        correct += c
        total += t
    model.close()
    pck = correct / total
    assert len(images) >= 40, f"expected >= 40 single-person images, found {len(images)}"
    assert pck >= PCK_FLOOR[name], (
        f"{name}: PCK@0.2 = {pck:.3f} over {len(images)} images / {total} keypoints, "
        f"below the floor {PCK_FLOOR[name]}")
    print(f"{name}: PCK@0.2 = {pck:.4f} ({correct}/{total} keypoints, {len(images)} images)")


@pytest.mark.parametrize("name", ["blazepose-mediapipe", "blazepose"])
@pytest.mark.parametrize("mode", ["image", "video"])
def test_blank_image_has_no_person(name, mode):
    model = posekit.load_model(name, mode=mode)
    for value in (0, 128, 255):
        poses = model(np.full((480, 640, 3), value, np.uint8))
        assert len(poses) == 0, f"{name}/{mode}: {len(poses)} persons on a blank image {value}"
    model.close()


def test_messi_one_person_with_world_landmarks():
    img = read_image(data_path("opencv-doc/messi5.jpg"))
    model = posekit.load_model("blazepose-mediapipe", mode="image")
    poses = model(img)
    assert len(poses) == 1, f"expected 1 person in messi5.jpg, got {len(poses)}"
    assert poses.keypoints.shape == (1, 33, 2) and poses.world.shape == (1, 33, 3)
    # World landmarks are metres, hip-centred: the hip midpoint is near the origin and the
    # person is between 1 and 2.5 m tall (nose to ankle span as a proxy).
    hips = poses.world[0, [23, 24]].mean(axis=0)
    assert np.abs(hips).max() < 0.1, f"hip centre {hips} m, expected near 0"
    span = float(np.ptp(poses.world[0, :, 1]))
    assert 1.0 < span < 2.5, f"vertical world span {span:.2f} m"
    # The box contains the visible keypoints (pixels of the 548x342 frame).
    x1, y1, x2, y2 = poses.boxes[0]
    vis = poses.scores[0] > 0.5
    k = poses.keypoints[0, vis]
    assert (k[:, 0] >= x1).all() and (k[:, 0] <= x2).all() and (k[:, 1] >= y1).all() \
        and (k[:, 1] <= y2).all()
