"""TopDownTracker with an external person detector: the rules that decide who is output.

A stand-in landmark model (no network) returns the synthetic standing figure of tests/track/synth.py
for every ROI whose box centre lies on one of the "people" of the scene, and nobody elsewhere,
so each rule can be checked exactly. The real-video behaviour (YOLO + BlazePose on PETS09-S2L1
and TUD-Campus) is tested in tests/eval/test_mot.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.eval.mot import pose_boxes_for_mot
from posekit.skeletons import BLAZEPOSE_33, COCO_17
from posekit.track import TopDownTracker, Tracker
from posekit.types import Frame, Poses
from tests.track.synth import persons

H = 100.0  # body height of every person, pixels


class StandIn:
    """Landmark stage stand-in: ``model(frame, boxes=boxes)`` gives the person of ``people``
    nearest to each box centre if that centre lies within 0.3 body heights of the person's hip
    centre; ``extras["box_index"]`` as BlazePose's (a :class:`posekit.models.LandmarkModel`)."""

    skeleton = BLAZEPOSE_33
    roi_scale = 1.4          # the LandmarkModel protocol

    def __init__(self, people):
        self.people = np.asarray(people, np.float64).reshape(-1, 2)
        self.calls = []

    def detect(self, image):  # pragma: no cover - not used with an external detector
        raise AssertionError("the model's own detector must not run")

    def __call__(self, frame, boxes=None):
        boxes = np.asarray(boxes, np.float64)
        self.calls.append(boxes)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        hits, idx = [], []
        for i, c in enumerate(centres):
            if len(self.people) == 0:
                continue
            d = np.linalg.norm(self.people - c, axis=1)
            if d.min() < 0.3 * H:
                hits.append(self.people[d.argmin()])
                idx.append(i)
        if not hits:
            return Poses.empty(BLAZEPOSE_33, with_world=True)
        p = persons(hits, [H] * len(hits), BLAZEPOSE_33)
        return p.replace(world=np.zeros((len(p), 33, 3)),
                         extras={"box_index": np.asarray(idx, np.int64)})


def person_box(cx: float, cy: float) -> list[float]:
    """A pedestrian box (0.36 H wide, H tall) around hip centre (cx, cy)."""
    return [cx - 0.18 * H, cy - 0.5 * H, cx + 0.18 * H, cy + 0.5 * H]


def frame(i: int) -> Frame:
    return Frame(np.zeros((480, 640, 3), np.uint8), i, i / 10.0)


def detector_of(*boxes, scores=None):
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    s = np.full(len(b), 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    return lambda f: (b, s)


def test_detections_start_tracks_and_external_detector_replaces_the_models():
    model = StandIn([(200, 240), (400, 240)])
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(
        person_box(200, 240), person_box(400, 240)), detect_every=1, appearance=False)
    out = stage(frame(0))
    assert sorted(out.track_ids.tolist()) == [1, 2]
    # outline boxes are marked, so MOT rows use them as they are
    assert out.extras["boxes_kind"] == "outline"
    np.testing.assert_array_equal(pose_boxes_for_mot(out), out.boxes)


def test_detected_person_kept_when_landmarks_find_nobody():
    # the detector sees a person at x=400 where the landmark stage finds nobody (occluded)
    model = StandIn([(200, 240)])
    det = person_box(400, 240)
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(
        person_box(200, 240), det), detect_every=1, appearance=False)
    found = stage(frame(0))
    assert len(found) == 2
    kept = found[np.argmax(found.boxes[:, 0])]
    np.testing.assert_allclose(kept.boxes[0], det, atol=1e-4)
    assert np.isnan(kept.keypoints).all()        # a box-only detector gives no keypoints
    stage.keep_detections = False
    assert len(stage(frame(1))) == 1


def test_thin_detection_at_the_frame_edge_is_not_kept():
    """A detected person the landmark stage loses is not kept when the box touches the left
    or right edge of the frame and is narrower than 0.15 of its height (mostly outside the
    frame, as the TUD-Stadtmitte person standing just left of the picture, 32 x 280 px); a
    wider box at the edge, or the thin one with edge_min_aspect=0, is kept."""
    model = StandIn([])
    thin_left = [0, 100, 12, 200]                 # 0.12 of its height, at x = 0
    thin_right = [630, 100, 640, 200]             # at the right edge of the 640 px frame
    wide_left = [0, 100, 30, 200]                 # 0.3 of its height
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(
        thin_left, thin_right, wide_left), detect_every=1, appearance=False)
    out = stage(frame(0))
    np.testing.assert_allclose(out.boxes, [wide_left], atol=1e-4)
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(
        thin_left, thin_right, wide_left), detect_every=1, appearance=False,
        edge_min_aspect=0)
    assert len(stage(frame(0))) == 3


