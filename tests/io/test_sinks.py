"""Sinks: the MP4 keeps size, frame count and timing; odd sizes; JSONL NaN as null."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np

from posekit import BLAZEPOSE_33, Frame, Poses
from posekit.io import JsonlSink, VideoSink


def test_video_sink_odd_size_and_timing(tmp_path):
    out = tmp_path / "o.mp4"
    with VideoSink(out, fps=25.0, size_wh=(101, 75)) as s:
        for i in range(30):
            img = np.full((75, 101, 3), i * 8, np.uint8)
            s.write(Frame(img, i, i / 25.0), None)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        assert len(frames) == 30
        assert v.average_rate == Fraction(25)
        assert (v.codec_context.width, v.codec_context.height) == (102, 76)  # padded to even
        assert abs(frames[-1].time - 29 / 25) < 1e-3
        # Content survives encoding: frame 20's mean grey ~ 160.
        assert abs(frames[20].to_ndarray(format="gray").mean() - 160) < 3


def test_jsonl_missing_keypoints_are_null(tmp_path):
    kp = np.full((1, 33, 2), 5.0, np.float32)
    kp[0, 3] = np.nan
    p = Poses(kp, np.ones((1, 33)), BLAZEPOSE_33)
    out = tmp_path / "p.jsonl"
    with JsonlSink(out, BLAZEPOSE_33) as s:
        s.write(Frame(np.zeros((10, 10, 3), np.uint8), 0, 0.0), p)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[1]["persons"][0]["keypoints"][3][:2] == [None, None]
    assert lines[1]["persons"][0]["world"] is None
    assert "coasting" not in lines[1]["persons"][0]


def test_jsonl_marks_coasting_persons(tmp_path):
    kp = np.full((2, 33, 2), 5.0, np.float32)
    kp[1] = np.nan
    p = Poses(kp, np.ones((2, 33)), BLAZEPOSE_33, extras={"coasting": np.array([False, True])})
    out = tmp_path / "p.jsonl"
    with JsonlSink(out, BLAZEPOSE_33) as s:
        s.write(Frame(np.zeros((10, 10, 3), np.uint8), 0, 0.0), p)
    persons = json.loads(out.read_text().splitlines()[1])["persons"]
    assert "coasting" not in persons[0] and persons[1]["coasting"] is True
    assert all(k[:2] == [None, None] for k in persons[1]["keypoints"])


def test_jsonl_marks_persons_carried_by_optical_flow(tmp_path):
    kp = np.full((2, 33, 2), 5.0, np.float32)
    p = Poses(kp, np.ones((2, 33)), BLAZEPOSE_33, extras={"carried": np.array([True, False])})
    out = tmp_path / "p.jsonl"
    with JsonlSink(out, BLAZEPOSE_33) as s:
        s.write(Frame(np.zeros((10, 10, 3), np.uint8), 0, 0.0), p)
    persons = json.loads(out.read_text().splitlines()[1])["persons"]
    assert persons[0]["carried"] is True and "carried" not in persons[1]
    assert persons[0]["keypoints"][0][:2] == [5.0, 5.0]
