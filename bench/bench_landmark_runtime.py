"""Speed and agreement of the landmark network's runtimes: LiteRT against OpenVINO.

The native ``blazepose`` backend runs the landmark network on LiteRT (XNNPACK) or on OpenVINO
(``BlazePose(runtime=...)``; OpenVINO in float32 with the segmentation head cut from the graph
unless ``mask=True``). This script gives all of them the same persons: the ground-truth boxes
of PETS09-S2L1 (``../shared/data/pets09-s2l1``, every 5th frame), through
``model(frame, boxes=boxes)``, the runtimes taking turns frame by frame so that other load on the
machine falls on all alike. Printed: the landmark network's time per person (``infer`` of
``last_timings``, median over frames, divided by the persons of the frame) and the whole call's
time per person, and, against LiteRT, the median and maximum distance of the 33 landmarks in
pixels of the frame and of the world coordinates in millimetres.

Usage::

    python bench/bench_landmark_runtime.py [--frames 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_mot import DATA, frames_of
from posekit.eval.mot import read_mot
from posekit.models.blazepose import BlazePose


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300, help="first N frames (every 5th used)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    gt_file = DATA / "pets09-s2l1" / "gt" / "gt.txt"
    if not gt_file.exists():
        sys.exit(f"no PETS09-S2L1 ground truth at {gt_file}")
    gt = read_mot(gt_file)
    gt = gt[gt[:, 6] > 0]
    models = {"litert": BlazePose(mode="image", runtime="litert", num_threads=args.threads),
              "openvino": BlazePose(mode="image", runtime="openvino", num_threads=args.threads),
              "openvino+mask": BlazePose(mode="image", runtime="openvino", mask=True,
                                         num_threads=args.threads)}
    infer = {k: [] for k in models}
    call = {k: [] for k in models}
    px = {k: [] for k in models if k != "litert"}
    mm = {k: [] for k in px}
    persons = 0
    for f in frames_of("pets09-s2l1", args.frames):
        if f.index % 5:
            continue
        g = gt[gt[:, 0] == f.index + 1]
        if not len(g):
            continue
        boxes = np.hstack([g[:, 2:4], g[:, 2:4] + g[:, 4:6]])
        out = {}
        for name, model in models.items():
            t0 = time.perf_counter()
            out[name] = model(f, boxes=boxes)
            call[name].append((time.perf_counter() - t0) / len(boxes))
            infer[name].append(model.last_timings["infer"] / len(boxes))
        persons += len(boxes)
        ref = out["litert"]
        for name in px:
            p = out[name]
            # the same boxes give the same persons, in the same order, unless a pose flag
            # falls on the other side of the threshold
            _, ia, ib = np.intersect1d(ref.extras["box_index"], p.extras["box_index"],
                                            return_indices=True)
            px[name].append(np.linalg.norm(ref.keypoints[ia] - p.keypoints[ib], axis=2).ravel())
            mm[name].append(1000 * np.linalg.norm(ref.world[ia] - p.world[ib], axis=2).ravel())
    print(f"{persons} persons on {len(call['litert'])} frames of PETS09-S2L1, "
          f"{args.threads} threads")
    print(f"{'runtime':14s} {'network ms/person':>18s} {'call ms/person':>15s} "
          f"{'px median/max':>15s} {'world mm median/max':>20s}")
    for name in models:
        d = (f"{np.median(np.concatenate(px[name])):7.4f}/{np.max(np.concatenate(px[name])):.3f}"
             if name in px else f"{'(reference)':>15s}")
        w = (f"{np.median(np.concatenate(mm[name])):9.4f}/{np.max(np.concatenate(mm[name])):.3f}"
             if name in mm else "")
        print(f"{name:14s} {1000 * np.median(infer[name]):18.2f} "
              f"{1000 * np.median(call[name]):15.2f} {d:>15s} {w:>20s}", flush=True)


if __name__ == "__main__":
    main()
