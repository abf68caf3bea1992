"""Native ``face`` against MediaPipe's own legacy solution ``mp.solutions.face_mesh`` (the same
networks through MediaPipe's graph), and its iBUG-68 mapping against labelled faces."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from posekit.errors import ModelError
from posekit.models import load_model
from posekit.skeletons import FACE_468, IBUG_68
from tests.conftest import data_path

AGREE_PX = 0.5           # largest landmark distance to mp.solutions.face_mesh, pixels
N_FACES = 10


def faces(n: int, start: int = 0, step: int = 37):
    """(image, iBUG-68 ground truth (68, 2) pixels) from facial-keypoints."""
    folder = data_path("facial-keypoints")
    with open(folder / "keypoints.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    out = []
    for r in rows[start::step][:n]:
        img = cv2.imread(str(folder / "images" / r[0]))
        assert img is not None, r[0]
        out.append((img, np.asarray(r[1:], np.float64).reshape(68, 2)))
    return out


@pytest.fixture(scope="module")
def native():
    m = load_model("face", mode="image", max_faces=2)
    yield m
    m.close()


@pytest.fixture(scope="module")
def reference():
    mp = pytest.importorskip("mediapipe")
    from posekit.models.mediapipe_tasks import quiet_native_stderr

    with quiet_native_stderr():
        ref = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2)
    yield ref
    ref.close()


def test_landmarks_agree_with_mediapipe(native, reference):
    worst, n_mine, n_ref = 0.0, 0, 0
    for img, _ in faces(N_FACES):
        mine = native(img)
        r = reference.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        h, w = img.shape[:2]
        ref = [np.array([[p.x * w, p.y * h] for p in lm.landmark])
               for lm in (r.multi_face_landmarks or [])]
        n_mine, n_ref = n_mine + len(mine), n_ref + len(ref)
        for p in ref:
            d = np.linalg.norm(mine.keypoints - p[None], axis=2).max(axis=1)
            worst = max(worst, float(d.min()))
    assert n_mine == n_ref >= N_FACES - 1
    assert worst <= AGREE_PX, f"a landmark {worst:.3f} px from mp.solutions.face_mesh"


def test_ibug68_mapping_lands_on_the_labelled_points(native):
    nme = []
    for img, gt in faces(N_FACES, start=5):
        p = native(img)
        assert p.skeleton == FACE_468 and len(p) == 1
        ib = p.to(IBUG_68)
        assert ib.keypoints.shape == (1, 68, 2)
        iod = np.linalg.norm(gt[36] - gt[45])
        nme.append(np.linalg.norm(ib.keypoints[0] - gt, axis=1).mean() / iod)
    # NME normalised by the outer eye corners: 300-W considers > 0.1 a failure
    assert np.median(nme) < 0.1, nme
    # the eyes and the mouth corners are where they should be to 0.1 inter-ocular distance
    img, gt = faces(1, start=5)[0]
    ib = native(img).to(IBUG_68)
    iod = np.linalg.norm(gt[36] - gt[45])
    for j in (36, 39, 42, 45, 48, 54):
        assert np.linalg.norm(ib.keypoints[0, j] - gt[j]) < 0.15 * iod, j


@pytest.mark.parametrize("mode", ["image", "video"])
def test_blank_image_gives_no_face(mode):
    m = load_model("face", mode=mode)
    try:
        for shape in ((480, 640, 3), (128, 128, 3)):
            assert len(m(np.zeros(shape, np.uint8))) == 0
            assert len(m(np.full(shape, 200, np.uint8))) == 0
    finally:
        m.close()


def test_several_faces_in_one_frame(native):
    # two labelled faces side by side in one frame: two faces, each near its own labels
    (a, ga), (b, gb) = faces(2, start=11)
    h = max(a.shape[0], b.shape[0])
    img = np.zeros((h, a.shape[1] + b.shape[1], 3), np.uint8)
    img[:a.shape[0], :a.shape[1]] = a
    img[:b.shape[0], a.shape[1]:] = b
    gb = gb + [a.shape[1], 0]
    p = native(img).to(IBUG_68)
    assert len(p) == 2
    for gt in (ga, gb):
        iod = np.linalg.norm(gt[36] - gt[45])
        err = np.linalg.norm(p.keypoints - gt[None], axis=2).mean(axis=1).min() / iod
        assert err < 0.15, err


def test_video_mode_tracks_faces():
    from posekit.types import Frame

    img, _ = faces(1, start=3)[0]
    m = load_model("face", mode="video", max_faces=1)
    try:
        runs = 0
        for i in range(4):
            p = m(Frame(img, index=i, time_s=i / 30))
            runs += m.last_timings["detector"] > 0
            assert len(p) == 1
        assert runs == 1
    finally:
        m.close()


def test_bad_settings_raise():
    with pytest.raises(ModelError, match="unknown setting"):
        load_model("face", max_face=2)
    with pytest.raises(ModelError, match="detector"):
        load_model("face", detector="long")


def test_video_mode_follows_mediapipe_tracking():
    # face_mesh in video mode tracks from the previous landmarks (face_landmark_landmarks_to_roi:
    # the landmarks' box levelled by landmarks 33 and 263); a tilted face moving across the frame
    mp = pytest.importorskip("mediapipe")
    from posekit.models.mediapipe_tasks import quiet_native_stderr
    from posekit.types import Frame

    face, _ = faces(1, start=40)[0]
    face = cv2.resize(face, None, fx=2.5, fy=2.5)
    rot = cv2.getRotationMatrix2D((face.shape[1] / 2, face.shape[0] / 2), 12, 1.0)
    face = cv2.warpAffine(face, rot, (face.shape[1], face.shape[0]),
                          borderMode=cv2.BORDER_REPLICATE)
    m = load_model("face", mode="video", max_faces=1)
    with quiet_native_stderr():
        ref = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1)
    try:
        for i in range(8):
            img = np.full((700, 760, 3), 90, np.uint8)
            x, y = 40 + 4 * i, 60 + 2 * i
            img[y:y + face.shape[0], x:x + face.shape[1]] = face
            mine = m(Frame(img, index=i, time_s=i / 30.0))
            r = ref.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            assert len(mine) == 1 and r.multi_face_landmarks
            h, w = img.shape[:2]
            theirs = np.array([[p.x * w, p.y * h] for p in r.multi_face_landmarks[0].landmark])
            assert np.linalg.norm(mine.keypoints[0] - theirs, axis=1).max() <= AGREE_PX
    finally:
        ref.close()
        m.close()
