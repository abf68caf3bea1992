"""Annotators: skeletons, boxes and IDs, labels and a heads-up display, drawn with OpenCV.

All functions take and return (H, W, 3) uint8 BGR images in pixels of the original frame and
draw on a copy unless ``inplace=True``.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from .types import Poses

# BGR colours for limbs by side: left warm (orange), right cool (blue), centre neutral.
SIDE_COLORS = {"left": (0, 140, 255), "right": (255, 120, 0), "center": (200, 200, 200)}


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
    otherwise the person index.
    """
    img = image if inplace else image.copy()
    s = _scale(img)
    thick = max(1, int(round(2 * s)))
    rad = max(2, int(round(3 * s)))
    sk = poses.skeleton
    sides = [sk.side(i) for i in range(len(sk))]
    for i in range(len(poses)):
        kp, sc = poses.keypoints[i], poses.scores[i]
        ok = np.isfinite(kp).all(axis=1) & (sc >= min_score)
        pts = np.nan_to_num(kp).round().astype(np.int32)
        for a, b in sk.edges:
            if ok[a] and ok[b]:
                side = sides[a] if sides[a] == sides[b] else "center"
                cv2.line(img, tuple(pts[a]), tuple(pts[b]), SIDE_COLORS[side], thick,
                         cv2.LINE_AA)
        for k in np.flatnonzero(np.isfinite(kp).all(axis=1) & (sc > 0.05)):
            shade = 0.25 + 0.75 * float(np.clip(sc[k], 0, 1))
            col = tuple(int(c * shade) for c in SIDE_COLORS[sides[k]])
            cv2.circle(img, tuple(pts[k]), rad, col, -1, cv2.LINE_AA)
            cv2.circle(img, tuple(pts[k]), rad, (255, 255, 255), 1, cv2.LINE_AA)
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
