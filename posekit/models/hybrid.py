"""``hybrid``: YOLO-pose persons, BlazePose landmarks on aligned ROIs, fused per keypoint.

YOLO-pose (:class:`posekit.models.yolo.YoloPose`) finds the persons bottom-up, in one pass,
even in a crowd, with COCO-17 keypoints. For each person:

1. **ROI.** BlazePose's landmark network expects the ROI its own detector builds
   (pose_detection_to_roi.pbtxt): centred on the hip midpoint, rotated so that hips -> shoulders
   points up, side ``2 * 1.25 * r`` where ``r`` is the radius of the circle around the whole
   body. :func:`rois_from_keypoints` builds exactly that from YOLO's hips and shoulders
   (:data:`ALIGN_RADIUS_SCALE` calibrated against BlazePose's own alignment landmarks); persons
   whose hips or shoulders YOLO does not see fall back to a square around the box. BlazePose's
   own detector also runs once; where its ROI points the other way up from YOLO's (a person
   upside down, whom YOLO sees upright) or YOLO has no torso, the person starts from the
   detector's ROI and takes BlazePose's landmarks (:meth:`HybridPose.first_rois`).
2. **Landmarks, self-correcting ROIs.** :meth:`posekit.models.blazepose.BlazePose.landmarks`'s
   network runs on the ROIs (33 landmarks, visibility, presence, world coordinates, pose flag);
   then each person's ROI is rebuilt from the network's own alignment landmarks (33, 34), as
   BlazePose's tracking does between video frames, and the person runs again while the ROI
   still moves (``refine``; :func:`roi_moved`), so a wrong YOLO keypoint only places the first
   crop. Persons still unconfirmed get a box ROI and one re-aligned pass (``retry``). With
   ``flip`` every pass also runs on the mirrored crops and averages the two.
3. **Arbitration** (:func:`fuse_calibrated`, the default; :func:`fuse_keypoints` with
   ``arbitration="fixed"``). Each source's raw keypoint score is mapped to the probability of
   lying within a distance of the truth (:mod:`posekit.models.calibration`, isotonic tables
   fitted on the shared sets, ``hybrid_calibration.json``); where the two agree the keypoint is
   their probability-weighted mean, where they disagree BlazePose's replaces YOLO's only when
   its probability is higher by a fitted margin. Landmarks hanging from a moved joint (hands,
   feet, face details) move with it. Persons BlazePose does not confirm (pose flag below
   ``min_presence``) are kept with YOLO's keypoints only: YOLO already decided a person is
   there.

Measured figures (leave-one-dataset-out) are printed by ``bench/bench_accuracy.py`` and kept
in ``docs/accuracy.md``.

Needs the ``yolo`` extra (see :mod:`posekit.models.yolo`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from ..errors import ModelError
from ..skeletons import BLAZEPOSE_33, COCO_17
from ..types import Frame, Poses, box_area, box_intersection, box_iou
from . import as_frame
from . import blazepose_ops as ops

log = logging.getLogger(__name__)

#: Row in BLAZEPOSE_33 of each COCO-17 keypoint (same names), (17,) int64.
COCO_IN_BLAZEPOSE = np.array([BLAZEPOSE_33.index(n) for n in COCO_17.keypoints], np.int64)

#: BlazePose landmarks without a COCO counterpart -> the COCO-named landmark they hang from;
#: when fusion moves the parent, the child moves by the same offset.
_PARENTS = {
    "left_eye_inner": "left_eye", "left_eye_outer": "left_eye",
    "right_eye_inner": "right_eye", "right_eye_outer": "right_eye",
    "mouth_left": "nose", "mouth_right": "nose",
    "left_pinky": "left_wrist", "left_index": "left_wrist", "left_thumb": "left_wrist",
    "right_pinky": "right_wrist", "right_index": "right_wrist", "right_thumb": "right_wrist",
    "left_heel": "left_ankle", "left_foot_index": "left_ankle",
    "right_heel": "right_ankle", "right_foot_index": "right_ankle",
}
_CHILD = np.array([BLAZEPOSE_33.index(c) for c in _PARENTS], np.int64)
_PARENT = np.array([BLAZEPOSE_33.index(p) for p in _PARENTS.values()], np.int64)

#: ``r / e``: BlazePose's body-circle radius ``r`` (distance between its alignment landmarks 33
#: and 34) over ``e``, the largest distance from YOLO's hip midpoint to a YOLO keypoint with
#: confidence >= :data:`ALIGN_MIN_SCORE`. Median 1.21 (IQR 1.05-1.28) over the 53 persons of
#: tiny_coco_train + kapao_train whose torso YOLO sees and whose ROI BlazePose confirms (pose
#: flag > 0.5), landmarks 33/34 taken after BlazePose re-aligned its ROI on itself three times;
#: ``r`` over the torso length spreads more (median 1.77, IQR 1.53-1.96). On the same persons the
#: hip midpoint sits a median 0.02 torso lengths from BlazePose's centre (landmark 33) and the
#: hips -> shoulders direction a median 0.004 rad (IQR +-0.05) from its rotation.
ALIGN_RADIUS_SCALE = 1.2
#: YOLO keypoint confidence needed for the hips and shoulders (alignment) and the extent.
ALIGN_MIN_SCORE = 0.5

#: ``extras["roi_kind"]`` codes of :class:`HybridPose`.
ROI_FROM_KEYPOINTS, ROI_FROM_BOX, ROI_REALIGNED, ROI_FROM_DETECTOR = 0, 1, 2, 3

_LS, _RS, _LH, _RH = (COCO_17.index(n) for n in
                      ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))


def rois_from_keypoints(keypoints: np.ndarray, scores: np.ndarray, boxes: np.ndarray, *,
                        radius_scale: float = ALIGN_RADIUS_SCALE,
                        min_score: float = ALIGN_MIN_SCORE,
                        box_scale: float = 1.4) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose landmark ROIs from COCO-17 keypoints, as BlazePose's own detector aligns them.

    For a person whose four torso keypoints (shoulders, hips) have confidence >= ``min_score``:
    centre ``c`` = hip midpoint, scale point ``c + r * u`` with ``u`` the unit vector hips ->
    shoulders and ``r = radius_scale * max |k - c|`` over the keypoints ``k`` with confidence
    >= ``min_score``; then :func:`posekit.models.blazepose_ops.rois_from_alignment` (rotation
    target 90 degrees, side ``2 * r * 1.25``), which is how pose_detection_to_roi.pbtxt turns
    the detector's keypoints 0 (hip centre) and 1 (body-circle point) into the ROI. Other
    persons get :func:`~posekit.models.blazepose_ops.rois_from_boxes` (``box_scale``).

    Args:
        keypoints: (N, 17, 2) float pixels, COCO-17 order, NaN where missing.
        scores: (N, 17) float confidences in [0, 1].
        boxes: (N, 4) float xyxy pixels.
    Returns:
        ``rois`` (N, 4) float64 ``(cx, cy, side, rotation)`` pixels and radians, and
        ``aligned`` (N,) bool: True where the ROI came from the keypoints.
    Raises:
        ValueError: shapes other than the above.
    """
    kp = np.asarray(keypoints, np.float64)
    sc = np.asarray(scores, np.float64)
    b = np.asarray(boxes, np.float64)
    n = len(kp)
    if kp.shape != (n, 17, 2) or sc.shape != (n, 17) or b.shape != (n, 4):
        raise ValueError(f"expected keypoints (N, 17, 2), scores (N, 17), boxes (N, 4), got "
                         f"{kp.shape}, {sc.shape}, {b.shape}")
    rois = ops.rois_from_boxes(b, box_scale)
    torso = [_LS, _RS, _LH, _RH]
    ok = (sc[:, torso] >= min_score).all(1) & np.isfinite(kp[:, torso]).all((1, 2))
    hip = (kp[:, _LH] + kp[:, _RH]) / 2
    up = (kp[:, _LS] + kp[:, _RS]) / 2 - hip
    length = np.linalg.norm(up, axis=1)
    ok &= length >= 1.0
    if not ok.any():
        return rois, ok
    use = (sc >= min_score) & np.isfinite(kp).all(2)
    dist = np.linalg.norm(np.nan_to_num(kp) - hip[:, None], axis=2)
    extent = np.where(use, dist, 0.0).max(1)
    r = radius_scale * np.maximum(extent, length)
    point = hip + up / np.maximum(length, 1e-9)[:, None] * r[:, None]
    rois[ok] = ops.rois_from_alignment(hip[ok], point[ok])
    return rois, ok


