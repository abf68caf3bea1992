"""Accuracy metrics: COCO OKS AP/AR (through pycocotools' COCOeval), PCK@alpha and PCKh.

Predictions are one :class:`~posekit.types.Poses` per image of a
:class:`~posekit.eval.datasets.Dataset`, in any skeleton that maps onto the dataset's (see
:func:`to_gt_skeleton`).

How missing predictions count, everywhere: a ground-truth person no prediction is matched to
counts as a miss (all its keypoints wrong for PCK; a false negative for COCO AP/AR); a predicted
keypoint that is missing (NaN, as ``Poses`` marks it, or a keypoint the model's skeleton cannot
provide, e.g. ``head_top`` without :func:`add_head_top`) counts as wrong.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import DatasetError
from ..skeletons import Skeleton, mapping_matrix
from ..types import Poses
from .datasets import Dataset, GTImage

log = logging.getLogger(__name__)

#: Distance given to a missing predicted keypoint in COCO results (pixels): far enough that its
#: OKS term exp(-d^2 / (2 s^2 k^2)) is 0 for any person size.
MISSING_XY = -1.0e5

# ----------------------------------------------------------------------------------------------
# Skeleton conversion, with head_top extrapolation

#: Scale of the head-top extrapolation: head_top = c + HEAD_TOP_K * (c - n), with c the centre
#: of the head points (ears, else eyes, else nose) and n the neck (shoulder midpoint).
#: Justification: in adult proportions the ears sit ~20 cm above the shoulder line and the vertex
#: ~10-12 cm above the ears (ratio ~0.5-0.6). Checked on ground truth that has both the COCO
#: face points and a labelled head top, none of it in the LSP/MPII sets evaluated with it:
#: mmpose's Halpe-136 (``head``) and PoseTrack18 (``head_top``) test data, 24 persons. With
#: ground-truth inputs the rule lands a median 0.46 head-segment lengths from the labelled head
#: top for k = 0.4-0.5 (0.49 at 0.6, 0.64 at 1.0), so about half of the extrapolated head tops
#: pass PCKh@0.5 even from perfect face points: read head_top's PCK with that in mind.
HEAD_TOP_K = 0.5


def _map(poses: Poses, dst: Skeleton) -> Poses:
    """``poses.to(dst)``, with a missing (NaN) source keypoint spoiling only the destination
    keypoints built from it (``Poses.to``'s averaging matrix multiplies NaN by 0 weights too)."""
    if dst == poses.skeleton:
        return poses
    nan = ~np.isfinite(poses.keypoints).all(axis=-1)                 # (N, K_src)
    if not nan.any():
        return poses.to(dst)
    clean = poses.replace(keypoints=np.where(nan[..., None], 0.0, poses.keypoints),
                          scores=np.where(nan, 0.0, poses.scores), world=None, presence=None)
    out = clean.to(dst)
    used = mapping_matrix(poses.skeleton, dst) > 0                  # (K_dst, K_src)
    bad = (nan.astype(np.float32) @ used.T.astype(np.float32)) > 0   # (N, K_dst)
    bad |= ~used.any(axis=1)[None]
    kp = np.array(out.keypoints)
    sc = np.array(out.scores)
    kp[bad] = np.nan
    sc[bad] = 0.0
    return out.replace(keypoints=kp, scores=sc)


def add_head_top(poses: Poses, gt_skeleton: Skeleton) -> Poses:
    """``poses.to(gt_skeleton)`` with ``head_top`` extrapolated where the source has none.

    BlazePose-33 and COCO-17 have no head-top point (``posekit.skeletons.MAPPINGS`` leaves it
    missing). Here ``head_top = c + HEAD_TOP_K * (c - neck)``, where ``c`` is the mean of the
    ears with score > 0.1 (else of the eyes, else the nose) and ``neck`` the midpoint of the
    shoulders; its score is the minimum of the scores used. Persons without the points stay
    missing (NaN, score 0). See :data:`HEAD_TOP_K` for the justification.
    """
    out = _map(poses, gt_skeleton)
    if "head_top" not in gt_skeleton.keypoints or "head_top" in poses.skeleton.keypoints:
        return out
    src = poses.skeleton
    names = set(src.keypoints)
    need = {"left_shoulder", "right_shoulder", "nose"}
    if not need <= names or len(poses) == 0:
        return out
    kp, sc = poses.keypoints, poses.scores
    ix = src.index
    groups = [("left_ear", "right_ear"), ("left_eye", "right_eye"), ("nose",)]
    head = np.full((len(poses), 2), np.nan, np.float32)
    hsc = np.zeros(len(poses), np.float32)
    for g in groups:
        ids = [ix(n) for n in g if n in names]
        if not ids:
            continue
        ok = (sc[:, ids] > 0.1) & np.isfinite(kp[:, ids]).all(axis=2)
        fill = ~np.isfinite(head).all(axis=1) & ok.all(axis=1)
        if fill.any():
            head[fill] = kp[fill][:, ids].mean(axis=1)
            hsc[fill] = sc[fill][:, ids].min(axis=1)
    ls, rs = ix("left_shoulder"), ix("right_shoulder")
    neck = (kp[:, ls] + kp[:, rs]) / 2
    top = head + HEAD_TOP_K * (head - neck)
    tsc = np.minimum(hsc, np.minimum(sc[:, ls], sc[:, rs]))
    good = np.isfinite(top).all(axis=1)
    j = gt_skeleton.index("head_top")
    new_kp = np.array(out.keypoints)
    new_sc = np.array(out.scores)
    new_kp[good, j] = top[good]
    new_sc[good, j] = tsc[good]
    return out.replace(keypoints=new_kp, scores=new_sc)


def to_gt_skeleton(poses: Poses, gt_skeleton: Skeleton) -> Poses:
    """Predictions expressed in the ground truth's skeleton (mapping + head-top rule)."""
    return add_head_top(poses, gt_skeleton)


# ----------------------------------------------------------------------------------------------
# COCO OKS AP through pycocotools

COCO_STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def coco_results(dataset: Dataset, predictions: Sequence[Poses]) -> list[dict]:
    """COCO keypoint results (``[{image_id, category_id, keypoints, score}]``).

    Keypoints are converted to the dataset's skeleton; a missing one is written at
    (:data:`MISSING_XY`, :data:`MISSING_XY`) with flag 0, so its OKS term is 0 (a miss).
    ``score`` is the person score.
    """
    _check_lengths(dataset, predictions)
    out = []
    for im, poses in zip(dataset.images, predictions):
        if len(poses) == 0:
            continue
        p = to_gt_skeleton(poses, dataset.skeleton)
        for i in range(len(p)):
            xy = np.array(p.keypoints[i], np.float64)
            ok = np.isfinite(xy).all(axis=1)
            xy[~ok] = MISSING_XY
            flat = np.column_stack([xy, np.where(ok, p.scores[i], 0.0)]).reshape(-1)
            score = float(p.person_scores[i]) if np.isfinite(p.person_scores[i]) else 0.0
            out.append({"image_id": im.image_id, "category_id": 1,
                        "keypoints": [float(f) for f in flat], "score": score})
    return out


def coco_eval(dataset: Dataset, predictions: Sequence[Poses]):
    """Run pycocotools ``COCOeval(iouType="keypoints")`` and return the evaluated object.

    The ground truth is :meth:`Dataset.coco_gt`; sigmas are the skeleton's (COCO's
    ``kpt_oks_sigmas`` for COCO-17, mmpose's CrowdPose sigmas for CrowdPose-14). COCOeval's own
    rules apply: crowd regions and persons without labelled keypoints are ignored, at most 20
    detections per image, area ranges medium 32^2-96^2 and large > 96^2 px^2.

    Raises:
        DatasetError: OKS is not defined for the dataset's skeleton.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = dataset.coco_gt()
    results = coco_results(dataset, predictions)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results) if results else COCO()
        if not results:
            coco_dt.dataset = {"images": gt["images"], "annotations": [],
                               "categories": gt["categories"]}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(dataset.skeleton.sigmas, np.float64)
        ev.params.imgIds = [im.image_id for im in dataset.images]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def coco_ap(dataset: Dataset, predictions: Sequence[Poses]) -> dict[str, float]:
    """COCO keypoint AP/AR: ``{"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75",
    "ARm", "ARl"}`` in [0, 1] (COCOeval's ``stats``; -1 where undefined, e.g. no medium
    persons), computed by pycocotools (never re-implemented here).

    Missing predictions: an unmatched GT person is a false negative; a missing keypoint adds 0
    to its person's OKS.
    """
    ev = coco_eval(dataset, predictions)
    return {k: float(v) for k, v in zip(COCO_STATS, ev.stats)}


# ----------------------------------------------------------------------------------------------
# PCK / PCKh

@dataclass(frozen=True)
class PCKResult:
    """PCK of one prediction set on one dataset.

    Attributes:
        alpha: threshold as a fraction of the normaliser.
        norm: ``"torso"``, ``"bbox"`` or ``"head"``.
        overall: fraction of counted GT keypoints within ``alpha * normaliser`` (NaN if none).
        per_joint: joint name -> fraction (NaN where the GT has none of that joint).
        counts: joint name -> number of counted GT keypoints.
        n_persons: GT persons evaluated (with a normaliser and >= 1 counted keypoint).
        n_matched: of those, persons a prediction was matched to.
        n_skipped: annotated persons left out for lack of a normaliser.
        thresholds, curve: PCK overall at each threshold (the PCK-vs-threshold curve).
        excluded: joints left out of ``overall`` (e.g. MPII's pelvis and thorax).
        distances: (M, K) float32 normalised errors of the evaluated persons (inf = missed,
            NaN = not counted), for reports.
        image_index: (M,) int64 image index of each evaluated person.
        person_index: (M,) int64 index of that person among its image's GT persons.
    """

    alpha: float
    norm: str
    overall: float
    per_joint: dict[str, float]
    counts: dict[str, int]
    n_persons: int
    n_matched: int
    n_skipped: int
    thresholds: np.ndarray
    curve: np.ndarray
    excluded: tuple[str, ...] = ()
    distances: np.ndarray = field(default=None, repr=False)
    image_index: np.ndarray = field(default=None, repr=False)
    person_index: np.ndarray = field(default=None, repr=False)


def normalizers(im: GTImage, skeleton: Skeleton, norm: str, min_visibility: int = 1
                ) -> np.ndarray:
    """(P,) float64 per-person normaliser in pixels; NaN where it cannot be formed (its two
    keypoints need visibility ``>= min_visibility``: LSP-extended's invisible joints can be
    placeholders such as (0, -38)).

    - ``"torso"``: ``|left_shoulder - right_hip|`` (the torso diagonal used for PCK on LSP,
      e.g. Pishchulin et al. 2016 "DeepCut"); ``|right_shoulder - left_hip|`` where the first
      pair is not labelled; then, for side views where one shoulder or hip is not labelled
      (58 of the 267 LSP-extended persons in shared/data), the same-side shoulder-hip length,
      which is a little shorter than the diagonal (so slightly stricter).
    - ``"bbox"``: ``max(w, h)`` of the GT box (Yang & Ramanan, TPAMI 2013, "PCK").
    - ``"head"``: ``|head_top - upper_neck|``, the head segment length of PCKh (Andriluka et
      al., CVPR 2014). MPII's official code (and mmpose's ``headbox_file``) use
      ``0.6 * diagonal of the head box``, where 0.6 (``SC_BIAS``) turns the box diagonal into
      an approximate head segment length; the mmpose JSON list has no head boxes, so the labelled
      segment itself is used here.
    """
    kp, vis = im.keypoints, im.visibility
    if norm == "bbox":
        w = im.boxes[:, 2] - im.boxes[:, 0]
        h = im.boxes[:, 3] - im.boxes[:, 1]
        return np.maximum(w, h).astype(np.float64)
    pairs = {"torso": [("left_shoulder", "right_hip"), ("right_shoulder", "left_hip"),
                       ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip")],
             "head": [("head_top", "upper_neck")]}.get(norm)
    if pairs is None:
        raise ValueError(f"norm must be 'torso', 'bbox' or 'head', got {norm!r}")
    out = np.full(kp.shape[0], np.nan)
    for a, b in pairs:
        try:
            ia, ib = skeleton.index(a), skeleton.index(b)
        except KeyError:
            raise DatasetError(f"{norm} normalisation needs {a} and {b}; "
                               f"{skeleton.name} lacks them") from None
        ok = (vis[:, ia] >= min_visibility) & (vis[:, ib] >= min_visibility) & np.isnan(out)
        out[ok] = np.linalg.norm(kp[ok, ia] - kp[ok, ib], axis=1)
    out[out <= 0] = np.nan
    return out


def _greedy_match(dist: np.ndarray) -> list[tuple[int, int]]:
    """Greedy one-to-one matching on a cost matrix (G, D): lowest cost first; inf never."""
    pairs = []
    if dist.size == 0:
        return pairs
    order = np.argsort(dist, axis=None, kind="stable")
    used_g, used_d = set(), set()
    for flat in order:
        g, d = divmod(int(flat), dist.shape[1])
        if not np.isfinite(dist[g, d]):
            break
        if g in used_g or d in used_d:
            continue
        pairs.append((g, d))
        used_g.add(g)
        used_d.add(d)
    return pairs


def normalized_errors(dataset: Dataset, predictions: Sequence[Poses], norm: str,
                      min_visibility: int | None = None, match_cap: float = 1.0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-keypoint normalised errors of the GT persons after matching.

    Matching (per image): predictions are converted to the GT skeleton; the cost of a (GT
    person, prediction) pair is the mean over the GT's counted keypoints of
    ``min(|pred - gt| / normaliser, match_cap)`` (a missing predicted keypoint costs
    ``match_cap``); pairs are taken greedily, cheapest first, one-to-one. Pairs whose cost is
    ``match_cap`` (nothing within reach) are not matched. Predictions left unmatched are ignored
    (PCK measures localisation of annotated persons; false positives are AP's business).

    Returns:
        errors: (M, K) float64: ``|pred - gt| / normaliser``; ``inf`` for a counted keypoint
            that was missed (person unmatched or keypoint missing); NaN where not counted.
        image_index: (M,) int64 image of each evaluated person.
        person_index: (M,) int64 its index among the image's GT persons.
        matched: (M,) bool.
        n_skipped: annotated persons without a normaliser (left out).
    """
    _check_lengths(dataset, predictions)
    mv = dataset.min_visibility if min_visibility is None else min_visibility
    rows, img_idx, person_idx, matched = [], [], [], []
    skipped = 0
    k = len(dataset.skeleton)
    for n, (im, poses) in enumerate(zip(dataset.images, predictions)):
        ann = im.annotated
        nz = normalizers(im, dataset.skeleton, norm, max(mv, 1))
        counted = (im.visibility >= mv) & ann[:, None]
        keep = ann & counted.any(axis=1)
        skipped += int((keep & ~np.isfinite(nz)).sum())
        keep &= np.isfinite(nz)
        g_ids = np.flatnonzero(keep)
        if g_ids.size == 0:
            continue
        p = to_gt_skeleton(poses, dataset.skeleton) if len(poses) else None
        errs = np.full((g_ids.size, k), np.inf)
        assign = {}
        if p is not None:
            d = np.linalg.norm(p.keypoints[None, :, :, :].astype(np.float64)
                               - im.keypoints[g_ids, None, :, :], axis=-1)   # (G, D, K)
            d = d / nz[g_ids, None, None]
            d[~np.isfinite(d)] = np.inf
            c = counted[g_ids][:, None, :]
            cost = np.where(c, np.minimum(d, match_cap), 0.0).sum(-1) / c.sum(-1)
            cost[cost >= match_cap] = np.inf
            for g, dd in _greedy_match(cost):
                assign[g] = dd
                errs[g] = d[g, dd]
        errs[~counted[g_ids]] = np.nan
        rows.append(errs)
        img_idx += [n] * g_ids.size
        person_idx += list(g_ids)
        matched += [g in assign for g in range(g_ids.size)]
    if rows:
        return (np.concatenate(rows), np.asarray(img_idx, np.int64),
                np.asarray(person_idx, np.int64), np.asarray(matched, bool), skipped)
    return np.zeros((0, k)), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool), \
        skipped


