"""The batch manifest ``DIR/manifest.json``: what was done to each source, and with what.

Layout (JSON, written atomically: a temporary file in ``DIR`` renamed over the old one, so a
killed run leaves either the old or the new manifest, never a torn one)::

    {"format": "posekit.batch-manifest/1",
     "updated_at": "2026-12-03T21:40:00Z",
     "config": {...}, "config_hash": "9f2c...",          # the latest run's pipeline config
     "sources": {
       "<name>": {                                      # the source's folder DIR/<name>/
         "source": "/abs/path/clip.mp4", "kind": "video",
         "status": "done" | "failed" | "skipped" | "pending",
         "error": null | "one line",                     # why it failed or was skipped
         "content_hash": "fast1:...", "config_hash": "9f2c...",
         "stat": [size_bytes, mtime_ns], "frames_expected": 229,
         "frames": 229, "persons": 229, "seconds": 12.3, "attempts": 1,
         "worker": "host:pid", "finished_at": "...",
         "outputs": {"jsonl": "<name>/poses.jsonl", "table": "poses.parquet/<name>.parquet"}}}}

Statuses: ``done`` (processed with the recorded content and config hash, now or by an earlier
run: its outputs and table part are complete), ``failed`` (``error`` says why; no table part),
``skipped`` (the run stopped before finishing it: ``error`` says why, e.g. interrupted),
``pending`` (queued, not finished yet; seen only in the manifest of a run still going or
killed).

**Content hash** (:func:`content_hash`): by default ``fast1:`` + SHA-256 of the file size and its
first and last MiB (the whole file when it is at most 2 MiB), so hashing 10,000 hour-long
videos reads 20 GB rather than every byte; it catches a file replaced, re-encoded, truncated or
extended, but not an edit in the middle that keeps the size. ``full=True`` (``sha256:``) hashes
every byte. An image folder's hash covers each image file's name and hash. The manifest also
keeps each source's size and modification time: a rerun re-hashes only sources whose size or
mtime changed (as git's index does), and a file copied elsewhere with a new mtime but the same
bytes still matches.

**Config hash** (:func:`config_hash`): SHA-256 of the pipeline config as canonical JSON (sorted
keys) together with the table format; a rerun with a different config redoes every source.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..io import IMAGE_EXTS

MANIFEST_FORMAT = "posekit.batch-manifest/1"
MANIFEST_NAME = "manifest.json"
STATUSES = ("done", "failed", "skipped", "pending")
_MIB = 1 << 20


def now_iso() -> str:
    """The current UTC time as ISO 8601 with a ``Z`` (seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_hash(config: dict[str, Any], table_format: str = "") -> str:
    """SHA-256 (hex, 16 digits) of ``config`` as canonical JSON plus ``table_format``.

    Raises:
        TypeError: ``config`` holds something JSON cannot write.
    """
    blob = json.dumps({"config": config, "table": table_format}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def source_stat(path: str | Path) -> list[int] | None:
    """``[size_bytes, mtime_ns]`` of a file, or for an image folder ``[total size of its images,
    newest mtime_ns]``; None when the path cannot be read."""
    p = Path(path)
    try:
        if p.is_dir():
            files = _image_files(p)
            st = [f.stat() for f in files]
            return [sum(s.st_size for s in st) + len(st),
                    max((s.st_mtime_ns for s in st), default=0)]
        s = p.stat()
        return [s.st_size, s.st_mtime_ns]
    except OSError:
        return None


def _file_hash(p: Path, full: bool) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if full or size <= 2 * _MIB:
            for block in iter(lambda: f.read(4 * _MIB), b""):
                h.update(block)
        else:
            h.update(size.to_bytes(8, "little"))
            h.update(f.read(_MIB))
            f.seek(size - _MIB)
            h.update(f.read(_MIB))
    return h.hexdigest()


def content_hash(path: str | Path, *, full: bool = False) -> str | None:
    """Hash of a source's bytes (see the module docstring); None when it cannot be read.

    Args:
        path: a file, or a folder of images (its image files in name order).
        full: hash every byte (``sha256:``) instead of the size and first and last MiB
            (``fast1:``).
    """
    p = Path(path)
    prefix = "sha256:" if full else "fast1:"
    try:
        if p.is_dir():
            h = hashlib.sha256()
            for f in _image_files(p):
                h.update(f.name.encode() + b"\0" + _file_hash(f, full).encode() + b"\n")
            return prefix + h.hexdigest()
        return prefix + _file_hash(p, full)
    except OSError:
        return None


def _atomic_write_text(path: Path, text: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None


class Manifest:
    """``DIR/manifest.json`` in memory; :meth:`save` writes it atomically.

    Attributes:
        path: the manifest file.
        sources: name -> entry dict (fields in the module docstring).
        config: the pipeline config of the latest run (JSON-able dict), and ``config_hash``.

    Raises:
        OutputError: (on load) the file exists but is not a manifest this version reads.
    """

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / MANIFEST_NAME
        self.sources: dict[str, dict[str, Any]] = {}
        self.config: dict[str, Any] = {}
        self.config_hash = ""
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise OutputError(f"cannot read the batch manifest {self.path} ({e}); move it "
                                  "away to start the batch afresh") from None
            if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
                raise OutputError(f"{self.path} is not a {MANIFEST_FORMAT} manifest")
            self.sources = dict(data.get("sources") or {})
            self.config = data.get("config") or {}
            self.config_hash = data.get("config_hash") or ""

    def names_by_path(self) -> dict[str, str]:
        """Source path -> the output name an earlier run gave it."""
        return {e["source"]: name for name, e in self.sources.items() if "source" in e}

    def update(self, name: str, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the entry of ``name`` (created when new); returns the entry.

        Raises:
            ValueError: an unknown ``status``.
        """
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, "
                             f"got {fields['status']!r}")
        entry = self.sources.setdefault(name, {})
        entry.update(fields)
        return entry

    def is_done(self, name: str, content: str | None, config: str) -> bool:
        """True when ``name`` was done with this content and config hash and its table part
        (``outputs.table``, relative to the manifest's folder) is still there."""
        e = self.sources.get(name)
        if not e or e.get("status") != "done" or content is None:
            return False
        if e.get("content_hash") != content or e.get("config_hash") != config:
            return False
        part = (e.get("outputs") or {}).get("table")
        return bool(part) and (self.path.parent / part).is_file()

    def save(self) -> None:
        """Write the manifest atomically (temporary file + rename, fsynced).

        Raises:
            OutputError: the folder cannot be written.
        """
        data = {"format": MANIFEST_FORMAT, "updated_at": now_iso(), "config": self.config,
                "config_hash": self.config_hash, "sources": self.sources}
        _atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=False) + "\n")
