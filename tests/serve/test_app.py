"""The pose service through FastAPI's TestClient: every route, every bad input, jobs surviving a
restart, the WebSocket stream (newest frame wins) and the real BlazePose model once.

Most tests use the fake model of ``tests/serve/fakes.py`` (one stick figure at known pixel
positions in any non-black image), so they check the plumbing exactly: keypoints must come
back at the fake's positions to 0.01 px (the JSON rounds to 2 decimals).
"""

from __future__ import annotations

import io
import json
import struct
import time
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")  # python-multipart

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.testclient import WebSocketDenialResponse

from posekit.serve import ServeConfig, create_app
from posekit.serve.jobs import INTERRUPTED, JobRecord, write_json_atomic
from posekit.serve.uploads import image_size_wh, sniff_image
from posekit.skeletons import BLAZEPOSE_33, COCO_17
from tests.conftest import data_path
from tests.serve.fakes import FakePose, fake_layout_px

TOKEN = "s3cret-token"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo (OpenCV's messi5.jpg, 548x342), BGR."""
    img = cv2.imread(str(data_path("opencv-doc/messi5.jpg")))
    assert img is not None and img.shape == (342, 548, 3)
    return img


@pytest.fixture(scope="module")
def jpeg(photo) -> bytes:
    return cv2.imencode(".jpg", photo)[1].tobytes()


@pytest.fixture(scope="module")
def clip() -> bytes:
    """A real 3-frame 1280x720 H.264 clip (AlphaPose's demo 1.mp4), 368 kB."""
    return data_path("AlphaPose/examples/demo/1.mp4").read_bytes()


def make_client(tmp_path: Path, *, delay_s: float = 0.0, analyzer_factory=None, **cfg):
    cfg.setdefault("allowed_hosts", ("testserver",))     # TestClient's Host
    config = ServeConfig(model="fake", jobs_dir=tmp_path / "jobs", **cfg)
    factory = (lambda mode: FakePose(delay_s=delay_s, mode=mode)) if delay_s else None
    app = create_app(config, model_factory=factory, analyzer_factory=analyzer_factory)
    return TestClient(app)


@pytest.fixture
def client(tmp_path):
    with make_client(tmp_path) as c:
        yield c


def assert_error(r, status: int, code: str) -> dict:
    """A JSON error body with the expected status and code, and no traceback in it."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body


def wait_job(c, job_id: str, states=("done", "failed", "cancelled"), timeout_s: float = 30.0,
             **kw) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        j = c.get(f"/v1/jobs/{job_id}", **kw).json()
        if j["state"] in states:
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {j['state']} after {timeout_s} s")


def png_header(w: int, h: int) -> bytes:
    """A PNG signature and IHDR chunk claiming w x h pixels (no pixel data)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))


