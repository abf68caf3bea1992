"""Reading uploads safely: size limits while the body streams in, content-type and magic-byte
checks, and an image decoder that rejects images above a pixel limit *before* decoding them.

Every bad input raises :class:`ApiError` (an HTTP status, a short machine-readable ``code`` and
a one-line message), which the app turns into a JSON body ``{"error": code, "message": ...}``.
Nothing here imports FastAPI; Starlette's request is used only through ``request.headers`` and
``request.stream()``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import anyio
import cv2
import numpy as np
from starlette.concurrency import run_in_threadpool

from ..io.sources import image_size_wh, sniff_image  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

#: Image formats the service decodes, by the name :func:`sniff_image` returns.
IMAGE_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
#: Content types accepted for an image body (besides multipart/form-data).
IMAGE_CONTENT_TYPES = {"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/webp",
                       "application/octet-stream"}
#: Video file extensions accepted for a job's input, by content type.
VIDEO_CONTENT_TYPES = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm",
                       "video/x-matroska": ".mkv", "video/x-msvideo": ".avi", "video/avi": ".avi",
                       "video/mpeg": ".mpg", "video/x-m4v": ".m4v", "video/mp2t": ".ts",
                       "application/octet-stream": ""}
VIDEO_EXTS = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".m4v", ".ts", ".y4m",
              ".mjpeg", ".wmv", ".flv"}


class ApiError(Exception):
    """A client-facing error: HTTP ``status`` (4xx, or 503 for overload), ``code`` (snake_case)
    and a one-line ``message``; optional response ``headers`` (``Retry-After``...)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": self.code, "message": self.message}


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"


def too_large(limit: int, what: str = "upload") -> ApiError:
    return ApiError(413, "too_large", f"{what} is larger than the limit of {_mb(limit)}")


def media_type(content_type: str | None) -> str:
    """``"image/png; charset=x"`` -> ``"image/png"`` (lower case); ``""`` when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_length(headers, limit: int, what: str) -> None:
    """Reject a declared ``Content-Length`` above ``limit`` bytes before reading anything.

    Raises:
        ApiError: 413 ``too_large``; 400 ``bad_request`` for a malformed header.
    """
    cl = headers.get("content-length")
    if cl is None:
        return
    try:
        n = int(cl)
    except ValueError:
        raise ApiError(400, "bad_request", f"malformed Content-Length: {cl[:40]!r}") from None
    if n > limit:
        raise too_large(limit, what)


async def limited_stream(request, limit: int, what: str) -> AsyncIterator[bytes]:
    """The request body in chunks; raises 413 as soon as more than ``limit`` bytes arrived."""
    check_content_length(request.headers, limit, what)
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise too_large(limit, what)
        if chunk:
            yield chunk


async def _parse_multipart(request, stream: AsyncIterator[bytes]):
    """The first file part of a multipart body as ``(UploadFile, filename, content_type)``."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    try:
        form = await MultiPartParser(request.headers, stream, max_files=1, max_fields=16,
                                     max_part_size=64 * 1024).parse()
    except MultiPartException as e:
        raise ApiError(400, "bad_multipart", f"malformed multipart body: {e.message}") from None
    for _, value in form.multi_items():
        if isinstance(value, UploadFile):
            return value, value.filename or "", media_type(value.content_type)
    raise ApiError(400, "bad_multipart", "the multipart body has no file part (send the image "
                   "or video as a file field, e.g. -F file=@photo.jpg)")


async def read_image_body(request, limit: int) -> bytes:
    """An image from a raw body (``image/jpeg|png|webp`` or ``application/octet-stream``) or
    from the first file of a ``multipart/form-data`` body, at most ``limit`` bytes.

    Raises:
        ApiError: 413 too large, 415 wrong content type, 400 empty or malformed body.
    """
    ct = media_type(request.headers.get("content-type"))
    if ct == "multipart/form-data":
        upload, _, part_ct = await _parse_multipart(request, limited_stream(request, limit,
                                                                            "image"))
        if part_ct and part_ct not in IMAGE_CONTENT_TYPES:
            raise ApiError(415, "unsupported_media_type", f"file part has type {part_ct}; "
                           "send a JPEG, PNG or WebP image")
        data = await upload.read()
        await upload.close()
    elif ct and ct not in IMAGE_CONTENT_TYPES:
        raise ApiError(415, "unsupported_media_type", f"content type {ct} is not accepted; send "
                       "image/jpeg, image/png, image/webp or multipart/form-data")
    else:
        data = b"".join([c async for c in limited_stream(request, limit, "image")])
    if not data:
        raise ApiError(400, "empty_body", "no image in the request body")
    return data


