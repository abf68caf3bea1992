"""Skeletons: keypoint names, edges, left/right flip pairs, OKS sigmas, and mappings between them.

A :class:`Skeleton` is data carried by every :class:`posekit.types.Poses`; posekit never guesses
a skeleton from the number of keypoints.

Sources:
- ``BLAZEPOSE_33``: MediaPipe ``PoseLandmark`` enum and ``POSE_CONNECTIONS``
  (mediapipe/python/solutions/pose_connections.py), BlazePose paper arXiv:2006.10204, Fig. 4.
- ``COCO_17``: COCO keypoint task (cocodataset.org/#format-data); sigmas from pycocotools
  ``cocoeval.py`` ``kpt_oks_sigmas`` (= per-keypoint standard deviation / 10).
- ``LSP_14``: Leeds Sports Pose (Johnson & Everingham, BMVC 2010) joint order.
- ``MPII_16``: MPII Human Pose (Andriluka et al., CVPR 2014) joint order as used by mmpose.
- ``CROWDPOSE_14``: CrowdPose (Li et al., CVPR 2019) order and sigmas as in mmpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """A keypoint topology.

    Attributes:
        name: short identifier, e.g. ``"blazepose33"``.
        keypoints: keypoint names in output order (K names).
        edges: 0-based index pairs ``(a, b)`` drawn as limbs.
        flip_pairs: 0-based ``(left, right)`` pairs swapped by a horizontal flip.
        sigmas: per-keypoint OKS sigmas (K,) or None where OKS is not defined.
    """

    name: str
    keypoints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    sigmas: tuple[float, ...] | None = None
    _index: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.keypoints)})
        k = len(self.keypoints)
        for a, b in self.edges:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"{self.name}: edge ({a}, {b}) outside 0..{k - 1}")
        if self.sigmas is not None and len(self.sigmas) != k:
            raise ValueError(f"{self.name}: expected {k} sigmas, got {len(self.sigmas)}")

    def __len__(self) -> int:
        return len(self.keypoints)

    def index(self, name: str) -> int:
        """0-based index of keypoint ``name``; raises KeyError with the valid names."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"{self.name} has no keypoint {name!r}; expected one of "
                           f"{', '.join(self.keypoints)}") from None

    def side(self, i: int) -> str:
        """``"left"``, ``"right"`` or ``"center"`` for keypoint ``i`` (from its name)."""
        n = self.keypoints[i]
        return "left" if n.startswith("left") else "right" if n.startswith("right") else "center"


def _edges(names: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    idx = {n: i for i, n in enumerate(names)}
    return tuple((idx[a], idx[b]) for a, b in pairs)


def _flips(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    idx = {n: i for i, n in enumerate(names)}
    return tuple((i, idx["right" + n[4:]]) for i, n in enumerate(names)
                 if n.startswith("left") and "right" + n[4:] in idx)


_BP_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)
# mediapipe/python/solutions/pose_connections.py POSE_CONNECTIONS
_BP_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12),
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18),
    (16, 20), (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27),
    (26, 28), (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)

BLAZEPOSE_33 = Skeleton("blazepose33", _BP_NAMES, _BP_EDGES, _flips(_BP_NAMES) + ((9, 10),))

_COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# COCO's skeleton from person_keypoints annotations (1-based there), made 0-based.
_COCO_EDGES = tuple((a - 1, b - 1) for a, b in (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)))
COCO_SIGMAS = (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87,
               .89, .89)
COCO_SIGMAS = tuple(s / 10.0 for s in COCO_SIGMAS)

COCO_17 = Skeleton("coco17", _COCO_NAMES, _COCO_EDGES, _flips(_COCO_NAMES), COCO_SIGMAS)

_LSP_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)
LSP_14 = Skeleton("lsp14", _LSP_NAMES, _edges(_LSP_NAMES, [
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "left_hip"), ("right_wrist", "right_elbow"),
    ("right_elbow", "right_shoulder"), ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"), ("right_shoulder", "neck"), ("left_shoulder", "neck"),
    ("neck", "head_top"), ("right_shoulder", "right_hip"), ("left_shoulder", "left_hip")]),
    _flips(_LSP_NAMES))

_MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis",
    "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder",
    "left_shoulder", "left_elbow", "left_wrist",
)
MPII_16 = Skeleton("mpii16", _MPII_NAMES, _edges(_MPII_NAMES, [
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("right_hip", "pelvis"),
    ("pelvis", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("pelvis", "thorax"), ("thorax", "upper_neck"), ("upper_neck", "head_top"),
    ("right_wrist", "right_elbow"), ("right_elbow", "right_shoulder"),
    ("right_shoulder", "thorax"), ("thorax", "left_shoulder"), ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist")]), _flips(_MPII_NAMES))

_CROWD_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head_top",
    "neck",
)
CROWDPOSE_14 = Skeleton("crowdpose14", _CROWD_NAMES, _edges(_CROWD_NAMES, [
    ("head_top", "neck"), ("neck", "left_shoulder"), ("neck", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
    ("right_knee", "right_ankle")]), _flips(_CROWD_NAMES),
    # mmpose configs/_base_/datasets/crowdpose.py sigmas
    (.079, .079, .072, .072, .062, .062, 0.107, 0.107, .087, .087, .089, .089, .079, .079))

SKELETONS = {s.name: s for s in (BLAZEPOSE_33, COCO_17, LSP_14, MPII_16, CROWDPOSE_14)}

# Mappings as data: destination keypoint -> source keypoints whose mean it is. Keypoints with
# the same name map one-to-one without being listed. A destination keypoint that cannot be
# formed (no entry, no same-named source) becomes missing (NaN, score 0).
_DERIVED: dict[str, tuple[str, ...]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "thorax": ("left_shoulder", "right_shoulder"),
    "upper_neck": ("left_shoulder", "right_shoulder", "nose"),
    "pelvis": ("left_hip", "right_hip"),
}
MAPPINGS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    # "head_top" has no BlazePose or COCO counterpart; evaluation code may extrapolate it.
    (src, dst): dict(_DERIVED) for src in ("blazepose33", "coco17")
    for dst in ("lsp14", "mpii16", "crowdpose14")
}


def mapping_matrix(src: Skeleton, dst: Skeleton) -> np.ndarray:
    """Averaging matrix ``M`` (K_dst, K_src) float32 so that ``dst_xy = M @ src_xy``.

    Row ``j`` has weight ``1/n`` on each of the ``n`` source keypoints destination ``j`` is
    the mean of; an all-zero row marks a destination keypoint that ``src`` cannot provide.
    """
    derived = MAPPINGS.get((src.name, dst.name), {})
    m = np.zeros((len(dst), len(src)), np.float32)
    for j, name in enumerate(dst.keypoints):
        if name in src._index:
            m[j, src._index[name]] = 1.0
        elif name in derived:
            ids = [src.index(n) for n in derived[name]]
            m[j, ids] = 1.0 / len(ids)
    return m
