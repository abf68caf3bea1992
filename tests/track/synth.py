"""Synthetic persons for tracker and smoother tests: a standing figure of given height at given
positions, in COCO_17 or BLAZEPOSE_33 pixels."""

from __future__ import annotations

import numpy as np

from posekit.skeletons import BLAZEPOSE_33, COCO_17, Skeleton
from posekit.types import Poses

# COCO_17 keypoints of a standing person, x and y in units of body height, origin at the hip
# centre, y down (a rough average of pedestrian proportions).
_COCO = {
    "nose": (0.0, -0.44), "left_eye": (0.02, -0.455), "right_eye": (-0.02, -0.455),
    "left_ear": (0.04, -0.45), "right_ear": (-0.04, -0.45),
    "left_shoulder": (0.11, -0.32), "right_shoulder": (-0.11, -0.32),
    "left_elbow": (0.14, -0.16), "right_elbow": (-0.14, -0.16),
    "left_wrist": (0.15, -0.02), "right_wrist": (-0.15, -0.02),
    "left_hip": (0.07, 0.0), "right_hip": (-0.07, 0.0),
    "left_knee": (0.07, 0.24), "right_knee": (-0.07, 0.24),
    "left_ankle": (0.07, 0.46), "right_ankle": (-0.07, 0.46),
}
_EXTRA = {  # BlazePose-only landmarks, from their COCO neighbours
    "left_eye_inner": (0.01, -0.455), "left_eye_outer": (0.03, -0.455),
    "right_eye_inner": (-0.01, -0.455), "right_eye_outer": (-0.03, -0.455),
    "mouth_left": (0.015, -0.42), "mouth_right": (-0.015, -0.42),
    "left_pinky": (0.16, 0.01), "right_pinky": (-0.16, 0.01),
    "left_index": (0.155, 0.02), "right_index": (-0.155, 0.02),
    "left_thumb": (0.14, 0.0), "right_thumb": (-0.14, 0.0),
    "left_heel": (0.065, 0.48), "right_heel": (-0.065, 0.48),
    "left_foot_index": (0.09, 0.49), "right_foot_index": (-0.09, 0.49),
}


def template(skeleton: Skeleton) -> np.ndarray:
    """(K, 2) float64 keypoints in body heights around the hip centre."""
    table = {**_COCO, **_EXTRA}
    return np.array([table[n] for n in skeleton.keypoints], np.float64)


def persons(centres, heights, skeleton: Skeleton = COCO_17, noise_px: float = 0.0,
            rng: np.random.Generator | None = None, score: float = 0.9) -> Poses:
    """Poses of standing persons with hip centres ``centres`` (N, 2) pixels and heights (N,)."""
    centres = np.asarray(centres, np.float64).reshape(-1, 2)
    heights = np.broadcast_to(np.asarray(heights, np.float64), (len(centres),))
    t = template(skeleton)
    kp = centres[:, None, :] + t[None] * heights[:, None, None]
    if noise_px:
        kp = kp + (rng or np.random.default_rng(0)).normal(0, noise_px, kp.shape)
    if len(centres) == 0:
        return Poses.empty(skeleton)
    lo, hi = kp.min(axis=1), kp.max(axis=1)
    return Poses(kp, np.full(kp.shape[:2], score), skeleton,
                 boxes=np.concatenate([lo, hi], axis=1),
                 person_scores=np.full(len(kp), score))


__all__ = ["BLAZEPOSE_33", "COCO_17", "persons", "template"]
