"""Batch inputs: files, folders, globs and text files of paths -> the list of sources.

:func:`expand_inputs` turns the command line's ``INPUT...`` into :class:`BatchSource` items,
each one task of the batch (one call of the pipeline):

- a video file (an extension in :data:`posekit.io.VIDEO_EXTS`) is one source;
- a single image file is one source (one frame);
- a folder is searched recursively: each video file in it is one source, and each folder that
  directly holds image files is one source (an image sequence, in file-name order, as
  ``posekit run FOLDER`` reads it);
- a glob (``"clips/**/*.mp4"``; ``**`` matches folders at any depth) expands to the files and
  folders it matches, each taken as above;
- a text file (``.txt``, ``.lst``, ``.list``) holds one input a line (any of the above); blank
  lines and lines starting with ``#`` are ignored, relative paths are relative to the text file;
- any other path is kept as a source as it is: a missing, unreadable or corrupt file then fails
  alone in the batch, named in the manifest, instead of stopping the whole run.

Sources are deduplicated by resolved path and keep the order they were given in.
"""

from __future__ import annotations

import glob as _glob
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import PoseKitError
from ..io import IMAGE_EXTS, VIDEO_EXTS

log = logging.getLogger(__name__)

#: Names in the output folder that are the batch's own, never a source's folder.
RESERVED_NAMES = ("manifest.json", "poses.parquet")

#: Extensions of text files read as lists of inputs, one a line.
LIST_EXTS = {".txt", ".lst", ".list"}


@dataclass(frozen=True)
class BatchSource:
    """One task of a batch.

    Attributes:
        path: absolute path of the video, image or image folder (may not exist: it then fails
            in the batch with a :class:`posekit.errors.SourceError`).
        kind: ``"video"``, ``"image"``, ``"images"`` (a folder of images) or ``"unknown"``
            (anything else given explicitly; the pipeline decides).
    """

    path: str
    kind: str

    @property
    def stem(self) -> str:
        """A file-system-safe short name: the file stem or the folder name."""
        p = Path(self.path)
        base = p.name if self.kind == "images" else p.stem
        return re.sub(r"[^\w.-]+", "_", base).strip("._") or "source"


def _kind(p: Path) -> str:
    if p.is_dir():
        return "images"
    ext = p.suffix.lower()
    if ext in VIDEO_EXTS:
        return "video"
    if ext in IMAGE_EXTS:
        return "image"
    return "unknown"


def _walk(folder: Path) -> list[BatchSource]:
    """Videos under ``folder`` (recursively) and each folder directly holding images."""
    out: list[BatchSource] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files = sorted(f for f in files if not f.startswith("."))
        exts = [Path(f).suffix.lower() for f in files]
        if any(e in IMAGE_EXTS for e in exts):
            out.append(BatchSource(str(Path(root)), "images"))
        out.extend(BatchSource(str(Path(root) / f), "video")
                   for f, e in zip(files, exts) if e in VIDEO_EXTS)
    return out


def _expand_one(spec: str, base: Path, depth: int) -> list[BatchSource]:
    if depth > 8:
        raise PoseKitError(f"input lists nested more than 8 deep at {spec}")
    s = os.path.expanduser(spec.strip())
    p = Path(s) if Path(s).is_absolute() else base / s
    if any(c in s for c in "*?[") and not p.exists():
        matches = sorted(_glob.glob(str(p), recursive=True))
        out: list[BatchSource] = []
        for m in matches:
            mp = Path(m)
            if mp.is_dir():
                out.extend(_walk(mp))
            elif _kind(mp) in ("video", "image"):
                out.append(BatchSource(str(mp), _kind(mp)))
        return out
    if p.is_dir():
        return _walk(p)
    if p.suffix.lower() in LIST_EXTS and p.is_file():
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise PoseKitError(f"cannot read the input list {p}: {e}") from None
        out = []
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.extend(_expand_one(line, p.parent, depth + 1))
        return out
    return [BatchSource(str(p), _kind(p))]


def expand_inputs(inputs: list[str] | tuple[str, ...], *, base: str | Path = ".") \
        -> list[BatchSource]:
    """Expand ``inputs`` (see the module docstring) into the batch's sources.

    Args:
        inputs: paths, folders, globs or text files of paths.
        base: folder that relative paths are taken from (the current folder by default).

    Returns:
        the sources in input order, each resolved path once.

    Raises:
        PoseKitError: no input given, an input list that cannot be read, or inputs that expand
            to no source at all (e.g. a glob matching nothing, an empty folder).
    """
    if not inputs:
        raise PoseKitError("no input given")
    seen: set[str] = set()
    out: list[BatchSource] = []
    for spec in inputs:
        found = _expand_one(str(spec), Path(base).absolute(), 0)
        if not found:
            log.warning("no video, image or image folder in %s", spec)
        for src in found:
            key = os.path.realpath(src.path)
            if key not in seen:
                seen.add(key)
                out.append(BatchSource(os.path.abspath(src.path), src.kind))
    if not out:
        raise PoseKitError(f"no video, image or image folder found in {', '.join(inputs)}")
    return out


def unique_names(sources: list[BatchSource], known: dict[str, str] | None = None) -> list[str]:
    """One output folder name per source, unique in the batch and stable across reruns.

    A source keeps the name ``known`` gives its path (from the manifest of an earlier run).
    Otherwise its name is its stem; a stem already taken (two ``clip.mp4`` in different
    folders, ``clip.mp4`` next to ``clip.avi``, or a name an earlier run gave a source that is
    not in this batch, whose outputs are never overwritten) gets ``-`` and the first 8 hex
    digits of the SHA-1 of its absolute path, which does not depend on the other sources.
    The names of the batch's own files (:data:`RESERVED_NAMES`) are never given to a source.
    """
    known = known or {}
    taken = set(RESERVED_NAMES) | set(known.values())  # also sources not in this batch
    names = []
    stems: dict[str, int] = {}
    for s in sources:
        stems[s.stem] = stems.get(s.stem, 0) + 1
    for s in sources:
        if s.path in known:
            names.append(known[s.path])
            continue
        name = s.stem
        if name in taken or stems[name] > 1:
            name = f"{s.stem}-{hashlib.sha1(s.path.encode()).hexdigest()[:8]}"
        taken.add(name)
        names.append(name)
    return names
