"""Run models on ground-truth sets, cache their predictions, and score them.

>>> from posekit.eval.runner import run_eval
>>> report = run_eval(["coco", "lsp"], ["blazepose-mediapipe", "yolo"], out_dir="eval-out")
...                                                     # doctest: +SKIP

Each model runs in image mode (every image independent) on each image of the set, once: its
predictions are cached in ``<posekit cache>/eval/`` under a key made of the model name, its
settings, the registered factory, the weights' identity where known, posekit's version and the
annotation file's hash, so a second run (another metric, another report) costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, ModelError
from ..skeletons import SKELETONS
from ..types import Frame, Poses
from .datasets import Dataset, load_dataset
from .metrics import coco_ap, default_pck

log = logging.getLogger(__name__)

def eval_config(spec: ModelSpec):
    """The :class:`posekit.config.PipelineConfig` a model is evaluated with: the one that
    ``posekit run FOLDER --coco results.json`` resolves to for image folders (image mode, every
    scored person: AP ranks low-confidence detections last), with the spec's settings on top.
    """
    from ..config import ModelConfig, OutputConfig, PipelineConfig

    own = dict(spec.config)
    model = ModelConfig(name=spec.name, max_people=own.pop("max_people", None),
                        min_score=own.pop("min_score", None), settings=own)
    return PipelineConfig(model=model, outputs=OutputConfig(coco="results.json")
                          ).resolve("images")

_EXTRA_REGISTRY = {"yolo": "posekit.models.yolo:YoloPose",
                   "hybrid": "posekit.models.hybrid:HybridPose"}


def _ensure_registered() -> None:
    """Register ``yolo`` and ``hybrid`` where posekit.models' registry lacks them."""
    from .. import models

    for name, target in _EXTRA_REGISTRY.items():
        if name not in models.available_models():
            models.register(name, target)


# ----------------------------------------------------------------------------------------------
# Model specs

@dataclass(frozen=True)
class ModelSpec:
    """A model name plus settings, written ``name`` or ``name:key=value,key=value``.

    Values are parsed as JSON scalars where they parse (``0.3``, ``true``, ``5``), otherwise kept
    as strings (``weights=/path/x.pt``). ``label`` names the row in reports.
    """

    name: str
    config: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def parse(cls, spec: str | ModelSpec) -> ModelSpec:
        if isinstance(spec, ModelSpec):
            return spec
        name, _, rest = spec.partition(":")
        cfg = []
        for part in filter(None, rest.split(",")):
            key, eq, val = part.partition("=")
            if not eq or not key.strip():
                raise ModelError(f"model setting {part!r} in {spec!r}: expected key=value")
            try:
                v = json.loads(val)
                if not isinstance(v, (int, float, bool, str)) and v is not None:
                    v = val
            except ValueError:
                v = val
            cfg.append((key.strip(), v))
        return cls(name.strip(), tuple(cfg))

    @property
    def label(self) -> str:
        if not self.config:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.config)

    def settings(self) -> dict[str, Any]:
        """The model's settings in evaluation (:func:`eval_config`): those of ``posekit run
        FOLDER --coco``, overridden by the spec's own."""
        m = eval_config(self).model
        return {"mode": "image", "max_people": m.max_people, "min_score": m.min_score,
                **m.settings}


# ----------------------------------------------------------------------------------------------
# Predictions and their cache

@dataclass
class Predictions:
    """One model's output on one dataset: ``poses[i]`` for ``dataset.images[i]``;
    ``times_s`` (n_images,) float64 seconds per model call (image decoding excluded)."""

    model: str
    dataset: str
    poses: list[Poses]
    times_s: np.ndarray
    cached: bool = False


def _weights_identity(settings: dict) -> str:
    w = settings.get("weights")
    if w and Path(str(w)).is_file():
        st = Path(str(w)).stat()
        return f"{Path(str(w)).resolve()}:{st.st_size}:{int(st.st_mtime)}"
    return ""


def _numerics(name: str, settings: dict) -> str:
    """For models that run YOLO with ``bf16=None`` (bfloat16 where the CPU has AMX; see
    ``YoloConfig.bf16``): whether this CPU has AMX and which runtime runs the network (torch's
    and OpenVINO's bfloat16 differ), so float32 and bfloat16 predictions never share a cache
    file. Explicit ``bf16`` values are already part of the settings, and float32 is the same
    in both runtimes (within 1e-4 px)."""
    if ("yolo" not in name and "hybrid" not in name) or settings.get("bf16", False) is not None:
        return ""
    from ..models.yolo import cpu_has_amx, resolve_runtime

    try:
        rt = resolve_runtime(settings.get("runtime", "auto"), weights=settings.get("weights"),
                             device=settings.get("device"))
    except Exception:  # noqa: BLE001 - a bad setting fails later, where the model loads
        rt = "?"
    return f"amx={cpu_has_amx()},rt={rt}"


