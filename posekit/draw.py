"""Annotators: skeletons, boxes and IDs, labels and a heads-up display, drawn with OpenCV.

All functions take and return (H, W, 3) uint8 BGR images in pixels of the original frame and
draw on a copy unless ``inplace=True``.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from .skeletons import FACE_468, FACE_CONTOURS, HAND_21, HAND_FINGERS
from .types import Poses

# BGR colours for limbs by side: left warm (orange), right cool (blue), centre neutral.
SIDE_COLORS = {"left": (0, 140, 255), "right": (255, 120, 0), "center": (200, 200, 200)}
#: BGR colour of each finger's bones (and the palm's), as MediaPipe's hand drawing style.
FINGER_COLORS = {"palm": (180, 180, 180), "thumb": (48, 255, 255), "index": (128, 64, 128),
                 "middle": (0, 204, 255), "ring": (48, 255, 48), "pinky": (192, 101, 21)}
#: BGR colour of each face contour.
FACE_COLORS = {"lips": (80, 80, 255), "left_eye": (0, 140, 255), "left_eyebrow": (0, 140, 255),
               "right_eye": (255, 120, 0), "right_eyebrow": (255, 120, 0),
               "face_oval": (224, 224, 224)}


def color_for_id(track_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour for a track ID (golden-ratio hue steps)."""
    h = (int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def _scale(image: np.ndarray) -> float:
    return max(0.5, min(image.shape[:2]) / 720.0)


def draw_poses(image: np.ndarray, poses: Poses, *, min_score: float = 0.5,
               boxes: bool = True, labels: bool = True, inplace: bool = False) -> np.ndarray:
    """Draw each person's skeleton, keypoints, box and label.

    Edges are coloured by side (left orange, right blue, centre grey) and drawn where both ends
    have score >= ``min_score``; keypoints are shaded by score (dark = low visibility). The box
    and label use the person's track colour when ``poses.track_ids`` is set (label ``#id``),
    otherwise the person index. Hands (``HAND_21``, or the hand parts of a whole-body skeleton)
    are drawn as finger bones (:func:`draw_hands`), faces (``FACE_468`` or the face part) as
    mesh contours (:func:`draw_faces`).
    """
    img = image if inplace else image.copy()
    s = _scale(img)
    thick = max(1, int(round(2 * s)))
    body, hands, faces = _part_views(poses)
    if body is not None:
        _draw_limbs(img, body, min_score, s)
    for hand in hands:
        draw_hands(img, hand, min_score=min_score, inplace=True)
    for face in faces:
        draw_faces(img, face, min_score=min_score, inplace=True)
    for i in range(len(poses)):
        if poses.track_ids is not None:
            color, text = color_for_id(poses.track_ids[i]), f"#{int(poses.track_ids[i])}"
        else:
            color, text = (0, 255, 0), f"{i}"
        box = poses.boxes[i]
        if not np.isfinite(box).all():
            continue
        x1, y1, x2, y2 = box.round().astype(int)
        if boxes:
            cv2.rectangle(img, (x1, y1), (x2, y2), color, thick)
        if labels:
            text = f"{text} {float(poses.person_scores[i]):.2f}"
            draw_label(img, text, (x1, y1), color, inplace=True)
    return img


def _draw_limbs(img: np.ndarray, poses: Poses, min_score: float, s: float) -> None:
    """Edges coloured by side and keypoints shaded by score, in place."""
    thick = max(1, int(round(2 * s)))
    rad = max(2, int(round(3 * s)))
    sk = poses.skeleton
    sides = [sk.side(i) for i in range(len(sk))]
    base = np.array([SIDE_COLORS[sd] for sd in sides], np.float64)        # (K, 3) BGR
    edge_cols = [SIDE_COLORS[sides[a] if sides[a] == sides[b] else "center"]
                 for a, b in sk.edges]
    for i in range(len(poses)):
        kp, sc = poses.keypoints[i], poses.scores[i]
        seen = np.isfinite(kp).all(axis=1)
        ok = (seen & (sc >= min_score)).tolist()
        pts = [tuple(p) for p in np.nan_to_num(kp).round().astype(np.int32).tolist()]
        for (a, b), col in zip(sk.edges, edge_cols):
            if ok[a] and ok[b]:
                cv2.line(img, pts[a], pts[b], col, thick, cv2.LINE_AA)
        # keypoints shaded by score: dark = low visibility
        shade = 0.25 + 0.75 * np.clip(np.nan_to_num(sc), 0, 1)
        cols = (base * shade[:, None]).astype(np.int64).tolist()
        for k in np.flatnonzero(seen & (sc > 0.05)).tolist():
            cv2.circle(img, pts[k], rad, tuple(cols[k]), -1, cv2.LINE_AA)
            cv2.circle(img, pts[k], rad, (255, 255, 255), 1, cv2.LINE_AA)


def _part_views(poses: Poses) -> tuple[Poses | None, list[Poses], list[Poses]]:
    """(body, hands, faces) to draw: a whole-body skeleton split into its parts, hands
    (``HAND_21``) and faces (``FACE_468``) on their own, any other skeleton as the body."""
    sk = poses.skeleton
    if sk == HAND_21:
        return None, [poses], []
    if sk == FACE_468:
        return None, [], [poses]
    if not sk.has_part("body"):
        return poses, [], []
    hands = [poses.part(n) for n in ("left_hand", "right_hand") if sk.has_part(n)]
    faces = [poses.part("face")] if sk.has_part("face") else []
    return poses.part("body"), hands, faces


def draw_hands(image: np.ndarray, hands: Poses, *, min_score: float = 0.5,
               inplace: bool = False) -> np.ndarray:
    """Finger bones of ``HAND_21`` poses (N, 21, 2) pixels: the palm in grey, each finger in
    its colour (:data:`FINGER_COLORS`), joints as small dots; hands whose score is below
    ``min_score`` or whose keypoints are missing are skipped."""
    img = image if inplace else image.copy()
    s = _scale(img)
    thick = max(1, int(round(1.5 * s)))
    rad = max(1, int(round(2 * s)))
    for i in range(len(hands)):
        kp, sc = hands.keypoints[i], hands.scores[i]
        ok = np.isfinite(kp).all(axis=1) & (sc >= min_score)
        pts = np.nan_to_num(kp).round().astype(np.int32)
        for a, b in HAND_21.edges:
            if ok[a] and ok[b]:
                cv2.line(img, tuple(pts[a]), tuple(pts[b]), _bone_color(a, b), thick,
                         cv2.LINE_AA)
        for k in np.flatnonzero(ok):
            cv2.circle(img, tuple(pts[k]), rad, _bone_color(k, k), -1, cv2.LINE_AA)
    return img


def draw_faces(image: np.ndarray, faces: Poses, *, min_score: float = 0.5,
               inplace: bool = False) -> np.ndarray:
    """Face mesh contours (lips, eyes, eyebrows, face oval: :data:`posekit.skeletons.
    FACE_CONTOURS`) of ``FACE_468`` poses (N, 468, 2) pixels, one colour per contour."""
    img = image if inplace else image.copy()
    thick = max(1, int(round(_scale(img))))
    for i in range(len(faces)):
        kp, sc = faces.keypoints[i], faces.scores[i]
        ok = np.isfinite(kp).all(axis=1) & (sc >= min_score)
        pts = np.nan_to_num(kp).round().astype(np.int32)
        for name, edges in FACE_CONTOURS.items():
            col = FACE_COLORS[name]
            for a, b in edges:
                if ok[a] and ok[b]:
                    cv2.line(img, tuple(pts[a]), tuple(pts[b]), col, thick, cv2.LINE_AA)
    return img


def _bone_color(a: int, b: int) -> tuple[int, int, int]:
    for name, ids in HAND_FINGERS.items():
        if a in ids and b in ids:
            return FINGER_COLORS[name]
    return FINGER_COLORS["palm"]


def draw_label(image: np.ndarray, text: str, org_xy: tuple[int, int],
               color: tuple[int, int, int] = (0, 255, 0), *, inplace: bool = False
               ) -> np.ndarray:
    """A filled label box with ``text`` whose bottom-left corner is at ``org_xy`` (pixels)."""
    img = image if inplace else image.copy()
    s = _scale(img) * 0.5
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, s, 1)
    x, y = int(org_xy[0]), max(int(org_xy[1]), th + base + 2)
    cv2.rectangle(img, (x, y - th - base - 2), (x + tw + 4, y), color, -1)
    lum = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    cv2.putText(img, text, (x + 2, y - base), cv2.FONT_HERSHEY_SIMPLEX, s,
                (0, 0, 0) if lum > 128 else (255, 255, 255), 1, cv2.LINE_AA)
    return img


