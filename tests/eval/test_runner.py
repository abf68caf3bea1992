"""The eval runner, report and CLI with a fake model that returns the ground truth (fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from posekit.eval.datasets import load_dataset
from posekit.eval.runner import ModelSpec, predict, run_eval
from posekit.models import register
from posekit.types import Poses
from tests.conftest import DATA, data_path

COCO_JSON = "mmpose/tests/data/coco/test_coco.json"


class GroundTruthModel:
    """Returns the annotated persons of the image it is given (found by image size and a
    checksum of its pixels), shifted by ``shift`` pixels in x; drops every other person when
    ``drop``."""

    name = "fake-gt"

    def __init__(self, shift: float = 0.0, drop: bool = False, **unused):
        from posekit.eval.runner import read_image

        self.ds = load_dataset("coco", root=DATA)
        self.by_sum = {int(read_image(im.path).sum()): im for im in self.ds.images}
        self.shift, self.drop = shift, drop
        self.skeleton = self.ds.skeleton
        self.last_timings = {}
        self.calls = 0

    def __call__(self, frame):
        self.calls += 1
        im = self.by_sum[int(frame.image.sum())]
        m = im.annotated
        if self.drop:
            m = m & (np.arange(len(m)) % 2 == 0)
        kp = np.where((im.visibility[m] > 0)[..., None], im.keypoints[m], np.nan)
        kp = kp + np.array([self.shift, 0.0])
        return Poses(kp, (im.visibility[m] > 0).astype(np.float32), self.skeleton,
                     boxes=im.boxes[m], person_scores=np.ones(int(m.sum())))

    def reset(self):
        pass

    def close(self):
        pass


@pytest.fixture()
def env(monkeypatch, tmp_path):
    data_path(COCO_JSON)
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("POSEKIT_DATA", str(DATA))
    register("fake-gt", GroundTruthModel)
    return tmp_path


def test_model_spec_parsing():
    s = ModelSpec.parse("yolo:imgsz=960,weights=/x/y.pt,half=true")
    assert s.name == "yolo"
    assert dict(s.config) == {"imgsz": 960, "weights": "/x/y.pt", "half": True}
    # the defaults of `posekit run FOLDER --coco`: every scored person, image mode
    assert s.settings()["imgsz"] == 960 and s.settings()["max_people"] == 100
    assert s.settings()["min_score"] == 0.05 and s.settings()["mode"] == "image"


def test_predictions_are_cached(env):
    ds = load_dataset("coco")
    first = predict("fake-gt", ds)
    assert not first.cached and len(first.poses) == 4 and (first.times_s >= 0).all()
    again = predict("fake-gt", ds)
    assert again.cached
    for a, b in zip(first.poses, again.poses):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.person_scores, b.person_scores)
    other = predict("fake-gt:shift=3", ds)          # other settings: another cache entry
    assert not other.cached
    assert np.nanmax(np.abs(other.poses[0].keypoints - first.poses[0].keypoints - [3, 0])) < 1e-4


def test_run_eval_writes_report_plots_and_overlays(env):
    out = env / "out"
    rep = run_eval(["coco"], ["fake-gt", "fake-gt:drop=true", "no-such-model"], out_dir=out,
                   n_worst=2, bootstrap=200)
    perfect, half = rep.rows
    assert perfect["AP"] == pytest.approx(1.0) and perfect["pck"] == pytest.approx(1.0)
    assert perfect["n_found"] == 12 and perfect["n_persons"] == 12
    assert half["n_found"] < 12 and half["AR"] < 1.0 and half["pck"] < 1.0
    assert rep.errors and rep.errors[0]["model"] == "no-such-model"
    data = json.loads((out / "report.json").read_text())
    assert len(data["rows"]) == 2 and "AP50" in data["rows"][0]
    assert (out / "coco_per_joint.png").stat().st_size > 1000
    assert (out / "coco_pck_curve.png").stat().st_size > 1000
    worst = sorted((out / "worst").glob("coco_fake-gt_drop_*.jpg"))
    assert 1 <= len(worst) <= 2
    assert not list((out / "worst").glob("coco_fake-gt_[0-9].jpg"))   # perfect: nothing missed
    # every other person dropped, against the perfect model: below on both metrics, on every
    # draw of the 4 images (each has a dropped person)
    by = {c["metric"]: c for c in rep.comparisons}
    assert set(by) == {"AP", "PCK"} and len(rep.comparisons) == 2
    for metric, key in (("AP", "AP"), ("PCK", "pck")):
        c = by[metric]
        assert c["model"] == "fake-gt:drop=True" and c["baseline"] == "fake-gt"
        assert c["difference"] == pytest.approx(half[key] - perfect[key])
        assert c["low"] <= c["difference"] <= c["high"] < 0 and c["verdict"] == "below"
        assert c["n"] == 200 and c["n_images"] == 4
    assert data["comparisons"] == json.loads(json.dumps(rep.comparisons))


def _app():
    from posekit.eval.cli import eval_app

    app = typer.Typer()
    app.add_typer(eval_app, name="eval")

    @app.command()
    def version():  # a second top-level command so that "eval" stays a sub-command
        pass

    return app


def test_cli_dataset_first_and_pose_subcommand(env):
    r = CliRunner().invoke(_app(), ["eval", "coco", "--model", "fake-gt", "--worst", "0"])
    assert r.exit_code == 0, r.output
    assert "coco" in r.output and "1.000" in r.output and "12/12" in r.output
    r2 = CliRunner().invoke(_app(), ["eval", "pose", "coco", "-m", "fake-gt", "--worst", "0"])
    assert r2.exit_code == 0 and "12/12" in r2.output
    assert "paired bootstrap" not in r2.output            # one model: nothing to compare


def test_cli_compares_each_model_with_the_first(env):
    r = CliRunner().invoke(_app(), ["eval", "coco", "-m", "fake-gt", "-m", "fake-gt:drop=true",
                                    "--worst", "0", "--bootstrap", "100"],
                           env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "paired bootstrap over images (100 resamples)" in r.output
    rows = [line for line in r.output.splitlines() if "fake-gt:drop=True" in line
            and ("AP" in line or "PCK" in line) and "below" in line]
    assert len(rows) == 2 and all("(4 images)" in line for line in rows), r.output


def test_cli_unknown_dataset_is_one_line(env):
    r = CliRunner().invoke(_app(), ["eval", "nope", "--model", "fake-gt"])
    assert r.exit_code == 2
    assert "error:" in r.output and "Traceback" not in r.output


def test_cli_mot_command(env):
    gt = data_path("tud-campus/gt/gt.txt")
    pytest.importorskip("motmetrics", reason="py-motmetrics is not installed")
    r = CliRunner().invoke(_app(), ["eval", "mot", "--gt", str(gt), "--pred", str(gt)])
    assert r.exit_code == 0, r.output
    assert "mota" in r.output and "1.000" in r.output
