"""Sinks: annotated video and images, JSON Lines, CSV and COCO keypoint results.

Every sink is a context manager with ``write(frame, poses)`` (the video and image sinks take the
annotated image too) and ``close()``, which always finalizes the file: the MP4's last fragment
and index are written, the COCO file is written atomically. Sinks refuse to write over an input
file (:class:`posekit.errors.OutputError`).

Nothing is lost on any stop (see ``docs/faults.md``):

- the MP4 is *fragmented* (a fragment about every second, written out as it is made), so what
  was encoded before a crash, ``kill -9`` or a full disk plays;
- JSON Lines and CSV are written a whole frame at a time with one ``write`` call on an unbuffered
  file, so they end on a whole line after any stop;
- a full disk (``ENOSPC``) raises :class:`posekit.errors.OutputError` ``no space left on device
  writing <file>`` with one line; the file keeps its last whole line (JSON Lines, CSV) or its
  last whole fragment (MP4), and closing it afterwards never raises again.

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
import errno
import io
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError
from ..skeletons import COCO_17, Skeleton
from ..types import Frame, Poses

log = logging.getLogger(__name__)

#: errno values that mean "the disk (or the user's quota) is full".
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def write_error(e: BaseException, path: str | Path) -> OutputError:
    """The one-line :class:`OutputError` for an ``OSError`` (or PyAV error) writing ``path``:
    ``no space left on device writing x.mp4`` for a full disk or quota, else
    ``cannot write x.mp4: <reason>``."""
    name = Path(path).name
    if getattr(e, "errno", None) in _FULL:
        return OutputError(f"no space left on device writing {name}")
    why = getattr(e, "strerror", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return OutputError(f"cannot write {name}: {why}")


def check_distinct_outputs(outputs: Mapping[str, str | Path | None] | Iterable[str | Path | None],
                           inputs: Iterable[str | Path] = ()) -> None:
    """Refuse outputs that would be the same file, before anything is written.

    Two outputs are the same file when their paths resolve to one (``..``, symlinks, a
    relative and an absolute path) or, for files that exist, when they are one inode (hard
    links). An output that is one of ``inputs`` is refused too.

    Args:
        outputs: ``{label: path}`` (labels such as ``"--json"`` name the outputs in the
            message; None paths are skipped), or just the paths.
        inputs: input files that no output may be.
    Raises:
        OutputError: ``--json and --csv are the same file: p.txt`` (or ``refusing to
            overwrite the input x``).
    """
    items = list(outputs.items()) if isinstance(outputs, Mapping) else \
        [(str(p), p) for p in outputs]
    seen: list[tuple[str, Path, str]] = []
    ins = [Path(i) for i in inputs]
    for label, p in items:
        if p is None:
            continue
        p = Path(p)
        real = os.path.realpath(p)
        for i in ins:
            if _same(real, p, os.path.realpath(i), i):
                raise OutputError(f"refusing to overwrite the input {i} ({label})")
        for other_label, other, other_real in seen:
            if _same(real, p, other_real, other):
                raise OutputError(f"{other_label} and {label} are the same file: {p}")
        seen.append((label, p, real))


def _same(real_a: str, a: Path, real_b: str, b: Path) -> bool:
    if real_a == real_b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


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


class LineFile:
    """An unbuffered text file written in whole records: :meth:`append` writes one string
    (whole lines) with ``os.write``, so the file never ends inside a record, whatever stops
    the process afterwards.

    A full disk raises :class:`OutputError` (``no space left on device writing <name>``) after
    cutting the file back to the end of the last whole record; later appends raise it again.

    Args:
        path: the file (created or truncated).
        mode: permission bits of a new file (``0o600`` for private outputs).
    """

    def __init__(self, path: str | Path, *, mode: int = 0o666):
        self.path = Path(path)
        try:
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                                           | getattr(os, "O_CLOEXEC", 0), mode)
        except OSError as e:
            raise write_error(e, self.path) from None
        self._end = 0
        self.error: OutputError | None = None

    def append(self, text: str) -> None:
        if self.error is not None:
            raise self.error
        if self._fd is None:
            raise OutputError(f"{self.path.name} is closed")
        data = memoryview(text.encode("utf-8"))
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as e:
            self.error = write_error(e, self.path)
            if done:
                try:  # back to the last whole record
                    os.ftruncate(self._fd, self._end)
                except OSError:  # pragma: no cover - truncating frees space; cannot fail
                    log.warning("cannot cut %s back to its last whole line", self.path)
            raise self.error from None
        self._end += done

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self._fd is None


def _num(x: float, nd: int = 2):
    x = float(x)
    return None if not math.isfinite(x) else round(x, nd)


def person_records(poses: Poses) -> list[dict]:
    """JSON-ready dicts, one per person (schema in the module docstring).

    A whole-body skeleton (with named parts, e.g. ``holistic543``) writes its ``body`` part as
    ``"keypoints"`` / ``"world"`` and each other part under its name (``"left_hand"``,
    ``"right_hand"``: 21 ``[x, y, score]``; ``"face"``: 468), ``null`` where the part was not
    found. Hands of the ``hands`` model carry ``"handedness"`` (``"left"`` / ``"right"``).
    """
    out = []
    coasting = poses.extras.get("coasting")
    carried = poses.extras.get("carried")
    handedness = poses.extras.get("handedness")
    whole, parts = poses, []
    if poses.skeleton.has_part("body"):
        parts = [(p.name, poses.part(p.name)) for p in poses.skeleton.parts if p.name != "body"]
        poses = poses.part("body")
    for i in range(len(poses)):
        kp = [[_num(x), _num(y), _num(s, 4)] for (x, y), s in
              zip(poses.keypoints[i], poses.scores[i])]
        world = None if poses.world is None else [[_num(v, 4) for v in p] for p in
                                                  poses.world[i]]
        out.append({
            "index": i,
            "track_id": None if whole.track_ids is None else int(whole.track_ids[i]),
            "box": [_num(v) for v in whole.boxes[i]],
            "score": _num(whole.person_scores[i], 4),
            "keypoints": kp,
            "world": world,
        })
        for name, part in parts:
            out[-1][name] = None if not np.isfinite(part.keypoints[i]).any() else [
                [_num(x), _num(y), _num(s, 4)] for (x, y), s in
                zip(part.keypoints[i], part.scores[i])]
        if handedness is not None:
            out[-1]["handedness"] = str(handedness[i])
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
    """Poses as JSON Lines, one ``os.write`` per line (see :class:`LineFile`): the file ends
    on a whole line after any stop, also a full disk.

    Args:
        mode: permission bits of the new file (``0o600`` for private outputs).
    Raises:
        OutputError: the file cannot be written (``no space left on device writing ...``).
    """

    def __init__(self, path, skeleton: Skeleton, *, source: str = "", fps: float = 0.0,
                 size_wh=None, inputs=(), mode: int = 0o666):
        self.path = check_output_path(path, inputs)
        self._f = LineFile(self.path, mode=mode)
        self.frames = 0
        head = {"type": "header", "format": "posekit.poses/1", "skeleton": skeleton.name,
                "keypoints": list(skeleton.keypoints),
                "edges": [list(e) for e in skeleton.edges], "source": source,
                "fps": fps, "size_wh": list(size_wh) if size_wh else None}
        if skeleton.parts:
            # a whole-body skeleton: each person's "keypoints" are the body part's, and each
            # other part is its own key ("left_hand", "face", ...), as person_records writes
            body = skeleton.part("body").skeleton if skeleton.has_part("body") else skeleton
            head["keypoints"] = list(body.keypoints)
            head["edges"] = [list(e) for e in body.edges]
            head["parts"] = {p.name: {"skeleton": p.skeleton.name,
                                      "keypoints": list(p.skeleton.keypoints),
                                      "edges": [list(e) for e in p.skeleton.edges]}
                             for p in skeleton.parts if p.name != "body"}
        self._line(head)

    def _line(self, obj) -> None:
        self._f.append(json.dumps(obj, separators=(",", ":")) + "\n")

    def write(self, frame: Frame, poses: Poses, image=None) -> None:
        h, w = frame.shape_hw
        self._line({"type": "frame", "frame": frame.index, "time_s": round(frame.time_s, 6),
                    "size_wh": [w, h], "persons": person_records(poses)})
        self.frames += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


class CsvSink(Sink):
    """Long-form CSV: one row per person and landmark; each frame's rows are written with one
    ``os.write`` (see :class:`LineFile`), so the file ends on a whole row after any stop.

    Raises:
        OutputError: the file cannot be written (``no space left on device writing ...``).
    """

    HEADER = ["frame", "time_s", "person", "track_id", "landmark", "x", "y", "z_world",
              "visibility"]

    def __init__(self, path, *, inputs=(), mode: int = 0o666):
        self.path = check_output_path(path, inputs)
        self._f = LineFile(self.path, mode=mode)
        self._buf = io.StringIO()
        self._w = csv.writer(self._buf)
        self._w.writerow(self.HEADER)
        self._flush()

    def _flush(self) -> None:
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        if text:
            self._f.append(text)

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
        self._flush()

    def close(self) -> None:
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
        if self.results is None:
            return
        results, self.results = self.results, None
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(results))
            os.replace(tmp, self.path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise write_error(e, self.path) from None


class VideoSink(Sink):
    """H.264 MP4 (yuv420p, browser-playable) through PyAV, x264 preset ``ultrafast`` by default
    so that encoding leaves the CPU to inference (larger files).

    The MP4 is **fragmented** (``movflags=frag_keyframe+empty_moov+default_base_moof``, a
    fragment at least every ``fragment_s`` seconds, each written out as soon as it is complete):
    what was encoded before a crash, ``kill -9`` or a power cut plays in PyAV/FFmpeg and
    browsers, losing at most the last fragment. The trade-off: a few hundred bytes per
    fragment, no sample index in the header (players seek through the fragments' own index,
    written at the end by ``close()``), and players older than fragmented MP4 support (very
    old QuickTime) may not open it.

    Frames are written at the source's frame rate with presentation times from
    ``frame.time_s`` (so variable-rate live sources keep their timing). Odd frame sizes are
    padded by one pixel at the right/bottom (H.264 4:2:0 needs even sizes). ``close()`` flushes
    the encoder and writes the last fragment. A full disk raises :class:`OutputError` ``no
    space left on device writing x.mp4`` from ``write()``; the file is then cut back to its
    last whole fragment (so it decodes without error). ``close()`` never raises: a write that
    fails while finishing the file is logged, kept in :attr:`error`, and the file is cut back
    the same way.

    Args:
        fps: nominal frame rate (frames per second).
        size_wh: (width, height) in pixels of the written frames.
        crf, preset: x264 quality and speed.
        threads: x264 encoder threads; None: half the CPU cores (at least 1), leaving the
            others to the pose stages (x264's own default, 1.5 threads per core plus
            lookahead, costs more CPU time per frame in all, which a pipeline that already
            uses every core pays in frames per second).
        fragment_s: longest fragment, seconds (what a hard stop can lose, at most).
        mode: permission bits of the new file (``0o600`` for private outputs).
    Raises:
        OutputError: the file cannot be created or written.
    """

    def __init__(self, path, *, fps: float, size_wh: tuple[int, int], inputs=(),
                 crf: int = 23, preset: str = "ultrafast", threads: int | None = None,
                 fragment_s: float = 1.0, mode: int = 0o666):
        import av

        self.path = check_output_path(path, inputs)
        w, h = size_wh
        self.size_wh = (w, h)
        self._even = (w + (w & 1), h + (h & 1))
        rate = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(30)
        self.fps = float(rate)
        self.error: OutputError | None = None
        self._c = None
        try:
            # Created here with its permission bits; FFmpeg opens it with O_TRUNC later.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode))
            options = {"flush_packets": "1"}
            self._fragmented = self.path.suffix.lower() in (".mp4", ".m4v", ".mov", "")
            if self._fragmented:
                options.update(movflags="frag_keyframe+empty_moov+default_base_moof",
                               frag_duration=str(int(fragment_s * 1e6)))
            # (Matroska, .mkv, is written in clusters and reads back when cut anyway.)
            self._c = av.open(str(self.path), "w", options=options,
                              format="mp4" if not self.path.suffix else None)
        except (av.FFmpegError, OSError) as e:
            raise write_error(e, self.path) from None
        s = self._c.add_stream("libx264", rate=rate)
        s.width, s.height = self._even
        s.pix_fmt = "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)  # pts in ms from frame.time_s
        if threads is None:
            threads = max(1, (os.cpu_count() or 2) // 2)
        s.options = {"crf": str(crf), "preset": preset, "threads": str(int(threads))}
        self._s = s
        self._last_pts = -1
        self.frames = 0

    def write(self, frame: Frame, poses: Poses | None = None, image: np.ndarray | None = None
              ) -> None:
        import av

        if self.error is not None:
            raise self.error
        if self._c is None:
            raise OutputError(f"{self.path.name} is closed")
        img = frame.image if image is None else image
        if img.shape[1] != self.size_wh[0] or img.shape[0] != self.size_wh[1]:
            img = cv2.resize(img, self.size_wh, interpolation=cv2.INTER_AREA)
        if self._even != self.size_wh:
            img = cv2.copyMakeBorder(img, 0, self._even[1] - img.shape[0], 0,
                                     self._even[0] - img.shape[1], cv2.BORDER_REPLICATE)
        # OpenCV's BT.601 limited-range BGR -> I420 (what x264 and decoders assume for
        # untagged yuv420p) instead of PyAV's swscale conversion of bgr24 in encode(): a
        # decoded frame comes back closer to what was drawn (about half the mean error).
        vf = av.VideoFrame.from_ndarray(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420),
                                        format="yuv420p")
        pts = int(round(frame.time_s * 1000.0))
        if pts <= self._last_pts:
            pts = self._last_pts + max(1, int(round(1000.0 / self.fps)))
        self._last_pts = pts
        vf.pts = pts
        vf.time_base = Fraction(1, 1000)
        try:
            for packet in self._s.encode(vf):
                self._c.mux(packet)
        except (av.FFmpegError, OSError) as e:
            self._fail(e)
        self.frames += 1

    def _fail(self, e: BaseException):
        self.error = write_error(e, self.path)
        raise self.error from None

    def close(self) -> None:
        import av

        c, self._c = self._c, None
        if c is None:
            return
        reported = self.error is not None   # raised by write() already
        try:
            if self.error is None:
                try:
                    for packet in self._s.encode():
                        c.mux(packet)
                except (av.FFmpegError, OSError) as e:
                    self.error = write_error(e, self.path)
            try:
                c.close()
            except (av.FFmpegError, OSError) as e:
                self.error = self.error or write_error(e, self.path)
        finally:
            # FFmpeg does not always report a failed write at close (a full disk while it
            # flushes): the file's own boxes tell. Cut it back to its last whole fragment.
            keep = complete_mp4_length(self.path) if self._fragmented else None
            try:
                size = self.path.stat().st_size
                if keep is not None and keep < size:
                    os.truncate(self.path, keep)
                    if self.error is None:
                        log.warning("%s: the end was not written (full disk?); cut back to its "
                                    "last whole fragment", self.path.name)
            except OSError:  # pragma: no cover - truncating frees space
                log.warning("cannot cut %s back to its last whole fragment", self.path)
        if self.error is not None and not reported:
            # Not raised: another sink's error usually came first and the caller reports that
            # one; the file is finalized either way. ``self.error`` keeps it for callers.
            log.warning("%s (while finishing the file)", self.error)


def complete_mp4_length(path: str | Path) -> int | None:
    """Length in bytes of the part of a (fragmented) MP4 made of whole top-level boxes, with a
    trailing ``moof`` that lost its ``mdat`` dropped too: where to cut a file whose writing
    stopped midway (ISO/IEC 14496-12 4.2: a box is a 32-bit big-endian size, a 4-byte type,
    and a 64-bit size after them when the 32-bit size is 1). None when the file is not MP4.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            pos = 0
            good = 0
            while pos + 8 <= size:
                f.seek(pos)
                head = f.read(16)
                n = int.from_bytes(head[:4], "big")
                kind = head[4:8]
                if n == 1 and len(head) >= 16:
                    n = int.from_bytes(head[8:16], "big")
                elif n == 0:
                    n = size - pos
                if n < 8 or pos + n > size or (pos == 0 and kind != b"ftyp"):
                    break
                pos += n
                if kind != b"moof":
                    good = pos
            return good if pos else None
    except OSError:
        return None


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
            out.unlink(missing_ok=True)  # never leave a cut image behind
            raise write_error(e, out) from None
        self.written.append(out)
