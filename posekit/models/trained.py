"""A keypoint model trained by ``posekit train keypoints``, loaded from its folder.

The folder (written by :func:`posekit.train.keypoints.train_keypoints`) holds::

    posekit-model.json   {"format": "posekit.trained/1", "backend": "ultralytics-pose",
                          "weights": "weights/best.pt", "skeleton": "skeleton.json",
                          "imgsz": 640, "object": "tiger", ...}
    skeleton.json        names, edges, flip pairs, OKS sigmas (posekit.train.datasets)
    weights/best.pt      Ultralytics YOLO-pose weights with K keypoints
    report.json, *.png   the training report

``load_model(DIR)`` (:func:`posekit.models.load_model`) builds :class:`TrainedPose`, whose
:class:`~posekit.types.Poses` carry the folder's own skeleton, so drawing, tracking, the sinks
and the service use its names and edges. The network runs as in :mod:`posekit.models.yolo`:
OpenVINO on the CPU where it is installed (the ``.pt`` exported once into posekit's cache,
decoded by posekit), torch (Ultralytics' predictor) otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..skeletons import Skeleton
from ..types import Frame, Poses
from . import as_frame

log = logging.getLogger(__name__)

MODEL_FILE = "posekit-model.json"
MODEL_FORMAT = "posekit.trained/1"


def is_trained_dir(path: str | os.PathLike) -> bool:
    """True where ``path`` is a folder holding a trained model's ``posekit-model.json``."""
    try:
        return (Path(path) / MODEL_FILE).is_file()
    except (OSError, TypeError, ValueError):
        return False


def read_model_info(path: str | os.PathLike) -> dict:
    """The parsed ``posekit-model.json`` of a trained model folder.

    Raises:
        ModelError: no such file, unreadable JSON, or another format.
    """
    f = Path(path) / MODEL_FILE
    try:
        meta = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"not a trained posekit model folder ({f}: {e})") from e
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise ModelError(f"{f}: expected format {MODEL_FORMAT!r}, got "
                         f"{meta.get('format') if isinstance(meta, dict) else meta!r}")
    return meta


def read_skeleton(path: str | os.PathLike) -> Skeleton:
    """The :class:`Skeleton` of a ``skeleton.json`` written by ``posekit train`` (keypoint
    names; edges, flip pairs as index pairs; sigmas or null).

    Raises:
        ModelError: unreadable file or a bad skeleton.
    """
    try:
        d = json.loads(Path(path).read_text())
        sig = d.get("sigmas")
        return Skeleton(str(d.get("name") or "custom"), tuple(str(n) for n in d["keypoints"]),
                        tuple((int(a), int(b)) for a, b in d.get("edges") or ()),
                        tuple((int(a), int(b)) for a, b in d.get("flip_pairs") or ()),
                        None if sig is None else tuple(float(x) for x in sig))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"cannot read skeleton {path}: {e}") from e


