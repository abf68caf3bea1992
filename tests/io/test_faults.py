"""Faults in the library's sources and sinks, on real media: a hard stop mid-video, a full disk
(a real 1 MB tmpfs), two outputs on one file, unreadable and oversized images in a folder, a
decompression-bomb PNG header, a cut video, and the signal handling the CLI uses."""

from __future__ import annotations

import logging
import os
import shutil
import time

import numpy as np
import pytest

from posekit import BLAZEPOSE_33, Poses
from posekit.errors import OutputError, PixelLimitError, SourceError, TruncatedVideoError
from posekit.io import (CsvSink, JsonlSink, VideoSink, check_distinct_outputs, open_source,
                        read_image)
from posekit.io.sinks import complete_mp4_length
from tests.conftest import data_path
from tests.io.fault_tools import (csv_rows, cut, decodable_frames, jsonl_frames, png_header,
                                  tmpfs)


def vtest_frames(n: int):
    src = open_source(data_path("opencv-doc/vtest.avi"))
    out = []
    for f in src:
        out.append(f)
        if len(out) == n:
            break
    src.close()
    return out


def one_person(w: int, h: int) -> Poses:
    kp = np.stack([np.linspace(0.2 * w, 0.8 * w, 33), np.linspace(0.1 * h, 0.9 * h, 33)], 1)
    return Poses(kp[None].astype(np.float32), np.full((1, 33), 0.9, np.float32), BLAZEPOSE_33)


# --------------------------------------------------------------------------- video stops
def test_mp4_cut_anywhere_still_decodes_what_was_written(tmp_path):
    """A hard stop (kill -9, power cut) leaves the file as it was on disk: cut the finished MP4
    at several points and decode each with PyAV."""
    frames = vtest_frames(50)            # 5 s at 10 fps: 5 fragments of 1 s
    out = tmp_path / "v.mp4"
    with VideoSink(out, fps=10.0, size_wh=(768, 576)) as s:
        for f in frames:
            s.write(f)
    assert decodable_frames(out) == (50, None)
    full = out.read_bytes()
    got = []
    for frac in (0.3, 0.55, 0.8):
        part = tmp_path / f"cut{frac}.mp4"
        part.write_bytes(full[: int(len(full) * frac)])
        n, _ = decodable_frames(part)
        got.append(n)
        # Everything in whole fragments (10 frames each) before the cut decodes.
        keep = complete_mp4_length(part)
        assert keep is not None and 0 < keep <= len(full) * frac
        whole = tmp_path / f"whole{frac}.mp4"
        whole.write_bytes(full[:keep])
        nw, err = decodable_frames(whole)
        assert err is None and nw % 10 == 0 and n >= nw, (nw, n, err)
        assert nw >= 10 or frac < 0.4          # the first fragment (key frame) is the largest
    assert got == sorted(got) and got[0] >= 5, got


_SIGNALS_BODY = """
import os, signal, time
from posekit.io.signals import Interrupted, stop_on_signals
with stop_on_signals() as stop:
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1.0)
        raise SystemExit("no Interrupted raised")
    except Interrupted as e:
        assert e.signum == signal.SIGTERM and e.exit_code == 143, (e.signum, e.exit_code)
        assert isinstance(e, KeyboardInterrupt)
    os.kill(os.getpid(), signal.SIGHUP)      # a second signal while finalizing: ignored
    time.sleep(0.05)
    assert (stop.signum, stop.count, stop.exit_code) == (signal.SIGTERM, 2, 143)
assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL   # handlers restored
old = signal.signal(signal.SIGHUP, signal.SIG_IGN)       # as under nohup
with stop_on_signals() as stop:
    os.kill(os.getpid(), signal.SIGHUP)
    time.sleep(0.05)
    assert stop.signum is None
assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
print("ok")
"""


