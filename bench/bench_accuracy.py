"""Accuracy of the combined ``hybrid`` model against its parts, with leave-one-dataset-out fits.

Prints, per dataset and pooled, COCO OKS AP (pycocotools' COCOeval, on the COCO-format sets),
the set's PCK (PCK@0.2; PCKh@0.5 on MPII) and ms per image for:

- ``yolo`` (YOLO11n-pose), ``blazepose`` (BlazePose with its own detector), and the old
  hybrid (``hybrid:refine=0,arbitration=fixed,detector_rois=false,flip=false,small_imgsz=0,
  yolo_flip_max=0``:
  YOLO-aligned ROIs, hand-set fusion, one YOLO scale), all
  through :func:`posekit.eval.runner.predict` (cached);
- the new ``hybrid`` default (self-correcting ROIs, calibrated arbitration, YOLO's keypoints
  checked against the mirrored image). Its calibration
  table is fitted with leave one dataset out: each set is scored with a table fitted on the
  other sets only (rows marked ``LOO``). Its landmark passes run once per set and are cached
  under ``<posekit cache>/eval/accuracy-*.npz`` (keyed on hybrid.py's source), so refitting is
  free.

Then, per set and metric, the new default (left out) minus the better of ``yolo`` and
``blazepose`` on that set with a 90 % paired bootstrap interval over the set's images
(``--bootstrap N`` resamples, :func:`posekit.eval.metrics.paired_bootstrap`): "below" marks a
miss larger than the choice of images explains, "within noise" one that is not (on the sets
of 3-5 images, most are).

    .venv/bin/python bench/bench_accuracy.py [--sets NAME ...] [--fit] [--no-cache]
        [--time-images N] [--new hybrid:SETTING=VALUE,...] [--baselines SPEC ...]
        [--bootstrap N]

``--fit`` writes the shipped table (``posekit/models/hybrid_calibration.json``) fitted on all
the sets given but the small ones the tests hold out (``--hold-out``). Pooled figures are
person-weighted means of the per-set figures (AP over the COCO-17 sets, PCK over all sets).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from posekit.eval.datasets import Dataset, available_sets, load_dataset
from posekit.eval.runner import ModelSpec, Predictions, eval_config, predict, read_image, score
from posekit.models import calibration as calib
from posekit.models.assets import cache_dir
from posekit.models.hybrid import (COCO_IN_BLAZEPOSE, ROI_FROM_DETECTOR, calibrated_person_scores,
                                   fuse_calibrated)
from posekit.skeletons import BLAZEPOSE_33
from posekit.types import Frame, Poses

BASELINES = ["yolo", "blazepose",
             "hybrid:refine=0,arbitration=fixed,detector_rois=false,flip=false,small_imgsz=0,"
             "yolo_flip_max=0"]
NEW = "hybrid"
#: Small sets left out of the shipped calibration: the test of its monotonicity uses them.
TEST_SETS = ("coco", "ochuman", "humanart", "crowdpose")
_FIELDS = ("yolo_keypoints", "yolo_scores", "blazepose_keypoints", "blazepose_scores",
           "pose_score", "confirmed", "roi_kind", "roi_start")


def _dump_key() -> bytes:
    """What the cached landmark passes depend on: the source of the person and landmark
    stages and the defaults (the fusion is recomputed here, so it is not part of it)."""
    import inspect

    from posekit.models import hybrid as h
    from posekit.models.blazepose import BlazePose

    parts = [inspect.getsource(f) for f in (h.rois_from_keypoints, h.roi_moved,
                                            h.HybridPose.first_rois, h.HybridPose.persons,
                                            h.HybridPose._asked, h.HybridPose.__init__,
                                            h.single_person, h.flip_disagreement,
                                            h.flip_gated_scores, h.HybridPose.__call__,
                                            h.HybridPose._landmarks, h.HybridPose._keep_better,
                                            h.HybridPose._run, BlazePose._landmarks,
                                            BlazePose._landmark_pass)]
    return ("".join(parts) + repr(h.HybridConfig()) + repr(h.FLIP_GATED.tolist())
            + repr(_FIELDS) + NEW).encode()


def _dump_path(ds: Dataset) -> Path:
    h = hashlib.sha1(_dump_key() + ds.key.encode()).hexdigest()[:12]
    return cache_dir() / "eval" / f"accuracy-{ds.name}-{h}.npz"


def raw_run(ds: Dataset, cache: bool = True) -> dict:
    """The new hybrid's persons on every image of ``ds``: YOLO's and BlazePose's keypoints
    before the fusion, boxes, person scores, and the model time per image (seconds)."""
    path = _dump_path(ds)
    if cache and path.is_file():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    from posekit.pipeline import build

    sep = "," if ":" in NEW else ":"
    cfg = eval_config(ModelSpec.parse(f"{NEW}{sep}arbitration=fixed"))
    model = build(cfg, "images").model
    out = {k: [] for k in (*_FIELDS, "boxes", "person_scores")}
    counts, times = [], []
    try:
        for i, im in enumerate(ds.images):
            frame = Frame(read_image(im.path), index=i, time_s=float(i))
            if i == 0:
                model(frame)
            t0 = time.perf_counter()
            p = model(frame)
            times.append(time.perf_counter() - t0)
            counts.append(len(p))
            out["boxes"].append(p.boxes)
            out["person_scores"].append(p.person_scores)
            for k in _FIELDS:
                if len(p):
                    out[k].append(np.asarray(p.extras[k]))
    finally:
        model.close()
    shapes = {"yolo_keypoints": (0, 17, 2), "yolo_scores": (0, 17),
              "blazepose_keypoints": (0, 33, 2), "blazepose_scores": (0, 33),
              "pose_score": (0,), "confirmed": (0,), "roi_kind": (0,), "roi_start": (0,),
              "boxes": (0, 4), "person_scores": (0,)}
    res = {k: np.concatenate(v) if v else np.zeros(shapes[k]) for k, v in out.items()}
    res["counts"] = np.asarray(counts, np.int64)
    res["times_s"] = np.asarray(times)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, **res)
        path.write_bytes(buf.getvalue())
    return res


def samples(ds: Dataset, raw: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Calibration samples of one set (:func:`posekit.models.calibration.match_samples`):
    YOLO's confidence and BlazePose's visibility x pose flag, per COCO keypoint."""
    ends = np.cumsum(raw["counts"])
    parts = []
    for im, e, c in zip(ds.images, ends, raw["counts"]):
        r = slice(e - c, e)
        bk = raw["blazepose_keypoints"][r][:, COCO_IN_BLAZEPOSE]
        bs = raw["blazepose_scores"][r][:, COCO_IN_BLAZEPOSE] * raw["pose_score"][r][:, None]
        parts.append(calib.match_samples(
            im, ds.skeleton, raw["boxes"][r],
            {"yolo": (raw["yolo_keypoints"][r], raw["yolo_scores"][r]),
             "blazepose": (bk, bs)}))
    return _pool(parts)


