"""Motion-capture sinks: BVH (animation), TRC and C3D (biomechanics, OpenSim) and a CSV of
clinical joint angles, from tracked 3D world landmarks.

Each sink is a context manager with ``write(frame, poses, image)`` and ``close()``, like the
sinks of :mod:`posekit.io.sinks`. It buffers every track's BlazePose-33 world landmarks
(``poses.world``, metres, hip-centred), image keypoints and visibility, and writes its files on
``close()``, when the whole clip is known: bone lengths are estimated over the clip (see
:mod:`posekit.analysis.kinematics` for the skeleton fit, its sources and its frames). Poses
without a track ID (``poses.track_ids`` None) count as tracks 0..N-1 by their order.

Files per track: the track seen on the most frames goes to the given path, every other track
seen on at least ``min_frames`` frames beside it as ``<stem>.track<ID><suffix>``
(``out.bvh``, ``out.track7.bvh``); :attr:`MocapSink.written` lists what was written. A run with
no person writes nothing (and logs a warning). The CSV of angles holds every track in one file.

All files use the body frame of :mod:`posekit.analysis.kinematics`: **Y up**, X to the right
of the image, Z towards the camera. Each file covers its track's frames from first to last at
the source's frame rate.

**Root motion**: with ``root_motion=True`` (default), the hips follow the person's path in the
camera, found per frame by placing the fitted skeleton (constant bones, so its metric size
fixes the depth) on the image keypoints through a pinhole camera with the horizontal field of
view ``hfov_deg`` (default :data:`DEFAULT_HFOV_DEG`; state the real one where known) and the
principal point at the image centre (:func:`posekit.analysis.kinematics.root_path`). The path
starts at X = Z = 0; Y = 0 is the height of the ankles of the straight rest pose, the hips
move vertically around that height plus the leg length. With ``root_motion=False`` the hips
stay at (0, leg length, 0).

Formats:

- **BVH** (:class:`BvhSink`): hierarchy ``Hips`` (6 channels: X/Y/Z position, then Z, X, Y
  rotation) with ``Spine``, ``Neck``, ``Head``, ``LeftShoulder``, ``LeftArm``, ``LeftForeArm``,
  ``LeftHand``, ``LeftUpLeg``, ``LeftLeg``, ``LeftFoot`` and the right side (3 channels each:
  Zrotation Xrotation Yrotation, i.e. ``R = Rz Rx Ry``), rest pose a T-pose; lengths in metres
  (``units="m"``, default) or centimetres (``units="cm"``); ``Frame Time`` = 1 / source fps.
  BVH has no field for units: they are stated here and in ``docs/mocap.md``. Frames of the
  span where the track was not seen are interpolated (SLERP), since BVH has no gaps.
- **TRC** (:class:`TrcSink`): OpenSim's tab-separated marker file, millimetres (``Units mm`` in
  the header), ``DataRate`` the source fps; the markers of :data:`MARKER_SETS`; a frame where the
  track was not seen (or a landmark scored below ``min_visibility``) leaves blank cells, which
  OpenSim 4 reads as NaN (opensim-core pull request 2187).
- **C3D** (:class:`C3dSink`), written with ``ezc3d`` (see ``docs/mocap.md`` for why ezc3d
  rather than ``c3d``): the same markers, ``POINT:UNITS`` ``mm``, ``POINT:RATE`` the source
  fps, gaps as invalid points (residual -1, read back as NaN).
- **Angles CSV** (:class:`JointAnglesCsvSink`): ``frame,time_s,track_id,<angle>...`` with the
  clinical angles of :data:`posekit.analysis.kinematics.ANGLE_NAMES` in degrees, one row per
  track and frame where the track was seen, blank where undefined.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..analysis import kinematics as kin
from ..errors import OutputError
from ..skeletons import BLAZEPOSE_33
from ..types import Frame, Poses
from .sinks import Sink, check_output_path, write_error

log = logging.getLogger(__name__)

#: Default horizontal field of view for root motion, degrees (a typical webcam or phone
#: camera in landscape lies between about 55 and 75).
DEFAULT_HFOV_DEG = 60.0

#: TRC/C3D marker sets: set name -> {marker name: the BlazePose landmarks whose mean it is}.
#:
#: - ``"blazepose"`` (default): the 33 BlazePose landmark names, as in Pose2Sim's
#:   ``Markers_Blazepose.xml`` (its OpenSim set-up for BlazePose: ``Model_Pose2Sim_simple.osim``
#:   or its other models with ``Scaling_Setup_Pose2Sim_Blazepose.xml`` and
#:   ``IK_Setup_Pose2Sim_Blazepose.xml``), plus ``mid_hip`` and ``mid_shoulder``.
#: - ``"halpe26"``: Pose2Sim's HALPE_26 names where a BlazePose landmark matches
#:   (``Markers_Halpe26.xml``): ``Hip`` (hip midpoint), ``Neck`` (shoulder midpoint), ``Nose``,
#:   ``LEye``, ``LEar``, ``LShoulder``, ``LElbow``, ``LWrist``, ``LHip``, ``LKnee``, ``LAnkle``,
#:   ``LHeel``, ``LBigToe`` (``left_foot_index``, the tip of the foot) and the right side;
#:   HALPE's ``Head`` (top of the head) and ``LSmallToe``/``RSmallToe`` have no BlazePose
#:   counterpart and are absent (OpenSim's IK skips markers a file lacks).
MARKER_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "blazepose": {**{n: (n,) for n in BLAZEPOSE_33.keypoints},
                  "mid_hip": ("left_hip", "right_hip"),
                  "mid_shoulder": ("left_shoulder", "right_shoulder")},
    "halpe26": {"Hip": ("left_hip", "right_hip"), "Neck": ("left_shoulder", "right_shoulder"),
                "Nose": ("nose",),
                **{f"{S}{part}": (f"{s}_{lm}",) for s, S in (("left", "L"), ("right", "R"))
                   for part, lm in (("Eye", "eye"), ("Ear", "ear"), ("Shoulder", "shoulder"),
                                    ("Elbow", "elbow"), ("Wrist", "wrist"), ("Hip", "hip"),
                                    ("Knee", "knee"), ("Ankle", "ankle"), ("Heel", "heel"),
                                    ("BigToe", "foot_index"))}},
}
#: The default marker set (``"blazepose"``) and its names in file order.
MARKERS = MARKER_SETS["blazepose"]
MARKER_NAMES: tuple[str, ...] = tuple(MARKERS)


@dataclass
class TrackData:
    """What a mocap sink buffered for one track (T frames where it was seen).

    Attributes:
        frames: (T,) int frame indices; times: (T,) seconds;
        world: (T, 33, 3) float32 metres, camera frame, hip-centred;
        keypoints: (T, 33, 2) float32 pixels; scores: (T, 33) float32 visibility;
        size_wh: the frame size in pixels.
    """

    track_id: int
    frames: np.ndarray
    times: np.ndarray
    world: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    size_wh: tuple[int, int]


@dataclass
class _Buffer:
    rows: dict = field(default_factory=dict)     # track id -> list of tuples
    size_wh: tuple[int, int] | None = None
    times: list = field(default_factory=list)

    def add(self, frame: Frame, poses: Poses) -> None:
        h, w = frame.shape_hw
        self.size_wh = (w, h)
        self.times.append(float(frame.time_s))
        if len(poses) == 0:
            return
        if poses.skeleton != BLAZEPOSE_33:
            raise OutputError(f"motion capture export needs {BLAZEPOSE_33.name} landmarks, got "
                              f"{poses.skeleton.name}")
        if poses.world is None:
            raise OutputError("motion capture export needs 3D world landmarks (poses.world); "
                              "this model gives none (use a BlazePose model)")
        ids = (poses.track_ids if poses.track_ids is not None
               else np.arange(len(poses), dtype=np.int64))
        for i, tid in enumerate(ids):
            if tid < 0 or not np.isfinite(poses.world[i]).all():
                continue                      # coasting/carried persons without landmarks
            lst = self.rows.setdefault(int(tid), [])
            if lst and lst[-1][0] == frame.index:
                continue                      # one row per track and frame
            lst.append((frame.index, float(frame.time_s), poses.world[i], poses.keypoints[i],
                        poses.scores[i]))

    def tracks(self) -> list[TrackData]:
        """Buffered tracks, the one seen on most frames first (ties: lower ID first)."""
        out = []
        for tid, rows in self.rows.items():
            fr, t, w, k, s = zip(*rows)
            out.append(TrackData(tid, np.array(fr, np.int64), np.array(t), np.stack(w),
                                 np.stack(k), np.stack(s), self.size_wh or (0, 0)))
        out.sort(key=lambda d: (-len(d.frames), d.track_id))
        return out


class MocapSink(Sink):
    """Base of the motion-capture sinks: buffering, per-track files, the skeleton fit.

    Args:
        path: output file; other tracks go beside it (see the module doc).
        fps: the source's frame rate (frames per second); <= 0: estimated from the frames'
            ``time_s`` (30 when that fails).
        size_wh: the source's frame size (pixels), for information; the frames' own size is
            used for root motion.
        source: the source's name, for information.
        inputs: input paths the outputs must not overwrite.
        root_motion: estimate the hips' path from the image (see the module doc); False keeps
            the hips fixed.
        hfov_deg: horizontal field of view of the camera, degrees, for root motion.
        fit: :class:`posekit.analysis.kinematics.FitConfig` (bone lengths, smoothing).
        min_frames: tracks seen on fewer frames get no file (the longest track always does).

    Raises:
        OutputError: the path cannot be written; ``write`` gets poses without world
            landmarks or of another skeleton than BlazePose-33.
        ValueError: a setting is out of range.
    """

    suffix = ""

    def __init__(self, path, *, fps: float = 0.0, size_wh=None, source: str = "", inputs=(),
                 root_motion: bool = True, hfov_deg: float = DEFAULT_HFOV_DEG,
                 fit: kin.FitConfig | None = None, min_frames: int = 10):
        kin.focal_px(100, hfov_deg)                    # validates the field of view
        if min_frames < 1:
            raise ValueError(f"min_frames must be >= 1, got {min_frames}")
        self.path = check_output_path(path, inputs)
        self._inputs = tuple(inputs)
        self.fps = float(fps or 0.0)
        self.size_wh = tuple(size_wh) if size_wh else None
        self.source = source
        self.root_motion = root_motion
        self.hfov_deg = float(hfov_deg)
        self.fit = fit or kin.FitConfig()
        self.min_frames = min_frames
        self.written: list[Path] = []
        self._buf = _Buffer()
        self._closed = False

    def write(self, frame: Frame, poses: Poses, image=None) -> None:
        self._buf.add(frame, poses)

    # -- helpers --------------------------------------------------------------------------
    def rate(self) -> float:
        """The frame rate used: the given fps, else the median frame interval's inverse."""
        if self.fps > 0:
            return self.fps
        dt = np.diff(np.asarray(self._buf.times))
        dt = dt[dt > 0]
        return float(1.0 / np.median(dt)) if len(dt) else 30.0

    def track_path(self, track_id: int, first: bool) -> Path:
        """The file of a track: the sink's path for the longest, else
        ``<stem>.track<ID><suffix>`` beside it."""
        if first:
            return self.path
        p = self.path.with_name(f"{self.path.stem}.track{track_id}{self.path.suffix}")
        return check_output_path(p, self._inputs)

    def motion(self, td: TrackData) -> kin.SkeletonMotion:
        """The fitted skeleton of a track with its root set (root motion or fixed hips)."""
        m = kin.fit_skeleton(td.world, td.scores, td.frames, fps=self.rate(), config=self.fit)
        h0 = m.lengths["left_thigh"] + m.lengths["left_shank"]
        h0 = 0.5 * (h0 + m.lengths["right_thigh"] + m.lengths["right_shank"])
        root = np.tile([0.0, h0, 0.0], (len(m), 1))
        if self.root_motion:
            kp = np.full((len(m), 33, 2), np.nan)
            sc = np.zeros((len(m), 33))
            kp[td.frames - m.frames[0]] = td.keypoints
            sc[td.frames - m.frames[0]] = td.scores
            path = kin.root_path(m, kp, sc, td.size_wh, self.hfov_deg)
            if np.isfinite(path).all():
                path = path - path[0]
                path[:, 1] += h0 - np.median(path[:, 1])
                root = path
                if self.fit.smooth_s > 0:
                    from scipy.ndimage import gaussian_filter1d
                    root = gaussian_filter1d(root, self.fit.smooth_s * self.rate(), axis=0,
                                             mode="nearest")
            else:
                log.warning("track %d: no frame could be placed in the camera; fixed root",
                            td.track_id)
        m.root = root
        return m

    def markers(self, td: TrackData, m: kin.SkeletonMotion, min_visibility: float = 0.0,
                marker_set: str = "blazepose") -> np.ndarray:
        """(T, M, 3) marker positions (``MARKER_SETS[marker_set]``), metres, body frame, over
        the motion's span: the landmarks relative to the hip midpoint plus the root; NaN where
        the track was not seen or a landmark scored below ``min_visibility``."""
        idx = [[BLAZEPOSE_33.index(n) for n in v] for v in MARKER_SETS[marker_set].values()]
        w = kin.to_body(td.world)                                    # (n, 33, 3)
        mid = 0.5 * (w[:, BLAZEPOSE_33.index("left_hip")] + w[:, BLAZEPOSE_33.index("right_hip")])
        mk = np.stack([w[:, ix].mean(1) for ix in idx], 1) - mid[:, None]
        vis = np.stack([td.scores[:, ix].min(1) for ix in idx], 1)
        mk[vis < min_visibility] = np.nan
        out = np.full((len(m), len(idx), 3), np.nan)
        rows = td.frames - m.frames[0]
        out[rows] = mk + m.root[rows, None, :]
        return out

    def times(self, m: kin.SkeletonMotion) -> np.ndarray:
        """(T,) seconds of the motion's frames: ``frame index / fps``."""
        return m.frames / self.rate()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tracks = self._buf.tracks()
        if not tracks:
            log.warning("%s: no person with world landmarks was seen; nothing written",
                        self.path)
            return
        self._write_tracks(tracks)

    def _write_tracks(self, tracks: list[TrackData]) -> None:
        for k, td in enumerate(tracks):
            if k and len(td.frames) < self.min_frames:
                continue
            path = self.track_path(td.track_id, k == 0)
            self._write_one(path, td, self.motion(td))
            self.written.append(path)

    def _write_one(self, path: Path, td: TrackData, m: kin.SkeletonMotion) -> None:
        raise NotImplementedError  # pragma: no cover


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(e, path) from None


