"""Joint angles in degrees from landmarks: in the image plane and in 3D from world landmarks.

Conventions:
- An angle "at b" from three points ``a, b, c`` is the unsigned angle between ``a - b`` and
  ``c - b`` in [0, 180] degrees: 180 for a straight limb, 90 for a right angle.
- Image plane: pixels, x right, y down, so "up" is (0, -1). World (BlazePose world landmarks):
  metres, hip-centred, camera-aligned axes with y down, so "up" is (0, -1, 0) for a level camera.
- A value is NaN where one of its landmarks has a score (visibility) below ``min_visibility`` or
  non-finite coordinates; a centre point (mid-shoulder, mid-hip, mid-ear) takes the mean of both
  sides and counts as visible where at least one side is (BlazePose estimates the hidden side of a
  side view well enough for a midpoint).

The named set (:data:`JOINTS` and the derived angles of :func:`compute_angles`), with the
value of a straight, upright body:

- ``left/right_elbow``: shoulder-elbow-wrist (180 straight arm);
- ``left/right_shoulder``: hip-shoulder-elbow, the upper arm against the trunk (0 arm down,
  90 arm out sideways or forward, 180 overhead);
- ``left/right_hip``: shoulder-hip-knee (180 standing);
- ``left/right_knee``: hip-knee-ankle (180 straight leg);
- ``left/right_ankle``: knee-ankle-foot_index (about 90 standing);
- ``trunk_lean``: mid-hip to mid-shoulder against vertical (0 upright, 90 horizontal);
- ``neck_flexion``: mid-shoulder to mid-ear against the trunk's direction (0 aligned).

Sources: three-point joint angles as in the MediaPipe pose-classification and rep-counter
examples (angle between the two limb vectors); trunk lean and neck flexion follow the usual
clinical definitions (segment angle to vertical; head-neck line against the trunk line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..skeletons import BLAZEPOSE_33, Skeleton
from ..types import Poses

#: Three-landmark joint angles: name -> (a, b, c), the angle is at ``b``.
JOINTS: dict[str, tuple[str, str, str]] = {}
for _s in ("left", "right"):
    JOINTS[f"{_s}_elbow"] = (f"{_s}_shoulder", f"{_s}_elbow", f"{_s}_wrist")
    JOINTS[f"{_s}_shoulder"] = (f"{_s}_hip", f"{_s}_shoulder", f"{_s}_elbow")
    JOINTS[f"{_s}_hip"] = (f"{_s}_shoulder", f"{_s}_hip", f"{_s}_knee")
    JOINTS[f"{_s}_knee"] = (f"{_s}_hip", f"{_s}_knee", f"{_s}_ankle")
    JOINTS[f"{_s}_ankle"] = (f"{_s}_knee", f"{_s}_ankle", f"{_s}_foot_index")

#: Every name :func:`compute_angles` returns, in order.
ANGLE_NAMES: tuple[str, ...] = tuple(JOINTS) + ("trunk_lean", "neck_flexion")

DEFAULT_MIN_VISIBILITY = 0.5


def angle_at(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Unsigned angle at ``b`` between ``a - b`` and ``c - b``, in degrees [0, 180].

    Args:
        a, b, c: points (..., D) with D = 2 (pixels) or 3 (metres); broadcastable.

    Returns:
        (...) float64 degrees; NaN where a point is non-finite or a limb has zero length.
    """
    u = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    v = np.asarray(c, np.float64) - np.asarray(b, np.float64)
    return angle_between(u, v)


def angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unsigned angle between vectors ``u`` and ``v`` (..., D), degrees [0, 180], NaN if degenerate.

    Uses ``atan2(|u x v|, u . v)``, which stays accurate near 0 and 180 degrees (unlike acos).
    """
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    dot = (u * v).sum(axis=-1)
    if u.shape[-1] == 2:
        cross = np.abs(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])
    else:
        cross = np.sqrt((np.cross(u, v) ** 2).sum(axis=-1))
    out = np.degrees(np.arctan2(cross, dot))
    bad = ((u * u).sum(axis=-1) == 0) | ((v * v).sum(axis=-1) == 0)
    return np.where(bad, np.nan, out)


def angle_to_vertical(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Angle of the segment ``lower -> upper`` against straight up, in degrees [0, 180].

    Points (..., 2) in pixels (y down, up = (0, -1)) or (..., 3) world metres (y down, up =
    (0, -1, 0)). 0 = upright, 90 = horizontal, 180 = upside down.
    """
    d = np.asarray(upper, np.float64) - np.asarray(lower, np.float64)
    up = np.zeros(d.shape[-1])
    up[1] = -1.0
    return angle_between(d, np.broadcast_to(up, d.shape))


