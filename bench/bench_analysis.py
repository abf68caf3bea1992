"""Motion analytics on the real clips of ../shared/data (ground truth: ANALYTICS.md).

Usage: python bench/bench_analysis.py [--every N] [--tracker posekit|iou] [--poses reference|cli]
                                       [--no-infer]

Poses come from ``blazepose-mediapipe`` (video mode, about 15 fps; ``--poses reference``, the
default) or, with ``--poses cli``, from the path ``posekit run SOURCE --analyze ...`` takes with
its defaults (native ``blazepose`` on every frame under ``TopDownTracker`` + ``Smoother``, see
``clips.cli_path_poses``; about 5 minutes for all clips on 2 cores the first time). Both are
cached by ``tests/analysis/clips.py`` in ``cache_dir()/test-poses``. Prints:

1. exercise clips: exercise, counted vs true repetitions, mean and max distance (frames) of
   each counted rep's turning point from its ground-truth frame, form checks failed;
2. fall clips and clips without a fall: fall events, onset and ground errors (frames and
   seconds);
3. gestures on the waving clip and the negatives;
4. the analysis cost per frame (microseconds, all analyses on) next to the model's inference
   time per frame (milliseconds, measured on 60 frames unless ``--no-infer``).

``--every 2`` analyses every other cached frame (about 7 fps) to check frame-rate independence.
The exercise clips are single-person (``track_ids`` None) with the reference poses and tracked
with ``--poses cli``.
Figures are printed, never asserted (the tests in tests/analysis assert).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from posekit.analysis import Analyzer
from tests.analysis import clips

ALL = "squat,pushup,curl,jumping_jack,lunge,situp,posture,falls,gestures"


POSES = "reference"


def _poses(path: str) -> clips.ClipPoses:
    """The clip's poses from the source chosen with ``--poses``."""
    if POSES == "reference":
        return clips.clip_poses(path)
    fps, seq = clips.cli_path_poses(path)
    times = np.array([t for t, _ in seq])
    idx = np.round(times * fps).astype(np.int64)
    return clips.ClipPoses(path, fps, len(seq), 1, idx, times, [p for _, p in seq])


def _short(path: str) -> str:
    """``folder/file`` (two clips are called squat.mp4)."""
    p = Path(path)
    return f"{p.parts[0]}/{p.name}"


def analyse(cp: clips.ClipPoses, spec: str, every: int) -> tuple[Analyzer, list[dict]]:
    a = Analyzer(spec)
    ev: list[dict] = []
    for t, p in list(zip(cp.times, cp.poses))[::every]:
        ev += a.update(p, float(t))
    ev += a.finish()
    return a, ev


def reps_table(every: int) -> None:
    print(f"\n## Repetitions (every {every} cached frame(s))\n")
    print("| clip | exercise | counted | true | bottom err mean/max (frames) | failed checks |")
    print("|---|---|---|---|---|---|")
    for c in clips.REP_CLIPS.values():
        cp = _poses(c.path)
        _, ev = analyse(cp, c.exercise, every)
        reps = [e for e in ev if e["type"] == "rep"]
        errs = []
        for r, (centre, _, _) in zip(reps, c.extremes):
            errs.append(abs(r["bottom_s"] * cp.fps - centre))
        err = f"{statistics.mean(errs):.1f} / {max(errs):.1f}" if errs and \
            len(reps) == len(c.extremes) else "-"
        true = c.count if c.count is not None else "/".join(map(str, c.allowed)) + " (partial)"
        failed: dict[str, int] = {}
        for r in reps:
            for ch in r["checks"]:
                if ch["ok"] is False:
                    failed[ch["name"]] = failed.get(ch["name"], 0) + 1
        fc = ", ".join(f"{k} x{v}" for k, v in failed.items()) or "none"
        print(f"| {_short(c.path)} | {c.exercise} | {len(reps)} | {true} | {err} | {fc} |")


