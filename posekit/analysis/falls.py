"""Fall detection per track: a fast, large drop of the hip centre that ends on the ground.

The detector follows the usual vision-based fall cues (e.g. Rougier et al., "Robust video
surveillance for fall detection based on human shape deformation", IEEE TCSVT 2011; Mubashir
et al., "A survey on fall detection", Neurocomputing 2013): a *fall* is a sudden downward
motion, followed by a body near the floor (lying or sitting on it) that stays there. All
distances are divided by the person's **body scale** ``L``: the median mid-shoulder to
mid-hip length in pixels over the recent upright samples, frozen while a fall is judged, so
the thresholds hold for any image size, distance to the camera or frame rate.

Per sample (only where the person is tracked): hip centre (pixels, y down), torso length,
torso angle to vertical (the larger of the image-plane and the 3D world-landmark angle, since a
fall towards the camera looks upright in the image), hip height above the ankles (pixels and
world metres), and whether the person is **upright** (world hip at least ``upright_hip_m``
above the ankles; without world landmarks, an upright torso or long legs under the hips).

1. **Trigger**: within ``drop_window_s`` the hip centre has dropped by at least ``min_drop``
   body scales, with a downward speed between two samples of at least ``min_speed`` ``L``/s,
   and the person was upright (``min_upright`` samples within ``upright_window_s``) just
   before: someone already on the floor, in a plank, or a spurious detection cannot fall.
2. **Onset**: the last sample before the lowest point whose hip is still within
   ``onset_fraction`` of the drop below the starting (highest) point: the moment the body
   starts to go down. **Ground**: the first sample within 15 % of the drop of the lowest hip
   position reached within ``settle_s`` of the trigger.
3. **Confirmation** ``confirm_s`` after the ground time: the hip has stayed down (at least
   ``min_stay`` of the samples, and the last one, at least ``stay_drop`` body scales below the
   starting height: a squat or a pose glitch comes back up) and the body is on the floor
   (mean evidence at least ``min_floor``: torso ``lying_deg``-135 degrees from vertical, or hips
   near the feet in the image or in world metres, or, with the ankles hidden, near where the
   feet stood before the fall; legs standing under the hips in more than half the samples
   reject the fall).
4. **Lost tracks**: trackers often lose a falling person and start a new track for the person
   on the floor. A pending fall is handed over to a track born next to it
   (:meth:`FallDetector.adopt`, done by the :class:`~posekit.analysis.Analyzer`), or judged on
   what was seen ``lost_wait_s`` after the track was lost, or at :meth:`FallDetector.finish`.

Confidence in [0, 1] weighs speed, drop, floor evidence and staying down; an event is emitted
when it reaches ``min_confidence``. Sitting down on a chair and lying down under control are
slow (no trigger) and end with the hips well above the feet or after a slow descent. After a
fall the track is "fallen" (the overlay alert) until the hip is back up for ``recover_s``.
Defaults were set on the fall clips of ``shared/data`` (ANALYTICS.md); the tests check them on
those clips, on clips of sitting, walking, standing and waving, and on exercise clips.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FallConfig:
    """Thresholds of :class:`FallDetector` (body scale ``L`` = torso length in pixels).

    Attributes:
        min_drop: hip drop needed to trigger, in ``L``.
        drop_window_s: the drop must happen within this many seconds.
        min_speed: peak downward hip speed needed, ``L`` per second.
        settle_s: after the trigger, how long the hip may still go down (the fall's end).
        confirm_s: time on the ground before the event is emitted, seconds.
        stay_drop: a sample after the ground time is "down" while its hip is at least this
            many ``L`` below the starting (upright) height. Absolute, not a fraction of the
            drop: the lowest point of a fall is a single extreme sample, and a pose glitch on
            the floor (BlazePose putting the hips at the head of a person lying towards the
            camera, Fall05 frames 178-186) can push it far below where the body lies, so
            that a fraction of it calls the person on the floor "back up". Someone who gets
            back up returns to within about 0.1-0.3 ``L`` of the starting height (squats in
            the exercise clips); every fall in the clips stays 1.5 ``L`` or more below it.
        min_stay: fraction of the samples from the ground time on that must be down, and the
            last sample must be down (a pose glitch that snaps back is no fall).
        lying_deg: torso angle to vertical meaning lying, degrees.
        floor_hip_ratio: ``(ankle_y - hip_y) / L`` at or below which the hips are near the feet.
        floor_hip_m: world hip height above the ankles at or below which the hips are low.
        min_floor: mean on-the-floor evidence needed over the samples after the ground time
            (see :meth:`FallDetector._floor_vote`).
        lost_wait_s: a pending fall whose track is lost is judged after this many seconds
            (meanwhile a new track next to it may adopt it, see :meth:`FallDetector.adopt`).
        median_samples: hip height and torso length are the median of this many latest
            samples (1: as measured; 3 removes one-frame pose glitches but adds a sample of
            latency, which loses falls at low frame rates: the other checks handle glitches).
        min_confidence: events below it are dropped.
        recover_s: time back up after which a fallen track can fall again.
        history_s: how much history each track keeps, seconds.
        upright_deg, upright_hip_m, upright_leg_ratio: a sample is upright (it counts for the
            body scale and as a starting posture) where the world hip height above the ankles
            is at least ``upright_hip_m`` metres; where that is unknown (no world landmarks or
            ankles not visible), where the torso is within ``upright_deg`` of vertical or the
            hip is at least ``upright_leg_ratio`` torso lengths above the ankles in the image.
            (The torso angle alone misleads: BlazePose tilts the torso of small, dark figures
            that stand upright, and a plank seen from the front looks upright.)
        min_upright, upright_window_s: upright samples the track needs within
            ``upright_window_s`` seconds before the drop starts (a fall starts from an observed
            upright posture: a person already on the floor, doing push-ups, or a spurious
            detection cannot fall).
        onset_fraction: the onset is the last sample before the fall whose hip is within this
            fraction of the drop below the starting height.
    """

    min_drop: float = 0.8
    drop_window_s: float = 1.5
    min_speed: float = 1.2
    settle_s: float = 1.0
    confirm_s: float = 0.6
    stay_drop: float = 0.5
    lying_deg: float = 55.0
    floor_hip_ratio: float = 0.9
    floor_hip_m: float = 0.35
    min_confidence: float = 0.5
    recover_s: float = 1.5
    history_s: float = 4.0
    upright_deg: float = 35.0
    min_upright: int = 2
    upright_window_s: float = 1.5
    upright_hip_m: float = 0.55
    upright_leg_ratio: float = 1.5
    min_stay: float = 0.8
    min_floor: float = 0.5
    lost_wait_s: float = 1.0
    median_samples: int = 1
    onset_fraction: float = 0.1


@dataclass
class _S:
    t: float
    x: float          # hip centre x, pixels
    y: float          # hip centre y, pixels
    torso: float      # torso length, pixels
    lean: float       # torso angle to vertical, degrees (max of image and world)
    hip_over_ankle: float   # (ankle_y - hip_y) in pixels
    world_hip_m: float
    upright: bool = False


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x))) if math.isfinite(x) else 0.0


class FallDetector:
    """The fall state machine of one track. Feed :meth:`update` every frame the track is seen,
    :meth:`missing` on frames where it is not, and :meth:`finish` at the end.

    Attributes:
        fallen: True from a detected fall until the person is back up (for overlays).
        events: the emitted fall events (dicts without ``type``/``track_id``).
        rejected: candidates that were judged no fall, with the reason (diagnostics).
    """

    def __init__(self, config: FallConfig | None = None):
        self.c = config or FallConfig()
        self.hist: deque[_S] = deque()
        self.fallen = False
        self.events: list[dict] = []
        self.rejected: list[dict] = []
        self._cand: dict | None = None
        self._scale: float = float("nan")
        self._up_since: float | None = None
        self._last_t: float | None = None
        self._rejected_t = -math.inf
        self._raw_y: list[float] = []
        self._raw_torso: list[float] = []

    # ------------------------------------------------------------------ inputs
    def update(self, time_s: float, feats: dict) -> list[dict]:
        """One sample of this track (``feats`` from
        :func:`~posekit.analysis.features.frame_features`); returns completed fall events."""
        c = self.c
        y, torso = feats.get("hip_y_px", math.nan), feats.get("torso_px", math.nan)
        if not (math.isfinite(y) and math.isfinite(torso) and torso > 0):
            return self.missing(time_s)
        leans = [v for v in (feats.get("trunk_lean", math.nan),
                             feats.get("world_trunk_lean", math.nan)) if math.isfinite(v)]
        if c.median_samples > 1:
            self._raw_y = (self._raw_y + [y])[-c.median_samples:]
            self._raw_torso = (self._raw_torso + [torso])[-c.median_samples:]
            y_med, torso = statistics.median(self._raw_y), statistics.median(self._raw_torso)
        else:
            y_med = y
        s = _S(time_s, feats.get("hip_x_px", math.nan), y_med, torso,
               max(leans) if leans else math.nan,
               feats.get("ankle_y_px", math.nan) - y_med,
               feats.get("world_hip_height_m", math.nan))
        s.upright = self._legs_under_hips(s) if math.isfinite(s.world_hip_m) else bool(
            (math.isfinite(s.lean) and s.lean < c.upright_deg)
            or s.hip_over_ankle / s.torso >= c.upright_leg_ratio)
        self._last_t = time_s
        self.hist.append(s)
        while self.hist and time_s - self.hist[0].t > c.history_s:
            self.hist.popleft()
        if self._cand is None:
            self._update_scale()
        out: list[dict] = []
        if self.fallen:
            self._check_recovery(s)
        if self._cand is None and not self.fallen:
            self._cand = self._trigger()
        if self._cand is not None:
            self._cand["samples"].append(s)
            ev = self._maybe_confirm(time_s, lost=False)
            if ev:
                out.append(ev)
        return out

    @property
    def pending(self) -> bool:
        """A fall is being judged (triggered, not yet confirmed or rejected)."""
        return self._cand is not None

    def handover_distance(self, other: FallDetector) -> float:
        """Distance, in body scales of ``other``'s pending fall, from that fall's last hip
        position to this track's latest one (inf when not applicable)."""
        if other._cand is None or not self.hist:
            return math.inf
        a, b = other._cand["samples"][-1], self.hist[-1]
        return math.hypot(b.x - a.x, b.y - a.y) / other._cand["scale"]

    def adopt(self, other: FallDetector) -> None:
        """Continue ``other``'s pending fall on this track.

        Trackers often lose a falling person (the box changes shape and speed at once) and
        start a new track for the person on the floor; the :class:`~posekit.analysis.Analyzer`
        hands the pending fall of the lost track to a new track born next to it.

        ``other`` forgets its history: those samples now belong to this fall, so if the lost
        track comes back (the tracker sometimes keeps a duplicate pose of the same person, as
        in Fall09) it cannot raise the same fall a second time; it needs to be seen upright
        again before it can fall."""
        if other._cand is None:
            return
        self._cand, other._cand = other._cand, None
        self._scale = self._cand["scale"]
        if self.hist:
            self._cand["samples"].append(self.hist[-1])
        self._cand["handover"] = True
        other.hist.clear()

    def missing(self, time_s: float) -> list[dict]:
        """The track was not seen at ``time_s``: a fall in progress is judged on what was seen
        once the track has been gone for ``lost_wait_s`` (unless another track adopts it)."""
        if self._cand is not None and time_s - self._cand["trigger_t"] >= self.c.confirm_s:
            last = self._cand["samples"][-1].t if self._cand["samples"] else 0.0
            if time_s - last >= self.c.lost_wait_s:
                ev = self._maybe_confirm(time_s, lost=True)
                return [ev] if ev else []
        return []

    def finish(self) -> list[dict]:
        """End of the stream: judge a fall still waiting for confirmation."""
        if self._cand is None:
            return []
        ev = self._maybe_confirm(self._last_t or 0.0, lost=True)
        return [ev] if ev else []

    # ---------------------------------------------------------------- internals
    def _update_scale(self) -> None:
        up = [s.torso for s in self.hist if s.upright]
        if len(up) >= 3:
            self._scale = statistics.median(up[-30:])
        elif not math.isfinite(self._scale) and self.hist:
            self._scale = statistics.median([s.torso for s in self.hist])

    def _trigger(self) -> dict | None:
        c, h = self.c, list(self.hist)
        L = self._scale
        if len(h) < 3 or not math.isfinite(L) or L <= 0:
            return None
        now = h[-1]
        win = [s for s in h if now.t - s.t <= c.drop_window_s]
        ys = [s.y for s in win]
        # the descent starts at the last sample near the highest hip position in the window
        y_min = min(ys)
        if (now.y - y_min) / L < c.min_drop:        # cheap early exit: no drop at all
            return None
        i_top = max(i for i, y in enumerate(ys) if y <= y_min + 0.1 * L)
        top = win[i_top]
        if top.t <= self._rejected_t:
            return None
        before = [s for s in h if top.t - c.upright_window_s <= s.t <= top.t and s.upright]
        upright_before = len(before)
        if upright_before < c.min_upright:
            return None
        drop = (now.y - top.y) / L
        if drop < c.min_drop:
            return None
        seg = win[i_top:]
        speeds = [(b.y - a.y) / L / max(b.t - a.t, 1e-3) for a, b in pairwise(seg)]
        if not speeds or max(speeds) < c.min_speed:
            return None
        # the floor under the standing person (image y of the ankles before the fall), for
        # samples on the floor whose ankles are hidden (see _floor_vote)
        feet = [s.y + s.hip_over_ankle for s in before if math.isfinite(s.hip_over_ankle)]
        return {"trigger_t": now.t, "top": top, "scale": L,
                "floor_y": statistics.median(feet) if feet else math.nan,
                "peak_speed": float(max(speeds)), "samples": list(seg)}

    def _maybe_confirm(self, time_s: float, *, lost: bool) -> dict | None:
        c, cand = self.c, self._cand
        samples = cand["samples"]
        L, top = cand["scale"], cand["top"]
        # the fall ends when the hip stops going down (within settle_s of the trigger)
        fall_part = [s for s in samples if s.t <= cand["trigger_t"] + c.settle_s]
        low = max(fall_part, key=lambda s: s.y)
        drop = (low.y - top.y) / L
        ground = next(s for s in fall_part if s.y >= low.y - 0.15 * (low.y - top.y))
        lim = top.y + c.onset_fraction * (low.y - top.y)
        i_low = fall_part.index(low)
        onset = top
        for s in fall_part[:i_low + 1]:
            if s.y <= lim:
                onset = s
        seg = fall_part[:i_low + 1]
        peak = max([(b.y - a.y) / L / max(b.t - a.t, 1e-3) for a, b in pairwise(seg)],
                   default=cand["peak_speed"])
        after = [s for s in samples if s.t >= ground.t]
        if not lost and time_s - ground.t < c.confirm_s:
            return None
        self._cand = None
        self._rejected_t = cand["trigger_t"]
        down = [(s.y - top.y) / L >= c.stay_drop for s in after]
        stay_ok = float(np.mean(down)) if down else 0.5
        if down and (stay_ok < c.min_stay or not down[-1]):
            return self._reject(cand, f"got back up (down {stay_ok:.2f} of the time)")
        lean = max((s.lean for s in after if math.isfinite(s.lean)), default=math.nan)
        hip_ratio = min((s.hip_over_ankle / L for s in after if math.isfinite(s.hip_over_ankle)),
                        default=math.nan)
        whip = min((s.world_hip_m for s in after if math.isfinite(s.world_hip_m)),
                   default=math.nan)
        votes = [self._floor_vote(s, L, cand["floor_y"]) for s in after] or [(0.0, False)]
        floor = float(np.mean([v for v, _ in votes]))
        legs_up = float(np.mean([u for _, u in votes]))
        if floor < c.min_floor or legs_up > 0.5:
            return self._reject(cand, f"not on the floor (floor {floor:.2f}, "
                                      f"legs under hips {legs_up:.2f})")
        speed_s = _clip01((peak - 0.8) / 1.5)
        drop_s = _clip01((drop - 0.5) / 1.0)
        conf = 0.25 * speed_s + 0.2 * drop_s + 0.35 * floor + 0.2 * float(stay_ok)
        if conf < c.min_confidence:
            return self._reject(cand, f"confidence {conf:.2f}")
        self.fallen = True
        self._up_since = None
        ev = {
            "onset_s": round(onset.t, 4),
            "ground_s": round(ground.t, 4),
            "confidence": round(conf, 3),
            "drop_body": round(drop, 3),
            "peak_speed_body_per_s": round(peak, 3),
            "torso_deg": None if not math.isfinite(lean) else round(lean, 1),
            "hip_over_ankle_body": None if not math.isfinite(hip_ratio) else round(hip_ratio, 3),
            "world_hip_height_m": None if not math.isfinite(whip) else round(whip, 3),
            "stayed_down": round(float(stay_ok), 3),
            "track_lost": lost,
            "track_handover": bool(cand.get("handover", False)),
            "time_s": round(time_s, 4),
        }
        self.events.append(ev)
        self._fall_top_y, self._fall_low_y = top.y, low.y
        return ev

    def _reject(self, cand: dict, why: str) -> None:
        self.rejected.append({"trigger_s": round(cand["trigger_t"], 4), "reason": why})
        log.debug("fall candidate at %.2f s rejected: %s", cand["trigger_t"], why)

    def _floor_vote(self, s: _S, L: float, floor_y: float = math.nan) -> tuple[float, bool]:
        """(on-the-floor evidence in [0, 1], legs-under-the-hips) of one sample after the fall.

        Lying: torso ``lying_deg``-135 degrees from vertical; sitting or lying on the floor:
        hips near the feet (image or world). Where the ankles are not visible (common on the
        floor: legs behind the body, cropped or occluded), the feet seen while the person
        stood before the fall (``floor_y``, image y in pixels) stand in for them: hips at most
        ``floor_hip_ratio`` L above that level are low (in Fall05 the girl lies with her head
        towards the camera, ankles hidden, hips 0.4-0.6 L *below* where her feet stood). A
        torso beyond 135 degrees (head below the hips) is half evidence: real for a fall
        towards the camera, but also BlazePose's typical upside-down glitch. Legs under the
        hips (world hip height >= ``upright_hip_m`` or hip >= ``upright_leg_ratio`` L above
        the ankles) means standing or kneeling up."""
        c = self.c
        if math.isfinite(s.hip_over_ankle):
            low = s.hip_over_ankle / L <= c.floor_hip_ratio
        else:
            low = math.isfinite(floor_y) and (floor_y - s.y) / L <= c.floor_hip_ratio
        low = low or (math.isfinite(s.world_hip_m) and s.world_hip_m <= c.floor_hip_m)
        legs = self._legs_under_hips(s, L)
        if low or (math.isfinite(s.lean) and c.lying_deg <= s.lean <= 135.0):
            return 1.0, bool(legs)
        if math.isfinite(s.lean) and s.lean > 135.0:
            return 0.5, bool(legs)
        return 0.0, bool(legs)

    def _legs_under_hips(self, s: _S, L: float | None = None) -> bool:
        """Standing (or kneeling up): the world hip height above the ankles is at least
        ``upright_hip_m``; without world landmarks, the hip is at least ``upright_leg_ratio``
        torso lengths (and body scales ``L``) above the ankles in the image. World data wins
        where present: in a frontal view from above, the legs of a person in a plank point
        down the image and look like standing legs."""
        c = self.c
        if math.isfinite(s.world_hip_m):
            return s.world_hip_m >= c.upright_hip_m
        if not math.isfinite(s.hip_over_ankle):
            return False
        r = s.hip_over_ankle / s.torso
        return r >= c.upright_leg_ratio and (L is None or s.hip_over_ankle / L
                                             >= c.upright_leg_ratio)

    def _check_recovery(self, s: _S) -> None:
        up = s.y <= self._fall_top_y + 0.3 * (self._fall_low_y - self._fall_top_y) and (
            not math.isfinite(s.lean) or s.lean < self.c.upright_deg)
        if not up:
            self._up_since = None
            return
        if self._up_since is None:
            self._up_since = s.t
        elif s.t - self._up_since >= self.c.recover_s:
            self.fallen = False
            self._up_since = None


def feet_frame(feats: dict) -> dict | None:
    """``feats`` re-expressed with the feet as the origin of the vertical axis: hip height
    ``hip_y_px - ankle_y_px`` (pixels, y down: negative while standing) and ``ankle_y_px`` 0;
    the rest unchanged. A camera that pans, tilts or follows the person moves the hips and
    the feet together in the image, so a fall seen in this frame does not depend on the
    camera's motion (the floor under the feet is the reference a fixed camera gives for
    free). None where the ankles are not visible."""
    a, y = feats.get("ankle_y_px", math.nan), feats.get("hip_y_px", math.nan)
    if not (math.isfinite(a) and math.isfinite(y)):
        return None
    f = dict(feats)
    f["hip_y_px"], f["ankle_y_px"] = y - a, 0.0
    return f


class FallMonitor:
    """Falls of one track seen in two frames: the image (:class:`FallDetector` on the hip's
    image position, the floor being where a fixed camera sees it) and the feet
    (:func:`feet_frame`: the hip's height above the ankles, which a moving, hand-held or
    following camera leaves unchanged). Same interface as :class:`FallDetector`.

    - A fall found in the feet frame is reported at once.
    - A fall found only in the image frame is held while the feet-frame detector judges the
      same moment, and dropped when it finds that the hips came back up above the feet (a
      squat or a bend filmed by a moving camera, which moves the hips in the image as a fall
      does); where the ankles are hidden the feet frame cannot judge and the image decides.
    - One fall gives one event (an event whose onset is within ``dedupe_s`` seconds of a
      reported one is dropped); events carry ``frame`` (``"image"`` or ``"feet"``).
    """

    def __init__(self, config: FallConfig | None = None, dedupe_s: float = 3.0):
        self.c = config or FallConfig()
        self.image = FallDetector(self.c)
        self.feet = FallDetector(self.c)
        self.dedupe_s = dedupe_s
        self.events: list[dict] = []
        self.vetoed: list[dict] = []
        self._held: list[dict] = []

    @property
    def fallen(self) -> bool:
        return self.image.fallen or self.feet.fallen

    @property
    def pending(self) -> bool:
        return self.image.pending or self.feet.pending or bool(self._held)

    @property
    def rejected(self) -> list[dict]:
        return self.image.rejected + self.feet.rejected

    def update(self, time_s: float, feats: dict) -> list[dict]:
        """One sample (see :meth:`FallDetector.update`)."""
        ff = feet_frame(feats)
        return self._merge(self.image.update(time_s, feats),
                           self.feet.update(time_s, ff) if ff is not None
                           else self.feet.missing(time_s))

    def missing(self, time_s: float) -> list[dict]:
        return self._merge(self.image.missing(time_s), self.feet.missing(time_s))

    def finish(self) -> list[dict]:
        feet = self.feet.finish()
        return self._merge(self.image.finish(), feet)

    def handover_distance(self, other: FallMonitor) -> float:
        return min(self.image.handover_distance(other.image),
                   self.feet.handover_distance(other.feet))

    def adopt(self, other: FallMonitor) -> None:
        """Continue ``other``'s pending falls (see :meth:`FallDetector.adopt`); the two
        tracks then share their reported events, so one fall is not reported on both."""
        self.image.adopt(other.image)
        self.feet.adopt(other.feet)
        self._held += other._held
        other._held = []
        self.events += [e for e in other.events if e not in self.events]
        other.events = self.events

    def _merge(self, image: list[dict], feet: list[dict]) -> list[dict]:
        out = [e for e in (self._emit(e, "feet") for e in feet) if e]
        self._held += image
        keep = []
        for e in self._held:
            if self.feet.pending:
                keep.append(e)          # the feet frame is judging: wait for its verdict
                continue
            back_up = [r for r in self.feet.rejected if r["reason"].startswith("got back up")
                       and e["onset_s"] - 1.0 <= r["trigger_s"] <= e["ground_s"] + self.dedupe_s]
            if back_up:
                log.debug("image-frame fall at %.2f s dropped: the hips came back up above "
                          "the feet", e["onset_s"])
                self.vetoed.append(e)
                continue
            ev = self._emit(e, "image")
            if ev:
                out.append(ev)
        self._held = keep
        return out

    def _emit(self, e: dict, frame: str) -> dict | None:
        if any(abs(e["onset_s"] - p["onset_s"]) <= self.dedupe_s for p in self.events):
            return None
        e = {**e, "frame": frame}
        self.events.append(e)
        return e
