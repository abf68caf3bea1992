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

Faults (``docs/faults.md``): images and video frames over ``max_pixels``
(:data:`MAX_IMAGE_PIXELS` by default) are refused from their header before decoding
(:class:`posekit.errors.PixelLimitError`); in a folder or glob an unreadable or oversized image
is skipped with a warning and counted (:class:`ImageSource`); a video that ends before its
declared frame count raises :class:`posekit.errors.TruncatedVideoError` after its frames.
"""

from __future__ import annotations

import glob as _glob
import logging
import re
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import PixelLimitError, SourceError, TruncatedVideoError
from ..types import Frame

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".ts", ".y4m", ".mjpeg", ".gif"}
_URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", re.IGNORECASE)

#: Largest image the library and the CLI decode, width x height in pixels (a 100-megapixel
#: photo decodes to 300 MB of BGR). Larger images are refused from their header, before any
#: pixel is decoded (``open_source(..., max_pixels=...)`` changes it; the service has its own
#: ``ServeConfig.max_pixels``). Video frames are held to the same limit.
MAX_IMAGE_PIXELS = 100_000_000

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def sniff_image(data: bytes) -> str | None:
    """The image format from its magic bytes: ``"jpeg"``, ``"png"``, ``"webp"``, ``"gif"``,
    ``"bmp"``, ``"tiff"``, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def image_size_wh(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) in pixels read from the header of a JPEG (first SOFn segment, ITU T.81
    B.2.2), PNG (IHDR, PNG spec 11.2.2) or WebP (VP8/VP8L/VP8X chunk, RFC 9649) without
    decoding the pixels; None when the header is truncated or malformed."""
    try:
        if fmt == "png":
            if data[12:16] != b"IHDR":
                return None
            return struct.unpack(">II", data[16:24])
        if fmt == "webp":
            chunk = data[12:16]
            if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L" and data[20] == 0x2F:
                b = int.from_bytes(data[21:25], "little")
                return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                return (int.from_bytes(data[24:27], "little") + 1,
                        int.from_bytes(data[27:30], "little") + 1)
            return None
        if fmt == "jpeg":
            i = 2
            n = len(data)
            while i + 4 <= n:
                if data[i] != 0xFF:
                    return None
                while i < n and data[i] == 0xFF:    # fill bytes
                    i += 1
                if i >= n:
                    return None
                m = data[i]
                i += 1
                if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:   # no length
                    continue
                if m == 0xD9:
                    return None
                seg = struct.unpack(">H", data[i:i + 2])[0]
                if m in _SOF:
                    h, w = struct.unpack(">HH", data[i + 3:i + 7])
                    return w, h
                i += seg
            return None
    except (struct.error, IndexError):
        return None
    return None


def image_file_size_wh(path: str | Path) -> tuple[int, int] | None:
    """(width, height) in pixels of an image file from its header only (JPEG, PNG and WebP
    parsed here, other formats through Pillow's lazy ``Image.open``); None when unknown.

    Raises:
        OSError: the file cannot be read. PixelLimitError: Pillow refuses the header as a
            decompression bomb.
    """
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(1 << 18)
    fmt = sniff_image(head)
    if fmt in ("jpeg", "png", "webp"):
        size = image_size_wh(head, fmt)
        if size is not None or fmt != "jpeg" or len(head) < (1 << 18):
            return size
    try:
        import warnings

        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(p) as im:
                return tuple(im.size)  # type: ignore[return-value]
        except Image.DecompressionBombError as e:   # over Pillow's own limit, so over ours
            m = re.search(r"\((\d+) pixels\)", str(e))
            raise PixelLimitError(f"image header says {m.group(1) if m else 'too many'} "
                                  "pixels") from None
        except Exception:  # noqa: BLE001 - any unreadable header: unknown size
            return None


def check_pixels(size_wh: tuple[int, int] | None, max_pixels: int | None, name: str) -> None:
    """Raise :class:`PixelLimitError` ``name: 30000x30000 = 900000000 pixels, over the limit of
    100000000`` when ``size_wh`` is over ``max_pixels`` (None: no limit)."""
    if size_wh is None or max_pixels is None:
        return
    w, h = size_wh
    if w * h > max_pixels:
        raise PixelLimitError(f"{name}: {w}x{h} = {w * h} pixels, over the limit of "
                              f"{max_pixels}")


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


def read_image(path: str | Path, *, max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 BGR.

    The size is read from the header first: an image over ``max_pixels`` (width x height;
    None: no limit) is refused before any pixel is decoded.

    Raises:
        PixelLimitError: over ``max_pixels``.
        SourceError: missing file, or not a decodable image.
    """
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"no such file: {p}")
    try:
        size = image_file_size_wh(p)
        check_pixels(size, max_pixels, p.name)
        data = np.fromfile(str(p), np.uint8)
    except OSError as e:
        raise SourceError(f"cannot read {p}: {e.strerror or e}") from None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:       # OpenCV's own limits (a header that lies about its size)
        img = None
    if img is None:
        raise SourceError(f"not a readable image: {p}")
    check_pixels((img.shape[1], img.shape[0]), max_pixels, p.name)
    return img