def _posekit_version() -> str:
    try:
        from importlib.metadata import version

        return version("posekit")
    except Exception:  # noqa: BLE001 - no metadata: a source checkout
        return "dev"


def _code_identity(target: str) -> str:
    """sha1 of the source files of posekit's model package (``posekit/models/*.py`` and
    ``*.json``) for a registered ``module:factory`` inside posekit: a change to a model's code
    or shipped tables gives new cache keys, without a version bump."""
    if not target.startswith("posekit."):
        return ""
    h = hashlib.sha1()
    folder = Path(__file__).resolve().parents[1] / "models"
    for f in sorted([*folder.glob("*.py"), *folder.glob("*.json")]):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def prediction_cache_path(spec: ModelSpec, dataset: Dataset, root: Path | None = None) -> Path:
    """Cache file of ``spec``'s predictions on ``dataset`` (see the module docstring)."""
    from .. import models
    from ..models.assets import cache_dir

    _ensure_registered()
    settings = spec.settings()
    factory = models._REGISTRY.get(spec.name)
    target = factory if isinstance(factory, str) else getattr(factory, "__qualname__", "")
    blob = json.dumps([spec.name, target, sorted(settings.items(), key=lambda kv: kv[0]),
                       _weights_identity(settings), _posekit_version(), dataset.key,
                       dataset.n_images, _numerics(spec.name, settings),
                       _code_identity(str(target))], default=str)
    key = hashlib.sha1(blob.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in spec.name)
    base = root if root is not None else cache_dir() / "eval"
    return base / f"{dataset.name}-{safe}-{key}.npz"


def _save(path: Path, preds: Predictions) -> None:
    import io

    from ..models.assets import atomic_write_bytes

    counts = np.array([len(p) for p in preds.poses], np.int64)
    nonempty = [p for p in preds.poses if len(p)]
    sk = preds.poses[0].skeleton if preds.poses else None
    k = len(sk) if sk else 0
    cat = (lambda f, shape: np.concatenate([getattr(p, f) for p in nonempty])
           if nonempty else np.zeros(shape, np.float32))
    buf = io.BytesIO()
    np.savez_compressed(buf, skeleton=np.array(sk.name if sk else ""), counts=counts,
                        keypoints=cat("keypoints", (0, k, 2)), scores=cat("scores", (0, k)),
                        boxes=cat("boxes", (0, 4)), person_scores=cat("person_scores", (0,)),
                        times_s=preds.times_s)
    atomic_write_bytes(path, buf.getvalue())


