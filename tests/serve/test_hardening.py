"""The service under hostile but fair use (issue rows): a foreign ``Host`` (DNS rebinding), a
WebSocket and a POST from a foreign ``Origin``, the docs page (local files only, no token),
tokens in the access log, job retention and file modes, a cut video upload (``partial``, never
``done``) and a full disk (a real tmpfs: 507 JSON, the service keeps serving)."""

from __future__ import annotations

import logging
import re
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.testclient import WebSocketDenialResponse

from posekit.serve import ServeConfig, create_app
from posekit.serve.guard import RedactTokens, bare_host, host_allowed, origin_allowed
from posekit.serve.jobs import JOB_ID
from tests.conftest import data_path
from tests.io.fault_tools import cut, decodable_frames, jsonl_frames, mode, tmpfs
from tests.serve.fakes import FakePose  # noqa: F401  registers the "fake" model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOKEN = "s3cret-token"


def client(tmp_path: Path, jobs_dir: Path | None = None, **cfg) -> TestClient:
    cfg.setdefault("allowed_hosts", ("testserver",))
    config = ServeConfig(model="fake", jobs_dir=jobs_dir or tmp_path / "jobs", **cfg)
    return TestClient(create_app(config))


def wait_job(c, job_id: str, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        j = c.get(f"/v1/jobs/{job_id}").json()
        if j["state"] not in ("queued", "running"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {j['state']}")


@pytest.fixture(scope="module")
def clip() -> bytes:
    return data_path("AlphaPose/examples/demo/1.mp4").read_bytes()


# ------------------------------------------------------------------------ Host and Origin
def test_foreign_host_is_refused_everywhere(tmp_path, clip):
    with client(tmp_path) as c:
        r = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"})
        assert r.status_code == 202
        job = wait_job(c, r.json()["id"])
        evil = {"host": "attacker.example"}
        for path in ("/v1/jobs", f"/v1/jobs/{job['id']}/video", f"/v1/jobs/{job['id']}/jsonl",
                     "/v1/info", "/", "/docs"):
            r = c.get(path, headers=evil)
            assert r.status_code == 403, (path, r.status_code)
            assert r.json()["error"] == "forbidden_host"
        assert c.post("/v1/jobs", content=clip, headers={**evil, "content-type": "video/mp4"}
                      ).status_code == 403
        with pytest.raises(WebSocketDenialResponse) as e, \
                c.websocket_connect("/v1/stream", headers=evil):
            pass
        assert e.value.status_code == 403
        # The allowed name, with or without a port, still works.
        assert c.get("/v1/jobs", headers={"host": "testserver:8000"}).status_code == 200


def test_default_hosts_are_loopback_only(tmp_path):
    with client(tmp_path, allowed_hosts=ServeConfig().allowed_hosts) as c:
        for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
            assert c.get("/v1/jobs", headers={"host": host}).status_code == 200, host
        for host in ("attacker.example", "127.0.0.1.attacker.example", "testserver", ""):
            assert c.get("/v1/jobs", headers={"host": host}).status_code == 403, host


def test_websocket_and_post_from_a_foreign_origin_are_refused(tmp_path, clip):
    with client(tmp_path) as c:
        with pytest.raises(WebSocketDenialResponse) as e, c.websocket_connect(
                "/v1/stream", headers={"origin": "http://attacker.example"}):
            pass
        assert e.value.status_code == 403 and e.value.json()["error"] == "forbidden_origin"
        with c.websocket_connect("/v1/stream", headers={"origin": "http://testserver"}) as ws:
            assert ws.receive_json()["type"] == "hello"
        r = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4",
                                                      "origin": "http://attacker.example"})
        assert r.status_code == 403 and r.json()["error"] == "forbidden_origin"
        assert c.get("/v1/jobs", headers={"origin": "http://attacker.example"}).status_code \
            == 200          # reads are guarded by the browser's CORS (no CORS headers sent)
    with client(tmp_path, allowed_origins=("https://app.example",)) as c, \
            c.websocket_connect("/v1/stream", headers={"origin": "https://app.example"}) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_guard_rules():
    assert bare_host("[::1]:8000") == "::1" and bare_host("Example.COM.:80") == "example.com"
    assert host_allowed("LOCALHOST:1", ["localhost"]) and not host_allowed(None, ["localhost"])
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", ())
    assert origin_allowed("http://localhost", "localhost:80", ())
    assert not origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8000", ())
    assert not origin_allowed("null", "127.0.0.1:8000", ())
    assert not origin_allowed("https://127.0.0.1:8000.attacker.example", "127.0.0.1:8000", ())


