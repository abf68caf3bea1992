"""Evaluation of custom skeletons: OKS AP with the skeleton's sigmas, PCK at a pixel threshold
and relative to the box size, and the mean pixel error of each keypoint.

- **OKS AP** (COCO's keypoint AP, averaged over OKS thresholds 0.50:0.05:0.95) is computed by
  pycocotools' ``COCOeval`` (:func:`posekit.eval.metrics.coco_ap`) with
  ``kpt_oks_sigmas`` = the skeleton's sigmas and the ground-truth box area as COCO's ``area``
  (custom data has no segmentation masks).
- **PCK@N px**: the fraction of labelled ground-truth keypoints whose matched prediction lies
  within N pixels; **PCK@a box**: within ``a * max(box width, box height)`` of that instance.
  Ground-truth instances with no matched prediction count as misses (all keypoints wrong).
- **Pixel error**: Euclidean distance in pixels between matched predicted and labelled
  keypoints, per keypoint and overall (mean and median), over the keypoints the model
  predicted (a missing predicted keypoint counts as a PCK miss but has no distance).

Matching, per image: the Hungarian assignment (``scipy.optimize.linear_sum_assignment``) of
predictions to ground-truth instances on the mean distance over their commonly present
keypoints; pairs whose boxes do not overlap at all stay unmatched.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..types import Poses, box_iou
from .datasets import KeypointDataset, apply_split, read_dataset

log = logging.getLogger(__name__)

PCK_PX = (5.0, 10.0)
PCK_BOX = 0.1


def to_eval_dataset(ds: KeypointDataset):
    """``ds`` as a :class:`posekit.eval.datasets.Dataset` (kind ``"coco"``, metric ``"oks"``,
    image ids 1..n in sample order, box areas as COCO ``area``), for pycocotools."""
    from ..eval.datasets import Dataset, GTImage

    images, ann = [], 1
    for i, s in enumerate(ds.samples):
        p = s.n_instances
        b = s.boxes.astype(np.float32)
        areas = np.clip((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1.0, None).astype(np.float32)
        images.append(GTImage(path=s.path, size_wh=s.size_wh, image_id=i + 1,
                              keypoints=s.keypoints.astype(np.float32),
                              visibility=s.visibility.astype(np.int8), boxes=b, areas=areas,
                              iscrowd=np.zeros(p, bool),
                              ann_ids=np.arange(ann, ann + p, dtype=np.int64)))
        ann += p
    return Dataset(name=Path(ds.source).stem, skeleton=ds.skeleton, images=tuple(images),
                   source=Path(ds.source), kind="coco", metric="oks")


def _match(gt_kp: np.ndarray, gt_box: np.ndarray, pred: Poses) -> list[tuple[int, int]]:
    """(gt, pred) index pairs: Hungarian on mean keypoint distance, boxes must overlap."""
    from scipy.optimize import linear_sum_assignment

    if len(gt_kp) == 0 or len(pred) == 0:
        return []
    d = np.linalg.norm(gt_kp[:, None] - pred.keypoints[None].astype(np.float64), axis=3)
    with np.errstate(invalid="ignore"):
        cost = np.where(np.isfinite(d).any(axis=2), np.nanmean(np.where(np.isfinite(d), d,
                                                                        np.nan), axis=2), 1e9)
    iou = box_iou(gt_box, pred.boxes)
    cost[iou <= 0] = 1e9
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < 1e9]


def evaluate_predictions(ds: KeypointDataset, predictions: Sequence[Poses], *,
                         pck_px: Sequence[float] = PCK_PX, pck_box: float = PCK_BOX) -> dict:
    """Metrics of ``predictions`` (one :class:`Poses` per sample of ``ds``, in ``ds``'s
    skeleton) against ``ds``'s labels (see the module doc).

    Returns a JSON-ready dict: ``images``, ``instances``, ``matched``, ``labelled_keypoints``,
    ``oks`` (``AP``, ``AP50``, ``AP75``, ``AR``... in [0, 1], pycocotools; absent where the
    skeleton has no sigmas), ``pck`` (``"<N>px"`` and ``"<a>box"`` in [0, 1]),
    ``mean_px_error``, ``median_px_error`` and ``per_keypoint`` (name -> ``mean_px_error``,
    ``pck_<N>px``, ``labelled``).

    Raises:
        DatasetError: the number of predictions differs from the samples, or a prediction's
            skeleton is not ``ds``'s.
    """
    from ..eval.metrics import coco_ap

    if len(predictions) != len(ds.samples):
        raise DatasetError(f"{len(predictions)} predictions for {len(ds.samples)} images")
    k = len(ds.skeleton)
    thr_px = [float(t) for t in pck_px]
    hits_px = np.zeros((len(thr_px), k))
    hits_box = np.zeros(k)
    labelled = np.zeros(k)
    errs: list[list[float]] = [[] for _ in range(k)]
    n_inst = n_match = 0
    for s, pred in zip(ds.samples, predictions):
        if len(pred) and pred.skeleton.keypoints != ds.skeleton.keypoints:
            raise DatasetError(f"predictions in {pred.skeleton.name}, the labels in "
                               f"{ds.skeleton.name}")
        lab = (s.visibility > 0) & np.isfinite(s.keypoints).all(axis=2)
        labelled += lab.sum(axis=0)
        n_inst += int(lab.any(axis=1).sum())
        for g, p in _match(s.keypoints.astype(np.float64), s.boxes, pred):
            n_match += 1
            d = np.linalg.norm(s.keypoints[g].astype(np.float64) - pred.keypoints[p], axis=1)
            ok = lab[g] & np.isfinite(d)
            for j in np.flatnonzero(ok):
                errs[j].append(float(d[j]))
            for t, thr in enumerate(thr_px):
                hits_px[t] += ok & (d <= thr)
            bw = s.boxes[g, 2] - s.boxes[g, 0]
            bh = s.boxes[g, 3] - s.boxes[g, 1]
            hits_box += ok & (d <= pck_box * max(bw, bh))
    tot = max(labelled.sum(), 1)
    all_err = np.concatenate([np.asarray(e) for e in errs]) if any(errs) else np.zeros(0)
    out: dict = {"images": len(ds.samples), "instances": n_inst, "matched": n_match,
                 "labelled_keypoints": int(labelled.sum())}
    if ds.skeleton.sigmas is not None:
        out["oks"] = {key: round(v, 4) for key, v in coco_ap(to_eval_dataset(ds),
                                                             list(predictions)).items()}
        out["sigmas"] = [round(float(x), 4) for x in ds.skeleton.sigmas]
    pck = {f"{t:g}px": round(float(h.sum() / tot), 4) for t, h in zip(thr_px, hits_px)}
    pck[f"{pck_box:g}box"] = round(float(hits_box.sum() / tot), 4)
    out["pck"] = pck
    out["mean_px_error"] = round(float(all_err.mean()), 3) if all_err.size else None
    out["median_px_error"] = round(float(np.median(all_err)), 3) if all_err.size else None
    out["per_keypoint"] = {
        name: {"labelled": int(labelled[j]),
               "mean_px_error": round(float(np.mean(errs[j])), 3) if errs[j] else None,
               **{f"pck_{t:g}px": round(float(hits_px[i][j] / max(labelled[j], 1)), 4)
                  for i, t in enumerate(thr_px)}}
        for j, name in enumerate(ds.skeleton.keypoints)}
    return out


def predict(model, ds: KeypointDataset,
            progress: Callable[[int, int], None] | None = None) -> list[Poses]:
    """Run ``model`` (a :class:`~posekit.models.PoseModel`) on every sample image (read as
    BGR with OpenCV); one :class:`Poses` per sample.

    Raises:
        DatasetError: an image cannot be read.
    """
    import cv2

    out = []
    for i, s in enumerate(ds.samples):
        img = cv2.imread(str(s.path), cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f"cannot read image {s.path}")
        out.append(model(img))
        if progress is not None:
            progress(i + 1, len(ds.samples))
    return out


def evaluate_model(model_dir: str | os.PathLike, data: str | os.PathLike | KeypointDataset,
                   *, split: str | None = "auto", pck_px: Sequence[float] = PCK_PX,
                   pck_box: float = PCK_BOX, max_images: int | None = None,
                   progress: Callable[[int, int], None] | None = None, **model_settings
                   ) -> dict:
    """Evaluate the trained model in ``model_dir`` on ``data`` (any format
    :func:`~posekit.train.datasets.read_dataset` reads, or a read dataset).

    ``split``: ``"auto"`` (default) evaluates on the model's own validation images where
    ``data`` is the dataset it was trained on (the ``split.val_files`` of its ``report.json``),
    else on the source's ``val`` split where it has one, else on every image; ``"val"``,
    ``"train"`` or None (every image) choose explicitly. The dataset is read with the model's
    skeleton, so its sigmas are used. Returns :func:`evaluate_predictions`' dict plus
    ``model``, ``data``, ``split`` and ``ms_per_image``.

    Raises:
        ModelError: not a trained model folder.
        DatasetError: unreadable data, a keypoint count that differs from the model's, or an
            empty selection.
    """
    import json
    import time

    from ..models.trained import TrainedPose

    model = TrainedPose(model_dir, **model_settings)
    try:
        ds = data if isinstance(data, KeypointDataset) else read_dataset(
            data, skeleton=model.skeleton)
        if len(ds.skeleton) != len(model.skeleton):
            raise DatasetError(f"{ds.source}: {len(ds.skeleton)} keypoints, the model has "
                               f"{len(model.skeleton)}")
        used = "all"
        if split == "auto":
            val_files = []
            rep = Path(model_dir) / "report.json"
            if rep.is_file():
                try:
                    r = json.loads(rep.read_text())
                    if str(Path(r["dataset"]["source"]).resolve()) == str(
                            Path(ds.source).resolve()):
                        val_files = r["split"]["val_files"]
                except (ValueError, KeyError, TypeError):
                    val_files = []
            if val_files:
                ds, used = apply_split(ds, val_files).split("val"), "model-val"
            elif any(s.split == "val" for s in ds.samples):
                ds, used = ds.split("val"), "val"
        elif split is not None:
            ds, used = ds.split(split), split
        if max_images:
            from dataclasses import replace

            ds = replace(ds, samples=ds.samples[:max_images])
        if not ds.samples:
            raise DatasetError(f"no images to evaluate (split {split!r})")
        ds_model = ds if ds.skeleton == model.skeleton else _with_skeleton(ds, model.skeleton)
        t0 = time.perf_counter()
        preds = predict(model, ds_model, progress)
        ms = 1000.0 * (time.perf_counter() - t0) / len(ds_model.samples)
    finally:
        model.close()
    res = evaluate_predictions(ds_model, preds, pck_px=pck_px, pck_box=pck_box)
    return {"model": str(model_dir), "data": str(ds.source), "split": used,
            "ms_per_image": round(ms, 1), **res}


def _with_skeleton(ds: KeypointDataset, skeleton) -> KeypointDataset:
    from dataclasses import replace

    sk = skeleton if skeleton.sigmas is not None else replace(skeleton,
                                                              sigmas=ds.skeleton.sigmas)
    return replace(ds, skeleton=sk)


def eval_table(res: dict) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the per-keypoint table of an :func:`evaluate_model` result."""
    thr = [k for k in next(iter(res["per_keypoint"].values())) if k.startswith("pck_")]
    headers = ["keypoint", "labelled", "mean px error", *[t.replace("_", "@") for t in thr]]
    rows = []
    for name, d in res["per_keypoint"].items():
        e = d["mean_px_error"]
        rows.append([name, str(d["labelled"]), "-" if e is None else f"{e:.1f}",
                     *[f"{d[t]:.3f}" for t in thr]])
    return headers, rows


