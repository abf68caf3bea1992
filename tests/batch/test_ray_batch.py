"""``posekit batch`` on a real local Ray cluster (one cluster for this module) and real clips."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace

import pytest
import typer
from typer.testing import CliRunner

from posekit.batch.cli import batch
from posekit.batch.runner import run_batch
from posekit.batch.table import TABLE_DIR, read_table
from posekit.batch.worker import batch_config
from tests.conftest import data_path

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")

MAX_FRAMES = 15


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module (the runner uses an initialised Ray as it is)."""
    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three real clips (two with the same file name, in different folders), a folder holding
    five images and a clip of them (two sources, both named after the folder), and a corrupt
    file, listed in a text file."""
    d = tmp_path_factory.mktemp("inputs")
    for folder, rel in (("a", "Human-Activity-Recognition/wave.mp4"),
                        ("b", "Human-Activity-Recognition/stand.mp4")):
        (d / folder).mkdir()
        (d / folder / "clip.mp4").symlink_to(data_path(rel))
    (d / "situps.mp4").symlink_to(data_path("medaipipe/situps.mp4"))
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 100)
    seq = data_path("mmpose/tests/data/posetrack18/videos/000001_mpiinew_test")
    lst = d / "inputs.txt"
    lst.write_text(f"a/clip.mp4\nb/clip.mp4\nsitups.mp4\n{seq}\nbroken.mp4\n")
    return lst


app = typer.Typer()
app.command()(batch)
app.command("noop")(lambda: None)  # two commands: typer keeps `batch` as a subcommand


@pytest.fixture(scope="module")
def first_run(cluster, clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    r = CliRunner().invoke(app, ["batch", str(clips), "--out", str(out), "--max-frames",
                                 str(MAX_FRAMES), "--workers", "2", "--quiet"])
    return out, r


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())["sources"]


def test_good_outputs_one_named_failure_nonzero_exit(first_run):
    out, r = first_run
    assert r.exit_code == 1, r.output
    m = _manifest(out)
    assert len(m) == 6
    failed = {k: v for k, v in m.items() if v["status"] == "failed"}
    assert list(failed) == ["broken"]
    assert "broken.mp4" in failed["broken"]["error"]
    assert "failed: broken:" in r.output and "broken.mp4" in r.output
    done = {k: v for k, v in m.items() if v["status"] == "done"}
    assert len(done) == 5 and "situps" in done
    assert sorted(k.rsplit("-", 1)[0] for k in done if k != "situps") == \
        ["000001_mpiinew_test", "000001_mpiinew_test", "clip", "clip"]
    kinds = sorted(e["kind"] for e in done.values())
    assert kinds == ["images"] + ["video"] * 4
    for name, e in done.items():
        jsonl = out / name / "poses.jsonl"
        frames = sum(json.loads(line)["type"] == "frame" for line in jsonl.open())
        assert frames == e["frames"] == e["frames_expected"] == \
            (5 if name.startswith("000001") else MAX_FRAMES)
        assert (out / TABLE_DIR / f"{name}.parquet").is_file()
        assert e["content_hash"].startswith("fast1:") and e["attempts"] == 1


def test_table_has_every_person_frame_of_the_jsonl(first_run):
    out, _ = first_run
    expected = {}
    for name, e in _manifest(out).items():
        if e["status"] != "done":
            continue
        n = 0
        for line in (out / name / "poses.jsonl").open():
            rec = json.loads(line)
            n += len(rec.get("persons") or ())
        expected[name] = n
    t = read_table(out)
    got = {}
    for s in t["source"].to_pylist():
        got[s] = got.get(s, 0) + 1
    assert got == {k: v for k, v in expected.items() if v} and sum(expected.values()) > 40


def test_rerun_does_no_work(first_run, clips):
    out, _ = first_run
    parts = {p.name: p.stat().st_mtime_ns for p in (out / TABLE_DIR).iterdir()}
    before = _manifest(out)
    cfg = replace(batch_config(), max_frames=MAX_FRAMES)  # what the CLI ran
    res = run_batch([str(clips)], out, cfg, workers=2)
    assert res.done == [] and res.workers == 0 and res.frames == 0
    assert sorted(res.skipped) == sorted(k for k, v in before.items() if v["status"] == "done")
    assert list(res.failed) == ["broken"] and res.failed_before == ["broken"]
    assert res.exit_code == 1
    assert {p.name: p.stat().st_mtime_ns for p in (out / TABLE_DIR).iterdir()} == parts
    assert {k: v["status"] for k, v in _manifest(out).items()} == \
        {k: v["status"] for k, v in before.items()}


def test_killed_worker_is_retried_and_batch_completes(cluster, tmp_path):
    clip = data_path("medaipipe/situps.mp4")
    other = data_path("Human-Activity-Recognition/wave.mp4")
    cfg = replace(batch_config(), max_frames=30)
    killed: list[int] = []

    def on_progress(p):
        for name, r in p.running.items():
            if name == "situps" and not killed and r["frames"] >= 3:
                killed.append(r["pid"])
                os.kill(r["pid"], signal.SIGKILL)

    res = run_batch([str(clip), str(other)], tmp_path, cfg, workers=2, retries=1,
                    on_progress=on_progress, progress_every_s=0.2)
    assert killed, "the worker was never seen running"
    assert res.retried == 1 and res.failed == {} and res.exit_code == 0
    assert sorted(res.done) == ["situps", "wave"] and res.frames == 60
    m = _manifest(tmp_path)
    assert m["situps"]["attempts"] == 2 and m["situps"]["status"] == "done"
    assert int(m["situps"]["worker"].split(":")[1]) != killed[0]
    assert read_table(tmp_path).num_rows == m["situps"]["persons"] + m["wave"]["persons"]


def test_long_video_in_chunks_on_two_workers(cluster, tmp_path):
    """96 frames of one person in 36-frame chunks sharing 12 frames: 3 tasks on 2 workers,
    every frame once in the table, and one track ID across the chunks."""
    clip = data_path("medaipipe/situps.mp4")  # 24 frames/s
    res = run_batch([str(clip)], tmp_path, replace(batch_config(), max_frames=96), workers=2,
                    chunk_s=1.5, overlap_s=0.5)
    assert res.done == ["situps"] and res.frames == 96, res.failed
    m = _manifest(tmp_path)["situps"]
    assert m["chunks"] == [[0, 48], [36, 84], [72, 96]]
    assert len(set(m["worker"].split(", "))) == 2  # both workers took chunks
    t = read_table(tmp_path).to_pandas()
    assert t["frame"].is_unique and t["frame"].max() == 95 and len(t) >= 90
    assert t["track_id"].nunique() == 1 and m["stitched_tracks"] == 2
    lines = (tmp_path / "situps" / "poses.jsonl").read_text().splitlines()
    assert sum(json.loads(x)["type"] == "frame" for x in lines) == 96