class ImageSource(Source):
    """One or more still images; ``time_s`` is 0.0 for each (they are independent).

    In a folder or glob (``kind="images"``), an image that cannot be read or is over
    ``max_pixels`` is skipped with a warning (``skipped b.jpg: ...``, logged on this module's
    logger, and passed to ``on_skip(path, reason)`` when given) and the next one is read.
    ``Frame.index`` counts the images yielded (0, 1, 2... without gaps) and ``Frame.source``
    names the file. After the iteration, :attr:`processed` and :attr:`skipped` tell what
    happened, so a caller can print a summary and end with a non-zero exit code. A single
    image (``kind="image"``) that cannot be read raises instead.

    Attributes:
        processed: images decoded and yielded.
        skipped: ``(path, reason)`` of every image skipped, in order.
    Raises:
        SourceError: (single image) unreadable; (folder) not one image could be read.
        PixelLimitError: (single image) over ``max_pixels``.
    """

    def __init__(self, paths: list[Path], name: str, kind: str = "images", *,
                 max_pixels: int | None = MAX_IMAGE_PIXELS,
                 on_skip: Callable[[Path, str], None] | None = None):
        self.paths = list(paths)
        self.max_pixels = max_pixels
        self.on_skip = on_skip
        self.processed = 0
        self.skipped: list[tuple[Path, str]] = []
        self._first: tuple[int, np.ndarray] | None = None
        if kind == "image":
            img = read_image(self.paths[0], max_pixels=max_pixels)
            self._first = (0, img)
            size = (img.shape[1], img.shape[0])
        else:
            size = self._first_size()
        self.info = SourceInfo(kind, name, 0.0, len(self.paths), size, list(self.paths))

    def _first_size(self) -> tuple[int, int] | None:
        """Size of the first image whose header is readable and within the limit (images are
        only decoded while iterating)."""
        for p in self.paths:
            try:
                size = image_file_size_wh(p)
            except (OSError, SourceError):
                continue
            if size is not None and (self.max_pixels is None
                                     or size[0] * size[1] <= self.max_pixels):
                return size
        return None

    def _skip(self, p: Path, reason: str) -> None:
        self.skipped.append((p, reason))
        log.warning("skipped %s: %s", p.name, reason)
        if self.on_skip is not None:
            self.on_skip(p, reason)

    def _frames(self) -> Iterator[Frame]:
        i = 0
        for k, p in enumerate(self.paths):
            if self._first is not None and self._first[0] == k:
                img = self._first[1]
                self._first = None
            else:
                try:
                    img = read_image(p, max_pixels=self.max_pixels)
                except SourceError as e:
                    if self.info.kind == "image":
                        raise
                    self._skip(p, _reason(e, p))
                    continue
            self.processed += 1
            yield Frame(img, i, 0.0, str(p))
            i += 1
        if i == 0 and self.info.kind == "images":
            raise SourceError(f"not one of the {len(self.paths)} images could be read "
                              f"({self.skipped[0][0].name}: {self.skipped[0][1]})"
                              if self.skipped else "no images")


def _reason(e: BaseException, p: Path) -> str:
    """The error message without the file's own path (the warning names it already)."""
    msg = str(e)
    for form in (str(p), p.name):
        msg = msg.replace(f": {form}", "").replace(f"{form}: ", "").replace(f" {form}", "")
    return msg