def test_detector_keypoints_are_mapped_to_the_models_skeleton():
    model = StandIn([])
    yolo_like = persons([(300, 240)], [H], COCO_17).replace(
        boxes=np.asarray([person_box(300, 240)], np.float32),
        person_scores=np.asarray([0.8], np.float32))
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=lambda f: yolo_like,
                           detect_every=1, appearance=False)
    out = stage(frame(0))
    assert len(out) == 1 and out.skeleton == BLAZEPOSE_33
    nose = BLAZEPOSE_33.index("nose")
    np.testing.assert_allclose(out.keypoints[0, nose],
                               yolo_like.keypoints[0, COCO_17.index("nose")], atol=1e-4)
    assert np.isnan(out.keypoints[0, BLAZEPOSE_33.index("left_heel")]).all()


def test_low_score_detection_continues_a_track_but_starts_none():
    # nobody for the landmark stage: every person output is a kept detection
    model = StandIn([])
    steps = iter([detector_of(person_box(300, 240), scores=[0.9]),
                  detector_of(person_box(303, 240), person_box(500, 240), scores=[0.3, 0.3])])
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=lambda f: next(steps)(f),
                           detect_every=1, appearance=False, min_detection_score=0.1)
    assert stage(frame(0)).track_ids.tolist() == [1]
    out = stage(frame(1))
    # the 0.3 detection of the tracked person continues track 1; the new one at x=500 is
    # below new_detection_score (0.5) and is not kept
    assert out.track_ids.tolist() == [1]
    assert len(stage.last_poses) == 1


def test_unconfirmed_tracked_roi_dropped_on_detector_frames():
    # frame 0: two persons detected; then the detector sees only the first, while the landmark
    # stage still finds something at the second's predicted ROI (a drifted track)
    model = StandIn([(200, 240), (400, 240)])
    both = detector_of(person_box(200, 240), person_box(400, 240))
    one = detector_of(person_box(200, 240))
    calls = iter([both, one, one])
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=lambda f: next(calls)(f),
                           detect_every=1, appearance=False)
    assert len(stage(frame(0))) == 2
    assert len(stage(frame(1))) == 1
    stage.require_detection = False
    assert len(stage(frame(2))) == 2


def test_mixed_landmarks_take_the_detection_box():
    # the landmark stage returns a figure far taller than the detection (two people mixed)
    model = StandIn([(300, 240)])
    det = [300 - 18, 240 - 20, 300 + 18, 240 + 20]     # a box 40 px tall around the hips
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(det),
                           detect_every=1, appearance=False, keep_detections=False,
                           detection_box_weight=0.0)
    out = stage(frame(0))
    np.testing.assert_allclose(out.boxes[0], det, atol=1e-4)
    stage.detection_box_iou = 0.0
    out = stage(frame(1))
    assert out.boxes[0][3] - out.boxes[0][1] > 90       # the outline box of the 100 px figure


def test_box_is_the_mean_of_outline_and_detection():
    model = StandIn([(300, 240)])
    outline = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(
        person_box(300, 240)), detect_every=1, appearance=False, detection_box_weight=0.0)
    ob = outline(frame(0)).boxes[0]
    det = np.asarray(person_box(304, 236), np.float32)    # a detection 4 px off
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(det),
                           detect_every=1, appearance=False)
    out = stage(frame(0))
    np.testing.assert_allclose(out.boxes[0], (ob + det) / 2, atol=1e-3)


def test_between_detector_frames_box_is_the_mean_of_outline_and_prediction():
    """Frame 0 runs the detector (box = mean of outline and a detection 4 px off); frame 1
    does not: the box is the mean of the outline and the track's box predicted to frame 1
    (a still person: frame 0's box), or the outline alone with prediction_box_weight=0."""
    model = StandIn([(300, 240)])
    det = np.asarray(person_box(304, 236), np.float32)
    boxes = {}
    for w in (0.0, 0.5):
        stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(det),
                               detect_every=2, appearance=False, prediction_box_weight=w)
        b0 = stage(frame(0)).boxes[0]
        out = stage(frame(1))
        assert len(out) == 1
        boxes[w] = (b0, out.boxes[0])
    outline = boxes[0.0][1]
    np.testing.assert_allclose(boxes[0.5][1], (outline + boxes[0.5][0]) / 2, atol=1e-3)
    assert np.abs(boxes[0.5][1] - outline).max() > 0.5     # the blend moved it


