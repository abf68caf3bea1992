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

**Hand poses** (the classifier): a :class:`~posekit.analysis.classify.PoseClassifier` on
``HAND_21`` keypoints labels each hand per frame, by default the shipped
:data:`HAND_POSE_CLASSIFIER`, trained by ``posekit train classifier`` on
pose-classification-kit's 27 hand gestures (digits ``0``-``9``, ``Stop``, ``Ok``,
``Dislike``, ...; see docs/whole_body.md for the command and its cross-validated accuracy). A
label counts where its probability reaches ``pose_min_probability``.

Runs of one label lasting at least ``min_duration_s`` (gaps up to ``gap_s`` bridged) become
events ``{"type": "hand_gesture", "name", "side", "track_id", "start_s", "end_s",
"duration_s", "time_s", "fingers": {finger: extended fraction of the run}}``; runs of one finger
count (0-5) become events named ``finger_count`` with ``"count"``; runs of one classifier label
become events ``{"type": "hand_pose", "label", "probability" (mean over the run), "side",
"track_id", "start_s", "end_s", "duration_s", "time_s", "classifier" (file name)}``. An event
is emitted when its run ends, or by :meth:`HandGestureDetector.finish`.

``--analyze hand_gestures`` runs the rules and the shipped classifier;
``hand_gestures:FILE`` another classifier (``.json`` or ``.joblib`` from
``posekit train classifier`` on ``HAND_21`` keypoints), ``hand_gestures:none`` none.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..skeletons import HAND_21
from ..types import Poses