def _check_skeleton(skeleton: Skeleton) -> None:
    if skeleton != BLAZEPOSE_33:
        raise ValueError(f"analysis needs {BLAZEPOSE_33.name} landmarks, got {skeleton.name} "
                         "(convert with poses.to(BLAZEPOSE_33))")


_I = BLAZEPOSE_33.index
#: index arrays of the three-landmark joints, in :data:`JOINTS` order
_JA = np.array([_I(a) for a, _, _ in JOINTS.values()])
_JB = np.array([_I(b) for _, b, _ in JOINTS.values()])
_JC = np.array([_I(c) for _, _, c in JOINTS.values()])
_PAIRS = np.array([[_I("left_hip"), _I("right_hip")], [_I("left_shoulder"), _I("right_shoulder")],
                   [_I("left_ear"), _I("right_ear")]])


def gated_points(points: np.ndarray, scores: np.ndarray, min_visibility: float) -> np.ndarray:
    """(N, K, D) float64 copy of ``points`` with landmarks scored below ``min_visibility`` NaN."""
    p = points.astype(np.float64)
    p[scores < min_visibility] = np.nan
    return p


def centres(points: np.ndarray, scores: np.ndarray, min_visibility: float) -> np.ndarray:
    """(N, 3, D) mid-hip, mid-shoulder and mid-ear: the mean of both sides, NaN where neither
    side is visible enough (see the module doc)."""
    m = 0.5 * (points[:, _PAIRS[:, 0]].astype(np.float64) + points[:, _PAIRS[:, 1]])
    vis = np.maximum(scores[:, _PAIRS[:, 0]], scores[:, _PAIRS[:, 1]]) >= min_visibility
    m[~vis] = np.nan
    return m


def _all_angles(points: np.ndarray, scores: np.ndarray, min_visibility: float) -> np.ndarray:
    """(N, len(ANGLE_NAMES)) degrees, in :data:`ANGLE_NAMES` order, in one batch."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = gated_points(points, scores, min_visibility)
        joints = angle_between(p[:, _JA] - p[:, _JB], p[:, _JC] - p[:, _JB])      # (N, J)
        c = centres(points, scores, min_visibility)
        trunk = c[:, 1] - c[:, 0]
        up = np.zeros(points.shape[-1])
        up[1] = -1.0
        lean = angle_between(trunk, np.broadcast_to(up, trunk.shape))
        neck = angle_between(trunk, c[:, 2] - c[:, 1])
    return np.concatenate([joints, lean[:, None], neck[:, None]], axis=1)


def joint_angle(poses: Poses, name: str, *, world: bool = False,
                min_visibility: float = DEFAULT_MIN_VISIBILITY) -> np.ndarray:
    """One named angle (see :data:`ANGLE_NAMES`) for every person: (N,) float64 degrees.

    Args:
        poses: BlazePose-33 poses.
        name: a key of :data:`JOINTS`, ``"trunk_lean"`` or ``"neck_flexion"``.
        world: use ``poses.world`` (3D metres) instead of the image-plane keypoints.
        min_visibility: landmarks with a lower score make the angle NaN.

    Raises:
        KeyError: unknown name (the message lists the valid ones).
        ValueError: the poses are not BlazePose-33, or ``world`` is asked without world data.
    """
    if name not in ANGLE_NAMES:
        raise KeyError(f"unknown angle {name!r}; expected one of {', '.join(ANGLE_NAMES)}")
    return compute_angles(poses, world=world, min_visibility=min_visibility, names=(name,))[name]


def compute_angles(poses: Poses, *, world: bool = False,
                   min_visibility: float = DEFAULT_MIN_VISIBILITY,
                   names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The named angle set for every person in ``poses``.

    Args:
        poses: BlazePose-33 poses (N persons).
        world: 3D angles from ``poses.world`` (metres) instead of image-plane pixels.
        min_visibility: minimum landmark score in [0, 1]; below it the angle is NaN.
        names: a subset of :data:`ANGLE_NAMES` (default all).

    Returns:
        ``{name: (N,) float64 degrees}``.

    Raises:
        ValueError: not BlazePose-33, or ``world=True`` on poses without world landmarks.
    """
    _check_skeleton(poses.skeleton)
    if world and poses.world is None:
        raise ValueError("world angles need poses.world (3D landmarks); this model gives none")
    for name in names or ():
        if name not in ANGLE_NAMES:
            raise KeyError(f"unknown angle {name!r}; expected one of {', '.join(ANGLE_NAMES)}")
    pts = poses.world if world else poses.keypoints
    allv = _all_angles(pts, poses.scores, min_visibility)
    return {n: allv[:, ANGLE_NAMES.index(n)] for n in (names or ANGLE_NAMES)}