def pck(dataset: Dataset, predictions: Sequence[Poses], *, alpha: float = 0.2,
        norm: str = "torso", min_visibility: int | None = None,
        exclude: Sequence[str] = (), thresholds: Sequence[float] | None = None) -> PCKResult:
    """PCK@alpha: the fraction of GT keypoints whose prediction lies within
    ``alpha * normaliser`` pixels (normaliser: see :func:`normalizers`), per joint and overall.

    Counted GT keypoints: those of annotated persons (not crowd) with visibility
    ``>= min_visibility`` (default: the dataset's, 1 = any labelled keypoint; LSP counts
    visible ones only). Persons without a normaliser are skipped (``n_skipped``). Missing
    predictions count as misses: an unmatched GT person has all its keypoints wrong, and so
    does a missing predicted keypoint. Matching: see :func:`normalized_errors`. ``exclude``
    names joints left out of ``overall`` (still reported per joint). ``thresholds`` (default
    0, 0.01, ..., 0.5) give the PCK-vs-threshold curve of ``overall``.
    """
    errs, img_idx, person_idx, matched, skipped = normalized_errors(dataset, predictions, norm,
                                                        min_visibility)
    names = dataset.skeleton.keypoints
    counted = ~np.isnan(errs)
    with np.errstate(invalid="ignore"):
        hit = errs <= alpha
    per_joint, counts = {}, {}
    for j, name in enumerate(names):
        c = int(counted[:, j].sum())
        counts[name] = c
        per_joint[name] = float(hit[:, j].sum() / c) if c else float("nan")
    use = np.array([n not in set(exclude) for n in names])
    cu = counted[:, use]
    total = int(cu.sum())
    overall = float(hit[:, use].sum() / total) if total else float("nan")
    th = np.round(np.arange(0.0, 0.5001, 0.01), 4) if thresholds is None else np.asarray(
        thresholds, np.float64)
    with np.errstate(invalid="ignore"):
        curve = np.array([(errs[:, use] <= t).sum() / total if total else np.nan for t in th])
    return PCKResult(alpha=alpha, norm=norm, overall=overall, per_joint=per_joint,
                     counts=counts, n_persons=int(errs.shape[0]),
                     n_matched=int(matched.sum()), n_skipped=skipped, thresholds=th,
                     curve=curve, excluded=tuple(exclude), distances=errs,
                     image_index=img_idx, person_index=person_idx)


