"""Long videos in chunks: several workers on one video, and track IDs stitched afterwards.

With ``chunk_s`` set, a video longer than ``chunk_s`` seconds becomes several tasks. Chunk
``k`` covers frames ``[k * L, (k + 1) * L + O)`` of the video (``L`` = ``chunk_s``, ``O`` =
``overlap_s``, both in frames at the container's frame rate; the last chunk ends with the
video, which takes up a rest shorter than ``O`` plus a quarter chunk), so consecutive chunks
share ``O`` frames. Each chunk runs the whole pipeline (model,
tracker, smoother) from its first frame, with the video's own frame indices and times, into
``<name>/chunks/<k>/poses.jsonl``.

**Stitching** (:func:`stitch_jsonl`), chunk by chunk, into ``<name>/poses.jsonl``:

1. chunk 0's tracks get IDs 0, 1, 2, ... in order of appearance;
2. for chunk ``k + 1``, each of its tracks seen in the overlap is compared with each track of
   the stitched result seen there: the mean box IoU over the overlap frames where both are
   present. Tracks seen together on fewer than half of the overlap frames (at least 1) do not
   match. The Hungarian assignment (:func:`posekit.track.matching.assign`, the tracker's own)
   pairs them one to one, and a pair with mean IoU >= ``min_iou`` (0.5) is the same person: the
   later track takes the earlier ID. Every other track gets a new ID, above all IDs so far;
3. the overlap frames are kept from chunk ``k`` (whose tracker and smoother have run longer
   there); chunk ``k + 1`` contributes its frames after the overlap, so every frame is written
   once.

A person who leaves and re-enters the view inside a chunk gets a new ID, as in an unchunked
run; a person who is not seen in an overlap cannot be stitched across it (new ID).

Chunking needs a constant frame rate: a chunk seeks to its first frame by time and numbers the
frames by presentation time (``round((t - t0) * fps)``), which for constant-frame-rate video is
the decode order ``posekit run`` numbers frames by.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import OutputError, SourceError
from ..io.sources import Source, SourceInfo
from ..track.matching import assign
from ..types import Frame, box_iou


def plan_chunks(frames: int, fps: float, chunk_s: float, overlap_s: float) \
        -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` frame ranges (stop exclusive) of a video's chunks.

    Args:
        frames: the video's frame count; fps: its frame rate (frames/s).
        chunk_s: chunk length in seconds (> 0); overlap_s: overlap in seconds (>= 0, less
            than ``chunk_s``).

    Returns:
        one range ``[(0, frames)]`` when the video is not longer than one chunk and its
        overlap.

    Raises:
        ValueError: non-positive ``chunk_s`` or ``fps``, or an overlap not below the chunk.
    """
    if chunk_s <= 0 or fps <= 0 or not 0 <= overlap_s < chunk_s:
        raise ValueError(f"chunks: expected chunk_s > 0, 0 <= overlap_s < chunk_s and fps > "
                         f"0, got chunk_s={chunk_s}, overlap_s={overlap_s}, fps={fps}")
    step = max(1, int(round(chunk_s * fps)))
    over = int(round(overlap_s * fps))
    out = []
    start = 0
    while start < frames:
        stop = min(frames, start + step + over)
        if frames - (start + step) <= over + step // 4:  # no chunk of a few frames at the end
            stop = frames
        out.append((start, stop))
        if stop >= frames:
            break
        start += step
    return out or [(0, frames)]


class ChunkSource(Source):
    """Frames ``[start, stop)`` of a constant-frame-rate video file, with the video's own
    frame indices and times (seconds from the first frame), decoded by PyAV after a seek.

    Raises:
        SourceError: the file cannot be opened or has no video stream (on construction); it
            breaks while decoding (while iterating).
    """

    def __init__(self, path: str | Path, start: int, stop: int, name: str = "chunk"):
        import av

        self.path = str(path)
        self.start, self.stop = int(start), int(stop)
        try:
            self._container = av.open(self.path)
        except (av.FFmpegError, OSError) as e:
            raise SourceError(f"not a readable video: {self.path} ({e})") from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"no video stream in {self.path}")
        vs = self._container.streams.video[0]
        vs.thread_type = "AUTO"
        self._stream = vs
        rate = vs.average_rate or vs.guessed_rate
        self.fps = float(rate) if rate else 0.0
        if self.fps <= 0:
            self._container.close()
            raise SourceError(f"no frame rate in {self.path}: cannot chunk it")
        self._t0 = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
        w, h = vs.codec_context.width, vs.codec_context.height
        self.info = SourceInfo("video", name, self.fps, self.stop - self.start,
                               (w, h) if w else None, [Path(self.path)])

    def _frames(self) -> Iterator[Frame]:
        import av

        vs = self._stream
        n = 0
        try:
            if self.start > 0:
                # a keyframe at or before the first frame (half a frame early against rounding)
                t = self._t0 + (self.start - 0.5) / self.fps
                self._container.seek(int(t / vs.time_base), stream=vs, backward=True,
                                     any_frame=False)
            for f in self._container.decode(vs):
                t = f.time if f.time is not None else self._t0
                idx = int(round((t - self._t0) * self.fps))
                if idx < self.start:
                    continue
                if idx >= self.stop:
                    break
                yield Frame(np.ascontiguousarray(f.to_ndarray(format="bgr24")), idx,
                            float(t - self._t0), self.path)
                n += 1
        except av.FFmpegError as e:
            raise SourceError(f"video broke in frames {self.start}-{self.stop}: {self.path} "
                              f"({e})") from None
        if n == 0:
            raise SourceError(f"no decodable frame in frames {self.start}-{self.stop} of "
                              f"{self.path}")

    def close(self) -> None:
        c = getattr(self, "_container", None)
        if c is not None:
            self._container = None
            c.close()


