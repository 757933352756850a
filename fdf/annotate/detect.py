"""Face detection: dlib HOG, dlib MMOD CNN and CenterFace (ONNX), behind one function.

Photos larger than ``max_side`` are detected on a downscaled copy; boxes and landmarks are
mapped back to the original pixels with the exact per-axis scale used for the resize.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import FdfError
from . import models

log = logging.getLogger(__name__)

DETECTORS = ("centerface", "hog", "mmod")
#: Score thresholds used when the caller gives none. CenterFace scores are probabilities;
#: dlib's HOG and MMOD scores are SVM margins, 0 being the detector's own default.
DEFAULT_THRESHOLDS = {"centerface": 0.5, "hog": 0.0, "mmod": 0.0}
CENTERFACE_STRIDE = 4
NMS_IOU = 0.3


class DetectorError(FdfError):
    """Unknown detector name or an image the detectors cannot read."""


@dataclass
class Detection:
    """One detected face: box (x0, y0, x1, y1) in photo pixels, score, and optional 5 points.

    ``landmarks5`` (CenterFace only) are, in this order: eye on the image left, eye on the image
    right, nose tip, mouth corner on the image left, mouth corner on the image right.
    """

    bbox: tuple[float, float, float, float]
    score: float
    detector: str
    landmarks5: np.ndarray | None = None


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as contiguous RGB uint8 HxWx3, or raise DetectorError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise DetectorError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise DetectorError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
    if image.ndim != 3 or image.shape[2] != 3:
        raise DetectorError(f"image must be HxWx3 RGB, got shape {image.shape}")
    if min(image.shape[:2]) < 8:
        raise DetectorError(f"image is too small to hold a face: {image.shape[1]}x{image.shape[0]}")
    return np.ascontiguousarray(image)


def working_copy(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """Downscale so the longer side is at most ``max_side``; return it and the x, y scales used."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0, 1.0
    factor = max_side / max(h, w)
    new_w, new_h = max(1, round(w * factor)), max(1, round(h * factor))
    small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    # Rounding makes the two axes differ slightly; keeping both is what makes mapping back exact.
    return small, new_w / w, new_h / h


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Indices of boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[overlap < iou]
    return np.asarray(keep, dtype=int)


def centerface_raw(image: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run CenterFace on an RGB image at its own size: boxes (N,4), scores (N,), landmarks (N,5,2)."""
    h, w = image.shape[:2]
    # The network needs sides divisible by 32; pad (not stretch) so coordinates need no rescale.
    ph, pw = -h % 32, -w % 32
    padded = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0) if ph or pw else image
    blob = padded.transpose(2, 0, 1)[None].astype(np.float32)  # raw 0..255 RGB, no mean
    heat, scale, offset, lms = models.centerface_session().run(None, {"input.1": blob})
    heat = heat[0, 0]
    rows, cols = np.nonzero(heat > threshold)
    if rows.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    s = CENTERFACE_STRIDE
    bh = np.exp(scale[0, 0, rows, cols]) * s
    bw = np.exp(scale[0, 1, rows, cols]) * s
    cy = (rows + offset[0, 0, rows, cols] + 0.5) * s
    cx = (cols + offset[0, 1, rows, cols] + 0.5) * s
    x0, y0 = cx - bw / 2, cy - bh / 2
    boxes = np.stack([x0, y0, x0 + bw, y0 + bh], axis=1)
    # Landmark channels alternate (y, x) per point, as offsets in units of box size from its corner.
    ly = lms[0, 0::2, rows, cols] * bh[:, None] + y0[:, None]
    lx = lms[0, 1::2, rows, cols] * bw[:, None] + x0[:, None]
    points = np.stack([lx, ly], axis=2)
    scores = heat[rows, cols]
    keep = nms(boxes, scores)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32), points[keep].astype(np.float32)


def _dlib_boxes(rects) -> np.ndarray:
    # dlib rectangles are inclusive pixel ranges; +1 makes them half-open like every other box here.
    return np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float32).reshape(-1, 4)


def hog_raw(image: np.ndarray, threshold: float, upsample: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """dlib HOG detections on ``image``: boxes (N,4) and SVM scores (N,)."""
    rects, scores, _ = models.hog_detector().run(image, upsample, threshold)
    return _dlib_boxes(rects), np.asarray(scores, np.float32)


def mmod_raw(image: np.ndarray, threshold: float, upsample: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """dlib MMOD CNN detections on ``image``: boxes (N,4) and confidences (N,)."""
    found = [d for d in models.mmod_detector()(image, upsample) if d.confidence >= threshold]
    return _dlib_boxes([d.rect for d in found]), np.array([d.confidence for d in found], np.float32)


def detect_faces(
    image: np.ndarray,
    detector: str = "centerface",
    threshold: float | None = None,
    max_side: int | None = 1600,
    upsample: int = 0,
) -> list[Detection]:
    """Detect faces in an RGB uint8 photo; boxes come back in the photo's own pixels.

    ``max_side`` bounds the working resolution (None: detect at full size). ``upsample`` only
    applies to the dlib detectors (each step doubles the image, finding faces half as small).
    """
    if detector not in DETECTORS:
        raise DetectorError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    image = check_image(image)
    thr = DEFAULT_THRESHOLDS[detector] if threshold is None else float(threshold)
    small, sx, sy = working_copy(image, max_side)
    points = None
    if detector == "centerface":
        boxes, scores, points = centerface_raw(small, thr)
    elif detector == "hog":
        boxes, scores = hog_raw(small, thr, upsample)
    else:
        boxes, scores = mmod_raw(small, thr, upsample)
    boxes = boxes.astype(np.float64)
    boxes[:, [0, 2]] /= sx
    boxes[:, [1, 3]] /= sy
    h, w = image.shape[:2]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    out = []
    for i in np.argsort(-scores):
        lm5 = None
        if points is not None:
            lm5 = (points[i].astype(np.float64) / [sx, sy]).astype(np.float32)
        out.append(Detection(tuple(float(v) for v in boxes[i]), float(scores[i]), detector, lm5))
    return out
