"""Hand gestures per hand: finger states, pinch, point, open palm, fist, thumbs up/down and the
number of fingers held up, as events.

Works on the ``hands`` model's ``HAND_21`` poses (one instance per hand; its side from
``extras["handedness"]``) and on whole-body poses with ``left_hand`` / ``right_hand`` parts
(``holistic``). Lengths are in palm sizes ``P`` (wrist to middle-finger knuckle), so the rules
hold at any image size; where the hand's world coordinates are given (metres), the finger
states are judged in 3D, which a foreshortened view does not fool.

**Finger states** (:func:`finger_states`): a finger (index to pinky) is *extended* when it is
straight (the bends at its PIP and DIP joints add up to less than ``max_bend_deg``) and its tip
is farther from the wrist than its PIP joint; the thumb when its MCP and IP bends add up to less
than ``max_thumb_bend_deg`` and its tip lies at least ``thumb_out_P`` from the index knuckle.

**Labels**, one per hand and frame, first that applies:

- ``pinch``: thumb tip and index tip within ``pinch_P``;
- ``thumbs_up`` / ``thumbs_down``: only the thumb extended, pointing up / down in the image
  (within ``thumb_cone_deg`` of vertical);
- ``fist``: no finger extended;
- ``point``: only the index extended (thumb free); ``direction_deg`` is the index's direction
  in the image (0 = image right, 90 = up);
- ``open_palm``: the four fingers extended (the thumb spread or along the palm: a waving
  hand seen small often hides its thumb; ``finger_count`` tells 4 from 5).

Runs of one label lasting at least ``min_duration_s`` (gaps up to ``gap_s`` bridged) become
events ``{"type": "hand_gesture", "name", "side", "track_id", "start_s", "end_s",
"duration_s", "time_s", "fingers": {finger: extended fraction of the run}}``; runs of one finger
count (0-5) become events named ``finger_count`` with ``"count"``. An event is emitted when its
run ends, or by :meth:`HandGestureDetector.finish`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..skeletons import HAND_21
from ..types import Poses

HAND_GESTURES = ("pinch", "thumbs_up", "thumbs_down", "fist", "point", "open_palm")
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_CHAINS = {"thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12),
           "ring": (13, 14, 15, 16), "pinky": (17, 18, 19, 20)}


@dataclass(frozen=True, kw_only=True)
class HandGestureConfig:
    """Thresholds of :class:`HandGestureDetector` (``P`` = palm size, wrist to middle MCP).

    Attributes:
        min_score: hand score (presence) needed for a frame to count.
        max_bend_deg: a finger with PIP + DIP bends below this is straight.
        max_thumb_bend_deg: a thumb with MCP + IP bends below this is straight.
        thumb_out_P: an extended thumb's tip is at least this far from the index MCP.
        pinch_P: thumb and index tips closer than this pinch.
        thumb_cone_deg: thumbs up/down: the thumb (MCP to tip) within this angle of vertical.
        min_duration_s: shortest run reported, seconds.
        gap_s: gaps up to this inside a run are bridged, seconds.
        counts: also report ``finger_count`` runs.
    """

    min_score: float = 0.5
    max_bend_deg: float = 60.0
    max_thumb_bend_deg: float = 50.0
    thumb_out_P: float = 0.55
    pinch_P: float = 0.3
    thumb_cone_deg: float = 45.0
    min_duration_s: float = 0.2
    gap_s: float = 0.25
    counts: bool = True

    def __post_init__(self):
        for name in ("min_duration_s", "gap_s", "pinch_P", "thumb_out_P"):
            if getattr(self, name) < 0:
                raise ValueError(f"HandGestureConfig.{name} must be >= 0")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError("HandGestureConfig.min_score must be in [0, 1]")


def _bend(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Bend at ``b`` in degrees (0 = straight) of chains a-b-c, points (..., D)."""
    u, v = b - a, c - b
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1),
                                       1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def finger_states(points: np.ndarray, config: HandGestureConfig | None = None
                  ) -> dict[str, np.ndarray]:
    """Which fingers are extended, for hands (N, 21, D) in ``HAND_21`` order (D = 2 pixels or
    3 metres; any unit, the rules use ratios and angles).

    Returns:
        ``{finger: (N,) bool}`` for ``thumb``, ``index``, ``middle``, ``ring``, ``pinky``
        (False where a keypoint is missing).
    """
    c = config or HandGestureConfig()
    p = np.asarray(points, np.float64)
    if p.ndim == 2:
        p = p[None]
    ok = np.isfinite(p).all(axis=(1, 2))
    p = np.nan_to_num(p)
    palm = np.maximum(np.linalg.norm(p[:, 9] - p[:, 0], axis=-1), 1e-9)
    out = {}
    for name, (m, q, r, tip) in _CHAINS.items():
        if name == "thumb":
            bend = _bend(p[:, m], p[:, q], p[:, r]) + _bend(p[:, q], p[:, r], p[:, tip])
            out_far = np.linalg.norm(p[:, tip] - p[:, 5], axis=-1) / palm >= c.thumb_out_P
            out[name] = ok & (bend < c.max_thumb_bend_deg) & out_far
        else:
            bend = _bend(p[:, m], p[:, q], p[:, r]) + _bend(p[:, q], p[:, r], p[:, tip])
            farther = np.linalg.norm(p[:, tip] - p[:, 0], axis=-1) > \
                np.linalg.norm(p[:, q] - p[:, 0], axis=-1)
            out[name] = ok & (bend < c.max_bend_deg) & farther
    return out


