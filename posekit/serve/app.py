"""The pose service: a FastAPI app with REST routes, a WebSocket stream and a live web page.

Routes (``--token``/``ServeConfig.token`` guards all of them but the page, the API docs and their
static files; send ``Authorization: Bearer <token>`` or ``?token=<token>``):

====================================  ==========================================================
``GET /``                             the web page (live webcam tab, video upload tab)
``GET /docs``, ``GET /openapi.json``  API docs (Swagger UI served from local files, no token
                                      in the page: use its Authorize button) and the schema
``GET /v1/info``                      model, skeleton (keypoint names, edges), limits
``POST /v1/poses``                    one image (raw body or multipart) -> poses as JSON, or the
                                      annotated image with ``?annotate=1``
``POST /v1/jobs``                     a video upload -> a job (202, ``Location`` header)
``GET /v1/jobs``                      every job, oldest first
``GET /v1/jobs/{id}``                 state and progress (frames done / total, frames/s)
``GET /v1/jobs/{id}/video``           the annotated H.264 MP4 (byte ranges supported)
``GET /v1/jobs/{id}/jsonl``           the poses as JSON Lines
``DELETE /v1/jobs/{id}``              cancel and remove a job
``WS /v1/stream``                     live frames in, poses with track IDs out (newest frame
                                      wins; see :mod:`posekit.serve.stream`)
====================================  ==========================================================

Every bad input gets a 4xx status and a JSON body ``{"error": "<code>", "message": "<one
line>"}`` (codes: ``unauthorized``, ``not_an_image``, ``unsupported_media_type``,
``corrupt_image``, ``corrupt_video``, ``too_large``, ``too_many_pixels``, ``empty_body``,
``bad_multipart``, ``invalid_request``, ``unknown_job``, ``job_not_done``, ``queue_full`` (503),
``insufficient_storage`` (507, the disk is full; the service keeps serving), ``forbidden_host``
and ``forbidden_origin`` (403), ``not_found``, ``method_not_allowed``); never a traceback.

Hardening (see ``docs/faults.md``): a request whose ``Host`` is not an allowed host
(``ServeConfig.allowed_hosts``: loopback names and the bound address by default) is refused,
which defeats DNS rebinding; a WebSocket, or a POST/PUT/PATCH/DELETE, whose ``Origin`` is not the
server's own (or one of ``allowed_origins``) is refused; ``?token=`` values are redacted from the
server's logs; job files are private (folders 0700, files 0600) and finished jobs are deleted
after ``job_retention_s``.

Poses use the JSON Lines schema of :mod:`posekit.io.sinks` (``person_records``): keypoints in
pixels of the uploaded image (x right, y down) with visibility, world landmarks in metres.
Timings are seconds.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..errors import ModelError, PoseKitError, SourceError
from ..skeletons import SKELETONS
from ..types import Frame
from . import jobs as jobs_mod
from .guard import HostOriginGuard, install_token_redaction
from .guard import bare_host as _bare_host
from .jobs import JobManager, JobQueueFull, JobRecord
from .stream import LatestSlot, Pending, StreamSession, error_message, skeleton_parts
from .uploads import (
    IMAGE_TYPES,
    ApiError,
    decode_image,
    encode_image,
    read_image_body,
    save_video_body,
    too_large,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SkeletonName = Literal["native", "blazepose33", "coco17", "lsp14", "mpii16", "crowdpose14"]


#: Finished jobs are deleted one day after they finished, unless ``job_retention_s`` says
#: otherwise (``posekit serve --job-retention-hours``).
DEFAULT_JOB_RETENTION_S = 24 * 3600.0


def default_jobs_dir() -> Path:
    """``<user data dir>/posekit/jobs`` (platformdirs)."""
    from platformdirs import user_data_path

    return user_data_path("posekit") / "jobs"


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """Settings of the service (the ``posekit serve`` options map onto these).

    Attributes:
        model: registered model name (``posekit.models.load_model``) or ``"auto"``: the
            defaults of ``posekit run`` (:mod:`posekit.config`), per image, stream and job.
        max_people: most persons per image/frame.
        min_score: person/landmark confidence threshold in [0, 1].
        token: when set, every route but the page needs ``Authorization: Bearer <token>`` or
            ``?token=<token>``.
        max_image_bytes: largest image upload (``POST /v1/poses``, one WebSocket frame), bytes.
        max_video_bytes: largest video upload (``POST /v1/jobs``), bytes.
        max_pixels: largest decoded image or video frame, width x height in pixels; checked
            from the header before decoding.
        jobs_dir: folder for video jobs (default :func:`default_jobs_dir`).
        job_queue_size: most jobs waiting behind the running one (then 503 ``queue_full``).
        max_streams: most WebSocket streams at once (each has its own model instance).
        tracking: run a tracker and a smoother per stream and per job (track IDs).
        annotate_jobs: write an annotated video for each job (JSON Lines are always written).
        allowed_hosts: host names or addresses accepted in the ``Host`` header (lower case,
            no port; ``"*"`` accepts any). ``posekit serve`` adds the address it binds to and
            its ``--allow-host`` names.
        allowed_origins: browser origins (``"https://app.example:8443"``) allowed to open the
            WebSocket or to POST/DELETE besides the server's own origin (``"*"``: any).
        job_retention_s: finished jobs (done, partial, failed, cancelled) and their files are
            deleted this many seconds after they finished (None: kept until deleted).
    """

    model: str = "auto"
    max_people: int = 5
    min_score: float = 0.5
    token: str | None = None
    max_image_bytes: int = 20_000_000
    max_video_bytes: int = 500_000_000
    max_pixels: int = 40_000_000
    jobs_dir: Path | None = None
    job_queue_size: int = 4
    max_streams: int = 4
    tracking: bool = True
    annotate_jobs: bool = True
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    allowed_origins: tuple[str, ...] = ()
    job_retention_s: float | None = DEFAULT_JOB_RETENTION_S

    def __post_init__(self):
        for name in ("allowed_hosts", "allowed_origins"):
            v = getattr(self, name)
            if isinstance(v, str) or not all(isinstance(h, str) and h.strip() for h in v):
                raise ValueError(f"ServeConfig.{name}: expected a list of non-empty strings, "
                                 f"got {v!r}")
            norm = tuple(h.strip().lower().rstrip("/") for h in v)
            object.__setattr__(self, name, norm)
        object.__setattr__(self, "allowed_hosts",
                           tuple(_bare_host(h) for h in self.allowed_hosts))
        if self.job_retention_s is not None and not self.job_retention_s > 0:
            raise ValueError("ServeConfig.job_retention_s: expected seconds > 0 or None, got "
                             f"{self.job_retention_s}")
        for name in ("max_people", "max_image_bytes", "max_video_bytes", "max_pixels",
                     "job_queue_size", "max_streams"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ServeConfig.{name}: expected >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"ServeConfig.min_score: expected 0..1, got {self.min_score}")
        if self.token is not None and not self.token:
            raise ValueError("ServeConfig.token: expected a non-empty string or None")

    def pipeline_config(self, *, own_detector: bool = False):
        """The :class:`posekit.config.PipelineConfig` every image, stream and job is built
        from (through :func:`posekit.pipeline.build`, as ``posekit run`` builds).

        Args:
            own_detector: track with the model's own detector (an injected model factory's
                models are not two-stage landmark models).
        """
        from ..config import ModelConfig, PipelineConfig, TrackConfig

        return PipelineConfig(
            model=ModelConfig(name=self.model, max_people=self.max_people,
                              min_score=self.min_score),
            track=TrackConfig(enabled=None if self.tracking else False,
                              detector="model" if own_detector else "auto"))


# ------------------------------------------------------------------- OpenAPI documentation
class ErrorBody(BaseModel):
    """Every 4xx/5xx answer."""

    error: str
    message: str


class Person(BaseModel):
    index: int
    track_id: int | None = None
    box: list[float | None]
    score: float | None = None
    keypoints: list[list[float | None]]
    world: list[list[float | None]] | None = None
    left_hand: list[list[float | None]] | None = Field(
        None, description="Whole-body models: 21 [x, y, score] (HAND_21 order), null if not "
        "found.")
    right_hand: list[list[float | None]] | None = Field(
        None, description="Whole-body models: 21 [x, y, score], null if not found.")
    face: list[list[float | None]] | None = Field(
        None, description="Whole-body models: 468 face-mesh [x, y, score], null if not found.")
    handedness: str | None = Field(None, description="hands model: 'left' or 'right' (the "
                                   "person's own side).")


class PosesOut(BaseModel):
    """Poses of one image (the JSON Lines ``frame`` record plus skeleton and timings)."""

    type: str = "frame"
    frame: int
    time_s: float
    size_wh: list[int]
    skeleton: str
    persons: list[Person]
    timings: dict[str, float]


class JobOut(BaseModel):
    id: str
    state: str
    filename: str
    created_s: float
    started_s: float | None = None
    finished_s: float | None = None
    frames_done: int
    frames_total: int | None = None
    progress: float | None = None
    fps: float
    error: str | None = None
    urls: dict[str, str]


class InfoOut(BaseModel):
    version: str
    model: str
    skeleton: str
    keypoints: list[str]
    edges: list[list[int]]
    parts: dict[str, Any] = Field(default_factory=dict, description="Whole-body skeletons: "
                                  "each part's keypoints and edges (see the stream's hello).")
    limits: dict[str, Any]
    tracking: bool


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_IMAGE_BODY = {"requestBody": {"required": True, "description": "One JPEG, PNG or WebP image, "
                               "as the raw body or as the file of a multipart form.",
                               "content": {"image/jpeg": _BINARY, "image/png": _BINARY,
                                           "image/webp": _BINARY,
                                           "multipart/form-data": {"schema": {
                                               "type": "object", "required": ["file"],
                                               "properties": {"file": {"type": "string",
                                                                       "format": "binary"}}}}}}}
_VIDEO_BODY = {"requestBody": {"required": True, "description": "A video file (mp4, mov, webm, "
                               "mkv, avi), as the raw body or as the file of a multipart form.",
                               "content": {"video/mp4": _BINARY, "video/webm": _BINARY,
                                           "application/octet-stream": _BINARY,
                                           "multipart/form-data": {"schema": {
                                               "type": "object", "required": ["file"],
                                               "properties": {"file": {"type": "string",
                                                                       "format": "binary"}}}}}}}
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 413, 415, 422)}


# ------------------------------------------------------------------------------- service
@dataclass
class _Service:
    config: ServeConfig
    model_factory: Callable[[str], Any]
    analyzer_factory: Callable[[list[str]], Any] | None
    jobs: JobManager
    runner: Any
    image_lock: threading.Lock = field(default_factory=threading.Lock)
    image_model_: Any = None
    streams: int = 0
    lifespans: int = 0

    def image_model(self):
        """The shared image-mode model (created on first use; calls are serialized)."""
        with self.image_lock:
            if self.image_model_ is None:
                self.image_model_ = self.model_factory("image")
            return self.image_model_

    def detect(self, data: bytes, skeleton: str, annotate: bool):
        t0 = time.perf_counter()
        image, fmt = decode_image(data, self.config.max_pixels)
        t1 = time.perf_counter()
        model = self.image_model()
        with self.image_lock:
            poses = model(Frame(image, 0, 0.0, "upload"))
            model_t = dict(getattr(model, "last_timings", {}))
        t2 = time.perf_counter()
        timings = {"decode": t1 - t0, **model_t, "model": t2 - t1}
        out = poses if skeleton == "native" else poses.to(SKELETONS[skeleton])
        if annotate:
            from .. import draw

            ts = time.perf_counter()
            body = encode_image(draw.annotate(image, out, min_score=self.config.min_score), fmt)
            timings["annotate"] = time.perf_counter() - ts
            timings["total"] = time.perf_counter() - t0
            return body, fmt, len(out), timings
        from ..io import person_records

        persons = person_records(out)
        timings["total"] = time.perf_counter() - t0
        h, w = image.shape[:2]
        return {"type": "frame", "frame": 0, "time_s": 0.0, "size_wh": [w, h],
                "skeleton": out.skeleton.name, "persons": persons,
                "timings": {k: round(v, 6) for k, v in timings.items()}}

    def close(self) -> None:
        with self.image_lock:
            if self.image_model_ is not None:
                self.image_model_.close()
                self.image_model_ = None
        close = getattr(self.runner, "close", None)
        if close is not None:
            close()


def _pipeline_factory(config: ServeConfig, model_factory: Callable[[str], Any] | None
                      ) -> Callable[[str], Any]:
    """``factory(kind) -> posekit.pipeline.Pipeline`` for kind ``"image"`` (the shared model
    of ``POST /v1/poses``), ``"stream"`` (one per WebSocket) or ``"video"`` (one per job):
    the one builder, with the service's config."""
    from ..pipeline import build

    pcfg = config.pipeline_config(own_detector=model_factory is not None)
    factory = None
    if model_factory is not None:
        def factory(name: str, **settings):
            return model_factory(settings.get("mode", "video"))

    def make(kind: str):
        return build(pcfg, kind, model_factory=factory)
    return make


