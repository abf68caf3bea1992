"""New cases built from the real clips' poses: the same movement faster or slower, and filmed by
a moving (hand-held, panning, zooming, following) camera.

Both work on the pose time series, which is all an :class:`~posekit.analysis.Analyzer` sees:

- :func:`retime` plays a clip ``speed`` times faster (0.5: twice as slow) at the clip's own
  sample rate, interpolating the keypoints linearly between the model's samples (a slowed video
  at the same frame rate shows in-between poses; a sped-up one skips poses).
- :func:`moving_camera` maps every frame's keypoints through a time-varying similarity
  transform (the image motion of a camera that pans, zooms, rolls and shakes), optionally
  following the person's hip centre like a camera operator keeping them in the picture (so a
  fall barely moves the person in the image). World landmarks are left as they are (BlazePose's
  world landmarks are relative to the hips, and a camera rotation of a few degrees changes them
  little).
"""

from __future__ import annotations

import numpy as np

from posekit.types import Poses

from .clips import ClipPoses


def retime(cp: ClipPoses, speed: float) -> ClipPoses:
    """The clip's single-person poses played ``speed`` times faster at its sample rate.

    Frames without a person stay without one (the nearest source frame decides). Turning-point
    frame indices of the result are the source's divided by ``speed``
    (``ClipPoses.frame_s`` keeps working in source frames divided by ``speed``).
    """
    src_t = cp.times
    dt = float(np.median(np.diff(src_t)))
    new_t = np.arange(0.0, (src_t[-1] - src_t[0]) / speed + 1e-9, dt) + src_t[0] / speed
    poses = []
    skel = cp.poses[0].skeleton
    for t in new_t:
        s = t * speed
        j = int(np.clip(np.searchsorted(src_t, s) - 1, 0, len(src_t) - 2))
        a = float(np.clip((s - src_t[j]) / (src_t[j + 1] - src_t[j]), 0.0, 1.0))
        p0, p1 = cp.poses[j], cp.poses[j + 1]
        if len(p0) == 0 or len(p1) == 0:
            poses.append(p0 if a < 0.5 else p1)
            continue
        kp = (1 - a) * p0.keypoints[:1] + a * p1.keypoints[:1]
        sc = np.minimum(p0.scores[:1], p1.scores[:1])
        world = None
        if p0.world is not None and p1.world is not None:
            world = ((1 - a) * p0.world[:1] + a * p1.world[:1]).astype(np.float32)
        poses.append(Poses(kp.astype(np.float32), sc, skel, world=world,
                           track_ids=p0.track_ids[:1] if p0.track_ids is not None else None))
    idx = np.round(new_t * cp.fps).astype(np.int64)
    return ClipPoses(cp.path, cp.fps, len(new_t), cp.stride, idx, new_t, poses)


def camera_path(times: np.ndarray, *, seed: int = 0, pan_px_s: float = 60.0,
                zoom_per_s: float = 0.08, roll_deg: float = 4.0, shake_px: float = 12.0
                ) -> np.ndarray:
    """(T, 2, 3) affine maps (similarity) of a hand-held camera over ``times`` (seconds): a
    steady pan, a slow zoom in and out (``zoom_per_s`` relative scale change per second,
    bounded), a slow roll of up to ``roll_deg`` and a shake (random walk, ``shake_px`` pixels
    RMS per second), reproducible by ``seed``."""
    rng = np.random.default_rng(seed)
    t = np.asarray(times, float) - float(times[0])
    dt = np.diff(t, prepend=t[0])
    step = rng.normal(size=(len(t), 2)) * shake_px * np.sqrt(np.maximum(dt, 0))[:, None]
    shake = np.cumsum(step, axis=0)
    # zoom: +-25 % over a 4 s cycle at most zoom_per_s relative change per second
    s = 1.0 + 0.25 * np.sin(zoom_per_s / 0.25 * t)
    th = np.deg2rad(roll_deg) * np.sin(2 * np.pi * t / 5.0)
    tx = pan_px_s * t + shake[:, 0]
    ty = 0.5 * pan_px_s * np.sin(2 * np.pi * t / 7.0) + shake[:, 1]
    A = np.zeros((len(t), 2, 3))
    A[:, 0, 0], A[:, 0, 1], A[:, 0, 2] = s * np.cos(th), -s * np.sin(th), tx
    A[:, 1, 0], A[:, 1, 1], A[:, 1, 2] = s * np.sin(th), s * np.cos(th), ty
    return A


