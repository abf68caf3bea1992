"""Video jobs: a worker thread with a bounded queue, results written atomically to a folder.

Layout of ``jobs_dir`` (one folder per job, named by its id)::

    jobs_dir/
      .incoming/<id>/      uploads being received (removed on start)
      <id>/job.json        the job's record (state, progress, times), replaced atomically
      <id>/input.mp4       the uploaded video
      <id>/annotated.mp4   results, renamed into place only when the job finished
      <id>/poses.jsonl

A job goes ``queued -> running -> done`` (or ``partial`` / ``failed`` / ``cancelled``). A video
that ends before the frame count its container declares (a cut upload) ends ``partial``: its
results hold every frame that decoded, ``error`` says ``ended at frame 391 of 795`` and
``frames_done`` / ``frames_total`` keep both counts. A full disk fails the job with ``no space
left on device writing annotated.mp4``. Job folders are private (0700, files 0600), and a
finished job is deleted ``retention_s`` seconds after it finished. ``job.json`` is written
with a temporary file and ``os.replace``, so a crash leaves the old or the new record, never a
torn one; the result files appear only complete. When the manager starts it lists every job
folder: finished jobs are served as before, and jobs that were queued or running when the
previous server stopped are marked ``failed`` ("interrupted"), so nothing finished is lost and
nothing unfinished looks finished.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import PoseKitError, SourceError

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "partial", "failed", "cancelled")
FINAL = ("done", "partial", "failed", "cancelled")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
RECORD = "job.json"
VIDEO = "annotated.mp4"
JSONL = "poses.jsonl"
INTERRUPTED = "interrupted: the server stopped before the job finished"


class JobQueueFull(PoseKitError):
    """The job queue holds ``queue_size`` waiting jobs already."""


class PartialJob(PoseKitError):
    """Raised by a runner whose results are in place but cover only part of the input (a
    truncated video): the job ends ``partial`` with this message."""


@dataclass
class JobRecord:
    """What is known about one job (the content of ``job.json``).

    Times are Unix seconds (float); ``fps`` is frames processed per second of wall time;
    ``frames_total`` is the container's frame count (None when it does not say).
    """

    id: str
    state: str = "queued"
    filename: str = ""
    input: str = ""
    size_bytes: int = 0
    created_s: float = field(default_factory=time.time)
    started_s: float | None = None
    finished_s: float | None = None
    frames_done: int = 0
    frames_total: int | None = None
    fps: float = 0.0
    video_fps: float = 0.0
    size_wh: list[int] | None = None
    persons_max: int = 0
    error: str | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d["fps"] = round(self.fps, 2)
        d["progress"] = (round(min(1.0, self.frames_done / self.frames_total), 4)
                         if self.frames_total else (1.0 if self.state == "done" else None))
        return d

    @classmethod
    def from_json(cls, d: dict) -> JobRecord:
        names = set(cls.__dataclass_fields__)
        rec = cls(**{k: v for k, v in d.items() if k in names})
        if rec.state not in STATES or not JOB_ID.match(rec.id):
            raise ValueError(f"bad job record: state {rec.state!r}, id {rec.id!r}")
        return rec


def write_json_atomic(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _Stop(Exception):
    """Raised inside a job's per-frame callback to stop it (cancelled, or server stopping)."""


# A job runner: (record, input path, output folder, on_frame(frames_done, persons)) -> None.
# It writes VIDEO and JSONL into the folder (atomically) or raises.
JobRunner = Callable[[JobRecord, Path, Path, Callable[[int, int], None]], None]


