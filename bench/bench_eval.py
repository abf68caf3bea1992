"""Accuracy and speed of posekit's models on every ground-truth set in ../shared/data.

Prints the table of ``posekit eval all``: COCO OKS AP/AP50/AR (pycocotools) on the COCO-format
sets, PCK@0.2 (torso) on LSP, PCKh@0.5 on the MPII sample, ms per image, persons found vs
annotated. Predictions are cached (posekit cache folder, ``eval/``), so a second run only scores.

    .venv/bin/python bench/bench_eval.py [--out DIR] [--model NAME ...] [--sets NAME ...]

Models that cannot run here (a missing extra, no native backend) are listed as skipped.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from posekit.eval.datasets import available_sets
from posekit.eval.report import format_table
from posekit.eval.runner import run_eval

MODELS = ["blazepose-mediapipe", "blazepose", "yolo", "hybrid", "hybrid:tta=true"]


def _native_blazepose() -> None:
    """Benchmark the native backend as ``blazepose`` where the registry still maps that name to
    the MediaPipe reference (``blazepose-mediapipe`` is measured separately)."""
    import importlib.util

    from posekit import models

    if (str(models._REGISTRY.get("blazepose", "")).startswith("posekit.models.mediapipe_tasks")
            and importlib.util.find_spec("posekit.models.blazepose") is not None):
        models.register("blazepose", "posekit.models.blazepose:BlazePose")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder for report.json, plots, overlays")
    ap.add_argument("--model", action="append", help=f"model spec (default: {MODELS})")
    ap.add_argument("--sets", nargs="*", default=None, help="dataset names (default: all)")
    ap.add_argument("--no-cache", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    _native_blazepose()
    sets = a.sets or available_sets()
    if not sets:
        print("no datasets found (set POSEKIT_DATA to the shared/data folder)")
        return 1
    t0 = time.perf_counter()
    last = {}

    def progress(label, done, total):
        if done == total or time.perf_counter() - last.get(label, 0) > 20:
            last[label] = time.perf_counter()
            print(f"  {label}: {done}/{total}", file=sys.stderr, flush=True)

    rep = run_eval(sets, a.model or MODELS, out_dir=a.out, cache=not a.no_cache,
                   progress=progress)
    print(format_table(rep.rows))
    for e in rep.errors:
        print(f"skipped {e['model']} on {e['dataset']}: {e['error']}")
    oks = {}
    for r in rep.rows:
        if r.get("AP") is not None and r["AP"] >= 0:
            oks.setdefault(r["model"], []).append((r["AP"], r["n_persons"]))
    if oks:
        print("\nperson-weighted mean AP over the COCO-format sets:")
        for m, v in oks.items():
            w = sum(n for _, n in v)
            print(f"  {m:24s} {sum(ap * n for ap, n in v) / w:.3f}  ({len(v)} sets, {w} persons)")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
