"""The poses of ``body3d_demo.mp4`` (one person walking in a motion-capture studio, 50 fps),
shared by the motion-capture tests: BlazePose (native, video mode) with the
:class:`~posekit.track.Tracker`, run once and cached as ``.npz`` in
``posekit.models.assets.cache_dir() / "test-poses"``, keyed by the clip's hash, the model and
tracker source files and the weights, so the model runs on the clip only the first time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posekit.skeletons import BLAZEPOSE_33
from posekit.types import Frame, Poses

from ..conftest import DATA

CLIP = "mmpose/demo/resources/body3d_demo.mp4"
#: Horizontal field of view of the Human3.6M cameras (focal length about 1145 px for a
#: 1000 px wide image), the studio the clip comes from.
H36M_HFOV_DEG = 47.2
_SOURCES = ("posekit/models/blazepose.py", "posekit/models/blazepose_ops.py",
            "posekit/track/tracker.py")
_MEMO: dict = {}


@dataclass
class ClipPoses:
    """``fps``, ``size_wh`` (pixels), and per decoded frame its ``index``, ``time_s`` and
    :class:`Poses` (BlazePose-33 with world landmarks and track IDs)."""

    fps: float
    size_wh: tuple[int, int]
    indices: np.ndarray
    times: np.ndarray
    poses: list

    def frames(self):
        """``(Frame, Poses)`` pairs, the frames sharing one black image of the clip's size."""
        img = np.zeros((self.size_wh[1], self.size_wh[0], 3), np.uint8)
        for i, t, p in zip(self.indices, self.times, self.poses):
            yield Frame(img, int(i), float(t)), p


def _key(clip: Path) -> str:
    from posekit.models.assets import blazepose_files

    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha1(clip.read_bytes())
    for rel in _SOURCES:
        f = root / rel
        h.update(f.read_bytes() if f.is_file() else rel.encode())
    files = blazepose_files()
    for f in (files.detector, files.landmark):
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def body3d_poses() -> ClipPoses:
    """The clip's poses (from the cache, or the model). Raises FileNotFoundError where the
    clip is absent (callers skip)."""
    if "clip" in _MEMO:
        return _MEMO["clip"]
    clip = DATA / CLIP
    if not clip.is_file():
        raise FileNotFoundError(clip)
    from posekit.models.assets import cache_dir

    f = cache_dir() / "test-poses" / f"body3d_demo-mocap-{_key(clip)}.npz"
    if not f.is_file():
        import posekit
        from posekit.track import Tracker

        src = posekit.open_source(str(clip))
        fps, size = src.info.fps, src.info.size_wh
        model = posekit.load_model("blazepose", mode="video")
        rows = []
        results = posekit.frames(src, model, stages=[Tracker()])
        try:
            for r in results:
                rows.append((r.frame.index, r.frame.time_s, r.poses))
        finally:
            results.close()
            model.close()
        n = max([len(p) for *_, p in rows] + [1])
        T = len(rows)
        kp = np.full((T, n, 33, 2), np.nan, np.float32)
        sc = np.zeros((T, n, 33), np.float32)
        wd = np.full((T, n, 33, 3), np.nan, np.float32)
        ids = np.full((T, n), -2, np.int64)                     # -2: empty slot
        for i, (_, _, p) in enumerate(rows):
            m = len(p)
            kp[i, :m], sc[i, :m], wd[i, :m] = p.keypoints, p.scores, p.world
            ids[i, :m] = p.track_ids
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, keypoints=kp, scores=sc, world=wd, track_ids=ids,
                            indices=np.array([r[0] for r in rows], np.int64),
                            times=np.array([r[1] for r in rows]), fps=np.float64(fps),
                            size_wh=np.array(size, np.int64))
        tmp.replace(f)
    with np.load(f, allow_pickle=False) as z:
        poses = [Poses(k[m], s[m], BLAZEPOSE_33, world=w[m], track_ids=i[m])
                 for k, s, w, i in zip(z["keypoints"], z["scores"], z["world"], z["track_ids"])
                 for m in [i > -2]]
        cp = ClipPoses(float(z["fps"]), tuple(int(v) for v in z["size_wh"]), z["indices"],
                       z["times"], poses)
    _MEMO["clip"] = cp
    return cp


def track_arrays(cp: ClipPoses, track_id: int | None = None):
    """``(frames, world, keypoints, scores)`` of one track ((T,), (T, 33, 3), (T, 33, 2),
    (T, 33)); the track seen on most frames when ``track_id`` is None."""
    if track_id is None:
        ids = np.concatenate([p.track_ids for p in cp.poses])
        vals, counts = np.unique(ids, return_counts=True)
        track_id = int(vals[np.argmax(counts)])
    fr, w, k, s = [], [], [], []
    for i, p in zip(cp.indices, cp.poses):
        sel = np.flatnonzero(p.track_ids == track_id)
        if len(sel):
            fr.append(i), w.append(p.world[sel[0]]), k.append(p.keypoints[sel[0]])
            s.append(p.scores[sel[0]])
    return np.array(fr), np.stack(w), np.stack(k), np.stack(s)
