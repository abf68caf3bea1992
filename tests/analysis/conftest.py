"""Fixtures for the analysis tests: cached per-clip poses of the analytics clips."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.analysis import Analyzer

from . import clips


@pytest.fixture(scope="session")
def clip_poses():
    """``clip_poses(path) -> clips.ClipPoses``: runs the model once per clip (cached on disk in
    ``cache_dir()/test-poses`` and in memory); skips when the clip is not available."""
    def get(path: str) -> clips.ClipPoses:
        if not (clips.DATA / path).is_file():
            pytest.skip(f"analytics clip not available: {clips.DATA / path}")
        return clips.clip_poses(path)
    return get


def run(cp: clips.ClipPoses, analyses: str, *, every: int = 1, **kw) -> tuple[Analyzer, list]:
    """Run an :class:`Analyzer` over a clip's poses (every ``every``-th sample); returns the
    analyzer and all its events (including :meth:`Analyzer.finish`)."""
    a = Analyzer(analyses, **kw)
    events = []
    for t, p in list(zip(cp.times, cp.poses))[::every]:
        events += a.update(p, float(t))
    events += a.finish()
    return a, events


def frames(cp: clips.ClipPoses, seconds) -> np.ndarray:
    """Seconds -> (fractional) frame indices of the clip."""
    return np.asarray(seconds, float) * cp.fps
