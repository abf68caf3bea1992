"""Ground-truth loaders: COCO keypoint JSON, CrowdPose, LSP ``joints.mat``, MPII (mmpose JSON list).

Every loader returns one in-memory form, :class:`Dataset`: a tuple of :class:`GTImage` (image
path, size, annotated persons) and the :class:`~posekit.skeletons.Skeleton` of the annotations.

Visibility follows COCO's convention everywhere (cocodataset.org/#format-data):
``0`` = not labelled (coordinates NaN), ``1`` = labelled but not visible, ``2`` = labelled and
visible. Each loader says how it maps its source's flags onto this.

Coordinates are pixels of the image, x right, y down, as stored in the source file (COCO,
CrowdPose, LSP); MPII's 1-based MATLAB coordinates are shifted by -1 (see :func:`load_mpii`).

>>> ds = load_dataset("coco")                        # doctest: +SKIP
>>> ds.n_images, ds.n_persons                        # doctest: +SKIP
(4, 12)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..skeletons import COCO_17, CROWDPOSE_14, LSP_14, MPII_16, Skeleton
from ..types import boxes_from_keypoints

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class GTImage:
    """One image with its annotated persons (P of them, K keypoints each).

    Attributes:
        path: image file.
        size_wh: (width, height) in pixels.
        image_id: integer id (COCO ``image_id``; the running index for LSP/MPII).
        keypoints: (P, K, 2) float32 pixels; NaN where not labelled.
        visibility: (P, K) int8 in {0, 1, 2} (COCO convention, see the module docstring).
        boxes: (P, 4) float32 xyxy pixels (COCO ``bbox`` converted; from the labelled keypoints
            where the source has none).
        areas: (P,) float32 square pixels (COCO ``area``; box area where the source has none).
        iscrowd: (P,) bool (COCO crowd regions: their keypoints are not labelled).
        ann_ids: (P,) int64 annotation ids.
    """

    path: Path
    size_wh: tuple[int, int]
    image_id: int
    keypoints: np.ndarray
    visibility: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    iscrowd: np.ndarray
    ann_ids: np.ndarray

    def __post_init__(self):
        p = self.keypoints.shape[0]
        for name, shape in (("visibility", (p, self.keypoints.shape[1])), ("boxes", (p, 4)),
                            ("areas", (p,)), ("iscrowd", (p,)), ("ann_ids", (p,))):
            got = getattr(self, name).shape
            if got != shape:
                raise ValueError(f"GTImage.{name}: expected {shape}, got {got}")

    @property
    def n_persons(self) -> int:
        """Annotated persons: not crowd, with at least one labelled keypoint."""
        return int(self.annotated.sum())

    @property
    def annotated(self) -> np.ndarray:
        """(P,) bool mask of the annotated persons (not crowd, >= 1 labelled keypoint)."""
        return ~self.iscrowd & (self.visibility > 0).any(axis=1)


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """A ground-truth set in posekit's in-memory form.

    Attributes:
        name: short name (``"coco"``, ``"lsp"``, or the annotation file's stem).
        skeleton: skeleton of the annotations (COCO_17, CROWDPOSE_14, LSP_14, MPII_16).
        images: the images, in file order.
        source: annotation file the set was read from.
        kind: ``"coco"`` (COCO keypoint JSON, incl. CrowdPose), ``"lsp"`` or ``"mpii"``.
        metric: the metric this set is meant for: ``"oks"`` (COCO AP; also PCK@0.2 by box
            size), ``"pck"`` (PCK@0.2 by torso, LSP) or ``"pckh"`` (PCKh@0.5, MPII).
        min_visibility: smallest visibility flag a GT keypoint needs to count in PCK (1: any
            labelled keypoint).
    """

    name: str
    skeleton: Skeleton
    images: tuple[GTImage, ...]
    source: Path
    kind: str
    metric: str
    min_visibility: int = 1
    _key: str = field(default="", repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_images(self) -> int:
        return len(self.images)

    @property
    def n_persons(self) -> int:
        """Annotated persons (not crowd, with at least one labelled keypoint)."""
        return sum(im.n_persons for im in self.images)

    @property
    def has_oks(self) -> bool:
        """True where OKS/COCO AP is defined (the skeleton has sigmas)."""
        return self.skeleton.sigmas is not None

    @property
    def key(self) -> str:
        """A short hash of the annotation file's bytes and the loader's choices (cache key)."""
        return self._key

    def subset(self, n: int) -> Dataset:
        """The first ``n`` images (for quick runs)."""
        return Dataset(name=self.name, skeleton=self.skeleton, images=self.images[:n],
                       source=self.source, kind=self.kind, metric=self.metric,
                       min_visibility=self.min_visibility, _key=f"{self._key}-first{n}")

    def coco_gt(self) -> dict:
        """The set as a COCO keypoint ground-truth dict for ``pycocotools.coco.COCO``.

        Unlabelled keypoints are written as ``(0, 0, 0)``; ``num_keypoints`` counts labelled
        ones; ``area`` and ``iscrowd`` are carried over, so COCOeval ignores crowd regions and
        persons without keypoints as it does on COCO.

        Raises:
            DatasetError: the skeleton has no OKS sigmas (LSP, MPII).
        """
        if not self.has_oks:
            raise DatasetError(f"{self.name}: OKS is not defined for {self.skeleton.name}")
        images, anns = [], []
        for im in self.images:
            images.append({"id": im.image_id, "width": im.size_wh[0], "height": im.size_wh[1],
                           "file_name": im.path.name})
            for p in range(im.keypoints.shape[0]):
                v = im.visibility[p].astype(np.int64)
                xy = np.nan_to_num(im.keypoints[p], nan=0.0)
                flat = np.column_stack([xy, v]).reshape(-1)
                flat[np.repeat(v == 0, 3)] = 0
                x0, y0, x1, y1 = (float(c) for c in im.boxes[p])
                anns.append({"id": int(im.ann_ids[p]), "image_id": im.image_id,
                             "category_id": 1, "keypoints": [float(f) for f in flat],
                             "num_keypoints": int((v > 0).sum()), "area": float(im.areas[p]),
                             "bbox": [x0, y0, x1 - x0, y1 - y0],
                             "iscrowd": int(im.iscrowd[p])})
        return {"images": images, "annotations": anns,
                "categories": [{"id": 1, "name": "person", "supercategory": "person",
                                "keypoints": list(self.skeleton.keypoints)}]}


# ----------------------------------------------------------------------------------------------
# COCO keypoint JSON (COCO-17, CrowdPose-14 and files whose names differ in case)

def _norm_name(name: str) -> str:
    """``"Left Eye"`` -> ``"left_eye"``; CrowdPose's ``"head"`` -> ``"head_top"``."""
    n = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return {"head": "head_top"}.get(n, n)


def _skeleton_for(names: Sequence[str], k: int, path: Path) -> Skeleton:
    """The known skeleton whose names equal the file's first ``k`` (normalised) names."""
    norm = tuple(_norm_name(n) for n in names[:k])
    for sk in (COCO_17, CROWDPOSE_14):
        if norm == sk.keypoints:
            return sk
    raise DatasetError(f"{path}: keypoint names {list(names[:k])} match neither COCO-17 nor "
                       "CrowdPose-14")


def _file_key(path: Path, *extra: Any) -> str:
    h = hashlib.sha1(path.read_bytes())
    for e in extra:
        h.update(repr(e).encode())
    return h.hexdigest()[:12]


def _resolve_image_root(ann_path: Path, file_names: Sequence[str],
                        image_root: Path | None) -> tuple[Path, int]:
    """Folder the images' ``file_name`` resolve against, and leading path parts to strip.

    Layouts seen in the data (see shared/data/SOURCES.md): images beside the JSON (mmpose test
    data), ``../<split>`` (tiny_coco: annotations/ + val2017/), ``../images/<split>`` (kapao:
    annotations/ + images/val2017/), ``../images`` (LiteHrnet) and a ``file_name`` whose
    leading ``HumanArt/images/`` stands for the JSON's folder (mmpose humanart).
    """
    if not file_names:
        return ann_path.parent, 0
    here, up = ann_path.parent, ann_path.parent.parent
    if image_root is not None:
        candidates = [Path(image_root)]
    else:
        split = re.search(r"(train|val|test)(\d{4})", ann_path.stem)
        candidates = [here]
        if split:
            s = split.group(0)
            candidates += [up / s, up / "images" / s, here / s, here / "images" / s]
        candidates += [up / "images", here / "images", up]
    probe = file_names[0]
    parts = Path(probe).parts
    for strip in range(len(parts)):
        rel = Path(*parts[strip:])
        for c in candidates:
            if (c / rel).is_file():
                return c, strip
    raise DatasetError(f"{ann_path}: image {probe!r} not found under any of "
                       f"{', '.join(str(c) for c in candidates)}; pass image_root=")


def load_coco(path: str | Path, *, image_root: str | Path | None = None,
              name: str | None = None) -> Dataset:
    """Read a COCO keypoint annotation file (COCO-17 or CrowdPose-14 names, any letter case).

    Only the ``person`` category (the first category with ``keypoints``) is read. Images with no
    annotation are kept (negatives). Visibility flags are COCO's. Where an annotation has no
    ``area`` (CrowdPose), the box area ``w * h`` is used, as mmpose does for CrowdPose
    (``use_area=False``). Where a file lists more keypoint names than each annotation holds
    (HumanArt lists 21 names, its ``keypoints`` hold the 17 COCO ones), the first ``K`` names are
    matched, ``K = len(keypoints) / 3``.

    Args:
        path: the JSON file.
        image_root: folder the ``file_name`` entries are relative to; found from the file's
            location when None (see :func:`_resolve_image_root`).
        name: dataset name (default: the file's stem).

    Raises:
        DatasetError: unreadable JSON, no keypoint category, unknown keypoint names, or images
            that cannot be found.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict) or "annotations" not in data or "images" not in data:
        raise DatasetError(f"{path}: not a COCO annotation file (no 'images'/'annotations')")
    cats = [c for c in data.get("categories", []) if c.get("keypoints")]
    if not cats:
        raise DatasetError(f"{path}: no category with 'keypoints'")
    cat = cats[0]
    anns = [a for a in data["annotations"] if a.get("category_id", cat["id"]) == cat["id"]]
    k = len(anns[0]["keypoints"]) // 3 if anns else len(cat["keypoints"])
    skeleton = _skeleton_for(cat["keypoints"], k, path)
    root, strip = _resolve_image_root(path, [im["file_name"] for im in data["images"]],
                                      None if image_root is None else Path(image_root))
    by_image: dict[int, list[dict]] = {}
    for a in anns:
        by_image.setdefault(a["image_id"], []).append(a)
    images = []
    for im in data["images"]:
        rel = Path(*Path(im["file_name"]).parts[strip:])
        img_path = root / rel
        if not img_path.is_file():
            raise DatasetError(f"{path}: image {im['file_name']!r} not found at {img_path}")
        a_list = by_image.get(im["id"], [])
        p = len(a_list)
        kp = np.full((p, k, 2), np.nan, np.float32)
        vis = np.zeros((p, k), np.int8)
        boxes = np.zeros((p, 4), np.float32)
        areas = np.zeros(p, np.float32)
        crowd = np.zeros(p, bool)
        ids = np.zeros(p, np.int64)
        for i, a in enumerate(a_list):
            flat = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)[:k]
            v = np.clip(flat[:, 2], 0, 2).astype(np.int8)
            vis[i] = v
            kp[i, v > 0] = flat[v > 0, :2]
            x, y, w, h = a.get("bbox", (np.nan,) * 4)
            boxes[i] = (x, y, x + w, y + h)
            areas[i] = a["area"] if "area" in a else w * h
            crowd[i] = bool(a.get("iscrowd", 0))
            ids[i] = a.get("id", i)
        images.append(GTImage(path=img_path, size_wh=(int(im["width"]), int(im["height"])),
                              image_id=int(im["id"]), keypoints=kp, visibility=vis, boxes=boxes,
                              areas=areas, iscrowd=crowd, ann_ids=ids))
    kind_name = name or path.stem
    return Dataset(name=kind_name, skeleton=skeleton, images=tuple(images), source=path,
                   kind="coco", metric="oks", _key=_file_key(path, "coco", k))


# ----------------------------------------------------------------------------------------------
# LSP joints.mat

def load_lsp(path: str | Path, *, image_dir: str | Path | None = None,
             flag: str = "auto", name: str = "lsp") -> Dataset:
    """Read Leeds Sports Pose ``joints.mat`` (14 joints, LSP order; one person per image).

    Two layouts exist, told apart by the array's shape:

    - LSP (Johnson & Everingham 2010): ``3 x 14 x N``; the third row is 1 where the joint is
      **occluded** (0 = visible), so the flag is inverted here (the CPM/stacked-hourglass
      preprocessing ``genLSP.m`` does ``1 - joints(3,:,:)`` for the same reason).
    - LSP-extended (Johnson & Everingham 2011, and ``shared/data/lsp_cpm``): ``14 x 3 x N``;
      the third row is 1 where the joint is **visible**.

    ``flag`` overrides the guess: ``"visible"`` (1 = visible) or ``"occluded"`` (1 = occluded).
    Visible joints get visibility 2; invisible ones inside the image get 1 (labelled, occluded,
    counted by PCK as on LSP); invisible ones outside the image get 0 (not labelled, NaN):
    in LSP-extended these are placeholders such as (0, -38) or (-29.6, 0), shared by several
    joints of one person, not estimates.

    Images: ``image_dir`` or ``images/`` beside the file, named from ``joints_index.txt``
    (``<column> <file>`` per line, shared/data/lsp_cpm) where present, else ``im%05d.jpg``
    (LSP-extended) / ``im%04d.jpg`` (LSP) numbered from 1.

    Raises:
        DatasetError: unreadable file, no ``joints`` variable, an unexpected shape, or images
            that cannot be found.
    """
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises several types for a bad file
        raise DatasetError(f"cannot read {path}: {e}") from e
    if "joints" not in mat:
        raise DatasetError(f"{path}: no variable 'joints' (found {sorted(mat)})")
    j = np.asarray(mat["joints"], np.float64)
    if j.ndim != 3:
        raise DatasetError(f"{path}: joints: expected 3x14xN or 14x3xN, got {j.shape}")
    if j.shape[:2] == (3, 14):
        xyv = j.transpose(2, 1, 0)            # (N, 14, 3)
        guess, fmt = "occluded", "im%04d.jpg"
    elif j.shape[:2] == (14, 3):
        xyv = j.transpose(2, 0, 1)
        guess, fmt = "visible", "im%05d.jpg"
    else:
        raise DatasetError(f"{path}: joints: expected 3x14xN or 14x3xN, got {j.shape}")
    if flag == "auto":
        flag = guess
    if flag not in ("visible", "occluded"):
        raise DatasetError(f"flag must be 'auto', 'visible' or 'occluded', got {flag!r}")
    visible = xyv[..., 2] > 0.5
    if flag == "occluded":
        visible = ~visible
    n = xyv.shape[0]
    img_dir = Path(image_dir) if image_dir is not None else path.parent / "images"
    index = path.parent / "joints_index.txt"
    if index.is_file():
        files = {}
        for line in index.read_text().splitlines():
            if line.strip():
                col, fname = line.split()[:2]
                files[int(col)] = fname
        names = [files.get(i) for i in range(n)]
        if None in names:
            raise DatasetError(f"{index}: no image for column {names.index(None)}")
    else:
        names = [fmt % (i + 1) for i in range(n)]
    import cv2

    images = []
    for i in range(n):
        img_path = img_dir / names[i]
        if not img_path.is_file():
            raise DatasetError(f"{path}: image {img_path} not found")
        im = cv2.imread(str(img_path), cv2.IMREAD_UNCHANGED)
        if im is None:
            raise DatasetError(f"cannot decode {img_path}")
        kp = xyv[i, :, :2].astype(np.float32)[None]
        w, h = im.shape[1], im.shape[0]
        inside = ((kp[0] >= 0) & (kp[0] < (w, h))).all(axis=1)
        v = np.where(visible[i], 2, np.where(inside, 1, 0)).astype(np.int8)
        kp[0, v == 0] = np.nan
        vis = v[None]
        box = boxes_from_keypoints(kp[0][None])[0]
        images.append(GTImage(path=img_path, size_wh=(im.shape[1], im.shape[0]), image_id=i,
                              keypoints=kp, visibility=vis, boxes=box[None],
                              areas=np.array([(box[2] - box[0]) * (box[3] - box[1])], np.float32),
                              iscrowd=np.zeros(1, bool), ann_ids=np.array([i], np.int64)))
    return Dataset(name=name, skeleton=LSP_14, images=tuple(images), source=path, kind="lsp",
                   metric="pck", _key=_file_key(path, "lsp", flag))


# ----------------------------------------------------------------------------------------------
# MPII in mmpose's JSON list form

def load_mpii(path: str | Path, *, image_dir: str | Path | None = None,
              name: str = "mpii") -> Dataset:
    """Read MPII Human Pose annotations in the JSON list form of mmpose/HRNet.

    Each entry: ``image``, ``joints`` (16 x 2, MPII order), ``joints_vis`` (16; 0 where the
    joint is not annotated, then its coordinates are -1), ``center``, ``scale`` (person size / 200
    px). Entries of the same image are grouped into one :class:`GTImage`. Coordinates are MATLAB
    1-based in the source and are shifted by -1 (as mmpose 0.x ``TopDownMpiiDataset`` and HRNet
    do); annotated joints get visibility 2 (the file has no occlusion flag). Boxes are
    ``center +- scale * 100`` px (mmpose's ``pixel_std = 200``). Images: ``image_dir`` or the
    JSON's folder.

    Raises:
        DatasetError: unreadable file, unexpected layout, or images that cannot be found.
    """
    import cv2

    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    if not isinstance(entries, list) or not entries or "joints" not in entries[0]:
        raise DatasetError(f"{path}: expected a JSON list of MPII entries with 'joints'")
    img_dir = Path(image_dir) if image_dir is not None else path.parent
    groups: dict[str, list[tuple[int, dict]]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(e["image"], []).append((i, e))
    images = []
    for n_img, (fname, group) in enumerate(groups.items()):
        img_path = img_dir / fname
        im = cv2.imread(str(img_path), cv2.IMREAD_UNCHANGED) if img_path.is_file() else None
        if im is None:
            raise DatasetError(f"{path}: image {img_path} not found or unreadable")
        p = len(group)
        kp = np.full((p, 16, 2), np.nan, np.float32)
        vis = np.zeros((p, 16), np.int8)
        boxes = np.zeros((p, 4), np.float32)
        ids = np.zeros(p, np.int64)
        for r, (i, e) in enumerate(group):
            jt = np.asarray(e["joints"], np.float64)
            jv = np.asarray(e["joints_vis"], np.float64) > 0
            if jt.shape != (16, 2) or jv.shape != (16,):
                raise DatasetError(f"{path}: entry {i}: expected joints 16x2 and joints_vis 16, "
                                   f"got {jt.shape} and {jv.shape}")
            kp[r, jv] = jt[jv] - 1.0
            vis[r, jv] = 2
            c = np.asarray(e["center"], np.float64) - 1.0
            half = float(e["scale"]) * 100.0
            boxes[r] = (c[0] - half, c[1] - half, c[0] + half, c[1] + half)
            ids[r] = i
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        images.append(GTImage(path=img_path, size_wh=(im.shape[1], im.shape[0]),
                              image_id=n_img, keypoints=kp, visibility=vis, boxes=boxes,
                              areas=areas.astype(np.float32), iscrowd=np.zeros(p, bool),
                              ann_ids=ids))
    return Dataset(name=name, skeleton=MPII_16, images=tuple(images), source=path, kind="mpii",
                   metric="pckh", _key=_file_key(path, "mpii"))


# ----------------------------------------------------------------------------------------------
# Names for the sets in ../shared/data, and load_dataset

def default_data_root() -> Path:
    """``$POSEKIT_DATA`` or the ``shared/data`` folder beside the repository checkout."""
    import os

    env = os.environ.get("POSEKIT_DATA")
    if env:
        return Path(env)
    return (Path(__file__).resolve().parents[3] / "shared" / "data").resolve()


# short name -> path relative to the data root (shared/data, see its SOURCES.md)
KNOWN_SETS: dict[str, str] = {
    "tiny_coco_val": "tiny_coco_dataset/tiny_coco/annotations/person_keypoints_val2017.json",
    "tiny_coco_train": "tiny_coco_dataset/tiny_coco/annotations/person_keypoints_train2017.json",
    "kapao_val": "kapao-kelvin/data/datasets/coco/annotations/person_keypoints_val2017_mini.json",
    "kapao_train":
        "kapao-kelvin/data/datasets/coco/annotations/person_keypoints_train2017_mini.json",
    "litehrnet": "LiteHrnet/data/coco/annotations/val.json",
    "coco": "mmpose/tests/data/coco/test_coco.json",
    "ochuman": "mmpose/tests/data/ochuman/test_ochuman.json",
    "humanart": "mmpose/tests/data/humanart/test_humanart.json",
    "crowdpose": "mmpose/tests/data/crowdpose/test_crowdpose.json",
    "mpii": "mmpose/tests/data/mpii/test_mpii.json",
    "lsp": "lsp_cpm/joints.mat",
}
ALIASES = {"tiny_coco": "tiny_coco_val", "kapao": "kapao_val", "kapao-kelvin": "kapao_val",
           "LiteHrnet": "litehrnet", "mmpose_coco": "coco"}


def available_sets(root: str | Path | None = None) -> list[str]:
    """Known short names whose files exist under ``root`` (default :func:`default_data_root`)."""
    root = Path(root) if root is not None else default_data_root()
    return [n for n, rel in KNOWN_SETS.items() if (root / rel).is_file()]


def load_dataset(spec: str | Path, *, root: str | Path | None = None, **kwargs) -> Dataset:
    """Load a dataset from a short name (see :data:`KNOWN_SETS`) or a file path.

    Files: ``*.mat`` -> :func:`load_lsp`; a JSON list -> :func:`load_mpii`; a JSON object ->
    :func:`load_coco` (COCO-17 and CrowdPose-14). ``kwargs`` go to the loader.

    Raises:
        DatasetError: unknown name ("expected one of ..."), missing file, unknown format.
    """
    spec_s = str(spec)
    spec_s = ALIASES.get(spec_s, spec_s)
    name = None
    if spec_s in KNOWN_SETS:
        name = spec_s
        base = Path(root) if root is not None else default_data_root()
        path = base / KNOWN_SETS[spec_s]
        if not path.is_file():
            raise DatasetError(f"dataset {spec_s!r}: {path} not found (set POSEKIT_DATA to the "
                               "folder holding shared/data)")
    else:
        path = Path(spec_s)
        if not path.is_file():
            raise DatasetError(f"no dataset {spec_s!r}: not a file and not one of "
                               f"{', '.join(sorted(KNOWN_SETS))}")
    if path.suffix.lower() == ".mat":
        return load_lsp(path, **({"name": name} if name else {}), **kwargs)
    if path.suffix.lower() != ".json":
        raise DatasetError(f"{path}: unknown annotation format (expected .json or .mat)")
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    if head.startswith(b"["):
        return load_mpii(path, **({"name": name} if name else {}), **kwargs)
    return load_coco(path, name=name, **kwargs)


__all__ = [
    "KNOWN_SETS",
    "Dataset",
    "GTImage",
    "available_sets",
    "default_data_root",
    "load_coco",
    "load_dataset",
    "load_lsp",
    "load_mpii",
]