def _load(path: Path, spec: ModelSpec, dataset: Dataset) -> Predictions | None:
    try:
        z = np.load(path, allow_pickle=False)
        sk = SKELETONS[str(z["skeleton"])]
        counts = z["counts"]
        if len(counts) != dataset.n_images:
            return None
        ends = np.cumsum(counts)
        poses = []
        for c, e in zip(counts, ends):
            s = slice(e - c, e)
            poses.append(Poses(z["keypoints"][s], z["scores"][s], sk, boxes=z["boxes"][s],
                               person_scores=z["person_scores"][s]))
        return Predictions(spec.label, dataset.name, poses, z["times_s"], cached=True)
    except Exception as e:  # noqa: BLE001 - a stale or damaged cache file is just recomputed
        log.warning("ignoring prediction cache %s: %s", path, e)
        return None


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 BGR; raises DatasetError where the file cannot be decoded."""
    import cv2

    im = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if im is None:
        raise DatasetError(f"cannot decode image {path}")
    return im


def predict(spec: str | ModelSpec, dataset: Dataset, *, cache: bool = True,
            cache_root: Path | None = None, model=None,
            progress: Callable[[int, int], None] | None = None) -> Predictions:
    """Run one model on every image of ``dataset`` (image mode), or read the cached run.

    The model is built by :func:`posekit.pipeline.build` from :func:`eval_config` (as
    ``posekit run FOLDER --coco`` builds it) unless ``model`` is given. One untimed warm-up
    call on the first image precedes the timed calls. ``progress(done, total)`` is called
    after each image.

    Raises:
        ModelError, MissingExtraError: the model cannot be built or fails.
        DatasetError: an image cannot be decoded.
    """
    spec = ModelSpec.parse(spec)
    path = prediction_cache_path(spec, dataset, cache_root)
    if cache and path.is_file():
        got = _load(path, spec, dataset)
        if got is not None:
            return got
    own = model is None
    if own:
        from ..pipeline import build

        _ensure_registered()
        model = build(eval_config(spec), "images").model
    try:
        poses, times = [], []
        for i, im in enumerate(dataset.images):
            image = read_image(im.path)
            frame = Frame(image, index=i, time_s=float(i), source=str(im.path))
            if i == 0:
                model(frame)          # warm-up: lazy initialisation, first-call allocations
                model.reset()
            t0 = time.perf_counter()
            poses.append(model(frame))
            times.append(time.perf_counter() - t0)
            model.reset()
            if progress:
                progress(i + 1, dataset.n_images)
    finally:
        if own:
            model.close()
    preds = Predictions(spec.label, dataset.name, poses, np.asarray(times, np.float64))
    if cache:
        try:
            _save(path, preds)
        except OSError as e:
            log.warning("cannot write prediction cache %s: %s", path, e)
    return preds


# ----------------------------------------------------------------------------------------------
# Scoring

def score(dataset: Dataset, preds: Predictions) -> dict[str, Any]:
    """Metrics of one prediction set: a JSON-ready dict.

    Keys: ``dataset``, ``model``, ``n_images``, ``n_persons`` (annotated), ``n_found`` (persons
    predicted), ``n_matched`` (annotated persons a prediction was matched to for PCK),
    ``ms_per_image`` (mean model time), COCO's ``AP ... ARl`` where OKS is defined (else absent),
    ``pck`` (value of the set's PCK), ``pck_name`` (e.g. ``"PCK@0.2 (bbox)"``), ``per_joint``,
    ``curve`` (``thresholds``, ``values``), ``n_skipped`` (persons without a normaliser).
    """
    row: dict[str, Any] = {"dataset": dataset.name, "model": preds.model,
                           "skeleton": dataset.skeleton.name,
                           "n_images": dataset.n_images, "n_persons": dataset.n_persons,
                           "n_found": int(sum(len(p) for p in preds.poses)),
                           "ms_per_image": float(np.mean(preds.times_s) * 1000.0)
                           if len(preds.times_s) else float("nan")}
    if dataset.has_oks:
        row.update(coco_ap(dataset, preds.poses))
    r = default_pck(dataset, preds.poses)
    name = "PCKh" if r.norm == "head" else "PCK"
    row.update({"pck": r.overall, "pck_name": f"{name}@{r.alpha:g} ({r.norm})",
                "n_matched": r.n_matched, "n_pck_persons": r.n_persons,
                "n_skipped": r.n_skipped, "per_joint": r.per_joint,
                "excluded": list(r.excluded),
                "curve": {"thresholds": r.thresholds.tolist(), "values": r.curve.tolist()}})
    row["_pck"] = r          # for the report (not serialised)
    return row


def worst_images(row: dict, n: int) -> list[int]:
    """Indices of the ``n`` images with the largest fraction of missed GT keypoints at the set's
    PCK threshold (ties: more keypoints first)."""
    r = row["_pck"]
    if r.distances is None or len(r.image_index) == 0:
        return []
    counted = ~np.isnan(r.distances)
    with np.errstate(invalid="ignore"):
        miss = (r.distances > r.alpha) & counted
    stats: dict[int, list[int]] = {}
    for i, m, c in zip(r.image_index, miss.sum(1), counted.sum(1)):
        s = stats.setdefault(int(i), [0, 0])
        s[0] += int(m)
        s[1] += int(c)
    order = sorted(stats, key=lambda i: (-stats[i][0] / max(stats[i][1], 1), -stats[i][1]))
    return [i for i in order if stats[i][0] > 0][:n]


# ----------------------------------------------------------------------------------------------
# The whole comparison

@dataclass
class Report:
    """Rows (one per dataset x model, see :func:`score`), the output folder, and failures."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    out_dir: Path | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    #: each model against the first on each dataset (:func:`compare`)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"rows": [{k: v for k, v in r.items() if not k.startswith("_")}
                         for r in self.rows], "errors": self.errors,
                "comparisons": self.comparisons}


