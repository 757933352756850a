"""FaceAnalyzer: detection -> 68 landmarks -> pose, FDF keypoints, expression, quality, identity.

One analyzer per process is enough; the models behind it are loaded once and shared.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import FdfError
from .detect import DETECTORS, Detection, check_image, detect_faces
from .expression import Expression, expression_scores
from .identity import face_embedding
from .keypoints import keypoints_from_given, keypoints_from_landmarks
from .landmarks import predict_shape, shape_to_array
from .pose import head_pose, yaw_from_five_points
from .quality import Quality, face_quality

log = logging.getLogger(__name__)


class AnalyzerError(FdfError):
    """Bad analyzer configuration or bad ``known_faces``."""


@dataclass
class AnalyzerConfig:
    """How to analyze photos.

    ``detector``: "centerface" (default: best recall on afw-dev, see
    benchmarks/results/detectors.md), "hog" or "mmod". ``threshold``: detector score threshold
    (None: the detector's default). ``max_side``: longest side of the working copy used for
    detection (None: full size). ``upsample``: dlib detectors only. ``embeddings``: compute
    the 128-d identity descriptor (about 30 ms per face on CPU).
    """

    detector: str = "centerface"
    threshold: float | None = None
    max_side: int | None = 1600
    upsample: int = 0
    embeddings: bool = True

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise AnalyzerError(f"unknown detector {self.detector!r}; choose one of {', '.join(DETECTORS)}")
        if self.max_side is not None and self.max_side < 32:
            raise AnalyzerError(f"max_side must be at least 32 pixels (or None), got {self.max_side}")
        if self.upsample < 0:
            raise AnalyzerError(f"upsample must be >= 0, got {self.upsample}")


@dataclass
class FaceAnalysis:
    """Everything measured about one face; coordinates in source-photo pixels.

    ``keypoints`` are FDF's 7 (x, y, visible) in COCO order (see :mod:`fdf.annotate.keypoints`);
    yaw/pitch/roll in degrees with AFW's signs (see :mod:`fdf.annotate.pose`).
    """

    bbox: tuple[float, float, float, float]
    score: float
    detector: str
    landmarks68: np.ndarray
    keypoints: np.ndarray
    yaw: float
    pitch: float
    roll: float
    expression: Expression
    quality: Quality
    embedding: np.ndarray | None = None
    landmarks5: np.ndarray | None = field(default=None, repr=False)

    def to_record(self) -> dict:
        """Flat dict of plain Python values (lists, floats), ready for a Parquet row or JSON."""
        rec = {
            "bbox": [float(v) for v in self.bbox],
            "score": float(self.score),
            "detector": self.detector,
            "landmarks68": self.landmarks68.astype(float).ravel().tolist(),
            "keypoints": self.keypoints.astype(float).ravel().tolist(),
            "yaw": float(self.yaw),
            "pitch": float(self.pitch),
            "roll": float(self.roll),
            "embedding": None if self.embedding is None else self.embedding.astype(float).tolist(),
        }
        rec.update({k: float(v) for k, v in asdict(self.expression).items()})
        rec.update({k: float(v) for k, v in asdict(self.quality).items()})
        return rec


def _given_detections(known_faces) -> list[tuple[Detection, np.ndarray | None]]:
    out = []
    for i, face in enumerate(known_faces):
        try:
            bbox = tuple(float(v) for v in face["bbox"])
        except (KeyError, TypeError, ValueError):
            raise AnalyzerError(f"known_faces[{i}] needs 'bbox': [x0, y0, x1, y1], got {face!r}") from None
        if len(bbox) != 4 or not (bbox[2] > bbox[0] and bbox[3] > bbox[1]):
            raise AnalyzerError(f"known_faces[{i}] bbox must be [x0, y0, x1, y1] with x1 > x0, y1 > y0; got {bbox}")
        points = face.get("landmarks")
        if points is not None:
            try:
                points = keypoints_from_given(points)
            except ValueError as exc:
                raise AnalyzerError(f"known_faces[{i}]: {exc}") from None
        out.append((Detection(bbox, float("nan"), "given"), points))
    return out


class FaceAnalyzer:
    """Find and describe faces in RGB photos. Models load on first use, once per process."""

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config or AnalyzerConfig()

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Only the detection step, boxes in photo pixels, best score first."""
        c = self.config
        return detect_faces(image, c.detector, c.threshold, c.max_side, c.upsample)

    def analyze(self, image: np.ndarray, known_faces: list[dict] | None = None) -> list[FaceAnalysis]:
        """Analyze every face in an RGB uint8 HxWx3 photo.

        ``known_faces`` (e.g. FDF metainfo when rebuilding FDF): ``[{"bbox": [x0, y0, x1, y1],
        "landmarks": 7x2 keypoints or None}]`` replaces detection; given keypoints are kept as the
        face's keypoints, the rest of the analysis runs as usual.
        """
        image = check_image(image)
        if known_faces is None:
            found = [(det, None) for det in self.detect(image)]
        else:
            found = _given_detections(known_faces)
        return [self._describe(image, det, given) for det, given in found]

    def _describe(self, image: np.ndarray, det: Detection, given_keypoints: np.ndarray | None) -> FaceAnalysis:
        h, w = image.shape[:2]
        shape = predict_shape(image, det.bbox, det.detector)
        lm = shape_to_array(shape)
        yaw, pitch, roll = head_pose(lm, w, h)
        if det.landmarks5 is not None:
            # CenterFace's 5 points give far better yaw than the 68 points on turned faces.
            yaw = yaw_from_five_points(det.landmarks5)
        keypoints = given_keypoints if given_keypoints is not None else keypoints_from_landmarks(lm, yaw)
        return FaceAnalysis(
            bbox=det.bbox,
            score=det.score,
            detector=det.detector,
            landmarks68=lm,
            keypoints=keypoints,
            yaw=yaw,
            pitch=pitch,
            roll=roll,
            expression=expression_scores(lm),
            quality=face_quality(image, det.bbox, lm, det.landmarks5),
            embedding=face_embedding(image, shape) if self.config.embeddings else None,
            landmarks5=det.landmarks5,
        )
