"""Sources: ``open_source(spec)`` turns a path, glob, camera index or URL into frames.

Every source is a context manager and an iterator of :class:`posekit.types.Frame` (BGR uint8,
0-based ``index``, ``time_s`` from the container). Resources are released in ``close()``, which
``with`` and the generator's ``finally`` both call, also when the caller stops early.

Supported specs:
- an image file (``.jpg``, ``.png``, ``.bmp``, ``.webp``, ``.tif``...): one frame;
- a folder of images, or a glob (``"frames/*.jpg"``): frames in sorted file-name order,
  ``time_s`` = 0 for each (independent images);
- a video file (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ...) decoded by PyAV;
- a camera index (``"0"``) through OpenCV's VideoCapture (live);
- a network stream URL (``rtsp://``, ``rtmp://``, ``http(s)://``, ``udp://``...) through
  PyAV (live).
"""

from __future__ import annotations

import glob as _glob
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError
from ..types import Frame

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".ts", ".y4m", ".mjpeg", ".gif"}
_URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", re.IGNORECASE)


@dataclass
class SourceInfo:
    """What is known about a source before decoding.

    Attributes:
        kind: ``"image"``, ``"images"``, ``"video"``, ``"camera"`` or ``"stream"``.
        name: a short name for output folders (file stem, ``camera0``...).
        fps: frames per second (nominal; 0.0 when unknown or for images).
        frames: frame count when known (None for live sources or unknown).
        size_wh: (width, height) in pixels when known.
        paths: input files (never to be overwritten).
    """

    kind: str
    name: str
    fps: float = 0.0
    frames: int | None = None
    size_wh: tuple[int, int] | None = None
    paths: list[Path] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.kind in ("camera", "stream")


