"""Tracking stages: stable person IDs (:class:`Tracker`), landmark smoothing (:class:`Smoother`,
the One Euro filter), and :class:`TopDownTracker`, which feeds a top-down model the ROIs of the
tracked persons (and, between landmark-network runs, carries their landmarks by optical flow,
:class:`LandmarkFlow`). :class:`Tracker` and :class:`Smoother` are pipeline stages with
``update(poses, time_s) -> Poses``."""

from .appearance import color_histograms
from .flow import LandmarkFlow
from .matching import assign, match_boxes
from .outline import body_boxes
from .smoother import (
    MEDIAPIPE_POSE_LANDMARKS,
    MEDIAPIPE_POSE_WORLD,
    OneEuroConfig,
    OneEuroFilter,
    Smoother,
    SmootherConfig,
)
from .topdown import TopDownTracker
from .tracker import Tracker, TrackerConfig, box_iou, oks

__all__ = [
    "LandmarkFlow",
    "MEDIAPIPE_POSE_LANDMARKS",
    "MEDIAPIPE_POSE_WORLD",
    "OneEuroConfig",
    "OneEuroFilter",
    "Smoother",
    "SmootherConfig",
    "TopDownTracker",
    "Tracker",
    "TrackerConfig",
    "assign",
    "body_boxes",
    "box_iou",
    "color_histograms",
    "match_boxes",
    "oks",
]