#: MPII's official mean leaves out pelvis and thorax (evalMPII / mmpose ``MpiiPCKAccuracy``).
MPII_EXCLUDED = ("pelvis", "thorax")


def pckh(dataset: Dataset, predictions: Sequence[Poses], *, alpha: float = 0.5,
         exclude: Sequence[str] = MPII_EXCLUDED) -> PCKResult:
    """PCKh@alpha (default 0.5): PCK normalised by the head segment (see :func:`normalizers`,
    ``norm="head"``); ``overall`` leaves out pelvis and thorax as MPII's evaluation does.
    Missing predictions count as misses (see :func:`pck`)."""
    return pck(dataset, predictions, alpha=alpha, norm="head", exclude=exclude)


def default_pck(dataset: Dataset, predictions: Sequence[Poses]) -> PCKResult:
    """The PCK a dataset is meant for: PCKh@0.5 (MPII), PCK@0.2 torso (LSP), PCK@0.2 by box
    size (COCO-format sets)."""
    if dataset.metric == "pckh":
        return pckh(dataset, predictions)
    if dataset.metric == "pck":
        return pck(dataset, predictions, alpha=0.2, norm="torso")
    return pck(dataset, predictions, alpha=0.2, norm="bbox")


def _check_lengths(dataset: Dataset, predictions: Sequence[Poses]) -> None:
    if len(predictions) != len(dataset.images):
        raise ValueError(f"expected {len(dataset.images)} predictions (one Poses per image), "
                         f"got {len(predictions)}")