def _read(path: Path) -> tuple[dict, list[dict]]:
    header, frames = None, []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                if rec.get("type") == "header":
                    header = rec
                elif rec.get("type") == "frame":
                    frames.append(rec)
    except (OSError, ValueError) as e:
        raise OutputError(f"cannot read the chunk poses {path}: {e}") from None
    if header is None:
        raise OutputError(f"{path}: no posekit header line")
    return header, frames


def _iou(a, b) -> float:
    """IoU of two xyxy boxes as written in the JSON Lines (lists, None where unknown)."""
    if a is None or b is None or None in a or None in b:
        return 0.0
    return float(box_iou(np.asarray(a, np.float64), np.asarray(b, np.float64))[0, 0])


def _match(prev: dict[int, dict], cur: dict[int, dict], frames: list[int], min_iou: float
           ) -> dict[int, int]:
    """Local IDs of ``cur`` -> global IDs of ``prev`` (each ``{id: {frame: box}}``), paired by
    :func:`posekit.track.matching.assign` on the mean IoU over the common frames."""
    a_ids, b_ids = sorted(prev), sorted(cur)
    if not a_ids or not b_ids:
        return {}
    need = max(1, len(frames) // 2)
    iou = np.zeros((len(a_ids), len(b_ids)))
    for i, a in enumerate(a_ids):
        for j, b in enumerate(b_ids):
            common = [f for f in frames if f in prev[a] and f in cur[b]]
            if len(common) >= need:
                iou[i, j] = float(np.mean([_iou(prev[a][f], cur[b][f]) for f in common]))
    rows, cols = assign(iou, min_iou, gate="after")
    return {b_ids[j]: a_ids[i] for i, j in zip(rows.tolist(), cols.tolist())}


def stitch_jsonl(chunks: list[str | Path], ranges: list[tuple[int, int]], out: str | Path, *,
                 min_iou: float = 0.5) -> dict[str, int]:
    """Join the chunks' JSON Lines poses into one file with stitched track IDs (module
    docstring); the frames of each overlap come from the earlier chunk.

    Args:
        chunks: each chunk's ``poses.jsonl``, in order; ranges: their ``(start, stop)`` frames.
        out: the joined file (written whole, then renamed into place).
        min_iou: mean box IoU over the overlap at or above which two tracks are one person.

    Returns:
        ``{"frames", "persons", "tracks", "stitched"}``: frames and person records written,
        distinct track IDs, tracks joined across an overlap.

    Raises:
        OutputError: a chunk file cannot be read, or ``out`` cannot be written.
    """
    import os

    out = Path(out)
    next_id = 0
    stitched = 0
    header = None
    kept: list[dict] = []
    for k, (path, (start, _)) in enumerate(zip(chunks, ranges)):
        head, frames = _read(Path(path))
        header = header or head
        if k == 0:
            mapping: dict[int, int] = {}
            body = frames
        else:
            prev_stop = ranges[k - 1][1]
            overlap = list(range(start, prev_stop))
            prev_boxes: dict[int, dict] = {}
            for rec in kept:
                if rec["frame"] >= start:
                    for p in rec["persons"]:
                        if p.get("track_id") is not None:
                            prev_boxes.setdefault(p["track_id"], {})[rec["frame"]] = p["box"]
            cur_boxes: dict[int, dict] = {}
            for rec in frames:
                if rec["frame"] < prev_stop:
                    for p in rec["persons"]:
                        if p.get("track_id") is not None:
                            cur_boxes.setdefault(p["track_id"], {})[rec["frame"]] = p["box"]
            mapping = _match(prev_boxes, cur_boxes, overlap, min_iou)
            stitched += len(mapping)
            body = [rec for rec in frames if rec["frame"] >= prev_stop]
        for rec in body:
            for p in rec["persons"]:
                tid = p.get("track_id")
                if tid is None:
                    continue
                if tid not in mapping:
                    mapping[tid] = next_id
                    next_id += 1
                p["track_id"] = mapping[tid]
            kept.append(rec)
        # IDs given in this chunk are final; later chunks only add new ones
        next_id = max([next_id, *[v + 1 for v in mapping.values()]])
    header = dict(header or {})
    header["chunks"] = [list(r) for r in ranges]
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(header, separators=(",", ":")) + "\n")
            for rec in kept:
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        os.replace(tmp, out)
    except OSError as e:
        raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
    persons = sum(len(r["persons"]) for r in kept)
    tracks = {p["track_id"] for r in kept for p in r["persons"] if p.get("track_id") is not None}
    return {"frames": len(kept), "persons": persons, "tracks": len(tracks),
            "stitched": stitched}
