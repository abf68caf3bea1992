"""MOTChallenge files and metrics: read/write rows, a MOT sink, MOTA/IDF1 via py-motmetrics.

Row format (MOT15 2D, CSV, no header), frames **1-based**::

    frame, id, bb_left, bb_top, bb_width, bb_height, conf, x, y, z

Boxes are pixels (top-left corner, width, height). Ground truth rows with ``conf = 0`` are
"do not count" boxes: :func:`evaluate_mot` drops them, as py-motmetrics does with
``min_confidence=1`` (this reproduces the MOTChallenge devkit figures for TUD-Campus and
TUD-Stadtmitte; see ``shared/data/tud-campus/SOURCE.md``). Predicted rows carry the person
score in ``conf`` and -1 in x, y, z.

Poses become MOT boxes with :func:`pose_boxes_for_mot`: BlazePose's 33 landmarks stop at the
joints (eyes, ears, wrists, heels, toes), while MOT annotators draw the body outline, so the
landmark extent is padded by fractions of the body height calibrated on PETS09-S2L1's
ground truth (see the function).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DatasetError, PoseKitError
from ..io.sinks import LineFile, Sink, check_output_path
from ..track.outline import body_boxes
from ..types import Frame, Poses

log = logging.getLogger(__name__)

MOT_COLUMNS = ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf", "x", "y", "z")


def read_mot(path: str | Path) -> np.ndarray:
    """Rows of a MOTChallenge file as an (M, 10) float64 array (columns :data:`MOT_COLUMNS`).

    Files with 6 to 9 columns (e.g. MOT15 ``det.txt``: ``frame,-1,x,y,w,h,score``) are padded:
    a missing ``conf`` becomes 1 and missing x, y, z become -1. Blank lines are skipped; an
    empty file gives a (0, 10) array.

    Raises:
        DatasetError: the file is missing or a row is not 6 to 10 numbers.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise DatasetError(f"cannot read MOT file {p}: {e.strerror or e}") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            vals = [float(v) for v in line.replace(" ", "").split(",") if v != ""]
        except ValueError:
            raise DatasetError(f"{p}:{n}: expected comma-separated numbers, "
                               f"got {line!r}") from None
        if not 6 <= len(vals) <= 10:
            raise DatasetError(f"{p}:{n}: expected 6 to 10 columns, got {len(vals)}")
        rows.append(vals + [1.0, -1.0, -1.0, -1.0][len(vals) - 6:])
    return np.array(rows, np.float64).reshape(-1, 10)


def format_mot_rows(rows: np.ndarray) -> str:
    """MOTChallenge text for (M, 6..10) rows: integer frame and id, boxes with 2 decimals."""
    rows = np.asarray(rows, np.float64)
    out = []
    for r in rows:
        r = list(r) + [1.0, -1.0, -1.0, -1.0][len(r) - 6:]
        out.append(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},"
                   f"{r[6]:.4g},{r[7]:.4g},{r[8]:.4g},{r[9]:.4g}\n")
    return "".join(out)


def write_mot(path: str | Path, rows: np.ndarray) -> Path:
    """Write (M, 6..10) rows (see :func:`format_mot_rows`) to ``path``; returns the path.

    Raises:
        OutputError: the path cannot be written.
    """
    p = check_output_path(path)
    f = LineFile(p)
    try:
        f.append(format_mot_rows(rows))
    finally:
        f.close()
    return p


def pose_boxes_for_mot(poses: Poses, *, min_score: float = 0.0,
                       min_feet_visibility: float = 0.3) -> np.ndarray:
    """Body-outline boxes (N, 4) float32 xyxy pixels from BlazePose landmarks, comparable with
    MOTChallenge ground truth: :func:`posekit.track.body_boxes` (landmark extent padded to the
    head top, soles and sides with fractions of the body height calibrated on PETS09-S2L1's
    GT; torso-based where the feet are not visible). See that function for the rules.

    Poses whose ``extras["boxes_kind"]`` is ``"outline"`` (the output of
    :class:`posekit.track.TopDownTracker`, whose boxes are these outline boxes, corrected with
    the detector's boxes where the landmarks mix two people) keep their ``boxes``."""
    if poses.extras.get("boxes_kind") == "outline":
        return np.asarray(poses.boxes, np.float32).reshape(len(poses), 4)
    return body_boxes(poses, min_score=min_score, min_feet_visibility=min_feet_visibility)


def mot_rows(frame_number: int, poses: Poses, boxes: np.ndarray | None = None) -> np.ndarray:
    """(M, 10) float64 MOT rows for the tracked persons of one frame.

    Args:
        frame_number: the MOT frame number (1-based: ``frame.index + 1``).
        poses: persons with ``track_ids``; persons without an ID (``track_ids`` None or
            negative) and persons with a non-finite box are left out.
        boxes: (N, 4) xyxy pixels to write instead of :func:`pose_boxes_for_mot`.
    """
    if poses.track_ids is None or len(poses) == 0:
        return np.zeros((0, 10))
    b = pose_boxes_for_mot(poses) if boxes is None else np.asarray(boxes, np.float64)
    keep = (poses.track_ids >= 0) & np.isfinite(b).all(axis=1)
    b = b[keep].astype(np.float64)
    m = len(b)
    rows = np.full((m, 10), -1.0)
    rows[:, 0] = frame_number
    rows[:, 1] = poses.track_ids[keep]
    rows[:, 2:4] = b[:, :2]
    rows[:, 4:6] = b[:, 2:] - b[:, :2]
    rows[:, 6] = poses.person_scores[keep]
    return rows


