"""``--analyze classify:FILE``: a trained pose classifier labels each tracked person per frame.

:class:`PoseClassifier` is what ``posekit train classifier`` (:mod:`posekit.train.classifier`)
writes: a scikit-learn pipeline on normalized keypoint features (:func:`pose_features`), its
feature keypoints, and how to find them in any posekit skeleton. :class:`ClassifyAnalysis`
runs it on every frame and gives one event per tracked person::

    {"type": "pose_class", "track_id": 3, "time_s": 1.24, "label": "Squat",
     "probability": 0.93, "classifier": "body.joblib"}

A person with too few of the classifier's keypoints above the score threshold gets no event.
scikit-learn and joblib are imported when a classifier is loaded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelError, OutputError
from ..skeletons import Skeleton
from ..types import Poses

log = logging.getLogger(__name__)

CLASSIFIER_FORMAT = "posekit.classifier/1"

#: Keypoints formed from others when a model's skeleton lacks them (mean of the sources).
DERIVED: dict[str, tuple[str, ...]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "mid_hip": ("left_hip", "right_hip"),
    "left_big_toe": ("left_foot_index",), "right_big_toe": ("right_foot_index",),
}



def pose_features(xy: np.ndarray, mirrored: np.ndarray | None = None,
                  flip_pairs: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """Normalized pose features (N, 3K) float32 of keypoints ``xy`` (N, K, 2), NaN where
    missing (see the module doc: mirroring of the ``mirrored`` rows with ``flip_pairs``
    swapped, origin at the mean present keypoint, RMS scale, then K missing flags). A pose with
    no present keypoint gives zeros and all flags set."""
    a = np.array(xy, np.float64)
    n, k = a.shape[:2]
    if mirrored is not None and np.any(mirrored):
        m = np.asarray(mirrored, bool)
        a[m, :, 0] *= -1.0
        perm = np.arange(k)
        for i, j in flip_pairs:
            perm[i], perm[j] = j, i
        a[m] = a[m][:, perm]
    present = np.isfinite(a).all(axis=2)
    cnt = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.nansum(np.where(present[..., None], a, 0.0), axis=1) / np.maximum(cnt, 1)[:, None]
        d = a - c[:, None]
        r = np.sqrt(np.nansum(np.where(present, (d ** 2).sum(axis=2), 0.0), axis=1)
                    / np.maximum(cnt, 1))
    r = np.where(r > 1e-9, r, 1.0)
    d = d / r[:, None, None]
    d[~present] = 0.0
    return np.concatenate([d.reshape(n, 2 * k), (~present).astype(np.float64)],
                          axis=1).astype(np.float32)




class PoseClassifier:
    """A trained pose classifier: the scikit-learn pipeline, the feature keypoints and how to
    find them in any posekit skeleton.

    Attributes:
        skeleton: the training data's skeleton.
        keypoints: feature keypoint names (K).
        classes: class labels (C,) in the order of :meth:`predict_proba`'s columns.
        report: the training report (cross-validation, counts, settings).
    """

    def __init__(self, pipeline, skeleton: Skeleton, keypoints: Sequence[str],
                 report: dict | None = None):
        self.pipeline = pipeline
        self.skeleton = skeleton
        self.keypoints = tuple(keypoints)
        self.classes = tuple(str(c) for c in pipeline.classes_)
        self.report = report or {}
        idx = [skeleton.index(n) for n in self.keypoints]
        sel = {old: new for new, old in enumerate(idx)}
        self._flips = tuple((sel[a], sel[b]) for a, b in skeleton.flip_pairs
                            if a in sel and b in sel)

    def features(self, xy: np.ndarray, mirrored: np.ndarray | None = None) -> np.ndarray:
        """Features (N, 3K) of poses ``xy`` (N, K, 2) given in :attr:`keypoints` order."""
        return pose_features(xy, mirrored, self._flips)

    def predict_proba(self, xy: np.ndarray, mirrored: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (N, C) float64 for poses ``xy`` (N, K, 2) (feature keypoints
        order, NaN where missing)."""
        if len(xy) == 0:
            return np.zeros((0, len(self.classes)))
        return self.pipeline.predict_proba(self.features(xy, mirrored))

    def keypoints_from(self, poses, min_score: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """(xy (N', K, 2), mirrored (N',)) of ``poses`` (:class:`~posekit.types.Poses`) in the
        feature keypoints' order, and the index of the instance each row came from (N',).

        Names are matched exactly, then through :data:`DERIVED` (``neck`` as the shoulders'
        midpoint...). A whole-body skeleton with ``left_hand_<name>``/``right_hand_<name>``
        keypoints gives one row per hand for a hand classifier (left hands mirrored); a hand
        skeleton's ``extras["handedness"]`` (``"left"``/``"right"``) marks left hands.
        Keypoints with score < ``min_score`` are missing.

        Raises:
            ModelError: the skeleton provides none of the feature keypoints.
        """
        sk = poses.skeleton
        names = set(sk.keypoints)
        kp = np.array(poses.keypoints, np.float64)
        kp[np.asarray(poses.scores) < min_score] = np.nan
        sides = [("", False)]
        if not any(n in names for n in self.keypoints) and any(
                f"left_hand_{n}" in names for n in self.keypoints):
            sides = [("left_hand_", True), ("right_hand_", False)]
        rows, mir, inst = [], [], []
        hand = poses.extras.get("handedness")
        for prefix, is_left in sides:
            cols = np.full((len(poses), len(self.keypoints), 2), np.nan)
            found = 0
            for j, n in enumerate(self.keypoints):
                full = prefix + n
                if full in names:
                    cols[:, j] = kp[:, sk.index(full)]
                    found += 1
                elif n in DERIVED and all(prefix + s in names for s in DERIVED[n]):
                    cols[:, j] = kp[:, [sk.index(prefix + s) for s in DERIVED[n]]].mean(axis=1)
                    found += 1
            if not found:
                raise ModelError(f"the classifier needs keypoints {', '.join(self.keypoints)}; "
                                 f"{sk.name} has none of them")
            rows.append(cols)
            if prefix:
                mir.append(np.full(len(poses), is_left))
            elif hand is not None and self.report.get("mirror_left"):
                mir.append(np.asarray(hand, str) == "left")
            else:
                mir.append(np.zeros(len(poses), bool))
            inst.append(np.arange(len(poses)))
        return np.concatenate(rows), np.concatenate(mir), np.concatenate(inst)

    def predict_poses(self, poses, min_score: float = 0.5, min_keypoints: int | None = None
                      ) -> tuple[list[str | None], np.ndarray]:
        """Label and probability of each instance of ``poses``: (labels (N,), probabilities
        (N,)); None and 0 where fewer than ``min_keypoints`` feature keypoints are present
        (default the training setting). For whole-body poses with hands, a hand classifier
        gives each instance the more probable of its two hands."""
        need = int(min_keypoints or self.report.get("config", {}).get("min_keypoints", 4))
        labels: list[str | None] = [None] * len(poses)
        probs = np.zeros(len(poses))
        if len(poses) == 0:
            return labels, probs
        xy, mir, inst = self.keypoints_from(poses, min_score)
        ok = np.isfinite(xy).all(axis=2).sum(axis=1) >= need
        if not ok.any():
            return labels, probs
        p = self.predict_proba(xy[ok], mir[ok])
        best = p.argmax(axis=1)
        for row, i in enumerate(inst[ok]):
            pr = float(p[row, best[row]])
            if pr > probs[i]:
                labels[i], probs[i] = self.classes[best[row]], pr
        return labels, probs

    def save(self, path: str | os.PathLike) -> Path:
        """Write the classifier to ``path``: a joblib pickle and its report beside it (suffix
        ``.json``), or, for a ``path`` ending in ``.json``, one portable JSON file (the
        weights, skeleton, keypoints and report; see :func:`pipeline_to_json`), which
        :meth:`load` reads without unpickling.

        Raises:
            OutputError: the files cannot be written, or a ``.json`` path for an estimator
                that has no JSON form.
        """
        import joblib

        p = Path(path)
        if p.suffix.lower() == ".json":
            doc = {"format": CLASSIFIER_FORMAT, "pipeline": pipeline_to_json(self.pipeline),
                   "skeleton": _skeleton_dict(self.skeleton),
                   "keypoints": list(self.keypoints), "report": self.report}
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
            except OSError as e:
                raise OutputError(f"cannot write {p}: {e.strerror or e}") from e
            return p
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            joblib.dump({"format": CLASSIFIER_FORMAT, "pipeline": self.pipeline,
                         "skeleton": _skeleton_dict(self.skeleton),
                         "keypoints": list(self.keypoints), "report": self.report}, p)
            p.with_suffix(".json").write_text(json.dumps(self.report, indent=1))
        except OSError as e:
            raise OutputError(f"cannot write {p}: {e.strerror or e}") from e
        return p

    @classmethod
    def load(cls, path: str | os.PathLike) -> PoseClassifier:
        """Load a classifier written by :meth:`save`: a ``.json`` file (plain data), or a
        joblib pickle (trusted files only).

        Raises:
            ModelError: missing file or another format.
        """
        import joblib

        p = Path(path)
        if p.suffix.lower() == ".json":
            try:
                d = json.loads(p.read_text(encoding="utf-8"))
                if d.get("format") != CLASSIFIER_FORMAT:
                    raise ModelError(f"{p}: not a posekit classifier ({CLASSIFIER_FORMAT})")
                return cls(pipeline_from_json(d["pipeline"]),
                           _skeleton_from_dict(d["skeleton"]), d["keypoints"], d.get("report"))
            except ModelError:
                raise
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
                raise ModelError(f"cannot load classifier {p}: {e}") from e
        try:
            d = joblib.load(p)
        except Exception as e:
            raise ModelError(f"cannot load classifier {p}: {e}") from e
        if not isinstance(d, dict) or d.get("format") != CLASSIFIER_FORMAT:
            raise ModelError(f"{p}: not a posekit classifier ({CLASSIFIER_FORMAT})")
        return cls(d["pipeline"], _skeleton_from_dict(d["skeleton"]), d["keypoints"],
                   d.get("report"))


class JsonPipeline:
    """A classifier read from JSON (:func:`pipeline_from_json`): standardization, then dense
    layers (hidden activation ``relu``, ``tanh``, ``logistic`` or ``identity``), then softmax
    (or the logistic function for two classes), computed with numpy the way scikit-learn's
    ``StandardScaler``, ``MLPClassifier`` and ``LogisticRegression`` compute
    ``predict_proba`` (sklearn/neural_network/_multilayer_perceptron.py ``_forward_pass_fast``,
    sklearn/linear_model/_logistic.py ``predict_proba``).

    Attributes:
        classes_: class labels (C,), the columns of :meth:`predict_proba`.
    """

    _ACT = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "identity": lambda z: z,
            "logistic": lambda z: 1.0 / (1.0 + np.exp(-z))}

    def __init__(self, mean: np.ndarray, scale: np.ndarray,
                 layers: Sequence[tuple[np.ndarray, np.ndarray]], activation: str,
                 classes: Sequence[str]):
        if activation not in self._ACT:
            raise ValueError(f"activation must be one of {', '.join(self._ACT)}, got "
                             f"{activation!r}")
        self.mean = np.asarray(mean, np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
        self.activation = activation
        self.classes_ = np.asarray(classes)
        d = len(self.mean)
        for w, b in self.layers:
            if w.ndim != 2 or w.shape[0] != d or b.shape != (w.shape[1],):
                raise ValueError(f"layer shapes {w.shape}, {b.shape} do not chain from {d}")
            d = w.shape[1]
        if d not in (len(self.classes_), 1) or (d == 1 and len(self.classes_) != 2):
            raise ValueError(f"{d} outputs for {len(self.classes_)} classes")

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (N, C) float64 of features ``x`` (N, F)."""
        z = (np.asarray(x, np.float64) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            z = z @ w + b
            if i < len(self.layers) - 1:
                z = self._ACT[self.activation](z)
        if z.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-z))
            return np.hstack([1.0 - p, p])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]


def pipeline_to_json(pipeline) -> dict:
    """A JSON-ready dict of a fitted ``StandardScaler`` + ``MLPClassifier`` or
    ``LogisticRegression`` pipeline (or a :class:`JsonPipeline`): ``mean``, ``scale`` (F,),
    ``layers`` (``[{"weights": (F_in, F_out), "bias": (F_out,)}]``), ``activation``,
    ``classes``.

    Raises:
        OutputError: another estimator (forests and SVMs have no JSON form: save as .joblib).
    """
    if isinstance(pipeline, JsonPipeline):
        mean, scale, layers, act = (pipeline.mean, pipeline.scale, pipeline.layers,
                                    pipeline.activation)
    else:
        steps = [s for _, s in getattr(pipeline, "steps", [])]
        kinds = [type(s).__name__ for s in steps]
        if len(steps) != 2 or kinds[0] != "StandardScaler" or kinds[1] not in (
                "MLPClassifier", "LogisticRegression"):
            raise OutputError(f"only standardized mlp and logreg classifiers have a JSON form, "
                              f"not {' + '.join(kinds) or type(pipeline).__name__}: save "
                              "as .joblib")
        sc, est = steps
        mean = sc.mean_ if sc.with_mean else np.zeros(sc.n_features_in_)
        scale = sc.scale_ if sc.with_std else np.ones(sc.n_features_in_)
        if kinds[1] == "MLPClassifier":
            layers, act = list(zip(est.coefs_, est.intercepts_)), est.activation
        else:
            layers, act = [(est.coef_.T, est.intercept_)], "identity"
    return {"kind": "dense", "mean": np.asarray(mean).tolist(),
            "scale": np.asarray(scale).tolist(), "activation": act,
            "layers": [{"weights": np.asarray(w).tolist(), "bias": np.asarray(b).tolist()}
                       for w, b in layers],
            "classes": [str(c) for c in pipeline.classes_]}


def pipeline_from_json(d: dict) -> JsonPipeline:
    """The :class:`JsonPipeline` of a :func:`pipeline_to_json` dict.

    Raises:
        ValueError, KeyError: a malformed dict.
    """
    if d.get("kind") != "dense":
        raise ValueError(f"unknown classifier kind {d.get('kind')!r} (expected 'dense')")
    return JsonPipeline(d["mean"], d["scale"],
                        [(ly["weights"], ly["bias"]) for ly in d["layers"]],
                        d["activation"], d["classes"])


def _skeleton_dict(sk: Skeleton) -> dict:
    return {"name": sk.name, "keypoints": list(sk.keypoints),
            "edges": [list(e) for e in sk.edges], "flip_pairs": [list(p) for p in sk.flip_pairs]}


def _skeleton_from_dict(d: dict) -> Skeleton:
    return Skeleton(str(d["name"]), tuple(d["keypoints"]),
                    tuple(tuple(e) for e in d.get("edges", ())),
                    tuple(tuple(p) for p in d.get("flip_pairs", ())))


class ClassifyAnalysis:
    """Per-frame pose classes of tracked persons (``--analyze classify:FILE``).

    ``update(poses, time_s)`` returns one ``pose_class`` event per person (see the module doc;
    ``track_id`` is the tracker's ID, or the person's index without tracking; persons with ID
    -1, a tracker's tentative tracks, are skipped). :attr:`current` holds each track's latest
    ``(label, probability)`` for overlays.

    Args:
        path: a classifier file written by ``posekit train classifier``.
        min_score: keypoint score below which a keypoint counts as missing.
        min_probability: events only where the top class has at least this probability.

    Raises:
        ModelError: the file cannot be loaded.
    """

    name = "classify"

    def __init__(self, path: str | os.PathLike, *, min_score: float = 0.5,
                 min_probability: float = 0.0):
        self.path = Path(path)
        self.classifier = PoseClassifier.load(self.path)
        self.min_score, self.min_probability = float(min_score), float(min_probability)
        self.current: dict[int, tuple[str, float]] = {}
        self.events: list[dict] = []

    def update(self, poses: Poses, time_s: float) -> list[dict]:
        labels, probs = self.classifier.predict_poses(poses, self.min_score)
        ids = (np.arange(len(poses)) if poses.track_ids is None
               else np.asarray(poses.track_ids))
        out = []
        for i, (lab, p) in enumerate(zip(labels, probs)):
            tid = int(ids[i])
            if lab is None or tid < 0 or p < self.min_probability:
                continue
            self.current[tid] = (lab, float(p))
            out.append({"type": "pose_class", "track_id": tid, "time_s": round(float(time_s), 4),
                        "label": lab, "probability": round(float(p), 4),
                        "classifier": self.path.name})
        self.events += out
        return out

    def finish(self) -> list[dict]:
        """Nothing stays open: every event is emitted on its frame."""
        return []


def load_classify(spec: str) -> ClassifyAnalysis:
    """The analysis of an ``--analyze`` entry ``classify:FILE``.

    Raises:
        ModelError: not of that form, or the file cannot be loaded.
    """
    kind, _, path = spec.partition(":")
    if kind.strip().lower() != "classify" or not path.strip():
        raise ModelError(f"expected classify:FILE, got {spec!r}")
    return ClassifyAnalysis(path.strip())


__all__ = ["CLASSIFIER_FORMAT", "DERIVED", "ClassifyAnalysis", "JsonPipeline", "PoseClassifier",
           "load_classify", "pipeline_from_json", "pipeline_to_json", "pose_features"]