class PyAVSource(Source):
    """A video file or network stream decoded by PyAV (FFmpeg).

    ``time_s`` is each frame's presentation time (``frame.time``) relative to the first frame,
    falling back to ``index / fps`` where the container gives none or goes backwards.

    A video file that ends early, that is whose decoding stops (cleanly or with an FFmpeg
    error) more than :func:`frame_tolerance` frames before the frame count its container
    declares, raises :class:`TruncatedVideoError` ``cut.avi ended at frame 391 of 795`` after
    the frames decoded so far (``posekit.pipeline.run`` keeps them and reports the error).
    A stream that breaks midway raises :class:`SourceError` likewise.

    Raises:
        PixelLimitError: frames over ``max_pixels`` (checked when opening).
        SourceError: cannot open, no video stream, or no frame decodes.
    """

    def __init__(self, spec: str, name: str, live: bool = False, *,
                 max_pixels: int | None = MAX_IMAGE_PIXELS):
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
        self._exact = bool(vs.frames)
        try:
            check_pixels(size, max_pixels, f"{Path(spec).name} (video frames)")
        except PixelLimitError:
            self.close()
            raise

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
            if i == 0:
                raise SourceError(f"no decodable frame in {self.spec} ({_short(e)})") from None
            declared = self.info.frames
            of = f" of {declared}" if declared and declared > i else ""
            raise TruncatedVideoError(f"{Path(self.spec).name} ended at frame {i}{of} "
                                      f"({_short(e)})", i, declared) from None
        if i == 0:
            raise SourceError(f"no decodable frame in {self.spec}")
        declared = self.info.frames
        if not self.info.live and declared and declared - i > frame_tolerance(declared,
                                                                              self._exact):
            raise TruncatedVideoError(f"{Path(self.spec).name} ended at frame {i} of "
                                      f"{declared}", i, declared)

    def close(self) -> None:
        c = getattr(self, "_container", None)
        if c is not None:
            self._container = None
            c.close()


def frame_tolerance(declared: int, exact: bool = True) -> int:
    """Frames a video may fall short of its declared count before it counts as truncated:
    max(2, 1%) when the container stores the count (MP4 ``stsz``, AVI header), max(5, 5%) when
    it is estimated from the duration and the frame rate (Matroska, WebM...)."""
    return max(2, declared // 100) if exact else max(5, declared // 20)


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


def open_source(spec: str | int | Path, *, max_pixels: int | None = MAX_IMAGE_PIXELS,
                on_skip: Callable[[Path, str], None] | None = None) -> Source:
    """Open ``spec`` (see the module docstring) and return a :class:`Source`.

    Args:
        spec: path, folder, glob, camera index or URL.
        max_pixels: largest image or video frame, width x height in pixels (None: no limit);
            checked from the header before decoding (:data:`MAX_IMAGE_PIXELS` by default).
        on_skip: for folders and globs, called as ``on_skip(path, reason)`` for each image
            skipped (unreadable or over ``max_pixels``); see :class:`ImageSource`.

    Raises:
        SourceError: nothing at that path, no image matches, a file that is neither an image
            nor a video, a camera index with no camera, an unreachable URL.
        PixelLimitError: a single image or a video over ``max_pixels``.
    """
    img_kw = {"max_pixels": max_pixels, "on_skip": on_skip}
    s = str(spec)
    if isinstance(spec, int) or re.fullmatch(r"\d+", s):
        return CameraSource(int(s))
    if _URL.match(s):
        name = re.sub(r"[^\w.-]+", "_", s.split("://", 1)[1]).strip("_")[:60] or "stream"
        return PyAVSource(s, name, live=True, max_pixels=max_pixels)
    p = Path(s)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTS and q.is_file())
        if not files:
            raise SourceError(f"no images in folder {p}")
        return ImageSource(files, _stem(p) if p.name else "images", **img_kw)
    if any(c in s for c in "*?["):
        files = sorted(Path(f) for f in _glob.glob(s, recursive=True)
                       if Path(f).suffix.lower() in IMAGE_EXTS)
        if not files:
            raise SourceError(f"no images match {s}")
        return ImageSource(files, _stem(files[0].parent), **img_kw)
    if not p.exists():
        raise SourceError(f"no such file: {p}")
    if not p.is_file():
        raise SourceError(f"not a file: {p}")
    ext = p.suffix.lower()
    if ext in IMAGE_EXTS:
        return ImageSource([p], _stem(p), kind="image", **img_kw)
    if ext in VIDEO_EXTS:
        return PyAVSource(str(p), _stem(p), max_pixels=max_pixels)
    # Unknown extension: try as an image (its header), then as a video.
    try:
        with open(p, "rb") as f:
            is_image = sniff_image(f.read(16)) is not None
    except OSError as e:
        raise SourceError(f"cannot read {p}: {e.strerror or e}") from None
    if is_image:
        return ImageSource([p], _stem(p), kind="image", **img_kw)
    try:
        return PyAVSource(str(p), _stem(p), max_pixels=max_pixels)
    except PixelLimitError:
        raise
    except SourceError:
        raise SourceError(f"not an image or video: {p}") from None