# ------------------------------------------------------------------------------- docs
def test_docs_are_served_from_local_files_without_the_token(tmp_path):
    with client(tmp_path, token=TOKEN) as c:
        page = c.get(f"/docs?token={TOKEN}")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        assert TOKEN not in page.text
        assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]", page.text), \
            "an external URL in the docs page"
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert "/docs-assets/swagger-ui-bundle.js" in assets
        for a in assets:
            r = c.get(a)
            assert r.status_code in (200, 204), (a, r.status_code)
        assert "default-src 'self'" in page.headers["content-security-policy"]
        schema = c.get("/openapi.json").json()
        assert "/v1/jobs" in schema["paths"]
        assert c.get("/v1/jobs").status_code == 401          # the API itself stays guarded


def test_tokens_are_redacted_from_the_access_log(tmp_path, caplog):
    rec = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                            '%s - "%s %s HTTP/%s" %d',
                            ("127.0.0.1:5", "GET", f"/v1/jobs?token={TOKEN}&x=1", "1.1", 200),
                            None)
    RedactTokens().filter(rec)
    assert TOKEN not in rec.getMessage() and "token=***&x=1" in rec.getMessage()
    # create_app installs the filter on uvicorn's loggers.
    with client(tmp_path, token=TOKEN):
        pass
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logging.getLogger("uvicorn.access").info('%s - "%s %s"', "1.2.3.4", "GET",
                                                 f"/v1/stream?token={TOKEN}")
    assert caplog.records and TOKEN not in caplog.text and "token=***" in caplog.text


# --------------------------------------------------------------------- jobs: files, life
def test_job_files_are_private_and_expire(tmp_path, clip):
    with client(tmp_path, job_retention_s=3600.0) as c:
        job = wait_job(c, c.post("/v1/jobs", content=clip,
                                 headers={"content-type": "video/mp4"}).json()["id"])
        assert job["state"] == "done"
        d = tmp_path / "jobs" / job["id"]
        assert mode(tmp_path / "jobs") == 0o700 and mode(d) == 0o700
        files = sorted(p.name for p in d.iterdir())
        assert files == ["annotated.mp4", "input.mp4", "job.json", "poses.jsonl"], files
        assert all(mode(d / f) == 0o600 for f in files), {f: oct(mode(d / f)) for f in files}
        svc = c.app.state.service
        assert svc.jobs.sweep(now=time.time() + 60) == []        # not expired yet
        assert svc.jobs.sweep(now=time.time() + 3601) == [job["id"]]
        assert not d.exists() and c.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert ServeConfig().job_retention_s == 24 * 3600.0


def test_cut_upload_ends_partial_with_both_counts(tmp_path):
    part = cut(data_path("opencv-doc/vtest.avi"), tmp_path / "cut.avi", 500_000)
    with client(tmp_path) as c:
        r = c.post("/v1/jobs", content=part.read_bytes(),
                   headers={"content-type": "video/x-msvideo", "x-filename": "cut.avi"})
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"])
        assert job["state"] == "partial", job
        n = job["frames_done"]
        assert job["frames_total"] == 795 and 10 < n < 795
        assert job["error"].startswith(f"cut.avi ended at frame {n} of 795")
        video = c.get(job["urls"]["video"])
        assert video.status_code == 200
        (tmp_path / "got.mp4").write_bytes(video.content)
        assert decodable_frames(tmp_path / "got.mp4") == (n, None)
        (tmp_path / "got.jsonl").write_bytes(c.get(job["urls"]["jsonl"]).content)
        assert jsonl_frames(tmp_path / "got.jsonl") == n


# --------------------------------------------------------------------------- full disk
def test_full_disk_answers_507_and_keeps_serving(tmp_path, clip):
    vtest = data_path("opencv-doc/vtest.avi")
    with tmpfs(tmp_path, "2m") as disk, client(tmp_path, jobs_dir=disk / "jobs") as c:
        r = c.post("/v1/jobs", content=vtest.read_bytes(),          # 8 MB onto 2 MB
                   headers={"content-type": "video/x-msvideo"})
        assert r.status_code == 507, r.text
        assert r.json()["error"] == "insufficient_storage"
        assert not list((disk / "jobs" / ".incoming").iterdir())     # the upload removed
        assert c.get("/v1/info").status_code == 200                   # still serving
        # A job whose results fill the disk fails with one line, and the next one runs.
        big = cut(vtest, tmp_path / "big.avi", 1_500_000)
        r = c.post("/v1/jobs", content=big.read_bytes(),
                   headers={"content-type": "video/x-msvideo"})
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"])
        assert job["state"] == "failed" and job["error"] == \
            "no space left on device writing annotated.mp4", job
        assert JOB_ID.match(job["id"])
        c.delete(f"/v1/jobs/{job['id']}")
        r = c.post("/v1/jobs", content=clip, headers={"content-type": "video/mp4"})
        assert r.status_code == 202 and wait_job(c, r.json()["id"])["state"] == "done"
