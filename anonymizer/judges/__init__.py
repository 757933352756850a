"""Independent judges of anonymized faces: recognisers, a detector and realism measures that the
generator was never trained against.

Modules: modelfiles (the vendored ONNX files, checked by SHA-256), yunet (second face detector,
5 landmarks), sface (second recogniser, cosine >= 0.363 is the same person), photo (both on a
whole photo: retention and re-identification per face), gallery (other photos of the same
person), realism (Fréchet distance, detail ratio at 128 px, border score).
"""

from .gallery import Gallery, GalleryError, Template
from .modelfiles import JudgeModelError
from .photo import Judges, SecondOpinion
from .realism import BorderScore, border_score, box_mask, detail_ratio, frechet_distance
from .sface import SAME_PERSON, SFaceRecognizer, cosine_similarity
from .yunet import YuNetDetector, YuNetFace

__all__ = [
    "BorderScore",
    "Gallery",
    "GalleryError",
    "JudgeModelError",
    "Judges",
    "SAME_PERSON",
    "SFaceRecognizer",
    "SecondOpinion",
    "Template",
    "YuNetDetector",
    "YuNetFace",
    "border_score",
    "box_mask",
    "cosine_similarity",
    "detail_ratio",
    "frechet_distance",
]