def eval_cli(specs: Sequence[str], models: Sequence[str], *, out: Path | None = None,
             max_images: int | None = None, fail: Callable[[str], None]) -> None:
    """``posekit eval pose DATA --model DIR``: print a summary table (OKS AP, PCK, pixel
    error) per (data, model) and the per-keypoint table; write ``report.json`` to ``out``.
    ``fail(message)`` ends the command (the eval CLI's ``error: ...`` exit 2)."""
    import json

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ..errors import PoseKitError
    from ..models.trained import is_trained_dir

    bad = [m for m in models if not is_trained_dir(m)]
    if bad:
        fail(f"cannot mix trained model folders with named models ({', '.join(bad)}) in one "
             "run: custom skeletons are scored on their own datasets")
    console = Console(stderr=True)
    results = []
    try:
        with Progress(console=console, transient=True) as bar:
            for spec in specs:
                for m in models:
                    task = bar.add_task(f"{Path(m).name} on {Path(spec).name}", total=None)
                    results.append(evaluate_model(
                        m, spec, max_images=max_images,
                        progress=lambda d, n, t=task: bar.update(t, completed=d, total=n)))
    except PoseKitError as e:
        fail(str(e))
        return
    table = Table(title="posekit eval (trained models)")
    cols = ["data", "model", "split", "images", "AP", "AP50", "PCK@5px", "PCK@10px",
            "PCK@0.1box", "mean px", "median px", "ms/img"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("data", "model", "split") else "right")
    for r in results:
        oks = r.get("oks") or {}
        f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        table.add_row(Path(r["data"]).name, Path(r["model"]).name, r["split"],
                      str(r["images"]), f(oks.get("AP")), f(oks.get("AP50")),
                      f(r["pck"].get("5px")), f(r["pck"].get("10px")),
                      f(r["pck"].get("0.1box")), f(r["mean_px_error"]),
                      f(r["median_px_error"]), f"{r['ms_per_image']:.0f}")
    Console().print(table)
    for r in results:
        headers, rows = eval_table(r)
        t = Table(title=f"{Path(r['model']).name} per keypoint")
        for h in headers:
            t.add_column(h, justify="left" if h == "keypoint" else "right")
        for row in rows:
            t.add_row(*row)
        Console().print(t)
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps({"results": results}, indent=1))
        except OSError as e:
            fail(f"cannot write {out}: {e.strerror or e}")
        console.print(f"report: {out / 'report.json'}")


__all__ = ["PCK_BOX", "PCK_PX", "eval_cli", "eval_table", "evaluate_model", "evaluate_predictions",
           "predict", "to_eval_dataset"]