class MotSink(Sink):
    """Writes MOTChallenge rows (frame, id, left, top, width, height, score, -1, -1, -1).

    ``write(frame, poses)`` writes one row per tracked person with MOT frame number
    ``frame.index + 1`` and flushes, so the file is complete after every frame. Persons without
    a track ID are skipped (run a :class:`posekit.track.Tracker` first). Boxes come from
    ``box_fn(poses)`` (default :func:`pose_boxes_for_mot`).

    >>> with MotSink("pred.txt") as sink:                      # doctest: +SKIP
    ...     for frame in source:
    ...         sink.write(frame, tracker.update(model(frame), frame.time_s))

    Raises:
        OutputError: the path cannot be written or is one of ``inputs``.
    """

    def __init__(self, path: str | Path, *, inputs=(),
                 box_fn: Callable[[Poses], np.ndarray] = pose_boxes_for_mot):
        self.path = check_output_path(path, inputs)
        self._box_fn = box_fn
        self._f = LineFile(self.path)
        self.rows_written = 0

    def write(self, frame: Frame, poses: Poses, image=None) -> None:
        if poses.track_ids is None:
            return
        rows = mot_rows(frame.index + 1, poses, self._box_fn(poses))
        if len(rows):
            self._f.append(format_mot_rows(rows))   # a whole frame per write
            self.rows_written += len(rows)

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def _rows(x: str | Path | np.ndarray) -> np.ndarray:
    if isinstance(x, (str, Path)):
        return read_mot(x)
    a = np.asarray(x, np.float64)
    if a.ndim != 2 or not 6 <= a.shape[1] <= 10:
        raise DatasetError(f"MOT rows: expected (M, 6..10), got {a.shape}")
    if a.shape[1] < 10:
        pad = np.tile(np.array([1.0, -1.0, -1.0, -1.0])[a.shape[1] - 6:], (len(a), 1))
        a = np.hstack([a, pad])
    return a


def evaluate_mot(gt: str | Path | np.ndarray, pred: str | Path | np.ndarray, *,
                 iou_threshold: float = 0.5, min_confidence: float = 1.0) -> dict:
    """CLEAR-MOT and identity metrics of ``pred`` against ``gt`` with py-motmetrics.

    Args:
        gt, pred: MOTChallenge file paths or (M, 6..10) row arrays (1-based frames).
        iou_threshold: a prediction matches a GT box when their IoU is at least this.
        min_confidence: GT rows with ``conf`` below it are dropped (MOT15 ``conf = 0`` rows).

    Returns:
        dict with ``mota``, ``idf1``, ``idp``, ``idr``, ``recall``, ``precision``, ``motp``
        (mean 1 - IoU of matches) as fractions in [0, 1] (MOTA can be negative), and the counts
        ``id_switches``, ``fp``, ``fn``, ``fragmentations``, ``mostly_tracked``,
        ``partially_tracked``, ``mostly_lost``, ``num_gt`` (boxes), ``num_gt_ids``,
        ``num_pred_ids``, ``num_frames`` (frames in the union of both files).

    Raises:
        PoseKitError: ``motmetrics`` is not installed.
        DatasetError: a file cannot be read.
    """
    try:
        import motmetrics as mm
    except ImportError as e:
        raise PoseKitError(f"MOT evaluation needs py-motmetrics (a posekit dependency): "
                           f"pip install motmetrics ({e})") from None
    g = _rows(gt)
    g = g[g[:, 6] >= min_confidence]
    p = _rows(pred)
    acc = mm.MOTAccumulator(auto_id=False)
    frames = np.union1d(np.unique(g[:, 0]), np.unique(p[:, 0])).astype(int)
    g_by = _split_by_frame(g)
    p_by = _split_by_frame(p)
    empty = np.zeros((0, 10))
    for f in frames:
        gf, pf = g_by.get(f, empty), p_by.get(f, empty)
        dist = mm.distances.iou_matrix(gf[:, 2:6], pf[:, 2:6], max_iou=1.0 - iou_threshold)
        acc.update(gf[:, 1].astype(int).tolist(), pf[:, 1].astype(int).tolist(), dist, frameid=f)
    names = ["mota", "idf1", "idp", "idr", "recall", "precision", "motp", "num_switches",
             "num_false_positives", "num_misses", "num_fragmentations", "mostly_tracked",
             "partially_tracked", "mostly_lost", "num_objects", "num_unique_objects"]
    s = mm.metrics.create().compute(acc, metrics=names, name="seq")
    v = {k: float(s[k].iloc[0]) for k in names}
    return {
        "mota": v["mota"], "idf1": v["idf1"], "idp": v["idp"], "idr": v["idr"],
        "recall": v["recall"], "precision": v["precision"], "motp": v["motp"],
        "id_switches": int(v["num_switches"]), "fp": int(v["num_false_positives"]),
        "fn": int(v["num_misses"]), "fragmentations": int(v["num_fragmentations"]),
        "mostly_tracked": int(v["mostly_tracked"]),
        "partially_tracked": int(v["partially_tracked"]),
        "mostly_lost": int(v["mostly_lost"]), "num_gt": int(v["num_objects"]),
        "num_gt_ids": int(v["num_unique_objects"]),
        "num_pred_ids": len(np.unique(p[:, 1])), "num_frames": len(frames),
    }


def _split_by_frame(rows: np.ndarray) -> dict[int, np.ndarray]:
    if not len(rows):
        return {}
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    f = rows[:, 0].astype(int)
    cuts = np.flatnonzero(np.diff(f)) + 1
    return {int(c[0, 0]): c for c in np.split(rows, cuts)}


__all__ = [
    "MOT_COLUMNS",
    "MotSink",
    "evaluate_mot",
    "format_mot_rows",
    "mot_rows",
    "pose_boxes_for_mot",
    "read_mot",
    "write_mot",
]
