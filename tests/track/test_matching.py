"""The one assignment (posekit.track.matching) used by the tracker, the top-down tracker and
the batch's chunk stitching."""

import numpy as np
import pytest

from posekit.track.matching import assign, match_boxes


def test_assign_maximises_total_similarity_among_allowed_pairs():
    # greedy would pair (0, 0) at 0.9 and leave row 1 with nothing above 0.5; the allowed
    # optimum pairs (0, 1) and (1, 0)
    sim = np.array([[0.9, 0.8],
                    [0.7, 0.1]])
    rows, cols = assign(sim, 0.5)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    assert rows.dtype == np.int64 and cols.dtype == np.int64


def test_assign_never_makes_a_pair_below_the_threshold():
    sim = np.array([[0.49, 0.2], [0.1, 0.3], [0.0, 0.95]])
    rows, cols = assign(sim, 0.5)
    assert rows.tolist() == [2] and cols.tolist() == [1]
    rows, cols = assign(np.zeros((0, 3)), 0.5)
    assert len(rows) == len(cols) == 0
    rows, cols = assign(np.full((2, 2), np.nan), 0.0)
    assert len(rows) == 0
    with pytest.raises(ValueError, match="expected an"):
        assign(np.zeros(3), 0.5)


def test_match_boxes_pairs_shifted_boxes_in_pixels():
    a = np.array([[0, 0, 10, 20], [100, 100, 120, 140]], float)
    b = np.array([[101, 102, 121, 142], [1, 0, 11, 20], [300, 300, 310, 310]], float)
    rows, cols, iou = match_boxes(a, b, 0.5)
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 1, 1: 0}
    assert iou.shape == (2, 3) and iou[0, 1] == pytest.approx(180 / 220)   # 1 px shift of 10x20


def test_gate_after_leaves_a_row_unmatched_rather_than_taking_a_weak_partner():
    # the best total over all pairs is (0, 0) + (1, 1) = 1.25 and (1, 1) is below 0.5, so
    # gating after keeps (0, 0) alone; gating before makes the two allowed pairs (0, 1), (1, 0)
    sim = np.array([[0.95, 0.5],
                    [0.5, 0.3]])
    rows, cols = assign(sim, 0.5, gate="after")
    assert rows.tolist() == [0] and cols.tolist() == [0]
    rows, cols = assign(sim, 0.5, gate="before")
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    with pytest.raises(ValueError, match="gate"):
        assign(sim, 0.5, gate="later")