class JobManager:
    """Owns ``jobs_dir``: accepts uploads, runs them one at a time in a worker thread.

    Args:
        jobs_dir: folder for the jobs (created).
        runner: the function that processes one job (see :func:`make_runner`).
        queue_size: most jobs waiting (not counting the running one); :meth:`submit` raises
            :class:`JobQueueFull` beyond it.
        progress_interval_s: how often a running job's ``job.json`` is rewritten (seconds).
        retention_s: finished jobs are deleted this many seconds after they finished (checked
            at start and every ``sweep_interval_s``); None keeps them.
        sweep_interval_s: how often the worker looks for expired jobs while idle (seconds).
    """

    def __init__(self, jobs_dir: str | Path, runner: JobRunner, *, queue_size: int = 4,
                 progress_interval_s: float = 1.0, retention_s: float | None = None,
                 sweep_interval_s: float = 60.0):
        self.dir = Path(jobs_dir)
        self.runner = runner
        self.retention_s = retention_s
        self.sweep_interval_s = sweep_interval_s
        self.queue_size = max(1, int(queue_size))
        self.progress_interval_s = progress_interval_s
        self._q: queue.Queue = queue.Queue()
        self._jobs: dict[str, JobRecord] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: str | None = None

    # ------------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Create the folder, recover the jobs found in it and start the worker thread."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        shutil.rmtree(self.dir / ".incoming", ignore_errors=True)
        self._recover()
        self.sweep()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._work, name="posekit-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the worker: the running job is interrupted and, like the queued ones, marked
        ``failed`` (so a restart finds the same states as after a crash)."""
        self._stopping.set()
        with self._lock:
            for ev in self._cancel.values():
                ev.set()
        self._q.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        with self._lock:
            for rec in self._jobs.values():
                if rec.state in ("queued", "running"):
                    self._finish(rec, "failed", INTERRUPTED)

    def _recover(self) -> None:
        self._jobs.clear()
        for d in sorted(self.dir.iterdir()):
            if not d.is_dir() or not JOB_ID.match(d.name):
                continue
            try:
                rec = JobRecord.from_json(json.loads((d / RECORD).read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as e:
                log.warning("ignoring job folder %s: unreadable %s (%s)", d, RECORD, e)
                continue
            if rec.id != d.name:
                log.warning("ignoring job folder %s: its record names job %s", d, rec.id)
                continue
            if rec.state in ("queued", "running"):
                for p in d.glob(".*"):          # partial outputs of the interrupted run
                    p.unlink(missing_ok=True)
                self._jobs[rec.id] = rec
                self._finish(rec, "failed", INTERRUPTED)
                log.info("job %s was %s when the server stopped: marked failed", rec.id,
                         "queued" if rec.started_s is None else "running")
            else:
                self._jobs[rec.id] = rec

    # -------------------------------------------------------------------------- requests
    def new_upload_dir(self) -> tuple[str, Path]:
        """A fresh job id and a private folder to receive its upload into."""
        job_id = uuid.uuid4().hex
        (self.dir / ".incoming").mkdir(exist_ok=True, mode=0o700)
        d = self.dir / ".incoming" / job_id
        d.mkdir(mode=0o700)
        return job_id, d

    def discard_upload(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def submit(self, rec: JobRecord, upload_dir: Path) -> JobRecord:
        """Queue the job whose input is in ``upload_dir`` (moved into place atomically).

        Raises:
            JobQueueFull: ``queue_size`` jobs are waiting already (the upload is discarded).
        """
        with self._lock:
            waiting = sum(r.state == "queued" for r in self._jobs.values())
            if waiting >= self.queue_size or self._stopping.is_set():
                self.discard_upload(upload_dir)
                raise JobQueueFull(f"the job queue is full ({waiting} waiting); try again later")
            write_json_atomic(upload_dir / RECORD, rec.to_json())
            os.replace(upload_dir, self.dir / rec.id)
            self._jobs[rec.id] = rec
            self._cancel[rec.id] = threading.Event()
            self._q.put(rec.id)
        return rec

    def is_full(self) -> bool:
        """True when ``queue_size`` jobs are waiting already."""
        with self._lock:
            return sum(r.state == "queued" for r in self._jobs.values()) >= self.queue_size

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._jobs.get(job_id) if JOB_ID.match(job_id) else None

    def list_jobs(self) -> list[JobRecord]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda r: r.created_s)

    def result_path(self, job_id: str, name: str) -> Path:
        return self.dir / job_id / name

    def delete(self, job_id: str) -> bool:
        """Forget a job and remove its folder; a queued or running job is cancelled first
        (its folder is removed by the worker once the run stops). False for an unknown id."""
        with self._lock:
            rec = self._jobs.pop(job_id, None) if JOB_ID.match(job_id) else None
            if rec is None:
                return False
            ev = self._cancel.pop(job_id, None)
            if ev is not None:
                ev.set()
            running = self._running == job_id
            rec.state = "cancelled"
        if not running:
            shutil.rmtree(self.dir / job_id, ignore_errors=True)
        return True

    def sweep(self, now: float | None = None) -> list[str]:
        """Delete the finished jobs older than ``retention_s`` (by ``finished_s``); returns
        their ids."""
        if self.retention_s is None:
            return []
        now = time.time() if now is None else now
        with self._lock:
            old = [r.id for r in self._jobs.values() if r.state in FINAL
                   and r.finished_s is not None and now - r.finished_s > self.retention_s]
        gone = [i for i in old if self.delete(i)]
        if gone:
            log.info("deleted %d finished job(s) older than %.0f s", len(gone),
                     self.retention_s)
        return gone

    # ---------------------------------------------------------------------------- worker
    def _save(self, rec: JobRecord) -> None:
        d = self.dir / rec.id
        if d.is_dir():
            try:
                write_json_atomic(d / RECORD, rec.to_json())
            except OSError as e:
                log.error("cannot write the record of job %s: %s", rec.id, e)

    def _finish(self, rec: JobRecord, state: str, error: str | None = None) -> None:
        rec.state = state
        rec.error = error
        rec.finished_s = time.time()
        self._save(rec)

    def _work(self) -> None:
        while True:
            try:
                job_id = self._q.get(timeout=self.sweep_interval_s)
            except queue.Empty:
                self._sweep_quietly()
                continue
            if job_id is None or self._stopping.is_set():
                return
            with self._lock:
                rec = self._jobs.get(job_id)
                ev = self._cancel.get(job_id)
                if rec is None or ev is None or rec.state != "queued":
                    continue                        # deleted while queued
                self._running = job_id
                rec.state = "running"
                rec.started_s = time.time()
                self._save(rec)
            try:
                self._run_one(rec, ev)
            finally:
                with self._lock:
                    self._running = None
                    self._cancel.pop(job_id, None)
                    deleted = job_id not in self._jobs
                if deleted:
                    shutil.rmtree(self.dir / job_id, ignore_errors=True)
            self._sweep_quietly()

    def _sweep_quietly(self) -> None:
        try:
            self.sweep()
        except Exception:  # noqa: BLE001 - never stop the worker over housekeeping
            log.exception("sweeping expired jobs failed")

    def _run_one(self, rec: JobRecord, ev: threading.Event) -> None:
        folder = self.dir / rec.id
        t0 = time.perf_counter()
        last_save = [t0]

        def on_frame(done: int, persons: int) -> None:
            if ev.is_set():
                raise _Stop()
            now = time.perf_counter()
            rec.frames_done = done
            rec.persons_max = max(rec.persons_max, persons)
            rec.fps = done / max(now - t0, 1e-6)
            if now - last_save[0] >= self.progress_interval_s:
                last_save[0] = now
                self._save(rec)

        try:
            self.runner(rec, folder / rec.input, folder, on_frame)
        except _Stop:
            if self._stopping.is_set() and rec.id in self._jobs:
                self._finish(rec, "failed", INTERRUPTED)
            return
        except PartialJob as e:
            log.info("job %s partial: %s", rec.id, e)
            self._finish(rec, "partial", str(e))
            return
        except PoseKitError as e:
            log.info("job %s failed: %s", rec.id, e)
            self._finish(rec, "failed", str(e))
            return
        except Exception as e:
            log.exception("job %s failed", rec.id)
            self._finish(rec, "failed", f"internal error: {type(e).__name__}")
            return
        finally:
            for p in folder.glob(".*.tmp*"):
                p.unlink(missing_ok=True)
        with self._lock:
            if rec.id in self._jobs:
                self._finish(rec, "done")


def make_runner(pipeline_factory: Callable[[], object], *, annotate: bool = True,
                max_pixels: int | None = None) -> JobRunner:
    """The standard job runner: decodes the video, runs the pipeline that
    ``pipeline_factory()`` builds (:func:`posekit.pipeline.build`, as ``posekit run`` does;
    a fresh one per job, so track IDs start as in ``posekit run``), and writes an annotated
    H.264 MP4 and JSON Lines poses (mode 0600) through :func:`posekit.pipeline.run`.

    Raises (inside the worker, recorded as the job's error):
        PartialJob: the video ended before its declared frame count; the results of the
            frames that decoded are in place.
        SourceError: the video cannot be decoded.
        OutputError: the results cannot be written (``no space left on device writing
            annotated.mp4``).
    """
    from ..errors import OutputError
    from ..io import JsonlSink, VideoSink, open_source
    from ..pipeline import annotator, run

    def runner(rec: JobRecord, input_path: Path, folder: Path,
               on_frame: Callable[[int, int], None]) -> None:
        src = open_source(str(input_path))
        info = src.info
        if info.kind != "video":
            src.close()
            raise SourceError(f"not a video: {rec.filename or input_path.name}")
        w, h = info.size_wh or (0, 0)
        if max_pixels is not None and w * h > max_pixels:
            src.close()
            raise SourceError(f"video frames are {w}x{h}, above the pixel limit {max_pixels}")
        rec.frames_total = info.frames
        rec.video_fps = round(info.fps, 3)
        rec.size_wh = [w, h] if w else None
        tmp_video = folder / f".{VIDEO}.tmp.mp4"
        tmp_jsonl = folder / f".{JSONL}.tmp"
        sinks = []

        def named(e: OutputError) -> OutputError:   # the result's name, not the temporary's
            return OutputError(str(e).replace(tmp_video.name, VIDEO)
                               .replace(tmp_jsonl.name, JSONL))
        try:
            pipe = pipeline_factory()
        except BaseException:
            src.close()
            raise
        model = pipe.model
        try:
            if annotate:
                sinks.append(VideoSink(tmp_video, fps=info.fps or 30.0,
                                       size_wh=info.size_wh or (640, 480), mode=0o600))
            sinks.append(JsonlSink(tmp_jsonl, model.skeleton, source=rec.filename,
                                   fps=info.fps, size_wh=info.size_wh, mode=0o600))
        except BaseException as e:
            for s in sinks:
                s.close()
            src.close()
            pipe.close()
            if isinstance(e, OutputError):
                raise named(e) from None
            raise
        count = [0]

        def on_result(r) -> None:
            count[0] += 1
            on_frame(count[0], len(r.poses))

        try:
            summary = run(src, model, sinks, stages=pipe.stages,
                          annotate=annotator(pipe.config) if annotate else None,
                          on_result=on_result)
        except OutputError as e:
            raise named(e) from None
        finally:
            pipe.close()
        if summary.frames == 0:
            raise summary.error or SourceError(
                f"no decodable frame in {rec.filename or input_path.name}")
        rec.frames_done = summary.frames
        if summary.error is None:
            rec.frames_total = summary.frames
        if annotate:
            os.replace(tmp_video, folder / VIDEO)
        os.replace(tmp_jsonl, folder / JSONL)
        if summary.error is not None:      # a cut video: the frames before the cut are kept
            name = rec.filename or input_path.name
            msg = str(summary.error).replace(input_path.name, name)
            raise PartialJob(f"{msg}; the results hold the {summary.frames} frames decoded")

    return runner
