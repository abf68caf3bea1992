"""Landmark smoothing with the One Euro filter, one filter state per track.

The One Euro filter (Casiez, Roussel and Vogel, "1 Euro Filter: A Simple Speed-based Low-pass
Filter for Noisy Input in Interactive Systems", CHI 2012) is a first-order low-pass filter whose
cutoff frequency rises with the signal's speed: heavy smoothing when a landmark is still (no
jitter), light smoothing when it moves fast (little lag)::

    dx_t   = (x_t - x_raw_{t-1}) * value_scale / dt          # speed
    dx^_t  = lowpass(dx_t, cutoff = derivative_cutoff)       # smoothed speed
    cutoff = min_cutoff + beta * |dx^_t|
    x^_t   = lowpass(x_t, cutoff)                            # output
    lowpass(v, c): v^_t = a v_t + (1 - a) v^_{t-1},  a = 1 / (1 + tau / dt),  tau = 1 / (2 pi c)

This follows MediaPipe's implementation (``mediapipe/util/filtering/one_euro_filter.cc``:
the speed uses the previous *raw* value; the first sample passes through; a timestamp that does
not increase returns the input unfiltered) and its pose settings
(``mediapipe/modules/pose_landmark/pose_landmark_filtering.pbtxt``): image landmarks
``min_cutoff=0.05, beta=80, derivate_cutoff=1`` with the speed divided by the person's size
(``landmarks_smoothing_calculator_utils.cc``: object scale = (width + height) / 2 of the
landmarks' box, in pixels, so the speed is in body sizes per second), and world landmarks
``min_cutoff=0.1, beta=40, derivate_cutoff=1`` without size scaling (metres).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from ..types import Poses

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class OneEuroConfig:
    """Parameters of one One Euro filter.

    Attributes:
        min_cutoff: cutoff frequency in Hz when the signal is still (lower: smoother, more lag).
        beta: cutoff increase per unit of (scaled) speed; higher: less lag when moving.
        derivative_cutoff: cutoff in Hz of the low-pass filter on the speed.
    """

    min_cutoff: float = 1.0
    beta: float = 0.0
    derivative_cutoff: float = 1.0

    def __post_init__(self):
        if not (self.min_cutoff > 0 and self.derivative_cutoff > 0 and self.beta >= 0):
            raise ValueError(f"OneEuroConfig: expected min_cutoff > 0, derivative_cutoff > 0, "
                             f"beta >= 0, got {self}")


# mediapipe/modules/pose_landmark/pose_landmark_filtering.pbtxt
MEDIAPIPE_POSE_LANDMARKS = OneEuroConfig(min_cutoff=0.05, beta=80.0, derivative_cutoff=1.0)
MEDIAPIPE_POSE_WORLD = OneEuroConfig(min_cutoff=0.1, beta=40.0, derivative_cutoff=1.0)


def _alpha(cutoff, dt):
    """Smoothing factor of a first-order low-pass filter: 1 / (1 + tau / dt)."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """A bank of independent One Euro filters over an array of any fixed shape, vectorised.

    Each element keeps its own state and timestamp, so an element that is NaN in one call
    (a missing keypoint) is passed through as NaN without touching its state, and resumes from
    its own last sample later.

    >>> f = OneEuroFilter(MEDIAPIPE_POSE_LANDMARKS)
    >>> y = f(x, t_s, value_scale=1 / person_size_px)          # doctest: +SKIP
    """

    def __init__(self, config: OneEuroConfig):
        self.config = config
        self._x: np.ndarray | None = None       # last output (filtered value)
        self._raw: np.ndarray | None = None     # last raw input
        self._dx: np.ndarray | None = None      # last filtered speed
        self._t: np.ndarray | None = None       # last timestamp per element, seconds

    def reset(self) -> None:
        """Forget all state; the next sample passes through."""
        self._x = self._raw = self._dx = self._t = None

    def __call__(self, x: np.ndarray, time_s: float, value_scale: float = 1.0) -> np.ndarray:
        """Filter one sample.

        Args:
            x: array of the shape given on the first call (float; NaN = missing).
            time_s: timestamp in seconds; must increase per element to be filtered (an element
                whose timestamp does not increase is returned unfiltered and not stored, as
                MediaPipe does).
            value_scale: multiplies the speed before it sets the cutoff (MediaPipe: 1 / object
                scale for image landmarks).

        Returns:
            float64 array of ``x``'s shape.

        Raises:
            ValueError: ``x`` changed shape since the first call.
        """
        x = np.asarray(x, np.float64)
        c = self.config
        if self._x is None:
            self._x = np.full(x.shape, np.nan)
            self._raw = np.full(x.shape, np.nan)
            self._dx = np.zeros(x.shape)
            self._t = np.full(x.shape, -np.inf)
        elif x.shape != self._x.shape:
            raise ValueError(f"OneEuroFilter: expected {self._x.shape}, got {x.shape}")
        out = x.copy()
        valid = np.isfinite(x)
        fresh = valid & ~np.isfinite(self._x)           # first sample: passes through
        dt = time_s - self._t
        step = valid & ~fresh & (dt > 0)
        if step.any():
            dts = dt[step]
            dx = (x[step] - self._raw[step]) * value_scale / dts
            edx = self._dx[step] + _alpha(c.derivative_cutoff, dts) * (dx - self._dx[step])
            cutoff = c.min_cutoff + c.beta * np.abs(edx)
            prev = self._x[step]
            out[step] = prev + _alpha(cutoff, dts) * (x[step] - prev)
            self._dx[step] = edx
        upd = step | fresh
        self._x[upd] = out[upd]
        self._raw[upd] = x[upd]
        self._t[upd] = time_s
        self._dx[fresh] = 0.0
        return out


@dataclass(frozen=True, kw_only=True)
class SmootherConfig:
    """Settings of :class:`Smoother`.

    Attributes:
        keypoints: One Euro parameters for the image keypoints (pixels); MediaPipe's pose
            landmark settings by default. None: keypoints are not smoothed.
        scale_by_size: divide the keypoint speed by the person's size (mean of the width and
            height of the keypoints' box, pixels), as MediaPipe does, so the same settings fit
            near and far persons.
        world: One Euro parameters for world landmarks (metres, no size scaling); MediaPipe's
            settings by default. None: world landmarks are not smoothed.
        min_object_scale_px: below this person size (pixels) keypoints pass through unfiltered
            (MediaPipe's ``min_allowed_object_scale``).
        max_gap_s: a track not seen for longer than this (seconds) has its state dropped; when
            it comes back its first pose passes through.
    """

    keypoints: OneEuroConfig | None = field(default=MEDIAPIPE_POSE_LANDMARKS)
    scale_by_size: bool = True
    world: OneEuroConfig | None = field(default=MEDIAPIPE_POSE_WORLD)
    min_object_scale_px: float = 1e-3
    max_gap_s: float = 1.0


@dataclass
class _TrackState:
    keypoints: OneEuroFilter | None
    world: OneEuroFilter | None
    last_s: float


class Smoother:
    """Per-track One Euro smoothing of keypoints and world landmarks (a pipeline stage).

    ``update(poses, time_s)`` returns a copy of ``poses`` whose ``keypoints`` (N, K, 2) float32
    pixels and ``world`` (N, K, 3) metres are filtered with the state of each person's track
    (``poses.track_ids``); boxes, scores and everything else are unchanged. Persons without a
    track ID (``track_ids`` None or negative) pass through unchanged. A track's state is
    dropped when it has not been seen for ``config.max_gap_s`` seconds (the tracker ends a
    track by no longer returning it), or by :meth:`drop` / :meth:`reset`.

    >>> smoother = Smoother()
    >>> poses = smoother.update(tracker.update(model(frame), frame.time_s), frame.time_s)
    ...                                                          # doctest: +SKIP
    """

    def __init__(self, config: SmootherConfig | None = None, **overrides):
        if config is not None and overrides:
            raise TypeError("pass either a SmootherConfig or keyword overrides, not both")
        self.config = config or SmootherConfig(**overrides)
        self._tracks: dict[int, _TrackState] = {}

    @property
    def track_ids(self) -> list[int]:
        """IDs of the tracks that currently hold filter state."""
        return sorted(self._tracks)

    def reset(self) -> None:
        """Drop the state of every track."""
        self._tracks.clear()

    def drop(self, track_id: int) -> None:
        """Drop one track's state (no error if it has none)."""
        self._tracks.pop(int(track_id), None)

    def update(self, poses: Poses, time_s: float) -> Poses:
        """Smooth ``poses`` observed at ``time_s`` (seconds); see the class docstring."""
        c = self.config
        t = float(time_s)
        for tid in [k for k, s in self._tracks.items() if t - s.last_s > c.max_gap_s]:
            del self._tracks[tid]
        if poses.track_ids is None or len(poses) == 0:
            return poses
        kp = np.array(poses.keypoints, np.float32)
        world = None if poses.world is None else np.array(poses.world, np.float32)
        for i, tid in enumerate(poses.track_ids.tolist()):
            if tid < 0:
                continue
            st = self._tracks.get(tid)
            if st is None:
                st = self._tracks[tid] = _TrackState(
                    OneEuroFilter(c.keypoints) if c.keypoints else None,
                    OneEuroFilter(c.world) if c.world else None, t)
            st.last_s = t
            if st.keypoints is not None:
                scale = 1.0
                if c.scale_by_size:
                    size = _object_scale(kp[i])
                    if not size >= c.min_object_scale_px:
                        size = None
                    scale = None if size is None else 1.0 / size
                if scale is not None:
                    kp[i] = st.keypoints(kp[i], t, scale)
            if st.world is not None and world is not None:
                world[i] = st.world(world[i], t, 1.0)
        return poses.replace(keypoints=kp, world=world)


def _object_scale(kp: np.ndarray) -> float:
    """(width + height) / 2 of the box around the finite keypoints (K, 2); NaN if none."""
    ok = np.isfinite(kp).all(axis=1)
    if not ok.any():
        return float("nan")
    p = kp[ok]
    return float((np.ptp(p[:, 0]) + np.ptp(p[:, 1])) / 2.0)
