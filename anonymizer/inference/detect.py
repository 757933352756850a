"""High-recall face detection for anonymization, on top of :func:`fdf.annotate.detect_faces`.

An anonymizer's missed face is a leak, a false positive only a blurred patch, so the default
CenterFace threshold is far lower than the annotator's (0.5). On afw-dev, threshold 0.2 finds
all 114 annotated faces (benchmarks/results/detectors.md). Large photos are detected at a
working resolution (``max_side``) and the boxes mapped back to full-size pixels by
``detect_faces``. Downscaling a 6000 px group photo to 1600 px shrinks a 40 px face to 10 px,
below what CenterFace finds, so photos over ``max_side`` are also detected in overlapping tiles
of a copy at twice the working resolution (``tiles``); all boxes are merged by non-maximum
suppression. Faces smaller than ``min_size`` (in full-size pixels) are dropped.

Keypoints for the generator come from dlib's 68 landmarks (fdf.annotate) with CenterFace's yaw,
exactly as the FDF shards were annotated; they are only computed when a mode needs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from fdf.annotate import detect_faces
from fdf.annotate.detect import DETECTORS, nms
from fdf.annotate.keypoints import keypoints_from_landmarks
from fdf.annotate.landmarks import predict_landmarks68
from fdf.annotate.pose import yaw_from_five_points
from fdf.errors import FdfError

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.25
DEFAULT_MIN_SIZE = 8


class DetectConfigError(FdfError):
    """A detection option is out of range."""


@dataclass
class DetectConfig:
    """Detection options: ``threshold`` (detector score), ``min_size`` (shorter box side in
    full-size pixels), ``max_side`` (working resolution's longer side; None: full size)."""

    detector: str = "centerface"
    threshold: float = DEFAULT_THRESHOLD
    min_size: float = DEFAULT_MIN_SIZE
    max_side: int | None = 1600
    tiles: bool = True

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
    (7x3 FDF keypoints in photo pixels; None until :func:`add_keypoints` runs)."""

    bbox: tuple[float, float, float, float]
    score: float
    landmarks5: np.ndarray | None = field(default=None, repr=False)
    keypoints: np.ndarray | None = field(default=None, repr=False)

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


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    step = tile - overlap
    count = -(-(length - tile) // step) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tiled_detections(rgb: np.ndarray, config: DetectConfig) -> list:
    """Detections on overlapping tiles of a copy at twice the working resolution (photo pixels)."""
    h, w = rgb.shape[:2]
    factor = min(1.0, 2 * config.max_side / max(h, w))
    copy = rgb if factor == 1.0 else cv2.resize(rgb, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
    ch, cw = copy.shape[:2]
    sx, sy = cw / w, ch / h
    tile, overlap = config.max_side, config.max_side // 4  # a face up to 1/4 tile lies whole in some tile
    found = []
    for y0 in tile_starts(ch, tile, overlap):
        for x0 in tile_starts(cw, tile, overlap):
            part = copy[y0 : y0 + tile, x0 : x0 + tile]
            ph, pw = part.shape[:2]
            for d in detect_faces(part, config.detector, config.threshold, None):
                b = d.bbox
                # A face cut by an inner tile edge gets a truncated box; the neighbouring tile
                # (overlap) or the full-photo pass has it whole, so the cut one is dropped.
                cut = ((b[0] < 2 and x0 > 0) or (b[1] < 2 and y0 > 0)
                       or (b[2] > pw - 2 and x0 + pw < cw) or (b[3] > ph - 2 and y0 + ph < ch))
                if cut:
                    continue
                d.bbox = ((b[0] + x0) / sx, (b[1] + y0) / sy, (b[2] + x0) / sx, (b[3] + y0) / sy)
                if d.landmarks5 is not None:
                    d.landmarks5 = ((d.landmarks5 + [x0, y0]) / [sx, sy]).astype(np.float32)
                found.append(d)
    return found


def find_faces(rgb: np.ndarray, config: DetectConfig) -> list[FaceBox]:
    """Faces in an RGB uint8 photo, best score first, boxes in the photo's own pixels."""
    found = detect_faces(rgb, config.detector, config.threshold, config.max_side)
    if config.tiles and config.max_side and max(rgb.shape[:2]) > config.max_side:
        found += tiled_detections(rgb, config)
        boxes = np.array([d.bbox for d in found], np.float64).reshape(-1, 4)
        scores = np.array([d.score for d in found], np.float64)
        found = [found[i] for i in nms(boxes, scores)] if found else []
    faces = [FaceBox(d.bbox, d.score, d.landmarks5) for d in found]
    kept = [f for f in faces if f.size >= config.min_size]
    if len(kept) < len(faces):
        log.debug("dropped %d detections smaller than %s px", len(faces) - len(kept), config.min_size)
    return kept


def keypoints_for(rgb: np.ndarray, face: FaceBox, detector: str = "centerface") -> np.ndarray:
    """7x3 FDF keypoints (photo pixels) for ``face``, from dlib's 68 landmarks."""
    lm = predict_landmarks68(rgb, face.bbox, detector)
    yaw = yaw_from_five_points(face.landmarks5) if face.landmarks5 is not None else None
    return keypoints_from_landmarks(lm, yaw)


def add_keypoints(rgb: np.ndarray, faces: list[FaceBox], detector: str = "centerface") -> None:
    """Fill ``keypoints`` of every face that has none (in place)."""
    for face in faces:
        if face.keypoints is None:
            face.keypoints = keypoints_for(rgb, face, detector)
