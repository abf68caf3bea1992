"""Kinematics of tracked 3D world landmarks: a skeleton with constant bones, joint rotations,
rotation smoothing, the person's path from the image, and clinical joint angles.

Coordinate frames:

- *Camera frame* (``Poses.world``, BlazePose world landmarks): metres, origin at the midpoint of
  the hips, x right in the image, y down, z away from the camera.
- *Body frame* (everything this module returns, and the BVH/TRC/C3D files): the camera frame
  turned 180 degrees about x, i.e. ``(x, -y, -z)``: X right in the image, **Y up**, Z towards
  the camera. A person facing the camera faces +Z with their left side towards +X: the usual
  BVH rest orientation (a character faces +Z, Y up). "Up" is the camera's up: a tilted camera
  tilts the vertical.

The skeleton (:data:`JOINTS`, BVH names): ``Hips`` at the midpoint of the hips; ``Spine`` a
point fixed in the pelvis, :attr:`FitConfig.spine_fraction` of the hip-to-shoulder distance
above ``Hips``; ``Neck`` and ``LeftShoulder``/``RightShoulder`` (the clavicles) at the midpoint
of the shoulders; ``Head`` at the midpoint of the ears (end site: the nose); ``LeftArm`` at the
shoulder, ``LeftForeArm`` at the elbow, ``LeftHand`` at the wrist (end site: midpoint of the
index and pinky landmarks); ``LeftUpLeg`` at the hip, ``LeftLeg`` at the knee, ``LeftFoot`` at
the ankle (end site: ``foot_index``); the same on the right. A bone's head is the joint of the
same name. The rest pose is a T-pose: legs straight down, arms straight out sideways, palms
down, feet and face forward (+Z).

Method (:func:`fit_skeleton`):

1. **Bone lengths** per track: the median over the clip of each bone's measured length,
   counting only frames where both of its landmarks have a visibility of at least
   :attr:`FitConfig.min_visibility` (all frames where fewer than :attr:`FitConfig.min_frames`
   qualify); with :attr:`FitConfig.symmetric` the left and right bones share the median of
   both sides' samples. The median ignores outlier frames and hidden limbs.
2. **Segment orientations**: per frame, each joint's global rotation from the rest pose is found
   with the TRIAD method (Black, "A passive system for determining the attitude of a
   satellite", AIAA J. 2(7), 1964; also Shuster & Oh, J. Guidance Control 4(1), 1981): a
   primary vector (the bone towards the joint's child, reproduced exactly) and a secondary
   vector (fixing the twist about the bone; e.g. the forearm for the upper arm, so the elbow
   flexes about the upper arm's own axis) are matched to their rest directions. This is the
   construction of ISB segment coordinate systems from landmarks (Wu et al., J. Biomech.
   35:543, 2002, and 38:981, 2005): one axis along a segment, one from a plane, the third
   their cross product. Where a secondary vector is parallel to its bone the previous frame's
   twist is kept (the smallest rotation carrying the bone onto its new direction).
3. **Joint positions** by forward kinematics: each joint is its parent plus the constant bone
   length along the measured bone direction, so every bone direction of the landmarks is
   reproduced with constant lengths, and positions differ from the landmarks only by the
   per-frame variation of the measured lengths.
4. **Smoothing** (optional, :attr:`FitConfig.smooth_s`): a Gaussian (sigma in seconds) over each
   joint's quaternions, sign-aligned to the previous frame and renormalised: the normalised
   weighted mean, which approximates the optimal rotation average for nearby rotations
   (Markley et al., "Averaging quaternions", J. Guidance Control Dyn. 30(4), 2007). Positions
   follow from the smoothed rotations, so bone lengths stay constant.

Gaps (frames of the span where a track was not seen) are filled by spherical linear
interpolation of each joint's rotation (scipy ``Slerp``) and linear interpolation of the root.

Clinical angles (:func:`clinical_angles`, :data:`ANGLE_NAMES`), degrees, from the fitted
segment orientations with ISB axes (X anterior, Y superior along the segment, Z to the right):

- ``*_hip_flexion``, ``*_hip_abduction``: femur relative to pelvis, Cardan sequence Z-X-Y
  (Wu et al. 2002, hip JCS; flexion positive, abduction positive away from the midline).
  BlazePose gives no anterior superior iliac spines, so the pelvis frame is built from the
  hip line and the trunk (hip midpoint to shoulder midpoint): trunk flexion therefore moves
  the pelvis too.
- ``*_knee_flexion``: shank relative to femur, Z-X-Y (Grood & Suntay, J. Biomech. Eng.
  105:136, 1983; flexion positive, 0 for a straight knee).
- ``*_elbow_flexion``: forearm relative to humerus, Z-X-Y (Wu et al. 2005; 0 straight).
- ``*_shoulder_elevation``: humerus relative to thorax, the elevation (second) angle of the
  Y-X-Y sequence of Wu et al. 2005, i.e. the angle between the humerus long axis and the thorax
  long axis (0 arm hanging, 90 horizontal, 180 overhead; reported unsigned).
- ``trunk_lean``: thorax long axis (``Spine`` to shoulder midpoint) against vertical (0
  upright), as :func:`posekit.analysis.angles.angle_to_vertical`; ``trunk_flexion`` (positive
  forward) and ``trunk_lateral_flexion`` (positive towards the person's right): its components
  in the vertical planes along and across the pelvis heading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation, Slerp

from ..skeletons import BLAZEPOSE_33

#: camera frame -> body frame (a rotation: 180 degrees about x)
CAMERA_TO_BODY = np.diag([1.0, -1.0, -1.0])

_I = BLAZEPOSE_33.index


@dataclass(frozen=True)
class Joint:
    """One joint of the skeleton: its BVH ``name``, ``parent`` name (None for the root) and the
    ``point`` (see :func:`body_points`) where its head lies."""

    name: str
    parent: str | None
    point: str


def _side_joints(s: str) -> list[Joint]:
    S = s.capitalize()
    return [Joint(f"{S}UpLeg", "Hips", f"{s}_hip"), Joint(f"{S}Leg", f"{S}UpLeg", f"{s}_knee"),
            Joint(f"{S}Foot", f"{S}Leg", f"{s}_ankle")]


def _arm_joints(s: str) -> list[Joint]:
    S = s.capitalize()
    return [Joint(f"{S}Shoulder", "Spine", "mid_shoulder"),
            Joint(f"{S}Arm", f"{S}Shoulder", f"{s}_shoulder"),
            Joint(f"{S}ForeArm", f"{S}Arm", f"{s}_elbow"),
            Joint(f"{S}Hand", f"{S}ForeArm", f"{s}_wrist")]


#: The hierarchy in depth-first order (parents before children).
JOINTS: tuple[Joint, ...] = (
    Joint("Hips", None, "mid_hip"),
    *_side_joints("left"), *_side_joints("right"),
    Joint("Spine", "Hips", "spine"),
    Joint("Neck", "Spine", "mid_shoulder"), Joint("Head", "Neck", "mid_ear"),
    *_arm_joints("left"), *_arm_joints("right"),
)
JOINT_NAMES: tuple[str, ...] = tuple(j.name for j in JOINTS)
#: End sites: joint name -> the point the end of its bone lies at.
END_SITES: dict[str, str] = {"Head": "nose", "LeftHand": "left_hand", "RightHand": "right_hand",
                             "LeftFoot": "left_foot_index", "RightFoot": "right_foot_index"}
_J = {n: i for i, n in enumerate(JOINT_NAMES)}
PARENTS: tuple[int, ...] = tuple(-1 if j.parent is None else _J[j.parent] for j in JOINTS)

#: Joints whose head is a BlazePose landmark or the midpoint of a landmark pair, with it.
JOINT_LANDMARKS: dict[str, tuple[str, ...]] = {
    "Hips": ("left_hip", "right_hip"), "Neck": ("left_shoulder", "right_shoulder"),
    "Head": ("left_ear", "right_ear"),
    **{f"{S}{b}": (f"{s}_{lm}",) for s, S in (("left", "Left"), ("right", "Right"))
       for b, lm in (("UpLeg", "hip"), ("Leg", "knee"), ("Foot", "ankle"), ("Arm", "shoulder"),
                     ("ForeArm", "elbow"), ("Hand", "wrist"))},
}

X, Y, Z = np.eye(3)


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    """Settings of :func:`fit_skeleton`.

    Attributes:
        min_visibility: landmarks scored below this (in [0, 1]) do not count for bone lengths.
        min_frames: fewer qualifying frames than this and a bone's length uses every frame.
        symmetric: left and right bones share one length (the median of both sides).
        spine_fraction: height of the ``Spine`` joint above ``Hips``, as a fraction of the
            hip-to-shoulder length, in (0, 0.9].
        smooth_s: Gaussian sigma in seconds of the rotation smoothing; 0 turns it off.

    Raises:
        ValueError: a value is out of range.
    """

    min_visibility: float = 0.5
    min_frames: int = 5
    symmetric: bool = True
    spine_fraction: float = 0.1
    smooth_s: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.min_visibility <= 1.0:
            raise ValueError(f"FitConfig.min_visibility must be in [0, 1], got "
                             f"{self.min_visibility}")
        if self.min_frames < 1:
            raise ValueError(f"FitConfig.min_frames must be >= 1, got {self.min_frames}")
        if not 0.0 < self.spine_fraction <= 0.9:
            raise ValueError(f"FitConfig.spine_fraction must be in (0, 0.9], got "
                             f"{self.spine_fraction}")
        if not (self.smooth_s >= 0.0 and np.isfinite(self.smooth_s)):
            raise ValueError(f"FitConfig.smooth_s must be >= 0 seconds, got {self.smooth_s}")


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1e-12, v / n, np.nan)


def _perp(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Component of the unit of ``v`` perpendicular to the unit vector ``axis`` (..., 3)."""
    u = _unit(v)
    return u - (u * axis).sum(-1, keepdims=True) * axis


