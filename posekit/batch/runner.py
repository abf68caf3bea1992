"""Run a batch on Ray: one actor per worker, resumable through the manifest.

:func:`run_batch` does, in order:

1. expands the inputs (:mod:`.inputs`), names each source's folder ``DIR/<name>/`` and reads
   ``DIR/manifest.json`` (:mod:`.manifest`);
2. hashes each source (reusing the recorded hash where size and mtime are unchanged) and skips
   the sources already done with the same content and config hash (and, unless
   ``retry_failed``, those that already failed with them); when nothing is left it returns
   without starting Ray;
3. connects to Ray: an already initialised Ray (``ray.init`` called by the caller), an existing
   cluster (``address="auto"``, ``"ray://host:10001"``), or, with no address, a local cluster
   started for the run and stopped after it;
4. starts ``workers`` actors (:class:`BatchWorker`, one CPU each, numeric libraries capped to one
   thread, models loaded once per actor and kept across sources) and hands each one source at a
   time; a source whose worker process dies (killed, out of memory, node lost) is given to a
   fresh actor, at most ``retries`` more times, then fails with the reason;
5. records every finished source in the manifest as it finishes (saved at most every 2 s and at
   the end) while the worker has already written its outputs and table part, so a killed run
   keeps every finished source and a rerun picks up the rest.

A source that cannot be opened or decoded fails alone: its error is in the manifest and the
:class:`BatchResult`, and the other sources go on.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MissingExtraError, PoseKitError
from .inputs import BatchSource, expand_inputs, unique_names
from .manifest import Manifest, config_hash, content_hash, now_iso, source_stat
from .table import TABLE_DIR, TABLE_FORMAT
from .worker import THREAD_ENV, ModelCache, batch_config, limit_threads, process_source

log = logging.getLogger(__name__)

#: Threads that hash and probe the sources before a run (I/O bound).
HASH_THREADS = 8

#: Seconds between manifest saves while a batch runs (and once at the end).
SAVE_EVERY_S = 2.0


class BatchWorker:
    """A Ray actor's state: the kept models and where to report progress.

    Each actor is one worker process with one inference thread (:func:`limit_threads`); its
    :class:`~posekit.batch.worker.ModelCache` keeps the models across sources with the same
    config, so they load once per worker, not once per video.
    """

    def __init__(self, progress=None, threads: int = 1):
        limit_threads(threads)
        self._cache = ModelCache(threads=threads)
        self._progress = progress
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def ready(self) -> str:
        """``host:pid`` of the worker process (returns once the actor is up)."""
        return self.worker

    def process(self, key: str, name: str, source: str, out_dir: str, config: dict[str, Any],
                chunk: tuple[int, int, int] | None = None) -> dict:
        """:func:`~posekit.batch.worker.process_source` of ``source`` (or of its ``chunk``)
        into ``out_dir/name``; progress is reported under ``key``."""
        board = self._progress
        pid = os.getpid()

        def report(frames: int, expected: int | None) -> None:
            if board is not None:
                board.report.remote(key, frames, expected, self.worker, pid)

        return process_source(source, Path(out_dir) / name, config, name=name,
                              table_dir=Path(out_dir) / TABLE_DIR, cache=self._cache,
                              on_progress=report, chunk=chunk)


class ProgressBoard:
    """A Ray actor the workers report ``(frames, expected, worker, pid)`` per source to."""

    def __init__(self):
        self._state: dict[str, tuple] = {}

    def report(self, name: str, frames: int, expected: int | None, worker: str,
               pid: int) -> None:
        self._state[name] = (frames, expected, worker, pid)

    def snapshot(self) -> dict[str, tuple]:
        return dict(self._state)


@dataclass
class BatchProgress:
    """What the batch has done so far (passed to ``on_progress``).

    Attributes:
        sources_total: sources this run processes (those not done before).
        sources_finished: of those, finished (done or failed).
        failed: of those, failed.
        frames_done: frames processed so far, finished and running sources.
        frames_expected: sum of the frame counts the containers state for this run's sources
            (capped by ``max_frames``); sources with no count add nothing.
        running: source name -> ``{"frames", "expected", "worker" ("host:pid"), "pid"}``.
        elapsed_s: seconds since the run started.
    """

    sources_total: int
    sources_finished: int = 0
    failed: int = 0
    frames_done: int = 0
    frames_expected: int = 0
    running: dict[str, dict] = field(default_factory=dict)
    elapsed_s: float = 0.0


@dataclass
class BatchResult:
    """What :func:`run_batch` did.

    Attributes:
        out_dir: the batch folder.
        sources: every source of the batch, in input order (names).
        done: sources processed by this run.
        skipped: sources done by an earlier run with the same content and config (no work).
        failed: name -> one-line error, for sources that failed (in this run, or in an earlier
            one with the same content and config and not retried: see ``failed_before``).
        failed_before: the sources of ``failed`` that this run did not try again.
        unfinished: sources this run did not finish (interrupted); ``skipped`` in the manifest.
        frames: frames processed by this run; persons: person rows written to the table.
        seconds: wall time of the whole call (hashing, Ray start, models, every source).
        process_seconds: from the first task handed out to the last result.
        cpu_seconds: CPU seconds the workers spent on the done sources (all their threads).
        workers: actors used (0 when nothing was left to do).
        retried: worker losses recovered by handing the source to a fresh worker.
        interrupted: the run was stopped (Ctrl-C).
    """

    out_dir: Path
    sources: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    failed_before: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    frames: int = 0
    persons: int = 0
    seconds: float = 0.0
    process_seconds: float = 0.0
    cpu_seconds: float = 0.0
    workers: int = 0
    retried: int = 0
    interrupted: bool = False

    @property
    def fps(self) -> float:
        """Frames per second over the whole call (end to end)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 every source done (now or before), 1 some failed, 2 all failed (nothing done),
        130 interrupted."""
        if self.interrupted:
            return 130
        if self.failed:
            return 2 if not (self.done or self.skipped) else 1
        return 0


def _ray():
    try:
        import ray
    except ImportError:
        raise MissingExtraError("posekit batch (ray)", "batch") from None
    return ray


def _probe(src: BatchSource, max_frames: int | None) -> tuple[int | None, float]:
    """(frame count the container states, capped by ``max_frames``; frame rate): the image
    count and 0.0 for a folder, (None, 0.0) when unknown or unreadable (the worker then
    reports the error)."""
    from ..io import open_source

    try:
        with open_source(src.path) as s:
            n, fps = s.info.frames, s.info.fps or 0.0
    except Exception:  # noqa: BLE001 - the worker names the error
        return None, 0.0
    if n and max_frames:
        n = min(n, max_frames)
    return n, fps


def _lost_errors(ray) -> tuple[type[BaseException], ...]:
    exc = ray.exceptions
    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError",
             "NodeDiedError", "ObjectLostError", "OwnerDiedError")
    return tuple(getattr(exc, n) for n in names if hasattr(exc, n))


def _short(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


def run_batch(inputs: Sequence[str | BatchSource], out_dir: str | Path, config=None, *,
              address: str | None = None, workers: int | None = None, retries: int = 2,
              full_hash: bool = False, force: bool = False, retry_failed: bool = False,
              chunk_s: float | None = None, overlap_s: float = 5.0,
              on_progress: Callable[[BatchProgress], None] | None = None,
              progress_every_s: float = 0.5, ray_init: dict[str, Any] | None = None
              ) -> BatchResult:
    """Process every source of ``inputs`` into ``out_dir`` on Ray (steps in the module docstring).

    Args:
        inputs: paths, folders, globs or text files of paths (:func:`expand_inputs`), or
            :class:`BatchSource` items.
        out_dir: the batch folder: ``<name>/poses.jsonl`` (and the config's other outputs) per
            source, ``poses.parquet/<name>.parquet`` table parts, ``manifest.json``.
        config: a :class:`~posekit.config.PipelineConfig` whose output paths are relative to each
            source's folder (None: :func:`~posekit.batch.worker.batch_defaults`); JSON Lines
            poses are always written (the table is built from them).
        address: None: use the Ray already initialised in this process, else start a local
            cluster for the run and stop it after; ``"auto"`` or ``"ray://host:10001"``: an
            existing cluster (sources and ``out_dir`` must then be paths every node can read
            and write, e.g. a shared file system).
        workers: actors, one CPU each (None: the cluster's CPUs, or this machine's cores).
        retries: how many more times a source is handed to a fresh worker after its worker
            process died (>= 0). A source that fails with an error is not retried.
        full_hash: hash every byte of each source instead of its size and first and last MiB.
        force: process every source, also those already done.
        retry_failed: process again the sources that failed in an earlier run with the same
            content and config (by default they are reported as failed again without work: a
            corrupt file fails the same way; a file that changed is always processed).
        chunk_s: split videos longer than this many seconds into chunks processed by several
            workers, their track IDs stitched (:mod:`posekit.batch.chunks`); None: one task
            per source.
        overlap_s: seconds shared by consecutive chunks, where tracks are matched.
        on_progress: called with a :class:`BatchProgress` about every ``progress_every_s``
            seconds (from this thread).
        ray_init: extra keyword arguments for ``ray.init`` (``runtime_env``...).

    Returns:
        a :class:`BatchResult` (``exit_code`` for the CLI).

    Raises:
        PoseKitError: no source in ``inputs``, bad ``workers``/``retries``.
        OutputError: ``out_dir`` or its manifest cannot be written or read.
        MissingExtraError: Ray is not installed (``pip install 'posekit[batch]'``).
    """
    from ..errors import ConfigError

    t_start = time.perf_counter()
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: expected an integer >= 1, got {workers}")
    if retries < 0:
        raise ConfigError(f"retries: expected an integer >= 0, got {retries}")
    specs = [str(s) for s in inputs if not isinstance(s, BatchSource)]
    sources = (expand_inputs(specs) if specs else []) + \
        [s for s in inputs if isinstance(s, BatchSource)]
    if not sources:
        raise PoseKitError("no input given")
    out = Path(out_dir).absolute()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from ..errors import OutputError

        raise OutputError(f"cannot create the batch folder {out}: {e.strerror or e}") from None
    cfg = batch_config(config)
    cfg_dict = cfg.to_dict()
    chunking = None
    if chunk_s:
        if not 0 <= overlap_s < chunk_s:
            raise ConfigError(f"chunks: expected 0 <= overlap_s < chunk_s, got overlap_s="
                              f"{overlap_s}, chunk_s={chunk_s}")
        chunking = (float(chunk_s), float(overlap_s))
    # chunked results differ (stitched IDs): the chunking is part of what is hashed
    chash = config_hash({**cfg_dict, "chunks": list(chunking)} if chunking else cfg_dict,
                        TABLE_FORMAT)
    manifest = Manifest(out)
    names = unique_names(sources, manifest.names_by_path())
    result = BatchResult(out, sources=list(names))
    todo: list = []
    prefix = "sha256:" if full_hash else "fast1:"

    def inspect(src: BatchSource, name: str):
        old = manifest.sources.get(name, {})
        st = source_stat(src.path)
        same = st is not None and old.get("stat") == st and old.get("source") == src.path \
            and str(old.get("content_hash") or "").startswith(prefix)
        return old, st, same, (old["content_hash"] if same else
                               content_hash(src.path, full=full_hash))

    with ThreadPoolExecutor(HASH_THREADS) as pool:  # I/O bound: files on a network share
        seen = list(pool.map(inspect, sources, names))
        probe = []
        for src, name, (old, st, same, chash_src) in zip(sources, names, seen):
            if not force and manifest.is_done(name, chash_src, chash):
                result.skipped.append(name)
                manifest.update(name, stat=st)
                continue
            if not (force or retry_failed) and old.get("status") == "failed" \
                    and old.get("content_hash") == chash_src \
                    and old.get("config_hash") == chash:
                result.failed[name] = old.get("error") or "failed"
                result.failed_before.append(name)
                continue
            keep = same and old.get("config_hash") == chash and "fps" in old
            probe.append(None if keep else pool.submit(_probe, src, cfg.max_frames))
            manifest.update(name, source=src.path, kind=src.kind, status="pending",
                            error=None, content_hash=chash_src, config_hash=chash, stat=st,
                            attempts=0)
            todo.append((name, src))
        pending = []
        for (name, src), f in zip(todo, probe):
            e = manifest.sources[name]
            n, fps = f.result() if f is not None else (e.get("frames_expected"), e["fps"])
            manifest.update(name, frames_expected=n, fps=fps)
            pending.append((name, src, n, fps))
        todo = pending
    manifest.config, manifest.config_hash = cfg_dict, chash
    manifest.save()
    if todo:
        _run_on_ray(todo, out, cfg_dict, manifest, result, chunking=chunking,
                    address=address, workers=workers,
                    retries=retries, on_progress=on_progress, every_s=progress_every_s,
                    ray_init=ray_init or {}, t_start=t_start)
    result.seconds = time.perf_counter() - t_start
    return result


def _connect(ray, address: str | None, workers: int | None, extra: dict) -> bool:
    """Initialise Ray; True when this call started a local cluster (to be shut down)."""
    if ray.is_initialized():
        return False
    kw = {"include_dashboard": False, "log_to_driver": False,
          "logging_level": logging.WARNING, **extra}
    if address:
        try:
            ray.init(address=address, **kw)
        except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ...
            raise PoseKitError(f"cannot connect to the Ray cluster at {address}: "
                               f"{_short(e)}") from None
        return False
    ray.init(num_cpus=workers or os.cpu_count() or 1, **kw)
    return True


def _tasks(todo, chunking) -> tuple[list[tuple], dict[str, dict]]:
    """Tasks ``(key, name, source, expected, chunk)``, longest first, and, per chunked source,
    its state."""
    from .chunks import plan_chunks

    tasks, chunked = [], {}
    for name, src, expected, fps in todo:
        ranges = None
        if chunking and src.kind == "video" and expected and fps > 0:
            ranges = plan_chunks(expected, fps, *chunking)
        if ranges and len(ranges) > 1:
            chunked[name] = {"ranges": ranges, "results": {}, "failed": False}
            tasks += [(f"{name}#{k}", name, src, b - a, (k, a, b))
                      for k, (a, b) in enumerate(ranges)]
        else:
            tasks.append((name, name, src, expected, None))
    # longest first (LPT scheduling): a long video started last would run alone at the end
    # while the other workers wait; sources of unknown length (image folders, streams) go last
    tasks.sort(key=lambda t: -(t[3] or 0))
    return tasks, chunked


def _run_on_ray(todo, out: Path, cfg_dict: dict, manifest: Manifest, result: BatchResult, *,
                chunking, address, workers, retries, on_progress, every_s, ray_init,
                t_start) -> None:
    ray = _ray()
    lost = _lost_errors(ray)
    tasks, chunked = _tasks(todo, chunking)
    started = _connect(ray, address, workers, ray_init)
    actors: list = []
    board = None
    queue = deque(tasks)
    inflight: dict = {}
    attempts: dict[str, int] = {}
    finished_frames = 0
    progress = BatchProgress(len(todo), frames_expected=sum(t[3] or 0 for t in tasks))
    last_save = time.perf_counter()

    def finish(name: str, res: dict) -> None:
        _record(manifest, result, name, res)
        progress.sources_finished += 1
        progress.failed = len(result.failed)

    def chunk_done(name: str, chunk: tuple[int, int, int], res: dict) -> None:
        state = chunked[name]
        if state["failed"]:
            return
        k, a, b = chunk
        if res.get("error"):
            state["failed"] = True
            for t in [t for t in queue if t[1] == name]:  # its other chunks are moot
                queue.remove(t)
            finish(name, {**res, "error": f"chunk {k} (frames {a}-{b - 1}): {res['error']}"})
            return
        state["results"][k] = res
        if len(state["results"]) == len(state["ranges"]):
            finish(name, _stitch(out, name, state))

    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = min(n, len(tasks))
        board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        # the thread caps also as environment of the worker process, before numpy loads
        worker_cls = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0,
                                runtime_env={"env_vars": {v: "1" for v in THREAD_ENV}}
                                )(BatchWorker)

        def new_actor():
            return worker_cls.remote(board)

        idle = [new_actor() for _ in range(n)]
        actors.extend(idle)
        result.workers = n
        t_first = time.perf_counter()
        while queue or inflight:
            while queue and idle:
                actor = idle.pop()
                task = queue.popleft()
                key, name, src, _, chunk = task
                attempts[key] = attempts.get(key, 0) + 1
                manifest.update(name, attempts=max(attempts[key],
                                                   manifest.sources[name].get("attempts", 0)))
                ref = actor.process.remote(key, name, src.path, str(out), cfg_dict, chunk)
                inflight[ref] = (actor, task)
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=every_s)
            for ref in ready:
                actor, task = inflight.pop(ref)
                key, name, _, _, chunk = task
                try:
                    res = ray.get(ref)
                except lost as e:
                    try:
                        ray.kill(actor, no_restart=True)
                    except Exception:  # noqa: BLE001 - already gone
                        pass
                    actors.remove(actor)
                    fresh = new_actor()
                    actors.append(fresh)
                    idle.append(fresh)
                    if attempts[key] <= retries:
                        log.warning("worker lost on %s (attempt %d of %d): %s; retrying", key,
                                    attempts[key], retries + 1, _short(e))
                        result.retried += 1
                        queue.appendleft(task)
                        continue
                    res = {"error": f"worker lost {attempts[key]} times on this source "
                                    f"({_short(e)})", "frames": 0, "persons": 0,
                           "seconds": 0.0}
                except ray.exceptions.RayTaskError as e:  # a bug outside process_source
                    idle.append(actor)
                    res = {"error": _short(e.cause if e.cause is not None else e),
                           "frames": 0, "persons": 0, "seconds": 0.0}
                else:
                    idle.append(actor)
                finished_frames += res.get("frames", 0)
                if chunk is None:
                    finish(name, res)
                else:
                    chunk_done(name, chunk, res)
            now = time.perf_counter()
            if now - last_save >= SAVE_EVERY_S:
                manifest.save()
                last_save = now
            if on_progress is not None:
                snap = ray.get(board.snapshot.remote())
                running = {t[0] for _, t in inflight.values()}
                progress.running = {
                    k: {"frames": v[0], "expected": v[1], "worker": v[2], "pid": v[3]}
                    for k, v in snap.items() if k in running}
                progress.frames_done = finished_frames + sum(
                    r["frames"] for r in progress.running.values())
                progress.elapsed_s = now - t_start
                on_progress(progress)
        result.process_seconds = time.perf_counter() - t_first
    except KeyboardInterrupt:
        result.interrupted = True
        names = dict.fromkeys(t[1] for t in [t for _, t in inflight.values()] + list(queue))
        for name in names:
            if name in result.done or name in result.failed:
                continue
            manifest.update(name, status="skipped", error="the batch was interrupted "
                            "before this source finished")
            result.unfinished.append(name)
    finally:
        try:
            manifest.save()
        finally:
            for a in actors + ([board] if board is not None else []):
                try:
                    ray.kill(a, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
            if started:
                ray.shutdown()


def _stitch(out: Path, name: str, state: dict) -> dict:
    """Join a chunked source's chunks (:func:`~posekit.batch.chunks.stitch_jsonl`) into
    ``<name>/poses.jsonl`` and write its table part; the source's result dict."""
    from .chunks import stitch_jsonl
    from .table import jsonl_to_table, write_part
    from .worker import JSONL_NAME

    results = [state["results"][k] for k in range(len(state["ranges"]))]
    res = {"frames": 0, "persons": 0, "error": None,
           "seconds": sum(r.get("seconds", 0.0) for r in results),
           "cpu_s": sum(r.get("cpu_s", 0.0) for r in results),
           "max_rss_mb": max((r.get("max_rss_mb") or 0.0) for r in results),
           "worker": ", ".join(sorted({r.get("worker", "") for r in results})),
           "outputs": {"json": f"{name}/{JSONL_NAME}",
                       "table": f"{TABLE_DIR}/{name}.parquet",
                       "chunks": [r["outputs"].get("json") for r in results]},
           "chunks": [list(r) for r in state["ranges"]]}
    try:
        stats = stitch_jsonl([out / r["outputs"]["json"] for r in results], state["ranges"],
                             out / name / JSONL_NAME)
        table = jsonl_to_table(out / name / JSONL_NAME, name)
        write_part(table, out / TABLE_DIR / f"{name}.parquet")
        res.update(frames=stats["frames"], persons=table.num_rows,
                   stitched_tracks=stats["stitched"])
    except PoseKitError as e:
        res["error"] = f"stitching the chunks: {e}"
    return res


def _record(manifest: Manifest, result: BatchResult, name: str, res: dict) -> None:
    fields = {k: res.get(k) for k in ("frames", "persons", "seconds", "cpu_s", "max_rss_mb",
                                      "worker", "outputs", "chunks", "stitched_tracks")
              if k in res}
    if res.get("error"):
        manifest.update(name, status="failed", error=res["error"], finished_at=now_iso(),
                        **fields)
        result.failed[name] = res["error"]
    else:
        manifest.update(name, status="done", error=None, finished_at=now_iso(), **fields)
        result.done.append(name)
        result.frames += int(res.get("frames") or 0)
        result.persons += int(res.get("persons") or 0)
        result.cpu_seconds += float(res.get("cpu_s") or 0.0)
