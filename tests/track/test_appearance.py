"""Colour-histogram appearance descriptors on real frames."""

from __future__ import annotations

import numpy as np

from posekit.track import appearance
from tests.conftest import data_path


def _frame(rel: str, index: int) -> np.ndarray:
    import av

    with av.open(str(data_path(rel))) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="bgr24")
    raise AssertionError(f"{rel} has no frame {index}")


def test_a_person_filling_the_view_is_sampled_to_the_same_descriptor(monkeypatch):
    """body3d_demo.mp4 (one person about 900 px tall): the regions are sampled on a grid (over
    MAX_PIXELS pixels each), and the descriptor matches the one from every pixel (dot product,
    the mean Bhattacharyya coefficient, above 0.999), far closer than the background beside
    the person is to either."""
    img = _frame("mmpose/demo/resources/body3d_demo.mp4", 40)
    person = np.array([[300.0, 80.0, 700.0, 980.0]])
    beside = np.array([[0.0, 80.0, 290.0, 980.0]])
    sampled = appearance.color_histograms(img, person)
    monkeypatch.setattr(appearance, "MAX_PIXELS", 10 ** 9)
    full = appearance.color_histograms(img, person)
    other = appearance.color_histograms(img, beside)
    assert np.abs(sampled - full).max() > 0           # it was sampled
    assert float(sampled[0] @ full[0]) > 0.999
    assert float(full[0] @ other[0]) < float(sampled[0] @ full[0]) - 0.02
    np.testing.assert_allclose(np.linalg.norm(sampled, axis=1), 1.0, atol=1e-5)


def test_small_boxes_use_every_pixel_and_empty_ones_give_zeros(monkeypatch):
    """Pedestrians of vtest.avi (about 40 x 100 px) are under MAX_PIXELS: every pixel is used
    (the same descriptor, bit for bit, with no cap at all); a box outside the frame gives a
    row of zeros."""
    img = _frame("opencv-doc/vtest.avi", 0)
    boxes = np.array([[380.0, 180.0, 410.0, 258.0], [900.0, 10.0, 950.0, 90.0]])
    got = appearance.color_histograms(img, boxes)
    monkeypatch.setattr(appearance, "MAX_PIXELS", 10 ** 9)
    np.testing.assert_array_equal(got, appearance.color_histograms(img, boxes))
    monkeypatch.setattr(appearance, "MAX_PIXELS", 100)       # sampled: a different descriptor
    assert np.abs(appearance.color_histograms(img, boxes)[0] - got[0]).max() > 0
    assert float(np.linalg.norm(got[0])) > 0.99 and not got[1].any()
