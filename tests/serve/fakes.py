"""A fake pose model for the service tests: deterministic, instant, no weights.

It finds one "person" in any image that is not (nearly) black: the 33 BlazePose keypoints laid
out on a fixed stick figure scaled to the image (pixels of the input, x right, y down), with
visibility 0.9; a black image (mean < 5) gives no person. ``calls`` counts frames per instance.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from posekit.models import as_frame, register
from posekit.skeletons import BLAZEPOSE_33
from posekit.types import Poses

# Normalised (x, y) of each BlazePose landmark on a standing figure (0..1 of the image).
_LAYOUT = np.array([
    (.50, .10), (.49, .09), (.48, .09), (.47, .09), (.51, .09), (.52, .09), (.53, .09),
    (.45, .10), (.55, .10), (.49, .12), (.51, .12), (.40, .20), (.60, .20), (.36, .35),
    (.64, .35), (.34, .48), (.66, .48), (.33, .50), (.67, .50), (.33, .51), (.67, .51),
    (.34, .50), (.66, .50), (.44, .52), (.56, .52), (.44, .70), (.56, .70), (.44, .88),
    (.56, .88), (.43, .90), (.57, .90), (.46, .92), (.54, .92)], np.float32)
assert _LAYOUT.shape == (33, 2)


class FakePose:
    """``model(frame) -> Poses`` with one person (see the module docstring)."""

    name = "fake"
    skeleton = BLAZEPOSE_33
    instances = 0
    _lock = threading.Lock()

    def __init__(self, *, delay_s: float = 0.0, mode: str = "video", **unused):
        self.delay_s = delay_s
        self.mode = mode
        self.last_timings: dict[str, float] = {}
        self.calls = 0
        self.closed = False
        with FakePose._lock:
            FakePose.instances += 1

    def __call__(self, frame) -> Poses:
        frame = as_frame(frame)
        t0 = time.perf_counter()
        if self.delay_s:
            time.sleep(self.delay_s)
        self.calls += 1
        h, w = frame.shape_hw
        if float(frame.image.mean()) < 5.0:
            poses = Poses.empty(BLAZEPOSE_33, with_world=True)
        else:
            kp = (_LAYOUT * np.array([w, h], np.float32))[None]
            poses = Poses(kp, np.full((1, 33), 0.9, np.float32), BLAZEPOSE_33,
                          world=np.zeros((1, 33, 3), np.float32))
        self.last_timings = {"infer": time.perf_counter() - t0}
        return poses

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def fake_layout_px(w: int, h: int) -> np.ndarray:
    """The fake person's keypoints (33, 2) float32 in pixels of a w x h image."""
    return _LAYOUT * np.array([w, h], np.float32)


register("fake", FakePose)
