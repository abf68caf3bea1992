"""The service with the real ``holistic`` model (FastAPI's TestClient, no browser): ``/v1/info``
and the stream's hello describe the parts, ``/v1/poses`` and the stream's replies carry each
person's ``left_hand``, ``right_hand`` and ``face`` on a still of
Human-Activity-Recognition/wave.mp4 (a man with his right hand raised, open)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.skeletons import FACE_468, HAND_21
from tests.conftest import data_path

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

FRAME = 10                # the right hand raised, open
SIZE = 420


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    cap = cv2.VideoCapture(str(data_path("Human-Activity-Recognition/wave.mp4")))
    try:
        for _ in range(FRAME + 1):
            ok, img = cap.read()
            assert ok
    finally:
        cap.release()
    assert img.shape[:2] == (SIZE, SIZE)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from posekit.serve import ServeConfig, create_app

    config = ServeConfig(model="holistic", max_people=1, allowed_hosts=("testserver",),
                         jobs_dir=tmp_path_factory.mktemp("serve") / "jobs")
    with TestClient(create_app(config)) as c:
        yield c


def _check_parts(parts: dict) -> None:
    assert set(parts) == {"body", "left_hand", "right_hand", "face"}
    assert (parts["body"]["start"], parts["body"]["stop"]) == (0, 33)
    assert parts["left_hand"]["keypoints"] == list(HAND_21.keypoints)
    assert parts["right_hand"]["edges"] == [list(e) for e in HAND_21.edges]
    assert parts["face"]["edges"] == [list(e) for e in FACE_468.edges]
    assert (parts["face"]["start"], parts["face"]["stop"]) == (75, 543)


def _check_person(person: dict) -> None:
    assert len(person["keypoints"]) == 33
    hand = person["right_hand"]                  # the raised open hand
    assert hand is not None and len(hand) == 21
    xy = np.array([q[:2] for q in hand], float)
    wrist = np.array(person["keypoints"][16][:2], float)     # BlazePose right_wrist
    # the hand hangs off the body's wrist, fingers up (smaller y) in the image
    assert np.linalg.norm(xy[0] - wrist) < 25.0, (xy[0], wrist)            # pixels
    assert (xy[[8, 12, 16, 20], 1] < xy[0, 1]).all()
    face = person["face"]
    assert face is not None and len(face) == 468
    nose = np.array(person["keypoints"][0][:2], float)
    assert np.linalg.norm(np.array(face[1][:2], float) - nose) < 15.0     # mesh nose tip


def test_info_and_poses_carry_hands_and_face(client, jpeg):
    info = client.get("/v1/info").json()
    assert info["skeleton"] == "holistic543"
    _check_parts(info["parts"])
    r = client.post("/v1/poses", content=jpeg, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["skeleton"] == "holistic543" and len(body["persons"]) == 1
    _check_person(body["persons"][0])


def test_stream_hello_and_replies_carry_hands_and_face(client, jpeg):
    with client.websocket_connect("/v1/stream?analyze=hand_gestures") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["analyze"] == ["hand_gestures"]
        _check_parts(hello["parts"])
        replies = []
        for _ in range(4):
            ws.send_bytes(jpeg)
            replies.append(ws.receive_json())
    assert all(r["type"] == "frame" for r in replies), replies[-1]
    # the tracker confirms the person on its 3rd frame
    assert len(replies[-1]["persons"]) == 1
    _check_person(replies[-1]["persons"][0])
