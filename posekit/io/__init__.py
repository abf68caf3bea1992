"""Inputs and outputs: sources (files, cameras, streams) and sinks (video, JSONL, CSV, COCO)."""

from .sinks import (
                    CocoResultsSink,
                    CsvSink,
                    ImageSink,
                    JsonlSink,
                    Sink,
                    VideoSink,
                    check_distinct_outputs,
                    check_output_path,
                    person_records,
)
from .sources import (
                    IMAGE_EXTS,
                    MAX_IMAGE_PIXELS,
                    VIDEO_EXTS,
                    Source,
                    SourceInfo,
                    open_source,
                    read_image,
)

__all__ = [
                    "IMAGE_EXTS",
                    "MAX_IMAGE_PIXELS",
                    "VIDEO_EXTS",
                    "CocoResultsSink",
                    "CsvSink",
                    "ImageSink",
                    "JsonlSink",
                    "Sink",
                    "Source",
                    "SourceInfo",
                    "VideoSink",
                    "check_distinct_outputs",
                    "check_output_path",
                    "open_source",
                    "person_records",
                    "read_image",
]
