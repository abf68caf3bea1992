"""posekit.analysis.kinematics on a real clip (body3d_demo.mp4, BlazePose world landmarks) and on
synthetic cases with known answers: constant bones, reproduced bone directions, robust lengths,
rotation smoothing, gap filling, the camera path and clinical angles against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posekit.analysis import kinematics as K
from posekit.analysis.angles import compute_angles
from posekit.skeletons import BLAZEPOSE_33 as B
from posekit.types import Poses

from ..io import mocap_clip

BONE_CONSTANT_M = 0.001        # bone lengths constant within 1 mm
DIRECTION_DEG = 0.01           # fitted bone directions = measured ones
# Clinical angles of the fitted skeleton against formulas straight from the landmarks:
ANGLE_MEAN_DEG = 1.0           # mean absolute difference, every angle
ANGLE_MAX_DEG = {"knee_flexion": 5.0}   # worst frame (nearly straight knee: the JCS splits a
ANGLE_MAX_DEFAULT_DEG = 1.5             # few degrees into ab/adduction); others


@pytest.fixture(scope="module")
def track():
    try:
        cp = mocap_clip.body3d_poses()
    except FileNotFoundError as e:
        pytest.skip(f"clip not available: {e}")
    frames, world, kps, scores = mocap_clip.track_arrays(cp)
    return cp, frames, world, kps, scores


@pytest.fixture(scope="module")
def motion(track):
    cp, frames, world, _, scores = track
    return K.fit_skeleton(world, scores, frames, fps=cp.fps)


def _bone_spread(m: K.SkeletonMotion) -> float:
    P = m.positions()
    worst = 0.0
    for j, pj in enumerate(K.PARENTS):
        if pj >= 0:
            d = np.linalg.norm(P[:, j] - P[:, pj], axis=-1)
            worst = max(worst, float(d.max() - d.min()))
    for name, e in m.end_positions().items():
        d = np.linalg.norm(e - P[:, K.JOINT_NAMES.index(name)], axis=-1)
        worst = max(worst, float(d.max() - d.min()))
    return worst


def test_clip_has_one_long_track(track):
    cp, frames, *_ = track
    assert cp.fps == pytest.approx(50.0) and cp.size_wh == (1000, 1002)
    assert len(frames) >= 390                      # the walker is seen on (almost) every frame


def test_bones_constant_and_directions_reproduced(track, motion):
    _, frames, world, _, _ = track
    assert len(motion) == frames[-1] - frames[0] + 1
    assert _bone_spread(motion) < BONE_CONSTANT_M
    # the raw landmarks' bones vary by centimetres: the check above can fail
    p = K.body_points(world, 0.1, motion.lengths["trunk"])
    raw = np.linalg.norm(p["left_wrist"] - p["left_elbow"], axis=-1)
    assert raw.max() - raw.min() > 0.02
    # every landmark bone keeps its measured direction
    P = motion.positions()[motion.observed]
    for j in K.JOINTS:
        if j.parent is None or j.name == "Spine":
            continue
        parent = next(q for q in K.JOINTS if q.name == j.parent)
        fit = P[:, K.JOINT_NAMES.index(j.name)] - P[:, K.JOINT_NAMES.index(j.parent)]
        meas = p[j.point] - p[parent.point]
        cos = (fit * meas).sum(-1) / np.linalg.norm(fit, axis=-1) / np.linalg.norm(meas, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < DIRECTION_DEG, j.name
    # and lengths are human: thigh 0.3-0.55 m, forearm 0.18-0.32 m, hip width 0.15-0.35 m
    L = motion.lengths
    assert 0.30 < L["left_thigh"] < 0.55 and 0.18 < L["left_forearm"] < 0.32
    assert 0.15 < L["hip_width"] < 0.35


def test_lengths_robust_to_outliers_and_hidden_limbs(track, motion):
    _, frames, world, _, scores = track
    w = world.astype(np.float64).copy()
    sc = scores.copy()
    rng = np.random.default_rng(0)
    # 15 % of the frames: the left forearm 20 cm too long (outliers)
    bad = rng.choice(len(w), len(w) * 15 // 100, replace=False)
    fa = w[bad, B.index("left_wrist")] - w[bad, B.index("left_elbow")]
    w[bad, B.index("left_wrist")] += 0.2 * fa / np.linalg.norm(fa, axis=-1, keepdims=True)
    # 40 % of the frames: the left knee hidden (low visibility) and badly placed
    hid = rng.choice(len(w), len(w) * 40 // 100, replace=False)
    w[hid, B.index("left_knee")] += [0.0, 0.15, 0.0]
    sc[hid, B.index("left_knee")] = 0.1
    cfg = K.FitConfig(symmetric=False)
    clean = K.bone_lengths(world, scores, cfg)
    dirty = K.bone_lengths(w, sc, cfg)
    assert abs(dirty["left_forearm"] - clean["left_forearm"]) < 0.01
    assert abs(dirty["left_thigh"] - clean["left_thigh"]) < 0.005
    # a mean would not be robust: it moves by centimetres
    def mean_forearm(world_):
        p = K.body_points(world_)
        return np.linalg.norm(p["left_wrist"] - p["left_elbow"], axis=-1).mean()

    assert mean_forearm(w) - mean_forearm(world) > 0.02


def test_clinical_angles_agree_with_landmark_formulas(track, motion):
    """The fitted skeleton's ISB angles against the same definitions computed directly from
    the landmarks with vector formulas (no rotations)."""
    _, _, world, kps, scores = track
    A = {n: v[motion.observed] for n, v in K.clinical_angles(motion).items()}
    P = {n: world[:, B.index(n)].astype(np.float64) @ K.CAMERA_TO_BODY for n in B.keypoints}

    def unit(v):
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    def dot(a, b):
        return (a * b).sum(-1)

    def deg_between(a, b):
        return np.degrees(np.arccos(np.clip(dot(unit(a), unit(b)), -1, 1)))

    mid_hip = 0.5 * (P["left_hip"] + P["right_hip"])
    mid_sh = 0.5 * (P["left_shoulder"] + P["right_shoulder"])
    zp = unit(P["right_hip"] - P["left_hip"])                   # pelvis: Z right
    up = mid_sh - mid_hip
    yp = unit(up - dot(up, zp)[:, None] * zp)                   # Y up, in the trunk plane
    xp = np.cross(yp, zp)                                       # X anterior
    direct = {}
    for s, sign in (("left", 1.0), ("right", -1.0)):
        yf = unit(P[f"{s}_hip"] - P[f"{s}_knee"])               # femur long axis
        direct[f"{s}_hip_flexion"] = np.degrees(np.arctan2(-dot(yf, xp), dot(yf, yp)))
        direct[f"{s}_hip_abduction"] = sign * np.degrees(np.arcsin(np.clip(dot(yf, zp), -1, 1)))
        direct[f"{s}_knee_flexion"] = 180 - deg_between(P[f"{s}_hip"] - P[f"{s}_knee"],
                                                        P[f"{s}_ankle"] - P[f"{s}_knee"])
        direct[f"{s}_elbow_flexion"] = 180 - deg_between(P[f"{s}_shoulder"] - P[f"{s}_elbow"],
                                                         P[f"{s}_wrist"] - P[f"{s}_elbow"])
        direct[f"{s}_shoulder_elevation"] = deg_between(P[f"{s}_shoulder"] - P[f"{s}_elbow"],
                                                        mid_sh - mid_hip)
    # trunk lean: posekit.analysis.angles' own 3D trunk_lean
    direct["trunk_lean"] = compute_angles(Poses(kps, scores, B, world=world), world=True,
                                          min_visibility=0.0)["trunk_lean"]
    for name, ref in direct.items():
        got = np.abs(A[name]) if "flexion" in name and "hip" not in name else A[name]
        d = np.abs(got - ref)
        kind = name.split("_", 1)[1]
        assert d.mean() < ANGLE_MEAN_DEG, (name, d.mean())
        assert d.max() < ANGLE_MAX_DEG.get(kind, ANGLE_MAX_DEFAULT_DEG), (name, d.max())
    # a walk: knees bend well past 45 degrees in swing; elbows never straighten fully
    assert A["left_knee_flexion"].max() > 45 and A["right_knee_flexion"].max() > 45
    assert np.isfinite(np.stack(list(A.values()))).all()
    assert set(K.ANGLE_NAMES) == set(K.clinical_angles(motion))


def test_landmark_angles_per_frame_match_the_clip_fit(track, motion):
    _, _, world, _, _ = track
    per_frame = K.landmark_angles(world[:50])
    clip = K.clinical_angles(motion)
    for n in K.ANGLE_NAMES:
        assert np.allclose(per_frame[n], clip[n][motion.observed][:50], atol=0.05), n


def test_smoothing_rotations_keeps_bones_and_reduces_jitter(track, motion):
    cp, frames, world, _, scores = track
    sm = K.fit_skeleton(world, scores, frames, fps=cp.fps, config=K.FitConfig(smooth_s=0.04))
    assert _bone_spread(sm) < BONE_CONSTANT_M

    def jitter(m):  # mean second difference of the joints' rotation vectors, degrees
        r = Rotation.from_quat(m.rotations.reshape(-1, 4)).as_rotvec().reshape(len(m), -1, 3)
        return np.degrees(np.linalg.norm(np.diff(r, 2, axis=0), axis=-1)).mean()

    assert jitter(sm) < 0.5 * jitter(motion)
    # smoothing moves the joints by centimetres at most
    d = np.linalg.norm(sm.positions() - motion.positions(), axis=-1)
    assert d.mean() < 0.03


def test_gaps_are_slerped(track):
    cp, frames, world, _, scores = track
    keep = np.ones(len(frames), bool)
    keep[100:110] = False
    full = K.fit_skeleton(world, scores, frames, fps=cp.fps)
    gap = K.fit_skeleton(world[keep], scores[keep], frames[keep], fps=cp.fps)
    assert len(gap) == len(full) and gap.observed.sum() == keep.sum()
    rows = np.flatnonzero(~gap.observed)
    assert (frames[100:110] - frames[0] == rows).all()
    # inside the gap every rotation lies between its neighbours (SLERP) ...
    a = Rotation.from_quat(gap.rotations[rows[0] - 1])
    b = Rotation.from_quat(gap.rotations[rows[-1] + 1])
    total = (a.inv() * b).magnitude()
    for r in rows:
        q = Rotation.from_quat(gap.rotations[r])
        assert ((a.inv() * q).magnitude() <= total + 1e-6).all()
    # ... and near the true one in a 0.2 s gap of a walk
    err = (Rotation.from_quat(gap.rotations[rows].reshape(-1, 4)).inv()
           * Rotation.from_quat(full.rotations[rows].reshape(-1, 4))).magnitude()
    assert np.degrees(err).mean() < 20


def test_camera_translation_recovers_a_known_position():
    """Synthetic: a skeleton projected through a known pinhole is placed back within 1 mm."""
    rng = np.random.default_rng(1)
    model = rng.normal(0, 0.3, (5, 14, 3))                    # camera frame, metres
    t_true = np.array([[0.3, -0.2, 4.0], [-1.0, 0.5, 6.0], [0.0, 0.0, 2.5], [0.8, 0.1, 3.0],
                       [0.0, -0.4, 8.0]])
    w, h, fov = 1280, 720, 60.0
    f = K.focal_px(w, fov)
    cam = model + t_true[:, None]
    pix = np.stack([f * cam[..., 0] / cam[..., 2] + w / 2, f * cam[..., 1] / cam[..., 2] + h / 2],
                   -1)
    got = K.camera_translation(model, pix, np.ones((5, 14)), (w, h), fov)
    assert np.abs(got - t_true).max() < 0.001
    # too few usable points: NaN, not a guess
    wts = np.zeros((5, 14))
    wts[:, :2] = 1
    assert np.isnan(K.camera_translation(model, pix, wts, (w, h), fov)).all()
    with pytest.raises(ValueError, match="field of view"):
        K.focal_px(100, 0.0)


def test_root_path_on_the_clip(track, motion):
    """The walker in the Human3.6M studio: 2-8 m from the camera, covering metres."""
    _, frames, _, kps, scores = track
    kp = np.full((len(motion), 33, 2), np.nan)
    sc = np.zeros((len(motion), 33))
    kp[frames - frames[0]], sc[frames - frames[0]] = kps, scores
    path = K.root_path(motion, kp, sc, (1000, 1002), mocap_clip.H36M_HFOV_DEG)
    assert np.isfinite(path).all()
    depth = -path[:, 2]                                        # body Z points at the camera
    assert 2.0 < depth.min() and depth.max() < 8.0
    assert np.ptp(path[:, 0]) > 0.5 or np.ptp(depth) > 1.0
    # a wider field of view brings the person closer (same pixels, shorter focal length)
    wide = K.root_path(motion, kp, sc, (1000, 1002), 70.0)
    assert (-wide[:, 2] < depth).all()


def test_fit_config_validation():
    with pytest.raises(ValueError, match="min_visibility"):
        K.FitConfig(min_visibility=1.5)
    with pytest.raises(ValueError, match="smooth_s"):
        K.FitConfig(smooth_s=-1)
    with pytest.raises(TypeError):
        K.FitConfig(smoothing=0.1)                              # unknown setting
    with pytest.raises(ValueError, match="no frame"):
        K.fit_skeleton(np.full((3, 33, 3), np.nan), np.ones((3, 33)))
    with pytest.raises(ValueError, match="expected world"):
        K.fit_skeleton(np.zeros((3, 17, 3)), np.ones((3, 17)))


def test_overlay_draws_labels_at_the_joints(track):
    from posekit.analysis.kinematics_overlay import LABELS, draw_clinical_angles

    cp, frames, world, kps, scores = track
    p = Poses(kps[150:151], scores[150:151], B, world=world[150:151])
    img = np.zeros((cp.size_wh[1], cp.size_wh[0], 3), np.uint8)
    out = draw_clinical_angles(img, p)
    assert out is not img and not img.any()                    # drew on a copy
    changed = out.any(-1)
    for name in ("left_knee", "right_elbow"):                  # a label beside each joint
        x, y = kps[150, B.index(name)].astype(int)
        assert changed[y - 15:y + 15, x - 200:x + 200].any(), name
    assert changed.mean() < 0.1
    # nothing to draw without world landmarks; unknown labels are refused
    assert not draw_clinical_angles(img, p.replace(world=None)).any()
    only = draw_clinical_angles(img, p, labels=("trunk",))
    assert only.any(-1).sum() < changed.sum()
    with pytest.raises(KeyError, match="expected one of"):
        draw_clinical_angles(img, p, labels=("neck",))
    assert "left_hip" in LABELS


def test_straight_arm_pointing_forward_keeps_a_twist(track):
    """Where the twist of a bone is undefined (a straight arm along the body's forward axis,
    so forearm and fallback are both parallel to it) the rotation still reproduces the bone
    and keeps the previous frame's twist instead of turning NaN."""
    _, _, world, _, scores = track
    w = world[:20].astype(np.float64) @ K.CAMERA_TO_BODY               # body frame
    p = K.body_points(w @ K.CAMERA_TO_BODY)
    fwd = np.cross(p["left_shoulder"] - p["right_shoulder"], p["mid_shoulder"] - p["spine"])
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    sh = w[:, B.index("left_shoulder")]
    w[10:, B.index("left_elbow")] = sh[10:] + 0.25 * fwd[10:]
    w[10:, B.index("left_wrist")] = sh[10:] + 0.48 * fwd[10:]
    m = K.fit_skeleton(w @ K.CAMERA_TO_BODY, scores[:20])
    assert np.isfinite(m.rotations).all()
    G = m.matrices()
    arm = G[:, K.JOINT_NAMES.index("LeftArm")]
    bone = arm @ np.array([1.0, 0.0, 0.0])                              # rest: along +X
    assert np.allclose(bone[10:], fwd[10:], atol=1e-6)
    # the twist (the arm's rest Z axis) moves smoothly into the degenerate frames
    z = arm @ np.array([0.0, 0.0, 1.0])
    assert np.degrees(np.arccos(np.clip((z[10] * z[9]).sum(), -1, 1))) < 100
    assert np.degrees(np.arccos(np.clip((z[11:] * z[10:-1]).sum(-1), -1, 1))).max() < 10