#: The shipped hand-pose classifier (package data beside :mod:`posekit.models`): logistic
#: regression on :func:`~posekit.analysis.classify.pose_features` of ``HAND_21`` keypoints,
#: trained on pose-classification-kit's ``HandPose_Dataset.csv`` (MIT licence).
HAND_POSE_CLASSIFIER = Path(__file__).resolve().parents[1] / "models" / "hand_pose_kit.json"

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
        pose_min_probability: a classifier label counts where its probability is at least
            this.
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
    pose_min_probability: float = 0.5

    def __post_init__(self):
        for name in ("min_duration_s", "gap_s", "pinch_P", "thumb_out_P"):
            if getattr(self, name) < 0:
                raise ValueError(f"HandGestureConfig.{name} must be >= 0")
        for name in ("min_score", "pose_min_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"HandGestureConfig.{name} must be in [0, 1]")


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
    probability_sum: float = 0.0


@dataclass
class _HandState:
    gesture: _Run | None = None
    count: _Run | None = None
    pose: _Run | None = None
    current: str = ""
    fingers: dict = field(default_factory=dict)
    pose_label: str = ""
    pose_probability: float = 0.0


_SLOTS = ("gesture", "count", "pose")


class HandGestureDetector:
    """Hand gesture events per hand over a stream of poses (see the module docstring).

    ``update(poses, time_s)`` takes ``HAND_21`` poses or whole-body poses with hand parts and
    the frame time in seconds (increasing), and returns the events completed by this frame;
    :meth:`finish` returns those still open. A hand is keyed by ``(track_id, side)``: the
    person's track ID (``poses.track_ids``, else the index) and its side; for ``HAND_21``
    poses without handedness the side is ``"hand"``. :meth:`state` gives a hand's current
    label, finger states and classifier label (overlays).

    Args:
        config: thresholds.
        classifier: a :class:`~posekit.analysis.classify.PoseClassifier` on ``HAND_21``
            keypoints (or its file), or None for the rules alone. Left hands are mirrored for
            it where it was trained so (``report["mirror_left"]``).

    Raises:
        ModelError: the classifier cannot be loaded or needs keypoints ``HAND_21`` lacks.
    """

    def __init__(self, config: HandGestureConfig | None = None,
                 classifier=None):
        from .classify import PoseClassifier

        self.config = config or HandGestureConfig()
        self.hands: dict[tuple[int, str], _HandState] = {}
        self.events: list[dict] = []
        if classifier is not None and not isinstance(classifier, PoseClassifier):
            self.classifier_name = Path(classifier).name
            classifier = PoseClassifier.load(classifier)
        else:
            self.classifier_name = "classifier" if classifier is not None else ""
        self.classifier = classifier
        if classifier is not None:
            missing = [n for n in classifier.keypoints if n not in HAND_21.keypoints]
            if missing:
                raise ModelError(f"the hand classifier needs keypoints {', '.join(missing)}, "
                                 "which a HAND_21 hand lacks")
            self._cols = [HAND_21.index(n) for n in classifier.keypoints]
            self._mirror_left = bool(classifier.report.get("mirror_left", False))
            self._need = int(classifier.report.get("config", {}).get("min_keypoints", 4))

    # ------------------------------------------------------------------ input
    @staticmethod
    def hands_of(poses: Poses):
        """Every hand found in ``poses`` (``HAND_21`` hands, or the ``left_hand`` /
        ``right_hand`` parts of a whole-body skeleton), as the detector keys them: tuples
        ``(track_id, side, xy, world, score)`` with ``xy`` (21, 2) float32 pixels of the frame,
        ``world`` (21, 3) metres or None, ``score`` in [0, 1]; ``side`` is ``"left"``,
        ``"right"`` or ``"hand"`` (no handedness), ``track_id`` the person's track ID or index.
        """
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
        times = {"track_id": key[0], "side": key[1], "start_s": round(run.start_s, 4),
                 "end_s": round(run.last_s, 4), "duration_s": round(dur, 4),
                 "time_s": round(run.last_s, 4)}
        if kind == "pose":
            return {"type": "hand_pose", "label": run.name,
                    "probability": round(run.probability_sum / max(run.frames, 1), 4),
                    **times, "classifier": self.classifier_name}
        ev = {"type": "hand_gesture", "name": kind if kind == "finger_count" else run.name,
              **times,
              "fingers": {f: round(n / max(run.frames, 1), 3) for f, n in run.fingers.items()}}
        if kind == "finger_count":
            ev["count"] = int(run.name)
        ev.update(run.extra)
        return ev

    def _step(self, key, slot: str, name: str, t: float, st: dict, extra: dict,
              probability: float = 0.0) -> list[dict]:
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
            run.probability_sum += probability
            for f, v in st.items():
                run.fingers[f] += int(v)
            run.extra.update(extra)
        setattr(hs, slot, run)
        return out

    def update(self, poses: Poses, time_s: float) -> list[dict]:
        """Events completed by this frame (see the class docstring)."""
        t = float(time_s)
        out: list[dict] = []
        seen = {}
        for tid, side, xy, world, score in self.hands_of(poses):
            if score < self.config.min_score:
                continue
            key = (tid, side)
            if key in seen:
                continue
            seen[key] = xy
            self.hands.setdefault(key, _HandState())
            name, st, det = classify(xy, world, self.config)
            hs = self.hands[key]
            hs.current, hs.fingers = name, st
            extra = {"direction_deg": det["direction_deg"]} if "direction_deg" in det else {}
            out += self._step(key, "gesture", name, t, st, extra)
            if self.config.counts:
                out += self._step(key, "count", str(det["count"]), t, st, {})
        if self.classifier is not None:
            for key, (label, prob) in zip(seen, self._hand_poses(seen)):
                hs = self.hands[key]
                hs.pose_label, hs.pose_probability = label, prob
                out += self._step(key, "pose", label, t, {}, {}, prob)
        for key, hs in self.hands.items():
            if key in seen:
                continue
            hs.current, hs.pose_label, hs.pose_probability = "", "", 0.0
            for slot in _SLOTS:
                run = getattr(hs, slot)
                if run is not None and t - run.last_s > self.config.gap_s:
                    ev = self._event(key, run, slot_kind(slot))
                    if ev:
                        out.append(ev)
                    setattr(hs, slot, None)
        self.events += out
        return out

    def _hand_poses(self, hands: dict) -> list[tuple[str, float]]:
        """Classifier ``(label or "", probability)`` of each hand ``{(track_id, side): xy}``,
        one batch for the frame."""
        if not hands:
            return []
        xy = np.stack([np.asarray(v, np.float64)[self._cols] for v in hands.values()])
        mirrored = np.array([self._mirror_left and side == "left" for _, side in hands])
        ok = np.isfinite(xy).all(axis=2).sum(axis=1) >= self._need
        res = [("", 0.0)] * len(xy)
        if ok.any():
            p = self.classifier.predict_proba(xy[ok], mirrored[ok])
            best = p.argmax(axis=1)
            for row, i in enumerate(np.flatnonzero(ok)):
                pr = float(p[row, best[row]])
                if pr >= self.config.pose_min_probability:
                    res[i] = (self.classifier.classes[best[row]], pr)
        return res

    def finish(self) -> list[dict]:
        """Events of runs still open at the end of the stream."""
        out = []
        for key, hs in self.hands.items():
            for slot in _SLOTS:
                run = getattr(hs, slot)
                if run is not None:
                    ev = self._event(key, run, slot_kind(slot))
                    if ev:
                        out.append(ev)
                    setattr(hs, slot, None)
        self.events += out
        return out

    def state(self, track_id: int, side: str) -> dict:
        """``{"gesture": label or "", "fingers": {finger: extended}, "pose": classifier
        label or "", "pose_probability": float}`` of a hand now."""
        hs = self.hands.get((int(track_id), side))
        if hs is None:
            return {"gesture": "", "fingers": {}, "pose": "", "pose_probability": 0.0}
        return {"gesture": hs.current, "fingers": dict(hs.fingers), "pose": hs.pose_label,
                "pose_probability": hs.pose_probability}


def slot_kind(slot: str) -> str:
    return {"count": "finger_count", "pose": "pose"}.get(slot, "gesture")


def load_hand_gestures(spec: str = "hand_gestures") -> HandGestureDetector:
    """The analysis of an ``--analyze`` entry ``hand_gestures`` (the shipped classifier
    :data:`HAND_POSE_CLASSIFIER`), ``hand_gestures:FILE`` (that classifier) or
    ``hand_gestures:none`` (rules only), for :class:`posekit.analysis.events.Analyzer`'s
    plugins (``update(poses, time_s)`` / ``finish()``); default thresholds.

    Raises:
        ModelError: the classifier cannot be loaded.
    """
    _, _, arg = spec.partition(":")
    arg = arg.strip()
    if arg.lower() == "none":
        return HandGestureDetector()
    return HandGestureDetector(classifier=arg or HAND_POSE_CLASSIFIER)


def hand_pose_classifier(path: str | os.PathLike | None = None):
    """The :class:`~posekit.analysis.classify.PoseClassifier` at ``path`` (default the
    shipped :data:`HAND_POSE_CLASSIFIER`).

    Raises:
        ModelError: the file cannot be loaded.
    """
    from .classify import PoseClassifier

    return PoseClassifier.load(path or HAND_POSE_CLASSIFIER)


__all__ = ["FINGERS", "HAND_GESTURES", "HAND_POSE_CLASSIFIER", "HandGestureConfig",
           "HandGestureDetector", "classify", "finger_states", "hand_pose_classifier",
           "load_hand_gestures"]
