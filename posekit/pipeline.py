"""The pipeline: source -> model -> stages (tracker, smoother, ...) -> sinks, with threads.

- :func:`results` yields a :class:`Result` per frame. A reader thread decodes ahead into a
  bounded queue while the caller's thread runs the model and the stages (stateful stages need
  no locks). Live sources (cameras, streams) keep only the newest frames: when inference falls
  behind, stale frames are dropped instead of building latency.
- :func:`run` adds a writer thread that draws and encodes into the sinks, so decoding,
  inference and encoding overlap. Sinks are always closed (video finalized, JSON Lines flushed),
  also when the source breaks midway or on Ctrl-C.

Three lines for a custom loop::

    model = posekit.load_model("blazepose")
    for r in posekit.results("video.mp4", model):
        print(r.frame.index, r.frame.time_s, len(r.poses), r.timings["infer"])
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .io.sources import Source, open_source
from .models import PoseModel
from .types import Frame, Poses

log = logging.getLogger(__name__)


class Stage(Protocol):
    """A per-frame stage: ``update(poses, time_s) -> Poses`` (tracker, smoother, ...)."""

    def update(self, poses: Poses, time_s: float) -> Poses: ...


@dataclass
class Result:
    """One processed frame.

    Attributes:
        frame: the decoded :class:`Frame` (original pixels).
        poses: the final :class:`Poses` after all stages, pixels of ``frame``.
        timings: seconds per step: ``"decode_wait"`` (time waiting for the reader), the model's
            own stages (``"preprocess"``, ``"infer"``, ``"postprocess"``...), ``"model"``
            (whole model call), each stage by class name, and ``"total"``.
        fps: frames per second of the processing loop (exponential moving average).
        events: analysis events completed on this frame (dicts; see ``posekit.analysis``).
        dropped: frames dropped before this one because the consumer fell behind (live only).
        extras: anything a stage wants to pass to drawing (overlay state snapshots, ...).
    """

    frame: Frame
    poses: Poses
    timings: dict[str, float]
    fps: float = 0.0
    events: list[dict] = field(default_factory=list)
    dropped: int = 0
    extras: dict[str, Any] = field(default_factory=dict)


_END = object()


class _Reader:
    """Decodes a source in a thread into a bounded queue; drops oldest frames when live."""

    def __init__(self, source: Source, maxsize: int, live: bool):
        self.source = source
        self.live = live
        self._stop = threading.Event()
        self._cv = threading.Condition()
        self._buf: deque = deque()
        self._maxsize = max(1, maxsize)
        self.dropped = 0
        self._t = threading.Thread(target=self._run, name="posekit-reader", daemon=True)
        self._t.start()

    def _put(self, item) -> bool:
        with self._cv:
            while not self.live and len(self._buf) >= self._maxsize and item is not _END \
                    and not isinstance(item, BaseException):
                if self._stop.is_set():
                    return False
                self._cv.wait(0.1)
            if self.live and len(self._buf) >= self._maxsize and isinstance(item, Frame):
                self._buf.popleft()
                self.dropped += 1
            self._buf.append(item)
            self._cv.notify_all()
        return not self._stop.is_set()

    def _run(self) -> None:
        it = iter(self.source)
        try:
            for frame in it:
                if not self._put(frame):
                    break
            self._put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._put(e)
            self._put(_END)
        finally:
            if hasattr(it, "close"):
                it.close()
            self.source.close()

    def get(self):
        with self._cv:
            while not self._buf:
                self._cv.wait(0.1)
            item = self._buf.popleft()
            self._cv.notify_all()
            return item

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        self._t.join(timeout=5.0)


def _as_source(source: str | int | Source) -> Source:
    return source if isinstance(source, Source) else open_source(source)


def results(source: str | int | Source, model: PoseModel, *, stages: Iterable[Stage] = (),
            analyzer=None, camera=None, queue_size: int = 8) -> Iterator[Result]:
    """Run ``model`` and ``stages`` over every frame of ``source``; yield a :class:`Result` each.

    Args:
        source: anything :func:`posekit.io.open_source` accepts, or an open ``Source``.
        model: a :class:`posekit.models.PoseModel`.
        stages: objects with ``update(poses, time_s) -> Poses``, applied in order.
        analyzer: optional object with ``update(poses, time_s) -> list[dict]`` (events) and
            ``finish() -> list[dict]``; its events land in ``Result.events``.
        camera: optional :class:`posekit.analysis.camera.CameraMotion`: the analyzer gets the
            poses moved into the first frame's pixels (``camera.update(image, poses)``), so a
            camera that pans or follows the person does not look like body motion; the
            results, sinks and drawing keep the frame's own poses.
        queue_size: frames decoded ahead (files), or newest frames kept (live sources).

    Raises:
        SourceError: the source cannot be opened, or breaks midway (raised after the frames
            decoded before the break have been yielded).
    """
    src = _as_source(source)
    live = getattr(src, "info", None) is not None and src.info.live
    reader = _Reader(src, 2 if live else queue_size, live)
    stages = list(stages)
    fps = 0.0
    last = None
    dropped_seen = 0
    try:
        while True:
            t0 = time.perf_counter()
            item = reader.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            frame: Frame = item
            t1 = time.perf_counter()
            poses = model(frame)
            t2 = time.perf_counter()
            timings = {"decode_wait": t1 - t0, **getattr(model, "last_timings", {}),
                       "model": t2 - t1}
            for st in stages:
                ts = time.perf_counter()
                poses = st.update(poses, frame.time_s)
                timings[type(st).__name__] = time.perf_counter() - ts
            events = []
            extras = {}
            if analyzer is not None:
                ts = time.perf_counter()
                seen = poses if camera is None else camera.update(frame.image, poses)
                events = list(analyzer.update(seen, frame.time_s))
                if hasattr(analyzer, "snapshot"):  # live state for overlays drawn later
                    extras["analysis"] = analyzer.snapshot(poses)
                timings[type(analyzer).__name__] = time.perf_counter() - ts
            now = time.perf_counter()
            timings["total"] = now - t0
            if last is not None:
                inst = 1.0 / max(now - last, 1e-6)
                fps = inst if fps == 0.0 else 0.9 * fps + 0.1 * inst
            last = now
            dropped = reader.dropped - dropped_seen
            dropped_seen = reader.dropped
            yield Result(frame, poses, timings, fps, events, dropped, extras)
    finally:
        reader.stop()


#: The former name of :func:`results` (it yields results, not frames); kept for existing code.
frames = results


@dataclass
class RunSummary:
    """What :func:`run` did: frames processed, wall time (s), mean rates (frames/s); from
    :func:`process` also the resolved ``config``, the ``outputs`` written, and for image
    folders the ``skipped`` images (``(path, reason)``, unreadable or over the pixel limit)
    of the ``inputs`` found."""

    frames: int
    seconds: float
    fps: float
    model_fps: float
    interrupted: bool = False
    error: BaseException | None = None
    events: list[dict] = field(default_factory=list)
    config: Any = None
    outputs: list[str] = field(default_factory=list)
    skipped: list = field(default_factory=list)
    inputs: int = 0


class _Writer:
    """Draws and writes results to the sinks in a thread (bounded queue)."""

    def __init__(self, sinks: list, annotate: Callable[[Result], np.ndarray] | None,
                 maxsize: int = 8):
        self.sinks = sinks
        self.annotate = annotate
        self.q: queue.Queue = queue.Queue(maxsize=maxsize)
        self.error: BaseException | None = None
        self.written = 0
        self._t = threading.Thread(target=self._run, name="posekit-writer", daemon=True)
        self._t.start()

    def _run(self) -> None:
        while True:
            r = self.q.get()
            if r is _END:
                return
            if self.error is not None:
                continue
            try:
                image = self.annotate(r) if self.annotate is not None else None
                for s in self.sinks:
                    s.write(r.frame, r.poses, image)
                self.written += 1
            except BaseException as e:  # noqa: BLE001 - reported to the main thread
                self.error = e

    def put(self, r: Result) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(r)

    def finish(self) -> None:
        self.q.put(_END)
        self._t.join()


def run(source: str | int | Source, model: PoseModel, sinks: list, *,
        stages: Iterable[Stage] = (), analyzer=None, camera=None, event_sinks: Iterable = (),
        annotate: Callable[[Result], np.ndarray] | None = None,
        on_result: Callable[[Result], None] | None = None,
        max_frames: int | None = None) -> RunSummary:
    """Process a whole source into ``sinks`` with decode, inference and encode overlapping.

    Every sink gets ``write(frame, poses, image)`` for each processed frame, where ``image``
    is ``annotate(result)`` (or None without an annotator). Analysis events (from
    ``analyzer``, also those still open at the end) go to each of ``event_sinks``
    (``write_all(events)``) as they complete. Sinks are closed on return, also after an error
    or KeyboardInterrupt, so files are finalized with every processed frame.

    Returns:
        a :class:`RunSummary`; ``interrupted`` is True after Ctrl-C, and ``error`` holds a
        :class:`SourceError` from a source that broke midway (the frames before it are kept).
    Raises:
        SourceError: the source cannot be opened. OutputError: a sink fails to write.
    """
    writer = _Writer(list(sinks), annotate)
    n = 0
    model_s = 0.0
    t0 = time.perf_counter()
    summary_error = None
    interrupted = False
    events: list[dict] = []
    event_sinks = list(event_sinks)

    def emit(evs: list[dict]) -> None:
        events.extend(evs)
        for es in event_sinks:
            es.write_all(evs)

    try:
        try:
            for r in results(source, model, stages=stages, analyzer=analyzer, camera=camera):
                writer.put(r)
                n += 1
                model_s += r.timings.get("model", 0.0)
                if r.events:
                    emit(r.events)
                if on_result is not None:
                    on_result(r)
                if max_frames is not None and n >= max_frames:
                    break
        except KeyboardInterrupt:
            interrupted = True
        except Exception as e:
            from .errors import SourceError

            if isinstance(e, SourceError) and n > 0:
                summary_error = e
            else:
                raise
        if analyzer is not None and hasattr(analyzer, "finish"):
            emit(analyzer.finish())
    finally:
        try:
            writer.finish()
        finally:
            for s in list(sinks) + event_sinks:
                try:
                    s.close()
                except Exception:
                    log.exception("closing %s failed", s)
    if writer.error is not None:
        raise writer.error
    dt = time.perf_counter() - t0
    return RunSummary(n, dt, n / dt if dt > 0 else 0.0, n / model_s if model_s > 0 else 0.0,
                      interrupted, summary_error, events)


# ----------------------------------------------------------------------------------------------
# The one builder: PipelineConfig -> model, stages, analyzer, sinks


@dataclass
class Pipeline:
    """What :func:`build` makes of a resolved :class:`~posekit.config.PipelineConfig`.

    Attributes:
        config: the resolved config (no ``"auto"`` left; :func:`posekit.config.describe`).
        model: the pose model (for tracked video with a person detector or tiles, the top-down
            model that owns its tracker: :class:`posekit.track.TopDownTracker`).
        stages: per-frame stages after the model (tracker, One Euro smoother), in order.
        analyzer: the :class:`posekit.analysis.Analyzer` of ``config.analyses``, or None.
        camera: the :class:`posekit.analysis.camera.CameraMotion` that moves the analyzer's
            poses into the first frame's pixels (``config.camera_motion``), or None.
    """

    config: Any
    model: PoseModel
    stages: list
    analyzer: Any = None
    camera: Any = None

    def __call__(self, frame: Frame | np.ndarray) -> Poses:
        """Model and stages on one frame (the service's streams call this)."""
        from .models import as_frame

        frame = as_frame(frame)
        poses = self.model(frame)
        for st in self.stages:
            poses = st.update(poses, frame.time_s)
        return poses

    def close(self) -> None:
        """Close the model (stages hold no resources)."""
        close = getattr(self.model, "close", None)
        if close is not None:
            close()


def build(config, kind: str = "video", *, model_factory: Callable[..., PoseModel] | None = None
          ) -> Pipeline:
    """The one builder: model, stages and analyzer of ``config`` for a source of ``kind``.

    Args:
        config: a :class:`~posekit.config.PipelineConfig` (resolved here for ``kind`` when it
            still has ``"auto"`` fields).
        kind: the source kind (``image``, ``images``, ``video``, ``camera``, ``stream``).
        model_factory: replaces :func:`posekit.models.load_model` (tests inject fake backends);
            called as ``factory(name, **settings)``.

    Raises:
        ConfigError: an invalid setting or combination. ModelError, MissingExtraError: as
            :func:`posekit.models.load_model`.
    """
    from .config import STILL_KINDS
    from .models import load_model

    cfg = config if config.resolved else config.resolve(kind)
    m, t, o = cfg.model, cfg.track, cfg.outputs
    settings = dict(m.settings)
    settings.update(max_people=m.max_people, min_score=m.min_score,
                    mode="image" if kind in STILL_KINDS else "video")
    if m.name == "blazepose":
        if o.heatmaps:
            settings["heatmaps"] = True
        if o.mask:
            settings["mask"] = True
        if t.tiles:
            settings["tiles"] = t.tiles
        if isinstance(t.detect_every, int) and t.detector == "model":
            settings["detect_every"] = t.detect_every
    model = (model_factory or load_model)(m.name, **settings)
    stages: list = []
    try:
        if t.enabled:
            model, stages = _tracking(model, cfg)
    except BaseException:
        model.close()
        raise
    analyzer = None
    if cfg.analyses:
        from .analysis import Analyzer

        analyzer = Analyzer(list(cfg.analyses))
    camera = None
    if cfg.camera_motion:
        from .analysis.camera import CameraMotion

        camera = CameraMotion()
    return Pipeline(cfg, model, stages, analyzer, camera)


def _tracking(model: PoseModel, cfg) -> tuple[PoseModel, list]:
    """(model, stages) for tracked video, then the One Euro smoother.

    With the YOLO person detector or BlazePose's tiled detector, the top-down model wraps the
    two-stage model and owns the tracker (the tracked persons' boxes become the landmark
    stage's ROIs). Otherwise the model keeps its own video-mode tracking (BlazePose: ROIs
    rotated from the previous frame's landmarks, which keeps bodies that are not upright:
    push-ups, sit-ups, a person on the floor) and a tracker stage after it gives the IDs.
    """
    from .track import Smoother, Tracker
    from .track.topdown import make_topdown

    t = cfg.track
    stages: list = []
    if t.detector == "yolo" or t.tiles:
        model = make_topdown(model, detector=t.detector, detector_size=t.detector_size,
                             detect_every=t.detect_every, landmark_every=t.landmark_every)
    else:
        stages.append(Tracker())
    if t.smooth:
        stages.append(Smoother())
    return model, stages


def default_outputs(config, info) -> Any:
    """``config`` with the default outputs where it names none: ``./runs/<source name>/``
    with the annotated video (or images) and ``poses.jsonl``."""
    from dataclasses import replace
    from pathlib import Path

    from .config import STILL_KINDS

    if config.outputs.any_file:
        return config
    folder = Path("runs") / info.name
    still = info.kind in STILL_KINDS
    return replace(config, outputs=replace(
        config.outputs, video=folder if still else folder / f"{info.name}.mp4",
        json=folder / "poses.jsonl"))


def build_sinks(config, info, source: str, skeleton) -> tuple[list, list]:
    """(sinks, event sinks) for ``config.outputs`` and a source described by ``info``.

    Every sink refuses to write over an input (``info.paths``). On an error the sinks made so
    far are closed before it propagates.

    Raises:
        OutputError: an output cannot be written, or two outputs are the same file.
    """
    from .config import STILL_KINDS
    from .errors import OutputError
    from .io import (CocoResultsSink, CsvSink, ImageSink, JsonlSink, VideoSink,
                     check_output_path)

    o = config.outputs
    inputs = info.paths
    still = info.kind in STILL_KINDS
    check_outputs(config, inputs)
    dst = None
    if o.skeleton is not None:
        from .config import ConfigError
        from .skeletons import can_map, get_skeleton

        try:
            dst = get_skeleton(o.skeleton)
        except KeyError as e:
            raise ConfigError(f"outputs.skeleton: {e.args[0]}") from None
        if not can_map(skeleton, dst):
            raise ConfigError(f"outputs.skeleton: cannot write {skeleton.name} as {dst.name}")

    def mapped(sink):
        return sink if dst is None or dst == skeleton else _InSkeleton(sink, dst)
    sinks: list = []
    event_sinks: list = []
    try:
        out = o.video
        if out is not None:
            if still and (out.suffix == "" or out.is_dir() or info.kind == "images"):
                sinks.append(ImageSink(out, inputs=inputs))
            elif still:
                sinks.append(_SingleImageSink(out, inputs))
            else:
                if out.suffix.lower() not in (".mp4", ".m4v", ".mov", ".mkv"):
                    raise OutputError(f"video output must end in .mp4: {out}")
                sinks.append(VideoSink(out, fps=info.fps or 30.0,
                                       size_wh=info.size_wh or (640, 480), inputs=inputs))
        if o.json is not None:
            sinks.append(mapped(JsonlSink(o.json, dst or skeleton, source=str(source),
                                          fps=info.fps, size_wh=info.size_wh, inputs=inputs)))
        if o.csv is not None:
            sinks.append(mapped(CsvSink(o.csv, inputs=inputs)))
        if o.coco is not None:
            sinks.append(CocoResultsSink(o.coco, gt=o.coco_gt, inputs=inputs))
        if o.mot is not None:
            from .eval.mot import MotSink

            sinks.append(MotSink(check_output_path(o.mot, inputs)))
        mocap = {"bvh": "BvhSink", "trc": "TrcSink", "c3d": "C3dSink",
                 "angles": "JointAnglesCsvSink"}
        if any(getattr(o, k) is not None for k in mocap):
            from .io import mocap as mocap_mod

            kw = dict(fps=info.fps or 0.0, size_wh=info.size_wh, source=str(source),
                      inputs=inputs, root_motion=o.root_motion)
            if o.fov_deg is not None:
                kw["hfov_deg"] = float(o.fov_deg)
            for key, cls in mocap.items():
                if getattr(o, key) is not None:
                    sinks.append(getattr(mocap_mod, cls)(getattr(o, key), **kw))
        if o.dataset is not None:
            from .io.dataset_sink import DatasetSink

            sinks.append(DatasetSink(o.dataset, every=o.dataset_every,
                                     min_score=o.dataset_min_score, skeleton=skeleton))
        if o.events is not None:
            from .analysis import EventsSink

            event_sinks.append(EventsSink(check_output_path(o.events, inputs)))
    except BaseException:
        for s in sinks + event_sinks:
            s.close()
        raise
    return sinks, event_sinks


def check_outputs(config, inputs=()) -> None:
    """Refuse, before anything is loaded or written, outputs of ``config`` that are one file
    (through ``..``, symlinks or hard links) or that are one of ``inputs``
    (:func:`posekit.io.check_distinct_outputs`; the message names the ``posekit run``
    flags)."""
    from .io import check_distinct_outputs

    check_distinct_outputs({("--out" if k == "video" else f"--{k}"): p
                            for k, p in config.outputs.paths().items() if k != "summary"},
                           inputs)


def annotator(config) -> Callable[[Result], np.ndarray]:
    """The drawing of a result for image and video outputs: skeletons, IDs, the fps counter,
    analysis overlays, and (BlazePose) heatmaps or the segmentation mask where asked."""
    o = config.outputs
    min_score = config.model.min_score if config.model.min_score is not None else 0.5

    def annotate(r: Result) -> np.ndarray:
        from . import draw

        img = r.frame.image
        if o.heatmaps or o.mask:
            from . import draw_maps

            if o.mask and r.poses.extras.get("mask") is not None:
                img = draw_maps.render_mask(img, r.poses.extras["mask"])
            if o.heatmaps and len(r.poses):
                img = draw_maps.render_heatmaps(img, r.poses)
        img = draw.annotate(img, r.poses, fps=r.fps or None, min_score=min_score)
        if "analysis" in r.extras:
            from .analysis.overlay import draw_analysis

            img = draw_analysis(img, r.poses, r.extras["analysis"], inplace=True)
        return img

    return annotate


def process(source: str | int | Source, config=None, *,
            on_start: Callable[[Any, Any], None] | None = None,
            on_result: Callable[[Result], None] | None = None,
            model_factory: Callable[..., PoseModel] | None = None) -> RunSummary:
    """Open ``source``, build ``config`` for it, run everything into its outputs, close.

    The one entry point under ``posekit run``, service jobs, ``posekit batch`` and the Python
    API::

        from posekit.config import PipelineConfig, OutputConfig
        summary = posekit.process("video.mp4", PipelineConfig(
            outputs=OutputConfig(json="poses.jsonl")))

    Args:
        source: anything :func:`posekit.io.open_source` accepts, or an open source.
        config: a :class:`~posekit.config.PipelineConfig` (None: the defaults, writing
            ``./runs/<source name>/``); with no file output, :func:`default_outputs` applies.
        on_start: called as ``on_start(source_info, resolved_config)`` before the first frame
            (the CLI starts its progress bar and prints the path that runs).
        on_result: called with each :class:`Result` (progress bars, windows).
        model_factory: see :func:`build`.

    Returns:
        the :class:`RunSummary` (``config`` holds the resolved config).
    Raises:
        SourceError, ConfigError, ModelError, OutputError: as :func:`build` and
            :func:`build_sinks`; a source that breaks midway is reported in
            ``RunSummary.error`` instead, with the frames before it kept.
    """
    from .config import PipelineConfig

    config = config if config is not None else PipelineConfig()
    src = _as_source(source)
    try:
        info = src.info
        config = default_outputs(config, info)
        check_outputs(config, info.paths)
        pipe = build(config, info.kind, model_factory=model_factory)
    except BaseException:
        src.close()
        raise
    try:
        sinks, event_sinks = build_sinks(pipe.config, info, str(source), pipe.model.skeleton)
    except BaseException:
        pipe.close()
        src.close()
        raise
    try:
        if on_start is not None:
            on_start(info, pipe.config)
        summary = run(src, pipe.model, sinks, stages=pipe.stages, analyzer=pipe.analyzer,
                      camera=pipe.camera, event_sinks=event_sinks, annotate=annotator(pipe.config),
                      on_result=on_result, max_frames=pipe.config.max_frames)
    finally:
        pipe.close()
    summary.config = pipe.config
    summary.outputs = [str(s.path) for s in sinks + event_sinks if hasattr(s, "path")]
    summary.skipped = list(getattr(src, "skipped", ()))
    summary.inputs = len(info.paths)
    if pipe.analyzer is not None and pipe.config.outputs.summary is not None:
        pipe.analyzer.write_summary(pipe.config.outputs.summary)
    return summary


class _InSkeleton:
    """A keypoint sink that writes each frame's poses mapped to another skeleton
    (``poses.to(dst)``, ``posekit run --skeleton NAME``)."""

    def __init__(self, sink, dst):
        self.sink, self.dst, self.path = sink, dst, sink.path

    def write(self, frame, poses, image=None):
        self.sink.write(frame, poses.to(self.dst), image)

    def close(self):
        self.sink.close()


class _SingleImageSink:
    """Writes the annotated image of a single-image source to exactly ``path``."""

    def __init__(self, path, inputs):
        from .io import check_output_path

        self.path = check_output_path(path, inputs)

    def write(self, frame, poses, image=None):
        import cv2

        from .errors import OutputError

        ok, buf = cv2.imencode(self.path.suffix if self.path.suffix else ".png",
                               frame.image if image is None else image)
        if not ok:
            raise OutputError(f"cannot encode an image as {self.path.suffix}: {self.path}")
        buf.tofile(str(self.path))

    def close(self):
        pass
