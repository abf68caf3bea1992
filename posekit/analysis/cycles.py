"""Class-agnostic repetition counting: find the repeating movement of a track and count its
cycles, with no exercise named (``--analyze reps``).

**Features.** Each sample of a track is its body-relative skeleton: the image positions of 13
body landmarks (nose, shoulders, elbows, wrists, hips, knees, ankles; BlazePose-33 names) minus
the shoulders' mid-point (the hips' where no shoulder is seen), divided by the body scale (the
larger of the torso length and the shoulder width, as a running maximum over the last
``scale_s`` seconds so that a torso foreshortened during a frontal push-up does not rescale the
pose; where the hips are not seen, the shoulder width times the track's usual torso-to-width
ratio), plus the shoulders' image height in body scales relative to its moving average over
``trend_s`` seconds (weight ``height_weight``: what is left of a lunge or a squat when only the
upper body is in the picture). A moving or zooming camera shifts and scales the whole skeleton
and leaves the body-relative positions unchanged. A landmark below ``min_visibility`` is
missing; a feature missing in more than ``max_missing`` of the window, or of its last
``recent_s`` seconds, is left out (partial visibility: a close-up without legs, legs leaving
the frame).

**Cycle finder** (run on the last ``window_s`` seconds every ``hop_s`` seconds):

1. The window's features (T, D), gaps filled by linear interpolation and smoothed by a centred
   moving average of ``smooth_s``, are projected on their first principal component: the
   direction of largest pose change, which for a repeated movement is the movement itself.
   (Counting by period instead, count = duration / period as RepNet does, Dwibedi et al.,
   "Counting Out Time: Class Agnostic Video Repetition Counting in the Wild", CVPR 2020, with
   the period from the autocorrelation of this signal, was measured against the turning
   points below in ``bench/bench_analysis.py``: it gives no start, turn and end times and
   fails when the visible body changes within the clip.)
2. Turning points of that 1D signal by hysteresis (a zigzag: an extreme is confirmed once the
   signal has come back by ``hysteresis`` of the window's range, and at least ``min_swing``
   body scales): no period is assumed, so a changing tempo and pauses at either end are
   harmless.
3. The **rest side** is the side of the track's start position (the pose at its first turning
   point, kept for the track's life): a repetition leaves it, passes the far turning point and
   comes back (``start_s``, ``turn_s``, ``end_s``: the edges of the rest plateaus and the middle
   of the far plateau, plateaus being within ``plateau`` of the swing of the extreme).
4. A cycle counts only when it **repeats**: its far pose and swing match another cycle of the
   track (the temporal self-similarity RepNet counts with, here between poses: the distance
   between the far poses at most ``max_far_distance`` of the swing, durations within a factor
   ``max_duration_ratio``), so a single movement (sitting down, a stretch, a fall) is no
   repetition; and where most of the body is seen, a limb joint must bend or stretch by
   ``min_joint_deg`` (shifting one's weight while standing is none).

Live use: a repetition is reported when the signal is back at the rest side (within
``plateau`` of the start level) or the next rest turning point is confirmed, i.e. within one
period of its end; the first repetition of a set waits for the second to confirm it.
:meth:`RepFinder.finish` also counts a last return of a set under way that is not yet
confirmed, once the pose has come to rest (a clip that ends right after its last repetition).

**Exercise label** (:func:`label_exercise`): rules from the named counters
(:data:`posekit.analysis.reps.EXERCISES`): a repetition is a squat, push-up, ... when that
exercise's angle signal swings through its active threshold by at least its minimum range and
the body position gate passes; the set's label is the majority over its repetitions, else
``"unknown"``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields

import numpy as np

from ..errors import PoseKitError
from ..skeletons import BLAZEPOSE_33
from .reps import EXERCISES, ExerciseSpec

#: Landmarks of the body-relative features (BlazePose-33 names).
CYCLE_POINTS = ("nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                "right_knee", "left_ankle", "right_ankle")
_PTS = np.array([BLAZEPOSE_33.index(n) for n in CYCLE_POINTS])
_TORSO = np.array([BLAZEPOSE_33.index(n) for n in ("left_shoulder", "right_shoulder",
                                                  "left_hip", "right_hip")])
_PTS_L = _PTS.tolist()
_TORSO_L = _TORSO.tolist()
_LABEL_KEYS = ("knee_mean", "knee_min", "elbow_mean", "left_elbow", "right_elbow", "hip_mean",
               "left_hip", "right_hip", "left_knee", "right_knee",
               "shoulder_mean", "body_lean", "left_shoulder", "right_shoulder")


class CycleConfigError(PoseKitError, ValueError):
    """A :class:`CycleConfig` setting is unknown or out of range."""


@dataclass(frozen=True, kw_only=True)
class CycleConfig:
    """Settings of :class:`RepFinder` (times in seconds, lengths in body scales).

    Attributes:
        window_s: history analysed each time (the longest repetition is half of it).
        hop_s: the analysis runs at most this often (seconds of stream time).
        max_rate_hz: samples closer in time than ``1 / max_rate_hz`` are skipped.
        scale_s: the body scale is the running maximum over the last this many seconds.
        smooth_s: width of the centred moving average before the turning points.
        min_visibility: landmark score below which a landmark is missing.
        max_missing: a feature missing in more than this fraction of the window is left out.
        hysteresis: a turning point is confirmed once the signal has come back by this
            fraction of the window's range (5th to 95th percentile).
        min_swing: and by at least this many body scales (along the principal direction):
            standing still, breathing or pose noise is no movement.
        plateau: fraction of a cycle's swing within which samples belong to a turning
            point's plateau (its start, middle and end times).
        min_return: the way back must cover this fraction of the way out for a cycle to
            count (a half-way return is no repetition).
        min_duration_s, max_duration_s: allowed duration of one repetition.
        max_far_distance: two cycles match when their far poses are closer than this
            fraction of their swing (Euclidean distance in the feature space).
        max_duration_ratio: and their durations differ by at most this factor.
        trend_s: the shoulders' image height is taken relative to its centred moving
            average over this many seconds (walking towards the camera, a camera's tilt).
        height_weight: weight of that feature against the body-relative positions.
        recent_s: a feature must also be seen in this last part of the window.
        min_joint_deg: a repetition bends or stretches at least one limb joint (elbow,
            shoulder, hip or knee angle of :func:`~posekit.analysis.features.frame_features`)
            by this many degrees: swaying or shifting weight while standing is no repetition.
        min_final_return, rest_s: at the end of the stream, a last return that covers
            ``min_final_return`` of the way out counts once the pose has been still (within
            ``plateau`` of the swing) for ``rest_s`` seconds.
    """

    window_s: float = 20.0
    hop_s: float = 0.3
    max_rate_hz: float = 20.0
    scale_s: float = 1.5
    smooth_s: float = 0.2
    min_visibility: float = 0.5
    max_missing: float = 0.4
    hysteresis: float = 0.3
    min_swing: float = 0.3
    plateau: float = 0.1
    min_return: float = 0.6
    min_duration_s: float = 0.3
    max_duration_s: float = 10.0
    max_far_distance: float = 0.5
    max_duration_ratio: float = 3.0
    trend_s: float = 4.0
    recent_s: float = 3.0
    min_final_return: float = 0.7
    min_joint_deg: float = 20.0
    rest_s: float = 0.3
    height_weight: float = 1.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise CycleConfigError(f"CycleConfig.{f.name} must be a positive number, "
                                       f"got {v!r}")
        for name in ("hysteresis", "plateau", "min_return", "max_missing", "min_visibility"):
            if getattr(self, name) >= 1:
                raise CycleConfigError(f"CycleConfig.{name} must be below 1, got "
                                       f"{getattr(self, name)!r}")
        if self.max_duration_s * 2 > self.window_s:
            raise CycleConfigError("CycleConfig.window_s must be at least twice "
                                   "max_duration_s")


def body_relative(keypoints: np.ndarray, scores: np.ndarray, min_visibility: float
                  ) -> tuple[list[float], float]:
    """One person's body-relative landmark offsets and body size.

    Args:
        keypoints: (33, 2) BlazePose-33 pixels (x right, y down).
        scores: (33,) visibility.
        min_visibility: landmarks scored below it are missing (NaN).

    Returns:
        ``(offsets, torso, width)``: 26 floats, pixels: the :data:`CYCLE_POINTS` minus the
        mid-point of the visible shoulders (of the hips where no shoulder is visible; x, y
        interleaved; NaN where missing, all NaN without a visible shoulder or hip); the
        mid-shoulder to mid-hip length and the shoulder width in pixels (NaN if unknown).
    """
    # plain floats: for one small skeleton several times faster than numpy calls
    k = keypoints.tolist()
    ok = (scores >= min_visibility).tolist()
    nan = math.nan
    # the centre: the shoulders' mid-point (the hips leave the frame first: a centre that
    # switched to them would jump), else the hips'
    tv = [i for i in _TORSO_L[:2] if ok[i]] or [i for i in _TORSO_L[2:] if ok[i]]
    if not tv:
        return [nan] * (2 * len(_PTS_L)), nan, nan
    cx = sum(k[i][0] for i in tv) / len(tv)
    cy = sum(k[i][1] for i in tv) / len(tv)
    off: list[float] = []
    for i in _PTS_L:
        if ok[i]:
            off += (k[i][0] - cx, k[i][1] - cy)
        else:
            off += (nan, nan)
    ls, rs, lh, rh = _TORSO_L
    torso = width = nan
    if (ok[ls] or ok[rs]) and (ok[lh] or ok[rh]):
        torso = math.hypot(0.5 * (k[ls][0] + k[rs][0] - k[lh][0] - k[rh][0]),
                           0.5 * (k[ls][1] + k[rs][1] - k[lh][1] - k[rh][1]))
    if ok[ls] and ok[rs]:
        width = math.hypot(k[ls][0] - k[rs][0], k[ls][1] - k[rs][1])
    return off, torso, width


def _shoulder_y(keypoints: np.ndarray, scores: np.ndarray, min_visibility: float) -> float:
    """Image y (pixels) of the visible shoulders' mid-point, NaN if none is visible."""
    ys = [float(keypoints[i, 1]) for i in _TORSO_L[:2] if scores[i] >= min_visibility]
    return sum(ys) / len(ys) if ys else math.nan


def turning_points(z: np.ndarray, h: float) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Alternating extremes of a 1D signal with hysteresis (a zigzag).

    Args:
        z: (T,) finite values.
        h: an extreme is confirmed once the signal has moved back from it by ``h``.

    Returns:
        ``(confirmed, last)``: the confirmed turning points as ``(index, +1 max / -1 min)`` in
        time order, and the running (unconfirmed) extreme after the last one (``(index, 0)``
        when the signal never moved by ``h``).
    """
    tps: list[tuple[int, int]] = []
    n = len(z)
    if n == 0:
        return tps, (0, 0)
    zl = z.tolist()
    i_hi = i_lo = 0
    trend = 0
    for i in range(1, n):
        v = zl[i]
        if trend >= 0 and v > zl[i_hi]:
            i_hi = i
        if trend <= 0 and v < zl[i_lo]:
            i_lo = i
        if trend == 0:
            if zl[i_hi] - zl[i_lo] >= h:
                if i_hi > i_lo:
                    tps.append((i_lo, -1))
                    trend, i_hi = 1, i_hi
                else:
                    tps.append((i_hi, 1))
                    trend, i_lo = -1, i_lo
        elif trend > 0 and zl[i_hi] - v >= h:
            tps.append((i_hi, 1))
            trend, i_lo = -1, i
        elif trend < 0 and v - zl[i_lo] >= h:
            tps.append((i_lo, -1))
            trend, i_hi = 1, i
    last = (i_hi, 1) if trend > 0 else (i_lo, -1) if trend < 0 else (0, 0)
    return tps, last


def _fill(x: np.ndarray) -> np.ndarray:
    """Linear interpolation of the NaNs of each column (edges: nearest value)."""
    out = x.copy()
    idx = np.arange(len(x))
    for j in np.flatnonzero(~np.isfinite(x).all(0)):
        v = x[:, j]
        m = np.isfinite(v)
        out[:, j] = np.interp(idx, idx[m], v[m])
    return out


def _moving_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average of odd width ``k`` along axis 0 (edges: fewer samples)."""
    n = len(x)
    if k <= 1 or n < 3:
        return x
    r = min(k // 2, n - 1)
    c = np.empty((n + 1, x.shape[1]))
    c[0] = 0.0
    np.cumsum(x, axis=0, out=c[1:])
    hi = np.minimum(np.arange(n) + r + 1, n)
    lo = np.maximum(np.arange(n) - r, 0)
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


@dataclass
class Cycle:
    """One cycle found in a window (times in seconds, poses in the feature space)."""

    start_s: float
    turn_s: float
    end_s: float
    swing: float            # along the principal direction, body scales
    far: np.ndarray         # (D,) mean pose over the far plateau (NaN where left out)
    rest: np.ndarray        # (D,) pose at the start
    confirmed_end: bool     # False: a last return accepted at the end of the stream
    i_start: int = 0
    i_turn: int = 0
    i_end: int = 0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def matches(self, other: Cycle, c: CycleConfig) -> bool:
        """Same movement: far poses within ``max_far_distance`` of the swing (in the
        features both have) and durations within ``max_duration_ratio``."""
        m = np.isfinite(self.far) & np.isfinite(other.far) & np.isfinite(self.rest) \
            & np.isfinite(other.rest)
        if m.sum() < 4:
            return False
        d = float(np.linalg.norm(self.far[m] - other.far[m]))
        a = max(float(np.linalg.norm(self.far[m] - self.rest[m])),
                float(np.linalg.norm(other.far[m] - other.rest[m])))
        da, db = max(self.duration_s, 1e-3), max(other.duration_s, 1e-3)
        return a > 0 and d <= c.max_far_distance * a and max(da, db) / min(da, db) \
            <= c.max_duration_ratio


def find_cycles(t: np.ndarray, X: np.ndarray, c: CycleConfig, rest_pose: np.ndarray | None,
                *, after_s: float = -math.inf, final: bool = False
                ) -> tuple[list[Cycle], np.ndarray | None]:
    """The cycles of one track's window.

    Args:
        t: (T,) seconds, increasing.
        X: (T, D) body-relative features in body scales (NaN missing).
        c: settings.
        rest_pose: (D,) the track's start position, or None to take the first turning point.
        after_s: cycles whose far turning point is not after this time are skipped (those
            already reported).
        final: the stream has ended: a last return not yet confirmed counts when it covers
            ``min_final_return`` of the way out and the pose has come to rest (the signal
            within ``plateau`` of the swing over the last ``rest_s`` seconds), as a clip
            that ends in the start position after its last repetition.

    Returns:
        ``(cycles, rest_pose)``: complete cycles in time order (not yet checked for
        repetition), and the rest pose used (the one given, or the new one).
    """
    T = len(t)
    if T < 5:
        return [], rest_pose
    dt = float(t[-1] - t[0]) / (T - 1)
    fin = np.isfinite(X)
    recent = t >= t[-1] - c.recent_s
    # a feature must be seen over the window and lately (a landmark that has left the frame
    # is left out, not extrapolated)
    keep = (fin.mean(0) >= 1.0 - c.max_missing) & (fin[recent].mean(0) >= 1.0 - c.max_missing)
    # x and y of a landmark go together; the last column is the shoulders' image height
    keep[:-1] = np.repeat(keep[:-1].reshape(-1, 2).all(1), 2)
    if keep[:-1].sum() < 4:
        return [], rest_pose
    Y = _fill(X[:, keep])
    if keep[-1]:
        # image height, relative to its moving average over trend_s (walking towards the
        # camera, a camera's pan) and weighted
        kt = max(1, int(round(c.trend_s / max(dt, 1e-3))))
        v = Y[:, -1:]
        Y[:, -1:] = c.height_weight * (v - _moving_mean(v, kt + (kt + 1) % 2))
    k = max(1, int(round(c.smooth_s / max(dt, 1e-3))))
    Y = _moving_mean(Y, k + (k + 1) % 2)
    mu = Y.mean(0)
    Yc = Y - mu
    w, v = np.linalg.eigh(Yc.T @ Yc)
    axis = v[:, -1]
    if rest_pose is not None:
        r = rest_pose[keep]
        rm = np.isfinite(r)
        if rm.sum() >= 4 and float((r[rm] - mu[rm]) @ axis[rm]) > 0:
            axis = -axis            # the rest side is the low side
    z = Yc @ axis
    zs = np.sort(z)
    lo_q, hi_q = float(zs[int(0.05 * (T - 1))]), float(zs[int(0.95 * (T - 1))])
    h = max(c.hysteresis * (hi_q - lo_q), c.min_swing)
    tps, last = turning_points(z, h)
    if rest_pose is None:
        if len(tps) < 3:        # not one whole cycle yet: the start position is unknown
            return [], None
        # the start position: the first turning point at the usual level of its side (the
        # first samples of a track are often a glitch of the pose model)
        lev = {sg: float(np.median([z[i] for i, s in tps if s == sg])) for sg in (-1, 1)
               if any(s == sg for _, s in tps)}
        i0, s0 = next(((i, s) for i, s in tps
                       if abs(z[i] - lev[s]) <= 0.25 * (hi_q - lo_q)), tps[0])
        if s0 > 0:
            z, axis = -z, -axis
            tps = [(i, -s) for i, s in tps]
            last = (last[0], -last[1])
        rest_pose = np.full(X.shape[1], np.nan)
        rest_pose[keep] = Y[i0]
    seq = tps + ([last] if last[1] != 0 else [])
    confirmed = len(tps)
    out = []
    for j in range(len(seq) - 2):
        (a, sa), (b, sb), (e, se) = seq[j], seq[j + 1], seq[j + 2]
        if not (sa < 0 < sb and se < 0):
            continue
        if t[b] <= after_s:
            continue
        za, zb, ze = z[a], z[b], z[e]
        swing = zb - za
        back = zb - ze
        if swing < h or back < c.min_return * swing:
            continue
        tol = c.plateau * swing
        # the end: the first sample after the far turn back within the plateau of the start
        # level (live), else the next rest turning point once confirmed
        seg = z[b:e + 1]
        near_start = np.flatnonzero(seg <= za + tol)
        is_confirmed = j + 2 < confirmed
        if near_start.size:
            i_end = b + int(near_start[0])
            is_confirmed = True
        else:
            near_e = np.flatnonzero(seg <= ze + tol)
            i_end = b + int(near_e[0])
        if not is_confirmed and final and j + 2 == len(seq) - 1 and \
                back >= c.min_final_return * swing:
            tail = z[t >= t[-1] - c.rest_s]
            is_confirmed = tail.size >= 2 and float(tail.max() - tail.min()) <= tol
            final_return = is_confirmed
        else:
            final_return = False
        if not is_confirmed:
            continue
        # the start: the last sample of the rest plateau before the far turn
        pre = np.flatnonzero(z[a:b + 1] <= za + tol)
        i_start = a + int(pre[-1])
        # the far plateau
        near = z >= zb - tol
        lo = hi = b
        while lo > a and near[lo - 1]:
            lo -= 1
        while hi < e and near[hi + 1]:
            hi += 1
        dur = t[i_end] - t[i_start]
        if not (c.min_duration_s <= dur <= c.max_duration_s):
            continue
        far = np.full(X.shape[1], np.nan)
        far[keep] = Y[lo:hi + 1].mean(0)
        rest = np.full(X.shape[1], np.nan)
        rest[keep] = Y[a]
        out.append(Cycle(float(t[i_start]), float(0.5 * (t[lo] + t[hi])), float(t[i_end]),
                         float(swing), far, rest, not final_return, i_start, (lo + hi) // 2,
                         i_end))
    return out, rest_pose


def label_exercise(feats: list[dict], i_start: int, i_turn: int, i_end: int,
                   specs: dict[str, ExerciseSpec] | None = None) -> str:
    """The named exercise one repetition looks like, by the rules of the named counters.

    An exercise fits when its signal (``ExerciseSpec.signal``; one-sided exercises take the
    side that moves more) reaches the ``active`` threshold during the repetition and spans at
    least ``min_range``, and the body-position gate
    (``ExerciseSpec.body``) passes over the repetition. Of several fitting exercises, the one
    whose signal moved most beyond its ``min_range`` wins.

    Args:
        feats: per-sample dicts of :func:`~posekit.analysis.features.frame_features`.
        i_start, i_turn, i_end: sample indices of the repetition's start, turn and end.
        specs: the candidate exercises (default :data:`~posekit.analysis.reps.EXERCISES`).

    Returns:
        The exercise name, or ``"unknown"``.
    """
    specs = EXERCISES if specs is None else specs
    seg = feats[i_start:i_end + 1]
    if len(seg) < 3:
        return "unknown"
    best, best_score = "unknown", 0.0
    for name, sp in specs.items():
        sign = 1.0 if sp.active > sp.rest else -1.0
        score = -math.inf
        for side in sp.sides:
            key = sp.signal.replace("{side}", side)
            u = sign * np.array([f.get(key, math.nan) for f in seg], np.float64)
            if np.isfinite(u).sum() < 3:
                continue
            hi, lo = float(np.nanmax(u)), float(np.nanmin(u))
            if hi >= sign * sp.active and hi - lo >= sp.min_range:
                score = max(score, (hi - lo) / sp.min_range)
        if score == -math.inf:
            continue
        if name == "lunge" and not _one_leg_leads(seg, i_turn - i_start):
            continue
        if sp.body is not None:
            vals = np.array([f.get(sp.body.feature, math.nan) for f in seg], np.float64)
            if sp.body.evaluate(vals, np.ones(len(vals), bool))["ok"] is False:
                continue
        if score > best_score:
            best, best_score = name, score
    return best


_JOINTS = ("left_elbow", "right_elbow", "left_shoulder", "right_shoulder", "left_hip",
           "right_hip", "left_knee", "right_knee")


def _joint_range(seg: list[dict]) -> float:
    """The largest range (degrees) of the 8 limb joint angles over the samples ``seg``; inf
    where fewer than 6 of them are known (part of the body out of the picture, or no
    features given: what moves may be out of sight, so the check is skipped)."""
    best, known = -math.inf, 0
    for j in _JOINTS:
        v = [f[j] for f in seg if j in f and f[j] == f[j]]
        if len(v) >= 2:
            known += 1
            best = max(best, max(v) - min(v))
    return best if known >= 6 else math.inf


def _one_leg_leads(seg: list[dict], j: int) -> bool:
    """A lunge bends one knee clearly more than the other at the turning point (front leg);
    both knees alike is a squat: ``knee_mean - knee_min`` (half the difference between the
    knees) at least 15 degrees."""
    k = min(max(j, 0), len(seg) - 1)
    d = [f.get("knee_mean", math.nan) - f.get("knee_min", math.nan)
         for f in seg[max(0, k - 2):k + 3]]
    d = [v for v in d if math.isfinite(v)]
    return bool(d) and float(np.median(d)) >= 15.0


@dataclass
class RepFinder:
    """Class-agnostic repetition counter of one track (see the module doc).

    Feed :meth:`update` every frame the track is seen; :meth:`finish` at the end.

    Attributes:
        count: repetitions reported.
        reps: the reported repetition dicts.
        exercise: the set's label so far (majority of the repetitions' labels, ties to
            the latest; ``"unknown"`` when none is known).
    """

    config: CycleConfig = field(default_factory=CycleConfig)
    specs: dict[str, ExerciseSpec] | None = None
    count: int = 0
    reps: list = field(default_factory=list)
    _n: int = 0
    _t: np.ndarray = field(default_factory=lambda: np.empty(0))
    _x: np.ndarray = field(default_factory=lambda: np.empty((0, 2 * len(CYCLE_POINTS) + 1)))
    _size: np.ndarray = field(default_factory=lambda: np.empty(0))
    _f: list = field(default_factory=list)
    _ratios: list = field(default_factory=list)
    _reported: set = field(default_factory=set)
    _rest: np.ndarray | None = None
    _last_run: float = -math.inf
    _last_end: float = -math.inf
    _memory: list = field(default_factory=list)
    _labels: Counter = field(default_factory=Counter)
    _finished: bool = False

    @property
    def exercise(self) -> str:
        if not self._labels:
            return "unknown"
        known = {k: v for k, v in self._labels.items() if k != "unknown"}
        if not known:
            return "unknown"
        return max(known, key=lambda k: known[k])

    def update(self, time_s: float, keypoints: np.ndarray, scores: np.ndarray,
               feats: dict | None = None) -> list[dict]:
        """One frame of this track.

        Args:
            time_s: seconds, increasing.
            keypoints: (33, 2) BlazePose-33 pixels; scores: (33,).
            feats: the frame's :func:`~posekit.analysis.features.frame_features` dict (for
                the exercise label), or None.

        Returns:
            The repetitions completed (and confirmed) by this frame: dicts with ``count``,
            ``rep`` (the same number), ``exercise``, ``start_s``, ``turn_s`` (also as
            ``bottom_s``), ``end_s``, ``duration_s``, ``swing_body`` and ``counter`` =
            ``"reps"``.
        """
        c = self.config
        n = self._n
        if n and time_s - self._t[n - 1] < 1.0 / c.max_rate_hz:
            return []
        off, torso, width = body_relative(keypoints, scores, c.min_visibility)
        # body size: the larger of the torso length and the shoulder width; where the hips
        # are not seen, the shoulder width times the track's usual torso / width ratio (so
        # the scale does not jump when the hips leave the frame)
        if torso == torso and width == width and width > 0:
            self._ratios.append(max(1.0, torso / width))
            if len(self._ratios) > 60:
                del self._ratios[:10]
        if torso == torso:
            size = max(torso, width) if width == width else torso
        elif width == width:
            size = width * (float(np.median(self._ratios)) if self._ratios else 1.0)
        else:
            size = math.nan
        if n == len(self._t):             # grow (first time) or drop the oldest quarter
            cap = int(c.window_s * c.max_rate_hz) + 8
            if not n:
                self._t, self._size = np.empty(cap), np.empty(cap)
                self._x = np.empty((cap, 2 * len(CYCLE_POINTS) + 1))
            else:
                d = n // 4
                for a in (self._t, self._x, self._size):
                    a[:n - d] = a[d:n]
                del self._f[:d]
                n -= d
        self._t[n], self._size[n] = time_s, size
        # body scale: running maximum over the last scale_s seconds (causal)
        j = int(np.searchsorted(self._t[:n], time_s - c.scale_s, side="left"))
        recent = self._size[j:n + 1]
        ok = recent[recent == recent]
        scale = float(ok.max()) if ok.size else math.nan
        self._x[n, :-1] = off
        self._x[n, -1] = _shoulder_y(keypoints, scores, c.min_visibility)
        self._x[n] /= scale if scale > 0 else math.nan
        self._f.append({k: feats.get(k, math.nan) for k in _LABEL_KEYS} if feats else {})
        n += 1
        # keep window_s seconds
        d = int(np.searchsorted(self._t[:n], time_s - c.window_s, side="left"))
        if d:
            for a in (self._t, self._x, self._size):
                a[:n - d] = a[d:n]
            del self._f[:d]
            n -= d
        self._n = n
        if time_s - self._last_run < c.hop_s:
            return []
        self._last_run = time_s
        return self._analyse()

    def finish(self) -> list[dict]:
        """End of the stream: repetitions whose return is not yet confirmed by a later
        movement. Call once; later calls return []."""
        if self._finished:
            return []
        self._finished = True
        return self._analyse(final=True)

    def _analyse(self, final: bool = False) -> list[dict]:
        c = self.config
        n = self._n
        if n < 5:
            return []
        t, X = self._t[:n], self._x[:n]
        cycles, self._rest = find_cycles(t, X, c, self._rest, after_s=self._last_end,
                                         final=final)
        out = []
        for i, cy in enumerate(cycles):
            if cy.turn_s <= self._last_end:
                continue        # reported already (found again in a later window)
            if _joint_range(self._f[cy.i_start:cy.i_end + 1]) < c.min_joint_deg:
                continue        # the body moved without bending a joint (swaying, a glitch)
            others = [o for j, o in enumerate(cycles) if j != i] + [
                m for m in self._memory
                if abs(m.turn_s - cy.turn_s) >= 0.5 * max(cy.duration_s, 1e-3)]
            if not cy.confirmed_end:
                # the end-of-stream leniency extends a set, it never starts one
                others = [o for o in self._memory if o.turn_s in self._reported]
            if not any(cy.matches(o, c) for o in others):
                self._remember(cy)
                continue
            label = label_exercise(self._f, cy.i_start, cy.i_turn, cy.i_end, self.specs)
            self._labels[label] += 1
            self.count += 1
            self._last_end = cy.end_s
            self._remember(cy)
            self._reported.add(cy.turn_s)
            rep = {"counter": "reps", "exercise": label, "count": self.count,
                   "rep": self.count, "start_s": round(cy.start_s, 4),
                   "turn_s": round(cy.turn_s, 4), "bottom_s": round(cy.turn_s, 4),
                   "end_s": round(cy.end_s, 4), "duration_s": round(cy.duration_s, 4),
                   "swing_body": round(cy.swing, 3)}
            self.reps.append(rep)
            out.append(rep)
        return out

    def _remember(self, cy: Cycle) -> None:
        """Keep the cycle's poses (one per turning time, the latest version) for matching
        later cycles."""
        self._memory = [m for m in self._memory
                        if abs(m.turn_s - cy.turn_s) >= 0.5 * max(cy.duration_s, 1e-3)
                        or m.turn_s in self._reported]
        if any(m.turn_s in self._reported and abs(m.turn_s - cy.turn_s)
               < 0.5 * max(cy.duration_s, 1e-3) for m in self._memory):
            return
        self._memory.append(cy)
        del self._memory[:-20]


def count_cycles(times: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 config: CycleConfig | None = None) -> list[dict]:
    """Offline helper: the repetitions of one person's pose sequence.

    Args:
        times: (T,) seconds, increasing.
        keypoints: (T, 33, 2) BlazePose-33 pixels; scores: (T, 33).
        config: settings (default :class:`CycleConfig`).

    Returns:
        The repetition dicts of :meth:`RepFinder.update`, in order.
    """
    rf = RepFinder(config or CycleConfig())
    out: list[dict] = []
    for t, k, s in zip(times, keypoints, scores):
        out += rf.update(float(t), k, s)
    return out + rf.finish()
