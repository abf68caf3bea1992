"""Top-down tracking: the tracker feeds the landmark stage the ROIs of the persons it tracks.

:class:`TopDownTracker` wraps a two-stage pose model (a person detector + a landmark network on
person boxes, such as :class:`posekit.models.blazepose.BlazePose`) and a :class:`Tracker`:

1. the boxes of the tracked persons, predicted to the frame's time
   (:meth:`Tracker.predicted_boxes`, tentative tracks included), become ROIs for the landmark
   stage, so a tracked person needs no detector;
2. every ``detect_every`` frames (and on the first frame) the detector runs (e.g. BlazePose's
   tiled detector, which finds small people) and its detections that do not overlap a tracked
   person's ROI are added as new ROIs. With an external ``detector`` (any callable returning
   person boxes, e.g. :class:`posekit.models.yolo.YoloPose`), detections are matched one to one
   to the tracked boxes by IoU (Hungarian); a matched detection replaces its track's predicted
   box as that person's ROI on this frame (fresh evidence instead of a prediction), and the
   unmatched ones are new persons;
3. the landmark stage runs once on all ROIs (``model(frame, boxes=boxes)``), except, with
   ``landmark_every`` > 1, the tracked persons whose landmarks optical flow carries from the
   previous frame (:class:`~posekit.track.flow.LandmarkFlow`); poses that repeat
   another (keypoints closer than ``duplicate_distance`` body heights) are dropped, the one
   from a tracked ROI kept;
4. the poses get body-outline boxes (:func:`posekit.track.outline.body_boxes`);
5. with an external detector, on the frames it runs, the detector decides who is there
   (ByteTrack-like, Zhang et al., ECCV 2022, for the score rules): persons from ROIs no
   detection matched are dropped (``require_detection``); each remaining person's box becomes
   the mean of its outline box and its detection's box (``detection_box_weight``), or the
   detection's box where the two disagree (``detection_box_iou``); detected persons the
   landmark stage lost are kept with the detector's own keypoints (``keep_detections``), a
   low-score detection only where it continues a track (``new_detection_score``);
6. between detector frames, tracked persons' boxes are blended with their predicted boxes
   (``prediction_box_weight``) and persons the landmark stage lost coast on their predicted
   box (``coast``);
7. where the tracker's ``roi_bonus`` is set, the poses carry the key of the track whose ROI
   found them (``extras["roi_track_key"]``, -1 for none), which the tracker favours; they get
   colour histograms (``extras["appearance"]``), are marked ``extras["boxes_kind"] = "outline"``
   (so :func:`posekit.eval.mot.pose_boxes_for_mot` keeps these boxes) and go to
   ``tracker.update``, which returns them with stable ``track_ids``.

Output persons are in the model's skeleton (BlazePose's 33 landmarks with world coordinates);
persons kept from the detector carry only the keypoints it has (YOLO: the 17 COCO keypoints,
mapped by name; world NaN); coasting persons carry none.

The model is a :class:`posekit.models.LandmarkModel` (``model(frame, boxes=boxes_xyxy)``
returning ``extras["box_index"]``, ``detect(image)`` with ``rois`` (N, 4) ``(cx, cy, side,
rotation)`` pixels unless an external ``detector`` is given, and ``roi_scale``); the detector a
:class:`posekit.models.PersonDetector`. :func:`topdown_model` builds the pair by name (the
registered model ``topdown``).
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from ..types import Frame, Poses, box_iou
from .appearance import color_histograms
from .flow import LandmarkFlow
from .matching import match_boxes
from .outline import body_boxes
from .tracker import Tracker

log = logging.getLogger(__name__)


class TopDownTracker:
    """Model + tracker in one video-mode stage: ``stage(frame) -> Poses`` with ``track_ids``.

    Args:
        model: detector + landmark model (see the module docstring).
        tracker: the :class:`Tracker` (a new default one when None).
        detect_every: run the detector on every this many frames (1: every frame).
        same_person: a detection whose ROI centre (BlazePose: the hip centre) lies within this
            many box heights of a tracked person's box centre, at a similar size, is that
            person and is not added (people side by side are farther apart).
        duplicate_distance: two poses whose keypoints lie closer than this many body heights
            (median over the keypoints) are one person seen twice.
        max_rois: most ROIs given to the landmark stage per frame (tracked persons first).
        min_inside: persons (and predicted boxes) with less than this fraction of their body
            box inside the frame are dropped (the landmark network extrapolates bodies past the
            edge; a track leaving the frame ends there).
        appearance: add ``extras["appearance"]``, colour histograms of each person's body
            (:func:`posekit.track.appearance.color_histograms`), which the tracker uses to keep
            IDs on the right person and to re-identify people after an occlusion.
        detector: None to use the model's own detector (``model.detect``); otherwise a person
            detector called as ``detector(frame)`` that returns :class:`Poses` (its ``boxes``
            (D, 4) xyxy pixels and ``person_scores`` are used, e.g.
            :class:`~posekit.models.yolo.YoloPose`) or a tuple ``(boxes (D, 4) xyxy pixels,
            scores (D,))``.
        match_iou: with a ``detector``: lowest IoU between a detection and a tracked person's
            predicted box for the two to be the same person.
        min_detection_score: with a ``detector``: detections below this score are ignored.
        keep_detections: with a ``detector``, on the frames it runs: a detection whose ROI
            gives no person from the landmark stage (occluded, or the network converged onto a
            neighbour) is kept as the detector's person (its box and score, and its keypoints
            mapped to the model's skeleton where the detector has them, e.g. YOLO's COCO-17),
            so a person the detector sees keeps their track through a crowd.
        new_detection_score: ``keep_detections`` applies to detections of no tracked person
            only at this score or above.
        require_detection: with a ``detector``, on the frames it runs: persons whose ROI no
            detection matched (a track that drifted onto a neighbour or the background) are
            dropped; the detector decides who is there, the tracker bridges the frames between.
        detection_box_iou: with a ``detector``, on the frames it runs: a person whose outline
            box (:func:`~posekit.track.outline.body_boxes`) overlaps its detection's box by less
            than this IoU takes the detection's box (the landmarks mixed two people); 0 = never.
        detection_box_weight: with a ``detector``, on the frames it runs: the other persons'
            boxes are ``(1 - w) * outline box + w * detection box`` (0 = the outline box). The
            two are independent estimates of the same box with similar errors (mean IoU with
            PETS09-S2L1's GT: 0.762 outline, 0.740 YOLO at 1280 px), so their mean is closer
            to the GT than either: with 0.5 instead of 0, MOTA went from 83.9 to 85.9 on
            PETS09-S2L1 (IDF1 63.6 to 76.8), 37.3 to 47.6 on TUD-Campus and 63.8 to 75.1 on
            TUD-Stadtmitte (YOLO every frame; ``bench/bench_mot.py``).
        prediction_box_weight: on the frames the detector does not run (``detect_every`` > 1):
            a tracked person's box is ``(1 - w) * outline box + w * predicted box`` (the
            track's last box moved by its constant-velocity prediction; the outline box alone
            where the two overlap by less than ``detection_box_iou``). None: 0.5 with an
            external ``detector`` (whose boxes the tracks carry), 0 without. Measured on
            PETS09-S2L1 with YOLO every 2nd frame: MOTA 83.0 -> 84.5 (precision 92.6 -> 93.3,
            recall 91.0 -> 91.6); every 3rd frame 81.4 -> 82.5. With BlazePose's own detector
            (outline boxes only) it lowered MOTA on TUD-Campus, hence 0 there.
        coast: on the frames the detector does not run: a confirmed track that was matched on
            the previous frame but whose ROI gives no person now (occluded, or the network's
            presence score fell) is output on its predicted box with no keypoints (NaN, scores
            0, person score 0, ``extras["coasting"]`` True), until the next detector frame
            decides. None: on with an external ``detector``. Measured on PETS09-S2L1 with
            YOLO every 2nd frame: MOTA 84.5 -> 85.6, IDF1 60.4 -> 74.4 (with ``roi_bonus``
            0.3: 84.5 / 71.0 -> 85.3 / 74.0, and the persons missed on the frames between
            fell from 235 to 154).
        edge_min_aspect: with ``keep_detections``: a detected person the landmark stage lost
            whose box touches the left or right edge of the frame and is narrower than this
            many times its height is mostly outside the frame and is not kept (0: kept). Such
            a box (e.g. 32 x 280 px at the left edge of TUD-Stadtmitte, a person standing just
            outside) otherwise continues the track of someone who left there, as low-score
            detections continue tracks; the MOT ground truths do not count these persons.
            Measured with YOLO on every frame (``bench/bench_mot.py``), 0 -> 0.15: MOTA / IDF1
            76.4 / 70.9 -> 80.2 / 77.7 on TUD-Stadtmitte, 45.1 / 60.7 -> 50.7 / 62.3 on
            TUD-Campus, 87.4 / 82.6 -> 87.6 / 82.7 on PETS09-S2L1. Pedestrians seen whole are
            0.25-0.5 times as wide as tall.
        landmark_every: run the landmark network on each tracked person every this many
            frames only; on the frames between, the person's landmarks of the previous frame
            are carried to this one by sparse optical flow (:class:`~posekit.track.flow.
            LandmarkFlow`, 1-2 ms per person against 7-9 ms for BlazePose's network),
            with its previous scores, world coordinates and presence, and marked
            ``extras["carried"]`` True. The tracks take turns (``(track key + frame count) %
            landmark_every == 0`` runs the network), so each frame runs about ``1 /
            landmark_every`` of them; a person whose flow fails (fewer than
            ``flow.min_tracked`` landmarks followed forward and back) goes through the
            network, as do new persons, and, on detector frames, persons whose box moved by
            the flow overlaps their detection's box by less than ``detection_box_iou`` (the
            flow slid off them; measured at 2 / 3 on PETS09-S2L1, MOTA / IDF1 84.8 / 76.3 ->
            85.2 / 76.9, TUD-Campus 46.8 / 65.0 -> 47.9 / 65.6, TUD-Stadtmitte 75.8 / 64.7 ->
            74.2 / 71.4). With ``landmark_every`` > 1, the predicted box of every
            tracked person between detector frames (``prediction_box_weight``) is its last box
            moved by the median flow of its landmarks instead of the constant-velocity
            prediction. 1 (the default): the network on every person on every frame. Measured
            with YOLO on every frame (``bench/bench_mot.py``): see the README.
        flow: the :class:`~posekit.track.flow.LandmarkFlow` for ``landmark_every`` > 1 (its
            defaults when None).
        close_detector: with ``detect_every="auto"``: a cheaper person detector (e.g. YOLO at
            320 px instead of 1280) run instead of ``detector`` while one tracked person fills
            the view (:attr:`DetectorSchedule.close_range`), where small far-away people are
            not what the detector looks for. It also runs first on the first frame: when it
            finds exactly one person (score at least ``new_detection_score``) filling the view
            (:meth:`DetectorSchedule.fills_view`), the tracking starts at close range and
            ``detector`` does not run.

    ``last_timings`` (seconds): ``detector``, ``landmarks``, ``tracker``, and ``model``
    (detector + landmarks) of the last call. ``last_poses`` holds the poses the tracker was
    given on the last call (all persons found, before track assignment).
    """

    def __init__(self, model, tracker: Tracker | None = None, *, detect_every: int = 5,
                 same_person: float = 0.25, duplicate_distance: float = 0.1, max_rois: int = 32,
                 min_inside: float = 0.5, appearance: bool = True, detector=None,
                 match_iou: float = 0.3, min_detection_score: float = 0.0,
                 keep_detections: bool = True, new_detection_score: float = 0.5,
                 require_detection: bool = True, detection_box_iou: float = 0.5,
                 detection_box_weight: float = 0.5,
                 prediction_box_weight: float | None = None, coast: bool | None = None,
                 edge_min_aspect: float = 0.15, landmark_every: int = 1,
                 flow: LandmarkFlow | None = None, close_detector=None):
        if detect_every != "auto" and (not isinstance(detect_every, (int, np.integer))
                                       or detect_every < 1):
            raise ValueError(f"detect_every: expected an integer >= 1 or 'auto', got "
                             f"{detect_every!r}")
        if landmark_every < 1:
            raise ValueError(f"landmark_every: expected >= 1, got {landmark_every}")
        self.model = model
        self.tracker = tracker or Tracker()
        self.detect_every = detect_every
        self.schedule = DetectorSchedule() if detect_every == "auto" else None
        self.same_person = same_person
        self.duplicate_distance = duplicate_distance
        self.max_rois = max_rois
        self.min_inside = min_inside
        self.appearance = appearance
        self.detector = detector
        self.close_detector = close_detector
        self.match_iou = match_iou
        self.min_detection_score = min_detection_score
        self.keep_detections = keep_detections
        self.new_detection_score = new_detection_score
        self.require_detection = require_detection
        self.detection_box_iou = detection_box_iou
        self.detection_box_weight = detection_box_weight
        if prediction_box_weight is None:
            prediction_box_weight = 0.5 if detector is not None else 0.0
        self.prediction_box_weight = float(prediction_box_weight)
        self.coast = (detector is not None) if coast is None else bool(coast)
        self.edge_min_aspect = float(edge_min_aspect)
        self.landmark_every = int(landmark_every)
        self.flow = (flow or LandmarkFlow()) if landmark_every > 1 else flow
        # the persons of the last frame with landmarks, and each one's row by track key
        self._carry: tuple[Poses | None, dict[int, int]] = (None, {})
        self._count = 0
        self._since_detect = 0
        self.last_timings: dict[str, float] = {}
        self.last_poses: Poses | None = None
        self.skeleton = getattr(model, "skeleton", None)
        self.name = f"{getattr(model, 'name', 'model')}+tracker"

    def reset(self) -> None:
        """Forget the tracks (IDs are not reused) and restart the detector schedule."""
        self.tracker.reset()
        self._carry = (None, {})
        if self.flow is not None:
            self.flow.reset()
        self._count = 0
        self._since_detect = 0
        if self.schedule is not None:
            self.schedule.reset()

    def close(self) -> None:
        """Close the wrapped model."""
        close = getattr(self.model, "close", None)
        if close is not None:
            close()

    def __call__(self, frame: Frame) -> Poses:
        t0 = time.perf_counter()
        t = frame.time_s
        scale = float(self.model.roi_scale)
        tids, tboxes, tkeys, fresh = self.tracker.predicted_tracks(t, tentative=True)
        tboxes = tboxes.astype(np.float64)
        ins = _inside_fraction(tboxes, frame.shape_hw) >= self.min_inside
        tboxes, tkeys, tids, fresh = tboxes[ins], tkeys[ins], tids[ins], fresh[ins]
        boxes = [tboxes]
        t_det = 0.0
        det_index = np.full(len(tboxes), -1, np.int64)   # all_boxes row -> detection row
        dets = None
        count = self._count
        if self.schedule is not None:
            # confirmed tracks, and new ones seen on the last frame: one person walking into
            # view is close range from the second frame, not after the tracker confirms them
            detect_now = self.schedule.due(count, self._since_detect,
                                           tboxes[(tids >= 0) | fresh], frame.shape_hw)
        else:
            detect_now = count % self.detect_every == 0
        self._since_detect = 0 if detect_now else self._since_detect + 1
        if detect_now and self.detector is not None:
            td = time.perf_counter()
            dets = self._external_detections(frame)
            t_det = time.perf_counter() - td
            tboxes, new, det_index = self._match_detections(
                dets.boxes.astype(np.float64), tboxes)
            boxes = [tboxes, dets.boxes[new].astype(np.float64)]
            det_index = np.concatenate([det_index, new])
        elif detect_now:
            td = time.perf_counter()
            found = self.model.detect(frame.image)
            t_det = time.perf_counter() - td
            r = np.asarray(found.rois, np.float64).reshape(-1, 4)
            if len(r) and len(tboxes):
                r = r[~self._tracked(r, tboxes, scale)]
            if len(r):
                # a box whose ROI (side = scale * box side) is the detector's ROI square
                h2 = r[:, 2:3] / (2 * scale)
                boxes.append(np.hstack([r[:, :2] - h2, r[:, :2] + h2]))
        self._count += 1
        all_boxes = np.concatenate(boxes)[:self.max_rois]
        det_index = det_index[:len(all_boxes)]
        n_tracked = min(len(tboxes), len(all_boxes))
        tf = time.perf_counter()
        checks = None
        if dets is not None and n_tracked and self.landmark_every > 1:
            # a tracked person's detection box on this frame (NaN: none matched it)
            d = det_index[:n_tracked]
            checks = np.full((n_tracked, 4), np.nan)
            checks[d >= 0] = dets.boxes[d[d >= 0]]
        carried, carried_rows, flow_boxes = self._carried(frame, tkeys[:n_tracked], count,
                                                          checks)
        t_flow = time.perf_counter() - tf
        run = np.setdiff1d(np.arange(len(all_boxes)), carried_rows)
        tl = time.perf_counter()
        poses = self.model(frame, boxes=all_boxes[run]) if len(run) else self._empty()
        t_lmk = time.perf_counter() - tl
        src = run[np.asarray(poses.extras.get("box_index", np.arange(len(poses))), np.int64)]
        if carried is not None:
            poses, src = Poses.concat(poses, carried), np.concatenate([src, carried_rows])
        if len(poses):
            poses = poses.replace(boxes=body_boxes(poses))
            inside = _inside_fraction(poses.boxes, frame.shape_hw) >= self.min_inside
            poses = poses[inside]
            src = src[inside]
            keep = self._dedupe(poses, src < n_tracked)
            poses, src = poses[keep], src[keep]
        else:
            src = np.zeros(0, np.int64)
        if dets is not None and len(poses):
            poses, src = self._check_with_detections(poses, src, det_index, dets)
        elif self.prediction_box_weight > 0 and len(poses):
            pred = tboxes[:n_tracked].copy()
            by_flow = np.isfinite(flow_boxes).all(axis=1)
            pred[by_flow] = flow_boxes[by_flow]
            poses = self._blend_predictions(poses, src, pred, n_tracked)
        extra, extra_src = None, None
        if dets is not None and self.keep_detections:
            extra = self._detected_but_lost(dets, det_index, n_tracked, poses, src,
                                            frame.shape_hw[1])
            extra_src = np.full(len(extra), -1, np.int64)
        elif dets is None and self.coast:
            live = ((tids >= 0) & fresh)[:n_tracked]
            extra, extra_src = self._coasting(tboxes[:n_tracked], live, poses, src)
        if extra is not None and len(extra):
            poses, src = Poses.concat(poses, extra), np.concatenate([src, extra_src])
        if self.tracker.config.roi_bonus > 0:
            # the track whose ROI gave each person (-1: none), which the tracker favours
            rk = np.full(len(poses), -1, np.int64)
            rows = np.flatnonzero((src >= 0) & (src < n_tracked))
            rk[rows] = tkeys[src[rows]]
            poses = poses.replace(extras={**poses.extras, "roi_track_key": rk})
        if self.appearance and len(poses):
            app = color_histograms(frame.image, poses.boxes)
            coasting = poses.extras.get("coasting")
            if coasting is not None:
                app[np.asarray(coasting, bool)] = 0.0   # unknown: the box may hold an occluder
            poses = poses.replace(extras={**poses.extras, "appearance": app})
        poses = poses.replace(extras={**poses.extras, "boxes_kind": "outline"})
        self.last_poses = poses
        if self.schedule is not None:
            coasting = poses.extras.get("coasting")
            self.schedule.observe(np.flatnonzero(((tids >= 0) & fresh)[:n_tracked]),
                                  src if coasting is None else src[~np.asarray(coasting, bool)],
                                  tboxes[:n_tracked], frame.shape_hw)
        tt = time.perf_counter()
        out = self.tracker.update(poses, t)
        end = time.perf_counter()
        if self.landmark_every > 1:
            self._keep_for_flow(poses, self.tracker.last_keys)
        self.last_timings = {"detector": t_det, "landmarks": t_lmk, "flow": t_flow,
                             "tracker": end - tt, "model": t_det + t_lmk + t_flow,
                             "total": time.perf_counter() - t0}
        return out

    def _carried(self, frame: Frame, keys: np.ndarray, count: int,
                 checks: np.ndarray | None = None
                 ) -> tuple[Poses | None, np.ndarray, np.ndarray]:
        """With ``landmark_every`` > 1: the tracked persons whose landmarks are carried to this
        frame by optical flow instead of the landmark network, their ROI rows, and the boxes
        of all tracked ROI rows moved by the flow.

        Every track (``keys`` (M,) internal keys of the tracked ROI rows) that had landmarks
        on the previous frame has them moved to this frame by
        :class:`~posekit.track.flow.LandmarkFlow`. Where the flow holds, the track's box of
        the previous frame moved by the median flow of its landmarks is its predicted box
        (returned (M, 4) xyxy pixels, NaN rows for the others), and, unless it is the track's
        turn for the network (``(key + frame count) % landmark_every == 0``: each track gets
        the network every ``landmark_every`` frames, the tracks staggered so each frame runs
        about the same number), the person is carried: previous scores, world coordinates and
        presence, keypoints moved by the flow, ``extras["carried"]`` True. At close range
        (:attr:`DetectorSchedule.close_range`: one person filling the view) a person on their
        turn for the network is not followed by the flow at all (their moved box is NaN; the
        tracker's prediction is used): there is no one to confuse them with, and it saves the
        flow on a third of the frames. ``checks`` (M, 4)
        xyxy pixels, on detector frames: each tracked row's detection box (NaN rows: none);
        a row whose moved box overlaps it by less than ``detection_box_iou`` is not carried."""
        flow_boxes = np.full((len(keys), 4), np.nan)
        none = None, np.zeros(0, np.int64), flow_boxes
        if self.landmark_every <= 1:
            return none
        self.flow.set_frame(frame.image)
        if not self.flow.ready or not self._carry[1]:
            return none
        last, row_of = self._carry
        rows = np.array([i for i, key in enumerate(keys.tolist()) if key in row_of], np.int64)
        if len(rows) == 0:
            return none
        if self.schedule is not None and self.schedule.close_range:
            # one person filling the view: on their turn for the network the flow would only
            # give their predicted box, which the tracker's own prediction stands in for
            rows = rows[(keys[rows] + count) % self.landmark_every != 0]
            if len(rows) == 0:
                return none
        prev = last[np.array([row_of[int(keys[i])] for i in rows], np.int64)]
        moved, ok = self.flow.propagate(prev.keypoints)
        shift = np.median(moved[ok] - prev.keypoints[ok], axis=1)         # (R', 2) pixels
        flow_boxes[rows[ok]] = prev.boxes[ok] + np.tile(shift, 2)
        carry = ok & ((keys[rows] + count) % self.landmark_every != 0)
        if checks is not None and self.detection_box_iou > 0:
            # on a detector frame: a person whose moved box and detection disagree (the flow
            # slid off them) goes through the network instead
            c = checks[rows]
            has = np.isfinite(c).all(axis=1) & ok
            if has.any():
                iou = np.diag(box_iou(flow_boxes[rows[has]], c[has]))
                bad = np.flatnonzero(has)[iou < self.detection_box_iou]
                carry[bad] = False
        idx = np.flatnonzero(carry)
        if len(idx) == 0:
            return None, np.zeros(0, np.int64), flow_boxes
        people = prev[idx]
        extras = {"carried": np.ones(len(idx), bool)}
        if "pose_score" in people.extras:
            extras["pose_score"] = people.extras["pose_score"]
        people = people.replace(keypoints=moved[idx], boxes=None, extras=extras)
        return people, rows[idx], flow_boxes

    def _keep_for_flow(self, poses: Poses, keys: np.ndarray) -> None:
        """Remember the persons the tracker matched on this frame (``keys`` (N,) their track
        keys, -1: none), for :meth:`_carried` on the next one: those with all landmarks (not
        coasting, not the detector's own keypoints)."""
        full = np.isfinite(poses.keypoints).all(axis=(1, 2))
        rows = np.flatnonzero(full & (np.asarray(keys) >= 0))
        self._carry = (poses[rows], {int(keys[r]): i for i, r in enumerate(rows)})

    def _external_detections(self, frame: Frame) -> Poses:
        """The external detector's persons, best first, at or above ``min_detection_score``,
        as :class:`Poses` in the model's skeleton (keypoints the detector does not give are
        NaN; a detector that returns boxes only gives persons with no keypoints)."""
        det, sched = self.detector, self.schedule
        if self.close_detector is not None and sched is not None:
            if sched.close_range:
                det = self.close_detector
            elif self._count == 0:
                # the first frame tries the cheap detector: one person filling the view (a
                # webcam, a fitness clip) is close range from the start, without loading and
                # running the full-size one; anything else runs the full-size one as well
                near = self._as_detections(self.close_detector(frame))
                sure = near.person_scores >= self.new_detection_score
                if sched.fills_view(near.boxes[sure], frame.shape_hw):
                    sched.close_range = True
                    return near
        return self._as_detections(det(frame))

    def _as_detections(self, out) -> Poses:
        """A detector's output (:class:`Poses`, or ``(boxes (D, 4), scores (D,))``) as
        :class:`Poses` in the model's skeleton, best first, at or above
        ``min_detection_score``."""
        if isinstance(out, Poses):
            dets = out
        else:
            b, s = out
            b = np.asarray(b, np.float32).reshape(-1, 4)
            s = np.asarray(s, np.float32).reshape(-1)
            if len(s) != len(b):
                raise ValueError(f"detector returned {len(b)} boxes but {len(s)} scores")
            dets = self._box_persons(b, s)
        keep = np.flatnonzero(dets.person_scores >= self.min_detection_score)
        keep = keep[np.argsort(-dets.person_scores[keep], kind="stable")]
        dets = dets[keep]
        if self.skeleton is not None and dets.skeleton != self.skeleton:
            dets = dets.to(self.skeleton)
        return dets

    def _match_detections(self, dets: np.ndarray, tboxes: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tracked boxes with matched detections put in their place, the indices of the
        unmatched detections (new persons), and for each tracked box the index of its
        detection (-1: none). One-to-one by IoU (Hungarian), pairs at ``match_iou`` or above."""
        det_of = np.full(len(tboxes), -1, np.int64)
        if len(dets) == 0 or len(tboxes) == 0:
            return tboxes, np.arange(len(dets)), det_of
        rows, cols, _ = match_boxes(tboxes, dets, self.match_iou, gate="after")
        tboxes = tboxes.copy()
        tboxes[rows] = dets[cols]
        det_of[rows] = cols
        new = np.ones(len(dets), bool)
        new[cols] = False
        return tboxes, np.flatnonzero(new), det_of

    def _check_with_detections(self, poses: Poses, src: np.ndarray, det_index: np.ndarray,
                               dets: Poses) -> tuple[Poses, np.ndarray]:
        """On a detector frame: drop persons no detection confirms (``require_detection``) and
        give a person whose outline box overlaps its detection's box by less than
        ``detection_box_iou`` the detection's box (its landmarks mix two people)."""
        d = det_index[src]
        if self.require_detection:
            poses, src, d = poses[d >= 0], src[d >= 0], d[d >= 0]
        has = d >= 0
        if has.any():
            b = poses.boxes.copy()
            b[has] = _blend_boxes(b[has], dets.boxes[d[has]], self.detection_box_weight,
                                  self.detection_box_iou, low_iou_takes_other=True)
            poses = poses.replace(boxes=b)
        return poses, src

    def _blend_predictions(self, poses: Poses, src: np.ndarray, tboxes: np.ndarray,
                           n_tracked: int) -> Poses:
        """Between detector frames: a tracked person's box becomes ``(1 - w) * outline box +
        w * predicted box`` (``prediction_box_weight``), where the predicted box is the track's
        last box (itself a mean with its detection on detector frames) moved by its
        constant-velocity prediction; the outline box alone where the two overlap by less than
        ``detection_box_iou`` (the track's prediction is off)."""
        tracked = np.flatnonzero(src < n_tracked)
        if len(tracked) == 0:
            return poses
        b = poses.boxes.copy()
        b[tracked] = _blend_boxes(b[tracked], tboxes[src[tracked]], self.prediction_box_weight,
                                  self.detection_box_iou, low_iou_takes_other=False)
        return poses.replace(boxes=b)

    def _coasting(self, tboxes: np.ndarray, live: np.ndarray, poses: Poses,
                  src: np.ndarray) -> tuple[Poses, np.ndarray]:
        """Between detector frames: the tracked ROIs (``tboxes`` (M, 4) xyxy pixels, predicted
        to this frame) of confirmed tracks matched on the previous frame (``live`` (M,) bool)
        that gave no kept pose (occluded, or the landmark network's presence score fell below
        its threshold) and that no kept pose covers (IoU above 0.7), as persons on their
        predicted box with no keypoints (NaN, scores 0), person score 0 and
        ``extras["coasting"]`` True; and their ROI rows. The next detector frame decides
        whether they are still there."""
        got = set(np.asarray(src).tolist())
        rows = np.array([i for i in range(len(tboxes)) if live[i] and i not in got], np.int64)
        if len(rows) and len(poses):
            rows = rows[box_iou(tboxes[rows], poses.boxes).max(axis=1) <= 0.7]
        out = self._box_persons(tboxes[rows], np.zeros(len(rows), np.float32))
        return out.replace(extras={"coasting": np.ones(len(rows), bool)}), rows

    def _box_persons(self, boxes: np.ndarray, scores: np.ndarray) -> Poses:
        """Persons known by their box only: ``boxes`` (N, 4) xyxy pixels, ``scores`` (N,), in
        the model's skeleton with every keypoint NaN (score 0)."""
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        k = len(self.skeleton) if self.skeleton is not None else 0
        return Poses(np.full((len(b), k, 2), np.nan, np.float32),
                     np.zeros((len(b), k), np.float32), self.skeleton, boxes=b,
                     person_scores=np.asarray(scores, np.float32).reshape(-1))

    def _detected_but_lost(self, dets: Poses, det_index: np.ndarray, n_tracked: int,
                           poses: Poses, src: np.ndarray, width: int) -> Poses:
        """Detections whose ROI gave no kept pose (the landmark network found no person, or
        converged onto a neighbour): the detector's persons themselves (box, score, its
        keypoints where it has them), unless one of the kept poses already covers the box
        (IoU above 0.7). Detections of no tracked person must score at least
        ``new_detection_score`` (as ByteTrack, low-score detections only continue tracks).
        A box touching the left or right edge of the frame (``width`` pixels) and narrower
        than ``edge_min_aspect`` times its height is a person mostly outside the frame and is
        not kept."""
        got = set(np.asarray(src).tolist())
        lost = [int(d) for i, d in enumerate(det_index) if d >= 0 and i not in got
                and (i < n_tracked or dets.person_scores[d] >= self.new_detection_score)]
        if not lost:
            return dets[np.zeros(0, np.int64)]
        lost_p = dets[np.asarray(lost, np.int64)]
        if self.edge_min_aspect > 0 and len(lost_p):
            b = lost_p.boxes
            edge = (b[:, 0] <= 1) | (b[:, 2] >= width - 1)
            thin = (b[:, 2] - b[:, 0]) < self.edge_min_aspect * (b[:, 3] - b[:, 1])
            lost_p = lost_p[~(edge & thin)]
        if len(poses):
            lost_p = lost_p[box_iou(lost_p.boxes, poses.boxes).max(axis=1) <= 0.7]
        return lost_p

    def _tracked(self, rois: np.ndarray, boxes: np.ndarray, scale: float) -> np.ndarray:
        """(D,) bool: detector ROI ``(cx, cy, side, rot)`` whose centre lies within
        ``same_person`` box heights of a tracked box's centre, with a side within a factor 1.5
        of that box's ROI side."""
        tc = (boxes[:, :2] + boxes[:, 2:]) / 2
        th = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        side = scale * np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
        d = np.linalg.norm(rois[:, None, :2] - tc[None], axis=2) / th[None]
        ratio = rois[:, 2:3] / np.maximum(side[None], 1.0)
        return ((d < self.same_person) & (ratio < 1.5) & (ratio > 1 / 1.5)).any(axis=1)

    def _empty(self) -> Poses:
        return Poses.empty(self.skeleton, with_world=True)

    def _dedupe(self, poses: Poses, tracked: np.ndarray) -> np.ndarray:
        """Indices of the poses to keep: a pose whose keypoints lie within ``duplicate_distance``
        body heights of a kept pose's (median over the keypoints) repeats it (two ROIs that
        converged onto one person); poses from tracked ROIs are kept first, then by score."""
        order = np.lexsort((-poses.person_scores, ~tracked))
        kp = np.asarray(poses.keypoints, np.float64)
        h = np.maximum(poses.boxes[:, 3] - poses.boxes[:, 1], 1.0)
        d = np.linalg.norm(kp[:, None] - kp[None], axis=3)                      # (N, N, K)
        if np.isfinite(d).all():
            dist = np.median(d, axis=2)          # np.nanmedian is far slower on small arrays
        else:
            with warnings.catch_warnings():  # all-NaN pairs: NaN, which counts as a repeat
                warnings.simplefilter("ignore", RuntimeWarning)
                dist = np.nanmedian(d, axis=2)
        apart = dist >= self.duplicate_distance * np.minimum(h[:, None], h[None])   # (N, N)
        keep: list[int] = []
        for i in order.tolist():
            if apart[i, keep].all():
                keep.append(i)
        return np.sort(np.array(keep, np.int64))


#: The tracker's ``roi_bonus`` (:class:`~posekit.track.tracker.TrackerConfig`) in top-down
#: tracking with the YOLO person detector: a person found from a track's ROI stays with that
#: track unless another pairing is clearly better. Chosen where the ID metrics hold across the
#: detector's numerics, not on one run: PETS09-S2L1's IDF1 moves by up to 10 points when the
#: INT8 detector's roundings change (a CPU with or without VNNI), so each setting was measured
#: three ways (``bench/bench_mot.py --default`` on PETS09-S2L1, TUD-Campus and TUD-Stadtmitte:
#: INT8 with AVX-512 VNNI, INT8 capped at AVX2 with ``--isa avx2``, float32 with
#: ``--float-detector``; ``--tracker roi_bonus=0`` for the figures before). 0 -> 0.3:
#: PETS09-S2L1 MOTA / IDF1 85.7 / 69.9 -> 85.9 / 80.5, 85.5 / 79.3 -> 85.6 / 75.3, 86.1 / 76.8
#: -> 85.9 / 76.4; mean IDF1 over the nine runs 72.7 -> 73.4, mean MOTA 70.6 -> 70.9
#: (TUD-Campus up, TUD-Stadtmitte down 0.4-2.3 IDF1).
#: Other knobs measured the same way moved the mean less (``min_appearance`` 0.5: IDF1 73.4,
#: MOTA 69.8; ``min_similarity`` 0.35: IDF1 72.8).
TOPDOWN_ROI_BONUS = 0.3


def make_topdown(landmarks, *, detector: str = "yolo", detector_size: int = 1280,
                 detect_every: int | str = "auto", landmark_every: int = 1,
                 close_detector_size: int = 320) -> TopDownTracker:
    """The top-down model: a :class:`posekit.models.LandmarkModel` tracked with a person
    detector (``"yolo"``: :func:`posekit.models.yolo.person_detector` at ``detector_size``
    pixels; ``"model"``: the landmark model's own ``detect``). With ``detect_every="auto"`` the
    :class:`DetectorSchedule` decides when the detector runs, and YOLO runs at
    ``close_detector_size`` while one person fills the view. With YOLO the tracker favours
    the track whose ROI found a person (``roi_bonus`` :data:`TOPDOWN_ROI_BONUS`).

    Raises:
        ConfigError: ``landmarks`` is not a landmark model, or a bad detector name.
    """
    from ..config import DETECTORS
    from ..errors import ConfigError
    from ..models import LandmarkModel

    if not isinstance(landmarks, LandmarkModel):
        name = getattr(landmarks, "name", landmarks)
        raise ConfigError(f"top-down tracking: expected a landmark model (roi_scale, detect, "
                          f"boxes=...; e.g. blazepose), got {name!r}")
    if detector not in DETECTORS[1:]:
        raise ConfigError(f"detector: expected one of {', '.join(DETECTORS[1:])}, got "
                          f"{detector!r}")
    kw: dict = {"landmark_every": int(landmark_every)}
    tracker = Tracker(roi_bonus=TOPDOWN_ROI_BONUS if detector == "yolo" else 0.0)
    if detector == "yolo":
        from ..models.yolo import person_detector

        kw["detector"] = person_detector(detector_size)
        if detect_every == "auto" and detector_size > close_detector_size:
            kw["close_detector"] = kw["detector"].at_size(close_detector_size)
        kw["detect_every"] = detect_every
    elif detect_every != "auto":
        kw["detect_every"] = detect_every
    return TopDownTracker(landmarks, tracker, **kw)


def topdown_model(*, landmarks: str = "blazepose", detector: str = "yolo",
                  detector_size: int = 1280, detect_every: int | str = "auto",
                  landmark_every: int = 1, **landmark_settings) -> TopDownTracker:
    """The registered model ``topdown`` (``load_model("topdown", detector="yolo")``): the
    landmark model registered as ``landmarks`` (video mode, ``landmark_settings`` passed on)
    tracked top-down by :func:`make_topdown`. Its output has stable ``track_ids``.

    Raises:
        ConfigError: an unknown setting, or as :func:`make_topdown`.
    """
    from ..models import load_model

    model = load_model(landmarks, **{"mode": "video", **landmark_settings})
    try:
        return make_topdown(model, detector=detector, detector_size=detector_size,
                            detect_every=detect_every, landmark_every=landmark_every)
    except BaseException:
        model.close()
        raise


class DetectorSchedule:
    """The adaptive person-detector cadence of top-down tracking (``detect_every="auto"``).

    The detector (the costly step: YOLO at 1280 px costs about ten landmark passes) runs:

    - on the first frame, and on the frame after a person tracked on the previous frame was
      lost inside the frame (no landmarks and no detection: coasting, or no person from
      their ROI);
    - otherwise every ``min_every`` frames while several persons are tracked, or one person
      smaller than ``fill`` of the frame's height (new people may enter unseen);
    - every ``max_every`` frames while exactly one person is tracked (confirmed, or new and
      seen on the last frame) whose box is at least ``fill`` of the frame's height (one
      person filling the view: the landmark stage tracks them alone, and the periodic run
      still finds anyone who enters); such a frame sets :attr:`close_range`, on which the
      top-down model may use a cheaper detector (:class:`TopDownTracker` also tries that
      one first on the first frame).

    Args:
        min_every, max_every: the shortest and longest intervals in frames (>= 1).
        fill: box height / frame height at which one tracked person fills the view.
        inside: a lost person counts (calls the detector on the next frame) only where at
            least this fraction of their predicted box lies inside the frame: one lost
            across the frame's edge has left the view, and the periodic runs find them if
            they come back.
    """

    def __init__(self, *, min_every: int = 2, max_every: int = 30, fill: float = 0.25,
                 inside: float = 0.99):
        if not 1 <= min_every <= max_every:
            raise ValueError(f"DetectorSchedule: expected 1 <= min_every <= max_every, got "
                             f"{min_every}, {max_every}")
        if not 0.0 < fill <= 1.0:
            raise ValueError(f"DetectorSchedule.fill: expected (0, 1], got {fill}")
        if not 0.0 <= inside <= 1.0:
            raise ValueError(f"DetectorSchedule.inside: expected [0, 1], got {inside}")
        self.min_every, self.max_every, self.fill = int(min_every), int(max_every), float(fill)
        self.inside = float(inside)
        self.reset()

    def reset(self) -> None:
        self._lost = True
        self.close_range = False

    def due(self, count: int, since: int, tracked_boxes: np.ndarray,
            shape_hw: tuple[int, int]) -> bool:
        """Whether the detector runs on this frame.

        Args:
            count: 0-based frame count since the start (or :meth:`reset`).
            since: frames since the detector last ran.
            tracked_boxes: (T, 4) xyxy pixels, the tracks' predicted boxes (confirmed tracks
                and new ones seen on the last frame).
            shape_hw: the frame's (height, width) in pixels.
        """
        self.close_range = self.fills_view(tracked_boxes, shape_hw)
        every = self.max_every if self.close_range else self.min_every
        if count == 0 or self._lost:
            return True
        return since + 1 >= every

    def fills_view(self, boxes: np.ndarray, shape_hw: tuple[int, int]) -> bool:
        """Whether ``boxes`` (T, 4) xyxy pixels are exactly one person at least ``fill`` of
        the frame's height (``shape_hw`` (height, width) pixels) tall."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        return len(b) == 1 and float(b[0, 3] - b[0, 1]) >= self.fill * shape_hw[0]

    def observe(self, live_rows: np.ndarray, found_rows: np.ndarray, boxes: np.ndarray,
                shape_hw: tuple[int, int]) -> None:
        """Note the frame's outcome: a person tracked on the previous frame and lost on this
        one inside the frame makes the next frame a detector frame.

        Args:
            live_rows: (L,) int ROI rows of the confirmed tracks matched on the previous frame.
            found_rows: (F,) int ROI rows that gave a person with landmarks on this frame
                (-1, or rows past the tracked ones, for other persons: new detections, and
                those kept from the detector's box alone; coasting persons left out).
            boxes: (M, 4) xyxy pixels, the tracked ROI rows' boxes on this frame (predicted,
                or their detection's); a lost row with less than :attr:`inside` of its box
                inside the frame does not count.
            shape_hw: the frame's (height, width) in pixels.

        A track lost for longer (whose ROI the tracker still offers for up to
        ``roi_max_gap_s``) or a tentative one does not trigger the detector again on every
        frame (counting every tracked ROI ran the detector on most frames of a crowded clip,
        and lowered IDF1; the README's tracking table has the figures).
        """
        lost = np.setdiff1d(np.asarray(live_rows, np.int64), np.asarray(found_rows, np.int64))
        if len(lost):
            b = np.asarray(boxes, np.float64).reshape(-1, 4)[lost]
            lost = lost[_inside_fraction(b, shape_hw) >= self.inside]
        self._lost = bool(len(lost))


def _blend_boxes(boxes: np.ndarray, other: np.ndarray, weight: float, min_iou: float, *,
                 low_iou_takes_other: bool) -> np.ndarray:
    """(N, 4) xyxy pixels: ``(1 - weight) * boxes + weight * other`` row by row (two estimates
    of the same person's box), except where the pair overlaps by less than ``min_iou``: there
    ``other`` (``low_iou_takes_other``) or ``boxes`` alone."""
    iou = np.diag(box_iou(boxes, other))
    out = (1 - weight) * boxes + weight * other
    low = iou < min_iou
    out[low] = (other if low_iou_takes_other else boxes)[low]
    return out


def _inside_fraction(boxes: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """(N,) fraction of each xyxy box's area inside a frame of ``shape_hw``."""
    h, w = shape_hw
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    area = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    cb = np.stack([np.clip(b[:, 0], 0, w), np.clip(b[:, 1], 0, h), np.clip(b[:, 2], 0, w),
                   np.clip(b[:, 3], 0, h)], axis=1)
    inner = np.prod(np.clip(cb[:, 2:] - cb[:, :2], 0, None), axis=1)
    return np.where(area > 0, inner / np.maximum(area, 1e-9), 0.0)
