"""Keypoint training data: readers for COCO, Ultralytics YOLO-pose and DeepLabCut, one in-memory
form, a seeded train/validation split, and the conversion to an Ultralytics dataset.

Every reader returns a :class:`KeypointDataset`: its :class:`~posekit.skeletons.Skeleton`
(names, edges, flip pairs, OKS sigmas) and one :class:`Sample` per image. Coordinates are
pixels of the image (x right, y down); visibility follows COCO (``0`` not labelled, NaN
coordinates; ``1`` labelled, not visible; ``2`` labelled and visible).

Formats (:func:`read_dataset` picks one from the path):

- **COCO keypoint JSON** (cocodataset.org/#format-data): the first category with
  ``keypoints``; names from it, edges from its 1-based ``skeleton``; images resolved beside the
  JSON, in ``images/``, ``../images/``, or a sibling folder of the JSON's folder such as
  ``../val2017/`` (or ``image_root``).
- **Ultralytics YOLO-pose** (docs.ultralytics.com/datasets/pose): a dataset YAML (``path``,
  ``train``, ``val``, ``kpt_shape``, ``flip_idx``, ``names``, optional ``kpt_names``), or a
  folder holding ``images/`` and ``labels/`` folders (either ``images/<split>/`` or
  ``<split>/images/``). Labels are ``class cx cy w h`` then ``x y [v]`` per keypoint, all
  normalized to [0, 1]. Without a YAML the keypoint dimension (2 or 3) is read from the files:
  3 when every third keypoint value is 0, 1 or 2. A 2-D keypoint at (0, 0) is unlabelled (as
  Ultralytics treats it: ``ultralytics/data/utils.py`` ``verify_image_label``).
- **DeepLabCut project**: ``config.yaml`` (``bodyparts``, ``skeleton``; multi-animal projects'
  ``multianimalbodyparts`` and ``individuals``) and ``labeled-data/*/CollectedData_*.csv``.
- **DeepLabCut CSV**: three header rows (``scorer``, ``bodyparts``, ``coords``; four with
  ``individuals`` for multi-animal files), then one row per image whose first column(s) name
  the image, relative to the CSV's folder (or the project folder above it). Empty cells are
  unlabelled keypoints. No skeleton edges (a bare CSV has none) unless given.

Skeleton sigmas: given (a skeleton JSON, the COCO category's ``sigmas``), else estimated from the
labels (:func:`estimate_sigmas`).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..skeletons import Skeleton
from ..types import boxes_from_keypoints

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

#: Scale of :func:`estimate_sigmas`: sigma_k = SIGMA_SCALE * median over labelled instances of
#: (distance from keypoint k to its nearest labelled neighbour) / sqrt(instance area). Chosen so
#: that on COCO-17 ground truth the estimate matches COCO's ``kpt_oks_sigmas`` in the least
#: squares sense (``bench/bench_train.py`` prints the comparison on the COCO sets in
#: shared/data); COCO's sigmas were measured from repeated annotations (Ronchi & Perona,
#: ICCV 2017), which custom data rarely has.
SIGMA_SCALE = 0.42

#: Margin added around the labelled keypoints where a format has no boxes (DeepLabCut): a
#: fraction of the keypoints' extent on each side, at least :data:`BOX_MIN_MARGIN_PX`.
BOX_MARGIN = 0.1
BOX_MIN_MARGIN_PX = 8.0


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One labelled image with P instances of K keypoints.

    Attributes:
        path: the image file.
        size_wh: (width, height) in pixels.
        keypoints: (P, K, 2) float32 pixels; NaN where not labelled.
        visibility: (P, K) int8 in {0, 1, 2} (COCO convention).
        boxes: (P, 4) float32 xyxy pixels.
        split: ``"train"``, ``"val"`` or ``""`` (not split by the source).
    """

    path: Path
    size_wh: tuple[int, int]
    keypoints: np.ndarray
    visibility: np.ndarray
    boxes: np.ndarray
    split: str = ""

    def __post_init__(self):
        p, k = self.keypoints.shape[:2]
        if self.keypoints.shape != (p, k, 2):
            raise ValueError(f"Sample.keypoints: expected (P, K, 2), got {self.keypoints.shape}")
        for name, shape in (("visibility", (p, k)), ("boxes", (p, 4))):
            if getattr(self, name).shape != shape:
                raise ValueError(f"Sample.{name}: expected {shape}, got "
                                 f"{getattr(self, name).shape}")

    @property
    def n_instances(self) -> int:
        return int(self.keypoints.shape[0])