class TrainedPose:
    """A trained keypoint model (any skeleton) as a :class:`~posekit.models.PoseModel`.

    Output :class:`Poses` in the folder's skeleton: ``keypoints`` (N, K, 2) float32 pixels of
    the input frame (a keypoint with confidence 0 is NaN with score 0), ``scores`` (N, K)
    keypoint confidences in [0, 1], ``boxes`` (N, 4) xyxy pixels and ``person_scores`` (N,)
    (the object's detection score); no world coordinates. Stateless: image and video mode are
    the same (``mode`` is accepted for the registry's common keywords).

    Args:
        path: the model folder.
        imgsz: inference size in pixels (multiple of 32); default the training size.
        min_score: object confidence threshold in [0, 1].
        iou: NMS IoU threshold in [0, 1].
        max_people: most objects returned per frame.
        device: torch device (``"cpu"``, ``"cuda:0"``) or None.
        runtime: ``"auto"``, ``"torch"`` or ``"openvino"`` (see
            :func:`posekit.models.yolo.resolve_runtime`).
        num_threads: CPU threads; None for all cores.

    Raises:
        ModelError: not a trained model folder, missing weights or skeleton, a keypoint count
            that differs from the skeleton's, bad or unknown settings.
        MissingExtraError: Ultralytics/torch are not installed (``posekit[yolo]``).
    """

    name = "trained"

    def __init__(self, path: str | os.PathLike, *, imgsz: int | None = None,
                 min_score: float = 0.25, iou: float = 0.7, max_people: int = 20,
                 device: str | None = None, runtime: str = "auto",
                 num_threads: int | None = None, mode: str = "image", **unknown):
        from .yolo import _import_ultralytics, resolve_runtime

        if unknown:
            raise ModelError(f"unknown setting(s) {', '.join(sorted(unknown))} for a trained "
                             "model; expected imgsz, min_score, iou, max_people, device, "
                             "runtime, num_threads, mode")
        self.path = Path(path)
        meta = read_model_info(self.path)
        self.info = meta
        if mode not in ("image", "video"):
            raise ModelError(f"mode must be 'image' or 'video', got {mode!r}")
        if not 0.0 <= float(min_score) <= 1.0 or not 0.0 <= float(iou) <= 1.0:
            raise ModelError(f"min_score and iou must be in [0, 1], got {min_score}, {iou}")
        if int(max_people) < 1:
            raise ModelError(f"max_people must be at least 1, got {max_people}")
        try:
            self.skeleton = read_skeleton(self.path / meta.get("skeleton", "skeleton.json"))
        except Exception as e:
            raise ModelError(f"{self.path}: cannot read the skeleton: {e}") from e
        self.weights_path = self.path / meta.get("weights", "weights/best.pt")
        if not self.weights_path.is_file():
            raise ModelError(f"{self.path}: weights not found: {self.weights_path}")
        self.imgsz = int(imgsz or meta.get("imgsz", 640))
        self.min_score, self.iou, self.max_people = float(min_score), float(iou), int(max_people)
        self.device = device
        self.runtime = resolve_runtime(runtime, weights=self.weights_path, device=device)
        self._threads = int(num_threads or os.cpu_count() or 1)
        _import_ultralytics()
        from ultralytics import YOLO

        try:
            self._model = YOLO(str(self.weights_path), task="pose")
        except Exception as e:
            raise ModelError(f"cannot load {self.weights_path}: {e}") from e
        kpt_shape = getattr(self._model.model, "kpt_shape", None)
        if kpt_shape is None or int(kpt_shape[0]) != len(self.skeleton):
            raise ModelError(f"{self.weights_path.name} predicts "
                             f"{None if kpt_shape is None else kpt_shape[0]} keypoints, the "
                             f"skeleton has {len(self.skeleton)}")
        self._ov_net = None
        if self.runtime == "openvino":
            from .yolo import _OpenVinoYolo, openvino_model

            ov_dir = openvino_model(self.weights_path)
            try:
                # the keypoint-branch cut of yolo.py assumes 17 keypoints: the whole net runs
                self._ov_net = _OpenVinoYolo(next(ov_dir.glob("*.xml")), "f32", self._threads,
                                             keypoint_head=False)
            except Exception as e:
                raise ModelError(f"OpenVINO cannot read {ov_dir}: {e}") from e
        else:
            try:
                self._model.predict(np.zeros((32, 32, 3), np.uint8), imgsz=32, device=device,
                                    verbose=False)
            except Exception as e:
                raise ModelError(f"cannot run {self.weights_path.name}: {e}") from e
        import torch

        torch.set_num_threads(self._threads)   # Ultralytics lowers it when it picks the CPU
        self.last_timings: dict[str, float] = {}

    def reset(self) -> None:
        """Nothing to forget: the model has no state across frames."""

    def close(self) -> None:
        self._model = self._ov_net = None

    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        if self._model is None:
            raise ModelError("the trained model is closed")
        frame = as_frame(frame)
        t0 = time.perf_counter()
        try:
            if self._ov_net is not None:
                boxes, ps, xy, sc, times = self._ov_net(frame.image, self.imgsz, self.min_score,
                                                        self.iou, self.max_people)
            else:
                res = self._model.predict(frame.image, imgsz=self.imgsz, conf=self.min_score,
                                          iou=self.iou, max_det=self.max_people,
                                          device=self.device, verbose=False)[0]
                speed = getattr(res, "speed", None) or {}
                times = {k: speed.get(u, 0.0) / 1000.0 for k, u in (
                    ("preprocess", "preprocess"), ("infer", "inference"),
                    ("postprocess", "postprocess"))}
                k = len(self.skeleton)
                if res.boxes is None or len(res.boxes) == 0 or res.keypoints is None:
                    boxes, ps = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
                    xy, sc = np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
                else:
                    boxes = res.boxes.xyxy.cpu().numpy()
                    ps = res.boxes.conf.cpu().numpy()
                    xy = res.keypoints.xy.cpu().numpy()
                    conf = res.keypoints.conf
                    sc = (conf.cpu().numpy() if conf is not None
                          else np.ones(xy.shape[:2], np.float32))
        except Exception as e:
            raise ModelError(f"trained model inference failed: {e}") from e
        poses = self._poses(boxes, ps, xy, sc)
        self.last_timings = {**times, "total": time.perf_counter() - t0}
        return poses

    def _poses(self, boxes, person_scores, xy, scores) -> Poses:
        if len(boxes) == 0:
            return Poses.empty(self.skeleton)
        xy = np.array(xy, np.float32)
        scores = np.asarray(scores, np.float32)
        xy[scores <= 0] = np.nan
        return Poses(xy, np.clip(scores, 0.0, 1.0), self.skeleton,
                     boxes=np.asarray(boxes, np.float32),
                     person_scores=np.clip(np.asarray(person_scores, np.float32), 0.0, 1.0))


__all__ = ["MODEL_FILE", "MODEL_FORMAT", "TrainedPose", "is_trained_dir", "read_model_info",
           "read_skeleton"]
