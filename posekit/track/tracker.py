"""Multi-person tracking: stable person IDs from per-frame poses.

Each call ``tracker.update(poses, time_s)`` assigns the persons of one frame to tracks:

1. **Prediction.** Every track predicts its box at ``time_s`` with a constant-velocity model of
   the box centre (velocity in pixels per second, an exponential average of observed
   displacements; the box size is the last observed one).
2. **Association of recent tracks** (tracks updated at the previous call: confirmed and
   tentative) by the similarity ``iou_weight * IoU(predicted box, box) + (1 - iou_weight) *
   OKS(predicted keypoints, keypoints)`` with the Hungarian algorithm
   (``scipy.optimize.linear_sum_assignment``); pairs below ``min_similarity`` are rejected.
   OKS is COCO's object keypoint similarity (``exp(-d^2 / (2 s^2 k^2))`` averaged over the
   keypoints seen in both, ``k = 2 sigma`` with the COCO sigmas, ``s^2`` the area of the
   track's keypoint box); BlazePose poses are compared through ``poses.to(COCO_17)``. Where no
   keypoint is seen in both, the similarity is the IoU alone. A person found from a track's
   ROI (``extras["roi_track_key"]``) can get ``roi_bonus`` added for that track (off by
   default).
3. **Re-matching of lost tracks.** Confirmed tracks not matched in step 2 (including tracks
   lost for up to ``max_age_s`` seconds) are matched to the remaining persons by the IoU of
   *buffered* boxes (each box widened by ``buffer + buffer_per_s * gap`` times its size per
   side, as in C-BIoU, Yang et al., WACV 2023), so a person hidden for a second reappears
   with their ID even where the prediction is a little off; pairs whose heights differ by more
   than ``max_height_ratio`` are rejected.
4. **Re-identification by appearance**, where the poses carry ``extras["appearance"]``
   (unit-norm descriptors such as :func:`posekit.track.appearance.color_histograms`, which
   :class:`posekit.track.TopDownTracker` adds): a person still left over takes the ID of the
   lost track (lost for up to ``reid_max_age_s``) with the most similar running descriptor, at
   least ``reid_min_appearance``, within a distance gate that grows with the time lost. With
   descriptors, steps 2 and 3 also refuse to give a confirmed track's ID to a person whose
   descriptor similarity is below ``min_appearance`` (an ID jumping to a differently dressed
   neighbour).
5. **Birth and death.** A person left over with ``person_score >= new_track_min_score`` starts a
   *tentative* track. A tentative track is confirmed after ``min_hits`` consecutive matched
   frames and deleted at its first miss, so one spurious detection never becomes a track. A
   confirmed track that is not matched is *lost*, and deleted ``max_age_s`` seconds after it
   was last seen (``reid_max_age_s`` for tracks with a descriptor).

Output: the persons matched to **confirmed** tracks, in input order, with ``track_ids`` (int64,
1, 2, 3, ... in order of confirmation). Persons of tentative tracks are **dropped** from the
output until their track is confirmed (so a flicker of false detections produces no output);
set ``output_tentative=True`` to keep them, with ``track_ids`` -1. IDs are never reused.

The design follows SORT (Bewley et al., ICIP 2016: Hungarian assignment on predicted boxes,
``min_hits``, ``max_age``) with OKS in the cost as in PoseTrack-style pose trackers, and
norfair's habit that ``update`` with no detections still advances time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..skeletons import COCO_17
from ..types import Poses, box_iou, boxes_from_keypoints
from .matching import assign

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrackerConfig:
    """Settings of :class:`Tracker`. Times are seconds, sizes pixels.

    Attributes:
        min_hits: consecutive matched frames that confirm a tentative track (1: at once).
        max_age_s: how long a confirmed track that is no longer matched is kept for re-matching.
        iou_weight: weight of box IoU in the similarity; the rest is OKS (0..1).
        min_similarity: lowest similarity (IoU/OKS blend, 0..1) accepted for a recent track.
        roi_bonus: where poses carry ``extras["roi_track_key"]`` (the key of the track whose
            ROI the landmark stage was given, -1 for none; :class:`~posekit.track.
            TopDownTracker` sets it when this is above 0), added to the similarity of each
            person and that track (where the similarity is above 0), so a person stays with
            the track that led the landmark network to them. Off (0) by default here;
            top-down tracking with the YOLO person detector sets 0.3
            (:data:`posekit.track.topdown.TOPDOWN_ROI_BONUS`, with its measurements). Measured
            in an earlier pipeline with YOLO person boxes on every 2nd frame
            (``bench/bench_mot.py``), 0.3 raised
            PETS09-S2L1's IDF1 from 60.4 to 71.0 without coasting, but with coasting
            (``TopDownTracker.coast``) it gave 85.3 / 74.0 MOTA / IDF1 against 85.6 / 74.4
            without it, and it lowered TUD-Campus (42.6 / 69.1 -> 40.9 / 65.1) and
            TUD-Stadtmitte (73.7 / 70.3 -> 71.9 / 62.0); with YOLO on every frame it changed
            nothing.
        min_score: persons with a lower ``person_score`` are ignored.
        new_track_min_score: lowest ``person_score`` that starts a new tentative track.
        buffer: box buffer per side, as a fraction of the box size, when re-matching tracks
            that were not matched in the recent-track step.
        buffer_per_s: extra buffer per second since the track was last seen.
        max_buffer: largest buffer (fraction of the box size per side).
        min_buffered_iou: lowest buffered IoU accepted when re-matching.
        max_height_ratio: a re-match is rejected when the heights of the boxes differ by more
            than this factor.
        keypoint_min_score: keypoints at or below this score are ignored by OKS.
        velocity_smoothing: weight of the newest displacement in the velocity average (0..1].
        max_speed: velocity magnitude cap in box heights per second (guards the prediction of
            lost tracks against a single bad observation).
        roi_max_gap_s: :meth:`Tracker.predicted_boxes` returns confirmed tracks seen at most
            this long ago.
        output_tentative: also return persons of tentative tracks (with ``track_ids`` -1).
        appearance_weight: where poses carry ``extras["appearance"]`` (unit-norm descriptors,
            e.g. :func:`posekit.track.appearance.color_histograms`), weight of the descriptor
            similarity (dot product with the track's running descriptor) in the recent-track
            similarity. 0 by default: on PETS09-S2L1 a weight of 0.3 lowered IDF1 from 65 to
            54 (colour histograms of small, overlapping people are noisier than their motion);
            the gate ``min_appearance`` and re-identification are what help.
        min_appearance: a confirmed track is not matched to a person whose descriptor
            similarity is below this (stops an ID from jumping to a differently dressed
            neighbour).
        appearance_momentum: weight of the track's running descriptor when a new observation
            is averaged in (0..1).
        reid_max_age_s: with descriptors, confirmed tracks are kept this long (instead of
            ``max_age_s``) and re-identified by appearance: a person left over after the other
            steps takes the ID of the lost track with the most similar descriptor, at least
            ``reid_min_appearance``, whose predicted centre lies within ``0.5 +
            reid_max_speed * gap_s`` box heights and whose height differs by less than
            ``max_height_ratio``.
        reid_min_appearance: lowest descriptor similarity for re-identification.
        reid_max_speed: distance gate of re-identification, box heights per second of gap.
    """

    min_hits: int = 3
    max_age_s: float = 1.5
    iou_weight: float = 0.5
    min_similarity: float = 0.25
    roi_bonus: float = 0.0
    min_score: float = 0.0
    new_track_min_score: float = 0.5
    buffer: float = 0.3
    buffer_per_s: float = 0.5
    max_buffer: float = 1.0
    min_buffered_iou: float = 0.2
    max_height_ratio: float = 1.6
    keypoint_min_score: float = 0.3
    velocity_smoothing: float = 0.3
    max_speed: float = 2.0
    roi_max_gap_s: float = 1.0
    output_tentative: bool = False
    appearance_weight: float = 0.0
    min_appearance: float = 0.3
    appearance_momentum: float = 0.9
    reid_max_age_s: float = 5.0
    reid_min_appearance: float = 0.75
    reid_max_speed: float = 1.0

    def __post_init__(self):
        if self.min_hits < 1:
            raise ValueError(f"TrackerConfig.min_hits: expected >= 1, got {self.min_hits}")
        if not 0.0 <= self.iou_weight <= 1.0:
            raise ValueError(f"TrackerConfig.iou_weight: expected 0..1, got {self.iou_weight}")
        if not 0.0 < self.velocity_smoothing <= 1.0:
            raise ValueError("TrackerConfig.velocity_smoothing: expected (0, 1], got "
                             f"{self.velocity_smoothing}")
        if self.max_age_s < 0:
            raise ValueError(f"TrackerConfig.max_age_s: expected >= 0, got {self.max_age_s}")


@dataclass
class _Track:
    key: int                      # internal key (tentative tracks have no public ID yet)
    box: np.ndarray               # (4,) xyxy of the last observation
    kp: np.ndarray                # (17, 2) COCO keypoints of the last observation, NaN missing
    last_s: float                 # time of the last observation
    hits: int = 1                 # consecutive matched frames
    track_id: int = -1            # public ID once confirmed
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))   # centre, px/s
    has_velocity: bool = False
    app: np.ndarray | None = None  # running unit-norm appearance descriptor

    @property
    def confirmed(self) -> bool:
        return self.track_id >= 0

    def shift(self, time_s: float) -> np.ndarray:
        """Predicted displacement (2,) of the centre at ``time_s``, pixels."""
        return self.velocity * max(0.0, time_s - self.last_s)

    def predict(self, time_s: float) -> np.ndarray:
        d = self.shift(time_s)
        return self.box + np.array([d[0], d[1], d[0], d[1]])


class PredictedTracks(NamedTuple):
    """Tracks predicted to a frame's time (:meth:`Tracker.predicted_tracks`): ``ids`` (M,)
    int64 public IDs (-1: tentative), ``boxes`` (M, 4) float32 xyxy pixels, ``keys`` (M,)
    int64 internal keys (tentative tracks included), ``fresh`` (M,) bool: matched at the
    latest update."""

    ids: np.ndarray
    boxes: np.ndarray
    keys: np.ndarray
    fresh: np.ndarray


class Tracker:
    """Assigns stable track IDs to persons across frames (see the module docstring).

    >>> tracker = Tracker()
    >>> for frame in source:                                      # doctest: +SKIP
    ...     poses = tracker.update(model(frame), frame.time_s)
    ...     print(poses.track_ids)

    ``update`` takes :class:`Poses` of one frame and its time in seconds (increasing); call it
    with ``Poses.empty(skeleton)`` on frames without detections so lost tracks age.
    """

    def __init__(self, config: TrackerConfig | None = None, **overrides):
        if config is not None and overrides:
            raise TypeError("pass either a TrackerConfig or keyword overrides, not both")
        self.config = config or TrackerConfig(**overrides)
        self._tracks: list[_Track] = []
        self._next_key = 0
        self._next_id = 1
        self._last_s: float | None = None
        #: (N,) int64: for each person given to the last :meth:`update`, the internal key of
        #: the track it was assigned to (tentative tracks included; -1: none).
        self.last_keys = np.zeros(0, np.int64)

    # ----------------------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget all tracks. IDs continue from where they were (never reused)."""
        self._tracks.clear()
        self._last_s = None

    @property
    def num_confirmed(self) -> int:
        """Confirmed tracks currently held (matched or lost)."""
        return sum(t.confirmed for t in self._tracks)

    def predicted_boxes(self, time_s: float, *, tentative: bool = False
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted boxes of the confirmed tracks seen within ``config.roi_max_gap_s``.

        For the landmark stage of a top-down model (``model(frame, boxes=boxes)``): the persons
        already tracked need not be found again by the detector.

        Args:
            time_s: time of the frame to predict for, seconds.
            tentative: also return the tentative tracks (ID -1), which need landmarks on the
                next frames to be confirmed.

        Returns:
            ``(ids, boxes)``: ``ids`` (M,) int64 track IDs and ``boxes`` (M, 4) float32 xyxy
            pixels, the last observed box of each track moved by its constant-velocity
            prediction to ``time_s``; confirmed tracks first, most recently seen first.
        """
        p = self.predicted_tracks(time_s, tentative=tentative)
        return p.ids, p.boxes

    def predicted_tracks(self, time_s: float, *, tentative: bool = False) -> PredictedTracks:
        """As :meth:`predicted_boxes`, with each track's internal key (which
        ``poses.extras["roi_track_key"]`` names, see ``TrackerConfig.roi_bonus``) and whether
        it was matched at the latest :meth:`update`."""
        c = self.config
        sel = [t for t in self._tracks
               if (t.confirmed or tentative) and time_s - t.last_s <= c.roi_max_gap_s]
        sel.sort(key=lambda t: (not t.confirmed, time_s - t.last_s))
        return PredictedTracks(
            ids=np.array([t.track_id for t in sel], np.int64),
            boxes=np.array([t.predict(time_s) for t in sel], np.float32).reshape(-1, 4),
            keys=np.array([t.key for t in sel], np.int64),
            fresh=np.array([self._last_s is not None and t.last_s >= self._last_s
                            for t in sel], bool))

    # ---------------------------------------------------------------------------- update
    def update(self, poses: Poses, time_s: float) -> Poses:
        """Assign track IDs to ``poses`` observed at ``time_s`` (seconds).

        Returns:
            The persons of confirmed tracks (plus tentative ones with ID -1 when
            ``output_tentative``), in input order, with ``track_ids`` (N',) int64.
        """
        c = self.config
        t = float(time_s)
        if self._last_s is not None and t <= self._last_s:
            log.debug("tracker: time %.4f s does not increase (last %.4f s)", t, self._last_s)
        prev_s = self._last_s
        self._last_s = t
        # tracks past their age are gone before matching (also after a jump in time)
        self._tracks = [tr for tr in self._tracks if not tr.confirmed or
                        t - tr.last_s <= self._max_age(tr)]
        keep = np.flatnonzero(np.nan_to_num(poses.person_scores, nan=0.0) >= c.min_score)
        keep = keep[np.isfinite(poses.boxes[keep]).all(axis=1)]
        det_boxes = poses.boxes[keep].astype(np.float64)
        det_scores = poses.person_scores[keep]
        det_kp = _coco_keypoints(poses[keep], c.keypoint_min_score) if len(keep) else \
            np.zeros((0, 17, 2))
        det_app = _appearance(poses, keep)
        nd = len(keep)
        assigned = np.full(nd, -1)                   # det -> index in self._tracks

        # 2. recent tracks (matched at the previous call), IoU + OKS (+ appearance)
        recent = [i for i, tr in enumerate(self._tracks)
                  if prev_s is not None and tr.last_s >= prev_s]
        if recent and nd:
            sim = self._similarity([self._tracks[i] for i in recent], det_boxes, det_kp,
                                   det_app, t)
            roi_key = poses.extras.get("roi_track_key")
            if c.roi_bonus > 0 and roi_key is not None:
                rk = np.asarray(roi_key)[keep]
                tk = np.array([self._tracks[i].key for i in recent])
                sim = sim + c.roi_bonus * ((tk[:, None] == rk[None, :]) & (sim > 0))
            for r, d in zip(*assign(sim, c.min_similarity)):
                assigned[d] = recent[r]

        # 3. confirmed tracks not matched yet (lost or missed now), buffered IoU
        taken = set(assigned[assigned >= 0].tolist())
        rest_t = [i for i, tr in enumerate(self._tracks) if tr.confirmed and i not in taken
                  and t - tr.last_s <= c.max_age_s]
        rest_d = np.flatnonzero(assigned < 0)
        if rest_t and len(rest_d):
            tracks = [self._tracks[i] for i in rest_t]
            sim = self._buffered_iou(tracks, det_boxes[rest_d], t)
            if det_app is not None:
                sim[self._app_sim(tracks, det_app[rest_d]) < c.min_appearance] = 0.0
            for r, d in zip(*assign(sim, c.min_buffered_iou)):
                assigned[rest_d[d]] = rest_t[r]

        # 4. re-identification of lost tracks by appearance
        if det_app is not None:
            taken = set(assigned[assigned >= 0].tolist())
            rest_t = [i for i, tr in enumerate(self._tracks) if tr.confirmed and i not in taken
                      and tr.app is not None]
            rest_d = np.flatnonzero((assigned < 0) & (det_scores >= c.new_track_min_score))
            if rest_t and len(rest_d):
                tracks = [self._tracks[i] for i in rest_t]
                sim = self._reid(tracks, det_boxes[rest_d], det_app[rest_d], t)
                for r, d in zip(*assign(sim, c.reid_min_appearance)):
                    assigned[rest_d[d]] = rest_t[r]
                    log.debug("tracker: track %d re-identified (appearance %.2f)",
                              self._tracks[rest_t[r]].track_id, sim[r, d])

        # update matched tracks
        matched = set()
        for d in np.flatnonzero(assigned >= 0):
            tr = self._tracks[assigned[d]]
            self._observe(tr, det_boxes[d], det_kp[d], None if det_app is None else det_app[d],
                          t)
            matched.add(assigned[d])
        # death: tentative at the first miss, confirmed after max_age_s (reid_max_age_s for
        # tracks with an appearance descriptor)
        survivors = []
        for i, tr in enumerate(self._tracks):
            if i in matched or (tr.confirmed and t - tr.last_s <= self._max_age(tr)):
                survivors.append(tr)
        index_of = {id(tr): k for k, tr in enumerate(survivors)}
        assigned = np.array([index_of[id(self._tracks[a])] if a >= 0 else -1 for a in assigned],
                            int).reshape(nd)
        self._tracks = survivors
        # 5. birth
        for d in np.flatnonzero(assigned < 0):
            if det_scores[d] >= c.new_track_min_score:
                tr = _Track(self._next_key, det_boxes[d].copy(), det_kp[d].copy(), t,
                            app=None if det_app is None else det_app[d].copy())
                self._next_key += 1
                self._tracks.append(tr)
                assigned[d] = len(self._tracks) - 1
                if c.min_hits <= 1:
                    self._confirm(tr)

        ids = np.array([self._tracks[a].track_id if a >= 0 else -1 for a in assigned], np.int64)
        keys = np.full(len(poses), -1, np.int64)
        keys[keep] = [self._tracks[a].key if a >= 0 else -1 for a in assigned]
        self.last_keys = keys
        out = ids >= 0 if not c.output_tentative else assigned >= 0
        sel = keep[out]
        return poses[sel].replace(track_ids=ids[out])

    # --------------------------------------------------------------------------- helpers
    def _max_age(self, tr: _Track) -> float:
        c = self.config
        return c.max_age_s if tr.app is None else max(c.max_age_s, c.reid_max_age_s)

    def _confirm(self, tr: _Track) -> None:
        tr.track_id = self._next_id
        self._next_id += 1
        log.debug("tracker: track %d confirmed", tr.track_id)

    def _observe(self, tr: _Track, box: np.ndarray, kp: np.ndarray, app: np.ndarray | None,
                 t: float) -> None:
        c = self.config
        if app is not None and np.any(app):
            if tr.app is None or not np.any(tr.app):
                tr.app = app.copy()
            else:
                m = c.appearance_momentum
                a = m * tr.app + (1 - m) * app
                tr.app = a / max(float(np.linalg.norm(a)), 1e-12)
        dt = t - tr.last_s
        if dt > 0:
            centre = lambda b: np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
            v = (centre(box) - centre(tr.box)) / dt
            h = max(1.0, box[3] - box[1])
            speed = float(np.hypot(*v))
            if speed > c.max_speed * h:
                v *= c.max_speed * h / speed
            a = c.velocity_smoothing if tr.has_velocity else 1.0
            tr.velocity = (1 - a) * tr.velocity + a * v
            tr.has_velocity = True
        tr.box = box.copy()
        kp_ok = np.isfinite(kp).all(axis=1)
        # keep the last seen position of keypoints missing now, moved with the box
        old = tr.kp + (tr.shift(t) if dt > 0 else 0)
        tr.kp = np.where(kp_ok[:, None], kp, old)
        tr.last_s = t
        tr.hits += 1
        if not tr.confirmed and tr.hits >= c.min_hits:
            self._confirm(tr)

    def _similarity(self, tracks: list[_Track], boxes: np.ndarray, kp: np.ndarray,
                    app: np.ndarray | None, t: float) -> np.ndarray:
        """(T, D) IoU/OKS blend in [0, 1], blended with appearance where known."""
        c = self.config
        pred = np.array([tr.predict(t) for tr in tracks])
        sim = box_iou(pred, boxes)
        if c.iou_weight < 1.0:
            tkp = np.array([tr.kp + tr.shift(t) for tr in tracks])        # (T, 17, 2)
            area = np.array([_kp_area(tr.kp, tr.box) for tr in tracks])   # (T,)
            o, n = oks(tkp, kp, area, np.asarray(COCO_17.sigmas))
            w = np.where(n > 0, c.iou_weight, 1.0)
            sim = w * sim + (1 - w) * o
        if app is not None:
            a = self._app_sim(tracks, app)
            known = np.array([tr.app is not None for tr in tracks])[:, None] & \
                np.any(app, axis=1)[None, :]
            sim = np.where(known, (1 - c.appearance_weight) * sim + c.appearance_weight * a,
                           sim)
            confirmed = np.array([tr.confirmed for tr in tracks])[:, None]
            sim[known & confirmed & (a < c.min_appearance)] = 0.0
        return sim

    @staticmethod
    def _app_sim(tracks: list[_Track], app: np.ndarray) -> np.ndarray:
        """(T, D) dot products of the tracks' descriptors with ``app``; 1 where unknown."""
        out = np.ones((len(tracks), len(app)))
        for i, tr in enumerate(tracks):
            if tr.app is not None and np.any(tr.app):
                out[i] = np.where(np.any(app, axis=1), app @ tr.app, 1.0)
        return out

    def _reid(self, tracks: list[_Track], boxes: np.ndarray, app: np.ndarray, t: float
              ) -> np.ndarray:
        """(T, D) appearance similarity of lost tracks and persons, 0 outside the gates."""
        c = self.config
        sim = np.array([app @ tr.app for tr in tracks]).reshape(len(tracks), len(boxes))
        pred = np.array([tr.predict(t) for tr in tracks])
        gap = np.array([t - tr.last_s for tr in tracks])
        hp = pred[:, 3] - pred[:, 1]
        hd = boxes[:, 3] - boxes[:, 1]
        cp = (pred[:, :2] + pred[:, 2:]) / 2
        cd = (boxes[:, :2] + boxes[:, 2:]) / 2
        dist = np.linalg.norm(cp[:, None] - cd[None], axis=2) / np.maximum(hp, 1.0)[:, None]
        ratio = np.maximum(hp[:, None], hd[None]) / np.maximum(np.minimum(hp[:, None], hd[None]),
                                                              1e-6)
        ok = (dist <= 0.5 + c.reid_max_speed * gap[:, None]) & (ratio <= c.max_height_ratio)
        return np.where(ok, sim, 0.0)

    def _buffered_iou(self, tracks: list[_Track], boxes: np.ndarray, t: float) -> np.ndarray:
        c = self.config
        pred = np.array([tr.predict(t) for tr in tracks])
        gap = np.array([t - tr.last_s for tr in tracks])
        b = np.minimum(c.buffer + c.buffer_per_s * gap, c.max_buffer)
        pb = _expand(pred, b)
        db = _expand(boxes, np.full(len(boxes), c.buffer))
        sim = box_iou(pb, db)
        hp = (pred[:, 3] - pred[:, 1])[:, None]
        hd = (boxes[:, 3] - boxes[:, 1])[None, :]
        ratio = np.maximum(hp, hd) / np.maximum(np.minimum(hp, hd), 1e-6)
        sim[ratio > c.max_height_ratio] = 0.0
        return sim


def oks(a: np.ndarray, b: np.ndarray, area: np.ndarray, sigmas: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray]:
    """COCO object keypoint similarity between every pose of ``a`` and of ``b``.

    ``OKS = mean_k exp(-d_k^2 / (2 area (2 sigma_k)^2))`` over the keypoints finite in both
    (pycocotools ``COCOeval.computeOks``, with ``area`` standing in for the segment area).

    Args:
        a: (A, K, 2) pixels, NaN for missing keypoints. b: (B, K, 2) likewise.
        area: (A,) square pixels, the scale of each pose of ``a``.
        sigmas: (K,) COCO sigmas.

    Returns:
        ``(oks, n)``: (A, B) similarity in [0, 1] (0 where no keypoint is shared) and (A, B)
        the number of keypoints it averaged.
    """
    d2 = np.sum((a[:, None] - b[None, :]) ** 2, axis=3)          # (A, B, K)
    ok = np.isfinite(d2)
    var = (2 * np.asarray(sigmas, np.float64)) ** 2
    e = d2 / (2 * np.maximum(area, 1.0)[:, None, None] * var[None, None, :])
    s = np.where(ok, np.exp(-np.where(ok, e, 0.0)), 0.0)
    n = ok.sum(axis=2)
    return np.where(n > 0, s.sum(axis=2) / np.maximum(n, 1), 0.0), n


def _appearance(poses: Poses, keep: np.ndarray) -> np.ndarray | None:
    """(N', D) float64 ``extras["appearance"]`` rows of the kept persons, or None."""
    a = poses.extras.get("appearance")
    if not isinstance(a, np.ndarray) or a.ndim != 2 or len(a) != len(poses):
        return None
    return np.asarray(a[keep], np.float64)


def _coco_keypoints(poses: Poses, min_score: float) -> np.ndarray:
    """(N, 17, 2) float64 COCO keypoints with low-score ones NaN."""
    p = poses.to(COCO_17)          # identity for COCO_17; BlazePose: same-named keypoints
    kp = np.array(p.keypoints, np.float64)
    kp[~(p.scores > min_score)] = np.nan
    return kp


def _kp_area(kp: np.ndarray, box: np.ndarray) -> float:
    b = boxes_from_keypoints(kp[None])[0]
    if not np.isfinite(b).all() or (b[2] - b[0]) * (b[3] - b[1]) < 16:
        b = box
    return float(max((b[2] - b[0]) * (b[3] - b[1]), 1.0))


def _expand(boxes: np.ndarray, frac: np.ndarray) -> np.ndarray:
    w = (boxes[:, 2] - boxes[:, 0]) * frac
    h = (boxes[:, 3] - boxes[:, 1]) * frac
    return np.stack([boxes[:, 0] - w, boxes[:, 1] - h, boxes[:, 2] + w, boxes[:, 3] + h], 1)
