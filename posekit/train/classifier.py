"""Pose classifiers: scikit-learn on normalized keypoint features.

>>> clf = train_classifier("BodyPose_Dataset.csv", "body.joblib").classifier    # doctest: +SKIP
>>> labels, probs = clf.predict_poses(poses)                                      # doctest: +SKIP

Training data (:func:`read_labelled_poses`):

- a CSV of labelled keypoints. The layout of pose-classification-kit (its ``BodyPose`` set:
  ``label, accuracy, x0, y0 ... x24, y24`` in OpenPose BODY_25 order; its ``HandPose`` set:
  ``label, hand, accuracy, x0, y0 ... x20, y20`` in the hand order of OpenPose and MediaPipe)
  is recognised by its header, and its y axis, which points up (the kit's normalization), is
  negated into posekit's image frame (y down); other CSVs name their columns
  ``<keypoint>_x, <keypoint>_y`` (the skeleton is those names), or use ``x0, y0, ...`` with a
  skeleton given. A keypoint at exactly (0, 0) or empty is missing (OpenPose's convention).
- a folder of class folders (``DATA/<class>/*.jpg|*.png|*.mp4``): posekit's own model runs on
  each image, and on every ``every``-th frame of each clip, and the person with the largest
  box is kept (keypoints with score < ``min_score`` missing).

Features (:func:`pose_features`), per pose, with K the feature keypoints:

- **left/right**: a pose flagged as mirrored (a left hand, where the data says which hand) is
  flipped, x -> -x, and its left/right keypoint pairs swapped, so one model serves both sides.
  Body poses keep their sides: classes such as ``Yoga_Tree_left`` / ``Stand_RightArmRaised``
  differ only by side, and the keypoint names (the person's left and right) carry it.
- **translation**: the mean of the present keypoints is the origin;
- **scale**: coordinates are divided by the root-mean-square distance of the present keypoints
  from that origin (scale and image size drop out; y stays down, so orientation is kept);
- **missing keypoints**: coordinates 0 and a missing flag (K flags).

The feature vector is (3K,): x, y of each keypoint, then the K flags. The estimator is a
scikit-learn pipeline (standardization + extra trees by default, or ``"mlp"``, ``"svc"``,
``"logreg"``), its accuracy measured by stratified k-fold cross-validation
(``cross_val_predict``; folds of contiguous rows unless ``cv_shuffle``) with the confusion
matrix. The saved file is a joblib
pickle (load only files you trust), or, with a ``.json`` name, a portable JSON file of the
``mlp`` or ``logreg`` weights (:func:`posekit.analysis.classify.pipeline_to_json`).
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..analysis.classify import CLASSIFIER_FORMAT, DERIVED, PoseClassifier, pose_features
from ..errors import DatasetError, OutputError
from ..skeletons import HAND_21, Skeleton
from .datasets import IMAGE_EXTS, flip_pairs_from_names, skeleton_from_json

log = logging.getLogger(__name__)

_B25 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
        "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
        "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
        "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
        "right_heel")
_B25_EDGES = ((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10),
              (10, 11), (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16),
              (16, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24))
#: OpenPose BODY_25 (openpose/doc/02_output.md, ``POSE_BODY_25_BODY_PARTS``); edges as
#: OpenPose draws them.
BODY_25 = Skeleton("body25", _B25, _B25_EDGES, flip_pairs_from_names(_B25))

#: 21 hand keypoints in OpenPose's and MediaPipe Hands' order: the hands model's own
#: skeleton, ``posekit.skeletons.HAND_21`` (same names, order and edges).
HAND_21_KIT = HAND_21

#: BODY_25 keypoints used as features by default: the ones BlazePose and COCO-17 models also
#: give (OpenPose's feet and mid-points of the feet are left out; ``neck`` and ``mid_hip`` are
#: the shoulders' and hips' midpoints, see :data:`DERIVED`).
BODY25_CORE = _B25[:19]

ESTIMATORS = ("mlp", "svc", "forest", "logreg")


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    """Settings of :func:`train_classifier`.

    Attributes:
        estimator: ``"forest"`` (extra trees, default), ``"mlp"``, ``"svc"`` (RBF SVM) or
            ``"logreg"``.
        cv_folds: stratified cross-validation folds (>= 2).
        cv_shuffle: shuffle before splitting into folds. Off by default: each class's rows
            are cut into contiguous blocks, so poses recorded together (near-identical
            consecutive frames) mostly stay in one fold and the accuracy is not inflated by
            them.
        seed: seed of the folds and the estimator.
        keypoints: feature keypoint names; None for the defaults (:data:`BODY25_CORE` for
            BODY_25 data, every keypoint otherwise).
        min_keypoints: poses with fewer present feature keypoints are dropped.
        model: posekit model for folders of images/clips (``load_model`` name or trained DIR).
        every: for clips, use every N-th frame.
        min_score: for folders, keypoint score below which a keypoint is missing.
    """

    estimator: str = "forest"
    cv_folds: int = 5
    cv_shuffle: bool = False
    seed: int = 0
    keypoints: tuple[str, ...] | None = None
    min_keypoints: int = 4
    model: str = "blazepose"
    every: int = 5
    min_score: float = 0.5

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got "
                             f"{self.estimator!r}")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds must be at least 2, got {self.cv_folds}")
        if self.every < 1 or self.min_keypoints < 1:
            raise ValueError("every and min_keypoints must be at least 1")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")


@dataclass
class LabelledPoses:
    """Poses with class labels: ``xy`` (N, K, 2) float32 (NaN where missing, any unit: the
    features normalize it), ``labels`` (N,) str, ``mirrored`` (N,) bool (a left hand to be
    flipped), ``skeleton`` and where they came from (``source``, ``kind``)."""

    xy: np.ndarray
    labels: np.ndarray
    mirrored: np.ndarray
    skeleton: Skeleton
    source: str
    kind: str


def read_labelled_poses(path: str | os.PathLike, *, skeleton: Skeleton | None = None,
                        config: ClassifierConfig | None = None,
                        progress: Callable[[int, int], None] | None = None) -> LabelledPoses:
    """Read a labelled-keypoint CSV, or run posekit's model over class folders (module doc).

    Raises:
        DatasetError: unknown CSV layout, no rows, no class folders, unreadable files.
    """
    p = Path(path)
    if p.is_dir():
        return _from_folders(p, config or ClassifierConfig(), progress)
    if not p.is_file():
        raise DatasetError(f"classifier data not found: {p}")
    try:
        with open(p, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader)]
            rows = [r for r in reader if r]
    except (OSError, StopIteration, csv.Error) as e:
        raise DatasetError(f"cannot read {p}: {e}") from e
    low = [h.lower() for h in header]
    if "label" not in low:
        raise DatasetError(f"{p}: no 'label' column")
    li = low.index("label")
    hand_i = low.index("hand") if "hand" in low else None
    numbered = [h for h in low if len(h) > 1 and h[0] in "xy" and h[1:].isdigit()]
    if numbered:
        k = len(numbered) // 2
        xcols = [low.index(f"x{i}") for i in range(k)]
        ycols = [low.index(f"y{i}") for i in range(k)]
        kit = (k == 25 and hand_i is None and "accuracy" in low) or (
            k == 21 and hand_i is not None and "accuracy" in low)
        if skeleton is None:
            if not kit:
                raise DatasetError(f"{p}: numbered x/y columns need a skeleton (the "
                                   "pose-classification-kit layouts are recognised)")
            skeleton = BODY_25 if k == 25 else HAND_21_KIT
        elif len(skeleton) != k:
            raise DatasetError(f"{p}: {k} keypoints, the skeleton has {len(skeleton)}")
    else:
        names = [h[:-2] for h in header if h.lower().endswith("_x")]
        if not names:
            raise DatasetError(f"{p}: no keypoint columns (x0, y0, ... or <name>_x, <name>_y)")
        xcols = [header.index(f"{n}_x") for n in names]
        ycols = [header.index(f"{n}_y") for n in names]
        skeleton = skeleton or Skeleton(p.stem, tuple(names), (), flip_pairs_from_names(names))
        kit = False
    n = len(rows)
    xy = np.full((n, len(xcols), 2), np.nan, np.float32)
    labels = np.empty(n, object)
    mirrored = np.zeros(n, bool)
    for i, r in enumerate(rows):
        labels[i] = r[li].strip()
        for j, (cx, cy) in enumerate(zip(xcols, ycols)):
            try:
                x, y = float(r[cx]), float(r[cy])
            except (ValueError, IndexError):
                continue
            if (x, y) != (0.0, 0.0) and np.isfinite(x) and np.isfinite(y):
                xy[i, j] = (x, y)
        if hand_i is not None:
            mirrored[i] = r[hand_i].strip().lower() == "left"
    if n == 0:
        raise DatasetError(f"{p}: no rows")
    if kit:
        xy[..., 1] *= -1.0      # the kit's y points up; posekit's image y points down
    return LabelledPoses(xy, labels.astype(str), mirrored, skeleton, str(p), "csv")


def _from_folders(root: Path, cfg: ClassifierConfig,
                  progress: Callable[[int, int], None] | None) -> LabelledPoses:
    from ..io import VIDEO_EXTS, open_source
    from ..models import load_model

    classes = sorted(d for d in root.iterdir() if d.is_dir())
    files = [(d.name, f) for d in classes for f in sorted(d.iterdir())
             if f.suffix.lower() in IMAGE_EXTS + tuple(VIDEO_EXTS)]
    if not files:
        raise DatasetError(f"{root}: expected class folders holding images or clips")
    xs, labels = [], []
    skeleton = None
    models: dict = {}
    try:
        for n, (label, f) in enumerate(files):
            video = f.suffix.lower() in VIDEO_EXTS
            mode = "video" if video else "image"
            if mode not in models:
                models[mode] = load_model(cfg.model, max_people=5, mode=mode)
            model = models[mode]
            model.reset()                   # a new clip: no tracking state from the last one
            skeleton = model.skeleton
            src = open_source(str(f))
            try:
                for frame in src:
                    if video and frame.index % cfg.every:
                        continue
                    poses = model(frame)
                    if len(poses):
                        b = poses.boxes
                        i = int(np.nanargmax((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))
                        kp = np.array(poses.keypoints[i], np.float32)
                        kp[poses.scores[i] < cfg.min_score] = np.nan
                        xs.append(kp)
                        labels.append(label)
            finally:
                src.close()
            if progress is not None:
                progress(n + 1, len(files))
    finally:
        for m in models.values():
            m.close()
    if not xs:
        raise DatasetError(f"{root}: {cfg.model} found nobody in the images")
    return LabelledPoses(np.stack(xs), np.asarray(labels, str), np.zeros(len(xs), bool),
                         skeleton, str(root), f"folders ({cfg.model})")


def _estimator(name: str, seed: int):
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if name == "mlp":
        est = MLPClassifier(hidden_layer_sizes=(128, 64), alpha=1e-3, max_iter=300,
                            early_stopping=True, random_state=seed)
    elif name == "svc":
        est = SVC(C=10.0, gamma="scale", probability=True, random_state=seed)
    elif name == "forest":
        est = ExtraTreesClassifier(n_estimators=300, n_jobs=-1, random_state=seed)
    else:
        est = LogisticRegression(max_iter=2000, C=10.0)
    return make_pipeline(StandardScaler(), est)


@dataclass
class ClassifierResult:
    """The trained :class:`PoseClassifier`, its report and the file written."""

    classifier: PoseClassifier
    report: dict
    path: Path | None


def train_classifier(data: str | os.PathLike | LabelledPoses, out: str | os.PathLike | None,
                     config: ClassifierConfig | None = None, *,
                     skeleton: Skeleton | str | os.PathLike | None = None,
                     progress: Callable[[int, int], None] | None = None) -> ClassifierResult:
    """Train a pose classifier, cross-validate it and save it to ``out`` (if given).

    The report (also ``out`` with suffix ``.json``; a confusion-matrix plot
    ``<out stem>_confusion.png`` beside it) holds: ``samples`` (kept rows), ``dropped``
    (fewer than ``min_keypoints`` present), ``classes`` with counts, ``cv``: ``accuracy``,
    ``balanced_accuracy``, ``chance`` (the majority class's share), ``folds``,
    ``confusion`` (C, C) counts (rows true, columns predicted) and per-class recall; and
    ``mirror_left``, ``keypoints``, ``config``, ``seconds``.

    Raises:
        DatasetError: unreadable data, fewer than 2 classes, a class with fewer rows than
            folds.
        OutputError: ``out`` cannot be written.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cfg = config or ClassifierConfig()
    sk = (skeleton_from_json(skeleton) if skeleton is not None
          and not isinstance(skeleton, Skeleton) else skeleton)
    lp = data if isinstance(data, LabelledPoses) else read_labelled_poses(
        data, skeleton=sk, config=cfg, progress=progress)
    names = cfg.keypoints or (BODY25_CORE if lp.skeleton.name == "body25"
                              else lp.skeleton.keypoints)
    try:
        idx = [lp.skeleton.index(n) for n in names]
    except KeyError as e:
        raise DatasetError(str(e.args[0])) from None
    xy = lp.xy[:, idx]
    keep = np.isfinite(xy).all(axis=2).sum(axis=1) >= cfg.min_keypoints
    xy, y, mir = xy[keep], lp.labels[keep], lp.mirrored[keep]
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise DatasetError(f"{lp.source}: need at least 2 classes, got {list(classes)}")
    if counts.min() < cfg.cv_folds:
        raise DatasetError(f"{lp.source}: class {classes[counts.argmin()]!r} has "
                           f"{counts.min()} poses, fewer than {cfg.cv_folds} folds")
    pipe = _estimator(cfg.estimator, cfg.seed)
    sel = {old: new for new, old in enumerate(idx)}
    flips = tuple((sel[a], sel[b]) for a, b in lp.skeleton.flip_pairs if a in sel and b in sel)
    feats = pose_features(xy, mir, flips)
    t0 = time.perf_counter()
    folds = StratifiedKFold(cfg.cv_folds, shuffle=cfg.cv_shuffle,
                            random_state=cfg.seed if cfg.cv_shuffle else None)
    pred = cross_val_predict(_estimator(cfg.estimator, cfg.seed), feats, y, cv=folds)
    cm = confusion_matrix(y, pred, labels=classes)
    pipe.fit(feats, y)
    secs = time.perf_counter() - t0
    report = {
        "format": CLASSIFIER_FORMAT, "source": lp.source, "kind": lp.kind,
        "skeleton": lp.skeleton.name, "keypoints": list(names),
        "mirror_left": bool(lp.mirrored.any()),
        "samples": int(len(y)), "dropped": int((~keep).sum()),
        "classes": {str(c): int(n) for c, n in zip(classes, counts)},
        "cv": {"folds": cfg.cv_folds, "shuffled": cfg.cv_shuffle,
               "accuracy": round(float(accuracy_score(y, pred)), 4),
               "balanced_accuracy": round(float(balanced_accuracy_score(y, pred)), 4),
               "chance": round(float(counts.max() / counts.sum()), 4),
               "labels": [str(c) for c in classes], "confusion": cm.tolist(),
               "recall": {str(c): round(float(cm[i, i] / max(cm[i].sum(), 1)), 4)
                          for i, c in enumerate(classes)}},
        "config": asdict(cfg), "seconds": round(secs, 1)}
    clf = PoseClassifier(pipe, lp.skeleton, names, report)
    path = None
    if out is not None:
        path = clf.save(out)
        try:
            plot_confusion(report, Path(out).with_name(Path(out).stem + "_confusion.png"))
        except ImportError as e:
            log.warning("no confusion plot: %s", e)
        except OSError as e:
            raise OutputError(f"cannot write the confusion plot: {e}") from e
    return ClassifierResult(clf, report, path)


def plot_confusion(report: dict, path: Path) -> Path:
    """The cross-validated confusion matrix of a report, row-normalized, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = report["cv"]["labels"]
    cm = np.asarray(report["cv"]["confusion"], np.float64)
    cmn = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(2 + 0.35 * n, 1.5 + 0.35 * n))
    ax.imshow(cmn, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=70, ha="right", fontsize=6)
    ax.set_yticks(range(n), labels, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"CV accuracy {report['cv']['accuracy']:.3f}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def load_classifier(path: str | os.PathLike) -> PoseClassifier:
    """:meth:`PoseClassifier.load`."""
    return PoseClassifier.load(path)


__all__ = ["BODY25_CORE", "BODY_25", "CLASSIFIER_FORMAT", "DERIVED", "ESTIMATORS", "HAND_21_KIT",
           "ClassifierConfig", "ClassifierResult", "LabelledPoses", "PoseClassifier",
           "load_classifier", "pose_features", "read_labelled_poses",
           "train_classifier"]
