"""``posekit eval``: accuracy of pose models on ground truth, and of trackers on MOT files.

Mounted by ``posekit/cli.py`` as ``app.add_typer(eval_app, name="eval")``. Commands:

- ``posekit eval pose SPEC [SPEC...] --model blazepose --model yolo [--out DIR]
  [--bootstrap N]`` (several models: each also against the first, with a paired bootstrap
  interval); ``pose`` may
  be left out: ``posekit eval coco --model yolo`` is the same (any first word that is not a
  command is taken as a dataset).
- ``posekit eval mot --gt gt.txt --pred pred.txt``.

Errors (unknown dataset, missing extra...) end with one ``error: ...`` line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from ..errors import PoseKitError

EXIT_BAD_INPUT = 2


class _DatasetFirstGroup(TyperGroup):
    """Treats ``posekit eval SPEC ...`` as ``posekit eval pose SPEC ...``."""

    def parse_args(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["pose", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(cls=_DatasetFirstGroup, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False,
                       help="Evaluate pose models on ground truth (COCO AP, PCK, PCKh) or "
                            "tracks on MOTChallenge files. `posekit eval SPEC` = "
                            "`posekit eval pose SPEC`.")


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


@eval_app.command("pose")
def pose(
    specs: list[str] = typer.Argument(..., help="Dataset file (COCO keypoint .json, MPII .json "
                                      "list, LSP joints.mat) or name (coco, tiny_coco_val, "
                                      "lsp, mpii, ...); 'all' for every set found."),
    models: list[str] = typer.Option(["blazepose"], "--model", "-m",
                                     help="Model, repeatable; settings as "
                                     "name:key=value,key=value (e.g. yolo:imgsz=960)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for report.json, "
                                       "plots and worst-case overlays."),
    max_images: int | None = typer.Option(None, "--max-images", min=1,
                                             help="Only the first N images of each set."),
    worst: int = typer.Option(3, "--worst", min=0, help="Worst-case overlays per model."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run the models again even where "
                                  "cached predictions exist."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0,
                                  help="With several models: each against the first, with a "
                                  "90 % paired bootstrap interval over the images (this many "
                                  "resamples; 0: off)."),
) -> None:
    """Run each model on each dataset and print AP, AP50, AR, PCK, ms per image and persons.

    With several models, each is then compared with the first on every dataset: the
    difference of AP and PCK with a 90 % paired bootstrap interval over the images, and
    whether it is more than which images were drawn ("above", "below", "within noise").

    A model that is the folder of a `posekit train keypoints` run is evaluated on its own
    skeleton (OKS AP with its sigmas, PCK@5/10 px and @0.1 box, pixel error per keypoint) on
    any dataset `posekit train` reads (posekit.train.evaluate)."""
    from ..models.trained import is_trained_dir

    if any(is_trained_dir(m) for m in models):
        from ..train.evaluate import eval_cli

        return eval_cli(specs, models, out=out, max_images=max_images, fail=_fail)
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from .report import table_rows
    from .runner import run_eval

    console = Console(stderr=True)
    try:
        with Progress(console=console, transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done)

            report = run_eval(specs, models, out_dir=out, cache=not no_cache,
                              max_images=max_images, n_worst=worst, progress=progress,
                              bootstrap=bootstrap)
    except PoseKitError as e:
        _fail(str(e))
    headers, cells = table_rows(report.rows)
    table = Table(title="posekit eval")
    for h in headers:
        table.add_column(h, justify="left" if h in ("dataset", "model", "metric") else "right")
    for c in cells:
        table.add_row(*c)
    Console().print(table)
    if report.comparisons:
        from .metrics import FEW_IMAGES

        diff = Table(title=f"against the first model: 90 % paired bootstrap over images "
                           f"({report.comparisons[0]['n']} resamples)")
        for h in ("dataset", "model", "baseline", "metric", "difference", "interval",
                  "verdict"):
            diff.add_column(h, justify="right" if h in ("difference", "interval") else "left")
        for c in report.comparisons:
            verdict = c["verdict"] + (f" ({c['n_images']} images)"
                                      if c["n_images"] < FEW_IMAGES else "")
            diff.add_row(c["dataset"], c["model"], c["baseline"], c["metric"],
                         f"{c['difference']:+.3f}", f"[{c['low']:+.3f}, {c['high']:+.3f}]",
                         verdict)
        Console().print(diff)
    for e in report.errors:
        console.print(f"[yellow]skipped[/] {e['model']} on {e['dataset']}: {e['error']}")
    if out is not None:
        console.print(f"report: {out / 'report.json'}")
    if not report.rows:
        raise typer.Exit(EXIT_BAD_INPUT)


@eval_app.command("mot")
def mot(
    gt: Path = typer.Option(..., "--gt", help="MOTChallenge ground truth (gt.txt)."),
    pred: Path = typer.Option(..., "--pred", help="MOTChallenge tracker output."),
    iou: float = typer.Option(0.5, "--iou", min=0.0, max=1.0,
                              help="IoU at which a predicted box matches a GT box."),
) -> None:
    """CLEAR-MOT (MOTA, MOTP) and identity (IDF1) metrics of a tracker's boxes."""
    from rich.console import Console
    from rich.table import Table

    try:
        from .mot import evaluate_mot

        res = evaluate_mot(gt, pred, iou_threshold=iou)
    except PoseKitError as e:
        _fail(str(e))
    table = Table(title=f"MOT: {pred.name} vs {gt.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in res.items():
        table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    Console().print(table)


__all__ = ["eval_app"]