# ----------------------------------------------------------------------------------------------
# Paired bootstrap: is a difference between two models on one set more than sampling noise?

#: Sets of fewer images leave too few distinct resamples for a bootstrap interval to mean
#: much (3 images: 10 distinct resamples); reports say so beside the verdict.
FEW_IMAGES = 10


@dataclass(frozen=True)
class BootstrapDifference:
    """A metric's difference between two prediction sets on one dataset, with a paired
    bootstrap interval (:func:`paired_bootstrap`).

    Attributes:
        metric: ``"AP"`` (COCO OKS AP) or ``"PCK"`` (the dataset's :func:`default_pck`).
        a, b: the metric of each prediction set on the whole dataset (fractions in [0, 1]).
        difference: ``a - b``.
        low, high: the ``level`` percentile interval of ``a - b`` over the resamples.
        level: the interval's coverage in (0, 1), e.g. 0.9.
        n: the number of resamples.
    """

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    level: float
    n: int

    @property
    def verdict(self) -> str:
        """``"above"`` or ``"below"`` where the interval excludes 0, else ``"within noise"``."""
        if self.low > 0:
            return "above"
        if self.high < 0:
            return "below"
        return "within noise"


def _ap_by_image(ev) -> tuple[list, int, int]:
    """COCOeval's per-image results after ``evaluate()``, with the numbers of area ranges and
    images that index them (one category)."""
    pe = ev._paramsEval
    if len(pe.catIds) != 1:
        raise ValueError(f"expected one category, got {len(pe.catIds)}")
    return list(ev.evalImgs), len(pe.areaRng), len(pe.imgIds)