def roi_moved(old: np.ndarray, new: np.ndarray, *, iou: float, angle_deg: float) -> np.ndarray:
    """Whether each landmark ROI moved: the IoU of the two ROIs' unrotated squares
    (:func:`~posekit.models.blazepose_ops.roi_boxes`, what MediaPipe's
    AssociationNormRectCalculator compares) is below ``iou``, or the rotation changed by more
    than ``angle_deg`` degrees.

    Args:
        old, new: (N, 4) ROIs ``(cx, cy, side, rotation)`` pixels and radians.
    Returns:
        (N,) bool.
    """
    a = np.asarray(old, np.float64).reshape(-1, 4)
    b = np.asarray(new, np.float64).reshape(-1, 4)
    if len(a) != len(b):
        raise ValueError(f"roi_moved: {len(a)} old ROIs for {len(b)} new ones")
    overlap = np.diagonal(box_iou(ops.roi_boxes(a), ops.roi_boxes(b)))
    turn = np.abs(ops.normalize_radians(b[:, 3] - a[:, 3]))
    return (overlap < iou) | (turn > np.deg2rad(angle_deg)) | ~np.isfinite(b).all(1)


# ----------------------------------------------------------------------------------------------
# Test-time augmentation of the person stage


def mirror_poses(poses: Poses, width: int) -> Poses:
    """Poses found on a horizontally mirrored frame (``image[:, ::-1]``), in the original frame.

    x becomes ``width - x`` (Ultralytics' continuous pixel coordinates, the rule its own
    flip augmentation uses), boxes' x0/x1 swap, and left/right keypoints swap
    (``skeleton.flip_pairs``). World coordinates, presence and extras are dropped.
    """
    perm = np.arange(len(poses.skeleton))
    for a, b in poses.skeleton.flip_pairs:
        perm[a], perm[b] = b, a
    kp = np.array(poses.keypoints[:, perm])
    kp[..., 0] = width - kp[..., 0]
    boxes = np.array(poses.boxes)
    boxes[:, [0, 2]] = width - poses.boxes[:, [2, 0]]
    return Poses(kp, poses.scores[:, perm], poses.skeleton, boxes=boxes,
                 person_scores=poses.person_scores)


