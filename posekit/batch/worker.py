"""The work of one batch task: one source through the pipeline, then its table part.

:func:`process_source` is all a batch worker (a Ray actor, :mod:`posekit.batch.runner`) runs;
it has no Ray in it, so it can be called and tested alone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PoseKitError
from .table import TABLE_DIR, jsonl_to_table, write_part

log = logging.getLogger(__name__)

#: The JSON Lines poses file in each source's folder (the table is built from it).
JSONL_NAME = "poses.jsonl"

#: Environment variables that cap the threads of the numeric libraries to one per worker.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "TBB_NUM_THREADS")


def limit_threads(n: int = 1) -> None:
    """Cap this process's numeric libraries (OpenMP, BLAS, OpenCV, torch) to ``n`` threads,
    and keep OpenVINO from pinning threads to cores
    (:func:`posekit.models.assets.allow_cpu_pinning`).

    Call it first thing in a worker process, before models load.
    """
    for var in THREAD_ENV:
        os.environ[var] = str(n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:  # pragma: no cover - opencv is a core dependency
        pass
    if "torch" in sys.modules:  # never import torch just for this
        sys.modules["torch"].set_num_threads(n)
    # several workers share the machine: OpenVINO must not pin each one's threads to core 0
    from ..models.assets import allow_cpu_pinning

    allow_cpu_pinning(False)


class _KeptModel:
    """A model the worker keeps across sources: ``close()`` does nothing (the :class:`ModelCache`
    closes it), everything else is the model's."""

    def __init__(self, model):
        self._model = model

    def __call__(self, frame, *args, **kwargs):
        return self._model(frame, *args, **kwargs)

    def close(self) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._model, name)


class ModelCache:
    """Models built once per worker and lent to each source with the same settings.

    :meth:`factory` is a ``model_factory`` for :func:`posekit.pipeline.process`: the first call
    with given ``(name, settings)`` loads the model, later calls reset it (no tracked ROIs carried
    from the previous source) and lend it again. At most ``size`` models are kept (by default
    two: a batch of videos and image folders needs the video- and the image-mode model); the
    least recently used one is closed. Trackers, smoothers and sinks are built afresh per source
    by the pipeline, so track IDs start anew in every source.

    With ``threads`` set, a model whose settings name no ``num_threads`` is loaded with
    ``num_threads=threads`` where its backend takes that setting (BlazePose, YOLO, hybrid,
    hands, ...), so a batch worker runs one inference thread whatever the config says; the
    thread count does not change the results, so it is not part of the config.

    Attributes:
        loads: how many models were loaded (the tests check models load once per worker).
    """

    def __init__(self, size: int = 2, threads: int | None = None):
        self.size = max(1, int(size))
        self.threads = threads
        self._models: dict[str, Any] = {}
        self.loads = 0

    def _load(self, name: str, settings: dict[str, Any]):
        from ..errors import ConfigError
        from ..models import load_model

        if self.threads is not None and "num_threads" not in settings:
            try:
                return load_model(name, num_threads=self.threads, **settings)
            except ConfigError as e:
                if "num_threads" not in str(e):
                    raise
        return load_model(name, **settings)

    def factory(self, name: str, **settings: Any):
        key = json.dumps([name, settings], sort_keys=True, default=str)
        model = self._models.pop(key, None)
        if model is None:
            while len(self._models) >= self.size:
                self._models.pop(next(iter(self._models))).close()
            model = self._load(name, settings)
            self.loads += 1
        else:
            model.reset()
        self._models[key] = model  # most recently used last
        return _KeptModel(model)

    def close(self) -> None:
        """Close every kept model."""
        while self._models:
            self._models.popitem()[1].close()


def batch_config(config=None, *, json_name: str = JSONL_NAME):
    """The template pipeline config of a batch: ``config`` (a
    :class:`~posekit.config.PipelineConfig`; None: :func:`batch_defaults`) writing JSON Lines
    poses to ``json_name``. Output paths in the template are relative: each source's are put
    under its own folder by :func:`process_source`.

    Raises:
        ConfigError: an output path that is absolute or leaves the source's folder.
    """
    from dataclasses import replace

    from ..config import PipelineConfig
    from ..errors import ConfigError

    cfg = config if config is not None else PipelineConfig(**batch_defaults())
    if cfg.outputs.json is None:
        cfg = replace(cfg, outputs=replace(cfg.outputs, json=Path(json_name)))
    for field, p in cfg.outputs.paths().items():
        if p.is_absolute() or ".." in p.parts:
            raise ConfigError(f"outputs.{field}: expected a path relative to the source's "
                              f"folder, got {str(p)!r}")
    return cfg


def batch_defaults() -> dict[str, Any]:
    """The batch's config where ``posekit run``'s defaults are too slow for a CPU archive:
    ``blazepose`` with its own video-mode tracking (``track.detector="model"``, no YOLO person
    detector), see docs/batch.md. (Workers run one inference thread: :class:`ModelCache`.)"""
    from ..config import ModelConfig, TrackConfig

    return {"model": ModelConfig(name="blazepose"), "track": TrackConfig(detector="model")}