def _default_analyzer_factory(names: list[str]):
    """``posekit.analysis.Analyzer(names)`` for a live stream (no angle series kept, so memory
    stays flat however long the stream runs).

    Raises:
        ApiError: 400 when the analysis package is missing or a name is unknown.
    """
    try:
        try:
            from ..analysis import Analyzer  # type: ignore[attr-defined]
        except ImportError:
            from ..analysis.events import Analyzer
    except ImportError:
        raise ApiError(400, "analysis_unavailable",
                       "live analysis is not available in this version of posekit") from None
    try:
        return Analyzer(names, keep_series=False)
    except (ValueError, KeyError, PoseKitError) as e:
        raise ApiError(400, "invalid_request", f"analyze: {e}") from None


def _probe_video(path: Path, max_pixels: int):
    """Open a video and decode its first frame; ApiError 400/413 when it cannot be used."""
    from ..io import open_source

    try:
        src = open_source(str(path))
    except SourceError as e:
        raise ApiError(400, "corrupt_video", f"not a readable video: {_tail(e)}") from None
    try:
        info = src.info
        if info.kind != "video":
            raise ApiError(415, "unsupported_media_type", "the upload is not a video")
        w, h = info.size_wh or (0, 0)
        if w * h > max_pixels:
            raise ApiError(413, "too_many_pixels", f"video frames are {w}x{h} = {w * h} pixels; "
                           f"the limit is {max_pixels}")
        try:
            it = iter(src)
            next(it)
            it.close()
        except (SourceError, StopIteration) as e:
            raise ApiError(400, "corrupt_video", f"no decodable frame: {_tail(e)}") from None
        return info
    finally:
        src.close()


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

