"""Hand gestures on real hands: hand-graph-cnn photos (an open hand, a fist, by eye) and the
waving hand of Human-Activity-Recognition/wave.mp4 through ``holistic``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.analysis.hand_gestures import HandGestureDetector, classify, finger_states
from posekit.models import load_model
from posekit.types import Frame
from tests.conftest import data_path

OPEN_HAND = "hand-graph-cnn/images/00000.jpg"    # five fingers spread, palm to the camera
FIST = "hand-graph-cnn/images/00030.jpg"         # fingers curled into the palm


@pytest.fixture(scope="module")
def hands():
    m = load_model("hands", mode="image", max_hands=1)
    yield m
    m.close()


def hand(model, rel: str):
    img = cv2.imread(str(data_path(rel)))
    p = model(img)
    assert len(p) == 1, rel
    return p


def test_open_hand_and_fist_on_real_photos(hands):
    p = hand(hands, OPEN_HAND)
    name, st, det = classify(p.keypoints[0], p.world[0])
    assert name == "open_palm" and det["count"] == 5 and all(st.values())
    # the same from the 2D landmarks alone
    assert classify(p.keypoints[0])[0] == "open_palm"
    f = hand(hands, FIST)
    name, st, det = classify(f.keypoints[0], f.world[0])
    assert name == "fist" and det["count"] == 0
    states = finger_states(np.stack([p.world[0], f.world[0]]))
    assert states["index"].tolist() == [True, False]


def test_events_from_a_stream_of_hands(hands):
    p = hand(hands, OPEN_HAND)          # a left hand (handedness from the model)
    f = hand(hands, FIST)
    det = HandGestureDetector()
    events = []
    t = 0.0
    for poses, n in ((p, 6), (f, 1), (p, 6), (f, 8)):   # a one-frame fist is too short
        for _ in range(n):
            events += det.update(poses, t)
            t += 0.1
    events += det.finish()
    gestures = [e for e in events if e["name"] != "finger_count"]
    assert [e["name"] for e in gestures] == ["open_palm", "open_palm", "fist"]
    assert all(e["type"] == "hand_gesture" and e["side"] == p.extras["handedness"][0]
               for e in gestures)
    assert gestures[0]["start_s"] == 0.0 and gestures[0]["end_s"] == pytest.approx(0.5)
    assert gestures[2]["duration_s"] == pytest.approx(0.7)
    counts = [e["count"] for e in events if e["name"] == "finger_count"]
    assert counts == [5, 5, 0]


def test_open_palm_while_waving_on_real_video():
    cap = cv2.VideoCapture(str(data_path("Human-Activity-Recognition/wave.mp4")))
    model = load_model("holistic", mode="video")
    det = HandGestureDetector()
    events = []
    try:
        for i in range(60):
            ok, img = cap.read()
            assert ok
            if i < 34:
                continue
            t = i / 10.0          # the clip's 10 fps
            events += det.update(model(Frame(img, index=i, time_s=t)), t)
    finally:
        cap.release()
        model.close()
    events += det.finish()
    gestures = [e for e in events if e["name"] != "finger_count"]
    palms = [e for e in gestures if e["name"] == "open_palm"]
    # the raised waving hand is an open palm (right hand, then left), nothing else for long
    assert len(palms) >= 2 and {e["side"] for e in palms} == {"left", "right"}
    assert len(palms) == len(gestures)
    assert sum(e["duration_s"] for e in palms) >= 0.6