def _rebase(cfg, folder: Path):
    """``cfg`` with every output path put under ``folder``."""
    from dataclasses import replace

    moved = {k: folder / p for k, p in cfg.outputs.paths().items()}
    return replace(cfg, outputs=replace(cfg.outputs, **moved))


def _max_rss_mb() -> float | None:
    """Peak resident memory of this process in MiB (None where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def process_source(source: str, out_dir: str | Path, config: dict[str, Any], *,
                   name: str | None = None, table_dir: str | Path | None = None,
                   cache: ModelCache | None = None,
                   on_progress: Callable[[int, int | None], None] | None = None,
                   progress_every_s: float = 0.5,
                   chunk: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """Run the one pipeline (:func:`posekit.pipeline.process`) over ``source`` into ``out_dir``,
    then write its table part.

    Args:
        source: a video file, image file or image folder (anything ``posekit run`` takes).
        out_dir: the source's output folder (created); the config's relative output paths are
            put under it (``poses.jsonl``, and any other output the config asks for).
        config: :meth:`PipelineConfig.to_dict` of :func:`batch_config`'s template.
        name: the ``source`` column of the table and the part's file name (default: the
            folder name of ``out_dir``).
        table_dir: where the part ``<name>.parquet`` goes (default: ``out_dir/../poses.parquet``).
        cache: a :class:`ModelCache` the caller keeps between calls (models load once per
            worker); None: a model loaded for this source alone.
        on_progress: called as ``on_progress(frames_done, frames_expected)`` at most every
            ``progress_every_s`` seconds and once at the end (``frames_expected`` None when the
            container does not say).
        chunk: ``(k, start, stop)``: only frames ``[start, stop)`` of the video
            (:class:`~posekit.batch.chunks.ChunkSource`), written to ``out_dir/chunks/<k>/``
            and no table part (the runner stitches the chunks, :mod:`posekit.batch.chunks`).

    Returns:
        ``{"frames", "persons", "seconds", "cpu_s", "max_rss_mb", "error", "worker",
        "outputs"}``: frames processed, person rows in the table part, wall seconds, CPU
        seconds of this process (all its threads: decoding, inference, writing), the process's
        peak resident memory so far (MiB), None or a one-line error (the source
        failed: no part is written, and a stale part is removed), ``host:pid`` of this process,
        and the output files relative to ``out_dir``'s parent.

    Never raises for a bad source, config or model (the error comes back in the dict); only
    ``KeyboardInterrupt`` and the like pass.
    """
    from ..config import PipelineConfig
    from ..pipeline import process

    t0, cpu0 = time.perf_counter(), time.process_time()
    out = Path(out_dir)
    name = name or out.name
    part = Path(table_dir) / f"{name}.parquet" if table_dir else \
        out.parent / TABLE_DIR / f"{name}.parquet"
    result: dict[str, Any] = {"frames": 0, "persons": 0, "seconds": 0.0, "error": None,
                              "worker": f"{socket.gethostname()}:{os.getpid()}",
                              "outputs": {}}
    own_cache = cache is None
    cache = ModelCache() if cache is None else cache
    expected: list[int | None] = [None]
    last = [0.0]

    def on_start(info, cfg) -> None:
        n = info.frames
        if cfg.max_frames and n:
            n = min(n, cfg.max_frames)
        expected[0] = n
        if on_progress is not None:
            on_progress(0, n)

    done = [0]

    def on_result(r) -> None:
        done[0] += 1  # frames of this task (a chunk's indices start at its first frame)
        now = time.perf_counter()
        if on_progress is not None and now - last[0] >= progress_every_s:
            last[0] = now
            on_progress(done[0], expected[0])

    try:
        folder = out if chunk is None else out / "chunks" / str(chunk[0])
        cfg = _rebase(PipelineConfig.from_dict(config), folder)
        jsonl = cfg.outputs.json
        result["outputs"] = {k: str(p.relative_to(out.parent))
                             for k, p in cfg.outputs.paths().items()}
        src = source
        if chunk is None:
            part.unlink(missing_ok=True)
            result["outputs"]["table"] = f"{TABLE_DIR}/{name}.parquet"
        else:
            from .chunks import ChunkSource

            src = ChunkSource(source, chunk[1], chunk[2], name=name)
        summary = process(src, cfg, on_start=on_start, on_result=on_result,
                          model_factory=cache.factory)
        result["frames"] = summary.frames
        if on_progress is not None:
            on_progress(summary.frames, expected[0])
        if summary.error is not None:
            raise summary.error
        if summary.interrupted:
            raise PoseKitError(f"interrupted after {summary.frames} frames")
        if summary.frames == 0:
            raise PoseKitError(f"no frame decoded from {source}")
        if chunk is not None:
            return result
        table = jsonl_to_table(jsonl, name)
        write_part(table, part)
        result["persons"] = table.num_rows
    except PoseKitError as e:
        result["error"] = str(e)
    except Exception as e:  # noqa: BLE001 - a bug or library failure fails this source only
        log.exception("source %s failed", source)
        result["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:500]
    finally:
        if own_cache:
            cache.close()
        result["seconds"] = time.perf_counter() - t0
        result["cpu_s"] = time.process_time() - cpu0
        result["max_rss_mb"] = _max_rss_mb()
    if result["error"] is not None and chunk is None:
        part.unlink(missing_ok=True)
    return result
