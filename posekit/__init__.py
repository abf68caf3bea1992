"""posekit: real-time human pose estimation.

Quick start::

    import posekit
    model = posekit.load_model("blazepose")
    for result in posekit.frames("video.mp4", model):
        print(result.frame.index, len(result.poses))
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import (DatasetError, MissingExtraError, ModelError, OutputError, PoseKitError,
                     SourceError)
from .io import open_source
from .models import PoseModel, available_models, load_model
from .pipeline import Result, frames, run
from .skeletons import BLAZEPOSE_33, COCO_17, Skeleton
from .types import Frame, Poses

try:
    __version__ = version("posekit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["Frame", "Poses", "Skeleton", "BLAZEPOSE_33", "COCO_17", "PoseModel", "load_model",
           "available_models", "open_source", "frames", "run", "Result", "PoseKitError",
           "SourceError", "ModelError", "OutputError", "DatasetError", "MissingExtraError",
           "__version__"]