def to_body(world: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) -> body frame (x, -y, -z), float64."""
    return np.asarray(world, np.float64) @ CAMERA_TO_BODY


def _landmark_points(world_body: np.ndarray) -> dict[str, np.ndarray]:
    w = world_body
    p = {n: w[..., _I(n), :] for n in BLAZEPOSE_33.keypoints}
    mid = lambda a, b: 0.5 * (p[a] + p[b])  # noqa: E731
    p["mid_hip"] = mid("left_hip", "right_hip")
    p["mid_shoulder"] = mid("left_shoulder", "right_shoulder")
    p["mid_ear"] = mid("left_ear", "right_ear")
    for s in ("left", "right"):
        p[f"{s}_hand"] = mid(f"{s}_index", f"{s}_pinky")
    return p


def _triad(primary: np.ndarray, secondary: np.ndarray, p_rest: np.ndarray,
           s_rest: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    """Rotations (T, 3, 3) taking ``p_rest`` onto ``primary`` exactly and ``s_rest`` as close
    as possible to ``secondary`` (TRIAD). ``fallback`` (same rest direction as the secondary)
    is added with weight 0.1 after both are made perpendicular to the primary, so it decides
    the twist only where the secondary is nearly parallel to the bone. Frames where both are
    parallel get the previous frame's twist (see the module doc); NaN where ``primary`` is."""
    e1 = _unit(primary)
    s = _perp(secondary, e1)
    if fallback is not None:
        s = s + 0.1 * np.nan_to_num(_perp(fallback, e1))
    e2 = np.cross(e1, s)
    n2 = np.linalg.norm(e2, axis=-1)
    e2 = _unit(e2)
    e3 = np.cross(e2, e1)
    F = np.stack([e1, e2, e3], axis=-1)                        # (T, 3, 3), columns
    r1 = p_rest / np.linalg.norm(p_rest)
    r2 = _unit(np.cross(r1, s_rest))
    r3 = np.cross(r2, r1)
    F0 = np.stack([r1, r2, r3], axis=-1)
    R = F @ F0.T
    bad = ~(n2 > 1e-3) & np.isfinite(e1).all(-1)               # twist undefined
    for t in np.flatnonzero(bad):                               # in order: a fixed frame
        base = R[t - 1] if t > 0 and np.isfinite(R[t - 1]).all() else np.eye(3)  # is a base
        R[t] = _swing(base @ r1, e1[t]) @ base
    return R


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking unit vector ``a`` onto unit vector ``b``."""
    v = np.cross(a, b)
    s = np.linalg.norm(v)
    c = float(np.dot(a, b))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        axis = np.cross(a, X if abs(a[0]) < 0.9 else Y)
        return Rotation.from_rotvec(np.pi * axis / np.linalg.norm(axis)).as_matrix()
    return Rotation.from_rotvec(v / s * np.arctan2(s, c)).as_matrix()


def body_points(world: np.ndarray, spine_fraction: float = 0.1,
                trunk_length_m: float | None = None) -> dict[str, np.ndarray]:
    """Named points (T, 3) in the body frame, metres: every BlazePose landmark by name, the
    midpoints ``mid_hip``, ``mid_shoulder``, ``mid_ear``, ``left_hand``/``right_hand``
    (index-pinky midpoint) and ``spine`` (``spine_fraction`` of ``trunk_length_m`` above
    ``mid_hip`` along the pelvis' up axis; of the median hip-shoulder distance when None).

    Args:
        world: (T, 33, 3) BlazePose world landmarks, camera frame, metres (NaN where missing).
    """
    p = _landmark_points(to_body(world))
    up = p["mid_shoulder"] - p["mid_hip"]
    if trunk_length_m is None:
        d = np.linalg.norm(up, axis=-1)
        trunk_length_m = float(np.nanmedian(d)) if np.isfinite(d).any() else 0.5
    Rh = _triad(p["left_hip"] - p["right_hip"], up, X, Y)
    p["spine"] = p["mid_hip"] + spine_fraction * trunk_length_m * Rh[..., :, 1]
    return p


def segment_rotations(p: dict[str, np.ndarray]) -> np.ndarray:
    """Global rotation (T, J, 3, 3) of every joint of :data:`JOINTS` from the rest T-pose, in
    the body frame, from the points of :func:`body_points` (TRIAD; see the module doc).
    NaN for frames without landmarks."""
    trunk_up = p["mid_shoulder"] - p["mid_hip"]
    hip_line = p["left_hip"] - p["right_hip"]
    pelvis_fwd = np.cross(hip_line, trunk_up)
    thorax_up = p["mid_shoulder"] - p["spine"]
    shoulder_line = p["left_shoulder"] - p["right_shoulder"]
    thorax_fwd = np.cross(shoulder_line, thorax_up)
    ear_line = p["left_ear"] - p["right_ear"]
    T = len(trunk_up)
    R = np.full((T, len(JOINTS), 3, 3), np.nan)
    R[:, _J["Hips"]] = _triad(hip_line, trunk_up, X, Y)
    R[:, _J["Spine"]] = _triad(thorax_up, shoulder_line, Y, X)
    R[:, _J["Neck"]] = _triad(p["mid_ear"] - p["mid_shoulder"], ear_line, Y, X)
    R[:, _J["Head"]] = _triad(p["nose"] - p["mid_ear"], ear_line, Z, X)
    for s, sx in (("left", X), ("right", -X)):
        S = s.capitalize()
        sh, el, wr = p[f"{s}_shoulder"], p[f"{s}_elbow"], p[f"{s}_wrist"]
        across_hand = p[f"{s}_index"] - p[f"{s}_pinky"]
        R[:, _J[f"{S}Shoulder"]] = _triad(sh - p["mid_shoulder"], thorax_up, sx, Y)
        R[:, _J[f"{S}Arm"]] = _triad(el - sh, wr - el, sx, Z, thorax_fwd)
        R[:, _J[f"{S}ForeArm"]] = _triad(wr - el, across_hand, sx, Z, thorax_fwd)
        R[:, _J[f"{S}Hand"]] = _triad(p[f"{s}_hand"] - wr, across_hand, sx, Z, thorax_fwd)
        hp, kn, an = p[f"{s}_hip"], p[f"{s}_knee"], p[f"{s}_ankle"]
        foot = p[f"{s}_foot_index"] - p[f"{s}_heel"]
        R[:, _J[f"{S}UpLeg"]] = _triad(kn - hp, kn - an, -Y, Z, pelvis_fwd)
        R[:, _J[f"{S}Leg"]] = _triad(an - kn, foot, -Y, Z, pelvis_fwd)
        R[:, _J[f"{S}Foot"]] = _triad(p[f"{s}_foot_index"] - an, kn - an, Z, Y, trunk_up)
    return R


def _bone_pairs() -> list[tuple[str, str, str]]:
    """(bone key, from point, to point) for every length the skeleton needs; trunk first."""
    out = [("trunk", "mid_hip", "mid_shoulder"), ("hip_width", "left_hip", "right_hip"),
           ("thorax", "spine", "mid_shoulder"),
           ("shoulder_width", "left_shoulder", "right_shoulder"),
           ("neck", "mid_shoulder", "mid_ear"), ("head", "mid_ear", "nose")]
    for s in ("left", "right"):
        out += [(f"{s}_thigh", f"{s}_hip", f"{s}_knee"), (f"{s}_shank", f"{s}_knee", f"{s}_ankle"),
                (f"{s}_foot", f"{s}_ankle", f"{s}_foot_index"),
                (f"{s}_upper_arm", f"{s}_shoulder", f"{s}_elbow"),
                (f"{s}_forearm", f"{s}_elbow", f"{s}_wrist"),
                (f"{s}_hand", f"{s}_wrist", f"{s}_hand")]
    return out


_BONES = _bone_pairs()


def _point_scores(scores: np.ndarray) -> dict[str, np.ndarray]:
    sc = {n: scores[:, _I(n)] for n in BLAZEPOSE_33.keypoints}
    mn = lambda a, b: np.minimum(sc[a], sc[b])  # noqa: E731
    sc["mid_hip"] = mn("left_hip", "right_hip")
    sc["mid_shoulder"] = mn("left_shoulder", "right_shoulder")
    sc["mid_ear"] = mn("left_ear", "right_ear")
    sc["spine"] = np.minimum(sc["mid_hip"], sc["mid_shoulder"])
    for s in ("left", "right"):
        sc[f"{s}_hand"] = mn(f"{s}_index", f"{s}_pinky")
    return sc


def bone_lengths(world: np.ndarray, scores: np.ndarray, config: FitConfig = FitConfig()
                 ) -> dict[str, float]:
    """Robust bone lengths of one track over a clip, metres (step 1 of the module doc).

    Args:
        world: (T, 33, 3) world landmarks, camera frame, metres (NaN rows where not seen).
        scores: (T, 33) visibility in [0, 1].

    Returns:
        ``{bone: metres}`` with the keys ``trunk``, ``hip_width``, ``thorax``,
        ``shoulder_width``, ``neck``, ``head`` and per side ``<side>_thigh``, ``_shank``,
        ``_foot``, ``_upper_arm``, ``_forearm``, ``_hand``.

    Raises:
        ValueError: no frame has finite landmarks.
    """
    world = np.asarray(world, np.float64)
    if not np.isfinite(world).all(axis=(1, 2)).any():
        raise ValueError("bone_lengths: no frame with finite world landmarks")
    scores = np.nan_to_num(np.asarray(scores, np.float64))
    sc = _point_scores(scores)
    samples: dict[str, np.ndarray] = {}

    def sample(key: str, a: str, b: str) -> None:
        d = np.linalg.norm(p[b] - p[a], axis=-1)
        ok = np.isfinite(d) & (np.minimum(sc[a], sc[b]) >= config.min_visibility)
        samples[key] = d[ok] if ok.sum() >= config.min_frames else d[np.isfinite(d)]

    p = _landmark_points(to_body(world))
    sample("trunk", "mid_hip", "mid_shoulder")
    p = body_points(world, config.spine_fraction, float(np.median(samples["trunk"])))
    for key, a, b in _BONES[1:]:
        sample(key, a, b)
    out = {k: float(np.median(v)) if len(v) else float("nan") for k, v in samples.items()}
    if config.symmetric:
        for key in list(out):
            if key.startswith("left_"):
                both = np.concatenate([samples[key], samples["right_" + key[5:]]])
                if len(both):
                    out[key] = out["right_" + key[5:]] = float(np.median(both))
    return out


def rest_offsets(lengths: dict[str, float], spine_fraction: float = 0.1
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """BVH ``OFFSET`` s of the rest T-pose, metres, body frame: (J, 3) per joint (the root's is
    zero) and ``{joint: (3,)}`` for the end sites (see :data:`END_SITES`)."""
    L = lengths
    off = {"Hips": np.zeros(3), "Spine": spine_fraction * L["trunk"] * Y,
           "Neck": L["thorax"] * Y, "Head": L["neck"] * Y}
    for s, sx in (("left", X), ("right", -X)):
        S = s.capitalize()
        off[f"{S}UpLeg"] = 0.5 * L["hip_width"] * sx
        off[f"{S}Leg"] = -L[f"{s}_thigh"] * Y
        off[f"{S}Foot"] = -L[f"{s}_shank"] * Y
        off[f"{S}Shoulder"] = L["thorax"] * Y
        off[f"{S}Arm"] = 0.5 * L["shoulder_width"] * sx
        off[f"{S}ForeArm"] = L[f"{s}_upper_arm"] * sx
        off[f"{S}Hand"] = L[f"{s}_forearm"] * sx
    ends = {"Head": L["head"] * Z, "LeftHand": L["left_hand"] * X,
            "RightHand": -L["right_hand"] * X, "LeftFoot": L["left_foot"] * Z,
            "RightFoot": L["right_foot"] * Z}
    return np.stack([off[n] for n in JOINT_NAMES]), ends


@dataclass
class SkeletonMotion:
    """A fitted skeleton of one track: constant offsets, per-frame rotations and root.

    Attributes:
        frames: (T,) int frame indices, consecutive from the track's first to last frame.
        observed: (T,) bool, True where the track was seen (the rest is gap-filled).
        lengths: ``{bone: metres}`` (see :func:`bone_lengths`).
        offsets: (J, 3) float64 rest offsets (metres, body frame), joints in :data:`JOINTS`.
        end_offsets: ``{joint: (3,)}`` end-site offsets, metres.
        rotations: (T, J, 4) float64 global joint rotations from the rest pose, scipy quaternion
            order (x, y, z, w), body frame.
        root: (T, 3) float64 position of ``Hips``, metres, body frame.
    """

    frames: np.ndarray
    observed: np.ndarray
    lengths: dict
    offsets: np.ndarray
    end_offsets: dict
    rotations: np.ndarray
    root: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)

    def matrices(self) -> np.ndarray:
        """(T, J, 3, 3) global rotation matrices."""
        T, J = self.rotations.shape[:2]
        return Rotation.from_quat(self.rotations.reshape(-1, 4)).as_matrix().reshape(T, J, 3, 3)

    def local_rotations(self) -> np.ndarray:
        """(T, J, 3, 3) rotation of each joint relative to its parent (the root's is global):
        what a BVH file stores."""
        G = self.matrices()
        L = G.copy()
        for j, pj in enumerate(PARENTS):
            if pj >= 0:
                L[:, j] = np.swapaxes(G[:, pj], -1, -2) @ G[:, j]
        return L

    def positions(self) -> np.ndarray:
        """(T, J, 3) joint (bone head) positions by forward kinematics, metres, body frame."""
        G = self.matrices()
        P = np.zeros(G.shape[:2] + (3,))
        for j, pj in enumerate(PARENTS):
            P[:, j] = self.root if pj < 0 else P[:, pj] + G[:, pj] @ self.offsets[j]
        return P

    def end_positions(self) -> dict[str, np.ndarray]:
        """``{joint: (T, 3)}`` end-site positions, metres, body frame."""
        G, P = self.matrices(), self.positions()
        return {n: P[:, _J[n]] + G[:, _J[n]] @ o for n, o in self.end_offsets.items()}


def fit_skeleton(world: np.ndarray, scores: np.ndarray, frames: np.ndarray | None = None, *,
                 fps: float = 30.0, config: FitConfig = FitConfig()) -> SkeletonMotion:
    """Fit the constant-bone skeleton to one track's world landmarks (method in the module doc).

    Args:
        world: (T, 33, 3) BlazePose world landmarks, camera frame, metres; rows may be NaN.
        scores: (T, 33) visibility in [0, 1].
        frames: (T,) increasing int frame indices of the rows (default 0..T-1); missing indices
            between the first and last are gap-filled in the result.
        fps: frames per second, for the smoothing sigma.
        config: a :class:`FitConfig`.

    Returns:
        a :class:`SkeletonMotion` spanning ``frames[0] .. frames[-1]``; its root is the
        measured hip midpoint (body frame; near zero for hip-centred landmarks).

    Raises:
        ValueError: shapes disagree, or no row has finite landmarks.
    """
    world = np.asarray(world, np.float64)
    scores = np.asarray(scores, np.float64)
    if world.ndim != 3 or world.shape[1:] != (33, 3) or scores.shape != world.shape[:2]:
        raise ValueError(f"fit_skeleton: expected world (T, 33, 3) and scores (T, 33), got "
                         f"{world.shape} and {scores.shape}")
    frames = np.arange(len(world)) if frames is None else np.asarray(frames, np.int64)
    if frames.shape != (len(world),) or (np.diff(frames) <= 0).any():
        raise ValueError("fit_skeleton: frames must be (T,) strictly increasing indices")
    ok = np.isfinite(world).all(axis=(1, 2))
    if not ok.any():
        raise ValueError("fit_skeleton: no frame with finite world landmarks")
    world, scores, frames = world[ok], scores[ok], frames[ok]
    lengths = bone_lengths(world, scores, config)
    p = body_points(world, config.spine_fraction, lengths["trunk"])
    G = segment_rotations(p)                                    # (n, J, 3, 3)
    n, J = G.shape[:2]
    q = Rotation.from_matrix(G.reshape(-1, 3, 3)).as_quat().reshape(n, J, 4)
    span = np.arange(frames[0], frames[-1] + 1)
    observed = np.isin(span, frames)
    if len(span) != n:                                          # fill gaps
        qf = np.empty((len(span), J, 4))
        for j in range(J):
            if n == 1:
                qf[:, j] = q[0, j]
            else:
                qf[:, j] = Slerp(frames, Rotation.from_quat(q[:, j]))(span).as_quat()
        root = np.stack([np.interp(span, frames, p["mid_hip"][:, k]) for k in range(3)], -1)
        q = qf
    else:
        root = p["mid_hip"].copy()
    if config.smooth_s > 0:
        q = smooth_rotations(q, config.smooth_s * fps)
    offsets, ends = rest_offsets(lengths, config.spine_fraction)
    return SkeletonMotion(span, observed, lengths, offsets, ends, q, root)


def smooth_rotations(quats: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing of rotation sequences (normalised weighted quaternion mean).

    Args:
        quats: (T, ..., 4) quaternions (x, y, z, w) along axis 0, finite.
        sigma_frames: Gaussian sigma in frames (> 0).

    Returns:
        (T, ..., 4) unit quaternions. Each sequence is first made sign-continuous
        (``q[t] . q[t-1] >= 0``), then each component filtered (``scipy.ndimage
        .gaussian_filter1d``, edges by repetition) and the result renormalised (see the module
        doc for the source).
    """
    q = np.array(quats, np.float64)
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t][flip] *= -1
    q = gaussian_filter1d(q, sigma_frames, axis=0, mode="nearest")
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


# --- root motion -------------------------------------------------------------------------

#: Landmark-mapped joints used to place the skeleton in the camera (see :func:`root_path`).
ROOT_JOINTS = ("Hips", "LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg", "LeftFoot", "RightFoot",
               "Neck", "LeftArm", "RightArm", "LeftForeArm", "RightForeArm", "LeftHand",
               "RightHand")


def focal_px(width_px: int, hfov_deg: float) -> float:
    """Pinhole focal length in pixels from the image width and horizontal field of view:
    ``f = (W / 2) / tan(hfov / 2)``."""
    if not 1.0 <= hfov_deg <= 179.0:
        raise ValueError(f"horizontal field of view must be in [1, 179] degrees, got {hfov_deg}")
    return 0.5 * width_px / np.tan(np.radians(hfov_deg) / 2)


def camera_translation(model_cam: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                       size_wh: tuple[int, int], hfov_deg: float) -> np.ndarray:
    """Camera-frame position (T, 3) metres of the origin of ``model_cam``: the translation that
    best projects the model points onto their pixels through a pinhole camera.

    With focal length ``f`` (:func:`focal_px`) and principal point at the image centre
    ``(cx, cy)``, each point gives two equations linear in ``t``:
    ``f (X + tx) = (u - cx)(Z + tz)`` and ``f (Y + ty) = (v - cy)(Z + tz)``, solved by weighted
    least squares per frame (the rotation is the model's own: BlazePose world landmarks are
    in camera-aligned axes). Depth comes from the ratio of the model's metric size (its bone
    lengths) to its size in pixels.

    Args:
        model_cam: (T, K, 3) model points, camera frame (x right, y down, z forward), metres.
        pixels: (T, K, 2) their image positions, pixels.
        weights: (T, K) >= 0 (e.g. visibility); non-finite points get weight 0.
        size_wh: image (width, height), pixels.
        hfov_deg: horizontal field of view, degrees.

    Returns:
        (T, 3) float64; NaN rows where fewer than 3 points are usable or the solution lies
        behind the camera.
    """
    f = focal_px(size_wh[0], hfov_deg)
    cx, cy = 0.5 * size_wh[0], 0.5 * size_wh[1]
    M = np.asarray(model_cam, np.float64)
    uv = np.asarray(pixels, np.float64)
    w = np.where(np.isfinite(M).all(-1) & np.isfinite(uv).all(-1),
                 np.nan_to_num(np.asarray(weights, np.float64)), 0.0)
    M, uv = np.nan_to_num(M), np.nan_to_num(uv)
    du, dv = uv[..., 0] - cx, uv[..., 1] - cy
    T, K = w.shape
    A = np.zeros((T, 2 * K, 3))
    b = np.zeros((T, 2 * K))
    A[:, :K, 0] = f
    A[:, :K, 2] = -du
    b[:, :K] = du * M[..., 2] - f * M[..., 0]
    A[:, K:, 1] = f
    A[:, K:, 2] = -dv
    b[:, K:] = dv * M[..., 2] - f * M[..., 1]
    w2 = np.concatenate([w, w], axis=1)
    AtA = np.einsum("tki,tk,tkj->tij", A, w2, A)                 # weighted normal equations
    Atb = np.einsum("tki,tk,tk->ti", A, w2, b)
    out = np.full((T, 3), np.nan)
    ok = ((w > 0).sum(1) >= 3) & (np.linalg.cond(AtA) < 1e12)
    if ok.any():
        out[ok] = np.linalg.solve(AtA[ok], Atb[ok][..., None])[..., 0]
    out[~(out[:, 2] > 0)] = np.nan                               # behind the camera
    return out


def root_path(motion: SkeletonMotion, keypoints_px: np.ndarray, scores: np.ndarray,
              size_wh: tuple[int, int], hfov_deg: float) -> np.ndarray:
    """The hips' path (T, 3) in the camera, body frame (X right, Y up, Z towards the camera),
    metres, from the fitted skeleton (constant bones) and the 2D keypoints.

    Per frame, :func:`camera_translation` places the fitted joints of :data:`ROOT_JOINTS`
    (rotated as fitted, hip-centred) on their image keypoints, weighted by visibility; frames
    where that fails or the track was not seen are interpolated linearly (held at the ends).

    Args:
        motion: the track's :class:`SkeletonMotion` (T frames).
        keypoints_px: (T, 33, 2) image keypoints of the same frames, NaN where not seen.
        scores: (T, 33) visibility.
        size_wh, hfov_deg: see :func:`camera_translation`.

    Returns:
        (T, 3) float64, or NaN everywhere when no frame could be placed.
    """
    P = motion.positions() - motion.root[:, None, :]
    idx = [_J[n] for n in ROOT_JOINTS]
    model_cam = P[:, idx] @ CAMERA_TO_BODY            # body -> camera (its own inverse)
    kp = np.asarray(keypoints_px, np.float64)
    sc = np.asarray(scores, np.float64)
    pix = np.stack([kp[:, [_I(n) for n in JOINT_LANDMARKS[j]]].mean(1) for j in ROOT_JOINTS], 1)
    wts = np.stack([sc[:, [_I(n) for n in JOINT_LANDMARKS[j]]].min(1) for j in ROOT_JOINTS], 1)
    t_cam = camera_translation(model_cam, pix, wts, size_wh, hfov_deg)
    t_cam[~motion.observed] = np.nan
    ok = np.isfinite(t_cam).all(-1)
    if not ok.any():
        return np.full((len(motion), 3), np.nan)
    k = np.arange(len(motion))
    t_cam = np.stack([np.interp(k, k[ok], t_cam[ok, c]) for c in range(3)], -1)
    return t_cam @ CAMERA_TO_BODY


# --- clinical angles -----------------------------------------------------------------------

#: ISB axes (X anterior, Y superior, Z right) as columns, in the body frame.
ISB_AXES = np.stack([Z, Y, -X], axis=1)

#: Every name :func:`clinical_angles` returns, in order.
ANGLE_NAMES: tuple[str, ...] = tuple(
    f"{s}_{a}" for a in ("hip_flexion", "hip_abduction", "knee_flexion", "elbow_flexion",
                         "shoulder_elevation") for s in ("left", "right")
) + ("trunk_lean", "trunk_flexion", "trunk_lateral_flexion")


def _anatomical(G: np.ndarray) -> dict[str, np.ndarray]:
    """ISB-like anatomical frames (T, 3, 3) (columns X ant, Y sup, Z right) of the segments,
    from global joint rotations (T, J, 3, 3). The arms' rest pose is abducted 90 degrees from
    the anatomical position (arm hanging), which their constant rest frames undo."""
    a = {"pelvis": G[:, _J["Hips"]] @ ISB_AXES, "thorax": G[:, _J["Spine"]] @ ISB_AXES}
    for s, sign in (("left", 1.0), ("right", -1.0)):
        S = s.capitalize()
        arm_rest = Rotation.from_rotvec(sign * np.pi / 2 * Z).as_matrix() @ ISB_AXES
        a[f"{s}_femur"] = G[:, _J[f"{S}UpLeg"]] @ ISB_AXES
        a[f"{s}_shank"] = G[:, _J[f"{S}Leg"]] @ ISB_AXES
        a[f"{s}_humerus"] = G[:, _J[f"{S}Arm"]] @ arm_rest
        a[f"{s}_forearm"] = G[:, _J[f"{S}ForeArm"]] @ arm_rest
    return a


def _zxy(prox: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Cardan angles (T, 3) degrees (about Z, then floating X, then Y) of ``dist`` relative to
    ``prox`` (anatomical frames (T, 3, 3)); NaN where either is."""
    rel = np.swapaxes(prox, -1, -2) @ dist
    out = np.full((len(rel), 3), np.nan)
    ok = np.isfinite(rel).all(axis=(1, 2))
    if ok.any():
        out[ok] = Rotation.from_matrix(rel[ok]).as_euler("ZXY", degrees=True)
    return out


def angles_from_rotations(G: np.ndarray) -> dict[str, np.ndarray]:
    """Clinical angles (see the module doc) from global joint rotations (T, J, 3, 3).

    Returns:
        ``{name: (T,) float64 degrees}`` for every name of :data:`ANGLE_NAMES`.
    """
    a = _anatomical(G)
    out: dict[str, np.ndarray] = {}
    for s, mirror in (("left", 1.0), ("right", -1.0)):
        hip = _zxy(a["pelvis"], a[f"{s}_femur"])
        out[f"{s}_hip_flexion"] = hip[:, 0]
        out[f"{s}_hip_abduction"] = mirror * hip[:, 1]
        out[f"{s}_knee_flexion"] = -_zxy(a[f"{s}_femur"], a[f"{s}_shank"])[:, 0]
        out[f"{s}_elbow_flexion"] = _zxy(a[f"{s}_humerus"], a[f"{s}_forearm"])[:, 0]
        cosang = (a[f"{s}_humerus"][:, :, 1] * a["thorax"][:, :, 1]).sum(-1)
        out[f"{s}_shoulder_elevation"] = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
    up = a["thorax"][:, :, 1]
    with np.errstate(invalid="ignore"):
        fwd = a["pelvis"][:, :, 0] * np.array([1.0, 0.0, 1.0])     # heading, horizontal
        fwd = _unit(fwd)
        right = np.cross(fwd, Y)
    out["trunk_lean"] = np.degrees(np.arccos(np.clip(up[:, 1], -1, 1)))
    out["trunk_flexion"] = np.degrees(np.arctan2((up * fwd).sum(-1), up[:, 1]))
    out["trunk_lateral_flexion"] = np.degrees(np.arctan2((up * right).sum(-1), up[:, 1]))
    return {n: out[n] for n in ANGLE_NAMES}


def clinical_angles(motion: SkeletonMotion) -> dict[str, np.ndarray]:
    """Clinical joint angles of a fitted skeleton: ``{name: (T,) degrees}`` (see the module
    doc for the conventions and sources), from its (possibly smoothed) rotations."""
    return angles_from_rotations(motion.matrices())


def landmark_angles(world: np.ndarray, spine_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Clinical angles straight from world landmarks, frame by frame (no clip statistics):
    the segment orientations of one frame need only bone directions, not lengths.

    Args:
        world: (N, 33, 3) world landmarks, camera frame, metres (N frames or persons).

    Returns:
        ``{name: (N,) float64 degrees}``; NaN where landmarks are missing.
    """
    p = body_points(np.asarray(world, np.float64), spine_fraction)
    with np.errstate(invalid="ignore"):
        return angles_from_rotations(segment_rotations(p))
