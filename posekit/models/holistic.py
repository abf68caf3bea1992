"""``holistic``: body, both hands and face for every person, as MediaPipe Holistic does for one.

For each person the body model finds (any registered model whose skeleton is BlazePose's 33
landmarks: ``blazepose`` by default, ``hybrid`` for YOLO person boxes):

- **hands** (holistic_landmark/hand_landmarks_from_pose_cpu.pbtxt): where the pose wrist's
  visibility is at least ``min_wrist_visibility`` (0.1 in
  hand_visibility_from_hand_landmarks_from_pose.pbtxt), a search ROI from the pose's wrist,
  pinky and index landmarks (scale 2.7), the hand re-crop network (``hand_recrop.tflite``) on
  it, the hand ROI from its two points, then the hand landmark network;
- **face** (holistic_landmark/face_landmarks_from_pose_cpu.pbtxt): a search ROI from the pose's
  landmarks 0-10 (scale 3.0), the short-range face detector inside it, the face ROI from the
  first detection's keypoints (scale 2.0), then the 468-landmark network.

Video mode keeps a hand's or face's ROI from the previous frame's landmarks while it agrees
with this frame's re-crop ROI (``RoiTrackingCalculator``'s rules of hand_tracking.pbtxt and
face_tracking.pbtxt), matching each part to the previous frame's parts of the same kind, so it
works for many persons.

Speed: a hand or face is processed only when its ROI estimated from the pose is at least
``min_hand_px`` / ``min_face_px`` pixels (documented defaults below) and the part is visible;
each network runs once per frame over the parts of all persons (in batches of up to 4 crops
with ``runtime="openvino"``).

The output is one :class:`Poses` of skeleton ``HOLISTIC_543`` per frame: per person, parts
``body`` (33), ``left_hand`` (21), ``right_hand`` (21) and ``face`` (468); a part not found is
NaN with score 0. Because hands and face are parts of their person's instance, a tracker's ID
for the person is theirs too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from ..skeletons import BLAZEPOSE_33, HOLISTIC_543
from ..types import Frame, Poses
from . import as_frame
from . import parts_ops as ops
from .blazepose import RUNTIMES, resolve_runtime
from .face import FaceDetector, FaceLandmarks
from .hands import HandLandmarks, make_config

log = logging.getLogger(__name__)

RECROP_FILE = "holistic_landmark/hand_recrop.tflite"
RECROP_SIZE = 256              # hand_recrop_by_roi_cpu.pbtxt: 256x256 input
RECROP_OUTPUTS = ("output_crop",)
#: BlazePose rows per side: wrist, pinky, index (hand_landmarks_left_and_right_cpu.pbtxt).
HAND_FROM_POSE = {"left_hand": (15, 17, 19), "right_hand": (16, 18, 20)}
FACE_FROM_POSE = np.arange(11)   # BlazePose landmarks 0-10: nose, eyes, ears, mouth


@dataclass(frozen=True, kw_only=True)
class HolisticConfig:
    """Settings of :class:`Holistic`.

    Attributes:
        body: the registered body model (its skeleton must be ``BLAZEPOSE_33``):
            ``"blazepose"`` (default), ``"hybrid"`` (YOLO persons) or ``"blazepose-mediapipe"``.
        body_settings: keyword settings of the body model (e.g. ``{"max_people": 10}``);
            ``mode`` defaults to this config's ``mode``.
        hands, face: find the hands / the face.
        mode: ``"video"`` (track body, hands and face ROIs between frames) or ``"image"``.
        min_wrist_visibility: a hand is looked for where the pose wrist's visibility is at
            least this (MediaPipe: 0.1).
        min_face_visibility: the face is looked for where the mean visibility of pose
            landmarks 0-10 is at least this.
        min_hand_px: smallest hand looked for: side in pixels of the hand ROI the pose predicts
            (twice the wrist-to-middle-knuckle distance, before the 2.7x search margin).
        min_face_px: smallest face looked for: width in pixels of the box around pose
            landmarks 0-10 (roughly ear to ear).
        min_hand_presence, min_face_presence: presence flag thresholds in [0, 1].
        hand_complexity: the hand landmark network, 1 (full, MediaPipe Holistic's) or 0
            (lite: faster, less accurate).
        num_threads: CPU threads per network.
        runtime: ``"litert"`` (default: one crop per inference, XNNPACK), ``"openvino"``
            (float32, up to 4 crops per inference for the landmark networks) or ``"auto"``
            (OpenVINO where installed). Which is faster depends on the CPU and its load
            (docs/whole_body.md, ``bench/bench_whole_body.py --runtime``).
    """

    body: str = "blazepose"
    body_settings: Mapping = field(default_factory=dict)
    hands: bool = True
    face: bool = True
    mode: str = "video"
    min_wrist_visibility: float = 0.1
    min_face_visibility: float = 0.5
    min_hand_px: float = 12.0
    min_face_px: float = 24.0
    min_hand_presence: float = 0.5
    min_face_presence: float = 0.5
    hand_complexity: int = 1
    num_threads: int = 2
    runtime: str = "litert"

    def __post_init__(self):
        if self.runtime not in RUNTIMES:
            raise ModelError(f"runtime must be one of {', '.join(RUNTIMES)}, "
                             f"got {self.runtime!r}")
        if self.mode not in ("image", "video"):
            raise ModelError(f"mode must be 'image' or 'video', got {self.mode!r}")
        for name in ("min_wrist_visibility", "min_face_visibility", "min_hand_presence",
                     "min_face_presence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ModelError(f"{name} must be in [0, 1], got {v}")
        if self.hand_complexity not in (0, 1):
            raise ModelError(f"hand_complexity must be 0 or 1, got {self.hand_complexity!r}")
        if self.min_hand_px < 0 or self.min_face_px < 0:
            raise ModelError("min_hand_px and min_face_px must be >= 0")
        if self.num_threads < 1:
            raise ModelError(f"num_threads must be >= 1, got {self.num_threads}")
        object.__setattr__(self, "body_settings", dict(self.body_settings))


class Holistic:
    """Body, hands and face of every person (see the module docstring).

    ``model(frame)`` returns :class:`Poses` of skeleton ``HOLISTIC_543``: ``keypoints``
    (N, 543, 2) float32 frame pixels; ``scores``: the body's visibility for ``body``, the
    hand's / face's presence score for their landmarks (0 where the part was not found);
    ``world`` (N, 543, 3) metres: the body's world landmarks, each hand's world landmarks moved
    so that its wrist sits on the body's world wrist (NaN where missing; the face has none);
    ``boxes``, ``person_scores`` and ``extras`` of the body model, plus ``extras``
    ``"left_hand_roi"``, ``"right_hand_roi"``, ``"face_roi"`` (N, 4) (NaN where not run).
    ``poses.part("left_hand")`` etc. give each part alone. ``last_timings``: ``body``,
    ``hand_recrop``, ``hands``, ``face_detector``, ``face`` seconds.

    Args:
        config: a :class:`HolisticConfig`, or its fields as keywords; the registry's common
            keywords ``max_people`` and ``min_score`` go to the body model.

    Raises:
        ModelError: a bad or unknown setting, a body model whose skeleton is not BlazePose's
            33 landmarks, or a network that cannot be loaded.
    """

    name = "holistic"
    skeleton = HOLISTIC_543

    def __init__(self, config: HolisticConfig | None = None, **settings):
        body = {k: settings.pop(k) for k in ("max_people", "min_score") if k in settings}
        if body:   # the registry's common keywords are the body model's
            base = dict((config.body_settings if config else {}), **body)
            settings["body_settings"] = {**base, **settings.get("body_settings", {})}
        self.config = cfg = make_config(HolisticConfig, config, settings, self.name)
        from . import load_model

        body_settings = {"mode": cfg.mode, **cfg.body_settings}
        self._body = load_model(cfg.body, **body_settings)
        if self._body.skeleton != BLAZEPOSE_33:
            raise ModelError(f"holistic needs a body model with BlazePose's 33 landmarks; "
                             f"{cfg.body!r} gives {self._body.skeleton.name}")
        self.runtime = resolve_runtime(cfg.runtime)
        self._recrop = self._hand = self._face_det = self._face = None
        if cfg.hands:
            self._recrop = ops.load_net(RECROP_FILE, self.runtime, cfg.num_threads,
                                        RECROP_OUTPUTS, batch=False)
            self._hand = HandLandmarks(self.runtime, cfg.num_threads, cfg.hand_complexity)
        if cfg.face:
            self._face_det = FaceDetector("short", cfg.num_threads, 0.5)
            self._face = FaceLandmarks(self.runtime, cfg.num_threads)
        self.last_timings: dict[str, float] = {}
        self._closed = False
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (video mode) in the body model and the parts."""
        self._body.reset()
        self._prev: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._last_time = -np.inf

    def close(self) -> None:
        if not self._closed:
            self._body.close()
        self._closed = True
        self._recrop = self._hand = self._face_det = self._face = None

    # ------------------------------------------------------------------ parts
    def _hand_rois(self, image: np.ndarray, body: Poses, t: dict
                   ) -> tuple[list[tuple[int, str]], np.ndarray]:
        """(person, side) of each hand to look for, and its landmark ROI (M, 4)."""
        cfg = self.config
        who, search = [], []
        for side, (w, p, i) in HAND_FROM_POSE.items():
            kp, vis = body.keypoints[:, [w, p, i]], body.scores[:, w]
            for n in range(len(body)):
                if vis[n] < cfg.min_wrist_visibility or not np.isfinite(kp[n]).all():
                    continue
                roi = ops.hand_recrop_rois_from_pose(kp[n, 0], kp[n, 1], kp[n, 2])[0]
                if roi[2] / 2.7 < cfg.min_hand_px:
                    continue
                who.append((n, side))
                search.append(roi)
        if not who:
            return who, np.zeros((0, 4))
        t0 = time.perf_counter()
        raw, mats = ops.run_crops(self._recrop, image, np.asarray(search), RECROP_SIZE,
                                  RECROP_OUTPUTS)
        pts = ops.project(mats, raw["output_crop"].reshape(len(who), 2, 2))
        t["hand_recrop"] = time.perf_counter() - t0
        return who, ops.hand_rois_from_recrop(pts)

    def _face_rois(self, image: np.ndarray, body: Poses, t: dict
                   ) -> tuple[list[tuple[int, str]], np.ndarray]:
        cfg = self.config
        who, rois = [], []
        t0 = time.perf_counter()
        for n in range(len(body)):
            pts = body.keypoints[n, FACE_FROM_POSE]
            if body.scores[n, FACE_FROM_POSE].mean() < cfg.min_face_visibility \
                    or not np.isfinite(pts).all():
                continue
            width = np.ptp(pts[:, 0])
            if max(width, np.ptp(pts[:, 1])) < cfg.min_face_px:
                continue
            search = ops.face_recrop_rois_from_pose(pts[None])[0]
            _, _, k = self._face_det(image, search)
            if len(k) == 0:
                continue
            who.append((n, "face"))
            rois.append(ops.face_rois_from_detection_keypoints(k[:1])[0])
        t["face_detector"] = time.perf_counter() - t0
        return who, np.asarray(rois).reshape(-1, 4)

    def _track(self, kind: str, rois: np.ndarray, rule: ops.TrackingRule) -> np.ndarray:
        """Video mode: each re-crop ROI replaced by the previous frame's landmark ROI of a part
        of the same ``kind`` that passes ``rule`` (the nearest such, each used once)."""
        prev = self._prev.get(kind)
        if self.config.mode != "video" or prev is None or len(prev[0]) == 0 or len(rois) == 0:
            return rois
        prev_rois, prev_xy = prev
        out = rois.copy()
        used: set[int] = set()
        for j, r in enumerate(rois):
            d = np.linalg.norm(prev_rois[:, :2] - r[:2], axis=1)
            for k in np.argsort(d):
                if k not in used and ops.keep_tracking(prev_rois[k], prev_xy[k], r, rule):
                    out[j] = prev_rois[k]
                    used.add(int(k))
                    break
        return out

    # ------------------------------------------------------------------ call
    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        """Body, hands and face of every person in ``frame``."""
        if self._closed:
            raise ModelError("this Holistic model is closed")
        frame = as_frame(frame)
        cfg, image, t = self.config, frame.image, {}
        if cfg.mode == "video":
            if frame.time_s < self._last_time:
                self.reset()
            self._last_time = frame.time_s
        t0 = time.perf_counter()
        body = self._body(frame)
        t["body"] = time.perf_counter() - t0
        return self._parts(image, body, t)

    def parts(self, frame: Frame | np.ndarray, body: Poses) -> Poses:
        """Hands and face for persons whose body comes from elsewhere: ``body`` is
        :class:`Poses` of ``BLAZEPOSE_33`` in pixels of ``frame`` (visibility as scores).
        Returns what :meth:`__call__` returns for those persons (video mode keeps the parts'
        ROIs for the next call as ``__call__`` does).

        Raises:
            ModelError: ``body`` is not of skeleton ``BLAZEPOSE_33``.
        """
        if self._closed:
            raise ModelError("this Holistic model is closed")
        if body.skeleton != BLAZEPOSE_33:
            raise ModelError(f"holistic parts need BlazePose-33 bodies, got "
                             f"{body.skeleton.name}")
        return self._parts(as_frame(frame).image, body, {})

    def _parts(self, image: np.ndarray, body: Poses, t: dict) -> Poses:
        cfg = self.config
        n = len(body)
        k = len(HOLISTIC_543)
        kp = np.full((n, k, 2), np.nan, np.float32)
        sc = np.zeros((n, k), np.float32)
        world = np.full((n, k, 3), np.nan, np.float32)
        kp[:, :33], sc[:, :33] = body.keypoints, body.scores
        if body.world is not None:
            world[:, :33] = body.world
        part_rois = {name: np.full((n, 4), np.nan) for name in
                     ("left_hand_roi", "right_hand_roi", "face_roi")}
        prev: dict[str, tuple[np.ndarray, np.ndarray]] = {}

        if cfg.hands and n:
            who, rois = self._hand_rois(image, body, t)
            rois = self._track("hand", rois, ops.HAND_TRACKING)
            t0 = time.perf_counter()
            res = self._hand(image, rois)
            t["hands"] = time.perf_counter() - t0
            ok = res["flag"] >= cfg.min_hand_presence
            for j, (p, side) in enumerate(who):
                part_rois[side + "_roi"][p] = rois[j]
                if not ok[j]:
                    continue
                sl = HOLISTIC_543.part(side).slice
                kp[p, sl] = res["xy"][j]
                sc[p, sl] = res["flag"][j]
                wrist = HAND_FROM_POSE[side][0]
                if body.world is not None:
                    world[p, sl] = res["world"][j] - res["world"][j][0] + body.world[p, wrist]
            prev["hand"] = (ops.hand_rois_from_landmarks(res["xy"][ok]), res["xy"][ok])
        if cfg.face and n:
            who, rois = self._face_rois(image, body, t)
            rois = self._track("face", rois, ops.FACE_TRACKING)
            t0 = time.perf_counter()
            res = self._face(image, rois)
            t["face"] = time.perf_counter() - t0
            ok = res["flag"] >= cfg.min_face_presence
            sl = HOLISTIC_543.part("face").slice
            for j, (p, _) in enumerate(who):
                part_rois["face_roi"][p] = rois[j]
                if ok[j]:
                    kp[p, sl] = res["xy"][j]
                    sc[p, sl] = res["flag"][j]
            prev["face"] = (ops.face_rois_from_landmarks(res["xy"][ok]), res["xy"][ok])
        self._prev = prev
        presence = None
        if body.presence is not None:
            presence = sc.copy()
            presence[:, :33] = body.presence
        extras = {**body.extras, **part_rois}
        poses = Poses(kp, sc, HOLISTIC_543, boxes=body.boxes, person_scores=body.person_scores,
                      world=world if body.world is not None else None, presence=presence,
                      track_ids=body.track_ids, extras=extras)
        self.last_timings = {key: t.get(key, 0.0) for key in
                             ("body", "hand_recrop", "hands", "face_detector", "face")}
        return poses


__all__ = ["Holistic", "HolisticConfig"]
