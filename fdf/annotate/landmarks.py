"""68-point facial landmarks with dlib's shape predictor, from any detector's box.

The predictor (shape_predictor_68_face_landmarks.dat) is trained on iBUG 300-W, whose images
are licensed for research / non-commercial use only; landmarks made with it inherit those terms.

dlib's predictor expects boxes framed like dlib's HOG detector's. Boxes from CenterFace or MMOD
(or given by the caller) are first mapped to a HOG-like box with :data:`BOX_CALIBRATION`.
Point numbering is iBUG's: 0-16 jaw (0 on the image left), 17-26 brows, 27-35 nose (30 = tip),
36-41 eye on the image left, 42-47 eye on the image right, 48-67 mouth (48/54 corners).
"""

from __future__ import annotations

import dlib
import numpy as np

from . import models

#: Per detector: HOG-like box = centre + (dx*w, dy*h), size (sw*w, sh*h), w/h of the source box.
#: Fitted with benchmarks/fit_landmark_boxes.py on afw-dev (52 AFW photos, working resolution
#: 800 px) as medians of per-face ratios, on faces that dlib HOG and the detector both found
#: (centres inside each other). "given" boxes (FDF metainfo, callers) are treated like CenterFace boxes.
BOX_CALIBRATION: dict[str, tuple[float, float, float, float]] = {
    "hog": (0.0, 0.0, 1.0, 1.0),
    # 71 face pairs; median centre residual 8% of the HOG box width.
    "centerface": (-0.0098, 0.0368, 1.1333, 0.8457),
    # 65 face pairs; median centre residual 9% of the HOG box width.
    "mmod": (0.0424, 0.0688, 0.9263, 0.9197),
}
BOX_CALIBRATION["given"] = BOX_CALIBRATION["centerface"]


def hog_like_box(bbox, detector: str) -> tuple[float, float, float, float]:
    """Map a detector's box (x0, y0, x1, y1) to the box dlib's HOG detector would give."""
    try:
        dx, dy, sw, sh = BOX_CALIBRATION[detector]
    except KeyError:
        raise ValueError(f"no box calibration for detector {detector!r}; known: {sorted(BOX_CALIBRATION)}") from None
    x0, y0, x1, y1 = (float(v) for v in bbox)
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2 + dx * w, (y0 + y1) / 2 + dy * h
    nw, nh = sw * w, sh * h
    return cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2


def dlib_rect(box) -> dlib.rectangle:
    """Half-open float box -> dlib's inclusive integer rectangle."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return dlib.rectangle(x0, y0, max(x0, x1 - 1), max(y0, y1 - 1))


def predict_shape(image: np.ndarray, bbox, detector: str) -> dlib.full_object_detection:
    """dlib's 68-point shape for the face in ``bbox`` (RGB uint8 photo, photo pixels)."""
    return models.shape_predictor_68()(image, dlib_rect(hog_like_box(bbox, detector)))


def shape_to_array(shape: dlib.full_object_detection) -> np.ndarray:
    """68x2 float32 array of a dlib shape's points."""
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def predict_landmarks68(image: np.ndarray, bbox, detector: str) -> np.ndarray:
    """68x2 float32 landmarks (photo pixels) for the face in ``bbox`` found by ``detector``."""
    return shape_to_array(predict_shape(image, bbox, detector))


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """The 5 points CenterFace predicts, from 68 landmarks: eye centres, nose tip, mouth corners.

    Order as CenterFace's: image-left eye, image-right eye, nose tip, image-left and image-right
    mouth corner.
    """
    lm = np.asarray(landmarks68, dtype=np.float32)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])
