"""``blazepose``: BlazePose run natively on LiteRT (no MediaPipe graph at inference time).

Both networks come from the installed ``mediapipe==0.10.21`` wheel
(:func:`posekit.models.assets.blazepose_files`) and run through ``ai-edge-litert``'s
``Interpreter``. The pre- and post-processing follow MediaPipe's published graphs step by step
(see :mod:`posekit.models.blazepose_ops` for each rule and its source), so the landmarks agree
with MediaPipe Tasks' PoseLandmarker to a small fraction of a pixel given the same ROI.

What is ours rather than MediaPipe's:

- video mode tracks each person from the previous frame's landmarks (as MediaPipe does) but runs
  the detector only when nobody is tracked, when a tracked person is lost (then at once, on the
  same frame), or every ``detect_every`` frames while fewer than ``max_people`` are tracked;
  MediaPipe runs it on every frame in that case. A detection matched one to one to a tracked
  person (ROI IoU above ``track_iou``) is dropped and the track keeps its landmark-based ROI
  (MediaPipe replaces the tracked ROI by the detection's, which jitters more); two persons whose
  landmarks coincide are kept once;
- persons can come from outside: ``model(frame, boxes=boxes_xyxy)`` runs only the landmark
  network on boxes from any person detector (top-down use);
- :meth:`BlazePose.detect` can tile the frame into overlapping zoomed crops to find small
  people (:class:`TileConfig`);
- per-person joint heatmaps and the segmentation mask mapped back to the frame
  (``heatmaps=True``, ``mask=True``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..errors import ModelError
from ..skeletons import BLAZEPOSE_33
from ..types import Frame, Poses, box_iou
from . import as_frame
from . import blazepose_ops as ops
from .assets import (bgr_uint8_input, blazepose_files, compile_cached_ir, ir_cache_file,
                     openvino_core, openvino_cpu_config)
from .mediapipe_tasks import pose_boxes

log = logging.getLogger(__name__)


def _mirror_rows() -> np.ndarray:
    """Row permutation (39,) int64 of the landmark network's outputs for a crop mirrored
    left-right: left and right landmarks swap (``BLAZEPOSE_33.flip_pairs``); the alignment and
    auxiliary points 33-38 (body and upper-body centres and scale points) keep their rows."""
    perm = np.arange(ops.NUM_ALL_LANDMARKS)
    for a, b in BLAZEPOSE_33.flip_pairs:
        perm[a], perm[b] = b, a
    return perm


_MIRROR = _mirror_rows()

#: Two persons whose landmarks lie closer than this fraction of the ROI side (median over the
#: 33 landmarks) are one person seen twice; the later one is dropped. Distinct people standing
#: side by side are farther apart than that (their hip centres alone differ by more).
DUPLICATE_DISTANCE = 0.05

Detections = ops.Detections


@dataclass(frozen=True, kw_only=True)
class TileConfig:
    """How :meth:`BlazePose.detect` tiles a frame to find small people.

    The frame is covered by square tiles of ``size`` pixels (clipped to the frame's shorter
    side) laid on a regular grid whose neighbours share ``overlap`` of a tile's side; each tile
    is resized to the detector's 224x224 input, so a person of height h pixels looks
    ``224 / size`` times larger than in the frame letterboxed to 224 (``224 / max(H, W)``).

    Attributes:
        size: tile side in frame pixels (> 0).
        overlap: fraction of a tile's side shared with its neighbour, in [0, 0.9].
        full_frame: also run the detector on the whole frame (finds the people too large for
            one tile).
    """

    size: int = 320
    overlap: float = 0.25
    full_frame: bool = True

    def __post_init__(self):
        if self.size <= 0:
            raise ModelError(f"TileConfig.size must be positive, got {self.size}")
        if not 0.0 <= self.overlap <= 0.9:
            raise ModelError(f"TileConfig.overlap must be in [0, 0.9], got {self.overlap}")

    def grid(self, shape_hw: tuple[int, int]) -> np.ndarray:
        """Tile ROIs (T, 4) ``(cx, cy, side, 0)`` in pixels covering a frame of ``shape_hw``."""
        h, w = shape_hw
        side = float(min(self.size, h, w))
        step = side * (1.0 - self.overlap)

        def starts(extent: int) -> np.ndarray:
            n = max(1, int(np.ceil((extent - side) / step - 1e-9)) + 1)
            return np.linspace(0.0, extent - side, n)

        ys, xs = np.meshgrid(starts(h), starts(w), indexing="ij")
        c = np.stack([xs.ravel() + side / 2, ys.ravel() + side / 2], axis=1)
        return np.concatenate([c, np.full((len(c), 1), side), np.zeros((len(c), 1))], axis=1)


def as_tiles(tiles) -> TileConfig | None:
    """``None``/``False`` -> None, ``True`` -> ``TileConfig()``, an int -> ``TileConfig(size=...)``,
    a :class:`TileConfig` as is. Raises :class:`ModelError` otherwise."""
    if tiles is None or tiles is False:
        return None
    if tiles is True:
        return TileConfig()
    if isinstance(tiles, TileConfig):
        return tiles
    if isinstance(tiles, (int, np.integer)):
        return TileConfig(size=int(tiles))
    raise ModelError(f"tiles must be None, True, a tile size in pixels or a TileConfig, "
                     f"got {tiles!r}")


RUNTIMES = ("auto", "litert", "openvino")


@dataclass(frozen=True, kw_only=True)
class BlazePoseConfig:
    """Settings of :class:`BlazePose`.

    Attributes:
        max_people: most persons returned per frame (>= 1).
        min_score: detector score threshold in [0, 1] (PoseLandmarker's
            ``min_pose_detection_confidence``).
        min_presence: threshold in [0, 1] on the landmark network's pose flag below which a
            person is dropped (``min_pose_presence_confidence``).
        mode: ``"video"`` (track persons across frames) or ``"image"`` (detector on every call,
            no state).
        num_threads: LiteRT CPU threads per network.
        detect_every: video mode: while fewer than ``max_people`` persons are tracked, run the
            detector every this many frames to look for new people; 1 = every frame (MediaPipe's
            behaviour), 0 = only when nobody is tracked or a person is lost.
        nms_iou: IoU above which detections are merged by weighted non-maximum suppression
            (``min_suppression_threshold``: 0.3 in pose_detection_cpu.pbtxt; Tasks uses 0.5).
        track_iou: video mode: a detection whose ROI square overlaps a tracked person's by more
            than this IoU is that person (matched one to one); MediaPipe's
            ``min_tracking_confidence`` plays this role in its AssociationNormRectCalculator.
        box_scale: external boxes: the square ROI's side is ``box_scale * max(w, h)``.
        refine_boxes: external boxes: run the landmark network a second time on the ROI
            estimated from the first pass's alignment landmarks (rotation and scale as
            BlazePose's own tracking; twice the cost).
        tiles: detect on overlapping zoomed tiles (see :class:`TileConfig`; ``True`` for the
            defaults, an int for the tile size in pixels) instead of the letterboxed frame.
        heatmaps: add ``extras["heatmaps"]`` (N, 33, 64, 64) float32 in [0, 1] and
            ``extras["heatmap_to_frame"]`` (N, 2, 3) float32 (heatmap cell -> frame pixel).
        mask: add ``extras["mask"]`` (H, W) float32 in [0, 1], the persons' segmentation mask
            mapped back to the frame (maximum over persons).
        runtime: what runs the landmark network: ``"litert"`` (ai-edge-litert, XNNPACK),
            ``"openvino"`` (float32, without the segmentation head unless ``mask``), or
            ``"auto"`` (the default: OpenVINO where installed). The detector always runs on
            LiteRT (OpenVINO is no faster on it, measured). Measured on PETS09-S2L1's GT boxes
            on a 2-core Sapphire Rapids VM (``bench/bench_landmark_runtime.py``): 15.3 ms
            (LiteRT) against 9.1 ms (OpenVINO) per person, landmarks within 0.3 px of the
            frame (median 0.0000 px) and world coordinates within 0.05 mm.
    """

    max_people: int = 5
    min_score: float = 0.5
    min_presence: float = 0.5
    mode: str = "video"
    num_threads: int = 2
    detect_every: int = 3
    nms_iou: float = 0.5
    track_iou: float = 0.5
    box_scale: float = 1.4
    refine_boxes: bool = False
    tiles: TileConfig | None = None
    heatmaps: bool = False
    mask: bool = False
    runtime: str = "auto"

    def __post_init__(self):
        object.__setattr__(self, "tiles", as_tiles(self.tiles))
        resolve_runtime(self.runtime)    # raises on an unknown name
        if self.mode not in ("image", "video"):
            raise ModelError(f"mode must be 'image' or 'video', got {self.mode!r}")
        if self.max_people < 1:
            raise ModelError(f"max_people must be at least 1, got {self.max_people}")
        for name in ("min_score", "min_presence", "nms_iou", "track_iou"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ModelError(f"{name} must be in [0, 1], got {v}")
        if self.detect_every < 0:
            raise ModelError(f"detect_every must be >= 0, got {self.detect_every}")
        if self.num_threads < 1:
            raise ModelError(f"num_threads must be >= 1, got {self.num_threads}")
        if self.box_scale <= 0:
            raise ModelError(f"box_scale must be positive, got {self.box_scale}")


def _quiet():
    """Silence LiteRT's native "Created TensorFlow Lite XNNPACK delegate" line when possible."""
    try:
        from .mediapipe_tasks import quiet_native_stderr
    except ImportError:  # pragma: no cover - older reference module
        return contextlib.nullcontext()
    return quiet_native_stderr()


