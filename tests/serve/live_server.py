"""``posekit serve``'s app on a free loopback port, in a thread, for the browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def fake_camera_browser(playwright, chromium: str, flags: list[str], y4m) -> object:
    """Headless Chromium (``chromium``: the system browser's path) whose camera plays the
    ``.y4m`` file ``y4m``, granting camera access without asking."""
    return playwright.chromium.launch(executable_path=chromium, headless=True, args=[
        *flags, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}"])


def run_live_page(page, url: str, until: str, timeout_ms: int = 60_000) -> list[str]:
    """Open the service's page ``url`` in ``page`` (a Playwright page), press Start, wait until
    the JavaScript condition ``until`` holds (failing after ``timeout_ms``), press Stop and
    give the replies still on the wire 300 ms to arrive (they are counted, not drawn).
    Returns the console errors logged meanwhile (a list the page keeps appending to)."""
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.click("#start")
    page.wait_for_function(until, timeout=timeout_ms)
    page.click("#stop")
    page.wait_for_timeout(300)
    return console


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(config, name: str = "uvicorn-test") -> Iterator[str]:
    """Serve ``create_app(config)`` with uvicorn until the block ends; yields the base URL.
    Fails the test when the server has not started within 60 s."""
    import uvicorn

    from posekit.serve import create_app

    app = create_app(config)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        ws_max_size=config.max_image_bytes + 4096))
    t = threading.Thread(target=srv.run, name=name, daemon=True)
    t.start()
    t0 = time.monotonic()
    while not srv.started:
        if not t.is_alive() or time.monotonic() - t0 > 60:
            pytest.fail("the server did not start within 60 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        t.join(20)
