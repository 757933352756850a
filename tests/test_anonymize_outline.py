"""Privacy invariants of gan mode's outline compositing, on a real photo with the bundled generator:
the face (landmark hull and detected box) is fully generated, the photo outside the paste box is
untouched, overlapping faces stay replaced, and the identity check's blur fallback covers the face."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_anonymize_verify import CopyingGenerator

from anonymizer.inference import AnonymizeConfig, Blurred, Generated, ImageAnonymizer, read_image
from anonymizer.inference.composite import composite
from anonymizer.inference.face_mask import outline_points
from anonymizer.inference.regions import replaced_mask, union_mask

DATA = Path(__file__).parent / "data" / "anonymize"


def _face_pixels(face, shape):
    """Photo-sized mask of the face: its landmark hull (brows raised as the mask does) and its box."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(outline_points(face.landmarks68, 0.3)).astype(np.int32)), 1)
    x0, y0, x1, y1 = (
        int(np.floor(face.bbox[0])),
        int(np.floor(face.bbox[1])),
        int(np.ceil(face.bbox[2])),
        int(np.ceil(face.bbox[3])),
    )
    mask[y0:y1, x0:x1] = 1
    return mask.astype(bool)


class Spy(ImageAnonymizer):
    """The real gan mode; keeps the patches it drew."""

    def __init__(self, config):
        super().__init__(config)
        self.patches = []
        real = self._render

        def render(rgb, jobs):
            out = real(rgb, jobs)
            self.patches.extend(out)
            return out

        self._render = render


@pytest.fixture(scope="module")
def drawn():
    image = read_image(DATA / "astronaut.jpg")
    anon = Spy(AnonymizeConfig(mode="gan", verify_identity=False))
    return image, anon.anonymize_loaded(image), anon.patches


def test_whole_face_is_generated(drawn):
    image, result, (patch,) = drawn
    (face,), (region,) = result.faces, result.regions
    assert region.weights is not None, "gan mode draws under the outline mask"
    x0, y0, x1, y1 = region.paste
    face_mask = _face_pixels(face, image.rgb.shape)[y0:y1, x0:x1]
    assert (region.weights[face_mask] == 1).all()
    out = result.pixels[y0:y1, x0:x1]
    assert np.array_equal(out[face_mask], patch[face_mask]), "no original pixel is left in the face"
    assert replaced_mask(result.regions, image.rgb.shape)[y0:y1, x0:x1][face_mask].all()


def test_photo_outside_the_paste_box_is_untouched_and_hair_is_kept(drawn):
    image, result, _ = drawn
    outside = ~union_mask(result.regions, image.rgb.shape)
    assert np.array_equal(result.pixels[outside], image.pixels[outside])
    # Inside the generator's hole but away from the face, the photo shows through (hair, background).
    (region,) = result.regions
    x0, y0, x1, y1 = region.paste
    cx0, cy0, cx1, cy1 = region.core
    kept = np.zeros(image.rgb.shape[:2], bool)
    kept[y0:y1, x0:x1] = region.weights == 0
    hole = np.zeros_like(kept)
    hole[cy0:cy1, cx0:cx1] = True
    assert (kept & hole).sum() > 0.1 * hole.sum()
    assert np.array_equal(result.pixels[kept], image.pixels[kept])


def test_overlapping_outline_faces_stay_replaced():
    image = read_image(DATA / "astronaut.jpg")
    anon = ImageAnonymizer(AnonymizeConfig(mode="gan", verify_identity=False))
    (face,) = anon.detect(image.rgb)
    w = face.bbox[2] - face.bbox[0]
    from dataclasses import replace

    # A second face beside the first, overlapping it by half (its landmarks moved with it).
    other = replace(
        face,
        bbox=(face.bbox[0] + w / 2, face.bbox[1], face.bbox[2] + w / 2, face.bbox[3]),
        landmarks68=face.landmarks68 + (w / 2, 0),
        keypoints=None,
    )
    regions = [anon.region_of(f, image.rgb.shape) for f in (face, other)]
    patches = []
    for i, r in enumerate(regions):
        x0, y0, x1, y1 = r.paste
        patches.append(np.full((y1 - y0, x1 - x0, 3), 60 + 100 * i, np.uint8))
    for order in ((0, 1), (1, 0)):
        out = composite(image.pixels, [regions[i] for i in order], [patches[i] for i in order])
        faces = _face_pixels(face, image.rgb.shape) | _face_pixels(other, image.rgb.shape)
        assert set(np.unique(out[faces])) <= {60, 160}, "every face pixel comes from one face's patch"
        outside = ~union_mask(regions, image.rgb.shape)
        assert np.array_equal(out[outside], image.pixels[outside])


