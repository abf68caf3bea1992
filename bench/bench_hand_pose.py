"""The hand-pose classifier (issue 19): cross-validated accuracy on pose-classification-kit's
27 hand gestures per estimator, the shipped ``posekit/models/hand_pose_kit.json``, and its
agreement on the waving open palm of Human-Activity-Recognition/wave.mp4 (``hands`` and
``holistic`` models, video mode, every frame).

    .venv/bin/python bench/bench_hand_pose.py [--estimators logreg,mlp,forest]

1. ``posekit train classifier HandPose_Dataset.csv`` with each estimator: 5-fold stratified
   CV (contiguous blocks per class), accuracy and balanced accuracy, fit time.
2. wave.mp4: for every hand found, the shipped classifier's label (probability >= 0.5, else
   none); the share read as an open hand (``5`` or ``Stop``), as another class, or as none.

Figures printed here are copied into docs/whole_body.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
KIT = DATA / "pose-classification-kit" / "HandPose_Dataset.csv"
WAVE = DATA / "Human-Activity-Recognition" / "wave.mp4"
OPEN = {"5", "Stop"}


def cv_table(estimators: list[str]) -> None:
    from posekit.train.classifier import ClassifierConfig, read_labelled_poses, train_classifier

    lp = read_labelled_poses(KIT)
    print(f"\n## CV on {KIT.name}: {len(lp.labels)} hands, {len(set(lp.labels))} classes")
    print("| estimator | CV accuracy | balanced | chance | seconds |")
    print("|---|---|---|---|---|")
    for est in estimators:
        t = time.perf_counter()
        r = train_classifier(lp, None, ClassifierConfig(estimator=est)).report
        cv = r["cv"]
        print(f"| {est} | {cv['accuracy']:.4f} | {cv['balanced_accuracy']:.4f} | "
              f"{cv['chance']:.3f} | {time.perf_counter() - t:.1f} |")


def wave_table() -> None:
    import cv2

    from posekit.analysis.hand_gestures import HandGestureDetector, hand_pose_classifier
    from posekit.models import load_model
    from posekit.types import Frame

    clf = hand_pose_classifier()
    print(f"\n## shipped classifier: CV accuracy {clf.report['cv']['accuracy']:.4f} "
          f"({clf.report['config']['estimator']}, {len(clf.classes)} classes)")
    print(f"\n## {WAVE.name}: labels of every hand found (open hand = 5 or Stop)")
    print("| model | frames | hands found | open hand | other class | none (p < 0.5) | "
          "most common |")
    print("|---|---|---|---|---|---|---|")
    for name in ("hands", "holistic"):
        model = load_model(name, mode="video")
        det = HandGestureDetector(classifier=clf)
        cap = cv2.VideoCapture(str(WAVE))
        labels = []
        i = 0
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                poses = model(Frame(img, index=i, time_s=i / 10.0))
                det.update(poses, i / 10.0)
                for tid, side, *_ in det.hands_of(poses):
                    labels.append(det.state(tid, side)["pose"])
                i += 1
        finally:
            cap.release()
            model.close()
        n = max(len(labels), 1)
        op = sum(lab in OPEN for lab in labels)
        none = sum(lab == "" for lab in labels)
        common = ", ".join(f"{k or 'none'} {v}"
                           for k, v in collections.Counter(labels).most_common(4))
        print(f"| {name} | {i} | {len(labels)} | {op / n:.2f} | {(n - op - none) / n:.2f} | "
              f"{none / n:.2f} | {common} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--estimators", default="logreg,mlp,forest")
    a = ap.parse_args()
    cv_table([e for e in a.estimators.split(",") if e])
    wave_table()


if __name__ == "__main__":
    main()
