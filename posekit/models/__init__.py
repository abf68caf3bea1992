"""Pose models: the :class:`PoseModel` protocol and a registry.

>>> import posekit
>>> model = posekit.load_model("blazepose", max_people=5)      # doctest: +SKIP
>>> poses = model(frame)                                        # doctest: +SKIP

Backends register a factory under a name; the factory's module is imported only when the
name is loaded, so optional backends cost nothing until used.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ModelError
from ..skeletons import Skeleton
from ..types import Frame, Poses


@runtime_checkable
class PoseModel(Protocol):
    """What every backend provides.

    ``model(frame)`` takes a :class:`Frame` (or an (H, W, 3) uint8 BGR array, treated as an
    independent image) and returns :class:`Poses` in pixels of that frame. In video mode
    successive frames must have increasing ``time_s`` and the model may keep state (tracking
    ROIs); :meth:`reset` forgets it. ``last_timings`` holds the seconds spent in each stage of
    the last call (e.g. ``{"preprocess": ..., "infer": ..., "postprocess": ...}``).
    """

    name: str
    skeleton: Skeleton
    last_timings: dict[str, float]

    def __call__(self, frame: Frame | np.ndarray) -> Poses: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class PersonDetector(Protocol):
    """The person detector of top-down tracking: ``detector(frame) -> Poses`` whose ``boxes``
    (D, 4) float32 xyxy pixels of the frame and ``person_scores`` (D,) in [0, 1] are used
    (keypoints, where it has them, are kept for persons the landmark model loses), or a tuple
    ``(boxes (D, 4), scores (D,))``. :func:`posekit.models.yolo.person_detector` is one."""

    def __call__(self, frame: Frame) -> Poses: ...


@runtime_checkable
class LandmarkModel(Protocol):
    """The landmark model of top-down tracking (:class:`posekit.track.TopDownTracker`):
    :class:`~posekit.models.blazepose.BlazePose` is one.

    - ``model(frame, boxes=boxes)`` with ``boxes`` (R, 4) xyxy pixels returns :class:`Poses`
      of the persons found in those ROIs, with ``extras["box_index"]`` (N,) int64, each
      person's row in ``boxes``;
    - ``detect(image)`` (its own person detector, for tracking without an external one)
      returns detections whose ``rois`` are (D, 4) ``(cx, cy, side, rotation)`` pixels,
      best first;
    - ``roi_scale``: the square ROI's side per box side (float > 0).
    """

    skeleton: Skeleton
    roi_scale: float

    def __call__(self, frame: Frame, boxes: np.ndarray | None = None) -> Poses: ...

    def detect(self, image: np.ndarray): ...


# name -> "module:factory" (imported lazily) or a callable
_REGISTRY: dict[str, str | Callable[..., PoseModel]] = {
    "blazepose-mediapipe": "posekit.models.mediapipe_tasks:MediaPipePose",
    "blazepose": "posekit.models.blazepose:BlazePose",
    "yolo": "posekit.models.yolo:YoloPose",
    "hybrid": "posekit.models.hybrid:HybridPose",
    "hands": "posekit.models.hands:Hands",
    "face": "posekit.models.face:Face",
    "holistic": "posekit.models.holistic:Holistic",
    "topdown": "posekit.track.topdown:topdown_model",
}


def register(name: str, factory: str | Callable[..., PoseModel]) -> None:
    """Register ``factory`` (a callable, or ``"module:attr"`` imported on first use)."""
    _REGISTRY[name] = factory


def available_models() -> list[str]:
    """Registered model names."""
    return sorted(_REGISTRY)


def load_model(name: str | os.PathLike, **config) -> PoseModel:
    """Create the model registered as ``name`` with keyword configuration ``config``; ``name``
    may also be the folder of a model trained by ``posekit train keypoints``
    (:class:`posekit.models.trained.TrainedPose`).

    Common keywords (each backend documents its own): ``max_people`` (int, default 5),
    ``min_score`` (person score threshold in [0, 1]), ``mode`` (``"image"`` or ``"video"``).

    Raises:
        ModelError: unknown name ("expected one of ..."), or the backend fails to load.
        MissingExtraError: the backend needs an optional extra that is not installed.
    """
    if name not in _REGISTRY and _is_trained_dir(name):   # a `posekit train` output folder
        from .trained import TrainedPose

        return TrainedPose(name, **config)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; expected one of "
                         f"{', '.join(available_models())}") from None
    if isinstance(factory, str):
        mod, attr = factory.split(":")
        factory = getattr(importlib.import_module(mod), attr)
    return factory(**config)


def _is_trained_dir(name) -> bool:
    from .trained import is_trained_dir

    return is_trained_dir(name)


def as_frame(frame: Frame | np.ndarray) -> Frame:
    """Wrap a bare (H, W, 3) uint8 BGR array as a :class:`Frame` (index 0, time 0)."""
    return frame if isinstance(frame, Frame) else Frame(np.asarray(frame))


__all__ = [
    "Frame",
    "LandmarkModel",
    "PersonDetector",
    "PoseModel",
    "Poses",
    "as_frame",
    "available_models",
    "load_model",
    "register",
]