def draw_hud(image: np.ndarray, lines: list[str], *, inplace: bool = False) -> np.ndarray:
    """Text lines (e.g. ``"23.4 fps"``, ``"3 persons"``) in a dark panel at the top-left."""
    img = image if inplace else image.copy()
    if not lines:
        return img
    s = _scale(img) * 0.55
    sizes = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, s, 1) for t in lines]
    lh = max(h + b for (_, h), b in sizes) + 4
    w = max(tw for (tw, _), _ in sizes) + 10
    roi = img[0:lh * len(lines) + 6, 0:w]
    roi[:] = (roi * 0.4).astype(np.uint8)
    for j, t in enumerate(lines):
        cv2.putText(img, t, (5, (j + 1) * lh), cv2.FONT_HERSHEY_SIMPLEX, s, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return img


def annotate(image: np.ndarray, poses: Poses, *, fps: float | None = None,
             min_score: float = 0.5, extra_lines: list[str] | None = None) -> np.ndarray:
    """The standard annotated frame: skeletons, boxes, labels and an fps/person-count HUD."""
    img = draw_poses(image, poses, min_score=min_score)
    lines = [f"{fps:5.1f} fps"] if fps else []
    lines.append(f"{len(poses)} person{'s' if len(poses) != 1 else ''}")
    return draw_hud(img, lines + list(extra_lines or []), inplace=True)
