"""gan mode's face mask on a real photo: solid over the landmark hull and the face box, soft to 0
around it, an ellipse when the landmarks cannot be trusted, never past the generator's hole."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image
from anonymizer.inference.detect import face_yaw
from anonymizer.inference.face_mask import (
    FaceMaskParams,
    face_size,
    landmarks_usable,
    masked_region,
    outline_points,
    soft_weights,
)
from anonymizer.inference.image import AnonymizeConfigError
from anonymizer.inference.regions import face_region

DATA = Path(__file__).parent / "data" / "anonymize"
PARAMS = FaceMaskParams(margin=0.05, forehead=0.3, feather=0.1)


@pytest.fixture(scope="module")
def astronaut():
    image = read_image(DATA / "astronaut.jpg")
    anon = ImageAnonymizer(AnonymizeConfig(mode="blur"))
    (face,) = anon.detect(image.rgb)
    from anonymizer.inference.detect import add_keypoints

    add_keypoints(image.rgb, [face])
    return image.rgb, face


def _region(rgb, face, landmarks, params=PARAMS, yaw=None, dilation=0.4):
    box = face_region(face.bbox, rgb.shape, dilation, 0.1)
    return masked_region(box, face.bbox, landmarks, rgb.shape, params, yaw)


def _window_mask(region, shape, fill):
    """Boolean mask over the region's paste window from a photo-sized boolean mask."""
    x0, y0, x1, y1 = region.paste
    return fill[y0:y1, x0:x1]


def _box_mask(box, shape):
    mask = np.zeros(shape[:2], bool)
    x0, y0, x1, y1 = (int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3])))
    mask[max(y0, 0) : y1, max(x0, 0) : x1] = True
    return mask


def test_landmarks_are_kept_with_the_keypoints(astronaut):
    rgb, face = astronaut
    assert face.landmarks68.shape == (68, 2)
    assert landmarks_usable(face.landmarks68, face.bbox, face_yaw(face))


def test_mask_is_solid_over_the_landmark_hull_and_the_face_box(astronaut):
    rgb, face = astronaut
    region = _region(rgb, face, face.landmarks68)
    w = region.weights
    x0, y0, x1, y1 = region.paste
    assert w.shape == (y1 - y0, x1 - x0) and w.dtype == np.float32
    hull = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(outline_points(face.landmarks68, 0.3)).astype(np.int32)), 1)
    solid = w >= 1.0
    assert solid[_window_mask(region, rgb.shape, hull.astype(bool))].all(), "every hull pixel is replaced outright"
    assert solid[_window_mask(region, rgb.shape, _box_mask(face.bbox, rgb.shape))].all(), "so is the face box"
    # The forehead reaches above the brows: a point halfway up the raised forehead is solid.
    brow_mid = face.landmarks68[17:27].mean(0)
    up = face.landmarks68[36:48].mean(0) - face.landmarks68[8]
    fx, fy = np.round(brow_mid + 0.15 * up).astype(int)
    assert solid[fy - y0, fx - x0]
    # Not a square: the corners of the generator's hole keep the photo (hair, background).
    cx0, cy0, cx1, cy1 = region.core
    for px, py in ((cx0, cy0), (cx1 - 1, cy0), (cx0, cy1 - 1), (cx1 - 1, cy1 - 1)):
        assert w[py - y0, px - x0] == 0.0


def test_mask_without_the_box_is_the_hull_and_keeps_the_box_corners(astronaut):
    """``box=False``: the outline alone is solid, so the face box's corners outside it keep the
    photo (no straight box edge across the hair); the hull is still replaced outright."""
    rgb, face = astronaut
    params = FaceMaskParams(margin=0.05, forehead=0.3, feather=0.1, box=False)
    with_box, without = _region(rgb, face, face.landmarks68), _region(rgb, face, face.landmarks68, params)
    assert with_box.paste == without.paste
    hull = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(outline_points(face.landmarks68, 0.3)).astype(np.int32)), 1)
    solid, box = without.weights >= 1.0, _window_mask(without, rgb.shape, _box_mask(face.bbox, rgb.shape))
    assert solid[_window_mask(without, rgb.shape, hull.astype(bool))].all()
    assert not solid[box].all(), "some of the box is outside the grown outline"
    assert (without.weights <= with_box.weights).all() and (without.weights < with_box.weights).any()
    # Without landmarks the ellipse through the box corners holds the box anyway.
    ellipse = _region(rgb, face, None, params)
    assert (ellipse.weights >= 1.0)[_window_mask(ellipse, rgb.shape, _box_mask(face.bbox, rgb.shape))].all()


