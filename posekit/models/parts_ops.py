"""Pre- and post-processing of MediaPipe's hand and face networks as numpy/OpenCV functions.

Shared by :mod:`posekit.models.hands`, :mod:`posekit.models.face` and
:mod:`posekit.models.holistic`. Every constant and rule comes from MediaPipe's published graphs
(paths under ``mediapipe/`` in google-ai-edge/mediapipe), cited per function:

- ``modules/palm_detection/palm_detection_cpu.pbtxt``: palm detector, 192x192, [0, 1],
  letterboxed, 2016 SSD anchors, 7 keypoints, weighted NMS 0.3;
- ``modules/hand_landmark/palm_detection_detection_to_roi.pbtxt``: hand ROI from a palm;
- ``modules/hand_landmark/hand_landmark_cpu.pbtxt``: hand landmark network, 224x224, [0, 1];
- ``modules/hand_landmark/hand_landmark_landmarks_to_roi.pbtxt`` and
  ``calculators/hand_landmarks_to_rect_calculator.cc``: the next frame's hand ROI;
- ``modules/face_detection/face_detection_short_range.pbtxt`` / ``face_detection.pbtxt``:
  face detector, 128x128, [-1, 1], 896 anchors, 6 keypoints, weighted NMS 0.3;
- ``modules/face_landmark/face_detection_front_detection_to_roi.pbtxt``,
  ``face_landmark_cpu.pbtxt`` and ``face_landmark_landmarks_to_roi.pbtxt``: face ROI, the
  468-landmark network (192x192, [0, 1]) and the next frame's ROI;
- ``modules/holistic_landmark/``: ``hand_landmarks_from_pose_to_recrop_roi.pbtxt``,
  ``calculators/hand_detections_from_pose_to_rects_calculator.cc``,
  ``hand_recrop_by_roi_cpu.pbtxt``, ``hand_landmarks_to_roi.pbtxt``,
  ``face_landmarks_from_pose_to_recrop_roi.pbtxt``,
  ``face_detection_front_detections_to_roi.pbtxt``, ``face_landmarks_to_roi.pbtxt``,
  ``hand_tracking.pbtxt`` / ``face_tracking.pbtxt`` and ``calculators/roi_tracking_calculator.cc``.

ROIs are squares ``(cx, cy, side, rotation)`` in frame pixels and radians, as in
:mod:`posekit.models.blazepose_ops` (every MediaPipe rect used here ends with
``square_long: true``, so its pixel width and height are equal). A *rect* before that last step
is ``(cx, cy, width, height, rotation)`` (N, 5) float64 in pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from . import blazepose_ops as ops

# --------------------------------------------------------------------------- SSD detectors


@dataclass(frozen=True)
class DetectorSpec:
    """An SSD detector of MediaPipe's (``SsdAnchorsCalculator`` + ``TensorsToDetections``).

    Attributes:
        size: input side in pixels (square).
        strides: one stride per anchor layer.
        interpolated: ``interpolated_scale_aspect_ratio`` > 0: one more anchor per layer/cell.
        num_keypoints: keypoints per detection after the 4 box values.
        signed_input: input in [-1, 1] (else [0, 1]).
        min_score: ``min_score_thresh``.
        nms_iou: ``min_suppression_threshold`` of the weighted NMS.
        boxes_out, scores_out: output tensor names.
    """

    size: int
    strides: tuple[int, ...]
    interpolated: bool
    num_keypoints: int
    signed_input: bool
    min_score: float
    nms_iou: float
    boxes_out: str
    scores_out: str


#: palm_detection_cpu.pbtxt (palm_detection_full.tflite). Keypoints: 0 wrist centre,
#: 1 index MCP, 2 middle MCP, 3 ring MCP, 4 pinky MCP, 5 thumb CMC, 6 thumb MCP (approx.).
PALM = DetectorSpec(size=192, strides=(8, 16, 16, 16), interpolated=True, num_keypoints=7,
                    signed_input=False, min_score=0.5, nms_iou=0.3, boxes_out="Identity",
                    scores_out="Identity_1")
#: face_detection_short_range.pbtxt + face_detection.pbtxt. Keypoints: 0 right eye, 1 left
#: eye, 2 nose tip, 3 mouth centre, 4 right ear tragion, 5 left ear tragion.
FACE_SHORT = DetectorSpec(size=128, strides=(8, 16, 16, 16), interpolated=True,
                          num_keypoints=6, signed_input=True, min_score=0.5, nms_iou=0.3,
                          boxes_out="regressors", scores_out="classificators")
#: face_detection_full_range.pbtxt (face_detection_full_range_sparse.tflite).
FACE_FULL = DetectorSpec(size=192, strides=(4,), interpolated=False, num_keypoints=6,
                         signed_input=True, min_score=0.6, nms_iou=0.3, boxes_out="Identity",
                         scores_out="Identity_1")


@lru_cache(maxsize=8)
def ssd_anchors(size: int, strides: tuple[int, ...], interpolated: bool) -> np.ndarray:
    """SSD anchor centres (A, 2) float32 normalised to the input, for fixed-size anchors.

    ``SsdAnchorsCalculator`` (calculators/tflite/ssd_anchors_calculator.cc) with aspect ratio
    1.0, ``fixed_anchor_size: true``, offset 0.5: consecutive layers with the same stride share
    one feature map of ``ceil(size / stride)`` cells, each cell holding one anchor per layer
    (two with ``interpolated_scale_aspect_ratio`` > 0).
    """
    per_layer = 2 if interpolated else 1
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        fm = int(np.ceil(size / strides[i]))
        ys, xs = np.mgrid[0:fm, 0:fm]
        c = np.stack([(xs + 0.5) / fm, (ys + 0.5) / fm], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(c, per_layer * (j - i), axis=1).reshape(-1, 2))
        i = j
    a = np.concatenate(out).astype(np.float32)
    a.setflags(write=False)
    return a


def decode_ssd(spec: DetectorSpec, raw_boxes: np.ndarray, raw_scores: np.ndarray,
               min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``TensorsToDetectionsCalculator``: box centre/size and keypoint offsets divided by the
    input size and added to the anchor centre (``reverse_output_order``: x before y), score =
    sigmoid(clip(logit, +-100)); then weighted NMS (:func:`blazepose_ops.weighted_nms`).

    Returns:
        scores (M,), boxes (M, 4) xyxy and keypoints (M, K, 2), normalised to the input square,
        best first.
    """
    logits = np.clip(np.asarray(raw_scores, np.float32).reshape(-1), -100.0, 100.0)
    t = float(np.clip(min_score, 1e-6, 1 - 1e-6))
    keep = np.nonzero(logits >= np.log(t / (1 - t)))[0]
    k = spec.num_keypoints
    if len(keep) == 0:
        return (np.zeros(0, np.float32), np.zeros((0, 4), np.float32),
                np.zeros((0, k, 2), np.float32))
    anchors = ssd_anchors(spec.size, spec.strides, spec.interpolated)[keep]
    r = np.asarray(raw_boxes, np.float32).reshape(len(logits), -1)[keep] / np.float32(spec.size)
    c = r[:, :2] + anchors
    half = r[:, 2:4] / 2
    boxes = np.concatenate([c - half, c + half], axis=1)
    kps = r[:, 4:4 + 2 * k].reshape(-1, k, 2) + anchors[:, None, :]
    return ops.weighted_nms(ops.sigmoid(logits[keep]).astype(np.float32), boxes, kps,
                            spec.nms_iou)