@dataclass(frozen=True, kw_only=True)
class KeypointDataset:
    """A labelled keypoint dataset in posekit's in-memory form.

    Attributes:
        skeleton: the keypoint topology (K names, edges, flip pairs, OKS sigmas).
        samples: the images, in source order.
        source: the file or folder read.
        format: ``"coco"``, ``"yolo"``, ``"dlc"`` (project) or ``"dlc-csv"``.
        object_name: the labelled category (``"person"``, ``"tiger"``, ``"mouse"``...).
        sigmas_estimated: True where the skeleton's sigmas came from :func:`estimate_sigmas`.
    """

    skeleton: Skeleton
    samples: tuple[Sample, ...]
    source: Path
    format: str
    object_name: str = "object"
    sigmas_estimated: bool = False

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def n_instances(self) -> int:
        return sum(s.n_instances for s in self.samples)

    @property
    def n_labelled(self) -> int:
        """Labelled keypoints (visibility > 0) over all instances."""
        return int(sum((s.visibility > 0).sum() for s in self.samples))

    def split(self, name: str) -> KeypointDataset:
        """The samples whose ``split`` is ``name``."""
        return replace(self, samples=tuple(s for s in self.samples if s.split == name))

    def summary(self) -> dict:
        """Counts for reports: images, instances, labelled keypoints, per split."""
        splits: dict[str, int] = {}
        for s in self.samples:
            splits[s.split or "unsplit"] = splits.get(s.split or "unsplit", 0) + 1
        return {"source": str(self.source), "format": self.format, "object": self.object_name,
                "images": len(self), "instances": self.n_instances,
                "labelled_keypoints": self.n_labelled, "keypoints": len(self.skeleton),
                "splits": splits}


# ----------------------------------------------------------------------------------------------
# Skeleton helpers

_SIDE = re.compile(r"(?i)(left|right)")


