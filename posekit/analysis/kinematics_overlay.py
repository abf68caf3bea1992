"""Clinical joint angles drawn on a frame: a small label at each joint (knee flexion, hip
flexion and abduction, elbow flexion, shoulder elevation) and the trunk lean below the hips,
per person, from the world landmarks of that
frame (:func:`posekit.analysis.kinematics.landmark_angles`; the same definitions as the
angles CSV of :class:`posekit.io.mocap.JointAnglesCsvSink`).

>>> img = draw_clinical_angles(frame.image, poses)                   # doctest: +SKIP

Draw it after :func:`posekit.draw.draw_poses` (it does not draw the skeleton itself).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..skeletons import BLAZEPOSE_33
from ..types import Poses
from .kinematics import landmark_angles

#: label -> (the angle names shown, the landmark(s) the label sits at)
LABELS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    **{f"{s}_{j}": (names, (f"{s}_{j}",)) for s in ("left", "right") for j, names in (
        ("knee", (f"{s}_knee_flexion",)),
        ("hip", (f"{s}_hip_flexion", f"{s}_hip_abduction")),
        ("elbow", (f"{s}_elbow_flexion",)),
        ("shoulder", (f"{s}_shoulder_elevation",)))},
    "trunk": (("trunk_lean",), ("left_hip", "right_hip")),
}
#: how each angle is written (its value follows)
_SHORT = {"knee_flexion": "knee", "hip_flexion": "hip", "hip_abduction": "abd",
          "elbow_flexion": "elbow", "shoulder_elevation": "elev", "trunk_lean": "trunk"}
TEXT = (255, 255, 255)
TEXT_BG = (90, 50, 20)       # BGR dark blue


def _label(values: dict[str, float]) -> str | None:
    parts = [f"{_SHORT[n.split('_', 1)[1] if n.startswith(('left', 'right')) else n]} {v:.0f}"
             for n, v in values.items() if math.isfinite(v)]
    return " ".join(parts) or None


def draw_clinical_angles(image: np.ndarray, poses: Poses, *, min_visibility: float = 0.5,
                         labels: tuple[str, ...] | None = None, copy: bool = True
                         ) -> np.ndarray:
    """Draw each person's clinical angles (degrees) next to the joints.

    Args:
        image: (H, W, 3) uint8 BGR frame the poses' keypoints refer to.
        poses: BlazePose-33 poses with world landmarks; persons without world landmarks
            (or another skeleton) are skipped.
        min_visibility: a label is drawn only where its landmarks are scored at least this.
        labels: a subset of :data:`LABELS` (default all).
        copy: draw on a copy (False draws in place).

    Returns:
        the (H, W, 3) uint8 BGR image with the labels.

    Raises:
        KeyError: an unknown label (the message lists the valid ones).
    """
    out = image.copy() if copy else image
    for n in labels or ():
        if n not in LABELS:
            raise KeyError(f"unknown label {n!r}; expected one of {', '.join(LABELS)}")
    if len(poses) == 0 or poses.world is None or poses.skeleton != BLAZEPOSE_33:
        return out
    ang = landmark_angles(poses.world)
    scale = max(0.35, min(out.shape[:2]) / 1800.0)
    for i in range(len(poses)):
        for name in labels or tuple(LABELS):
            names, anchor = LABELS[name]
            idx = [BLAZEPOSE_33.index(a) for a in anchor]
            if (poses.scores[i, idx] < min_visibility).any():
                continue
            xy = poses.keypoints[i, idx].mean(0)
            if not np.isfinite(xy).all():
                continue
            text = _label({n: float(ang[n][i]) for n in names})
            if text is None:
                continue
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            if name == "trunk":                      # centred below the hip midpoint
                x, y = int(xy[0] - tw / 2 - 3), int(xy[1] + 10)
            else:                                    # the person's left side: image right
                x = int(xy[0] + 8) if name.startswith("left") else int(xy[0] - 8 - tw - 6)
                y = int(xy[1] - th / 2 - 2)
            cv2.rectangle(out, (x, y), (x + tw + 6, y + th + base + 4), TEXT_BG, -1)
            cv2.putText(out, text, (x + 3, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT,
                        1, cv2.LINE_AA)
    return out
