"""``holistic``: body, hands and face per person, against MediaPipe Holistic (one person) and on
multi-person photos and a real clip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.errors import ModelError
from posekit.models import load_model
from posekit.skeletons import HAND_21, HOLISTIC_543
from posekit.types import Frame
from tests.conftest import data_path

PARTS_PX = 0.5     # largest hand/face landmark distance to mp.solutions.holistic, pixels,
                   # from MediaPipe's own body landmarks
BODY_PX = 2.0      # median body landmark distance to mp.solutions.holistic, pixels
OWN_PX = 8.0       # median hand/face landmark distance, posekit's body model end to end
IMAGES = ["yolov5/data/images/zidane.jpg", "opencv-doc/messi5.jpg",
          "openpose/examples/media/COCO_val2014_000000000294.jpg",
          "openpose/examples/media/COCO_val2014_000000000328.jpg"]


def read(rel: str) -> np.ndarray:
    img = cv2.imread(str(data_path(rel)))
    assert img is not None, rel
    return img


def found(poses, part: str, i: int) -> bool:
    return bool(np.isfinite(poses.part(part).keypoints[i]).all())


@pytest.fixture(scope="module")
def holistic():
    m = load_model("holistic", mode="image")
    yield m
    m.close()


def test_parts_agree_with_mediapipe_holistic(holistic):
    """Given MediaPipe Holistic's own body landmarks, the hands and face follow its graph to a
    fraction of a pixel (PARTS_PX); with posekit's own body model end to end, the body agrees
    to BODY_PX and the parts to a few pixels (the hand re-crop network amplifies small
    differences of the pose's wrist, index and pinky)."""
    mp = pytest.importorskip("mediapipe")
    from posekit.models.mediapipe_tasks import quiet_native_stderr
    from posekit.skeletons import BLAZEPOSE_33
    from posekit.types import Poses

    with quiet_native_stderr():
        ref = mp.solutions.holistic.Holistic(static_image_mode=True)
    compared = {"left_hand": 0, "right_hand": 0, "face": 0}
    try:
        for rel in IMAGES:
            img = read(rel)
            r = ref.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            h, w = img.shape[:2]

            def pts(lm, w=w, h=h):
                return None if lm is None else np.array([[q.x * w, q.y * h]
                                                         for q in lm.landmark])

            body = pts(r.pose_landmarks)
            assert body is not None, rel
            vis = np.array([q.visibility for q in r.pose_landmarks.landmark])
            theirs_body = Poses(body[None], vis[None], BLAZEPOSE_33)
            same = holistic.parts(img, theirs_body)
            own = holistic(img)
            d = [np.median(np.linalg.norm(own.keypoints[k, :33] - body, axis=1))
                 for k in range(len(own))]
            i = int(np.argmin(d))
            assert d[i] <= BODY_PX, (rel, d[i])
            for part, lm in (("left_hand", r.left_hand_landmarks),
                             ("right_hand", r.right_hand_landmarks),
                             ("face", r.face_landmarks)):
                theirs = pts(lm)
                if theirs is None:
                    continue
                assert found(same, part, 0), (rel, part)
                exact = np.linalg.norm(same.part(part).keypoints[0] - theirs, axis=1)
                assert exact.max() <= PARTS_PX, (rel, part, exact.max())
                compared[part] += 1
                if found(own, part, i):
                    dist = np.linalg.norm(own.part(part).keypoints[i] - theirs, axis=1)
                    assert np.median(dist) <= OWN_PX, (rel, part, np.median(dist))
    finally:
        ref.close()
    assert compared["face"] >= 3 and compared["left_hand"] + compared["right_hand"] >= 4


def test_every_person_gets_parts_on_multi_person_photos():
    # AlphaPose's demo photo 2: MediaPipe Holistic gives one person's hand; posekit gives the
    # hands of every person whose hands are large enough (YOLO persons, 'hybrid' body)
    m = load_model("holistic", mode="image", body="hybrid")
    try:
        p = m(read("AlphaPose/examples/demo/2.jpg"))
        with_hands = [i for i in range(len(p))
                      if found(p, "left_hand", i) or found(p, "right_hand", i)]
        assert len(with_hands) >= 2
        # zidane.jpg: both men get a face; the one visible hand (the pointing hand) is found
        z = m(read("yolov5/data/images/zidane.jpg"))
        assert len(z) == 2
        assert all(found(z, "face", i) for i in range(2))
        hands = [z.part(s).keypoints[i] for i in range(2) for s in ("left_hand", "right_hand")
                 if found(z, s, i)]
        assert hands
        tip = np.array([1100.0, 418.0])    # the pointing index fingertip, pixels (by eye)
        assert min(np.linalg.norm(h[8] - tip) for h in hands) < 40
    finally:
        m.close()


def test_skeleton_parts_world_and_rois(holistic):
    p = holistic(read("opencv-doc/messi5.jpg"))
    assert p.skeleton == HOLISTIC_543 and p.keypoints.shape[1:] == (543, 2)
    i = 0
    assert found(p, "left_hand", i) and found(p, "right_hand", i) and found(p, "face", i)
    lh = p.part("left_hand")
    assert lh.skeleton == HAND_21
    # a hand's world landmarks hang from the body's world wrist
    np.testing.assert_allclose(lh.world[i, 0], p.world[i, 15], atol=1e-5)
    assert 0.04 < np.linalg.norm(lh.world[i, 9] - lh.world[i, 0]) < 0.15
    assert np.isfinite(p.extras["left_hand_roi"][i]).all()
    assert np.isnan(p.world[i, 75:]).all()


def test_blank_image_gives_nobody(holistic):
    for shape in ((480, 640, 3), (720, 1280, 3)):
        p = holistic(np.zeros(shape, np.uint8))
        assert len(p) == 0 and p.skeleton == HOLISTIC_543


def test_track_ids_are_shared_by_hands_and_face():
    from posekit.track.tracker import Tracker

    cap = cv2.VideoCapture(str(data_path("Human-Activity-Recognition/wave.mp4")))
    m = load_model("holistic", mode="video")
    tracker = Tracker()
    hands_seen = 0
    try:
        for i in range(60):
            ok, img = cap.read()
            if not ok:
                break
            if i < 36:
                continue
            p = tracker.update(m(Frame(img, index=i, time_s=i / 10.0)), i / 10.0)
            for part in ("left_hand", "right_hand", "face"):
                assert np.array_equal(p.part(part).track_ids, p.track_ids)
            hands_seen += sum(found(p, s, k) for k in range(len(p))
                              for s in ("left_hand", "right_hand"))
    finally:
        cap.release()
        m.close()
    assert hands_seen >= 8      # the waving hand (about 20 px) in most frames of the wave


def test_bad_settings_raise():
    with pytest.raises(ModelError, match="unknown setting"):
        load_model("holistic", max_hands=3)
    with pytest.raises(ModelError, match="BlazePose"):
        load_model("holistic", body="yolo")


def test_jsonl_records_carry_each_part(holistic):
    import json

    from posekit.io.sinks import person_records

    p = holistic(read("yolov5/data/images/zidane.jpg"))
    recs = json.loads(json.dumps(person_records(p)))
    assert len(recs) == len(p) >= 1
    for i, r in enumerate(recs):
        assert len(r["keypoints"]) == 33 and len(r["world"]) == 33
        for part, k in (("left_hand", 21), ("right_hand", 21), ("face", 468)):
            if found(p, part, i):
                assert len(r[part]) == k and all(len(v) == 3 for v in r[part])
                np.testing.assert_allclose([v[:2] for v in r[part]],
                                           p.part(part).keypoints[i], atol=0.01)
            else:
                assert r[part] is None
    assert any(r["face"] is not None for r in recs)


def test_jsonl_header_names_the_body_keypoints_and_each_part(holistic, tmp_path):
    import json

    from posekit.io.sinks import JsonlSink
    from posekit.types import Frame

    img = read("yolov5/data/images/zidane.jpg")
    sink = JsonlSink(tmp_path / "h.jsonl", holistic.skeleton)
    sink.write(Frame(img), holistic(img))
    sink.close()
    head, frame = [json.loads(x) for x in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert len(head["keypoints"]) == 33 and max(max(e) for e in head["edges"]) < 33
    assert {k: len(v["keypoints"]) for k, v in head["parts"].items()} == {
        "left_hand": 21, "right_hand": 21, "face": 468}
    assert all(len(p["keypoints"]) == len(head["keypoints"]) for p in frame["persons"])
