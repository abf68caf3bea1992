"""Train your own: keypoint datasets (COCO, YOLO-pose, DeepLabCut), keypoint-model fine-tuning
with Ultralytics' trainer, pose classifiers (scikit-learn) and the evaluation of custom
skeletons. See docs/training.md.

The ``yolo`` extra (Ultralytics, AGPL-3.0) is needed for keypoint training; the readers,
the classifier and the evaluation need only posekit's core dependencies.
"""

from .datasets import (
    KeypointDataset,
    Sample,
    SplitReport,
    read_dataset,
    skeleton_from_json,
    skeleton_to_json,
    split_dataset,
    to_ultralytics,
)

__all__ = ["KeypointDataset", "Sample", "SplitReport", "read_dataset", "skeleton_from_json",
           "skeleton_to_json", "split_dataset", "to_ultralytics"]
