"""BlazePose's pre- and post-processing as plain numpy/OpenCV functions (no MediaPipe graph).

Every constant and rule here comes from MediaPipe's graphs for BlazePose (arXiv:2006.10204),
which the functions cite by file name (paths under ``mediapipe/`` in google-ai-edge/mediapipe):

- ``modules/pose_detection/pose_detection_cpu.pbtxt``: detector input 224x224, letterboxed to
  keep the aspect ratio, zero border, values in [-1, 1]; SSD anchors; box/keypoint decoding;
  weighted non-maximum suppression.
- ``modules/pose_landmark/pose_detection_to_roi.pbtxt`` and
  ``tasks/cc/vision/pose_detector/pose_detector_graph.cc``: the ROI of a detection from its
  keypoints 0 (hip centre) and 1 (scale/rotation point), rotation target 90 degrees, scale 1.25,
  square (``square_long``).
- ``tasks/cc/vision/pose_landmarker/pose_landmarks_detector_graph.cc`` and
  ``modules/pose_landmark/tensors_to_pose_landmarks_and_segmentation.pbtxt``: the landmark
  network's outputs, sigmoid visibility/presence, heatmap refinement (kernel 7), projection
  back to the image, world landmarks rotated by the ROI's rotation, the next frame's ROI from
  auxiliary landmarks 33 and 34.

Coordinates: pixels of the original frame, x right, y down, OpenCV's convention (integer values
at pixel centres), which is also MediaPipe's CPU convention (``ImageToTensorCalculator`` maps the
rotated ROI's corners, from ``cv::boxPoints``, onto the tensor's corners ``(0, 0)`` and
``(size, size)`` with ``cv::warpPerspective``).

A region of interest (ROI) is an array ``(cx, cy, size, rotation)``: centre in pixels, side of
the square in pixels, rotation in radians (MediaPipe's ``NormalizedRect.rotation``: positive
turns the crop clockwise on screen). Several ROIs stack as (N, 4) float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..types import box_iou

DETECTOR_SIZE = 224            # pose_detection.tflite input side (pixels)
LANDMARK_SIZE = 256            # pose_landmark_full.tflite input side (pixels)
HEATMAP_SIZE = 64              # heatmap side (cells)
NUM_LANDMARKS = 33             # BlazePose landmarks
NUM_ALL_LANDMARKS = 39         # 33 landmarks + 2 alignment (33, 34) + 4 auxiliary
ROI_SCALE = 1.25               # RectTransformationCalculator scale_x/scale_y (tasks graphs)
ROI_TARGET_ANGLE = np.pi / 2   # rotation_vector_target_angle_degrees: 90
SCORE_CLIP = 100.0             # TensorsToDetectionsCalculator score_clipping_thresh
HEATMAP_KERNEL = 7             # RefineLandmarksFromHeatmapCalculator kernel_size
HEATMAP_MIN_CONFIDENCE = 0.5   # ... min_confidence_to_refine (proto default)


@lru_cache(maxsize=4)
def ssd_anchors(input_size: int = DETECTOR_SIZE, strides: tuple[int, ...] = (8, 16, 32, 32, 32)
                ) -> np.ndarray:
    """SSD anchor centres (A, 2) float32, normalised to [0, 1] of the detector input.

    ``SsdAnchorsCalculator`` (calculators/tflite/ssd_anchors_calculator.cc) with
    pose_detection_cpu.pbtxt's options: 5 layers, strides 8, 16, 32, 32, 32, aspect ratio 1.0
    plus the interpolated scale (2 anchors per layer and cell), anchor offset 0.5,
    ``fixed_anchor_size: true`` (every anchor is 1x1, so only the centres matter). Consecutive
    layers with the same stride share one feature map: 28x28x2 + 14x14x2 + 7x7x6 = 2254 anchors.
    """
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = 2 * (j - i)
        fm = int(np.ceil(input_size / strides[i]))
        ys, xs = np.mgrid[0:fm, 0:fm]
        c = np.stack([(xs + 0.5) / fm, (ys + 0.5) / fm], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
        i = j
    a = np.concatenate(out).astype(np.float32)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Detections:
    """Person detections of BlazePose's detector, in pixels of the frame.

    Attributes:
        scores: (M,) float32 detection scores in [0, 1] (sigmoid of the logit).
        boxes: (M, 4) float32 xyxy pixels of the detector's box (BlazePose's detector boxes the
            face/head, per pose_detection_cpu.pbtxt).
        keypoints: (M, 4, 2) float32 pixels: 0 hip centre, 1 full-body scale/rotation point,
            2 shoulder centre, 3 upper-body scale/rotation point.
        rois: (M, 4) float64 landmark ROIs ``(cx, cy, size, rotation)`` (see the module
            docstring), from :func:`rois_from_alignment` with keypoints 0 and 1.
    """

    scores: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray
    rois: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros(0, np.float32), np.zeros((0, 4), np.float32),
                   np.zeros((0, 4, 2), np.float32), np.zeros((0, 4)))

    def person_boxes(self) -> np.ndarray:
        """(M, 4) float32 xyxy pixels: the square around the body circle of each detection
        (centre keypoint 0, radius ``|kp1 - kp0|``, the circle the detector is trained to fit
        around the whole body, paper Sec. 3.1), without the ROI's 1.25 margin."""
        c = self.keypoints[:, 0]
        r = np.linalg.norm(self.keypoints[:, 1] - c, axis=1)[:, None]
        return np.concatenate([c - r, c + r], axis=1).astype(np.float32)

    def __getitem__(self, idx) -> Detections:
        return Detections(self.scores[idx], self.boxes[idx], self.keypoints[idx], self.rois[idx])


