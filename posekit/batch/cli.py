"""``posekit batch``: the typer command over :func:`posekit.batch.runner.run_batch`.

Registered by ``posekit/cli.py`` as ``app.command()(batch)``. Ray, pyarrow and the models are
imported inside the command, so ``posekit --help`` stays fast.

Exit codes: 0 every source done (now or by an earlier run), 1 some sources failed (named on
stderr and in ``DIR/manifest.json``), 2 bad input or every source failed, 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import PoseKitError

EXIT_BAD_INPUT = 2


def _fail(msg: str, code: int = EXIT_BAD_INPUT) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def batch(
    inputs: list[str] = typer.Argument(..., help="Videos, image folders, folders to search, "
                                       "globs (quoted: 'clips/**/*.mp4') or .txt files of "
                                       "paths (one a line)."),
    out: Path = typer.Option(..., "--out", "-o", help="Batch folder: <name>/poses.jsonl per "
                             "source, poses.parquet/ (the table), manifest.json."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster: auto, or "
                                          "ray://host:10001 (default: a local Ray started "
                                          "and stopped for the run)."),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1,
                                          help="Worker processes, one CPU and one inference "
                                          "thread each (default: the cluster's CPUs, or this "
                                          "machine's cores)."),
    retries: int = typer.Option(2, "--retries", min=0, help="How many more times a source "
                                "is handed to a fresh worker when its worker process dies."),
    model_name: str = typer.Option("blazepose", "--model", "-m", help="Model name (see "
                                   "`posekit info`) or a trained model folder."),
    max_people: int | None = typer.Option(None, "--max-people", min=1,
                                             help="Most persons per frame (default 20)."),
    min_score: float | None = typer.Option(None, "--min-score", min=0.0, max=1.0,
                                              help="Person/landmark confidence threshold "
                                              "(default 0.5)."),
    detector: str = typer.Option("model", "--detector", help="Person detector for tracked "
                                 "video: model (the pose model's own tracking, the fast "
                                 "default), yolo (YOLO11n-pose boxes; finds people seen from "
                                 "behind, several times slower on CPU) or auto."),
    track: bool | None = typer.Option(None, "--track/--no-track", help="Stable person IDs "
                                         "(default: on for videos)."),
    smooth: bool = typer.Option(True, "--smooth/--no-smooth", help="One Euro smoothing of "
                                "tracked landmarks."),
    analyze: str | None = typer.Option(None, "--analyze", help="Analyses, comma-separated "
                                          "(as `posekit run`); events go to "
                                          "<name>/events.jsonl."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1,
                                             help="At most this many frames per source."),
    chunk_s: float | None = typer.Option(None, "--chunk-s", min=1.0, help="Split videos "
                                            "longer than this many seconds into chunks run "
                                            "by several workers; track IDs are stitched in "
                                            "the overlaps (docs/batch.md)."),
    overlap_s: float = typer.Option(5.0, "--overlap-s", min=0.0, help="Seconds shared by "
                                    "consecutive chunks, where tracks are matched."),
    force: bool = typer.Option(False, "--force", help="Process every source again, also "
                               "those already done."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Process again the "
                                      "sources that failed in an earlier run (unchanged "
                                      "failed sources are otherwise reported, not retried)."),
    full_hash: bool = typer.Option(False, "--full-hash", help="Hash every byte of each source "
                                   "(default: size and first and last MiB)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run the pipeline over many videos and image folders on Ray; one Parquet table out.

    Resumable: a rerun skips the sources already done with the same content and settings
    (DIR/manifest.json). Query the table with DuckDB, pandas or polars:
    read_parquet('DIR/poses.parquet/*.parquet').
    """
    from ..config import ModelConfig, OutputConfig, PipelineConfig, TrackConfig
    from .runner import run_batch

    try:
        analyses = tuple(a.strip() for a in (analyze or "").split(",") if a.strip())
        config = PipelineConfig(
            model=ModelConfig(name=model_name, max_people=max_people, min_score=min_score),
            track=TrackConfig(enabled=track, detector=detector, smooth=smooth),
            analyses=analyses,
            outputs=OutputConfig(json="poses.jsonl",
                                 events="events.jsonl" if analyses else None),
            max_frames=max_frames)
        with _Progress(quiet) as bar:
            result = run_batch(inputs, out, config, address=address, workers=workers,
                               retries=retries, full_hash=full_hash, force=force,
                               retry_failed=retry_failed, chunk_s=chunk_s,
                               overlap_s=overlap_s, on_progress=bar.update)
    except PoseKitError as e:
        _fail(str(e))
        return
    _print_result(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _print_result(r) -> None:
    echo = lambda s: typer.echo(s, err=True)  # noqa: E731
    for name, err in r.failed.items():
        earlier = " (in an earlier run; --retry-failed to try again)" \
            if name in r.failed_before else ""
        echo(f"failed: {name}: {err}{earlier}")
    for name in r.unfinished:
        echo(f"not finished: {name}")
    echo(f"{len(r.sources)} sources: {len(r.done)} done, {len(r.skipped)} already done, "
         f"{len(r.failed)} failed" + (f", {len(r.unfinished)} not finished" if r.unfinished
                                      else "")
         + (f"; {r.retried} worker losses retried" if r.retried else ""))
    if r.done:
        echo(f"{r.frames} frames, {r.persons} person rows in {r.seconds:.1f} s "
             f"({r.fps:.1f} frames/s end to end, {r.workers} workers)")
    echo(f"-> {r.out_dir}/poses.parquet (table), {r.out_dir}/manifest.json")


class _Progress:
    """Two rich bars: sources finished and frames processed, each with an ETA."""

    def __init__(self, quiet: bool):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.progress = Progress(TextColumn("[bold]{task.description:8s}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
                                 TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), disable=quiet)
        self._sources = self._frames = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, p) -> None:
        if self._sources is None:
            self._sources = self.progress.add_task("sources", total=p.sources_total, note="")
            self._frames = self.progress.add_task("frames", total=p.frames_expected or None,
                                                  note="")
        fps = p.frames_done / p.elapsed_s if p.elapsed_s > 0 else 0.0
        self.progress.update(self._sources, completed=p.sources_finished,
                             note=f"{p.failed} failed" if p.failed else "")
        self.progress.update(self._frames, completed=p.frames_done,
                             total=max(p.frames_expected, p.frames_done) or None,
                             note=f"{fps:.1f}/s")
