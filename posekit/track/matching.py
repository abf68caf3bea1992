"""The one assignment of tracked things to new observations.

Every place that pairs two sets one-to-one by a similarity (the tracker's IoU, OKS and
appearance rounds, the top-down tracker's tracked boxes against detector boxes, a batch's chunks
stitched by the IoU of their overlapping frames) calls :func:`assign` here.
"""

from __future__ import annotations

import numpy as np

from ..types import box_iou


def assign(similarity: np.ndarray, min_similarity: float, *, gate: str = "before"
           ) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs of rows and columns maximising the total similarity, every pair at or
    above ``min_similarity`` (the Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).

    Args:
        similarity: (A, B) float, higher is more alike (IoU, OKS, cosine similarity in [0, 1]).
        min_similarity: pairs below it are never returned.
        gate: ``"before"``: pairs below the threshold are forbidden before the assignment (cost
            ``1 - similarity``, forbidden pairs a cost no allowed set reaches), so as many
            allowed pairs as possible are made; ``"after"``: the assignment maximises the total
            similarity over all pairs and pairs below the threshold are dropped from it, so a
            row whose best overall partner went elsewhere stays unmatched instead of taking a
            weak one (the top-down tracker's detections: an unmatched detection starts a new
            ROI rather than moving a tracked person's box onto someone else).
    Returns:
        ``(rows, cols)``: two (M,) int64 arrays, M <= min(A, B), rows ascending.
    Raises:
        ValueError: ``similarity`` is not two-dimensional, or an unknown ``gate``.
    """
    sim = np.asarray(similarity, np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity: expected an (A, B) matrix, got shape {sim.shape}")
    if gate not in ("before", "after"):
        raise ValueError(f"gate: expected 'before' or 'after', got {gate!r}")
    empty = np.zeros(0, np.int64)
    if sim.size == 0:
        return empty, empty
    ok = np.isfinite(sim) & (sim >= min_similarity)
    if not ok.any():
        return empty, empty
    if 1 in sim.shape:
        # one row or one column: the optimal assignment is its single most similar pair (what
        # the solver returns, without importing scipy.optimize, a third of a second at start)
        flat = np.where(ok if gate == "before" else np.isfinite(sim), sim, -np.inf).ravel()
        r, c = np.unravel_index(int(np.argmax(flat)), sim.shape)
        if not ok[r, c]:
            return empty, empty
        return np.array([r], np.int64), np.array([c], np.int64)
    from scipy.optimize import linear_sum_assignment

    if gate == "after":
        cost = -np.where(np.isfinite(sim), sim, 0.0)
    else:
        # forbidden pairs cost more than any set of allowed ones, so the solver makes as many
        # allowed pairs as it can, then the most similar ones
        cost = np.where(ok, 1.0 - sim, 1e6)
    rows, cols = linear_sum_assignment(cost)
    # pairs the solver had to make below the threshold (forbidden, or weak under "after")
    keep = ok[rows, cols]
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def match_boxes(a: np.ndarray, b: np.ndarray, min_iou: float, *, gate: str = "before"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`assign` of xyxy boxes ``a`` (A, 4) to ``b`` (B, 4), pixels, by IoU
    (:func:`posekit.types.box_iou`). Returns ``(rows, cols, iou)`` with ``iou`` the (A, B) matrix.
    """
    iou = box_iou(a, b)
    rows, cols = assign(iou, min_iou, gate=gate)
    return rows, cols, iou


__all__ = ["assign", "match_boxes"]