@pytest.mark.parametrize("fallback_mask", ["outline", "box"])
def test_fallback_blur_covers_the_face_or_the_whole_box(fallback_mask):
    """A face that kept matching is blurred: under its own outline (default: hair and background
    outside it kept, the face and its box blurred throughout) or over the whole dilated box."""
    image = read_image(DATA / "astronaut.jpg")
    config = AnonymizeConfig(mode="gan", verify_tries=2, fallback_mask=fallback_mask)
    anon = CopyingGenerator(config, copy_seeds_below=10**9)
    result = anon.anonymize_loaded(image)
    assert result.outcomes == [Blurred()] and result.blurred == 1
    (region,) = result.regions
    (face,) = result.faces
    moved = np.abs(result.pixels.astype(int) - image.pixels).max(axis=2) > 0
    assert moved[_face_pixels(face, image.rgb.shape)].mean() > 0.97, "the whole face is blurred"
    cx0, cy0, cx1, cy1 = region.core
    core_moved = moved[cy0:cy1, cx0:cx1].mean()
    if fallback_mask == "box":
        assert region.weights is None and core_moved > 0.9
    else:
        x0, y0, x1, y1 = region.paste
        assert region.weights is not None
        outside = np.ones(moved.shape, bool)
        outside[y0:y1, x0:x1] = region.weights == 0
        assert not moved[outside].any(), "nothing outside the outline mask changes"
        assert core_moved < 0.9, "hair and background inside the box are kept"
    again = anon.render(image.pixels, image.rgb, result.faces, [0], fixed=result.outcomes)
    assert np.array_equal(again.pixels, result.pixels)


def test_identity_check_judges_the_outline_composite():
    """A 'generator' that copies the original face: under the outline mask the output is the
    original, so the check must see the leak (it judges what is composited, not the patch)."""
    image = read_image(DATA / "astronaut.jpg")
    anon = CopyingGenerator(AnonymizeConfig(mode="gan", verify_tries=2), copy_seeds_below=1)
    result = anon.anonymize_loaded(image)
    assert result.regenerated == 1 and result.outcomes == [Generated(7919)]
    (region,) = result.regions
    assert region.weights is not None
    x0, y0, x1, y1 = region.paste
    assert (result.pixels[y0:y1, x0:x1][region.weights >= 1] == 0).all()  # the flat second try


def test_auto_fallback_is_the_outline_on_photos_and_the_box_on_video_frames():
    image = read_image(DATA / "astronaut.jpg")
    auto = AnonymizeConfig(mode="gan", verify_tries=2)
    assert auto.fallback_mask == "auto" and (auto.fallback_for(False), auto.fallback_for(True)) == ("outline", "box")
    assert AnonymizeConfig(fallback_mask="outline").fallback_for(True) == "outline"
    anon = CopyingGenerator(auto, copy_seeds_below=10**9)
    photo = anon.anonymize_loaded(image)
    faces = anon.detect(image.rgb)
    frame = anon.render(image.pixels, image.rgb, faces, [0], video=True)
    assert photo.outcomes == frame.outcomes == [Blurred()]
    assert photo.regions[0].weights is not None and frame.regions[0].weights is None
    redrawn = anon.render(image.pixels, image.rgb, faces, [0], fixed=[Blurred()], video=True)
    assert np.array_equal(redrawn.pixels, frame.pixels), "video's repair draws the fallback as the frame did"