def test_person_lost_between_detector_frames_coasts_until_the_next_one():
    """Detector every 2nd frame. The landmark stage loses the person at x=400 from frame 1
    on: on frame 1 they are output on their predicted box (a still person: frame 0's box),
    with their ID, no keypoints and ``coasting`` True. On frame 2 the detector no longer sees
    them either, so they are dropped, and on frame 3 their track (not seen on frame 2) does
    not coast."""
    model = StandIn([(200, 240), (400, 240)])
    seen = [person_box(200, 240), person_box(400, 240)]

    def detector(f):
        return np.asarray(seen, np.float32).reshape(-1, 4), np.full(len(seen), 0.9)

    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector, detect_every=2,
                           appearance=False)
    out0 = stage(frame(0))
    assert len(out0) == 2
    right = int(np.argmax(out0.boxes[:, 0]))
    model.people = model.people[:1]
    out1 = stage(frame(1))
    assert len(out1) == 2
    c = np.asarray(out1.extras["coasting"])
    assert c.tolist().count(True) == 1
    assert out1.track_ids[c][0] == out0.track_ids[right]
    np.testing.assert_allclose(out1.boxes[c][0], out0.boxes[right], atol=1e-3)
    assert np.isnan(out1.keypoints[c]).all() and (out1.scores[c] == 0).all()
    assert not np.isnan(out1.keypoints[~c]).any()
    seen.pop()
    assert len(stage(frame(2))) == 1
    assert len(stage(frame(3))) == 1
    # coast=False: the lost person is simply not output between detector frames
    model.people = np.asarray([(200, 240), (400, 240)], np.float64)
    seen.append(person_box(400, 240))
    off = TopDownTracker(model, Tracker(min_hits=1), detector=detector, detect_every=2,
                         appearance=False, coast=False)
    assert len(off(frame(0))) == 2
    model.people = model.people[:1]
    assert len(off(frame(1))) == 1


def test_landmark_every_carries_tracked_persons_by_optical_flow():
    """landmark_every=2 on a still, textured scene: after frame 0 each tracked person gets the
    landmark network on every 2nd frame only (the tracks take turns), and on the other frames
    keeps its track ID with its landmarks carried by the flow (a still scene: unchanged),
    marked ``extras["carried"]``. On a frame with no texture the flow fails and every
    tracked person goes through the network again."""
    people = [(150, 240), (320, 240), (490, 240)]
    model = StandIn(people)
    texture = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(texture, (5, 5), 1.5)

    def textured(i):
        return Frame(texture, i, i / 10.0)

    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector_of(
        *[person_box(x, y) for x, y in people]), detect_every=1, appearance=False,
        landmark_every=2)
    out0 = stage(textured(0))
    assert len(out0) == 3 and len(model.calls[-1]) == 3
    ids = dict(zip(np.round(out0.boxes[:, 0]).tolist(), out0.track_ids.tolist()))
    run = []
    for i in range(1, 5):
        before = len(model.calls)
        out = stage(textured(i))
        assert len(out) == 3
        assert dict(zip(np.round(out.boxes[:, 0]).tolist(), out.track_ids.tolist())) == ids
        carried = np.asarray(out.extras["carried"])
        run.append(len(model.calls[-1]) if len(model.calls) > before else 0)
        assert carried.sum() + run[-1] == 3
        np.testing.assert_allclose(out.keypoints[carried],
                                   out0.keypoints[np.isin(out0.track_ids,
                                                          out.track_ids[carried])],
                                   atol=0.05)
    assert sorted(run) == [1, 1, 2, 2]        # 3 tracks, each every 2nd frame
    n_calls = len(model.calls)
    out = stage(Frame(np.full((480, 640, 3), 90, np.uint8), 5, 0.5))
    assert len(model.calls) == n_calls + 1 and len(model.calls[-1]) == 3
    assert not np.asarray(out.extras.get("carried", np.zeros(3, bool))).any()
    with pytest.raises(ValueError, match="landmark_every"):
        TopDownTracker(model, landmark_every=0)


@pytest.mark.parametrize("check", [True, False])
def test_carried_person_goes_through_the_network_where_the_detection_disagrees(check):
    """landmark_every=2 on a still, textured scene: the flow keeps a tracked person where they
    were, but from frame 1 on the detector puts them 0.15 body heights to the right (box IoU
    0.41 with the person's box, below ``detection_box_iou`` 0.5). With the check the person
    goes through the landmark network on both frames (and the network finds them at the
    detection); with ``detection_box_iou=0`` they are carried on the frame that is not their
    turn."""
    texture = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(texture, (5, 5), 1.5)
    model = StandIn([(320, 240)])
    boxes = [np.asarray([person_box(320, 240)], np.float32)]
    stage = TopDownTracker(model, Tracker(min_hits=1), detect_every=1, appearance=False,
                           detector=lambda f: (boxes[0], np.array([0.9], np.float32)),
                           landmark_every=2, detection_box_iou=0.5 if check else 0.0)
    assert len(stage(Frame(texture, 0, 0.0))) == 1
    model.people = np.array([[320 + 0.15 * H, 240.0]])
    boxes[0] = np.asarray([person_box(320 + 0.15 * H, 240)], np.float32)
    carried = []
    for i in (1, 2):
        out = stage(Frame(texture, i, i / 10.0))
        assert len(out) == 1 and out.track_ids.tolist() == [1]
        carried.append(bool(np.asarray(out.extras.get("carried", [False]))[0]))
    assert carried == [False, False] if check else sorted(carried) == [False, True]
    if check:   # the network's landmarks, at the detection: the hips 0.15 H to the right
        hip = out.keypoints[0, [23, 24]].mean(axis=0)
        assert abs(hip[0] - (320 + 0.15 * H)) < 2.0, hip


