"""Per-frame body features shared by the analyses: angles plus a few distances and ratios.

:func:`frame_features` turns one frame's :class:`~posekit.types.Poses` into one flat dict per
person (degrees for angles, ratios without unit, pixels only where the name says ``_px``), so
the repetition counters, posture monitor, fall detector and gesture detector read the same
numbers. Everything is NaN where the landmarks it needs are not visible enough.
"""

from __future__ import annotations

import math

from ..skeletons import BLAZEPOSE_33
from ..types import Poses
from .angles import DEFAULT_MIN_VISIBILITY, JOINTS, gated_points

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
_JOINT_IDX = tuple((name, tuple(_I(n) for n in abc)) for name, abc in JOINTS.items())

#: Shoulder width / torso length below which a person is seen from the side (measured on the
#: analytics clips: side views 0.05-0.22, frontal and oblique views 0.5 and more).
SIDE_VIEW_RATIO = 0.4


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
        ``world_trunk_lean``: trunk lean from world landmarks (3D);
        ``body_lean``: ``world_trunk_lean`` where available, else ``trunk_lean`` (whether the
        body is upright, reclined or horizontal, independent of the view where possible).

    Hip, shoulder and ankle centres are the mean of both sides wherever at least one side is
    visible (BlazePose places the hidden side plausibly); limb angles need all three landmarks
    visible.
    """
    n = len(poses)
    if n == 0:
        return []
    mv = min_visibility
    sc = poses.scores
    p = gated_points(poses.keypoints, sc, mv).tolist()             # (N, K, 2) NaN-gated
    kp = poses.keypoints.tolist()
    vis = (sc >= mv).tolist()
    world = poses.world.tolist() if poses.world is not None else None
    out = []
    for i in range(n):
        # plain-float maths: for a few persons it is ~10x faster than numpy on tiny arrays;
        # the same definitions as posekit.analysis.angles.compute_angles (tested equal)
        q = p[i]
        f = {name: _angle3(q[a], q[b], q[c]) for name, (a, b, c) in _JOINT_IDX}
        hip_c = _centre2(kp[i], vis[i], L_HIP, R_HIP)
        sho_c = _centre2(kp[i], vis[i], L_SH, R_SH)
        ear_c = _centre2(kp[i], vis[i], L_EAR, R_EAR)
        tx, ty = sho_c[0] - hip_c[0], sho_c[1] - hip_c[1]
        f["trunk_lean"] = _vec_angle(tx, ty, 0.0, -1.0)
        f["neck_flexion"] = _vec_angle(tx, ty, ear_c[0] - sho_c[0], ear_c[1] - sho_c[1])
        f["knee_mean"] = _mean2(f["left_knee"], f["right_knee"])
        f["knee_min"] = _min2(f["left_knee"], f["right_knee"])
        f["elbow_mean"] = _mean2(f["left_elbow"], f["right_elbow"])
        f["hip_mean"] = _mean2(f["left_hip"], f["right_hip"])
        f["shoulder_mean"] = _mean2(f["left_shoulder"], f["right_shoulder"])
        k, q, v = kp[i], p[i], vis[i]
        hip, sho = hip_c, sho_c
        ank = _centre2(k, v, L_AN, R_AN)
        torso = math.hypot(sho[0] - hip[0], sho[1] - hip[1])
        sw = math.hypot(q[L_SH][0] - q[R_SH][0], q[L_SH][1] - q[R_SH][1])
        ratio = sw / torso if torso > 0 else math.nan
        side = math.nan if math.isnan(ratio) else float(ratio < SIDE_VIEW_RATIO)
        f["side_view"] = side
        if side == 1.0:
            f["body_line"] = _mean2(_angle3(q[L_SH], q[L_HIP], q[L_AN]),
                                    _angle3(q[R_SH], q[R_HIP], q[R_AN]))
            f["knee_over_toe"] = _max2(_over_toe(q, L_KN, L_AN, L_HEEL, L_TOE),
                                       _over_toe(q, R_KN, R_AN, R_HEEL, R_TOE))
        else:
            f["body_line"] = f["knee_over_toe"] = math.nan
        f["ankle_spread"] = (math.hypot(q[L_AN][0] - q[R_AN][0], q[L_AN][1] - q[R_AN][1]) / sw
                             if sw > 0 else math.nan)
        f["shoulder_width_px"] = sw
        f["hip_x_px"], f["hip_y_px"] = hip
        f["torso_px"] = torso
        f["ankle_y_px"] = ank[1]
        if world is not None:
            w = world[i]
            wh = [0.5 * (a + b) for a, b in zip(w[L_HIP], w[R_HIP])]
            ws = [0.5 * (a + b) for a, b in zip(w[L_SH], w[R_SH])]
            wa_y = 0.5 * (w[L_AN][1] + w[R_AN][1])
            f["world_hip_height_m"] = wa_y - wh[1] if not math.isnan(ank[1]) else math.nan
            dx, dy, dz = ws[0] - wh[0], ws[1] - wh[1], ws[2] - wh[2]
            f["world_trunk_lean"] = math.degrees(math.atan2(math.hypot(dx, dz), -dy))
        else:
            f["world_hip_height_m"] = f["world_trunk_lean"] = math.nan
        f["body_lean"] = (f["world_trunk_lean"] if math.isfinite(f["world_trunk_lean"])
                          else f["trunk_lean"])
        out.append(f)
    return out


def _mean2(a: float, b: float) -> float:
    if math.isnan(a):
        return b
    return a if math.isnan(b) else 0.5 * (a + b)


def _min2(a: float, b: float) -> float:
    if math.isnan(a):
        return b
    return a if math.isnan(b) else min(a, b)


def _max2(a: float, b: float) -> float:
    if math.isnan(a):
        return b
    return a if math.isnan(b) else max(a, b)


def _centre2(k: list, v: list, i: int, j: int) -> tuple[float, float]:
    """Mid-point of landmarks i and j (pixels), NaN where neither side is visible."""
    if not (v[i] or v[j]):
        return math.nan, math.nan
    return 0.5 * (k[i][0] + k[j][0]), 0.5 * (k[i][1] + k[j][1])


def _angle3(a: list, b: list, c: list) -> float:
    """Angle at b (degrees) from 2D points as lists; NaN if any is NaN or degenerate."""
    return _vec_angle(a[0] - b[0], a[1] - b[1], c[0] - b[0], c[1] - b[1])


def _vec_angle(ux: float, uy: float, vx: float, vy: float) -> float:
    """Unsigned angle between 2D vectors (degrees); NaN if one is NaN or zero."""
    if (ux == 0 and uy == 0) or (vx == 0 and vy == 0):
        return math.nan
    return math.degrees(math.atan2(abs(ux * vy - uy * vx), ux * vx + uy * vy))


def _over_toe(q: list, knee: int, ankle: int, heel: int, toe: int) -> float:
    """Knee ahead of the toes along the foot direction, in shin lengths (NaN-propagating)."""
    fx, fy = q[toe][0] - q[heel][0], q[toe][1] - q[heel][1]
    fl = math.hypot(fx, fy)
    shin = math.hypot(q[knee][0] - q[ankle][0], q[knee][1] - q[ankle][1])
    if not (fl > 0 and shin > 0):
        return math.nan
    return ((q[knee][0] - q[toe][0]) * fx + (q[knee][1] - q[toe][1]) * fy) / fl / shin