class BvhSink(MocapSink):
    """BVH motion of each track (see the module doc; ``units`` ``"m"`` or ``"cm"``).

    Raises:
        ValueError: unknown ``units``.
    """

    suffix = ".bvh"

    def __init__(self, path, *, units: str = "m", **kw):
        if units not in ("m", "cm"):
            raise ValueError(f"BvhSink units: expected one of m, cm, got {units!r}")
        super().__init__(path, **kw)
        self.units = units

    def _write_one(self, path: Path, td: TrackData, m: kin.SkeletonMotion) -> None:
        _atomic_text(path, bvh_text(m, 1.0 / self.rate(), 100.0 if self.units == "cm" else 1.0))


def bvh_text(m: kin.SkeletonMotion, frame_time_s: float, scale: float = 1.0) -> str:
    """The BVH file of a fitted skeleton (hierarchy of :data:`kinematics.JOINTS`, rest T-pose,
    Euler angles Z-X-Y in degrees, lengths in metres times ``scale``)."""
    children: dict[int, list[int]] = {}
    for j, pj in enumerate(kin.PARENTS):
        children.setdefault(pj, []).append(j)
    lines = ["HIERARCHY"]
    order: list[int] = []
    fmt = lambda v: " ".join(f"{round(x * scale, 6) + 0.0:.6f}" for x in v)  # noqa: E731

    def emit(j: int, depth: int) -> None:
        ind = "\t" * depth
        name = kin.JOINT_NAMES[j]
        lines.append(f"{ind}{'ROOT' if kin.PARENTS[j] < 0 else 'JOINT'} {name}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}\tOFFSET {fmt(m.offsets[j])}")
        if kin.PARENTS[j] < 0:
            lines.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation "
                         "Yrotation")
        else:
            lines.append(f"{ind}\tCHANNELS 3 Zrotation Xrotation Yrotation")
        order.append(j)
        for c in children.get(j, []):
            emit(c, depth + 1)
        if name in m.end_offsets:
            lines.extend([f"{ind}\tEnd Site", f"{ind}\t{{",
                          f"{ind}\t\tOFFSET {fmt(m.end_offsets[name])}", f"{ind}\t}}"])
        lines.append(f"{ind}}}")

    emit(children[-1][0], 0)
    L = m.local_rotations()                                      # (T, J, 3, 3)
    T, J = L.shape[:2]
    eul = Rotation.from_matrix(L.reshape(-1, 3, 3)).as_euler("ZXY", degrees=True)
    eul = eul.reshape(T, J, 3)[:, order]
    vals = np.concatenate([m.root * scale, eul.reshape(T, -1)], axis=1)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {frame_time_s:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in vals]
    return "\n".join(lines) + "\n"


