"""Evaluation report: table, JSON, matplotlib plots and worst-case overlays.

Plots use matplotlib's Agg backend (files only, no window). Overlays are drawn here with plain
OpenCV calls: ground truth in green, the prediction (in the ground truth's skeleton) in red,
joints that missed the PCK threshold ringed in yellow.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError
from ..skeletons import Skeleton
from .datasets import GTImage

log = logging.getLogger(__name__)

#: Columns of the summary table: (header, row key, format).
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("dataset", "dataset", "s"), ("model", "model", "s"), ("AP", "AP", ".3f"),
    ("AP50", "AP50", ".3f"), ("AR", "AR", ".3f"), ("PCK", "pck", ".3f"),
    ("metric", "pck_name", "s"), ("ms/img", "ms_per_image", ".1f"),
    ("found/annot.", "_found", "s"), ("matched", "n_matched", "d"),
)


def table_rows(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of the summary table (``-`` where a value is undefined)."""
    headers = [h for h, _, _ in TABLE_COLUMNS]
    cells = []
    for r in rows:
        line = []
        for _, key, fmt in TABLE_COLUMNS:
            if key == "_found":
                line.append(f"{r['n_found']}/{r['n_persons']}")
                continue
            v = r.get(key)
            if v is None or (isinstance(v, float) and (math.isnan(v) or v < 0)):
                line.append("-")
            else:
                line.append(format(v, fmt))
        cells.append(line)
    return headers, cells


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary table as plain text (for logs, bench scripts and notes)."""
    headers, cells = table_rows(rows)
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    fmt = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(c) for c in cells])


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_per_joint(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Grouped bars: per-joint PCK of each model on one dataset (rows of one dataset)."""
    plt = _plt()
    joints = list(rows[0]["per_joint"])
    x = np.arange(len(joints))
    width = 0.8 / max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(joints) + 2), 4.5))
    for i, r in enumerate(rows):
        vals = [r["per_joint"][j] for j in joints]
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, np.nan_to_num(vals), width,
               label=r["model"])
    ax.set_xticks(x, joints, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(rows[0]["pck_name"])
    ax.set_title(f"{rows[0]['dataset']}: per-joint {rows[0]['pck_name']}")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pck_curve(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """PCK (overall) against the threshold, one line per model, for one dataset."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for r in rows:
        c = r["curve"]
        ax.plot(c["thresholds"], c["values"], label=r["model"])
    name = rows[0]["pck_name"].split("@")[0]
    ax.set_xlabel(f"threshold (fraction of the {rows[0]['_pck'].norm} normaliser)"
                  if "_pck" in rows[0] else "threshold")
    ax.set_ylabel(name)
    ax.set_ylim(0, 1.0)
    ax.set_title(f"{rows[0]['dataset']}: {name} vs threshold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _draw_skeleton(img: np.ndarray, kp: np.ndarray, skeleton: Skeleton, color, r: int,
                   t: int) -> None:
    import cv2

    ok = np.isfinite(kp).all(axis=1)
    for a, b in skeleton.edges:
        if ok[a] and ok[b]:
            cv2.line(img, tuple(round(v) for v in kp[a]),
                     tuple(round(v) for v in kp[b]), color, t, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(img, tuple(round(v) for v in kp[j]), r, color, -1, cv2.LINE_AA)


def draw_overlay(image: np.ndarray, gt: GTImage, skeleton: Skeleton, pred_kp: np.ndarray,
                 missed: np.ndarray | None = None, title: str = "") -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 BGR with the GT persons (green), the predictions
    ``pred_kp`` (D, K, 2) pixels in the GT skeleton (red) and the GT keypoints in ``missed``
    ((P, K) bool) ringed in yellow; ``title`` printed in the top-left corner."""
    import cv2

    out = image.copy()
    scale = max(out.shape[:2]) / 640.0
    r, t = max(2, round(3 * scale)), max(1, round(2 * scale))
    for p in np.flatnonzero(gt.annotated):
        kp = np.where((gt.visibility[p] > 0)[:, None], gt.keypoints[p], np.nan)
        _draw_skeleton(out, kp, skeleton, (0, 200, 0), r, t)
        if missed is not None:
            for j in np.flatnonzero(missed[p] & np.isfinite(kp).all(axis=1)):
                cv2.circle(out, tuple(round(v) for v in kp[j]), 3 * r, (0, 255, 255), t,
                           cv2.LINE_AA)
    for kp in pred_kp:
        _draw_skeleton(out, kp, skeleton, (0, 0, 255), max(1, r - 1), max(1, t - 1))
    if title:
        fs = 0.5 * scale
        cv2.putText(out, title, (8, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0),
                    max(2, 3 * t), cv2.LINE_AA)
        cv2.putText(out, title, (8, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, fs,
                    (255, 255, 255), max(1, t), cv2.LINE_AA)
    return out


def _missed_by_image(row: dict) -> dict[int, np.ndarray]:
    """image index -> (P, K) bool of GT keypoints that missed the row's PCK threshold."""
    r = row["_pck"]
    ds = row["_dataset"]
    out: dict[int, np.ndarray] = {}
    for n, p, d in zip(r.image_index, r.person_index, r.distances):
        m = out.setdefault(int(n), np.zeros(ds.images[int(n)].visibility.shape, bool))
        with np.errstate(invalid="ignore"):
            m[int(p)] = (d > r.alpha) & ~np.isnan(d)
    return out


def write_worst(row: dict, folder: Path, n: int) -> list[Path]:
    """Overlays of the ``n`` worst images of one row (see :func:`runner.worst_images`)."""
    import cv2

    from .metrics import to_gt_skeleton
    from .runner import read_image, worst_images

    ds, preds = row["_dataset"], row["_preds"]
    idx = worst_images(row, n)
    if not idx:
        return []
    missed = _missed_by_image(row)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in row["model"])
    for rank, i in enumerate(idx):
        im = ds.images[i]
        poses = preds.poses[i]
        kp = (to_gt_skeleton(poses, ds.skeleton).keypoints if len(poses)
              else np.zeros((0, len(ds.skeleton), 2)))
        title = f"{row['model']} | {im.path.name} | green GT, red prediction"
        img = draw_overlay(read_image(im.path), im, ds.skeleton, kp, missed.get(i), title)
        p = folder / f"{ds.name}_{safe}_{rank + 1}.jpg"
        if not cv2.imwrite(str(p), img):
            raise OutputError(f"cannot write {p}")
        paths.append(p)
    return paths


def _jsonable(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    return v


def write_report(report, out_dir: Path, n_worst: int = 3) -> None:
    """Write ``report.json``, per-dataset plots and worst-case overlays under ``out_dir``.

    Raises:
        OutputError: ``out_dir`` cannot be created or written.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {out_dir}: {e.strerror or e}") from e
    by_set: dict[str, list[dict]] = {}
    for r in report.rows:
        by_set.setdefault(r["dataset"], []).append(r)
    files: dict[str, list[str]] = {}
    for name, rows in by_set.items():
        got = []
        try:
            p = out_dir / f"{name}_per_joint.png"
            plot_per_joint(rows, p)
            got.append(p.name)
            p = out_dir / f"{name}_pck_curve.png"
            plot_pck_curve(rows, p)
            got.append(p.name)
        except ImportError as e:
            log.warning("no plots (matplotlib missing): %s", e)
        if n_worst > 0:
            for r in rows:
                got += [str(p.relative_to(out_dir)) for p in
                        write_worst(r, out_dir / "worst", n_worst)]
        files[name] = got
    data = _jsonable(report.to_json())
    data["files"] = files
    data["table"] = format_table(report.rows)
    try:
        (out_dir / "report.json").write_text(json.dumps(data, indent=1))
    except OSError as e:
        raise OutputError(f"cannot write {out_dir / 'report.json'}: {e.strerror or e}") from e


__all__ = [
    "TABLE_COLUMNS",
    "draw_overlay",
    "format_table",
    "plot_pck_curve",
    "plot_per_joint",
    "table_rows",
    "write_report",
    "write_worst",
]
