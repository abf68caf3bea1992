"""Motion capture out: 3D accuracy of the world landmarks, constant bones, angle agreement,
the BVH in Blender, and the C3D libraries.

Usage: python bench/bench_mocap.py [--models blazepose,blazepose-mediapipe] [--no-blender]
                                   [--figure docs/img/mocap_bvh.png]

Prints:

1. **3D accuracy** on the real motion-capture frames of ``../shared/data/mmpose/tests/data``
   (``h36m/test_h36m_body3d.npz``: 4 Human3.6M frames; ``mpi_inf_3dhp/test_3dhp_{train,test}
   .npz``: 4 MPI-INF-3DHP frames; ``S`` holds the 3D ground truth in metres, camera frame).
   The model runs on each full image (image mode); its world landmarks are aligned on the
   ground truth per frame and the mean joint distance (MPJPE, mm) is given after a rigid
   alignment (rotation + translation) and after Procrustes (rotation, translation and scale:
   PA-MPJPE). Joint mapping (13 joints), BlazePose -> H36M-17 index / MPI-INF-3DHP-17 index:
   hip midpoint -> pelvis 0 / 14; right_hip 1 / 8; right_knee 2 / 9; right_ankle 3 / 10;
   left_hip 4 / 11; left_knee 5 / 12; left_ankle 6 / 13; left_shoulder 11 / 5;
   left_elbow 12 / 6; left_wrist 13 / 7; right_shoulder 14 / 2; right_elbow 15 / 3;
   right_wrist 16 / 4. (H36M's spine, thorax, neck/nose and head and MPI's head top, neck,
   spine and head have no BlazePose counterpart and are left out.)
2. **Bone lengths** on body3d_demo.mp4 (poses cached by ``tests/io/mocap_clip.py``): the
   spread (max - min and standard deviation, mm) of each bone in the raw world landmarks and
   in the fitted skeleton; and the fitted joints' distance to the landmarks (cm).
3. **Angles**: the clinical angles of the fitted skeleton against the same definitions
   computed straight from the landmarks (mean / 95th percentile / max absolute difference,
   degrees), and their ranges over the walk.
4. **Blender**: the BVH imported by Debian's Blender (``blender`` on PATH), joints against the
   landmarks after a rigid alignment per frame (mean, worst frame's mean, cm).
5. **C3D libraries**: ezc3d and the ``c3d`` package (when installed) writing the clip's
   markers and reading each other's files (ms, and whether gaps survive).

Figures are printed, never asserted (tests/analysis/test_kinematics.py and
tests/io/test_mocap.py assert).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import posekit  # noqa: E402
from posekit.analysis import kinematics as K  # noqa: E402
from posekit.io.mocap import MARKER_NAMES, BvhSink, C3dSink  # noqa: E402
from posekit.skeletons import BLAZEPOSE_33 as B  # noqa: E402
from posekit.types import Frame  # noqa: E402
from tests.conftest import DATA  # noqa: E402
from tests.io import mocap_clip  # noqa: E402

MM = DATA / "mmpose" / "tests" / "data"
#: BlazePose point (landmark or pair midpoint) -> (H36M-17 index, MPI-INF-3DHP-17 index)
MAPPING = {
    ("left_hip", "right_hip"): (0, 14), ("right_hip",): (1, 8), ("right_knee",): (2, 9),
    ("right_ankle",): (3, 10), ("left_hip",): (4, 11), ("left_knee",): (5, 12),
    ("left_ankle",): (6, 13), ("left_shoulder",): (11, 5), ("left_elbow",): (12, 6),
    ("left_wrist",): (13, 7), ("right_shoulder",): (14, 2), ("right_elbow",): (15, 3),
    ("right_wrist",): (16, 4),
}


def align(a: np.ndarray, b: np.ndarray, scale: bool) -> np.ndarray:
    """``a`` (J, 3) moved onto ``b`` by the best rotation + translation (+ scale): Kabsch /
    Umeyama (no reflection)."""
    ca, cb = a.mean(0), b.mean(0)
    A, Bm = a - ca, b - cb
    U, S, Vt = np.linalg.svd(A.T @ Bm)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    D = np.diag([1.0, 1.0, d])
    R = Vt.T @ D @ U.T
    s = (S * np.diag(D)).sum() / (A ** 2).sum() if scale else 1.0
    return s * A @ R.T + cb


def accuracy(models: list[str]) -> None:
    sets = [("h36m", MM / "h36m" / "test_h36m_body3d.npz", MM / "h36m", 0),
            ("mpi_inf_3dhp", MM / "mpi_inf_3dhp" / "test_3dhp_train.npz", MM / "mpi_inf_3dhp", 1),
            ("mpi_inf_3dhp", MM / "mpi_inf_3dhp" / "test_3dhp_test.npz", MM / "mpi_inf_3dhp", 1)]
    print("\n1. 3D accuracy of the world landmarks (13 joints, mm)")
    print(f"{'model':22s} {'dataset':13s} {'image':44s} {'MPJPE-rigid':>11s} {'PA-MPJPE':>9s}")
    for name in models:
        model = posekit.load_model(name, mode="image", max_people=1)
        per: dict[str, list] = {}
        for ds, npz, folder, col in sets:
            if not npz.is_file():
                print(f"   {ds}: {npz} absent, skipped")
                continue
            z = np.load(npz, allow_pickle=False)
            for img_name, S in zip(z["imgname"], z["S"]):
                img = cv2.imread(str(folder / str(img_name)))
                poses = model(Frame(img))
                if len(poses) == 0 or poses.world is None:
                    print(f"{name:22s} {ds:13s} {str(img_name)[-44:]:44s} {'no person':>11s}")
                    continue
                w = poses.world[0].astype(np.float64)
                pred = np.stack([w[[B.index(n) for n in k]].mean(0) for k in MAPPING])
                gt = S[[v[col] for v in MAPPING.values()], :3]
                rig = np.linalg.norm(align(pred, gt, False) - gt, axis=1).mean() * 1000
                pa = np.linalg.norm(align(pred, gt, True) - gt, axis=1).mean() * 1000
                per.setdefault(ds, []).append((rig, pa))
                print(f"{name:22s} {ds:13s} {str(img_name)[-44:]:44s} {rig:11.1f} {pa:9.1f}")
        model.close()
        for ds, v in per.items():
            v = np.array(v)
            print(f"{name:22s} {ds:13s} {'mean of ' + str(len(v)) + ' frames':44s} "
                  f"{v[:, 0].mean():11.1f} {v[:, 1].mean():9.1f}")


def bones_and_angles(cp) -> K.SkeletonMotion:
    frames, world, _, scores = mocap_clip.track_arrays(cp)
    t0 = time.perf_counter()
    m = K.fit_skeleton(world, scores, frames, fps=cp.fps)
    fit_ms = (time.perf_counter() - t0) * 1000
    p = K.body_points(world, 0.1, m.lengths["trunk"])
    P = m.positions()
    print(f"\n2. Bone lengths on body3d_demo ({len(frames)} frames, track of {len(m)} frames; "
          f"fit {fit_ms:.0f} ms)")
    print(f"{'bone':16s} {'length mm':>9s} {'raw std':>8s} {'raw max-min':>11s} "
          f"{'fitted max-min':>14s}")
    idx = {n: i for i, n in enumerate(K.JOINT_NAMES)}
    pairs = {"left_thigh": ("LeftUpLeg", "LeftLeg"), "left_shank": ("LeftLeg", "LeftFoot"),
             "left_upper_arm": ("LeftArm", "LeftForeArm"),
             "left_forearm": ("LeftForeArm", "LeftHand"),
             "right_thigh": ("RightUpLeg", "RightLeg"), "right_shank": ("RightLeg", "RightFoot"),
             "right_upper_arm": ("RightArm", "RightForeArm"),
             "right_forearm": ("RightForeArm", "RightHand"),
             "shoulder_width": ("LeftArm", "RightArm"), "hip_width": ("LeftUpLeg", "RightUpLeg")}
    pts = {"left_thigh": ("left_hip", "left_knee"), "left_shank": ("left_knee", "left_ankle"),
           "left_upper_arm": ("left_shoulder", "left_elbow"),
           "left_forearm": ("left_elbow", "left_wrist"),
           "right_thigh": ("right_hip", "right_knee"), "right_shank": ("right_knee", "right_ankle"),
           "right_upper_arm": ("right_shoulder", "right_elbow"),
           "right_forearm": ("right_elbow", "right_wrist"),
           "shoulder_width": ("left_shoulder", "right_shoulder"),
           "hip_width": ("left_hip", "right_hip")}
    for bone, (a, b) in pts.items():
        raw = np.linalg.norm(p[b] - p[a], axis=-1) * 1000
        ja, jb = pairs[bone]
        fit = np.linalg.norm(P[:, idx[jb]] - P[:, idx[ja]], axis=-1) * 1000
        print(f"{bone:16s} {np.median(fit):9.0f} {raw.std():8.1f} {np.ptp(raw):11.1f} "
              f"{np.ptp(fit):14.4f}")
    obs = m.observed
    dist = [np.linalg.norm(P[obs, idx[j]] - np.mean([p[n] for n in K.JOINT_LANDMARKS[j]], 0),
                           axis=-1).mean() * 100 for j in K.JOINT_LANDMARKS]
    print(f"fitted joints vs landmarks (no alignment): mean {np.mean(dist):.2f} cm, "
          f"worst joint {max(dist):.2f} cm")

    A = K.clinical_angles(m)
    D = direct_angles(world)
    print("\n3. Clinical angles: fitted skeleton vs direct landmark formulas (degrees)")
    print(f"{'angle':26s} {'mean':>6s} {'p95':>6s} {'max':>6s}   range over the walk")
    for n, ref in D.items():
        got = np.abs(A[n][obs]) if n.endswith(("knee_flexion", "elbow_flexion")) else A[n][obs]
        d = np.abs(got - ref)
        print(f"{n:26s} {d.mean():6.2f} {np.percentile(d, 95):6.2f} {d.max():6.2f}   "
              f"{np.nanmin(A[n][obs]):6.1f} .. {np.nanmax(A[n][obs]):6.1f}")
    for n in ("trunk_flexion", "trunk_lateral_flexion"):
        print(f"{n:26s} {'':>6s} {'':>6s} {'':>6s}   "
              f"{np.nanmin(A[n][obs]):6.1f} .. {np.nanmax(A[n][obs]):6.1f}")
    return m


def direct_angles(world: np.ndarray) -> dict[str, np.ndarray]:
    """The clinical angles with plain vector formulas on the landmarks (as the tests)."""
    P = {n: world[:, B.index(n)].astype(np.float64) @ K.CAMERA_TO_BODY for n in B.keypoints}
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    dot = lambda a, b: (a * b).sum(-1)  # noqa: E731
    deg = lambda a, b: np.degrees(np.arccos(np.clip(dot(unit(a), unit(b)), -1, 1)))  # noqa: E731
    mh = 0.5 * (P["left_hip"] + P["right_hip"])
    ms = 0.5 * (P["left_shoulder"] + P["right_shoulder"])
    zp = unit(P["right_hip"] - P["left_hip"])
    up = ms - mh
    yp = unit(up - dot(up, zp)[:, None] * zp)
    xp = np.cross(yp, zp)
    out = {}
    for s, sign in (("left", 1.0), ("right", -1.0)):
        yf = unit(P[f"{s}_hip"] - P[f"{s}_knee"])
        out[f"{s}_hip_flexion"] = np.degrees(np.arctan2(-dot(yf, xp), dot(yf, yp)))
        out[f"{s}_hip_abduction"] = sign * np.degrees(np.arcsin(np.clip(dot(yf, zp), -1, 1)))
        out[f"{s}_knee_flexion"] = 180 - deg(P[f"{s}_hip"] - P[f"{s}_knee"],
                                             P[f"{s}_ankle"] - P[f"{s}_knee"])
        out[f"{s}_elbow_flexion"] = 180 - deg(P[f"{s}_shoulder"] - P[f"{s}_elbow"],
                                              P[f"{s}_wrist"] - P[f"{s}_elbow"])
        out[f"{s}_shoulder_elevation"] = deg(P[f"{s}_shoulder"] - P[f"{s}_elbow"], ms - mh)
    out["trunk_lean"] = deg(ms - mh, np.array([0.0, 1.0, 0.0]))
    return out


def blender(cp, tmp: Path) -> dict | None:
    exe = shutil.which("blender")
    print("\n4. BVH in Blender")
    if exe is None:
        print("   blender not on PATH (scripts/install_blender.sh): skipped")
        return None
    sink = BvhSink(tmp / "walk.bvh", fps=cp.fps, hfov_deg=mocap_clip.H36M_HFOV_DEG)
    t0 = time.perf_counter()
    with sink:
        for frame, poses in cp.frames():
            sink.write(frame, poses)
    write_ms = (time.perf_counter() - t0) * 1000
    out = tmp / "heads.json"
    t0 = time.perf_counter()
    subprocess.run([exe, "-b", "--factory-startup", "--python",
                    str(ROOT / "tests" / "io" / "blender_bvh_heads.py"), "--", str(sink.path),
                    str(out)], capture_output=True, timeout=600)
    blender_s = time.perf_counter() - t0
    d = json.loads(out.read_text())
    frames, world, _, _ = mocap_clip.track_arrays(cp)
    H = np.array(d["heads"])[frames - frames[0]]
    names = list(K.JOINT_LANDMARKS)
    got = H[:, [d["bones"].index(n) for n in names]]
    ref = np.stack([world[:, [B.index(n) for n in K.JOINT_LANDMARKS[j]]].mean(1) for j in names],
                   1).astype(np.float64)
    err = np.array([np.linalg.norm(align(g, r, False) - r, axis=1) for g, r in zip(got, ref)])
    pf = err.mean(1) * 100
    print(f"   {len(frames)} frames, {len(names)} joints: mean {err.mean() * 100:.2f} cm, "
          f"worst frame {pf.max():.2f} cm, frames over 3 cm {(pf > 3).sum()}; per joint (cm): "
          + ", ".join(f"{n} {v:.1f}" for n, v in zip(names, err.mean(0) * 100)))
    print(f"   sink (buffer + fit + root + write) {write_ms:.0f} ms; Blender import and read "
          f"{blender_s:.1f} s")
    return d


def figure(cp, d: dict | None, path: Path) -> None:
    """Three frames of the walk: the BVH skeleton as Blender reads it (or as posekit fits it
    without Blender) over the world landmarks, and the hips' path seen from above."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames, world, kps, scores = mocap_clip.track_arrays(cp)
    names = list(K.JOINT_NAMES)
    if d is not None:
        H = np.array(d["heads"])[frames - frames[0]][:, [d["bones"].index(n) for n in names]]
        src = "Blender's BVH import"
    else:
        m = K.fit_skeleton(world, scores, frames, fps=cp.fps)
        H = m.positions()[m.observed]
        src = "posekit's fit"
    lm_names = list(K.JOINT_LANDMARKS)
    ref = np.stack([world[:, [B.index(n) for n in K.JOINT_LANDMARKS[j]]].mean(1)
                    for j in lm_names], 1).astype(np.float64) @ K.CAMERA_TO_BODY
    all_lm = world.astype(np.float64) @ K.CAMERA_TO_BODY
    fig = plt.figure(figsize=(11, 4.2), dpi=80)
    gs = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 0.55], wspace=0.0)
    picks = [60, 160, 300]
    for k, t in enumerate(picks):
        ax = fig.add_subplot(gs[0, k], projection="3d")
        # move the skeleton onto the landmarks (rigid), as the test does
        sel = [names.index(n) for n in lm_names]
        ca, cb = H[t, sel].mean(0), ref[t].mean(0)
        U, _, Vt = np.linalg.svd((H[t, sel] - ca).T @ (ref[t] - cb))
        R = Vt.T @ np.diag([1, 1, np.sign(np.linalg.det(Vt.T @ U.T))]) @ U.T
        h = (H[t] - ca) @ R.T + cb
        for j, pj in enumerate(K.PARENTS):
            if pj >= 0:
                seg = h[[pj, j]]
                ax.plot(seg[:, 0], seg[:, 2], seg[:, 1], color="#1f4e9c", lw=2.5)
        ax.scatter(all_lm[t, :, 0], all_lm[t, :, 2], all_lm[t, :, 1], s=6, color="#e0662b")
        ax.set_xlim(-0.45, 0.45), ax.set_ylim(-0.45, 0.45), ax.set_zlim(-0.95, 0.75)
        ax.set_box_aspect((0.9, 0.9, 1.7), zoom=1.25)
        ax.view_init(elev=8, azim=-65)
        ax.set_xticklabels([]), ax.set_yticklabels([]), ax.set_zticklabels([])
        ax.set_title(f"frame {frames[t]}", fontsize=10)
    ax = fig.add_subplot(gs[0, 3])
    m = K.fit_skeleton(world, scores, frames, fps=cp.fps)
    kp = np.full((len(m), 33, 2), np.nan)
    sc = np.zeros((len(m), 33))
    kp[frames - frames[0]], sc[frames - frames[0]] = kps, scores
    p = K.root_path(m, kp, sc, cp.size_wh, mocap_clip.H36M_HFOV_DEG)
    ax.plot(p[:, 0], -p[:, 2], color="#1f4e9c")
    ax.plot([0], [0], "k^")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)"), ax.set_ylabel("distance from camera (m)")
    ax.set_title("hips' path, from above", fontsize=10)
    fig.suptitle(f"body3d_demo: BVH skeleton ({src}, blue) and BlazePose world landmarks "
                 "(orange)", fontsize=10)
    fig.subplots_adjust(left=0.0, right=0.97, bottom=0.12, top=0.88)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"   figure: {path} ({path.stat().st_size // 1024} KB)")
    # the angle overlay on one frame of the video
    from posekit.analysis.kinematics_overlay import draw_clinical_angles
    from posekit.draw import draw_poses

    cap = cv2.VideoCapture(str(DATA / mocap_clip.CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 160)
    ok, img = cap.read()
    cap.release()
    if ok:
        poses = cp.poses[list(cp.indices).index(160)]
        out = draw_clinical_angles(draw_poses(img, poses), poses)
        jpg = path.with_name("mocap_angles.jpg")
        cv2.imwrite(str(jpg), out[150:700, 250:700], [cv2.IMWRITE_JPEG_QUALITY, 85])
        print(f"   figure: {jpg} ({jpg.stat().st_size // 1024} KB)")


def c3d_libraries(cp, tmp: Path) -> None:
    import ezc3d

    print("\n5. C3D libraries (the clip's 35 markers)")
    sink = C3dSink(tmp / "ez.c3d", fps=cp.fps, root_motion=False)
    with sink:
        for frame, poses in cp.frames():
            sink.write(frame, poses[:0] if 100 <= frame.index < 110 else poses)
    c = ezc3d.c3d(str(sink.path))
    xyz = np.transpose(c["data"]["points"][:3], (2, 1, 0))           # (T, M, 3) mm
    t0 = time.perf_counter()
    for _ in range(5):
        e = ezc3d.c3d()
        e["parameters"]["POINT"]["RATE"]["value"] = [cp.fps]
        e["parameters"]["POINT"]["LABELS"]["value"] = list(MARKER_NAMES)
        e["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
        pts = np.ones((4,) + xyz.shape[1::-1])
        pts[:3] = np.transpose(xyz, (2, 1, 0))
        e["data"]["points"] = pts
        e.write(str(tmp / "ez2.c3d"))
    ez_ms = (time.perf_counter() - t0) / 5 * 1000
    print(f"   ezc3d {ezc3d.__version__ if hasattr(ezc3d, '__version__') else ''}: write "
          f"{ez_ms:.1f} ms; NaN gaps written as invalid points automatically "
          f"({int(np.isnan(xyz).any(-1).sum())} marker-frames read back as NaN)")
    try:
        import c3d
    except ImportError:
        print("   c3d: not installed (pip install c3d to compare)")
        return
    import warnings
    warnings.filterwarnings("ignore", message="No analog data found")
    t0 = time.perf_counter()
    for _ in range(5):
        w = c3d.Writer(point_rate=cp.fps, point_units="mm")
        for f in range(len(xyz)):
            arr = np.zeros((len(MARKER_NAMES), 5))
            bad = np.isnan(xyz[f]).any(-1)
            arr[:, :3] = np.nan_to_num(xyz[f])
            arr[bad, 3] = -1                                  # residual -1: invalid, by hand
            w.add_frames([(arr, np.zeros((0, 0)))])
        w.set_point_labels(list(MARKER_NAMES))
        with open(tmp / "py.c3d", "wb") as h:
            w.write(h)
    py_ms = (time.perf_counter() - t0) / 5 * 1000
    with open(sink.path, "rb") as h:
        r = c3d.Reader(h)
        n = sum(1 for _ in r.read_frames())
        ok = [s.strip() for s in r.point_labels] == list(MARKER_NAMES)
    back = ezc3d.c3d(str(tmp / "py.c3d"))
    gaps = int(np.isnan(back["data"]["points"][:3]).any(0).sum())
    print(f"   c3d {getattr(c3d, '__version__', '')}: write {py_ms:.1f} ms (gaps need residual -1 "
          f"set by hand, labels padded); reads ezc3d's file: {n} frames, labels match {ok}; "
          f"ezc3d reads c3d's file with {gaps} NaN marker-frames")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="blazepose,blazepose-mediapipe")
    ap.add_argument("--no-blender", action="store_true")
    ap.add_argument("--figure", type=Path, default=None,
                    help="also draw the BVH skeleton vs the landmarks into this PNG "
                         "(docs/img/mocap_bvh.png)")
    args = ap.parse_args()
    if args.models:
        accuracy([m for m in args.models.split(",") if m])
    cp = mocap_clip.body3d_poses()
    bones_and_angles(cp)
    with tempfile.TemporaryDirectory() as d:
        heads = None if args.no_blender else blender(cp, Path(d))
        c3d_libraries(cp, Path(d))
        if args.figure:
            figure(cp, heads, args.figure)


if __name__ == "__main__":
    main()
