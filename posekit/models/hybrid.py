"""``hybrid``: top-down BlazePose on YOLO person boxes.

YOLO-pose (:class:`posekit.models.yolo.YoloPose`) finds the persons, bottom-up, in one pass even
in a crowd; each person box becomes an ROI for BlazePose's landmark network
(:class:`posekit.models.blazepose.BlazePose` with ``rois=``), so every person gets 33 landmarks
and world coordinates. BlazePose's own detector (which needs a visible face and finds few people
in crowds) is not used.

Needs the ``yolo`` extra (see :mod:`posekit.models.yolo`).
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import ModelError
from ..skeletons import BLAZEPOSE_33
from ..types import Frame, Poses
from . import as_frame


class HybridPose:
    """YOLO person boxes -> BlazePose landmarks (skeleton ``BLAZEPOSE_33``, with ``world``).

    Output :class:`Poses`: as :class:`~posekit.models.blazepose.BlazePose` (keypoints (N, 33, 2)
    pixels, ``scores`` = visibility, ``presence``, ``world`` (N, 33, 3) metres) for each YOLO
    person whose ROI the landmark network accepts (pose flag >= ``min_presence``, default 0.1:
    YOLO already decided a person is there; on kapao_val the gate at BlazePose's own 0.5 cut AP
    from 0.354 to 0.316). ``refine_boxes`` (default True) runs the landmark network a second
    time on the ROI from the first pass (AP 0.354 vs 0.316 without). ``boxes`` are
    YOLO's boxes (N, 4) xyxy pixels; ``person_scores`` = YOLO's person confidence times
    BlazePose's pose flag (both in [0, 1]), so a box BlazePose doubts ranks lower.
    ``extras["yolo_keypoints"]`` (N, 17, 2) and ``extras["yolo_scores"]`` (N, 17) keep YOLO's
    own COCO-17 keypoints of the same persons; ``extras["pose_score"]`` is BlazePose's flag.

    Settings: ``weights``, ``imgsz``, ``min_score`` (YOLO person threshold), ``iou``,
    ``max_people``, ``device`` go to :class:`~posekit.models.yolo.YoloPose`; ``min_presence``,
    ``box_scale``, ``refine_boxes``, ``num_threads``, ``heatmaps``, ``mask`` go to
    :class:`~posekit.models.blazepose.BlazePose`. The model keeps no state across frames
    (YOLO re-detects every frame; ``mode`` is accepted and ignored).

    Raises:
        MissingExtraError: the yolo extra is missing.
        ModelError: either network cannot be loaded.
    """

    name = "hybrid"
    skeleton = BLAZEPOSE_33

    _YOLO_KEYS = ("weights", "imgsz", "min_score", "iou", "max_people", "device", "half")
    _BLAZE_KEYS = ("min_presence", "box_scale", "refine_boxes", "num_threads", "heatmaps",
                   "mask")

    def __init__(self, *, refine_boxes: bool = True, min_presence: float = 0.1, **settings):
        from .blazepose import BlazePose
        from .yolo import YoloPose

        settings["refine_boxes"] = refine_boxes
        settings["min_presence"] = min_presence
        ykw = {k: settings[k] for k in self._YOLO_KEYS if k in settings}
        bkw = {k: settings[k] for k in self._BLAZE_KEYS if k in settings}
        self.yolo = YoloPose(**ykw)
        self.blazepose = BlazePose(mode="image", max_people=self.yolo.config.max_people, **bkw)
        self.last_timings: dict[str, float] = {}

    def reset(self) -> None:
        """Nothing to forget (both stages run per frame)."""

    def close(self) -> None:
        self.yolo.close()
        self.blazepose.close()

    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        frame = as_frame(frame)
        t0 = time.perf_counter()
        people = self.yolo(frame)
        t1 = time.perf_counter()
        if len(people) == 0:
            poses = Poses.empty(BLAZEPOSE_33, with_world=True)
        else:
            bp = self.blazepose(frame, rois=people.boxes)
            idx = np.asarray(bp.extras.get("box_index", np.arange(len(bp))), np.int64)
            if len(idx) != len(bp):
                raise ModelError("blazepose returned no box_index for its ROIs")
            flag = np.asarray(bp.extras.get("pose_score", np.ones(len(bp))), np.float32)
            extras = dict(bp.extras)
            extras["yolo_keypoints"] = people.keypoints[idx]
            extras["yolo_scores"] = people.scores[idx]
            poses = bp.replace(boxes=people.boxes[idx],
                               person_scores=people.person_scores[idx] * np.clip(flag, 0, 1),
                               extras=extras)
        t2 = time.perf_counter()
        yt, bt = self.yolo.last_timings, self.blazepose.last_timings if len(people) else {}
        self.last_timings = {"detector": t1 - t0,
                             "preprocess": bt.get("preprocess", 0.0),
                             "infer": bt.get("infer", 0.0),
                             "postprocess": bt.get("postprocess", 0.0),
                             "yolo_infer": yt.get("infer", 0.0), "total": t2 - t0}
        return poses


__all__ = ["HybridPose"]
