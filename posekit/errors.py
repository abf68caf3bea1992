"""posekit's exceptions.

The tree::

    PoseKitError                 base: anything posekit raises on purpose
     ├── SourceError             an input cannot be opened or decoded (file, camera, stream)
     │    ├── PixelLimitError    an image or video frame is over the pixel limit (from its header)
     │    └── TruncatedVideoError  a video ends before the frame count its container declares
     ├── ModelError              weights missing, wrong version, backend failure
     ├── OutputError             an output path cannot be written, or would overwrite an input
     ├── DatasetError            a ground-truth file cannot be read or understood
 ├── ConfigError             a pipeline setting is unknown, out of range or contradicts another
     └── MissingExtraError       an optional dependency is not installed

The CLI catches ``PoseKitError`` and prints its message on one line with exit code 2.
"""

from __future__ import annotations


class PoseKitError(Exception):
    """Base class of every error posekit raises on purpose."""


class SourceError(PoseKitError):
    """An input (image, video, camera, stream) cannot be opened or decoded."""


class PixelLimitError(SourceError):
    """An image or video frame is larger (width x height) than the pixel limit; raised from the
    header, before any pixel is decoded."""


class TruncatedVideoError(SourceError):
    """A video's decoding ended before the frame count its container declares (a cut or
    damaged file); raised after the frames that did decode.

    Attributes:
        frames: frames decoded. declared: the container's frame count (None when unknown).
    """

    def __init__(self, message: str, frames: int, declared: int | None):
        super().__init__(message)
        self.frames = frames
        self.declared = declared


class ModelError(PoseKitError):
    """A model cannot be loaded or run (missing weights, wrong package version)."""


class OutputError(PoseKitError):
    """An output cannot be written (unwritable path, or the path of an input)."""


class DatasetError(PoseKitError):
    """A ground-truth dataset file cannot be read or has an unexpected layout."""


class ConfigError(PoseKitError, ValueError):
    """A pipeline or backend setting is unknown, out of range, or contradicts another; the
    message says what was expected (``expected ..., got ...``)."""


class MissingExtraError(PoseKitError, ImportError):
    """An optional dependency is missing; the message says what to ``pip install``."""

    def __init__(self, what: str, extra: str):
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'posekit[{extra}]'")
        self.extra = extra
