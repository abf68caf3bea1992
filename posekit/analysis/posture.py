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

from ..types import Poses
from .features import L_EAR, L_HIP, L_SH, NOSE, R_EAR, R_HIP, R_SH, SIDE_VIEW_RATIO
from .reps import ExponentialAverage

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


def _sagittal(v: tuple, up: tuple, fwd: tuple) -> float:
    """Angle (degrees) of vector ``v`` from ``up``, positive towards ``fwd`` (2D or 3D)."""
    a = sum(x * y for x, y in zip(v, up))
    b = sum(x * y for x, y in zip(v, fwd))
    return math.degrees(math.atan2(b, a))


def _mid(p: list, s: list, i: int, j: int, mv: float) -> tuple:
    if max(s[i], s[j]) < mv:
        return (math.nan,) * len(p[i])
    return tuple(0.5 * (a + b) for a, b in zip(p[i], p[j]))


def _sub(a: tuple, b: tuple) -> tuple:
    return tuple(x - y for x, y in zip(a, b))


def posture_angles(poses: Poses, *, min_visibility: float = 0.5) -> list[dict[str, float]]:
    """The posture angles (see the module doc) for every person of ``poses``: N dicts, degrees."""
    mv = min_visibility
    kps, scs = poses.keypoints.tolist(), poses.scores.tolist()
    worlds = poses.world.tolist() if poses.world is not None else [None] * len(poses)
    out = []
    nan = math.nan
    for k, s, w in zip(kps, scs, worlds):
        hip, sho, ear = _mid(k, s, L_HIP, R_HIP, mv), _mid(k, s, L_SH, R_SH, mv), \
            _mid(k, s, L_EAR, R_EAR, mv)
        nose = tuple(k[NOSE]) if s[NOSE] >= mv else (nan, nan)
        torso = math.hypot(*_sub(sho, hip))
        ls = k[L_SH] if s[L_SH] >= mv else (nan, nan)
        rs = k[R_SH] if s[R_SH] >= mv else (nan, nan)
        sw = math.hypot(ls[0] - rs[0], ls[1] - rs[1])
        side = torso > 0 and sw / torso < SIDE_VIEW_RATIO
        d = {}
        if side:
            fwd = (math.copysign(1.0, nose[0] - ear[0]), 0.0) \
                if math.isfinite(nose[0] - ear[0]) else (nan, nan)
            up = (0.0, -1.0)
            d["forward_head"] = _sagittal(_sub(ear, sho), up, fwd)
            d["rounded_shoulders"] = (_sagittal(_sub(sho, hip), up, fwd)
                                      - _sagittal(_sub(ear, hip), up, fwd))
            d["shoulder_tilt"] = nan
        else:
            fh = rs_ = nan
            if w is not None and all(math.isfinite(v[0]) for v in (ear, sho, hip)):
                wh = _mid(w, s, L_HIP, R_HIP, -1.0)
                ws = _mid(w, s, L_SH, R_SH, -1.0)
                we = _mid(w, s, L_EAR, R_EAR, -1.0)
                fx, fz = w[NOSE][0] - we[0], w[NOSE][2] - we[2]
                n = math.hypot(fx, fz)
                if n > 0:
                    fwd3, up3 = (fx / n, 0.0, fz / n), (0.0, -1.0, 0.0)
                    fh = _sagittal(_sub(we, ws), up3, fwd3)
                    rs_ = _sagittal(_sub(ws, wh), up3, fwd3) - _sagittal(_sub(we, wh), up3,
                                                                           fwd3)
            d["forward_head"], d["rounded_shoulders"] = fh, rs_
            d["shoulder_tilt"] = math.degrees(math.atan2(abs(ls[1] - rs[1]), abs(ls[0] - rs[0])))
        dx, dy = _sub(sho, hip)
        d["trunk_lean"] = math.degrees(math.atan2(abs(dx), -dy))
        out.append({n: d[n] for n in POSTURE_NAMES})
    return out


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
        self._smooth = {n: ExponentialAverage(self.c.smoothing_s) for n in POSTURE_NAMES}
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
