"""Motion-capture sinks on a real clip (body3d_demo.mp4): the BVH imported by Blender's own
importer (headless, skipped where Blender is absent: ``scripts/install_blender.sh``) and by a
small reader here, the C3D read back with ezc3d (and the ``c3d`` package where installed), the
TRC parsed with its header, the angles CSV; several tracks, gaps and bad input."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posekit.analysis import kinematics as K
from posekit.errors import OutputError
from posekit.io.mocap import (
    MARKER_NAMES,
    MARKER_SETS,
    MARKERS,
    BvhSink,
    C3dSink,
    JointAnglesCsvSink,
    TrcSink,
)
from posekit.skeletons import BLAZEPOSE_33 as B
from posekit.skeletons import COCO_17
from posekit.types import Frame, Poses

from . import mocap_clip

BLENDER_MEAN_M = 0.03           # Blender's joints vs the world landmarks, mean over the clip
BLENDER_FRAME_MEAN_M = 0.05     # ... and the worst frame's mean
BONE_CONSTANT_M = 0.001
MARKER_MM = 0.01                # TRC/C3D against the landmarks (written with 3 decimals)
HIP = MARKER_NAMES.index("mid_hip")
SCRIPT = Path(__file__).with_name("blender_bvh_heads.py")


@pytest.fixture(scope="module")
def clip():
    try:
        return mocap_clip.body3d_poses()
    except FileNotFoundError as e:
        pytest.skip(f"clip not available: {e}")


def _run(sink, cp, drop=()):
    """Feed the clip's frames to ``sink`` (without the persons of the frames in ``drop``)."""
    with sink:
        for frame, poses in cp.frames():
            sink.write(frame, poses[:0] if frame.index in drop else poses)
    return sink


@pytest.fixture(scope="module")
def bvh(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("bvh") / "walk.bvh"
    return _run(BvhSink(out, fps=clip.fps, size_wh=clip.size_wh,
                        hfov_deg=mocap_clip.H36M_HFOV_DEG), clip)


def _landmark_joints(world: np.ndarray, names) -> np.ndarray:
    """(T, len(names), 3) the landmark (or landmark-pair midpoint) of each BVH joint."""
    return np.stack([world[:, [B.index(n) for n in K.JOINT_LANDMARKS[j]]].mean(1)
                     for j in names], 1).astype(np.float64)


def _rigid_errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, J) distances after the best rigid motion (Kabsch, no scaling or reflection) of each
    frame of ``a`` (T, J, 3) onto ``b``."""
    out = np.empty(a.shape[:2])
    for t in range(len(a)):
        ca, cb = a[t].mean(0), b[t].mean(0)
        U, _, Vt = np.linalg.svd((a[t] - ca).T @ (b[t] - cb))
        D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
        out[t] = np.linalg.norm((a[t] - ca) @ (Vt.T @ D @ U.T).T + cb - b[t], axis=1)
    return out


def read_bvh(path: Path):
    """A minimal BVH reader: joint names, parents, offsets, channels, frame time and the
    joints' world positions per frame (forward kinematics, rotations in channel order)."""
    tokens = path.read_text().split()
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i = 0
    while tokens[i] != "MOTION":
        t = tokens[i]
        if t in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            i += 2
        elif t == "End":
            names.append(None)
            parents.append(stack[-1])
            i += 2
        elif t == "{":
            stack.append(len(names) - 1)
            i += 1
        elif t == "}":
            stack.pop()
            i += 1
        elif t == "OFFSET":
            offsets.append([float(v) for v in tokens[i + 1:i + 4]])
            i += 4
        elif t == "CHANNELS":
            n = int(tokens[i + 1])
            channels.append((len(names) - 1, tokens[i + 2:i + 2 + n]))
            i += 2 + n
        else:
            i += 1
    nframes = int(tokens[i + 2])
    frame_time = float(tokens[i + 5])
    data = np.array(tokens[i + 6:], float).reshape(nframes, -1)
    offsets = np.array(offsets)
    loc = np.zeros((nframes, len(names), 3))
    rot = np.tile(np.eye(3), (nframes, len(names), 1, 1))
    col = 0
    for j, chans in channels:
        for c in chans:
            v = data[:, col]
            col += 1
            if c.endswith("position"):
                loc[:, j, "XYZ".index(c[0])] = v
            else:
                rot[:, j] = rot[:, j] @ Rotation.from_euler(c[0].lower(), v[:, None],
                                                            degrees=True).as_matrix()
    assert col == data.shape[1]
    G = np.zeros_like(rot)
    P = np.zeros((nframes, len(names), 3))
    for j, pj in enumerate(parents):
        if pj < 0:
            G[:, j], P[:, j] = rot[:, j], offsets[j] + loc[:, j]
        else:
            G[:, j] = G[:, pj] @ rot[:, j]
            P[:, j] = P[:, pj] + G[:, pj] @ offsets[j]
    return names, parents, frame_time, P