def test_mask_falls_smoothly_to_zero_inside_the_paste_box(astronaut):
    rgb, face = astronaut
    region = _region(rgb, face, face.landmarks68)
    w = region.weights
    solid = w >= 1.0
    feather_px = PARAMS.feather * face_size(face.bbox)
    dist = cv2.distanceTransform((~solid).astype(np.uint8), cv2.DIST_L2, 5)
    assert (w[dist > feather_px + 1] == 0).all(), "zero beyond the feather band"
    band = (dist > 0) & (dist < feather_px - 1)
    assert ((w[band] > 0) & (w[band] < 1)).all(), "a soft band, not a step"
    # Weights fall as the distance grows (a smoothstep of it).
    order = np.argsort(dist[band])
    assert (np.diff(w[band][order]) <= 1e-6).all()
    assert (w[0] == 0).all() and (w[-1] == 0).all() and (w[:, 0] == 0).all() and (w[:, -1] == 0).all()


def test_mask_never_reaches_past_the_generators_hole(astronaut):
    rgb, face = astronaut
    # A hole barely larger than the box: the hull and forehead would reach past it.
    region = _region(rgb, face, face.landmarks68, FaceMaskParams(margin=0.3, forehead=1.0, feather=0.1), dilation=0.05)
    x0, y0, x1, y1 = region.paste
    ys, xs = np.nonzero(region.weights >= 1.0)
    cx0, cy0, cx1, cy1 = region.core
    assert xs.min() + x0 >= cx0 and xs.max() + x0 < cx1 and ys.min() + y0 >= cy0 and ys.max() + y0 < cy1


@pytest.mark.parametrize("why", ["none", "profile", "small", "wandered"])
def test_fallback_ellipse_covers_the_box(astronaut, why):
    rgb, face = astronaut
    landmarks, yaw, bbox = face.landmarks68, None, face.bbox
    if why == "none":
        landmarks = None
    elif why == "profile":
        yaw = 80.0
    elif why == "wandered":
        landmarks = face.landmarks68 + (face_size(bbox) * 2, 0)
    else:  # a 20 px face: dlib's fit is a guess there
        cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
        bbox = (cx - 10, cy - 10, cx + 10, cy + 10)
    assert not landmarks_usable(landmarks, bbox, yaw)
    face_small = type(face)(bbox, face.score)
    region = _region(rgb, face_small, landmarks, yaw=yaw)
    x0, y0, x1, y1 = region.paste
    solid = region.weights >= 1.0
    assert solid[_window_mask(region, rgb.shape, _box_mask(bbox, rgb.shape))].all()
    # An ellipse: its top-centre reaches above the box, the corners of the hole keep the photo.
    cx = int((bbox[0] + bbox[2]) / 2) - x0
    assert solid[int(bbox[1]) - y0 - 2, cx]
    cx0, cy0 = region.core[:2]
    assert region.weights[cy0 - y0, cx0 - x0] == 0.0


def test_soft_weights_without_feather_is_the_solid_mask():
    solid = np.zeros((20, 20), bool)
    solid[5:15, 5:15] = True
    assert np.array_equal(soft_weights(solid, 0), solid.astype(np.float32))
    w = soft_weights(solid, 4)
    assert (w[solid] == 1).all() and w[1, 10] == 0 and 0 < w[2, 10] < w[3, 10] < w[4, 10] < 1


def test_anonymizer_uses_the_outline_in_gan_mode_only():
    image = read_image(DATA / "astronaut.jpg")
    gan = ImageAnonymizer(AnonymizeConfig(mode="gan"))
    faces = gan.detect(image.rgb)
    assert gan.region_of(faces[0], image.rgb.shape).weights is not None
    boxed = ImageAnonymizer(AnonymizeConfig(mode="gan", face_mask="box"))
    assert boxed.region_of(faces[0], image.rgb.shape).weights is None
    for mode in ("blur", "pixelate", "mask"):
        assert ImageAnonymizer(AnonymizeConfig(mode=mode)).region_of(faces[0], image.rgb.shape).weights is None


@pytest.mark.parametrize(
    "bad",
    [
        dict(face_mask="hull"),
        dict(fallback_mask="ellipse"),
        dict(mask_margin=-0.1),
        dict(mask_forehead=1.5),
        dict(mask_feather=0.9),
    ],
)
def test_mask_options_are_validated(bad):
    with pytest.raises(AnonymizeConfigError):
        AnonymizeConfig(**bad)
