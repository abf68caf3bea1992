"""Chaos on the real ``posekit run``: a real subprocess on real media, stopped by SIGTERM, SIGHUP
and ``kill -9`` mid-run, writing onto a full disk (a real 512 kB tmpfs), two outputs on one file,
a folder with an unreadable image, a decompression-bomb PNG and a cut video. Every case must end
with one ``error:`` line (never a traceback), the documented exit code, an MP4 that decodes and
JSON Lines / CSV that end on a whole line. ``bench/bench_chaos.py`` runs the same cases and
prints the table of docs/faults.md."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


from tests.conftest import ROOT, data_path
from tests.io.fault_tools import (csv_rows, cut, decodable_frames, jsonl_frames, png_header,
                                  tmpfs)

EXE = Path(sys.executable).parent / "posekit"


def _env() -> dict:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    return env


def start(*args) -> subprocess.Popen:
    """``posekit run ARGS --quiet`` in a subprocess, SIGINT/SIGHUP at their defaults (as in a
    terminal; a background shell job would have them ignored, and children inherit that)."""
    def defaults():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)

    return subprocess.Popen([str(EXE), "run", *map(str, args), "--quiet"], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=defaults)


def run_cli(*args, timeout: float = 300) -> tuple[int, str]:
    p = start(*args)
    try:
        _, err = p.communicate(timeout=timeout)
    finally:
        p.kill()
    return p.returncode, err


def assert_one_error_line(err: str, fragment: str) -> None:
    assert "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], err


def wait_frames(path: Path, n: int, procs, timeout_s: float = 150.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count('"type":"frame"') >= n:
            return
        if any(p.poll() is not None for p in procs):
            return
        time.sleep(0.2)


# ------------------------------------------------------------------------------ signals
def test_sigterm_sighup_and_kill9_halfway_leave_files_that_play(tmp_path):
    """The issue's first row: only SIGINT used to finalize the MP4; now SIGTERM and SIGHUP do
    (exit 143 / 129), and after kill -9 the fragmented MP4 still plays up to its last
    fragment (1 s = 10 frames of vtest.avi)."""
    src = data_path("opencv-doc/vtest.avi")
    procs = {}
    for name in ("term", "hup", "kill"):
        d = tmp_path / name
        d.mkdir()
        procs[name] = (start(src, "--out", d / "x.mp4", "--json", d / "x.jsonl", "--csv",
                             d / "x.csv", "--max-frames", 400), d)
    try:
        for name, sig, after in (("term", signal.SIGTERM, 5), ("hup", signal.SIGHUP, 5),
                                 ("kill", signal.SIGKILL, 12)):
            p, d = procs[name]
            wait_frames(d / "x.jsonl", after, [p])
            assert p.poll() is None, p.communicate()[1]
            p.send_signal(sig)
        errs = {name: p.communicate(timeout=90)[1] for name, (p, _) in procs.items()}
    finally:
        for p, _ in procs.values():
            p.kill()
    for name, code in (("term", 143), ("hup", 129)):
        p, d = procs[name]
        assert p.returncode == code, (name, p.returncode, errs[name])
        assert "Traceback" not in errs[name] and "interrupted" in errs[name]
        frames = jsonl_frames(d / "x.jsonl")
        assert 5 <= frames < 400
        assert decodable_frames(d / "x.mp4") == (frames, None), name
        assert csv_rows(d / "x.csv") % 33 == 0
    p, d = procs["kill"]
    assert p.returncode == -signal.SIGKILL
    frames = jsonl_frames(d / "x.jsonl")          # whole lines only
    n, _ = decodable_frames(d / "x.mp4")
    assert 10 <= n <= frames, (n, frames)         # every fragment written before the kill
    csv_rows(d / "x.csv")


# ---------------------------------------------------------------------------- full disk
def test_full_disk_one_line_exit_2_and_files_that_read(tmp_path):
    src = data_path("opencv-doc/vtest.avi")
    with tmpfs(tmp_path, "512k") as disk:
        code, err = run_cli(src, "--out", disk / "x.mp4", "--json", disk / "x.jsonl", "--csv",
                            disk / "x.csv", "--max-frames", 300)
        assert code == 2, err
        assert_one_error_line(err, "no space left on device writing x.")
        n, decode_error = decodable_frames(disk / "x.mp4")
        assert decode_error is None and n >= 10 and n % 10 == 0, (n, decode_error)
        frames = jsonl_frames(disk / "x.jsonl")
        assert frames >= n
        csv_rows(disk / "x.csv")


# ---------------------------------------------------------------------- one path, one output
def test_two_outputs_on_one_file_are_refused_before_writing(tmp_path):
    """``--out s.jpg --json s.jpg`` (through ``..`` here); ``--json p.txt --csv p.txt``,
    symlinks and hard links are in tests/io/test_faults.py (the same check)."""
    (tmp_path / "sub").mkdir()
    code, err = run_cli(data_path("opencv-doc/messi5.jpg"), "--out", tmp_path / "s.jpg",
                        "--json", tmp_path / "sub" / ".." / "s.jpg")
    assert code == 2, err
    assert_one_error_line(err, "same file")
    assert not any(p.exists() for p in (tmp_path / "p.txt", tmp_path / "s.jpg")), \
        "something was written"


# ------------------------------------------------------------------------------ bad files
def test_folder_with_an_unreadable_image_goes_on_and_says_so(tmp_path):
    photo = data_path("opencv-doc/messi5.jpg")
    d = tmp_path / "imgs"
    d.mkdir()
    shutil.copy(photo, d / "a.jpg")
    (d / "b.jpg").write_bytes(photo.read_bytes()[:200])
    shutil.copy(photo, d / "c.jpg")
    code, err = run_cli(d, "--json", tmp_path / "p.jsonl")
    assert "Traceback" not in err, err
    assert "warning: skipped b.jpg: not a readable image" in err, err
    assert jsonl_frames(tmp_path / "p.jsonl") == 2          # c.jpg, after the bad one, too
    from posekit import cli

    assert code == cli.EXIT_SKIPPED == 3, err
    assert "skipped 1 of 3" in err, err


def test_png_claiming_100000_squared_pixels_one_line_exit_2(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(100_000, 100_000))
    t0 = time.monotonic()
    code, err = run_cli(bomb, "--json", tmp_path / "p.jsonl")
    assert code == 2, err
    assert_one_error_line(err, "bomb.png: 100000x100000 = 10000000000 pixels, over the limit")
    assert time.monotonic() - t0 < 60


def test_truncated_video_keeps_its_frames_and_says_where_it_ended(tmp_path):
    part = cut(data_path("opencv-doc/vtest.avi"), tmp_path / "cut.avi", 200_000)
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    code, err = run_cli(part, "--out", out, "--json", js)
    frames = jsonl_frames(js)
    assert code != 0, err
    assert_one_error_line(err, f"cut.avi ended at frame {frames} of 795")
    assert 2 < frames < 60
    assert decodable_frames(out) == (frames, None)
