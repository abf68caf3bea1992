"""Render the maps a model can return beside its landmarks: joint heatmaps and person masks.

The ``blazepose`` backend fills ``poses.extras["heatmaps"]`` (N, K, h, w) float32 in [0, 1] and
``poses.extras["heatmap_to_frame"]`` (N, 2, 3), the affine map from heatmap cells (column, row)
to frame pixels, when loaded with ``heatmaps=True``; and ``poses.extras["mask"]`` (H, W) float32
in [0, 1] with ``mask=True``. Images are BGR (H, W, 3) uint8; inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .types import Poses


def heatmap_image(poses: Poses, shape_hw: tuple[int, int],
                  joints: Sequence[int] | None = None) -> np.ndarray:
    """The persons' joint heatmaps mapped to the frame: (H, W) float32 in [0, 1], the maximum
    over persons and over ``joints`` (indices into the skeleton; all when None).

    Raises:
        ValueError: ``poses`` carries no heatmaps (load the model with ``heatmaps=True``).
    """
    hms = poses.extras.get("heatmaps")
    maps = poses.extras.get("heatmap_to_frame")
    if hms is None or maps is None:
        raise ValueError("poses has no heatmaps: load the model with heatmaps=True")
    h, w = shape_hw
    out = np.zeros((h, w), np.float32)
    sel = slice(None) if joints is None else list(joints)
    for hm, m in zip(hms, maps):
        peak = np.asarray(hm[sel], np.float32).max(axis=0)
        warped = cv2.warpAffine(peak, np.asarray(m, np.float64), (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        np.maximum(out, warped, out=out)
    return out


def render_heatmaps(image_bgr: np.ndarray, poses: Poses, *, joints: Sequence[int] | None = None,
                    alpha: float = 0.65, colormap: int = cv2.COLORMAP_TURBO) -> np.ndarray:
    """``image_bgr`` with the joint heatmaps over it ("where does the model think the wrist is").

    Each pixel is blended with ``colormap`` of the heat value ``v`` (see :func:`heatmap_image`)
    with weight ``alpha * v``, so cold areas keep the image as it is.

    Args:
        image_bgr: (H, W, 3) uint8 BGR frame the poses belong to.
        joints: keypoint indices to show (e.g. ``[15, 16]`` for BlazePose's wrists); all when None.
        alpha: opacity in [0, 1] at heat 1.
    Returns:
        A new (H, W, 3) uint8 BGR image.
    Raises:
        ValueError: bad image, or ``poses`` carries no heatmaps.
    """
    img = _check_image(image_bgr)
    heat = heatmap_image(poses, img.shape[:2], joints)
    colour = cv2.applyColorMap(np.clip(heat * 255.0, 0, 255).astype(np.uint8), colormap)
    wgt = (np.clip(alpha, 0.0, 1.0) * heat)[:, :, None]
    out = img.astype(np.float32) * (1.0 - wgt) + colour.astype(np.float32) * wgt
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_mask(image_bgr: np.ndarray, mask: np.ndarray, *,
                color_bgr: tuple[int, int, int] = (60, 200, 60), alpha: float = 0.55,
                dim_background: float = 0.0) -> np.ndarray:
    """``image_bgr`` with a person mask (H, W) float in [0, 1] tinted in ``color_bgr``.

    Each pixel moves towards ``color_bgr`` by ``alpha * mask``; ``dim_background`` in [0, 1]
    darkens pixels where the mask is 0 (1 = black background).

    Returns:
        A new (H, W, 3) uint8 BGR image.
    Raises:
        ValueError: bad image, or a mask whose shape is not the image's (H, W).
    """
    img = _check_image(image_bgr)
    m = np.asarray(mask, np.float32)
    if m.shape != img.shape[:2]:
        raise ValueError(f"render_mask: expected a mask of shape {img.shape[:2]}, got {m.shape}")
    m = np.clip(m, 0.0, 1.0)[:, :, None]
    out = img.astype(np.float32)
    if dim_background:
        out *= 1.0 - np.clip(dim_background, 0.0, 1.0) * (1.0 - m)
    a = np.clip(alpha, 0.0, 1.0) * m
    out = out * (1.0 - a) + np.asarray(color_bgr, np.float32) * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        got = (getattr(image, "shape", type(image).__name__), getattr(image, "dtype", ""))
        raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {got}")
    return image


__all__ = ["heatmap_image", "render_heatmaps", "render_mask"]