def test_bvh_structure_and_reading(clip, bvh):
    frames, world, _, _ = mocap_clip.track_arrays(clip)
    assert bvh.written == [bvh.path]
    names, parents, frame_time, P = read_bvh(bvh.path)
    joints = [n for n in names if n]
    for n in ("Hips", "Spine", "Neck", "Head", "LeftArm", "LeftForeArm", "LeftHand", "RightArm",
              "RightForeArm", "RightHand", "LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg",
              "RightLeg", "RightFoot"):
        assert n in joints
    assert names[parents[names.index("LeftForeArm")]] == "LeftArm"
    assert frame_time == pytest.approx(1.0 / clip.fps)
    assert len(P) == frames[-1] - frames[0] + 1
    names_lm = list(K.JOINT_LANDMARKS)
    got = P[frames - frames[0]][:, [names.index(n) for n in names_lm]]
    err = _rigid_errors(got, _landmark_joints(world, names_lm))
    assert err.mean() < BLENDER_MEAN_M
    # metres: the thigh of an adult in the file is 0.3-0.55 long
    thigh = np.linalg.norm(P[:, names.index("LeftLeg")] - P[:, names.index("LeftUpLeg")], axis=1)
    assert 0.3 < thigh.mean() < 0.55 and np.ptp(thigh) < BONE_CONSTANT_M


