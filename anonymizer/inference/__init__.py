"""Anonymize faces in photos and folders: detect (high recall), replace, write without metadata.

    from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, anonymize_paths
    report = anonymize_paths(["photos/"], "anonymized/", AnonymizeConfig(mode="blur"))

Modules: detect (faces, keypoints), regions (dilated, feathered regions), modes (gan, blur,
pixelate, mask patches), outcome (what replaced each face), composite (blending, exact outside
faces), image (one photo), io (reading, metadata-free writing), folder (many inputs, mirrored
tree, fail closed, resume), results (what a run did, per file).
"""

from .detect import DetectConfig, FaceBox, find_faces
from .folder import anonymize_paths, plan_outputs
from .image import AnonymizeConfig, AnonymizedImage, ImageAnonymizer
from .io import ImageReadError, ImageWriteError, LoadedImage, read_image, write_image
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
    "anonymize_paths",
    "find_faces",
    "plan_outputs",
    "read_image",
    "write_image",
]
