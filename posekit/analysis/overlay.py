"""Analysis overlay: rep counters, angle arcs at the working joints, gesture and posture labels,
and a fall alert, drawn with OpenCV on a BGR image.

>>> img = draw_analysis(frame.image, poses, analyzer)       # doctest: +SKIP

Draw it after :func:`posekit.draw.draw_poses` (it does not draw the skeleton itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Poses
from .angles import JOINTS, track_ids_of
from .events import Analyzer

#: Joints whose angle arcs are drawn for each exercise (both sides).
ARC_JOINTS = {"squat": ("knee", "hip"), "lunge": ("knee",), "pushup": ("elbow",),
              "curl": ("elbow",), "jumping_jack": ("shoulder",), "situp": ("hip",)}
ALERT = (0, 0, 255)          # BGR red
TEXT_BG = (40, 40, 40)
ARC = (0, 220, 255)          # BGR amber


@dataclass(frozen=True)
class OverlaySnapshot:
    """:meth:`Analyzer.overlay_state` for a frame's tracks and :meth:`Analyzer.fall_alerts`,
    captured when the frame was analysed; drawable with :func:`draw_analysis` like the
    analyzer itself (made by :meth:`Analyzer.snapshot`)."""

    states: dict
    fallen: tuple = ()

    def overlay_state(self, track_id: int) -> dict:
        return self.states.get(int(track_id)) or {
            "track_id": int(track_id), "counters": {}, "angles": {}, "fall_alert": False,
            "gesture": "", "posture": {}, "posture_alerts": []}

    def fall_alerts(self) -> list[int]:
        return list(self.fallen)


def _scale(image: np.ndarray) -> float:
    return max(0.5, min(image.shape[:2]) / 720.0)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float,
          color=(255, 255, 255), bg=TEXT_BG) -> int:
    """Text on a filled box with its top-left corner at ``org``; returns the box height."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = int(org[0]), int(org[1])
    h = th + base + 4
    cv2.rectangle(img, (x, y), (x + tw + 6, y + h), bg, -1)
    cv2.putText(img, text, (x + 3, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1,
                cv2.LINE_AA)
    return h


def draw_angle_arc(img: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                   radius: int, color=ARC, thickness: int = 2, label: bool = True) -> None:
    """Draw the angle at ``b`` between ``b->a`` and ``b->c`` (pixels) as an arc of ``radius``
    pixels with its value in degrees. Nothing is drawn where a point is not finite."""
    if not (np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(c).all()):
        return
    a1 = math.degrees(math.atan2(a[1] - b[1], a[0] - b[0]))
    a2 = math.degrees(math.atan2(c[1] - b[1], c[0] - b[0]))
    d = (a2 - a1 + 540.0) % 360.0 - 180.0          # signed sweep in (-180, 180]
    centre = (round(float(b[0])), round(float(b[1])))
    cv2.ellipse(img, centre, (radius, radius), 0.0, a1, a1 + d, color, thickness, cv2.LINE_AA)
    if label:
        mid = math.radians(a1 + d / 2)
        p = (int(b[0] + 1.6 * radius * math.cos(mid)), int(b[1] + 1.6 * radius * math.sin(mid)))
        s = max(0.35, radius / 60.0)
        cv2.putText(img, f"{abs(d):.0f}", p, cv2.FONT_HERSHEY_SIMPLEX, s, (0, 0, 0), 3,
                    cv2.LINE_AA)
        cv2.putText(img, f"{abs(d):.0f}", p, cv2.FONT_HERSHEY_SIMPLEX, s, color, 1, cv2.LINE_AA)


def draw_analysis(image_bgr: np.ndarray, poses: Poses, analyzer: Analyzer, *,
                  min_score: float = 0.5, inplace: bool = False) -> np.ndarray:
    """Overlay the analyzer's live state for every person of ``poses`` (the frame's poses,
    already passed to ``analyzer.update``) on an (H, W, 3) uint8 BGR image.

    Per person: a panel at the top-left of the box with one line per exercise (``squat 3``,
    the state and the current signal angle), the current gesture and posture alerts; angle arcs
    (degrees) at the joints each configured exercise works (landmarks with score >=
    ``min_score``); and, while the track is in the fallen state, a red box and ``FALL`` label.
    A red ``FALL DETECTED #id`` banner spans the top of the image while any track is fallen
    (:meth:`Analyzer.fall_alerts`), even where the detector has lost the person on the floor.
    Returns the annotated image (a copy unless ``inplace``).
    """
    img = image_bgr if inplace else image_bgr.copy()
    s = _scale(img)
    fs = 0.5 * s
    radius = max(10, round(22 * s))
    any_fall = False
    for i, tid in enumerate(track_ids_of(poses)):
        st = analyzer.overlay_state(int(tid))
        kp, sc = poses.keypoints[i], poses.scores[i]
        for ex in st["counters"]:
            for joint in ARC_JOINTS.get(ex, ()):
                for side in ("left", "right"):
                    ia, ib, ic = (poses.skeleton.index(n) for n in JOINTS[f"{side}_{joint}"])
                    if min(sc[ia], sc[ib], sc[ic]) >= min_score:
                        draw_angle_arc(img, kp[ia], kp[ib], kp[ic], radius)
        box = poses.boxes[i]
        if np.isfinite(box).all():
            x0, y0 = int(box[0]), int(box[1])
        else:
            x0, y0 = int(np.nanmin(kp[:, 0], initial=0)), int(np.nanmin(kp[:, 1], initial=0))
        x0 = min(max(x0, 0), img.shape[1] - 10)
        y = max(y0, 0)
        lines = []
        for ex, c in st["counters"].items():
            v = c["value_deg"]
            lines.append((f"{ex} {c['count']}  {c['state']}" +
                          (f"  {v:.0f} deg" if v is not None else ""), (255, 255, 255)))
            last = c.get("last_rep")
            if last and last.get("form_ok") is False:
                bad = [ch["name"] for ch in last["checks"] if ch["ok"] is False]
                lines.append(("form: " + ", ".join(bad), (0, 200, 255)))
        if st["gesture"]:
            lines.append((st["gesture"].replace("_", " "), (120, 255, 120)))
        for name in st["posture_alerts"]:
            lines.append((f"posture: {name.replace('_', ' ')}", (0, 200, 255)))
        for text, color in lines:
            y += _text(img, text, (x0, y), fs, color)
        if st["fall_alert"]:
            any_fall = True
            if np.isfinite(box).all():
                cv2.rectangle(img, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])),
                              ALERT, max(3, int(4 * s)))
            _text(img, f"FALL #{int(tid)}", (x0, max(y0 - int(30 * s), 0)), 0.8 * s,
                  (255, 255, 255), ALERT)
    fallen = analyzer.fall_alerts()
    if any_fall or fallen:
        h = int(36 * s)
        cv2.rectangle(img, (0, 0), (img.shape[1], h), ALERT, -1)
        ids = " ".join(f"#{t}" for t in fallen)
        cv2.putText(img, f"FALL DETECTED {ids}".strip(), (int(10 * s), int(h * 0.75)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.9 * s, (255, 255, 255), 2, cv2.LINE_AA)
    return img


__all__ = ["ARC_JOINTS", "OverlaySnapshot", "draw_analysis", "draw_angle_arc"]
