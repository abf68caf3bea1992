"""Metrics: COCOeval on GT fed back, OKS of a known perturbation, PCK/PCKh on hand-made cases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from posekit.errors import DatasetError
from posekit.eval.datasets import Dataset, GTImage, load_dataset
from posekit.eval.metrics import HEAD_TOP_K, add_head_top, coco_ap, coco_eval, pck, pckh
from posekit.skeletons import COCO_17, COCO_SIGMAS, LSP_14, MPII_16
from posekit.types import Poses
from tests.conftest import DATA, data_path


def gt_as_predictions(ds: Dataset) -> list[Poses]:
    out = []
    for im in ds.images:
        m = im.annotated
        kp = np.where((im.visibility[m] > 0)[..., None], im.keypoints[m], np.nan)
        out.append(Poses(kp, (im.visibility[m] > 0).astype(np.float32), ds.skeleton,
                         boxes=im.boxes[m], person_scores=np.ones(int(m.sum()))))
    return out


@pytest.mark.parametrize("name,rel", [
    ("coco", "mmpose/tests/data/coco/test_coco.json"),
    ("kapao_val", "kapao-kelvin/data/datasets/coco/annotations/person_keypoints_val2017_mini.json"),
    ("crowdpose", "mmpose/tests/data/crowdpose/test_crowdpose.json"),
])
def test_ground_truth_fed_back_gives_ap_1(name, rel):
    data_path(rel)
    ds = load_dataset(name, root=DATA)
    res = coco_ap(ds, gt_as_predictions(ds))
    assert res["AP"] == pytest.approx(1.0) and res["AP50"] == pytest.approx(1.0)
    assert res["AR"] == pytest.approx(1.0)
    assert pck(ds, gt_as_predictions(ds), norm="bbox").overall == pytest.approx(1.0)


def test_no_predictions_give_ap_0():
    data_path("mmpose/tests/data/coco/test_coco.json")
    ds = load_dataset("coco", root=DATA)
    res = coco_ap(ds, [Poses.empty(COCO_17)] * ds.n_images)
    assert res["AP"] == 0.0 and res["AR"] == 0.0
    r = pck(ds, [Poses.empty(COCO_17)] * ds.n_images, norm="bbox")
    assert r.overall == 0.0 and r.n_matched == 0 and r.n_persons == 12


def one_person_set(kp: np.ndarray, area: float, skeleton=COCO_17, box=None) -> Dataset:
    box = box if box is not None else np.r_[np.nanmin(kp, 0), np.nanmax(kp, 0)]
    im = GTImage(path=Path("none.jpg"), size_wh=(640, 480), image_id=1,
                 keypoints=kp[None].astype(np.float32),
                 visibility=np.where(np.isfinite(kp).all(1), 2, 0)[None].astype(np.int8),
                 boxes=np.asarray(box, np.float32)[None], areas=np.array([area], np.float32),
                 iscrowd=np.zeros(1, bool), ann_ids=np.array([7]))
    metric = "oks" if skeleton.sigmas else "pck"
    return Dataset(name="hand", skeleton=skeleton, images=(im,), source=Path("none"),
                   kind="coco", metric=metric)


def test_known_perturbation_gives_the_oks_of_the_formula():
    rng = np.random.default_rng(0)
    gt = rng.uniform(100, 300, (17, 2))
    area = 20000.0                                   # px^2 (COCO 'area', s^2 in the formula)
    shift = rng.normal(0, 6.0, (17, 2))              # pixels
    ds = one_person_set(gt, area)
    pred = Poses((gt + shift)[None], np.ones((1, 17)), COCO_17, person_scores=[0.9])
    ev = coco_eval(ds, [pred])
    oks_coco = float(np.asarray(ev.ious[(1, 1)]).ravel()[0])
    # COCO: OKS = mean_i exp(-d_i^2 / (2 s^2 k_i^2)), s^2 = area, k_i = 2 sigma_i
    k = 2 * np.asarray(COCO_SIGMAS)
    d2 = (shift ** 2).sum(1)
    oks_hand = np.mean(np.exp(-d2 / (2 * area * k ** 2)))
    assert oks_coco == pytest.approx(oks_hand, abs=1e-6)   # float32 keypoints
    assert 0.5 < oks_hand < 0.95
    # one true positive: AP at threshold t is 1 where OKS >= t, else 0
    thresholds = np.linspace(0.5, 0.95, 10)
    assert min(abs(oks_hand - thresholds)) > 1e-3
    assert ev.stats[0] == pytest.approx(np.mean(oks_hand >= thresholds))
    assert ev.stats[1] == pytest.approx(1.0)


def test_missing_predicted_keypoint_counts_as_a_miss():
    gt = np.stack([np.linspace(100, 260, 17), np.linspace(80, 400, 17)], 1)
    ds = one_person_set(gt, 30000.0)
    kp = gt.copy()
    kp[:4] = np.nan                                   # four keypoints not predicted
    ev = coco_eval(ds, [Poses(kp[None], np.ones((1, 17)), COCO_17, person_scores=[1.0])])
    assert float(np.asarray(ev.ious[(1, 1)]).ravel()[0]) == pytest.approx(13 / 17, abs=1e-9)


def test_pck_hand_made_case():
    # LSP person: left shoulder (9) at (100, 100), right hip (2) at (160, 180): torso 100 px.
    gt = np.zeros((14, 2))
    gt[:, 0] = np.arange(14) * 10 + 50
    gt[:, 1] = 200
    gt[LSP_14.index("left_shoulder")] = (100, 100)
    gt[LSP_14.index("right_hip")] = (160, 180)
    ds = one_person_set(gt, 1.0, skeleton=LSP_14)
    pred = gt.copy()
    pred[[0, 1, 4]] += (0, 19.0)      # 19 px < 0.2 * 100: correct
    pred[[5, 6]] += (21.0, 0)         # 21 px: wrong
    pred[7] = np.nan                  # missing: wrong
    p = Poses(pred[None], np.ones((1, 14)), LSP_14)
    r = pck(ds, [p], alpha=0.2, norm="torso")
    assert r.overall == pytest.approx(11 / 14)
    assert r.per_joint["right_ankle"] == 1.0 and r.per_joint["left_ankle"] == 0.0
    assert r.per_joint["right_elbow"] == 0.0
    assert r.n_persons == 1 and r.n_matched == 1
    # curve: at threshold 0.1 (10 px) the five shifted ones and the missing one fail
    assert r.curve[list(np.round(r.thresholds, 2)).index(0.1)] == pytest.approx(8 / 14)
    # a far-away extra prediction is ignored; the close one is matched
    far = Poses(np.stack([pred + 1000, pred]), np.ones((2, 14)), LSP_14)
    assert pck(ds, [far], alpha=0.2).overall == pytest.approx(11 / 14)
    # bbox normalisation: box 200 x 100 px -> threshold 0.2 * 200 = 40 px: all but missing
    ds_b = one_person_set(gt, 1.0, skeleton=LSP_14, box=[0, 0, 200, 100])
    assert pck(ds_b, [p], alpha=0.2, norm="bbox").overall == pytest.approx(13 / 14)


def test_pckh_uses_head_segment_and_excludes_pelvis_thorax():
    gt = np.stack([np.linspace(100, 250, 16), np.full(16, 300.0)], 1)
    gt[MPII_16.index("upper_neck")] = (200, 100)
    gt[MPII_16.index("head_top")] = (200, 40)        # head segment 60 px -> 30 px at 0.5
    ds = one_person_set(gt, 1.0, skeleton=MPII_16)
    pred = gt.copy()
    pred[MPII_16.index("pelvis")] += (0, 31.0)       # wrong but excluded from the mean
    pred[MPII_16.index("left_wrist")] += (29.0, 0)   # correct
    pred[MPII_16.index("right_wrist")] += (31.0, 0)  # wrong
    r = pckh(ds, [Poses(pred[None], np.ones((1, 16)), MPII_16)])
    assert r.overall == pytest.approx(13 / 14)
    assert r.per_joint["pelvis"] == 0.0 and r.per_joint["left_wrist"] == 1.0


def test_head_top_extrapolation_rule():
    kp = np.full((1, 17, 2), np.nan)
    kp[0, COCO_17.index("left_shoulder")] = (80, 200)
    kp[0, COCO_17.index("right_shoulder")] = (120, 200)
    kp[0, COCO_17.index("left_ear")] = (90, 110)
    kp[0, COCO_17.index("right_ear")] = (110, 110)
    kp[0, COCO_17.index("nose")] = (100, 120)
    sc = np.where(np.isfinite(kp).all(-1), 0.9, 0.0)
    out = add_head_top(Poses(kp, sc, COCO_17), LSP_14)
    # ear centre (100, 110), neck (100, 200): head_top = (100, 110 - HEAD_TOP_K * 90)
    np.testing.assert_allclose(out.keypoints[0, LSP_14.index("head_top")],
                               (100, 110 - HEAD_TOP_K * 90), atol=1e-4)
    np.testing.assert_allclose(out.keypoints[0, LSP_14.index("neck")], (100, 200))


def test_oks_undefined_for_lsp():
    ds = one_person_set(np.zeros((14, 2)) + 5, 1.0, skeleton=LSP_14)
    with pytest.raises(DatasetError, match="OKS is not defined"):
        coco_ap(ds, [Poses.empty(LSP_14)])


def test_prediction_count_must_match():
    ds = one_person_set(np.zeros((17, 2)) + 5, 100.0)
    with pytest.raises(ValueError, match="expected 1 predictions"):
        coco_ap(ds, [])
    assert replace(ds, name="x").name == "x"


def _drop(preds: list[Poses], joints: list[int]) -> list[Poses]:
    """``preds`` with ``joints`` missing on every person (each counts as a miss)."""
    out = []
    for p in preds:
        kp = np.array(p.keypoints)
        kp[:, joints] = np.nan
        out.append(p.replace(keypoints=kp))
    return out


def test_paired_bootstrap_on_real_annotations():
    from posekit.eval.metrics import _ap_by_image, _resampled_ap, paired_bootstrap

    data_path("kapao-kelvin/data/datasets/coco/annotations/person_keypoints_val2017_mini.json")
    ds = load_dataset("kapao_val", root=DATA)
    assert ds.n_images == 16
    gt = gt_as_predictions(ds)
    worse = _drop(gt, [7, 8, 9, 10])                 # elbows and wrists missed everywhere
    # the resample of every image in order is COCOeval's own AP, exactly
    ev = coco_eval(ds, worse)
    assert _resampled_ap(ev, _ap_by_image(ev), np.arange(ds.n_images)) == ev.stats[0]
    same = paired_bootstrap(ds, worse, worse, n=50)
    assert set(same) == {"AP", "PCK"}
    for d in same.values():
        assert (d.difference, d.low, d.high) == (0.0, 0.0, 0.0)
        assert d.verdict == "within noise"
    up = paired_bootstrap(ds, gt, worse, n=300, level=0.9, seed=1)
    assert up["AP"].a == pytest.approx(1.0) and up["AP"].b == pytest.approx(ev.stats[0])
    assert 0.0 < up["AP"].low <= up["AP"].difference <= up["AP"].high
    assert up["AP"].verdict == "above"
    # 4 of 17 keypoints missed on every person: PCK falls by the missed share, on every draw
    counted = np.concatenate([im.visibility[im.annotated] > 0 for im in ds.images])
    share = counted[:, [7, 8, 9, 10]].sum() / counted.sum()
    assert up["PCK"].difference == pytest.approx(share)
    assert paired_bootstrap(ds, worse, gt, n=300, seed=1)["PCK"].verdict == "below"
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(ds, gt, worse, level=1.0)
    with pytest.raises(ValueError, match="positive integer"):
        paired_bootstrap(ds, gt, worse, n=0)