def _resampled_ap(ev, by_image: tuple[list, int, int], idx: np.ndarray) -> float:
    """COCO AP (``stats[0]``: OKS 0.50:0.95, all areas) of the images ``idx`` (with
    repeats) from one ``evaluate()``: pycocotools' own ``accumulate`` on the per-image results
    taken in the resample's order, so matching is not redone (it is per image). ``idx``
    (M,) int indices into the evaluated images; ``by_image`` from :func:`_ap_by_image` before
    any resample, since ``ev`` (a ``COCOeval``) is changed in place: its per-image results,
    image ids and ``eval`` are the resample's afterwards. -1 where no GT person counts."""
    evals, n_area, n_img = by_image
    ev.evalImgs = [evals[a * n_img + int(j)] for a in range(n_area) for j in idx]
    ids = list(range(len(idx)))
    ev._paramsEval.imgIds = ids
    ev.params.imgIds = ids
    with contextlib.redirect_stdout(io.StringIO()):
        ev.accumulate()
    prec = ev.eval["precision"][:, :, 0, 0, -1]          # (T, R): area "all", maxDets 20
    ok = prec > -1
    return float(prec[ok].mean()) if ok.any() else -1.0


def _pck_by_image(r: PCKResult, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_images,) hits and counted GT keypoints of each image, as :func:`pck`'s
    ``overall`` counts them (``excluded`` joints left out)."""
    d = r.distances
    names = list(r.per_joint)
    use = np.array([n not in set(r.excluded) for n in names], bool)
    counted = ~np.isnan(d[:, use])
    with np.errstate(invalid="ignore"):
        hit = (d[:, use] <= r.alpha) & counted
    hits = np.bincount(r.image_index, hit.sum(1), minlength=n_images)
    cnt = np.bincount(r.image_index, counted.sum(1), minlength=n_images)
    return hits, cnt


def paired_bootstrap(dataset: Dataset, a: Sequence[Poses], b: Sequence[Poses], *,
                     n: int = 1000, level: float = 0.9, seed: int = 0
                     ) -> dict[str, BootstrapDifference]:
    """Whether two models' difference on one dataset is more than which images were drawn.

    Paired bootstrap over images (Efron & Tibshirani 1993, ch. 13; the usual test for
    detection benchmarks): ``n`` resamples of the dataset's images with replacement, the same
    resample for both prediction sets; each metric's difference ``a - b`` is computed on every
    resample and its ``level`` percentile interval reported. COCO AP is pycocotools'
    ``accumulate`` over the resampled per-image results of one ``evaluate()`` per prediction
    set (exact: a resample of all images in order gives :func:`coco_ap`'s AP); PCK pools the
    resampled images' hits and counted keypoints as :func:`pck` does.

    Args:
        dataset: the annotated images.
        a, b: one :class:`Poses` per image each (any skeleton that maps onto the dataset's).
        n: resamples (>= 1); level: interval coverage in (0, 1); seed: the resampling RNG's.
    Returns:
        ``{"AP": ..., "PCK": ...}`` :class:`BootstrapDifference` (``"AP"`` only where OKS is
        defined for the dataset's skeleton).
    Raises:
        ValueError: ``n`` < 1, ``level`` outside (0, 1), or a prediction count that is not
            the number of images.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    _check_lengths(dataset, a)
    _check_lengths(dataset, b)
    m = dataset.n_images
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, m, size=(n, m))
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    out = {}
    if dataset.has_oks:
        evs = [coco_eval(dataset, p) for p in (a, b)]
        full = [float(e.stats[0]) for e in evs]
        per = [_ap_by_image(e) for e in evs]
        diffs = np.array([_resampled_ap(evs[0], per[0], idx) - _resampled_ap(evs[1], per[1], idx)
                          for idx in draws])
        lo, hi = np.percentile(diffs, q)
        out["AP"] = BootstrapDifference("AP", full[0], full[1], full[0] - full[1], float(lo),
                                        float(hi), level, n)
    ra, rb = default_pck(dataset, a), default_pck(dataset, b)
    (ha, ca), (hb, cb) = _pck_by_image(ra, m), _pck_by_image(rb, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        diffs = ha[draws].sum(1) / ca[draws].sum(1) - hb[draws].sum(1) / cb[draws].sum(1)
    diffs = diffs[np.isfinite(diffs)]
    lo, hi = np.percentile(diffs, q) if len(diffs) else (np.nan, np.nan)
    out["PCK"] = BootstrapDifference("PCK", ra.overall, rb.overall, ra.overall - rb.overall,
                                     float(lo), float(hi), level, n)
    return out


__all__ = [
    "COCO_STATS",
    "BootstrapDifference",
    "FEW_IMAGES",
    "HEAD_TOP_K",
    "MPII_EXCLUDED",
    "PCKResult",
    "add_head_top",
    "coco_ap",
    "coco_eval",
    "coco_results",
    "default_pck",
    "normalized_errors",
    "normalizers",
    "paired_bootstrap",
    "pck",
    "pckh",
    "to_gt_skeleton",
]