def track_ids_of(poses: Poses) -> np.ndarray:
    """Track IDs (N,) int64: ``poses.track_ids``, or 0..N-1 where the poses are untracked."""
    if poses.track_ids is not None:
        return np.asarray(poses.track_ids, np.int64)
    return np.arange(len(poses), dtype=np.int64)


@dataclass
class AngleSeries:
    """Angles of one track over time.

    Attributes:
        times: list of seconds, one per :meth:`append`.
        values: ``{name: list of degrees}`` aligned with ``times`` (NaN where not visible).
    """

    names: tuple[str, ...] = ANGLE_NAMES
    times: list = field(default_factory=list)
    values: dict = field(default_factory=dict)

    def append(self, time_s: float, angles: dict[str, float]) -> None:
        self.times.append(float(time_s))
        for n in self.names:
            self.values.setdefault(n, []).append(float(angles.get(n, np.nan)))

    def arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(times (T,), {name: (T,) degrees})`` as float64 arrays."""
        return (np.asarray(self.times, np.float64),
                {n: np.asarray(self.values.get(n, []), np.float64) for n in self.names})

    def to_dict(self, decimals: int = 2) -> dict:
        """JSON-ready: ``{"time_s": [...], "<angle>": [... or None]}`` (None for NaN)."""
        def r(v):
            return None if not np.isfinite(v) else round(float(v), decimals)
        d = {"time_s": [round(t, 4) for t in self.times]}
        for n in self.names:
            d[n] = [r(v) for v in self.values.get(n, [])]
        return d


class AngleTracker:
    """Per-track angle time series: a stage fed every frame.

    ``update(poses, time_s)`` computes :func:`compute_angles` and appends one sample per track;
    ``series[track_id]`` is the track's :class:`AngleSeries`; ``latest[track_id]`` its last
    angles. Tracks come from ``poses.track_ids`` (index order where None).
    """

    def __init__(self, *, world: bool = False, min_visibility: float = DEFAULT_MIN_VISIBILITY,
                 names: tuple[str, ...] = ANGLE_NAMES, keep_series: bool = True):
        self.world = world
        self.min_visibility = min_visibility
        self.names = tuple(names)
        self.keep_series = keep_series
        self.series: dict[int, AngleSeries] = {}
        self.latest: dict[int, dict[str, float]] = {}

    def update(self, poses: Poses, time_s: float) -> dict[int, dict[str, float]]:
        """Angles of this frame: ``{track_id: {name: degrees}}``."""
        if len(poses) == 0:
            return {}
        world = self.world and poses.world is not None
        ang = compute_angles(poses, world=world, min_visibility=self.min_visibility,
                             names=self.names)
        out = {}
        for i, tid in enumerate(track_ids_of(poses)):
            a = {n: float(ang[n][i]) for n in self.names}
            out[int(tid)] = a
            self.latest[int(tid)] = a
            if self.keep_series:
                self.series.setdefault(int(tid), AngleSeries(self.names)).append(time_s, a)
        return out
