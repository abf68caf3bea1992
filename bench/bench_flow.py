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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit.eval.mot import read_mot
from posekit.io.sources import open_source
from posekit.models.blazepose import BlazePose
from posekit.track.flow import LandmarkFlow

DATA = (ROOT.parent / "shared" / "data").resolve()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    gt = read_mot(DATA / "pets09-s2l1" / "gt" / "gt.txt")
    gt = gt[gt[:, 6] > 0]
    model = BlazePose(mode="image", num_threads=args.threads)
    flow = LandmarkFlow()
    src = open_source(DATA / "opencv-doc" / "vtest.avi")
    prev = None
    moved_err, still_err, t_flow, t_net, ok_all = [], [], [], [], []
    for f in src:
        if f.index >= args.frames:
            break
        g = gt[gt[:, 0] == f.index + 1]
        boxes = np.hstack([g[:, 2:4], g[:, 2:4] + g[:, 4:6]])
        t0 = time.perf_counter()
        p = model(f, rois=boxes)
        t_net.append((time.perf_counter() - t0) / max(len(boxes), 1))
        ids = g[p.extras["box_index"], 1]
        flow.set_frame(f.image)
        if prev is not None and len(prev[0]):
            kp0, ids0 = prev
            t0 = time.perf_counter()
            moved, ok = flow.propagate(kp0)
            t_flow.append((time.perf_counter() - t0) / len(kp0))
            ok_all.extend(ok.tolist())
            for i, tid in enumerate(ids0):
                j = np.flatnonzero(ids == tid)
                if len(j) and ok[i]:
                    net = p.keypoints[j[0]]
                    moved_err.append(np.median(np.linalg.norm(moved[i] - net, axis=1)))
                    still_err.append(np.median(np.linalg.norm(kp0[i] - net, axis=1)))
        prev = (p.keypoints.copy(), ids)
    src.close()
    print(f"{len(ok_all)} persons carried over {args.frames} frames: "
          f"followed {100 * np.mean(ok_all):.1f} %")
    print(f"flow {1000 * np.median(t_flow):.2f} ms/person, network "
          f"{1000 * np.median(t_net):.2f} ms/person")
    print(f"distance to the network's landmarks on the next frame (median, px): carried "
          f"{np.median(moved_err):.2f}, not moved {np.median(still_err):.2f}")


if __name__ == "__main__":
    main()