class _Net:
    """One LiteRT interpreter with its input index and output indices by name; one input per
    ``run`` (``max_batch`` 1)."""

    max_batch = 1
    bgr_uint8 = False     # run() takes float RGB in [0, 1]

    def __init__(self, path, num_threads: int):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:  # pragma: no cover - a core dependency
            raise ModelError("the blazepose backend needs ai-edge-litert: "
                             "pip install ai-edge-litert") from e
        try:
            with _quiet():
                self.it = Interpreter(model_path=str(path), num_threads=num_threads)
                self.it.allocate_tensors()
        except Exception as e:
            raise ModelError(f"LiteRT cannot load {path}: {e}") from e
        self.input = self.it.get_input_details()[0]["index"]
        self.out = {d["name"]: d["index"] for d in self.it.get_output_details()}

    def run(self, x: np.ndarray) -> None:
        self.it.set_tensor(self.input, x)
        self.it.invoke()

    def get(self, name: str) -> np.ndarray:
        return self.it.get_tensor(self.out[name])


#: Version of the IR files ``_OvNet`` caches: raise it when it changes the graph it saves
#: (outputs cut, preprocessing), so that no older file is read.
_IR_VERSION = 1


class _OvNet:
    """The landmark network in OpenVINO (its TensorFlow Lite front end reads the ``.tflite``
    file as is), float32, with the outputs not asked for cut from the graph, run on batches of
    up to ``max_batch`` crops.

    Without the segmentation output (``Identity_2``, a decoder up to 256 x 256) the graph
    loses that head and the network runs about a third faster; the other outputs are those of
    LiteRT to within 1e-2 of a pixel in the 256-pixel crop (``bench/bench_landmark_runtime.py``).
    A batch of B crops runs in a network compiled for that static batch size (compiled on first
    use): measured per crop on a 2-core VM, 8.9 ms alone, 7.5 in twos, 7.3 in threes, 7.2 in
    fours. Same ``run`` / ``get`` interface as :class:`_Net`, with a leading batch axis, but
    ``run`` takes the crops as they come out of the warp, uint8 BGR (``bgr_uint8``): OpenVINO's
    preprocessing turns them into the network's float RGB in [0, 1] inside the compiled
    network, which saves the per-crop colour conversion and scaling in numpy (about 0.8 of the
    1.0 ms per crop of preprocessing, measured on PETS09-S2L1).
    """

    max_batch = 4
    bgr_uint8 = True

    def __init__(self, path, num_threads: int, outputs: tuple[str, ...] | None = None):
        try:
            import openvino  # noqa: F401 - the runtime must be installed
        except ImportError as e:
            raise ModelError("runtime='openvino' needs the openvino package: "
                             "pip install openvino") from e
        self.path = path
        self._outputs = outputs
        try:
            self._core = openvino_core()
            self._model = None
            # the network as it runs, cached as IR: batch 1 compiles from that file
            self._ir = ir_cache_file(path, "xml", outputs, _IR_VERSION)
            # float32 explicitly: left alone OpenVINO runs bfloat16 on AMX CPUs, which moves
            # the landmarks by pixels and the world coordinates by about 0.1 m (measured)
            self._config = openvino_cpu_config(num_threads, "f32")
            self._reqs: dict[int, tuple] = {}
            self._req = self._compiled(1)
        except Exception as e:
            raise ModelError(f"OpenVINO cannot load {path}: {e}") from e

    def _source(self):
        """The network as it runs (``openvino.Model``, batch 1): read from the ``.tflite``
        file, outputs cut to those asked for, uint8 BGR input; converted once."""
        if self._model is None:
            import openvino as ov

            model = self._core.read_model(str(self.path))
            if self._outputs is not None:
                kept = [o for o in model.outputs if o.get_any_name() in self._outputs]
                model = ov.Model(kept, model.get_parameters(), "landmarks")
            # pose_landmark_by_roi_cpu.pbtxt: RGB, float range [0, 1]
            self._model = bgr_uint8_input(model, "NHWC")
        return self._model

    def _compiled(self, batch: int):
        """The infer request and outputs by name of the network for ``batch`` crops. Batch 1
        compiles from the cached IR file where there is one (:func:`~posekit.models.assets.
        compile_cached_ir`: nothing is read or converted)."""
        got = self._reqs.get(batch)
        if got is None:
            if batch == 1:
                compiled = compile_cached_ir(self._core, self._ir, self._config, self._source)
            else:
                model = self._source().clone()
                shape = list(model.inputs[0].get_shape())
                model.reshape([batch, *shape[1:]])
                compiled = self._core.compile_model(model, "CPU", self._config)
            got = self._reqs[batch] = (compiled.create_infer_request(),
                                       {o.get_any_name(): o for o in compiled.outputs})
        return got

    def run(self, x: np.ndarray) -> None:
        try:
            self._req = self._compiled(len(x))
        except Exception as e:
            raise ModelError(f"OpenVINO cannot compile {self.path} for {len(x)} crops: "
                             f"{e}") from e
        self._req[0].infer({0: x})

    def get(self, name: str) -> np.ndarray:
        req, out = self._req
        return req.get_tensor(out[name]).data


