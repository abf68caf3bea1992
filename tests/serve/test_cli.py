"""``posekit serve`` as a typer command, in-process: options map onto ServeConfig, the server
binds to loopback by default, and bad input ends with one ``error:`` line and exit code 2.

uvicorn.run is replaced by a recorder, so nothing listens; the real server runs in the
browser end-to-end test.
"""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("fastapi")
typer = pytest.importorskip("typer")
from typer.testing import CliRunner

import tests.serve.fakes  # noqa: F401  registers the "fake" model
from posekit.serve import cli as serve_cli

app = typer.Typer()
app.command()(serve_cli.serve)


@pytest.fixture
def recorded(monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setattr(serve_cli, "_has_websocket_library", lambda: True)
    return calls


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_options_map_onto_the_config(recorded, tmp_path):
    port = _free_port()
    r = CliRunner().invoke(app, ["--port", str(port), "--model", "fake", "--token", "T/1",
                                 "--jobs-dir", str(tmp_path / "jobs"), "--max-image-mb", "1.5",
                                 "--max-video-mb", "20", "--max-megapixels", "2",
                                 "--queue-size", "3", "--max-streams", "2"])
    assert r.exit_code == 0, r.output
    (fastapi_app, kw), = recorded
    c = fastapi_app.state.config
    assert (c.model, c.token, c.max_image_bytes, c.max_video_bytes, c.max_pixels) == \
        ("fake", "T/1", 1_500_000, 20_000_000, 2_000_000)
    assert (c.job_queue_size, c.max_streams, c.jobs_dir) == (3, 2, tmp_path / "jobs")
    assert kw["host"] == "127.0.0.1" and kw["port"] == port          # loopback by default
    assert kw["ws_max_size"] > c.max_image_bytes
    assert f"http://127.0.0.1:{port}/?token=T%2F1" in r.output       # the page URL to open
    assert "warning" not in r.output


def test_all_interfaces_without_token_warns(recorded, tmp_path):
    r = CliRunner().invoke(app, ["--host", "0.0.0.0", "--port", str(_free_port()), "--model",
                                 "fake", "--jobs-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "warning: listening on 0.0.0.0 without --token" in r.output


def test_unknown_model_fails_cleanly(recorded, tmp_path):
    r = CliRunner().invoke(app, ["--port", str(_free_port()), "--model", "nope",
                                 "--jobs-dir", str(tmp_path)])
    assert r.exit_code == 2 and recorded == []
    assert r.output.startswith("error: unknown model 'nope'") and "Traceback" not in r.output


def test_port_in_use_fails_cleanly(recorded, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = CliRunner().invoke(app, ["--port", str(port), "--model", "fake",
                                     "--jobs-dir", str(tmp_path)])
    assert r.exit_code == 2 and recorded == []
    assert f"error: cannot listen on 127.0.0.1:{port}: already in use" in r.output


def test_missing_websocket_library_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(serve_cli, "_has_websocket_library", lambda: False)
    r = CliRunner().invoke(app, ["--model", "fake", "--jobs-dir", str(tmp_path)])
    assert r.exit_code == 2
    assert "pip install 'posekit[serve]'" in r.output


def test_bad_log_level(recorded, tmp_path):
    r = CliRunner().invoke(app, ["--model", "fake", "--log-level", "loud",
                                 "--jobs-dir", str(tmp_path)])
    assert r.exit_code == 2 and recorded == []
    assert "error: --log-level: expected one of critical" in r.output


def test_hardening_options_map_onto_the_config(recorded, tmp_path):
    r = CliRunner().invoke(app, ["--host", "0.0.0.0", "--port", str(_free_port()), "--model",
                                 "fake", "--jobs-dir", str(tmp_path), "--token", "T",
                                 "--allow-host", "Pose.Example.org", "--allow-origin",
                                 "https://app.example", "--job-retention-hours", "2"])
    assert r.exit_code == 0, r.output
    (fastapi_app, _), = recorded
    c = fastapi_app.state.config
    assert c.allowed_hosts[:4] == ("localhost", "127.0.0.1", "::1", "pose.example.org")
    assert socket.gethostname().lower() in c.allowed_hosts           # bound to every interface
    assert c.allowed_origins == ("https://app.example",) and c.job_retention_s == 7200.0
    assert "answering requests for localhost, 127.0.0.1, ::1, pose.example.org" in r.output
    r = CliRunner().invoke(app, ["--host", "127.0.0.1", "--port", str(_free_port()), "--model",
                                 "fake", "--jobs-dir", str(tmp_path), "--job-retention-hours",
                                 "0"])
    c = recorded[-1][0].state.config
    assert c.allowed_hosts == ("localhost", "127.0.0.1", "::1") and c.job_retention_s is None
