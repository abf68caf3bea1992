"""``posekit serve``: the typer command that runs the pose service with uvicorn.

Registered by ``posekit/cli.py`` as ``app.command()(serve)``. Heavy imports (FastAPI, uvicorn,
the model) happen inside the command, so ``posekit --help`` stays fast.
"""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path
from urllib.parse import quote

import typer

EXIT_BAD_INPUT = 2
log = logging.getLogger(__name__)


def _fail(msg: str, code: int = EXIT_BAD_INPUT) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _check_port(host: str, port: int) -> None:
    """Fail with one line when ``host:port`` cannot be bound (in use, no such address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        _fail(f"cannot resolve host {host!r}: {e.strerror}")
        return
    family, _, _, _, addr = infos[0]
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr)
    except OSError as e:
        why = "already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        _fail(f"cannot listen on {host}:{port}: {why}")
    finally:
        s.close()


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this "
                             "machine only; 0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="TCP port."),
    model_name: str = typer.Option("auto", "--model", "-m", help="Model name (see "
                                   "`posekit info`); auto: what posekit run uses with no "
                                   "flags, per image, stream and job."),
    token: str | None = typer.Option(None, "--token", envvar="POSEKIT_TOKEN",
                                        help="Require this token on every route but the page "
                                        "(Authorization: Bearer T, or ?token=T)."),
    jobs_dir: Path | None = typer.Option(None, "--jobs-dir", help="Folder for video jobs "
                                            "(default: the user data folder)."),
    max_people: int = typer.Option(5, "--max-people", min=1, help="Most persons per frame."),
    min_score: float = typer.Option(0.5, "--min-score", min=0.0, max=1.0,
                                    help="Person/landmark confidence threshold."),
    max_image_mb: float = typer.Option(20.0, "--max-image-mb", min=0.001,
                                       help="Largest image upload or stream frame, MB."),
    max_video_mb: float = typer.Option(500.0, "--max-video-mb", min=0.001,
                                       help="Largest video upload, MB."),
    max_megapixels: float = typer.Option(40.0, "--max-megapixels", min=0.001,
                                         help="Largest decoded image or video frame, megapixels."),
    queue_size: int = typer.Option(4, "--queue-size", min=1, help="Most video jobs waiting."),
    max_streams: int = typer.Option(4, "--max-streams", min=1,
                                    help="Most live WebSocket streams at once."),
    allow_host: list[str] = typer.Option([], "--allow-host", help="Another name this server "
                                          "is reached by (the Host header), e.g. "
                                          "pose.example.org; repeatable. Loopback names and "
                                          "the --host address are always allowed."),
    allow_origin: list[str] = typer.Option([], "--allow-origin", help="Another web origin "
                                           "(https://app.example) allowed to open the "
                                           "WebSocket or upload; repeatable."),
    job_retention_hours: float = typer.Option(24.0, "--job-retention-hours", min=0.0,
                                              help="Delete finished jobs and their files "
                                              "this many hours after they finished (0: keep "
                                              "them until deleted)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the pose API (REST + WebSocket) and a live web page; docs at /docs."""
    try:
        import uvicorn

        from .app import ServeConfig, create_app
    except ImportError as e:
        _fail(f"posekit serve needs the 'serve' extra ({e.name} is missing): "
              "pip install 'posekit[serve]'")
        return
    if not _has_websocket_library():
        _fail("posekit serve needs a WebSocket library for uvicorn (websockets or wsproto): "
              "pip install 'posekit[serve]'")
    from ..errors import PoseKitError

    levels = ("critical", "error", "warning", "info", "debug", "trace")
    if log_level.lower() not in levels:
        _fail(f"--log-level: expected one of {', '.join(levels)}, got {log_level!r}")
    _check_port(host, port)
    try:
        config = ServeConfig(model=model_name, token=token, jobs_dir=jobs_dir,
                             max_people=max_people, min_score=min_score,
                             max_image_bytes=int(max_image_mb * 1e6),
                             max_video_bytes=int(max_video_mb * 1e6),
                             max_pixels=int(max_megapixels * 1e6), job_queue_size=queue_size,
                             max_streams=max_streams,
                             allowed_hosts=allowed_hosts(host, allow_host),
                             allowed_origins=tuple(allow_origin),
                             job_retention_s=job_retention_hours * 3600.0
                             if job_retention_hours > 0 else None)
    except ValueError as e:
        _fail(str(e))
        return
    app = create_app(config)
    try:  # load the model now, so a bad --model fails here with one line, not in a traceback
        app.state.service.image_model()
    except PoseKitError as e:
        _fail(str(e))
        return
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if not loopback and token is None:
        typer.echo(f"warning: listening on {host} without --token: anyone who can reach this "
                   "port can use the service", err=True)
    if not loopback:
        typer.echo(f"posekit serve: answering requests for {', '.join(config.allowed_hosts)} "
                   "(add names with --allow-host)", err=True)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    typer.echo(f"posekit serve: page {url}{'?token=' + quote(token, safe='') if token else ''}"
               f"  docs {url}docs  model {model_name}", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(),
                ws_max_size=config.max_image_bytes + 4096, timeout_graceful_shutdown=5)


def allowed_hosts(host: str, extra: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """The ``Host`` names the server answers to: loopback names, the address it binds to, and
    ``extra`` (``--allow-host``). Bound to every interface (``0.0.0.0``, ``::``), it also
    answers to this machine's host name and the addresses that name resolves to."""
    names = ["localhost", "127.0.0.1", "::1", *extra]
    if host in ("0.0.0.0", "::", ""):
        me = socket.gethostname()
        names += [me, socket.getfqdn()]
        try:
            names += [i[4][0] for i in socket.getaddrinfo(me, None)]
        except OSError:
            pass
    else:
        names.append(host)
    out: list[str] = []
    for n in names:
        n = n.strip().lower()
        if n and n not in out:
            out.append(n)
    return tuple(out)


def _has_websocket_library() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(m) is not None for m in ("websockets", "wsproto"))
