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
- ``HAND_21``: MediaPipe Hands' ``HandLandmark`` enum and ``HAND_CONNECTIONS``
  (mediapipe/python/solutions/hands_connections.py); the same order as OpenPose's hand model.
- ``FACE_468``: MediaPipe Face Mesh's 468 landmarks (canonical_face_model.obj vertex order);
  edges are the contours of mediapipe/python/solutions/face_mesh_connections.py (lips, eyes,
  eyebrows, face oval).
- ``IBUG_68``: the iBUG 300-W 68-point markup (Sagonas et al., ICCV-W 2013), 0-based; mapped from
  the 468-point mesh with Peizhi Yan's correspondence (github.com/PeizhiYan/
  Mediapipe_2_Dlib_Landmarks, 2024: each point one mesh vertex or the mean of two).
- ``HOLISTIC_543``: whole body, one skeleton with named parts: BlazePose's 33 (``body``), then
  21 per hand (``left_hand``, ``right_hand``) and the 468-point mesh (``face``), as MediaPipe
  Holistic outputs them (pose, left hand, right hand, face).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Part:
    """A named range of a skeleton's keypoints (e.g. a whole-body skeleton's ``left_hand``).

    Attributes:
        name: ``"body"``, ``"left_hand"``, ``"right_hand"``, ``"face"``, ...
        start, stop: keypoints ``start`` to ``stop - 1`` of the whole skeleton.
        skeleton: the part on its own (``stop - start`` keypoints in the same order), e.g.
            ``HAND_21`` for a hand: what :meth:`posekit.types.Poses.part` returns poses of.
    """

    name: str
    start: int
    stop: int
    skeleton: Skeleton = field(repr=False)

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)


@dataclass(frozen=True)
class Skeleton:
    """A keypoint topology.

    Attributes:
        name: short identifier, e.g. ``"blazepose33"``.
        keypoints: keypoint names in output order (K names).
        edges: 0-based index pairs ``(a, b)`` drawn as limbs.
        flip_pairs: 0-based ``(left, right)`` pairs swapped by a horizontal flip.
        sigmas: per-keypoint OKS sigmas (K,) or None where OKS is not defined.
        parts: named keypoint ranges (:class:`Part`) of a whole-body skeleton; empty otherwise.

    Raises:
        ValueError: an edge, the sigmas or a part do not fit the K keypoints.
    """

    name: str
    keypoints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    sigmas: tuple[float, ...] | None = None
    parts: tuple[Part, ...] = ()
    _index: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.keypoints)})
        k = len(self.keypoints)
        for a, b in self.edges:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"{self.name}: edge ({a}, {b}) outside 0..{k - 1}")
        if self.sigmas is not None and len(self.sigmas) != k:
            raise ValueError(f"{self.name}: expected {k} sigmas, got {len(self.sigmas)}")
        for p in self.parts:
            if not (0 <= p.start < p.stop <= k) or len(p.skeleton) != len(p):
                raise ValueError(f"{self.name}: part {p.name!r} ({p.start}..{p.stop}, "
                                 f"{len(p.skeleton)} keypoints) does not fit 0..{k}")

    def part(self, name: str) -> Part:
        """The :class:`Part` called ``name``; raises KeyError with the valid names."""
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no part {name!r}; expected one of "
                       f"{', '.join(p.name for p in self.parts) or '(no parts)'}")

    def has_part(self, name: str) -> bool:
        return any(p.name == name for p in self.parts)

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

# ---------------------------------------------------------------------------- hands and faces

_FINGERS = ("thumb", "index_finger", "middle_finger", "ring_finger", "pinky")
_HAND_NAMES = ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip") + tuple(
    f"{f}_{j}" for f in _FINGERS[1:] for j in ("mcp", "pip", "dip", "tip"))
# mediapipe/python/solutions/hands_connections.py: HAND_PALM_CONNECTIONS + the five fingers.
_HAND_EDGES = ((0, 1), (0, 5), (9, 13), (13, 17), (5, 9), (0, 17), (1, 2), (2, 3), (3, 4),
               (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12), (13, 14), (14, 15),
               (15, 16), (17, 18), (18, 19), (19, 20))

HAND_21 = Skeleton("hand21", _HAND_NAMES, _HAND_EDGES)

