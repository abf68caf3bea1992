"""Dataset readers, split and conversion on the real files in ../shared/data."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from posekit.errors import DatasetError
from posekit.skeletons import COCO_17
from posekit.train.datasets import (
    apply_split,
    estimate_sigmas,
    flip_pairs_from_names,
    read_coco,
    read_dataset,
    read_yolo,
    skeleton_from_json,
    skeleton_to_json,
    split_dataset,
    to_ultralytics,
)
from tests.conftest import data_path

TIGER = "tiger-pose"
MOUSE = "lightning-pose/mirror-mouse-example/CollectedData.csv"


def _mouse_counts(csv_path: Path) -> tuple[int, int]:
    """(rows, labelled keypoints) counted straight from the CSV cells."""
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))[3:]
    labelled = sum(1 for r in rows for x in r[1::2] if x.strip())
    return len(rows), labelled


def test_tiger_yolo_folder_counts_and_pixels():
    root = data_path(TIGER)
    ds = read_dataset(root)
    assert ds.format == "yolo"
    assert len(ds) == 263 and ds.n_instances == 263
    assert ds.summary()["splits"] == {"train": 210, "val": 53}
    assert len(ds.skeleton) == 12 and ds.n_labelled == 263 * 12
    s = next(s for s in ds.samples if s.path.name == "Frame_87.jpg")
    vals = [float(v) for v in (root / "train/labels/Frame_87.txt").read_text().split()]
    assert s.size_wh == (1280, 720)
    np.testing.assert_allclose(s.keypoints[0, 0], (vals[5] * 1280, vals[6] * 720), atol=1e-3)
    np.testing.assert_allclose(s.keypoints[0, 11], (vals[27] * 1280, vals[28] * 720), atol=1e-3)
    cx, cy, w, h = vals[1] * 1280, vals[2] * 720, vals[3] * 1280, vals[4] * 720
    np.testing.assert_allclose(s.boxes[0], (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2),
                               atol=1e-2)
    assert ds.skeleton.sigmas is not None and ds.sigmas_estimated
    assert all(0.01 <= x <= 0.3 for x in ds.skeleton.sigmas)


def test_mirror_mouse_dlc_csv_counts():
    p = data_path(MOUSE)
    ds = read_dataset(p)
    rows, labelled = _mouse_counts(p)
    assert ds.format == "dlc-csv"
    assert (len(ds), rows) == (90, 90)
    assert ds.n_labelled == labelled
    assert ds.skeleton.keypoints[:2] == ("paw1LH_top", "paw2LF_top")
    assert len(ds.skeleton) == 17 and ds.skeleton.edges == ()
    s = next(s for s in ds.samples if s.path.name == "img01.png")
    assert s.size_wh == (396, 406)
    np.testing.assert_allclose(s.keypoints[0, 1], (253.5, 101.900392541708), atol=1e-3)
    assert s.visibility[0, 4] == 0 and np.isnan(s.keypoints[0, 4]).all()   # empty cells
    # the box holds every labelled keypoint
    kp = s.keypoints[0][s.visibility[0] > 0]
    assert (kp >= s.boxes[0, :2]).all() and (kp <= s.boxes[0, 2:]).all()


def test_dlc_project_config_skeleton(tmp_path):
    """A DeepLabCut project laid out as DLC writes it (config.yaml, labeled-data/<video>/
    CollectedData_<scorer>.csv with project-relative paths), built from the real frames."""
    src = data_path(MOUSE)
    with open(src, newline="") as f:
        rows = list(csv.reader(f))
    parts = list(dict.fromkeys(rows[1][1:]))
    vid = tmp_path / "labeled-data" / "session1"
    vid.mkdir(parents=True)
    out_rows = rows[:3]
    for r in rows[3:23]:
        name = Path(r[0]).name
        os.symlink(src.parent / r[0], vid / name)
        out_rows.append([f"labeled-data/session1/{name}"] + r[1:])
    with open(vid / "CollectedData_rick.csv", "w", newline="") as f:
        csv.writer(f).writerows(out_rows)
    (tmp_path / "config.yaml").write_text(
        "Task: mouse\nscorer: rick\nbodyparts:\n" + "".join(f"- {p}\n" for p in parts)
        + "skeleton:\n- - nose_top\n  - tailBase_top\n- - paw1LH_top\n  - paw2LF_top\n")
    ds = read_dataset(tmp_path)
    assert ds.format == "dlc" and len(ds) == 20 and ds.object_name == "mouse"
    sk = ds.skeleton
    assert sk.keypoints == tuple(parts)
    assert sk.edges == ((sk.index("nose_top"), sk.index("tailBase_top")), (0, 1))
    with pytest.raises(DatasetError, match="unknown body parts"):
        (tmp_path / "config.yaml").write_text("bodyparts:\n- a\n- b\nskeleton:\n- - a\n  - c\n")
        read_dataset(tmp_path)


def test_coco_reader_counts_and_flip_pairs():
    p = data_path("tiny_coco_dataset/tiny_coco/annotations/person_keypoints_val2017.json")
    data = json.loads(p.read_text())
    want = sum(1 for a in data["annotations"] if not a.get("iscrowd")
               and a.get("num_keypoints", 0) > 0)
    ds = read_coco(p)
    assert len(ds) == len(data["images"]) and ds.n_instances == want
    assert ds.skeleton.keypoints == COCO_17.keypoints
    assert ds.skeleton.flip_pairs == COCO_17.flip_pairs
    assert set(ds.skeleton.edges) == set(COCO_17.edges)


def test_flip_pairs_from_names():
    assert flip_pairs_from_names(COCO_17.keypoints) == COCO_17.flip_pairs
    assert flip_pairs_from_names(["ear_l", "ear_r", "L_paw", "R_paw", "LeftEye", "RightEye",
                                  "nose"]) == ((0, 1), (2, 3), (4, 5))


def test_sigmas_estimated_track_coco_sigmas():
    """The label-spacing estimate against COCO's measured sigmas on real COCO labels."""
    p = data_path("tiny_coco_dataset/tiny_coco/annotations/person_keypoints_train2017.json")
    ds = read_coco(p, skeleton=None)
    kp = np.concatenate([s.keypoints for s in ds.samples])
    vis = np.concatenate([s.visibility for s in ds.samples])
    bx = np.concatenate([s.boxes for s in ds.samples])
    est = np.asarray(estimate_sigmas(kp, vis, bx))
    ref = np.asarray(COCO_17.sigmas)
    assert np.corrcoef(est, ref)[0, 1] > 0.6
    assert np.all((est / ref > 0.4) & (est / ref < 2.5))