def test_signals_raise_interrupted_once_with_the_shell_exit_code():
    """SIGTERM raises Interrupted (exit code 143) once, a second signal while finalizing is
    ignored, handlers are restored, and a signal ignored at start (nohup) stays ignored. Run in
    a fresh interpreter: signals sent to the test process itself would meet the native signal
    handlers that libraries loaded by earlier tests (Ray's driver) leave behind."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    r = subprocess.run([sys.executable, "-c", _SIGNALS_BODY], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


# ---------------------------------------------------------------------------- full disk
def test_full_disk_one_line_error_and_files_that_read(tmp_path):
    frames = vtest_frames(120)
    with tmpfs(tmp_path, "1m") as disk:
        sinks = [VideoSink(disk / "x.mp4", fps=10.0, size_wh=(768, 576)),
                 JsonlSink(disk / "x.jsonl", BLAZEPOSE_33), CsvSink(disk / "x.csv")]
        errors = []
        written = 0
        for f in frames:
            try:
                for s in sinks:
                    s.write(f, one_person(768, 576), None)
                written += 1
            except OutputError as e:
                errors.append(str(e))
                break
        for s in sinks:
            s.close()                  # finalizing after ENOSPC never raises again
        assert errors and errors[0].startswith("no space left on device writing x."), errors
        assert 5 < written < 120
        n, err = decodable_frames(disk / "x.mp4")
        assert err is None and 0 < n <= written, (n, err)
        assert n % 10 == 0             # cut back to its last whole 1 s fragment
        j = jsonl_frames(disk / "x.jsonl")
        assert written - 1 <= j <= written + 1
        assert csv_rows(disk / "x.csv") % 33 == 0


def test_jsonl_on_a_full_disk_keeps_its_last_whole_line(tmp_path):
    with tmpfs(tmp_path, "64k") as disk:
        s = JsonlSink(disk / "p.jsonl", BLAZEPOSE_33)
        f = vtest_frames(1)[0]
        with pytest.raises(OutputError, match="no space left on device writing p.jsonl"):
            for _ in range(1000):
                s.write(f, one_person(768, 576))
        with pytest.raises(OutputError):                 # stays failed
            s.write(f, one_person(768, 576))
        s.close()
        assert jsonl_frames(disk / "p.jsonl") == s.frames > 10


# -------------------------------------------------------------------- one path, one output
def test_two_outputs_on_one_file_are_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "p.txt").write_text("")
    os.symlink(tmp_path / "p.txt", tmp_path / "link.csv")
    os.link(tmp_path / "p.txt", tmp_path / "hard.csv")
    for a, b in [("p.txt", "p.txt"), ("p.txt", "sub/../p.txt"), ("p.txt", "link.csv"),
                 ("p.txt", "hard.csv"), ("new.jsonl", "sub/../new.jsonl")]:
        with pytest.raises(OutputError, match="--json and --csv are the same file"):
            check_distinct_outputs({"--json": tmp_path / a, "--csv": tmp_path / b})
    check_distinct_outputs({"--json": tmp_path / "a.jsonl", "--csv": tmp_path / "a.csv",
                            "--coco": None})
    src = data_path("opencv-doc/messi5.jpg")
    with pytest.raises(OutputError, match="refusing to overwrite the input"):
        check_distinct_outputs({"--out": src}, inputs=[src])
    assert not (tmp_path / "new.jsonl").exists() and not (tmp_path / "a.jsonl").exists()


# --------------------------------------------------------------- bad images in a folder
def test_folder_skips_unreadable_and_oversized_images_and_counts(tmp_path, caplog):
    good = data_path("opencv-doc/messi5.jpg")
    d = tmp_path / "imgs"
    d.mkdir()
    shutil.copy(good, d / "a.jpg")
    (d / "b.jpg").write_bytes(good.read_bytes()[:300])           # cut: no pixel data
    (d / "c.png").write_bytes(png_header(100_000, 100_000))      # a bomb's header
    shutil.copy(good, d / "d.jpg")
    seen = []
    src = open_source(d, on_skip=lambda p, why: seen.append(p.name))
    assert src.info.size_wh == (548, 342)
    with caplog.at_level(logging.WARNING, logger="posekit.io.sources"):
        t0 = time.perf_counter()
        frames = list(src)
        dt = time.perf_counter() - t0
    assert [os.path.basename(f.source) for f in frames] == ["a.jpg", "d.jpg"]
    assert [f.index for f in frames] == [0, 1]
    assert src.processed == 2 and [p.name for p, _ in src.skipped] == ["b.jpg", "c.png"]
    assert seen == ["b.jpg", "c.png"]
    assert "not a readable image" in src.skipped[0][1]
    assert src.skipped[1][1] == "100000x100000 = 10000000000 pixels, over the limit of 100000000"
    msgs = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("skipped b.jpg: ") for m in msgs), msgs
    assert dt < 5.0      # the bomb is refused from its header, not decoded


def test_a_folder_of_only_bad_images_is_an_error(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "x.jpg").write_bytes(b"not an image")
    with pytest.raises(SourceError, match="not one of the 1 images could be read"):
        list(open_source(d))


def test_pixel_limit_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(100_000, 100_000))
    t0 = time.perf_counter()
    with pytest.raises(PixelLimitError, match=r"100000x100000 = 10000000000 pixels, over the "
                       r"limit of 100000000"):
        open_source(bomb)
    with pytest.raises(PixelLimitError):
        read_image(bomb)
    assert time.perf_counter() - t0 < 1.0
    # A real photo over a lower limit; the same photo under it decodes.
    photo = data_path("opencv-doc/messi5.jpg")
    with pytest.raises(PixelLimitError, match="548x342"):
        read_image(photo, max_pixels=100_000)
    assert read_image(photo, max_pixels=548 * 342).shape == (342, 548, 3)
    with pytest.raises(PixelLimitError, match=r"vtest.avi \(video frames\): 768x576"):
        open_source(data_path("opencv-doc/vtest.avi"), max_pixels=400_000)


# ----------------------------------------------------------------------- truncated video
def test_truncated_video_raises_after_its_frames(tmp_path):
    part = cut(data_path("opencv-doc/vtest.avi"), tmp_path / "cut.avi", 1_000_000)
    src = open_source(part)
    assert src.info.frames == 795
    got = []
    with pytest.raises(TruncatedVideoError) as e:
        for f in src:
            got.append(f.index)
    assert got == list(range(len(got))) and 50 < len(got) < 795
    assert str(e.value) == f"cut.avi ended at frame {len(got)} of 795"
    assert (e.value.frames, e.value.declared) == (len(got), 795)


def test_a_whole_video_is_not_called_truncated():
    src = open_source(data_path("mmpose/demo/resources/body3d_demo.mp4"))
    assert sum(1 for _ in src) == 399 == src.info.frames
