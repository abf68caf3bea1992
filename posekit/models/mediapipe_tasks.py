"""``blazepose-mediapipe``: BlazePose through MediaPipe Tasks' PoseLandmarker (the reference).

The ``.task`` bundle is built from the installed ``mediapipe==0.10.21`` wheel by
:func:`posekit.models.assets.blazepose_task_bundle`; nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ModelError
from ..skeletons import BLAZEPOSE_33
from ..types import Frame, Poses, boxes_from_keypoints
from . import as_frame
from .assets import blazepose_task_bundle


@dataclass(frozen=True, kw_only=True)
class MediaPipeConfig:
    """Settings of :class:`MediaPipePose`.

    Attributes:
        max_people: most persons returned per frame (PoseLandmarker ``num_poses``).
        min_score: minimum detection, presence and tracking confidence in [0, 1].
        mode: ``"image"`` (every frame independent, detector on each) or ``"video"``
            (PoseLandmarker VIDEO mode: landmarks track across frames; timestamps in ``time_s``
            must increase).
    """

    max_people: int = 5
    min_score: float = 0.5
    mode: str = "video"


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence C++ log lines (glog/absl/TFLite INFO and warnings) written to file descriptor 2
    while the block runs; Python's ``sys.stderr`` is flushed first and keeps working after."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters, some test runners)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class MediaPipePose:
    """BlazePose 33 landmarks (2D pixels, visibility, presence, world metres) via MediaPipe Tasks.

    Output :class:`Poses`: ``keypoints`` (N, 33, 2) float32 pixels of the input frame,
    ``scores`` = visibility (N, 33), ``presence`` (N, 33), ``world`` (N, 33, 3) metres
    (hip-centred, from the model's world landmarks), ``person_scores`` = mean visibility.

    Raises:
        ModelError: the bundle cannot be built or PoseLandmarker fails to load.
    """

    name = "blazepose-mediapipe"
    skeleton = BLAZEPOSE_33

    def __init__(self, *, max_people: int = 5, min_score: float = 0.5, mode: str = "video",
                 **unused):
        from ..config import check_settings

        check_settings("blazepose-mediapipe", unused, ("max_people", "min_score", "mode"))
        self.config = MediaPipeConfig(max_people=max_people, min_score=min_score, mode=mode)
        if mode not in ("image", "video"):
            raise ModelError(f"mode must be 'image' or 'video', got {mode!r}")
        if max_people < 1:
            raise ModelError(f"max_people must be at least 1, got {max_people}")
        self.last_timings: dict[str, float] = {}
        self._landmarker = None
        self._last_ms = -1
        self._open()

    def _open(self) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        c = self.config
        mode = vision.RunningMode.VIDEO if c.mode == "video" else vision.RunningMode.IMAGE
        opts = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(blazepose_task_bundle())),
            running_mode=mode, num_poses=c.max_people,
            min_pose_detection_confidence=c.min_score, min_pose_presence_confidence=c.min_score,
            min_tracking_confidence=c.min_score, output_segmentation_masks=False)
        try:
            with quiet_native_stderr():
                self._landmarker = vision.PoseLandmarker.create_from_options(opts)
        except Exception as e:
            raise ModelError(f"PoseLandmarker failed to load: {e}") from e
        self._last_ms = -1
        self._calls = 0

    def reset(self) -> None:
        """Forget video state (a new PoseLandmarker; timestamps may restart)."""
        self.close()
        self._open()

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        import mediapipe as mp

        frame = as_frame(frame)
        t0 = time.perf_counter()
        h, w = frame.shape_hw
        image = mp.Image(image_format=mp.ImageFormat.SRGB,
                         data=cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))
        t1 = time.perf_counter()
        # The graph logs a few warnings on its first run; keep them off the user's terminal.
        quiet = quiet_native_stderr() if self._calls < 2 else contextlib.nullcontext()
        self._calls += 1
        with quiet:
            if self.config.mode == "video":
                # VIDEO mode needs strictly increasing integer milliseconds.
                ms = max(int(round(frame.time_s * 1000.0)), self._last_ms + 1)
                self._last_ms = ms
                result = self._landmarker.detect_for_video(image, ms)
            else:
                result = self._landmarker.detect(image)
        t2 = time.perf_counter()
        poses = self._to_poses(result, w, h)
        t3 = time.perf_counter()
        self.last_timings = {"preprocess": t1 - t0, "infer": t2 - t1, "postprocess": t3 - t2}
        return poses

    @staticmethod
    def _to_poses(result, w: int, h: int) -> Poses:
        n = len(result.pose_landmarks)
        if n == 0:
            return Poses.empty(BLAZEPOSE_33, with_world=True)
        a = np.array([[(p.x, p.y, p.visibility, p.presence) for p in lm]
                      for lm in result.pose_landmarks], np.float32)
        world = np.array([[(p.x, p.y, p.z) for p in lm] for lm in result.pose_world_landmarks],
                         np.float32)
        kp = a[..., :2] * np.array([w, h], np.float32)
        vis = np.clip(a[..., 2], 0, 1)
        return Poses(kp, vis, BLAZEPOSE_33, world=world, presence=np.clip(a[..., 3], 0, 1),
                     boxes=pose_boxes(kp, vis), person_scores=vis.mean(axis=1))


def pose_boxes(keypoints: np.ndarray, visibility: np.ndarray, min_visibility: float = 0.3
               ) -> np.ndarray:
    """BlazePose persons' boxes: :func:`posekit.types.boxes_from_keypoints` (the one person box)
    of the landmarks (N, 33, 2) pixels whose visibility is above ``min_visibility`` (all
    landmarks where fewer than 3 are), padded by 5 % of their extent per side; (N, 4) float32
    xyxy pixels."""
    return boxes_from_keypoints(keypoints, visibility, min_visibility, pad=0.05, min_count=3)
