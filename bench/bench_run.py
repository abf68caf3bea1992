"""Speed of `posekit run` end to end (decode, infer, draw, encode) and of the model alone.

Usage: python bench/bench_run.py [--model blazepose --model blazepose-mediapipe] [VIDEO ...]

For each video and model it prints:
- model alone: frames/s of ``model(frame)`` over frames decoded beforehand (VIDEO mode);
- end to end: frames/s of ``posekit.run`` writing the annotated H.264 MP4 and the JSONL, with
  decoding, inference and encoding overlapping in threads;
- the ratio end-to-end / model-alone.
Default videos: mmpose body3d_demo.mp4 (one person) and openpose video.avi (several people)
from ../shared/data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import posekit
from posekit import draw
from posekit.io import JsonlSink, VideoSink, open_source

DATA = ROOT.parent / "shared" / "data"
DEFAULT = [DATA / "mmpose/demo/resources/body3d_demo.mp4",
           DATA / "openpose/examples/media/video.avi"]


def model_alone(name: str, frames: list) -> tuple[float, float]:
    """(frames/s, mean persons per frame) of model(frame) over pre-decoded frames."""
    model = posekit.load_model(name, mode="video", max_people=5)
    model(frames[0])  # warm-up (graph/interpreter initialisation), not timed
    model.reset()
    persons = 0
    t = time.perf_counter()
    for f in frames:
        persons += len(model(f))
    dt = time.perf_counter() - t
    model.close()
    return len(frames) / dt, persons / len(frames)


def end_to_end(name: str, video: Path) -> float:
    """frames/s of posekit.run with the annotated MP4 and JSONL sinks (what `posekit run` does)."""
    src = open_source(video)
    model = posekit.load_model(name, mode="video", max_people=5)
    with tempfile.TemporaryDirectory() as td:
        sinks = [VideoSink(Path(td) / "o.mp4", fps=src.info.fps, size_wh=src.info.size_wh),
                 JsonlSink(Path(td) / "o.jsonl", model.skeleton)]
        t = time.perf_counter()
        s = posekit.run(src, model, sinks,
                        annotate=lambda r: draw.annotate(r.frame.image, r.poses, fps=r.fps))
        dt = time.perf_counter() - t
    model.close()
    return s.frames / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path, default=DEFAULT)
    ap.add_argument("--model", action="append", dest="models")
    args = ap.parse_args()
    models = args.models or ["blazepose", "blazepose-mediapipe"]
    print(f"{'video':22s} {'model':22s} {'frames':>6s} {'persons/f':>9s} "
          f"{'model fps':>9s} {'e2e fps':>8s} {'e2e/model':>9s}")
    for video in args.videos:
        frames = list(open_source(video))
        for name in models:
            fps_m, per = model_alone(name, frames)
            fps_e = end_to_end(name, video)
            print(f"{video.name:22s} {name:22s} {len(frames):6d} {per:9.2f} {fps_m:9.1f} "
                  f"{fps_e:8.1f} {fps_e / fps_m:9.0%}", flush=True)


if __name__ == "__main__":
    main()
