"""Poses and Skeleton: validation messages, immutability, selection, skeleton mapping."""

from __future__ import annotations

import numpy as np
import pytest

from posekit import BLAZEPOSE_33, COCO_17, Frame, Poses
from posekit.skeletons import LSP_14, MPII_16, SKELETONS


def make(n=2, k=33, skeleton=BLAZEPOSE_33):
    rng = np.random.default_rng(0)
    return Poses(rng.uniform(0, 100, (n, k, 2)), rng.uniform(0, 1, (n, k)), skeleton,
                 world=rng.normal(size=(n, k, 3)), track_ids=np.arange(n) + 7)


def test_shape_errors_name_expected_and_actual():
    with pytest.raises(ValueError, match=r"keypoints: expected \(\?, 33, 2\), got \(2, 17, 2\)"):
        Poses(np.zeros((2, 17, 2)), np.zeros((2, 17)), BLAZEPOSE_33)
    with pytest.raises(ValueError, match=r"scores: expected \(2, 33\), got \(2, 32\)"):
        Poses(np.zeros((2, 33, 2)), np.zeros((2, 32)), BLAZEPOSE_33)
    with pytest.raises(ValueError, match=r"Frame.image: expected \(H, W, 3\) uint8"):
        Frame(np.zeros((4, 4), np.uint8))


def test_immutable_and_selection():
    p = make(3)
    with pytest.raises(ValueError):
        p.keypoints[0, 0, 0] = 1.0  # read-only array
    one = p[1]
    assert isinstance(one, Poses) and len(one) == 1 and one.track_ids.tolist() == [8]
    sub = p[np.array([True, False, True])]
    assert sub.track_ids.tolist() == [7, 9] and sub.world.shape == (2, 33, 3)
    assert len(Poses.empty(BLAZEPOSE_33)) == 0


def test_boxes_derived_from_finite_keypoints():
    kp = np.array([[[10, 20], [30, 5], [np.nan, np.nan]]], np.float32)
    sk = LSP_14
    full = np.full((1, 14, 2), np.nan, np.float32)
    full[0, :3] = kp[0]
    p = Poses(full, np.ones((1, 14)), sk)
    assert p.boxes.tolist() == [[10, 5, 30, 20]]


def test_blazepose_to_coco_picks_the_same_landmarks():
    p = make(2)
    c = p.to(COCO_17)
    assert c.skeleton is COCO_17 and c.keypoints.shape == (2, 17, 2)
    for j, name in enumerate(COCO_17.keypoints):
        i = BLAZEPOSE_33.index(name)
        np.testing.assert_array_equal(c.keypoints[:, j], p.keypoints[:, i])
        np.testing.assert_array_equal(c.scores[:, j], p.scores[:, i])
    assert c.track_ids.tolist() == [7, 8]
    np.testing.assert_array_equal(c.world, p.world[:, [BLAZEPOSE_33.index(n)
                                                        for n in COCO_17.keypoints]])


def test_selection_mappings_equal_the_averaging_matrix():
    """One-source mappings take a faster path (a column selection): same keypoints, scores
    and world as ``mapping_matrix`` averaging, NaN and score 0 where the source is missing or
    the source skeleton has no such keypoint (COCO-17 -> BlazePose: hands, feet)."""
    from posekit.skeletons import mapping_matrix

    rng = np.random.default_rng(3)
    for src, dst in ((BLAZEPOSE_33, COCO_17), (COCO_17, BLAZEPOSE_33)):
        p = make(4, len(src), src)
        kp, w = np.array(p.keypoints), np.array(p.world)
        kp[rng.uniform(size=kp.shape[:2]) < 0.2] = np.nan
        w[rng.uniform(size=w.shape[:2]) < 0.2] = np.nan
        p = p.replace(keypoints=kp, world=w)
        got = p.to(dst)
        m = mapping_matrix(src, dst)
        exp = np.einsum("jk,nkc->njc", m, np.nan_to_num(kp))
        gone = (~np.isfinite(kp).all(axis=2)).astype(np.float32) @ (m > 0).T > 0
        gone |= ~(m > 0).any(axis=1)[None]
        exp[gone] = np.nan
        np.testing.assert_array_equal(got.keypoints, exp)
        assert (got.scores[gone] == 0).all() and (got.scores[~gone] > 0).all()
        src_w = np.einsum("jk,nkc->njc", m, np.nan_to_num(w))
        w_gone = ((~np.isfinite(w).all(axis=2)).astype(np.float32) @ (m > 0).T > 0) | \
            ~(m > 0).any(axis=1)[None]
        src_w[w_gone] = np.nan
        np.testing.assert_array_equal(got.world, src_w)


def test_mapping_to_mpii_derives_pelvis_and_marks_head_top_missing():
    p = make(1)
    m = p.to(MPII_16)
    pelvis = m.keypoints[0, MPII_16.index("pelvis")]
    hips = p.keypoints[0, [23, 24]].mean(axis=0)
    np.testing.assert_allclose(pelvis, hips, atol=1e-4)
    assert np.isnan(m.keypoints[0, MPII_16.index("head_top")]).all()
    assert m.scores[0, MPII_16.index("head_top")] == 0


def test_skeletons_are_consistent():
    for sk in SKELETONS.values():
        for a, b in sk.flip_pairs:
            assert sk.keypoints[a].replace("left", "right") == sk.keypoints[b] or \
                sk.keypoints[a].startswith("mouth")
    assert len(BLAZEPOSE_33) == 33 and len(BLAZEPOSE_33.edges) == 35
    assert COCO_17.sigmas[0] == pytest.approx(0.026)
    with pytest.raises(KeyError, match="expected one of"):
        COCO_17.index("left_pinky")


def test_one_missing_source_keypoint_leaves_the_others():
    kp = np.random.default_rng(1).uniform(0, 50, (1, 33, 2)).astype(np.float32)
    kp[0, BLAZEPOSE_33.index("left_wrist")] = np.nan
    c = Poses(kp, np.ones((1, 33)), BLAZEPOSE_33).to(COCO_17)
    missing = ~np.isfinite(c.keypoints[0]).all(axis=1)
    assert missing.tolist() == [n == "left_wrist" for n in COCO_17.keypoints]
    assert c.scores[0, COCO_17.index("left_wrist")] == 0
    m = Poses(kp, np.ones((1, 33)), BLAZEPOSE_33).to(MPII_16)
    assert np.isfinite(m.keypoints[0, MPII_16.index("pelvis")]).all()
