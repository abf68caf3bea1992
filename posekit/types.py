"""Core data types: :class:`Frame` and :class:`Poses` (numpy only).

Coordinate frame everywhere: pixels of the original frame, x right, y down, origin at the
top-left corner of the top-left pixel. World coordinates are metres, hip-centred (BlazePose:
origin at the midpoint of the hips, x right, y down, z towards the camera negative).
Colour order inside posekit is BGR (OpenCV's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .skeletons import Skeleton, mapping_matrix


@dataclass(frozen=True)
class Frame:
    """One decoded image.

    Attributes:
        image: (H, W, 3) uint8 BGR.
        index: 0-based frame index in decode order.
        time_s: presentation time in seconds (from the container; ``index / fps`` where the
            container has none; 0.0 for still images).
        source: free-form name of where the frame came from (file path, ``camera:0``...).
    """

    image: np.ndarray
    index: int = 0
    time_s: float = 0.0
    source: str = ""

    def __post_init__(self):
        im = self.image
        if not isinstance(im, np.ndarray) or im.ndim != 3 or im.shape[2] != 3 \
                or im.dtype != np.uint8:
            got = (getattr(im, "shape", type(im).__name__), getattr(im, "dtype", ""))
            raise ValueError(f"Frame.image: expected (H, W, 3) uint8 BGR, got {got}")

    @property
    def shape_hw(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]


def _f32(a, name: str, shape: tuple) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"Poses.{name}: expected {want}, got {a.shape}")
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Poses:
    """N persons of one skeleton in one frame. Immutable: stages return new objects.

    Attributes:
        keypoints: (N, K, 2) float32, pixels of the original frame (x right, y down). A missing
            keypoint is NaN, never (0, 0).
        scores: (N, K) float32 in [0, 1]: visibility/confidence (0 for a missing keypoint).
        skeleton: the :class:`Skeleton` with K keypoints.
        boxes: (N, 4) float32 xyxy pixels; derived from the keypoints when not given.
        person_scores: (N,) float32 in [0, 1]; mean keypoint score when not given.
        world: (N, K, 3) float32 metres, hip-centred, or None.
        presence: (N, K) float32 in [0, 1] (BlazePose's "inside the image" score) or None.
        track_ids: (N,) int64 or None before tracking.
        extras: per-person optional arrays, each with N as first axis (e.g. ``"heatmaps"``),
            or frame-level values; not validated beyond the leading N for arrays.

    Raises:
        ValueError: an array has the wrong shape ("expected (N, K, 2), got ...").
    """

    keypoints: np.ndarray
    scores: np.ndarray
    skeleton: Skeleton
    boxes: np.ndarray | None = None
    person_scores: np.ndarray | None = None
    world: np.ndarray | None = None
    presence: np.ndarray | None = None
    track_ids: np.ndarray | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        k = len(self.skeleton)
        kp = _f32(self.keypoints, "keypoints", (None, k, 2))
        n = kp.shape[0]
        set_ = lambda name, v: object.__setattr__(self, name, v)
        set_("keypoints", kp)
        set_("scores", _f32(self.scores, "scores", (n, k)))
        if self.boxes is None:
            set_("boxes", _f32(boxes_from_keypoints(kp), "boxes", (n, 4)))
        else:
            set_("boxes", _f32(self.boxes, "boxes", (n, 4)))
        if self.person_scores is None:
            ps = np.nanmean(self.scores, axis=1) if k and n else np.zeros(n, np.float32)
            set_("person_scores", _f32(ps, "person_scores", (n,)))
        else:
            set_("person_scores", _f32(self.person_scores, "person_scores", (n,)))
        if self.world is not None:
            set_("world", _f32(self.world, "world", (n, k, 3)))
        if self.presence is not None:
            set_("presence", _f32(self.presence, "presence", (n, k)))
        if self.track_ids is not None:
            t = np.asarray(self.track_ids, dtype=np.int64)
            if t.shape != (n,):
                raise ValueError(f"Poses.track_ids: expected ({n},), got {t.shape}")
            t.setflags(write=False)
            set_("track_ids", t)
        set_("extras", dict(self.extras))

    @classmethod
    def empty(cls, skeleton: Skeleton, with_world: bool = False) -> Poses:
        """No persons, for ``skeleton``."""
        k = len(skeleton)
        return cls(np.zeros((0, k, 2)), np.zeros((0, k)), skeleton,
                   world=np.zeros((0, k, 3)) if with_world else None)

    def __len__(self) -> int:
        return self.keypoints.shape[0]

    def __getitem__(self, idx) -> Poses:
        """Select persons by an int, slice, index array or boolean mask; returns ``Poses``."""
        if isinstance(idx, (int, np.integer)):
            idx = [int(idx)]

        def sel(a):
            if a is None:
                return None
            out = a[idx]
            out.setflags(write=False)
            return out

        n = len(self)
        extras = {key: (v[idx] if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == n
                        else v) for key, v in self.extras.items()}
        # rows of validated arrays are valid: no second validation (a hot path of tracking)
        return self._unchecked(keypoints=sel(self.keypoints), scores=sel(self.scores),
                               skeleton=self.skeleton, boxes=sel(self.boxes),
                               person_scores=sel(self.person_scores), world=sel(self.world),
                               presence=sel(self.presence), track_ids=sel(self.track_ids),
                               extras=extras)

    @classmethod
    def _unchecked(cls, **fields) -> Poses:
        """A :class:`Poses` of already validated (read-only, float32, consistent) arrays,
        without ``__post_init__``."""
        out = object.__new__(cls)
        for name, value in fields.items():
            object.__setattr__(out, name, value)
        return out

    def replace(self, **changes) -> Poses:
        """A copy with some fields changed (``dataclasses.replace``; validated, except a change
        of ``extras`` alone, which is not validated anyway)."""
        if changes.keys() == {"extras"}:
            fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
            return self._unchecked(**{**fields, "extras": dict(changes["extras"])})
        return replace(self, **changes)

    def part(self, name: str) -> Poses:
        """The keypoints of one named part (``"left_hand"``, ``"face"``, ...) of a whole-body
        skeleton, as :class:`Poses` of the part's own skeleton (e.g. ``HAND_21``): same persons
        and track IDs, keypoints, scores, world and presence sliced, boxes around the part's
        finite keypoints (NaN where the part is missing), person scores the part's mean score.

        Raises:
            KeyError: the skeleton has no part ``name`` (the message lists its parts).
        """
        p = self.skeleton.part(name)
        sl = p.slice
        kp, sc = self.keypoints[:, sl], self.scores[:, sl]
        ps = sc.mean(axis=1) if len(p) and len(self) else np.zeros(len(self), np.float32)
        return Poses(kp, sc, p.skeleton, boxes_from_keypoints(kp), ps,
                     None if self.world is None else self.world[:, sl],
                     None if self.presence is None else self.presence[:, sl], self.track_ids)

    @classmethod
    def concat(cls, *parts: Poses) -> Poses:
        """The persons of ``parts`` in order, as one :class:`Poses` (one skeleton).

        Optional fields missing on one side are filled (world NaN, presence 0, track IDs
        dropped unless every part has them); per-person extras only some parts have are filled
        for the others' persons (NaN for floats, -1 for integers, False for booleans); other
        extras are the first part's.

        Raises:
            ValueError: no parts, or parts of different skeletons.
        """
        if not parts:
            raise ValueError("Poses.concat: expected at least one Poses, got none")
        out = parts[0]
        for b in parts[1:]:
            if b.skeleton != out.skeleton:
                raise ValueError(f"Poses.concat: expected one skeleton, got "
                                 f"{out.skeleton.name} and {b.skeleton.name}")
            out = _concat2(out, b)
        return out

    def to(self, skeleton: Skeleton) -> Poses:
        """The same persons expressed in ``skeleton`` (e.g. ``poses.to(COCO_17)``).

        Each destination keypoint is the mean of its source keypoints (see
        :data:`posekit.skeletons.MAPPINGS`) with the minimum of their scores; keypoints the
        source cannot provide are NaN with score 0. Boxes, person scores and track IDs carry
        over; extras do not.
        """
        if skeleton == self.skeleton:
            return self
        m = mapping_matrix(self.skeleton, skeleton)
        used = m > 0
        if (used.sum(axis=1) <= 1).all():
            return self._gather(skeleton, used)
        # A destination keypoint is missing where any source it averages is missing (NaN),
        # or where the source skeleton cannot provide it at all (an all-zero row).
        src_missing = ~np.isfinite(self.keypoints).all(axis=2)               # (N, K_src)
        dst_missing = (src_missing.astype(np.float32) @ used.T.astype(np.float32)) > 0
        dst_missing |= ~used.any(axis=1)[None, :]
        kp = np.einsum("jk,nkc->njc", m, np.nan_to_num(self.keypoints))
        kp[dst_missing] = np.nan
        sc = np.zeros((len(self), len(skeleton)), np.float32)
        for j in range(len(skeleton)):
            if used[j].any():
                sc[:, j] = self.scores[:, used[j]].min(axis=1)
        sc[dst_missing] = 0.0
        world = None
        if self.world is not None:
            w_missing = ~np.isfinite(self.world).all(axis=2)
            world = np.einsum("jk,nkc->njc", m, np.nan_to_num(self.world))
            world[((w_missing.astype(np.float32) @ used.T.astype(np.float32)) > 0)
                  | ~used.any(axis=1)[None, :]] = np.nan
        return Poses(kp, sc, skeleton, self.boxes, self.person_scores, world, None,
                     self.track_ids)

    def _gather(self, skeleton: Skeleton, used: np.ndarray) -> Poses:
        """:meth:`to` where every destination keypoint is one source keypoint or none (e.g.
        BlazePose -> COCO-17): a selection of columns, the same result as the averaging."""
        has = used.any(axis=1)                                               # (K_dst,)
        src = np.where(has, used.argmax(axis=1), 0)
        kp = self.keypoints[:, src]                                          # copies
        sc = self.scores[:, src]
        missing = ~np.isfinite(kp).all(axis=2) | ~has[None, :]
        kp[missing] = np.nan
        sc[missing] = 0.0
        world = None
        if self.world is not None:
            world = self.world[:, src]
            world[~np.isfinite(world).all(axis=2) | ~has[None, :]] = np.nan
        return Poses(kp, sc, skeleton, self.boxes, self.person_scores, world, None,
                     self.track_ids)


def _concat2(a: Poses, b: Poses) -> Poses:
    """Persons of ``a`` then ``b`` (see :meth:`Poses.concat`)."""
    n, m = len(a), len(b)

    def both(x, y, shape, fill):
        if x is None and y is None:
            return None
        x = np.full((n, *shape), fill, np.float32) if x is None else x
        y = np.full((m, *shape), fill, np.float32) if y is None else y
        return np.concatenate([x, y])

    k = len(a.skeleton)

    def per_person(x, count):
        return isinstance(x, np.ndarray) and x.ndim and x.shape[0] == count

    def filled(like, count):
        fill = (False if like.dtype == bool else -1 if np.issubdtype(like.dtype, np.integer)
                else np.nan)
        return np.full((count, *like.shape[1:]), fill, like.dtype)

    extras = {}
    for key, v in a.extras.items():
        if not per_person(v, n):
            extras[key] = v
            continue
        w = b.extras.get(key)
        if not (per_person(w, m) and w.shape[1:] == v.shape[1:]):
            w = filled(v, m)
        extras[key] = np.concatenate([v, w.astype(v.dtype)])
    for key, w in b.extras.items():      # per-person extras only ``b`` has
        if key not in extras and per_person(w, m):
            extras[key] = np.concatenate([filled(w, n), w])
    return Poses(np.concatenate([a.keypoints, b.keypoints]),
                 np.concatenate([a.scores, b.scores]), a.skeleton,
                 boxes=np.concatenate([a.boxes, b.boxes]),
                 person_scores=np.concatenate([a.person_scores, b.person_scores]),
                 world=both(a.world, b.world, (k, 3), np.nan),
                 presence=both(a.presence, b.presence, (k,), 0.0),
                 track_ids=None if a.track_ids is None or b.track_ids is None
                 else np.concatenate([a.track_ids, b.track_ids]), extras=extras)


def boxes_from_keypoints(keypoints: np.ndarray, scores: np.ndarray | None = None,
                         min_score: float = 0.0, *, pad: float = 0.0, min_pad_px: float = 0.0,
                         min_count: int = 0, clip_wh: tuple[int, int] | None = None
                         ) -> np.ndarray:
    """A person's box: xyxy (N, 4) float32 pixels around its finite keypoints (N, K, 2).

    This is posekit's one definition of a person's box from keypoints (a :class:`Poses`
    without boxes, BlazePose's persons, boxes of labelled keypoints in datasets). The body
    outline for pedestrian-style boxes (head top to soles, MOTChallenge) is a different thing:
    :func:`posekit.track.body_boxes`.

    Args:
        keypoints: (N, K, 2) pixels; NaN keypoints are ignored.
        scores: (N, K) optional; keypoints scored at or below ``min_score`` are ignored.
        min_count: where fewer than this many keypoints pass ``min_score``, every finite
            keypoint counts instead (0: never).
        pad: padding on each side as a fraction of the keypoints' extent on that axis.
        min_pad_px: the least padding on each side, pixels.
        clip_wh: (width, height) to clip the box to the image, or None.
    Returns:
        (N, 4) float32; a person with no finite keypoint gets a NaN box.
    """
    kp = np.asarray(keypoints, np.float32)
    n = kp.shape[0]
    out = np.full((n, 4), np.nan, np.float32)
    finite = np.isfinite(kp).all(axis=2)
    use = finite if scores is None else finite & (np.asarray(scores) > min_score)
    clip = None if clip_wh is None else np.asarray(clip_wh, np.float32)
    for i in range(n):
        m = use[i] if use[i].sum() >= min_count else finite[i]
        if not m.any():
            continue
        p = kp[i, m]
        lo, hi = p.min(axis=0), p.max(axis=0)
        if pad > 0 or min_pad_px > 0:
            d = np.maximum(pad * (hi - lo), min_pad_px)
            lo, hi = lo - d, hi + d
        if clip is not None:
            lo, hi = np.maximum(lo, 0), np.minimum(hi, clip)
        out[i] = (lo[0], lo[1], hi[0], hi[1])
    return out


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas (A, B) float64, square pixels, of xyxy boxes ``a`` (A, 4) and ``b``
    (B, 4) in pixels."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(rb - lt, 0, None), axis=2)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas (N,) float64, square pixels, of xyxy boxes (N, 4) in pixels (0 where empty)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (A, B) float64 of xyxy boxes ``a`` (A, 4) and ``b`` (B, 4) in pixels; 0 where the
    union is empty."""
    inter = box_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
