"""Simple body gestures per track: one- and two-hand wave, hands up, T-pose, pointing.

Each sample of a track gets one label, by priority ``wave_two_hands`` > ``wave_one_hand`` >
``t_pose`` > ``hands_up`` > ``pointing`` > none; runs of one label lasting at least that
gesture's minimum duration become events ``{"name", "start_s", "end_s", "side", ...}``
(short gaps up to ``gap_s`` inside a run are bridged). Lengths are in body scales ``L`` (the
mid-shoulder to mid-hip distance in pixels), so the rules hold at any image size.

- **Wave** (per hand): the trunk is upright, the wrist is above its shoulder (by
  ``raised_L``) and swings side to side. Swings are
  found with a zig-zag filter on the wrist's horizontal offset from the shoulder: a turning
  point counts once the wrist has come back from it by ``wave_amplitude`` ``L``; a hand is
  waving once it has made two swings (out and back) of at least that amplitude, each within
  ``max_swing_s``, and its wave is dated back to the start of the first swing. It stops when
  the hand drops or no new turn comes within ``max_swing_s``. Both hands waving at once is
  ``wave_two_hands``, one hand ``wave_one_hand`` (``side`` = the person's hand).
- **Hands up**: both wrists above the nose and both elbows above the shoulders.
- **T-pose**: both arms out sideways: upper arm at ``t_pose_abduction`` degrees from the trunk,
  elbows straight (``straight_elbow_deg``), wrists within ``t_pose_wrist_L`` of shoulder height.
- **Pointing**: one straight arm raised at least ``point_raise_deg`` from the trunk while the
  other hangs within ``arm_down_deg``; ``direction_deg`` is the shoulder-to-wrist direction in
  the image (0 = image right, 90 = up).

Because waves are dated back, labels are final only up to the earliest start of a swing still
in progress; events are emitted once final, and :meth:`GestureDetector.finish` flushes the rest.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .features import L_EL, L_SH, L_WR, NOSE, R_EL, R_SH, R_WR

GESTURES = ("wave_two_hands", "wave_one_hand", "t_pose", "hands_up", "pointing")


@dataclass(frozen=True, kw_only=True)
class GestureConfig:
    """Thresholds of :class:`GestureDetector` (``L`` = torso length in pixels).

    Attributes:
        min_visibility: landmark score needed.
        wave_amplitude: wrist travel (``L``) a swing needs, and the return that confirms a turn.
        max_swing_s: longest allowed swing, seconds.
        min_duration_s: per gesture, the shortest run reported, seconds.
        gap_s: gaps up to this inside a run are bridged, seconds.
        t_pose_abduction: (min, max) degrees between upper arm and trunk for a T-pose.
        straight_elbow_deg: elbow angle of a straight arm.
        t_pose_wrist_L: wrist height tolerance around shoulder height, ``L``.
        point_raise_deg: upper arm angle to the trunk of a pointing arm: raised to within
            20 degrees of horizontal. A seated person's straight arm resting forward on the
            knee is at 53-63 degrees in the image (FallDetection/sit.mp4 through
            ``posekit run``), which an arm pointing down-forward cannot be told from.
        arm_down_deg: upper arm angle to the trunk of a hanging arm.
        raised_L: a waving wrist is at least this far (``L``) above its shoulder.
        lowered_s: a hand that is not raised (or not seen) for longer stops its wave; shorter
            dips (a pose glitch) are ignored.
        upright_deg: waves need a trunk within this angle of vertical (standing or sitting;
            hands behind the head during sit-ups move sideways too).
    """

    min_visibility: float = 0.5
    wave_amplitude: float = 0.25
    max_swing_s: float = 3.0
    min_duration_s: tuple = (("wave_two_hands", 1.0), ("wave_one_hand", 1.0), ("t_pose", 0.5),
                             ("hands_up", 0.5), ("pointing", 0.7))
    gap_s: float = 0.35
    t_pose_abduction: tuple[float, float] = (65.0, 115.0)
    straight_elbow_deg: float = 145.0
    t_pose_wrist_L: float = 0.35
    point_raise_deg: float = 70.0
    arm_down_deg: float = 35.0
    raised_L: float = 0.2
    lowered_s: float = 0.25
    upright_deg: float = 30.0

    def min_duration(self, name: str) -> float:
        return dict(self.min_duration_s).get(name, 0.5)


class _HandWave:
    """Zig-zag swing detector of one hand."""

    def __init__(self, c: GestureConfig):
        self.c = c
        self.reset()

    def reset(self) -> None:
        self.anchor: tuple[float, float] | None = None   # (t, x) start of the current swing
        self.ext: tuple[float, float] | None = None      # running extreme since the anchor
        self.direction = 0                                # +1 / -1 / 0 unknown
        self.pivots: list[tuple[float, float]] = []       # confirmed turning points
        self.waving = False
        self.start_t = math.nan
        self.lowered_since: float | None = None

    @property
    def pending_start(self) -> float:
        """Earliest time a wave not yet confirmed could be dated back to (inf if none)."""
        if self.waving or self.anchor is None:
            return math.inf
        return self.anchor[0]

    def update(self, t: float, x: float | None) -> tuple[bool, float]:
        """Feed the wrist offset ``x`` (``L``) of a raised hand, or None when not raised.

        Returns ``(newly_confirmed, start_t)``.
        """
        c = self.c
        if x is None or not math.isfinite(x):
            if self.lowered_since is None:
                self.lowered_since = t
            if t - self.lowered_since > c.lowered_s:
                self.reset()
            return False, math.nan
        self.lowered_since = None
        if self.anchor is None:
            self.anchor = self.ext = (t, x)
            return False, math.nan
        if self.direction == 0:
            # first swing: follow the farthest point from the anchor
            if abs(x - self.anchor[1]) > abs(self.ext[1] - self.anchor[1]):
                self.ext = (t, x)
            if abs(self.ext[1] - self.anchor[1]) >= c.wave_amplitude and \
                    abs(x - self.ext[1]) >= c.wave_amplitude:
                self.direction = 1 if self.ext[1] > self.anchor[1] else -1
                return self._pivot(t, x)
            if t - self.ext[0] > c.max_swing_s or self.ext[0] - self.anchor[0] > c.max_swing_s:
                self.anchor = self.ext = (t, x)      # stalled or too slow: start again here
            return False, math.nan
        ref = self.pivots[-1]
        want = -self.direction                      # the swing after a turn goes back
        if want * (x - self.ext[1]) > 0:
            self.ext = (t, x)
        if want * (self.ext[1] - ref[1]) >= c.wave_amplitude and \
                want * (self.ext[1] - x) >= c.wave_amplitude:
            self.direction = want
            return self._pivot(t, x)
        if t - self.ext[0] > c.max_swing_s or self.ext[0] - ref[0] > c.max_swing_s:
            self.reset()                            # no new turn: the wave is over
            self.anchor = self.ext = (t, x)
        return False, math.nan

    def _pivot(self, t: float, x: float) -> tuple[bool, float]:
        self.pivots.append(self.ext)
        self.ext = (t, x)
        if not self.waving:
            self.waving = True
            self.start_t = self.anchor[0]
            return True, self.start_t
        return False, math.nan


@dataclass
class _Run:
    name: str
    start: float
    end: float
    side: str
    values: dict


class GestureDetector:
    """Gestures of one track. :meth:`update` per sample, :meth:`finish` at the end.

    Attributes:
        current: the label of the latest final sample (``""`` for none), for overlays.
        events: emitted events (dicts without ``type``/``track_id``).
    """

    def __init__(self, config: GestureConfig | None = None):
        self.c = config or GestureConfig()
        self.hands = {"left": _HandWave(self.c), "right": _HandWave(self.c)}
        self.samples: deque[dict] = deque()
        self.current = ""
        self.events: list[dict] = []
        self._run: _Run | None = None
        self._pending: _Run | None = None

    def update(self, time_s: float, keypoints: np.ndarray, scores: np.ndarray,
               feats: dict) -> list[dict]:
        """One sample: ``keypoints`` (33, 2) pixels and ``scores`` (33,) of this track,
        ``feats`` from :func:`~posekit.analysis.features.frame_features`."""
        c = self.c
        vis = scores >= c.min_visibility
        L = feats.get("torso_px", math.nan)
        s = {"t": time_s, "wave_left": False, "wave_right": False, "t_pose": False,
             "hands_up": False, "pointing": None}
        if math.isfinite(L) and L > 0:
            lean = feats.get("trunk_lean", math.nan)
            upright = math.isfinite(lean) and lean <= c.upright_deg
            for side, (sh, wr) in (("left", (L_SH, L_WR)), ("right", (R_SH, R_WR))):
                raised = (upright and vis[sh] and vis[wr]
                          and keypoints[wr, 1] < keypoints[sh, 1] - c.raised_L * L)
                x = (keypoints[wr, 0] - keypoints[sh, 0]) / L if raised else None
                hw = self.hands[side]
                new, t0 = hw.update(time_s, x)
                if new:
                    for old in self.samples:
                        if old["t"] >= t0:
                            old[f"wave_{side}"] = True
                s[f"wave_{side}"] = hw.waving
            s.update(self._static(keypoints, vis, feats, L))
        self.samples.append(s)
        return self._finalize(min(time_s, *(h.pending_start for h in self.hands.values())),
                              inclusive=not any(math.isfinite(h.pending_start)
                                                for h in self.hands.values()))

    def _static(self, k: np.ndarray, vis: np.ndarray, f: dict, L: float) -> dict:
        c = self.c
        out = {}
        arms = all(vis[i] for i in (L_SH, R_SH, L_EL, R_EL, L_WR, R_WR))
        if arms and vis[NOSE]:
            out["hands_up"] = bool(k[L_WR, 1] < k[NOSE, 1] and k[R_WR, 1] < k[NOSE, 1]
                                   and k[L_EL, 1] < k[L_SH, 1] and k[R_EL, 1] < k[R_SH, 1])
        la, ra = f.get("left_shoulder", math.nan), f.get("right_shoulder", math.nan)
        le, re_ = f.get("left_elbow", math.nan), f.get("right_elbow", math.nan)
        if arms and all(math.isfinite(v) for v in (la, ra, le, re_)):
            lo, hi = c.t_pose_abduction
            out["t_pose"] = bool(
                lo <= la <= hi and lo <= ra <= hi and le >= c.straight_elbow_deg
                and re_ >= c.straight_elbow_deg
                and abs(k[L_WR, 1] - k[L_SH, 1]) <= c.t_pose_wrist_L * L
                and abs(k[R_WR, 1] - k[R_SH, 1]) <= c.t_pose_wrist_L * L)
            for side, a, e, other, sh, wr in (("left", la, le, ra, L_SH, L_WR),
                                              ("right", ra, re_, la, R_SH, R_WR)):
                if a >= c.point_raise_deg and e >= c.straight_elbow_deg \
                        and other <= c.arm_down_deg:
                    d = k[wr] - k[sh]
                    out["pointing"] = (side, float(np.degrees(np.arctan2(-d[1], d[0]))))
        return out

    @staticmethod
    def _label(s: dict) -> tuple[str, str, dict]:
        if s["wave_left"] and s["wave_right"]:
            return "wave_two_hands", "both", {}
        if s["wave_left"] or s["wave_right"]:
            return "wave_one_hand", "left" if s["wave_left"] else "right", {}
        if s["t_pose"]:
            return "t_pose", "both", {}
        if s["hands_up"]:
            return "hands_up", "both", {}
        if s["pointing"]:
            side, ang = s["pointing"]
            return "pointing", side, {"direction_deg": round(ang, 1)}
        return "", "", {}

    def _finalize(self, until: float, inclusive: bool) -> list[dict]:
        out: list[dict] = []
        while self.samples and (self.samples[0]["t"] < until or
                                (inclusive and self.samples[0]["t"] <= until)):
            s = self.samples.popleft()
            name, side, vals = self._label(s)
            self.current = name
            t = s["t"]
            run = self._run
            if run is not None and run.name == name and run.side == side:
                run.end = t
                continue
            if run is not None:
                out += self._close(run)
                self._run = None
            if name:
                p = self._pending
                if p is not None and p.name == name and p.side == side and \
                        t - p.end <= self.c.gap_s:
                    self._run, self._pending = p, None
                    p.end = t
                else:
                    self._run = _Run(name, t, t, side, vals)
        if self._pending is not None and until - self._pending.end > self.c.gap_s:
            out += self._emit(self._pending)
            self._pending = None
        return out

    def _close(self, run: _Run) -> list[dict]:
        out = []
        if self._pending is not None:
            out += self._emit(self._pending)
        self._pending = run
        return out

    def _emit(self, run: _Run) -> list[dict]:
        if run.end - run.start < self.c.min_duration(run.name):
            return []
        ev = {"name": run.name, "side": run.side, "start_s": round(run.start, 4),
              "end_s": round(run.end, 4), "duration_s": round(run.end - run.start, 4),
              **run.values}
        self.events.append(ev)
        return [ev]

    def missing(self, time_s: float) -> list[dict]:
        """The track was not seen: hands reset; labels up to now become final."""
        for h in self.hands.values():
            h.reset()
        self.samples.append({"t": time_s, "wave_left": False, "wave_right": False,
                             "t_pose": False, "hands_up": False, "pointing": None})
        return self._finalize(time_s, inclusive=True)

    def finish(self) -> list[dict]:
        """End of the stream: every label becomes final and open runs are emitted."""
        out = self._finalize(math.inf, inclusive=True)
        if self._run is not None:
            out += self._close(self._run)
            self._run = None
        if self._pending is not None:
            out += self._emit(self._pending)
            self._pending = None
        return out