def compare(rows: Sequence[dict[str, Any]], *, n: int = 1000, level: float = 0.9,
            seed: int = 0) -> list[dict[str, Any]]:
    """Each model against the first one evaluated on the same dataset: the difference of AP
    (where defined) and PCK with a paired bootstrap interval over the dataset's images
    (:func:`posekit.eval.metrics.paired_bootstrap`).

    Args:
        rows: :func:`run_eval`'s rows (with their predictions), in evaluation order.
        n, level, seed: as :func:`~posekit.eval.metrics.paired_bootstrap`.
    Returns:
        JSON-ready dicts: ``dataset``, ``model``, ``baseline``, ``metric`` (``"AP"`` or
        ``"PCK"``), ``model_value``, ``baseline_value``, ``difference``, ``low``, ``high``,
        ``level``, ``n``, ``n_images`` and ``verdict`` (``"above"``, ``"below"`` or ``"within
        noise"``).
    """
    from .metrics import paired_bootstrap

    first: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for row in rows:
        name = row["dataset"]
        base = first.setdefault(name, row)
        if base is row:
            continue
        ds = row["_dataset"]
        diffs = paired_bootstrap(ds, row["_preds"].poses, base["_preds"].poses, n=n,
                                 level=level, seed=seed)
        for d in diffs.values():
            out.append({"dataset": name, "model": row["model"], "baseline": base["model"],
                        "metric": d.metric, "model_value": d.a, "baseline_value": d.b,
                        "difference": d.difference, "low": d.low, "high": d.high,
                        "level": d.level, "n": d.n, "n_images": ds.n_images,
                        "verdict": d.verdict})
    return out


def resolve_sets(specs: Sequence[str | Dataset]) -> list[Dataset]:
    """Datasets from names/paths; ``"all"`` expands to every known set present on disk."""
    from .datasets import available_sets

    out: list[Dataset] = []
    for s in specs:
        if isinstance(s, Dataset):
            out.append(s)
        elif s == "all":
            out += [load_dataset(n) for n in available_sets()]
        else:
            out.append(load_dataset(s))
    return out


def run_eval(datasets: Sequence[str | Dataset], models: Sequence[str | ModelSpec], *,
             out_dir: str | Path | None = None, cache: bool = True,
             max_images: int | None = None, n_worst: int = 3,
             progress: Callable[[str, int, int], None] | None = None,
             keep_going: bool = True, bootstrap: int = 0) -> Report:
    """Run every model on every dataset, score, and (with ``out_dir``) write the report.

    With ``bootstrap`` > 0 and several models, each model is also compared with the first on
    every dataset (:func:`compare`, that many resamples; ``Report.comparisons``).

    Writes under ``out_dir``: ``report.json`` (all rows, PCK curves and per-joint values),
    ``<dataset>_per_joint.png``, ``<dataset>_pck_curve.png`` and ``worst/<dataset>_<model>_*.jpg``
    (the ``n_worst`` images with the most missed keypoints, prediction and GT overlaid).

    A model that cannot be built (e.g. a missing extra) is recorded in ``Report.errors`` and
    skipped when ``keep_going``; otherwise the error propagates.
    """
    from . import report as rep

    sets = resolve_sets(datasets)
    if max_images:
        sets = [d.subset(max_images) if d.n_images > max_images else d for d in sets]
    specs = [ModelSpec.parse(m) for m in models]
    out = Path(out_dir) if out_dir is not None else None
    result = Report(out_dir=out)
    for ds in sets:
        for spec in specs:
            cb = (lambda done, total, _l=f"{ds.name} / {spec.label}": progress(_l, done, total)
                  ) if progress else None
            try:
                preds = predict(spec, ds, cache=cache, progress=cb)
            except (ModelError, ImportError) as e:
                if not keep_going:
                    raise
                log.warning("%s on %s: %s", spec.label, ds.name, e)
                result.errors.append({"dataset": ds.name, "model": spec.label, "error": str(e)})
                continue
            row = score(ds, preds)
            row["_preds"] = preds
            row["_dataset"] = ds
            result.rows.append(row)
    if bootstrap > 0 and len(specs) > 1:
        result.comparisons = compare(result.rows, n=bootstrap)
    if out is not None:
        rep.write_report(result, out, n_worst=n_worst)
    return result


__all__ = [
    "compare",
    "eval_config",
    "ModelSpec",
    "Predictions",
    "Report",
    "predict",
    "prediction_cache_path",
    "resolve_sets",
    "run_eval",
    "score",
    "worst_images",
]
