"""The camera's own motion from the background, so that analyses see the persons in a frame
that stays put while a hand-held or panning camera moves.

:class:`CameraMotion` is a small stage over the images: between consecutive frames it tracks
corners of the background (Shi-Tomasi corners, ``cv2.goodFeaturesToTrack``, outside the
persons' boxes) with pyramidal Lucas-Kanade optical flow (``cv2.calcOpticalFlowPyrLK``,
Bouguet's implementation) and fits a similarity transform (rotation, uniform scale,
translation) to them with RANSAC (``cv2.estimateAffinePartial2D``). The transforms chain into
the map from each frame to the first one, and :meth:`CameraMotion.update` returns the frame's
poses in that stabilised frame: a person standing still stays still while the camera pans,
zooms or shakes, and a fall drops the hips as a fixed camera sees it, also when the operator
follows the person.

The :class:`~posekit.analysis.Analyzer` sees poses only; the pipeline would run this stage on
each frame's image and give the stabilised poses to the analyzer (and the original poses to
the sinks and overlays)::

    camera = CameraMotion()
    for frame, poses in results:
        events = analyzer.update(camera.update(frame.image, poses), frame.time_s)

Needs OpenCV (a posekit dependency).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import numpy as np

from ..errors import PoseKitError
from ..types import Poses

log = logging.getLogger(__name__)


class CameraMotionError(PoseKitError, ValueError):
    """A :class:`CameraMotionConfig` setting is out of range, or an image is not BGR uint8."""


@dataclass(frozen=True, kw_only=True)
class CameraMotionConfig:
    """Settings of :class:`CameraMotion`.

    Attributes:
        width_px: images are scaled down to this width for the flow (pixels; the transform is
            scaled back).
        max_corners: background corners tracked per frame.
        min_distance_px: least distance between corners (pixels of the scaled image).
        quality: Shi-Tomasi quality level (fraction of the best corner's score).
        box_margin: the persons' boxes are grown by this fraction of their size before the
            corners in them are left out (limbs move).
        ransac_px: RANSAC inlier threshold (pixels of the scaled image).
        min_inliers: fewer inliers keep the previous frame's map (identity motion).
    """

    width_px: int = 320
    max_corners: int = 200
    min_distance_px: float = 8.0
    quality: float = 0.01
    box_margin: float = 0.1
    ransac_px: float = 1.5
    min_inliers: int = 12

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise CameraMotionError(f"CameraMotionConfig.{f.name} must be a positive "
                                        f"number, got {v!r}")
        if self.quality >= 1:
            raise CameraMotionError(f"CameraMotionConfig.quality must be below 1, got "
                                    f"{self.quality!r}")


class CameraMotion:
    """Background motion between frames and poses in the first frame's coordinates.

    Attributes:
        to_first: (2, 3) float64, the map from the latest frame's pixels to the first
            frame's (``x_first = to_first[:, :2] @ x + to_first[:, 2]``).
        inliers: background corners that agreed on the latest frame's motion (0 where none
            was measured).
    """

    def __init__(self, config: CameraMotionConfig | None = None):
        self.c = config or CameraMotionConfig()
        self.to_first = np.eye(2, 3)
        self.inliers = 0
        self._prev: np.ndarray | None = None
        self._scale = 1.0

    def update(self, image_bgr: np.ndarray, poses: Poses | None = None) -> Poses | None:
        """Measure the camera's motion since the previous frame and return ``poses`` in the
        first frame's pixels (keypoints and boxes mapped by :attr:`to_first`; None gives None).

        Args:
            image_bgr: (H, W, 3) uint8 BGR frame.
            poses: the frame's poses (their boxes are left out of the background), or None.

        Raises:
            CameraMotionError: the image is not (H, W, 3) uint8.
        """
        import cv2

        if not (isinstance(image_bgr, np.ndarray) and image_bgr.ndim == 3
                and image_bgr.shape[2] == 3 and image_bgr.dtype == np.uint8):
            raise CameraMotionError("CameraMotion.update: expected an (H, W, 3) uint8 BGR "
                                    f"image, got {getattr(image_bgr, 'shape', None)} "
                                    f"{getattr(image_bgr, 'dtype', type(image_bgr))}")
        h, w = image_bgr.shape[:2]
        s = min(1.0, self.c.width_px / w)
        gray = cv2.cvtColor(cv2.resize(image_bgr, (round(w * s), round(h * s)),
                                       interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        if self._prev is not None and self._prev.shape == gray.shape:
            step = self._motion(self._prev, gray, poses, s)
            if step is not None:
                # to_first(t) = to_first(t-1) o step(t -> t-1)
                a = np.vstack([self.to_first, [0, 0, 1]]) @ np.vstack([step, [0, 0, 1]])
                self.to_first = a[:2]
        self._prev = gray
        return None if poses is None else self.stabilise(poses)

    def stabilise(self, poses: Poses) -> Poses:
        """``poses`` mapped by the current :attr:`to_first` (NaN keypoints stay NaN)."""
        if len(poses) == 0:
            return poses
        m = self.to_first
        k = poses.keypoints.astype(np.float64) @ m[:, :2].T + m[:, 2]
        return poses.replace(keypoints=k.astype(np.float32), boxes=None)

    def _motion(self, prev: np.ndarray, cur: np.ndarray, poses: Poses | None, s: float
                ) -> np.ndarray | None:
        """The similarity map from ``cur``'s pixels to ``prev``'s (full resolution), or None."""
        import cv2

        c = self.c
        mask = np.full(prev.shape, 255, np.uint8)
        if poses is not None and len(poses):
            for x0, y0, x1, y1 in np.asarray(poses.boxes, np.float64):
                if not np.isfinite([x0, y0, x1, y1]).all():
                    continue
                mx, my = c.box_margin * (x1 - x0), c.box_margin * (y1 - y0)
                mask[max(0, int((y0 - my) * s)):max(0, int((y1 + my) * s) + 1),
                     max(0, int((x0 - mx) * s)):max(0, int((x1 + mx) * s) + 1)] = 0
        pts = cv2.goodFeaturesToTrack(prev, c.max_corners, c.quality, c.min_distance_px,
                                      mask=mask)
        if pts is None or len(pts) < c.min_inliers:
            self.inliers = 0
            return None
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None)
        ok = st.ravel() == 1
        if ok.sum() < c.min_inliers:
            self.inliers = 0
            return None
        m, inl = cv2.estimateAffinePartial2D(nxt[ok], pts[ok], method=cv2.RANSAC,
                                             ransacReprojThreshold=c.ransac_px)
        n = int(inl.sum()) if inl is not None else 0
        self.inliers = n
        if m is None or n < c.min_inliers:
            return None
        m = m.astype(np.float64)
        m[:, 2] /= s            # translation back to full-resolution pixels
        return m
