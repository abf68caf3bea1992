"""Training benchmarks (issue 18): transfer from the human YOLO11n-pose weights vs training from
scratch on two animal datasets, the pose classifier's cross-validated accuracy, and the OKS
sigma estimate against COCO's.

    .venv/bin/python bench/bench_train.py [--epochs 5] [--imgsz 320] [--batch 16]
        [--only keypoints|classifier|sigmas] [--sets tiger,mirror] [--device 0]
        [--time-limit S] [--data-root DIR] [--json FILE]

The data are read from ``--data-root``, else ``$POSEKIT_DATA``, else the ``shared/data`` folder
beside the checkout.

1. Tiger-Pose (YOLO-pose, 210 train + 53 val images, 12 keypoints; its own split) and the
   lightning-pose mirror-mouse DeepLabCut CSV (90 frames, 17 keypoints; a seeded 80/20 split,
   posekit never saw this project while being written): ``posekit train keypoints`` from the
   human weights and ``--from-scratch``, same epochs, image size and batch, one after the
   other; each model evaluated by posekit on the held-out images (OKS AP with the skeleton's
   estimated sigmas, PCK@10 px, PCK@0.1 box, mean pixel error) with its training wall time.
   "Equal time" is read from the table: both runs take the same epochs in about the same time
   (same network), so the one with the better figures wins at equal time too.
2. The pose classifier (scikit-learn) on pose-classification-kit's body (BODY_25) and hand
   sets: 5-fold stratified cross-validated accuracy (``posekit train classifier``).
3. OKS sigmas estimated from COCO-17 labels in shared/data against COCO's published sigmas
   (the check behind ``posekit.train.datasets.SIGMA_SCALE``).

Figures printed here are copied into docs/training.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

DATA = Path(os.environ.get("POSEKIT_DATA") or ROOT.parent / "shared" / "data")
TIGER = "tiger-pose"
MOUSE = "lightning-pose/mirror-mouse-example/CollectedData.csv"
KIT = "pose-classification-kit"


def keypoints(args, out_root: Path) -> list[dict]:
    from posekit.train.keypoints import KeypointTrainConfig, train_keypoints

    rows = []
    for name, data in (("tiger-pose", args.data_root / TIGER),
                       ("mirror-mouse (DLC CSV)", args.data_root / MOUSE)):
        if name.split("-")[0] not in args.sets:
            continue
        if not Path(data).exists():
            print(f"skip {name}: {data} not found")
            continue
        for start in ("human weights", "scratch"):
            cfg = KeypointTrainConfig(epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
                                      from_scratch=start == "scratch", workers=args.workers,
                                      device=args.device, time_limit_s=args.time_limit,
                                      seed=0)
            out = out_root / f"{name.split()[0]}-{start.split()[0]}"
            t0 = time.perf_counter()
            res = train_keypoints(data, out, cfg, overwrite=True)
            wall = time.perf_counter() - t0
            v = res.report["validation"]
            row = {"dataset": name, "start": start, "epochs": res.report["epochs_done"],
                   "train_s": round(res.train_seconds, 1), "total_s": round(wall, 1),
                   "val_images": v["images"], "AP": v["oks"]["AP"], "AP50": v["oks"]["AP50"],
                   "PCK@10px": v["pck"]["10px"], "PCK@0.1box": v["pck"]["0.1box"],
                   "mean_px": v["mean_px_error"], "median_px": v["median_px_error"],
                   "matched": f"{v['matched']}/{v['instances']}",
                   "eval_ms": v["ms_per_image"],
                   "mosaic_off": res.report.get("mosaic_closed_at_epoch", "-")}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def classifier(args) -> list[dict]:
    from posekit.train.classifier import ClassifierConfig, train_classifier

    rows = []
    kit = args.data_root / KIT
    for name, csv in (("body (BODY_25, 20 classes)", kit / "BodyPose_Dataset.csv"),
                      ("hand (21 kpts, 27 classes)", kit / "HandPose_Dataset.csv")):
        if not csv.is_file():
            print(f"skip {name}: {csv} not found")
            continue
        with tempfile.TemporaryDirectory() as td:
            t0 = time.perf_counter()
            rep = train_classifier(csv, Path(td) / "clf.joblib",
                                   ClassifierConfig(cv_folds=5, seed=0)).report
            dt = time.perf_counter() - t0
        row = {"set": name, "rows": rep["samples"], "classes": len(rep["classes"]),
               "cv_accuracy": rep["cv"]["accuracy"], "cv_balanced": rep["cv"][
                   "balanced_accuracy"], "chance": rep["cv"]["chance"],
               "seconds": round(dt, 1), "estimator": rep["config"]["estimator"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def sigmas() -> dict | None:
    from posekit.eval.datasets import load_dataset
    from posekit.skeletons import COCO_17
    from posekit.train.datasets import estimate_sigmas

    kps, vis, bx = [], [], []
    for name in ("tiny_coco_val", "tiny_coco_train", "coco", "kapao_val", "kapao_train"):
        try:
            ds = load_dataset(name)
        except Exception:
            continue
        for im in ds.images:
            m = im.annotated
            kps.append(im.keypoints[m])
            vis.append(im.visibility[m])
            bx.append(im.boxes[m])
    if not kps:
        return None
    est = np.array(estimate_sigmas(np.concatenate(kps), np.concatenate(vis),
                                   np.concatenate(bx)))
    ref = np.array(COCO_17.sigmas)
    return {"persons": int(sum(len(k) for k in kps)),
            "corr": round(float(np.corrcoef(est, ref)[0, 1]), 3),
            "mean_abs_rel_err": round(float(np.mean(np.abs(est - ref) / ref)), 3),
            "estimated": [round(float(x), 3) for x in est],
            "coco": [round(float(x), 3) for x in ref]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", choices=("keypoints", "classifier", "sigmas"))
    ap.add_argument("--sets", default="tiger,mirror", help="Keypoint sets: tiger, mirror.")
    ap.add_argument("--device", help="Training and evaluation device: cpu, 0 (first GPU)...; "
                                     "default Ultralytics' choice (a GPU where there is one).")
    ap.add_argument("--time-limit", type=float,
                    help="Seconds of training per run (Ultralytics re-plans the epochs).")
    ap.add_argument("--data-root", type=Path, default=DATA,
                    help="The shared/data folder (default $POSEKIT_DATA or ../shared/data).")
    ap.add_argument("--out", type=Path, help="Keep the model folders here.")
    ap.add_argument("--json", type=Path, help="Write the printed figures to this JSON file.")
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    con = Console(width=170)
    import torch

    if torch.cuda.is_available() and args.device != "cpu":
        dev = f"cuda ({torch.cuda.get_device_name(0)}, torch {torch.__version__})"
    else:
        dev = f"cpu ({torch.get_num_threads()} threads)"
    con.print(f"device: {dev}; epochs {args.epochs}, imgsz {args.imgsz}, batch {args.batch}, "
              f"workers {args.workers}, time limit {args.time_limit} s per run")
    results: dict = {"device": dev, "args": {k: str(v) for k, v in vars(args).items()}}
    if args.only in (None, "sigmas"):
        s = sigmas()
        if s:
            con.print(f"OKS sigmas estimated from {s['persons']} COCO persons vs COCO's: "
                      f"correlation {s['corr']}, mean |relative error| "
                      f"{s['mean_abs_rel_err']}\n  estimated {s['estimated']}\n  coco      "
                      f"{s['coco']}")
        results["sigmas"] = s
    if args.only in (None, "keypoints"):
        with tempfile.TemporaryDirectory() as td:
            rows = keypoints(args, args.out or Path(td))
        results["keypoints"] = rows
        plan = (f"{args.time_limit:g} s per run (Ultralytics re-plans the epochs)"
                if args.time_limit else f"{args.epochs} epochs")
        t = Table(title=f"keypoint training: {plan}, imgsz {args.imgsz}, batch {args.batch}, "
                        "held-out images")
        cols = ("dataset", "start", "epochs", "train_s", "total_s", "val_images", "AP", "AP50",
                "PCK@10px", "PCK@0.1box", "mean_px", "median_px", "matched", "eval_ms",
                "mosaic_off")
        for h in cols:
            t.add_column(h, justify="left" if h in ("dataset", "start") else "right")
        for r in rows:
            t.add_row(*[str(r[h]) for h in cols])
        con.print(t)
    if args.only in (None, "classifier"):
        rows = classifier(args)
        results["classifier"] = rows
        t = Table(title="pose classifier: 5-fold stratified cross-validation")
        for h in ("set", "rows", "classes", "cv_accuracy", "cv_balanced", "chance", "seconds",
                  "estimator"):
            t.add_column(h)
        for r in rows:
            t.add_row(*[str(r[h]) for h in ("set", "rows", "classes", "cv_accuracy",
                                             "cv_balanced", "chance", "seconds", "estimator")])
        con.print(t)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
