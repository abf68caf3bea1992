"""Hands, face and holistic: posekit's native models against MediaPipe's legacy solutions.

Prints, in one run, on the same images and taking turns image by image (the order of the two
alternates, so drifting CPU load hits both alike):

- hands (``../shared/data/hand-graph-cnn``, 291 real 256x256 hand crops, 21 joints projected
  from the 3D ground truth as its SOURCE.md says): posekit ``hands`` against
  ``mp.solutions.hands`` (``model_complexity`` 1 and 0: the same full / lite networks), both
  in image mode with
  one hand per image: end-point error (EPE, pixels, mean over the joints of the hands found),
  PCK@0.1 of the hand box (a joint is correct within 0.1 x the longer side of the box around
  the 21 ground-truth joints; a hand not found counts as 21 misses), hands found, ms per image;
- face (``../shared/data/facial-keypoints``, 385 faces with 68 iBUG points): posekit ``face``
  mapped to iBUG 68 (``poses.to(IBUG_68)``) against ``mp.solutions.face_mesh`` mapped the same
  way: NME normalised by the outer eye corners (points 36 and 45), the failure rate (NME > 0.1,
  or no face found), faces found, ms per image;
- holistic on multi-person photos: persons with at least one hand / with a face, posekit
  ``holistic`` (body ``hybrid``: YOLO persons) against ``mp.solutions.holistic`` (one person by
  design), and posekit's cost per person and per part.

Usage: ``python bench/bench_whole_body.py [--limit N] [--runtime auto|openvino|litert]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

from posekit.models import load_model  # noqa: E402
from posekit.models.mediapipe_tasks import quiet_native_stderr  # noqa: E402
from posekit.skeletons import FACE_468, IBUG_68  # noqa: E402
from posekit.types import Poses  # noqa: E402

HOLISTIC_IMAGES = ["yolov5/data/images/zidane.jpg", "yolov5/data/images/bus.jpg",
                   "opencv-doc/messi5.jpg", "AlphaPose/examples/demo/1.jpg",
                   "AlphaPose/examples/demo/2.jpg", "AlphaPose/examples/demo/3.jpg"]


def hand_data(limit: int | None):
    """(image path, ground truth (21, 2) crop pixels) of hand-graph-cnn (SOURCE.md's
    projection: u = fx X / Z + u0 in the camera frame, then (u - x) 256 / w in the crop)."""
    import scipy.io as sio

    folder = DATA / "hand-graph-cnn"
    params = sio.loadmat(folder / "params.mat")
    gt3 = sio.loadmat(folder / "pose_gt.mat")["pose_gt"]
    cam, bbox = params["cam_param"], params["bbox"]
    out = []
    for i in range(len(gt3)):
        fx, fy, u0, v0 = cam[i]
        x, y, w, h = bbox[i]
        X, Y, Z = gt3[i].T
        u = (fx * X / Z + u0 - x) * 256.0 / w
        v = (fy * Y / Z + v0 - y) * 256.0 / h
        out.append((folder / "images" / f"{i:05d}.jpg", np.stack([u, v], axis=1)))
    return out[:limit]


def face_data(limit: int | None):
    """(image path, ground truth (68, 2) pixels) of facial-keypoints/keypoints.csv."""
    folder = DATA / "facial-keypoints"
    out = []
    with open(folder / "keypoints.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    for r in rows:
        out.append((folder / "images" / r[0], np.asarray(r[1:], np.float64).reshape(68, 2)))
    return out[:limit]


def mp_points(landmark_lists, shape_hw) -> list[np.ndarray]:
    h, w = shape_hw
    return [np.array([[p.x * w, p.y * h] for p in lm.landmark]) for lm in landmark_lists or []]


def timed(fn, *a):
    t0 = time.perf_counter()
    r = fn(*a)
    return r, time.perf_counter() - t0


def bench_hands(runtime: str, limit: int | None, complexity: int = 1) -> list[str]:
    import mediapipe as mp

    data = hand_data(limit)
    mine = load_model("hands", mode="image", max_hands=1, runtime=runtime,
                      complexity=complexity)
    with quiet_native_stderr():
        ref = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1,
                                       model_complexity=complexity)
    stats = {"posekit hands": [[], [], 0, []], "mp.solutions.hands": [[], [], 0, []]}
    for j, (path, gt) in enumerate(data):
        img = cv2.imread(str(path))
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        runs = [("posekit hands", lambda img=img: mine(img).keypoints),
                ("mp.solutions.hands", lambda img=img, rgb=rgb: mp_points(
                    ref.process(rgb).multi_hand_landmarks, img.shape[:2]))]
        if j % 2:
            runs.reverse()
        side = np.ptp(gt, axis=0).max()
        for name, fn in runs:
            pts, dt = timed(fn)
            s = stats[name]
            s[3].append(dt)
            if len(pts) == 0:
                s[1].append(np.zeros(21, bool))
                continue
            err = np.linalg.norm(np.asarray(pts[0]) - gt, axis=1)
            s[0].append(err.mean())
            s[1].append(err <= 0.1 * side)
            s[2] += 1
    ref.close()
    mine.close()
    lines = [f"hands: hand-graph-cnn, {len(data)} images, one hand each, model complexity "
             f"{complexity} ({'full' if complexity else 'lite'} networks)",
             f"  {'model':<22}{'EPE px':>8}{'PCK@0.1':>9}{'found':>9}{'ms/img':>9}"]
    for name, (epe, pck, found, ts) in stats.items():
        lines.append(f"  {name:<22}{np.mean(epe):8.2f}{np.concatenate(pck).mean():9.3f}"
                     f"{found:>5d}/{len(data):<3d}{1000 * np.mean(ts):9.1f}")
    return lines


def to_ibug(pts468: np.ndarray) -> np.ndarray:
    p = Poses(pts468[None].astype(np.float32), np.ones((1, 468)), FACE_468)
    return p.to(IBUG_68).keypoints[0].astype(np.float64)


def bench_face(runtime: str, limit: int | None) -> list[str]:
    import mediapipe as mp

    data = face_data(limit)
    mine = load_model("face", mode="image", max_faces=1, runtime=runtime)
    with quiet_native_stderr():
        ref = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)
    stats = {"posekit face": [[], 0, []], "mp.solutions.face_mesh": [[], 0, []]}
    for j, (path, gt) in enumerate(data):
        img = cv2.imread(str(path))
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        runs = [("posekit face", lambda img=img: mine(img).keypoints),
                ("mp.solutions.face_mesh", lambda img=img, rgb=rgb: mp_points(
                    ref.process(rgb).multi_face_landmarks, img.shape[:2]))]
        if j % 2:
            runs.reverse()
        iod = np.linalg.norm(gt[36] - gt[45])
        for name, fn in runs:
            pts, dt = timed(fn)
            s = stats[name]
            s[2].append(dt)
            if len(pts) == 0:
                s[0].append(np.inf)
                continue
            s[0].append(np.linalg.norm(to_ibug(np.asarray(pts[0])) - gt, axis=1).mean() / iod)
            s[1] += 1
    ref.close()
    mine.close()
    lines = [f"face: facial-keypoints, {len(data)} faces, iBUG 68 (mesh mapped), NME / outer "
             "eye corners",
             f"  {'model':<24}{'NME':>8}{'median':>8}{'fail>0.1':>10}{'found':>9}"
             f"{'ms/img':>9}"]
    for name, (nme, found, ts) in stats.items():
        nme = np.asarray(nme)
        fin = nme[np.isfinite(nme)]
        lines.append(f"  {name:<24}{fin.mean():8.4f}{np.median(fin):8.4f}"
                     f"{(nme > 0.1).mean():10.3f}{found:>5d}/{len(data):<3d}"
                     f"{1000 * np.mean(ts):9.1f}")
    lines.append("  (NME and median over the faces found; a face not found is a failure)")
    return lines


def bench_holistic(runtime: str) -> list[str]:
    import mediapipe as mp

    mine = load_model("holistic", mode="image", body="hybrid", runtime=runtime)
    with quiet_native_stderr():
        ref = mp.solutions.holistic.Holistic(static_image_mode=True)
    lines = ["holistic: persons with a hand / with a face (posekit body 'hybrid' vs "
             "mp.solutions.holistic)",
             f"  {'image':<32}{'persons':>8}{'hands':>7}{'faces':>7}{'mp hands':>10}"
             f"{'mp faces':>10}{'ms':>8}{'mp ms':>8}"]
    tot = {"persons": 0, "hands": 0, "faces": 0, "mp_hands": 0, "mp_faces": 0}
    parts_t = {}
    nparts = {"persons": 0, "hands_run": 0, "faces_run": 0}
    for j, rel in enumerate(HOLISTIC_IMAGES):
        path = DATA / rel
        if not path.exists():
            continue
        img = cv2.imread(str(path))
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        mine(img)                                   # first use compiles OpenVINO batch sizes
        order = [0, 1] if j % 2 == 0 else [1, 0]
        for o in order:
            if o == 0:
                p, dt = timed(mine, img)
            else:
                r, dt_mp = timed(ref.process, rgb)
        hands = sum(any(np.isfinite(p.part(s).keypoints[i]).all()
                        for s in ("left_hand", "right_hand")) for i in range(len(p)))
        faces = sum(bool(np.isfinite(p.part("face").keypoints[i]).all()) for i in range(len(p)))
        mp_h = int(r.left_hand_landmarks is not None or r.right_hand_landmarks is not None)
        mp_f = int(r.face_landmarks is not None)
        for key, v in mine.last_timings.items():
            parts_t[key] = parts_t.get(key, 0.0) + v
        nparts["persons"] += len(p)
        for key in ("left_hand_roi", "right_hand_roi"):
            nparts["hands_run"] += int(np.isfinite(p.extras[key]).all(axis=1).sum())
        nparts["faces_run"] += int(np.isfinite(p.extras["face_roi"]).all(axis=1).sum())
        lines.append(f"  {rel:<32}{len(p):>8}{hands:>7}{faces:>7}{mp_h:>10}{mp_f:>10}"
                     f"{1000 * dt:8.0f}{1000 * dt_mp:8.0f}")
        for key, v in (("persons", len(p)), ("hands", hands), ("faces", faces),
                       ("mp_hands", mp_h), ("mp_faces", mp_f)):
            tot[key] += v
    ref.close()
    mine.close()
    lines.append(f"  {'total':<32}{tot['persons']:>8}{tot['hands']:>7}{tot['faces']:>7}"
                 f"{tot['mp_hands']:>10}{tot['mp_faces']:>10}")
    per = lambda key, n: 1000 * parts_t.get(key, 0.0) / max(n, 1)  # noqa: E731
    lines.append(f"  posekit cost: body {per('body', nparts['persons']):.1f} ms/person; hand "
                 f"re-crop + landmarks {per('hand_recrop', nparts['hands_run']):.1f} + "
                 f"{per('hands', nparts['hands_run']):.1f} ms/hand looked for "
                 f"({nparts['hands_run']}); face detector + landmarks "
                 f"{per('face_detector', nparts['persons']):.1f} ms/person + "
                 f"{per('face', nparts['faces_run']):.1f} ms/face ({nparts['faces_run']})")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="first N images of each set")
    ap.add_argument("--runtime", default="litert", choices=("auto", "openvino", "litert"))
    ap.add_argument("--only", default="hands,face,holistic")
    args = ap.parse_args()
    only = args.only.split(",")
    out = []
    if "hands" in only:
        out += bench_hands(args.runtime, args.limit, 1)
        out += bench_hands(args.runtime, args.limit, 0)
    if "face" in only:
        out += bench_face(args.runtime, args.limit)
    if "holistic" in only:
        out += bench_holistic(args.runtime)
    print("\n".join(out))


if __name__ == "__main__":
    main()