#: Rows of HAND_21 per finger, base to tip (finger states, drawing).
HAND_FINGERS: dict[str, tuple[int, ...]] = {
    "thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16), "pinky": (17, 18, 19, 20)}

# mediapipe/python/solutions/face_mesh_connections.py (FACEMESH_CONTOURS)
FACE_CONTOURS: dict[str, tuple[tuple[int, int], ...]] = {
    "lips": ((0, 267), (13, 312), (14, 317), (17, 314), (37, 0), (39, 37), (40, 39), (61, 146),
             (61, 185), (78, 95), (78, 191), (80, 81), (81, 82), (82, 13), (84, 17), (87, 14),
             (88, 178), (91, 181), (95, 88), (146, 91), (178, 87), (181, 84), (185, 40),
             (191, 80), (267, 269), (269, 270), (270, 409), (310, 415), (311, 310),
             (312, 311), (314, 405), (317, 402), (318, 324), (321, 375), (324, 308),
             (375, 291), (402, 318), (405, 321), (409, 291), (415, 308)),
    "left_eye": ((249, 390), (263, 249), (263, 466), (373, 374), (374, 380), (380, 381),
                 (381, 382), (382, 362), (384, 398), (385, 384), (386, 385), (387, 386),
                 (388, 387), (390, 373), (398, 362), (466, 388)),
    "left_eyebrow": ((276, 283), (282, 295), (283, 282), (293, 334), (295, 285), (296, 336),
                     (300, 293), (334, 296)),
    "right_eye": ((7, 163), (33, 7), (33, 246), (144, 145), (145, 153), (153, 154),
                  (154, 155), (155, 133), (157, 173), (158, 157), (159, 158), (160, 159),
                  (161, 160), (163, 144), (173, 133), (246, 161)),
    "right_eyebrow": ((46, 53), (52, 65), (53, 52), (63, 105), (65, 55), (66, 107), (70, 63),
                      (105, 66)),
    "face_oval": ((10, 338), (21, 54), (54, 103), (58, 132), (67, 109), (93, 234), (103, 67),
                  (109, 10), (127, 162), (132, 93), (136, 172), (148, 176), (149, 150),
                  (150, 136), (152, 148), (162, 21), (172, 58), (176, 149), (234, 127),
                  (251, 389), (284, 251), (288, 397), (297, 332), (323, 361), (332, 284),
                  (338, 297), (356, 454), (361, 288), (365, 379), (377, 152), (378, 400),
                  (379, 378), (389, 356), (397, 365), (400, 377), (454, 323)),
}

_FACE_NAMES = tuple(f"mesh_{i:03d}" for i in range(468))
FACE_468 = Skeleton("face468", _FACE_NAMES,
                    tuple(e for edges in FACE_CONTOURS.values() for e in edges))

# iBUG 68, 0-based, named by side so that flips pair up by name: "right" is the person's right
# (image left for a face looking at the camera), as in the 300-W markup (point 0 is at the
# person's right ear, 36 the outer corner of the right eye, 48 the right mouth corner).
_IBUG_NAMES = (
    tuple(f"right_jaw_{i}" for i in range(8)) + ("chin",)
    + tuple(f"left_jaw_{i}" for i in range(7, -1, -1))
    + tuple(f"right_brow_{i}" for i in range(5)) + tuple(f"left_brow_{i}" for i in range(4, -1, -1))
    + tuple(f"nose_bridge_{i}" for i in range(4))
    + ("right_nostril_1", "right_nostril_0", "nose_base", "left_nostril_0", "left_nostril_1")
    + tuple(f"right_eye_{i}" for i in range(6))
    + tuple(f"left_eye_{i}" for i in (3, 2, 1, 0, 5, 4))
    + ("right_mouth_0", "right_mouth_1", "right_mouth_2", "upper_lip_top", "left_mouth_2",
       "left_mouth_1", "left_mouth_0", "left_mouth_3", "left_mouth_4", "lower_lip_bottom",
       "right_mouth_4", "right_mouth_3")
    + ("right_inner_mouth_0", "right_inner_mouth_1", "upper_lip_inner", "left_inner_mouth_1",
       "left_inner_mouth_0", "left_inner_mouth_2", "lower_lip_inner", "right_inner_mouth_2"))


def _chain(a: int, b: int, closed: bool = False) -> tuple[tuple[int, int], ...]:
    e = tuple((i, i + 1) for i in range(a, b))
    return e + ((b, a),) if closed else e


_IBUG_EDGES = (_chain(0, 16) + _chain(17, 21) + _chain(22, 26) + _chain(27, 30) + _chain(31, 35)
               + ((30, 33),) + _chain(36, 41, True) + _chain(42, 47, True) + _chain(48, 59, True)
               + _chain(60, 67, True))
IBUG_68 = Skeleton("ibug68", _IBUG_NAMES, _IBUG_EDGES, _flips(_IBUG_NAMES))

#: iBUG-68 point -> the face-mesh vertices whose mean it is (Peizhi Yan's correspondence,
#: github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks), in iBUG order.
IBUG_FROM_MESH: tuple[tuple[int, ...], ...] = (
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,), (400,),
    (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),                 # jaw
    (70,), (63,), (105,), (66,), (107,), (336,), (296,), (334,), (293,), (300,),  # brows
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),          # nose
    (33,), (160,), (158,), (133,), (153,), (144,),                                # right eye
    (362,), (385,), (387,), (263,), (373,), (380,),                               # left eye
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),                    # lips
)

