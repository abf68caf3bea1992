"""Landmarks carried from one frame to the next by sparse optical flow.

Between two runs of the landmark network on a tracked person, :class:`LandmarkFlow` moves the
person's landmarks of the previous frame to the current one with pyramidal Lucas-Kanade
optical flow (Bouguet, "Pyramidal implementation of the Lucas Kanade feature tracker", Intel
2000; OpenCV's ``cv2.calcOpticalFlowPyrLK``), checked forward-backward (Kalal et al.,
"Forward-backward error: automatic detection of tracking failures", ICPR 2010): a landmark
tracked from frame t-1 to t and back lands within ``max_fb_error`` pixels of where it started,
or its own flow is not trusted and it moves with the median flow of the trusted ones. A person
with fewer than ``min_tracked`` trusted landmarks is a flow failure (occlusion, motion blur,
a person larger than the pyramid can follow): the caller runs the landmark network on them
instead.

This is the keyframe-and-propagate scheme of video pose estimators (the expensive network on
some frames, cheap motion between them): the flow of a person's 33 landmarks, forward and back
on the person's region, costs 0.7-1.1 ms (PETS09-S2L1, 2-core x86 VM, ``bench/bench_flow.py``;
1.6-1.9 ms per person with the rest of :class:`~posekit.track.TopDownTracker`'s flow step, 9.6
ms per frame for 5-6 persons in ``bench/bench_mot.py``), the landmark network 7-9 ms
(BlazePose full on OpenVINO, 2 threads, ``bench/bench_landmark_runtime.py``; 12-15 ms on
LiteRT).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Lucas-Kanade window, pixels, and pyramid levels above the frame: a person 60-130 px tall in
#: PETS09-S2L1 (768x576, 7 fps) moves up to ~10 px per frame, which 3 levels of a 15 px window
#: follow (OpenCV's defaults are (21, 21) and 3).
LK_WINDOW = (15, 15)
LK_LEVELS = 3
#: A person's flow region larger than this many pixels on its longer side is followed on a
#: reduced copy of the frame, halved (``cv2.pyrDown``, Gaussian) until the region's longer side
#: is at most this: a person filling the view moves tens of pixels per frame, which the window
#: follows as well at the reduced scale, at a fraction of the cost of the full-resolution
#: pyramids. The halved frames are built once per frame, shared by every person, and reused
#: when the frame becomes the previous one.
MAX_FLOW_SIDE = 320


class LandmarkFlow:
    """Pyramidal Lucas-Kanade flow of keypoints from the previous frame to this one.

    >>> flow = LandmarkFlow()
    >>> flow.set_frame(image_t0)                                  # doctest: +SKIP
    >>> flow.set_frame(image_t1)                                  # doctest: +SKIP
    >>> moved, ok = flow.propagate(keypoints_t0)                  # doctest: +SKIP

    Args:
        max_fb_error: largest forward-backward error of a trusted landmark, pixels.
        min_tracked: fewest trusted landmarks for a person's flow to hold (of 33 for
            BlazePose); fewer is a failure.
        margin: the flow is computed on each person's keypoint box grown on every side by
            this many box heights (at least 8 px; the motion it can follow) plus the window,
            not on the whole frame; a region over ``MAX_FLOW_SIDE`` pixels is followed on the
            frame halved until it fits (``max_fb_error`` then counts pixels of the halved
            frame).

    Raises:
        ValueError: ``max_fb_error`` <= 0, ``min_tracked`` < 1 or ``margin`` < 0.
    """

    def __init__(self, max_fb_error: float = 1.0, min_tracked: int = 12, margin: float = 0.25):
        if max_fb_error <= 0:
            raise ValueError(f"max_fb_error: expected > 0, got {max_fb_error}")
        if min_tracked < 1:
            raise ValueError(f"min_tracked: expected >= 1, got {min_tracked}")
        if margin < 0:
            raise ValueError(f"margin: expected >= 0, got {margin}")
        self.max_fb_error = float(max_fb_error)
        self.min_tracked = int(min_tracked)
        self.margin = float(margin)
        self._prev: np.ndarray | None = None     # (H, W) uint8 gray frames
        self._cur: np.ndarray | None = None
        # each frame's halvings: level L is the frame pyrDown'ed L times (level 0: the frame)
        self._prev_levels: list[np.ndarray] = []
        self._cur_levels: list[np.ndarray] = []

    def reset(self) -> None:
        """Forget the frames (the next :meth:`set_frame` starts anew)."""
        self._prev = self._cur = None
        self._prev_levels, self._cur_levels = [], []

    @staticmethod
    def _level(levels: list[np.ndarray], level: int) -> np.ndarray:
        """The frame (``levels[0]``, (H, W) uint8) halved ``level`` times, built on first use
        and kept in ``levels``."""
        while len(levels) <= level:
            levels.append(cv2.pyrDown(levels[-1]))
        return levels[level]

    @property
    def ready(self) -> bool:
        """True once two frames were given, so :meth:`propagate` has a previous frame."""
        return self._prev is not None

    def set_frame(self, image: np.ndarray) -> None:
        """Make ``image`` ((H, W, 3) uint8 BGR or (H, W) uint8 gray) the current frame; the
        current one becomes the previous. A frame of another size restarts."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self._cur is not None and self._cur.shape != gray.shape:
            self._cur, self._cur_levels = None, []
        self._prev, self._cur = self._cur, np.ascontiguousarray(gray)
        self._prev_levels, self._cur_levels = self._cur_levels, [self._cur]

    def propagate(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move keypoints of the previous frame to the current one.

        Args:
            keypoints: (N, K, 2) pixels in the previous frame (x right, y down); NaN
                keypoints stay NaN and do not count as tracked.

        Returns:
            ``(moved, ok)``: ``moved`` (N, K, 2) float32 pixels in the current frame (each
            keypoint by its own flow where trusted, by its person's median trusted flow
            otherwise); ``ok`` (N,) bool, False for persons with fewer than ``min_tracked``
            trusted keypoints (their ``moved`` is the input).

        Raises:
            RuntimeError: fewer than two frames were given.
        """
        if self._prev is None:
            raise RuntimeError("LandmarkFlow.propagate needs two frames (set_frame twice)")
        kp = np.asarray(keypoints, np.float32)
        n, k = kp.shape[:2]
        out = kp.copy()
        ok = np.zeros(n, bool)
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)
        lk = dict(winSize=LK_WINDOW, maxLevel=LK_LEVELS, criteria=crit)
        h, w = self._cur.shape
        for i in range(n):
            fin = np.isfinite(kp[i]).all(axis=1)
            if fin.sum() < self.min_tracked:
                continue
            p = kp[i, fin]
            # the person's region and a margin for the motion and the window at every level
            lo, hi = p.min(axis=0), p.max(axis=0)
            pad = max(self.margin * float(hi[1] - lo[1]), 8.0) + LK_WINDOW[0]
            x0, y0 = int(max(lo[0] - pad, 0)), int(max(lo[1] - pad, 0))
            x1, y1 = int(min(hi[0] + pad + 1, w)), int(min(hi[1] + pad + 1, h))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            level = 0
            while max(x1 - x0, y1 - y0) > MAX_FLOW_SIDE * 2 ** level:
                level += 1
            # level L pixel u is frame pixel 2^L u (pyrDown keeps the even pixels, smoothed)
            scale = 0.5 ** level
            x0, y0 = x0 >> level, y0 >> level
            x1, y1 = -(-x1 >> level), -(-y1 >> level)
            off = np.array([x0, y0], np.float32) / scale
            a = self._level(self._prev_levels, level)[y0:y1, x0:x1]
            b = self._level(self._cur_levels, level)[y0:y1, x0:x1]
            if min(a.shape) < 8:
                continue
            p0 = ((p - off) * scale).reshape(-1, 1, 2).astype(np.float32)
            p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, **lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **lk)
            # forward-backward error in pixels of the (possibly reduced) region
            fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
            good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb <= self.max_fb_error)
            if good.sum() < self.min_tracked:
                continue
            q = p1.reshape(-1, 2) / scale + off
            d = np.median(q[good] - p[good], axis=0)
            out[i, fin] = np.where(good[:, None], q, p + d)
            ok[i] = True
        return out, ok
