"""Optical flow of landmarks (:class:`posekit.track.LandmarkFlow`): cost and accuracy.

On PETS09-S2L1 (``opencv-doc/vtest.avi``), BlazePose's landmark network runs on the GT boxes of
frames 0..N; the flow carries each person's landmarks of frame t-1 to frame t, and is compared
with the network's landmarks on frame t (median distance over the 33 landmarks, pixels; the
median over persons and frames is printed, and the same for landmarks left where they were).
Prints the milliseconds per person of ``LandmarkFlow.propagate`` (forward + backward
Lucas-Kanade on each person's region) and of the network.

    .venv/bin/python bench/bench_flow.py --frames 120

Measured 2026-11-22 on the 2-core x86 VM (120 frames, 562 persons): flow 0.7-1.1 ms per person
(15 px window, 3 levels), network 12-17 ms (the VM's speed varies); carried landmarks 1.63 px
from the network's on the next frame, 3.88 px when not moved; 98.9 % of the persons followed
(the others fail the forward-backward check and would go through the network).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit.eval.mot import read_mot
from posekit.io.sources import open_source
from posekit.models.blazepose import BlazePose
from posekit.track.flow import LandmarkFlow

DATA = (ROOT.parent / "shared" / "data").resolve()


@dataclass
class CarryErrors:
    """Per carried person (followed by the flow): ``moved`` / ``still`` median distance, px, of
    its carried / unmoved landmarks to the network's on the next frame; ``followed`` one bool
    per person given to the flow; ``flow_s`` / ``network_s`` seconds per person, per frame."""

    moved: list[float] = field(default_factory=list)
    still: list[float] = field(default_factory=list)
    followed: list[bool] = field(default_factory=list)
    flow_s: list[float] = field(default_factory=list)
    network_s: list[float] = field(default_factory=list)


def carry_errors(video: Path, gt_path: Path, frames: int, model,
                 flow: LandmarkFlow | None = None) -> CarryErrors:
    """BlazePose landmarks (``model(frame, boxes=boxes)``) on the GT boxes (MOT rows, conf > 0)
    of the first ``frames`` frames of ``video`` (GT frame N = video frame N-1); each person's
    landmarks of frame t-1 carried to frame t by ``flow`` and compared, per GT ID, with the
    network's on frame t."""
    gt = read_mot(gt_path)
    gt = gt[gt[:, 6] > 0]
    flow = flow or LandmarkFlow()
    out = CarryErrors()
    prev = None
    src = open_source(video)
    try:
        for f in src:
            if f.index >= frames:
                break
            g = gt[gt[:, 0] == f.index + 1]
            boxes = np.hstack([g[:, 2:4], g[:, 2:4] + g[:, 4:6]])
            t0 = time.perf_counter()
            p = model(f, boxes=boxes)
            out.network_s.append((time.perf_counter() - t0) / max(len(boxes), 1))
            ids = g[p.extras["box_index"], 1]
            flow.set_frame(f.image)
            if prev is not None and len(prev[0]):
                kp0, ids0 = prev
                t0 = time.perf_counter()
                moved, ok = flow.propagate(kp0)
                out.flow_s.append((time.perf_counter() - t0) / len(kp0))
                out.followed.extend(ok.tolist())
                for i, tid in enumerate(ids0):
                    j = np.flatnonzero(ids == tid)
                    if len(j) and ok[i]:
                        net = p.keypoints[j[0]]
                        out.moved.append(float(np.median(np.linalg.norm(moved[i] - net,
                                                                        axis=1))))
                        out.still.append(float(np.median(np.linalg.norm(kp0[i] - net,
                                                                        axis=1))))
            prev = (p.keypoints.copy(), ids)
    finally:
        src.close()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    model = BlazePose(mode="image", num_threads=args.threads)
    e = carry_errors(DATA / "opencv-doc" / "vtest.avi", DATA / "pets09-s2l1" / "gt" / "gt.txt",
                     args.frames, model)
    print(f"{len(e.followed)} persons carried over {args.frames} frames: "
          f"followed {100 * np.mean(e.followed):.1f} %")
    print(f"flow {1000 * np.median(e.flow_s):.2f} ms/person, network "
          f"{1000 * np.median(e.network_s):.2f} ms/person")
    print(f"distance to the network's landmarks on the next frame (median, px): carried "
          f"{np.median(e.moved):.2f}, not moved {np.median(e.still):.2f}")


if __name__ == "__main__":
    main()
