"""Face regions, feathering, compositing and the simple modes, on synthetic and real pixels."""

from pathlib import Path

import numpy as np
import pytest

from anonymizer.inference.composite import composite
from anonymizer.inference.detect import DetectConfig, find_faces
from anonymizer.inference.modes import FaceJob, blur_patches, make_renderer, mask_patches, pixelate_patches
from anonymizer.inference.regions import core_mask, face_region, feather_weights, union_mask
from anonymizer.media import read_image

DATA = Path(__file__).parent / "data" / "anonymize"


def test_region_contains_dilated_box_and_is_clipped():
    r = face_region((10, 20, 50, 80), (100, 60), dilation=0.25, feather=0.1)
    assert r.core == (0, 5, 60, 95)  # x0 = 10 - 10, y0 = 20 - 15; x1 = 50 + 10 clipped to width 60
    assert r.paste[0] <= r.core[0] and r.paste[1] <= r.core[1]
    assert r.paste[2] >= r.core[2] and r.paste[3] >= r.core[3]
    assert r.paste[3] == 100 and r.paste[2] == 60


def test_feather_is_one_on_core_and_zero_on_outer_border():
    r = face_region((40, 40, 60, 60), (200, 200), dilation=0.0, feather=0.5)
    w = feather_weights(r)
    (px0, py0, px1, py1), (cx0, cy0, cx1, cy1) = r.paste, r.core
    assert w.shape == (py1 - py0, px1 - px0)
    assert (w[cy0 - py0 : cy1 - py0, cx0 - px0 : cx1 - px0] == 1).all()
    assert (w[0] == 0).all() and (w[-1] == 0).all() and (w[:, 0] == 0).all() and (w[:, -1] == 0).all()
    row = w[(cy0 + cy1) // 2 - py0, : cx0 - px0 + 1]
    assert (np.diff(row) >= 0).all()  # rises towards the core


@pytest.mark.parametrize(
    "shape,dtype",
    [((120, 160, 3), np.uint8), ((120, 160), np.uint8), ((120, 160, 4), np.uint8), ((120, 160), np.uint16)],
)
def test_composite_exact_outside_and_replaced_inside(shape, dtype):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)
    regions = [face_region((20, 30, 60, 80), shape), face_region((50, 40, 100, 90), shape)]  # overlapping
    patches = []
    for i, r in enumerate(regions):
        x0, y0, x1, y1 = r.paste
        patches.append(np.full((y1 - y0, x1 - x0, 3), 60 + 100 * i, np.uint8))
    out = composite(pixels, regions, patches)
    assert out.dtype == pixels.dtype and out.shape == pixels.shape
    outside = ~union_mask(regions, shape)
    assert np.array_equal(out[outside], pixels[outside])
    scale = 257 if dtype == np.uint16 else 1
    core = core_mask(regions, shape)
    values = out[..., :3] if out.ndim == 3 else out
    allowed = {60 * scale, 160 * scale}
    assert set(np.unique(values[core])) <= allowed  # every core pixel is from one face's patch
    if len(shape) == 3 and shape[2] == 4:
        assert np.array_equal(out[..., 3], pixels[..., 3])  # transparency kept


def test_composite_rejects_misfit_patch():
    r = face_region((10, 10, 30, 30), (50, 50))
    with pytest.raises(ValueError):
        composite(np.zeros((50, 50, 3), np.uint8), [r], [np.zeros((3, 3, 3), np.uint8)])


@pytest.mark.parametrize("render", [blur_patches, pixelate_patches, mask_patches])
def test_simple_modes_destroy_face_detail(render):
    image = read_image(DATA / "astronaut.jpg")
    faces = find_faces(image.rgb, DetectConfig())
    assert len(faces) == 1
    region = face_region(faces[0].bbox, image.rgb.shape)
    (patch,) = render(image.rgb, [FaceJob(region)])
    x0, y0, x1, y1 = region.paste
    assert patch.shape == (y1 - y0, x1 - x0, 3)
    original = image.rgb[y0:y1, x0:x1].astype(float)

    # Detail (high-frequency energy) inside the face is mostly gone.
    def detail(a):
        return np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean()

    cx0, cy0, cx1, cy1 = (c - o for c, o in zip(region.core, (x0, y0, x0, y0)))
    assert detail(patch[cy0:cy1, cx0:cx1].astype(float)) < 0.5 * detail(original[cy0:cy1, cx0:cx1])


def test_unknown_mode_is_a_clear_error():
    from anonymizer.inference.modes import ModeError

    with pytest.raises(ModeError, match="unknown mode"):
        make_renderer("swirl")


def test_a_face_cut_by_the_frame_edge_is_covered_as_a_whole_face():
    from anonymizer.inference.regions import face_region, past_edge

    # Half a face at the left edge: the detector's box is 20 px wide and 60 high.
    cut = (0, 50, 20, 110)
    assert past_edge(cut, 640, 480) == (-40.0, 50.0, 20.0, 110.0)
    region = face_region(cut, (480, 640), dilation=0.4, feather=0.0)
    assert region.core[0] == 0 and region.core[2] == 44  # 20 + 0.4 * 60, not 20 + 0.4 * 20
    # Right, top and bottom edges alike; a box inside the image, or square already, is left alone.
    assert past_edge((620, 50, 640, 110), 640, 480) == (620.0, 50.0, 680.0, 110.0)
    assert past_edge((100, 0, 160, 20), 640, 480) == (100.0, -40.0, 160.0, 20.0)
    assert past_edge((100, 460, 160, 480), 640, 480) == (100.0, 460.0, 160.0, 520.0)
    assert past_edge((100, 50, 120, 110), 640, 480) == (100.0, 50.0, 120.0, 110.0)
    assert past_edge((0, 50, 60, 110), 640, 480) == (0.0, 50.0, 60.0, 110.0)
