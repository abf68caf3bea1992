"""Whole body in a real browser: ``posekit serve`` with the ``holistic`` model, the page's fake
camera showing a still of opencv-doc/messi5.jpg (a footballer, both hands and the face in view),
and the page must draw the finger bones and face contours the stream carries.

Checks: the hello message describes the parts (``left_hand``, ``right_hand``: 21 keypoints and
21 finger bones; ``face``: 468 landmarks and the mesh contours), the replies carry each person's
``left_hand`` / ``right_hand`` / ``face``, the page's counters on ``window.posekit``
(``handsDrawn``, ``handEdgesDrawn``, ``facesDrawn``, ``faceEdgesDrawn``) and the hand colours in a
screenshot of the canvas, around the hand keypoints of the reply on the canvas.

Needs what tests/serve/test_browser_e2e.py needs (Debian's chromium, Playwright, a WebSocket
library for uvicorn). The screenshot is written to ``runs/test-serve/whole_body_live.png``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.skeletons import FACE_468, HAND_21
from tests.conftest import data_path
from tests.serve.test_browser_e2e import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    _near,
    _shot_path,
    pytestmark,  # noqa: F401  (the same skips: chromium, WebSocket library)
    sync_api,
    uvicorn,  # noqa: F401  (skips without it)
)
from tests.serve.live_server import fake_camera_browser, run_live_page, serving

TOKEN = "whole-body-token"
STILL = "opencv-doc/messi5.jpg"   # 548x342; holistic finds both hands and the face (the
#                                   tiny hands of wave.mp4 come and go through JPEG and YUV)
HAND_RGB = {"left_hand": (255, 0, 255), "right_hand": (0, 255, 255)}   # app.js PART_COLORS
FACE_RGB = (255, 255, 0)


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    """The still as a 1 s .y4m for the fake camera (10 frames/s)."""
    img = cv2.imread(str(data_path(STILL)))
    h, w = img.shape[:2]
    img = img[: h // 2 * 2, : w // 2 * 2]              # 4:2:0 needs even sides
    h, w = img.shape[:2]
    y4m = tmp_path_factory.mktemp("still") / "camera.y4m"
    frame = b"FRAME\n" + cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(y4m, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        fh.writelines([frame] * 10)
    return {"y4m": y4m, "image": img, "size_wh": [w, h]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from posekit.serve import ServeConfig

    config = ServeConfig(model="holistic", token=TOKEN, max_people=1,
                         jobs_dir=tmp_path_factory.mktemp("serve") / "jobs")
    with serving(config, "uvicorn-whole-body") as url:
        yield url


def test_live_page_draws_finger_bones_and_face_contours(server, still, capsys):
    with sync_api.sync_playwright() as p:
        browser = fake_camera_browser(p, CHROMIUM, CHROMIUM_FLAGS, still["y4m"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            console = run_live_page(page, f"{server}/?token={TOKEN}&analyze=hand_gestures",
                                    "() => window.posekit.handsDrawn >= 6")
            s = page.evaluate("""() => { const p = window.posekit; return {
                replies: p.replies, drawn: p.framesDrawn, hands: p.handsDrawn,
                handEdges: p.handEdgesDrawn, faces: p.facesDrawn, faceEdges: p.faceEdgesDrawn,
                errors: p.errors, hello: p.hello, last: p.lastDrawn, events: p.events}; }""")
            shot = _shot_path("whole_body_live.png")
            page.locator("#view").screenshot(path=str(shot))
        finally:
            browser.close()
    with capsys.disabled():
        print(f"\n[whole body live] {s['replies']} replies, {s['hands']} hands drawn "
              f"({s['handEdges']} finger bones), {s['faces']} faces ({s['faceEdges']} contour "
              f"edges); screenshot: {shot}")

    assert s["errors"] == [] and console == []
    hello = s["hello"]
    assert hello["skeleton"] == "holistic543"
    parts = hello["parts"]
    assert set(parts) == {"body", "left_hand", "right_hand", "face"}
    assert len(parts["body"]["keypoints"]) == 33
    for side in ("left_hand", "right_hand"):
        assert parts[side]["keypoints"] == list(HAND_21.keypoints)
        assert sorted(map(tuple, parts[side]["edges"])) == sorted(HAND_21.edges)
    assert len(parts["face"]["keypoints"]) == 468
    assert len(parts["face"]["edges"]) == len(FACE_468.edges) < 200      # contours, not a mesh

    # every drawn hand: most of its 21 bones; the face: most of its contour edges
    assert s["hands"] >= 6 and s["handEdges"] >= 18 * s["hands"]
    assert s["faces"] >= 1 and s["faceEdges"] >= 0.8 * len(FACE_468.edges) * s["faces"]
    person = s["last"]["persons"][0]
    hands = {k: person[k] for k in HAND_RGB if person.get(k) is not None}
    assert hands, person.keys()
    assert person.get("face") is not None and len(person["face"]) == 468

    # the hand colours on the canvas, around that hand's keypoints (the canvas shows the frame
    # scaled to fit its box, centred)
    img = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    assert s["last"]["size_wh"] == still["size_wh"]
    W, H = still["size_wh"]
    scale = min(w / W, h / H)
    off = np.array([(w - W * scale) / 2, (h - H * scale) / 2])
    baseline = cv2.cvtColor(still["image"], cv2.COLOR_BGR2RGB)
    for part, pts in (*hands.items(), ("face", person["face"])):
        kp = np.array([q[:2] for q in pts if None not in q and q[2] >= 0.5], float)
        assert len(kp) == len(pts), part
        x1, y1 = kp.min(axis=0) * scale + off - 6 * scale
        x2, y2 = kp.max(axis=0) * scale + off + 6 * scale
        rgb = HAND_RGB.get(part, FACE_RGB)
        drawn = _near(img, rgb, tol=50)
        ys, xs = np.nonzero(drawn)
        # leave out screen pixels over still pixels of that colour already (ball, badge)
        fx = ((xs - off[0]) / scale).astype(int).clip(0, W - 1)
        fy = ((ys - off[1]) / scale).astype(int).clip(0, H - 1)
        new = ~_near(baseline, rgb, tol=60)[fy, fx]
        ys, xs = ys[new], xs[new]
        inside = (xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)
        span = float(np.ptp(kp, axis=0).max() * scale)        # the part's size on screen
        # at least about two line widths along the part's size, far more than the still has
        # of that colour there (frame pixels scaled to screen pixels)
        (bx1, by1), (bx2, by2) = (np.floor(kp.min(axis=0) - 6).astype(int).clip(0),
                                  np.ceil(kp.max(axis=0) + 6).astype(int))
        before = _near(baseline[by1:by2, bx1:bx2], rgb, tol=50).sum() * scale ** 2
        assert inside.sum() > 2 * span + 3 * before, (part, inside.sum(), span, before)
        # drawn where the reply put that part, nowhere else
        assert inside.mean() > 0.9, (part, inside.mean())