class _MarkerSink(MocapSink):
    """Base of the marker-file sinks.

    Args:
        marker_set: a key of :data:`MARKER_SETS`.
        min_visibility: landmarks scored below this are left blank (0 keeps every estimate;
            BlazePose also estimates hidden landmarks).

    Raises:
        ValueError: unknown marker set.
    """

    def __init__(self, path, *, marker_set: str = "blazepose", min_visibility: float = 0.0,
                 **kw):
        if marker_set not in MARKER_SETS:
            raise ValueError(f"unknown marker set {marker_set!r}; expected one of "
                             f"{', '.join(MARKER_SETS)}")
        super().__init__(path, **kw)
        self.marker_set = marker_set
        self.marker_names: tuple[str, ...] = tuple(MARKER_SETS[marker_set])
        self.min_visibility = min_visibility


class TrcSink(_MarkerSink):
    """TRC marker file of each track, millimetres (see the module doc and :class:`_MarkerSink`
    for ``marker_set`` and ``min_visibility``)."""

    suffix = ".trc"

    def _write_one(self, path: Path, td: TrackData, m: kin.SkeletonMotion) -> None:
        mk = self.markers(td, m, self.min_visibility, self.marker_set) * 1000.0   # mm
        t = self.times(m)
        rate = self.rate()
        n, M = mk.shape[:2]
        head = [
            f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
            "OrigDataStartFrame\tOrigNumFrames",
            f"{rate:.6g}\t{rate:.6g}\t{n}\t{M}\tmm\t{rate:.6g}\t{int(m.frames[0]) + 1}\t{n}",
            "Frame#\tTime\t" + "\t".join(f"{name}\t\t" for name in self.marker_names),
            "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, M + 1)),
            "",
        ]
        body = []
        for i in range(n):
            cells = ["" if not math.isfinite(v) else f"{v:.3f}" for v in mk[i].ravel()]
            body.append(f"{i + 1}\t{t[i]:.6f}\t" + "\t".join(cells))
        _atomic_text(path, "\n".join(head + body) + "\n")