def _oks_units(a: np.ndarray, b: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Distances between two sets of COCO-17 keypoints ``a``, ``b`` (N, 17, 2) pixels, in OKS
    units: pixels over ``sqrt(box area) * sigma`` of the keypoint (``boxes`` (N, 4) xyxy
    pixels, area at least 1; COCO's per-keypoint sigmas). Returns (N, 17) float64, NaN where
    either keypoint is NaN. In COCO's object keypoint similarity
    ``exp(-d^2 / (2 s^2 (2 sigma)^2))`` (cocoapi ``computeOks``) a distance of u units scores
    ``exp(-u^2 / 8)``: 0.88 at 1 unit."""
    bx = np.asarray(boxes, np.float64).reshape(-1, 4)
    side = np.sqrt(np.maximum(box_area(bx), 1.0))
    with np.errstate(invalid="ignore"):
        d = np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=2)
    return d / (side[:, None] * np.asarray(COCO_17.sigmas, np.float64)[None])


def _mirrored(frame: Frame) -> Frame:
    """``frame`` mirrored left-right (same index and time)."""
    return Frame(np.ascontiguousarray(frame.image[:, ::-1]), index=frame.index,
                 time_s=frame.time_s)


def flip_disagreement(people: Poses, mirrored: Poses, *, min_iou: float = 0.5) -> np.ndarray:
    """How far each of YOLO's keypoints moves when the image is mirrored: the distance
    between a person's keypoint and the same keypoint of the person's box in the mirrored
    view (mapped back with :func:`mirror_poses`, so left and right are swapped back), in OKS
    units of the person's box (:func:`_oks_units`: 0.88 OKS at 1 unit).

    Args:
        people: (N, 17) COCO-17 Poses with ``boxes`` (N, 4) xyxy pixels.
        mirrored: (M, 17) COCO-17 Poses of the mirrored image, already mapped back to the
            image's own coordinates and keypoint order (:func:`mirror_poses`).
        min_iou: box IoU from which the best-matching mirrored person is the same person.
    Returns:
        (N, 17) float64, >= 0; NaN where the person has no mirrored match (every keypoint) or
        either view lacks the keypoint.
    """
    n = len(people)
    out = np.full((n, len(COCO_17)), np.nan)
    if n == 0 or len(mirrored) == 0:
        return out
    iou = box_iou(np.asarray(people.boxes, np.float64), np.asarray(mirrored.boxes, np.float64))
    j = iou.argmax(axis=1)
    ok = iou[np.arange(n), j] >= min_iou
    d = _oks_units(people.keypoints, np.asarray(mirrored.keypoints)[j], people.boxes)
    out[ok] = d[ok]
    return out


#: The COCO keypoints :func:`flip_gated_scores` may zero: the body's, shoulders to ankles. The
#: five face keypoints are left alone: their OKS sigmas are the smallest (0.025-0.035), so a
#: few pixels between the views count as a large disagreement, and the face keypoints that
#: disagree are mostly right (gated too, the calibration table fitted on them gave their
#: score 0 a probability of 0.87; the pooled scores left out were the same).
FLIP_GATED = np.arange(COCO_17.index("left_shoulder"), len(COCO_17))


def flip_gated_scores(scores: np.ndarray, distance: np.ndarray | None,
                      max_distance: float) -> np.ndarray:
    """YOLO's keypoint scores with 0 where a body keypoint (:data:`FLIP_GATED`) moved more
    than ``max_distance`` OKS units under a flip (:func:`flip_disagreement`; NaN distances,
    persons the mirrored view did not find, keep their score).

    Args:
        scores: (N, 17) YOLO keypoint scores in [0, 1].
        distance: (N, 17) :func:`flip_disagreement`, or None (no mirrored pass: unchanged).
        max_distance: OKS units; 0: unchanged.
    Returns:
        (N, 17) float32.
    """
    out = np.array(scores, np.float32)
    if distance is None or not max_distance > 0:
        return out
    with np.errstate(invalid="ignore"):
        far = np.asarray(distance, np.float64)[:, FLIP_GATED] > max_distance
    out[:, FLIP_GATED] = np.where(far, np.float32(0.0), out[:, FLIP_GATED])
    return out


def has_small_persons(boxes: np.ndarray, person_scores: np.ndarray, image_hw: tuple[int, int],
                      imgsz: int, height: float, min_score: float) -> bool:
    """Whether an image's persons call for a second, larger YOLO pass
    (``HybridConfig.small_imgsz``): a person scoring >= ``min_score`` whose box is less than
    ``height`` pixels tall at the network's input scale (``imgsz / max(H, W)``, YOLO's
    letterbox), or no person scoring >= ``min_score`` at all.

    Args:
        boxes: (N, 4) xyxy pixels of the image; person_scores: (N,) in [0, 1];
        image_hw: the image's (H, W) in pixels; imgsz: the first pass's input size (pixels).
    """
    ps = np.asarray(person_scores, np.float64).reshape(-1)
    sel = ps >= min_score
    if not sel.any():
        return True
    b = np.asarray(boxes, np.float64).reshape(-1, 4)[sel]
    return bool(((b[:, 3] - b[:, 1]) * (imgsz / max(image_hw)) < height).any())


def single_person(person_scores: np.ndarray, count_score: float) -> np.ndarray:
    """(N,) bool: True for the one person of a single-person photo, i.e. where exactly one of
    ``person_scores`` ((N,) YOLO person scores in [0, 1]) is at least ``count_score``; all
    False otherwise (``HybridConfig.single_detector``)."""
    at = np.asarray(person_scores, np.float64).reshape(-1) >= count_score
    return at & (np.count_nonzero(at) == 1)


def merge_views(views: Sequence[Poses], *, iou: float = 0.6) -> Poses:
    """One set of persons from several predictions of the same frame (test-time augmentation).

    Greedy, best person score first over all views: a person takes from every other view the
    unused person whose box overlaps its own most, if that IoU exceeds ``iou``. The merged
    person's keypoints are the confidence-weighted mean of its members' (missing ones left
    out), keypoint scores the mean, box the person-score-weighted mean, and person score the
    sum of its members' over the number of views (a person one view misses scores lower).

    Args:
        views: Poses of one skeleton, each with ``boxes`` (N_v, 4) xyxy pixels.
    Returns:
        Poses (M, K), best person score first; no world coordinates.
    """
    if not views:
        raise ValueError("merge_views needs at least one view")
    sk = views[0].skeleton
    if len(views) == 1:
        return views[0]
    kp = np.concatenate([v.keypoints for v in views]).astype(np.float64)
    sc = np.concatenate([v.scores for v in views]).astype(np.float64)
    bx = np.concatenate([v.boxes for v in views]).astype(np.float64)
    ps = np.concatenate([v.person_scores for v in views]).astype(np.float64)
    view = np.concatenate([np.full(len(v), i) for i, v in enumerate(views)])
    if len(ps) == 0:
        return Poses.empty(sk)
    overlap = box_iou(bx, bx)
    used = np.zeros(len(ps), bool)
    out_kp, out_sc, out_bx, out_ps = [], [], [], []
    for i in np.argsort(-ps, kind="stable"):
        if used[i]:
            continue
        members = [i]
        used[i] = True
        for v in range(len(views)):
            if v == view[i]:
                continue
            cand = np.nonzero((view == v) & ~used & (overlap[i] > iou))[0]
            if len(cand):
                j = cand[np.argmax(overlap[i, cand])]
                members.append(j)
                used[j] = True
        m = np.asarray(members)
        ok = np.isfinite(kp[m]).all(2)
        w = np.where(ok, sc[m] + 1e-6, 0.0)
        tot = w.sum(0)
        mean = (np.nan_to_num(kp[m]) * w[..., None]).sum(0) / np.maximum(tot, 1e-12)[:, None]
        mean[tot <= 0] = np.nan
        out_kp.append(mean)
        out_sc.append(np.where(tot > 0, sc[m].mean(0), 0.0))
        out_bx.append((bx[m] * ps[m, None]).sum(0) / max(ps[m].sum(), 1e-12))
        out_ps.append(ps[m].sum() / len(views))
    return Poses(np.asarray(out_kp, np.float32), np.asarray(out_sc, np.float32), sk,
                 boxes=np.asarray(out_bx, np.float32),
                 person_scores=np.asarray(out_ps, np.float32))


# ----------------------------------------------------------------------------------------------
# Fusion


@dataclass(frozen=True, kw_only=True)
class FusionConfig:
    """How :func:`fuse_keypoints` combines BlazePose's and YOLO's COCO-17 keypoints.

    A COCO keypoint is the weighted mean ``(1 - weight) * yolo + weight * blazepose`` where
    BlazePose is confident (visibility times pose flag >= ``min_confidence``) and the two lie
    within ``max_distance`` OKS units of each other (distance / (s * k_j), ``s`` = square root
    of the box area in pixels, ``k_j`` = the keypoint's COCO sigma; 1 unit costs a keypoint
    ``1 - exp(-1/8)``, 12 % of its OKS term, at s = the GT scale); YOLO's keypoint otherwise.

    Calibrated on tiny_coco_train + kapao_train (grid weight 0.2-0.5, distance 1-3,
    min_confidence 0.5-0.95, OKS AP of the fused poses): 0.518 (YOLO alone) -> 0.528 at the
    values below, with a flat optimum (0.523-0.528 over weight 0.3-0.5, distance 1.5-3).
    BlazePose's error grows fast as its confidence drops (median 0.6 OKS units at
    visibility x flag >= 0.97, 5.3 below 0.3, against YOLO's 0.5 and 1.8 at the same
    confidences), hence YOLO's larger weight.

    Attributes:
        weight: BlazePose's weight in [0, 1] where both agree (0: YOLO's keypoints only).
        max_distance: agreement radius in OKS units (> 0).
        min_confidence: BlazePose visibility x pose flag needed to count, in [0, 1].
    """

    weight: float = 0.3
    max_distance: float = 2.0
    min_confidence: float = 0.8

    def __post_init__(self):
        if not 0.0 <= self.weight <= 1.0:
            raise ModelError(f"fusion weight must be in [0, 1], got {self.weight}")
        if self.max_distance <= 0:
            raise ModelError(f"fusion max_distance must be positive, got {self.max_distance}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ModelError(f"fusion min_confidence must be in [0, 1], got "
                             f"{self.min_confidence}")


def fuse_keypoints(bp_keypoints: np.ndarray, bp_scores: np.ndarray, confirmed: np.ndarray,
                   pose_flag: np.ndarray, yolo_keypoints: np.ndarray,
                   yolo_scores: np.ndarray, boxes: np.ndarray,
                   config: FusionConfig = FusionConfig()
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BlazePose-33 landmarks with their COCO-17 landmarks fused with YOLO's keypoints.

    Per COCO keypoint (see :class:`FusionConfig`): YOLO's weight is ``1 - config.weight`` where
    the two agree and BlazePose is confident, 1 where they disagree, BlazePose is unsure or
    the person is not ``confirmed``, and 0 where YOLO has no keypoint (NaN). Each of the 16
    other landmarks moves by its parent joint's displacement (wrist for the hand, ankle for the
    foot, eye or nose for the face: :data:`_PARENTS`). For persons not ``confirmed`` those 16
    are missing (NaN, score 0), as is a COCO keypoint YOLO lacks. Scores are the same weighted
    mean of YOLO's confidence and BlazePose's visibility.

    Args:
        bp_keypoints: (N, 33, 2) pixels; bp_scores: (N, 33) visibility in [0, 1].
        confirmed: (N,) bool, persons whose BlazePose landmarks are used at all.
        pose_flag: (N,) BlazePose's pose flag in [0, 1].
        yolo_keypoints: (N, 17, 2) pixels, NaN where missing; yolo_scores: (N, 17).
        boxes: (N, 4) xyxy pixels (the scale ``s``).
    Returns:
        ``keypoints`` (N, 33, 2) float32, ``scores`` (N, 33) float32 and ``yolo_weight``
        (N, 33) float32: YOLO's share of each landmark (0 = BlazePose's own, 1 = YOLO's).
    """
    bk = np.asarray(bp_keypoints, np.float64)
    bs = np.clip(np.asarray(bp_scores, np.float64), 0, 1)
    yk = np.asarray(yolo_keypoints, np.float64)
    ys = np.clip(np.asarray(yolo_scores, np.float64), 0, 1)
    conf = np.asarray(confirmed, bool)
    b = np.asarray(boxes, np.float64)
    sub = bk[:, COCO_IN_BLAZEPOSE]
    sub_s = bs[:, COCO_IN_BLAZEPOSE]
    has_y = np.isfinite(yk).all(2)
    d = _oks_units(yk, sub, b)
    sure = sub_s * np.clip(np.asarray(pose_flag, np.float64), 0, 1)[:, None] \
        >= config.min_confidence
    agree = has_y & conf[:, None] & sure & (d <= config.max_distance)
    w = np.where(agree, 1.0 - config.weight, 1.0)
    w = np.where(has_y, w, 0.0)
    fused = np.where(has_y[..., None], w[..., None] * np.nan_to_num(yk)
                     + (1 - w[..., None]) * sub, sub)
    fused_s = w * ys + (1 - w) * sub_s
    return _assemble(bk, bs, conf, has_y, fused, fused_s, w)


