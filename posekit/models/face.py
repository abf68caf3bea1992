"""``face``: MediaPipe Face Mesh run natively: face detection + 468 landmarks per face, any number.

The networks ship in the ``mediapipe==0.10.21`` wheel (``modules/face_detection/
face_detection_short_range.tflite`` or ``face_detection_full_range_sparse.tflite``,
``modules/face_landmark/face_landmark.tflite``). Pre- and post-processing follow MediaPipe's
graphs (:mod:`posekit.models.parts_ops` cites each rule): the face detector on the letterboxed
frame, a square ROI per face rotated to level the eyes (scale 1.5), the 468-landmark network on
each ROI (in batches with ``runtime="openvino"``), landmarks projected back to the frame's pixels.

Video mode tracks each face from the previous frame's landmarks (face_landmark_front_cpu.pbtxt)
and runs the detector only while fewer than ``max_faces`` faces are tracked, every
``detect_every`` frames, or at once when a tracked face is lost.

The 468 landmarks map to the iBUG 68-point layout with ``poses.to(IBUG_68)``
(:data:`posekit.skeletons.IBUG_FROM_MESH`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from ..skeletons import FACE_468
from ..types import Frame, Poses
from . import as_frame
from . import blazepose_ops as bops
from . import parts_ops as ops
from .blazepose import RUNTIMES, resolve_runtime
from .hands import _concat, _select, make_config

log = logging.getLogger(__name__)

DETECTOR_FILES = {"short": ("face_detection/face_detection_short_range.tflite", ops.FACE_SHORT),
                  "full": ("face_detection/face_detection_full_range_sparse.tflite",
                           ops.FACE_FULL)}
FACE_FILE = "face_landmark/face_landmark.tflite"
FACE_SIZE = 192                        # face_landmark_cpu.pbtxt: 192x192 input
FACE_OUTPUTS = ("conv2d_21", "conv2d_31")   # 468 x (x, y, z) crop pixels; face flag logit


@dataclass(frozen=True, kw_only=True)
class FaceConfig:
    """Settings of :class:`Face`.

    Attributes:
        max_faces: most faces returned per frame (>= 1; MediaPipe's ``max_num_faces``).
        min_score: face detector score threshold in [0, 1] (``min_detection_confidence``).
        min_presence: face presence threshold in [0, 1] below which a face is dropped
            (``min_tracking_confidence``).
        detector: ``"short"`` (faces within about 2 m, face_detection_short_range: the one
            Face Mesh uses) or ``"full"`` (face_detection_full_range_sparse: smaller faces).
        mode: ``"video"`` (track faces between frames) or ``"image"``.
        detect_every: video mode, while fewer than ``max_faces`` are tracked: run the detector
            every this many frames (1 = MediaPipe's behaviour, 0 = only when needed).
        track_iou: a detection whose ROI square overlaps a tracked face's by more than this
            IoU is that face (``AssociationNormRectCalculator``: 0.5).
        num_threads: CPU threads per network.
        runtime: ``"litert"`` (default: one crop per inference, XNNPACK), ``"openvino"``
            (float32, up to 4 crops per inference for the landmark networks) or ``"auto"``
            (OpenVINO where installed). Which is faster depends on the CPU and its load
            (docs/whole_body.md, ``bench/bench_whole_body.py --runtime``).
    """

    max_faces: int = 4
    min_score: float = 0.5
    min_presence: float = 0.5
    detector: str = "short"
    mode: str = "video"
    detect_every: int = 3
    track_iou: float = 0.5
    num_threads: int = 2
    runtime: str = "litert"

    def __post_init__(self):
        if self.runtime not in RUNTIMES:
            raise ModelError(f"runtime must be one of {', '.join(RUNTIMES)}, "
                             f"got {self.runtime!r}")
        if self.detector not in DETECTOR_FILES:
            raise ModelError(f"detector must be one of {', '.join(DETECTOR_FILES)}, "
                             f"got {self.detector!r}")
        if self.mode not in ("image", "video"):
            raise ModelError(f"mode must be 'image' or 'video', got {self.mode!r}")
        if self.max_faces < 1:
            raise ModelError(f"max_faces must be at least 1, got {self.max_faces}")
        for name in ("min_score", "min_presence", "track_iou"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ModelError(f"{name} must be in [0, 1], got {v}")
        if self.detect_every < 0:
            raise ModelError(f"detect_every must be >= 0, got {self.detect_every}")
        if self.num_threads < 1:
            raise ModelError(f"num_threads must be >= 1, got {self.num_threads}")


class FaceLandmarks:
    """The 468-landmark network alone (face_landmark_cpu.pbtxt) on square ROIs; shared by
    :class:`Face` and :class:`posekit.models.holistic.Holistic`."""

    def __init__(self, runtime: str, num_threads: int):
        self.net = ops.load_net(FACE_FILE, runtime, num_threads, FACE_OUTPUTS)

    def __call__(self, image: np.ndarray, rois: np.ndarray, timings: dict | None = None
                 ) -> dict[str, np.ndarray]:
        """Landmarks of the face in each ROI (N, 4).

        Returns:
            ``xy`` (N, 468, 2) float64 frame pixels, ``flag`` (N,) face presence in [0, 1]
            (sigmoid of the network's face flag), ``roi`` (N, 4).
        """
        rois = np.asarray(rois, np.float64).reshape(-1, 4)
        raw, mats = ops.run_crops(self.net, image, rois, FACE_SIZE, FACE_OUTPUTS, timings)
        n = len(rois)
        xy = ops.project(mats, raw["conv2d_21"].reshape(n, 468, 3)[:, :, :2])
        return {"xy": xy, "flag": bops.sigmoid(raw["conv2d_31"].reshape(n)), "roi": rois}


class FaceDetector:
    """A MediaPipe face detector (short or full range) on LiteRT."""

    def __init__(self, kind: str, num_threads: int, min_score: float):
        rel, self.spec = DETECTOR_FILES[kind]
        self.net = ops.load_net(rel, "litert", num_threads)
        self.min_score = min_score

    def __call__(self, image: np.ndarray, roi: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores (M,), boxes (M, 4) xyxy and keypoints (M, 6, 2) in frame pixels, best first,
        in the square ``roi`` (4,) (default: the letterboxed frame)."""
        if roi is None:
            roi = bops.letterbox_roi(image.shape[:2])
        return ops.run_detector(self.net, self.spec, image, roi, self.min_score)


class Face:
    """MediaPipe Face Mesh's networks on LiteRT/OpenVINO: any number of faces, image and video
    mode.

    ``model(frame)`` returns :class:`Poses` of skeleton ``FACE_468`` (one instance per face):
    ``keypoints`` (N, 468, 2) float32 frame pixels, ``scores`` (N, 468) = the face presence
    score (no per-landmark visibility), ``boxes`` around the landmarks, ``person_scores`` =
    presence, ``extras["roi"]`` (N, 4). ``poses.to(IBUG_68)`` gives the 68-point layout.
    ``last_timings``: ``detector``, ``preprocess``, ``infer``, ``postprocess`` seconds.

    Args:
        config: a :class:`FaceConfig`, or its fields as keywords (``max_people``, the
            registry's common keyword, is ``max_faces``).

    Raises:
        ModelError: a bad or unknown setting, or the networks cannot be found or loaded.
    """

    name = "face"
    skeleton = FACE_468

    def __init__(self, config: FaceConfig | None = None, **settings):
        self.config = make_config(FaceConfig, config, settings, self.name,
                                  {"max_people": "max_faces"})
        self.runtime = resolve_runtime(self.config.runtime)
        self._det = FaceDetector(self.config.detector, self.config.num_threads,
                                 self.config.min_score)
        self._lmk = FaceLandmarks(self.runtime, self.config.num_threads)
        self.last_timings: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """Forget tracked faces (video mode)."""
        self._tracks = np.zeros((0, 4))
        self._since_detect = 0
        self._last_time = -np.inf

    def close(self) -> None:
        self._det = self._lmk = None

    def _check_open(self) -> None:
        if self._lmk is None:
            raise ModelError("this Face model is closed")

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face detector on the letterboxed frame: scores (M,) and face ROIs (M, 4), best
        first."""
        s, b, k = self._det(image)
        return s, ops.face_rois_from_detections(b, k)

    def _detect(self, image, t: dict) -> np.ndarray:
        t0 = time.perf_counter()
        _, rois = self.detect(image)
        t["detector"] = t.get("detector", 0.0) + time.perf_counter() - t0
        return rois

    def _new(self, rois: np.ndarray, taken: np.ndarray, room: int) -> np.ndarray:
        if room <= 0 or len(rois) == 0:
            return np.zeros((0, 4))
        rois = rois[ops.dedupe_rois(rois, self.config.track_iou)]
        if len(taken):
            iou = bops.box_iou(bops.roi_boxes(rois), bops.roi_boxes(taken))
            rois = rois[iou.max(axis=1) <= self.config.track_iou]
        return rois[:room]

    def _gate_dedupe(self, res: dict) -> dict:
        res = _select(res, res["flag"] >= self.config.min_presence)
        nxt = ops.face_rois_from_landmarks(res["xy"])
        return _select(res, ops.dedupe_rois(nxt, self.config.track_iou))

    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        """Faces in ``frame`` (a :class:`Frame` or an (H, W, 3) uint8 BGR array)."""
        frame = as_frame(frame)
        self._check_open()
        image, cfg, t = frame.image, self.config, {}
        if cfg.mode == "image":
            res = self._gate_dedupe(self._lmk(image, self._detect(image, t)[:cfg.max_faces], t))
        else:
            res = self._track(frame, t)
        t0 = time.perf_counter()
        flag = np.clip(res["flag"], 0, 1).astype(np.float32)
        if len(flag) == 0:
            poses = Poses.empty(FACE_468).replace(extras={"roi": res["roi"]})
        else:
            poses = Poses(res["xy"].astype(np.float32), np.repeat(flag[:, None], 468, axis=1),
                          FACE_468, person_scores=flag, extras={"roi": res["roi"]})
        t["postprocess"] = t.get("postprocess", 0.0) + time.perf_counter() - t0
        self.last_timings = {k: t.get(k, 0.0) for k in
                             ("detector", "preprocess", "infer", "postprocess")}
        return poses

    def _track(self, frame: Frame, t: dict) -> dict:
        cfg, image = self.config, frame.image
        if frame.time_s < self._last_time:
            self.reset()
        self._last_time = frame.time_s
        self._since_detect += 1
        rois, ran = self._tracks, False
        if len(rois) == 0 or (cfg.detect_every and self._since_detect >= cfg.detect_every
                              and len(rois) < cfg.max_faces):
            rois = np.concatenate([rois, self._new(self._detect(image, t), rois,
                                                   cfg.max_faces - len(rois))])
            ran, self._since_detect = True, 0
        res = self._lmk(image, rois, t)
        lost = (res["flag"] < cfg.min_presence).any()
        res = self._gate_dedupe(res)
        if lost and not ran and len(res["xy"]) < cfg.max_faces:
            self._since_detect = 0
            taken = ops.face_rois_from_landmarks(res["xy"])
            new = self._new(self._detect(image, t), taken, cfg.max_faces - len(res["xy"]))
            if len(new):
                res = self._gate_dedupe(_concat(res, self._lmk(image, new, t)))
        self._tracks = ops.face_rois_from_landmarks(res["xy"])
        return res


__all__ = ["Face", "FaceConfig", "FaceDetector", "FaceLandmarks"]
