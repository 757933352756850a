"""Heads tilted in the picture plane (anonymizer.inference.upright): landmarks fitted upright and
turned back, and the generator given an upright crop whose output is turned back when pasted."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, upright
from anonymizer.inference.detect import add_keypoints, face_roll, find_faces
from anonymizer.inference.modes import FaceJob, GanMode
from anonymizer.inference.regions import face_region
from fdf.annotate.landmarks import predict_landmarks68

DATA = Path(__file__).parent / "data" / "anonymize"


def _tilted(degrees: float) -> np.ndarray:
    rgb = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))
    h, w = rgb.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)


def _eye_roll(landmarks68: np.ndarray) -> float:
    right, left = landmarks68[36:42].mean(0), landmarks68[42:48].mean(0)  # image-left eye, image-right eye
    return float(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0])))


@pytest.mark.parametrize("degrees", [45.0, -45.0])
def test_landmarks_of_a_tilted_head_follow_its_eyes(degrees):
    rgb = _tilted(degrees)
    faces = find_faces(rgb, AnonymizeConfig().detect)
    assert faces, "CenterFace finds the tilted astronaut"
    face = faces[0]
    # The detector's eyes see most of the tilt (they are only used to turn the face about upright).
    assert face_roll(face) * degrees < 0 and abs(face_roll(face)) > upright.MIN_ROLL_DEGREES
    add_keypoints(rgb, [face])
    assert abs(_eye_roll(face.landmarks68) + degrees) < 8
    naive = predict_landmarks68(rgb, face.bbox, "centerface")  # dlib alone, from its upright mean shape
    assert abs(_eye_roll(naive) + degrees) > 15  # measured: off by 25-30 degrees at 45
    assert abs(upright.roll_degrees(face.keypoints) + degrees) < 10


def test_an_upright_crop_is_turned_back_onto_the_face(tmp_path):
    rgb = _tilted(35.0)
    face = find_faces(rgb, AnonymizeConfig().detect)[0]
    add_keypoints(rgb, [face])
    region = face_region(face.bbox, rgb.shape, 0.4, 0.1)
    job = FaceJob(region, face.keypoints, seed=1, bbox=face.bbox)

    class Echo:  # a "generator" that returns its crop: the paste must put the photo back in place
        resolution, mask_dilation = 64, 0.4

        def generate(self, crops, boxes, keypoints, seeds):
            return np.asarray(crops)

    mode = GanMode(upright=True)
    mode._generator = Echo()
    made = mode.generate(rgb, [job])[0]
    assert made.to_photo is not None
    patch = mode.paste(rgb, job, made)
    x0, y0, x1, y1 = region.paste
    original = rgb[y0:y1, x0:x1].astype(np.float32)
    # The echoed crop went through a turn, a downscale to 64 px and back: close to the photo, not equal.
    assert np.abs(patch.astype(np.float32) - original).mean() < 12
    flat = GanMode(upright=False)
    flat._generator = Echo()
    assert flat.generate(rgb, [job])[0].to_photo is None


def test_upright_faces_are_cut_as_before():
    rgb = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))
    a = ImageAnonymizer(AnonymizeConfig(upright_crops=True, verify_identity=False)).anonymize_rgb(rgb)
    b = ImageAnonymizer(AnonymizeConfig(upright_crops=False, verify_identity=False)).anonymize_rgb(rgb)
    np.testing.assert_array_equal(a.pixels, b.pixels)
