"""Tracking stages: stable person IDs (:class:`Tracker`) and landmark smoothing
(:class:`Smoother`, the One Euro filter). Both are pipeline stages with
``update(poses, time_s) -> Poses``."""

from .smoother import (MEDIAPIPE_POSE_LANDMARKS, MEDIAPIPE_POSE_WORLD, OneEuroConfig,
                       OneEuroFilter, Smoother, SmootherConfig)
from .tracker import Tracker, TrackerConfig, box_iou, oks

__all__ = ["Tracker", "TrackerConfig", "Smoother", "SmootherConfig", "OneEuroFilter",
           "OneEuroConfig", "MEDIAPIPE_POSE_LANDMARKS", "MEDIAPIPE_POSE_WORLD", "box_iou", "oks"]
