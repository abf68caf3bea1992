"""Speed of ``posekit serve`` on loopback: REST requests/s and the WebSocket's frames/s and latency.

Usage: python bench/bench_serve.py [--model blazepose] [--requests 100] [--frames 150]

Starts the real server (uvicorn, in a subprocess so client and server do not share a GIL) on a
free loopback port with a temporary jobs folder, then prints:

- ``POST /v1/poses``: requests/s and median / 90th-percentile latency (ms) for a real photo
  (OpenCV's messi5.jpg, 548x342 JPEG), sequential on one keep-alive connection and with 4
  concurrent clients (the server serializes calls into its one image model, so concurrency
  overlaps only upload, decode and JSON);
- ``WS /v1/stream`` lock-step (send a frame, wait for its poses): frames/s and median round trip
  (ms) for 480x480 JPEG frames of a real clip (mmpose body3d_demo.mp4, one person walking);
- ``WS /v1/stream`` flooded at 60 frames/s: answered frames/s, frames dropped by the server
  (newest frame wins) and median round trip of the answered frames (ms), which stays near one
  inference time instead of growing.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHOTO = DATA / "opencv-doc" / "messi5.jpg"
CLIP = DATA / "mmpose" / "demo" / "resources" / "body3d_demo.mp4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, jobs_dir: str) -> subprocess.Popen:
    code = ("import sys, typer; from posekit.serve.cli import serve; "
            "sys.argv[0] = 'posekit serve'; typer.run(serve)")
    proc = subprocess.Popen([sys.executable, "-c", code, "--port", str(port), "--model", model,
                             "--jobs-dir", jobs_dir, "--log-level", "warning"],
                            cwd=str(ROOT), stderr=subprocess.PIPE, text=True)
    import httpx

    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start within 120 s")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def bench_rest(base: str, body: bytes, n: int, workers: int) -> None:
    import httpx

    def one(client) -> float:
        t = time.perf_counter()
        r = client.post(f"{base}/v1/poses", content=body, headers={"content-type": "image/jpeg"})
        r.raise_for_status()
        assert r.json()["persons"], "no person found in the benchmark photo"
        return time.perf_counter() - t

    clients = [httpx.Client(timeout=30) for _ in range(workers)]
    try:
        for c in clients:
            one(c)                                          # warm-up, not timed
        t0 = time.perf_counter()
        if workers == 1:
            lat = [one(clients[0]) for _ in range(n)]
        else:
            with ThreadPoolExecutor(workers) as ex:
                lat = list(ex.map(lambda i: one(clients[i % workers]), range(n)))
        dt = time.perf_counter() - t0
    finally:
        for c in clients:
            c.close()
    print(f"POST /v1/poses  {workers} client{'s' if workers > 1 else ' '}  {n} requests: "
          f"{n / dt:6.1f} requests/s, latency median {1000 * statistics.median(lat):.1f} ms, "
          f"p90 {1000 * pct(lat, 0.9):.1f} ms")


def clip_frames(n: int) -> list[bytes]:
    import av
    import cv2

    out = []
    with av.open(str(CLIP)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 2:
                continue
            img = cv2.resize(f.to_ndarray(format="bgr24"), (480, 480),
                             interpolation=cv2.INTER_AREA)
            out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
            if len(out) == n:
                break
    return out


def bench_ws_lockstep(url: str, frames: list[bytes]) -> None:
    from websockets.sync.client import connect

    with connect(url, max_size=None) as ws:
        json.loads(ws.recv())                               # hello
        lat, persons = [], 0
        t0 = time.perf_counter()
        for data in frames:
            t = time.perf_counter()
            ws.send(data)
            msg = json.loads(ws.recv())
            lat.append(time.perf_counter() - t)
            persons += len(msg.get("persons", ())) > 0
        dt = time.perf_counter() - t0
    print(f"WS lock-step    {len(frames)} frames: {len(frames) / dt:6.1f} frames/s, round trip "
          f"median {1000 * statistics.median(lat):.1f} ms, p90 {1000 * pct(lat, 0.9):.1f} ms, "
          f"frames with a person {persons}/{len(frames)}")


def bench_ws_flood(url: str, frames: list[bytes], rate: float, seconds: float) -> None:
    from websockets.sync.client import connect

    sent_at: dict[int, float] = {}
    lat: list[float] = []
    answered = [0]
    last = {}
    with connect(url, max_size=None) as ws:
        json.loads(ws.recv())

        def receive() -> None:
            while True:
                try:
                    msg = json.loads(ws.recv())
                except Exception:  # noqa: BLE001 - closed
                    return
                if msg.get("type") == "frame":
                    answered[0] += 1
                    lat.append(time.perf_counter() - sent_at[msg["seq"]])
                    last.update(msg)

        rx = threading.Thread(target=receive, daemon=True)
        rx.start()
        t0 = time.perf_counter()
        seq = 0
        while time.perf_counter() - t0 < seconds:
            seq += 1
            sent_at[seq] = time.perf_counter()
            ws.send(frames[seq % len(frames)])
            time.sleep(max(0.0, t0 + seq / rate - time.perf_counter()))
        time.sleep(1.0)                                     # let the last answer arrive
        dt = time.perf_counter() - t0 - 1.0
    rx.join(2)
    print(f"WS flood {rate:.0f}/s  {seq} frames sent in {dt:.1f} s: {answered[0] / dt:6.1f} "
          f"answered frames/s, dropped by the server {last.get('dropped_total', 0)}, round trip "
          f"median {1000 * statistics.median(lat):.1f} ms, p90 {1000 * pct(lat, 0.9):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="blazepose")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--flood-seconds", type=float, default=5.0)
    args = ap.parse_args()
    for p in (PHOTO, CLIP):
        if not p.exists():
            raise SystemExit(f"benchmark data missing: {p} (../shared/data)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="posekit-bench-") as tmp:
        proc = start_server(args.model, port, tmp)
        try:
            base = f"http://127.0.0.1:{port}"
            print(f"posekit serve on {base}, model {args.model}")
            body = PHOTO.read_bytes()
            bench_rest(base, body, args.requests, 1)
            bench_rest(base, body, args.requests, 4)
            try:
                import websockets  # noqa: F401
            except ImportError:
                print("WS: skipped (the websockets package is not installed)")
                return
            frames = clip_frames(args.frames)
            url = f"ws://127.0.0.1:{port}/v1/stream"
            bench_ws_lockstep(url, frames)
            bench_ws_flood(url, frames, 60.0, args.flood_seconds)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