def resolve_runtime(runtime: str) -> str:
    """The runtime of the landmark network for a ``runtime`` setting: ``"auto"`` is OpenVINO
    where the ``openvino`` package is installed (a dependency of posekit), else LiteRT.

    Raises:
        ModelError: an unknown runtime.
    """
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime != "auto":
        return runtime
    import importlib.util

    return "openvino" if importlib.util.find_spec("openvino") is not None else "litert"


@dataclass
class _Timer:
    pre: float = 0.0
    infer: float = 0.0
    post: float = 0.0
    detector: float = 0.0


class BlazePose:
    """BlazePose 33 landmarks (2D pixels, visibility, presence, world metres) on LiteRT.

    ``model(frame)`` returns :class:`Poses` (skeleton ``BLAZEPOSE_33``): ``keypoints``
    (N, 33, 2) float32 pixels of the input frame, ``scores`` = visibility (N, 33), ``presence``
    (N, 33), ``world`` (N, 33, 3) metres (hip-centred, rotated by the ROI's rotation as
    MediaPipe's WorldLandmarkProjectionCalculator does), ``boxes`` around the visible landmarks
    (:func:`posekit.models.mediapipe_tasks.pose_boxes`), ``person_scores`` = mean visibility
    (as the reference backend). ``extras`` always holds ``"pose_score"`` (N,) float32 (the
    landmark network's pose flag) and ``"roi"`` (N, 4) float64 (the ROI the landmarks came from,
    ``(cx, cy, side, rotation)`` pixels and radians); plus the heatmaps and the mask when
    configured.

    ``model(frame, boxes=boxes)`` runs only the landmark stage on persons given as boxes (N, 4)
    xyxy pixels; ``extras["box_index"]`` (N,) int64 tells which input box each person came from
    (boxes without a person are dropped). This path keeps no state.

    Building blocks for trackers and top-down pipelines: :meth:`detect` (the person detector,
    optionally on zoomed tiles for small people) returns :class:`Detections` with BlazePose
    ROIs, and :meth:`landmarks` runs the landmark network on any ROIs ``(cx, cy, side,
    rotation)``.

    ``last_timings`` (seconds): ``preprocess``, ``infer``, ``postprocess`` summed over both
    networks, and ``detector`` (all of the detector's time; 0 on frames where it did not run).

    Args:
        config: a :class:`BlazePoseConfig`; or give its fields as keywords.

    Raises:
        ModelError: a bad setting, or the networks cannot be found or loaded.
    """

    name = "blazepose"
    skeleton = BLAZEPOSE_33

    def __init__(self, config: BlazePoseConfig | None = None, **settings):
        from ..config import check_settings

        check_settings("blazepose", settings, BlazePoseConfig.__dataclass_fields__)
        self.config = replace(config, **settings) if config else BlazePoseConfig(**settings)
        files = blazepose_files()
        # the person detector loads on its first use: top-down tracking with YOLO boxes and
        # the hybrid's ROIs from YOLO never need it in some runs
        self._det_path = files.detector
        self._det_net: _Net | None = None
        self.runtime = resolve_runtime(self.config.runtime)
        if self.runtime == "openvino":
            names = ("Identity", "Identity_1", "Identity_3", "Identity_4")
            self._lmk = _OvNet(files.landmark, self.config.num_threads,
                               None if self.config.mask else names)
        else:
            self._lmk = _Net(files.landmark, self.config.num_threads)
        self.last_timings: dict[str, float] = {}
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget tracked persons (video mode)."""
        self._tracks = np.zeros((0, 4))
        self._since_detect = 0
        self._last_time = -np.inf

    def close(self) -> None:
        """Release the interpreters."""
        self._det_net = self._lmk = None

    @property
    def _det(self) -> _Net:
        """The person detector's interpreter, loaded on first use.

        Raises:
            ModelError: the model is closed, or LiteRT cannot load the detector.
        """
        self._check_open()
        if self._det_net is None:
            self._det_net = _Net(self._det_path, self.config.num_threads)
        return self._det_net

    def _check_open(self) -> None:
        if self._lmk is None:
            raise ModelError("this BlazePose model is closed")

    @property
    def roi_scale(self) -> float:
        """The square ROI's side per person-box side for external boxes
        (:attr:`BlazePoseConfig.box_scale`; the :class:`~posekit.models.LandmarkModel`
        protocol)."""
        return float(self.config.box_scale)

    @property
    def tracked_rois(self) -> np.ndarray:
        """ROIs (N, 4) ``(cx, cy, side, rotation)`` the next video frame will start from."""
        return self._tracks.copy()

    # ------------------------------------------------------------------ detector
    def detect(self, image: np.ndarray, tiles: TileConfig | bool | int | None = ...
               ) -> Detections:
        """Run the person detector on a BGR image (H, W, 3) uint8.

        Args:
            tiles: ``...`` (default) uses the configured :attr:`BlazePoseConfig.tiles`; None or
                False forces the single letterboxed pass; otherwise as :func:`as_tiles`.
        Returns:
            :class:`Detections` in frame pixels, best first, at most 100, scores at least
            ``min_score``.
        """
        self._check_open()
        t = _Timer()
        dets = self._detect(image, self.config.tiles if tiles is ... else as_tiles(tiles), t)
        self.last_timings = {"preprocess": t.pre, "infer": t.infer, "postprocess": t.post,
                             "detector": t.detector}
        return dets

    def _detect_one(self, image: np.ndarray, roi: np.ndarray, t: _Timer):
        """Detector on one square ROI of the frame: weighted-NMS'd (scores, boxes, keypoints)
        in frame pixels."""
        t0 = time.perf_counter()
        m = ops.roi_matrix(roi, ops.DETECTOR_SIZE)[0]
        x = ops.crop(image, m, ops.DETECTOR_SIZE, cv2.BORDER_CONSTANT)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB).astype(np.float32)
        x *= 1.0 / 127.5   # pose_detection_cpu.pbtxt: output_tensor_float_range [-1, 1]
        x -= 1.0
        t1 = time.perf_counter()
        self._det.run(x[None])
        raw_boxes, raw_scores = self._det.get("Identity")[0], self._det.get("Identity_1")[0]
        t2 = time.perf_counter()
        s, b, k = ops.decode_detections(raw_boxes, raw_scores, self.config.min_score)
        s, b, k = ops.weighted_nms(s, b, k, self.config.nms_iou)
        n = ops.DETECTOR_SIZE
        b = ops.apply_affine(m, b.reshape(-1, 2, 2) * n).reshape(-1, 4)
        k = ops.apply_affine(m, k * n)
        t3 = time.perf_counter()
        t.pre += t1 - t0
        t.infer += t2 - t1
        t.post += t3 - t2
        return s, b, k

    def _detect(self, image: np.ndarray, tiles: TileConfig | None, t: _Timer) -> Detections:
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        if tiles is None:
            regions = ops.letterbox_roi((h, w))[None]
        else:
            regions = tiles.grid((h, w))
            if tiles.full_frame:
                regions = np.concatenate([ops.letterbox_roi((h, w))[None], regions])
        parts = [self._detect_one(image, r, t) for r in regions]
        s = np.concatenate([p[0] for p in parts])
        b = np.concatenate([p[1] for p in parts]).astype(np.float32)
        k = np.concatenate([p[2] for p in parts]).astype(np.float32)
        if len(parts) > 1 and len(s):
            # Each region was merged by weighted NMS; across regions keep the best of
            # overlapping detections (a person cut by a tile's edge is a worse estimate).
            order = np.argsort(-s, kind="stable")
            iou = box_iou(b[order], b[order])
            keep = []
            for i in range(len(order)):
                if all(iou[i, j] <= self.config.nms_iou for j in keep):
                    keep.append(i)
            sel = order[keep]
            s, b, k = s[sel], b[sel], k[sel]
        s, b, k = s[:100], b[:100], k[:100]
        dets = Detections(s, b, k, ops.rois_from_alignment(k[:, 0], k[:, 1]))
        t.detector += time.perf_counter() - t0
        return dets

    # ------------------------------------------------------------------ landmarks
    def landmarks(self, image: np.ndarray, rois: np.ndarray) -> Poses:
        """The landmark network alone on given ROIs (no detector, no tracking state).

        Args:
            image: (H, W, 3) uint8 BGR.
            rois: (N, 4) ``(cx, cy, side, rotation)`` pixels and radians, e.g.
                :attr:`Detections.rois` from :meth:`detect` or a tracker's prediction.
        Returns:
            :class:`Poses` of the ROIs that hold a person (pose flag >= ``min_presence``);
            ``extras["roi_index"]`` (N,) int64 gives each person's row in ``rois``.
        Raises:
            ValueError: ``rois`` is not (N, 4).
        """
        r = np.asarray(rois, np.float64)
        if r.ndim != 2 or r.shape[1] != 4:
            raise ValueError(f"rois: expected (N, 4) (cx, cy, side, rotation), got {r.shape}")
        self._check_open()
        t = _Timer()
        res = self._landmarks(image, r, t, heatmaps=self.config.heatmaps, mask=self.config.mask)
        res["roi_index"] = np.arange(len(r), dtype=np.int64)
        poses = self._to_poses(self._gate(res), image.shape[:2], t)
        self.last_timings = {"preprocess": t.pre, "infer": t.infer, "postprocess": t.post,
                             "detector": 0.0}
        return poses

    def _landmarks(self, image: np.ndarray, rois: np.ndarray, t: _Timer, *,
                   heatmaps: bool, mask: bool, flip: bool = False) -> dict:
        """The landmark network on each ROI (N, 4); arrays with a leading N (all ROIs, not yet
        gated by the pose flag). LiteRT runs one ROI per invoke (its batch axis can be resized,
        but on CPU a batch of N costs N times one, measured); OpenVINO runs up to
        ``_OvNet.max_batch`` ROIs per inference, which costs less per ROI (see
        :class:`_OvNet`).

        ``flip``: test-time augmentation; the network also runs on each crop mirrored
        left-right, whose landmarks are mirrored back (x -> 255 - x in crop pixels: the crop
        samples column u at ``(u / 256 - 0.5) * side`` from the ROI centre, so column u of the
        mirrored crop is column 255 - u of the plain one; left and right landmarks swapped,
        world x negated in the ROI frame) and averaged with the plain
        crop's: landmarks, visibility, presence, world landmarks and pose flag. Heatmaps and
        the segmentation mask stay the plain crop's. Costs a second landmark pass.
        """
        out = self._landmark_pass(image, rois, t, heatmaps=heatmaps, mask=mask)
        if flip and len(rois):
            mirror = self._landmark_pass(image, rois, t, heatmaps=False, mask=False,
                                         mirrored=True)
            for key in ("xy", "vis", "pres", "flag", "world"):
                out[key] = (out[key] + mirror[key]) / 2
        return out

    def _landmark_pass(self, image: np.ndarray, rois: np.ndarray, t: _Timer, *,
                       heatmaps: bool, mask: bool, mirrored: bool = False) -> dict:
        """One pass of the landmark network over ``rois`` (see :meth:`_landmarks`); with
        ``mirrored`` on the crops mirrored left-right, results mapped back to the plain crop's
        landmark order and coordinates."""
        n = len(rois)
        k = ops.NUM_ALL_LANDMARKS
        out = {"xy": np.zeros((n, k, 2)), "vis": np.zeros((n, k), np.float32),
               "pres": np.zeros((n, k), np.float32), "flag": np.zeros(n, np.float32),
               "world": np.zeros((n, ops.NUM_LANDMARKS, 3), np.float32),
               "matrix": ops.roi_matrix(rois, ops.LANDMARK_SIZE) if n else np.zeros((0, 2, 3)),
               "roi": np.asarray(rois, np.float64).reshape(n, 4)}
        if heatmaps:
            out["heatmaps"] = np.zeros((n, ops.NUM_LANDMARKS, ops.HEATMAP_SIZE,
                                        ops.HEATMAP_SIZE), np.float32)
        if mask:
            out["seg"] = np.zeros((n, ops.LANDMARK_SIZE, ops.LANDMARK_SIZE), np.float32)
        size = ops.LANDMARK_SIZE
        step, bgr_uint8 = self._lmk.max_batch, self._lmk.bgr_uint8
        for start in range(0, n, step):
            t0 = time.perf_counter()
            idx = range(start, min(start + step, n))
            x = np.empty((len(idx), size, size, 3), np.uint8 if bgr_uint8 else np.float32)
            for j, i in enumerate(idx):
                c = ops.crop(image, out["matrix"][i], size, cv2.BORDER_REPLICATE)  # ImageToTensor
                if mirrored:
                    c = c[:, ::-1]
                x[j] = c if bgr_uint8 else cv2.cvtColor(c, cv2.COLOR_BGR2RGB)  # default border
            if not bgr_uint8:
                x *= 1.0 / 255.0   # pose_landmark_by_roi_cpu.pbtxt: float range [0, 1]
            t1 = time.perf_counter()
            self._lmk.run(x)
            raws = self._lmk.get("Identity").reshape(len(idx), k, 5)
            flags = self._lmk.get("Identity_1").reshape(len(idx))
            hms = self._lmk.get("Identity_3")
            worlds = self._lmk.get("Identity_4").reshape(len(idx), k, 3)[:, :ops.NUM_LANDMARKS]
            segs = self._lmk.get("Identity_2")[..., 0] if mask else None
            t2 = time.perf_counter()
            for j, i in enumerate(idx):
                raw, m = raws[j], out["matrix"][i]
                xy = ops.refine_from_heatmap(raw[:, :2] / size, hms[j])
                world = worlds[j]
                if mirrored:
                    raw, xy = raw[_MIRROR], xy[_MIRROR].copy()
                    world = world[_MIRROR[:ops.NUM_LANDMARKS]].copy()
                    xy[:, 0] = (size - 1) / size - xy[:, 0]   # crop column u <-> 255 - u
                    world[:, 0] = -world[:, 0]
                out["xy"][i] = ops.apply_affine(m, xy * size)
                out["vis"][i] = ops.sigmoid(raw[:, 3])
                out["pres"][i] = ops.sigmoid(raw[:, 4])
                out["flag"][i] = flags[j]
                out["world"][i] = ops.rotate_world(world, rois[i][3])
                if heatmaps:
                    out["heatmaps"][i] = ops.sigmoid(
                        np.moveaxis(hms[j][:, :, :ops.NUM_LANDMARKS], 2, 0))
                if mask:
                    out["seg"][i] = ops.sigmoid(segs[j])
            t3 = time.perf_counter()
            t.pre += t1 - t0
            t.infer += t2 - t1
            t.post += t3 - t2
        return out

    @staticmethod
    def _select(res: dict, idx) -> dict:
        return {key: v[idx] for key, v in res.items()}

    @staticmethod
    def _concat(a: dict, b: dict) -> dict:
        return {key: np.concatenate([a[key], b[key]]) for key in a}

    @staticmethod
    def _next_rois(res: dict) -> np.ndarray:
        """Next frame's ROIs from alignment landmarks 33 (centre) and 34 (scale/rotation)."""
        return ops.rois_from_alignment(res["xy"][:, 33], res["xy"][:, 34])

    def _dedupe(self, res: dict) -> dict:
        """Drop persons whose landmarks repeat an earlier person's: median distance over the 33
        landmarks below :data:`DUPLICATE_DISTANCE` times the earlier person's ROI side (two ROIs
        that converged onto one person)."""
        xy = res["xy"][:, :ops.NUM_LANDMARKS]
        keep: list[int] = []
        for i in range(len(xy)):
            if all(np.median(np.linalg.norm(xy[i] - xy[j], axis=1))
                   >= DUPLICATE_DISTANCE * res["roi"][j, 2] for j in keep):
                keep.append(i)
        return self._select(res, np.asarray(keep, np.int64))

    def _gate(self, res: dict) -> dict:
        return self._select(res, res["flag"] >= self.config.min_presence)

    def _new_rois(self, dets: Detections, taken: np.ndarray, room: int) -> np.ndarray:
        """ROIs of detections that are new persons, best first, at most ``room``.

        Detections and ``taken`` ROIs (N, 4) (persons already tracked) are matched one to one,
        greedily by decreasing IoU of their ROI squares, where the IoU exceeds ``track_iou``;
        a matched detection is the tracked person again and is dropped (its track keeps its own
        ROI, which comes from the landmarks and is steadier than the detector's).
        """
        if room <= 0 or len(dets) == 0:
            return np.zeros((0, 4))
        new = np.ones(len(dets), bool)
        if len(taken):
            iou = box_iou(ops.roi_boxes(dets.rois), ops.roi_boxes(taken))
            while True:
                d, k = np.unravel_index(np.argmax(iou), iou.shape)
                if iou[d, k] <= self.config.track_iou:
                    break
                new[d] = False
                iou[d, :] = -1.0
                iou[:, k] = -1.0
        return dets.rois[new][:room]

    # ------------------------------------------------------------------ call
    def __call__(self, frame: Frame | np.ndarray, boxes: np.ndarray | None = None, *,
                 rois: np.ndarray | None = None) -> Poses:
        """Poses in ``frame`` (a :class:`Frame` or an (H, W, 3) uint8 BGR array).

        Args:
            boxes: optional person boxes (N, 4) xyxy pixels from any detector: run only the
                landmark network on the square ROIs around them (no detector, no tracking
                state); ``extras["box_index"]`` gives each person's row in ``boxes``.
            rois: the former name of ``boxes`` (ROI means the rotated squares ``(cx, cy,
                side, rotation)`` everywhere else).
        Raises:
            ValueError: ``boxes`` is not (N, 4).
        """
        if rois is not None:
            boxes = rois
        rois = boxes
        frame = as_frame(frame)
        self._check_open()
        image = frame.image
        cfg = self.config
        want = {"heatmaps": cfg.heatmaps, "mask": cfg.mask}
        t = _Timer()
        if rois is not None:
            boxes = np.asarray(rois, np.float64)
            if boxes.ndim != 2 or boxes.shape[1] != 4:
                raise ValueError(f"boxes: expected (N, 4) xyxy boxes, got {boxes.shape}")
            res = self._landmarks(image, ops.rois_from_boxes(boxes, cfg.box_scale), t, **want)
            res["box_index"] = np.arange(len(boxes), dtype=np.int64)
            if cfg.refine_boxes and len(res["xy"]):
                again = self._landmarks(image, self._next_rois(res), t, **want)
                again["box_index"] = res["box_index"]
                ok = again["flag"] >= cfg.min_presence
                res = {key: np.where(ok.reshape((-1,) + (1,) * (v.ndim - 1)), again[key], v)
                       for key, v in res.items()}
            res = self._gate(res)
        elif cfg.mode == "image":
            dets = self._detect(image, cfg.tiles, t)
            res = self._landmarks(image, dets.rois[:cfg.max_people], t, **want)
            res = self._dedupe(self._gate(res))
        else:
            res = self._track(frame, t, want)
        poses = self._to_poses(res, image.shape[:2], t)
        self.last_timings = {"preprocess": t.pre, "infer": t.infer, "postprocess": t.post,
                             "detector": t.detector}
        return poses

    def _track(self, frame: Frame, t: _Timer, want: dict) -> dict:
        """Video mode: landmarks on tracked ROIs, the detector only when needed."""
        cfg = self.config
        image = frame.image
        if frame.time_s < self._last_time:  # a new stream started
            self.reset()
        self._last_time = frame.time_s
        self._since_detect += 1
        rois = self._tracks
        ran = False
        if len(rois) == 0 or (cfg.detect_every and self._since_detect >= cfg.detect_every
                              and len(rois) < cfg.max_people):
            dets = self._detect(image, cfg.tiles, t)
            ran, self._since_detect = True, 0
            rois = np.concatenate([rois, self._new_rois(dets, rois, cfg.max_people - len(rois))])
        res = self._landmarks(image, rois, t, **want)
        lost = res["flag"] < cfg.min_presence
        res = self._gate(res)
        if lost.any() and not ran:
            # A person was lost: look for people again on this very frame.
            dets = self._detect(image, cfg.tiles, t)
            self._since_detect = 0
            new = self._new_rois(dets, self._next_rois(res), cfg.max_people - len(res["xy"]))
            if len(new):
                res = self._concat(res, self._gate(self._landmarks(image, new, t, **want)))
        res = self._dedupe(res)
        self._tracks = self._next_rois(res)
        return res

    def _to_poses(self, res: dict, shape_hw: tuple[int, int], t: _Timer) -> Poses:
        t0 = time.perf_counter()
        n = len(res["xy"])
        kp = res["xy"][:, :ops.NUM_LANDMARKS].astype(np.float32)
        vis = np.clip(res["vis"][:, :ops.NUM_LANDMARKS], 0, 1)
        extras = {"pose_score": res["flag"].astype(np.float32), "roi": res["roi"]}
        for key in ("box_index", "roi_index"):
            if key in res:
                extras[key] = res[key]
        if "heatmaps" in res:
            extras["heatmaps"] = res["heatmaps"]
            cell = ops.LANDMARK_SIZE / ops.HEATMAP_SIZE
            m = res["matrix"].copy()
            m[:, :, :2] *= cell
            extras["heatmap_to_frame"] = m.astype(np.float32)
        if "seg" in res:
            extras["mask"] = self._frame_mask(res, shape_hw)
        if n == 0:
            poses = Poses.empty(BLAZEPOSE_33, with_world=True).replace(extras=extras)
        else:
            poses = Poses(kp, vis, BLAZEPOSE_33, world=res["world"],
                          presence=np.clip(res["pres"][:, :ops.NUM_LANDMARKS], 0, 1),
                          boxes=pose_boxes(kp, vis), person_scores=vis.mean(axis=1),
                          extras=extras)
        t.post += time.perf_counter() - t0
        return poses

    @staticmethod
    def _frame_mask(res: dict, shape_hw: tuple[int, int]) -> np.ndarray:
        """Segmentation masks (N, 256, 256) warped back to the frame, maximum over persons
        (pose_landmarks_detector_graph.cc: inverse ROI matrix + WarpAffineCalculator, zero
        border)."""
        h, w = shape_hw
        out = np.zeros((h, w), np.float32)
        for seg, m in zip(res["seg"], res["matrix"]):
            warped = cv2.warpAffine(seg, m, (w, h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            np.maximum(out, warped, out=out)
        return out


__all__ = ["RUNTIMES", "BlazePose", "BlazePoseConfig", "Detections", "TileConfig", "as_tiles",
           "resolve_runtime"]
