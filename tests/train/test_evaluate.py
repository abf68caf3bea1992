"""Custom-skeleton evaluation on real labels: perfect and shifted predictions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from posekit.errors import DatasetError
from posekit.train.datasets import read_dataset
from posekit.train.evaluate import evaluate_predictions
from posekit.types import Poses
from tests.conftest import data_path


@pytest.fixture(scope="module")
def mouse():
    ds = read_dataset(data_path("lightning-pose/mirror-mouse-example/CollectedData.csv"))
    return replace(ds, samples=ds.samples[:30])


def _preds(ds, shift_px=(0.0, 0.0), drop=None):
    out = []
    for s in ds.samples:
        kp = s.keypoints + np.asarray(shift_px, np.float32)
        sc = (s.visibility > 0).astype(np.float32)
        if drop is not None:
            kp[:, drop] = np.nan
            sc[:, drop] = 0
        out.append(Poses(kp, sc, ds.skeleton, boxes=s.boxes,
                         person_scores=np.ones(len(kp), np.float32)))
    return out


def test_perfect_predictions(mouse):
    r = evaluate_predictions(mouse, _preds(mouse))
    assert r["oks"]["AP"] == pytest.approx(1.0)
    assert r["pck"] == {"5px": 1.0, "10px": 1.0, "0.1box": 1.0}
    assert r["mean_px_error"] == 0.0 and r["matched"] == r["instances"] == 30
    assert r["labelled_keypoints"] == mouse.n_labelled


def test_shifted_predictions_in_pixels(mouse):
    r = evaluate_predictions(mouse, _preds(mouse, (4.2, 5.6)))      # 7.0 px away
    assert r["mean_px_error"] == pytest.approx(7.0, abs=1e-3)
    assert r["pck"]["5px"] == 0.0 and r["pck"]["10px"] == 1.0
    far = evaluate_predictions(mouse, _preds(mouse, (12.0, 16.0)))  # 20 px away
    assert far["pck"]["10px"] == 0.0 and far["mean_px_error"] == pytest.approx(20.0, abs=1e-3)
    assert far["oks"]["AP"] < r["oks"]["AP"] <= 1.0
    for d in r["per_keypoint"].values():
        assert d["mean_px_error"] is None or d["mean_px_error"] == pytest.approx(7.0, abs=1e-3)


def test_missing_keypoints_and_persons(mouse):
    r = evaluate_predictions(mouse, _preds(mouse, drop=0))
    k0 = mouse.skeleton.keypoints[0]
    assert r["per_keypoint"][k0]["mean_px_error"] is None
    assert r["per_keypoint"][k0]["pck_10px"] == 0.0
    lab0 = r["per_keypoint"][k0]["labelled"]
    assert r["pck"]["10px"] == pytest.approx(1 - lab0 / r["labelled_keypoints"], abs=1e-4)
    none = [Poses.empty(mouse.skeleton)] * len(mouse.samples)
    r = evaluate_predictions(mouse, none)
    assert r["matched"] == 0 and r["pck"]["10px"] == 0.0 and r["oks"]["AP"] == 0.0
    with pytest.raises(DatasetError, match="predictions for"):
        evaluate_predictions(mouse, none[:3])