def flip_pairs_from_names(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """``(left, right)`` index pairs found from the names: ``left`` <-> ``right`` anywhere in a
    name (any case: ``left_ear``/``right_ear``, ``LeftPaw``/``RightPaw``), or an ``l``/``r``
    token between separators (``ear_l``/``ear_r``, ``L_ear``/``R_ear``). Names with no partner
    are their own mirror image."""
    idx = {n: i for i, n in enumerate(names)}

    def swap_word(m):
        w = m.group(0)
        o = "right" if w.lower() == "left" else "left"
        return o.upper() if w.isupper() else o.capitalize() if w[0].isupper() else o

    pairs = []
    for i, n in enumerate(names):
        if re.search(r"(?i)left", n):
            j = idx.get(_SIDE.sub(swap_word, n))
            if j is not None and j != i:
                pairs.append((i, j))
                continue
        tokens = re.split(r"([_\-\s.])", n)
        for t, tok in enumerate(tokens):
            if tok in ("l", "L"):
                j = idx.get("".join(tokens[:t] + [{"l": "r", "L": "R"}[tok]] + tokens[t + 1:]))
                if j is not None and j != i:
                    pairs.append((i, j))
                    break
    return tuple(pairs)


def flip_index(skeleton: Skeleton) -> list[int]:
    """Ultralytics' ``flip_idx`` (K,): the index each keypoint takes after a horizontal flip."""
    fi = list(range(len(skeleton)))
    for a, b in skeleton.flip_pairs:
        fi[a], fi[b] = b, a
    return fi


def estimate_sigmas(keypoints: np.ndarray, visibility: np.ndarray, boxes: np.ndarray,
                    *, floor: float = 0.01) -> tuple[float, ...]:
    """Per-keypoint OKS sigmas (K,) estimated from labels, for skeletons without measured ones.

    OKS = exp(-d^2 / (2 s^2 k^2)) with s^2 the object's area (COCO; Ronchi & Perona, ICCV
    2017): ``k`` should be the spread of repeated labels of a keypoint relative to the object's
    size. Without repeated labels, the spacing of the skeleton stands in: keypoints that sit
    close to others (eyes, toes) are labelled more precisely, as their sigmas on COCO show.
    ``k = SIGMA_SCALE * median(nearest labelled neighbour distance / sqrt(box area))`` over the
    instances where the keypoint is labelled (see :data:`SIGMA_SCALE`), at least ``floor``;
    a keypoint never labelled with a neighbour gets the median of the others.

    Args:
        keypoints: (N, K, 2) pixels, NaN where not labelled.
        visibility: (N, K) flags (> 0 labelled).
        boxes: (N, 4) xyxy pixels (the area's square root is the scale).

    Raises:
        DatasetError: fewer than 2 keypoints, or no instance with 2 labelled keypoints.
    """
    kp = np.asarray(keypoints, np.float64)
    n, k = kp.shape[:2]
    if k < 2:
        raise DatasetError("cannot estimate OKS sigmas for fewer than 2 keypoints; give them")
    lab = (np.asarray(visibility) > 0) & np.isfinite(kp).all(axis=2)
    b = np.asarray(boxes, np.float64)
    scale = np.sqrt(np.clip((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1.0, None))
    d = np.linalg.norm(kp[:, :, None] - kp[:, None, :], axis=3)           # (N, K, K)
    d[:, np.arange(k), np.arange(k)] = np.inf
    d[~(lab[:, :, None] & lab[:, None, :])] = np.inf
    nn = d.min(axis=2) / scale[:, None]                                   # (N, K)
    nn[~np.isfinite(nn)] = np.nan
    ok = np.isfinite(nn).any(axis=0)
    if not ok.any():
        raise DatasetError("cannot estimate OKS sigmas: no instance has 2 labelled keypoints")
    med = np.full(k, np.nan)
    med[ok] = np.nanmedian(nn[:, ok], axis=0)
    med[~ok] = np.nanmedian(med[ok])
    return tuple(float(max(floor, SIGMA_SCALE * m)) for m in med)


def skeleton_to_json(skeleton: Skeleton) -> dict:
    """The skeleton as a JSON-ready dict (``skeleton.json`` of a trained model)."""
    return {"format": "posekit.skeleton/1", "name": skeleton.name,
            "keypoints": list(skeleton.keypoints),
            "edges": [list(e) for e in skeleton.edges],
            "flip_pairs": [list(p) for p in skeleton.flip_pairs],
            "sigmas": None if skeleton.sigmas is None else list(skeleton.sigmas)}


def skeleton_from_json(data: dict | str | os.PathLike) -> Skeleton:
    """A :class:`Skeleton` from :func:`skeleton_to_json`'s dict or a file holding it.

    ``edges`` and ``flip_pairs`` may use keypoint names instead of indices; missing
    ``flip_pairs`` are found from the names (:func:`flip_pairs_from_names`).

    Raises:
        DatasetError: unreadable file, no ``keypoints`` list, an unknown name or bad index.
    """
    src = "skeleton"
    if not isinstance(data, dict):
        src = str(data)
        try:
            data = json.loads(Path(data).read_text())
        except (OSError, ValueError) as e:
            raise DatasetError(f"cannot read skeleton {src}: {e}") from e
    names = data.get("keypoints") if isinstance(data, dict) else None
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{src}: expected a 'keypoints' list of names")
    names = tuple(str(n) for n in names)
    idx = {n: i for i, n in enumerate(names)}

    def ix(v):
        if isinstance(v, str):
            if v not in idx:
                raise DatasetError(f"{src}: unknown keypoint {v!r}; expected one of "
                                   f"{', '.join(names)}")
            return idx[v]
        return int(v)

    try:
        edges = tuple((ix(a), ix(b)) for a, b in data.get("edges") or ())
        flips = data.get("flip_pairs")
        flips = (flip_pairs_from_names(names) if flips is None
                 else tuple((ix(a), ix(b)) for a, b in flips))
        sig = data.get("sigmas")
        return Skeleton(str(data.get("name") or "custom"), names, edges, flips,
                        None if sig is None else tuple(float(s) for s in sig))
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{src}: {e}") from e


def _box_from_keypoints(kp: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """xyxy boxes (P, 4) around the labelled keypoints (P, K, 2) with :data:`BOX_MARGIN` (at
    least :data:`BOX_MIN_MARGIN_PX`), clipped to the image
    (:func:`posekit.types.boxes_from_keypoints`)."""
    return boxes_from_keypoints(kp, pad=BOX_MARGIN, min_pad_px=BOX_MIN_MARGIN_PX,
                                clip_wh=size_wh)


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) read from the image header (PIL, no full decode)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except Exception:
        import cv2

        im = cv2.imread(str(path))
        if im is None:
            raise DatasetError(f"cannot read image {path}") from None
        return int(im.shape[1]), int(im.shape[0])


def _finish(skeleton: Skeleton, samples: list[Sample], source: Path, fmt: str,
            object_name: str, sigmas: Sequence[float] | None) -> KeypointDataset:
    """Attach given or estimated sigmas and build the dataset."""
    if not samples:
        raise DatasetError(f"{source}: no labelled images found")
    est = False
    if sigmas is not None:
        skeleton = replace(skeleton, sigmas=tuple(float(s) for s in sigmas))
    elif skeleton.sigmas is None:
        kp = np.concatenate([s.keypoints for s in samples])
        vis = np.concatenate([s.visibility for s in samples])
        bx = np.concatenate([s.boxes for s in samples])
        good = np.isfinite(bx).all(axis=1)
        skeleton = replace(skeleton, sigmas=estimate_sigmas(kp[good], vis[good], bx[good]))
        est = True
    return KeypointDataset(skeleton=skeleton, samples=tuple(samples), source=source,
                           format=fmt, object_name=object_name, sigmas_estimated=est)


# ----------------------------------------------------------------------------------------------
# COCO keypoint JSON

def read_coco(path: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
              skeleton: Skeleton | None = None, split: str = "") -> KeypointDataset:
    """Read a COCO keypoint annotation file of any keypoint set.

    Only the first category with ``keypoints`` is read; crowd annotations and annotations with
    no labelled keypoint are dropped; images with none left are kept as negatives (no
    instance). ``bbox`` (xywh) becomes xyxy; a missing one comes from the keypoints.

    Raises:
        DatasetError: unreadable JSON, no keypoint category, or an image that is not found.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise DatasetError(f"{path}: not a COCO annotation file (no 'images'/'annotations')")
    cats = [c for c in data.get("categories", []) if c.get("keypoints")]
    if not cats:
        raise DatasetError(f"{path}: no category with 'keypoints'")
    cat = cats[0]
    names = tuple(str(n) for n in cat["keypoints"])
    k = len(names)
    if skeleton is None:
        edges = tuple((int(a) - 1, int(b) - 1) for a, b in cat.get("skeleton") or ())
        sig = cat.get("sigmas")
        skeleton = Skeleton(str(cat.get("name") or path.stem), names, edges,
                            flip_pairs_from_names(names),
                            None if sig is None else tuple(float(s) for s in sig))
    elif len(skeleton) != k:
        raise DatasetError(f"{path}: {k} keypoints, the given skeleton has {len(skeleton)}")
    roots = [Path(image_root)] if image_root is not None else [
        path.parent, path.parent / "images", path.parent.parent / "images", path.parent.parent]
    if image_root is None:     # annotations/ beside val2017/, images/val2017/ (COCO's layout)
        for r in (path.parent.parent, path.parent.parent / "images"):
            if r.is_dir():
                roots += sorted(d for d in r.iterdir() if d.is_dir() and d != path.parent)
    by_image: dict = {}
    for a in data["annotations"]:
        if a.get("category_id", cat["id"]) != cat["id"] or a.get("iscrowd", 0):
            continue
        by_image.setdefault(a["image_id"], []).append(a)
    samples = []
    for im in data["images"]:
        rel = Path(im["file_name"])
        img = next((r / rel for r in roots if (r / rel).is_file()), None)
        if img is None:
            img = next((r / rel.name for r in roots if (r / rel.name).is_file()), None)
        if img is None:
            raise DatasetError(f"{path}: image {im['file_name']!r} not found under "
                               f"{', '.join(str(r) for r in roots)}")
        size = (int(im["width"]), int(im["height"])) if "width" in im else _image_size(img)
        kps, viss, boxes = [], [], []
        for a in by_image.get(im["id"], []):
            flat = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
            if flat.shape[0] != k:
                raise DatasetError(f"{path}: annotation {a.get('id')} has {flat.shape[0]} "
                                   f"keypoints, the category lists {k}")
            v = np.clip(flat[:, 2], 0, 2).astype(np.int8)
            if not (v > 0).any():
                continue
            xy = np.full((k, 2), np.nan, np.float32)
            xy[v > 0] = flat[v > 0, :2]
            kps.append(xy)
            viss.append(v)
            if a.get("bbox"):
                x, y, w, h = (float(c) for c in a["bbox"])
                boxes.append((x, y, x + w, y + h))
            else:
                boxes.append(tuple(_box_from_keypoints(xy[None], size)[0]))
        samples.append(_sample(img, size, kps, viss, boxes, k, split))
    return _finish(skeleton, samples, path, "coco", str(cat.get("name") or "object"), None)


def _sample(img: Path, size, kps, viss, boxes, k: int, split: str) -> Sample:
    p = len(kps)
    return Sample(path=img, size_wh=(int(size[0]), int(size[1])),
                  keypoints=np.asarray(kps, np.float32).reshape(p, k, 2),
                  visibility=np.asarray(viss, np.int8).reshape(p, k),
                  boxes=np.asarray(boxes, np.float32).reshape(p, 4), split=split)


# ----------------------------------------------------------------------------------------------
# Ultralytics YOLO-pose

def _label_path(image: Path) -> Path:
    """Ultralytics' rule (``data/utils.py`` ``img2label_paths``): the last ``images`` folder
    of the path becomes ``labels`` and the suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def _guess_kpt_dim(rows: list[list[float]]) -> int:
    """2 or 3 keypoint values from label rows ``[cls, cx, cy, w, h, ...]``: 3 where the count
    allows it and every third value is a visibility flag (0, 1, 2)."""
    lens = {len(r) - 5 for r in rows}
    if len(lens) != 1:
        raise DatasetError(f"label rows of different lengths: {sorted(n + 5 for n in lens)}")
    n = lens.pop()
    if n % 3 == 0 and all(v in (0.0, 1.0, 2.0) for r in rows for v in r[5 + 2::3]):
        return 3
    if n % 2 == 0:
        return 2
    raise DatasetError(f"{n} keypoint values per row is neither K*2 nor K*3")


def read_yolo(path: str | os.PathLike, *, skeleton: Skeleton | None = None,
              kpt_shape: tuple[int, int] | None = None) -> KeypointDataset:
    """Read an Ultralytics YOLO-pose dataset: a dataset YAML or a folder (see the module doc).

    Splits come from the YAML's ``train``/``val``/``test`` entries or the folder names
    (``train``, ``val``/``valid``/``validation``; ``test`` is read as its own split). All
    classes are read as one object category.

    Raises:
        DatasetError: no images or labels, inconsistent label rows, a bad YAML.
    """
    path = Path(path)
    meta: dict = {}
    folders: list[tuple[Path, str]] = []
    if path.is_file():
        import yaml

        try:
            meta = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise DatasetError(f"cannot read {path}: {e}") from e
        root = Path(meta.get("path") or path.parent)
        if not root.is_absolute():
            root = (path.parent / root).resolve()
            if not root.is_dir():
                root = path.parent
        for split in ("train", "val", "test"):
            for entry in ([meta[split]] if isinstance(meta.get(split), str)
                          else meta.get(split) or []):
                folders.append(((root / entry), split))
        if not folders:
            raise DatasetError(f"{path}: no 'train'/'val' entries")
        if kpt_shape is None and meta.get("kpt_shape"):
            kpt_shape = tuple(int(v) for v in meta["kpt_shape"])
    elif path.is_dir():
        root = path
        img_dirs = sorted({p for p in root.rglob("images") if p.is_dir()})
        if not img_dirs:
            raise DatasetError(f"{path}: no 'images' folder (expected a YOLO-pose dataset)")
        for d in img_dirs:
            rel = [x.lower() for x in d.relative_to(root).parts]
            split = ""
            for part in rel:
                if part in ("train", "training"):
                    split = "train"
                elif part in ("val", "valid", "validation"):
                    split = "val"
                elif part == "test":
                    split = "test"
            subs = [s for s in d.iterdir() if s.is_dir()]
            if subs and not any(p.suffix.lower() in IMAGE_EXTS for p in d.iterdir()):
                for s in subs:      # images/train, images/val
                    name = s.name.lower()
                    folders.append((s, {"valid": "val", "validation": "val",
                                        "training": "train"}.get(name, name)))
            else:
                folders.append((d, split))
    else:
        raise DatasetError(f"YOLO dataset not found: {path}")
    items: list[tuple[Path, str, list[list[float]]]] = []
    for folder, split in folders:
        if folder.suffix == ".txt" and folder.is_file():   # a list of image paths
            imgs = [(folder.parent / line.strip()).resolve()
                    for line in folder.read_text().splitlines() if line.strip()]
        elif folder.is_dir():
            imgs = _images_in(folder)
        else:
            raise DatasetError(f"{path}: split folder not found: {folder}")
        for img in imgs:
            lab = _label_path(img)
            rows = []
            if lab.is_file():
                for line in lab.read_text().splitlines():
                    if line.strip():
                        rows.append([float(v) for v in line.split()])
            items.append((img, split, rows))
    all_rows = [r for _, _, rows in items for r in rows]
    if not all_rows:
        raise DatasetError(f"{path}: no label rows found (labels/ beside images/)")
    if kpt_shape is None:
        dim = _guess_kpt_dim(all_rows)
        kpt_shape = ((len(all_rows[0]) - 5) // dim, dim)
    k, dim = kpt_shape
    if any(len(r) != 5 + k * dim for r in all_rows):
        raise DatasetError(f"{path}: label rows do not hold kpt_shape {list(kpt_shape)}")
    if skeleton is None:
        kn = meta.get("kpt_names")
        if isinstance(kn, dict):
            kn = kn.get(0) or next(iter(kn.values()))
        names = tuple(str(n) for n in kn) if kn and len(kn) == k else tuple(
            f"kp{i}" for i in range(k))
        fi = meta.get("flip_idx")
        flips = (tuple((i, int(j)) for i, j in enumerate(fi) if int(j) > i)
                 if fi and len(fi) == k else flip_pairs_from_names(names))
        skeleton = Skeleton(path.stem if path.is_file() else path.name, names, (), flips)
    elif len(skeleton) != k:
        raise DatasetError(f"{path}: {k} keypoints, the given skeleton has {len(skeleton)}")
    cls_names = meta.get("names")
    obj = (str(next(iter(cls_names.values()))) if isinstance(cls_names, dict) and cls_names
           else str(cls_names[0]) if isinstance(cls_names, list) and cls_names else "object")
    samples = []
    for img, split, rows in items:
        w, h = _image_size(img)
        kps, viss, boxes = [], [], []
        for r in rows:
            cx, cy, bw, bh = r[1] * w, r[2] * h, r[3] * w, r[4] * h
            a = np.asarray(r[5:], np.float64).reshape(k, dim)
            xy = a[:, :2] * (w, h)
            v = (np.clip(a[:, 2], 0, 2).astype(np.int8) if dim == 3
                 else np.where((a[:, :2] == 0).all(axis=1), 0, 2).astype(np.int8))
            xy[v == 0] = np.nan
            kps.append(xy)
            viss.append(v)
            boxes.append((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2))
        samples.append(_sample(img, (w, h), kps, viss, boxes, k, split))
    return _finish(skeleton, samples, path, "yolo", obj, None)


# ----------------------------------------------------------------------------------------------
# DeepLabCut

def read_dlc_csv(path: str | os.PathLike, *, skeleton: Skeleton | None = None,
                 project_root: str | os.PathLike | None = None, split: str = ""
                 ) -> KeypointDataset:
    """Read a DeepLabCut ``CollectedData_*.csv`` (3 header rows; 4 for multi-animal files).

    The body parts are the ``bodyparts`` row in order of first appearance; each individual of a
    multi-animal file is one instance. Image paths (one column, or DLC 2.3's three index
    columns ``labeled-data, <video>, <file>``) resolve against ``project_root``, the CSV's
    folder or a folder above it. A row with no labelled keypoint is a negative image.
    Visibility is 2 for every labelled keypoint (DeepLabCut marks no occlusion). Boxes: the
    labelled keypoints' extent plus a margin (:data:`BOX_MARGIN`).

    Raises:
        DatasetError: not a DeepLabCut CSV, or an image that is not found.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    heads = {}
    for r in rows[:4]:
        if r:
            heads[r[0].strip().lower()] = r
    if "bodyparts" not in heads or "coords" not in heads:
        raise DatasetError(f"{path}: not a DeepLabCut CSV (no 'bodyparts'/'coords' header rows)")
    n_head = 4 if "individuals" in heads else 3
    coords = heads["coords"]
    first = next(i for i, c in enumerate(coords) if c.strip() in ("x", "y", "likelihood"))
    bparts = heads["bodyparts"]
    indiv = heads.get("individuals")
    names: list[str] = []
    inds: list[str] = []
    cols: dict[tuple[str, str], dict[str, int]] = {}
    for c in range(first, len(coords)):
        bp = bparts[c].strip()
        ind = indiv[c].strip() if indiv else ""
        if bp not in names:
            names.append(bp)
        if ind not in inds:
            inds.append(ind)
        cols.setdefault((ind, bp), {})[coords[c].strip()] = c
    if skeleton is None:
        skeleton = Skeleton(path.stem, tuple(names), (), flip_pairs_from_names(names))
    elif tuple(skeleton.keypoints) != tuple(names):
        raise DatasetError(f"{path}: body parts {names} differ from the skeleton's "
                           f"{list(skeleton.keypoints)}")
    k = len(names)
    roots = [Path(project_root)] if project_root is not None else [path.parent, *path.parents]
    samples = []
    for r in rows[n_head:]:
        if not r or not any(x.strip() for x in r):
            continue
        rel = Path(*[x for x in r[:first] if x.strip()])
        img = next((root / rel for root in roots if (root / rel).is_file()), None)
        if img is None:
            raise DatasetError(f"{path}: image {str(rel)!r} not found under {roots[0]} or the "
                               "folders above it")
        kps, viss = [], []
        for ind in inds:
            xy = np.full((k, 2), np.nan, np.float32)
            for j, bp in enumerate(names):
                c = cols.get((ind, bp), {})
                try:
                    x, y = float(r[c["x"]]), float(r[c["y"]])
                except (KeyError, IndexError, ValueError):
                    continue
                if np.isfinite(x) and np.isfinite(y):
                    xy[j] = (x, y)
            v = np.where(np.isfinite(xy).all(axis=1), 2, 0).astype(np.int8)
            if v.any():
                kps.append(xy)
                viss.append(v)
        size = _image_size(img)
        boxes = [tuple(b) for b in _box_from_keypoints(np.asarray(kps, np.float32).reshape(
            -1, k, 2), size)]
        samples.append(_sample(img, size, kps, viss, boxes, k, split))
    return _finish(skeleton, samples, path, "dlc-csv", "animal", None)


def read_dlc_project(path: str | os.PathLike) -> KeypointDataset:
    """Read a DeepLabCut project: ``config.yaml`` (or its folder) and every
    ``labeled-data/*/CollectedData_<scorer>.csv``.

    The keypoint names are the config's ``bodyparts`` (``multianimalbodyparts`` then
    ``uniquebodyparts`` for multi-animal projects) and the edges its ``skeleton`` (pairs of
    names). CSV files whose body parts differ from the config are an error.

    Raises:
        DatasetError: no config, no CSV, unknown body parts in ``skeleton``.
    """
    import yaml

    path = Path(path)
    cfg_path = path / "config.yaml" if path.is_dir() else path
    try:
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise DatasetError(f"cannot read {cfg_path}: {e}") from e
    root = cfg_path.parent
    parts = cfg.get("bodyparts")
    if parts == "MULTI!" or not parts:
        parts = list(cfg.get("multianimalbodyparts") or []) + list(
            cfg.get("uniquebodyparts") or [])
    if not parts:
        raise DatasetError(f"{cfg_path}: no 'bodyparts'")
    names = tuple(str(p) for p in parts)
    idx = {n: i for i, n in enumerate(names)}
    edges = []
    for pair in cfg.get("skeleton") or []:
        if len(pair) != 2 or pair[0] not in idx or pair[1] not in idx:
            raise DatasetError(f"{cfg_path}: skeleton entry {pair} names unknown body parts; "
                               f"expected two of {', '.join(names)}")
        edges.append((idx[pair[0]], idx[pair[1]]))
    skeleton = Skeleton(str(cfg.get("Task") or root.name), names, tuple(edges),
                        flip_pairs_from_names(names))
    csvs = sorted((root / "labeled-data").glob("*/CollectedData_*.csv"))
    if not csvs:
        raise DatasetError(f"{root}: no labeled-data/*/CollectedData_*.csv")
    samples = []
    for c in csvs:
        samples += read_dlc_csv(c, skeleton=replace(skeleton, sigmas=(1.0,) * len(names)),
                                project_root=root).samples
    return _finish(skeleton, samples, cfg_path, "dlc", str(cfg.get("Task") or "animal"), None)


# ----------------------------------------------------------------------------------------------
# Detection of the format

def read_dataset(path: str | os.PathLike, *, skeleton: Skeleton | str | os.PathLike | None = None
                 ) -> KeypointDataset:
    """Read any supported dataset, the format found from ``path`` (see the module doc):
    ``.json`` COCO; ``.yaml`` DeepLabCut config (has ``bodyparts``) or YOLO dataset; ``.csv``
    DeepLabCut; a folder holding ``config.yaml`` (DeepLabCut), a COCO ``annotations.json``
    (posekit's :class:`~posekit.io.dataset_sink.DatasetSink` writes one), a YOLO dataset YAML, or
    ``images/`` + ``labels/`` folders, or a single ``CollectedData*.csv``.

    ``skeleton`` (a :class:`Skeleton` or a skeleton JSON file) replaces the names, edges, flip
    pairs and sigmas read from the files; its keypoint count must match. A folder's own
    ``skeleton.json`` is used when no skeleton is given.

    Raises:
        DatasetError: nothing recognisable at ``path``, or a reader's error.
    """
    p = Path(path)
    sk = (skeleton_from_json(skeleton) if skeleton is not None
          and not isinstance(skeleton, Skeleton) else skeleton)
    if not p.exists():
        raise DatasetError(f"dataset not found: {p}")
    if sk is None and p.is_dir() and (p / "skeleton.json").is_file():
        sk = skeleton_from_json(p / "skeleton.json")     # a DatasetSink folder
    ds = _read_any(p, sk)
    if sk is not None and ds.skeleton.keypoints != sk.keypoints:
        if len(sk) != len(ds.skeleton):
            raise DatasetError(f"{p}: {len(ds.skeleton)} keypoints, the given skeleton has "
                               f"{len(sk)}")
    if sk is not None:
        ds = replace(ds, skeleton=sk if sk.sigmas is not None else replace(
            sk, sigmas=ds.skeleton.sigmas), sigmas_estimated=sk.sigmas is None
            and ds.sigmas_estimated)
    return ds


def _is_dlc_config(p: Path) -> bool:
    try:
        import yaml

        d = yaml.safe_load(p.read_text())
    except Exception:
        return False
    return isinstance(d, dict) and ("bodyparts" in d or "multianimalbodyparts" in d)


def _read_any(p: Path, sk: Skeleton | None) -> KeypointDataset:
    suf = p.suffix.lower()
    if p.is_file():
        if suf == ".json":
            return read_coco(p, skeleton=sk)
        if suf in (".yaml", ".yml"):
            return read_dlc_project(p) if _is_dlc_config(p) else read_yolo(p, skeleton=sk)
        if suf == ".csv":
            return read_dlc_csv(p, skeleton=sk)
        raise DatasetError(f"{p}: unknown dataset file (expected .json, .yaml or .csv)")
    if (p / "config.yaml").is_file() and _is_dlc_config(p / "config.yaml"):
        return read_dlc_project(p)
    for name in ("annotations.json", "person_keypoints.json"):
        if (p / name).is_file():
            return read_coco(p / name, skeleton=sk)
    yamls = [y for y in sorted(p.glob("*.y*ml")) if not _is_dlc_config(y)]
    if yamls:
        return read_yolo(yamls[0], skeleton=sk)
    if any(d.is_dir() for d in p.rglob("images")):
        return read_yolo(p, skeleton=sk)
    csvs = sorted(p.glob("CollectedData*.csv"))
    if csvs:
        return read_dlc_csv(csvs[0], skeleton=sk)
    jsons = sorted(p.glob("*.json"))
    if len(jsons) == 1:
        return read_coco(jsons[0], skeleton=sk)
    raise DatasetError(f"{p}: no dataset found (expected a COCO .json, a YOLO dataset YAML or "
                       "images/ + labels/, a DeepLabCut config.yaml or CollectedData*.csv)")


# ----------------------------------------------------------------------------------------------
# Split and conversion

@dataclass(frozen=True)
class SplitReport:
    """How a dataset was split: ``seed``, ``val_fraction``, whether the source's own split was
    kept (``from_source``), the counts and the validation image paths."""

    seed: int
    val_fraction: float
    from_source: bool
    train_images: int
    val_images: int
    val_files: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {"seed": self.seed, "val_fraction": self.val_fraction,
                "from_source": self.from_source, "train_images": self.train_images,
                "val_images": self.val_images, "val_files": list(self.val_files)}


def split_dataset(ds: KeypointDataset, *, val_fraction: float = 0.2, seed: int = 0,
                  keep_source_split: bool = True) -> tuple[KeypointDataset, SplitReport]:
    """Assign every sample to ``"train"`` or ``"val"``.

    Where the source has both a train and a val split and ``keep_source_split``, it is kept
    (``test`` images are left out). Otherwise a seeded random permutation
    (``numpy.random.default_rng(seed)``) puts ``round(val_fraction * n)`` images (at least 1
    and at most n - 1) in validation; only images with an instance are split, negatives go to
    training.

    Raises:
        DatasetError: ``val_fraction`` outside (0, 1), or fewer than 2 labelled images.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be in (0, 1), got {val_fraction}")
    splits = {s.split for s in ds.samples}
    if keep_source_split and {"train", "val"} <= splits:
        kept = tuple(s for s in ds.samples if s.split in ("train", "val"))
        out = replace(ds, samples=kept)
        val = [str(s.path) for s in kept if s.split == "val"]
        return out, SplitReport(seed, val_fraction, True, len(kept) - len(val), len(val),
                                tuple(val))
    labelled = [i for i, s in enumerate(ds.samples) if s.n_instances]
    if len(labelled) < 2:
        raise DatasetError(f"{ds.source}: need at least 2 labelled images to split, got "
                           f"{len(labelled)}")
    n_val = min(max(1, round(val_fraction * len(labelled))), len(labelled) - 1)
    perm = np.random.default_rng(seed).permutation(len(labelled))
    val_ids = {labelled[i] for i in perm[:n_val]}
    samples = tuple(replace(s, split="val" if i in val_ids else "train")
                    for i, s in enumerate(ds.samples))
    val = tuple(str(s.path) for s in samples if s.split == "val")
    return replace(ds, samples=samples), SplitReport(seed, val_fraction, False,
                                                     len(samples) - len(val), len(val), val)


def apply_split(ds: KeypointDataset, val_files: Sequence[str]) -> KeypointDataset:
    """The same dataset with exactly ``val_files`` (image paths, as in a
    :class:`SplitReport`) in ``"val"`` and the rest in ``"train"``."""
    vs = {str(Path(v).resolve()) for v in val_files}
    return replace(ds, samples=tuple(
        replace(s, split="val" if str(Path(s.path).resolve()) in vs else "train")
        for s in ds.samples))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.symlink(Path(src).resolve(), dst)
    except OSError:
        shutil.copyfile(src, dst)


def yolo_label_lines(sample: Sample) -> list[str]:
    """Ultralytics YOLO-pose label lines of a sample: ``0 cx cy w h`` then ``x y v`` per
    keypoint, normalized to [0, 1] by the image size; unlabelled keypoints ``0 0 0``. Boxes
    are clipped to the image; an instance with no usable box is skipped."""
    w, h = sample.size_wh
    lines = []
    for i in range(sample.n_instances):
        x1, y1, x2, y2 = (float(v) for v in sample.boxes[i])
        if not np.isfinite([x1, y1, x2, y2]).all():
            continue
        x1, x2 = np.clip([x1, x2], 0, w)
        y1, y2 = np.clip([y1, y2], 0, h)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        vals = [0, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
        for (x, y), v in zip(sample.keypoints[i], sample.visibility[i]):
            if v > 0 and np.isfinite(x) and np.isfinite(y):
                vals += [float(np.clip(x / w, 0, 1)), float(np.clip(y / h, 0, 1)), int(v)]
            else:
                vals += [0.0, 0.0, 0]
        lines.append(" ".join(str(vals[0]) if j == 0 else
                              (str(v) if isinstance(v, int) else f"{v:.6f}")
                              for j, v in enumerate(vals)))
    return lines


def to_ultralytics(ds: KeypointDataset, work_dir: str | os.PathLike) -> Path:
    """Write ``ds`` (already split into ``train``/``val``) as an Ultralytics YOLO-pose dataset
    in ``work_dir``: ``images/{train,val}/`` (links to the original images, copies where links
    are not possible; names prefixed with the sample index so files from different folders
    never collide), ``labels/{train,val}/*.txt`` (:func:`yolo_label_lines`) and
    ``data.yaml`` (``kpt_shape: [K, 3]``, ``flip_idx`` from the skeleton's flip pairs,
    ``kpt_names``, ``kpt_oks_sigmas`` (the skeleton's, which Ultralytics' validator uses), one
    class named ``ds.object_name``). Returns the YAML's path.

    Raises:
        DatasetError: a split is empty (call :func:`split_dataset` first).
    """
    import yaml

    work = Path(work_dir)
    for split in ("train", "val"):
        if not any(s.split == split for s in ds.samples):
            raise DatasetError(f"no '{split}' images: split the dataset first")
    if work.exists():
        shutil.rmtree(work)
    for split in ("train", "val"):
        (work / "images" / split).mkdir(parents=True)
        (work / "labels" / split).mkdir(parents=True)
    for i, s in enumerate(ds.samples):
        if s.split not in ("train", "val"):
            continue
        name = f"{i:06d}_{s.path.stem}"
        _link_or_copy(s.path, work / "images" / s.split / f"{name}{s.path.suffix.lower()}")
        (work / "labels" / s.split / f"{name}.txt").write_text(
            "".join(line + "\n" for line in yolo_label_lines(s)))
    data = {"path": str(work.resolve()), "train": "images/train", "val": "images/val",
            "kpt_shape": [len(ds.skeleton), 3], "flip_idx": flip_index(ds.skeleton),
            "names": {0: ds.object_name}, "kpt_names": {0: list(ds.skeleton.keypoints)}}
    if ds.skeleton.sigmas is not None:      # Ultralytics' pose validator reads them
        data["kpt_oks_sigmas"] = [float(s) for s in ds.skeleton.sigmas]
    out = work / "data.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


__all__ = ["KeypointDataset", "Sample", "SplitReport", "apply_split", "estimate_sigmas",
           "flip_index", "flip_pairs_from_names", "read_coco", "read_dataset", "read_dlc_csv",
           "read_dlc_project", "read_yolo", "skeleton_from_json", "skeleton_to_json",
           "split_dataset", "to_ultralytics", "yolo_label_lines"]
