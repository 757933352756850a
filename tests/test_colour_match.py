"""Colour and light matching of a generated face to its surroundings, on a real photo: the step at
the mask's edge goes, and nothing but a smooth field enters the face."""

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image
from anonymizer.inference.colour_match import box_core, colour_correction, match_colour, tone_correction
from anonymizer.inference.composite import composite
from anonymizer.inference.face_mask import FaceMaskParams, face_size
from anonymizer.inference.regions import face_region

DATA = Path(__file__).parent / "data" / "anonymize"
SWEEP = Path(__file__).resolve().parents[1] / "benchmarks" / "sweep_compositing.py"


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("sweep_compositing", SWEEP)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scene():
    """The astronaut photo, its face, and the face's outline region (as gan mode draws it)."""
    image = read_image(DATA / "astronaut.jpg")
    anon = ImageAnonymizer(AnonymizeConfig(mode="gan", verify_identity=False))
    (face,) = anon.detect(image.rgb)
    return image.rgb, face, anon.region_of(face, image.rgb.shape)


def _flat_patch(region, colour=(40, 160, 220)):
    x0, y0, x1, y1 = region.paste
    return np.full((y1 - y0, x1 - x0, 3), colour, np.uint8)


def test_flat_patch_loses_its_boundary_step(scene, sweep):
    rgb, face, region = scene
    x0, y0, x1, y1 = region.paste
    patch = _flat_patch(region)
    matched = match_colour(rgb[y0:y1, x0:x1], patch, region.weights, face_size(face.bbox))
    raw = sweep.border_score(rgb, composite(rgb, [region], [patch]), region, face_size(face.bbox))
    fixed = sweep.border_score(rgb, composite(rgb, [region], [matched]), region, face_size(face.bbox))
    assert raw > 20, "a sky-blue face on skin and hair is a plain step"
    assert abs(fixed) < 3 and abs(fixed) < 0.1 * raw


def test_border_score_of_the_photo_itself_is_zero(scene, sweep):
    rgb, face, region = scene
    assert sweep.border_score(rgb, rgb, region, face_size(face.bbox)) == 0.0
    boxed = face_region(face.bbox, rgb.shape, 0.4, 0.1)
    assert sweep.border_score(rgb, rgb, boxed, face_size(face.bbox)) == 0.0


def test_correction_is_smooth_and_copies_no_face_detail(scene):
    rgb, face, region = scene
    x0, y0, x1, y1 = region.paste
    window = rgb[y0:y1, x0:x1]
    field = colour_correction(window, _flat_patch(region), region.weights, face_size(face.bbox))
    solid = region.weights >= 1.0
    inside = cv2.erode(solid.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)

    def detail(a):  # what a 2-pixel blur takes away: texture, edges, the features of a face
        a = a.astype(np.float32)
        return np.abs(a - cv2.GaussianBlur(a, (0, 0), 2.0))[inside].mean()

    assert detail(window) > 2.0, "the original face has detail"
    assert detail(field) < 0.1 * detail(window), "the correction has none"
    # What the face gets is the photo's colour at the rim, not its content: the corrected flat
    # patch does not follow the original's light and dark inside the face.
    corrected = (_flat_patch(region).astype(np.float32) + field)[inside].mean(1)
    original = window.astype(np.float32)[inside].mean(1)
    hp = original - cv2.GaussianBlur(window.astype(np.float32), (0, 0), 8.0)[inside].mean(1)
    assert abs(np.corrcoef(corrected, hp)[0, 1]) < 0.2


def test_no_edge_means_no_correction():
    rgb = np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)
    patch = np.full_like(rgb, 128)
    assert not colour_correction(rgb, patch, np.zeros((40, 40), np.float32), 20).any()
    assert not colour_correction(rgb, patch, np.ones((40, 40), np.float32), 20).any()


def test_gan_mode_matches_colour_when_asked(scene, sweep):
    """The bundled generator's face, composited with and without the matching."""
    rgb, face, _ = scene
    scores = {}
    for on in (False, True):
        anon = ImageAnonymizer(AnonymizeConfig(mode="gan", verify_identity=False, colour_match=on))
        result = anon.render(rgb.copy(), rgb, [face], [0])
        assert anon._gan.colour_match is on
        scores[on] = sweep.border_score(rgb, result.pixels, result.regions[0], face_size(face.bbox))
    assert abs(scores[True]) < abs(scores[False])


