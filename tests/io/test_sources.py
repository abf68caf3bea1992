"""Sources on real media: frame counts, sizes, timestamps, ordering, early stop releases."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.errors import SourceError
from posekit.io import open_source
from tests.conftest import data_path


def test_video_decodes_every_frame_with_container_times():
    src = open_source(data_path("opencv-doc/vtest.avi"))
    assert (src.info.kind, src.info.frames, src.info.size_wh, src.info.fps) == \
        ("video", 795, (768, 576), 10.0)
    frames = list(src)
    assert len(frames) == 795
    assert [f.index for f in frames[:3]] == [0, 1, 2]
    t = np.array([f.time_s for f in frames])
    assert t[0] == 0.0 and np.allclose(np.diff(t), 0.1, atol=1e-6)
    assert frames[10].image.shape == (576, 768, 3) and frames[10].image.dtype == np.uint8


def test_folder_and_glob_are_sorted_images():
    d = data_path("openpose/examples/media")
    a = open_source(d)
    b = open_source(str(d / "COCO_val2014_*.jpg"))
    names_a = [f.source for f in a]
    names_b = [f.source for f in b]
    assert len(names_a) == 20 and names_a == names_b == sorted(names_a)


def test_early_break_releases_the_container():
    src = open_source(data_path("opencv-doc/vtest.avi"))
    for f in src:
        if f.index == 3:
            break
    src.close()
    assert src._container is None


def test_bad_specs():
    with pytest.raises(SourceError, match="no images match"):
        open_source("/nonexistent/*.jpg")
    with pytest.raises(SourceError, match="no such file"):
        open_source("/nonexistent/x.mp4")