def classify(xy: np.ndarray, world: np.ndarray | None = None,
             config: HandGestureConfig | None = None) -> tuple[str, dict[str, bool], dict]:
    """The label of one hand: ``(name or "", finger states, details)``.

    Args:
        xy: (21, 2) pixels (image directions decide up/down and pointing).
        world: (21, 3) metres or None: finger states from 3D where given and finite.
    Returns:
        the label (one of :data:`HAND_GESTURES` or ``""``), ``{finger: extended}``, and
        details: ``count`` (fingers extended), ``direction_deg`` for ``point``.
    """
    c = config or HandGestureConfig()
    xy = np.asarray(xy, np.float64)
    pts = world if world is not None and np.isfinite(world).all() else xy
    st = {k: bool(v[0]) for k, v in finger_states(pts, c).items()}
    details: dict = {"count": int(sum(st.values()))}
    if not np.isfinite(xy).all():
        return "", st, details
    p3 = np.asarray(pts, np.float64)
    palm = max(float(np.linalg.norm(p3[9] - p3[0])), 1e-9)
    others = [st[f] for f in ("middle", "ring", "pinky")]
    if np.linalg.norm(p3[4] - p3[8]) / palm < c.pinch_P:
        return "pinch", st, details
    if st["thumb"] and not st["index"] and not any(others):
        v = xy[4] - xy[2]
        up = math.degrees(math.atan2(-v[1], v[0]))      # 90 = image up
        if abs(up - 90.0) <= c.thumb_cone_deg:
            return "thumbs_up", st, details
        if abs(up + 90.0) <= c.thumb_cone_deg:
            return "thumbs_down", st, details
    if not any(st.values()):
        return "fist", st, details
    if st["index"] and not any(others):
        v = xy[8] - xy[5]
        details["direction_deg"] = round(math.degrees(math.atan2(-v[1], v[0])), 1)
        return "point", st, details
    if st["index"] and all(others):
        return "open_palm", st, details
    return "", st, details


@dataclass
class _Run:
    name: str
    start_s: float
    last_s: float
    frames: int = 0
    fingers: dict = field(default_factory=lambda: dict.fromkeys(FINGERS, 0))
    extra: dict = field(default_factory=dict)


@dataclass
class _HandState:
    gesture: _Run | None = None
    count: _Run | None = None
    current: str = ""
    fingers: dict = field(default_factory=dict)


