"""Upright crops for the generator: a face whose head is tilted in the picture plane is cut out
turned upright, generated, and turned back when it is pasted.

The generator learned from crops where faces stand upright (FDF's, and the training sets'), and
fills a tilted face's hole with a malformed one. Turning the crop by the eye line's roll gives it
what it knows; the paste turns the generated pixels back (the inverse rotation, composed with
any carrying motion in video). Faces within :data:`MIN_ROLL_DEGREES` of upright are cut as they
were, so their output does not change. Off by default (``AnonymizeConfig.upright_crops``): with
the bundled 64 px generator it did not help (BENCHMARKS.md, "Tilted heads"). The landmark fit
of a tilted head (:func:`anonymizer.inference.detect.landmarks68_for`) uses the same turn, always.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fdf.annotate import expand_fdf_box
from fdf.annotate.keypoints import KEYPOINT_NAMES

#: Rolls smaller than this are left alone (detectors' eye points wobble by a few degrees).
MIN_ROLL_DEGREES = 12.0
_LEFT_EYE, _RIGHT_EYE = KEYPOINT_NAMES.index("left_eye"), KEYPOINT_NAMES.index("right_eye")


def eye_line_degrees(image_left_eye, image_right_eye) -> float | None:
    """The angle of the line from the eye on the image's left to the other, in degrees as OpenCV
    rotates (positive: the image is turned counter-clockwise to make the eyes level); None when
    the two points coincide."""
    dx, dy = image_right_eye[0] - image_left_eye[0], image_right_eye[1] - image_left_eye[1]
    return None if dx == 0 and dy == 0 else math.degrees(math.atan2(dy, dx))


def roll_degrees(keypoints: np.ndarray) -> float | None:
    """:func:`eye_line_degrees` of FDF keypoints; None when an eye is not visible."""
    kp = np.asarray(keypoints, np.float64)
    left, right = kp[_LEFT_EYE], kp[_RIGHT_EYE]  # the person's left eye is on the image's right
    if left[2] <= 0 or right[2] <= 0:
        return None
    return eye_line_degrees(right, left)


def upright_crop(rgb: np.ndarray, around, resolution: int, roll: float):
    """The FDF crop of the face in box ``around``, turned by ``roll`` degrees about the box's
    centre: (crop, crop box in the turned photo's pixels, 2 x 3 photo -> turned photo)."""
    x0, y0, x1, y1 = (float(v) for v in around)
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    turn = cv2.getRotationMatrix2D(centre, roll, 1.0)
    box = expand_fdf_box(around, rgb.shape)
    side = box[2] - box[0]
    to_box = turn.copy()
    to_box[:, 2] -= (box[0], box[1])
    square = cv2.warpAffine(rgb, to_box, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if side > resolution else cv2.INTER_LINEAR
    return cv2.resize(square, (resolution, resolution), interpolation=interp), box, turn


def apply(transform: np.ndarray, points) -> np.ndarray:
    """``points`` (N x 2, or N x 3 with the third column kept) moved by a 2 x 3 affine ``transform``."""
    pts = np.array(points, np.float32, copy=True)
    xy = pts[:, :2].astype(np.float64)
    pts[:, :2] = xy @ transform[:, :2].T + transform[:, 2]
    return pts


def inverse(transform: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 3 affine transform."""
    return cv2.invertAffineTransform(np.asarray(transform, np.float64))


def bounding_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """The axis-aligned box around ``points`` (N x 2)."""
    return float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max())
