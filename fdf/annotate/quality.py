"""Face quality measures, each a plain float:

* ``face_size``: geometric mean of the box's width and height, photo pixels.
* ``sharpness``: variance of the Laplacian of the grey face box resized to 64x64, so it does not
  grow with face size. Blurry faces score below ~50, sharp ones in the hundreds.
* ``exposure``: mean luminance of the face box, 0 (black) to 1 (white).
* ``clipped``: fraction of face-box pixels at luminance <= 5 or >= 250 (lost detail).
* ``landmark_fit``: mean distance between the 68-point predictor's eye centres, nose tip and mouth
  corners and the detector's own 5 points, divided by the distance between the eyes. Near 0.1 when
  both agree; large values mean the landmarks slid off the face. NaN when the detector gives no
  5 points (dlib HOG / MMOD, given boxes).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .landmarks import five_points

SHARPNESS_SIDE = 64


@dataclass
class Quality:
    """Quality measures of one face (see module docstring)."""

    face_size: float
    sharpness: float
    exposure: float
    clipped: float
    landmark_fit: float


def face_pixels(image: np.ndarray, bbox) -> np.ndarray:
    """The photo's pixels inside ``bbox`` (clipped to the photo); may be empty."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = bbox
    x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    return image[y0:y1, x0:x1]


def landmark_fit(landmarks68: np.ndarray, landmarks5: np.ndarray | None) -> float:
    """Mean 5-point disagreement between the 68 landmarks and a detector's 5, per interocular distance."""
    if landmarks5 is None:
        return float("nan")
    ours = five_points(landmarks68).astype(np.float64)
    theirs = np.asarray(landmarks5, dtype=np.float64).reshape(5, 2)
    interocular = np.linalg.norm(theirs[0] - theirs[1])
    if interocular <= 0:
        return float("nan")
    return float(np.linalg.norm(ours - theirs, axis=1).mean() / interocular)


def face_quality(image: np.ndarray, bbox, landmarks68: np.ndarray, landmarks5: np.ndarray | None = None) -> Quality:
    """Size, sharpness, exposure and landmark fit of the face in ``bbox`` of an RGB uint8 photo."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    size = float(np.sqrt(max(0.0, x1 - x0) * max(0.0, y1 - y0)))
    pixels = face_pixels(image, bbox)
    if pixels.size == 0:
        nan = float("nan")
        return Quality(size, nan, nan, nan, landmark_fit(landmarks68, landmarks5))
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(small.astype(np.float64), cv2.CV_64F).var())
    return Quality(
        face_size=size,
        sharpness=sharpness,
        exposure=float(grey.mean() / 255.0),
        clipped=float(((grey <= 5) | (grey >= 250)).mean()),
        landmark_fit=landmark_fit(landmarks68, landmarks5),
    )
