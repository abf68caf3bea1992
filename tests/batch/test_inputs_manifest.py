"""Batch inputs, names, manifest and hashes (no Ray, no model)."""

from __future__ import annotations

import json
import os

import pytest

from posekit.batch.inputs import expand_inputs, unique_names
from posekit.batch.manifest import Manifest, config_hash, content_hash, source_stat
from posekit.errors import OutputError, PoseKitError
from tests.conftest import data_path


@pytest.fixture()
def tree(tmp_path):
    """a/clip.mp4, b/clip.mp4, b/clip.avi, frames/{0,1}.jpg, notes.md, nested/deep/x.mkv."""
    for rel in ("a/clip.mp4", "b/clip.mp4", "b/clip.avi", "frames/0.jpg", "frames/1.jpg",
                "notes.md", "nested/deep/x.mkv"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rel.encode() * 10)
    return tmp_path


def test_folder_is_searched_for_videos_and_image_folders(tree):
    got = {(os.path.relpath(s.path, tree), s.kind) for s in expand_inputs([str(tree)])}
    assert got == {("a/clip.mp4", "video"), ("b/clip.mp4", "video"), ("b/clip.avi", "video"),
                   ("frames", "images"), ("nested/deep/x.mkv", "video")}


def test_glob_text_list_and_dedup(tree):
    lst = tree / "list.txt"
    lst.write_text("# clips\na/clip.mp4\n\nframes\nmissing.mp4\n")
    srcs = expand_inputs([str(tree / "**" / "*.mp4"), str(lst)])
    rel = [os.path.relpath(s.path, tree) for s in srcs]
    # the glob's matches in order, then the list's new entries; a/clip.mp4 once
    assert rel == ["a/clip.mp4", "b/clip.mp4", "frames", "missing.mp4"]
    assert srcs[-1].kind == "video"  # kept: it fails alone in the batch, named


def test_nothing_found_is_an_error(tmp_path):
    with pytest.raises(PoseKitError, match="no video, image or image folder"):
        expand_inputs([str(tmp_path / "*.mp4")])
    with pytest.raises(PoseKitError, match="no input"):
        expand_inputs([])


def test_names_unique_for_equal_stems_and_stable(tree):
    srcs = expand_inputs([str(tree / "a"), str(tree / "b"), str(tree / "frames")])
    names = unique_names(srcs)
    assert len(set(names)) == len(names) == 4
    assert names[3] == "frames"
    assert all(n.startswith("clip-") and len(n) == 13 for n in names[:3])
    # a rerun keeps the names the manifest recorded, whatever else is in the batch
    known = {srcs[0].path: "clip"}
    again = unique_names(srcs, known)
    assert again[0] == "clip" and again[1:] == names[1:]
    # a name an earlier run gave a source that is not in this batch is not reused
    (x,) = expand_inputs([str(tree / "nested")])
    assert unique_names([x], {"/elsewhere/x.mkv": "x"})[0].startswith("x-")
    assert unique_names([x])[0] == "x"
    # the batch's own files are never a source's folder
    p = tree / "poses.parquet.mp4"
    p.write_bytes(b"x")
    (s,) = expand_inputs([str(p)])
    assert unique_names([s])[0] != "poses.parquet"


def test_content_hash_fast_and_full(tmp_path):
    big = tmp_path / "big.bin"
    data = bytearray(os.urandom(5 << 20))
    big.write_bytes(data)
    fast, full = content_hash(big), content_hash(big, full=True)
    assert fast.startswith("fast1:") and full.startswith("sha256:")
    data[2 << 20] ^= 1  # a byte in the middle: the fast hash does not read it (documented)
    big.write_bytes(data)
    assert content_hash(big) == fast and content_hash(big, full=True) != full
    data[-1] ^= 1  # the last MiB: both see it
    big.write_bytes(data)
    assert content_hash(big) != fast
    assert content_hash(tmp_path / "missing") is None
    assert source_stat(big)[0] == 5 << 20


def test_config_hash_canonical():
    a = config_hash({"model": {"name": "blazepose"}, "max_frames": None}, "t/1")
    b = config_hash({"max_frames": None, "model": {"name": "blazepose"}}, "t/1")
    assert a == b != config_hash({"model": {"name": "blazepose"}, "max_frames": 5}, "t/1")
    assert a != config_hash({"model": {"name": "blazepose"}, "max_frames": None}, "t/2")


def test_manifest_roundtrip_atomic_and_checks(tmp_path):
    m = Manifest(tmp_path)
    m.update("clip", source="/x/clip.mp4", status="done", content_hash="h", config_hash="c",
             outputs={"table": "poses.parquet/clip.parquet"})
    m.save()
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary left
    m2 = Manifest(tmp_path)
    assert m2.names_by_path() == {"/x/clip.mp4": "clip"}
    assert not m2.is_done("clip", "h", "c")  # its table part is missing
    (tmp_path / "poses.parquet").mkdir()
    (tmp_path / "poses.parquet" / "clip.parquet").write_bytes(b"x")
    assert m2.is_done("clip", "h", "c")
    assert not m2.is_done("clip", "h2", "c") and not m2.is_done("clip", "h", "c2")
    with pytest.raises(ValueError, match="status must be one of"):
        m2.update("clip", status="finished")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(OutputError, match="cannot read the batch manifest"):
        Manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(OutputError, match="not a posekit.batch-manifest/1"):
        Manifest(tmp_path)


def test_cli_bad_input_exits_2_without_ray(tmp_path):
    import typer
    from typer.testing import CliRunner

    from posekit.batch.cli import batch

    app = typer.Typer()
    app.command()(batch)
    app.command("noop")(lambda: None)
    r = CliRunner().invoke(app, ["batch", str(tmp_path / "*.mp4"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "error: no video, image or image folder found" in r.output
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "clip.mp4").symlink_to(data_path("Human-Activity-Recognition/wave.mp4"))
    r = CliRunner().invoke(app, ["batch", str(tmp_path / "v"), "--out", str(tmp_path / "o"),
                                 "--chunk-s", "5", "--overlap-s", "5"])
    assert r.exit_code == 2
    assert "error: chunks: expected 0 <= overlap_s < chunk_s" in r.output
