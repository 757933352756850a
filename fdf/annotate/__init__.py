"""Per-photo face analysis: detection, 68 landmarks, FDF keypoints, head pose, expression,
quality, identity descriptor, and FDF-style face crops.

    from fdf.annotate import FaceAnalyzer, AnalyzerConfig, make_fdf_crop
    faces = FaceAnalyzer(AnalyzerConfig(detector="centerface")).analyze(rgb_uint8)
    crop, crop_box = make_fdf_crop(rgb_uint8, faces[0].bbox, resolution=128)

Landmarks come from dlib's 68-point predictor, trained on iBUG 300-W (research / non-commercial
terms); see :mod:`fdf.annotate.landmarks`.
"""

from .analyzer import AnalyzerConfig, AnalyzerError, FaceAnalysis, FaceAnalyzer
from .crops import expand_fdf_box, make_fdf_crop, to_crop_coords, to_photo_coords
from .detect import Detection, DetectorError, detect_faces
from .expression import Expression
from .keypoints import KEYPOINT_NAMES
from .quality import Quality

__all__ = [
    "AnalyzerConfig",
    "AnalyzerError",
    "Detection",
    "DetectorError",
    "Expression",
    "FaceAnalysis",
    "FaceAnalyzer",
    "KEYPOINT_NAMES",
    "Quality",
    "detect_faces",
    "expand_fdf_box",
    "make_fdf_crop",
    "to_crop_coords",
    "to_photo_coords",
]
