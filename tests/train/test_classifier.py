"""Pose classifier on real pose-classification-kit keypoints; the classify analysis."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.analysis import Analyzer
from posekit.analysis.classify import ClassifyAnalysis, PoseClassifier, pose_features
from posekit.skeletons import COCO_17, Skeleton
from posekit.train.classifier import (
    ClassifierConfig,
    LabelledPoses,
    read_labelled_poses,
    train_classifier,
)
from posekit.types import Poses
from tests.conftest import data_path

#: Held-out accuracy the body classifier must reach: measured 0.97 on this split (20 classes,
#: chance 0.05); the margin leaves room for other scikit-learn versions.
MIN_HELD_OUT_ACCURACY = 0.80


@pytest.fixture(scope="module")
def body():
    lp = read_labelled_poses(data_path("pose-classification-kit/BodyPose_Dataset.csv"))
    train, test = [], []
    for c in np.unique(lp.labels):            # per class: first 70 % train, last 30 % test
        ix = np.flatnonzero(lp.labels == c)
        cut = int(0.7 * len(ix))
        train += list(ix[:cut][::10][:40])
        test += list(ix[cut:][::10][:20])

    def sub(ix):
        ix = np.asarray(ix)
        return LabelledPoses(lp.xy[ix], lp.labels[ix], lp.mirrored[ix], lp.skeleton,
                             lp.source, "csv")
    return lp, sub(train), sub(test)


@pytest.fixture(scope="module")
def trained(body, tmp_path_factory):
    _, train, _ = body
    out = tmp_path_factory.mktemp("clf") / "body.joblib"
    res = train_classifier(train, out, ClassifierConfig(cv_folds=2))
    return res, out


def test_csv_layout_counts(body):
    lp, _, _ = body
    assert lp.xy.shape == (10681, 25, 2) and lp.skeleton.name == "body25"
    assert len(np.unique(lp.labels)) == 20
    # OpenPose's (0, 0) marks a missing keypoint: read as NaN
    assert np.isnan(lp.xy).any() and not ((lp.xy == 0).all(axis=2)).any()


def test_held_out_accuracy_above_chance(body, trained):
    _, _, test = body
    res, out = trained
    clf = PoseClassifier.load(out)
    assert clf.classes == res.classifier.classes and len(clf.classes) == 20
    idx = [test.skeleton.index(n) for n in clf.keypoints]
    p = clf.predict_proba(test.xy[:, idx])
    acc = float((np.asarray(clf.classes)[p.argmax(axis=1)] == test.labels).mean())
    assert acc >= MIN_HELD_OUT_ACCURACY, acc
    rep = res.report
    assert rep["cv"]["chance"] < 0.1 and rep["cv"]["accuracy"] > 0.5
    cm = np.asarray(rep["cv"]["confusion"])
    assert cm.shape == (20, 20) and cm.sum() == rep["samples"]
    assert out.with_suffix(".json").is_file()
    assert out.with_name("body_confusion.png").stat().st_size > 1000


def test_features_translation_scale_mirror():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(4, 21, 2)).astype(np.float32)
    xy[0, 3] = np.nan
    f = pose_features(xy)
    g = pose_features(xy * 3.5 + np.array([100.0, -40.0], np.float32))
    np.testing.assert_allclose(f, g, atol=1e-5)
    assert f[0, 2 * 21 + 3] == 1.0 and f[0, 6] == 0.0 and f[0, 7] == 0.0
    # a left hand (flagged) is mirrored into the right hand's frame
    left = xy * np.array([-1.0, 1.0], np.float32)
    np.testing.assert_allclose(pose_features(left, np.ones(4, bool)), f, atol=1e-5)
    # body poses: flip pairs swap with the mirror
    sk = Skeleton("t", ("left_a", "right_a", "c"), ())
    p = np.array([[[1.0, 0.0], [3.0, 0.0], [2.0, 2.0]]], np.float32)
    m = pose_features(p * np.array([-1.0, 1.0], np.float32), np.ones(1, bool), ((0, 1),))
    assert not np.allclose(m, pose_features(p))
    swapped = p[:, [1, 0, 2]] * np.array([-1.0, 1.0], np.float32)
    np.testing.assert_allclose(pose_features(swapped, np.ones(1, bool), ((0, 1),)),
                               pose_features(p), atol=1e-5)
    assert sk.index("c") == 2


def _as_poses(xy: np.ndarray, skeleton: Skeleton) -> Poses:
    return Poses(xy, np.where(np.isfinite(xy).all(axis=2), 1.0, 0.0), skeleton)


def test_classify_analysis_events_and_derived_keypoints(body, trained):
    _, _, test = body
    res, out = trained
    xy = test.xy[:60] * 200.0 + 300.0                 # pixels: the features do not care
    direct, _ = res.classifier.predict_poses(_as_poses(xy, test.skeleton))
    # the same persons as COCO-17 keypoints: neck and mid_hip formed from shoulders and hips
    coco = np.full((len(xy), 17, 2), np.nan, np.float32)
    for j, name in enumerate(COCO_17.keypoints):
        if name in test.skeleton.keypoints:
            coco[:, j] = xy[:, test.skeleton.index(name)]
    via_coco, probs = res.classifier.predict_poses(_as_poses(coco, COCO_17))
    agree = np.mean([a == b for a, b in zip(direct, via_coco)])
    assert agree >= 0.8, agree
    assert np.all((probs > 0) & (probs <= 1))
    # through the Analyzer's "classify:FILE" entry (the path's case is kept)
    an = Analyzer(f"classify:{out}", keep_series=False)
    poses = _as_poses(coco[:5], COCO_17).replace(track_ids=np.arange(5) + 10)
    events = an.update(poses, 0.5)
    cls = [e for e in events if e["type"] == "pose_class"]
    assert [e["track_id"] for e in cls] == [10, 11, 12, 13, 14]
    assert [e["label"] for e in cls] == via_coco[:5]
    assert all(0 < e["probability"] <= 1 and e["time_s"] == 0.5 for e in cls)
    stage = ClassifyAnalysis(out)
    assert stage.update(Poses.empty(COCO_17), 0.0) == []


def test_bad_input_errors(tmp_path):
    from posekit.errors import DatasetError, ModelError

    f = tmp_path / "x.csv"
    f.write_text("label,x0,y0\na,1,2\n")
    with pytest.raises(DatasetError, match="need a skeleton"):
        read_labelled_poses(f)
    with pytest.raises(ModelError, match="cannot load classifier"):
        PoseClassifier.load(tmp_path / "missing.joblib")
    with pytest.raises(ValueError, match="estimator must be one of"):
        ClassifierConfig(estimator="tree")


def test_class_folders_run_through_the_model(tmp_path):
    """Folders named by class: posekit's BlazePose finds the person in each real image."""
    import os

    imgs = sorted(data_path("lsp_cpm/images").glob("*.jpg"))[:6]
    for i, img in enumerate(imgs):
        d = tmp_path / ("first" if i < 3 else "second")
        d.mkdir(exist_ok=True)
        os.symlink(img, d / img.name)
    lp = read_labelled_poses(tmp_path)
    assert lp.skeleton.name == "blazepose33" and lp.kind == "folders (blazepose)"
    assert len(lp.labels) >= 5 and set(lp.labels) == {"first", "second"}
    assert np.isfinite(lp.xy).all(axis=2).sum(axis=1).min() >= 4
    res = train_classifier(lp, None, ClassifierConfig(cv_folds=2))
    assert res.report["keypoints"] == list(lp.skeleton.keypoints)
    assert res.classifier.classes == ("first", "second")