class C3dSink(_MarkerSink):
    """C3D marker file of each track, millimetres, written with ``ezc3d`` (see the module doc
    and :class:`_MarkerSink` for ``marker_set`` and ``min_visibility``)."""

    suffix = ".c3d"

    def _write_one(self, path: Path, td: TrackData, m: kin.SkeletonMotion) -> None:
        import ezc3d

        mk = self.markers(td, m, self.min_visibility, self.marker_set) * 1000.0  # (T, M, 3) mm
        c = ezc3d.c3d()
        c["parameters"]["POINT"]["RATE"]["value"] = [self.rate()]
        c["parameters"]["POINT"]["LABELS"]["value"] = list(self.marker_names)
        c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
        pts = np.ones((4, mk.shape[1], mk.shape[0]))
        pts[:3] = np.transpose(mk, (2, 1, 0))
        c["data"]["points"] = pts
        c.add_parameter("POINT", "X_SCREEN", ["+X"])
        c.add_parameter("POINT", "Y_SCREEN", ["+Y"])
        c.add_parameter("POINT", "DESCRIPTIONS",
                        [" + ".join(v) for v in MARKER_SETS[self.marker_set].values()])
        tmp = path.with_name(path.name + ".tmp.c3d")
        try:
            c.write(str(tmp))
            os.replace(tmp, path)
        except (OSError, RuntimeError) as e:
            raise write_error(e, path) from None


