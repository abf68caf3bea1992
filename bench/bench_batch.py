"""Throughput of ``posekit batch`` on real clips with 1 and 2 Ray workers, end to end.

For each worker count, a fresh local Ray cluster runs the whole batch into a new folder
(``run_batch`` with no address: Ray started and stopped by the call, every model loaded in
every worker), and the script prints:

- frames/s end to end: frames of the batch / wall time of the whole call (hashing, Ray start,
  actor start and model loads, every source, table parts, Ray stop);
- frames/s processing: frames / time from the first task handed out to the last result (Ray
  and the driver already up; the figure a long batch converges to);
- speed-up over one worker and per-core efficiency (speed-up / workers);
- the workers' CPU time per frame (all threads of the worker processes: decoding, inference,
  writing): what a cluster is sized by, and much less sensitive to other processes on the
  machine than wall time;
- the cores the workers got (their CPU seconds / processing seconds: below the worker count
  when other processes share the machine) and frames per CPU-second relative to one worker
  (the per-core efficiency that contention does not blur; Ray's own processes not counted).

The machine's 1-minute load average is printed before each run: on a shared machine other
processes take cores too, and the figures then understate the scaling. With ``--rounds R`` the
worker counts take turns R times and the best round of each is reported.

Usage::

    python bench/bench_batch.py                      # the default clips, 1 and 2 workers
    python bench/bench_batch.py --workers 1 2 4 --max-frames 100 --rounds 2
    python bench/bench_batch.py --max-frames 100 --control   # also without Ray
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: Real clips of one or a few people (432 px to 1280 px wide), about 1,900 frames in all.
CLIPS = ["medaipipe/situps.mp4", "Human-Activity-Recognition/wave.mp4",
         "Human-Activity-Recognition/stand.mp4", "fall-detector/videos/Fall01.mp4",
         "fall-detector/videos/Fall02.mp4", "fall-detector/videos/Fall03.mp4",
         "mmaction2/demo/demo.mp4", "FallDetection/sit.mp4", "tud-campus/TUD-Campus.mp4",
         "medaipipe/Jumping Jacks.mp4"]


def _plain_part(args) -> tuple[int, float]:
    """One plain process of the control: its share of the clips, one model cache."""
    clips, out, cfg = args
    from posekit.batch.worker import ModelCache, limit_threads, process_source

    limit_threads(1)
    cache = ModelCache(threads=1)
    cpu0, frames = time.process_time(), 0
    for i, c in enumerate(clips):
        frames += process_source(c, Path(out) / str(i), cfg, cache=cache)["frames"]
    cache.close()
    return frames, time.process_time() - cpu0


def control(clips: list[str], cfg: dict, n: int) -> tuple[int, float, float]:
    """The same clips in ``n`` plain processes (no Ray, clips dealt round-robin): (frames,
    wall s, CPU s)."""
    import multiprocessing as mp

    out = tempfile.mkdtemp(prefix=f"bench_batch_plain_{n}_")
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(n) as pool:
        parts = pool.map(_plain_part, [(clips[k::n], f"{out}/{k}", cfg) for k in range(n)])
    wall = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)
    return sum(p[0] for p in parts), wall, sum(p[1] for p in parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--max-frames", type=int, default=None, help="per clip")
    ap.add_argument("--rounds", type=int, default=1, help="runs per worker count, taking "
                    "turns; the best is reported")
    ap.add_argument("--control", action="store_true", help="also run the clips in 1 and 2 "
                    "plain processes without Ray, to tell the machine's contention from Ray's "
                    "overhead")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()

    from posekit.batch.runner import run_batch
    from posekit.batch.worker import batch_config

    clips = [args.data / c for c in CLIPS]
    missing = [str(c) for c in clips if not c.exists()]
    if missing:
        raise SystemExit(f"missing clips: {', '.join(missing)}")
    cfg = replace(batch_config(), max_frames=args.max_frames)
    print(f"batch: {len(clips)} clips from {args.data}; config: blazepose, own video-mode "
          f"tracking, One Euro, 1 inference thread per worker; max frames "
          f"{args.max_frames or 'all'}; {os.cpu_count()} cores")
    runs: dict[int, list[tuple[float, int, float, float]]] = {n: [] for n in args.workers}
    for r in range(args.rounds):  # worker counts take turns, so load drifts hit them alike
        for n in args.workers:
            out = Path(tempfile.mkdtemp(prefix=f"bench_batch_{n}_"))
            load = os.getloadavg()[0]
            t = time.perf_counter()
            res = run_batch([str(c) for c in clips], out, cfg, workers=n)
            wall = time.perf_counter() - t
            shutil.rmtree(out, ignore_errors=True)
            if res.failed:
                raise SystemExit(f"failed sources: {res.failed}")
            runs[n].append((load, res.frames, wall, res.process_seconds, res.cpu_seconds))
            print(f"  round {r + 1}, {n} worker(s): {res.frames} frames, {wall:.1f} s end to "
                  f"end, {res.process_seconds:.1f} s processing, workers' CPU "
                  f"{1000 * res.cpu_seconds / res.frames:.1f} ms/frame (load before "
                  f"{load:.2f})", flush=True)
    # the best round of each worker count: the one least slowed by other processes
    rows = [(n, *max(runs[n], key=lambda x: x[1] / x[2])) for n in args.workers]
    base_e2e = rows[0][2] / rows[0][3]
    base_proc = rows[0][2] / rows[0][4]
    print()
    print(f"best of {args.rounds} round(s) per worker count:")
    print("| workers | load avg | frames | wall s | frames/s end to end | speed-up | per-core "
          "eff. | frames/s processing | speed-up | per-core eff. | worker CPU ms/frame | "
          "cores the workers got | frames per CPU-s (eff.) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    base_cpu = rows[0][2] / rows[0][5]
    for n, load, frames, wall, proc, cpu in rows:
        e2e, p = frames / wall, frames / proc
        print(f"| {n} | {load:.2f} | {frames} | {wall:.1f} | {e2e:.1f} | {e2e / base_e2e:.2f}x "
              f"| {e2e / base_e2e / n * rows[0][0]:.0%} | {p:.1f} | {p / base_proc:.2f}x | "
              f"{p / base_proc / n * rows[0][0]:.0%} | {1000 * cpu / frames:.1f} | "
              f"{cpu / proc:.2f} | {frames / cpu:.1f} ({frames / cpu / base_cpu:.0%}) |")
    if args.control:
        print()
        print("control: the same clips in plain processes, no Ray (one round):")
        print("| processes | load avg | frames | wall s | frames/s | speed-up | cores they got |")
        print("|---|---|---|---|---|---|---|")
        base = None
        for n in args.workers:
            load = os.getloadavg()[0]
            frames, wall, cpu = control([str(c) for c in clips], cfg.to_dict(), n)
            base = base or frames / wall
            print(f"| {n} | {load:.2f} | {frames} | {wall:.1f} | {frames / wall:.1f} | "
                  f"{frames / wall / base:.2f}x | {cpu / wall:.2f} |", flush=True)


if __name__ == "__main__":
    main()
