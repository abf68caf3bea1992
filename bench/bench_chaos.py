"""Every fault of issue 16, for real, in one go: prints one table row per case.

Usage: python bench/bench_chaos.py [--quick] [--only SUBSTRING]

Each CLI case runs the real ``posekit run`` in a subprocess on real media from ../shared/data
(vtest.avi, messi5.jpg, body3d_demo.mp4) with the default model; the service cases run the real
app in-process (FastAPI's TestClient) with the fake model of tests/serve/fakes.py, since they
test the service's plumbing, not the model. Columns:

- exit: the process's exit code (negative: killed by that signal), or for the service the
  HTTP status / the job's final state;
- MP4 frames: frames PyAV decodes from the output video (``+err`` when decoding stopped with an
  error after them; ``-`` no video);
- JSONL lines: whole frame lines in the JSON Lines output (``cut!`` if it ends inside a line);
- message: the ``error:``/``warning:`` line (or what the service answered).

A full disk needs a tmpfs (``mount -t tmpfs``, root); without one those rows say so.
``--quick`` cuts vtest.avi at 1 MB instead of the issue's 4 MB (fewer frames to process).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
VTEST = DATA / "opencv-doc" / "vtest.avi"
MESSI = DATA / "opencv-doc" / "messi5.jpg"
BODY3D = DATA / "mmpose" / "demo" / "resources" / "body3d_demo.mp4"
EXE = Path(sys.executable).parent / "posekit"
ROWS: list[tuple[str, str, str, str, str]] = []


# ------------------------------------------------------------------------------- helpers
def mp4_frames(path: Path) -> str:
    import av

    if not path.exists():
        return "-"
    n = 0
    try:
        with av.open(str(path)) as c:
            for _ in c.decode(c.streams.video[0]):
                n += 1
    except (av.FFmpegError, OSError, IndexError):
        return f"{n}+err"
    return str(n)


def jsonl_lines(path: Path) -> str:
    if not path.exists():
        return "-"
    text = path.read_text(encoding="utf-8", errors="replace")
    whole = text.count("\n")
    frames = 0
    for line in text.splitlines()[:whole]:
        try:
            frames += json.loads(line).get("type") == "frame"
        except ValueError:
            return f"{frames} bad!"
    return f"{frames}" + ("" if not text or text.endswith("\n") else " cut!")


def message(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith(("error:", "warning:"))]
    if "Traceback" in err:
        lines.insert(0, "TRACEBACK")
    tail = [ln for ln in err.splitlines() if ln.startswith(("interrupted", "skipped"))]
    return " | ".join(lines + tail)[:150] or "(no error line)"


def start(*args, cwd: Path) -> subprocess.Popen:
    def defaults():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)

    env = dict(os.environ)
    env.pop("DISPLAY", None)
    return subprocess.Popen([str(EXE), "run", *map(str, args), "--quiet"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=defaults)


def run_cli(*args, cwd: Path) -> tuple[int, str]:
    p = start(*args, cwd=cwd)
    _, err = p.communicate()
    return p.returncode, err


def row(case: str, code, mp4: str, jsonl: str, msg: str) -> None:
    ROWS.append((case, str(code), mp4, jsonl, msg))
    print(f"  done: {case} -> {code}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def tmpfs(parent: Path, size: str):
    d = parent / f"tmpfs-{uuid.uuid4().hex[:6]}"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        yield None
        return
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_header(path: Path, w: int, h: int) -> Path:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                     + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))
    return path


def real_png(path: Path, w: int, h: int) -> Path:
    """A complete, valid w x h 8-bit greyscale PNG (all black), streamed to disk."""
    z = zlib.compressobj(1)
    row_bytes = b"\0" * (w + 1)        # filter byte 0 + w pixels
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0,
                                                                       0, 0, 0)))
        data = bytearray()
        for _ in range(h):
            data += z.compress(row_bytes)
        data += z.flush()
        f.write(png_chunk(b"IDAT", bytes(data)))
        f.write(png_chunk(b"IEND", b""))
    return path


def wait_frames(js: Path, n: int, p: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and p.poll() is None:
        if js.exists() and js.read_text().count('"type":"frame"') >= n:
            return
        time.sleep(0.2)


# --------------------------------------------------------------------------------- cases
def signals(tmp: Path) -> None:
    for name, sig in (("SIGINT", signal.SIGINT), ("SIGTERM", signal.SIGTERM),
                      ("SIGHUP", signal.SIGHUP), ("kill -9", signal.SIGKILL)):
        d = tmp / name.replace(" ", "")
        d.mkdir()
        p = start(VTEST, "--out", d / "x.mp4", "--json", d / "x.jsonl", cwd=d)
        wait_frames(d / "x.jsonl", 30, p)
        t0 = time.monotonic()
        p.send_signal(sig)
        _, err = p.communicate()
        dt = time.monotonic() - t0
        row(f"{name} halfway through vtest.avi", p.returncode, mp4_frames(d / "x.mp4"),
            jsonl_lines(d / "x.jsonl"), f"exit in {dt:.2f} s; " + message(err))


def two_outputs(tmp: Path) -> None:
    for flags in (("--json", "p.txt", "--csv", "p.txt"), ("--out", "s.jpg", "--json", "s.jpg")):
        d = tmp / f"same{flags[0][2:]}"
        d.mkdir()
        code, err = run_cli(MESSI, *flags, cwd=d)
        written = [p.name for p in d.iterdir()]
        row(f"messi5.jpg {' '.join(flags)}", code, "-", "-",
            message(err) + f"; files written: {written or 'none'}")


def bad_folder(tmp: Path) -> None:
    d = tmp / "folder"
    d.mkdir()
    shutil.copy(MESSI, d / "a.jpg")
    (d / "b.jpg").write_bytes(MESSI.read_bytes()[:500])
    shutil.copy(MESSI, d / "c.jpg")
    code, err = run_cli(d, "--json", tmp / "folder.jsonl", cwd=tmp)
    row("folder a.jpg, unreadable b.jpg, c.jpg", code, "-", jsonl_lines(tmp / "folder.jsonl"),
        message(err))


def big_pngs(tmp: Path) -> None:
    b = bomb_header(tmp / "bomb.png", 100_000, 100_000)
    t0 = time.monotonic()
    code, err = run_cli(b, "--json", tmp / "bomb.jsonl", cwd=tmp)
    row("PNG header claiming 100000 x 100000", code, "-", jsonl_lines(tmp / "bomb.jsonl"),
        f"{time.monotonic() - t0:.1f} s; " + message(err))
    r = real_png(tmp / "big.png", 30_000, 30_000)
    t0 = time.monotonic()
    code, err = run_cli(r, "--json", tmp / "big.jsonl", cwd=tmp)
    row(f"real 30000 x 30000 PNG ({r.stat().st_size / 1e6:.1f} MB)", code, "-",
        jsonl_lines(tmp / "big.jsonl"), f"{time.monotonic() - t0:.1f} s; " + message(err))
    r.unlink()


def truncated(tmp: Path, n_bytes: int) -> None:
    part = tmp / "cut.avi"
    part.write_bytes(VTEST.read_bytes()[:n_bytes])
    code, err = run_cli(part, "--out", tmp / "cut.mp4", "--json", tmp / "cut.jsonl", cwd=tmp)
    row(f"vtest.avi cut at {n_bytes} bytes", code, mp4_frames(tmp / "cut.mp4"),
        jsonl_lines(tmp / "cut.jsonl"), message(err))


def full_disk(tmp: Path) -> None:
    for src, name in ((VTEST, "vtest.avi"), (BODY3D, "body3d_demo.mp4")):
        with tmpfs(tmp, "2m") as disk:
            if disk is None:
                row(f"disk full (2 MB tmpfs), {name}", "skip", "-", "-",
                    "cannot mount a tmpfs here (needs root)")
                return
            code, err = run_cli(src, "--out", disk / "x.mp4", "--json", disk / "x.jsonl",
                                "--csv", disk / "x.csv", cwd=tmp)
            csv_text = (disk / "x.csv").read_text() if (disk / "x.csv").exists() else ""
            csv_ok = "csv whole" if not csv_text or csv_text.endswith("\n") else "csv CUT"
            row(f"disk full (2 MB tmpfs), {name}", code, mp4_frames(disk / "x.mp4"),
                jsonl_lines(disk / "x.jsonl"), f"{csv_ok}; " + message(err))


def service(tmp: Path, cut_bytes: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
        from starlette.testclient import WebSocketDenialResponse
    import tests.serve.fakes  # noqa: F401  the "fake" model
    from posekit.serve import ServeConfig, create_app

    token = "s3cret"

    def client(jobs: Path, **kw) -> TestClient:
        return TestClient(create_app(ServeConfig(model="fake", jobs_dir=jobs,
                                                 allowed_hosts=("testserver",), **kw)))

    def wait(c, job_id):
        while True:
            j = c.get(f"/v1/jobs/{job_id}", headers={"authorization": f"Bearer {token}"}).json()
            if j["state"] not in ("queued", "running"):
                return j
            time.sleep(0.05)

    clip = (DATA / "AlphaPose" / "examples" / "demo" / "1.mp4").read_bytes()
    with client(tmp / "jobs", token=token) as c:
        auth = {"authorization": f"Bearer {token}"}
        j = wait(c, c.post("/v1/jobs", content=clip, headers={**auth, "content-type":
                                                               "video/mp4"}).json()["id"])
        evil = {**auth, "host": "attacker.example"}
        codes = [c.get(p, headers=evil).status_code for p in
                 ("/v1/jobs", f"/v1/jobs/{j['id']}/video", f"/v1/jobs/{j['id']}/jsonl")]
        row("service: Host attacker.example (jobs, video, jsonl)", "/".join(map(str, codes)),
            "-", "-", c.get("/v1/jobs", headers=evil).json()["message"][:90])
        try:
            with c.websocket_connect(f"/v1/stream?token={token}",
                                     headers={"origin": "http://attacker.example"}):
                status = "101 accepted"
        except WebSocketDenialResponse as e:
            status = str(e.status_code)
        with c.websocket_connect(f"/v1/stream?token={token}",
                                 headers={"origin": "http://testserver"}) as ws:
            same = ws.receive_json()["type"]
        row("service: WebSocket with Origin attacker.example", status, "-", "-",
            f"same-origin WebSocket: {'accepted' if same == 'hello' else same}")
        page = c.get(f"/docs?token={token}").text
        urls = re.findall(r"(?i)https?://[^\s\"'<>]+", page)
        row("service: /docs", c.get("/docs").status_code, "-", "-",
            f"external URLs in page: {len(urls)}; token in page: {token in page}")
        folder = tmp / "jobs" / j["id"]
        modes = sorted({oct(os.stat(f).st_mode & 0o777) for f in folder.iterdir()})
        gone = c.app.state.service.jobs.sweep(now=time.time() + 24 * 3600 + 1)
        row("service: finished job files, retention", j["state"], "-", "-",
            f"dir {oct(os.stat(folder.parent).st_mode & 0o777) if folder.parent.exists() else '-'}"
            f", files {'/'.join(modes)}; default retention "
            f"{ServeConfig().job_retention_s / 3600:.0f} h: deleted after it: {bool(gone)}")
        part = VTEST.read_bytes()[:cut_bytes]
        jt = wait(c, c.post("/v1/jobs", content=part, headers={
            **auth, "content-type": "video/x-msvideo", "x-filename": "cut.avi"}).json()["id"])
        got = tmp / "job.mp4"
        got.write_bytes(c.get(f"/v1/jobs/{jt['id']}/video", headers=auth).content)
        gj = tmp / "job.jsonl"
        gj.write_bytes(c.get(f"/v1/jobs/{jt['id']}/jsonl", headers=auth).content)
        row(f"service: job on vtest.avi cut at {cut_bytes} bytes", jt["state"], mp4_frames(got),
            jsonl_lines(gj), f"{jt['frames_done']} / {jt['frames_total']}: {jt['error']}")
    with tmpfs(tmp, "2m") as disk:
        if disk is None:
            row("service: disk full", "skip", "-", "-", "cannot mount a tmpfs here")
            return
        with client(disk / "jobs") as c:
            r = c.post("/v1/jobs", content=VTEST.read_bytes(),
                       headers={"content-type": "video/x-msvideo"})
            after = c.get("/v1/info").status_code
            row("service: 8 MB upload onto a 2 MB disk", r.status_code, "-", "-",
                f"{r.json()}; next request: {after}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="cut vtest.avi at 1 MB, not 4 MB")
    ap.add_argument("--only", default="", help="run only the cases whose function name "
                    "contains this")
    args = ap.parse_args()
    if not VTEST.exists():
        sys.exit(f"needs the shared data: {VTEST}")
    cut = 1_000_000 if args.quick else 4_000_000
    cases = [("signals", signals), ("two_outputs", two_outputs), ("bad_folder", bad_folder),
             ("big_pngs", big_pngs), ("truncated", lambda t: truncated(t, cut)),
             ("full_disk", full_disk), ("service", lambda t: service(t, cut))]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="posekit-chaos-") as tmp:
        for name, fn in cases:
            if args.only in name:
                d = Path(tmp) / name
                d.mkdir()
                fn(d)
    print("| case | exit | MP4 frames | JSONL lines | message |")
    print("|" + "---|" * 5)
    for r in ROWS:
        print("| " + " | ".join(x.replace("|", "/") for x in r) + " |")
    print(f"\n{len(ROWS)} cases in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
