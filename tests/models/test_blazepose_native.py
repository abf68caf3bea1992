"""Native BlazePose on LiteRT (``blazepose``) against MediaPipe Tasks (``blazepose-mediapipe``).

Agreement: persons found by both are matched by box IoU > 0.5; for each, the median over the 33
landmarks of the distance between the two backends' landmarks, in pixels of the frame.
PCK@0.2 (torso-normalised): a keypoint is correct when its distance to the annotation is at most
0.2 x the torso diameter (left shoulder to right hip, else right shoulder to left hip), on the
COCO-format sets' single-person images; an image where nobody is found counts as misses.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit.errors import ModelError
from posekit.skeletons import BLAZEPOSE_33, COCO_17
from posekit.types import Frame, box_iou
from tests.conftest import data_path

AGREE_PX = 2.0   # median landmark distance to the reference, pixels

IMAGES = [
    "yolov5/data/images/zidane.jpg",
    "yolov5/data/images/bus.jpg",
    "opencv-doc/messi5.jpg",
    "AlphaPose/examples/demo/1.jpg",
    "openpose/examples/media/COCO_val2014_000000000241.jpg",
    "openpose/examples/media/COCO_val2014_000000000294.jpg",
    "openpose/examples/media/COCO_val2014_000000000328.jpg",
    "openpose/examples/media/COCO_val2014_000000000338.jpg",
    "openpose/examples/media/COCO_val2014_000000000536.jpg",
]

COCO_SETS = [
    ("tiny_coco_dataset/tiny_coco/annotations/person_keypoints_train2017.json",
     "tiny_coco_dataset/tiny_coco/train2017"),
    ("tiny_coco_dataset/tiny_coco/annotations/person_keypoints_val2017.json",
     "tiny_coco_dataset/tiny_coco/val2017"),
    ("kapao-kelvin/data/datasets/coco/annotations/person_keypoints_train2017_mini.json",
     "kapao-kelvin/data/datasets/coco/images/train2017"),
    ("kapao-kelvin/data/datasets/coco/annotations/person_keypoints_val2017_mini.json",
     "kapao-kelvin/data/datasets/coco/images/val2017"),
    ("LiteHrnet/data/coco/annotations/val.json", "LiteHrnet/data/coco/images"),
]


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def native():
    from posekit.models.blazepose import BlazePose

    m = BlazePose(mode="image", heatmaps=True, mask=True)
    yield m
    m.close()


@pytest.fixture(scope="module")
def reference():
    from posekit.models import load_model

    m = load_model("blazepose-mediapipe", mode="image")
    yield m
    m.close()


def read(rel: str) -> np.ndarray:
    img = cv2.imread(str(data_path(rel)))
    assert img is not None, rel
    return img


def matched(mine, ref) -> list[tuple[int, int]]:
    """(i, j) pairs of persons found by both (box IoU > 0.5)."""
    if len(mine) == 0 or len(ref) == 0:
        return []
    o = box_iou(mine.boxes, ref.boxes)
    return [(i, int(o[i].argmax())) for i in range(len(mine)) if o[i].max() > 0.5]


def matched_medians(mine, ref) -> list[float]:
    """Per person found by both: median landmark distance in pixels."""
    return [float(np.median(np.linalg.norm(mine.keypoints[i] - ref.keypoints[j], axis=1)))
            for i, j in matched(mine, ref)]


def video_frames(rel: str, n: int, step: int = 1) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(data_path(rel)))
    out = []
    try:
        i = 0
        while len(out) < n:
            ok, img = cap.read()
            if not ok:
                break
            if i % step == 0:
                out.append(img)
            i += 1
    finally:
        cap.release()
    return out


# ---------------------------------------------------------------------------- agreement

def test_image_mode_agrees_with_mediapipe_on_photos_and_video_frames(native, reference):
    images = [read(r) for r in IMAGES]
    images += video_frames("openpose/examples/media/video.avi", 4, step=50)
    meds, n_mine, n_ref, world, vis = [], 0, 0, 0.0, 0.0
    for img in images:
        mine, ref = native(img), reference(img)
        n_mine, n_ref = n_mine + len(mine), n_ref + len(ref)
        meds += matched_medians(mine, ref)
        for i, j in matched(mine, ref):
            world = max(world, float(np.abs(mine.world[i] - ref.world[j]).max()))
            vis = max(vis, float(np.abs(mine.scores[i] - ref.scores[j]).max()))
    assert len(meds) >= 10 and len(meds) >= 0.9 * n_ref, \
        f"matched {len(meds)} persons; native found {n_mine}, reference {n_ref}"
    worst = max(meds)
    assert np.median(meds) <= AGREE_PX and worst <= AGREE_PX, \
        f"median landmark distance to blazepose-mediapipe: median over {len(meds)} persons " \
        f"{np.median(meds):.3f} px, worst person {worst:.3f} px (limit {AGREE_PX} px)"
    assert world <= 0.01, f"world landmarks differ by up to {world:.4f} m (limit 0.01 m)"
    assert vis <= 0.02, f"visibility differs by up to {vis:.4f} (limit 0.02)"


def test_video_mode_tracks_like_mediapipe_on_one_person_clip():
    """VIDEO mode, one person allowed: both backends crop each frame around the previous frame's
    landmarks (no detector after the first frame). MediaPipe Tasks then smooths a single
    person's landmarks with a One Euro filter (pose_landmarker_graph.cc: ``smooth_landmarks``
    when ``num_poses == 1``); posekit leaves that to its Smoother stage, which uses MediaPipe's
    settings, so the native output goes through it before the comparison."""
    from posekit.models import load_model
    from posekit.models.blazepose import BlazePose
    from posekit.track.smoother import Smoother

    frames = video_frames("mmpose/demo/resources/body3d_demo.mp4", 150)
    ref = load_model("blazepose-mediapipe", mode="video", max_people=1)
    mine = BlazePose(mode="video", max_people=1)
    smoother = Smoother()
    meds, detector_runs = [], 0
    try:
        for i, img in enumerate(frames):
            f = Frame(img, i, i / 50.0)
            poses = mine(f)
            detector_runs += mine.last_timings["detector"] > 0
            poses = smoother.update(poses.replace(track_ids=np.zeros(len(poses), np.int64)),
                                    f.time_s)
            meds += matched_medians(poses, ref(f))
    finally:
        ref.close()
        mine.close()
    assert len(meds) == len(frames), f"matched the person on {len(meds)} of {len(frames)}"
    assert detector_runs == 1, f"detector ran on {detector_runs} frames, expected the first only"
    assert np.median(meds) <= AGREE_PX, \
        f"video mode: median landmark distance to blazepose-mediapipe {np.median(meds):.3f} px " \
        f"over {len(meds)} frames (p90 {np.percentile(meds, 90):.2f} px; limit {AGREE_PX} px)"


def test_video_mode_runs_the_detector_every_few_frames_only():
    from posekit.models.blazepose import BlazePose

    frames = video_frames("mmpose/demo/resources/body3d_demo.mp4", 31)
    m = BlazePose(mode="video", max_people=5, detect_every=3)
    counts, runs = [], 0
    for i, img in enumerate(frames):
        counts.append(len(m(Frame(img, i, i / 50.0))))
        runs += m.last_timings["detector"] > 0
    assert counts == [1] * len(frames), counts
    # the first frame, then every 3rd frame to look for newcomers: 1 + 30 // 3 = 11 runs
    assert runs == 1 + (len(frames) - 1) // 3, f"detector ran on {runs} of {len(frames)} frames"
    assert len(m.tracked_rois) == 1
    m.reset()
    assert len(m.tracked_rois) == 0


def _single_person_images():
    """[(path, gt (17, 3), bbox xyxy)] for images with exactly one annotated person."""
    out = []
    for ann, img_dir in COCO_SETS:
        d = json.loads(data_path(ann).read_text())
        per: dict[int, list] = {}
        for a in d["annotations"]:
            if not a.get("iscrowd", 0) and any(v > 0 for v in a["keypoints"][2::3]):
                per.setdefault(a["image_id"], []).append(a)
        names = {im["id"]: Path(im["file_name"]).name for im in d["images"]}
        for iid, anns in sorted(per.items()):
            if len(anns) == 1:
                x, y, w, h = anns[0]["bbox"]
                out.append((data_path(img_dir) / names[iid],
                            np.array(anns[0]["keypoints"], np.float64).reshape(17, 3),
                            np.array([[x, y, x + w, y + h]])))
    return out


def _pck_counts(poses, gt, box, alpha=0.2) -> tuple[int, int]:
    vis = gt[:, 2] > 0
    if vis[5] and vis[12]:
        torso = np.linalg.norm(gt[5, :2] - gt[12, :2])
    elif vis[6] and vis[11]:
        torso = np.linalg.norm(gt[6, :2] - gt[11, :2])
    else:
        return 0, 0
    if len(poses) == 0:
        return 0, int(vis.sum())
    j = int(box_iou(poses.boxes, box)[:, 0].argmax())
    d = np.linalg.norm(poses.to(COCO_17).keypoints[j] - gt[:, :2], axis=1)
    return int(((d <= alpha * torso) & vis).sum()), int(vis.sum())


def test_pck_on_coco_sets_matches_mediapipe(native, reference):
    items = _single_person_images()
    assert len(items) >= 40, f"only {len(items)} single-person images"
    got = {"native": [0, 0], "reference": [0, 0]}
    for path, gt, box in items:
        img = cv2.imread(str(path))
        for name, m in (("native", native), ("reference", reference)):
            c, n = _pck_counts(m(img), gt, box)
            got[name][0] += c
            got[name][1] += n
    pck = {k: 100.0 * c / n for k, (c, n) in got.items()}
    assert abs(pck["native"] - pck["reference"]) <= 1.0, \
        f"PCK@0.2 on {len(items)} single-person COCO-format images: native " \
        f"{pck['native']:.2f}, blazepose-mediapipe {pck['reference']:.2f} (limit 1 point)"
    assert pck["native"] > 70.0, f"PCK@0.2 {pck['native']:.2f}"


# ---------------------------------------------------------------------------- behaviour

@pytest.mark.parametrize("mode", ["image", "video"])
def test_blank_image_gives_no_person(mode):
    from posekit.models.blazepose import BlazePose

    m = BlazePose(mode=mode, mask=True)
    for i in range(3):
        poses = m(Frame(np.zeros((480, 640, 3), np.uint8), i, i / 30))
        assert len(poses) == 0 and poses.skeleton == BLAZEPOSE_33
        assert poses.world is not None and poses.world.shape == (0, 33, 3)
        assert poses.extras["mask"].shape == (480, 640) and poses.extras["mask"].max() == 0.0


HEATMAP_IMAGE = "LiteHrnet/data/coco/images/02b0a819-27-46026d5e-680f-4cdf-a485-3f0440598fa2.png"


def heatmap_peak_distances(poses, i: int = 0) -> tuple[list[float], float]:
    """For person ``i``'s visible landmarks (visibility >= 0.8) whose heatmap is confident enough
    to refine them (max >= 0.5): distance in frame pixels from the heatmap's peak cell to the
    landmark; and the size of a heatmap cell in frame pixels."""
    hm, to_frame = poses.extras["heatmaps"][i], poses.extras["heatmap_to_frame"][i]
    cell = float(np.hypot(*to_frame[:, 0]))
    out = []
    for k in range(33):
        if poses.scores[i, k] >= 0.8 and hm[k].max() >= 0.5:
            r, c = np.unravel_index(hm[k].argmax(), hm[k].shape)
            out.append(float(np.linalg.norm(to_frame @ np.array([c, r, 1.0])
                                            - poses.keypoints[i, k])))
    return out, cell


def test_heatmap_peaks_lie_on_the_landmarks(native):
    poses = native(read(HEATMAP_IMAGE))
    assert len(poses) == 1
    hm, to_frame = poses.extras["heatmaps"], poses.extras["heatmap_to_frame"]
    assert hm.shape == (1, 33, 64, 64) and hm.dtype == np.float32
    assert to_frame.shape == (1, 2, 3) and 0.0 <= hm.min() and hm.max() <= 1.0
    dist, cell = heatmap_peak_distances(poses)
    assert len(dist) >= 20, f"only {len(dist)} confident visible landmarks"
    assert max(dist) <= cell, \
        f"heatmap peak to landmark: max {max(dist):.1f} px, median {np.median(dist):.1f} px " \
        f"over {len(dist)} landmarks (limit one heatmap cell = {cell:.1f} px)"


def test_mask_covers_the_person(native):
    img = read("opencv-doc/messi5.jpg")
    poses = native(img)
    assert len(poses) == 1
    mask = poses.extras["mask"]
    assert mask.shape == img.shape[:2] and mask.dtype == np.float32
    torso = poses.keypoints[0, [11, 12, 23, 24]].round().astype(int)   # shoulders, hips
    on_torso = mask[torso[:, 1], torso[:, 0]]
    assert (on_torso > 0.9).all(), f"mask on the shoulders and hips: {on_torso}"
    x0, y0, x1, y1 = poses.boxes[0]
    pad = 0.15 * (y1 - y0)    # the top of the head lies above the highest landmark (the eyes)
    x0, y0, x1, y1 = (int(v) for v in (max(x0 - pad, 0), max(y0 - pad, 0), x1 + pad, y1 + pad))
    outside = mask.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() < 0.5, f"mask {outside.max():.2f} outside the person's box + {pad:.0f} px"


def test_render_heatmaps_and_mask(native):
    from posekit.draw_maps import render_heatmaps, render_mask

    img = read("opencv-doc/messi5.jpg")
    poses = native(img)
    out = render_heatmaps(img, poses, joints=[15, 16])
    assert out.shape == img.shape and out.dtype == np.uint8
    changed = np.abs(out.astype(int) - img).sum(axis=2) > 30
    # the colour sits on the wrists, nowhere else
    for k in (15, 16):
        x, y = poses.keypoints[0, k].astype(int)
        assert changed[y - 3:y + 4, x - 3:x + 4].any(), f"no heat at landmark {k}"
    assert changed.mean() < 0.05, f"{changed.mean():.1%} of the image recoloured"
    m = render_mask(img, poses.extras["mask"])
    assert m.shape == img.shape and (m != img).any()
    with pytest.raises(ValueError, match="expected a mask of shape"):
        render_mask(img, np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="heatmaps=True"):
        render_heatmaps(img, poses.replace(extras={}))


def test_external_boxes_run_only_the_landmark_stage(native):
    img = read("yolov5/data/images/zidane.jpg")
    found = native(img)
    assert len(found) == 1
    sky = np.array([20.0, 20.0, 220.0, 120.0])      # a patch of wall: nobody there
    boxes = np.stack([sky, found.boxes[0]])
    poses = native(img, boxes=boxes)
    assert len(poses) == 1 and poses.extras["box_index"].tolist() == [1]
    d = np.median(np.linalg.norm(poses.keypoints[0] - found.keypoints[0], axis=1))
    h = found.boxes[0, 3] - found.boxes[0, 1]
    assert d < 0.03 * h, f"landmarks from the box ROI are {d:.1f} px from the detector " \
                         f"path's (limit 3% of the person's height, {0.03 * h:.1f} px)"
    assert native.last_timings["detector"] == 0.0
    with pytest.raises(ValueError, match=r"expected \(N, 4\)"):
        native(img, boxes=np.zeros((2, 3)))


def test_tiles_find_the_small_pedestrians_of_pets09():
    from posekit.models.blazepose import BlazePose, TileConfig

    img = video_frames("opencv-doc/vtest.avi", 1)[0]
    m = BlazePose(mode="image", max_people=10)
    whole = m.detect(img, tiles=None)
    tiled = m.detect(img, tiles=TileConfig(size=224, overlap=0.25))
    assert len(whole) == 0 and len(tiled) >= 3, (len(whole), len(tiled))
    # person boxes are where people are: 60-130 px tall pedestrians
    heights = tiled.person_boxes()[:, 3] - tiled.person_boxes()[:, 1]
    assert ((heights > 40) & (heights < 250)).all(), heights
    poses = BlazePose(mode="image", max_people=10, tiles=224)(img)
    assert len(poses) >= 3, len(poses)


def test_openvino_and_litert_runtimes_give_the_same_landmarks():
    """The landmark network on OpenVINO (float32, segmentation head cut unless ``mask``,
    batches of up to 4 crops) and on LiteRT, on the same person boxes of real images: same
    persons, landmarks within 0.5 px (median 0.01 px) and world coordinates within 1 mm; the
    mask only where asked for."""
    pytest.importorskip("openvino")
    from posekit.models.blazepose import BlazePose

    lite = BlazePose(mode="image", runtime="litert", max_people=10)
    ov = BlazePose(mode="image", runtime="openvino", max_people=10)
    ov_mask = BlazePose(mode="image", runtime="openvino", mask=True, max_people=10)
    assert (lite.runtime, ov.runtime) == ("litert", "openvino")
    d_px, d_mm = [], []
    for rel in ("yolov5/data/images/zidane.jpg", "yolov5/data/images/bus.jpg",
                "opencv-doc/messi5.jpg"):
        img = read(rel)
        boxes = lite(img).boxes
        assert len(boxes), rel
        # each box twice: OpenVINO runs batches of up to 4 crops, so bus.jpg's persons make a
        # full batch and a partial one, and a crop gives the same landmarks in any batch
        boxes = np.concatenate([boxes, boxes])
        a, b, c = lite(img, boxes=boxes), ov(img, boxes=boxes), ov_mask(img, boxes=boxes)
        assert a.extras["box_index"].tolist() == b.extras["box_index"].tolist() == \
            c.extras["box_index"].tolist(), rel
        d_px.append(np.linalg.norm(a.keypoints - b.keypoints, axis=2).ravel())
        d_mm.append(1000 * np.linalg.norm(a.world - b.world, axis=2).ravel())
        np.testing.assert_allclose(b.keypoints, c.keypoints, atol=1e-3)
        half = len(b) // 2
        np.testing.assert_allclose(b.keypoints[:half], b.keypoints[half:], atol=1e-3)
        assert "mask" not in b.extras and c.extras["mask"].shape == img.shape[:2]
    d_px, d_mm = np.concatenate(d_px), np.concatenate(d_mm)
    assert np.median(d_px) < 0.01 and d_px.max() < 0.5, (np.median(d_px), d_px.max())
    assert d_mm.max() < 1.0, d_mm.max()


def test_openvino_keeps_compiled_networks_in_the_cache(tmp_path, monkeypatch):
    """The landmark network compiled by OpenVINO is written once into ``<cache>/openvino``
    (OpenVINO's model cache) and the next model with the same settings reads it from there:
    the folder gains no new file. The ``.tflite`` converted to OpenVINO's IR is kept in
    ``<cache>/openvino-ir``, so the next model neither converts nor reads it; the landmarks
    are the same. A damaged cached IR is converted again; where the cache cannot be written
    the model still loads and runs."""
    pytest.importorskip("openvino")
    from posekit.models.blazepose import BlazePose

    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    img = read("opencv-doc/messi5.jpg")
    box = np.array([[180.0, 30.0, 420.0, 340.0]])
    first = BlazePose(mode="image", runtime="openvino")(img, boxes=box)
    files = sorted((tmp_path / "openvino").iterdir())
    assert files, "nothing written to the OpenVINO cache"
    irs = sorted(p.suffix for p in (tmp_path / "openvino-ir").iterdir())
    assert irs == [".bin", ".xml"], irs
    model = BlazePose(mode="image", runtime="openvino")
    assert model._lmk._model is None          # compiled from the cached IR, nothing read
    again = model(img, boxes=box)
    assert sorted((tmp_path / "openvino").iterdir()) == files
    assert len(first) == len(again) == 1
    np.testing.assert_allclose(first.keypoints, again.keypoints, atol=1e-4)
    for xml in (tmp_path / "openvino-ir").glob("*.xml"):
        xml.write_text("<net>damaged")                   # converted again, with a warning
    fixed = BlazePose(mode="image", runtime="openvino")(img, boxes=box)
    np.testing.assert_allclose(first.keypoints, fixed.keypoints, atol=1e-4)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("POSEKIT_CACHE", str(blocked))
    third = BlazePose(mode="image", runtime="openvino")(img, boxes=box)
    np.testing.assert_allclose(first.keypoints, third.keypoints, atol=1e-4)


def test_bad_settings_raise():
    from posekit.models.blazepose import BlazePose, BlazePoseConfig

    with pytest.raises(ModelError, match="mode must be"):
        BlazePoseConfig(mode="stream")
    with pytest.raises(ModelError, match="max_people"):
        BlazePoseConfig(max_people=0)
    with pytest.raises(ModelError, match="tiles must be"):
        BlazePoseConfig(tiles="big")
    with pytest.raises(ModelError, match="min_score"):
        BlazePose(min_score=2.0)
    with pytest.raises(ModelError, match="runtime must be one of"):
        BlazePose(runtime="tensorrt")


def test_registry_loads_the_native_backend():
    from posekit.models import load_model
    from posekit.models.blazepose import BlazePose

    m = load_model("blazepose", mode="image", max_people=2)
    assert isinstance(m, BlazePose) and m.config.max_people == 2


def test_flip_augmentation_is_mirror_symmetric(native):
    """With ``flip`` the landmark stage gives the same person on a frame and on its mirror
    image (mirrored back): each of its two passes sees, pixel for pixel, the crop the other
    sees on the mirror image, so any slip in mapping the mirrored crop back (the one-pixel
    offset of a 256-pixel crop, a left/right swap) shows here. Without ``flip`` the network
    alone is not symmetric (medians of several pixels on zidane.jpg)."""
    from posekit.models.blazepose import _MIRROR, _Timer

    img = read("yolov5/data/images/zidane.jpg")
    w = img.shape[1]
    roi = native.detect(img).rois[:1]
    assert len(roi) == 1 and abs(roi[0, 3]) > 0.1          # a rotated ROI
    # the ROI whose crop of the mirror image is the plain crop mirrored: centre mirrored
    # (x -> W - 1 - x, OpenCV's pixel centres) and moved one crop pixel along the ROI's x axis
    k = roi[:, 2] / 256
    mirrored = np.stack([w - 1 - roi[:, 0] + k * np.cos(roi[:, 3]),
                         roi[:, 1] - k * np.sin(roi[:, 3]), roi[:, 2], -roi[:, 3]], axis=1)
    mirror_img = np.ascontiguousarray(img[:, ::-1])
    d = {}
    for flip in (False, True):
        a = native._landmarks(img, roi, _Timer(), heatmaps=False, mask=False, flip=flip)
        b = native._landmarks(mirror_img, mirrored, _Timer(), heatmaps=False, mask=False,
                              flip=flip)
        back = b["xy"][:, _MIRROR].copy()
        back[..., 0] = w - 1 - back[..., 0]
        d[flip] = np.linalg.norm(a["xy"][0, :33] - back[0, :33], axis=1)    # pixels
        if flip:
            assert abs(a["flag"][0] - b["flag"][0]) < 1e-3
            np.testing.assert_allclose(a["world"][0, :, 1:], b["world"][0, _MIRROR[:33], 1:],
                                       atol=0.02)                          # metres
    assert np.median(d[False]) > 3.0                 # the network alone is not symmetric
    assert np.median(d[True]) < 0.5 and np.percentile(d[True], 90) < 2.0, d[True]
