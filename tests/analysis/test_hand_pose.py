"""The 27-gesture hand-pose classifier: pose-classification-kit's hands read in image
orientation, the portable JSON form, the shipped classifier on real photos and on the waving
hand of Human-Activity-Recognition/wave.mp4 through ``--analyze hand_gestures``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.analysis import Analyzer
from posekit.analysis.classify import JsonPipeline, PoseClassifier
from posekit.analysis.hand_gestures import (
    HAND_POSE_CLASSIFIER,
    HandGestureDetector,
    hand_pose_classifier,
)
from posekit.errors import ModelError, OutputError
from posekit.models import load_model
from posekit.skeletons import HAND_21
from posekit.train.classifier import (
    HAND_21_KIT,
    ClassifierConfig,
    LabelledPoses,
    read_labelled_poses,
    train_classifier,
)
from posekit.types import Frame
from tests.conftest import data_path

#: The kit's open-hand classes: ``5`` (fingers spread) and ``Stop`` (fingers together).
OPEN_HAND_CLASSES = {"5", "Stop"}
TIPS = [8, 12, 16, 20]          # index to pinky fingertips in HAND_21


@pytest.fixture(scope="module")
def kit_hands():
    return read_labelled_poses(data_path("pose-classification-kit/HandPose_Dataset.csv"))


def test_kit_hands_read_in_image_orientation(kit_hands):
    lp = kit_hands
    assert lp.skeleton is HAND_21 and HAND_21_KIT is HAND_21 and lp.xy.shape == (11204, 21, 2)
    assert len(np.unique(lp.labels)) == 27
    five = lp.xy[lp.labels == "5"]
    # y down: the raised fingertips of an open hand are above (smaller y than) the wrist
    above = (five[:, TIPS, 1] < five[:, [0], 1]).all(axis=1)
    assert above.mean() > 0.95, above.mean()
    # thumbs down ("Dislike"): the thumb tip below the wrist; thumbs up ("Super"): above it
    down = lp.xy[lp.labels == "Dislike"]
    up = lp.xy[lp.labels == "Super"]
    assert (down[:, 4, 1] > down[:, 0, 1]).mean() > 0.9
    assert (up[:, 4, 1] < up[:, 0, 1]).mean() > 0.9
    # the person's right hand, palm to the camera: thumb on the image right of the little finger
    right5 = five[~lp.mirrored[lp.labels == "5"]]
    assert (right5[:, 4, 0] > right5[:, 20, 0]).mean() > 0.95


def test_kit_bodies_read_in_image_orientation():
    lp = read_labelled_poses(data_path("pose-classification-kit/BodyPose_Dataset.csv"))
    stand = lp.xy[lp.labels == "Stand"]
    nose, ankle = stand[:, 0, 1], stand[:, 11, 1]
    ok = np.isfinite(nose) & np.isfinite(ankle)
    assert (nose[ok] < ankle[ok]).mean() > 0.95
    raised = lp.xy[lp.labels == "Stand_RightArmRaised"]
    wr, sh = raised[:, 4, 1], raised[:, 2, 1]          # right wrist above the right shoulder
    ok = np.isfinite(wr) & np.isfinite(sh)
    assert (wr[ok] < sh[ok]).mean() > 0.9


def _subset(lp: LabelledPoses, step: int) -> LabelledPoses:
    ix = np.arange(0, len(lp.labels), step)
    return LabelledPoses(lp.xy[ix], lp.labels[ix], lp.mirrored[ix], lp.skeleton, lp.source,
                         lp.kind)


@pytest.mark.parametrize("estimator", ["logreg", "mlp"])
def test_json_form_matches_scikit_learn(kit_hands, tmp_path, estimator):
    sub = _subset(kit_hands, 8)
    res = train_classifier(sub, tmp_path / f"{estimator}.json",
                           ClassifierConfig(estimator=estimator, cv_folds=2))
    assert not (tmp_path / f"{estimator}.joblib").exists()
    clf = PoseClassifier.load(tmp_path / f"{estimator}.json")
    assert isinstance(clf.pipeline, JsonPipeline) and clf.classes == res.classifier.classes
    assert clf.report["cv"]["accuracy"] == res.report["cv"]["accuracy"]
    xy = kit_hands.xy[3::50]
    mir = kit_hands.mirrored[3::50]
    np.testing.assert_allclose(clf.predict_proba(xy, mir),
                               res.classifier.predict_proba(xy, mir), atol=1e-6)  # float32 features


def test_json_form_errors(kit_hands, tmp_path):
    sub = _subset(kit_hands, 40)
    res = train_classifier(sub, None, ClassifierConfig(estimator="forest", cv_folds=2))
    with pytest.raises(OutputError, match="save as .joblib"):
        res.classifier.save(tmp_path / "forest.json")
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ModelError, match="not a posekit classifier"):
        PoseClassifier.load(tmp_path / "bad.json")
    with pytest.raises(ModelError, match="cannot load classifier"):
        PoseClassifier.load(tmp_path / "missing.json")


def test_shipped_classifier_matches_the_reader(kit_hands):
    assert HAND_POSE_CLASSIFIER.stat().st_size < 1_000_000
    clf = hand_pose_classifier()
    assert len(clf.classes) == 27 and clf.report["mirror_left"]
    assert clf.report["cv"]["accuracy"] > 0.9 and clf.report["samples"] == 11204
    # the file was trained on the data as read today (y down): a flipped reader would disagree
    p = clf.predict_proba(kit_hands.xy, kit_hands.mirrored)
    acc = float((np.asarray(clf.classes)[p.argmax(axis=1)] == kit_hands.labels).mean())
    assert acc > 0.95, acc
    flipped = kit_hands.xy * np.array([1.0, -1.0], np.float32)
    p = clf.predict_proba(flipped, kit_hands.mirrored)
    assert float((np.asarray(clf.classes)[p.argmax(axis=1)] == kit_hands.labels).mean()) < 0.5


def test_open_hand_and_fist_photos():
    model = load_model("hands", mode="image", max_hands=1)
    det = HandGestureDetector(classifier=HAND_POSE_CLASSIFIER)
    try:
        labels = []
        for rel in ("00000.jpg", "00010.jpg", "00030.jpg"):   # open, open, fist (by eye)
            poses = model(cv2.imread(str(data_path("hand-graph-cnn/images/" + rel))))
            assert len(poses) == 1
            det.update(poses, 0.0)
            side = str(poses.extras["handedness"][0])
            st = det.state(0, side)
            assert st["pose_probability"] >= 0.5
            labels.append(st["pose"])
    finally:
        model.close()
    assert labels[0] == "5" and labels[1] == "5"
    assert labels[2] in {"0", "Power_Fist", "Fight_Fist"}
    with pytest.raises(ModelError, match="cannot load classifier"):
        HandGestureDetector(classifier="no_such_classifier.json")


def test_waving_open_palm_on_real_video():
    """``--analyze hand_gestures`` on the ``hands`` model: the waving hand reads as an open
    hand on most frames where a hand is found, and its runs become ``hand_pose`` events."""
    cap = cv2.VideoCapture(str(data_path("Human-Activity-Recognition/wave.mp4")))
    model = load_model("hands", mode="video")
    an = Analyzer("hand_gestures", keep_series=False)
    det = an.plugins[0]
    labels, events = [], []
    try:
        i = 0
        while True:
            ok, img = cap.read()
            if not ok:
                break
            t = i / 10.0          # the clip's 10 fps
            poses = model(Frame(img, index=i, time_s=t))
            events += an.update(poses, t)
            for tid, side, *_ in det.hands_of(poses):
                labels.append(det.state(tid, side)["pose"])
            i += 1
    finally:
        cap.release()
        model.close()
    events += an.finish()
    assert i == 125 and len(labels) >= 8
    share_open = np.mean([lab in OPEN_HAND_CLASSES for lab in labels])
    share_other = np.mean([lab not in OPEN_HAND_CLASSES and lab != "" for lab in labels])
    assert share_open >= 0.6 and share_other <= 0.2, labels
    poses_ev = [e for e in events if e["type"] == "hand_pose"]
    assert poses_ev and all(e["label"] in OPEN_HAND_CLASSES for e in poses_ev)
    assert all(e["classifier"] == HAND_POSE_CLASSIFIER.name and 0.5 <= e["probability"] <= 1
               and e["duration_s"] >= 0.2 for e in poses_ev)
    # the rules without a classifier: no hand_pose events
    assert Analyzer("hand_gestures:none", keep_series=False).plugins[0].classifier is None