class JointAnglesCsvSink(MocapSink):
    """Clinical joint angles (degrees) of every track in one CSV (see the module doc).

    Columns: ``frame,time_s,track_id`` then :data:`kinematics.ANGLE_NAMES`; rows by frame,
    then track ID; ``time_s`` is the frame's own time.
    """

    suffix = ".csv"
    HEADER = ["frame", "time_s", "track_id", *kin.ANGLE_NAMES]

    def __init__(self, path, **kw):
        kw.setdefault("root_motion", False)
        super().__init__(path, **kw)

    def _write_tracks(self, tracks: list[TrackData]) -> None:
        rows = []
        for td in tracks:
            m = kin.fit_skeleton(td.world, td.scores, td.frames, fps=self.rate(),
                                 config=self.fit)
            ang = kin.clinical_angles(m)
            at = td.frames - m.frames[0]
            for r, (f, t) in zip(at, zip(td.frames, td.times)):
                rows.append((int(f), td.track_id, float(t), [ang[n][r] for n in kin.ANGLE_NAMES]))
        rows.sort(key=lambda r: (r[0], r[1]))
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                w.writerow(self.HEADER)
                for fr, tid, t, vals in rows:
                    w.writerow([fr, f"{t:.6f}", tid] +
                               ["" if not math.isfinite(v) else f"{v:.2f}" for v in vals])
            os.replace(tmp, self.path)
        except OSError as e:
            raise write_error(e, self.path) from None
        self.written.append(self.path)
