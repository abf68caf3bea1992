"""YOLO11n-pose runtimes on the CPU: torch against OpenVINO (float32 and bfloat16).

Runs :class:`posekit.models.yolo.YoloPose` with ``runtime="torch"`` and ``runtime="openvino"``
on the first frames of ``vtest.avi`` (PETS09-S2L1, 768x576), calling the runtimes in turn on
each frame so that they share the machine's load, and prints the median milliseconds per frame
and the largest box and keypoint difference (pixels of the frame) from torch float32.

    .venv/bin/python bench/bench_yolo_runtime.py                  # imgsz 1280, 40 frames
    .venv/bin/python bench/bench_yolo_runtime.py --imgsz 640 --frames 60

Measured 2026-11-22 on the 2-core x86 VM (Xeon with AMX), 40 frames (medians; this VM's
timings move by 20 % or more from run to run, which is why the runtimes take turns). First,
with Ultralytics' OpenVINO backend running the IR (dynamic shape, torch pre- and
post-processing), persons compared by row:

    imgsz  runtime        ms/frame  max|box| px  max|kp| px  frames with another count
    1280   torch f32         336.2       0.0000      0.0000   0
    1280   torch bf16        172.5     125.6867    140.3149   9   (persons in another order)
    1280   openvino f32      269.5       0.0001      0.0002   0
    1280   openvino bf16     129.2       1.5411      6.5560   0
     640   torch f32          95.7       0.0000      0.0000   0
     640   torch bf16         64.4      40.4390     45.9418   1
     640   openvino f32       67.8       0.0001      0.0001   0
     640   openvino bf16      43.4       0.5523      0.4870   1

Then with posekit's own OpenVINO runner (static shape per frame size, uint8 input converted
inside the network, numpy decoding and NMS), persons matched by box IoU, on a slower stretch
of the VM (torch float32 574 ms where it gave 336 above):

    1280   torch f32         573.8       0.0000      0.0000   0
    1280   torch bf16        286.6       6.1287      4.5309   9
    1280   openvino f32      256.1       0.0001      0.0002   0
    1280   openvino bf16     119.7       1.7238      2.3259   0
    1280   ultralytics openvino (its backend, bf16 on AMX)
                             138.4       1.5412      6.5559   0

With the keypoint branch cut out of the network and run at the anchors NMS keeps only (the
default; "whole" is the network as exported, on every anchor), the same day:

    1280   torch f32         484.0       0.0000      0.0000   0
    1280   torch bf16        267.5       6.1287      4.5309   9
    1280   openvino f32      196.5       0.0001      0.0002   0
    1280   openvino bf16     109.5       0.8588      2.9654   0
    1280   openvino f32 whole
                             220.8       0.0001      0.0002   0
    1280   openvino bf16 whole
                             112.0       1.7238      2.3259   0
    1280   ultralytics openvino
                             131.5       1.5412      6.5559   0

(The network alone, cut against whole in bfloat16, taking turns on 40 frames: 102.3 against
116.8 ms, plus 2-3 ms for the branch at the kept anchors.)

OpenVINO float32 gives torch's numbers 1.3x (1280) to 1.4x (640) faster; it is the default
where OpenVINO is installed. ``posekit run --detector yolo`` runs OpenVINO bfloat16 on AMX CPUs,
now 14 % faster than the same IR in Ultralytics' backend.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit.io.sources import open_source  # noqa: E402
from posekit.models.yolo import YoloPose, _OpenVinoYolo, openvino_model  # noqa: E402
from posekit.types import box_iou  # noqa: E402

DATA = (ROOT.parent / "shared" / "data").resolve()


class UltralyticsOpenVino:
    """The same exported IR run by Ultralytics' own OpenVINO backend (dynamic input shape,
    torch pre- and post-processing, OpenVINO's default precision: bfloat16 on AMX CPUs), as
    posekit ran it before it took over the pre- and post-processing."""

    def __init__(self, ours: YoloPose, *, imgsz: int, min_score: float, max_people: int):
        from ultralytics import YOLO

        from posekit.models.yolo import openvino_model

        self.model = YOLO(str(openvino_model(ours.weights_path)), task="pose")
        self.kw = dict(imgsz=imgsz, conf=min_score, max_det=max_people, verbose=False)

    def __call__(self, frame):
        res = self.model.predict(frame.image, **self.kw)[0]
        return YoloPose._to_poses(res)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DATA / "opencv-doc" / "vtest.avi"))
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--imgsz", type=int, default=1280)
    ap.add_argument("--score", type=float, default=0.1)
    args = ap.parse_args(argv)
    if not Path(args.video).is_file():
        sys.exit(f"no such video: {args.video}")
    frames = []
    with open_source(args.video) as src:
        for f in src:
            frames.append(f)
            if len(frames) >= args.frames:
                break
    kw = dict(imgsz=args.imgsz, min_score=args.score, max_people=100)
    runs = {
        "torch f32": YoloPose(runtime="torch", bf16=False, **kw),
        "torch bf16": YoloPose(runtime="torch", bf16=True, **kw),
        "openvino f32": YoloPose(runtime="openvino", bf16=False, **kw),
        "openvino bf16": YoloPose(runtime="openvino", bf16=True, **kw),
    }
    for prec in ("f32", "bf16"):
        # the whole network, keypoint branch included, on every anchor (as before the branch
        # was cut out and run at the kept anchors only)
        whole = runs[f"openvino {prec} whole"] = YoloPose(runtime="openvino",
                                                          bf16=prec == "bf16", **kw)
        whole._ov_net = _OpenVinoYolo(next(openvino_model(whole.weights_path).glob("*.xml")),
                                      prec, whole._threads, keypoint_head=False)
    runs["ultralytics openvino"] = UltralyticsOpenVino(runs["openvino bf16"], **kw)
    times = {k: [] for k in runs}
    dbox = {k: 0.0 for k in runs}
    dkp = {k: 0.0 for k in runs}
    nmiss = {k: 0 for k in runs}
    for i, f in enumerate(frames):
        out = {}
        for k, m in runs.items():
            t = time.perf_counter()
            out[k] = m(f)
            if i:  # the first call of each runtime warms up
                times[k].append(time.perf_counter() - t)
        ref = out["torch f32"]
        for k, p in out.items():
            if len(p) != len(ref):
                nmiss[k] += 1
                continue
            if len(p):
                # persons matched by box IoU: bfloat16 can swap two persons of close scores
                j = box_iou(p.boxes, ref.boxes).argmax(axis=1)
                dbox[k] = max(dbox[k], float(np.abs(p.boxes - ref.boxes[j]).max()))
                d = np.abs(p.keypoints - ref.keypoints[j])
                if np.isfinite(d).any():
                    dkp[k] = max(dkp[k], float(np.nanmax(d)))
    print(f"{len(frames)} frames of {Path(args.video).name}, imgsz {args.imgsz}, "
          f"{runs['torch f32']._threads} threads")
    print(f"{'runtime':21s} {'ms/frame':>9s} {'max|box| px':>12s} {'max|kp| px':>11s} "
          f"{'frames with another count':>26s}")
    for k in runs:
        print(f"{k:21s} {1000 * np.median(times[k]):9.1f} {dbox[k]:12.4f} {dkp[k]:11.4f} "
              f"{nmiss[k]:26d}")


if __name__ == "__main__":
    main()
