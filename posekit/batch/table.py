"""The batch's one table: every person of every source, one Parquet part file per source.

Each finished source's JSON Lines poses (``DIR/<name>/poses.jsonl``, schema in
:mod:`posekit.io.sinks`) become ``DIR/poses.parquet/<name>.parquet``, written atomically (a
hidden temporary file renamed into place) as soon as the source is done, so a killed run keeps
the parts of every source that finished. The folder ``DIR/poses.parquet/`` is the table:

- DuckDB: ``SELECT * FROM read_parquet('DIR/poses.parquet/*.parquet')``
- pandas: ``pd.read_parquet('DIR/poses.parquet')``
- polars: ``pl.read_parquet('DIR/poses.parquet/*.parquet')``
- pyarrow: ``pyarrow.dataset.dataset('DIR/poses.parquet').to_table()``

One row per person and frame; flat columns of plain types (no nested lists), so the three read
it without help and SQL can name a keypoint's column:

============================  ========  =====================================================
column                        type      meaning
============================  ========  =====================================================
``source``                    string    the source's name (its folder ``DIR/<name>/``)
``frame``                     int64     0-based frame index
``time_s``                    float64   presentation time of the frame, seconds
``width``, ``height``         int32     frame size, pixels
``person``                    int32     the person's index in its frame
``track_id``                  int64     stable ID across frames (null without tracking)
``score``                     float32   person score in [0, 1]
``box_x1`` ... ``box_y2``     float32   person box xyxy, pixels of the frame
``coasting``, ``carried``     bool      see :mod:`posekit.io.sinks` (predicted box only;
                                        landmarks carried by optical flow)
``<kp>_x``, ``<kp>_y``        float32   keypoint in pixels, x right, y down
``<kp>_score``                float32   keypoint visibility/confidence in [0, 1]
``<kp>_world_x/_y/_z``        float32   world coordinates in metres (model's frame, e.g.
                                        BlazePose's hip-centred one); null without them
============================  ========  =====================================================

``<kp>`` is each keypoint name of the skeleton (``left_knee_y``); a missing keypoint is null,
never 0 or NaN, so SQL aggregates skip it. Each part's Parquet key-value metadata ``posekit``
holds the format, skeleton name, keypoint names and edges as JSON.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ..errors import MissingExtraError, OutputError

TABLE_FORMAT = "posekit.batch-table/1"
TABLE_DIR = "poses.parquet"
_FIELDS = ("x", "y", "score", "world_x", "world_y", "world_z")


def _pa():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the installation
        raise MissingExtraError("the batch table (pyarrow)", "batch") from None
    return pa, pq


def column_name(keypoint: str) -> str:
    """A keypoint name as a column prefix: lower case, ``[a-z0-9_]`` only."""
    return re.sub(r"[^a-z0-9_]+", "_", keypoint.lower()).strip("_") or "kp"


def schema(keypoints: list[str] | tuple[str, ...]):
    """The pyarrow schema of the table for a skeleton with ``keypoints`` (names)."""
    pa, _ = _pa()
    f32 = pa.float32()
    cols = [pa.field("source", pa.string()), pa.field("frame", pa.int64()),
            pa.field("time_s", pa.float64()), pa.field("width", pa.int32()),
            pa.field("height", pa.int32()), pa.field("person", pa.int32()),
            pa.field("track_id", pa.int64()), pa.field("score", f32)]
    cols += [pa.field(f"box_{c}", f32) for c in ("x1", "y1", "x2", "y2")]
    cols += [pa.field("coasting", pa.bool_()), pa.field("carried", pa.bool_())]
    for k in keypoints:
        cols += [pa.field(f"{column_name(k)}_{f}", f32) for f in _FIELDS]
    return pa.schema(cols)


def _floats(v) -> float:
    return np.nan if v is None else float(v)


def jsonl_to_table(jsonl: str | Path, source: str):
    """Read a posekit JSON Lines poses file into the table's rows (a ``pyarrow.Table``).

    Args:
        jsonl: a file written by :class:`posekit.io.JsonlSink`.
        source: the value of the ``source`` column.

    Returns:
        a ``pyarrow.Table`` with :func:`schema`, one row per person and frame (0 rows when
        nobody was seen), and the ``posekit`` metadata.

    Raises:
        OutputError: the file cannot be read, has no header, or a line is not JSON.
    """
    pa, _ = _pa()
    path = Path(jsonl)
    header = None
    lineno = 0
    meta_rows: list[tuple] = []
    kps: list[list] = []
    worlds: list = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):  # noqa: B007 - named in the error
                if not line.strip():
                    continue
                rec = json.loads(line)
                if rec.get("type") == "header":
                    header = rec
                    continue
                if rec.get("type") != "frame":
                    continue
                w, h = rec.get("size_wh") or (0, 0)
                for p in rec.get("persons") or ():
                    box = p.get("box") or [None] * 4
                    meta_rows.append((rec["frame"], rec["time_s"], w, h, p.get("index", 0),
                                      p.get("track_id"), _floats(p.get("score")),
                                      *(_floats(v) for v in box), bool(p.get("coasting")),
                                      bool(p.get("carried"))))
                    kps.append(p.get("keypoints"))
                    worlds.append(p.get("world"))
    except (OSError, UnicodeDecodeError) as e:
        raise OutputError(f"cannot read {path}: {e}") from None
    except ValueError as e:
        raise OutputError(f"{path}: line {lineno} is not JSON ({e})") from None
    if header is None:
        raise OutputError(f"{path}: no posekit header line")
    names = list(header.get("keypoints") or [])
    k = len(names)
    n = len(meta_rows)
    kp = np.full((n, k, 3), np.nan, np.float32)
    world = np.full((n, k, 3), np.nan, np.float32)
    for i, (pk, pw) in enumerate(zip(kps, worlds)):
        if pk is not None:          # None -> NaN in a float array
            kp[i] = np.array(pk, np.float32)
        if pw is not None:
            world[i] = np.array(pw, np.float32)
    sch = schema(names)
    cols = list(zip(*meta_rows)) if n else [()] * 14
    arrays = [pa.array([source] * n, pa.string()),
              pa.array(cols[0], pa.int64()), pa.array(cols[1], pa.float64()),
              pa.array(cols[2], pa.int32()), pa.array(cols[3], pa.int32()),
              pa.array(cols[4], pa.int32()), pa.array(cols[5], pa.int64())]
    arrays += [pa.array(np.asarray(cols[j], np.float32), pa.float32(), from_pandas=True)
               for j in range(6, 11)]
    arrays += [pa.array(cols[11], pa.bool_()), pa.array(cols[12], pa.bool_())]
    for j in range(k):
        for a in (kp[:, j, 0], kp[:, j, 1], kp[:, j, 2], world[:, j, 0], world[:, j, 1],
                  world[:, j, 2]):
            arrays.append(pa.array(a, pa.float32(), from_pandas=True))
    meta = {"format": TABLE_FORMAT, "skeleton": header.get("skeleton"), "keypoints": names,
            "edges": header.get("edges"), "source_path": header.get("source")}
    sch = sch.with_metadata({"posekit": json.dumps(meta)})
    return pa.Table.from_arrays(arrays, schema=sch)


def write_part(table, path: str | Path) -> Path:
    """Write ``table`` to the Parquet file ``path`` atomically (zstd); returns the path.

    The temporary file starts with a dot, which DuckDB's, polars' and pyarrow's readers of the
    folder all pass over.

    Raises:
        OutputError: the folder cannot be written.
    """
    _, pq = _pa()
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        os.close(fd)
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror or e}") from None
    return p


def read_table(out_dir: str | Path):
    """The whole table of a batch folder as one ``pyarrow.Table`` (every part).

    Raises:
        OutputError: the folder has no table.
    """
    pa, _ = _pa()
    import pyarrow.dataset as ds

    d = Path(out_dir) / TABLE_DIR
    if not d.is_dir():
        raise OutputError(f"no batch table in {out_dir} (expected {d})")
    return ds.dataset(str(d), format="parquet").to_table()