_BODY_PART = Part("body", 0, 33, BLAZEPOSE_33)
_HOLISTIC_NAMES = (_BP_NAMES + tuple(f"left_hand_{n}" for n in _HAND_NAMES)
                   + tuple(f"right_hand_{n}" for n in _HAND_NAMES) + _FACE_NAMES)


def _shift(edges, k: int) -> tuple[tuple[int, int], ...]:
    return tuple((a + k, b + k) for a, b in edges)


HOLISTIC_543 = Skeleton(
    "holistic543", _HOLISTIC_NAMES,
    _BP_EDGES + _shift(_HAND_EDGES, 33) + _shift(_HAND_EDGES, 54) + _shift(FACE_468.edges, 75),
    _flips(_HOLISTIC_NAMES) + ((9, 10),),
    parts=(_BODY_PART, Part("left_hand", 33, 54, HAND_21), Part("right_hand", 54, 75, HAND_21),
           Part("face", 75, 543, FACE_468)))

SKELETONS = {s.name: s for s in (BLAZEPOSE_33, COCO_17, LSP_14, MPII_16, CROWDPOSE_14,
                                    HAND_21, FACE_468, IBUG_68, HOLISTIC_543)}

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
MAPPINGS[("holistic543", "lsp14")] = MAPPINGS[("holistic543", "mpii16")] = \
    MAPPINGS[("holistic543", "crowdpose14")] = dict(_DERIVED)
MAPPINGS[("face468", "ibug68")] = {
    n: tuple(_FACE_NAMES[i] for i in src) for n, src in zip(_IBUG_NAMES, IBUG_FROM_MESH)}
MAPPINGS[("holistic543", "ibug68")] = MAPPINGS[("face468", "ibug68")]


@functools.lru_cache(maxsize=64)
def mapping_matrix(src: Skeleton, dst: Skeleton) -> np.ndarray:
    """Averaging matrix ``M`` (K_dst, K_src) float32 so that ``dst_xy = M @ src_xy``.

    Row ``j`` has weight ``1/n`` on each of the ``n`` source keypoints destination ``j`` is
    the mean of; an all-zero row marks a destination keypoint that ``src`` cannot provide.
    Computed once per pair of skeletons and returned read-only.
    """
    derived = MAPPINGS.get((src.name, dst.name), {})
    m = np.zeros((len(dst), len(src)), np.float32)
    for j, name in enumerate(dst.keypoints):
        if name in src._index:
            m[j, src._index[name]] = 1.0
        elif name in derived:
            ids = [src.index(n) for n in derived[name]]
            m[j, ids] = 1.0 / len(ids)
    m.setflags(write=False)
    return m


def get_skeleton(name: str) -> Skeleton:
    """The skeleton registered as ``name`` in :data:`SKELETONS` (``coco17``, ``ibug68``, ...).

    Raises:
        KeyError: an unknown name (the message lists the valid ones).
    """
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; expected one of "
                       f"{', '.join(sorted(SKELETONS))}") from None


def can_map(src: Skeleton, dst: Skeleton) -> bool:
    """Whether ``poses.to(dst)`` gives ``src`` poses any keypoint at all (some destination
    keypoint is named in ``src`` or derived from it by :data:`MAPPINGS`)."""
    return src == dst or bool(mapping_matrix(src, dst).any())
