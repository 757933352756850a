"""Realism measures on a real AFW photo: detail at 128 px, border visibility, Fréchet distance."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymizer.judges.realism import border_score, box_mask, detail_ratio, frechet_distance

DATA = Path(__file__).parent / "data" / "annotate"


@pytest.fixture(scope="module")
def photo():
    entry = json.loads((DATA / "afw_annotations.json").read_text())[0]
    image = cv2.imread(str(DATA / entry["file"]))[:, :, ::-1].copy()
    return image, entry["faces"][0]["bbox_xyxy"]


def test_detail_ratio_orders_copy_downscale_and_blur(photo):
    image, box = photo
    x0, y0, x1, y1 = (int(v) for v in box)
    side = max(x1 - x0, y1 - y0)
    f = 128 / side
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, image.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    blurred = image.copy()
    blurred[y0:y1, x0:x1] = cv2.GaussianBlur(image, (0, 0), 0.05 * side)[y0:y1, x0:x1]
    assert detail_ratio(image, image, box) == pytest.approx(1.0)
    down_and_back = detail_ratio(image, back, box)
    assert 0.2 < down_and_back < 0.9  # a face shrunk to 128 px keeps most, not all, of what 128 px can hold
    assert detail_ratio(image, blurred, box) < 0.05
    assert np.isnan(detail_ratio(np.zeros_like(image), image, box))  # a flat original has no detail to keep


def test_border_score_sees_a_hard_paste_and_not_a_copy(photo):
    image, box = photo
    x0, y0, x1, y1 = (int(v) for v in box)
    other = np.roll(image, (150, 150), axis=(0, 1))  # other content, as a replacement is
    pasted = image.copy()
    pasted[y0:y1, x0:x1] = other[y0:y1, x0:x1]
    hard = box_mask(image.shape, [box])
    same = border_score(image, image, hard)
    assert same.colour_excess == 0 and same.gradient_excess == 0 and same.sectors >= 12
    seam = border_score(image, pasted, hard)
    assert seam.colour_excess > 8 and seam.gradient_excess > 2
    # The same content blended through a soft mask leaves no sharp edge; the colour change stays.
    soft = cv2.GaussianBlur(hard, (0, 0), 0.08 * (x1 - x0))
    blended = (image * (1 - soft[..., None]) + other * soft[..., None]).round().astype(np.uint8)
    smooth = border_score(image, blended, soft)
    assert smooth.gradient_excess < 0.25 * seam.gradient_excess
    assert smooth.colour_excess > 5
    assert border_score(image, image, np.zeros(image.shape[:2], np.float32)) is None
    with pytest.raises(ValueError):
        border_score(image, image[:-1], hard)


def test_frechet_distance_with_few_samples():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 128))
    b = rng.normal(size=(20, 128)) + 0.5
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    near, far = frechet_distance(a, rng.normal(size=(20, 128))), frechet_distance(a, b)
    assert far > near > 0
    assert far == pytest.approx(frechet_distance(a, b, ridge=0.0), rel=0.01)  # the ridge only steadies
    with pytest.raises(ValueError):
        frechet_distance(a[:1], b)
