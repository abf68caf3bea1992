"""The pipeline: source -> model -> stages (tracker, smoother, ...) -> sinks, with threads.

- :func:`frames` yields a :class:`Result` per frame. A reader thread decodes ahead into a
  bounded queue while the caller's thread runs the model and the stages (stateful stages need
  no locks). Live sources (cameras, streams) keep only the newest frames: when inference falls
  behind, stale frames are dropped instead of building latency.
- :func:`run` adds a writer thread that draws and encodes into the sinks, so decoding,
  inference and encoding overlap. Sinks are always closed (video finalized, JSON Lines flushed),
  also when the source breaks midway or on Ctrl-C.

Three lines for a custom loop::

    model = posekit.load_model("blazepose")
    for r in posekit.frames("video.mp4", model):
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


def frames(source: str | int | Source, model: PoseModel, *, stages: Iterable[Stage] = (),
           analyzer=None, queue_size: int = 8) -> Iterator[Result]:
    """Run ``model`` and ``stages`` over every frame of ``source``; yield a :class:`Result` each.

    Args:
        source: anything :func:`posekit.io.open_source` accepts, or an open ``Source``.
        model: a :class:`posekit.models.PoseModel`.
        stages: objects with ``update(poses, time_s) -> Poses``, applied in order.
        analyzer: optional object with ``update(poses, time_s) -> list[dict]`` (events) and
            ``finish() -> list[dict]``; its events land in ``Result.events``.
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
                events = list(analyzer.update(poses, frame.time_s))
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


@dataclass
class RunSummary:
    """What :func:`run` did: frames processed, wall time (s), mean rates (frames/s)."""

    frames: int
    seconds: float
    fps: float
    model_fps: float
    interrupted: bool = False
    error: BaseException | None = None
    events: list[dict] = field(default_factory=list)


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
        stages: Iterable[Stage] = (), analyzer=None, event_sinks: Iterable = (),
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
            for r in frames(source, model, stages=stages, analyzer=analyzer):
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