# ------------------------------------------------------------------------- page and docs
def test_page_static_and_docs(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in r.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "new WebSocket" in js.text and "getUserMedia" in js.text
    assert client.get("/static/style.css").status_code == 200
    assert_error(client.get("/static/nope.js"), 404, "not_found")
    schema = client.get("/openapi.json").json()
    for path in ("/v1/poses", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/video",
                 "/v1/jobs/{job_id}/jsonl", "/v1/info"):
        assert path in schema["paths"], path
    assert "image/jpeg" in schema["paths"]["/v1/poses"]["post"]["requestBody"]["content"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_info(client):
    info = client.get("/v1/info").json()
    assert info["model"] == "fake" and info["skeleton"] == "blazepose33"
    assert info["keypoints"] == list(BLAZEPOSE_33.keypoints)
    assert info["edges"] == [list(e) for e in BLAZEPOSE_33.edges]
    assert info["limits"]["max_pixels"] == ServeConfig().max_pixels


# ----------------------------------------------------------------------------- POST poses
def test_poses_raw_jpeg_png_webp_and_multipart(client, photo, jpeg):
    want = fake_layout_px(548, 342)
    bodies = {"image/jpeg": jpeg,
              "image/png": cv2.imencode(".png", photo)[1].tobytes(),
              "image/webp": cv2.imencode(".webp", photo)[1].tobytes()}
    for ct, body in bodies.items():
        r = client.post("/v1/poses", content=body, headers={"content-type": ct})
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["type"] == "frame" and d["size_wh"] == [548, 342]
        assert d["skeleton"] == "blazepose33" and len(d["persons"]) == 1
        p = d["persons"][0]
        assert set(p) == {"index", "track_id", "box", "score", "keypoints", "world"}
        kp = np.array(p["keypoints"], np.float32)
        assert kp.shape == (33, 3)
        np.testing.assert_allclose(kp[:, :2], want, atol=0.006)  # pixels (2-decimal JSON)
        np.testing.assert_allclose(kp[:, 2], 0.9, atol=1e-4)
        assert p["track_id"] is None                # single images are not tracked
        assert {"decode", "infer", "model", "total"} <= set(d["timings"])
        assert all(v >= 0 for v in d["timings"].values())
    r = client.post("/v1/poses", files={"file": ("photo.jpg", jpeg, "image/jpeg")})
    assert r.status_code == 200 and len(r.json()["persons"]) == 1
    # octet-stream and no content type at all: sniffed from the bytes
    for headers in ({"content-type": "application/octet-stream"}, {}):
        r = client.post("/v1/poses", content=jpeg, headers=headers)
        assert r.status_code == 200, r.text


def test_poses_coco17_matches_the_mapping(client, jpeg):
    d = client.post("/v1/poses?skeleton=coco17", content=jpeg,
                    headers={"content-type": "image/jpeg"}).json()
    assert d["skeleton"] == "coco17"
    kp = np.array(d["persons"][0]["keypoints"], np.float32)
    assert kp.shape == (17, 3)
    bp = fake_layout_px(548, 342)
    for name in ("nose", "left_shoulder", "right_knee", "left_ankle"):
        np.testing.assert_allclose(kp[COCO_17.index(name), :2], bp[BLAZEPOSE_33.index(name)],
                                   atol=0.006, err_msg=name)


def test_black_image_has_no_person(client):
    black = cv2.imencode(".png", np.zeros((120, 160, 3), np.uint8))[1].tobytes()
    d = client.post("/v1/poses", content=black, headers={"content-type": "image/png"}).json()
    assert d["persons"] == [] and d["size_wh"] == [160, 120]


def test_poses_annotate_returns_the_drawn_image(client, photo, jpeg):
    r = client.post("/v1/poses?annotate=1", content=jpeg, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-persons"] == "1" and "infer;dur=" in r.headers["server-timing"]
    out = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert out.shape == photo.shape
    plain = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    changed = np.abs(out.astype(int) - plain.astype(int)).max(axis=2) > 60
    assert changed.sum() > 500                      # skeleton lines and joints were drawn
    # the drawing is where the fake person is: around its left knee (pixels)
    x, y = fake_layout_px(548, 342)[BLAZEPOSE_33.index("left_knee")].round().astype(int)
    assert changed[y - 6:y + 7, x - 6:x + 7].any()
    png = cv2.imencode(".png", photo)[1].tobytes()
    r = client.post("/v1/poses?annotate=true", content=png, headers={"content-type": "image/png"})
    assert r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"


@pytest.mark.parametrize("body,ctype,status,code", [
    (b"hello, not an image at all", "image/jpeg", 415, "not_an_image"),
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "application/octet-stream", 415,
     "unsupported_media_type"),
    (b"BM" + b"\x00" * 60, "application/octet-stream", 415, "unsupported_media_type"),
    (b"", "image/jpeg", 400, "empty_body"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg", 400, "corrupt_image"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", 400, "corrupt_image"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", 400, "corrupt_image"),
    (b"irrelevant", "text/plain", 415, "unsupported_media_type"),
    (b"{}", "application/json", 415, "unsupported_media_type"),
])
def test_poses_bad_bodies(client, body, ctype, status, code):
    assert_error(client.post("/v1/poses", content=body, headers={"content-type": ctype}),
                 status, code)


def test_poses_truncated_and_corrupt_pixel_data(client, jpeg, photo):
    # header intact, pixel data cut: OpenCV gives up or returns a partial image; never a 500
    r = client.post("/v1/poses", content=jpeg[:400], headers={"content-type": "image/jpeg"})
    assert_error(r, 400, "corrupt_image")
    png = cv2.imencode(".png", photo)[1].tobytes()
    bad = png[:60] + bytes(len(png) - 60)           # IHDR fine, zlib stream zeroed
    assert_error(client.post("/v1/poses", content=bad, headers={"content-type": "image/png"}),
                 400, "corrupt_image")


def test_poses_size_limits(tmp_path, jpeg, photo):
    with make_client(tmp_path, max_image_bytes=20_000, max_pixels=100_000) as c:
        big = jpeg + b"\x00" * 20_000
        assert_error(c.post("/v1/poses", content=big, headers={"content-type": "image/jpeg"}),
                     413, "too_large")
        # no Content-Length (chunked): the limit holds while streaming
        chunks = (big[i:i + 4096] for i in range(0, len(big), 4096))
        assert_error(c.post("/v1/poses", content=chunks, headers={"content-type": "image/jpeg"}),
                     413, "too_large")
        assert_error(c.post("/v1/poses", files={"file": ("a.jpg", big, "image/jpeg")}),
                     413, "too_large")
        # 548 x 342 = 187,416 pixels > 100,000: refused from the header
        body = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 20])[1].tobytes()
        assert len(body) < 20_000
        b = assert_error(c.post("/v1/poses", content=body, headers={"content-type": "image/jpeg"}),
                         413, "too_many_pixels")
        assert "548x342" in b["message"]
        ok = cv2.imencode(".jpg", cv2.resize(photo, (274, 171)), [cv2.IMWRITE_JPEG_QUALITY, 20])
        r = c.post("/v1/poses", content=ok[1].tobytes(), headers={"content-type": "image/jpeg"})
        assert r.status_code == 200 and r.json()["size_wh"] == [274, 171]
        bad_len = c.post("/v1/poses", content=b"x", headers={"content-type": "image/jpeg",
                                                             "content-length": "abc"})
        assert 400 <= bad_len.status_code < 500


def test_decompression_bomb_refused_from_header(client):
    # 100,000 x 100,000 pixels would be 30 GB decoded; refused before decoding
    b = assert_error(client.post("/v1/poses", content=png_header(100_000, 100_000) + b"\0" * 64,
                                 headers={"content-type": "image/png"}), 413, "too_many_pixels")
    assert "100000x100000" in b["message"]


def test_multipart_errors(client, jpeg):
    assert_error(client.post("/v1/poses", data={"note": "no file here"},
                             files={"other": ("x.txt", b"hi", "text/plain")}),
                 415, "unsupported_media_type")
    r = client.post("/v1/poses", content=b"--xyz\r\nContent-Disposition: form-data; "
                    b'name="a"\r\n\r\nvalue\r\n--xyz--\r\n',
                    headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert_error(r, 400, "bad_multipart")
    r = client.post("/v1/poses", content=b"garbage", headers={"content-type":
                                                              "multipart/form-data"})
    assert_error(r, 400, "bad_multipart")


@pytest.mark.parametrize("query", ["skeleton=smpl24", "annotate=maybe", "skeleton="])
def test_bad_query_parameters(client, jpeg, query):
    b = assert_error(client.post(f"/v1/poses?{query}", content=jpeg,
                                 headers={"content-type": "image/jpeg"}), 422, "invalid_request")
    assert query.split("=")[0] in b["message"]


def test_unknown_route_and_method(client):
    assert_error(client.get("/v2/poses"), 404, "not_found")
    assert_error(client.get("/v1/poses"), 405, "method_not_allowed")
    assert_error(client.put("/v1/jobs"), 405, "method_not_allowed")


@pytest.mark.parametrize("fmt,ext,params", [
    ("jpeg", ".jpg", []), ("jpeg", ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
    ("png", ".png", []), ("webp", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
    ("webp", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])])        # 101: lossless (VP8L)
def test_header_size_parser(photo, fmt, ext, params):
    for w, h in ((548, 342), (17, 931), (1, 1)):
        data = cv2.imencode(ext, cv2.resize(photo, (w, h)), params)[1].tobytes()
        assert sniff_image(data) == fmt
        assert image_size_wh(data, fmt) == (w, h)


# ------------------------------------------------------------------------------ token
def test_token_guards_every_route_but_the_page(tmp_path, jpeg):
    with make_client(tmp_path, token=TOKEN) as c:
        assert c.get("/").status_code == 200
        assert c.get("/static/app.js").status_code == 200
        routes = [("get", "/v1/info"), ("post", "/v1/poses"), ("post", "/v1/jobs"),
                  ("get", "/v1/jobs"), ("get", "/v1/jobs/" + "0" * 32),
                  ("get", "/v1/jobs/" + "0" * 32 + "/video"),
                  ("get", "/v1/jobs/" + "0" * 32 + "/jsonl"),
                  ("delete", "/v1/jobs/" + "0" * 32)]
        for method, path in routes:
            for headers in ({}, {"authorization": "Bearer wrong"},
                            {"authorization": f"Basic {TOKEN}"}):
                r = getattr(c, method)(path, headers=headers)
                assert_error(r, 401, "unauthorized")
                assert r.headers["www-authenticate"] == "Bearer"
            r = getattr(c, method)(path + "?token=nope")
            assert_error(r, 401, "unauthorized")
        ok = {"authorization": f"Bearer {TOKEN}"}
        assert c.get("/v1/info", headers=ok).status_code == 200
        assert c.get(f"/v1/info?token={TOKEN}").status_code == 200
        r = c.post(f"/v1/poses?token={TOKEN}", content=jpeg, headers={"content-type":
                                                                      "image/jpeg"})
        assert r.status_code == 200
        # The docs and the schema are public; the page never holds the token.
        docs = c.get(f"/docs?token={TOKEN}")
        assert docs.status_code == 200 and TOKEN not in docs.text
        schema = c.get("/openapi.json").json()
        assert {"HTTPBearer", "APIKeyQuery"} <= set(schema["components"]["securitySchemes"])
        assert_error(c.get("/v1/jobs/" + "0" * 32, headers=ok), 404, "unknown_job")
        with pytest.raises(WebSocketDenialResponse) as e, c.websocket_connect("/v1/stream"):
            pass
        assert e.value.status_code == 401 and e.value.json()["error"] == "unauthorized"
        with c.websocket_connect(f"/v1/stream?token={TOKEN}") as ws:
            assert ws.receive_json()["type"] == "hello"
        with c.websocket_connect("/v1/stream", headers=ok) as ws:
            assert ws.receive_json()["type"] == "hello"


# ------------------------------------------------------------------------------- jobs
def test_job_life_cycle(client, clip):
    r = client.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4",
                                                       "x-filename": "walk%20one.mp4"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["filename"] == "walk one.mp4" and job["frames_total"] == 3
    assert job["size_wh"] == [1280, 720] and job["state"] in ("queued", "running", "done")
    done = wait_job(client, job["id"])
    assert done["state"] == "done", done
    assert done["frames_done"] == 3 and done["progress"] == 1.0 and done["fps"] > 0
    assert done["finished_s"] >= done["started_s"] >= done["created_s"]
    assert [j["id"] for j in client.get("/v1/jobs").json()] == [job["id"]]
    v = client.get(done["urls"]["video"])
    assert v.status_code == 200 and v.headers["content-type"] == "video/mp4"
    import av

    with av.open(io.BytesIO(v.content)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (720, 1280, 3)
    part = client.get(done["urls"]["video"], headers={"range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    lines = [json.loads(x) for x in client.get(done["urls"]["jsonl"]).text.splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["skeleton"] == "blazepose33"
    assert [x["frame"] for x in lines[1:]] == [0, 1, 2]
    # the tracker confirms a track after 3 matched frames; the last frame carries ID 1
    last = lines[-1]["persons"]
    assert len(last) == 1 and last[0]["track_id"] == 1
    np.testing.assert_allclose(np.array(last[0]["keypoints"])[:, :2],
                               fake_layout_px(1280, 720), atol=2.0)  # pixels, after smoothing
    r = client.delete(f"/v1/jobs/{job['id']}")
    assert r.status_code == 200 and r.json() == {"id": job["id"], "deleted": True}
    assert_error(client.get(f"/v1/jobs/{job['id']}"), 404, "unknown_job")
    assert client.get("/v1/jobs").json() == []


def test_job_multipart_upload(client, clip):
    r = client.post("/v1/jobs", files={"file": ("clip.mp4", clip, "video/mp4")})
    assert r.status_code == 202, r.text
    assert r.json()["filename"] == "clip.mp4"
    assert wait_job(client, r.json()["id"])["state"] == "done"


@pytest.mark.parametrize("body,ctype,status,code", [
    (b"\x00\x01 definitely not a video" * 50, "video/mp4", 400, "corrupt_video"),
    (b"", "video/mp4", 400, "empty_body"),
    (b"some text", "text/plain", 415, "unsupported_media_type"),
    (b"\xff\xd8\xff", "image/jpeg", 415, "unsupported_media_type"),
])
def test_job_bad_uploads(client, body, ctype, status, code):
    assert_error(client.post("/v1/jobs", content=body, headers={"content-type": ctype}),
                 status, code)
    assert client.get("/v1/jobs").json() == []


def test_job_truncated_video_and_limits(tmp_path, clip):
    with make_client(tmp_path, max_video_bytes=200_000, max_pixels=500_000) as c:
        assert_error(c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"}),
                     413, "too_large")
        assert_error(c.post("/v1/jobs", files={"file": ("a.mp4", clip, "video/mp4")}),
                     413, "too_large")
        assert_error(c.post("/v1/jobs", content=clip[:150_000],
                            headers={"content-type": "video/mp4"}), 400, "corrupt_video")
        assert c.get("/v1/jobs").json() == []
    with make_client(tmp_path, max_pixels=500_000) as c:   # 1280 x 720 = 921,600 pixels
        b = assert_error(c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"}),
                         413, "too_many_pixels")
        assert "1280x720" in b["message"]
    assert not any((tmp_path / "jobs").glob("[0-9a-f]*"))  # nothing left behind
    assert not any((tmp_path / "jobs" / ".incoming").glob("*"))


def test_unknown_and_malformed_job_ids(client):
    r = client.get("/v1/jobs/..%2F..%2Fetc%2Fpasswd")
    assert r.status_code == 404 and r.json()["error"] in ("not_found", "unknown_job")
    for jid in ("0" * 32, "abc", "0" * 31 + "g", "ZZ" * 16, "a" * 500):
        assert_error(client.get(f"/v1/jobs/{jid}"), 404, "unknown_job")
        assert_error(client.get(f"/v1/jobs/{jid}/video"), 404, "unknown_job")
        assert_error(client.get(f"/v1/jobs/{jid}/jsonl"), 404, "unknown_job")
        assert_error(client.delete(f"/v1/jobs/{jid}"), 404, "unknown_job")


def test_job_not_done_cancel_and_queue_full(tmp_path, clip):
    with make_client(tmp_path, delay_s=0.4, job_queue_size=1) as c:
        a = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"}).json()
        wait_job(c, a["id"], states=("running",))
        b = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"}).json()
        assert b["state"] == "queued"
        r = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"})
        assert_error(r, 503, "queue_full")
        assert r.headers["retry-after"] == "10"
        body = assert_error(c.get(f"/v1/jobs/{a['id']}/video"), 409, "job_not_done")
        assert "running" in body["message"]
        assert_error(c.get(f"/v1/jobs/{b['id']}/jsonl"), 409, "job_not_done")
        assert c.delete(f"/v1/jobs/{a['id']}").status_code == 200       # cancel running
        assert c.delete(f"/v1/jobs/{b['id']}").status_code == 200       # cancel queued
        t0 = time.monotonic()
        while any((tmp_path / "jobs").glob("[0-9a-f]*")) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert not any((tmp_path / "jobs").glob("[0-9a-f]*"))  # both folders removed
        assert c.get("/v1/jobs").json() == []
        # the worker is free again
        d = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"}).json()
        assert wait_job(c, d["id"])["state"] == "done"


def test_restart_keeps_finished_jobs_and_fails_interrupted_ones(tmp_path, clip):
    jobs_dir = tmp_path / "jobs"
    with make_client(tmp_path) as c:
        done = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"}).json()
        assert wait_job(c, done["id"])["state"] == "done"
        video = c.get(f"/v1/jobs/{done['id']}/video").content
    # a crash while one job was running and another queued: their records say so on disk
    crashed = {}
    for state in ("running", "queued"):
        rec = JobRecord(id=(state[0] * 32).replace("r", "a").replace("q", "b"), state=state,
                        filename=f"{state}.mp4", input="input.mp4",
                        started_s=time.time() if state == "running" else None, frames_done=7)
        d = jobs_dir / rec.id
        d.mkdir()
        (d / "input.mp4").write_bytes(clip)
        (d / ".annotated.mp4.tmp.mp4").write_bytes(b"partial")
        write_json_atomic(d / "job.json", rec.to_json())
        crashed[state] = rec.id
    (jobs_dir / "not-a-job").mkdir()
    (jobs_dir / ("c" * 32)).mkdir()                  # no record: ignored
    with make_client(tmp_path) as c:
        listed = {j["id"]: j for j in c.get("/v1/jobs").json()}
        assert set(listed) == {done["id"], *crashed.values()}
        assert listed[done["id"]]["state"] == "done"
        assert c.get(f"/v1/jobs/{done['id']}/video").content == video
        for jid in crashed.values():
            j = listed[jid]
            assert j["state"] == "failed" and j["error"] == INTERRUPTED
            assert_error(c.get(f"/v1/jobs/{jid}/video"), 409, "job_not_done")
            assert not (jobs_dir / jid / ".annotated.mp4.tmp.mp4").exists()
        on_disk = json.loads((jobs_dir / crashed["running"] / "job.json").read_text())
        assert on_disk["state"] == "failed" and on_disk["frames_done"] == 7


def test_stopping_the_server_marks_the_running_job_failed(tmp_path, clip):
    with make_client(tmp_path, delay_s=0.5) as c:
        jid = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"}).json()["id"]
        wait_job(c, jid, states=("running",))
    rec = json.loads((tmp_path / "jobs" / jid / "job.json").read_text())
    assert rec["state"] == "failed" and rec["error"] == INTERRUPTED
    assert not (tmp_path / "jobs" / jid / "annotated.mp4").exists()


# -------------------------------------------------------------------------- WebSocket
def test_stream_poses_with_track_ids(client, jpeg):
    with client.websocket_connect("/v1/stream") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["skeleton"] == "blazepose33"
        assert hello["edges"] == [list(e) for e in BLAZEPOSE_33.edges]
        replies = []
        for _ in range(5):                            # lock-step: no frame is dropped
            ws.send_bytes(jpeg)
            replies.append(ws.receive_json())
    assert [r["seq"] for r in replies] == [1, 2, 3, 4, 5]
    assert [r["frame"] for r in replies] == [0, 1, 2, 3, 4]
    assert all(r["type"] == "frame" and r["dropped"] == 0 for r in replies)
    times = [r["time_s"] for r in replies]
    assert times == sorted(times) and times[0] >= 0
    # the tracker confirms a person on its 3rd matched frame, then keeps ID 1
    assert [len(r["persons"]) for r in replies] == [0, 0, 1, 1, 1]
    assert [r["persons"][0]["track_id"] for r in replies[2:]] == [1, 1, 1]
    kp = np.array(replies[-1]["persons"][0]["keypoints"], np.float32)
    np.testing.assert_allclose(kp[:, :2], fake_layout_px(548, 342), atol=0.006)
    assert {"decode", "model", "Tracker", "Smoother", "total"} <= set(replies[-1]["timings"])


def test_stream_coco17_bad_frames_and_messages(tmp_path, jpeg):
    with make_client(tmp_path, max_image_bytes=len(jpeg) + 10) as c, \
            c.websocket_connect("/v1/stream?skeleton=coco17") as ws:
        hello = ws.receive_json()
        assert hello["skeleton"] == "coco17" and len(hello["keypoints"]) == 17
        ws.send_bytes(b"not an image")
        e = ws.receive_json()
        assert e == {"type": "error", "error": "not_an_image", "seq": 1,
                     "message": e["message"]}
        ws.send_bytes(jpeg + b"\0" * 100)
        e = ws.receive_json()
        assert e["error"] == "too_large" and e["seq"] == 2
        ws.send_bytes(png_header(90_000, 90_000))
        assert ws.receive_json()["error"] == "too_many_pixels"
        ws.send_text('{"type": "ping"}')
        assert ws.receive_json()["type"] == "pong"
        ws.send_text("hello?")
        assert ws.receive_json()["error"] == "bad_message"
        ws.send_bytes(jpeg)                       # the stream goes on after errors
        r = ws.receive_json()
        assert r["type"] == "frame" and r["seq"] == 4 and r["skeleton"] == "coco17"


def test_stream_newest_frame_wins(tmp_path, jpeg):
    with make_client(tmp_path, delay_s=0.5, tracking=False) as c, \
            c.websocket_connect("/v1/stream") as ws:
        assert ws.receive_json()["type"] == "hello"
        for _ in range(6):                        # far faster than 2 frames/s
            ws.send_bytes(jpeg)
        first = ws.receive_json()
        second = ws.receive_json()
        ws.send_bytes(jpeg)
        third = ws.receive_json()
    assert first["seq"] == 1 and first["dropped"] == 0
    # frames 2..5 arrived while frame 1 was processed and were replaced by frame 6
    assert second["seq"] == 6 and second["dropped"] == 4 and second["dropped_total"] == 4
    assert third["seq"] == 7 and third["dropped"] == 0 and third["dropped_total"] == 4
    assert len(second["persons"]) == 1


def test_stream_limits_and_parameters(tmp_path):
    with make_client(tmp_path, max_streams=1) as c:
        with c.websocket_connect("/v1/stream") as ws:
            assert ws.receive_json()["type"] == "hello"
            with pytest.raises(WebSocketDenialResponse) as e, c.websocket_connect("/v1/stream"):
                pass
            assert e.value.status_code == 503 and e.value.json()["error"] == "too_many_streams"
        with c.websocket_connect("/v1/stream") as ws:    # the slot is free again
            assert ws.receive_json()["type"] == "hello"
        with pytest.raises(WebSocketDenialResponse) as e, \
                c.websocket_connect("/v1/stream?skeleton=smpl"):
            pass
        assert e.value.status_code == 400 and e.value.json()["error"] == "invalid_request"


def test_stream_analysis_events(tmp_path, jpeg):
    class CountingAnalyzer:
        def __init__(self, names):
            self.names = names
            self.n = 0

        def update(self, poses, time_s):
            self.n += 1
            return [{"type": "seen", "analyses": self.names, "n": self.n,
                     "persons": np.int64(len(poses)), "value": float("nan")}]

    def factory(names):
        if "bogus" in names:
            from posekit.serve.uploads import ApiError

            raise ApiError(400, "invalid_request", "analyze: unknown analysis 'bogus'")
        return CountingAnalyzer(names)

    with make_client(tmp_path, analyzer_factory=factory) as c:
        with c.websocket_connect("/v1/stream?analyze=squat,falls") as ws:
            assert ws.receive_json()["analyze"] == ["squat", "falls"]
            ws.send_bytes(cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes())
            r = ws.receive_json()
        assert r["events"] == [{"type": "seen", "analyses": ["squat", "falls"], "n": 1,
                                "persons": 0, "value": None}]
        with pytest.raises(WebSocketDenialResponse) as e, \
                c.websocket_connect("/v1/stream?analyze=bogus"):
            pass
        assert e.value.status_code == 400 and "bogus" in e.value.json()["message"]


# -------------------------------------------------------------------- the real model
def test_real_blazepose_on_a_coco_image(tmp_path):
    """BlazePose through the service on a COCO val2017 photo with one annotated person:
    most COCO keypoints within 0.2 torso lengths of the annotation (PCK@0.2)."""
    ann = data_path("tiny_coco_dataset/tiny_coco/annotations/person_keypoints_val2017.json")
    d = json.loads(ann.read_text())
    im = next(i for i in d["images"] if i["file_name"] == "000000308394.jpg")
    gt = np.array(next(a["keypoints"] for a in d["annotations"] if a["image_id"] == im["id"]),
                  np.float32).reshape(17, 3)
    body = (ann.parent.parent / "val2017" / im["file_name"]).read_bytes()
    app = create_app(ServeConfig(model="blazepose", jobs_dir=tmp_path / "jobs",
                                 allowed_hosts=("testserver",)))
    with TestClient(app) as c:
        r = c.post("/v1/poses?skeleton=coco17", content=body,
                   headers={"content-type": "image/jpeg"})
        assert r.status_code == 200, r.text
        out = r.json()
        black = cv2.imencode(".jpg", np.zeros((256, 256, 3), np.uint8))[1].tobytes()
        none = c.post("/v1/poses", content=black, headers={"content-type": "image/jpeg"}).json()
    assert out["size_wh"] == [im["width"], im["height"]]
    assert len(out["persons"]) == 1
    kp = np.array(out["persons"][0]["keypoints"], np.float64)
    vis = gt[:, 2] > 0
    torso = float(np.linalg.norm(gt[COCO_17.index("left_shoulder"), :2]
                                 - gt[COCO_17.index("right_hip"), :2]))
    err = np.linalg.norm(kp[vis, :2] - gt[vis, :2], axis=1)          # pixels
    assert (err <= 0.2 * torso).mean() >= 0.75, err
    assert np.median(err) < 15.0, err                                  # pixels
    assert out["timings"]["infer"] > 0
    assert none["persons"] == []


def test_stream_with_the_real_analyzer(tmp_path, jpeg):
    """``?analyze=`` builds ``posekit.analysis.Analyzer`` per connection; unknown names -> 400."""
    pytest.importorskip("posekit.analysis.events")
    with make_client(tmp_path) as c:
        with c.websocket_connect("/v1/stream?analyze=squat,posture,falls") as ws:
            assert ws.receive_json()["analyze"] == ["squat", "posture", "falls"]
            for _ in range(4):
                ws.send_bytes(jpeg)
                r = ws.receive_json()
                assert r["type"] == "frame" and isinstance(r["events"], list)
            assert "Analyzer" in r["timings"]
        with pytest.raises(WebSocketDenialResponse) as e, \
                c.websocket_connect("/v1/stream?analyze=squat,levitation"):
            pass
        assert e.value.status_code == 400 and "levitation" in e.value.json()["message"]