# The docs page loads only this server's files; Swagger UI's initializer is an inline script.
_DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
             "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")

_NO_DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>posekit API</title></head><body><h1>posekit API</h1>
<p>The interactive docs need Swagger UI's files, packaged in <code>fastapi-offline</code>:
<code>pip install 'posekit[serve]'</code>. The OpenAPI schema is at
<a href="/openapi.json">/openapi.json</a>.</p></body></html>"""


def _docs_assets() -> Path | None:
    """The folder of the pinned Swagger UI files (``swagger-ui-bundle.js``, ``swagger-ui.css``)
    that the ``fastapi-offline`` package ships, or None when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "static"
    return d if (d / "swagger-ui-bundle.js").is_file() else None


def _tail(e: BaseException) -> str:
    s = str(e)
    return s.split(": ", 1)[-1][:200] if s else type(e).__name__


def _job_json(rec: JobRecord) -> dict:
    d = rec.to_json()
    d.pop("input", None)
    base = f"/v1/jobs/{rec.id}"
    d["urls"] = {"self": base, "video": f"{base}/video", "jsonl": f"{base}/jsonl"}
    return d


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("posekit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


# ----------------------------------------------------------------------------------- app
def create_app(config: ServeConfig | None = None, *,
               model_factory: Callable[[str], Any] | None = None,
               analyzer_factory: Callable[[list[str]], Any] | None = None) -> FastAPI:
    """Build the FastAPI app.

    Args:
        config: settings (defaults: :class:`ServeConfig`).
        model_factory: ``factory(mode) -> PoseModel`` with mode ``"image"`` (the shared model
            of ``POST /v1/poses``) or ``"video"`` (one per stream, one for the job worker).
            Default: the models :func:`posekit.pipeline.build` makes of
            :meth:`ServeConfig.pipeline_config` (as ``posekit run`` does); an injected factory
            is tracked with its own detector.
        analyzer_factory: ``factory(names) -> analyzer`` for ``WS /v1/stream?analyze=a,b``
            (an object with ``update(poses, time_s) -> list[dict]``); default
            ``posekit.analysis.Analyzer(names)`` where available.

    The job worker starts, and the image model is loaded, when the app starts (its lifespan);
    a model that cannot load fails the start-up with :class:`posekit.errors.ModelError`.
    """
    config = config or ServeConfig()
    pipelines = _pipeline_factory(config, model_factory)

    def model_factory(kind: str):
        return pipelines("image").model
    jobs_dir = Path(config.jobs_dir) if config.jobs_dir is not None else default_jobs_dir()
    runner = jobs_mod.make_runner(lambda: pipelines("video"), annotate=config.annotate_jobs,
                                  max_pixels=config.max_pixels)
    svc = _Service(config, model_factory, analyzer_factory or _default_analyzer_factory,
                   JobManager(jobs_dir, runner, queue_size=config.job_queue_size,
                              retention_s=config.job_retention_s), runner)
    install_token_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Nested lifespans (a test client inside another) share one worker: the first start
        # starts it, the last stop stops it.
        svc.lifespans += 1
        try:
            if svc.lifespans == 1:
                svc.jobs.start()
                await run_in_threadpool(svc.image_model)
            yield
        finally:
            svc.lifespans -= 1
            if svc.lifespans == 0:
                await run_in_threadpool(svc.jobs.stop)
                await run_in_threadpool(svc.close)

    app = FastAPI(title="posekit", version=_version(), lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None,
                  description="Human pose estimation service: images, videos and a live "
                  "WebSocket stream. Coordinates are pixels of the input (x right, y down); "
                  "times are seconds.")
    app.state.service = svc
    app.state.config = config
    app.add_middleware(HostOriginGuard, allowed_hosts=config.allowed_hosts,
                       allowed_origins=config.allowed_origins)

    # ---------------------------------------------------------------- errors as JSON
    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path"))
            parts.append(f"{loc}: {e.get('msg', 'invalid')}")
        return JSONResponse({"error": "invalid_request", "message": "; ".join(parts)},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        msg = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and msg == "Not Found":
            msg = f"no route {request.url.path}"
        return JSONResponse({"error": code, "message": msg}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(JobQueueFull)
    async def _queue_full(request, exc: JobQueueFull):
        return JSONResponse({"error": "queue_full", "message": str(exc)}, status_code=503,
                            headers={"Retry-After": "10"})

    @app.exception_handler(ModelError)
    async def _model_error(request, exc: ModelError):
        log.error("model error: %s", exc)
        return JSONResponse({"error": "model_error", "message": str(exc)}, status_code=503)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request, exc: ClientDisconnect):
        log.info("client went away during %s %s", request.method, request.url.path)
        return JSONResponse({"error": "client_disconnected", "message": "the client closed "
                             "the connection before the body was received"}, status_code=400)

    @app.exception_handler(OSError)
    async def _os_error(request, exc: OSError):
        if exc.errno in _DISK_FULL:
            log.error("disk full during %s %s: %s", request.method, request.url.path, exc)
            return JSONResponse({"error": "insufficient_storage", "message": "the server's "
                                 "disk is full; try again later"}, status_code=507)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal_error", "message": "internal server error "
                             "(see the server log)"}, status_code=500)

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal_error", "message": "internal server error "
                             "(see the server log)"}, status_code=500)

    # ---------------------------------------------------------------------- auth
    bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")
    token_query = APIKeyQuery(name="token", auto_error=False,
                              description="?token=<token> (for links, <video> and WebSocket)")

    def _token_ok(supplied: str | None) -> bool:
        if config.token is None:
            return True
        return supplied is not None and secrets.compare_digest(supplied.encode("utf-8"),
                                                               config.token.encode("utf-8"))

    def require_token(cred: HTTPAuthorizationCredentials | None = Depends(bearer),
                      qtoken: str | None = Depends(token_query)) -> None:
        supplied = cred.credentials if cred is not None else qtoken
        if not _token_ok(supplied):
            raise ApiError(401, "unauthorized", "missing or wrong token: send 'Authorization: "
                           "Bearer <token>' or ?token=<token>",
                           headers={"WWW-Authenticate": "Bearer"})

    guard = [Depends(require_token)] if config.token is not None else []

    # ---------------------------------------------------------------------- page
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi():
        return JSONResponse(app.openapi())

    docs_assets = _docs_assets()
    if docs_assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=docs_assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        # Local files only, and never the token: the Authorize button asks for it.
        if docs_assets is None:
            return HTMLResponse(_NO_DOCS_PAGE, headers={"Cache-Control": "no-cache"})
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="posekit API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/favicon.ico",
                                   swagger_ui_parameters={"validatorUrl": None})
        page.headers["Content-Security-Policy"] = _DOCS_CSP
        page.headers["Referrer-Policy"] = "no-referrer"
        return page

    # ---------------------------------------------------------------------- REST
    @app.get("/v1/info", response_model=InfoOut, dependencies=guard, responses=_ERRORS,
             summary="Model, skeleton and limits")
    async def info():
        model = await run_in_threadpool(svc.image_model)
        sk = model.skeleton
        return {"version": _version(), "model": config.model, "skeleton": sk.name,
                "keypoints": list(sk.keypoints), "edges": [list(e) for e in sk.edges],
                "parts": skeleton_parts(sk),
                "limits": {"max_image_bytes": config.max_image_bytes,
                           "max_video_bytes": config.max_video_bytes,
                           "max_pixels": config.max_pixels,
                           "job_queue_size": config.job_queue_size,
                           "max_streams": config.max_streams},
                "tracking": config.tracking}

    @app.post("/v1/poses", dependencies=guard, openapi_extra=_IMAGE_BODY,
              summary="Poses in one image",
              responses={200: {"model": PosesOut, "content": {
                  "image/jpeg": {}, "image/png": {}, "image/webp": {}},
                  "description": "Poses as JSON, or the annotated image (same format as the "
                  "upload) with ?annotate=1"}, **_ERRORS})
    async def poses(request: Request,
                    skeleton: SkeletonName = Query("native", description="Output skeleton: "
                                                   "the model's own, or e.g. coco17."),
                    annotate: bool = Query(False, description="Return the annotated image "
                                           "instead of JSON.")):
        data = await read_image_body(request, config.max_image_bytes)
        result = await run_in_threadpool(svc.detect, data, skeleton, annotate)
        if annotate:
            body, fmt, n, timings = result
            st = ", ".join(f"{k};dur={v * 1000:.1f}" for k, v in timings.items())
            return Response(body, media_type=IMAGE_TYPES[fmt],
                            headers={"X-Persons": str(n), "Server-Timing": st})
        return JSONResponse(result)

    @app.post("/v1/jobs", status_code=202, dependencies=guard, openapi_extra=_VIDEO_BODY,
              response_model=JobOut, summary="Process a video in the background",
              responses={503: {"model": ErrorBody}, **_ERRORS})
    async def create_job(request: Request):
        if svc.jobs.is_full():
            raise JobQueueFull("the job queue is full; try again later")
        job_id, folder = await run_in_threadpool(svc.jobs.new_upload_dir)
        try:
            path, name = await save_video_body(request, config.max_video_bytes, folder)
            info = await run_in_threadpool(_probe_video, path, config.max_pixels)
            rec = JobRecord(id=job_id, filename=name or path.name, input=path.name,
                            size_bytes=path.stat().st_size, frames_total=info.frames,
                            video_fps=round(info.fps, 3),
                            size_wh=list(info.size_wh) if info.size_wh else None)
            await run_in_threadpool(svc.jobs.submit, rec, folder)
        except BaseException:
            await run_in_threadpool(svc.jobs.discard_upload, folder)
            raise
        return JSONResponse(_job_json(rec), status_code=202,
                            headers={"Location": f"/v1/jobs/{rec.id}"})

    @app.get("/v1/jobs", response_model=list[JobOut], dependencies=guard, responses=_ERRORS,
             summary="All jobs, oldest first")
    async def list_jobs():
        return JSONResponse([_job_json(r) for r in svc.jobs.list_jobs()])

    def _job(job_id: str) -> JobRecord:
        rec = svc.jobs.get(job_id)
        if rec is None:
            raise ApiError(404, "unknown_job", f"no job {job_id[:64]!r}")
        return rec

    @app.get("/v1/jobs/{job_id}", response_model=JobOut, dependencies=guard,
             responses=_ERRORS, summary="A job's state and progress")
    async def get_job(job_id: str):
        return JSONResponse(_job_json(_job(job_id)))

    def _result(job_id: str, name: str) -> Path:
        rec = _job(job_id)
        if rec.state not in ("done", "partial"):
            raise ApiError(409, "job_not_done", f"job {job_id} is {rec.state}"
                           + (f": {rec.error}" if rec.error else ""))
        p = svc.jobs.result_path(job_id, name)
        if not p.is_file():
            raise ApiError(404, "no_result", f"job {job_id} has no {name}")
        return p

    @app.get("/v1/jobs/{job_id}/video", dependencies=guard, summary="The annotated video",
             responses={200: {"content": {"video/mp4": {}}}, 409: {"model": ErrorBody},
                        **_ERRORS}, response_class=FileResponse)
    async def job_video(job_id: str):
        return FileResponse(_result(job_id, jobs_mod.VIDEO), media_type="video/mp4",
                            content_disposition_type="inline",
                            filename=f"posekit-{job_id[:8]}.mp4")

    @app.get("/v1/jobs/{job_id}/jsonl", dependencies=guard, summary="The poses as JSON Lines",
             responses={200: {"content": {"application/x-ndjson": {}}},
                        409: {"model": ErrorBody}, **_ERRORS}, response_class=FileResponse)
    async def job_jsonl(job_id: str):
        return FileResponse(_result(job_id, jobs_mod.JSONL), media_type="application/x-ndjson",
                            filename=f"posekit-{job_id[:8]}.jsonl")

    @app.delete("/v1/jobs/{job_id}", dependencies=guard, responses=_ERRORS,
                summary="Cancel and remove a job")
    async def delete_job(job_id: str):
        if not await run_in_threadpool(svc.jobs.delete, job_id):
            raise ApiError(404, "unknown_job", f"no job {job_id[:64]!r}")
        return JSONResponse({"id": job_id, "deleted": True})

    # ----------------------------------------------------------------- WebSocket
    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        q = ws.query_params
        auth = ws.headers.get("authorization", "")
        supplied = auth[7:].strip() if auth[:7].lower() == "bearer " else q.get("token")

        async def deny(status: int, code: str, message: str) -> None:
            if "websocket.http.response" in ws.scope.get("extensions", {}):
                await ws.send_denial_response(JSONResponse({"error": code, "message": message},
                                                           status_code=status))
            else:  # pragma: no cover - servers without the denial-response extension
                await ws.close(code=1008 if status in (401, 403) else 1013 if status == 503
                               else 1003, reason=message[:120])

        if not _token_ok(supplied):
            return await deny(401, "unauthorized", "missing or wrong token: add ?token=<token>")
        skel = q.get("skeleton", "native")
        if skel != "native" and skel not in SKELETONS:
            return await deny(400, "invalid_request", f"skeleton: expected native or one of "
                              f"{', '.join(SKELETONS)}, got {skel[:40]!r}")
        names = [a.strip() for a in q.get("analyze", "").split(",") if a.strip()]
        analyzer = None
        if names:
            try:
                analyzer = svc.analyzer_factory(names)
            except ApiError as e:
                return await deny(e.status, e.code, e.message)
        if svc.streams >= config.max_streams:
            return await deny(503, "too_many_streams", f"{svc.streams} streams are open "
                              f"(the limit is {config.max_streams}); try again later")
        svc.streams += 1
        session = None
        try:
            await ws.accept()
            try:
                pipe = await run_in_threadpool(pipelines, "stream")
                model = pipe.model
            except PoseKitError as e:
                log.error("stream: model failed to load: %s", e)
                await ws.send_json({"type": "error", "error": "model_error", "message": str(e)})
                await ws.close(code=1011)
                return
            session = StreamSession(model, stages=pipe.stages,
                                    skeleton=None if skel == "native" else SKELETONS[skel],
                                    analyzer=analyzer, max_pixels=config.max_pixels)
            out_sk = model.skeleton if skel == "native" else SKELETONS[skel]
            await _serve_stream(ws, session, config, {
                "type": "hello", "model": pipe.config.model.name, "skeleton": out_sk.name,
                "keypoints": list(out_sk.keypoints), "edges": [list(e) for e in out_sk.edges],
                "parts": skeleton_parts(out_sk), "max_bytes": config.max_image_bytes,
                "analyze": names, "tracking": config.tracking})
        finally:
            svc.streams -= 1
            if session is not None:
                await run_in_threadpool(session.close)

    return app


