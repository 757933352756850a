"""Identity descriptor: dlib's ResNet 128-d face embedding.

Computed on a face chip aligned with the 68-point shape. Two faces of the same person are
usually closer than 0.6 (Euclidean); dlib reports 99.38% on LFW with that threshold.
"""

from __future__ import annotations

import dlib
import numpy as np

from . import models


def face_embedding(image: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
    """128 float32 descriptor of the face whose dlib shape (5 or 68 points) is ``shape``."""
    descriptor = models.face_descriptor_model().compute_face_descriptor(image, shape)
    return np.asarray(descriptor, dtype=np.float32)


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors (< 0.6: likely the same person)."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))
