"""End to end in a real browser: ``posekit serve`` (uvicorn, real BlazePose) on a free loopback
port, the page opened in headless Chromium whose fake camera plays a real clip.

- Live tab: the page streams the camera over the WebSocket, must get poses with a person for
  most frames (the tracker holds a new person back for its first 2 frames) and draw them: the
  page's counters on ``window.posekit`` and the limb colours in a screenshot of the canvas,
  around the person's box.
- Video tab: uploads a clip, follows the job to ``done`` and plays the annotated H.264 result.

Screenshots are written to ``runs/test-serve/`` and their paths printed.

Needs Debian's ``chromium`` (``scripts/install_chromium.sh``), the Playwright Python package
(used with the system browser; no browser download) and a WebSocket library for uvicorn.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, data_path
from tests.serve.live_server import fake_camera_browser, run_live_page, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: run "
                       "scripts/install_chromium.sh (Debian's chromium package)"),
    pytest.mark.skipif(not any(importlib.util.find_spec(m) for m in ("websockets", "wsproto")),
                       reason="uvicorn has no WebSocket library: pip install 'posekit[serve]'"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
sync_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

TOKEN = "e2e-token"
SHOTS = ROOT / "runs" / "test-serve"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required"]
LEFT_RGB, RIGHT_RGB = (255, 140, 0), (0, 120, 255)      # the page's limb colours (app.js)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """From the real clip body3d_demo.mp4 (one person walking, 1000x1002, 50 fps): a 480x480
    25 fps .y4m for the fake camera, 2.4 s forward then backward so that Chrome's looping of
    the file never makes the person jump (which would start a new track), and a 1 s 320x320
    .mp4 to upload."""
    import av

    src = data_path("mmpose/demo/resources/body3d_demo.mp4")
    out = tmp_path_factory.mktemp("clips")
    frames = []
    with av.open(str(src)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 2 == 0:                         # 50 -> 25 frames/s
                frames.append(cv2.resize(f.to_ndarray(format="bgr24"), (480, 480),
                                         interpolation=cv2.INTER_AREA))
            if len(frames) == 60:
                break
    y4m = out / "camera.y4m"
    with open(y4m, "wb") as fh:
        fh.write(b"YUV4MPEG2 W480 H480 F25:1 Ip A1:1 C420jpeg\n")
        fh.writelines(b"FRAME\n" + cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes()
                      for img in frames + frames[-2:0:-1])
    mp4 = out / "walk.mp4"
    with av.open(str(mp4), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 320, "yuv420p"
        for img in frames[:25]:
            vf = av.VideoFrame.from_ndarray(cv2.resize(img, (320, 320)), format="bgr24")
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return {"y4m": y4m, "mp4": mp4, "first": frames[0]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app (BlazePose, token) served by uvicorn on a free loopback port."""
    from posekit.serve import ServeConfig

    config = ServeConfig(model="blazepose", token=TOKEN,
                         jobs_dir=tmp_path_factory.mktemp("serve") / "jobs")
    with serving(config, "uvicorn-e2e") as url:
        yield url


@pytest.fixture(scope="module")
def browser(clips, tmp_path_factory):
    with sync_api.sync_playwright() as p:
        b = fake_camera_browser(p, CHROMIUM, CHROMIUM_FLAGS, clips["y4m"])
        try:
            yield b
        finally:
            b.close()