async def _serve_stream(ws: WebSocket, session: StreamSession, config: ServeConfig,
                        hello: dict) -> None:
    """Receive frames into a newest-wins slot while a second task answers them."""
    import anyio
    from starlette.websockets import WebSocketDisconnect, WebSocketState

    slot = LatestSlot()
    send_lock = asyncio.Lock()
    t_open = time.monotonic()
    closed = False

    async def send(msg: dict) -> None:
        async with send_lock:
            await ws.send_json(msg)

    async def receiver() -> None:
        nonlocal closed
        seq = 0
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    closed = True
                    return
                data, text = msg.get("bytes"), msg.get("text")
                if data is not None:
                    seq += 1
                    if len(data) > config.max_image_bytes:
                        await send(error_message(too_large(config.max_image_bytes, "frame"),
                                                 seq))
                        continue
                    slot.put(Pending(seq, data, time.monotonic() - t_open))
                elif text is not None:
                    if text.strip() in ('{"type":"ping"}', '{"type": "ping"}', "ping"):
                        await send({"type": "pong", "time_s": time.monotonic() - t_open})
                    else:
                        await send(error_message(ApiError(
                            400, "bad_message", "send frames as binary messages (JPEG, PNG "
                            "or WebP bytes); the only text message is {\"type\": \"ping\"}")))
        finally:
            slot.close()

    async def processor() -> None:
        while True:
            item = await slot.get()
            if item is None:
                return
            try:
                reply = await run_in_threadpool(session.process, item, slot.dropped)
            except ApiError as e:
                reply = error_message(e, item.seq)
            except PoseKitError as e:
                code = "model_error" if isinstance(e, ModelError) else "processing_error"
                reply = {"type": "error", "seq": item.seq, "error": code, "message": str(e)}
            await send(reply)

    state = {"error": False}

    async def guarded(tg, fn) -> None:
        nonlocal closed
        try:
            await fn()
        except (WebSocketDisconnect, RuntimeError, OSError) as e:   # the client went away
            log.debug("stream ended: %s", e)
            closed = True
        except Exception:
            log.exception("stream failed")
            state["error"] = True
        finally:
            tg.cancel_scope.cancel()

    try:
        await send(hello)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    async with anyio.create_task_group() as tg:
        tg.start_soon(guarded, tg, receiver)
        tg.start_soon(guarded, tg, processor)
    if not closed and ws.application_state == WebSocketState.CONNECTED:
        try:
            await ws.close(code=1011 if state["error"] else 1000)
        except (RuntimeError, OSError):
            pass
