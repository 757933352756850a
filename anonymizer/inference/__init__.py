"""Anonymize faces in photos and folders: detect (high recall), replace, write without metadata.

    from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, anonymize_paths
    report = anonymize_paths(["photos/"], "anonymized/", AnonymizeConfig(mode="blur"))

Modules: detect (faces, keypoints), regions (dilated, feathered regions), modes (gan, blur,
pixelate, mask patches), composite (blending, exact outside faces), image (one photo), io
(reading, metadata-free writing), folder (many inputs, mirrored tree, fail closed, resume).
"""

from .detect import DetectConfig, FaceBox, find_faces
from .folder import FileResult, RunReport, anonymize_paths, plan_outputs
from .image import AnonymizeConfig, AnonymizedImage, ImageAnonymizer
from .io import ImageReadError, ImageWriteError, LoadedImage, read_image, write_image
from .modes import MODES

__all__ = [
    "AnonymizeConfig",
    "AnonymizedImage",
    "DetectConfig",
    "FaceBox",
    "FileResult",
    "ImageAnonymizer",
    "ImageReadError",
    "ImageWriteError",
    "LoadedImage",
    "MODES",
    "RunReport",
    "anonymize_paths",
    "find_faces",
    "plan_outputs",
    "read_image",
    "write_image",
]
