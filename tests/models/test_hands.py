"""Native ``hands`` against MediaPipe's own legacy solution ``mp.solutions.hands`` (the same
networks through MediaPipe's graph), on real hand photos and video frames.

Agreement: per hand found by both, the largest distance over the 21 landmarks between the two,
in pixels of the image.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.errors import ModelError
from posekit.models import load_model
from posekit.skeletons import HAND_21
from tests.conftest import data_path

AGREE_PX = 0.5           # largest landmark distance to mp.solutions.hands, pixels
HAND_IMAGES = [f"hand-graph-cnn/images/{i:05d}.jpg" for i in (0, 37, 74, 111, 148, 185, 222,
                                                               259)]


def read(rel: str) -> np.ndarray:
    img = cv2.imread(str(data_path(rel)))
    assert img is not None, rel
    return img


def video_frames(rel: str, n: int, step: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(data_path(rel)))
    out, i = [], 0
    try:
        while len(out) < n:
            ok, img = cap.read()
            if not ok:
                break
            if i % step == 0:
                out.append(img)
            i += 1
    finally:
        cap.release()
    return out


@pytest.fixture(scope="module")
def native():
    m = load_model("hands", mode="image", max_hands=2)
    yield m
    m.close()


@pytest.fixture(scope="module")
def reference():
    mp = pytest.importorskip("mediapipe")
    from posekit.models.mediapipe_tasks import quiet_native_stderr

    with quiet_native_stderr():
        ref = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2,
                                       model_complexity=1)
    yield ref
    ref.close()


def ref_hands(ref, img: np.ndarray):
    r = ref.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    h, w = img.shape[:2]
    pts = [np.array([[p.x * w, p.y * h] for p in lm.landmark])
           for lm in (r.multi_hand_landmarks or [])]
    # mp.solutions.hands labels handedness for a mirrored image: "Left" is the person's right
    sides = ["right" if c.classification[0].label == "Left" else "left"
             for c in (r.multi_handedness or [])]
    return pts, sides


def test_landmarks_and_handedness_agree_with_mediapipe(native, reference):
    images = [read(r) for r in HAND_IMAGES]
    images += video_frames("Human-Activity-Recognition/wave.mp4", 3, step=40)
    worst, pairs, found_mine, found_ref = 0.0, 0, 0, 0
    for img in images:
        mine = native(img)
        pts, sides = ref_hands(reference, img)
        found_mine, found_ref = found_mine + len(mine), found_ref + len(pts)
        for j, p in enumerate(pts):
            d = np.linalg.norm(mine.keypoints - p[None], axis=2).max(axis=1) \
                if len(mine) else np.array([np.inf])
            i = int(np.argmin(d))
            worst = max(worst, float(d[i]))
            assert mine.extras["handedness"][i] == sides[j]
            pairs += 1
    assert found_mine == found_ref >= len(HAND_IMAGES)
    assert pairs == found_ref
    assert worst <= AGREE_PX, f"a landmark {worst:.3f} px from mp.solutions.hands"


def test_hand_skeleton_world_and_boxes(native):
    p = native(read(HAND_IMAGES[0]))
    assert p.skeleton == HAND_21 and len(p) == 1
    assert p.world.shape == (1, 21, 3)
    # wrist to middle-finger knuckle of an adult hand: 6-12 cm
    palm = np.linalg.norm(p.world[0, 9] - p.world[0, 0])
    assert 0.06 <= palm <= 0.12, palm
    kp = p.keypoints[0]
    assert np.allclose(p.boxes[0], [kp[:, 0].min(), kp[:, 1].min(), kp[:, 0].max(),
                                    kp[:, 1].max()], atol=0.01)
    assert 0.5 <= p.extras["handedness_score"][0] <= 1.0


@pytest.mark.parametrize("mode", ["image", "video"])
def test_blank_image_gives_no_hand(mode):
    m = load_model("hands", mode=mode)
    try:
        for shape in ((480, 640, 3), (256, 256, 3)):
            assert len(m(np.zeros(shape, np.uint8))) == 0
            assert len(m(np.full(shape, 200, np.uint8))) == 0
    finally:
        m.close()


def moving_hand(n: int) -> list[np.ndarray]:
    """A real hand photo moving across a larger frame, 4 px right and 2 px down per frame."""
    hand = read(HAND_IMAGES[0])
    out = []
    for i in range(n):
        img = np.full((420, 520, 3), 90, np.uint8)
        x, y = 40 + 4 * i, 60 + 2 * i
        img[y:y + 256, x:x + 256] = hand
        out.append(img)
    return out


def test_video_mode_tracks_the_hand_and_skips_the_palm_detector(native):
    from posekit.types import Frame

    frames = moving_hand(10)
    m = load_model("hands", mode="video", max_hands=1)
    try:
        det_runs, dists = 0, []
        for i, img in enumerate(frames):
            mine = m(Frame(img, index=i, time_s=i / 30.0))
            det_runs += m.last_timings["detector"] > 0
            ref = native(img)
            assert len(mine) == 1 and len(ref) == 1
            dists.append(float(np.median(np.linalg.norm(mine.keypoints[0] - ref.keypoints[0],
                                                        axis=1))))
        # the landmark network runs on the ROI from the previous frame's landmarks instead of
        # the palm's: the landmarks stay within a pixel or two of image mode's
        assert max(dists) <= 3.0, dists
        assert det_runs == 1          # max_hands tracked: the palm detector only once
    finally:
        m.close()


def test_bad_settings_raise():
    with pytest.raises(ModelError, match="unknown setting"):
        load_model("hands", max_hand=3)
    with pytest.raises(ModelError, match="max_hands"):
        load_model("hands", max_hands=0)


def test_batched_landmarks_equal_one_at_a_time():
    # OpenVINO runs the hand landmark network on batches of crops; each crop's landmarks must
    # be those of the crop alone (the palm detector and the hand re-crop network fix their batch
    # size inside and run one crop at a time)
    pytest.importorskip("openvino")
    from posekit.models.hands import HandLandmarks

    img = read(HAND_IMAGES[1])
    rois = np.array([[128, 128, 220, 0.0], [120, 140, 200, 0.4], [140, 120, 240, -0.3]])
    net = HandLandmarks("openvino", 2)
    together = net(img, rois)
    for i in range(len(rois)):
        alone = net(img, rois[i:i + 1])
        assert np.abs(alone["xy"][0] - together["xy"][i]).max() < 0.01
        assert abs(alone["flag"][0] - together["flag"][i]) < 1e-4


def test_lite_networks_agree_with_mediapipe_complexity_0():
    mp = pytest.importorskip("mediapipe")
    from posekit.models.mediapipe_tasks import quiet_native_stderr

    m = load_model("hands", mode="image", max_hands=1, complexity=0)
    with quiet_native_stderr():
        ref = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1,
                                       model_complexity=0)
    try:
        for rel in HAND_IMAGES[:4]:
            img = read(rel)
            mine = m(img)
            pts, _ = ref_hands(ref, img)
            assert len(mine) == len(pts) == 1
            assert np.linalg.norm(mine.keypoints[0] - pts[0], axis=1).max() <= AGREE_PX
    finally:
        ref.close()
        m.close()


def test_video_mode_follows_mediapipe_tracking(reference):
    # mp.solutions.hands in video mode also tracks from the previous frame's landmarks: the
    # ROI rule (hand_landmark_landmarks_to_roi.pbtxt) is the same when every frame agrees
    mp = pytest.importorskip("mediapipe")
    from posekit.models.mediapipe_tasks import quiet_native_stderr
    from posekit.types import Frame

    m = load_model("hands", mode="video", max_hands=1)
    with quiet_native_stderr():
        ref = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=1,
                                       model_complexity=1)
    try:
        for i, img in enumerate(moving_hand(8)):
            mine = m(Frame(img, index=i, time_s=i / 30.0))
            pts, _ = ref_hands(ref, img)
            assert len(mine) == len(pts) == 1
            assert np.linalg.norm(mine.keypoints[0] - pts[0], axis=1).max() <= AGREE_PX
    finally:
        ref.close()
        m.close()
