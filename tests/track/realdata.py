"""Cached model runs on real clips, shared by the tracking, smoothing and MOT tests.

Each run happens once per test session (``functools.lru_cache``) and skips the calling test when
the shared data folder is absent.
"""

from __future__ import annotations

import configparser
import functools
from dataclasses import dataclass

import numpy as np

from posekit.types import Frame, Poses
from tests.conftest import data_path


@dataclass
class TrackedClip:
    """Per frame: the frame's time (s), the poses given to the tracker and its output."""

    times: list[float]
    found: list[Poses]
    tracked: list[Poses]
    first: int                    # index of the first frame in the video (0-based)
    gt: np.ndarray                # MOT GT rows of these frames, frames renumbered from 1


SEQUENCES = {
    "pets09-s2l1": ("opencv-doc/vtest.avi", "pets09-s2l1"),
    "tud-campus": ("tud-campus/img1", "tud-campus"),
}


def _frames(name: str, first: int, count: int):
    from posekit.io.sources import open_source

    media, folder = SEQUENCES[name]
    ini = configparser.ConfigParser()
    ini.read(data_path(folder) / "seqinfo.ini")
    fps = float(ini["Sequence"]["frameRate"])
    src = open_source(data_path(media))
    try:
        for f in src:
            if f.index >= first + count:
                break
            if f.index >= first:
                yield Frame(f.image, f.index, f.index / fps, f.source)
    finally:
        src.close()


@functools.cache
def tracked_clip(name: str, first: int, count: int, detect_every: int = 5,
                 detector: str = "blazepose", landmark_every: int = 1) -> TrackedClip:
    """BlazePose (native) + :class:`TopDownTracker` on ``count`` frames; new persons from
    BlazePose's tiled detector, or with ``detector="yolo"`` from YOLO11n-pose person boxes at
    1280 px (score 0.1), as ``posekit run --detector yolo``; ``landmark_every`` as
    ``--landmark-every`` (landmarks carried by optical flow between network runs)."""
    from posekit.eval.mot import read_mot
    from posekit.models.blazepose import BlazePose, TileConfig
    from posekit.track import TopDownTracker, Tracker

    data_path(SEQUENCES[name][0])
    model = BlazePose(mode="image", max_people=20, min_score=0.3, min_presence=0.5,
                      box_scale=1.4, tiles=TileConfig(size=224, overlap=0.25))
    if detector == "yolo":
        from posekit.models.yolo import person_detector

        stage = TopDownTracker(model, Tracker(), detect_every=detect_every,
                               detector=person_detector(), landmark_every=landmark_every)
    else:
        stage = TopDownTracker(model, Tracker(), detect_every=detect_every,
                               landmark_every=landmark_every)
    times, found, tracked = [], [], []
    for f in _frames(name, first, count):
        tracked.append(stage(f))
        found.append(stage.last_poses)
        times.append(f.time_s)
    gt = read_mot(data_path(SEQUENCES[name][1]) / "gt" / "gt.txt")
    gt = gt[(gt[:, 0] > first) & (gt[:, 0] <= first + count)]
    gt[:, 0] -= first
    return TrackedClip(times, found, tracked, first, gt)


@functools.cache
def single_person_keypoints(rel: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose (native, video mode) on the first ``count`` frames of a one-person clip:
    keypoints (T, 33, 2) pixels (NaN where nobody was found) and times (T,) seconds."""
    from posekit.io.sources import open_source
    from posekit.models.blazepose import BlazePose

    model = BlazePose(mode="video", max_people=1)
    kps, times = [], []
    src = open_source(data_path(rel))
    try:
        for f in src:
            if f.index >= count:
                break
            p = model(f)
            kps.append(p.keypoints[0] if len(p) else np.full((33, 2), np.nan, np.float32))
            times.append(f.time_s)
    finally:
        src.close()
    return np.array(kps), np.array(times)
