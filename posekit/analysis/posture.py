"""Posture angles per track and the time spent beyond configurable limits.

Angles (degrees; each NaN where its landmarks are not visible or the view cannot show it):

- ``forward_head``: the shoulder-to-ear line against vertical, in the body's sagittal plane,
  positive when the ear is in front of the shoulder (plumb-line assessment: ear over acromion,
  Kendall et al., *Muscles: Testing and Function*; the craniovertebral angle measures the same
  displacement from the horizontal).
- ``rounded_shoulders``: how far the shoulder lies in front of the ear-hip line, as the angle at
  the hip between hip-to-ear and hip-to-shoulder (sagittal plane, positive forward; plumb-line
  assessment of a protracted shoulder girdle).
- ``shoulder_tilt``: the shoulder line against horizontal (frontal views; unsigned).
- ``trunk_lean``: mid-hip to mid-shoulder against vertical (any view; unsigned).

Sagittal angles use the image plane in a side view (shoulder width below 0.4 torso lengths;
"forward" is where the nose points) and the 3D world landmarks otherwise (forward = the
horizontal direction from the ears to the nose); ``shoulder_tilt`` is measured only in
non-side views. :class:`PostureMonitor` smooths each angle (time constant ``smoothing_s``),
adds up the time it spends beyond its limit, and emits a ``posture`` event for every excursion
beyond a limit that lasts at least ``min_duration_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..types import Poses
from .features import (L_EAR, L_HIP, L_SH, NOSE, R_EAR, R_HIP, R_SH, SIDE_VIEW_RATIO)
from .reps import Smoother

POSTURE_NAMES = ("forward_head", "rounded_shoulders", "shoulder_tilt", "trunk_lean")


@dataclass(frozen=True, kw_only=True)
class PostureConfig:
    """Limits (degrees) and timing of :class:`PostureMonitor`.

    Attributes:
        limits: ``{name: degrees}``: beyond it (above; absolute value for signed angles) the
            posture counts as poor. Defaults: forward head 25, rounded shoulders 12, shoulder
            tilt 6, trunk lean 20.
        min_duration_s: an excursion shorter than this is not reported as an event.
        smoothing_s: time constant of the exponential smoothing, seconds.
        min_visibility: landmark score needed.
    """

    limits: dict = field(default_factory=lambda: {"forward_head": 25.0,
                                                  "rounded_shoulders": 12.0,
                                                  "shoulder_tilt": 6.0, "trunk_lean": 20.0})
    min_duration_s: float = 2.0
    smoothing_s: float = 0.3
    min_visibility: float = 0.5


def _signed_angle(v: np.ndarray, up: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """Angle of vectors ``v`` (N, D) from ``up``, signed positive towards ``fwd`` (N, D)."""
    a = (v * up).sum(-1)
    b = (v * fwd).sum(-1)
    with np.errstate(invalid="ignore"):
        return np.degrees(np.arctan2(b, a))


def posture_angles(poses: Poses, *, min_visibility: float = 0.5) -> list[dict[str, float]]:
    """The posture angles (see the module doc) for every person of ``poses``: N dicts, degrees."""
    n = len(poses)
    if n == 0:
        return []
    k = poses.keypoints.astype(np.float64)
    sc = poses.scores

    def c2(pts, i, j):
        m = 0.5 * (pts[:, i] + pts[:, j])
        m[np.maximum(sc[:, i], sc[:, j]) < min_visibility] = np.nan
        return m

    hip, sho, ear = c2(k, L_HIP, R_HIP), c2(k, L_SH, R_SH), c2(k, L_EAR, R_EAR)
    nose = k[:, NOSE].copy()
    nose[sc[:, NOSE] < min_visibility] = np.nan
    torso = np.linalg.norm(sho - hip, axis=1)
    ls, rs = k[:, L_SH].copy(), k[:, R_SH].copy()
    ls[sc[:, L_SH] < min_visibility] = np.nan
    rs[sc[:, R_SH] < min_visibility] = np.nan
    sw = np.linalg.norm(ls - rs, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        side = sw / torso < SIDE_VIEW_RATIO
    out = {name: np.full(n, np.nan) for name in POSTURE_NAMES}
    # image plane, side view
    up2 = np.array([0.0, -1.0])
    fx = np.sign(nose[:, 0] - ear[:, 0])
    fwd2 = np.stack([fx, np.zeros(n)], axis=1)
    fh_img = _signed_angle(ear - sho, up2, fwd2)
    rs_img = _signed_angle(sho - hip, up2, fwd2) - _signed_angle(ear - hip, up2, fwd2)
    # world, any view
    fh_w = rs_w = np.full(n, np.nan)
    if poses.world is not None:
        w = poses.world.astype(np.float64)
        wh, ws = 0.5 * (w[:, L_HIP] + w[:, R_HIP]), 0.5 * (w[:, L_SH] + w[:, R_SH])
        we = 0.5 * (w[:, L_EAR] + w[:, R_EAR])
        f = w[:, NOSE] - we
        f[:, 1] = 0.0
        f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-9)
        up3 = np.array([0.0, -1.0, 0.0])
        fh_w = _signed_angle(we - ws, up3, f)
        rs_w = _signed_angle(ws - wh, up3, f) - _signed_angle(we - wh, up3, f)
        okw = np.isfinite(ear[:, 0]) & np.isfinite(sho[:, 0]) & np.isfinite(hip[:, 0])
        fh_w = np.where(okw, fh_w, np.nan)
        rs_w = np.where(okw, rs_w, np.nan)
    out["forward_head"] = np.where(side, fh_img, fh_w)
    out["rounded_shoulders"] = np.where(side, rs_img, rs_w)
    d = ls - rs
    with np.errstate(invalid="ignore"):
        tilt = np.degrees(np.arctan2(np.abs(d[:, 1]), np.abs(d[:, 0])))
    out["shoulder_tilt"] = np.where(side, np.nan, tilt)
    dv = sho - hip
    with np.errstate(invalid="ignore"):
        out["trunk_lean"] = np.degrees(np.arctan2(np.abs(dv[:, 0]), -dv[:, 1]))
    return [{name: float(out[name][i]) for name in POSTURE_NAMES} for i in range(n)]


@dataclass
class _Excursion:
    start: float
    last: float
    peak: float
    total: float = 0.0
    n: int = 0


class PostureMonitor:
    """Posture of one track over time. :meth:`update` per sample, :meth:`finish` at the end.

    Attributes:
        current: latest smoothed angles ``{name: degrees}``.
        time_beyond_s: ``{name: seconds}`` spent beyond each limit.
        time_observed_s: ``{name: seconds}`` during which each angle was measurable.
        events: the emitted posture events (without ``type``/``track_id``).
    """

    def __init__(self, config: PostureConfig | None = None):
        self.c = config or PostureConfig()
        self.current: dict[str, float] = {n: math.nan for n in POSTURE_NAMES}
        self.time_beyond_s = {n: 0.0 for n in POSTURE_NAMES}
        self.time_observed_s = {n: 0.0 for n in POSTURE_NAMES}
        self.events: list[dict] = []
        self._smooth = {n: Smoother(self.c.smoothing_s) for n in POSTURE_NAMES}
        self._exc: dict[str, _Excursion] = {}
        self._last_t: float | None = None

    def update(self, time_s: float, angles: dict[str, float]) -> list[dict]:
        """One sample of :func:`posture_angles` for this track; returns completed events."""
        dt = 0.0 if self._last_t is None else min(max(time_s - self._last_t, 0.0), 1.0)
        self._last_t = time_s
        out = []
        for name in POSTURE_NAMES:
            v = angles.get(name, math.nan)
            limit = self.c.limits.get(name)
            if not math.isfinite(v):
                self.current[name] = math.nan
                out += self._end(name)
                continue
            s = self._smooth[name](time_s, v)
            self.current[name] = s
            self.time_observed_s[name] += dt
            if limit is None:
                continue
            if abs(s) > limit:
                self.time_beyond_s[name] += dt
                e = self._exc.get(name)
                if e is None:
                    self._exc[name] = _Excursion(time_s, time_s, s, s, 1)
                else:
                    e.last = time_s
                    e.peak = s if abs(s) > abs(e.peak) else e.peak
                    e.total += s
                    e.n += 1
            else:
                out += self._end(name)
        return out

    def _end(self, name: str) -> list[dict]:
        e = self._exc.pop(name, None)
        if e is None or e.last - e.start < self.c.min_duration_s:
            return []
        ev = {"name": name, "start_s": round(e.start, 4), "end_s": round(e.last, 4),
              "duration_s": round(e.last - e.start, 4), "peak_deg": round(e.peak, 2),
              "mean_deg": round(e.total / e.n, 2), "limit_deg": self.c.limits[name]}
        self.events.append(ev)
        return [ev]

    def missing(self, time_s: float) -> list[dict]:
        """The track was not seen: open excursions end."""
        out = []
        for name in list(self._exc):
            out += self._end(name)
        return out

    def finish(self) -> list[dict]:
        return self.missing(self._last_t or 0.0)

    def summary(self) -> dict:
        """``{name: {"time_beyond_s", "time_observed_s", "fraction_beyond", "limit_deg"}}``."""
        out = {}
        for n in POSTURE_NAMES:
            obs = self.time_observed_s[n]
            out[n] = {"time_beyond_s": round(self.time_beyond_s[n], 3),
                      "time_observed_s": round(obs, 3),
                      "fraction_beyond": round(self.time_beyond_s[n] / obs, 4) if obs else None,
                      "limit_deg": self.c.limits.get(n)}
        return out
