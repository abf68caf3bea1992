"""The analytics clips of ``../shared/data`` (ground truth from ``ANALYTICS.md``) and their poses.

Poses come from ``blazepose-mediapipe`` in video mode, run once per clip and cached as ``.npz``
in ``posekit.models.assets.cache_dir() / "test-poses"``, keyed by the clip's size and hash, the
frame stride and the model settings, so the test suite and ``bench/bench_analysis.py`` run the
model on a clip only the first time. High frame-rate clips are subsampled to about 15 fps
(``stride``); the analysis works in seconds, so that is also a check of frame-rate independence.

Ground-truth frame indices are 0-based decode order (``cv2.VideoCapture.read``), converted to
seconds with the clip's fps. Turning points are ``(frame, lo, hi)``: the plateau ANALYTICS.md
gives, or ±5 frames where it gives only "≈" (its stated tolerance); the tests widen each side by
the sampling step (``stride`` frames), since the analysis sees only every ``stride``-th frame.

Fall and non-fall clips go through :class:`posekit.track.Tracker` (people enter and leave, a
second person sits in Fall02-04, and a falling person often comes back as a new track, which the
:class:`~posekit.analysis.Analyzer` handles); exercise clips are single-person use with
``track_ids`` None. The model runs with ``min_score=0.3`` on the fall and non-fall clips (the
default 0.5 loses people while they fall and lie on the floor).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posekit.skeletons import BLAZEPOSE_33
from posekit.types import Poses, box_iou

log = logging.getLogger(__name__)

DATA = Path(os.environ.get("POSEKIT_TEST_DATA",
                          Path(__file__).resolve().parents[2].parent / "shared" / "data")
             ).resolve()
CACHE_VERSION = 1
TARGET_FPS = 15.0
TRACKER = "posekit"   # "posekit" (posekit.track.Tracker) or "iou" (the stand-in below)


def _pts(frames, tol=5):
    """``[(frame, lo, hi)]`` from plateau centres (±tol frames) or explicit (c, lo, hi)."""
    return [(f, f - tol, f + tol) if isinstance(f, int) else tuple(f) for f in frames]


@dataclass(frozen=True)
class RepClip:
    """An exercise clip: ``count`` complete repetitions (None: ambiguous, see ``allowed``)."""

    path: str
    exercise: str
    count: int | None
    extremes: list = field(default_factory=list)  # (frame, lo, hi) of each rep's turning point
    allowed: tuple = ()          # accepted counts where the count depends on the definition
    note: str = ""


REP_CLIPS = {
    "biceps": RepClip("Bicep-curl-counter/biceps.mp4", "curl", 5,
                      _pts([24, 78, 141, 201, 261]), note="tops (elbow most flexed)"),
    "push_up-test": RepClip("AI_sports_judge/push_up-test.mp4", "pushup", 4,
                            _pts([42, 115, 191, 269])),
    "perfect_pushup_2": RepClip("AI_sports_judge/perfect_pushup_2.mp4", "pushup", 4,
                                _pts([(120, 90, 150), (265, 235, 300), (390, 370, 410),
                                      (535, 510, 555)])),
    "push_up": RepClip("AI_sports_judge/push_up.mp4", "pushup", 5,
                       _pts([75, 150, 242, 334, 430])),
    "gym_squat": RepClip("GYM-Range-Of-Motion-CV/videos/squat.mp4", "squat", 7,
                         # each bottom held about 50 frames (60 fps): ±25 frames
                         _pts([48, 159, 270, 381, 492, 603, 715], tol=25)),
    "gym_curls": RepClip("GYM-Range-Of-Motion-CV/videos/bicep_curls.mp4", "curl", None,
                         allowed=(0, 1),
                         note="partial range: the arm comes down only to ~90 deg; a counter "
                              "that needs a straight arm counts 0-1"),
    "squat_analysis": RepClip("Squat-Analysis-Model/squat.mp4", "squat", 2,
                              _pts([(312, 300, 324), (516, 498, 528)])),
    "jumping_jacks": RepClip("medaipipe/Jumping Jacks.mp4", "jumping_jack", 5,
                             _pts([14, 44, 76, 106, 136]),
                             note="5 complete open->closed cycles; the 6th open never closes"),
    "situps": RepClip("medaipipe/situps.mp4", "situp", 6, _pts([40, 72, 106, 139, 176, 210]),
                      note="starts curled up: 6 complete lie->up->lie cycles"),
}


@dataclass(frozen=True)
class FallClip:
    path: str
    onset: int | None     # frame of fall onset (None: no fall in the clip)
    ground: int | None


FALL_CLIPS = {f"Fall{i:02d}": FallClip(f"fall-detector/videos/Fall{i:02d}.mp4", o, g)
              for i, o, g in [(1, 130, 146), (2, 112, 130), (3, 90, 108), (4, 178, 196),
                              (5, 154, 166), (6, 174, 190), (7, 252, 262), (8, 102, 114),
                              (9, 144, 160), (10, 172, 186)]}
NONFALL_CLIPS = {
    "sit": FallClip("FallDetection/sit.mp4", None, None),
    "walk": FallClip("FallDetection/walk.mp4", None, None),
    "stand": FallClip("Human-Activity-Recognition/stand.mp4", None, None),
    "wave": FallClip("Human-Activity-Recognition/wave.mp4", None, None),
}
# wave.mp4 (10 fps): one hand waving 0-~42, both hands above the head waving ~48-124.
WAVE_ONE_HAND_FRAMES = (0, 42)
WAVE_TWO_HAND_FRAMES = (48, 124)


def max_people_for(path: str) -> int:
    """Two people for the fall clips (a second person sits at the edge in Fall02-04)."""
    return 2 if path.startswith("fall-detector/") else 1


def tracked_for(path: str) -> bool:
    """Fall and non-fall clips go through the tracker (people enter, leave, fall, and spurious
    detections appear); the exercise clips are single-person use: ``track_ids`` None."""
    return any(path == c.path for c in (*FALL_CLIPS.values(), *NONFALL_CLIPS.values()))


def min_score_for(path: str) -> float:
    """0.3 for the fall and non-fall clips: the default 0.5 loses the person for many frames
    while falling and lying (Fall03, Fall04, Fall10), which a fall monitor cannot afford."""
    return 0.3 if any(path == c.path for c in (*FALL_CLIPS.values(), *NONFALL_CLIPS.values())) \
        else 0.5


@dataclass
class ClipPoses:
    """Per-frame poses of one clip (only the frames that went through the model)."""

    path: str
    fps: float
    n_frames: int
    stride: int
    indices: np.ndarray          # (T,) int frame indices (decode order)
    times: np.ndarray            # (T,) float seconds = index / fps
    poses: list                  # T x Poses (track_ids assigned by a simple IoU matcher)
    infer_s: float = 0.0         # seconds of model time when computed now (0 when cached)

    def frame_s(self, index: float) -> float:
        return float(index) / self.fps


def _file_key(p: Path) -> str:
    h = hashlib.sha1()
    with open(p, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:16]


def _run_model(p: Path, stride: int, max_people: int, min_score: float):
    import cv2

    import posekit
    from posekit.types import Frame

    model = posekit.load_model("blazepose-mediapipe", mode="video", max_people=max_people,
                               min_score=min_score)
    cap = cv2.VideoCapture(str(p))
    fps = cap.get(cv2.CAP_PROP_FPS)
    n = max_people
    kps, scs, wds, idx = [], [], [], []
    infer = 0.0
    i = 0
    try:
        while True:
            ok, im = cap.read()
            if not ok:
                break
            if i % stride == 0:
                t0 = time.perf_counter()
                ps = model(Frame(im, i, i / fps))
                infer += time.perf_counter() - t0
                kp = np.full((n, 33, 2), np.nan, np.float32)
                sc = np.zeros((n, 33), np.float32)
                wd = np.full((n, 33, 3), np.nan, np.float32)
                m = min(n, len(ps))
                kp[:m], sc[:m] = ps.keypoints[:m], ps.scores[:m]
                if ps.world is not None:
                    wd[:m] = ps.world[:m]
                kps.append(kp), scs.append(sc), wds.append(wd), idx.append(i)
            i += 1
    finally:
        cap.release()
        model.close()
    return {"keypoints": np.array(kps), "scores": np.array(scs), "world": np.array(wds),
            "indices": np.array(idx, np.int64), "fps": np.float64(fps),
            "n_frames": np.int64(i), "stride": np.int64(stride)}, infer


def _with_tracks(d: dict, times: np.ndarray, max_age_s: float = 1.0,
                 min_iou: float = 0.01) -> list:
    """Poses per frame with track IDs: greedy box-IoU matching to the tracks seen in the last
    ``max_age_s`` seconds (a lenient IoU, since a falling person's box changes shape). A
    stand-in for the package tracker, good enough for these one- and two-person clips."""
    out = []
    tracks: dict[int, tuple[float, np.ndarray]] = {}   # id -> (last time, box)
    next_id = 0
    for t, kp, sc, wd in zip(times, d["keypoints"], d["scores"], d["world"]):
        keep = np.isfinite(kp).all(axis=(1, 2))
        p = Poses(kp[keep], sc[keep], BLAZEPOSE_33, world=wd[keep])
        tracks = {k: v for k, v in tracks.items() if t - v[0] <= max_age_s}
        ids = np.full(len(p), -1, np.int64)
        cand = sorted(((float(box_iou(b, pb)[0, 0]), j, k) for j, b in enumerate(p.boxes)
                       for k, (_, pb) in tracks.items()), reverse=True)
        used = set()
        for iou, j, k in cand:
            if iou < min_iou or ids[j] >= 0 or k in used:
                continue
            ids[j] = k
            used.add(k)
        for j in range(len(p)):
            if ids[j] < 0:
                ids[j] = next_id
                next_id += 1
            tracks[int(ids[j])] = (float(t), p.boxes[j])
        out.append(p.replace(track_ids=ids))
    return out


def _with_tracker(d: dict, times: np.ndarray) -> list:
    """Poses per frame with IDs from :class:`posekit.track.Tracker` (default settings)."""
    from posekit.track import Tracker

    tracker = Tracker()
    out = []
    for t, kp, sc, wd in zip(times, d["keypoints"], d["scores"], d["world"]):
        keep = np.isfinite(kp).all(axis=(1, 2))
        p = Poses(kp[keep], sc[keep], BLAZEPOSE_33, world=wd[keep])
        out.append(tracker.update(p, float(t)))
    return out


_MEMO: dict = {}


def _clip_and_cache(path: str, cache: Path | None) -> tuple[Path, Path]:
    """The clip's file under the data folder and the pose cache folder (posekit's cache
    ``test-poses`` when None). Raises FileNotFoundError where the clip is absent."""
    p = DATA / path
    if not p.is_file():
        raise FileNotFoundError(p)
    if cache is None:
        from posekit.models.assets import cache_dir
        cache = cache_dir() / "test-poses"
    return p, cache


def clip_poses(path: str, cache: Path | None = None) -> ClipPoses:
    """Poses of the clip ``path`` (relative to the data folder), from the cache or the model.

    Raises:
        FileNotFoundError: the clip is absent (callers skip).
    """
    if path in _MEMO:
        return _MEMO[path]
    p, cache = _clip_and_cache(path, cache)
    import cv2

    cap = cv2.VideoCapture(str(p))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    stride = max(1, round(fps / TARGET_FPS))
    mp, ms = max_people_for(path), min_score_for(path)
    from posekit.models.assets import blazepose_task_bundle

    # The bundle's name carries its format version and the weights' hash.
    bundle = blazepose_task_bundle().stem.replace("pose_landmarker_full-", "")
    key = (f"{p.stem.replace(' ', '_')}-{_file_key(p)}-s{stride}-n{mp}-m{ms:g}"
           f"-b{bundle}-v{CACHE_VERSION}")
    f = cache / f"{key}.npz"
    infer = 0.0
    if f.is_file():
        with np.load(f, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    else:
        log.info("running the model on %s (stride %d)", path, stride)
        d, infer = _run_model(p, stride, mp, ms)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **d)
        tmp.replace(f)
    fps = float(d["fps"])
    times = d["indices"] / fps
    if not tracked_for(path):
        tracked = [Poses(kp[m], sc[m], BLAZEPOSE_33, world=wd[m]) for kp, sc, wd, m in
                   ((kp, sc, wd, np.isfinite(kp).all(axis=(1, 2)))
                    for kp, sc, wd in zip(d["keypoints"], d["scores"], d["world"]))]
    elif TRACKER == "posekit":
        tracked = _with_tracker(d, times)
    else:
        tracked = _with_tracks(d, times)
    cp = ClipPoses(path, fps, int(d["n_frames"]), int(d["stride"]), d["indices"], times,
                   tracked, infer)
    _MEMO[path] = cp
    return cp


#: Source files whose code shapes the poses of the ``posekit run`` path (see
#: :func:`cli_path_poses`); their hash is part of that cache key.
CLI_PATH_SOURCES = ("posekit/models/blazepose.py", "posekit/models/blazepose_ops.py",
                    "posekit/track/topdown.py", "posekit/track/tracker.py",
                    "posekit/track/smoother.py", "posekit/track/outline.py",
                    "posekit/track/appearance.py")


def _cli_pipeline():
    """The pipeline ``posekit run SOURCE --detector model --max-people 5 --min-score 0.5``
    builds for a video: the native ``blazepose`` in video mode (its own ROI tracking), a
    :class:`~posekit.track.Tracker` stage and the One Euro :class:`~posekit.track.Smoother`
    (:func:`posekit.pipeline.build`, the one builder)."""
    from posekit.config import ModelConfig, PipelineConfig, TrackConfig
    from posekit.pipeline import build

    return build(PipelineConfig(model=ModelConfig(name="blazepose", max_people=5,
                                                  min_score=0.5),
                                track=TrackConfig(enabled=True, detector="model")), "video")


def _cli_path_key() -> str:
    import inspect

    from posekit import pipeline
    from posekit.models.assets import blazepose_files

    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha1(inspect.getsource(pipeline._tracking).encode()
                     + inspect.getsource(_cli_pipeline).encode())
    for rel in CLI_PATH_SOURCES:
        f = root / rel
        h.update(f.read_bytes() if f.is_file() else rel.encode())
    files = blazepose_files()
    for f in (files.detector, files.landmark):      # the weights
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def cli_path_poses(path: str, max_frames: int | None = None, cache: Path | None = None
                   ) -> tuple[float, list]:
    """``(fps, [(time_s, Poses), ...])`` of every frame of the clip ``path`` as ``posekit run
    SOURCE --detector model --analyze ...`` produces them: the native ``blazepose`` model in
    video mode (``max_people=5``, ``min_score=0.5``) with a :class:`~posekit.track.Tracker`
    and the One Euro :class:`~posekit.track.Smoother` (:func:`_cli_pipeline`), through
    :func:`posekit.pipeline.frames`; only the first ``max_frames`` frames when given.

    Cached as ``.npz`` next to :func:`clip_poses`' files, keyed by the clip's hash and a hash of
    ``posekit.pipeline._tracking``'s source, the model and tracker source files
    (:data:`CLI_PATH_SOURCES`) and the weights, so a change to that code recomputes them
    (about 40 ms per frame on 2 cores).

    Raises:
        FileNotFoundError: the clip is absent (callers skip).
    """
    key = f"cli:{path}:{max_frames}"
    if key in _MEMO:
        return _MEMO[key]
    p, cache = _clip_and_cache(path, cache)
    f = cache / (f"{p.stem.replace(' ', '_')}-{_file_key(p)}-cli-{_cli_path_key()}"
                 f"-f{max_frames or 'all'}-v{CACHE_VERSION}.npz")
    if not f.is_file():
        from posekit.pipeline import frames

        log.info("running the posekit run path on %s", path)
        pipe = _cli_pipeline()
        model, stages = pipe.model, pipe.stages
        rows = []
        results = frames(str(p), model, stages=stages)
        try:
            for r in results:
                rows.append((r.frame.index, r.frame.time_s, r.poses))
                if max_frames and len(rows) >= max_frames:
                    break
        finally:
            results.close()            # stops the reader thread
            model.close()
        n = max([len(ps) for *_, ps in rows] + [1])
        T = len(rows)
        kp = np.full((T, n, 33, 2), np.nan, np.float32)
        sc = np.zeros((T, n, 33), np.float32)
        wd = np.full((T, n, 33, 3), np.nan, np.float32)
        ids = np.full((T, n), -2, np.int64)          # -2: no person in this slot
        for i, (_, _, ps) in enumerate(rows):
            m = len(ps)
            kp[i, :m], sc[i, :m] = ps.keypoints, ps.scores
            if ps.world is not None:
                wd[i, :m] = ps.world
            ids[i, :m] = ps.track_ids if ps.track_ids is not None else np.arange(m)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, keypoints=kp, scores=sc, world=wd, track_ids=ids,
                            indices=np.array([r[0] for r in rows], np.int64),
                            times=np.array([r[1] for r in rows], np.float64))
        tmp.replace(f)
    import cv2

    cap = cv2.VideoCapture(str(p))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    with np.load(f, allow_pickle=False) as z:
        seq = [(float(t), Poses(k[m], s[m], BLAZEPOSE_33, world=w[m], track_ids=i[m]))
               for t, k, s, w, i in zip(z["times"], z["keypoints"], z["scores"], z["world"],
                                        z["track_ids"])
               for m in [i > -2]]
    _MEMO[key] = (fps, seq)
    return fps, seq


def all_paths() -> list[str]:
    return ([c.path for c in REP_CLIPS.values()] + [c.path for c in FALL_CLIPS.values()]
            + [c.path for c in NONFALL_CLIPS.values()])


if __name__ == "__main__":  # populate the cache: python tests/analysis/clips.py
    logging.basicConfig(level=logging.INFO)
    for path in all_paths():
        t0 = time.perf_counter()
        cp = clip_poses(path)
        print(f"{path}: {len(cp.poses)} frames, {time.perf_counter() - t0:.1f} s", flush=True)