def test_detector_errors():
    model = StandIn([])
    stage = TopDownTracker(model, Tracker(), detector=lambda f: (np.zeros((2, 4)), [0.5]),
                           detect_every=1)
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        stage(frame(0))


def test_stand_in_is_a_landmark_model_and_topdown_is_registered():
    from posekit.models import LandmarkModel, available_models

    assert isinstance(StandIn([]), LandmarkModel)
    assert not isinstance(object(), LandmarkModel)
    assert "topdown" in available_models()



@pytest.mark.parametrize("x, calls", [(400, [0, 2, 3]), (625, [0, 2])])
def test_only_a_person_lost_inside_the_frame_calls_the_detector_again(x, calls):
    """Adaptive cadence (``detect_every="auto"``), two persons: the detector runs on frames 0
    and 2. When the person at ``x`` vanishes on frame 2 (from the landmark stage and the
    detector alike), the detector runs again on frame 3 to look for them, unless their box
    reached past the frame's right edge (640 px): a person walking out of the picture."""
    model = StandIn([(200, 240), (x, 240)])
    seen = [person_box(200, 240), person_box(x, 240)]
    ran = []

    def detector(f):
        ran.append(f.index)
        return np.asarray(seen, np.float32).reshape(-1, 4), np.full(len(seen), 0.9)

    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector,
                           detect_every="auto", appearance=False)
    assert len(stage(frame(0))) == 2
    assert len(stage(frame(1))) == 2
    model.people, seen[:] = model.people[:1], seen[:1]
    stage(frame(2))
    for i in range(3, 6):
        stage(frame(i))
    assert ran[:len(calls)] == calls and (len(ran) == len(calls) or ran[len(calls)] > 3)


@pytest.mark.parametrize("people", [[(200, 150)], [(100, 150), (300, 150)]])
def test_the_first_frame_tries_the_close_range_detector(people):
    """Adaptive cadence with a close-range detector, 400x300 frames: one person filling the
    view (100 px tall, at least a quarter of the height) is found on frame 0 by the cheap
    detector alone, and the full-size one never runs in the next frames (close range); with
    two persons frame 0 runs the full-size detector as well."""
    model = StandIn(people)
    boxes = np.asarray([person_box(x, y) for x, y in people], np.float32)
    ran: dict[str, list[int]] = {"full": [], "close": []}

    def detector(kind):
        def run(f):
            ran[kind].append(f.index)
            return boxes, np.full(len(boxes), 0.9, np.float32)
        return run

    stage = TopDownTracker(model, Tracker(min_hits=1), detector=detector("full"),
                           close_detector=detector("close"), detect_every="auto",
                           appearance=False)
    for i in range(4):
        out = stage(Frame(np.zeros((300, 400, 3), np.uint8), i, i / 10.0))
        assert len(out) == len(people)
    assert ran["close"][:1] == [0]
    assert ran["full"] == ([] if len(people) == 1 else [0, 2])


def test_close_range_skips_the_flow_on_the_persons_network_turn():
    """One person filling the view (close range), landmarks every 3rd frame: the optical flow
    follows the person only on the frames between their network turns (two of every three),
    never on a turn; the person is output on every frame."""
    model = StandIn([(200, 150)])
    box = np.asarray([person_box(200, 150)], np.float32)
    stage = TopDownTracker(model, Tracker(min_hits=1), detector=lambda f: (box, np.ones(1)),
                           close_detector=lambda f: (box, np.ones(1)), detect_every="auto",
                           appearance=False, landmark_every=3)
    followed = []
    propagate = stage.flow.propagate

    def spy(kp):
        followed.append(stage._count - 1)      # the frame count (incremented before)
        return propagate(kp)

    stage.flow.propagate = spy
    for i in range(10):
        out = stage(Frame(np.zeros((300, 400, 3), np.uint8), i, i / 10.0))
        assert len(out) == 1
    key = int(stage.tracker.last_keys[0])
    turns = [c for c in range(1, 10) if (key + c) % 3 == 0]
    assert followed and not set(followed) & set(turns), (followed, turns)
    assert len(followed) >= 5
