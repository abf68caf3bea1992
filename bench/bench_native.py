"""Speed (and agreement) of the native ``blazepose`` backend against MediaPipe Tasks.

For each video, all frames are decoded first (OpenCV), then both models run in VIDEO mode over
the same frames, taking turns frame by frame so that other load on the machine falls on both
alike; only the model calls are timed (``time.perf_counter``), so the figures are inference
rates, not end-to-end rates. Printed per video: frames/s of the native backend and of
MediaPipe Tasks' PoseLandmarker (``load_model("blazepose-mediapipe")``), the CPU time per frame
(all threads), their ratios, persons per frame, the native backend's mean time per stage and
how often its detector ran, and the median landmark distance between the two on persons both
find (boxes matched by IoU > 0.5). The machine's load average is printed first: on a shared
machine the figures are only comparable within one run.

Usage::

    python bench/bench_native.py [--frames N] [--max-people 5] [--threads 2] [VIDEO ...]

Defaults: ``mmpose/demo/resources/body3d_demo.mp4`` (one person) and
``openpose/examples/media/video.avi`` (several people) from ``../shared/data``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

from posekit.models import load_model
from posekit.types import Frame, box_iou

DATA = Path(os.environ.get("POSEKIT_TEST_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data"))
VIDEOS = ["mmpose/demo/resources/body3d_demo.mp4", "openpose/examples/media/video.avi"]


def decode(path: Path, limit: int) -> tuple[list[Frame], float]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    try:
        while len(frames) < limit:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(Frame(img, len(frames), len(frames) / fps))
    finally:
        cap.release()
    return frames, fps


def run_interleaved(models: dict, frames: list[Frame]) -> dict:
    """Each model over all frames, frame by frame in turn (so that other load on the machine
    falls on all models alike); per model: wall-clock and CPU seconds (all threads of this
    process) spent in ``model(frame)``, the poses and the per-frame ``last_timings``."""
    out = {name: {"seconds": 0.0, "cpu": 0.0, "poses": [], "timings": []} for name in models}
    for m in models.values():   # warm up (first invoke allocates), then restart the stream
        m(frames[0])
        m.reset()
    for f in frames:
        for name, m in models.items():
            c0, t0 = time.process_time(), time.perf_counter()
            poses = m(f)
            out[name]["seconds"] += time.perf_counter() - t0
            out[name]["cpu"] += time.process_time() - c0
            out[name]["poses"].append(poses)
            out[name]["timings"].append(dict(m.last_timings))
    return out


def agreement(mine: list, ref: list) -> list[float]:
    meds = []
    for p, q in zip(mine, ref):
        if len(p) and len(q):
            o = box_iou(p.boxes, q.boxes)
            for i in range(len(p)):
                j = int(o[i].argmax())
                if o[i, j] > 0.5:
                    meds.append(float(np.median(np.linalg.norm(p.keypoints[i] - q.keypoints[j],
                                                               axis=1))))
    return meds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", help="video files (default: the two sample videos)")
    ap.add_argument("--frames", type=int, default=400, help="most frames per video")
    ap.add_argument("--max-people", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="LiteRT threads (native backend)")
    ap.add_argument("--detect-every", type=int, default=3)
    args = ap.parse_args()
    videos = [Path(v) for v in args.videos] or [DATA / v for v in VIDEOS]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cpus: {os.cpu_count()}  load average (1 min): {load:.1f}  max_people="
          f"{args.max_people}  threads={args.threads}  detect_every={args.detect_every}")
    for path in videos:
        frames, fps = decode(path, args.frames)
        h, w = frames[0].image.shape[:2]
        models = {
            "native": load_model("blazepose", mode="video", max_people=args.max_people,
                                 num_threads=args.threads, detect_every=args.detect_every),
            "tasks": load_model("blazepose-mediapipe", mode="video",
                                max_people=args.max_people),
        }
        try:
            res = run_interleaved(models, frames)
        finally:
            for m in models.values():
                m.close()
        n = len(frames)
        nat, ref = res["native"], res["tasks"]
        meds = agreement(nat["poses"], ref["poses"])
        stage = {k: 1000.0 * np.mean([t.get(k, 0.0) for t in nat["timings"]])
                 for k in ("preprocess", "infer", "postprocess", "detector")}
        det_runs = sum(t.get("detector", 0.0) > 0 for t in nat["timings"])
        print(f"\n{path.name}: {n} frames {w}x{h} @ {fps:.0f} fps")
        for label, r in (("native blazepose (LiteRT)  ", nat),
                         ("MediaPipe Tasks VIDEO mode ", ref)):
            print(f"  {label} {n / r['seconds']:7.1f} frames/s  ({1000 * r['seconds'] / n:.1f} "
                  f"ms/frame, CPU {1000 * r['cpu'] / n:.1f} ms/frame; persons/frame "
                  f"{np.mean([len(p) for p in r['poses']]):.2f})")
        print(f"  speed-up native / Tasks     {ref['seconds'] / nat['seconds']:7.2f}x  "
              f"(CPU time: {ref['cpu'] / nat['cpu']:.2f}x)")
        print("  native ms/frame by stage: " + ", ".join(f"{k} {v:.2f}" for k, v in stage.items())
              + f"; detector ran on {det_runs}/{n} frames")
        if meds:
            print(f"  landmark distance to Tasks on {len(meds)} matched persons: median "
                  f"{np.median(meds):.2f} px, p90 {np.percentile(meds, 90):.2f} px")


if __name__ == "__main__":
    main()