class HandGestureDetector:
    """Hand gesture events per hand over a stream of poses (see the module docstring).

    ``update(poses, time_s)`` takes ``HAND_21`` poses or whole-body poses with hand parts and
    the frame time in seconds (increasing), and returns the events completed by this frame;
    :meth:`finish` returns those still open. A hand is keyed by ``(track_id, side)``: the
    person's track ID (``poses.track_ids``, else the index) and its side; for ``HAND_21``
    poses without handedness the side is ``"hand"``. :meth:`state` gives a hand's current
    label and finger states (overlays).
    """

    def __init__(self, config: HandGestureConfig | None = None):
        self.config = config or HandGestureConfig()
        self.hands: dict[tuple[int, str], _HandState] = {}
        self.events: list[dict] = []

    # ------------------------------------------------------------------ input
    @staticmethod
    def _hands(poses: Poses):
        """(track_id, side, xy (21, 2), world (21, 3) | None, score) of every hand found."""
        ids = poses.track_ids if poses.track_ids is not None else np.arange(len(poses))
        if poses.skeleton == HAND_21:
            sides = poses.extras.get("handedness")
            for i in range(len(poses)):
                side = str(sides[i]) if sides is not None else "hand"
                w = None if poses.world is None else poses.world[i]
                yield int(ids[i]), side, poses.keypoints[i], w, float(poses.person_scores[i])
            return
        for side in ("left_hand", "right_hand"):
            if not poses.skeleton.has_part(side):
                continue
            part = poses.part(side)
            for i in range(len(poses)):
                if not np.isfinite(part.keypoints[i]).all():
                    continue
                w = None if part.world is None else part.world[i]
                yield (int(ids[i]), side.split("_")[0], part.keypoints[i], w,
                       float(part.scores[i].min()))

    # ------------------------------------------------------------------ runs
    def _event(self, key, run: _Run, kind: str) -> dict | None:
        dur = run.last_s - run.start_s
        if dur + 1e-9 < self.config.min_duration_s or not run.name:
            return None
        ev = {"type": "hand_gesture", "name": kind if kind == "finger_count" else run.name,
              "track_id": key[0], "side": key[1], "start_s": round(run.start_s, 4),
              "end_s": round(run.last_s, 4), "duration_s": round(dur, 4),
              "time_s": round(run.last_s, 4),
              "fingers": {f: round(n / max(run.frames, 1), 3) for f, n in run.fingers.items()}}
        if kind == "finger_count":
            ev["count"] = int(run.name)
        ev.update(run.extra)
        return ev

    def _step(self, key, slot: str, name: str, t: float, st: dict, extra: dict) -> list[dict]:
        hs = self.hands[key]
        run: _Run | None = getattr(hs, slot)
        out = []
        if run is not None and (run.name != name or t - run.last_s > self.config.gap_s):
            ev = self._event(key, run, slot_kind(slot))
            if ev:
                out.append(ev)
            run = None
        if run is None and name:
            run = _Run(name, t, t)
        if run is not None:
            run.last_s = t
            run.frames += 1
            for f, v in st.items():
                run.fingers[f] += int(v)
            run.extra.update(extra)
        setattr(hs, slot, run)
        return out

    def update(self, poses: Poses, time_s: float) -> list[dict]:
        """Events completed by this frame (see the class docstring)."""
        t = float(time_s)
        out: list[dict] = []
        seen = set()
        for tid, side, xy, world, score in self._hands(poses):
            if score < self.config.min_score:
                continue
            key = (tid, side)
            if key in seen:
                continue
            seen.add(key)
            self.hands.setdefault(key, _HandState())
            name, st, det = classify(xy, world, self.config)
            hs = self.hands[key]
            hs.current, hs.fingers = name, st
            extra = {"direction_deg": det["direction_deg"]} if "direction_deg" in det else {}
            out += self._step(key, "gesture", name, t, st, extra)
            if self.config.counts:
                out += self._step(key, "count", str(det["count"]), t, st, {})
        for key, hs in self.hands.items():
            if key in seen:
                continue
            hs.current = ""
            for slot in ("gesture", "count"):
                run = getattr(hs, slot)
                if run is not None and t - run.last_s > self.config.gap_s:
                    ev = self._event(key, run, slot_kind(slot))
                    if ev:
                        out.append(ev)
                    setattr(hs, slot, None)
        self.events += out
        return out

    def finish(self) -> list[dict]:
        """Events of runs still open at the end of the stream."""
        out = []
        for key, hs in self.hands.items():
            for slot in ("gesture", "count"):
                run = getattr(hs, slot)
                if run is not None:
                    ev = self._event(key, run, slot_kind(slot))
                    if ev:
                        out.append(ev)
                    setattr(hs, slot, None)
        self.events += out
        return out

    def state(self, track_id: int, side: str) -> dict:
        """``{"gesture": label or "", "fingers": {finger: extended}}`` of a hand now."""
        hs = self.hands.get((int(track_id), side))
        return {"gesture": hs.current if hs else "", "fingers": dict(hs.fingers) if hs else {}}


def slot_kind(slot: str) -> str:
    return "finger_count" if slot == "count" else "gesture"


def load_hand_gestures(spec: str = "hand_gestures") -> HandGestureDetector:
    """The ``hand_gestures`` analysis for :class:`posekit.analysis.events.Analyzer`'s plugins
    (``update(poses, time_s)`` / ``finish()``), default thresholds."""
    return HandGestureDetector()


__all__ = ["FINGERS", "HAND_GESTURES", "HandGestureConfig", "HandGestureDetector", "classify",
           "finger_states", "load_hand_gestures"]
