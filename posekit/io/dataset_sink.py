"""``DatasetSink``: frames and their poses written as a keypoint dataset (auto-labelling).

``posekit run SOURCE --dataset DIR [--every N] [--min-score S]`` starts a custom dataset from a
model's own predictions, to be corrected by hand or trained on directly with
``posekit train keypoints DIR``. The folder::

    images/000000.jpg ...         every N-th frame that kept at least one instance (JPEG, q 95)
    labels/000000.txt ...         Ultralytics YOLO-pose labels (class 0, box, x y v per keypoint,
                                  normalized to [0, 1])
    annotations.json              COCO keypoint annotations of the same frames and instances
    data.yaml                     an Ultralytics dataset YAML (all frames as "train" and "val":
                                  posekit train splits it itself)
    skeleton.json                 the skeleton (names, edges, flip pairs, sigmas)

The confidence filter (``min_score``): an instance is kept where its person score is at least
``min_score``; its keypoints with a score below ``min_score`` (or NaN) are written as not
labelled (visibility 0), the others as labelled and visible (2); an instance with fewer than
``min_keypoints`` labelled keypoints is dropped. Frames with no kept instance are not written
(unless ``keep_empty``). Boxes are the poses' boxes clipped to the frame. COCO ``area`` is the
box area. ``annotations.json`` is written at :meth:`DatasetSink.close` (atomically); the images
and labels as frames come.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError
from ..skeletons import Skeleton
from ..types import Frame, Poses


def _skeleton_json(sk: Skeleton) -> dict:
    """``skeleton.json`` as ``posekit.train.datasets.skeleton_from_json`` reads it."""
    return {"format": "posekit.skeleton/1", "name": sk.name, "keypoints": list(sk.keypoints),
            "edges": [list(e) for e in sk.edges],
            "flip_pairs": [list(p) for p in sk.flip_pairs],
            "sigmas": None if sk.sigmas is None else list(sk.sigmas)}


class DatasetSink:
    """Writes frames and poses as a COCO keypoint + YOLO-pose dataset (see the module doc).

    Args:
        out_dir: the dataset folder (created; it must be empty or absent).
        every: write every N-th frame (by the frame's index), N >= 1.
        min_score: the confidence filter in [0, 1] (instances and keypoints).
        skeleton: write the poses in this skeleton (``poses.to(skeleton)``); default the first
            frame's skeleton.
        min_keypoints: fewest labelled keypoints a kept instance has (>= 1).
        keep_empty: also write frames with no kept instance (negatives).
        object_name: the category name (``"person"``).

    Raises:
        OutputError: the folder is not empty or cannot be written; a setting is out of range.
    """

    def __init__(self, out_dir: str | os.PathLike, *, every: int = 1, min_score: float = 0.5,
                 skeleton: Skeleton | None = None, min_keypoints: int = 1,
                 keep_empty: bool = False, object_name: str = "person"):
        if every < 1 or min_keypoints < 1:
            raise OutputError(f"every and min_keypoints must be at least 1, got {every}, "
                              f"{min_keypoints}")
        if not 0.0 <= min_score <= 1.0:
            raise OutputError(f"min_score must be in [0, 1], got {min_score}")
        self.path = Path(out_dir)
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise OutputError(f"dataset folder {self.path} exists and is not empty")
        try:
            (self.path / "images").mkdir(parents=True, exist_ok=True)
            (self.path / "labels").mkdir(exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create {self.path}: {e.strerror or e}") from e
        self.every, self.min_score, self.min_keypoints = int(every), float(min_score), \
            int(min_keypoints)
        self.keep_empty, self.object_name = bool(keep_empty), str(object_name)
        self.skeleton = skeleton
        self.frames_seen = self.frames_written = self.instances_written = 0
        self.instances_dropped = 0
        self._images: list[dict] = []
        self._anns: list[dict] = []
        self._closed = False

    def _filter(self, poses: Poses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keypoints (M, K, 2), visibility (M, K), boxes (M, 4)) of the kept instances."""
        kp = np.array(poses.keypoints, np.float32)
        sc = np.nan_to_num(np.asarray(poses.scores, np.float32), nan=0.0)
        vis = np.where((sc >= self.min_score) & np.isfinite(kp).all(axis=2), 2, 0).astype(
            np.int8)
        ps = np.nan_to_num(np.asarray(poses.person_scores, np.float32), nan=0.0)
        keep = (ps >= self.min_score) & ((vis > 0).sum(axis=1) >= self.min_keypoints) \
            & np.isfinite(poses.boxes).all(axis=1)
        self.instances_dropped += int((~keep).sum())
        kp[vis == 0] = np.nan
        return kp[keep], vis[keep], np.array(poses.boxes[keep], np.float32)

    def write(self, frame: Frame, poses: Poses, image: np.ndarray | None = None) -> None:
        """Consider one frame: written when its index is a multiple of ``every`` and it keeps
        an instance (or ``keep_empty``). ``image`` (the annotated frame) is not used: the
        dataset holds the original frame."""
        if self._closed:
            raise OutputError(f"dataset {self.path} is closed")
        self.frames_seen += 1
        if frame.index % self.every:
            return
        if self.skeleton is None:
            self.skeleton = poses.skeleton
        elif poses.skeleton != self.skeleton:
            poses = poses.to(self.skeleton)
        kp, vis, boxes = self._filter(poses)
        if len(kp) == 0 and not self.keep_empty:
            return
        h, w = frame.image.shape[:2]
        image_id = self.frames_written + 1
        name = f"{self.frames_written:06d}"
        img_path = self.path / "images" / f"{name}.jpg"
        ok, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise OutputError(f"cannot encode frame {frame.index} as JPEG")
        lines = []
        try:
            buf.tofile(str(img_path))
            for i in range(len(kp)):
                x1, y1, x2, y2 = (float(v) for v in boxes[i])
                x1, x2 = min(max(x1, 0.0), w), min(max(x2, 0.0), w)
                y1, y2 = min(max(y1, 0.0), h), min(max(y2, 0.0), h)
                flat, yolo = [], [0, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w,
                                  (y2 - y1) / h]
                for (x, y), v in zip(kp[i], vis[i]):
                    if v:
                        flat += [round(float(x), 2), round(float(y), 2), 2]
                        yolo += [min(max(float(x) / w, 0.0), 1.0),
                                 min(max(float(y) / h, 0.0), 1.0), 2]
                    else:
                        flat += [0, 0, 0]
                        yolo += [0.0, 0.0, 0]
                self._anns.append({
                    "id": len(self._anns) + 1, "image_id": image_id, "category_id": 1,
                    "keypoints": flat, "num_keypoints": int((vis[i] > 0).sum()),
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "area": round((x2 - x1) * (y2 - y1), 2), "iscrowd": 0})
                lines.append(" ".join(str(v) if isinstance(v, int) else f"{v:.6f}"
                                      for v in yolo))
            (self.path / "labels" / f"{name}.txt").write_text(
                "".join(line + "\n" for line in lines))
        except OSError as e:
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from e
        self._images.append({"id": image_id, "file_name": f"images/{name}.jpg", "width": w,
                             "height": h, "frame_index": int(frame.index),
                             "time_s": round(float(frame.time_s), 4),
                             "source": str(frame.source)})
        self.frames_written += 1
        self.instances_written += len(kp)

    def close(self) -> None:
        """Write ``annotations.json``, ``data.yaml`` and ``skeleton.json`` (always, also
        after an error, so the frames written so far form a dataset)."""
        if self._closed:
            return
        self._closed = True
        sk = self.skeleton
        names = list(sk.keypoints) if sk is not None else []
        coco = {"info": {"description": "posekit auto-labelled dataset",
                         "min_score": self.min_score, "every": self.every,
                         "min_keypoints": self.min_keypoints,
                         "frames_seen": self.frames_seen, "frames_written": self.frames_written,
                         "instances_dropped": self.instances_dropped},
                "images": self._images, "annotations": self._anns,
                "categories": [{"id": 1, "name": self.object_name, "supercategory":
                                self.object_name, "keypoints": names,
                                "skeleton": [[a + 1, b + 1] for a, b in sk.edges] if sk else [],
                                **({"sigmas": list(sk.sigmas)} if sk and sk.sigmas else {})}]}
        try:
            tmp = self.path / "annotations.json.tmp"
            tmp.write_text(json.dumps(coco))
            os.replace(tmp, self.path / "annotations.json")
            if sk is not None:
                import yaml

                (self.path / "skeleton.json").write_text(json.dumps(_skeleton_json(sk),
                                                                    indent=1))
                flip = list(range(len(sk)))
                for a, b in sk.flip_pairs:
                    flip[a], flip[b] = b, a
                data = {"path": str(self.path.resolve()), "train": "images", "val": "images",
                        "kpt_shape": [len(sk), 3], "flip_idx": flip,
                        "names": {0: self.object_name}, "kpt_names": {0: names}}
                (self.path / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        except OSError as e:
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from e

    def __enter__(self) -> DatasetSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["DatasetSink"]
