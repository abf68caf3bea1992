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
        """Write the classifier (joblib) to ``path`` and its report to ``path`` with suffix
        ``.json``.

        Raises:
            OutputError: the files cannot be written.
        """
        import joblib

        p = Path(path)
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
        """Load a classifier written by :meth:`save` (a joblib pickle: trusted files only).

        Raises:
            ModelError: missing file or another format.
        """
        import joblib

        p = Path(path)
        try:
            d = joblib.load(p)
        except Exception as e:
            raise ModelError(f"cannot load classifier {p}: {e}") from e
        if not isinstance(d, dict) or d.get("format") != CLASSIFIER_FORMAT:
            raise ModelError(f"{p}: not a posekit classifier ({CLASSIFIER_FORMAT})")
        return cls(d["pipeline"], _skeleton_from_dict(d["skeleton"]), d["keypoints"],
                   d.get("report"))


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


__all__ = ["CLASSIFIER_FORMAT", "DERIVED", "ClassifyAnalysis", "PoseClassifier",
           "load_classify", "pose_features"]
