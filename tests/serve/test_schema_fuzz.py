"""Schemathesis against the service's own OpenAPI schema: generated requests for every operation
(random bodies, parameters and ids) must never get a 5xx answer, and every 4xx answer must be
the service's JSON error body.

Uses the fake model (instant) and a bounded number of examples per operation, so the run takes
a few seconds.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import tests.serve.fakes  # noqa: F401  registers the "fake" model
from posekit.serve import ServeConfig, create_app

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              # video/mp4 bodies are not generated; application/octet-stream covers uploads
              pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload")]

# schemathesis' pytest fixture loader does not work with pytest 9 (it reads a private node
# attribute), so the schema is built at import with its own temporary jobs folder.
_JOBS = Path(tempfile.mkdtemp(prefix="posekit-fuzz-"))
app = create_app(ServeConfig(model="fake", jobs_dir=_JOBS / "jobs", job_queue_size=1000,
                             allowed_hosts=("testserver", "localhost")))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def running_app():
    """Run the app's lifespan (job worker, model) around the fuzzing; remove the jobs after."""
    try:
        with TestClient(app):
            yield
    finally:
        shutil.rmtree(_JOBS, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "message"}, f"{where}: {body}"