def _pool(parts: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {s: (np.concatenate([p[s][0] for p in parts]),
                np.concatenate([p[s][1] for p in parts])) for s in calib.SOURCES}


def fused_predictions(ds: Dataset, raw: dict, table: calib.ScoreCalibration) -> Predictions:
    ends = np.cumsum(raw["counts"])
    poses = []
    for e, c in zip(ends, raw["counts"]):
        r = slice(e - c, e)
        if c == 0:
            poses.append(Poses.empty(BLAZEPOSE_33))
            continue
        kp, sc, _ = fuse_calibrated(raw["blazepose_keypoints"][r], raw["blazepose_scores"][r],
                                    raw["confirmed"][r], raw["pose_score"][r],
                                    raw["yolo_keypoints"][r], raw["yolo_scores"][r],
                                    raw["boxes"][r], table,
                                    blazepose_only=raw["roi_start"][r] == ROI_FROM_DETECTOR)
        poses.append(Poses(kp, sc, BLAZEPOSE_33, boxes=raw["boxes"][r].astype(np.float32),
                           person_scores=calibrated_person_scores(raw["person_scores"][r],
                                                                  sc)))
    return Predictions(f"{NEW} (LOO)", ds.name, poses, raw["times_s"])


def time_models(specs: list[str], sets: list[Dataset], n: int) -> dict[str, float]:
    """Median ms per image of each model on the first ``n`` images of each set, end to end
    (``model(frame)``, image decoding excluded), the models taking turns image by image so
    that all see the same load on a shared machine."""
    from posekit.pipeline import build

    models = {}
    try:
        for spec in specs:
            models[spec] = build(eval_config(ModelSpec.parse(spec)), "images").model
        times = {spec: [] for spec in specs}
        for ds in sets:
            for i, im in enumerate(ds.images[:n]):
                frame = Frame(read_image(im.path), index=i, time_s=float(i))
                for spec, m in models.items():
                    if i == 0:
                        m(frame)                                  # warm-up
                    t0 = time.perf_counter()
                    m(frame)
                    times[spec].append(time.perf_counter() - t0)
    finally:
        for m in models.values():
            m.close()
    return {spec: 1000.0 * float(np.median(v)) for spec, v in times.items()}


MARGINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _objective(results: list[tuple[Dataset, dict]]) -> float:
    """Person-weighted AP over the COCO-17 sets plus person-weighted PCK over all sets."""
    ap = [(r["AP"], ds.n_persons) for ds, r in results
          if r.get("AP") is not None and ds.skeleton.name == "coco17"]
    pk = [(r["pck"], r["n_pck_persons"]) for ds, r in results if np.isfinite(r["pck"])]
    f = lambda v: sum(a * n for a, n in v) / max(sum(n for _, n in v), 1) if v else 0.0  # noqa
    return f(ap) + f(pk)


def fit(names: list[str], sets: dict, raws: dict, samp: dict) -> calib.ScoreCalibration:
    """Tables fitted on ``names``, then the margin that maximises :func:`_objective` on them."""
    table = calib.fit_calibration(_pool([samp[n] for n in names]), fitted_on=tuple(names))
    best = max(MARGINS, key=lambda m: _objective(
        [(sets[n], score(sets[n], fused_predictions(sets[n], raws[n],
                                                    replace(table, margin=m))))
         for n in names]))
    return replace(table, margin=best)


def print_bootstrap(sets: list[Dataset], rows: list[dict], kept: dict, n: int,
                    parts: tuple[str, ...] = ("yolo", "blazepose")) -> None:
    """Per set and metric: the new default (left out) minus the better of ``parts`` on that
    set, with a 90 % paired bootstrap interval over the set's images
    (:func:`posekit.eval.metrics.paired_bootstrap`): "below" is a miss that is more than
    which images were drawn, "within noise" one that is not; sets of fewer than
    :data:`posekit.eval.metrics.FEW_IMAGES` images are marked as too small to tell."""
    from posekit.eval.metrics import FEW_IMAGES, paired_bootstrap

    print(f"\nnew default (LOO) minus the better of {' and '.join(parts)} per set, 90 % paired "
          f"bootstrap interval over images ({n} resamples):")
    by = {(r["dataset"], r["model"]): r for r in rows}
    for ds in sets:
        if any((ds.name, p) not in kept for p in parts) or (ds.name, NEW) not in kept:
            continue
        cells, done = [], {}
        for metric, key in (("AP", "AP"), ("PCK", "pck")):
            vals = {p: by[ds.name, p].get(key) for p in parts}
            if any(v is None or not np.isfinite(v) for v in vals.values()):
                continue
            best = max(parts, key=lambda p: vals[p])
            if best not in done:            # both metrics from one bootstrap per pair
                done[best] = paired_bootstrap(ds, kept[ds.name, NEW], kept[ds.name, best], n=n)
            d = done[best][metric]
            verdict = (d.verdict if ds.n_images >= FEW_IMAGES
                       else f"{ds.n_images} images, too few to tell")
            cells.append(f"{metric} {d.difference:+.3f} [{d.low:+.3f}, {d.high:+.3f}] vs "
                         f"{best}: {verdict}")
        print(f"  {ds.name:16s} " + "; ".join(cells))


def _fmt(v, nd=3):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{nd}f}"


