"""FDF crop geometry: square, 0.35 expansion, shift into the photo, zero padding, coordinates."""

import numpy as np
import pytest

from fdf.annotate import expand_fdf_box, make_fdf_crop, to_crop_coords, to_photo_coords


def test_box_in_middle_is_square_centred_and_expanded():
    box = expand_fdf_box((400, 300, 500, 420), (1000, 1000, 3))
    x0, y0, x1, y1 = box
    side = round(120 * 1.7)
    assert x1 - x0 == y1 - y0 == side
    assert abs((x0 + x1) / 2 - 450) <= 0.5 and abs((y0 + y1) / 2 - 360) <= 0.5


def test_box_near_edge_is_shifted_inside_not_padded():
    x0, y0, x1, y1 = expand_fdf_box((5, 900, 105, 990), (1000, 800))
    assert x0 == 0 and y1 == 1000  # shifted against the left and bottom edges
    assert x1 - x0 == y1 - y0 == 170
    assert x0 <= 5 and x1 >= 105 and y0 <= 900  # still holds the face


def test_photo_smaller_than_square_is_zero_padded():
    rng = np.random.default_rng(0)
    image = rng.integers(1, 255, size=(300, 120, 3), dtype=np.uint8)  # nothing in the photo is 0
    crop, box = make_fdf_crop(image, (20, 100, 100, 180), resolution=64)
    x0, y0, x1, y1 = box
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    assert x1 - x0 == 136 and x0 < 0 and x1 > 120  # wider than the photo: centred, padded
    assert 0 <= y0 and y1 <= 300  # vertically it fits: shifted, not padded
    raw = make_fdf_crop(image, (20, 100, 100, 180), resolution=136)[0]  # side == resolution: no resampling
    left_pad = -x0
    assert (raw[:, : left_pad - 1] == 0).all() and (raw[:, left_pad + 1 : left_pad + 119] > 0).all()
    np.testing.assert_array_equal(raw[:, left_pad : left_pad + 120], image[y0:y1])


def test_crop_pixels_match_photo_when_inside():
    image = np.arange(200 * 300 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8)
    crop, box = make_fdf_crop(image, (100, 50, 150, 100), resolution=85)
    x0, y0, x1, y1 = box
    assert x1 - x0 == 85
    np.testing.assert_array_equal(crop, image[y0:y1, x0:x1])


def test_crop_coordinates_round_trip_and_keep_visibility():
    box = (-10, 40, 190, 240)
    pts = np.array([[-10, 40, 1], [190, 240, 0], [90, 140, 1]], np.float32)
    in_crop = to_crop_coords(pts, box, 128)
    np.testing.assert_allclose(in_crop[:, :2], [[0, 0], [128, 128], [64, 64]], atol=1e-4)
    np.testing.assert_array_equal(in_crop[:, 2], pts[:, 2])
    np.testing.assert_allclose(to_photo_coords(in_crop, box, 128), pts, atol=1e-4)


@pytest.mark.parametrize("bbox", [(10, 10, 10, 20), (30, 10, 20, 40)])
def test_empty_or_inverted_box_is_refused(bbox):
    with pytest.raises(ValueError, match="x1 > x0"):
        expand_fdf_box(bbox, (100, 100))
