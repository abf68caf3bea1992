"""posekit.analysis.camera.CameraMotion on real frames: the fall clips' frames warped by a
known hand-held or following camera path (tests/analysis/augment.py), with the poses mapped the
same way; the stage must bring the poses back to where a fixed camera sees them."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.analysis import Analyzer
from posekit.analysis.camera import CameraMotion, CameraMotionConfig, CameraMotionError

from . import augment, clips

STABLE_PX = 3.0     # median keypoint distance from the fixed camera's view, pixels


@pytest.mark.parametrize("name,follow", [("Fall10", 1.0), ("Fall03", 0.0)])
def test_stabilised_poses_and_fall_through_a_moving_camera(clip_poses, name, follow):
    """Fall10 through a camera that follows the person: the feet are never seen on the floor
    and the camera cancels the drop in the image, so only the background shows the fall."""
    c = clips.FALL_CLIPS[name]
    cp = clip_poses(c.path)
    maps = augment.camera_maps(cp, follow=follow, seed=4)
    moved = augment.moving_camera(cp, follow=follow, seed=4)
    cam, a = CameraMotion(), Analyzer("falls")
    events, errs = [], []
    for i, (im, p, t) in enumerate(zip(augment.camera_frames(cp, maps), moved.poses,
                                       cp.times)):
        st = cam.update(im, p)
        events += a.update(st, float(t))
        if len(p):
            want = cp.poses[i].keypoints.astype(np.float64) @ maps[0][:, :2].T + maps[0][:, 2]
            errs.append(np.nanmedian(np.linalg.norm(st.keypoints - want, axis=-1)))
    events += a.finish()
    assert np.median(errs) <= STABLE_PX, np.median(errs)
    falls = [e for e in events if e["type"] == "fall"]
    assert len(falls) == 1
    assert abs(falls[0]["onset_s"] - cp.frame_s(c.onset)) <= 1.0


def test_fixed_camera_stays_put_and_bad_input(clip_poses):
    cp = clip_poses(clips.NONFALL_CLIPS["stand"].path)
    cam = CameraMotion()
    maps = np.repeat(np.eye(2, 3)[None], len(cp.times), axis=0)
    for im, p in zip(augment.camera_frames(cp, maps), cp.poses):
        cam.update(im, p)
    assert np.abs(cam.to_first - np.eye(2, 3))[:, 2].max() < 2.0     # pixels
    assert np.abs(cam.to_first - np.eye(2, 3))[:, :2].max() < 0.01
    with pytest.raises(CameraMotionError, match="uint8"):
        cam.update(np.zeros((10, 10), np.float32))
    with pytest.raises(CameraMotionError, match="quality"):
        CameraMotionConfig(quality=2.0)
