"""The live stream of one WebSocket connection: newest frame wins, one tracker and smoother each.

Protocol (``WS /v1/stream``):

- The server first sends ``{"type": "hello", "model": ..., "skeleton": "blazepose33",
  "keypoints": [names], "edges": [[a, b], ...], "parts": {...}, "max_bytes": ...,
  "analyze": [...]}``. ``parts`` (:func:`skeleton_parts`) is empty except for whole-body
  skeletons (``holistic543``): there each part's own keypoint names and edges (indices into
  that part's list): ``body`` for a person's ``"keypoints"``, ``left_hand`` / ``right_hand``
  (finger bones) and ``face`` (the face mesh's contours: lips, eyes, eyebrows, face oval) for
  the person's fields of the same names.
- The client sends frames as **binary** messages (JPEG, PNG or WebP bytes). Frames are numbered
  ``seq`` = 1, 2, 3... in the order received.
- For each frame it processes the server sends one JSON message in the JSON Lines schema of
  :mod:`posekit.io.sinks` plus live fields::

      {"type": "frame", "frame": seq - 1, "seq": seq, "time_s": 1.234, "size_wh": [w, h],
       "skeleton": "blazepose33", "persons": [{"index", "track_id", "box", "score",
       "keypoints": [[x, y, v], ...], "world"}...],    # + "left_hand", "right_hand", "face"
                                                         # (whole body), "handedness" (hands)
       "dropped": 2, "dropped_total": 10, "timings": {"decode": s, "infer": s, ..., "total": s},
       "events": [...]}

  ``time_s`` is the frame's arrival time in seconds since the connection opened (the clock of
  the tracker and smoother). ``dropped`` counts the frames that arrived while the server was
  busy and were replaced by newer ones since the previous reply: the server always answers the
  newest frame, so latency does not build up when the client sends faster than it infers.
- A frame that cannot be used gets ``{"type": "error", "seq": n, "error": code, "message":
  ...}`` and the stream goes on. Text messages: ``{"type": "ping"}`` is answered with
  ``{"type": "pong"}``; anything else with an error message.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ..io import person_records
from ..skeletons import Skeleton
from ..types import Frame
from .uploads import ApiError, decode_image


@dataclass
class Pending:
    """A frame waiting to be processed: its number, bytes and arrival time (seconds)."""

    seq: int
    data: bytes
    time_s: float


class LatestSlot:
    """A one-frame mailbox: :meth:`put` replaces an unprocessed frame (counting it as dropped),
    :meth:`get` waits for the newest one. Used from one asyncio event loop."""

    def __init__(self):
        self._item: Pending | None = None
        self._event = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def put(self, item: Pending) -> None:
        if self._item is not None:
            self.dropped += 1
        self._item = item
        self._event.set()

    def close(self) -> None:
        self._closed = True
        self._event.set()

    async def get(self) -> Pending | None:
        """The newest frame, or None once closed and empty."""
        while self._item is None:
            if self._closed:
                return None
            self._event.clear()
            await self._event.wait()
        item, self._item = self._item, None
        return item


class StreamSession:
    """Per-connection processing: decode, model, tracker, smoother, optional analyzer.

    ``process`` is synchronous (the app runs it in a worker thread, one frame at a time per
    connection), so the stateful stages need no locks.

    Args:
        model: a :class:`posekit.models.PoseModel` owned by this session (closed by
            :meth:`close`).
        stages: objects with ``update(poses, time_s) -> Poses`` (tracker, smoother), in order.
        skeleton: output skeleton (None: the model's own).
        analyzer: optional object with ``update(poses, time_s) -> list[dict]``.
        max_pixels: decoder pixel limit (width x height).
    """

    def __init__(self, model, *, stages=(), skeleton: Skeleton | None = None, analyzer=None,
                 max_pixels: int):
        self.model = model
        self.stages = list(stages)
        self.skeleton = skeleton
        self.analyzer = analyzer
        self.max_pixels = max_pixels
        self.dropped_reported = 0

    def process(self, item: Pending, dropped_total: int) -> dict:
        """Poses for one frame as the reply message (see the module docstring).

        Raises:
            ApiError: the frame is not a decodable JPEG/PNG/WebP image within the limits.
        """
        t0 = time.perf_counter()
        image, _ = decode_image(item.data, self.max_pixels)
        t1 = time.perf_counter()
        frame = Frame(image, item.seq - 1, item.time_s, "stream")
        poses = self.model(frame)
        t2 = time.perf_counter()
        timings = {"decode": t1 - t0, **getattr(self.model, "last_timings", {}), "model": t2 - t1}
        for st in self.stages:
            ts = time.perf_counter()
            poses = st.update(poses, item.time_s)
            timings[type(st).__name__] = time.perf_counter() - ts
        events: list = []
        if self.analyzer is not None:
            ts = time.perf_counter()
            events = list(self.analyzer.update(poses, item.time_s))
            timings[type(self.analyzer).__name__] = time.perf_counter() - ts
        out = poses if self.skeleton is None else poses.to(self.skeleton)
        persons = person_records(out)
        timings["total"] = time.perf_counter() - t0
        dropped = dropped_total - self.dropped_reported
        self.dropped_reported = dropped_total
        h, w = frame.shape_hw
        return {"type": "frame", "frame": frame.index, "seq": item.seq,
                "time_s": round(item.time_s, 6), "size_wh": [w, h],
                "skeleton": out.skeleton.name, "persons": persons,
                "dropped": dropped, "dropped_total": dropped_total,
                "timings": {k: round(v, 6) for k, v in timings.items()},
                "events": _jsonable(events)}

    def close(self) -> None:
        close = getattr(self.model, "close", None)
        if close is not None:
            close()


def skeleton_parts(skeleton: Skeleton) -> dict:
    """The named parts of a whole-body skeleton for clients: ``{part name: {"skeleton",
    "start", "stop", "keypoints": [names], "edges": [[a, b], ...]}}``, edges indexing the
    part's own keypoints (as a person record's ``"keypoints"`` for ``body`` and its
    ``"left_hand"``, ``"right_hand"``, ``"face"`` lists for the others); ``{}`` for a skeleton
    without parts."""
    return {p.name: {"skeleton": p.skeleton.name, "start": p.start, "stop": p.stop,
                     "keypoints": list(p.skeleton.keypoints),
                     "edges": [list(e) for e in p.skeleton.edges]}
            for p in skeleton.parts}


def error_message(err: ApiError, seq: int | None = None) -> dict:
    msg = {"type": "error", "error": err.code, "message": err.message}
    if seq is not None:
        msg["seq"] = seq
    return msg


def _jsonable(obj):
    """Events as plain JSON (numpy scalars to Python numbers, NaN/inf to None)."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)
