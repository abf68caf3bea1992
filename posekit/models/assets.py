"""Model files: find the weights bundled with installed packages, build and cache derived files.

Nothing here downloads anything. BlazePose's two networks ship inside the ``mediapipe==0.10.21``
wheel (``mediapipe/modules/pose_detection/pose_detection.tflite`` and
``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``); MediaPipe Tasks' PoseLandmarker
needs them as a ``.task`` bundle (a zip holding ``pose_detector.tflite`` and
``pose_landmarks_detector.tflite``, file names from mediapipe/tasks/cc/vision/pose_landmarker/
pose_landmarker_graph.cc) whose inputs carry image metadata (RGB; mean 0, std 255 for the
landmark network, whose input is [0, 1]; mean and std 127.5 for the detector, whose input is
[-1, 1]). :func:`blazepose_task_bundle` builds it once and caches it in the user cache
directory, keyed by the two files' hashes, written atomically.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

log = logging.getLogger(__name__)

MEDIAPIPE_VERSION = "0.10.21"
_NEED = (f"install mediapipe=={MEDIAPIPE_VERSION}, the last release that bundles BlazePose's "
         "pose_detection.tflite and pose_landmark_full.tflite")


def cache_dir() -> Path:
    """posekit's cache folder (``$POSEKIT_CACHE`` or platformdirs' user cache dir)."""
    env = os.environ.get("POSEKIT_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("posekit"))


#: The cache's folders of derived files that :func:`prune_cache` keeps within a size budget:
#: OpenVINO's compiled networks, converted IR files, exported YOLO models and cached
#: evaluation passes. Everything in them is made again, at some cost in time, when missing.
PRUNED_FOLDERS = ("openvino", "openvino-ir", "yolo-openvino", "eval", "test-poses")
#: Most bytes :func:`prune_cache` leaves in :data:`PRUNED_FOLDERS` together (2 GiB).
CACHE_BUDGET_BYTES = 2 << 30
#: Entries used more recently than this many seconds ago are never pruned: another process
#: may be reading them.
CACHE_GRACE_S = 600.0


def _cache_entries(root: Path) -> list[tuple[float, int, list[Path]]]:
    """The entries of ``root``'s :data:`PRUNED_FOLDERS` as (last use, bytes, paths): a file;
    an IR ``.xml`` with its ``.bin`` (one entry, so that an ``.xml`` never outlives its
    weights); a folder (an export) as a whole. Last use is the latest access or modification
    time of its files, in seconds since the epoch. A folder another process changes while it
    is listed is left out (logged)."""
    out = []
    for name in PRUNED_FOLDERS:
        folder = root / name
        try:
            if not folder.is_dir():
                continue
            groups: dict[str, list[Path]] = {}
            for p in folder.iterdir():
                key = str(p.with_suffix("")) if p.suffix in (".xml", ".bin") else str(p)
                groups.setdefault(key, []).append(p)
            for paths in groups.values():
                files = [f for p in paths for f in ([p] if not p.is_dir() else
                                                    [q for q in p.rglob("*") if q.is_file()])]
                stats = [f.stat() for f in files]
                used = max([max(st.st_atime, st.st_mtime) for st in stats] or
                           [p.stat().st_mtime for p in paths])
                out.append((used, sum(st.st_size for st in stats), paths))
        except OSError as e:   # changed under us by another process
            log.debug("cannot list %s: %s", folder, e)
    return out


def derived_bytes(root: Path | None = None) -> int:
    """Bytes held in the :data:`PRUNED_FOLDERS` of ``root`` (:func:`cache_dir` when None)."""
    return sum(size for _, size, _ in _cache_entries(cache_dir() if root is None else Path(root)))


def prune_cache(root: Path | None = None, budget: int | None = None,
                grace_s: float = CACHE_GRACE_S) -> int:
    """Delete the least recently used entries of ``root``'s :data:`PRUNED_FOLDERS` (``root``:
    :func:`cache_dir` when None) until they hold at most ``budget`` bytes together
    (:data:`CACHE_BUDGET_BYTES` when None), leaving
    alone whatever was used in the last ``grace_s`` seconds. Without it the cache grows with
    every new input shape, thread count and model file (OpenVINO's model cache never deletes
    a compiled network). Best effort: files another process removed or holds are skipped.

    Returns:
        The number of bytes deleted.
    """
    import shutil
    import time

    root = cache_dir() if root is None else Path(root)
    budget = CACHE_BUDGET_BYTES if budget is None else int(budget)
    entries = _cache_entries(root)
    total = sum(size for _, size, _ in entries)
    freed = 0
    now = time.time()
    for used, size, paths in sorted(entries, key=lambda e: e[0]):
        if total - freed <= budget or now - used < grace_s:
            break
        for p in sorted(paths, key=lambda q: q.suffix != ".xml"):   # the .xml first
            try:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            except OSError as e:
                log.debug("cannot prune %s: %s", p, e)
        freed += size
    if freed:
        log.info("pruned %.0f MB from the cache %s", freed / 2**20, root)
    return freed


#: Whether OpenVINO may pin its inference threads to cores (see :func:`openvino_cpu_config`).
_CPU_PINNING = True


def allow_cpu_pinning(allowed: bool) -> None:
    """Let OpenVINO networks compiled from now on in this process pin their inference threads to
    cores (``True``, OpenVINO's default on Linux) or not (``False``).

    A process that shares the machine with other posekit processes, such as a batch worker
    (:func:`posekit.batch.worker.limit_threads` calls this with ``False``), must not pin:
    OpenVINO counts cores from the first one in each process, so two pinned processes run on the
    same core while the others stay idle. A single process is left pinned, its default.
    """
    global _CPU_PINNING
    _CPU_PINNING = bool(allowed)


def openvino_cpu_config(num_threads: int, precision: str = "f32") -> dict[str, object]:
    """posekit's settings for an OpenVINO network compiled for the CPU: the latency hint, the
    inference ``precision`` (``"f32"`` or ``"bf16"``), ``num_threads`` inference threads, and
    CPU pinning as :func:`allow_cpu_pinning` last set it (``ENABLE_CPU_PINNING``)."""
    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": int(num_threads), "ENABLE_CPU_PINNING": _CPU_PINNING}


#: The process's OpenVINO Cores, one per cache folder (see :func:`openvino_core`).
_CORES: dict[str, object] = {}
_CORES_LOCK = threading.Lock()


def openvino_core():
    """The process's ``openvino.Core`` for the current cache folder, created on first use and
    kept until the process exits. It keeps compiled networks in ``<cache>/openvino`` (OpenVINO's
    model cache, ``CACHE_DIR``: a network compiled once for a shape and precision loads from
    there in later runs instead of compiling again, which takes 0.5-1.5 s per network on a
    2-core VM); without a writable cache folder it compiles every time. Creating it first
    prunes the cache to its budget (:func:`prune_cache`).

    One shared Core, not one per model: compiling on OpenVINO's CPU plugin installs an
    alternate signal stack on the calling thread and its Core puts the previous one back when
    destroyed. Cores destroyed in another order than they were made (two models closed in turn)
    left the main thread's alternate stack pointing to freed memory, and the next signal
    handled on it (Ctrl-C: Python's handlers use ``SA_ONSTACK``) crashed the process with a
    segmentation fault (``tests/models/test_openvino_core.py``)."""
    folder = cache_dir() / "openvino"
    key = str(folder)
    with _CORES_LOCK:
        core = _CORES.get(key)
        if core is None:
            import openvino as ov

            core = _CORES[key] = ov.Core()
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if os.access(folder, os.W_OK):
                    prune_cache(folder.parent)
                    core.set_property({"CACHE_DIR": str(folder)})
            except (OSError, RuntimeError) as e:   # read-only home: compile each time
                log.debug("no OpenVINO model cache in %s: %s", folder, e)
    return core


def bgr_uint8_input(model, layout: str):
    """``model`` (an ``openvino.Model`` whose single image input is float RGB in [0, 1], in
    ``layout`` ``"NHWC"`` or ``"NCHW"``) taking (N, H, W, 3) uint8 BGR images instead: OpenVINO's
    ``PrePostProcessor`` converts them to float, swaps the channels and divides by 255 inside
    the compiled network, so the caller passes frames or crops as OpenCV gives them."""
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(
        ov.Layout("NHWC")).set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(ov.Layout(layout))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(
        ColorFormat.RGB).scale(255.0)
    return ppp.build()


@dataclass(frozen=True)
class BlazePoseFiles:
    """Paths of BlazePose's two networks inside the installed mediapipe package."""

    detector: Path   # pose_detection.tflite, input 1x224x224x3 float32 in [-1, 1]
    landmark: Path   # pose_landmark_full.tflite, input 1x256x256x3 float32 in [0, 1]


def blazepose_files() -> BlazePoseFiles:
    """Locate BlazePose's ``.tflite`` files in the installed mediapipe package.

    Raises:
        ModelError: mediapipe is not installed, or its version does not bundle the files.
    """
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"mediapipe is not installed: {_NEED}")
    root = Path(list(spec.submodule_search_locations)[0])
    files = BlazePoseFiles(root / "modules/pose_detection/pose_detection.tflite",
                           root / "modules/pose_landmark/pose_landmark_full.tflite")
    for p in (files.detector, files.landmark):
        if not p.is_file():
            try:
                from importlib.metadata import version

                have = version("mediapipe")
            except Exception:  # pragma: no cover - broken install
                have = "unknown"
            raise ModelError(f"{p.name} not found in mediapipe {have}: {_NEED}")
    return files


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (cache keys of files derived from model weights)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _with_image_metadata(model: bytes, mean: float, std: float) -> bytes:
    """``model`` with TFLite image-input metadata: RGB, ``(pixel - mean) / std``."""
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    out, _ = writer.populate()
    return bytes(out)


def blazepose_task_bundle(files: BlazePoseFiles | None = None) -> Path:
    """Path of the cached ``pose_landmarker.task`` bundle, built on first use.

    The cache key is the SHA-256 of both ``.tflite`` files, so another mediapipe build gets its
    own bundle. The file is written atomically: a crash never leaves a half-written bundle.

    Raises:
        ModelError: the source files are missing (see :func:`blazepose_files`) or the bundle
            cannot be built.
    """
    files = files or blazepose_files()
    both = file_sha256(files.detector) + file_sha256(files.landmark)
    key = hashlib.sha256(both.encode()).hexdigest()[:16]
    path = cache_dir() / f"pose_landmarker_full-v2-{key}.task"  # v2: detector in [-1, 1]
    if path.is_file():
        return path
    log.info("building %s", path)
    try:
        from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils

        # The detector takes [-1, 1] (pose_detection_cpu.pbtxt: ImageToTensorCalculator
        # output_tensor_float_range -1..1), the landmark network [0, 1]
        # (pose_landmark_by_roi_cpu.pbtxt: range 0..1).
        det = _with_image_metadata(files.detector.read_bytes(), 127.5, 127.5)
        lmk = _with_image_metadata(files.landmark.read_bytes(), 0.0, 255.0)
        with tempfile.TemporaryDirectory() as td:
            tmp = Path(td) / "bundle.task"
            model_asset_bundle_utils.create_model_asset_bundle(
                {"pose_detector.tflite": det, "pose_landmarks_detector.tflite": lmk}, str(tmp))
            atomic_write_bytes(path, tmp.read_bytes())
    except OSError as e:
        raise ModelError(f"cannot write the model cache {path}: {e.strerror or e}") from e
    except Exception as e:  # metadata writer failures
        raise ModelError(f"cannot build the PoseLandmarker bundle: {e}") from e
    return path


def ir_cache_file(path, suffix: str, *key) -> Path | None:
    """Where a network converted from the model file ``path`` is kept as OpenVINO IR:
    ``<cache>/openvino-ir/<stem>-<hash>.<suffix>``, the hash of ``path`` (resolved), its size
    and modification time, the OpenVINO version and ``key`` (what else the saved graph depends
    on: outputs kept, a version of the conversion); None where ``path`` cannot be read.
    Reading that IR, or compiling it from its path through OpenVINO's model cache, takes a
    fraction of converting the model again on every start."""
    import openvino as ov

    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return None
    k = repr((str(p.resolve()), st.st_size, st.st_mtime_ns, ov.__version__, key))
    digest = hashlib.sha256(k.encode()).hexdigest()[:16]
    return cache_dir() / "openvino-ir" / f"{p.stem}-{digest}.{suffix}"


def save_ir(model, xml: Path | None) -> Path | None:
    """Save ``model`` (an ``openvino.Model``) as ``xml`` and its ``.bin``, through temporary
    names and renames, the ``.bin`` first so that an ``.xml`` present always has its weights;
    ``xml`` back, or None where it cannot be written (the caller then converts every time)."""
    import openvino as ov

    if xml is None:
        return None
    tmp = xml.with_name(f".{xml.stem}-{os.getpid()}-{threading.get_ident()}.xml")
    try:
        xml.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp, xml)
    except (OSError, RuntimeError) as e:
        log.debug("cannot cache %s: %s", xml, e)
        for f in (tmp, tmp.with_suffix(".bin")):
            try:
                f.unlink()
            except OSError:
                pass
        return None
    return xml


def compile_cached_ir(core, xml: Path | None, config: dict, build):
    """A network compiled for the CPU from the IR file ``xml`` (see :func:`ir_cache_file`)
    where it exists, through OpenVINO's model cache (nothing is read or edited); otherwise,
    or where that file is damaged (a warning), ``build()`` (an ``openvino.Model``) is saved
    as ``xml`` (:func:`save_ir`) and compiled from there, as the next start will (from the
    model itself where it cannot be saved). ``config``: the compile
    properties (:func:`openvino_cpu_config`).

    Raises:
        Exception: what OpenVINO or ``build`` raises for the model built.
    """
    if xml is not None and xml.is_file():
        try:
            return core.compile_model(str(xml), "CPU", config)
        except Exception as e:  # noqa: BLE001 - made again below
            log.warning("cannot use the cached %s (%s); making it again", xml, e)
    model = build()
    if save_ir(model, xml) is not None:
        # compiled from the file, as on later starts: one entry in OpenVINO's model cache
        return core.compile_model(str(xml), "CPU", config)
    return core.compile_model(model, "CPU", config)
