"""``hands``: MediaPipe Hands run natively: palm detection + 21 landmarks per hand, any number.

The two networks ship in the ``mediapipe==0.10.21`` wheel
(``modules/palm_detection/palm_detection_full.tflite``, ``modules/hand_landmark/
hand_landmark_full.tflite``). Pre- and post-processing follow MediaPipe's graphs
(:mod:`posekit.models.parts_ops` cites each rule): the palm detector on the letterboxed frame,
a rotated square ROI per palm, the landmark network on each ROI (in batches with
``runtime="openvino"``), landmarks projected back to the frame's pixels, world coordinates
rotated by the ROI's rotation.

Video mode tracks each hand from the previous frame's landmarks (hand_landmark_tracking_cpu.pbtxt)
and runs the palm detector only while fewer than ``max_hands`` hands are tracked, every
``detect_every`` frames (MediaPipe: every frame), or at once when a tracked hand is lost.

Handedness: MediaPipe's handedness output assumes a mirrored (selfie) image. posekit reports the
hand of the person seen in an unmirrored camera image: ``"right"`` is the person's right hand
(MediaPipe's label ``"Left"``). Pass ``mirrored=True`` for selfie-style input.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ModelError
from ..skeletons import HAND_21
from ..types import Frame, Poses
from . import as_frame
from . import blazepose_ops as bops
from . import parts_ops as ops
from .blazepose import RUNTIMES, resolve_runtime

log = logging.getLogger(__name__)

#: MediaPipe's ``model_complexity`` 1 (full) and 0 (lite) networks
#: (palm_detection_model_loader.pbtxt, hand_landmark_model_loader.pbtxt).
PALM_FILES = {1: "palm_detection/palm_detection_full.tflite",
              0: "palm_detection/palm_detection_lite.tflite"}
HAND_FILES = {1: "hand_landmark/hand_landmark_full.tflite",
              0: "hand_landmark/hand_landmark_lite.tflite"}
HAND_SIZE = 224                  # hand_landmark_cpu.pbtxt: 224x224 input
# hand_landmark_full.tflite outputs (hand_landmark_cpu.pbtxt's SplitTensorVectorCalculator):
# 21 x (x, y, z) in crop pixels, hand presence flag, handedness, 21 x world (x, y, z) metres.
HAND_OUTPUTS = ("Identity", "Identity_1", "Identity_2", "Identity_3")


@dataclass(frozen=True, kw_only=True)
class HandsConfig:
    """Settings of :class:`Hands`.

    Attributes:
        max_hands: most hands returned per frame (>= 1; MediaPipe's ``max_num_hands``).
        min_score: palm detector score threshold in [0, 1] (``min_detection_confidence``).
        min_presence: hand presence flag threshold in [0, 1] below which a hand is dropped
            (``min_tracking_confidence``; hand_landmark_cpu.pbtxt: 0.5).
        mode: ``"video"`` (track hands between frames) or ``"image"`` (detector every call).
        detect_every: video mode, while fewer than ``max_hands`` hands are tracked: run the
            palm detector every this many frames (1 = MediaPipe's behaviour, 0 = only when no
            hand is tracked or one is lost).
        track_iou: a palm whose ROI square overlaps a tracked hand's by more than this IoU is
            that hand (``AssociationNormRectCalculator`` ``min_similarity_threshold``: 0.5).
        mirrored: the input is a mirrored (selfie) image: handedness as MediaPipe reports it.
        complexity: 1 (the full palm and landmark networks, MediaPipe's default) or 0 (the
            lite ones: faster, less accurate; MediaPipe's ``model_complexity=0``).
        num_threads: CPU threads per network.
        runtime: ``"litert"`` (default: one crop per inference, XNNPACK), ``"openvino"``
            (float32, up to 4 crops per inference for the landmark networks) or ``"auto"``
            (OpenVINO where installed). Which is faster depends on the CPU and its load
            (docs/whole_body.md, ``bench/bench_whole_body.py --runtime``).
    """

    max_hands: int = 4
    min_score: float = 0.5
    min_presence: float = 0.5
    mode: str = "video"
    detect_every: int = 3
    track_iou: float = 0.5
    mirrored: bool = False
    complexity: int = 1
    num_threads: int = 2
    runtime: str = "litert"

    def __post_init__(self):
        if self.runtime not in RUNTIMES:
            raise ModelError(f"runtime must be one of {', '.join(RUNTIMES)}, "
                             f"got {self.runtime!r}")
        if self.mode not in ("image", "video"):
            raise ModelError(f"mode must be 'image' or 'video', got {self.mode!r}")
        if self.complexity not in HAND_FILES:
            raise ModelError(f"complexity must be 0 or 1, got {self.complexity!r}")
        if self.max_hands < 1:
            raise ModelError(f"max_hands must be at least 1, got {self.max_hands}")
        for name in ("min_score", "min_presence", "track_iou"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ModelError(f"{name} must be in [0, 1], got {v}")
        if self.detect_every < 0:
            raise ModelError(f"detect_every must be >= 0, got {self.detect_every}")
        if self.num_threads < 1:
            raise ModelError(f"num_threads must be >= 1, got {self.num_threads}")


def make_config(cls, config, settings: dict, model: str, rename: dict | None = None):
    """``config`` with ``settings`` applied (or ``cls(**settings)``); an unknown setting is a
    :class:`ModelError` naming the valid ones. ``rename`` maps :func:`posekit.models.load_model`'s
    common keywords to the config's fields (``max_people`` -> ``max_hands``)."""
    settings = {(rename or {}).get(k, k): v for k, v in settings.items()}
    fields = cls.__dataclass_fields__
    unknown = sorted(k for k in settings if k not in fields)
    if unknown:
        raise ModelError(f"{model}: unknown setting(s) {', '.join(unknown)}; expected one of "
                         f"{', '.join(sorted(fields))}")
    return replace(config, **settings) if config else cls(**settings)


class HandLandmarks:
    """The hand landmark network alone (hand_landmark_cpu.pbtxt) on square ROIs.

    Shared by :class:`Hands` and :class:`posekit.models.holistic.Holistic`.
    """

    def __init__(self, runtime: str, num_threads: int, complexity: int = 1):
        self.net = ops.load_net(HAND_FILES[complexity], runtime, num_threads, HAND_OUTPUTS)

    def __call__(self, image: np.ndarray, rois: np.ndarray, timings: dict | None = None
                 ) -> dict[str, np.ndarray]:
        """Landmarks of the hand in each ROI (N, 4) ``(cx, cy, side, rotation)``.

        Returns:
            ``xy`` (N, 21, 2) float64 frame pixels, ``flag`` (N,) hand presence in [0, 1],
            ``right`` (N,) probability that the hand is the person's right hand in an
            unmirrored image, ``world`` (N, 21, 3) float32 metres (origin near the hand's
            centre, x right, y down, z away from the camera, rotated by the ROI's rotation),
            ``roi`` (N, 4).
        """
        rois = np.asarray(rois, np.float64).reshape(-1, 4)
        raw, mats = ops.run_crops(self.net, image, rois, HAND_SIZE, HAND_OUTPUTS, timings)
        t0 = time.perf_counter()
        n = len(rois)
        xy = ops.project(mats, raw["Identity"].reshape(n, 21, 3)[:, :, :2])
        world = ops.rotate_world(raw["Identity_3"].reshape(n, 21, 3), rois[:, 3])
        out = {"xy": xy, "flag": raw["Identity_1"].reshape(n),
               "right": raw["Identity_2"].reshape(n), "world": world, "roi": rois}
        if timings is not None:
            timings["postprocess"] = timings.get("postprocess", 0.0) + time.perf_counter() - t0
        return out


def _select(res: dict, idx) -> dict:
    return {k: v[idx] for k, v in res.items()}


def _concat(a: dict, b: dict) -> dict:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


class Hands:
    """MediaPipe Hands' two networks on LiteRT/OpenVINO: any number of hands, handedness, image
    and video mode, 3D hand world coordinates.

    ``model(frame)`` returns :class:`Poses` of skeleton ``HAND_21`` (one instance per hand):
    ``keypoints`` (N, 21, 2) float32 frame pixels, ``scores`` (N, 21) = the hand presence flag
    (the network gives no per-landmark visibility), ``world`` (N, 21, 3) metres (origin near
    the hand's centre, MediaPipe's hand world landmarks), ``boxes`` around the landmarks,
    ``person_scores`` = presence. ``extras``: ``"handedness"`` (N,) ``"left"``/``"right"``,
    ``"handedness_score"`` (N,) float32 in [0.5, 1], ``"roi"`` (N, 4) the ROI each hand came
    from. ``last_timings``: ``detector``, ``preprocess``, ``infer``, ``postprocess`` seconds.

    Args:
        config: a :class:`HandsConfig`, or its fields as keywords (``max_people``, the
            registry's common keyword, is ``max_hands``).

    Raises:
        ModelError: a bad or unknown setting, or the networks cannot be found or loaded.
    """

    name = "hands"
    skeleton = HAND_21

    def __init__(self, config: HandsConfig | None = None, **settings):
        self.config = make_config(HandsConfig, config, settings, self.name,
                                  {"max_people": "max_hands"})
        self.runtime = resolve_runtime(self.config.runtime)
        self._palm = ops.load_net(PALM_FILES[self.config.complexity], self.runtime,
                                  self.config.num_threads,
                                  (ops.PALM.boxes_out, ops.PALM.scores_out), batch=False)
        self._lmk = HandLandmarks(self.runtime, self.config.num_threads,
                                  self.config.complexity)
        self.last_timings: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """Forget tracked hands (video mode)."""
        self._tracks = np.zeros((0, 4))
        self._since_detect = 0
        self._last_time = -np.inf

    def close(self) -> None:
        self._palm = self._lmk = None

    def _check_open(self) -> None:
        if self._lmk is None:
            raise ModelError("this Hands model is closed")

    # ------------------------------------------------------------------ stages
    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Palm detector on the letterboxed frame: scores (M,) and hand ROIs (M, 4), best
        first."""
        s, b, k = ops.run_detector(self._palm, ops.PALM, image,
                                   bops.letterbox_roi(image.shape[:2]), self.config.min_score)
        return s, ops.palm_rois(b, k)

    def _detect(self, image, t: dict) -> np.ndarray:
        t0 = time.perf_counter()
        _, rois = self.detect(image)
        t["detector"] = t.get("detector", 0.0) + time.perf_counter() - t0
        return rois

    def _new(self, rois: np.ndarray, taken: np.ndarray, room: int) -> np.ndarray:
        """ROIs of palms that are not tracked hands (IoU <= ``track_iou``), at most ``room``."""
        if room <= 0 or len(rois) == 0:
            return np.zeros((0, 4))
        rois = rois[ops.dedupe_rois(rois, self.config.track_iou)]
        if len(taken):
            iou = bops.box_iou(bops.roi_boxes(rois), bops.roi_boxes(taken))
            rois = rois[iou.max(axis=1) <= self.config.track_iou]
        return rois[:room]

    def _gate_dedupe(self, res: dict) -> dict:
        res = _select(res, res["flag"] >= self.config.min_presence)
        nxt = ops.hand_rois_from_landmarks(res["xy"])
        return _select(res, ops.dedupe_rois(nxt, self.config.track_iou))

    # ------------------------------------------------------------------ call
    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        """Hands in ``frame`` (a :class:`Frame` or an (H, W, 3) uint8 BGR array)."""
        frame = as_frame(frame)
        self._check_open()
        image, cfg, t = frame.image, self.config, {}
        if cfg.mode == "image":
            rois = self._detect(image, t)[:cfg.max_hands]
            res = self._gate_dedupe(self._lmk(image, rois, t))
        else:
            res = self._track(frame, t)
        poses = self._to_poses(res, t)
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
                              and len(rois) < cfg.max_hands):
            rois = np.concatenate([rois, self._new(self._detect(image, t), rois,
                                                   cfg.max_hands - len(rois))])
            ran, self._since_detect = True, 0
        res = self._lmk(image, rois, t)
        lost = (res["flag"] < cfg.min_presence).any()
        res = self._gate_dedupe(res)
        if lost and not ran and len(res["xy"]) < cfg.max_hands:
            self._since_detect = 0
            taken = ops.hand_rois_from_landmarks(res["xy"])
            new = self._new(self._detect(image, t), taken, cfg.max_hands - len(res["xy"]))
            if len(new):
                res = self._gate_dedupe(_concat(res, self._lmk(image, new, t)))
        self._tracks = ops.hand_rois_from_landmarks(res["xy"])
        return res

    def _to_poses(self, res: dict, t: dict) -> Poses:
        t0 = time.perf_counter()
        n = len(res["xy"])
        flag = np.clip(res["flag"], 0, 1).astype(np.float32)
        p_right = res["right"] if not self.config.mirrored else 1.0 - res["right"]
        extras = {"handedness": np.where(p_right >= 0.5, "right", "left").astype(object),
                  "handedness_score": np.maximum(p_right, 1 - p_right).astype(np.float32),
                  "roi": res["roi"]}
        if n == 0:
            poses = Poses.empty(HAND_21, with_world=True).replace(extras=extras)
        else:
            poses = Poses(res["xy"].astype(np.float32), np.repeat(flag[:, None], 21, axis=1),
                          HAND_21, person_scores=flag, world=res["world"], extras=extras)
        t["postprocess"] = t.get("postprocess", 0.0) + time.perf_counter() - t0
        return poses


__all__ = ["HandLandmarks", "Hands", "HandsConfig"]
