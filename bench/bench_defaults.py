"""The command a new user types, with no flags, against what users of other tools run today,
taking turns in one run (issue 15). Three parts, each printed as a table:

1. ``body3d``: ``mmpose/demo/resources/body3d_demo.mp4`` (one person, 1000x1002, 399 frames)
   end to end (decode, process, draw, encode an MP4): posekit's default
   (``posekit.pipeline.process`` with an annotated video and JSON Lines, what ``posekit run
   body3d_demo.mp4`` does) against the MediaPipe user's loops: the legacy
   ``mp.solutions.pose.Pose(model_complexity=1)`` and the Tasks ``PoseLandmarker`` (VIDEO mode,
   the full model), each with OpenCV decoding, MediaPipe's ``draw_landmarks`` and
   ``cv2.VideoWriter`` (mp4v). Target: posekit at least 2x the faster of the two.
2. ``vtest``: PETS09-S2L1 (``opencv-doc/vtest.avi``, 795 frames) end to end with a MOT file:
   posekit's default against the Ultralytics user's loop (YOLO11n-pose + ByteTrack,
   ``model.track(frame, persist=True, tracker="bytetrack.yaml", imgsz=1280, conf=0.1)``, then
   ``results[0].plot()`` and ``cv2.VideoWriter``), both scored with py-motmetrics against
   ``pets09-s2l1/gt/gt.txt`` (IoU 0.5; as ``bench_mot.py``). Target: MOTA > 85.0 and IDF1 >
   72.3 at >= 5x the Ultralytics loop's frames/s.
3. ``coco``: each COCO-format set of ``../shared/data`` through ``posekit run FOLDER --coco``
   (the default image model, every scored person) and through ``posekit eval``'s prediction
   path for the same model: AP (COCOeval) of each. Target: equal.

The VM's speed drifts by up to 2x, so each contender runs whole clips in turn, ``--rounds``
times, and the ratios are taken within a round (the median over rounds is printed). Model
loading is included in every contender's time (what the user waits for); OpenVINO's compiled
networks come from posekit's cache after the first run.

    .venv/bin/python bench/bench_defaults.py                      # all three parts
    .venv/bin/python bench/bench_defaults.py --parts body3d --rounds 3
    .venv/bin/python bench/bench_defaults.py --parts vtest --frames 200
    .venv/bin/python bench/bench_defaults.py --parts vtest --isa avx2   # as a CPU without VNNI

The speed of posekit's INT8 person detector depends on the CPU's integer dot-product
instructions (AVX-512 VNNI or AVX-VNNI: about twice the speed of AVX2 alone), and so do its
exact outputs. ``--isa avx2`` caps both contenders at AVX2 (``bench/_machine.py``), to measure
on one machine what a CPU without those instructions gets. The first line printed names the
CPU and the instructions in use.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit.config import OutputConfig, PipelineConfig, describe  # noqa: E402
from posekit.pipeline import process  # noqa: E402

from _machine import add_isa_arg, apply_isa, cpu_line  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
BODY3D = DATA / "mmpose" / "demo" / "resources" / "body3d_demo.mp4"
VTEST = DATA / "opencv-doc" / "vtest.avi"
PETS_GT = DATA / "pets09-s2l1" / "gt" / "gt.txt"


# ---------------------------------------------------------------------------- contenders
def run_posekit(path: Path, out: Path, frames: int | None, mot: bool = False) -> dict:
    cfg = PipelineConfig(outputs=OutputConfig(video=out / "posekit.mp4",
                                              json=out / "posekit.jsonl",
                                              mot=out / "posekit.mot.txt" if mot else None),
                         max_frames=frames)
    t0 = time.perf_counter()
    s = process(str(path), cfg)
    dt = time.perf_counter() - t0
    return {"frames": s.frames, "seconds": dt, "fps": s.frames / dt, "path": describe(s.config),
            "mot": out / "posekit.mot.txt" if mot else None}


def _video_loop(path: Path, out_path: Path, frames: int | None, step) -> dict:
    """OpenCV decode -> ``step(bgr) -> annotated bgr`` -> cv2.VideoWriter (mp4v)."""
    t0 = time.perf_counter()
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    n = 0
    try:
        while frames is None or n < frames:
            ok, img = cap.read()
            if not ok:
                break
            writer.write(step(img, n, fps))
            n += 1
    finally:
        cap.release()
        writer.release()
    dt = time.perf_counter() - t0
    return {"frames": n, "seconds": dt, "fps": n / dt}


def run_mediapipe_legacy(path: Path, out: Path, frames: int | None) -> dict:
    import mediapipe as mp

    t_load = time.perf_counter()
    pose = mp.solutions.pose.Pose(model_complexity=1)
    drawing = mp.solutions.drawing_utils
    load = time.perf_counter() - t_load

    def step(img, i, fps):
        res = pose.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if res.pose_landmarks:
            drawing.draw_landmarks(img, res.pose_landmarks, mp.solutions.pose.POSE_CONNECTIONS)
        return img

    try:
        r = _video_loop(path, out / "legacy.mp4", frames, step)
    finally:
        pose.close()
    r["seconds"] += load
    r["fps"] = r["frames"] / r["seconds"]
    return r


def run_mediapipe_tasks(path: Path, out: Path, frames: int | None) -> dict:
    import mediapipe as mp
    from mediapipe.framework.formats import landmark_pb2
    from mediapipe.tasks.python import BaseOptions, vision

    from posekit.models.assets import blazepose_task_bundle

    t_load = time.perf_counter()
    opts = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(blazepose_task_bundle())),
        running_mode=vision.RunningMode.VIDEO, num_poses=1)
    lm = vision.PoseLandmarker.create_from_options(opts)
    drawing = mp.solutions.drawing_utils
    load = time.perf_counter() - t_load

    def step(img, i, fps):
        im = mp.Image(image_format=mp.ImageFormat.SRGB,
                      data=cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        res = lm.detect_for_video(im, int(i * 1000 / fps))
        for p in res.pose_landmarks:
            proto = landmark_pb2.NormalizedLandmarkList()
            proto.landmark.extend(landmark_pb2.NormalizedLandmark(x=q.x, y=q.y, z=q.z)
                                  for q in p)
            drawing.draw_landmarks(img, proto, mp.solutions.pose.POSE_CONNECTIONS)
        return img

    try:
        r = _video_loop(path, out / "tasks.mp4", frames, step)
    finally:
        lm.close()
    r["seconds"] += load
    r["fps"] = r["frames"] / r["seconds"]
    return r


def run_ultralytics(path: Path, out: Path, frames: int | None) -> dict:
    from ultralytics import YOLO

    from posekit.models.yolo import bundled_weights

    t_load = time.perf_counter()
    model = YOLO(str(bundled_weights()), task="pose")
    load = time.perf_counter() - t_load
    rows = []

    def step(img, i, fps):
        res = model.track(img, persist=True, tracker="bytetrack.yaml", imgsz=1280, conf=0.1,
                          verbose=False)[0]
        b = res.boxes
        if b is not None and b.id is not None and len(b):
            xyxy = b.xyxy.cpu().numpy().astype(np.float64)
            r = np.full((len(xyxy), 10), -1.0)
            r[:, 0] = i + 1
            r[:, 1] = b.id.cpu().numpy()
            r[:, 2:4] = xyxy[:, :2]
            r[:, 4:6] = xyxy[:, 2:] - xyxy[:, :2]
            r[:, 6] = b.conf.cpu().numpy()
            rows.append(r)
        return res.plot()

    r = _video_loop(path, out / "ultralytics.mp4", frames, step)
    r["seconds"] += load
    r["fps"] = r["frames"] / r["seconds"]
    r["rows"] = np.vstack(rows) if rows else np.zeros((0, 10))
    return r


# ---------------------------------------------------------------------------- parts
def _rounds(contenders: dict, rounds: int) -> dict[str, list[dict]]:
    got: dict[str, list[dict]] = {k: [] for k in contenders}
    for r in range(rounds):
        for name, fn in contenders.items():
            with tempfile.TemporaryDirectory() as d:
                res = fn(Path(d))
                got[name].append(res)
            print(f"  round {r + 1} {name:22s} {got[name][-1]['frames']} frames "
                  f"{got[name][-1]['fps']:6.1f} frames/s", flush=True)
    return got


def part_body3d(args) -> None:
    print(f"== body3d_demo ({BODY3D.name}), end to end, {args.rounds} rounds taking turns")
    c = {"posekit (no flags)": lambda d: run_posekit(BODY3D, d, args.frames),
         "mediapipe legacy Pose": lambda d: run_mediapipe_legacy(BODY3D, d, args.frames),
         "mediapipe Tasks": lambda d: run_mediapipe_tasks(BODY3D, d, args.frames)}
    got = _rounds(c, args.rounds)
    print(f"posekit ran: {got['posekit (no flags)'][0]['path']}")
    print(f"{'contender':24s} {'frames/s (median)':>18s} {'rounds':>28s}")
    for k, v in got.items():
        print(f"{k:24s} {statistics.median(x['fps'] for x in v):18.1f} "
              f"{' '.join('%.1f' % x['fps'] for x in v):>28s}")
    ratios = [p["fps"] / max(a["fps"], b["fps"]) for p, a, b in zip(
        got["posekit (no flags)"], got["mediapipe legacy Pose"], got["mediapipe Tasks"])]
    print(f"posekit / faster MediaPipe loop: median {statistics.median(ratios):.2f}x "
          f"(rounds {' '.join(f'{x:.2f}' for x in ratios)}); target >= 2x")


def part_vtest(args) -> None:
    from posekit.eval.mot import evaluate_mot, read_mot

    print(f"== vtest.avi (PETS09-S2L1), end to end with MOT rows, {args.rounds} rounds")
    gt = read_mot(PETS_GT)
    scores: dict[str, list] = {"posekit (no flags)": [], "ultralytics + bytetrack": []}

    def pk(d):
        r = run_posekit(VTEST, d, args.frames, mot=True)
        scores["posekit (no flags)"].append(evaluate_mot(gt[gt[:, 0] <= r["frames"]],
                                                         read_mot(r["mot"])))
        return r

    def ul(d):
        r = run_ultralytics(VTEST, d, args.frames)
        scores["ultralytics + bytetrack"].append(evaluate_mot(gt[gt[:, 0] <= r["frames"]],
                                                              r["rows"]))
        return r

    got = _rounds({"posekit (no flags)": pk, "ultralytics + bytetrack": ul}, args.rounds)
    print(f"posekit ran: {got['posekit (no flags)'][0]['path']}")
    print(f"{'contender':24s} {'MOTA':>6s} {'IDF1':>6s} {'frames/s (median)':>18s}")
    for k, v in got.items():
        m = scores[k][0]
        print(f"{k:24s} {100 * m['mota']:6.1f} {100 * m['idf1']:6.1f} "
              f"{statistics.median(x['fps'] for x in v):18.2f}")
    ratios = [p["fps"] / u["fps"] for p, u in zip(got["posekit (no flags)"],
                                                 got["ultralytics + bytetrack"])]
    print(f"posekit / Ultralytics loop: median {statistics.median(ratios):.2f}x (rounds "
          f"{' '.join(f'{x:.2f}' for x in ratios)}); target MOTA > 85.0, IDF1 > 72.3, >= 5x")


def part_coco(args) -> None:
    from posekit.eval.datasets import available_sets, load_dataset
    from posekit.eval.metrics import coco_ap
    from posekit.eval.runner import ModelSpec, eval_config, predict

    print("== COCO-format sets: posekit run FOLDER --coco (no flags) vs posekit eval")
    names = [n for n in available_sets() if n not in ("lsp", "mpii")]
    default = PipelineConfig(outputs=OutputConfig(coco="r.json")).resolve("images")
    spec = ModelSpec.parse(default.model.name)
    print(f"default image model: {describe(default)}; eval: {eval_config(spec).model}")
    print(f"{'set':18s} {'images':>6s} {'AP run --coco':>14s} {'AP eval':>8s} "
          f"{'ms/image run':>13s}")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    for name in names:
        try:
            ds = load_dataset(name)
        except Exception as e:  # noqa: BLE001 - a set that does not load is reported
            print(f"{name:18s} cannot load: {e}")
            continue
        if ds.skeleton.name != "coco17":
            continue
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / "images"
            folder.mkdir()
            for im in ds.images:
                (folder / im.path.name).symlink_to(im.path.resolve())
            res = Path(d) / "r.json"
            t0 = time.perf_counter()
            s = process(str(folder), PipelineConfig(outputs=OutputConfig(
                coco=res, coco_gt=ds.source)))
            ms = 1000 * (time.perf_counter() - t0) / max(1, s.frames)
            results = json.loads(res.read_text())
            ids = [im.image_id for im in ds.images]
            ap_run = 0.0
            if results:
                import contextlib
                import io

                with contextlib.redirect_stdout(io.StringIO()):   # pycocotools' progress lines
                    gt = COCO(str(ds.source))
                    ev = COCOeval(gt, gt.loadRes(results), "keypoints")
                    ev.params.imgIds = ids
                    ev.evaluate()
                    ev.accumulate()
                    ev.summarize()
                ap_run = float(ev.stats[0])
        preds = predict(spec, ds)
        ap_eval = coco_ap(ds, preds.poses)["AP"]
        print(f"{name:18s} {len(ds.images):6d} {ap_run:14.3f} {ap_eval:8.3f} {ms:13.0f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="body3d,vtest,coco")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--frames", type=int, default=None, help="at most this many frames per "
                    "clip (default: all)")
    add_isa_arg(ap)
    args = ap.parse_args(argv)
    apply_isa(args.isa)          # both contenders capped alike
    print(cpu_line())
    parts = {"body3d": part_body3d, "vtest": part_vtest, "coco": part_coco}
    for p in args.parts.split(","):
        parts[p.strip()](args)


if __name__ == "__main__":
    main()
