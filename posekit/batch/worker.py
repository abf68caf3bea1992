"""The work of one batch task: one source through the pipeline, then its table part.

:func:`process_source` is all a batch worker (a Ray actor, :mod:`posekit.batch.runner`) runs;
it has no Ray in it, so it can be called and tested alone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PoseKitError
from .table import TABLE_DIR, jsonl_to_table, write_part

log = logging.getLogger(__name__)

#: The pipeline settings a batch runs with when none are given (``posekit batch``'s defaults).
#: ``num_threads``: inference threads of the model (one per worker: workers do not fight over
#: cores). ``max_frames``: at most this many frames per source (None: all).
DEFAULT_CONFIG: dict[str, Any] = {"model": "blazepose", "max_people": 5, "min_score": 0.5,
                                  "track": True, "smooth": True, "max_frames": None,
                                  "num_threads": 1}

#: Environment variables that cap the threads of the numeric libraries to one per worker.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "TBB_NUM_THREADS")


def make_config(**settings: Any) -> dict[str, Any]:
    """The batch's pipeline config: :data:`DEFAULT_CONFIG` with ``settings`` applied.

    Raises:
        PoseKitError: an unknown setting (the message names the valid ones), or a value of
            the wrong kind.
    """
    unknown = sorted(set(settings) - set(DEFAULT_CONFIG))
    if unknown:
        raise PoseKitError(f"unknown batch setting(s) {', '.join(unknown)}; expected one of "
                           f"{', '.join(DEFAULT_CONFIG)}")
    cfg = {**DEFAULT_CONFIG, **settings}
    if not isinstance(cfg["model"], str) or not cfg["model"]:
        raise PoseKitError(f"model must be a model name, got {cfg['model']!r}")
    if cfg["max_frames"] is not None and int(cfg["max_frames"]) < 1:
        raise PoseKitError(f"max_frames must be at least 1, got {cfg['max_frames']}")
    if int(cfg["num_threads"]) < 1:
        raise PoseKitError(f"num_threads must be at least 1, got {cfg['num_threads']}")
    json.dumps(cfg)  # must be JSON-able: it is hashed into the manifest
    return cfg


def limit_threads(n: int = 1) -> None:
    """Cap this process's numeric libraries (OpenMP, BLAS, OpenCV, torch) to ``n`` threads.

    Call it first thing in a worker process, before models load.
    """
    for var in THREAD_ENV:
        os.environ[var] = str(n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:  # pragma: no cover - opencv is a core dependency
        pass
    import sys

    if "torch" in sys.modules:  # never import torch just for this
        sys.modules["torch"].set_num_threads(n)


# replaced by posekit.pipeline.process once config.py lands
def _build_model(config: dict[str, Any], still: bool, cache: dict):
    """The model for ``config`` (image or video mode), built once per worker and reused."""
    from ..models import load_model

    key = json.dumps([config["model"], config["max_people"], config["min_score"],
                      config["num_threads"], still], sort_keys=True)
    if key not in cache:
        for old in cache.values():  # one pipeline per worker: free the previous config's
            old.close()
        cache.clear()
        settings = dict(max_people=config["max_people"], min_score=config["min_score"],
                        mode="image" if still else "video")
        if config["model"] == "blazepose":
            settings["num_threads"] = int(config["num_threads"])
        cache[key] = load_model(config["model"], **settings)
    model = cache[key]
    model.reset()  # no state (tracked ROIs) carried from the previous source
    return model


def process_source(source: str, out_dir: str | Path, config: dict[str, Any], *,
                   name: str | None = None, table_dir: str | Path | None = None,
                   cache: dict | None = None,
                   on_progress: Callable[[int, int | None], None] | None = None,
                   progress_every_s: float = 0.5) -> dict[str, Any]:
    """Run the pipeline over ``source``, writing ``out_dir/poses.jsonl`` and its table part.

    Args:
        source: a video file, image file or image folder (anything ``posekit run`` takes).
        out_dir: the source's output folder (created).
        config: from :func:`make_config`.
        name: the ``source`` column of the table and the part's file name (default: the
            folder name of ``out_dir``).
        table_dir: where the part ``<name>.parquet`` goes (default: ``out_dir/../poses.parquet``).
        cache: a dict kept by the caller between calls: the built model is kept in it and
            reused by the next source with the same config (models load once per worker).
        on_progress: called as ``on_progress(frames_done, frames_expected)`` at most every
            ``progress_every_s`` seconds and once at the end (``frames_expected`` None when the
            container does not say).

    Returns:
        ``{"frames", "persons", "seconds", "error", "worker", "outputs"}``: frames processed,
        person rows in the table part, wall seconds, None or a one-line error (the source
        failed: no part is written, and a stale part is removed), ``host:pid`` of this process,
        and the output files relative to ``out_dir``'s parent.

    Never raises for a bad source or model (the error comes back in the dict); only
    ``KeyboardInterrupt`` and the like pass.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    name = name or out.name
    part = Path(table_dir) / f"{name}.parquet" if table_dir else \
        out.parent / TABLE_DIR / f"{name}.parquet"
    jsonl = out / "poses.jsonl"
    result: dict[str, Any] = {"frames": 0, "persons": 0, "seconds": 0.0, "error": None,
                              "worker": f"{socket.gethostname()}:{os.getpid()}",
                              "outputs": {"jsonl": f"{name}/poses.jsonl",
                                          "table": f"{TABLE_DIR}/{name}.parquet"}}
    cache = {} if cache is None else cache
    try:
        part.unlink(missing_ok=True)
        summary = _run(source, out, jsonl, config, cache, on_progress, progress_every_s)
        result["frames"] = summary.frames
        if summary.error is not None:
            raise summary.error
        if summary.interrupted:
            raise PoseKitError(f"interrupted after {summary.frames} frames")
        if summary.frames == 0:
            raise PoseKitError(f"no frame decoded from {source}")
        table = jsonl_to_table(jsonl, name)
        write_part(table, part)
        result["persons"] = table.num_rows
    except PoseKitError as e:
        result["error"] = str(e)
    except Exception as e:  # noqa: BLE001 - a bug or library failure fails this source only
        log.exception("source %s failed", source)
        result["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:500]
    if result["error"] is not None:
        part.unlink(missing_ok=True)
    result["seconds"] = time.perf_counter() - t0
    return result


# replaced by posekit.pipeline.process once config.py lands
def _run(source, out: Path, jsonl: Path, config, cache, on_progress, every_s):
    """Build the pipeline as ``posekit run`` does (model, tracker, smoother, JSONL sink)."""
    from ..io import JsonlSink, open_source
    from ..pipeline import run as run_pipeline
    from ..track import Smoother, Tracker

    src = open_source(source)
    try:
        info = src.info
        still = info.kind in ("image", "images")
        model = _build_model(config, still, cache)
        stages = []
        if config["track"] and not still:
            stages.append(Tracker())
            if config["smooth"]:
                stages.append(Smoother())
        out.mkdir(parents=True, exist_ok=True)
        sink = JsonlSink(jsonl, model.skeleton, source=str(source), fps=info.fps,
                         size_wh=info.size_wh, inputs=info.paths)
    except BaseException:
        src.close()
        raise
    expected = info.frames
    if config["max_frames"] and expected:
        expected = min(expected, int(config["max_frames"]))
    last = [0.0]

    def tick(r) -> None:
        now = time.perf_counter()
        if on_progress is not None and now - last[0] >= every_s:
            last[0] = now
            on_progress(r.frame.index + 1, expected)

    summary = run_pipeline(src, model, [sink], stages=stages, on_result=tick,
                           max_frames=config["max_frames"])
    if on_progress is not None:
        on_progress(summary.frames, expected)
    return summary