def _assemble(bk, bs, conf, has_y, fused, fused_s, w):
    """BlazePose-33 arrays with the fused COCO-17 rows put in and the 16 other landmarks moved
    with their parent joints (see :func:`fuse_keypoints`)."""
    n = len(bk)
    sub = bk[:, COCO_IN_BLAZEPOSE]
    lost = ~has_y & ~conf[:, None]
    fused = np.array(fused)
    fused_s = np.array(fused_s)
    fused[lost] = np.nan
    fused_s[lost] = 0.0

    kp = bk.copy()
    sc = bs.copy()
    weight = np.zeros((n, len(BLAZEPOSE_33)))
    shift = fused - sub
    kp[:, COCO_IN_BLAZEPOSE] = fused
    sc[:, COCO_IN_BLAZEPOSE] = fused_s
    weight[:, COCO_IN_BLAZEPOSE] = w
    parent_pos = {int(j): i for i, j in enumerate(COCO_IN_BLAZEPOSE)}
    rows = np.array([parent_pos[int(p)] for p in _PARENT], np.int64)
    moved = np.nan_to_num(shift[:, rows])
    kp[:, _CHILD] = bk[:, _CHILD] + moved
    kp[~conf] = np.where(np.isin(np.arange(len(BLAZEPOSE_33)), COCO_IN_BLAZEPOSE)[None, :, None],
                         kp[~conf], np.nan)
    sc[~conf] = np.where(np.isin(np.arange(len(BLAZEPOSE_33)), COCO_IN_BLAZEPOSE)[None],
                         sc[~conf], 0.0)
    return kp.astype(np.float32), sc.astype(np.float32), weight.astype(np.float32)