def _window_box(face, region):
    x0, y0 = region.paste[:2]
    b = face.bbox
    return (b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0)


def _median_lab(rgb, where):
    lab = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    return np.median(lab[where], axis=0)


def test_tone_moves_the_face_middle_to_the_photos_and_leaves_the_rim(scene):
    """A face drawn lighter than the photo's (the generator's habit on dim faces) gets the
    photo's median tone over the box's middle; the rim the colour match fixed stays as it was."""
    rgb, face, region = scene
    x0, y0, x1, y1 = region.paste
    window = rgb[y0:y1, x0:x1]
    lighter = np.clip(window.astype(np.float32) * 0.4 + 150, 0, 255).astype(np.uint8)  # washed out
    core = box_core(region.weights.shape, _window_box(face, region))
    assert core.sum() > 1000
    px = face_size(face.bbox)
    field = tone_correction(window, lighter, region.weights, px, core)
    before, after = _median_lab(lighter, core), _median_lab(lighter + field, core)
    want = _median_lab(window, core)
    assert abs(before[0] - want[0]) > 10
    assert np.abs(after - want).max() < 1.5
    # nothing moves on the ring just inside the weight-1 edge, nor outside it
    solid = region.weights >= 1.0
    depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, 3)
    assert not field[depth <= 0.05 * px].any()
    # and the field is smooth: a shift of tone, no texture of the photo's face
    inside = cv2.erode(solid.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    detail = np.abs(field - cv2.GaussianBlur(field, (0, 0), 2.0))[inside].mean()
    assert detail < 1.0


def test_tone_needs_a_face_to_measure():
    rgb = np.full((40, 40, 3), 50, np.uint8)
    weights = np.ones((40, 40), np.float32)
    weights[:, :2] = 0.5
    assert not tone_correction(rgb, rgb + 100, weights, 30, np.zeros((40, 40), bool)).any()
    assert not tone_correction(rgb, rgb + 100, np.zeros((40, 40), np.float32), 30, np.ones((40, 40), bool)).any()
    assert box_core((10, 10), (0, 0, 10, 10)).sum() == 25


def test_gan_mode_matches_tone_when_asked(scene):
    """With tone matching the generated face's middle has the photo's median tone; without it,
    the bundled generator's own."""
    rgb, face, region = scene
    core = np.zeros(rgb.shape[:2], bool)
    x0, y0, x1, y1 = region.paste
    core[y0:y1, x0:x1] = box_core(region.weights.shape, _window_box(face, region)) & (region.weights >= 1)
    want = _median_lab(rgb, core)
    gaps = {}
    for on in (False, True):
        anon = ImageAnonymizer(AnonymizeConfig(mode="gan", verify_identity=False, tone_match=on))
        result = anon.render(rgb.copy(), rgb, [face], [0])
        assert anon._gan.tone_match is on
        gaps[on] = np.abs(_median_lab(result.pixels, core) - want).max()
    assert gaps[True] < 2.0 < gaps[False]


def test_matching_works_on_a_box_feather_too(scene, sweep):
    rgb, face, _ = scene
    region = face_region(face.bbox, rgb.shape, 0.4, 0.1)
    x0, y0, x1, y1 = region.paste
    from anonymizer.inference.regions import feather_weights

    patch = _flat_patch(region)
    matched = match_colour(rgb[y0:y1, x0:x1], patch, feather_weights(region), face_size(face.bbox))
    raw = sweep.border_score(rgb, composite(rgb, [region], [patch]), region, face_size(face.bbox))
    fixed = sweep.border_score(rgb, composite(rgb, [region], [matched]), region, face_size(face.bbox))
    assert abs(fixed) < 0.2 * raw


def test_mask_options_reach_the_mask():
    config = AnonymizeConfig(mask_margin=0.1, mask_forehead=0.2, mask_feather=0.15)
    assert config.mask_params == FaceMaskParams(margin=0.1, forehead=0.2, feather=0.15)
