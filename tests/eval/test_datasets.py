"""Each loader reads its real file from ../shared/data with the counts SOURCES.md gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.errors import DatasetError
from posekit.eval.datasets import load_coco, load_dataset, load_lsp
from posekit.skeletons import COCO_17, CROWDPOSE_14, LSP_14, MPII_16
from tests.conftest import DATA, data_path

# name -> (skeleton, images, persons with keypoints, annotations) from shared/data/SOURCES.md
COUNTS = {
    "tiny_coco_val": (COCO_17, 50, 46, 127),
    "tiny_coco_train": (COCO_17, 50, 57, 99),
    "kapao_val": (COCO_17, 16, 20, 38),
    "kapao_train": (COCO_17, 16, 35, 67),
    "litehrnet": (COCO_17, 25, 25, 25),
    "coco": (COCO_17, 4, 12, 14),
    "ochuman": (COCO_17, 3, 5, 5),
    "humanart": (COCO_17, 3, 4, 4),
    "crowdpose": (CROWDPOSE_14, 2, 4, 5),
    "mpii": (MPII_16, 5, 5, 5),
    "lsp": (LSP_14, 267, 267, 267),
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_known_set_counts(name):
    from posekit.eval.datasets import KNOWN_SETS

    data_path(KNOWN_SETS[name])
    ds = load_dataset(name, root=DATA)
    skeleton, n_images, n_persons, n_anns = COUNTS[name]
    assert ds.skeleton == skeleton
    assert ds.n_images == n_images
    assert ds.n_persons == n_persons
    assert sum(len(im.ann_ids) for im in ds.images) == n_anns
    for im in ds.images:
        assert im.path.is_file()
        assert im.keypoints.shape[1:] == (len(skeleton), 2)
        lab = im.visibility > 0
        assert np.isfinite(im.keypoints[lab]).all() and np.isnan(im.keypoints[~lab]).all()


def test_coco_values_match_the_json():
    path = data_path("mmpose/tests/data/coco/test_coco.json")
    ds = load_coco(path)
    raw = json.loads(path.read_text())
    a = raw["annotations"][0]
    im = next(i for i in ds.images if i.image_id == a["image_id"])
    p = list(im.ann_ids).index(a["id"])
    flat = np.asarray(a["keypoints"], np.float32).reshape(17, 3)
    np.testing.assert_allclose(im.keypoints[p], flat[:, :2])          # pixels, exact
    assert (im.visibility[p] == flat[:, 2]).all()
    x, y, w, h = a["bbox"]
    np.testing.assert_allclose(im.boxes[p], [x, y, x + w, y + h], atol=1e-3)
    assert im.areas[p] == pytest.approx(a["area"], rel=1e-6)
    assert im.size_wh == (640, 425)


def test_case_insensitive_names_and_layouts():
    # LiteHrnet names its keypoints "Left Eye"...; images live in ../images
    data_path("LiteHrnet/data/coco/annotations/val.json")
    ds = load_dataset("litehrnet", root=DATA)
    assert ds.skeleton == COCO_17
    assert ds.images[0].path.parent.name == "images"
    assert (ds.images[0].visibility == 2).all()      # every keypoint visible (SOURCES.md)


def test_humanart_strips_prefix_and_reads_17_of_21_names():
    data_path("mmpose/tests/data/humanart/test_humanart.json")
    ds = load_dataset("humanart", root=DATA)
    assert all("HumanArt" not in str(im.path) for im in ds.images)
    assert ds.skeleton == COCO_17


def test_crowdpose_head_and_missing_area():
    data_path("mmpose/tests/data/crowdpose/test_crowdpose.json")
    ds = load_dataset("crowdpose", root=DATA)
    im = next(i for i in ds.images if i.image_id == 106848)
    p = list(im.ann_ids).index(123803)
    head = CROWDPOSE_14.index("head_top")
    np.testing.assert_allclose(im.keypoints[p, head], [256, 27])
    assert im.visibility[p, head] == 1
    x0, y0, x1, y1 = im.boxes[p]
    assert im.areas[p] == pytest.approx((x1 - x0) * (y1 - y0), rel=1e-5)   # no 'area' in file


def test_lsp_layout_and_visibility():
    data_path("lsp_cpm/joints.mat")
    ds = load_dataset("lsp", root=DATA)
    first = ds.images[0]
    assert first.path.name == "im00001.jpg" and first.size_wh == (157, 105)
    # joints.mat column 0 (14x3xN, LSP-extended: 1 = visible): right ankle (0, -26.1) invisible
    # and outside the image -> not labelled; right knee (26.03, 86.41) visible.
    assert first.visibility[0, 0] == 0 and np.isnan(first.keypoints[0, 0]).all()
    assert first.visibility[0, 1] == 2
    np.testing.assert_allclose(first.keypoints[0, 1], [26.0309, 86.4102], atol=1e-3)
    vis = np.concatenate([im.visibility for im in ds.images])
    assert (vis == 2).sum() == 3242      # visible joints in the 267 columns


def test_lsp_original_layout_inverts_flag(tmp_path):
    import scipy.io

    src = data_path("lsp_cpm/joints.mat")
    j = scipy.io.loadmat(str(src))["joints"][:, :, :3]          # 14x3x3, 1 = visible
    orig = j.transpose(1, 0, 2).copy()                          # 3x14x3 (LSP layout)
    orig[2] = 1 - orig[2]                                       # LSP: 1 = occluded
    (tmp_path / "images").mkdir()
    for name in ("im0001.jpg", "im0002.jpg", "im0003.jpg"):
        (tmp_path / "images" / name).write_bytes(
            (src.parent / "images" / "im00001.jpg").read_bytes())
    scipy.io.savemat(str(tmp_path / "joints.mat"), {"joints": orig})
    a = load_lsp(tmp_path / "joints.mat")
    b = load_dataset("lsp", root=DATA)
    assert a.images[0].path.name == "im0001.jpg"
    np.testing.assert_array_equal(a.images[0].visibility == 2, b.images[0].visibility == 2)


def test_mpii_one_based_shift_and_missing_joints():
    path = data_path("mmpose/tests/data/mpii/test_mpii.json")
    ds = load_dataset("mpii", root=DATA)
    raw = json.loads(path.read_text())
    e = raw[2]                                      # 051423444.jpg: joints 0 and 5 missing
    im = next(i for i in ds.images if i.path.name == e["image"])
    assert (im.visibility[0] == np.where(np.asarray(e["joints_vis"]) > 0, 2, 0)).all()
    np.testing.assert_allclose(im.keypoints[0, 1], np.asarray(e["joints"][1]) - 1.0)
    assert np.isnan(im.keypoints[0, 0]).all()


def test_errors():
    with pytest.raises(DatasetError, match="expected one of|not a file"):
        load_dataset("no-such-set")


def test_unknown_keypoint_names(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"images": [], "annotations": [],
                             "categories": [{"id": 1, "keypoints": ["a", "b"]}]}))
    with pytest.raises(DatasetError, match="match neither"):
        load_coco(p)