def fuse_calibrated(bp_keypoints: np.ndarray, bp_scores: np.ndarray, confirmed: np.ndarray,
                    pose_flag: np.ndarray, yolo_keypoints: np.ndarray,
                    yolo_scores: np.ndarray, boxes: np.ndarray, calibration,
                    max_distance: float = 2.0, margin: float | None = None, *,
                    blazepose_only: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`fuse_keypoints`, with each source weighted by its calibrated confidence.

    Each COCO keypoint's raw scores (YOLO's confidence; BlazePose's visibility times pose
    flag) become probabilities ``p_yolo``, ``p_bp`` of lying within the calibration's hit
    radius (:class:`posekit.models.calibration.ScoreCalibration`). Where both sources have the
    keypoint and lie within ``max_distance`` OKS units of each other (see
    :class:`FusionConfig`), the keypoint is their mean weighted by ``p_yolo : p_bp`` and its
    score ``max(p_yolo, p_bp)``; where they disagree, BlazePose's is taken only if
    ``p_bp > p_yolo + margin``, YOLO's otherwise, with its probability as score. The margin
    is fitted with the tables (``calibration.margin``): the calibrated probabilities are
    marginal (given one source's own score), and in crowds BlazePose is often confidently on
    the wrong limb where YOLO is not. A person not ``confirmed`` has ``p_bp = 0``. A
    ``blazepose_only`` person takes BlazePose's keypoint wherever it has one (its probability
    as score): :class:`HybridPose` sets it for persons whose first ROI came from BlazePose's
    own detector, i.e. where YOLO's torso pointed the wrong way or was not seen.

    Args: as :func:`fuse_keypoints`, plus ``calibration`` (a ScoreCalibration),
        ``max_distance`` (OKS units, > 0), ``margin`` (probability; None: the
        calibration's own) and ``blazepose_only`` ((N,) bool or None).
    Returns:
        ``keypoints`` (N, 33, 2) float32 pixels, ``scores`` (N, 33) float32 (probabilities on
        the 17 COCO landmarks, BlazePose's visibility elsewhere) and ``yolo_weight`` (N, 33)
        float32, YOLO's share of each landmark.
    """
    bk = np.asarray(bp_keypoints, np.float64)
    bs = np.clip(np.asarray(bp_scores, np.float64), 0, 1)
    yk = np.asarray(yolo_keypoints, np.float64)
    ys = np.clip(np.nan_to_num(np.asarray(yolo_scores, np.float64)), 0, 1)
    conf = np.asarray(confirmed, bool)
    b = np.asarray(boxes, np.float64)
    sub = bk[:, COCO_IN_BLAZEPOSE]
    raw_bp = bs[:, COCO_IN_BLAZEPOSE] * np.clip(np.asarray(pose_flag, np.float64), 0, 1)[:, None]
    has_y = np.isfinite(yk).all(2)
    has_b = conf[:, None] & np.isfinite(sub).all(2)
    py = np.where(has_y, calibration.probability("yolo", ys), 0.0)
    pb = np.where(has_b, calibration.probability("blazepose", raw_bp), 0.0)
    d = _oks_units(yk, sub, b)
    agree = has_y & has_b & (d <= max_distance)
    tot = np.maximum(py + pb, 1e-9)
    m = calibration.margin if margin is None else margin
    w = np.where(agree, py / tot, np.where(pb > py + m, 0.0, 1.0))
    only = (np.zeros(len(bk), bool) if blazepose_only is None
            else np.asarray(blazepose_only, bool))[:, None] & has_b
    w = np.where(only, 0.0, w)
    w = np.where(has_y, np.where(has_b, w, 1.0), 0.0)
    fused = w[..., None] * np.nan_to_num(yk) + (1 - w[..., None]) * np.nan_to_num(sub)
    fused = np.where((has_y | has_b)[..., None], fused, np.nan)
    fused_s = np.where(agree & ~only, np.maximum(py, pb), np.where(w >= 0.5, py, pb))
    return _assemble(bk, bs, conf, has_y, fused, fused_s, w)


def calibrated_person_scores(person_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Person scores for COCO AP ranking: YOLO's person score times the mean calibrated
    probability of the person's 17 COCO keypoints (the scores :func:`fuse_calibrated` gives),
    i.e. the expected share of right keypoints of a detected person; no fitted constant.

    Args:
        person_scores: (N,) YOLO's person confidences in [0, 1].
        scores: (N, 33) fused scores (BlazePose-33 order).
    Returns:
        (N,) float32 in [0, 1].
    """
    q = np.asarray(scores, np.float64)[:, COCO_IN_BLAZEPOSE].mean(1)
    return (np.asarray(person_scores, np.float64) * q).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True, kw_only=True)
class HybridConfig:
    """Settings of :class:`HybridPose` that are its own (YOLO's and BlazePose's are passed on).

    Attributes:
        roi: ``"keypoints"`` (:func:`rois_from_keypoints`, box fallback) or ``"box"`` (a square
            of ``box_scale`` times the box's longer side, rotation 0).
        box_scale: ROI side over the box's longer side where the box is used (> 0).
        min_presence: BlazePose pose flag in [0, 1] below which a person's BlazePose landmarks
            are not used (the person is kept with YOLO's keypoints when ``fuse``, dropped
            otherwise).
        fuse: fuse COCO keypoints with YOLO's (:func:`fuse_keypoints`); False returns
            BlazePose's landmarks as they are.
        fusion: :class:`FusionConfig`.
        retry: give persons the landmark network does not confirm other ROIs: a box ROI
            instead of a keypoint one, then one re-aligned on the landmarks the box ROI gave
            (at most two more passes, only for those persons). Of the 171 YOLO persons scoring
            > 0.5 in the COCO-format sets, 156 are confirmed by the first pass; a box ROI
            re-aligned on BlazePose's alignment landmarks confirms 7 more.
        tta: test-time augmentation of the person stage: YOLO also runs on the mirrored frame
            and at ``tta_imgsz`` (and its mirror); the four views are merged by
            :func:`merge_views` (about 4x YOLO's time).
        tta_imgsz: the second YOLO input size for ``tta`` (pixels, multiple of 32).
        small_imgsz: a second YOLO pass at this input size (pixels, multiple of 32; 0 = off),
            merged with the first by :func:`merge_views`, run only on images where
            :func:`has_small_persons` finds persons too small for the first pass (test-time
            augmentation by scale where it pays: YOLO finds small persons better at a larger
            input, large ones better at its own). Not with ``tta``, which runs both sizes.
            On by default at 800 px: chosen leave-one-out (``bench/bench_accuracy.py --new
            hybrid:small_imgsz=...``; its figures and its cost in time: docs/accuracy.md).
        small_height: box height (pixels at the first pass's input scale, i.e. times
            ``imgsz / max(H, W)``) below which a person counts as small (> 0).
        small_min_score: YOLO person score in [0, 1] a person needs to count for
            ``small_height``; an image with no such person also gets the second pass.
        match_iou: box IoU at which ``tta`` views are one person.
        refine: most extra landmark passes per person on ROIs re-aligned on the landmark
            network's own alignment landmarks (33: centre, 34: scale and rotation, as
            BlazePose's tracking re-aligns its ROI between frames); 0 turns it off. A person
            gets another pass only while its ROI still moves (:func:`roi_moved`), and keeps
            it unless its pose flag drops by more than ``refine_margin``.
        refine_iou: IoU of the ROIs' squares below which the ROI moved, in (0, 1].
        refine_angle: rotation change in degrees above which the ROI moved (> 0).
        refine_margin: largest pose flag drop in [0, 1] at which a re-aligned pass is kept.
        refine_min_score: YOLO person score in [0, 1] a person needs to be refined (the
            many low-scored persons kept for COCO AP are ranked last and not worth the time).
        detector_rois: also run BlazePose's own person detector (one letterboxed pass); a
            YOLO person it finds whose keypoint ROI points the other way up (or who has no
            torso in YOLO's keypoints) starts from the detector's ROI (:meth:`HybridPose.
            first_rois`) and takes BlazePose's landmarks over YOLO's keypoints
            (``blazepose_only`` of :func:`fuse_calibrated`). The detector aligns on the face
            and the body circle, so it gets the orientation of a person upside down right
            where YOLO's keypoints do not (YOLO then places the shoulders above the hips), and
            the landmark network cannot correct a crop turned by 180 degrees: it returns a
            confident upright pose.
        detector_overlap: share of a detection's face box that must lie inside a YOLO
            box for the two to be one person (:func:`_match_detections`), in (0, 1].
        single_detector: with ``detector_rois``: on a single-person photo (YOLO finds
            exactly one person scoring at least ``single_count_score``, and that person scores
            at least ``refine_min_score``: the case BlazePose's detector and landmark network
            were made for) where BlazePose's detector finds the person too, the person starts
            from the detector's ROI and takes BlazePose's landmarks over YOLO's keypoints.
            Chosen leave-one-out (``bench/bench_accuracy.py``, docs/accuracy.md) among three
            rules: this one, the same counting persons from 0.3, and the same for persons at
            least half the image tall.
        single_count_score: YOLO person score in [0, 1] from which another person in the
            image makes it not a single-person photo.
        flip: test-time augmentation of the landmark stage: every landmark pass also runs on
            the crops mirrored left-right and averages the two (``flip`` of
            :meth:`posekit.models.blazepose.BlazePose._landmarks`); twice the landmark time.
        flip_min_score: YOLO person score in [0, 1] a person needs for ``flip`` (as
            ``refine_min_score``: the low-scored persons kept for COCO AP, more than half of
            all persons on the COCO-style sets, are ranked last).
        retry_min_score: YOLO person score in [0, 1] a person needs for ``retry``.
        arbitration: how ``fuse`` combines the COCO keypoints: ``"calibrated"``
            (:func:`fuse_calibrated`, scores calibrated on data) or ``"fixed"``
            (:func:`fuse_keypoints` with :class:`FusionConfig`'s hand-set constants).
        calibration: path of a calibration JSON for ``"calibrated"``
            (:func:`posekit.models.calibration.load_calibration`); None: the shipped one.
        person_score: ``"calibrated"`` (with ``arbitration="calibrated"``:
            :func:`calibrated_person_scores`, which ranks persons better for COCO AP) or
            ``"yolo"`` (YOLO's person confidence as it is).
        yolo_flip_max: YOLO also runs on the image mirrored left-right (at its first input
            size), and a body keypoint of YOLO's (:data:`FLIP_GATED`) farther than this from
            the same person's keypoint in the mirrored view (:func:`flip_disagreement`, in OKS
            units) gets score 0 before the fusion and its calibration, so that BlazePose's
            landmark takes its place where the person is confirmed: agreement under a flip is
            evidence that a keypoint is right, which YOLO's own score is not (YOLO is
            confidently wrong on athletes in unusual poses). The ROIs still come from YOLO's
            keypoints as found. ``>= 0``; 0 turns it off (no mirrored pass). Not with
            ``tta``, which averages the views instead. Chosen leave-one-out
            (``bench/bench_accuracy.py``; figures and time: docs/accuracy.md).
    """

    roi: str = "keypoints"
    box_scale: float = 1.4
    min_presence: float = 0.1
    fuse: bool = True
    fusion: FusionConfig = FusionConfig()
    retry: bool = True
    tta: bool = False
    tta_imgsz: int = 800
    small_imgsz: int = 800
    small_height: float = 128.0
    small_min_score: float = 0.1
    match_iou: float = 0.6
    refine: int = 2
    refine_iou: float = 0.85
    refine_angle: float = 10.0
    refine_margin: float = 0.1
    refine_min_score: float = 0.3
    detector_rois: bool = True
    detector_overlap: float = 0.5
    single_detector: bool = True
    single_count_score: float = 0.1
    flip: bool = True
    flip_min_score: float = 0.3
    retry_min_score: float = 0.3
    arbitration: str = "calibrated"
    calibration: str | None = None
    person_score: str = "calibrated"
    yolo_flip_max: float = 1.0

    def __post_init__(self):
        if self.roi not in ("keypoints", "box"):
            raise ModelError(f"roi must be 'keypoints' or 'box', got {self.roi!r}")
        if self.box_scale <= 0:
            raise ModelError(f"box_scale must be positive, got {self.box_scale}")
        if not 0.0 <= self.min_presence <= 1.0:
            raise ModelError(f"min_presence must be in [0, 1], got {self.min_presence}")
        if self.tta_imgsz < 32:
            raise ModelError(f"tta_imgsz must be at least 32, got {self.tta_imgsz}")
        if isinstance(self.small_imgsz, bool) or not isinstance(self.small_imgsz, int) or \
                (self.small_imgsz != 0 and self.small_imgsz < 32):
            raise ModelError(f"small_imgsz must be 0 (off) or an integer >= 32, got "
                             f"{self.small_imgsz!r}")
        if not self.small_height > 0:
            raise ModelError(f"small_height must be positive, got {self.small_height}")
        if not 0.0 < self.match_iou < 1.0:
            raise ModelError(f"match_iou must be in (0, 1), got {self.match_iou}")
        if not isinstance(self.refine, int) or not 0 <= self.refine <= 5:
            raise ModelError(f"refine must be an integer in [0, 5], got {self.refine!r}")
        if not 0.0 < self.refine_iou <= 1.0:
            raise ModelError(f"refine_iou must be in (0, 1], got {self.refine_iou}")
        if self.refine_angle <= 0:
            raise ModelError(f"refine_angle must be positive, got {self.refine_angle}")
        if self.person_score not in ("calibrated", "yolo"):
            raise ModelError(f"person_score must be 'calibrated' or 'yolo', got "
                             f"{self.person_score!r}")
        if self.arbitration not in ("calibrated", "fixed"):
            raise ModelError(f"arbitration must be 'calibrated' or 'fixed', got "
                             f"{self.arbitration!r}")
        for name in ("refine_min_score", "flip_min_score", "retry_min_score",
                     "small_min_score", "single_count_score"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ModelError(f"{name} must be in [0, 1], got {v!r}")
        if not 0.0 <= self.refine_margin <= 1.0:
            raise ModelError(f"refine_margin must be in [0, 1], got {self.refine_margin}")
        if not 0.0 < self.detector_overlap <= 1.0:
            raise ModelError(f"detector_overlap must be in (0, 1], got "
                             f"{self.detector_overlap}")
        v = self.yolo_flip_max
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0.0:
            raise ModelError(f"yolo_flip_max must be a number >= 0 (0: off), got {v!r}")


def _match_detections(boxes: np.ndarray, det, min_overlap: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """YOLO persons and BlazePose detections that are one person, one to one.

    BlazePose's detector boxes the face and puts keypoint 0 on the hip centre. A pair is
    allowed where at least ``min_overlap`` of the face box lies inside the YOLO box and the hip
    centre lies inside it too; among allowed pairs the assignment
    (:func:`posekit.track.matching.assign`) maximises the IoU of the YOLO boxes with the
    detections' body squares (the bounding square of the body circle), so that in a crowd a
    face inside two boxes goes to the person whose extent fits it.

    Args:
        boxes: (N, 4) YOLO boxes, xyxy pixels.
        det: :class:`posekit.models.blazepose_ops.Detections` (M of them).
    Returns:
        ``(rows, cols)``: (K,) int64 indices into ``boxes`` and ``det``.
    """
    from ..track.matching import assign

    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    hip = np.asarray(det.keypoints, np.float64)[:, 0]
    face_in_box = box_intersection(b, det.boxes) / np.maximum(box_area(det.boxes), 1e-9)[None]
    inside = ((hip[None, :, 0] >= b[:, None, 0]) & (hip[None, :, 0] <= b[:, None, 2])
              & (hip[None, :, 1] >= b[:, None, 1]) & (hip[None, :, 1] <= b[:, None, 3]))
    allowed = inside & (face_in_box >= min_overlap)
    c, half = det.rois[:, :2], det.rois[:, 2:3] / (2 * ops.ROI_SCALE)
    body = np.hstack([c - half, c + half])
    return assign(np.where(allowed, 1.0 + box_iou(b, body), 0.0), 1.0)


def _replace_rows(poses: Poses, rows: np.ndarray, new: Poses) -> Poses:
    """``poses`` with persons ``rows`` replaced by ``new`` (same skeleton, same fields)."""
    if len(rows) == 0:
        return poses

    def put(a, b):
        if a is None:
            return None
        out = np.array(a)
        out[rows] = b
        return out

    extras = dict(poses.extras)
    for key, v in poses.extras.items():
        if (isinstance(v, np.ndarray) and v.ndim and v.shape[0] == len(poses)
                and key in new.extras and key not in ("roi_index", "mask")):
            extras[key] = put(v, new.extras[key])
    return Poses(put(poses.keypoints, new.keypoints), put(poses.scores, new.scores),
                 poses.skeleton, boxes=put(poses.boxes, new.boxes),
                 person_scores=put(poses.person_scores, new.person_scores),
                 world=put(poses.world, new.world), presence=put(poses.presence, new.presence),
                 extras=extras)


class HybridPose:
    """YOLO persons -> BlazePose landmarks on aligned ROIs -> fused (``BLAZEPOSE_33``, world).

    Output :class:`Poses`, one person per YOLO person (best first, at most ``max_people``):
    ``keypoints`` (N, 33, 2) float32 pixels, ``scores`` (N, 33) (BlazePose visibility, fused
    with YOLO's confidence on the COCO keypoints), ``presence`` (N, 33), ``world`` (N, 33, 3)
    metres as BlazePose gives them (hip-centred; not changed by the fusion; NaN for persons
    BlazePose does not confirm), ``boxes`` YOLO's (N, 4) xyxy pixels, ``person_scores``
    (``person_score``): YOLO's person confidence times the mean calibrated probability of the
    17 COCO keypoints (:func:`calibrated_person_scores`), or YOLO's alone. ``extras``:

    - ``"yolo_weight"`` (N, 33) float32: YOLO's share of each landmark (0 = BlazePose alone,
      1 = YOLO's keypoint, between = weighted mean; always 0 outside the COCO-17 landmarks);
    - ``"yolo_keypoints"`` (N, 17, 2), ``"yolo_scores"`` (N, 17): YOLO's own COCO-17 output;
    - ``"blazepose_keypoints"`` (N, 33, 2), ``"blazepose_scores"`` (N, 33): the landmark
      network's own landmarks and visibilities, before the fusion;
    - ``"pose_score"`` (N,) BlazePose's pose flag; ``"confirmed"`` (N,) bool, flag >=
      ``min_presence`` (unconfirmed persons have only their 17 COCO landmarks, from YOLO);
    - ``"roi"`` (N, 4) the landmark ROI ``(cx, cy, side, rotation)`` and ``"roi_kind"`` (N,)
      int8, how it was built: :data:`ROI_FROM_KEYPOINTS` (YOLO's keypoints), :data:`ROI_FROM_BOX`,
      :data:`ROI_FROM_DETECTOR` (BlazePose's own detector) or :data:`ROI_REALIGNED` (on
      BlazePose's own alignment landmarks, by ``refine`` or ``retry``); ``"roi_start"`` (N,)
      int8, how the first ROI was built (:meth:`first_rois`); ``"passes"`` (N,) int8,
      landmark passes the person took;
    - BlazePose's ``"heatmaps"`` / ``"heatmap_to_frame"`` / ``"mask"`` when asked for.

    Settings: ``weights``, ``imgsz``, ``min_score`` (YOLO person threshold), ``iou``,
    ``max_people``, ``device``, ``half``, ``bf16``, ``int8``, ``runtime`` go to
    :class:`~posekit.models.yolo.YoloPose`; ``num_threads`` to both networks; ``heatmaps``,
    ``mask`` to :class:`~posekit.models.blazepose.BlazePose`; the fields of
    :class:`HybridConfig` and, flat, ``fuse_weight``, ``fuse_distance``,
    ``fuse_min_confidence`` (:class:`FusionConfig`) are the hybrid's own. The model keeps no
    state across frames (``mode`` is accepted and ignored).

    ``last_timings`` (seconds): ``detector`` (all YOLO passes, BlazePose's detector and the
    first ROIs), ``preprocess``, ``infer``, ``postprocess`` (the landmark network),
    ``fusion``, ``total``.

    Raises:
        MissingExtraError: the yolo extra is missing.
        ModelError: a bad setting, or either network cannot be loaded.
    """

    name = "hybrid"
    skeleton = BLAZEPOSE_33

    _YOLO_KEYS = ("weights", "imgsz", "min_score", "iou", "max_people", "device", "half",
                  "bf16", "int8", "num_threads", "runtime")
    _BLAZE_KEYS = ("num_threads", "heatmaps", "mask")
    _FUSE_KEYS = (("fuse_weight", "weight"), ("fuse_distance", "max_distance"),
                  ("fuse_min_confidence", "min_confidence"))

    def __init__(self, config: HybridConfig | None = None, **settings):
        from .blazepose import BlazePose
        from .yolo import YoloConfig, YoloPose

        own = {f.name for f in fields(HybridConfig)}
        known = (set(self._YOLO_KEYS) | set(self._BLAZE_KEYS) | own
                 | {k for k, _ in self._FUSE_KEYS})
        from ..config import check_settings

        check_settings("hybrid", settings, known | {"mode"})
        if settings.get("mode", "image") not in ("image", "video"):
            raise ModelError(f"mode must be 'image' or 'video', got {settings['mode']!r}")
        base = config if config is not None else HybridConfig()
        cfg = {k: settings[k] for k in own if k in settings}
        fuse = {v: settings[k] for k, v in self._FUSE_KEYS if k in settings}
        if fuse:
            cfg["fusion"] = replace(cfg.get("fusion", base.fusion), **fuse)
        self.config = replace(base, **cfg)
        ykw = {k: settings[k] for k in self._YOLO_KEYS if k in settings}
        bkw = {k: settings[k] for k in self._BLAZE_KEYS if k in settings}
        asked = ykw.get("min_score", YoloConfig().min_score)
        c = self.config
        # a single-person photo has nobody else from single_count_score, whatever the output's
        # threshold: YOLO runs at the lower one and persons() filters after (NMS keeps the
        # higher-scored box, so the persons above the threshold are the same)
        counting = c.single_detector and c.detector_rois
        lower = (counting and isinstance(asked, (int, float))
                 and not isinstance(asked, bool) and c.single_count_score < asked)
        run = {**ykw, "min_score": c.single_count_score} if lower else dict(ykw)
        # nor is a group photo single-person because fewer persons were asked for: YOLO
        # returns at least its default number, persons() keeps the best max_people after
        most = ykw.get("max_people", YoloConfig().max_people)
        more = (counting and isinstance(most, int) and not isinstance(most, bool)
                and 1 <= most < YoloConfig().max_people)
        if more:
            run["max_people"] = YoloConfig().max_people
        self.yolo = YoloPose(**run)
        #: the person threshold asked for (YOLO itself may run lower, ``single_count_score``)
        self._min_score = float(asked) if lower else float(self.yolo.config.min_score)
        #: the most persons asked for (YOLO itself may return more, to count them)
        self._max_people = int(most) if more else int(self.yolo.config.max_people)
        self._yolo_tta = None
        if self.config.tta:
            self._yolo_tta = YoloPose(**{**ykw, "imgsz": self.config.tta_imgsz})
        self._yolo_small = None
        if self.config.small_imgsz and not self.config.tta:
            self._yolo_small = self.yolo.at_size(self.config.small_imgsz)
        self.blazepose = BlazePose(mode="image", max_people=self._max_people,
                                   min_presence=0.0, **bkw)
        self._calibration = None
        if self.config.arbitration == "calibrated":
            from .calibration import load_calibration

            self._calibration = load_calibration(self.config.calibration)
        self.last_timings: dict[str, float] = {}

    def reset(self) -> None:
        """Nothing to forget (both stages run per frame)."""

    def close(self) -> None:
        self.yolo.close()
        if self._yolo_tta is not None:
            self._yolo_tta.close()
        self.blazepose.close()

    def persons(self, frame: Frame) -> Poses:
        """The person stage alone: YOLO's COCO-17 Poses scoring at least ``min_score`` (merged
        over views when ``tta``, or with the ``small_imgsz`` pass where the image has small
        persons), with ``extras["alone"]`` (N,) bool: True for the one person of a
        single-person photo (``single_detector``: nobody else from ``single_count_score`` in
        YOLO's first pass, nor in the ``small_imgsz`` pass where it runs, nor among the
        persons returned), and with ``yolo_flip_max`` ``extras["flip_distance"]`` (N, 17):
        each keypoint's :func:`flip_disagreement` with YOLO's pass on the mirrored image."""
        people = self.yolo(frame)
        cfg = self.config
        single = cfg.single_detector and single_person(people.person_scores,
                                                       cfg.single_count_score).any()
        people = self._asked(people)
        if self._yolo_small is not None and has_small_persons(
                people.boxes, people.person_scores, frame.image.shape[:2],
                self.yolo.config.imgsz, cfg.small_height, cfg.small_min_score):
            small = self._yolo_small(frame)
            # single-person only if the second scale sees one person too
            single = single and single_person(small.person_scores,
                                              cfg.single_count_score).any()
            people = self._merged([people, self._asked(small)])
        elif cfg.tta:
            w = frame.image.shape[1]
            mirrored = _mirrored(frame)
            people = self._merged([people, mirror_poses(self._asked(self.yolo(mirrored)), w),
                                   self._yolo_tta(frame),
                                   mirror_poses(self._yolo_tta(mirrored), w)])
        alone = single & single_person(people.person_scores, cfg.single_count_score)
        extras = {**people.extras, "alone": alone}
        if cfg.yolo_flip_max > 0 and not cfg.tta and len(people):
            extras["flip_distance"] = flip_disagreement(
                people, mirror_poses(self.yolo(_mirrored(frame)), frame.image.shape[1]))
        return people.replace(extras=extras)

    def _asked(self, people: Poses) -> Poses:
        """``people`` from YOLO (best first), at the person threshold asked for and at most
        the number asked for (YOLO may run lower and return more, to count persons)."""
        keep = np.flatnonzero(np.asarray(people.person_scores) >= self._min_score)
        return people[keep[:self._max_people]]

    def _merged(self, views: list[Poses]) -> Poses:
        """``views`` of one frame as one set of persons (:func:`merge_views` at ``match_iou``),
        the best ``max_people`` of them."""
        merged = merge_views(views, iou=self.config.match_iou)
        return merged[np.arange(min(len(merged), self._max_people))]

    def _run(self, image: np.ndarray, rois: np.ndarray, flip: np.ndarray) -> dict:
        """The landmark network on ``rois`` (N, 4): BlazePose's raw per-ROI arrays, with the
        alignment landmarks 33 and 34 (``xy`` (N, 35, 2) pixels) the public
        :meth:`~posekit.models.blazepose.BlazePose.landmarks` drops. ``flip`` (N,) bool: the
        ROIs that also run mirrored; the two groups run as two batches."""
        bp = self.blazepose
        rois = np.asarray(rois, np.float64).reshape(-1, 4)
        flip = np.asarray(flip, bool)
        groups = [(rows, on) for rows, on in ((np.flatnonzero(flip), True),
                                              (np.flatnonzero(~flip), False)) if len(rows)]
        if len(groups) < 2:
            on = bool(groups[0][1]) if groups else False
            return bp._landmarks(image, rois, self._timer, heatmaps=bp.config.heatmaps,
                                 mask=bp.config.mask, flip=on)
        out: dict = {}
        for rows, on in groups:
            part = bp._landmarks(image, rois[rows], self._timer, heatmaps=bp.config.heatmaps,
                                 mask=bp.config.mask, flip=on)
            for key, v in part.items():
                if key not in out:
                    out[key] = np.empty((len(rois), *v.shape[1:]), v.dtype)
                out[key][rows] = v
        return out

    @staticmethod
    def _put(res: dict, rows: np.ndarray, new: dict, take: np.ndarray) -> None:
        """Rows ``rows`` of ``res`` replaced, in place, by the rows ``take`` of ``new``."""
        if len(rows):
            for key, v in res.items():
                v[rows] = new[key][take]

    def first_rois(self, image: np.ndarray, people: Poses) -> tuple[np.ndarray, np.ndarray]:
        """Each YOLO person's first landmark ROI and how it was built.

        :func:`rois_from_keypoints` (``roi="keypoints"``) or a box square; then, with
        ``detector_rois``, BlazePose's own detector runs once on the letterboxed image and each
        detection is matched one to one to a YOLO person (:func:`_match_detections`). A
        matched person starts from the detection's ROI (pose_detection_to_roi.pbtxt, the crop
        the landmark network was trained on) where YOLO gave no torso (box ROI) or where the
        two ROIs disagree on which way is up (rotations more than 90 degrees apart): the
        landmark network corrects a shifted or scaled crop over the ``refine`` passes, not one
        upside down, and, with ``single_detector``, on a single-person photo. Elsewhere
        YOLO's keypoint ROI is kept (on the crowded COCO-style sets it scores better).

        Args:
            image: (H, W, 3) uint8 BGR.
            people: YOLO's COCO-17 Poses with ``boxes`` (N, 4) xyxy pixels.
        Returns:
            ``rois`` (N, 4) float64 ``(cx, cy, side, rotation)`` pixels and radians, and
            ``kind`` (N,) int8: :data:`ROI_FROM_KEYPOINTS`, :data:`ROI_FROM_BOX` or
            :data:`ROI_FROM_DETECTOR`.
        """
        cfg = self.config
        if cfg.roi == "keypoints":
            rois, aligned = rois_from_keypoints(people.keypoints, people.scores, people.boxes,
                                                box_scale=cfg.box_scale)
        else:
            rois = ops.rois_from_boxes(people.boxes, cfg.box_scale)
            aligned = np.zeros(len(people), bool)
        kind = np.where(aligned, ROI_FROM_KEYPOINTS, ROI_FROM_BOX).astype(np.int8)
        if cfg.detector_rois and len(people):
            det = self.blazepose.detect(image, tiles=None)
            if len(det.rois):
                rows, cols = _match_detections(people.boxes, det, cfg.detector_overlap)
                turn = np.abs(ops.normalize_radians(det.rois[cols, 3] - rois[rows, 3]))
                use = (turn > np.pi / 2) | (kind[rows] == ROI_FROM_BOX)
                alone = people.extras.get("alone")
                if alone is None:                  # persons not from persons(): count them
                    alone = single_person(people.person_scores, cfg.single_count_score) & \
                        cfg.single_detector
                use |= np.asarray(alone, bool)[rows] & \
                    (np.asarray(people.person_scores)[rows] >= cfg.refine_min_score)
                rois[rows[use]] = det.rois[cols[use]]
                kind[rows[use]] = ROI_FROM_DETECTOR
        return rois, kind

    def _landmarks(self, image: np.ndarray, rois: np.ndarray, kind: np.ndarray,
                   boxes: np.ndarray, person_scores: np.ndarray
                   ) -> tuple[Poses, np.ndarray, np.ndarray]:
        """The landmark network on ``rois``, then the self-correcting ROIs and the retry.

        1. **Refine** (``refine`` passes at most; persons scoring >= ``refine_min_score``):
           each person's next ROI is built from the
           pass's own alignment landmarks (:func:`~posekit.models.blazepose_ops.
           rois_from_alignment` on landmarks 33 and 34, as BlazePose's tracking does between
           frames, pose_landmarks_to_roi.pbtxt); persons whose ROI moved (:func:`roi_moved`)
           run again, and keep the new pass unless its pose flag drops by more than
           ``refine_margin``. A wrong YOLO keypoint only places the first crop: the network's
           own landmarks decide the next one. Stops when no ROI moves.
        2. **Retry** (``retry``): persons still unconfirmed (flag < ``min_presence``) get the
           box ROI, then one ROI re-aligned on that pass; each keeps the pass with the higher
           pose flag.

        ``rois`` (N, 4) and ``kind`` (N,) are the first ROIs and their kinds
        (:meth:`first_rois`); ``boxes`` (N, 4) xyxy pixels and ``person_scores`` (N,) YOLO's.
        Returns the Poses (one per ROI, BLAZEPOSE_33), the ROIs they came from (N, 4) and each
        ROI's kind (N,) int8 (the start kind, or :data:`ROI_REALIGNED`).
        """
        from .blazepose import _Timer

        self._timer = _Timer()
        cfg = self.config
        scores = np.asarray(person_scores, np.float64)
        flip = (scores >= cfg.flip_min_score) & cfg.flip
        res = self._run(image, rois, flip)
        n = len(rois)
        kind = np.array(kind, np.int8)
        passes = np.ones(n, np.int8)
        active = np.nonzero(np.asarray(person_scores) >= cfg.refine_min_score)[0]
        for _ in range(cfg.refine):
            nxt = ops.rois_from_alignment(res["xy"][active, 33], res["xy"][active, 34])
            moved = roi_moved(res["roi"][active], nxt, iou=cfg.refine_iou,
                              angle_deg=cfg.refine_angle)
            active, nxt = active[moved], nxt[moved]
            if len(active) == 0:
                break
            again = self._run(image, nxt, flip[active])
            passes[active] += 1
            take = again["flag"] >= res["flag"][active] - cfg.refine_margin
            self._put(res, active[take], again, take)
            kind[active[take]] = ROI_REALIGNED
            active = active[take]
        if cfg.retry:
            bad = np.nonzero((res["flag"] < cfg.min_presence)
                             & (scores >= cfg.retry_min_score))[0]
            if len(bad):
                self._keep_better(image, res, kind, bad,
                                  ops.rois_from_boxes(boxes[bad], cfg.box_scale), ROI_FROM_BOX,
                                  flip[bad])
                passes[bad] += 1
                nxt = ops.rois_from_alignment(res["xy"][bad, 33], res["xy"][bad, 34])
                self._keep_better(image, res, kind, bad, nxt, ROI_REALIGNED, flip[bad])
                passes[bad] += 1
        t = self._timer
        poses = self.blazepose._to_poses(res, image.shape[:2], t)
        self._bp_time = {"preprocess": t.pre, "infer": t.infer, "postprocess": t.post}
        self._passes = passes
        return poses, np.array(res["roi"]), kind

    def _keep_better(self, image, res: dict, kind: np.ndarray, rows: np.ndarray,
                     new_rois: np.ndarray, new_kind: int, flip: np.ndarray) -> None:
        """Landmarks on ``new_rois`` for persons ``rows`` (mirrored too where ``flip``); each
        keeps, in place, the pass with the higher pose flag."""
        again = self._run(image, new_rois, flip)
        take = again["flag"] > res["flag"][rows]
        self._put(res, rows[take], again, take)
        kind[rows[take]] = new_kind

    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        frame = as_frame(frame)
        cfg = self.config
        t0 = time.perf_counter()
        people = self.persons(frame)
        t1 = time.perf_counter()
        n = len(people)
        if n == 0:
            self.last_timings = {"detector": t1 - t0, "preprocess": 0.0, "infer": 0.0,
                                 "postprocess": 0.0, "fusion": 0.0, "total": t1 - t0}
            return Poses.empty(BLAZEPOSE_33, with_world=True)
        rois, start = self.first_rois(frame.image, people)
        t_rois = time.perf_counter()
        bp, rois, kind = self._landmarks(frame.image, rois, start, people.boxes,
                                         people.person_scores)
        t2 = time.perf_counter()
        flag = np.asarray(bp.extras["pose_score"], np.float32)
        confirmed = flag >= cfg.min_presence
        # YOLO's keypoints that move under a flip count as unreliable in the fusion (the ROIs
        # above were aligned on them as found)
        ys = flip_gated_scores(people.scores, people.extras.get("flip_distance"),
                               cfg.yolo_flip_max)
        extras = {k: v for k, v in bp.extras.items() if k != "roi_index"}
        extras.update(yolo_keypoints=people.keypoints, yolo_scores=ys,
                      pose_score=flag, confirmed=confirmed, roi=rois, roi_kind=kind,
                      roi_start=start,
                      passes=self._passes, blazepose_keypoints=bp.keypoints,
                      blazepose_scores=bp.scores)
        if "flip_distance" in people.extras:
            extras["yolo_flip_distance"] = people.extras["flip_distance"]
        person_scores = people.person_scores
        if cfg.fuse:
            if cfg.arbitration == "calibrated":
                kp, sc, wy = fuse_calibrated(bp.keypoints, bp.scores, confirmed, flag,
                                             people.keypoints, ys, people.boxes,
                                             self._calibration, cfg.fusion.max_distance,
                                             blazepose_only=start == ROI_FROM_DETECTOR)
                if cfg.person_score == "calibrated":
                    person_scores = calibrated_person_scores(people.person_scores, sc)
            else:
                kp, sc, wy = fuse_keypoints(bp.keypoints, bp.scores, confirmed, flag,
                                            people.keypoints, ys, people.boxes,
                                            cfg.fusion)
            presence = np.array(bp.presence)
            world = np.array(bp.world)
            presence[~confirmed] = 0.0
            presence[np.ix_(~confirmed, COCO_IN_BLAZEPOSE)] = ys[~confirmed]
            world[~confirmed] = np.nan
            extras["yolo_weight"] = wy
            poses = Poses(kp, sc, BLAZEPOSE_33, boxes=people.boxes,
                          person_scores=person_scores, world=world, presence=presence,
                          extras=extras)
        else:
            extras["yolo_weight"] = np.zeros((n, len(BLAZEPOSE_33)), np.float32)
            poses = bp.replace(boxes=people.boxes, person_scores=people.person_scores,
                               extras=extras)[confirmed]
        t3 = time.perf_counter()
        self.last_timings = {"detector": t_rois - t0, **self._bp_time,
                             "fusion": t3 - t2, "total": t3 - t0}
        return poses


__all__ = ["COCO_IN_BLAZEPOSE", "ROI_FROM_BOX", "ROI_FROM_KEYPOINTS", "ROI_REALIGNED",
           "FusionConfig", "HybridConfig", "HybridPose", "calibrated_person_scores",
           "FLIP_GATED", "flip_disagreement", "flip_gated_scores", "fuse_calibrated",
           "fuse_keypoints", "has_small_persons", "merge_views", "mirror_poses", "roi_moved",
           "rois_from_keypoints", "single_person"]
