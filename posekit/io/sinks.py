"""Sinks: annotated video and images, JSON Lines, CSV and COCO keypoint results.

Every sink is a context manager with ``write(frame, poses)`` (the video and image sinks take the
annotated image too) and ``close()``, which always finalizes the file: the MP4's trailer is
written, JSON Lines are flushed line by line, the COCO file is written atomically. Sinks refuse
to write over an input file (:class:`posekit.errors.OutputError`).

JSON Lines schema (one JSON object per line; NaN is written as ``null``)::

    {"type": "header", "format": "posekit.poses/1", "skeleton": "blazepose33",
     "keypoints": ["nose", ...], "edges": [[0, 1], ...], "source": "...", "fps": 25.0,
     "size_wh": [768, 576]}
    {"type": "frame", "frame": 0, "time_s": 0.0, "size_wh": [768, 576],
     "persons": [{"index": 0, "track_id": 3 | null, "box": [x1, y1, x2, y2], "score": 0.93,
                  "keypoints": [[x, y, visibility], ...],      # pixels, x right, y down
                  "world": [[x, y, z], ...] | null}]}          # metres, hip-centred

A person tracked between detector frames whose landmarks were not found on this frame
(``posekit.track.TopDownTracker``'s ``coast``) has ``"coasting": true``, its predicted box,
score 0 and ``null`` keypoints. A person whose landmarks were carried from the previous frame
by optical flow instead of the landmark network (``TopDownTracker``'s ``landmark_every``) has
``"carried": true``.

CSV (long form, one row per landmark):
``frame,time_s,person,track_id,landmark,x,y,z_world,visibility``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError
from ..skeletons import COCO_17, Skeleton
from ..types import Frame, Poses

log = logging.getLogger(__name__)


def check_output_path(path: str | Path, inputs: list[Path] | tuple = ()) -> Path:
    """Validate an output file path: not an input, its folder creatable and writable.

    Raises:
        OutputError: the path is one of ``inputs``, is a folder, or cannot be written.
    """
    p = Path(path)
    rp = p.resolve()
    for i in inputs:
        if Path(i).resolve() == rp:
            raise OutputError(f"refusing to overwrite the input {i}")
    if p.is_dir():
        raise OutputError(f"output path is a folder: {p}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder {p.parent}: {e.strerror or e}") from None
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise OutputError(f"cannot write {p}: permission denied")
    return p


def _open_text(path: Path):
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None


def _num(x: float, nd: int = 2):
    x = float(x)
    return None if not math.isfinite(x) else round(x, nd)


def person_records(poses: Poses) -> list[dict]:
    """JSON-ready dicts, one per person (schema in the module docstring)."""
    out = []
    coasting = poses.extras.get("coasting")
    carried = poses.extras.get("carried")
    for i in range(len(poses)):
        kp = [[_num(x), _num(y), _num(s, 4)] for (x, y), s in
              zip(poses.keypoints[i], poses.scores[i])]
        world = None if poses.world is None else [[_num(v, 4) for v in p] for p in
                                                  poses.world[i]]
        out.append({
            "index": i,
            "track_id": None if poses.track_ids is None else int(poses.track_ids[i]),
            "box": [_num(v) for v in poses.boxes[i]],
            "score": _num(poses.person_scores[i], 4),
            "keypoints": kp,
            "world": world,
        })
        if coasting is not None and bool(coasting[i]):
            out[-1]["coasting"] = True
        if carried is not None and bool(carried[i]):
            out[-1]["carried"] = True
    return out


class Sink:
    """Base: a context manager that closes (finalizes) on exit, also on exceptions."""

    path: Path

    def write(self, frame: Frame, poses: Poses, image: np.ndarray | None = None) -> None:
        raise NotImplementedError  # pragma: no cover

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class JsonlSink(Sink):
    """Poses as JSON Lines; every line is flushed as it is written."""

    def __init__(self, path, skeleton: Skeleton, *, source: str = "", fps: float = 0.0,
                 size_wh=None, inputs=()):
        self.path = check_output_path(path, inputs)
        self._f = _open_text(self.path)
        self.frames = 0
        self._line({"type": "header", "format": "posekit.poses/1", "skeleton": skeleton.name,
                    "keypoints": list(skeleton.keypoints),
                    "edges": [list(e) for e in skeleton.edges], "source": source,
                    "fps": fps, "size_wh": list(size_wh) if size_wh else None})

    def _line(self, obj) -> None:
        self._f.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._f.flush()

    def write(self, frame: Frame, poses: Poses, image=None) -> None:
        h, w = frame.shape_hw
        self._line({"type": "frame", "frame": frame.index, "time_s": round(frame.time_s, 6),
                    "size_wh": [w, h], "persons": person_records(poses)})
        self.frames += 1

    def close(self) -> None:
        if self._f is not None and not self._f.closed:
            self._f.close()


class CsvSink(Sink):
    """Long-form CSV: one row per person and landmark, flushed per frame."""

    HEADER = ["frame", "time_s", "person", "track_id", "landmark", "x", "y", "z_world",
              "visibility"]

    def __init__(self, path, *, inputs=()):
        self.path = check_output_path(path, inputs)
        self._f = _open_text(self.path)
        self._w = csv.writer(self._f)
        self._w.writerow(self.HEADER)

    def write(self, frame: Frame, poses: Poses, image=None) -> None:
        names = poses.skeleton.keypoints
        fmt = lambda v, nd=2: "" if not math.isfinite(float(v)) else f"{float(v):.{nd}f}"
        for i in range(len(poses)):
            tid = "" if poses.track_ids is None else int(poses.track_ids[i])
            for k, name in enumerate(names):
                z = poses.world[i, k, 2] if poses.world is not None else float("nan")
                self._w.writerow([frame.index, f"{frame.time_s:.6f}", i, tid, name,
                                  fmt(poses.keypoints[i, k, 0]), fmt(poses.keypoints[i, k, 1]),
                                  fmt(z, 4), fmt(poses.scores[i, k], 4)])
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


_COCO_NUM = re.compile(r"(\d+)(?!.*\d)")


class CocoResultsSink(Sink):
    """COCO keypoint results JSON (list of ``{"image_id", "category_id": 1, "keypoints": [x, y,
    score] * 17, "score"}``), loadable by pycocotools' ``COCO.loadRes``; written atomically on
    close.

    ``image_id``: from ``gt`` (a COCO annotation file, matched by file name) when given, else the
    number in the file name (``000000397133.jpg`` -> 397133), else the running index.
    Missing keypoints are written as (0, 0, 0), COCO's convention.
    """

    def __init__(self, path, *, gt: str | Path | None = None, inputs=()):
        self.path = check_output_path(path, inputs)
        self._by_name: dict[str, int] = {}
        if gt is not None:
            try:
                data = json.loads(Path(gt).read_text())
                self._by_name = {Path(im["file_name"]).name: int(im["id"])
                                 for im in data["images"]}
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise OutputError(f"cannot read COCO ground truth {gt}: {e}") from None
        self.results: list[dict] = []

    def image_id(self, frame: Frame) -> int:
        name = Path(frame.source).name if frame.source else ""
        if name in self._by_name:
            return self._by_name[name]
        m = _COCO_NUM.search(Path(name).stem) if name else None
        return int(m.group(1)) if m else frame.index

    def write(self, frame: Frame, poses: Poses, image=None) -> None:
        coco = poses.to(COCO_17)
        iid = self.image_id(frame)
        for i in range(len(coco)):
            kp = np.concatenate([np.nan_to_num(coco.keypoints[i], nan=0.0),
                                 coco.scores[i][:, None]], axis=1)
            self.results.append({"image_id": iid, "category_id": 1,
                                 "keypoints": [round(float(v), 2) for v in kp.ravel()],
                                 "score": round(float(coco.person_scores[i]), 4)})

    def close(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.results))
        os.replace(tmp, self.path)


class VideoSink(Sink):
    """H.264 MP4 (yuv420p, ``+faststart``, browser-playable) through PyAV, x264 preset
    ``ultrafast`` by default so that encoding leaves the CPU to inference (larger files).

    Frames are written at the source's frame rate with presentation times from
    ``frame.time_s`` (so variable-rate live sources keep their timing). Odd frame sizes are
    padded by one pixel at the right/bottom (H.264 4:2:0 needs even sizes). ``close()`` flushes
    the encoder and writes the trailer, so a run that stops early still leaves a playable file.
    """

    def __init__(self, path, *, fps: float, size_wh: tuple[int, int], inputs=(),
                 crf: int = 23, preset: str = "ultrafast"):
        import av

        self.path = check_output_path(path, inputs)
        w, h = size_wh
        self.size_wh = (w, h)
        self._even = (w + (w & 1), h + (h & 1))
        rate = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(30)
        self.fps = float(rate)
        try:
            self._c = av.open(str(self.path), "w", options={"movflags": "+faststart"})
        except (av.FFmpegError, OSError) as e:
            raise OutputError(f"cannot write {self.path}: {e}") from None
        s = self._c.add_stream("libx264", rate=rate)
        s.width, s.height = self._even
        s.pix_fmt = "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)  # pts in ms from frame.time_s
        s.options = {"crf": str(crf), "preset": preset}
        self._s = s
        self._last_pts = -1
        self.frames = 0

    def write(self, frame: Frame, poses: Poses | None = None, image: np.ndarray | None = None
              ) -> None:
        import av

        img = frame.image if image is None else image
        if img.shape[1] != self.size_wh[0] or img.shape[0] != self.size_wh[1]:
            img = cv2.resize(img, self.size_wh, interpolation=cv2.INTER_AREA)
        if self._even != self.size_wh:
            img = cv2.copyMakeBorder(img, 0, self._even[1] - img.shape[0], 0,
                                     self._even[0] - img.shape[1], cv2.BORDER_REPLICATE)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
        pts = int(round(frame.time_s * 1000.0))
        if pts <= self._last_pts:
            pts = self._last_pts + max(1, int(round(1000.0 / self.fps)))
        self._last_pts = pts
        vf.pts = pts
        vf.time_base = Fraction(1, 1000)
        for packet in self._s.encode(vf):
            self._c.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._c is None:
            return
        try:
            for packet in self._s.encode():
                self._c.mux(packet)
        finally:
            self._c.close()
            self._c = None


class ImageSink(Sink):
    """Annotated still images written into a folder under the input's file names.

    Raises:
        OutputError: the folder cannot be created, or a file would replace an input.
    """

    def __init__(self, folder, *, inputs=(), ext: str | None = None):
        self.folder = Path(folder)
        self.path = self.folder
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create folder {self.folder}: {e.strerror or e}") from None
        self._inputs = {Path(i).resolve() for i in inputs}
        self.ext = ext
        self.written: list[Path] = []

    def write(self, frame: Frame, poses: Poses | None = None, image: np.ndarray | None = None
              ) -> None:
        src = Path(frame.source) if frame.source else Path(f"frame_{frame.index:06d}.png")
        out = self.folder / (src.stem + (self.ext or src.suffix or ".png"))
        if out.resolve() in self._inputs:
            raise OutputError(f"refusing to overwrite the input {out}")
        img = frame.image if image is None else image
        ok, buf = cv2.imencode(out.suffix if out.suffix.lower() in
                               (".jpg", ".jpeg", ".png", ".bmp", ".webp") else ".png", img)
        if not ok:
            raise OutputError(f"cannot encode {out}")
        try:
            buf.tofile(str(out))
        except OSError as e:
            raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
        self.written.append(out)