class Source:
    """Base class: iterate frames; always release in :meth:`close`."""

    info: SourceInfo

    def __iter__(self) -> Iterator[Frame]:
        try:
            yield from self._frames()
        finally:
            self.close()

    def _frames(self) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 BGR.

    Raises:
        SourceError: missing file, or not a decodable image.
    """
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"no such file: {p}")
    data = np.fromfile(str(p), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise SourceError(f"not a readable image: {p}")
    return img


class ImageSource(Source):
    """One or more still images; ``time_s`` is 0.0 for each (they are independent)."""

    def __init__(self, paths: list[Path], name: str, kind: str = "images"):
        self.paths = paths
        first = read_image(paths[0])
        self._first = first
        self.info = SourceInfo(kind, name, 0.0, len(paths), (first.shape[1], first.shape[0]),
                               list(paths))

    def _frames(self) -> Iterator[Frame]:
        for i, p in enumerate(self.paths):
            img = self._first if i == 0 else read_image(p)
            yield Frame(img, i, 0.0, str(p))


class PyAVSource(Source):
    """A video file or network stream decoded by PyAV (FFmpeg).

    ``time_s`` is each frame's presentation time (``frame.time``) relative to the first frame,
    falling back to ``index / fps`` where the container gives none or goes backwards.
    A stream that breaks midway raises :class:`SourceError` after the frames decoded so far.
    """

    def __init__(self, spec: str, name: str, live: bool = False):
        import av

        self.spec = spec
        options = {"rtsp_transport": "tcp", "stimeout": "5000000", "rw_timeout": "5000000"} \
            if live else {}
        try:
            self._container = av.open(spec, options=options, timeout=(10.0, 10.0) if live
                                      else None)
        except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
            what = "cannot open stream" if live else "not a readable video"
            raise SourceError(f"{what}: {spec} ({_short(e)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"no video stream in {spec}")
        vs = self._container.streams.video[0]
        vs.thread_type = "AUTO"
        self._stream = vs
        rate = vs.average_rate or vs.guessed_rate or Fraction(0)
        fps = float(rate) if rate else 0.0
        frames = vs.frames or None
        if frames is None and not live and vs.duration and vs.time_base and fps:
            frames = int(round(float(vs.duration * vs.time_base) * fps))
        size = (vs.codec_context.width, vs.codec_context.height) if vs.codec_context.width \
            else None
        paths = [] if live else [Path(spec)]
        self.info = SourceInfo("stream" if live else "video", name, fps, frames, size, paths)

    def _frames(self) -> Iterator[Frame]:
        import av

        fps = self.info.fps or 25.0
        t0 = None
        last = -1.0
        i = 0
        try:
            for f in self._container.decode(self._stream):
                img = f.to_ndarray(format="bgr24")
                t = f.time
                if t is None:
                    t = i / fps
                else:
                    t0 = t if t0 is None else t0
                    t = t - t0
                if t <= last:  # missing or non-monotonic timestamps
                    t = last + 1.0 / fps
                last = t
                yield Frame(np.ascontiguousarray(img), i, float(t), self.spec)
                i += 1
        except av.FFmpegError as e:
            raise SourceError(f"video broke at frame {i}: {self.spec} ({_short(e)})") from None
        if i == 0:
            raise SourceError(f"no decodable frame in {self.spec}")

    def close(self) -> None:
        c = getattr(self, "_container", None)
        if c is not None:
            self._container = None
            c.close()


class CameraSource(Source):
    """A local camera through OpenCV's VideoCapture; ``time_s`` from a monotonic clock."""

    def __init__(self, index: int):
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"no camera at index {index}")
        fps = self._cap.get(cv2.CAP_PROP_FPS) or 0.0
        w, h = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(
            self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.info = SourceInfo("camera", f"camera{index}", fps, None, (w, h) if w else None)
        self.index = index

    def _frames(self) -> Iterator[Frame]:
        t0 = time.monotonic()
        i = 0
        while self._cap is not None:
            ok, img = self._cap.read()
            if not ok:
                if i == 0:
                    raise SourceError(f"camera {self.index} gave no frame")
                return
            yield Frame(img, i, time.monotonic() - t0, f"camera:{self.index}")
            i += 1

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _short(e: BaseException) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return s[:200]


def _stem(p: Path) -> str:
    return re.sub(r"[^\w.-]+", "_", p.stem) or "source"


def open_source(spec: str | int | Path) -> Source:
    """Open ``spec`` (see the module docstring) and return a :class:`Source`.

    Raises:
        SourceError: nothing at that path, no image matches, a file that is neither an image
            nor a video, a camera index with no camera, an unreachable URL.
    """
    s = str(spec)
    if isinstance(spec, int) or re.fullmatch(r"\d+", s):
        return CameraSource(int(s))
    if _URL.match(s):
        name = re.sub(r"[^\w.-]+", "_", s.split("://", 1)[1]).strip("_")[:60] or "stream"
        return PyAVSource(s, name, live=True)
    p = Path(s)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTS and q.is_file())
        if not files:
            raise SourceError(f"no images in folder {p}")
        return ImageSource(files, _stem(p) if p.name else "images")
    if any(c in s for c in "*?["):
        files = sorted(Path(f) for f in _glob.glob(s, recursive=True)
                       if Path(f).suffix.lower() in IMAGE_EXTS)
        if not files:
            raise SourceError(f"no images match {s}")
        return ImageSource(files, _stem(files[0].parent))
    if not p.exists():
        raise SourceError(f"no such file: {p}")
    if not p.is_file():
        raise SourceError(f"not a file: {p}")
    ext = p.suffix.lower()
    if ext in IMAGE_EXTS:
        return ImageSource([p], _stem(p), kind="image")
    if ext in VIDEO_EXTS:
        return PyAVSource(str(p), _stem(p))
    # Unknown extension: try as an image, then as a video.
    data = np.fromfile(str(p), np.uint8)
    if data.size and cv2.imdecode(data, cv2.IMREAD_COLOR) is not None:
        return ImageSource([p], _stem(p), kind="image")
    try:
        return PyAVSource(str(p), _stem(p))
    except SourceError:
        raise SourceError(f"not an image or video: {p}") from None