def falls_table(every: int) -> None:
    print(f"\n## Falls (every {every} cached frame(s))\n")
    print("| clip | true onset/ground | events | onset err | ground err | confidence |")
    print("|---|---|---|---|---|---|")
    on_errs, gr_errs = [], []
    negatives = {**clips.NONFALL_CLIPS, **{k: clips.FallClip(c.path, None, None)
                                           for k, c in clips.REP_CLIPS.items()}}
    for c in {**clips.FALL_CLIPS, **negatives}.values():
        cp = _poses(c.path)
        _, ev = analyse(cp, "falls", every)
        falls = [e for e in ev if e["type"] == "fall"]
        truth = f"{c.onset}/{c.ground}" if c.onset is not None else "no fall"
        if c.onset is not None and falls:
            f = falls[0]
            eo = f["onset_s"] * cp.fps - c.onset
            eg = f["ground_s"] * cp.fps - c.ground
            on_errs.append(abs(eo) / cp.fps)
            gr_errs.append(abs(eg) / cp.fps)
            print(f"| {_short(c.path)} | {truth} | {len(falls)} | {eo:+.0f} fr "
                  f"({eo / cp.fps:+.2f} s) | {eg:+.0f} fr ({eg / cp.fps:+.2f} s) | "
                  f"{f['confidence']:.2f} |")
        else:
            print(f"| {_short(c.path)} | {truth} | {len(falls)} | - | - | - |")
    if on_errs:
        print(f"\nfalls found: {len(on_errs)}/{len(clips.FALL_CLIPS)}; mean |onset error| "
              f"{statistics.mean(on_errs):.2f} s (max {max(on_errs):.2f}); mean |ground error| "
              f"{statistics.mean(gr_errs):.2f} s (max {max(gr_errs):.2f})")


def gestures_table(every: int) -> None:
    print(f"\n## Gestures (every {every} cached frame(s))\n")
    print("| clip | events (name side start-end frames) |")
    print("|---|---|")
    for name in ("wave", "stand", "sit", "walk"):
        c = clips.NONFALL_CLIPS[name]
        cp = _poses(c.path)
        _, ev = analyse(cp, "gestures", every)
        g = [f"{e['name']} {e['side']} {e['start_s'] * cp.fps:.0f}-{e['end_s'] * cp.fps:.0f}"
             for e in ev if e["type"] == "gesture"]
        print(f"| {_short(c.path)} | {'; '.join(g) or 'none'} |")
    print("\nwave.mp4 truth: one hand (right) 0-~42, both hands ~48-124")


def cost_table(infer: bool) -> None:
    print("\n## Cost per frame\n")
    cp = _poses(clips.REP_CLIPS["gym_squat"].path)
    rows = []
    for spec in ("angles", "squat", "squat,posture,falls", ALL):
        best = 1e9
        for _ in range(3):
            a, _ = analyse(cp, spec, 1)
            best = min(best, a.cost_s / a.frames)
        rows.append((spec, best))
    for spec, s in rows:
        print(f"- analysis `{spec}`: {1e6 * s:.0f} us per frame (one person)")
    if not infer:
        return
    import cv2

    import posekit
    from posekit.types import Frame

    cap = cv2.VideoCapture(str(clips.DATA / clips.REP_CLIPS["gym_squat"].path))
    frames = []
    while len(frames) < 60:
        ok, im = cap.read()
        if not ok:
            break
        frames.append(im)
    cap.release()
    model = posekit.load_model("blazepose-mediapipe", mode="video", max_people=1)
    model(Frame(frames[0], 0, 0.0))
    t = time.perf_counter()
    for i, im in enumerate(frames[1:], 1):
        model(Frame(im, i, i / 60))
    per = (time.perf_counter() - t) / (len(frames) - 1)
    model.close()
    print(f"- inference `blazepose-mediapipe` (video mode, 898x506): {1e3 * per:.1f} ms per "
          f"frame; the full analysis is {100 * rows[-1][1] / per:.1f} % of it")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=1, help="analyse every N-th cached frame")
    ap.add_argument("--tracker", choices=("posekit", "iou"), default="posekit")
    ap.add_argument("--poses", choices=("reference", "cli"), default="reference",
                    help="reference: blazepose-mediapipe at ~15 fps; cli: the posekit run path")
    ap.add_argument("--no-infer", action="store_true", help="skip timing the model")
    args = ap.parse_args()
    if not clips.DATA.is_dir():
        sys.exit(f"data not found: {clips.DATA}")
    clips.TRACKER = args.tracker
    global POSES
    POSES = args.poses
    np.seterr(all="ignore")
    reps_table(args.every)
    falls_table(args.every)
    gestures_table(args.every)
    cost_table(not args.no_infer)


if __name__ == "__main__":
    main()
