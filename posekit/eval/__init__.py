"""Evaluation: ground-truth loaders, metrics (COCO OKS AP via pycocotools, PCK, PCKh), a runner
that compares models side by side, and reports.

>>> from posekit.eval import load_dataset, run_eval            # doctest: +SKIP
>>> report = run_eval(["coco"], ["blazepose-mediapipe", "yolo"], out_dir="out")  # doctest: +SKIP
"""

from __future__ import annotations

from .datasets import Dataset, GTImage, load_coco, load_dataset, load_lsp, load_mpii
from .metrics import PCKResult, coco_ap, pck, pckh

__all__ = [
    "Dataset",
    "GTImage",
    "PCKResult",
    "coco_ap",
    "load_coco",
    "load_dataset",
    "load_lsp",
    "load_mpii",
    "pck",
    "pckh",
    "run_eval",
]


def __getattr__(name):
    if name == "run_eval":
        from .runner import run_eval

        return run_eval
    raise AttributeError(name)