def _shot_path(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / name


def _near(img_rgb: np.ndarray, rgb, tol: int = 40) -> np.ndarray:
    return (np.abs(img_rgb.astype(int) - np.array(rgb)).max(axis=2) <= tol)


def test_live_page_draws_poses_from_the_fake_camera(server, browser, clips, capsys):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    console = run_live_page(page, f"{server}/?token={TOKEN}", "() => window.posekit.replies >= 40")
    s = page.evaluate("""() => { const p = window.posekit; return {
        sent: p.framesSent, replies: p.replies, withPerson: p.framesWithPerson,
        drawn: p.framesDrawn, personsDrawn: p.personsDrawn, edges: p.edgesDrawn,
        fps: p.fps, latency: p.medianLatencyMs, errors: p.errors, last: p.lastDrawn,
        hello: p.hello, perReply: p.idsPerReply}; }""")
    shot = _shot_path("e2e_live.png")
    page.locator("#view").screenshot(path=str(shot))
    page.screenshot(path=str(_shot_path("e2e_live_page.png")))
    with capsys.disabled():
        print(f"\n[e2e live] {s['replies']} replies to {s['sent']} frames, "
              f"{s['withPerson']} with a person, {s['fps']:.1f} frames/s, median round trip "
              f"{s['latency']:.0f} ms; track IDs per reply {s['perReply']}; screenshot: {shot}")
    page.close()

    assert s["errors"] == [] and console == []
    assert s["hello"]["skeleton"] == "blazepose33"
    assert s["replies"] >= 40
    # the tracker holds a new person back for 2 frames: at the start, and again if the 4 s
    # clip loops (the person jumps back to the start of the walk and gets a new track)
    assert s["withPerson"] >= 0.8 * s["replies"]
    assert s["drawn"] >= s["replies"] - 1                 # every answered frame is drawn
    assert s["personsDrawn"] >= 0.8 * s["replies"]
    assert s["edges"] >= 20 * s["personsDrawn"]           # of BlazePose's 35 edges
    assert s["latency"] is not None and 0 < s["latency"] < 2000   # milliseconds
    # one person walking: one track ID from confirmation to the end
    assert len({tuple(ids) for ids in s["perReply"] if ids}) == 1, s["perReply"]
    last = s["last"]
    assert last["size_wh"] == [480, 480] and len(last["persons"]) == 1
    assert last["persons"][0]["track_id"] is not None

    # the screenshot shows both limb colours where the server put the person's keypoints
    # (the canvas shows the 480x480 frame scaled to fit its box, centred: object-fit contain)
    img = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    scale = min(w, h) / 480.0                             # screen pixels per frame pixel
    off_x, off_y = (w - 480 * scale) / 2, (h - 480 * scale) / 2
    baseline = cv2.cvtColor(clips["first"], cv2.COLOR_BGR2RGB)
    person = last["persons"][0]
    kp = np.array([k[:2] for k in person["keypoints"]
                   if None not in k and k[2] >= 0.5], float)   # app.js MIN_VISIBILITY
    assert len(kp) >= 20, person["keypoints"]
    kp_box = np.r_[kp.min(axis=0), kp.max(axis=0)]
    # the track's box is around the same person: its body outline (head top to soles, the
    # torso's width: arms held out sideways stay outside it)
    tb = np.array(person["box"], float)
    inter = np.prod(np.clip(np.minimum(tb[2:], kp_box[2:]) - np.maximum(tb[:2], kp_box[:2]),
                            0, None))
    smaller = min(np.prod(tb[2:] - tb[:2]), np.prod(kp_box[2:] - kp_box[:2]))
    assert inter > 0.5 * smaller, (tb, kp_box)       # the smaller box lies mostly in the other
    x1, y1, x2, y2 = kp_box * scale + [off_x, off_y, off_x, off_y]
    margin = 10 * scale                                   # line width and joint radius
    for rgb in (LEFT_RGB, RIGHT_RGB):
        drawn = _near(img, rgb)
        assert drawn.sum() > 200 * scale ** 2 + 10 * _near(baseline, rgb).sum(), rgb
        ys, xs = np.nonzero(drawn)
        inside = ((xs >= x1 - margin) & (xs <= x2 + margin) & (ys >= y1 - margin)
                  & (ys <= y2 + margin))
        # the limbs are drawn around the keypoints and the rest of the frame is free of them
        assert inside.mean() > 0.9, (rgb, inside.mean())


def test_video_tab_uploads_and_plays_the_annotated_result(server, browser, clips, capsys):
    import httpx

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(f"{server}/?token={TOKEN}")
    page.click("#tab-video")
    page.set_input_files("#file", str(clips["mp4"]))
    page.click("#upload")
    page.wait_for_function("() => window.posekit.lastJob && ['done', 'failed'].includes("
                           "window.posekit.lastJob.state)", timeout=90_000)
    job = page.evaluate("() => window.posekit.lastJob")
    assert job["state"] == "done", job
    page.wait_for_function("() => document.getElementById('result-video').readyState >= 2",
                           timeout=30_000)
    v = page.evaluate("""() => { const v = document.getElementById('result-video');
        return {w: v.videoWidth, h: v.videoHeight, duration: v.duration,
                error: v.error && v.error.code}; }""")
    status = page.inner_text("#job-status")
    # show a frame where the tracker has confirmed the person (from the 3rd frame on)
    page.evaluate("""() => new Promise((done) => { const v = document.getElementById(
        'result-video'); v.pause(); v.addEventListener('seeked', done, {once: true});
        v.currentTime = 0.6; })""")
    shot = _shot_path("e2e_video.png")
    page.screenshot(path=str(shot))
    page.close()
    with capsys.disabled():
        print(f"\n[e2e video] {status} screenshot: {shot}")
    assert v["error"] is None and (v["w"], v["h"]) == (320, 320)
    assert abs(v["duration"] - 1.0) < 0.1                 # 25 frames at 25 frames/s
    assert job["frames_done"] == 25 and status.startswith("Done")
    r = httpx.get(f"{server}{job['urls']['jsonl']}", headers={"authorization":
                                                              f"Bearer {TOKEN}"})
    import json

    frames = [json.loads(x) for x in r.text.splitlines()[1:]]
    assert len(frames) == 25
    assert sum(len(f["persons"]) == 1 for f in frames) >= 20