def test_split_seeded_and_reported():
    ds = read_dataset(data_path(MOUSE))
    a, ra = split_dataset(ds, val_fraction=0.2, seed=0)
    b, rb = split_dataset(ds, val_fraction=0.2, seed=0)
    c, rc = split_dataset(ds, val_fraction=0.2, seed=1)
    assert (ra.train_images, ra.val_images) == (72, 18) and not ra.from_source
    assert ra.val_files == rb.val_files and ra.val_files != rc.val_files
    assert [s.split for s in apply_split(ds, ra.val_files).samples] == \
        [s.split for s in a.samples]
    tiger = read_dataset(data_path(TIGER))
    _, rt = split_dataset(tiger)
    assert rt.from_source and (rt.train_images, rt.val_images) == (210, 53)


def test_ultralytics_conversion_round_trip(tmp_path):
    ds, _ = split_dataset(read_dataset(data_path(MOUSE)), seed=0)
    yaml_path = to_ultralytics(ds, tmp_path / "work")
    back = read_yolo(yaml_path)
    assert len(back) == len(ds) and back.n_labelled == ds.n_labelled
    assert back.skeleton.keypoints == ds.skeleton.keypoints
    assert {s.split for s in back.samples} == {"train", "val"}
    by_name = {s.path.name.split("_", 1)[1]: s for s in back.samples}
    for s in ds.samples:
        t = by_name[s.path.name]
        assert t.split == s.split
        np.testing.assert_array_equal(t.visibility, s.visibility)
        # labels are written with 6 decimals of the normalized coordinate: < 0.001 px here
        np.testing.assert_allclose(t.keypoints, s.keypoints, atol=1e-3)


def test_skeleton_json_round_trip_and_errors(tmp_path):
    f = tmp_path / "sk.json"
    f.write_text(json.dumps(skeleton_to_json(COCO_17)))
    assert skeleton_from_json(f) == COCO_17
    f.write_text(json.dumps({"keypoints": ["a", "b"], "edges": [["a", "c"]]}))
    with pytest.raises(DatasetError, match="unknown keypoint 'c'"):
        skeleton_from_json(f)
    with pytest.raises(DatasetError, match="not a COCO annotation file"):
        read_dataset(tmp_path)          # its only .json is the skeleton
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no dataset found"):
        read_dataset(tmp_path / "empty")
