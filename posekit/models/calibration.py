"""Keypoint score calibration: raw confidences -> probability of lying within a distance.

The ``hybrid`` model (:mod:`posekit.models.hybrid`) arbitrates between two networks' keypoints
whose raw scores mean different things: YOLO-pose's keypoint confidence and BlazePose's
visibility times its pose flag. A :class:`ScoreCalibration` maps each raw score to the
probability, measured on annotated images, that the keypoint lies within
:data:`HIT_RADIUS` times the person's scale ``s`` (square root of the ground-truth box area,
COCO's OKS scale) of the ground truth. The map is an isotonic (monotone non-decreasing) step
function per source and keypoint group, fitted with scikit-learn's ``IsotonicRegression``
(pool-adjacent-violators); at run time it is a table lookup (``numpy.interp``), so scikit-learn
is needed only to fit.

The shipped table (``hybrid_calibration.json`` beside this module) is fitted by
``bench/bench_accuracy.py --fit`` on every set in ``../shared/data``; the bench reports each
set's scores with a table fitted on the other sets only (leave one dataset out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..skeletons import COCO_17

#: Distance, in units of the person's scale ``s`` (sqrt of the box area, pixels), within which
#: a keypoint counts as right (a hit) for the calibration. At 0.1 a keypoint with COCO's
#: median sigma (0.062, k = 2 sigma) keeps an OKS term of exp(-0.1^2 / (2 * 0.124^2)) = 0.72.
HIT_RADIUS = 0.1

#: Keypoint group of each COCO-17 keypoint (index into :data:`GROUPS`), (17,) int64: the
#: calibration is fitted per group, left and right together.
GROUPS = ("face", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
COCO_GROUP = np.array([0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6], np.int64)
assert len(COCO_GROUP) == len(COCO_17)

#: Sources the hybrid calibrates.
SOURCES = ("yolo", "blazepose")

DEFAULT_PATH = Path(__file__).with_name("hybrid_calibration.json")


@dataclass(frozen=True, kw_only=True)
class ScoreCalibration:
    """Monotone step functions raw score -> P(hit), per source and keypoint group.

    Attributes:
        tables: ``{"<source>/<group>": (x, y)}``, ``x`` increasing raw scores in [0, 1] and
            ``y`` non-decreasing probabilities in [0, 1], both (M,) float64 lists; between
            knots the probability is interpolated linearly, outside them clipped.
        hit_radius: the distance the probabilities refer to (see :data:`HIT_RADIUS`).
        fitted_on: names of the datasets the tables were fitted on.
        margin: probability by which BlazePose's calibrated score must beat YOLO's for its
            keypoint to replace YOLO's where the two disagree (see
            :func:`posekit.models.hybrid.fuse_calibrated`), in [0, 1]; fitted with the tables.
    Raises:
        ModelError: a table that is not increasing in ``x``, decreasing in ``y``, or outside
            [0, 1], or a missing source/group.
    """

    tables: dict
    hit_radius: float = HIT_RADIUS
    fitted_on: tuple[str, ...] = ()
    margin: float = 0.5

    def __post_init__(self):
        if not 0.0 <= self.margin <= 1.0:
            raise ModelError(f"calibration margin must be in [0, 1], got {self.margin}")
        for src in SOURCES:
            for g in GROUPS:
                key = f"{src}/{g}"
                if key not in self.tables:
                    raise ModelError(f"calibration: no table for {key!r}")
                x, y = (np.asarray(a, np.float64) for a in self.tables[key])
                if x.ndim != 1 or x.shape != y.shape or len(x) == 0:
                    raise ModelError(f"calibration {key}: x and y must be equal (M,) arrays")
                if (np.diff(x) < 0).any() or (np.diff(y) < -1e-9).any():
                    raise ModelError(f"calibration {key}: not monotone")
                if y.min() < 0 or y.max() > 1:
                    raise ModelError(f"calibration {key}: probabilities outside [0, 1]")

    def probability(self, source: str, raw: np.ndarray) -> np.ndarray:
        """P(hit) of COCO-17 keypoints from ``source`` (``"yolo"`` or ``"blazepose"``).

        Args:
            raw: (..., 17) raw scores in [0, 1] (NaN counts as 0).
        Returns:
            (..., 17) float64 probabilities in [0, 1].
        """
        if source not in SOURCES:
            raise ModelError(f"calibration source must be one of {SOURCES}, got {source!r}")
        r = np.nan_to_num(np.asarray(raw, np.float64))
        if r.shape[-1:] != (len(COCO_17),):
            raise ValueError(f"expected (..., 17) scores, got {r.shape}")
        out = np.empty_like(r)
        for gi, g in enumerate(GROUPS):
            x, y = self.tables[f"{source}/{g}"]
            cols = COCO_GROUP == gi
            out[..., cols] = np.interp(r[..., cols], x, y)
        return out

    def to_json(self) -> dict:
        return {"hit_radius": self.hit_radius, "fitted_on": list(self.fitted_on),
                "margin": self.margin,
                "tables": {k: [list(map(float, x)), list(map(float, y))]
                           for k, (x, y) in self.tables.items()}}

    @classmethod
    def from_json(cls, d: dict) -> ScoreCalibration:
        return cls(tables={k: (list(v[0]), list(v[1])) for k, v in d["tables"].items()},
                   hit_radius=float(d.get("hit_radius", HIT_RADIUS)),
                   fitted_on=tuple(d.get("fitted_on", ())),
                   margin=float(d.get("margin", 0.5)))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")


def load_calibration(path: str | Path | None = None) -> ScoreCalibration:
    """The calibration stored at ``path`` (default: the shipped ``hybrid_calibration.json``).

    Raises:
        ModelError: the file is missing or not a valid calibration.
    """
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        return ScoreCalibration.from_json(json.loads(p.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"cannot read keypoint calibration {p}: {e}") from e


def fit_calibration(samples: dict[str, tuple[np.ndarray, np.ndarray]], *,
                    fitted_on: tuple[str, ...] = (), max_knots: int = 24) -> ScoreCalibration:
    """Fit isotonic maps raw score -> P(hit) with scikit-learn's ``IsotonicRegression``.

    Args:
        samples: ``{source: (raw, hit)}``, ``raw`` (M, 17) float scores of matched persons'
            keypoints (NaN where the keypoint is not labelled: left out) and ``hit`` (M, 17)
            bool (within :data:`HIT_RADIUS` of the ground truth).
        max_knots: knots at quantiles of the raw scores (besides 21 evenly spaced ones).
    Returns:
        A :class:`ScoreCalibration` with every source and group; a group with fewer than
        20 samples gets the source's pooled map.
    """
    from sklearn.isotonic import IsotonicRegression

    def one(r: np.ndarray, h: np.ndarray):
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(r, h.astype(np.float64))
        x = np.quantile(r, np.linspace(0, 1, max_knots))
        x = np.unique(np.concatenate([np.linspace(0.0, 1.0, 21), x]))
        return x.tolist(), np.maximum.accumulate(iso.predict(x)).tolist()

    tables = {}
    for src in SOURCES:
        raw, hit = samples[src]
        raw = np.asarray(raw, np.float64)
        hit = np.asarray(hit, bool)
        ok = np.isfinite(raw)
        pooled = one(raw[ok], hit[ok])
        for gi, g in enumerate(GROUPS):
            sel = ok & (COCO_GROUP == gi)[None]
            tables[f"{src}/{g}"] = one(raw[sel], hit[sel]) if sel.sum() >= 20 else pooled
    return ScoreCalibration(tables=tables, fitted_on=tuple(fitted_on))


def match_samples(image, gt_skeleton, boxes: np.ndarray,
                  sources: dict[str, tuple[np.ndarray, np.ndarray]], *,
                  min_iou: float = 0.3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Calibration samples of one annotated image.

    Predicted persons are matched one to one to the image's annotated GT persons, greedily by
    decreasing box IoU (at least ``min_iou``); for each matched pair and each COCO-17 keypoint
    labelled in the GT (matched by name, so any GT skeleton with COCO names works), each
    source's raw score and whether its keypoint lies within :data:`HIT_RADIUS` times
    sqrt(GT box area) of the GT keypoint.

    Args:
        image: a :class:`posekit.eval.datasets.GTImage`.
        gt_skeleton: the dataset's skeleton.
        boxes: (N, 4) xyxy pixels of the predicted persons.
        sources: ``{source: (keypoints (N, 17, 2) pixels, raw scores (N, 17))}``.
    Returns:
        ``{source: (raw (M, 17) float64, NaN where the GT has no label, hit (M, 17) bool)}``.
    """
    from ..types import box_iou

    names = gt_skeleton.keypoints
    col = np.array([names.index(n) if n in names else -1 for n in COCO_17.keypoints])
    ok = col >= 0
    out = {s: ([], []) for s in sources}
    gt = np.nonzero(image.annotated)[0]
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(b) and len(gt):
        iou = box_iou(b, image.boxes[gt])
        while iou.max() >= min_iou:
            a, g = np.unravel_index(np.argmax(iou), iou.shape)
            iou[a, :] = -1
            iou[:, g] = -1
            gi = gt[g]
            gk = np.full((17, 2), np.nan)
            gk[ok] = image.keypoints[gi][col[ok]]
            lab = np.zeros(17, bool)
            lab[ok] = image.visibility[gi][col[ok]] > 0
            gb = image.boxes[gi]
            s = np.sqrt(max(float((gb[2] - gb[0]) * (gb[3] - gb[1])), 1.0))
            for src, (kp, raw) in sources.items():
                k = np.asarray(kp, np.float64)[a]
                with np.errstate(invalid="ignore"):
                    hit = np.linalg.norm(k - gk, axis=1) <= HIT_RADIUS * s
                out[src][0].append(np.where(lab & np.isfinite(k).all(1),
                                            np.asarray(raw, np.float64)[a], np.nan))
                out[src][1].append(hit & lab)
    return {s: (np.asarray(v[0], np.float64).reshape(-1, 17),
                np.asarray(v[1], bool).reshape(-1, 17)) for s, v in out.items()}


__all__ = ["COCO_GROUP", "GROUPS", "HIT_RADIUS", "SOURCES", "ScoreCalibration",
           "fit_calibration", "load_calibration", "match_samples"]