def detector_input(image: np.ndarray, roi: np.ndarray, spec: DetectorSpec
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The detector's input (1, S, S, 3) float32 RGB for one square ROI (4,) of a BGR frame,
    zero border (``BORDER_ZERO``), and the crop's affine map (2, 3) (tensor pixel -> frame)."""
    m = ops.roi_matrix(roi, spec.size)[0]
    x = ops.crop(image, m, spec.size, cv2.BORDER_CONSTANT)
    x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB).astype(np.float32)
    if spec.signed_input:
        x *= 1.0 / 127.5
        x -= 1.0
    else:
        x *= 1.0 / 255.0
    return x[None], m


def run_detector(net, spec: DetectorSpec, image: np.ndarray, roi: np.ndarray,
                 min_score: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One detector pass on a square ROI (4,) of the frame (the letterboxed frame:
    :func:`blazepose_ops.letterbox_roi`). Returns scores (M,), boxes (M, 4) xyxy and keypoints
    (M, K, 2) in frame pixels, best first. ``net`` has LiteRT's ``run`` / ``get``; a net taking
    uint8 BGR (``net.bgr_uint8``: OpenVINO, which scales to [0, 1] itself) gets the zero-border
    crop as it is (for detectors whose input is in [0, 1])."""
    if getattr(net, "bgr_uint8", False):
        if spec.signed_input:
            raise ValueError("a uint8 BGR network cannot take a [-1, 1] detector input")
        m = ops.roi_matrix(roi, spec.size)[0]
        net.run(ops.crop(image, m, spec.size, cv2.BORDER_CONSTANT)[None])
    else:
        x, m = detector_input(image, roi, spec)
        net.run(x)
    s, b, k = decode_ssd(spec, net.get(spec.boxes_out)[0], net.get(spec.scores_out)[0],
                         spec.min_score if min_score is None else min_score)
    n = spec.size
    b = ops.apply_affine(m, b.reshape(-1, 2, 2) * n).reshape(-1, 4).astype(np.float32)
    k = ops.apply_affine(m, k * n).astype(np.float32)
    return s, b, k


# --------------------------------------------------------------------------- rects


def rotation(start: np.ndarray, end: np.ndarray, target: float) -> np.ndarray:
    """``DetectionsToRectsCalculator::ComputeRotation``: ``NormalizeRadians(target -
    atan2(-(y1 - y0), x1 - x0))`` for points (N, 2) in pixels; radians (N,)."""
    d = np.asarray(end, np.float64) - np.asarray(start, np.float64)
    return ops.normalize_radians(target - np.arctan2(-d[..., 1], d[..., 0]))


def rects_from_boxes(boxes: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Rects (N, 5) ``(cx, cy, w, h, rotation)`` of xyxy boxes (N, 4) pixels (the box's centre
    and size: ``DetectionsToRectsCalculator``'s ``conversion_mode: DEFAULT`` for a box)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0],
                     b[:, 3] - b[:, 1], np.asarray(rot, np.float64).reshape(-1)], axis=1)


def points_box(pts: np.ndarray) -> np.ndarray:
    """Axis-aligned xyxy boxes (N, 4) of points (N, K, 2) (``LandmarksToDetectionCalculator``)."""
    p = np.asarray(pts, np.float64)
    return np.concatenate([p.min(axis=1), p.max(axis=1)], axis=1)


def transform_rects(rects: np.ndarray, scale: float, shift_x: float = 0.0,
                    shift_y: float = 0.0) -> np.ndarray:
    """``RectTransformationCalculator`` with ``square_long: true``, in pixels: the centre moves
    by ``R(rotation) @ (shift_x * w, shift_y * h)``, the side becomes ``max(w, h) * scale``.
    Returns square ROIs (N, 4) ``(cx, cy, side, rotation)``."""
    r = np.asarray(rects, np.float64).reshape(-1, 5)
    cx, cy, w, h, rot = r.T
    c, s = np.cos(rot), np.sin(rot)
    dx, dy = shift_x * w, shift_y * h
    return np.stack([cx + c * dx - s * dy, cy + s * dx + c * dy, np.maximum(w, h) * scale, rot],
                    axis=1)


# hand_landmark_landmarks_to_roi.pbtxt / holistic hand_landmarks_to_roi.pbtxt: wrist, thumb CMC,
# MCP, IP, then MCP and PIP of the four fingers (SplitNormalizedLandmarkListCalculator ranges
# 0-4, 5-7, 9-11, 13-15, 17-19).
_HAND_ROI_SUBSET = np.array([0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18])


def hand_rois_from_landmarks(xy: np.ndarray) -> np.ndarray:
    """The next frame's hand ROIs (N, 4) from hand landmarks (N, 21, 2) pixels.

    ``HandLandmarksToRectCalculator`` on the subset above: rotation from the wrist to the mean
    of (mean of index and ring MCP) and middle MCP, target 90 degrees; the rect is the
    bounding box of the subset in the frame rotated by ``-rotation`` around the axis-aligned
    box's centre; then ``RectTransformationCalculator`` scale 2.0, shift_y -0.1, square_long.
    """
    p = np.asarray(xy, np.float64)[:, _HAND_ROI_SUBSET]          # (N, 12, 2)
    if len(p) == 0:
        return np.zeros((0, 4))
    mid = ((p[:, 4] + p[:, 8]) / 2 + p[:, 6]) / 2
    rot = rotation(p[:, 0], mid, np.pi / 2)
    center = (p.min(axis=1) + p.max(axis=1)) / 2                 # axis-aligned centre
    rev = -rot
    c, s = np.cos(rev), np.sin(rev)
    d = p - center[:, None]
    px = d[..., 0] * c[:, None] - d[..., 1] * s[:, None]
    py = d[..., 0] * s[:, None] + d[..., 1] * c[:, None]
    pcx = (px.min(axis=1) + px.max(axis=1)) / 2
    pcy = (py.min(axis=1) + py.max(axis=1)) / 2
    c, s = np.cos(rot), np.sin(rot)
    cx = pcx * c - pcy * s + center[:, 0]
    cy = pcx * s + pcy * c + center[:, 1]
    w = px.max(axis=1) - px.min(axis=1)
    h = py.max(axis=1) - py.min(axis=1)
    return transform_rects(np.stack([cx, cy, w, h, rot], axis=1), 2.0, 0.0, -0.1)


def palm_rois(boxes: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Hand ROIs (N, 4) from palm detections (palm_detection_detection_to_roi.pbtxt): the box,
    rotated from keypoint 0 (wrist centre) to 2 (middle finger MCP) with target 90 degrees,
    scale 2.6, shift_y -0.5, square_long."""
    k = np.asarray(keypoints, np.float64).reshape(-1, PALM.num_keypoints, 2)
    return transform_rects(rects_from_boxes(boxes, rotation(k[:, 0], k[:, 2], np.pi / 2)),
                           2.6, 0.0, -0.5)


def face_rois_from_detections(boxes: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Face ROIs (N, 4) from face detections (face_detection_front_detection_to_roi.pbtxt):
    the box, rotated from keypoint 0 to 1 (the eyes) with target 0, scale 1.5, square_long."""
    k = np.asarray(keypoints, np.float64).reshape(-1, 6, 2)
    return transform_rects(rects_from_boxes(boxes, rotation(k[:, 0], k[:, 1], 0.0)), 1.5)


def face_rois_from_landmarks(xy: np.ndarray) -> np.ndarray:
    """The next frame's face ROIs (N, 4) from 468 landmarks (N, 468, 2) pixels
    (face_landmark_landmarks_to_roi.pbtxt, holistic face_landmarks_to_roi.pbtxt): the landmarks'
    bounding box, rotated from landmark 33 to 263 (the outer eye corners) with target 0,
    scale 1.5, square_long."""
    p = np.asarray(xy, np.float64)
    if len(p) == 0:
        return np.zeros((0, 4))
    return transform_rects(rects_from_boxes(points_box(p), rotation(p[:, 33], p[:, 263], 0.0)),
                           1.5)


def face_recrop_rois_from_pose(face_pts: np.ndarray) -> np.ndarray:
    """Search ROIs (N, 4) for the face detector from BlazePose landmarks 0-10 (N, 11, 2) pixels
    (face_landmarks_from_pose_to_recrop_roi.pbtxt): their bounding box, rotated from landmark 5
    (right eye) to 2 (left eye), target 0, scale 3.0, square_long."""
    p = np.asarray(face_pts, np.float64)
    return transform_rects(rects_from_boxes(points_box(p), rotation(p[:, 5], p[:, 2], 0.0)), 3.0)


def face_rois_from_detection_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """Face ROIs (N, 4) from face detections found inside a pose-derived ROI
    (holistic face_detection_front_detections_to_roi.pbtxt): ``conversion_mode:
    USE_KEYPOINTS`` (the box of the 6 keypoints), rotation from keypoint 0 to 1, target 0,
    scale 2.0, shift_y -0.1, square_long."""
    k = np.asarray(keypoints, np.float64).reshape(-1, 6, 2)
    return transform_rects(rects_from_boxes(points_box(k), rotation(k[:, 0], k[:, 1], 0.0)),
                           2.0, 0.0, -0.1)


def hand_recrop_rois_from_pose(wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray
                               ) -> np.ndarray:
    """Search ROIs (N, 4) for the hand re-crop network from BlazePose's wrist, pinky and index
    landmarks (N, 2) pixels (hand_landmarks_from_pose_to_recrop_roi.pbtxt with
    ``HandDetectionsFromPoseToRectsCalculator`` as in mediapipe 0.10.21): centre at the
    estimated middle finger ``(2 index + pinky) / 3``, side twice its distance to the wrist,
    rotation wrist -> middle with target 90 degrees; then scale 2.7, shift_y -0.1,
    square_long."""
    w = np.asarray(wrist, np.float64).reshape(-1, 2)
    mid = (2.0 * np.asarray(index, np.float64).reshape(-1, 2)
           + np.asarray(pinky, np.float64).reshape(-1, 2)) / 3.0
    size = 2.0 * np.linalg.norm(mid - w, axis=1)
    rects = np.stack([mid[:, 0], mid[:, 1], size, size, rotation(w, mid, np.pi / 2)], axis=1)
    return transform_rects(rects, 2.7, 0.0, -0.1)


def hand_rois_from_recrop(points: np.ndarray) -> np.ndarray:
    """Hand ROIs (N, 4) from the re-crop network's two points (N, 2, 2) pixels
    (hand_recrop_by_roi_cpu.pbtxt): ``AlignmentPointsRectsCalculator`` (centre = point 0, side
    = 2 |p1 - p0|, rotation target -90 degrees), then scale 1.0, shift_y -0.1, square_long."""
    p = np.asarray(points, np.float64).reshape(-1, 2, 2)
    size = 2.0 * np.linalg.norm(p[:, 1] - p[:, 0], axis=1)
    rects = np.stack([p[:, 0, 0], p[:, 0, 1], size, size,
                      rotation(p[:, 0], p[:, 1], -np.pi / 2)], axis=1)
    return transform_rects(rects, 1.0, 0.0, -0.1)


@dataclass(frozen=True)
class TrackingRule:
    """``RoiTrackingCalculator``'s requirements (holistic hand_tracking.pbtxt: 40 degrees, 0.2,
    0.4, margin -0.1; face_tracking.pbtxt: 15, 0.1, 0.3, -0.2)."""

    rotation_deg: float
    translation: float
    scale: float
    margin: float


HAND_TRACKING = TrackingRule(rotation_deg=40.0, translation=0.2, scale=0.4, margin=-0.1)
FACE_TRACKING = TrackingRule(rotation_deg=15.0, translation=0.1, scale=0.3, margin=-0.2)


def keep_tracking(prev_roi: np.ndarray, prev_xy: np.ndarray, recrop_roi: np.ndarray,
                  rule: TrackingRule) -> bool:
    """Whether the previous frame's landmark ROI (4,) may be used instead of this frame's
    re-crop ROI (4,) (roi_tracking_calculator.cc): rotation, translation (along the re-crop
    ROI's axes) and size within ``rule``, and every previous landmark (K, 2) inside the re-crop
    ROI shrunk by ``rule.margin``."""
    rot = -recrop_roi[3]
    c, s = np.cos(rot), np.sin(rot)

    def turn(p):
        p = np.asarray(p, np.float64)
        return np.stack([p[..., 0] * c - p[..., 1] * s, p[..., 0] * s + p[..., 1] * c], -1)

    dr = np.degrees(prev_roi[3] - recrop_roi[3])
    dr = abs((dr + 180.0) % 360.0 - 180.0)
    side = recrop_roi[2]
    d = np.abs(turn(prev_roi[:2]) - turn(recrop_roi[:2]))
    if dr > rule.rotation_deg or (d > side * rule.translation).any() \
            or abs(prev_roi[2] - side) > side * rule.scale:
        return False
    half = side * (1.0 + rule.margin) / 2
    q = turn(prev_xy) - turn(recrop_roi[:2])
    return bool(np.isfinite(q).all() and (np.abs(q) < half).all())


# --------------------------------------------------------------------------- landmark networks


def run_crops(net, image: np.ndarray, rois: np.ndarray, size: int, outputs: tuple[str, ...],
              timings: dict | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A landmark-style network on square ROIs (N, 4) of a BGR frame, in batches of
    ``net.max_batch``: each ROI warped to ``size`` x ``size`` (bilinear, replicated border:
    ``ImageToTensorCalculator``'s default), as uint8 BGR when ``net.bgr_uint8`` (OpenVINO's
    preprocessing makes it float RGB in [0, 1]) or as float RGB in [0, 1] (LiteRT).

    Returns:
        the raw outputs by name, each (N, ...) float32 (one row per ROI), and the crops'
        affine maps (N, 2, 3) (tensor pixel -> frame pixel).
    """
    n = len(rois)
    mats = ops.roi_matrix(rois, size) if n else np.zeros((0, 2, 3))
    out: dict[str, list] = {k: [] for k in outputs}
    step = net.max_batch
    for start in range(0, n, step):
        t0 = time.perf_counter()
        idx = range(start, min(start + step, n))
        x = np.empty((len(idx), size, size, 3), np.uint8 if net.bgr_uint8 else np.float32)
        for j, i in enumerate(idx):
            c = ops.crop(image, mats[i], size, cv2.BORDER_REPLICATE)
            x[j] = c if net.bgr_uint8 else cv2.cvtColor(c, cv2.COLOR_BGR2RGB)
        if not net.bgr_uint8:
            x *= 1.0 / 255.0
        t1 = time.perf_counter()
        if net.max_batch == 1:
            for j in range(len(idx)):
                net.run(x[j:j + 1])
                for k in outputs:
                    out[k].append(np.array(net.get(k), np.float32).reshape(1, -1))
        else:
            net.run(x)
            for k in outputs:
                out[k].append(np.array(net.get(k), np.float32).reshape(len(idx), -1))
        t2 = time.perf_counter()
        if timings is not None:
            timings["preprocess"] = timings.get("preprocess", 0.0) + t1 - t0
            timings["infer"] = timings.get("infer", 0.0) + t2 - t1
    res = {k: (np.concatenate(v) if v else np.zeros((0, 1), np.float32)) for k, v in out.items()}
    return res, mats


def project(mats: np.ndarray, xy_crop: np.ndarray) -> np.ndarray:
    """Points (N, K, 2) in crop pixels through each crop's affine map (N, 2, 3) to the frame
    (``LandmarkProjectionCalculator``)."""
    if len(mats) == 0:
        return np.zeros((0,) + xy_crop.shape[1:], np.float64)
    return np.einsum("nij,nkj->nki", mats[:, :, :2], xy_crop) + mats[:, None, :, 2]


def rotate_world(world: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """World points (N, K, 3) rotated about z by each ROI's rotation (N,)
    (``WorldLandmarkProjectionCalculator``)."""
    c, s = np.cos(rot)[:, None], np.sin(rot)[:, None]
    out = np.array(world, np.float32)
    out[..., 0] = c * world[..., 0] - s * world[..., 1]
    out[..., 1] = s * world[..., 0] + c * world[..., 1]
    return out


def dedupe_rois(rois: np.ndarray, iou: float) -> np.ndarray:
    """Indices of ROIs (N, 4) to keep, in order: a ROI whose unrotated square overlaps an
    earlier kept one by more than ``iou`` is dropped (``AssociationNormRectCalculator``)."""
    if len(rois) == 0:
        return np.zeros(0, np.int64)
    o = ops.box_iou(ops.roi_boxes(rois), ops.roi_boxes(rois))
    keep: list[int] = []
    for i in range(len(rois)):
        if all(o[i, j] <= iou for j in keep):
            keep.append(i)
    return np.asarray(keep, np.int64)


# --------------------------------------------------------------------------- files and networks


def mediapipe_file(rel: str):
    """Path of ``mediapipe/modules/<rel>`` in the installed mediapipe wheel.

    Raises:
        ModelError: mediapipe is not installed or does not ship the file (it must be
            ``mediapipe==0.10.21``, see :mod:`posekit.models.assets`).
    """
    import importlib.util
    from pathlib import Path

    from ..errors import ModelError
    from .assets import MEDIAPIPE_VERSION

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"mediapipe is not installed: install mediapipe=={MEDIAPIPE_VERSION}")
    p = Path(list(spec.submodule_search_locations)[0]) / "modules" / rel
    if not p.is_file():
        raise ModelError(f"{rel} not found in the installed mediapipe: install "
                         f"mediapipe=={MEDIAPIPE_VERSION}, which bundles it")
    return p


def load_net(rel: str, runtime: str, num_threads: int, outputs: tuple[str, ...] | None = None,
             *, batch: bool = True):
    """A network of the mediapipe wheel on LiteRT (``runtime="litert"``: one crop per call) or
    OpenVINO (float32, uint8 BGR crops, only ``outputs`` kept; batches of up to 4 crops where
    ``batch``): the runtimes of :mod:`posekit.models.blazepose` (``_Net`` / ``_OvNet``).

    ``batch=False`` for networks whose graph fixes the batch size inside (reshapes to batch 1):
    the palm detector and the hand re-crop network give wrong outputs for every crop but the
    first when OpenVINO reshapes them to a larger batch (measured: tens of pixels off), while the
    hand and face landmark networks batch exactly (within 1e-3 px of LiteRT)."""
    from .blazepose import _Net, _OvNet

    path = mediapipe_file(rel)
    if runtime == "openvino":
        net = _OvNet(path, num_threads, outputs)
        if not batch:
            net.max_batch = 1
        return net
    return _Net(path, num_threads)
