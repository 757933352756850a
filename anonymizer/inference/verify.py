"""Identity check after generation: is a generated face still the original person to dlib?

A generated face can, by chance or because the surroundings (hair, jaw line) carry identity,
land within dlib's same-person distance (0.6) of the original. For each face we describe the
original (dlib 128-d, landmarks on the original box) and look for a face in the output near
the same place (CenterFace on a window around it); if one is found and it is within the
threshold, the face counts as leaking. :class:`~anonymizer.inference.image.ImageAnonymizer`
then regenerates it with other seeds and, if it still leaks, blurs it.
"""

from __future__ import annotations

import numpy as np

from fdf.annotate import detect_faces
from fdf.annotate.identity import embedding_distance, face_embedding
from fdf.annotate.landmarks import predict_shape

from .detect import FaceBox

#: CenterFace threshold for "a face is still found here" (as anonymizer.privacy counts leaks).
FOUND_THRESHOLD = 0.5


def retry_seed(seed: int, attempt: int) -> int:
    """The latent seed of a face's ``attempt``-th regeneration (a prime stride apart)."""
    return seed + 7919 * attempt


def describe(rgb: np.ndarray, bbox, detector: str = "centerface") -> np.ndarray:
    """dlib descriptor of the face in ``bbox`` (landmarks fitted on ``rgb``)."""
    return face_embedding(rgb, predict_shape(rgb, bbox, detector))


def _window(bbox, shape, margin: float = 0.5) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = bbox
    w, h = x1 - x0, y1 - y0
    return (max(0, int(x0 - margin * w)), max(0, int(y0 - margin * h)),
            min(shape[1], int(x1 + margin * w) + 1), min(shape[0], int(y1 + margin * h) + 1))


def _same_place(a, b) -> bool:
    ca = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    cb = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return (b[0] <= ca[0] <= b[2] and b[1] <= ca[1] <= b[3]) or (a[0] <= cb[0] <= a[2] and a[1] <= cb[1] <= a[3])


def output_distance(output_rgb: np.ndarray, face: FaceBox, original_descriptor: np.ndarray) -> float | None:
    """Smallest distance from the original's descriptor to a face found at the same place in the
    output (None: no face found there)."""
    wx0, wy0, wx1, wy1 = _window(face.bbox, output_rgb.shape)
    window = np.ascontiguousarray(output_rgb[wy0:wy1, wx0:wx1])
    if min(window.shape[:2]) < 8:
        return None
    best = None
    for det in detect_faces(window, "centerface", FOUND_THRESHOLD, None):
        b = det.bbox
        box = (b[0] + wx0, b[1] + wy0, b[2] + wx0, b[3] + wy0)
        if not _same_place(box, face.bbox):
            continue
        dist = embedding_distance(original_descriptor, describe(output_rgb, box))
        best = dist if best is None else min(best, dist)
    return best


def leaking(output_rgb: np.ndarray, faces: list[FaceBox], descriptors: list[np.ndarray], threshold: float) -> list[int]:
    """Indices of faces whose output is still within ``threshold`` of the original."""
    out = []
    for i, (face, desc) in enumerate(zip(faces, descriptors)):
        dist = output_distance(output_rgb, face, desc)
        if dist is not None and dist < threshold:
            out.append(i)
    return out