def camera_maps(cp: ClipPoses, *, follow: float = 0.0, seed: int = 0, **path_kw
                ) -> np.ndarray:
    """(T, 2, 3) maps from the clip's pixels to a moving camera's, one per sample.

    Args:
        cp: the clip's poses.
        follow: 0 for the camera of :func:`camera_path` alone; 1 for a camera operator who
            also keeps the largest person's hip centre where it was in the first frame (the
            person's own image motion is removed, with a lag of about 0.3 s as an operator
            reacts), values between follow partly.
        seed, path_kw: passed to :func:`camera_path`.

    The camera's similarity transform turns about the subject's median hip position, after
    the followed hip offset is taken off.
    """
    A = camera_path(cp.times, seed=seed, **path_kw)
    # the followed point: the hip centre of the largest person (the subject; fall clips have a
    # second, smaller person at the edge), smoothed with a 0.3 s time constant
    hips = np.full((len(cp.poses), 2), np.nan)
    for i, p in enumerate(cp.poses):
        if len(p):
            j = int(np.argmax(np.nan_to_num(p.boxes[:, 3] - p.boxes[:, 1])))
            hips[i] = np.nanmean(p.keypoints[j, [23, 24]], axis=0)
    ok = np.isfinite(hips).all(1)
    if ok.any():
        idx = np.arange(len(hips))
        for j in range(2):
            hips[:, j] = np.interp(idx, idx[ok], hips[ok, j])
    else:
        hips[:] = 0.0
    lag = np.empty_like(hips)
    tau = 0.3
    for i in range(len(hips)):
        if i == 0:
            lag[i] = hips[i]
        else:
            a = 1.0 - np.exp(-(cp.times[i] - cp.times[i - 1]) / tau)
            lag[i] = lag[i - 1] + a * (hips[i] - lag[i - 1])
    offset = follow * (lag - lag[0])
    centre = np.median(hips, axis=0)
    maps = np.empty_like(A)
    for i in range(len(A)):
        r = A[i, :, :2]
        maps[i, :, :2] = r
        maps[i, :, 2] = A[i, :, 2] + centre - r @ (centre + offset[i])
    return maps


def moving_camera(cp: ClipPoses, *, follow: float = 0.0, seed: int = 0, **path_kw
                  ) -> ClipPoses:
    """The clip's poses as a moving camera would have filmed them (the maps of
    :func:`camera_maps`, same arguments). Missing keypoints stay NaN."""
    maps = camera_maps(cp, follow=follow, seed=seed, **path_kw)
    out = []
    for p, m in zip(cp.poses, maps):
        if len(p) == 0:
            out.append(p)
            continue
        k = p.keypoints.astype(np.float64) @ m[:, :2].T + m[:, 2]
        out.append(p.replace(keypoints=k.astype(np.float32), boxes=None))
    return ClipPoses(cp.path, cp.fps, cp.n_frames, cp.stride, cp.indices, cp.times, out)


def camera_frames(cp: ClipPoses, maps: np.ndarray):
    """The clip's frames at its samples (``cp.indices``) warped by ``maps`` (T, 2, 3), as
    the moving camera would have filmed them (borders black); yields (H, W, 3) uint8 BGR."""
    import cv2

    from .clips import DATA

    cap = cv2.VideoCapture(str(DATA / cp.path))
    want = {int(i): n for n, i in enumerate(cp.indices)}
    i = 0
    try:
        while want:
            ok, im = cap.read()
            if not ok:
                break
            n = want.pop(i, None)
            if n is not None:
                yield cv2.warpAffine(im, maps[n], (im.shape[1], im.shape[0]))
            i += 1
    finally:
        cap.release()


#: BlazePose-33 landmarks from the hips down (hips, knees, ankles, heels, toes).
LOWER_BODY = tuple(range(23, 33))


def hide(cp: ClipPoses, landmarks=LOWER_BODY, from_s: float = 0.0) -> ClipPoses:
    """The clip with ``landmarks`` (BlazePose-33 indices) missing (score 0, NaN) from
    ``from_s`` seconds on: a body leaving the frame at the bottom, as in walking lunges
    towards the camera."""
    out = []
    idx = list(landmarks)
    for t, p in zip(cp.times, cp.poses):
        if t < from_s or len(p) == 0:
            out.append(p)
            continue
        k, s = p.keypoints.copy(), p.scores.copy()
        k[:, idx], s[:, idx] = np.nan, 0.0
        out.append(p.replace(keypoints=k, scores=s, boxes=None))
    return ClipPoses(cp.path, cp.fps, cp.n_frames, cp.stride, cp.indices, cp.times, out)
