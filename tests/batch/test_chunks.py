"""Long videos in chunks: the plan, seeking to a chunk, and stitching track IDs (no Ray)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.batch.chunks import ChunkSource, plan_chunks, stitch_jsonl
from posekit.io import open_source
from tests.conftest import data_path


def test_plan_covers_every_frame_with_overlaps():
    plan = plan_chunks(229, 24.0, 3.0, 0.5)   # 72-frame chunks, 12 frames shared
    assert plan == [(0, 84), (72, 156), (144, 229)]  # the 13-frame rest joins the last chunk
    assert plan_chunks(50, 24.0, 3.0, 0.5) == [(0, 50)]
    assert plan_chunks(86, 25.0, 3.0, 0.0) == [(0, 86)]
    covered = set()
    for a, b in plan_chunks(1000, 30.0, 4.0, 1.0):
        covered |= set(range(a, b))
    assert covered == set(range(1000))
    with pytest.raises(ValueError, match="overlap_s < chunk_s"):
        plan_chunks(100, 25.0, 2.0, 2.0)


def test_chunk_source_gives_the_frames_of_a_sequential_decode():
    path = data_path("medaipipe/situps.mp4")
    seq = list(open_source(str(path)))
    for a, b in [(0, 30), (100, 140), (200, 229)]:
        got = list(ChunkSource(path, a, b))
        assert [f.index for f in got] == list(range(a, b))
        for f in got:
            assert np.array_equal(f.image, seq[f.index].image)        # same pixels
            assert abs(f.time_s - seq[f.index].time_s) < 1e-3        # seconds


def _write(path, frames):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [{"type": "header", "format": "posekit.poses/1", "skeleton": "blazepose33",
              "keypoints": [], "edges": [], "source": "x.mp4", "fps": 25.0}]
    for i, persons in frames:
        lines.append({"type": "frame", "frame": i, "time_s": i / 25, "size_wh": [640, 480],
                      "persons": [{"index": j, "track_id": tid, "box": box, "score": 0.9,
                                   "keypoints": [], "world": None}
                                  for j, (tid, box) in enumerate(persons)]})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_stitch_joins_tracks_by_overlap_iou(tmp_path):
    left, right = [10, 10, 110, 210], [300, 10, 400, 210]
    # chunk 0: frames 0-9, tracks 1 (left) and 2 (right)
    _write(tmp_path / "0.jsonl", [(i, [(1, left), (2, right)]) for i in range(10)])
    # chunk 1: frames 6-14, its own IDs: 7 is the right person, 4 the left, 9 someone new
    # who appears after the overlap
    _write(tmp_path / "1.jsonl", [(i, [(7, right), (4, [x + 2 for x in left])]
                                   + ([(9, [500, 10, 600, 210])] if i >= 12 else []))
                                  for i in range(6, 15)])
    out = tmp_path / "poses.jsonl"
    stats = stitch_jsonl([tmp_path / "0.jsonl", tmp_path / "1.jsonl"], [(0, 10), (6, 15)],
                         out)
    assert stats == {"frames": 15, "persons": 20 + 10 + 3, "tracks": 3, "stitched": 2}
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs[0]["type"] == "header" and recs[0]["chunks"] == [[0, 10], [6, 15]]
    frames = recs[1:]
    assert [r["frame"] for r in frames] == list(range(15))   # each frame once
    by_box = {(r["frame"], p["box"][0]): p["track_id"] for r in frames for p in r["persons"]}
    assert by_box[(3, 10)] == by_box[(13, 12)] == 0       # the left person keeps ID 0
    assert by_box[(3, 300)] == by_box[(13, 300)] == 1     # the right one keeps ID 1
    assert by_box[(13, 500)] == 2                         # a new person: a new ID
    # the overlap frames come from chunk 0 (boxes not shifted)
    assert (8, 10) in by_box and (8, 12) not in by_box


def test_stitch_does_not_join_distant_tracks(tmp_path):
    _write(tmp_path / "0.jsonl", [(i, [(1, [10, 10, 110, 210])]) for i in range(10)])
    _write(tmp_path / "1.jsonl", [(i, [(1, [300, 10, 400, 210])]) for i in range(6, 15)])
    stats = stitch_jsonl([tmp_path / "0.jsonl", tmp_path / "1.jsonl"], [(0, 10), (6, 15)],
                         tmp_path / "poses.jsonl")
    assert stats["stitched"] == 0 and stats["tracks"] == 2