async def save_video_body(request, limit: int, folder: Path) -> tuple[Path, str]:
    """Stream a video upload (raw ``video/*`` / ``application/octet-stream`` body, or the first
    file of a multipart body) into ``folder/input<ext>`` without holding it in memory.

    Returns:
        ``(path, original_file_name)``.
    Raises:
        ApiError: 413 too large, 415 wrong content type, 400 empty or malformed body.
    """
    ct = media_type(request.headers.get("content-type"))
    name = ""
    if ct == "multipart/form-data":
        upload, name, part_ct = await _parse_multipart(request, limited_stream(request, limit,
                                                                               "video"))
        if part_ct and not (part_ct.startswith("video/") or part_ct in VIDEO_CONTENT_TYPES):
            raise ApiError(415, "unsupported_media_type", f"file part has type {part_ct}; "
                           "send a video (mp4, mov, webm, mkv, avi)")
        ext = _video_ext(name, part_ct)
        path = folder / f"input{ext}"
        await run_in_threadpool(_copy_file, upload.file, path)
        await upload.close()
    elif ct and not (ct.startswith("video/") or ct == "application/octet-stream"):
        raise ApiError(415, "unsupported_media_type", f"content type {ct} is not accepted; send "
                       "a video (video/mp4, video/webm, ...) or multipart/form-data")
    else:
        name = unquote(request.headers.get("x-filename", ""))[:200]
        path = folder / f"input{_video_ext(name, ct)}"
        async with await anyio.open_file(path, "wb", opener=private_opener) as f:
            async for chunk in limited_stream(request, limit, "video"):
                await f.write(chunk)
    if path.stat().st_size == 0:
        raise ApiError(400, "empty_body", "no video in the request body")
    return path, os.path.basename(name)[:200]


def private_opener(path, flags: int) -> int:
    """``open(..., opener=private_opener)``: a new file is created with mode 0600."""
    return os.open(path, flags, 0o600)


def _copy_file(src: BinaryIO, path: Path) -> None:
    src.seek(0)
    with open(path, "wb", opener=private_opener) as f:
        shutil.copyfileobj(src, f, 1 << 20)


def _video_ext(name: str, ct: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    if ext in VIDEO_EXTS:
        return ext
    return VIDEO_CONTENT_TYPES.get(ct, "") or ".mp4"


# ----------------------------------------------------------------------------------- images
def decode_image(data: bytes, max_pixels: int) -> tuple[np.ndarray, str]:
    """Decode a JPEG, PNG or WebP image to (H, W, 3) uint8 BGR (EXIF orientation applied).

    The size is read from the header first, so an image above ``max_pixels`` (width x height)
    is rejected without allocating it (a "decompression bomb" costs nothing).

    Returns:
        ``(image, format)`` with format ``"jpeg"``, ``"png"`` or ``"webp"``.
    Raises:
        ApiError: 415 ``unsupported_media_type`` (not one of those formats), 413
            ``too_many_pixels``, 400 ``corrupt_image`` (header or pixel data unreadable).
    """
    fmt = sniff_image(data)
    if fmt is None:
        raise ApiError(415, "not_an_image", "the body is not a JPEG, PNG or WebP image")
    if fmt not in IMAGE_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"{fmt.upper()} images are not supported; send JPEG, PNG or WebP")
    size = image_size_wh(data, fmt)
    if size is None or size[0] < 1 or size[1] < 1:
        raise ApiError(400, "corrupt_image", f"cannot read the {fmt.upper()} header")
    if size[0] * size[1] > max_pixels:
        raise ApiError(413, "too_many_pixels", f"image is {size[0]}x{size[1]} = "
                       f"{size[0] * size[1]} pixels; the limit is {max_pixels}")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.ndim != 3 or img.shape[0] * img.shape[1] > max_pixels:
        raise ApiError(400, "corrupt_image", f"cannot decode the {fmt.upper()} image data")
    return np.ascontiguousarray(img), fmt


def encode_image(image: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    """(H, W, 3) uint8 BGR -> JPEG/PNG/WebP bytes (``fmt`` as :func:`sniff_image` names it)."""
    ext = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}[fmt]
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else \
        [cv2.IMWRITE_WEBP_QUALITY, quality] if fmt == "webp" else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise ApiError(500, "encode_failed", f"cannot encode the annotated image as {fmt}")
    return buf.tobytes()
