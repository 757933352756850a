"""Colour and light matching of a generated face to its surroundings, on a real photo: the step at
the mask's edge goes, and nothing but a smooth field enters the face."""

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image
from anonymizer.inference.colour_match import colour_correction, match_colour
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