def roi_matrix(rois: np.ndarray, out_size: int) -> np.ndarray:
    """Affine maps (N, 2, 3) float64 from tensor pixels (u, v) in [0, out_size] to frame pixels.

    ``frame = c + R(rotation) @ ((u / out_size - 0.5) * size, (v / out_size - 0.5) * size)``,
    ``R = [[cos, -sin], [sin, cos]]``: the map ``cv::getPerspectiveTransform`` builds from
    ``cv::boxPoints(RotatedRect(c, (size, size), rotation))`` to the tensor corners in
    ImageToTensorCalculator's OpenCV converter (image_to_tensor_converter_opencv.cc), and the
    inverse of LandmarkProjectionCalculator's projection.
    """
    rois = np.atleast_2d(np.asarray(rois, np.float64))
    cx, cy, size, rot = rois.T
    k = size / out_size
    cos, sin = np.cos(rot), np.sin(rot)
    m = np.empty((len(rois), 2, 3))
    m[:, 0, 0], m[:, 0, 1] = cos * k, -sin * k
    m[:, 1, 0], m[:, 1, 1] = sin * k, cos * k
    half = size / 2
    m[:, 0, 2] = cx - (cos * half - sin * half)
    m[:, 1, 2] = cy - (sin * half + cos * half)
    return m


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points (..., 2) through one affine map ``m`` (2, 3)."""
    return pts @ m[:, :2].T + m[:, 2]


def crop(image: np.ndarray, m: np.ndarray, out_size: int, border: int) -> np.ndarray:
    """One ``cv2.warpAffine`` (bilinear) of ``image`` to (out_size, out_size) through ``m`` (2, 3),
    the map from output pixels to image pixels; ``border`` is an OpenCV border mode."""
    return cv2.warpAffine(image, m, (out_size, out_size),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=border,
                          borderValue=0)


def letterbox_roi(shape_hw: tuple[int, int]) -> np.ndarray:
    """The detector's ROI (4,) for a whole frame: the square of side ``max(H, W)`` centred on
    the frame, rotation 0 (ImageToTensorCalculator ``keep_aspect_ratio: true``: letterbox)."""
    h, w = shape_hw
    return np.array([w / 2.0, h / 2.0, float(max(h, w)), 0.0])


def normalize_radians(a):
    """Angle(s) wrapped to [-pi, pi) (``NormalizeRadians``, detections_to_rects_calculator.cc)."""
    return a - 2 * np.pi * np.floor((a + np.pi) / (2 * np.pi))


def rois_from_alignment(center: np.ndarray, scale_point: np.ndarray,
                        scale: float = ROI_SCALE) -> np.ndarray:
    """ROIs (N, 4) from alignment points (N, 2) pixels: ``AlignmentPointsRectsCalculator``
    (centre = ``center``, side = 2 |scale_point - center|, rotation =
    ``NormalizeRadians(pi/2 - atan2(-(dy), dx))``) then ``RectTransformationCalculator``
    (``square_long``, side times ``scale``), as in pose_detector_graph.cc and
    pose_landmarks_detector_graph.cc."""
    c = np.asarray(center, np.float64).reshape(-1, 2)
    p = np.asarray(scale_point, np.float64).reshape(-1, 2)
    d = p - c
    size = 2.0 * np.hypot(d[:, 0], d[:, 1]) * scale
    rot = normalize_radians(ROI_TARGET_ANGLE - np.arctan2(-d[:, 1], d[:, 0]))
    return np.stack([c[:, 0], c[:, 1], size, rot], axis=1)


def rois_from_boxes(boxes_xyxy: np.ndarray, scale: float) -> np.ndarray:
    """Square ROIs (N, 4) centred on boxes (N, 4) xyxy pixels, side ``scale * max(w, h)``,
    rotation 0 (top-down use with boxes from any person detector)."""
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * scale
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, side,
                     np.zeros(len(b))], axis=1)


def roi_boxes(rois: np.ndarray) -> np.ndarray:
    """Axis-aligned xyxy boxes (N, 4) of ROIs' unrotated squares (what MediaPipe's
    AssociationNormRectCalculator compares: the rect's centre and size, rotation ignored)."""
    r = np.asarray(rois, np.float64).reshape(-1, 4)
    h = r[:, 2:3] / 2
    return np.concatenate([r[:, :2] - h, r[:, :2] + h], axis=1)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, min_score: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the detector's outputs for one image.

    ``TensorsToDetectionsCalculator`` with pose_detection_cpu.pbtxt's options: 12 values per
    anchor (x, y, w, h, then 4 keypoints x, y; ``reverse_output_order``), each offset divided by
    224 and added to the anchor centre (fixed 1x1 anchors), score = sigmoid(clip(logit, +-100)),
    kept where score >= ``min_score``.

    Args:
        raw_boxes: (2254, 12) float32 (``Identity``); raw_scores: (2254,) or (2254, 1).
    Returns:
        scores (M,), boxes (M, 4) xyxy and keypoints (M, 4, 2), normalised to the 224 input.
    """
    logits = np.clip(np.asarray(raw_scores, np.float32).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    # sigmoid(x) >= t  <=>  x >= logit(t): filter before exponentiating.
    t = float(np.clip(min_score, 1e-6, 1 - 1e-6))
    keep = np.nonzero(logits >= np.log(t / (1 - t)))[0]
    if len(keep) == 0:
        return (np.zeros(0, np.float32), np.zeros((0, 4), np.float32),
                np.zeros((0, 4, 2), np.float32))
    anchors = ssd_anchors()[keep]
    r = raw_boxes[keep] / np.float32(DETECTOR_SIZE)
    c = r[:, :2] + anchors
    half = r[:, 2:4] / 2
    boxes = np.concatenate([c - half, c + half], axis=1)
    kps = r[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :]
    return sigmoid(logits[keep]).astype(np.float32), boxes, kps


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted non-maximum suppression (``NonMaxSuppressionCalculator`` ``algorithm:
    WEIGHTED``, ``overlap_type: INTERSECTION_OVER_UNION``).

    Repeatedly take the best remaining detection; every remaining detection whose IoU with it
    exceeds ``iou_threshold`` (itself included) is merged into it, box and keypoints averaged
    with the scores as weights; the merged detection keeps the best score. Output is sorted by
    score, highest first.
    """
    order = np.argsort(-scores, kind="stable")
    out_s, out_b, out_k = [], [], []
    iou_all = box_iou(boxes, boxes)
    while len(order):
        best = order[0]
        sim = iou_all[best, order]
        cand = order[sim > iou_threshold]
        if len(cand) == 0:  # degenerate (zero-area) box: keep it alone
            cand = order[:1]
        w = scores[cand][:, None]
        tot = w.sum()
        out_s.append(scores[best])
        out_b.append((boxes[cand] * w).sum(0) / tot)
        out_k.append((keypoints[cand] * w[:, :, None]).sum(0) / tot)
        order = order[~np.isin(order, cand)]
    if not out_s:
        return scores[:0], boxes[:0], keypoints[:0]
    return (np.asarray(out_s, np.float32), np.asarray(out_b, np.float32),
            np.asarray(out_k, np.float32))


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray,
                        kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """Landmarks refined from the heatmap (``RefineLandmarksFromHeatmapCalculator``).

    For each landmark, the sigmoid of the heatmap in a ``kernel`` x ``kernel`` window around
    the cell ``(int(x * 64), int(y * 64))`` (clipped at the heatmap's border) gives a weighted
    mean cell ``(col, row)``; the landmark becomes ``(col / 64, row / 64)`` when the window's
    maximum confidence is at least ``min_confidence``. Landmarks outside the heatmap are kept
    (refine_landmarks_from_heatmap_calculator.cc, including its lack of a half-cell offset).

    Args:
        xy: (K, 2) landmarks normalised to the 256 input ([0, 1]).
        heatmap: (64, 64, K) float32 logits (``Identity_3`` without its batch axis).
    Returns:
        (K, 2) float64 refined landmarks, normalised.
    """
    hm_h, hm_w, _ = heatmap.shape
    out = np.asarray(xy, np.float64).copy()
    col = np.trunc(out[:, 0] * hm_w).astype(np.int64)
    row = np.trunc(out[:, 1] * hm_h).astype(np.int64)
    ok = (col >= 0) & (col < hm_w) & (row >= 0) & (row < hm_h)
    idx = np.nonzero(ok)[0]
    if len(idx) == 0:
        return out
    off = np.arange(kernel) - (kernel - 1) // 2
    rr = row[idx, None] + off          # (n, kernel)
    cc = col[idx, None] + off
    rv = (rr >= 0) & (rr < hm_h)
    cv = (cc >= 0) & (cc < hm_w)
    win = heatmap[np.clip(rr, 0, hm_h - 1)[:, :, None], np.clip(cc, 0, hm_w - 1)[:, None, :],
                  idx[:, None, None]].astype(np.float64)
    conf = sigmoid(win) * (rv[:, :, None] & cv[:, None, :])
    s = conf.sum(axis=(1, 2))
    mx = conf.max(axis=(1, 2))
    wc = (conf * cc[:, None, :]).sum(axis=(1, 2))
    wr = (conf * rr[:, :, None]).sum(axis=(1, 2))
    upd = (mx >= min_confidence) & (s > 0)
    sel = idx[upd]
    out[sel, 0] = wc[upd] / hm_w / s[upd]
    out[sel, 1] = wr[upd] / hm_h / s[upd]
    return out


def rotate_world(world: np.ndarray, rotation: float) -> np.ndarray:
    """World landmarks (K, 3) metres rotated about z by the ROI's ``rotation``
    (``WorldLandmarkProjectionCalculator``: x' = cos x - sin y, y' = sin x + cos y)."""
    c, s = np.cos(rotation), np.sin(rotation)
    out = np.asarray(world, np.float32).copy()
    out[:, 0] = c * world[:, 0] - s * world[:, 1]
    out[:, 1] = s * world[:, 0] + c * world[:, 1]
    return out
