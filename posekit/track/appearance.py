"""A cheap appearance cue for tracking: colour histograms of a person's upper and lower body.

Clothing colour tells people apart where motion cannot (crossings, a person reappearing after an
occlusion). For each person, the HSV histograms (8 hue x 3 saturation x 3 value bins) of the
upper body (18-50 % of the body box height) and the lower body (50-85 %), both over the central
60 % of the box width, are L1-normalised, square-rooted and concatenated, so the dot product of
two descriptors is the mean Bhattacharyya coefficient of the two regions, in [0, 1] (1: the same
colours). On PETS09-S2L1's ground-truth boxes the coefficient separates the same person (within
5 s) from different people with an ROC AUC of 0.94 (median 0.79 vs 0.38).
"""

from __future__ import annotations

import cv2
import numpy as np

BINS = (8, 3, 3)                             # hue, saturation, value
REGIONS = ((0.18, 0.50), (0.50, 0.85))       # fractions of the box height, top to bottom
WIDTH = (0.2, 0.8)                           # fractions of the box width
DIM = int(np.prod(BINS)) * len(REGIONS)


#: Most pixels a region's histogram is taken from: a larger region (a person filling the view)
#: is sampled every s-th row and column, s the smallest step that brings it under this. The
#: normalised histogram of a few thousand pixels of clothing is already stable, and the full
#: region of a close person costs several times more (OpenCV's ``calcHist``).
MAX_PIXELS = 16384


def color_histograms(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Appearance descriptors (N, 144) float32 of the persons in ``boxes``.

    Args:
        image: (H, W, 3) uint8 BGR.
        boxes: (N, 4) xyxy pixels, body-outline boxes (head top to soles).

    Returns:
        Unit-norm rows (each region's histogram square-rooted, the two regions weighted
        equally); a row of zeros where a region falls outside the image or is empty, which
        compares as 0 with everything. Regions larger than :data:`MAX_PIXELS` are sampled on
        a regular grid.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros((len(b), DIM), np.float32)
    h, w = image.shape[:2]
    for i, bx in enumerate(b):
        x0 = int(np.clip(np.floor(bx[0] + WIDTH[0] * (bx[2] - bx[0])), 0, w))
        x1 = int(np.clip(np.ceil(bx[0] + WIDTH[1] * (bx[2] - bx[0])), 0, w))
        ys = [(int(np.clip(np.floor(bx[1] + ta * (bx[3] - bx[1])), 0, h)),
               int(np.clip(np.ceil(bx[1] + tb * (bx[3] - bx[1])), 0, h))) for ta, tb in REGIONS]
        top, bottom = ys[0][0], ys[-1][1]
        if x1 <= x0 or bottom <= top or any(yb <= ya for ya, yb in ys):
            continue
        step = max(1, int(np.sqrt(max((yb - ya) * (x1 - x0) for ya, yb in ys) / MAX_PIXELS)))
        crop = image[top:bottom:step, x0:x1:step]
        hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_BGR2HSV)
        parts = []
        for ya, yb in ys:
            # rows ya..yb-1 of the frame are rows ceil((ya - top) / step).. of the sample
            roi = hsv[-(-(ya - top) // step):-(-(yb - top) // step)]
            if roi.size == 0:
                break
            hist = cv2.calcHist([roi], [0, 1, 2], None, list(BINS),
                                [0, 180, 0, 256, 0, 256]).ravel()
            parts.append(np.sqrt(hist / max(float(hist.sum()), 1.0)))
        if len(parts) == len(REGIONS):
            out[i] = np.concatenate(parts) / np.sqrt(len(REGIONS))
    return out