def main(argv=None) -> int:
    global NEW
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", default=None, help="dataset names (default: all)")
    ap.add_argument("--fit", action="store_true",
                    help="write posekit/models/hybrid_calibration.json fitted on all sets given")
    ap.add_argument("--hold-out", nargs="*", default=list(TEST_SETS),
                    help="sets --fit leaves out (tests/models/test_hybrid.py checks the "
                         f"shipped table on them; default: {' '.join(TEST_SETS)})")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--time-images", type=int, default=0,
                    help="also time every model on the first N images of each set, taking "
                         "turns image by image (the fair speed comparison on a shared machine)")
    ap.add_argument("--baselines", nargs="*", default=BASELINES, help="model specs")
    ap.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                    help="paired bootstrap resamples of each set's images for the new default "
                         "against the better of yolo and blazepose (0: off)")
    ap.add_argument("--new", default=NEW,
                    help="the hybrid spec fitted leave-one-out (default: %(default)s; e.g. "
                         "hybrid:small_imgsz=800 for a variant); --fit writes its table")
    a = ap.parse_args(argv)
    NEW = a.new
    logging.basicConfig(level=logging.WARNING)
    names = a.sets or available_sets()
    sets = [load_dataset(n) for n in names]
    t0 = time.perf_counter()
    raws, samp = {}, {}
    by_name = {ds.name: ds for ds in sets}
    for ds in sets:
        raws[ds.name] = raw_run(ds, cache=not a.no_cache)
        samp[ds.name] = samples(ds, raws[ds.name])
        print(f"  {ds.name}: new hybrid run ({len(raws[ds.name]['times_s'])} images)",
              file=sys.stderr, flush=True)
    if a.fit:
        table = fit([n for n in names if n not in a.hold_out], by_name, raws, samp)
        table.save(calib.DEFAULT_PATH)
        print(f"wrote {calib.DEFAULT_PATH} (margin {table.margin})")
    rows, margins, kept = [], {}, {}
    for ds in sets:
        for spec in a.baselines:
            pr = predict(spec, ds, cache=not a.no_cache)
            kept[ds.name, spec] = pr.poses
            rows.append(score(ds, pr))
            print(f"  {ds.name}: {spec}", file=sys.stderr, flush=True)
        others = [n for n in samp if n != ds.name]
        table = fit(others or [ds.name], by_name, raws, samp)
        pr = fused_predictions(ds, raws[ds.name], table)
        kept[ds.name, NEW] = pr.poses
        row = score(ds, pr)
        row["model"] = f"{NEW} (LOO)" if others else f"{NEW} (in-sample)"
        margins[ds.name] = table.margin
        rows.append(row)
    hdr = f"{'dataset':16s} {'model':36s} {'AP':>6s} {'PCK':>6s} {'ms/img':>7s} {'found/GT':>9s}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['dataset']:16s} {r['model']:36s} {_fmt(r.get('AP')):>6s} "
              f"{_fmt(r['pck']):>6s} {_fmt(r['ms_per_image'], 0):>7s} "
              f"{r['n_found']:>4d}/{r['n_persons']:<4d}")
    print("\npooled (person-weighted means; AP over COCO-17 sets, PCK over all):")
    for m in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == m]
        aps = [(r["AP"], r["n_persons"]) for r in mine
               if r.get("AP") is not None and r["skeleton"] == "coco17"]
        pk = [(r["pck"], r["n_pck_persons"]) for r in mine if np.isfinite(r["pck"])]
        ms = np.mean([r["ms_per_image"] for r in mine])
        ap_ = sum(v * n for v, n in aps) / max(sum(n for _, n in aps), 1) if aps else None
        pc = sum(v * n for v, n in pk) / max(sum(n for _, n in pk), 1) if pk else None
        print(f"  {m:36s} AP {_fmt(ap_)}  PCK {_fmt(pc)}  {ms:.0f} ms/img (mean of sets)")
    print("LOO: each set scored with a calibration fitted on the other sets only; ms/img in "
          "the table: each model's own cached run (machine load differs between runs).")
    print("margins fitted leave-one-out: "
          + ", ".join(f"{n} {m:.1f}" for n, m in margins.items()))
    if a.bootstrap:
        print_bootstrap(sets, rows, kept, a.bootstrap)
    if a.time_images:
        ms = time_models([*a.baselines, NEW], sets, a.time_images)
        print(f"\nmedian ms per image, models taking turns on the first {a.time_images} "
              f"images of each set:")
        for spec, v in ms.items():
            print(f"  {spec:36s} {v:6.0f} ms")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
