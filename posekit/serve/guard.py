"""Request guards of the service: the ``Host`` allow-list, the ``Origin`` check, and token
redaction in the server's logs.

- **Host**: a browser page on ``attacker.example`` whose DNS name is re-pointed at 127.0.0.1
  (DNS rebinding) reaches a loopback server with ``Host: attacker.example``; refusing every
  ``Host`` that is not a known name of the server stops it (the same defence as Django's
  ``ALLOWED_HOSTS`` and Starlette's ``TrustedHostMiddleware``).
- **Origin**: browsers send ``Origin`` with WebSocket handshakes and with cross-site POSTs; a
  WebSocket (or a POST/PUT/PATCH/DELETE) whose ``Origin`` is not the server's own origin (same
  scheme-less ``host:port`` as the ``Host`` header) or an allowed origin is refused
  (cross-site WebSocket hijacking, and form posts from other sites). Requests without
  ``Origin`` (curl, scripts) are not browsers and pass.
- **Logs**: ``token=...`` in a logged URL (uvicorn's access log prints the query string) is
  replaced by ``token=***``.

Refusals are answered 403 with the service's JSON error body ``{"error": "forbidden_host" |
"forbidden_origin", "message": ...}`` (a WebSocket gets it as its denial response).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_TOKEN = re.compile(r"(?i)(\btoken=)[^&\s\"'#]+")


def redact(text: str) -> str:
    """``"/v1/jobs?token=abc&x=1"`` -> ``"/v1/jobs?token=***&x=1"``."""
    return _TOKEN.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """A logging filter that redacts ``token=`` values in the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


#: Loggers whose records may carry a request URL.
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "posekit.serve.app",
                    "posekit.serve.jobs", "posekit.serve.guard")


def install_token_redaction(names: Iterable[str] = REDACTED_LOGGERS) -> None:
    """Add a :class:`RedactTokens` filter to each named logger (once)."""
    for name in names:
        lg = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in lg.filters):
            lg.addFilter(RedactTokens())


def bare_host(host: str) -> str:
    """The host of a ``Host`` header or host name, lower case, without port, brackets or a
    trailing dot: ``"[::1]:8000"`` -> ``"::1"``, ``"Example.COM.:80"`` -> ``"example.com"``."""
    h = host.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        return h[1:end] if end > 0 else h
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    elif h.count(":") > 1:          # a bare IPv6 address
        return h
    return h.rstrip(".")


def host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    """True when the ``Host`` header names an allowed host (``"*"`` allows any)."""
    allowed = set(allowed)
    if "*" in allowed:
        return True
    if not host_header:
        return False
    return bare_host(host_header) in allowed


def origin_allowed(origin: str, host_header: str | None, allowed_origins: Iterable[str]
                   ) -> bool:
    """True when ``origin`` is the server's own (its ``host:port`` equals the ``Host``
    header) or listed in ``allowed_origins`` (``"*"`` allows any)."""
    allowed = set(allowed_origins)
    o = origin.strip().lower().rstrip("/")
    if "*" in allowed or o in allowed:
        return True
    if o == "null" or not host_header:
        return False
    parts = urlsplit(o)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = "80" if parts.scheme == "http" else "443"
    return _with_port(parts.netloc, default) == _with_port(host_header.lower(), default)


def _with_port(netloc: str, default: str) -> str:
    host = bare_host(netloc)
    port = netloc.rsplit(":", 1)[1] if (netloc.count(":") == 1 or "]:" in netloc) else default
    return f"{host}|{port}"


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class HostOriginGuard:
    """Pure ASGI middleware refusing foreign ``Host`` headers and foreign ``Origin`` headers
    (see the module docstring) on HTTP requests and WebSocket handshakes."""

    def __init__(self, app, *, allowed_hosts: Iterable[str], allowed_origins: Iterable[str] = ()):
        self.app = app
        self.hosts = tuple(allowed_hosts)
        self.origins = tuple(allowed_origins)

    async def __call__(self, scope, receive, send):
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = origin = None
        for k, v in scope.get("headers", ()):
            if k == b"host":
                host = v.decode("latin-1")
            elif k == b"origin":
                origin = v.decode("latin-1")
        problem = None
        if not host_allowed(host, self.hosts):
            problem = ("forbidden_host", f"Host {(host or '')[:80]!r} is not one of this "
                       "server's names (posekit serve --allow-host NAME adds one)")
        elif origin is not None and (kind == "websocket"
                                     or scope.get("method", "GET") not in _SAFE_METHODS) \
                and not origin_allowed(origin, host, self.origins):
            problem = ("forbidden_origin", f"Origin {origin[:80]!r} may not use this server "
                       "(posekit serve --allow-origin ORIGIN adds one)")
        if problem is None:
            return await self.app(scope, receive, send)
        log.warning("refused %s %s: %s", kind, redact(scope.get("path", "")), problem[1])
        from starlette.responses import JSONResponse

        body = JSONResponse({"error": problem[0], "message": problem[1]}, status_code=403)
        if kind == "http":
            return await body(scope, receive, send)
        from starlette.websockets import WebSocket

        ws = WebSocket(scope, receive, send)
        if "websocket.http.response" in scope.get("extensions", {}):
            await ws.send_denial_response(body)
        else:  # pragma: no cover - servers without the denial-response extension
            await ws.close(code=1008, reason=problem[0])
