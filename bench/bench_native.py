"""Speed (and agreement) of the native ``blazepose`` backend against MediaPipe Tasks.

For each video, all frames are decoded first (OpenCV), then each model runs in VIDEO mode over
the same frames; only the model calls are timed (``time.perf_counter``), so the figures are
inference rates, not end-to-end rates. Printed per video: frames/s of the native backend and of
MediaPipe Tasks' PoseLandmarker (``load_model("blazepose-mediapipe")``), their ratio, persons
per frame, the native backend's mean time per stage and how often its detector ran, and the
median landmark distance between the two on persons both find (boxes matched by IoU > 0.5).

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
from posekit.types import Frame

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


def run(model, frames: list[Frame]) -> tuple[float, list, list[dict]]:
    """Seconds spent in ``model(frame)`` over all frames, the poses, the per-frame timings."""
    model(frames[0])          # warm up (first invoke allocates), then start the stream again
    model.reset()
    out, timings, total = [], [], 0.0
    for f in frames:
        t0 = time.perf_counter()
        poses = model(f)
        total += time.perf_counter() - t0
        out.append(poses)
        timings.append(dict(model.last_timings))
    return total, out, timings


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def agreement(mine: list, ref: list) -> list[float]:
    meds = []
    for p, q in zip(mine, ref):
        if len(p) and len(q):
            o = iou(p.boxes, q.boxes)
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
    ap.add_argument("--detect-every", type=int, default=10)
    args = ap.parse_args()
    videos = [Path(v) for v in args.videos] or [DATA / v for v in VIDEOS]

    print(f"cpus: {os.cpu_count()}  max_people={args.max_people}  threads={args.threads}  "
          f"detect_every={args.detect_every}")
    for path in videos:
        frames, fps = decode(path, args.frames)
        h, w = frames[0].image.shape[:2]
        native = load_model("blazepose", mode="video", max_people=args.max_people,
                            num_threads=args.threads, detect_every=args.detect_every)
        tasks = load_model("blazepose-mediapipe", mode="video", max_people=args.max_people)
        try:
            t_nat, p_nat, tim = run(native, frames)
            t_ref, p_ref, _ = run(tasks, frames)
        finally:
            native.close()
            tasks.close()
        n = len(frames)
        meds = agreement(p_nat, p_ref)
        stage = {k: 1000.0 * np.mean([t.get(k, 0.0) for t in tim])
                 for k in ("preprocess", "infer", "postprocess", "detector")}
        det_runs = sum(t.get("detector", 0.0) > 0 for t in tim)
        print(f"\n{path.name}: {n} frames {w}x{h} @ {fps:.0f} fps")
        print(f"  native blazepose (LiteRT)   {n / t_nat:7.1f} frames/s  "
              f"({1000 * t_nat / n:.1f} ms/frame; persons/frame "
              f"{np.mean([len(p) for p in p_nat]):.2f})")
        print(f"  MediaPipe Tasks VIDEO mode  {n / t_ref:7.1f} frames/s  "
              f"({1000 * t_ref / n:.1f} ms/frame; persons/frame "
              f"{np.mean([len(p) for p in p_ref]):.2f})")
        print(f"  speed-up native / Tasks     {t_ref / t_nat:7.2f}x")
        print("  native ms/frame by stage: " + ", ".join(f"{k} {v:.2f}" for k, v in stage.items())
              + f"; detector ran on {det_runs}/{n} frames")
        if meds:
            print(f"  landmark distance to Tasks on {len(meds)} matched persons: median "
                  f"{np.median(meds):.2f} px, p90 {np.percentile(meds, 90):.2f} px")


if __name__ == "__main__":
    main()
