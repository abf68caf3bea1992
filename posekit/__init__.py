"""posekit: real-time human pose estimation.

Quick start::

    import posekit
    model = posekit.load_model("blazepose")
    for result in posekit.results("video.mp4", model):
        print(result.frame.index, len(result.poses))
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import (DatasetError, MissingExtraError, ModelError, OutputError, PoseKitError,
                     SourceError)
from .io import open_source
from .models import PoseModel, available_models, load_model
from .config import ModelConfig, OutputConfig, PipelineConfig, TrackConfig
from .errors import ConfigError
from .pipeline import Pipeline, Result, build, frames, process, results, run
from .skeletons import BLAZEPOSE_33, COCO_17, Skeleton
from .types import Frame, Poses

try:
    __version__ = version("posekit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["Frame", "Poses", "Skeleton", "BLAZEPOSE_33", "COCO_17", "PoseModel", "load_model",
           "available_models", "open_source", "results", "frames", "run", "Result",
           "PipelineConfig", "ModelConfig", "TrackConfig", "OutputConfig", "Pipeline", "build",
           "process", "ConfigError", "PoseKitError",
           "SourceError", "ModelError", "OutputError", "DatasetError", "MissingExtraError",
           "__version__"]
