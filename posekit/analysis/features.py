"""Per-frame body features shared by the analyses: angles plus a few distances and ratios.

:func:`frame_features` turns one frame's :class:`~posekit.types.Poses` into one flat dict per
person (degrees for angles, ratios without unit, pixels only where the name says ``_px``), so
the repetition counters, posture monitor, fall detector and gesture detector read the same
numbers. Everything is NaN where the landmarks it needs are not visible enough.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..skeletons import BLAZEPOSE_33
from ..types import Poses
from .angles import DEFAULT_MIN_VISIBILITY, angle_at, compute_angles

_I = BLAZEPOSE_33.index
L_SH, R_SH = _I("left_shoulder"), _I("right_shoulder")
L_EL, R_EL = _I("left_elbow"), _I("right_elbow")
L_WR, R_WR = _I("left_wrist"), _I("right_wrist")
L_HIP, R_HIP = _I("left_hip"), _I("right_hip")
L_KN, R_KN = _I("left_knee"), _I("right_knee")
L_AN, R_AN = _I("left_ankle"), _I("right_ankle")
L_HEEL, R_HEEL = _I("left_heel"), _I("right_heel")
L_TOE, R_TOE = _I("left_foot_index"), _I("right_foot_index")
L_EAR, R_EAR = _I("left_ear"), _I("right_ear")
L_IDX, R_IDX = _I("left_index"), _I("right_index")
NOSE = _I("nose")

#: Shoulder width / torso length below which a person is seen from the side (measured on the
#: analytics clips: side views 0.05-0.22, frontal and oblique views 0.5 and more).
SIDE_VIEW_RATIO = 0.4


def nanmean2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise mean of the finite values of ``a`` and ``b`` (NaN where both are NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack([a, b]), axis=0)


def nanmin2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(np.stack([a, b]), axis=0)


def nanmax2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(np.stack([a, b]), axis=0)


def visible_points(poses: Poses, min_visibility: float) -> np.ndarray:
    """(N, K, 2) float64 pixels with landmarks below ``min_visibility`` set to NaN."""
    p = poses.keypoints.astype(np.float64).copy()
    p[poses.scores < min_visibility] = np.nan
    return p


def frame_features(poses: Poses, *, min_visibility: float = DEFAULT_MIN_VISIBILITY
                   ) -> list[dict[str, float]]:
    """Features of every person in one frame (BlazePose-33 poses).

    Keys (degrees unless stated):
        every name of :data:`posekit.analysis.angles.ANGLE_NAMES` (image plane);
        ``knee_mean``/``knee_min``, ``elbow_mean``, ``hip_mean``, ``shoulder_mean``: the mean
        (or min) of the visible sides;
        ``body_line``: shoulder-hip-ankle angle, mean of visible sides (180 = straight plank);
        ``knee_over_toe``: how far the knee is ahead of the toes along the foot's direction, in
        shin lengths (max of visible sides; > 0 means past the toes);
        ``ankle_spread``: ankle distance / shoulder width (ratio);
        ``hip_x_px``, ``hip_y_px``: hip centre in pixels; ``torso_px``: mid-shoulder to mid-hip
        length in pixels; ``ankle_y_px``: mean ankle height in pixels;
        ``shoulder_width_px``; ``side_view``: 1.0 where the shoulders overlap (shoulder width
        below ``0.4`` torso lengths: a side view), 0.0 otherwise, NaN unknown;
        ``world_hip_height_m``: height of the hip centre above the ankles from world landmarks
        (metres, along the camera's down axis; NaN without world landmarks);
        ``world_trunk_lean``: trunk lean from world landmarks (3D).

    Hip, shoulder and ankle centres are the mean of both sides wherever at least one side is
    visible (BlazePose places the hidden side plausibly); limb angles need all three landmarks
    visible.
    """
    n = len(poses)
    if n == 0:
        return []
    ang = compute_angles(poses, min_visibility=min_visibility)
    sc = poses.scores
    kp = poses.keypoints.astype(np.float64)
    p = visible_points(poses, min_visibility)

    def centre(i, j):
        m = 0.5 * (kp[:, i] + kp[:, j])
        m[np.maximum(sc[:, i], sc[:, j]) < min_visibility] = np.nan
        return m

    hip, sho = centre(L_HIP, R_HIP), centre(L_SH, R_SH)
    ank = centre(L_AN, R_AN)
    torso = np.linalg.norm(sho - hip, axis=1)
    f: dict[str, np.ndarray] = dict(ang)
    f["knee_mean"] = nanmean2(ang["left_knee"], ang["right_knee"])
    f["knee_min"] = nanmin2(ang["left_knee"], ang["right_knee"])
    f["elbow_mean"] = nanmean2(ang["left_elbow"], ang["right_elbow"])
    f["hip_mean"] = nanmean2(ang["left_hip"], ang["right_hip"])
    f["shoulder_mean"] = nanmean2(ang["left_shoulder"], ang["right_shoulder"])
    sw = np.linalg.norm(p[:, L_SH] - p[:, R_SH], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = sw / torso
    side = np.where(np.isfinite(ratio), (ratio < SIDE_VIEW_RATIO).astype(float), np.nan)
    f["side_view"] = side
    f["body_line"] = nanmean2(angle_at(p[:, L_SH], p[:, L_HIP], p[:, L_AN]),
                              angle_at(p[:, R_SH], p[:, R_HIP], p[:, R_AN]))

    def over_toe(knee, ankle, heel, toe):
        foot = p[:, toe] - p[:, heel]
        fl = np.linalg.norm(foot, axis=1)
        shin = np.linalg.norm(p[:, knee] - p[:, ankle], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((p[:, knee] - p[:, toe]) * foot).sum(axis=1) / fl
            return np.where((fl > 0) & (shin > 0), d / shin, np.nan)

    f["knee_over_toe"] = nanmax2(over_toe(L_KN, L_AN, L_HEEL, L_TOE),
                                 over_toe(R_KN, R_AN, R_HEEL, R_TOE))
    # body line and knee-over-toe are sagittal measures: meaningless in a frontal view
    f["body_line"] = np.where(side == 1.0, f["body_line"], np.nan)
    f["knee_over_toe"] = np.where(side == 1.0, f["knee_over_toe"], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        f["ankle_spread"] = np.linalg.norm(p[:, L_AN] - p[:, R_AN], axis=1) / sw
    f["shoulder_width_px"] = sw
    f["hip_x_px"], f["hip_y_px"] = hip[:, 0], hip[:, 1]
    f["torso_px"] = torso
    f["ankle_y_px"] = ank[:, 1]
    if poses.world is not None:
        w = poses.world.astype(np.float64)
        wh = 0.5 * (w[:, L_HIP] + w[:, R_HIP])
        ws = 0.5 * (w[:, L_SH] + w[:, R_SH])
        wa = 0.5 * (w[:, L_AN] + w[:, R_AN])
        f["world_hip_height_m"] = np.where(np.isfinite(ank[:, 1]), wa[:, 1] - wh[:, 1], np.nan)
        d = ws - wh
        with np.errstate(invalid="ignore"):
            f["world_trunk_lean"] = np.degrees(np.arctan2(np.hypot(d[:, 0], d[:, 2]), -d[:, 1]))
    else:
        f["world_hip_height_m"] = np.full(n, np.nan)
        f["world_trunk_lean"] = np.full(n, np.nan)
    return [{k: float(v[i]) for k, v in f.items()} for i in range(n)]
