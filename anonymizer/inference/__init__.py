"""Anonymize the faces of one image: detect (high recall), replace, check the identity.

    from anonymizer.inference import AnonymizeConfig, ImageAnonymizer
    result = ImageAnonymizer(AnonymizeConfig(mode="blur")).anonymize(rgb)

Modules: detect (faces, keypoints), regions (dilated, feathered regions), modes (gan, blur,
pixelate, mask patches), outcome (what replaced each face), composite (blending, exact outside
faces), verify (the identity check), image (one photo), results (what a run did, per file).
Files, folders and videos are one layer up (:mod:`anonymizer.files`, :mod:`anonymizer.video`);
reading and metadata-free writing is :mod:`anonymizer.media`.
"""

from ..media import ImageReadError, ImageWriteError, LoadedImage, read_image, write_image
from .detect import DetectConfig, FaceBox, find_faces
from .image import AnonymizeConfig, AnonymizedImage, ImageAnonymizer
from .modes import MODES
from .outcome import Blurred, Generated, Masked, Outcome, Pixelated, Skipped
from .results import FileResult, RunReport

__all__ = [
    "AnonymizeConfig",
    "AnonymizedImage",
    "Blurred",
    "DetectConfig",
    "FaceBox",
    "FileResult",
    "Generated",
    "ImageAnonymizer",
    "ImageReadError",
    "ImageWriteError",
    "LoadedImage",
    "MODES",
    "Masked",
    "Outcome",
    "Pixelated",
    "RunReport",
    "Skipped",
    "find_faces",
    "read_image",
    "write_image",
]