def test_bvh_in_blender(clip, bvh, tmp_path):
    """Debian's Blender imports the BVH with its own importer; its joints follow posekit's
    world landmarks on every frame of the clip with constant bones."""
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (scripts/install_blender.sh installs Debian's)")
    out = tmp_path / "heads.json"
    r = subprocess.run([blender, "-b", "--factory-startup", "--python", str(SCRIPT), "--",
                        str(bvh.path), str(out)], capture_output=True, text=True, timeout=300)
    assert out.is_file(), r.stdout[-2000:] + r.stderr[-2000:]
    d = json.loads(out.read_text())
    frames, world, _, _ = mocap_clip.track_arrays(clip)
    assert d["fps"] == pytest.approx(clip.fps)
    H = np.array(d["heads"])                                     # (frames, bones, 3)
    assert len(H) >= frames[-1] - frames[0] + 1                  # every frame of the span
    names = list(K.JOINT_LANDMARKS)
    got = H[frames - frames[0]][:, [d["bones"].index(n) for n in names]]
    assert np.isfinite(got).all()
    err = _rigid_errors(got, _landmark_joints(world, names))
    assert err.mean() < BLENDER_MEAN_M, err.mean()
    assert err.mean(1).max() < BLENDER_FRAME_MEAN_M, err.mean(1).max()
    # constant bones in Blender too
    for j in K.JOINTS:
        if j.parent is not None:
            L = np.linalg.norm(H[:, d["bones"].index(j.name)] - H[:, d["bones"].index(j.parent)],
                               axis=1)
            assert np.ptp(L) < BONE_CONSTANT_M, j.name


def _read_trc(path: Path):
    lines = path.read_text().split("\n")
    keys = lines[1].split("\t")
    vals = lines[2].split("\t")
    header = dict(zip(keys, vals))
    markers = [c for c in lines[3].split("\t")[2:] if c]
    rows = [ln.split("\t") for ln in lines[6:] if ln.strip()]
    data = np.array([[float(c) if c else np.nan for c in r[2:]] for r in rows])
    times = np.array([float(r[1]) for r in rows])
    return header, markers, times, data.reshape(len(rows), -1, 3)


def _expected_markers(clip, sink, drop=()):
    """(T, M, 3) millimetres: the landmarks around the hip midpoint plus the written root."""
    frames, world, _, _ = mocap_clip.track_arrays(clip)
    w = world.astype(np.float64) @ K.CAMERA_TO_BODY
    mk = np.stack([w[:, [B.index(n) for n in v]].mean(1) for v in MARKERS.values()], 1)
    return frames, (mk - mk[:, HIP:HIP + 1]) * 1000.0


def test_trc_and_c3d(clip, tmp_path):
    import ezc3d

    drop = set(range(100, 110))
    trc = _run(TrcSink(tmp_path / "walk.trc", fps=clip.fps, root_motion=False), clip, drop)
    c3d = _run(C3dSink(tmp_path / "walk.c3d", fps=clip.fps, root_motion=False), clip, drop)
    frames, expect = _expected_markers(clip, trc)
    span = frames[-1] - frames[0] + 1
    # TRC: header with frame rate and units, markers, gaps as blanks
    header, markers, times, data = _read_trc(trc.path)
    assert float(header["DataRate"]) == pytest.approx(clip.fps)
    assert float(header["CameraRate"]) == pytest.approx(clip.fps)
    assert header["Units"] == "mm"
    assert int(header["NumFrames"]) == span == len(data)
    assert int(header["NumMarkers"]) == len(MARKER_NAMES) and markers == list(MARKER_NAMES)
    assert np.allclose(np.diff(times), 1.0 / clip.fps)
    gap = np.array(sorted(drop)) - frames[0]
    assert np.isnan(data[gap]).all()
    seen = np.setdiff1d(frames - frames[0], gap)
    assert np.isfinite(data[seen]).all()
    rel = data - data[:, HIP:HIP + 1]                              # around the hip midpoint
    keep = ~np.isin(frames, list(drop))
    assert np.abs(rel[frames[keep] - frames[0]] - expect[keep]).max() < MARKER_MM
    # fixed root: the hip midpoint stays at (0, leg length, 0)
    assert np.ptp(data[seen, HIP], axis=0).max() < MARKER_MM
    assert 600 < data[seen[0], HIP, 1] < 1100
    assert markers[:33] == list(B.keypoints)                       # Pose2Sim's BlazePose names
    # C3D: the same frames, names, rate, units and values, gaps as NaN
    c = ezc3d.c3d(str(c3d.path))
    assert c["parameters"]["POINT"]["LABELS"]["value"] == list(MARKER_NAMES)
    assert c["parameters"]["POINT"]["RATE"]["value"][0] == pytest.approx(clip.fps)
    assert c["parameters"]["POINT"]["UNITS"]["value"] == ["mm"]
    pts = c["data"]["points"]                                      # (4, M, T)
    assert pts.shape[1:] == (len(MARKER_NAMES), span)
    xyz = np.transpose(pts[:3], (2, 1, 0))
    assert np.isnan(xyz[gap]).all() and np.isfinite(xyz[seen]).all()
    assert np.abs(xyz[seen] - data[seen]).max() < 0.01             # float32 in the C3D


def test_halpe26_marker_set(clip, tmp_path):
    sink = _run(TrcSink(tmp_path / "h.trc", fps=clip.fps, marker_set="halpe26"), clip)
    header, markers, _, data = _read_trc(sink.path)
    assert markers == list(MARKER_SETS["halpe26"]) and int(header["NumMarkers"]) == 23
    for name in ("Hip", "Neck", "LShoulder", "RBigToe", "LHeel"):
        assert name in markers
    full = _run(TrcSink(tmp_path / "b.trc", fps=clip.fps), clip)
    *_, ref = _read_trc(full.path)
    assert np.allclose(data[:, markers.index("LKnee")], ref[:, MARKER_NAMES.index("left_knee")],
                       atol=MARKER_MM)
    with pytest.raises(ValueError, match="marker set"):
        C3dSink(tmp_path / "x.c3d", marker_set="vicon")


@pytest.mark.filterwarnings("ignore:No analog data found")
def test_c3d_reads_in_the_c3d_package(clip, tmp_path):
    """Another C3D library (the pure-Python ``c3d`` package) reads ezc3d's file."""
    c3dlib = pytest.importorskip("c3d", reason="the 'c3d' package is not installed")
    sink = _run(C3dSink(tmp_path / "walk.c3d", fps=clip.fps, root_motion=False), clip, {50})
    with open(sink.path, "rb") as f:
        r = c3dlib.Reader(f)
        labels = [s.strip() for s in r.point_labels]
        rows = [pts.copy() for _, pts, _ in r.read_frames()]
    assert labels == list(MARKER_NAMES)
    assert r.point_rate == pytest.approx(clip.fps)
    frames, *_ = mocap_clip.track_arrays(clip)
    assert len(rows) == frames[-1] - frames[0] + 1
    assert (rows[50 - frames[0]][:, 3] == -1).all()                # the gap: invalid residuals
    assert (rows[0][:, 3] >= 0).all()


def test_angles_csv(clip, tmp_path):
    sink = _run(JointAnglesCsvSink(tmp_path / "angles.csv", fps=clip.fps), clip)
    with open(sink.path, newline="") as f:
        rows = list(csv.DictReader(f))
    frames, world, _, scores = mocap_clip.track_arrays(clip)
    assert list(rows[0]) == ["frame", "time_s", "track_id", *K.ANGLE_NAMES]
    assert [int(r["frame"]) for r in rows] == list(frames)
    ref = K.clinical_angles(K.fit_skeleton(world, scores, frames, fps=clip.fps))
    for name in K.ANGLE_NAMES:
        got = np.array([float(r[name]) for r in rows])
        assert np.abs(got - ref[name]).max() <= 0.006, name       # written with 2 decimals


def test_root_motion_moves_the_hips(clip, bvh, tmp_path):
    fixed = _run(BvhSink(tmp_path / "fixed.bvh", fps=clip.fps, root_motion=False), clip)
    *_, Pm = read_bvh(bvh.path)
    *_, Pf = read_bvh(fixed.path)
    assert np.ptp(Pf[:, 0], axis=0).max() < 1e-6
    # the walker covers metres on the floor (X, Z) and starts at X = Z = 0
    assert np.hypot(np.ptp(Pm[:, 0, 0]), np.ptp(Pm[:, 0, 2])) > 1.0
    assert np.abs(Pm[0, 0, [0, 2]]).max() < 1e-6
    # same body pose either way: joints around the hips agree
    assert np.abs((Pm - Pm[:, :1]) - (Pf - Pf[:, :1])).max() < 1e-4


def test_tracks_go_to_separate_files(clip, tmp_path):
    """A second, shorter track (the same walker under ID 7 on 60 frames) goes beside the
    longest; a 3-frame track gets no file (min_frames)."""
    img = np.zeros((clip.size_wh[1], clip.size_wh[0], 3), np.uint8)
    with BvhSink(tmp_path / "two.bvh", fps=clip.fps, units="cm") as sink:
        for k, (frame, poses) in enumerate(clip.frames()):
            extra = []
            if len(poses) and 100 <= k < 160:
                extra.append(poses.replace(track_ids=np.array([7])))
            if len(poses) and 200 <= k < 203:
                extra.append(poses.replace(track_ids=np.array([9])))
            if extra:
                poses = Poses(*(np.concatenate([getattr(p, f) for p in [poses, *extra]])
                                for f in ("keypoints", "scores")), B,
                              world=np.concatenate([p.world for p in [poses, *extra]]),
                              track_ids=np.concatenate([p.track_ids for p in [poses, *extra]]))
            sink.write(Frame(img, frame.index, frame.time_s), poses)
    assert sink.written == [tmp_path / "two.bvh", tmp_path / "two.track7.bvh"]
    *_, P7 = read_bvh(tmp_path / "two.track7.bvh")
    assert len(P7) == 60
    # centimetres: the thigh is 30-55 units long
    names, *_ , P = read_bvh(tmp_path / "two.bvh")
    thigh = np.linalg.norm(P[:, names.index("LeftLeg")] - P[:, names.index("LeftUpLeg")], axis=1)
    assert 30 < thigh.mean() < 55


def test_bad_input(tmp_path):
    img = np.zeros((10, 10, 3), np.uint8)
    no_world = Poses(np.zeros((1, 33, 2)), np.ones((1, 33)), B)
    with pytest.raises(OutputError, match="world landmarks"):
        BvhSink(tmp_path / "a.bvh").write(Frame(img), no_world)
    coco = Poses(np.zeros((1, 17, 2)), np.ones((1, 17)), COCO_17, world=np.zeros((1, 17, 3)))
    with pytest.raises(OutputError, match="blazepose"):
        TrcSink(tmp_path / "a.trc").write(Frame(img), coco)
    with pytest.raises(ValueError, match="units"):
        BvhSink(tmp_path / "a.bvh", units="inch")
    with pytest.raises(ValueError, match="field of view"):
        BvhSink(tmp_path / "a.bvh", hfov_deg=200)
    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    with pytest.raises(OutputError, match="overwrite"):
        C3dSink(src, inputs=[src])
    # nobody seen: nothing written, no error
    with BvhSink(tmp_path / "empty.bvh") as s:
        s.write(Frame(img), Poses.empty(B, with_world=True))
    assert s.written == [] and not (tmp_path / "empty.bvh").exists()
